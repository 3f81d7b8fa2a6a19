/*  test_store_redo: the broker store's journaled commits (the broker's
 *  mode: broker/pb_store_redo.c over broker/pb_redo): what other readers
 *  see and when, a journal that cannot grow, a journal with no key to read
 *  it by, an empty batch. The crash and reopen tests that run both ways are
 *  in test_store.c; power loss is test_powerloss.c.  */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <lmdb.h>
#include "pl_test_store.h"

//  Journaled: another handle sees the batches once they are flushed, and
//  is not told of those a running writer holds; a second writer process
//  cannot journal in the same store.
START_TEST (journaled_batches_reach_readers_at_flush)
{
    s_flush_ms = 100000;
    pb_store_t *store = s_open (0);
    s_append (store, 0, 40, 4);
    s_append (store, 40, 60, 4);
    //  This handle reads its own batches
    s_check_root (store, 60, 4);
    //  Another handle does not see them; the writer holds the journal, so
    //  they are not leftovers to report either
    pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_msg (reader, "open read-only: %s", s_err);
    ck_assert_uint_eq (pb_store_log_size (reader), 0);
    ck_assert_uint_eq (pb_store_redo_pending (reader), 0);
    pb_store_destroy (&reader);
    //  Not due yet; then forced
    ck_assert_int_eq (pb_store_flush_if_due (store), 0);
    reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_uint_eq (pb_store_log_size (reader), 0);
    pb_store_destroy (&reader);
    ck_assert_int_eq (pb_store_flush (store), 0);
    reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_msg (reader, "open read-only: %s", s_err);
    ck_assert_uint_eq (pb_store_redo_pending (reader), 0);
    s_check_root (reader, 60, 4);
    pb_store_destroy (&reader);
    //  A second writer (another process: LMDB wants one handle per process)
    //  may open the store between flushes, but not journal in it
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        pb_store_t *second = pb_store_open (s_dir, 0, false, s_err, sizeof s_err);
        bool refused = second && pb_store_use_journal (second, 50) == -1
                    && strstr (pb_store_error (second), "in use by another process");
        _exit (refused? 0: 1);
    }
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  After the flush the journal starts over: a batch, then a reopen
    //  (which flushes at close) keeps all 70
    s_append (store, 60, 70, 4);
    pb_store_destroy (&store);
    s_flush_ms = 0;
    store = s_open (0);
    s_check_root (store, 70, 4);
    pb_store_destroy (&store);
}
END_TEST

//  Journaled, a journal that cannot grow (a full disk; here a file size
//  limit): the batch is refused with the reason, nothing of it is kept,
//  the batches before and after it are.
START_TEST (journal_write_failure_refuses_the_batch)
{
    s_flush_ms = 100000;
    pb_store_t *store = s_open (0);
    s_append (store, 0, 10, 4);
    struct rlimit saved, limit;
    ck_assert_int_eq (getrlimit (RLIMIT_FSIZE, &saved), 0);
    limit = saved;
    limit.rlim_cur = 64 * 1024;
    signal (SIGXFSZ, SIG_IGN);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &limit), 0);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_ptr_nonnull (batch);
    uint8_t buf [512];
    for (uint64_t i = 10; i < 400; i++)
        ck_assert_int_eq (pb_batch_log_append (batch, buf, s_entry (i, 4, buf), NULL), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), -1);
    ck_assert_ptr_nonnull (strstr (pb_store_error (store), "redo journal"));
    ck_assert_ptr_nonnull (strstr (pb_store_error (store), "File too large"));
    s_check_root (store, 10, 4);
    //  The next batch goes where the refused one was cut off
    s_append (store, 10, 20, 4);
    ck_assert_int_eq (setrlimit (RLIMIT_FSIZE, &saved), 0);
    signal (SIGXFSZ, SIG_DFL);
    s_check_root (store, 20, 4);
    pb_store_destroy (&store);
    s_flush_ms = 0;
    store = s_open (0);
    s_check_root (store, 20, 4);
    pb_store_destroy (&store);
}
END_TEST

//  Journal records with no key in the store to read them by (a damaged
//  store, or journal files from elsewhere): refused, never dropped. And a
//  batch that writes nothing writes no record.
START_TEST (journal_without_its_key_is_refused)
{
    s_flush_ms = 100000;
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        pb_store_t *store = pb_store_open (s_dir, 0, false, s_err, sizeof s_err);
        if (!store || pb_store_use_journal (store, 100000))
            _exit (1);
        pb_batch_t *batch = pb_store_begin (store);
        if (!batch || pb_batch_commit (&batch))
            _exit (2);
        char path [128];
        struct stat st;
        snprintf (path, sizeof path, "%s/redo.0", s_dir);
        if (stat (path, &st) != 0 || st.st_size != 0)
            _exit (3);                      //  the empty batch wrote a record
        uint8_t buf [512];
        batch = pb_store_begin (store);
        for (uint64_t i = 0; i < 5; i++)
            if (!batch || pb_batch_log_append (batch, buf, s_entry (i, 2, buf), NULL))
                _exit (4);
        if (pb_batch_commit (&batch))
            _exit (5);
        _exit (0);                          //  killed before any flush
    }
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0, "child: %d",
                   WEXITSTATUS (status));
    //  Take the key away behind the store's back
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = s_meta_raw (&txn, &dbi);
    MDB_val key = { 8, "redo_key" };
    ck_assert_int_eq (mdb_del (txn, dbi, &key, NULL), 0);
    s_meta_raw_done (env, txn);
    ck_assert_ptr_null (pb_store_open (s_dir, 0, false, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "the redo journal holds records but the store has no key"),
                   "%s", s_err);
    ck_assert_ptr_null (pb_store_open (s_dir, 0, true, s_err, sizeof s_err));
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pb_store journaled");
    TCase *tc = tcase_create ("journaled");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, journaled_batches_reach_readers_at_flush);
    tcase_add_test (tc, journal_write_failure_refuses_the_batch);
    tcase_add_test (tc, journal_without_its_key_is_refused);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
