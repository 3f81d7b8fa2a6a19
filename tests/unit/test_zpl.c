/*  test_zpl: ZPL files with line numbers (proto/pl_zpl).
 *
 *  Covers: each node's line matches the file, through nested sections,
 *  comments, blank lines, CRLF endings and loading from a real file; a syntax
 *  error reads "name:LINE: syntax error: ..." with the line zconfig found and
 *  prints nothing on stdout; pl_zpl_check_names names the stranger, its line,
 *  its section and the expected keys; pl_zpl_error with and without a line;
 *  a missing file, a NUL byte and an empty file.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "pl_test.h"
#include "pl_zpl.h"

static char s_dir [64];

static void
s_setup (void)
{
    strcpy (s_dir, "/tmp/pl-test-zpl-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char command [128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    ck_assert_int_eq (system (command), 0);
}

static void
s_write (const char *path, const char *data, size_t size)
{
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    ck_assert_uint_eq (fwrite (data, 1, size, file), size);
    ck_assert_int_eq (fclose (file), 0);
}

//  The 1-based number of the line of text that starts (after indentation)
//  with prefix: what a reader of the file would call its line.
static int
s_line_of (const char *text, const char *prefix)
{
    int number = 1;
    for (const char *line = text; *line; number++) {
        const char *start = line + strspn (line, " ");
        if (strncmp (start, prefix, strlen (prefix)) == 0)
            return number;
        const char *eol = strchr (line, '\n');
        if (!eol)
            break;
        line = eol + 1;
    }
    ck_abort_msg ("'%s' not in the text", prefix);
    return 0;
}

static const char *s_nested =
    "#   A file as a person writes it\n"
    "\n"
    "broker\n"
    "    endpoint = \"tcp://127.0.0.1:7000\"\n"
    "    # why this timeout\n"
    "\n"
    "    timeouts\n"
    "        connect = 5000\n"
    "\n"
    "        # two levels deep\n"
    "        idle = 60000\n"
    "    store = \"/var/lib/passerelle\"\n"
    "\n"
    "#   trailing section\n"
    "agency = police-a\n"
    "agency = health-b\n";

static void
s_assert_nested_lines (pl_zpl_t *zpl, const char *text)
{
    zconfig_t *root = pl_zpl_root (zpl);
    const char *paths [] = { "broker", "broker/endpoint", "broker/timeouts",
                             "broker/timeouts/connect", "broker/timeouts/idle", "broker/store" };
    const char *prefixes [] = { "broker", "endpoint", "timeouts", "connect", "idle", "store" };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        zconfig_t *node = zconfig_locate (root, paths [i]);
        ck_assert_msg (node != NULL, "%s not found", paths [i]);
        ck_assert_msg (pl_zpl_line (zpl, node) == s_line_of (text, prefixes [i]),
                       "%s: line %d, expected %d", paths [i], pl_zpl_line (zpl, node),
                       s_line_of (text, prefixes [i]));
    }
    //  Two siblings with the same name each keep their own line
    zconfig_t *first = zconfig_locate (root, "agency");
    ck_assert_ptr_nonnull (first);
    zconfig_t *second = zconfig_next (first);
    ck_assert_ptr_nonnull (second);
    ck_assert_str_eq (zconfig_value (second), "health-b");
    ck_assert_int_eq (pl_zpl_line (zpl, first), s_line_of (text, "agency = police-a"));
    ck_assert_int_eq (pl_zpl_line (zpl, second), s_line_of (text, "agency = health-b"));
}

START_TEST (each_node_has_the_line_it_was_written_on)
{
    char err [256] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("nested.cfg", s_nested, err, sizeof err);
    ck_assert_msg (zpl != NULL, "%s", err);
    s_assert_nested_lines (zpl, s_nested);
    ck_assert_str_eq (pl_zpl_name (zpl), "nested.cfg");
    pl_zpl_destroy (&zpl);
    ck_assert_ptr_null (zpl);
}
END_TEST

START_TEST (lines_are_right_when_loading_from_a_file)
{
    char path [128], err [256] = "";
    snprintf (path, sizeof path, "%s/nested.cfg", s_dir);
    s_write (path, s_nested, strlen (s_nested));
    pl_zpl_t *zpl = pl_zpl_load (path, err, sizeof err);
    ck_assert_msg (zpl != NULL, "%s", err);
    s_assert_nested_lines (zpl, s_nested);
    ck_assert_str_eq (pl_zpl_name (zpl), path);
    pl_zpl_destroy (&zpl);
}
END_TEST

START_TEST (lines_are_right_with_crlf_endings_and_no_final_newline)
{
    const char *text = "# comment\r\n\r\na = 1\r\nb\r\n    c = 2\r\n\r\nd = 3";
    char err [256] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("crlf.cfg", text, err, sizeof err);
    ck_assert_msg (zpl != NULL, "%s", err);
    zconfig_t *root = pl_zpl_root (zpl);
    ck_assert_int_eq (pl_zpl_line (zpl, zconfig_locate (root, "a")), 3);
    ck_assert_int_eq (pl_zpl_line (zpl, zconfig_locate (root, "b")), 4);
    ck_assert_int_eq (pl_zpl_line (zpl, zconfig_locate (root, "b/c")), 5);
    ck_assert_int_eq (pl_zpl_line (zpl, zconfig_locate (root, "d")), 7);
    pl_zpl_destroy (&zpl);
}
END_TEST

START_TEST (a_node_of_another_tree_has_no_line)
{
    char err [256] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("a.cfg", "a = 1\n", err, sizeof err);
    ck_assert_ptr_nonnull (zpl);
    zconfig_t *stranger = zconfig_new ("root", NULL);
    ck_assert_int_eq (pl_zpl_line (zpl, stranger), 0);
    ck_assert_int_eq (pl_zpl_line (zpl, pl_zpl_root (zpl)), 0);
    ck_assert_int_eq (pl_zpl_line (zpl, zconfig_locate (pl_zpl_root (zpl), "a")), 1);
    zconfig_destroy (&stranger);
    pl_zpl_destroy (&zpl);
}
END_TEST

//  Checks that err is exactly "name:line: syntax error: <something>".
static void
s_assert_syntax_error (const char *err, const char *name, int line)
{
    char expected [256];
    snprintf (expected, sizeof expected, "%s:%d: syntax error: ", name, line);
    ck_assert_msg (strncmp (err, expected, strlen (expected)) == 0,
                   "error is '%s', expected it to start with '%s'", err, expected);
    ck_assert_msg (strlen (err) > strlen (expected), "no explanation after '%s'", expected);
}

START_TEST (a_bad_indent_is_a_syntax_error_with_its_line)
{
    const char *text = "# header\n\na = 1\nb\n    c = 2\n  d = 3\ne = 4\n";
    char err [256] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("indent.cfg", text, err, sizeof err);
    ck_assert_ptr_null (zpl);
    s_assert_syntax_error (err, "indent.cfg", s_line_of (text, "d = 3"));
}
END_TEST

START_TEST (an_unterminated_quote_is_a_syntax_error_with_its_line)
{
    const char *text = "a = 1\n\n# note\nb = \"never closed\nc = 2\n";
    char err [256] = "";
    ck_assert_ptr_null (pl_zpl_load_text ("quote.cfg", text, err, sizeof err));
    s_assert_syntax_error (err, "quote.cfg", s_line_of (text, "b = "));
}
END_TEST

START_TEST (a_syntax_error_in_a_file_names_the_path_and_line)
{
    const char *text = "a = 1\nb c d\n";
    char path [128], err [256] = "";
    snprintf (path, sizeof path, "%s/bad.cfg", s_dir);
    s_write (path, text, strlen (text));
    ck_assert_ptr_null (pl_zpl_load (path, err, sizeof err));
    s_assert_syntax_error (err, path, 2);
}
END_TEST

//  A library that prints on stdout corrupts the output of every program
//  using it (the CLI's JSON, for one). Capture fd 1 during a failed load.
START_TEST (a_syntax_error_prints_nothing_on_stdout)
{
    char path [128];
    snprintf (path, sizeof path, "%s/stdout.txt", s_dir);
    fflush (stdout);
    int saved = dup (1);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_ge (dup2 (fd, 1), 0);
    close (fd);
    char err [256] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("noisy.cfg", "a = 1\n  b = 2\n", err, sizeof err);
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    ck_assert_ptr_null (zpl);
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_msg (st.st_size == 0, "a failed load wrote %ld bytes to stdout", (long) st.st_size);
}
END_TEST

START_TEST (an_unknown_setting_names_its_line_and_the_expected_keys)
{
    const char *text = "# agent\nid = police-a\n\nbroker = \"tcp://x:1\"\nendpiont = 4\n";
    char err [512] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("agent.cfg", text, err, sizeof err);
    ck_assert_msg (zpl != NULL, "%s", err);
    const char *allowed [] = { "id", "broker", "endpoint", NULL };
    ck_assert_int_eq (pl_zpl_check_names (zpl, pl_zpl_root (zpl), allowed, err, sizeof err), -1);
    char where [64];
    snprintf (where, sizeof where, "agent.cfg:%d: ", s_line_of (text, "endpiont"));
    ck_assert_msg (strncmp (err, where, strlen (where)) == 0, "'%s' does not start with '%s'",
                   err, where);
    ck_assert_ptr_nonnull (strstr (err, "'endpiont'"));
    ck_assert_ptr_nonnull (strstr (err, "id, broker, endpoint"));
    pl_zpl_destroy (&zpl);
}
END_TEST

START_TEST (an_unknown_setting_in_a_section_names_the_section)
{
    const char *text = "broker\n    endpoint = 1\n\n    timeouts\n        connect = 1\n"
                        "        idle = 2\n        linger = 3\n";
    char err [512] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("b.cfg", text, err, sizeof err);
    ck_assert_msg (zpl != NULL, "%s", err);
    zconfig_t *timeouts = zconfig_locate (pl_zpl_root (zpl), "broker/timeouts");
    ck_assert_ptr_nonnull (timeouts);
    const char *allowed [] = { "connect", "idle", NULL };
    ck_assert_int_eq (pl_zpl_check_names (zpl, timeouts, allowed, err, sizeof err), -1);
    char where [64];
    snprintf (where, sizeof where, "b.cfg:%d: ", s_line_of (text, "linger"));
    ck_assert_msg (strncmp (err, where, strlen (where)) == 0, "'%s'", err);
    ck_assert_ptr_nonnull (strstr (err, "'linger'"));
    ck_assert_ptr_nonnull (strstr (err, "'timeouts'"));
    ck_assert_ptr_nonnull (strstr (err, "connect, idle"));
    pl_zpl_destroy (&zpl);
}
END_TEST

START_TEST (known_settings_pass_the_name_check)
{
    char err [256] = "untouched";
    pl_zpl_t *zpl = pl_zpl_load_text ("ok.cfg", "id = a\nbroker = b\nid = c\n", err, sizeof err);
    ck_assert_ptr_nonnull (zpl);
    const char *allowed [] = { "broker", "id", NULL };
    ck_assert_int_eq (pl_zpl_check_names (zpl, pl_zpl_root (zpl), allowed, err, sizeof err), 0);
    const char *none [] = { NULL };
    ck_assert_int_eq (pl_zpl_check_names (zpl, pl_zpl_root (zpl), none, err, sizeof err), -1);
    ck_assert_ptr_nonnull (strstr (err, "ok.cfg:1: "));
    pl_zpl_destroy (&zpl);
}
END_TEST

START_TEST (an_error_on_a_node_names_file_and_line_and_without_a_node_only_the_file)
{
    const char *text = "a = 1\n\nb = 2\n";
    char err [256] = "";
    pl_zpl_t *zpl = pl_zpl_load_text ("e.cfg", text, err, sizeof err);
    ck_assert_ptr_nonnull (zpl);
    pl_zpl_error (zpl, zconfig_locate (pl_zpl_root (zpl), "b"), err, sizeof err,
                  "expected %d", 42);
    ck_assert_str_eq (err, "e.cfg:3: expected 42");
    pl_zpl_error (zpl, NULL, err, sizeof err, "no %s", "id");
    ck_assert_str_eq (err, "e.cfg: no id");
    pl_zpl_destroy (&zpl);
}
END_TEST

START_TEST (a_missing_file_is_named_in_the_error)
{
    char path [128], err [256] = "";
    snprintf (path, sizeof path, "%s/does-not-exist.cfg", s_dir);
    ck_assert_ptr_null (pl_zpl_load (path, err, sizeof err));
    char expected [160];
    snprintf (expected, sizeof expected, "%s: ", path);
    ck_assert_msg (strncmp (err, expected, strlen (expected)) == 0, "'%s'", err);
    ck_assert_ptr_nonnull (strstr (err, "No such file"));
}
END_TEST

START_TEST (a_file_with_a_nul_byte_is_refused)
{
    const char data [] = "a = 1\nb = \0hidden\nc = 3\n";
    char path [128], err [256] = "";
    snprintf (path, sizeof path, "%s/nul.cfg", s_dir);
    s_write (path, data, sizeof data - 1);
    ck_assert_ptr_null (pl_zpl_load (path, err, sizeof err));
    ck_assert_msg (strncmp (err, path, strlen (path)) == 0, "'%s'", err);
    ck_assert_ptr_nonnull (strstr (err, "NUL"));
}
END_TEST

START_TEST (an_empty_file_loads_as_an_empty_tree)
{
    char path [128], err [256] = "";
    snprintf (path, sizeof path, "%s/empty.cfg", s_dir);
    s_write (path, "", 0);
    pl_zpl_t *zpl = pl_zpl_load (path, err, sizeof err);
    ck_assert_msg (zpl != NULL, "%s", err);
    ck_assert_ptr_null (zconfig_child (pl_zpl_root (zpl)));
    pl_zpl_destroy (&zpl);
    pl_zpl_destroy (&zpl);          //  twice is harmless
    pl_zpl_destroy (NULL);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("zpl");
    TCase *tc = tcase_create ("zpl");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, each_node_has_the_line_it_was_written_on);
    tcase_add_test (tc, lines_are_right_when_loading_from_a_file);
    tcase_add_test (tc, lines_are_right_with_crlf_endings_and_no_final_newline);
    tcase_add_test (tc, a_node_of_another_tree_has_no_line);
    tcase_add_test (tc, a_bad_indent_is_a_syntax_error_with_its_line);
    tcase_add_test (tc, an_unterminated_quote_is_a_syntax_error_with_its_line);
    tcase_add_test (tc, a_syntax_error_in_a_file_names_the_path_and_line);
    tcase_add_test (tc, a_syntax_error_prints_nothing_on_stdout);
    tcase_add_test (tc, an_unknown_setting_names_its_line_and_the_expected_keys);
    tcase_add_test (tc, an_unknown_setting_in_a_section_names_the_section);
    tcase_add_test (tc, known_settings_pass_the_name_check);
    tcase_add_test (tc, an_error_on_a_node_names_file_and_line_and_without_a_node_only_the_file);
    tcase_add_test (tc, a_missing_file_is_named_in_the_error);
    tcase_add_test (tc, a_file_with_a_nul_byte_is_refused);
    tcase_add_test (tc, an_empty_file_loads_as_an_empty_tree);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
