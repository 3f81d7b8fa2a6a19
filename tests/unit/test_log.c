/*  test_log: the daemons' text log (proto/pl_log).
 *
 *  A broker buffers its info lines and writes them after each round of
 *  work (pl_log_buffer, pl_log_flush); a warning must still reach the log
 *  at once, with the lines held before it, in order. Each test runs in a
 *  child whose stderr is a pipe the parent reads without waiting.  */
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pl_test.h"
#include "pl_log.h"

static int s_pipe [2];

//  What the child wrote so far (never waits)
static char *
s_read_so_far (void)
{
    static char text [4096];
    size_t used = strlen (text);
    ssize_t got = read (s_pipe [0], text + used, sizeof text - 1 - used);
    if (got > 0)
        text [used + (size_t) got] = 0;
    return text;
}

//  Child: log, then wait for the parent's go (a byte on go) between steps
static void
s_child (int go)
{
    dup2 (s_pipe [1], STDERR_FILENO);
    pl_log_init ("test-log");
    pl_log_buffer ();
    char byte;
    log_info ("first line");
    log_info ("second line");
    if (read (go, &byte, 1) != 1)       //  parent looked: nothing yet
        _exit (2);
    pl_log_flush ();
    log_info ("third line");
    if (read (go, &byte, 1) != 1)       //  parent saw two lines
        _exit (2);
    log_warn ("a warning");
    if (read (go, &byte, 1) != 1)       //  parent saw all four
        _exit (2);
    _exit (0);
}

static void
s_wait_for (const char *what)
{
    for (int i = 0; i < 200 && !strstr (s_read_so_far (), what); i++)
        usleep (10000);
    ck_assert_msg (strstr (s_read_so_far (), what), "not in the log: %s\n%s", what,
                   s_read_so_far ());
}

START_TEST (buffered_lines_wait_for_a_flush_but_warnings_do_not)
{
    int go [2];
    ck_assert_int_eq (pipe (s_pipe), 0);
    ck_assert_int_eq (pipe (go), 0);
    fcntl (s_pipe [0], F_SETFL, O_NONBLOCK);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        close (go [1]);
        s_child (go [0]);
    }
    close (go [0]);
    close (s_pipe [1]);
    usleep (100000);
    ck_assert_str_eq (s_read_so_far (), "");
    ck_assert_int_eq (write (go [1], "g", 1), 1);
    s_wait_for ("second line");
    ck_assert_ptr_nonnull (strstr (s_read_so_far (), "test-log: first line\n"));
    ck_assert_ptr_null (strstr (s_read_so_far (), "third line"));
    ck_assert_int_eq (write (go [1], "g", 1), 1);
    //  The warning brings the held third line with it, before it
    s_wait_for ("a warning");
    const char *text = s_read_so_far ();
    char *third = strstr (text, "third line"), *warning = strstr (text, "test-log: warning: a warning");
    ck_assert_ptr_nonnull (third);
    ck_assert_ptr_nonnull (warning);
    ck_assert (third < warning);
    ck_assert_int_eq (write (go [1], "g", 1), 1);
    int status;
    waitpid (pid, &status, 0);
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    close (go [1]);
    close (s_pipe [0]);
}
END_TEST

//  Every line: "<UTC date>T<time>.<ms>Z <program>: <level><message>", and
//  a message too long for a line is cut, never run into the next line
START_TEST (lines_carry_a_stamp_and_long_messages_are_cut)
{
    ck_assert_int_eq (pipe (s_pipe), 0);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        dup2 (s_pipe [1], STDERR_FILENO);
        pl_log_init ("test-log");
        pl_log_buffer ();
        static char longer [5000];
        memset (longer, 'x', sizeof longer - 1);
        log_info ("short %d", 42);
        log_info ("%s", longer);
        log_warn ("after");
        _exit (0);
    }
    close (s_pipe [1]);
    static char text [8192];
    size_t used = 0;
    ssize_t got;
    while (used < sizeof text - 1
    &&     (got = read (s_pipe [0], text + used, sizeof text - 1 - used)) > 0)
        used += (size_t) got;
    text [used] = 0;
    close (s_pipe [0]);
    waitpid (pid, NULL, 0);
    //  2026-11-27T22:22:31.123Z
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    ck_assert_uint_gt (used, 24);
    for (size_t i = 0; shape [i]; i++)
        ck_assert_msg (shape [i] == 'd'? (text [i] >= '0' && text [i] <= '9')
                                       : text [i] == shape [i],
                       "stamp not in shape at %zu: %.30s", i, text);
    ck_assert_int_eq (strncmp (text + 24, " test-log: short 42\n", 20), 0);
    char *second = strchr (text, '\n') + 1;
    char *message = strstr (second, "test-log: ") + strlen ("test-log: ");
    char *end = strchr (message, '\n');
    ck_assert_ptr_nonnull (end);
    ck_assert_int_eq (end - message, 2047);
    ck_assert_int_eq (strspn (message, "x"), 2047);
    ck_assert_ptr_nonnull (strstr (end + 1, " test-log: warning: after\n"));
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("log");
    TCase *tc = tcase_create ("log");
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, buffered_lines_wait_for_a_flush_but_warnings_do_not);
    tcase_add_test (tc, lines_carry_a_stamp_and_long_messages_are_cut);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
