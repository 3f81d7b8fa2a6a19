/*  test_powerloss: nothing acknowledged is lost when the power goes.
 *
 *  kill -9 keeps the page cache, so it cannot show a write that was never
 *  synced; a power loss can. Each scenario runs in a process of its own
 *  under the powerloss shim (tests/shim/powerloss.c), which copies each
 *  store file whenever it is synced: when the scenario ends (the power
 *  goes), those copies are the disk. The test opens them as a store and
 *  checks that it holds every batch the scenario was told was committed,
 *  entry for entry.
 *
 *  Scenarios, with the journal (the broker's mode) unless said: batches
 *  and flushes; an empty flush (only aborted batches since the last one)
 *  between two; a restart (after a kill) then batches before any flush;
 *  many flushes; and every batch its own LMDB commit. And one fault: a
 *  replay at open that the map cannot take in one transaction.  */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>
#include "pl_test.h"
#include "pl_test_log.h"
#include "pb_store.h"

#define CASES 3

//  --------------------------------------------------------------------------
//  The scenario side: runs before main when POWERLOSS_SCENARIO is set, in
//  the process the shim watches, and writes what it was told was committed
//  to POWERLOSS_ACKED after each commit.

static pb_store_t *
s_scenario_open (const char *dir, int64_t flush_ms)
{
    char err [600];
    pb_store_t *store = pb_store_open (dir, 0, false, err, sizeof err);
    if (!store || pb_store_use_journal (store, flush_ms)) {
        fprintf (stderr, "scenario: %s\n", store? pb_store_error (store): err);
        _exit (2);
    }
    return store;
}

static void
s_scenario_append (pb_store_t *store, uint64_t from, uint64_t to)
{
    pb_batch_t *batch = pb_store_begin (store);
    uint8_t buf [512];
    for (uint64_t i = from; i < to; i++)
        if (!batch || pb_batch_log_append (batch, buf, pl_test_log_entry (i, CASES, 3, buf), NULL))
            _exit (3);
    if (pb_batch_commit (&batch)) {
        fprintf (stderr, "scenario: commit: %s\n", pb_store_error (store));
        _exit (4);
    }
    FILE *acked = fopen (getenv ("POWERLOSS_ACKED"), "w");
    if (!acked || fprintf (acked, "%llu\n", (unsigned long long) to) < 0 || fclose (acked))
        _exit (5);
}

static void
s_scenario_flush (pb_store_t *store)
{
    if (pb_store_flush (store))
        _exit (6);
}

//  A journal that flushes only when told to
#define NEVER 1000000

__attribute__ ((constructor)) static void
s_scenario (void)
{
    const char *name = getenv ("POWERLOSS_SCENARIO"), *dir = getenv ("POWERLOSS_WATCH");
    if (!name || !dir)
        return;
    if (sodium_init () < 0)
        _exit (7);
    if (strcmp (name, "flushes") == 0) {
        pb_store_t *store = s_scenario_open (dir, NEVER);
        s_scenario_append (store, 0, 10);
        s_scenario_flush (store);
        s_scenario_append (store, 10, 20);
    }
    else
    if (strcmp (name, "empty_flush") == 0) {
        pb_store_t *store = s_scenario_open (dir, NEVER);
        s_scenario_append (store, 0, 10);
        s_scenario_flush (store);
        pb_batch_t *batch = pb_store_begin (store);
        pb_batch_abort (&batch);            //  a batch that was refused
        s_scenario_flush (store);           //  nothing to commit
        s_scenario_append (store, 10, 20);
    }
    else
    if (strcmp (name, "restart") == 0) {
        pid_t pid = fork ();
        if (pid == 0) {
            pb_store_t *store = s_scenario_open (dir, NEVER);
            s_scenario_append (store, 0, 10);
            s_scenario_flush (store);
            _exit (0);                      //  killed: the page cache stays
        }
        int status;
        if (waitpid (pid, &status, 0) != pid || !WIFEXITED (status) || WEXITSTATUS (status))
            _exit (8);
        pb_store_t *store = s_scenario_open (dir, NEVER);
        s_scenario_append (store, 10, 20);
    }
    else
    if (strcmp (name, "many_flushes") == 0) {
        pb_store_t *store = s_scenario_open (dir, NEVER);
        for (uint64_t round = 0; round < 30; round++) {
            s_scenario_append (store, round * 5, round * 5 + 5);
            if (round % 3 == 2)
                s_scenario_flush (store);
        }
    }
    else
    if (strcmp (name, "journal_only") == 0) {
        pb_store_t *store = s_scenario_open (dir, NEVER);
        for (uint64_t round = 0; round < 3; round++)
            s_scenario_append (store, round * 10, round * 10 + 10);
    }
    else
    if (strcmp (name, "reopen") == 0) {
        char err [600];
        pb_store_t *store = pb_store_open (dir, 0, false, err, sizeof err);
        FILE *acked = fopen (getenv ("POWERLOSS_ACKED"), "w");
        if (!store || !acked) {
            fprintf (stderr, "scenario: %s\n", err);
            _exit (2);
        }
        fprintf (acked, "%llu\n", (unsigned long long) pb_store_log_size (store));
        fclose (acked);
        pb_store_destroy (&store);
    }
    else
    if (strcmp (name, "no_journal") == 0) {
        pb_store_t *store = s_scenario_open (dir, 0);
        for (uint64_t round = 0; round < 5; round++)
            s_scenario_append (store, round * 4, round * 4 + 4);
    }
    else
        _exit (9);
    _exit (0);                              //  the power goes: nothing more reaches the disk
}

//  --------------------------------------------------------------------------
//  The test side

static char s_root [64], s_store [128], s_disk [128], s_acked [128];

static void
s_setup (void)
{
    strcpy (s_root, "/tmp/test_powerloss.XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_root));
    snprintf (s_store, sizeof s_store, "%s/store", s_root);
    snprintf (s_disk, sizeof s_disk, "%s/disk", s_root);
    snprintf (s_acked, sizeof s_acked, "%s/acked", s_root);
    ck_assert_int_eq (mkdir (s_store, 0700), 0);
    ck_assert_int_eq (mkdir (s_disk, 0700), 0);
}

static void
s_teardown (void)
{
    char command [256];
    snprintf (command, sizeof command, "rm -rf %s", s_root);
    ck_assert_int_eq (system (command), 0);
}

//  Run a scenario under the shim; returns the log size it was told was
//  committed last
static uint64_t
s_run_with (const char *scenario, const char *name, const char *value)
{
    char self [4096], shim [4200];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt (len, 0);
    self [len] = 0;
    //  build/tests/unit/test_powerloss -> build/tests/shim/powerloss.so
    char folder [4096];
    snprintf (folder, sizeof folder, "%s", self);
    snprintf (shim, sizeof shim, "%s/../shim/powerloss.so", dirname (folder));
    ck_assert_msg (access (shim, R_OK) == 0, "no shim at %s", shim);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        setenv ("POWERLOSS_SCENARIO", scenario, 1);
        setenv ("POWERLOSS_WATCH", s_store, 1);
        setenv ("POWERLOSS_SHADOW", s_disk, 1);
        setenv ("POWERLOSS_ACKED", s_acked, 1);
        setenv ("LD_PRELOAD", shim, 1);
        setenv ("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
        if (name)
            setenv (name, value, 1);
        char *argv [] = { self, NULL };
        execv (self, argv);
        _exit (127);
    }
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0,
                   "scenario %s exited with %d", scenario, WEXITSTATUS (status));
    FILE *file = fopen (s_acked, "r");
    ck_assert_ptr_nonnull (file);
    unsigned long long acked = 0;
    ck_assert_int_eq (fscanf (file, "%llu", &acked), 1);
    fclose (file);
    return acked;
}

static uint64_t
s_run (const char *scenario)
{
    return s_run_with (scenario, NULL, NULL);
}

//  The store in dir holds every acknowledged entry
static void
s_check_store (const char *dir, uint64_t acked)
{
    char err [600];
    pb_store_t *store = pb_store_open (dir, 0, false, err, sizeof err);
    ck_assert_msg (store, "open %s: %s", dir, err);
    ck_assert_uint_ge (pb_store_log_size (store), acked);
    uint8_t expected [512], *entry;
    size_t size;
    for (uint64_t i = 0; i < acked; i++) {
        size_t want = pl_test_log_entry (i, CASES, 3, expected);
        ck_assert_int_eq (pb_store_log_entry (store, i, &entry, &size), 0);
        ck_assert_uint_eq (size, want);
        ck_assert_mem_eq (entry, expected, size);
        free (entry);
    }
    pb_store_destroy (&store);
}

//  The disk the power loss left
static void
s_check_disk (uint64_t acked)
{
    s_check_store (s_disk, acked);
}

START_TEST (batches_and_a_flush)
{
    uint64_t acked = s_run ("flushes");
    ck_assert_uint_eq (acked, 20);
    s_check_disk (acked);
}
END_TEST

START_TEST (an_empty_flush_between_two)
{
    uint64_t acked = s_run ("empty_flush");
    ck_assert_uint_eq (acked, 20);
    s_check_disk (acked);
}
END_TEST

START_TEST (a_restart_then_batches_before_any_flush)
{
    uint64_t acked = s_run ("restart");
    ck_assert_uint_eq (acked, 20);
    s_check_disk (acked);
}
END_TEST

START_TEST (many_flushes)
{
    uint64_t acked = s_run ("many_flushes");
    ck_assert_uint_eq (acked, 150);
    s_check_disk (acked);
}
END_TEST

//  A killed broker left three batches in the journal alone; at the next
//  open the map refuses the replay in one transaction (the third put): the
//  open replays them one per transaction instead, and nothing is missing
START_TEST (a_replay_the_map_refuses_at_once_goes_one_by_one)
{
    ck_assert_uint_eq (s_run ("journal_only"), 30);
    ck_assert_uint_eq (s_run_with ("reopen", "POWERLOSS_MAP_FULL_AT", "3"), 30);
    s_check_store (s_store, 30);
}
END_TEST

START_TEST (every_batch_its_own_commit)
{
    uint64_t acked = s_run ("no_journal");
    ck_assert_uint_eq (acked, 20);
    s_check_disk (acked);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pb_store power loss");
    TCase *tc = tcase_create ("power loss");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, batches_and_a_flush);
    tcase_add_test (tc, an_empty_flush_between_two);
    tcase_add_test (tc, a_restart_then_batches_before_any_flush);
    tcase_add_test (tc, many_flushes);
    tcase_add_test (tc, every_batch_its_own_commit);
    tcase_add_test (tc, a_replay_the_map_refuses_at_once_goes_one_by_one);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
