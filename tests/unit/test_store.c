/*  test_store: the broker's durable LMDB store (broker/pb_store*).
 *
 *  Each test works in its own temporary directory, compares the store's
 *  Merkle tree with an in-memory pl_merkle fed the same entries, and checks
 *  what survives a reopen, an abort, a full map, a reader in another process
 *  and a kill -9 in the middle of appending. The tests marked "both ways"
 *  run once with every batch an LMDB commit and once journaled (the
 *  broker's mode: batches durable in the redo journal, LMDB at a flush).
 *  The queues and the registries have their own suite, test_store_queue.c.  */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <lmdb.h>
#include "pl_test_store.h"
#include "pb_store_int.h"       //  PB_STORE_LAND_AT_MOST
#include "pb_store_queue.h"
#include "pb_store_state.h"
#include "passerelle.pb-c.h"

static unsigned
s_popcount (uint64_t n)
{
    unsigned count = 0;
    for (; n; n &= n - 1)
        count++;
    return count;
}

//  --------------------------------------------------------------------------

START_TEST (reopen_keeps_everything)
{
    s_flush_ms = _i? 1000: 0;         //  both ways
    pb_store_t *store = s_open (0);
    s_check_root (store, 0, 7);
    s_append (store, 0, 700, 7);
    s_append (store, 700, 1000, 7);
    s_append (store, 1000, 1001, 7);
    pb_batch_t *batch = pb_store_begin (store);
    uint8_t id [16] = { 1, 2, 3 }, hash [H] = { 9 };
    const char *recipients [] = { "health", "social_services" };
    ck_assert_int_eq (pb_batch_event_record (batch, id, 16, "police", 1000, NULL, 0,
                                             recipients, 2, "case-7"), 0);
    ck_assert_int_eq (pb_batch_queue_push (batch, "health", id, 16, hash, 1, 5000, 0, false,
                                           (const uint8_t *) "frame", 5), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    pb_store_destroy (&store);
    ck_assert_ptr_null (store);

    store = s_open (0);
    //  Reopening read only the right edge: popcount (1001) nodes, no rehash
    ck_assert_uint_eq (pb_store_merkle_reads (store), s_popcount (1001));
    s_check_root (store, 1001, 7);
    uint8_t *entry, buf [512];
    size_t size;
    ck_assert_int_eq (pb_store_log_entry (store, 500, &entry, &size), 0);
    ck_assert_uint_eq (size, s_entry (500, 7, buf));
    ck_assert_mem_eq (entry, buf, size);
    free (entry);
    ck_assert_int_eq (pb_store_log_entry (store, 1001, &entry, &size), 1);
    pb_event_t *event;
    ck_assert_int_eq (pb_store_event_lookup (store, id, 16, &event), 0);
    ck_assert_str_eq (event->publisher, "police");
    ck_assert_uint_eq (event->log_index, 1000);
    ck_assert_uint_eq (event->n_recipients, 2);
    ck_assert_str_eq (event->recipients [1], "social_services");
    ck_assert_str_eq (event->case_ref, "case-7");
    ck_assert_ptr_null (event->supersedes);
    pb_event_destroy (&event);
    uint8_t found [H];
    ck_assert_int_eq (pb_store_queue_find (store, "health", id, 16, found), 0);
    ck_assert_mem_eq (found, hash, H);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 1);
    //  Appending after the reopen continues the same tree
    s_append (store, 1001, 1100, 7);
    s_check_root (store, 1100, 7);
    pb_store_destroy (&store);
}
END_TEST

START_TEST (abort_leaves_no_trace)
{
    s_flush_ms = _i? 1000: 0;         //  both ways
    pb_store_t *store = s_open (0);
    s_append (store, 0, 10, 3);
    uint8_t root_before [H], root [H], buf [512];
    uint64_t size;
    ck_assert_int_eq (pb_store_log_root (store, &size, root_before), 0);

    pb_batch_t *batch = pb_store_begin (store);
    for (uint64_t i = 10; i < 15; i++)
        ck_assert_int_eq (pb_batch_log_append (batch, buf, s_entry (i, 3, buf), NULL), 0);
    uint8_t id [16] = { 7 }, hash [H] = { 0 };
    ck_assert_int_eq (pb_batch_event_record (batch, id, 16, "police", 12, NULL, 0, NULL, 0,
                                             NULL), 0);
    ck_assert_int_eq (pb_batch_queue_push (batch, "health", id, 16, hash, 1, 99, 0, true,
                                           buf, 10), 0);
    ck_assert_int_eq (pb_batch_case_add (batch, "case-x", "health"), 0);
    //  Inside the batch its writes are visible to this handle
    ck_assert_uint_eq (pb_store_log_size (store), 15);
    ck_assert_int_eq (pb_batch_event_seen (batch, id, 16), 1);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 1);
    pb_batch_abort (&batch);
    ck_assert_ptr_null (batch);

    ck_assert_int_eq (pb_store_log_root (store, &size, root), 0);
    ck_assert_uint_eq (size, 10);
    ck_assert_mem_eq (root, root_before, H);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 0);
    ck_assert_uint_eq (pb_store_queue_total (store), 0);
    ck_assert_int_eq (pb_store_case_has (store, "case-x", "health"), 0);
    pb_event_t *event;
    ck_assert_int_eq (pb_store_event_lookup (store, id, 16, &event), 1);
    //  The next batch gets the aborted indexes, and the right root
    s_append (store, 10, 20, 3);
    s_check_root (store, 20, 3);
    //  A batch whose commit is refused (spoilt by a failure) also rolls back
    batch = pb_store_begin (store);
    ck_assert_int_eq (pb_batch_log_append (batch, buf, s_entry (20, 3, buf), NULL), 0);
    ck_assert_int_eq (pb_batch_log_append (batch, (const uint8_t *) "\xff\xff", 2, NULL), -1);
    ck_assert_int_eq (pb_batch_event_record (batch, id, 16, "police", 1, NULL, 0, NULL, 0,
                                             NULL), 0);
    ck_assert_int_eq (pb_batch_event_record (batch, id, 16, "police", 1, NULL, 0, NULL, 0,
                                             NULL), -1);
    pb_batch_abort (&batch);
    s_check_root (store, 20, 3);
    pb_store_destroy (&store);
    store = s_open (0);
    s_check_root (store, 20, 3);
    pb_store_destroy (&store);
}
END_TEST

START_TEST (proofs_verify)
{
    s_flush_ms = _i? 1000: 0;         //  both ways
    pb_store_t *store = s_open (0);
    s_append (store, 0, 3000, 11);
    s_append (store, 3000, 3001, 11);
    uint8_t proof [PL_MERKLE_PROOF_MAX * H], root [H], root2 [H], leaf [H], buf [512];
    size_t len;
    uint64_t size;
    ck_assert_int_eq (pb_store_log_root (store, &size, root), 0);
    uint64_t indexes [] = { 0, 1, 2, 999, 1024, 2047, 2999, 3000 };
    for (size_t i = 0; i < sizeof indexes / sizeof *indexes; i++) {
        ck_assert_int_eq (pb_store_inclusion_proof (store, indexes [i], size, proof, &len), 0);
        pl_merkle_leaf_hash (buf, s_entry (indexes [i], 11, buf), leaf);
        ck_assert (pl_merkle_verify_inclusion (leaf, indexes [i], size, proof, len, root));
        leaf [0] ^= 1;
        ck_assert (!pl_merkle_verify_inclusion (leaf, indexes [i], size, proof, len, root));
    }
    uint64_t sizes [] = { 1, 2, 3, 1000, 2048, 3000 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        ck_assert_int_eq (pb_store_log_root_at (store, sizes [i], root2), 0);
        ck_assert_int_eq (pb_store_consistency_proof (store, sizes [i], size, proof, &len), 0);
        ck_assert (pl_merkle_verify_consistency (sizes [i], size, root2, root, proof, len));
    }
    ck_assert_int_ne (pb_store_inclusion_proof (store, size, size, proof, &len), 0);
    pb_store_destroy (&store);
}
END_TEST

static int
s_collect (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    (void) entry; (void) size;
    uint64_t *list = arg;
    list [1 + list [0]++] = index;
    return 0;
}

START_TEST (case_and_agency_indexes)
{
    s_flush_ms = _i? 1000: 0;         //  both ways
    pb_store_t *store = s_open (0);
    s_append (store, 0, 100, 10);
    s_append (store, 100, 200, 10);
    static uint64_t got [256];
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_case (store, "case-3", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 20);
    for (uint64_t i = 0; i < 20; i++)
        ck_assert_uint_eq (got [1 + i], 3 + 10 * i);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_case (store, "case-3", 100, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 10);
    ck_assert_uint_eq (got [1], 103);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_case (store, "case-33", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 0);
    //  "case-1" must not pick up "case-10..": exact keys
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_case (store, "case-1", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 20);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_agency (store, "agency-2", 0, s_collect, got), 0);
    uint64_t expect = 0;
    for (uint64_t i = 0; i < 200; i++)
        if (i % 3 == 2)
            ck_assert_uint_eq (got [1 + expect++], i);
    ck_assert_uint_eq (got [0], expect);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_agency (store, "police", 150, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 50);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_agency (store, "victim_support", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 200);
    pb_store_destroy (&store);
}
END_TEST


//  How many entries a case walk (from index 0) finds, checking each is
//  the case's and comes once, in order
typedef struct {
    unsigned cases, which;
    uint64_t count, last;
} case_walk_t;

static int
s_count_case (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    (void) entry; (void) size;
    case_walk_t *walk = arg;
    ck_assert_uint_eq (index % walk->cases, walk->which);
    ck_assert (walk->count == 0 || index > walk->last);
    walk->last = index;
    walk->count++;
    return 0;
}

static uint64_t
s_case_count (pb_store_t *store, unsigned cases, unsigned which)
{
    case_walk_t walk = { cases, which, 0, 0 };
    char name [32];
    snprintf (name, sizeof name, "case-%u", which);
    ck_assert_int_eq (pb_store_log_case (store, name, 0, s_count_case, &walk), 0);
    return walk.count;
}

static uint64_t
s_indexed_to (pb_store_t *store)
{
    pb_store_stats_t stats;
    ck_assert_int_eq (pb_store_stats (store, &stats), 0);
    return stats.indexed_to;
}

//  The indexes are landed late (pb_store_index.c): a walk finds every
//  entry, once, whether it was landed or not, before and after a landing
START_TEST (late_indexes_miss_nothing)
{
    s_flush_ms = _i? 1000: 0;         //  both ways
    pb_store_t *store = s_open (0);
    ck_assert_uint_eq (s_indexed_to (store), 0);
    s_append (store, 0, 70, 7);
    //  Own commits land the first time at once; journaled, the flush lands
    ck_assert_uint_eq (s_indexed_to (store), _i? 0: 70);
    s_append (store, 70, 140, 7);
    //  Less than a second later: nothing more landed, yet all is found
    ck_assert_uint_eq (s_indexed_to (store), _i? 0: 70);
    for (unsigned which = 0; which < 7; which++)
        ck_assert_uint_eq (s_case_count (store, 7, which), 20);
    if (!_i) {
        //  And by a reader in another process (passerelle-audit), from
        //  what LMDB holds: 70 landed, 70 not
        pid_t pid = fork ();
        ck_assert_int_ge (pid, 0);
        if (pid == 0) {
            pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
            bool all = reader != NULL;
            for (unsigned which = 0; which < 7 && all; which++)
                all = s_case_count (reader, 7, which) == 20;
            pb_store_destroy (&reader);
            _exit (all? 0: 1);
        }
        int status;
        ck_assert_int_eq (waitpid (pid, &status, 0), pid);
        ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    static uint64_t got [256];
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_case (store, "case-3", 66, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 11);        //  66 is landed in one way, not the other
    ck_assert_uint_eq (got [1], 66);
    ck_assert_uint_eq (got [11], 136);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_agency (store, "agency-1", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 47);        //  i % 3 == 1 below 140
    if (_i) {
        //  A quiet broker's slice lands into what the next flush commits
        ck_assert_int_eq (pb_store_index_catch_up (store, 100), 0);
        ck_assert_uint_eq (s_indexed_to (store), 100);
        for (unsigned which = 0; which < 7; which++)
            ck_assert_uint_eq (s_case_count (store, 7, which), 20);
        ck_assert_int_eq (pb_store_flush (store), 0);
    }
    //  Closing lands what waits
    pb_store_destroy (&store);
    store = s_open (0);
    ck_assert_uint_eq (s_indexed_to (store), 140);
    for (unsigned which = 0; which < 7; which++)
        ck_assert_uint_eq (s_case_count (store, 7, which), 20);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_agency (store, "agency-1", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 47);
    pb_store_destroy (&store);
}
END_TEST

//  Bytes that are not a LogEntry are refused by name, and the batch goes on
//  as if they had never come: nothing of them is written
START_TEST (log_append_refuses_what_is_not_an_entry)
{
    pb_store_t *store = s_open (0);
    s_append (store, 0, 3, 2);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_ptr_nonnull (batch);
    static const uint8_t junk [] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    uint64_t index;
    ck_assert_int_eq (pb_batch_log_append (batch, junk, sizeof junk, &index), -1);
    ck_assert_ptr_nonnull (strstr (pb_store_error (store), "not a serialised LogEntry (5 bytes)"));
    ck_assert_int_eq (pb_batch_log_append (batch, NULL, 0, &index), -1);
    uint8_t buf [512];
    ck_assert_int_eq (pb_batch_log_append (batch, buf, s_entry (3, 2, buf), &index), 0);
    ck_assert_uint_eq (index, 3);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    s_check_root (store, 4, 2);
    pb_store_destroy (&store);
}
END_TEST

//  The names pb_log_names gives: the case, then each agency once
START_TEST (log_names_name_each_agency_once)
{
    uint8_t buf [512];
    size_t size = s_entry (4, 3, buf), names_size;
    Passerelle__LogEntry *le = passerelle__log_entry__unpack (NULL, size, buf);
    ck_assert_ptr_nonnull (le);
    char names [128];
    //  case-1; publisher police, recipients agency-1 and victim_support
    static const char expected [] = "case-1\0police\0agency-1\0victim_support";
    ck_assert_uint_eq (pb_log_names (le, NULL, 0), sizeof expected);
    memset (names, 'x', sizeof names);
    ck_assert_uint_eq (pb_log_names (le, names, 4), sizeof expected);  //  no room: told
    ck_assert_int_eq (names [0], 'x');                                  //  and not written
    names_size = pb_log_names (le, names, sizeof names);
    ck_assert_uint_eq (names_size, sizeof expected);
    ck_assert_mem_eq (names, expected, sizeof expected);
    char *recipient = le->decisions [1]->recipient, *case_ref = le->case_ref;
    le->decisions [1]->recipient = le->publisher;       //  named twice: filed once
    le->case_ref = NULL;
    names_size = pb_log_names (le, names, sizeof names);
    static const char shorter [] = "\0police\0agency-1";
    ck_assert_uint_eq (names_size, sizeof shorter);
    ck_assert_mem_eq (names, shorter, sizeof shorter);
    le->decisions [1]->recipient = recipient;           //  as unpacked, to be freed
    le->case_ref = case_ref;
    passerelle__log_entry__free_unpacked (le, NULL);
}
END_TEST

//  The broker's append hands the names with the bytes (pb_journal made
//  both from one LogEntry): a landing files the entry under them without
//  decoding it again, and checks them like the decoded ones. Names kept
//  for entries a batch abort took back are never used for the entries
//  appended in their place.
START_TEST (named_appends_land_under_their_names)
{
    pb_store_t *store = s_open (0);         //  own commits: each lands at once
    uint8_t buf [512];
    //  Names that differ from the bytes (case-0) show which were used
    static const char names [] = "case-named\0police";
    pb_batch_t *batch = pb_store_begin (store);
    for (uint64_t i = 0; i < 5; i++)
        ck_assert_int_eq (pb_batch_log_append_named (batch, buf, s_entry (i * 3, 3, buf),
                                                     names, sizeof names, NULL), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    ck_assert_uint_eq (s_indexed_to (store), 5);
    static uint64_t got [64];
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_case (store, "case-named", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 5);

    //  Bad names: refused before anything is written
    batch = pb_store_begin (store);
    char long_name [PB_STORE_NAME_MAX + 8];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    size_t size = s_entry (5, 3, buf);
    ck_assert_int_eq (pb_batch_log_append_named (batch, buf, size, long_name,
                                                 sizeof long_name, NULL), -1);
    ck_assert_ptr_nonnull (strstr (pb_store_error (store), "a name of"));
    ck_assert_int_eq (pb_batch_log_append_named (batch, buf, size, "case-0", 6, NULL), -1);
    ck_assert_int_eq (pb_batch_log_append_named (batch, buf, size, NULL, 0, NULL), -1);
    ck_assert_uint_eq (pb_store_log_size (store), 5);

    //  Appended with other names, then taken back by an abort: the
    //  entries that take their places are filed under their own
    static const char stale [] = "case-stale\0police";
    for (uint64_t i = 5; i < 10; i++)
        ck_assert_int_eq (pb_batch_log_append_named (batch, buf, s_entry (i, 3, buf),
                                                     stale, sizeof stale, NULL), 0);
    pb_batch_abort (&batch);
    s_append (store, 5, 10, 3);
    //  Landed by the close (the names still kept)
    pb_store_destroy (&store);
    store = s_open (0);
    ck_assert_uint_eq (s_indexed_to (store), 10);
    got [0] = 0;
    ck_assert_int_eq (pb_store_log_case (store, "case-stale", 0, s_collect, got), 0);
    ck_assert_uint_eq (got [0], 0);
    case_walk_t walk = { 3, 2, 0, 0 };
    ck_assert_int_eq (pb_store_log_case (store, "case-2", 0, s_count_case, &walk), 0);
    ck_assert_uint_eq (walk.count, 2);                  //  5 and 8
    pb_store_destroy (&store);
}
END_TEST

//  No landing takes more than PB_STORE_LAND_AT_MOST entries (the broker's
//  memory), not even an idle store's; and a landing into a folded
//  transaction that a flush then drops (no batch in it) is not counted
START_TEST (landings_stay_small_and_are_never_lost)
{
    uint64_t most = PB_STORE_LAND_AT_MOST;
    //  Own commits: the first lands at once, an idle moment a second later
    pb_store_t *store = s_open (0);
    s_append (store, 0, 2 * most + 100, 7);
    ck_assert_uint_eq (s_indexed_to (store), most);
    usleep (1100 * 1000);
    ck_assert_int_eq (pb_store_flush_if_due (store), 0);
    ck_assert_uint_eq (s_indexed_to (store), 2 * most);
    pb_store_destroy (&store);              //  lands the rest
    store = s_open (0);
    ck_assert_uint_eq (s_indexed_to (store), 2 * most + 100);
    ck_assert_uint_eq (s_case_count (store, 7, 3), (2 * most + 100 + 3) / 7);
    //  A stop lands everything, a landing at a time
    s_append (store, 2 * most + 100, 5 * most + 100, 7);
    pb_store_destroy (&store);
    store = s_open (0);
    ck_assert_uint_eq (s_indexed_to (store), 5 * most + 100);
    pb_store_destroy (&store);
    //  Journaled: a flush lands, then a batch is aborted, leaving the
    //  folded transaction empty; a slice into it would be dropped with it
    s_teardown ();
    s_setup ();
    s_flush_ms = 1000;
    store = s_open (0);
    s_append (store, 0, most + 100, 7);
    ck_assert_int_eq (pb_store_flush (store), 0);
    ck_assert_uint_eq (s_indexed_to (store), most);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_ptr_nonnull (batch);
    pb_batch_abort (&batch);
    ck_assert_int_eq (pb_store_index_catch_up (store, 1000), 0);
    ck_assert_int_eq (pb_store_flush (store), 0);
    ck_assert_uint_eq (s_indexed_to (store), most);
    //  Not taken for landed: the idle store lands it a second later
    usleep (1100 * 1000);
    ck_assert_int_eq (pb_store_flush_if_due (store), 0);
    ck_assert_uint_eq (s_indexed_to (store), most + 100);
    pb_store_destroy (&store);
}
END_TEST

//  A store from before the late indexes (schema 2: indexed as written, no
//  indexed_to) is read by its index alone, and a writer takes it over
START_TEST (indexes_of_an_older_store_are_complete)
{
    pb_store_t *store = s_open (0);
    s_append (store, 0, 50, 5);
    pb_store_destroy (&store);
    //  Make it look older: schema 2, no indexed_to
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = s_meta_raw (&txn, &dbi);
    MDB_val key = { 10, "indexed_to" };
    ck_assert_int_eq (mdb_del (txn, dbi, &key, NULL), 0);
    s_meta_raw_done (env, txn);
    static const uint8_t two [4] = { 0, 0, 0, 2 };
    ck_assert_uint_eq (s_schema (two), 2);
    pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_msg (reader, "%s", s_err);
    ck_assert_uint_eq (s_indexed_to (reader), UINT64_MAX);
    ck_assert_uint_eq (s_case_count (reader, 5, 2), 10);
    pb_store_destroy (&reader);
    store = s_open (0);
    ck_assert_uint_eq (s_schema (NULL) , PB_STORE_SCHEMA);
    ck_assert_uint_eq (s_indexed_to (store), 50);
    s_append (store, 50, 100, 5);
    ck_assert_uint_eq (s_case_count (store, 5, 2), 20);
    pb_store_destroy (&store);
}
END_TEST

//  An events value written before the store kept the event's case there
//  (it ends after the recipients) still reads, without a case; one whose
//  case runs past its end is damaged
START_TEST (events_recorded_before_the_case_was_kept)
{
    pb_store_t *store = s_open (0);
    pb_store_destroy (&store);
    MDB_txn *txn;
    MDB_dbi meta, events;
    MDB_env *env = s_meta_raw (&txn, &meta);
    ck_assert_int_eq (mdb_dbi_open (txn, "events", 0, &events), 0);
    static const uint8_t old [] = { 0, 0, 0, 0, 0, 0, 0, 3, 6, 'p', 'o', 'l', 'i', 'c', 'e',
                                    0, 0, 1, 6, 'h', 'e', 'a', 'l', 't', 'h' };
    static const uint8_t cut [] = { 0, 0, 0, 0, 0, 0, 0, 3, 6, 'p', 'o', 'l', 'i', 'c', 'e',
                                    0, 0, 0, 10, 'c', 'a' };
    uint8_t id_old [16] = { 1 }, id_cut [16] = { 2 };
    MDB_val k = { 16, id_old }, v = { sizeof old, (void *) old };
    ck_assert_int_eq (mdb_put (txn, events, &k, &v, 0), 0);
    k.mv_data = id_cut;
    v = (MDB_val) { sizeof cut, (void *) cut };
    ck_assert_int_eq (mdb_put (txn, events, &k, &v, 0), 0);
    s_meta_raw_done (env, txn);
    store = s_open (0);
    pb_event_t *event;
    ck_assert_int_eq (pb_store_event_lookup (store, id_old, 16, &event), 0);
    ck_assert_uint_eq (event->log_index, 3);
    ck_assert_uint_eq (event->n_recipients, 1);
    ck_assert_str_eq (event->recipients [0], "health");
    ck_assert_ptr_null (event->case_ref);
    pb_event_destroy (&event);
    ck_assert_int_eq (pb_store_event_lookup (store, id_cut, 16, &event), -1);
    pb_store_destroy (&store);
}
END_TEST

//  --------------------------------------------------------------------------
//  Full map

START_TEST (full_map_refuses_and_recovers)
{
    s_flush_ms = _i? 1000: 0;         //  both ways
    pb_store_t *store = s_open (256 * 1024);
    uint8_t buf [512], frame [300], hash [H] = { 1 };
    memset (frame, 0xab, sizeof frame);
    uint64_t i = 0, queued = 0;
    int rc = 0;
    //  Publishes (event id, log entry, queue item) until the store says no
    while (rc == 0 && i < 100000) {
        pb_batch_t *batch = pb_store_begin (store);
        ck_assert_ptr_nonnull (batch);
        for (int k = 0; k < 5 && rc == 0; k++, i++) {
            uint8_t id [16] = { 0 };
            memcpy (id, &i, sizeof i);
            rc = pb_batch_event_record (batch, id, 16, "police", i, NULL, 0, NULL, 0, NULL);
            if (rc == 0)
                rc = pb_batch_log_append (batch, buf, s_entry (i, 5, buf), NULL);
            if (rc == 0)
                rc = pb_batch_queue_push (batch, "health", id, 16, hash, 0, 1000 + i, 0, false,
                                          frame, sizeof frame);
        }
        if (rc == PB_STORE_NO_ROOM) {
            ck_assert (strstr (pb_store_error (store), "store full"));
            pb_batch_abort (&batch);
        }
        else {
            int crc = pb_batch_commit (&batch);
            if (rc == 0 && crc == 0)
                queued += 5;
            rc = rc? rc: crc;
        }
    }
    //  The publish limit comes before the map is full
    ck_assert_msg (rc == PB_STORE_NO_ROOM, "rc %d: %s", rc, pb_store_error (store));
    ck_assert (queued > 0);
    pb_store_stats_t stats;
    ck_assert_int_eq (pb_store_stats (store, &stats), 0);
    ck_assert (stats.used_bytes <= stats.publish_limit_bytes);
    ck_assert (stats.publish_limit_bytes < stats.map_size);
    uint64_t committed = pb_store_log_size (store);
    ck_assert_uint_eq (committed, queued);
    s_check_root (store, committed, 5);

    //  Log-only appends (receipts are not gated) until the map itself is full
    rc = 0;
    uint64_t n = committed;
    while (rc == 0) {
        pb_batch_t *batch = pb_store_begin (store);
        ck_assert_ptr_nonnull (batch);
        for (int k = 0; k < 20 && rc == 0; k++)
            rc = pb_batch_log_append (batch, buf, s_entry (n + k, 5, buf), NULL);
        int crc = pb_batch_commit (&batch);
        rc = rc? rc: crc;
        if (rc == 0)
            n += 20;
    }
    ck_assert_int_eq (rc, PB_STORE_FULL);
    ck_assert (strstr (pb_store_error (store), "MDB_MAP_FULL"));
    s_check_root (store, n, 5);
    pb_store_destroy (&store);

    //  Everything committed is intact after a reopen. A map filled to its
    //  last page (receipts' log entries are not refused) may take no write
    //  at all, not even a removal (it copies pages too): raised, as an
    //  operator would (map-size), the store takes removals again
    store = s_open (256 * 1024);
    s_check_root (store, n, 5);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), queued);
    pb_store_destroy (&store);
    store = s_open (512 * 1024);
    s_check_root (store, n, 5);
    for (uint64_t j = 0; j < queued; j += 5) {
        pb_batch_t *batch = pb_store_begin (store);
        ck_assert_ptr_nonnull (batch);
        for (uint64_t k = j; k < j + 5; k++) {
            uint8_t id [16] = { 0 };
            memcpy (id, &k, sizeof k);
            ck_assert_msg (pb_batch_queue_remove (batch, "health", id, 16) == 0,
                           "remove %llu: %s", (unsigned long long) k, pb_store_error (store));
        }
        ck_assert_msg (pb_batch_commit (&batch) == 0, "commit removal: %s", pb_store_error (store));
    }
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 0);
    uint8_t proof [PL_MERKLE_PROOF_MAX * H], root [H], leaf [H];
    size_t len;
    uint64_t size;
    ck_assert_int_eq (pb_store_log_root (store, &size, root), 0);
    ck_assert_int_eq (pb_store_inclusion_proof (store, 3, size, proof, &len), 0);
    pl_merkle_leaf_hash (buf, s_entry (3, 5, buf), leaf);
    ck_assert (pl_merkle_verify_inclusion (leaf, 3, size, proof, len, root));
    pb_store_destroy (&store);
}
END_TEST

//  --------------------------------------------------------------------------
//  Open errors

START_TEST (older_schema_stamped_by_a_writer)
{
    pb_store_t *store = s_open (0);
    s_append (store, 0, 5, 2);
    pb_store_destroy (&store);
    ck_assert_uint_eq (s_schema (NULL), PB_STORE_SCHEMA);
    //  A store from before the redo journal: readers leave it as it is,
    //  the first writer stamps it, and everything in it is still there
    static const uint8_t one [4] = { 0, 0, 0, 1 };
    ck_assert_uint_eq (s_schema (one), 1);
    pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_msg (reader, "%s", s_err);
    pb_store_destroy (&reader);
    ck_assert_uint_eq (s_schema (NULL), 1);
    store = s_open (0);
    s_check_root (store, 5, 2);
    pb_store_destroy (&store);
    ck_assert_uint_eq (s_schema (NULL), PB_STORE_SCHEMA);
    //  A schema-5 store (journal records in keyed BLAKE2b) is stamped 6 by
    //  a writer, which journals in HMAC-SHA256: an older broker must refuse
    //  it rather than skip those records
    static const uint8_t five [4] = { 0, 0, 0, 5 };
    ck_assert_uint_eq (s_schema (five), 5);
    store = s_open (0);
    s_append (store, 5, 6, 2);
    pb_store_destroy (&store);
    ck_assert_uint_eq (s_schema (NULL), 6);
}
END_TEST

START_TEST (newer_schema_refused)
{
    pb_store_t *store = s_open (0);
    pb_store_destroy (&store);
    //  Stamp a future schema version as a newer build would
    static const uint8_t v [4] = { 0, 0, 0, 99 };
    ck_assert_uint_eq (s_schema (v), 99);
    ck_assert_ptr_null (pb_store_open (s_dir, 0, false, s_err, sizeof s_err));
    char expect [64];
    snprintf (expect, sizeof expect, "schema version 99 is newer than this build's (%d)",
              PB_STORE_SCHEMA);
    ck_assert_msg (strstr (s_err, expect), "%s", s_err);
    ck_assert_ptr_null (pb_store_open (s_dir, 0, true, s_err, sizeof s_err));
    ck_assert (strstr (s_err, "schema version 99"));
}
END_TEST

START_TEST (not_a_store_refused)
{
    char path [128];
    snprintf (path, sizeof path, "%s/data.mdb", s_dir);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    for (int i = 0; i < 5000; i++)
        fputs ("not an lmdb file ", file);
    fclose (file);
    ck_assert_ptr_null (pb_store_open (s_dir, 0, false, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "not a (compatible) LMDB store"), "%s", s_err);
    ck_assert (strstr (s_err, s_dir));
    //  A file where the directory should be; a missing store read-only
    ck_assert_ptr_null (pb_store_open (path, 0, false, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "not a directory"), "%s", s_err);
    ck_assert_ptr_null (pb_store_open ("/nonexistent/store", 0, true, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "/nonexistent/store"), "%s", s_err);
    //  A read-only handle cannot write
    unlink (path);
    pb_store_t *store = s_open (0);
    ck_assert_ptr_nonnull (pb_store_begin (store));
    ck_assert_ptr_null (pb_store_begin (store));        //  one batch at a time
    ck_assert (strstr (pb_store_error (store), "already open"));
    pb_store_destroy (&store);
    store = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_ptr_nonnull (store);
    ck_assert_ptr_null (pb_store_begin (store));
    ck_assert (strstr (pb_store_error (store), "read-only"));
    pb_store_destroy (&store);
}
END_TEST

//  --------------------------------------------------------------------------
//  Another process reads while this one writes (passerelle-audit)

START_TEST (reader_process_while_writing)
{
    pb_store_t *store = s_open (0);
    s_append (store, 0, 100, 4);
    int to_child [2], to_parent [2];
    ck_assert_int_eq (pipe (to_child), 0);
    ck_assert_int_eq (pipe (to_parent), 0);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        //  The child never touches the parent's environment handle
        int status = 1;
        char go;
        pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
        uint8_t root [H], expected [H], proof [PL_MERKLE_PROOF_MAX * H], leaf [H], buf [512];
        uint64_t size;
        size_t len;
        if (reader && pb_store_log_root (reader, &size, root) == 0 && size == 100
        &&  write (to_parent [1], "r", 1) == 1 && read (to_child [0], &go, 1) == 1) {
            //  The writer has committed 100 more and holds a batch open
            s_expected_root (200, 4, expected);
            pl_merkle_leaf_hash (buf, s_entry (150, 4, buf), leaf);
            if (pb_store_log_root (reader, &size, root) == 0 && size == 200
            &&  memcmp (root, expected, H) == 0
            &&  pb_store_inclusion_proof (reader, 150, 200, proof, &len) == 0
            &&  pl_merkle_verify_inclusion (leaf, 150, 200, proof, len, root))
                status = 0;
        }
        if (status)
            fprintf (stderr, "reader: %s\n", reader? pb_store_error (reader): s_err);
        pb_store_destroy (&reader);
        _exit (status);
    }
    char ready;
    ck_assert_int_eq (read (to_parent [0], &ready, 1), 1);
    s_append (store, 100, 200, 4);
    pb_batch_t *batch = pb_store_begin (store);       //  a writer busy meanwhile
    uint8_t buf [512];
    ck_assert_int_eq (pb_batch_log_append (batch, buf, s_entry (200, 4, buf), NULL), 0);
    ck_assert_int_eq (write (to_child [1], "g", 1), 1);
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    s_check_root (store, 201, 4);
    pb_store_destroy (&store);
}
END_TEST

//  A second writer process (LMDB lets writers take turns): this handle's
//  batches must follow what it appended, not overwrite it
START_TEST (second_writer_process_followed)
{
    pb_store_t *store = s_open (0);
    s_append (store, 0, 10, 4);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        pb_store_t *other = pb_store_open (s_dir, 0, false, s_err, sizeof s_err);
        uint8_t buf [512];
        pb_batch_t *batch = other? pb_store_begin (other): NULL;
        for (uint64_t i = 10; batch && i < 15; i++)
            if (pb_batch_log_append (batch, buf, s_entry (i, 4, buf), NULL))
                _exit (1);
        int ok = batch && pb_batch_commit (&batch) == 0;
        pb_store_destroy (&other);      //  so that valgrind sees no leak in the child either
        _exit (ok? 0: 1);
    }
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    s_append (store, 15, 20, 4);
    s_check_root (store, 20, 4);
    pb_store_destroy (&store);
}
END_TEST

//  --------------------------------------------------------------------------
//  kill -9 while appending

//  RssFile of this process, in KiB
static long
s_rss_file_kb (void)
{
    char line [256];
    long kb = -1;
    FILE *file = fopen ("/proc/self/status", "r");
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "RssFile:", 8) == 0)
            kb = atol (line + 8);
    if (file)
        fclose (file);
    return kb;
}

//  Reading the log maps its pages into the process; trimming gives them
//  back (below budget it leaves them), and the log reads the same after.
START_TEST (trim_map_gives_pages_back)
{
    //  Not a whole number of pages: the kernel maps it rounded up
    pb_store_t *store = s_open ((256u << 20) + 1000);
    for (uint64_t from = 0; from < 100000; from += 10000)
        s_append (store, from, from + 10000, 100);
    uint8_t root [H];
    uint64_t size;
    bool released = true;
    pb_store_trim_map (store, (size_t) 1 << 40, &released);
    ck_assert (!released);              //  under budget: nothing done
    //  Read every entry through the map
    size_t total = 0;
    for (uint64_t i = 0; i < 100000; i++) {
        uint8_t *entry;
        size_t length;
        ck_assert_int_eq (pb_store_log_entry (store, i, &entry, &length), 0);
        total += length;
        free (entry);
    }
    ck_assert_uint_gt (total, 100000 * 100);
    long before = s_rss_file_kb ();
    size_t resident = pb_store_trim_map (store, 0, &released);
    long after = s_rss_file_kb ();
    ck_assert (released);
    ck_assert_uint_ge (resident, (size_t) before * 1024 / 2);
    //  The entries alone are ~20 MB: most of them were resident, now gone
    ck_assert_msg (before - after > 10 * 1024, "RssFile %ld kB -> %ld kB", before, after);
    s_check_root (store, 100000, 100);
    ck_assert_int_eq (pb_store_log_root (store, &size, root), 0);
    pb_store_destroy (&store);
}
END_TEST

//  Rounds: every batch an LMDB commit; journaled and never flushed (all
//  that survives comes from the journal); journaled with a flush due every
//  20 ms (the kill lands between flushes, or inside one).
START_TEST (crash_keeps_committed_batches)
{
    srand ((unsigned) time (NULL) ^ (unsigned) getpid ());
    for (int round = 0; round < 6; round++) {
        int64_t flush_ms = round % 3 == 0? 0: round % 3 == 1? 100000: 20;
        int fds [2];
        ck_assert_int_eq (pipe (fds), 0);
        pid_t pid = fork ();
        ck_assert_int_ge (pid, 0);
        if (pid == 0) {
            close (fds [0]);
            pb_store_t *store = pb_store_open (s_dir, 0, false, s_err, sizeof s_err);
            if (!store || pb_store_use_journal (store, flush_ms))
                _exit (1);
            uint64_t n = pb_store_log_size (store);
            uint8_t buf [512];
            while (true) {
                pb_batch_t *batch = pb_store_begin (store);
                for (int k = 0; k < 10; k++)
                    if (!batch || pb_batch_log_append (batch, buf, s_entry (n + k, 9, buf), NULL))
                        _exit (1);
                if (pb_batch_commit (&batch) || pb_store_flush_if_due (store))
                    _exit (1);
                n += 10;
                //  Told only after the commit returned: durable by then
                if (write (fds [1], &n, sizeof n) != sizeof n)
                    _exit (1);
            }
        }
        close (fds [1]);
        usleep (50000 + (useconds_t) (rand () % 250000));
        kill (pid, SIGKILL);
        int status;
        waitpid (pid, &status, 0);
        ck_assert (WIFSIGNALED (status));
        uint64_t reported = 0, n;
        while (read (fds [0], &n, sizeof n) == sizeof n)
            reported = n;
        close (fds [0]);
        if (flush_ms == 100000 && reported > 0) {
            //  LMDB itself lacks this round's batches: the journal has them
            pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
            ck_assert_msg (reader, "open read-only: %s", s_err);
            ck_assert_uint_gt (pb_store_redo_pending (reader), 0);
            ck_assert_uint_lt (pb_store_log_size (reader), reported);
            pb_store_destroy (&reader);
        }
        s_flush_ms = 0;
        pb_store_t *store = s_open (0);
        uint64_t size = pb_store_log_size (store);
        ck_assert_msg (size >= reported, "size %llu < committed %llu",
                       (unsigned long long) size, (unsigned long long) reported);
        ck_assert_uint_eq (size % 10, 0);
        ck_assert (size > 0);
        s_check_root (store, size, 9);
        //  Landed or not when it was killed, every entry is found once
        ck_assert_uint_le (s_indexed_to (store), size);
        ck_assert_uint_eq (s_case_count (store, 9, 4), size / 9 + (size % 9 > 4));
        pb_store_destroy (&store);
    }
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pb_store");
    TCase *tc = tcase_create ("store");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_loop_test (tc, reopen_keeps_everything, 0, 2);
    tcase_add_loop_test (tc, abort_leaves_no_trace, 0, 2);
    tcase_add_loop_test (tc, proofs_verify, 0, 2);
    tcase_add_loop_test (tc, case_and_agency_indexes, 0, 2);
    tcase_add_loop_test (tc, late_indexes_miss_nothing, 0, 2);
    tcase_add_test (tc, indexes_of_an_older_store_are_complete);
    tcase_add_test (tc, log_append_refuses_what_is_not_an_entry);
    tcase_add_test (tc, log_names_name_each_agency_once);
    tcase_add_test (tc, named_appends_land_under_their_names);
    tcase_add_test (tc, events_recorded_before_the_case_was_kept);
    tcase_add_test (tc, landings_stay_small_and_are_never_lost);
    tcase_add_loop_test (tc, full_map_refuses_and_recovers, 0, 2);
    tcase_add_test (tc, newer_schema_refused);
    tcase_add_test (tc, older_schema_stamped_by_a_writer);
    tcase_add_test (tc, not_a_store_refused);
    tcase_add_test (tc, reader_process_while_writing);
    tcase_add_test (tc, second_writer_process_followed);
    tcase_add_test (tc, crash_keeps_committed_batches);
    tcase_add_test (tc, trim_map_gives_pages_back);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
