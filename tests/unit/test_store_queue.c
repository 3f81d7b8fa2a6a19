/*  test_store_queue: pb_store's delivery queues, event ids and registries.
 *
 *  Order (priority lane first, then arrival), removal by event id, replay
 *  from the start and from a position, de-duplication, drop, expiry and
 *  retention purges; event-id replay detection across a reopen; consents,
 *  case membership, sequences and checkpoints surviving a reopen.  */
#include <sys/wait.h>
#include "pl_test_store.h"
#include "pb_store_queue.h"
#include "pb_store_state.h"
#include "pl_bytes.h"

static void
s_id (uint8_t *id, unsigned n)
{
    memset (id, 0, 16);
    id [0] = (uint8_t) n;
    id [15] = 0xee;
}

//  Push event n to agency: frame "frame-<n>", hash byte n
static int
s_push (pb_batch_t *batch, const char *agency, unsigned n, bool priority,
        uint64_t valid_until, uint64_t retain_until)
{
    uint8_t id [16], hash [32];
    char frame [32];
    s_id (id, n);
    memset (hash, (int) n, sizeof hash);
    snprintf (frame, sizeof frame, "frame-%u", n);
    return pb_batch_queue_push (batch, agency, id, 16, hash, 1000, valid_until, retain_until,
                                priority, (const uint8_t *) frame, strlen (frame));
}

//  Records the event numbers (id [0]) of the items seen
typedef struct {
    unsigned n [64];
    size_t count;
    pb_queue_pos_t last;
    char agency [32];
    pb_store_t *store;              //  set: each item's frame is read and checked
} seen_t;

static int
s_seen (const pb_queue_item_t *item, void *arg)
{
    seen_t *seen = arg;
    char frame [32];
    snprintf (frame, sizeof frame, "frame-%u", item->event_id [0]);
    if (seen->store) {
        const uint8_t *data;
        size_t size;
        ck_assert_int_eq (pb_store_queue_frame (seen->store, item, &data, &size), 0);
        ck_assert_uint_eq (size, strlen (frame));
        ck_assert_mem_eq (data, frame, strlen (frame));
    }
    ck_assert_uint_eq (item->header_hash [31], item->event_id [0]);
    ck_assert_uint_eq (item->event_id_size, 16);
    snprintf (seen->agency, sizeof seen->agency, "%s", item->agency);
    seen->n [seen->count++] = item->event_id [0];
    seen->last = item->pos;
    return 0;
}

START_TEST (queue_order_remove_replay)
{
    pb_store_t *store = s_open (0);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_int_eq (s_push (batch, "health", 1, false, 10000, 0), 0);
    ck_assert_int_eq (s_push (batch, "health", 2, false, 10000, 0), 0);
    ck_assert_int_eq (s_push (batch, "health", 3, true, 10000, 0), 0);    //  escalation
    ck_assert_int_eq (s_push (batch, "police", 4, false, 10000, 0), 0);
    ck_assert_int_eq (s_push (batch, "health", 5, false, 10000, 0), 0);
    ck_assert_int_eq (s_push (batch, "health", 2, false, 10000, 0), 1);   //  de-duplicated
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 4);
    ck_assert_uint_eq (pb_store_queue_depth (store, "police"), 1);
    ck_assert_uint_eq (pb_store_queue_depth (store, "nobody"), 0);
    ck_assert_uint_eq (pb_store_queue_total (store), 5);

    seen_t seen = { .store = store };
    ck_assert_int_eq (pb_store_queue_each (store, "health", NULL, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 4);
    unsigned order [] = { 3, 1, 2, 5 };
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq (seen.n [i], order [i]);
    ck_assert_str_eq (seen.agency, "health");
    //  Resume after the second item, two at a time
    seen_t part = { .store = store };
    ck_assert_int_eq (pb_store_queue_each (store, "health", NULL, 2, s_seen, &part), 0);
    ck_assert_uint_eq (part.count, 2);
    pb_queue_pos_t from = { part.last.lane, part.last.seq + 1 };
    part.count = 0;
    ck_assert_int_eq (pb_store_queue_each (store, "health", &from, 0, s_seen, &part), 0);
    ck_assert_uint_eq (part.count, 2);
    ck_assert_uint_eq (part.n [0], 2);
    ck_assert_uint_eq (part.n [1], 5);

    //  A receipt removes its item, once
    uint8_t id [16], hash [32];
    s_id (id, 2);
    ck_assert_int_eq (pb_store_queue_find (store, "health", id, 16, hash), 0);
    ck_assert_uint_eq (hash [0], 2);
    ck_assert_int_eq (pb_store_queue_find (store, "police", id, 16, hash), 1);
    batch = pb_store_begin (store);
    ck_assert_int_eq (pb_batch_queue_remove (batch, "health", id, 16), 0);
    ck_assert_int_eq (pb_batch_queue_remove (batch, "health", id, 16), 1);
    ck_assert_int_eq (pb_batch_queue_remove (batch, "police", id, 16), 1);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    ck_assert_int_eq (pb_store_queue_find (store, "health", id, 16, hash), 1);

    //  Redelivery after a restart: the same order, without the receipted one
    pb_store_destroy (&store);
    store = s_open (0);
    memset (&seen, 0, sizeof seen);
    seen.store = store;
    ck_assert_int_eq (pb_store_queue_each (store, "health", NULL, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 3);
    ck_assert_uint_eq (seen.n [0], 3);
    ck_assert_uint_eq (seen.n [1], 1);
    ck_assert_uint_eq (seen.n [2], 5);
    //  A new item goes after the restored ones
    batch = pb_store_begin (store);
    ck_assert_int_eq (s_push (batch, "health", 6, false, 10000, 0), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    memset (&seen, 0, sizeof seen);
    seen.store = store;
    ck_assert_int_eq (pb_store_queue_each (store, "health", NULL, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.n [3], 6);

    //  Drop one agency: the other keeps its items
    batch = pb_store_begin (store);
    uint64_t dropped;
    ck_assert_int_eq (pb_batch_queue_drop (batch, "health", &dropped), 0);
    ck_assert_uint_eq (dropped, 4);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 0);
    ck_assert_uint_eq (pb_store_queue_depth (store, "police"), 1);
    ck_assert_uint_eq (pb_store_queue_total (store), 1);
    memset (&seen, 0, sizeof seen);
    seen.store = store;
    ck_assert_int_eq (pb_store_queue_each (store, "health", NULL, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 0);
    pb_store_destroy (&store);
}
END_TEST

//  Logs a log entry per purged item from inside the purge, as the broker will
static int
s_purged (const pb_queue_item_t *item, void *arg)
{
    seen_t *seen = arg;
    return s_seen (item, seen);
}

START_TEST (queue_expiry_and_retention)
{
    pb_store_t *store = s_open (0);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_int_eq (s_push (batch, "health", 1, false, 5000, 0), 0);
    ck_assert_int_eq (s_push (batch, "health", 2, false, 3000, 0), 0);
    ck_assert_int_eq (s_push (batch, "police", 3, true, 9000, 2000), 0);  //  retention first
    ck_assert_int_eq (s_push (batch, "police", 4, false, 20000, 0), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);

    seen_t seen = { .store = store };
    ck_assert_int_eq (pb_store_queue_due (store, 1999, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 0);
    ck_assert_int_eq (pb_store_queue_due (store, 5000, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 3);
    ck_assert_uint_eq (seen.n [0], 3);      //  due at 2000 (retention)
    ck_assert_uint_eq (seen.n [1], 2);      //  3000
    ck_assert_uint_eq (seen.n [2], 1);      //  5000
    //  Listing did not remove anything
    ck_assert_uint_eq (pb_store_queue_total (store), 4);

    batch = pb_store_begin (store);
    uint64_t purged;
    memset (&seen, 0, sizeof seen);
    ck_assert_int_eq (pb_batch_queue_purge_due (batch, 3000, 0, s_purged, &seen, &purged), 0);
    ck_assert_uint_eq (purged, 2);
    ck_assert_uint_eq (seen.count, 2);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    ck_assert_uint_eq (pb_store_queue_depth (store, "police"), 1);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 1);
    memset (&seen, 0, sizeof seen);
    ck_assert_int_eq (pb_store_queue_due (store, UINT64_MAX, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 2);
    ck_assert_uint_eq (seen.n [0], 1);
    ck_assert_uint_eq (seen.n [1], 4);
    //  A receipted item is no longer due
    uint8_t id [16];
    s_id (id, 1);
    batch = pb_store_begin (store);
    ck_assert_int_eq (pb_batch_queue_remove (batch, "health", id, 16), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    memset (&seen, 0, sizeof seen);
    ck_assert_int_eq (pb_store_queue_due (store, UINT64_MAX, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 1);
    pb_store_destroy (&store);
}
END_TEST

//  The frames database behind the store's back: its entries as seq -> frame
typedef struct {
    uint64_t *seqs;
    char (*frames) [32];
    size_t max;
} raw_frames_t;

static void
s_raw_frame (size_t at, const MDB_val *k, const MDB_val *v, void *arg)
{
    raw_frames_t *out = arg;
    ck_assert_uint_lt (at, out->max);
    ck_assert_uint_eq (k->mv_size, 8);
    ck_assert_uint_lt (v->mv_size, 32);
    out->seqs [at] = pl_get_be64 (k->mv_data);
    memcpy (out->frames [at], v->mv_data, v->mv_size);
    out->frames [at][v->mv_size] = 0;
}

static size_t
s_frames_raw (uint64_t *seqs, char frames [][32], size_t max)
{
    raw_frames_t out = { seqs, frames, max };
    return s_raw_each ("frames", s_raw_frame, &out);
}

//  Schema 5: an item's frame is kept apart, in "frames" under the item's
//  sequence, and its removal takes the frame too. An item written before
//  (the frame inside it, no flag) still reads and removes.
START_TEST (frames_kept_apart_and_items_from_before)
{
    pb_store_t *store = s_open (0);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_int_eq (s_push (batch, "health", 1, false, 10000, 0), 0);
    ck_assert_int_eq (s_push (batch, "health", 2, false, 10000, 0), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    pb_store_destroy (&store);
    uint64_t seqs [8];
    char frames [8][32];
    ck_assert_uint_eq (s_frames_raw (seqs, frames, 8), 2);
    ck_assert_str_eq (frames [0], "frame-1");
    ck_assert_str_eq (frames [1], "frame-2");

    //  The items hold no frame; item 2 is made as an older broker wrote it
    MDB_txn *txn;
    MDB_dbi meta, queue, fdb;
    MDB_env *env = s_meta_raw (&txn, &meta);
    ck_assert_int_eq (mdb_dbi_open (txn, "queue", 0, &queue), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "frames", 0, &fdb), 0);
    MDB_cursor *cursor;
    ck_assert_int_eq (mdb_cursor_open (txn, queue, &cursor), 0);
    MDB_val k, v;
    uint8_t key [64], value [256];
    size_t key_size = 0, value_size = 0;
    for (int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        const uint8_t *item = v.mv_data;
        ck_assert_uint_eq (v.mv_size, 1 + 32 + 24 + 1 + 16);     //  head and event id only
        ck_assert_uint_eq (item [0] & 2, 2);
        if (item [1 + 32 + 24 + 1] == 2) {
            memcpy (key, k.mv_data, k.mv_size);
            key_size = k.mv_size;
            memcpy (value, v.mv_data, v.mv_size);
            value_size = v.mv_size;
        }
    }
    mdb_cursor_close (cursor);
    ck_assert_uint_gt (key_size, 9);
    value [0] &= (uint8_t) ~2;
    memcpy (value + value_size, "frame-2", 7);
    k = (MDB_val) { key_size, key };
    v = (MDB_val) { value_size + 7, value };
    ck_assert_int_eq (mdb_put (txn, queue, &k, &v, 0), 0);
    uint8_t fkey [8];
    memcpy (fkey, key + key_size - 8, 8);          //  the item's sequence
    k = (MDB_val) { 8, fkey };
    ck_assert_int_eq (mdb_del (txn, fdb, &k, NULL), 0);
    s_meta_raw_done (env, txn);
    ck_assert_uint_eq (s_frames_raw (seqs, frames, 8), 1);

    //  Both read, wherever their frames are; outside a walk, no frame
    store = s_open (0);
    seen_t seen = { .store = store };
    ck_assert_int_eq (pb_store_queue_each (store, "health", NULL, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 2);
    pb_queue_item_t outside = { .frame_apart = true };
    const uint8_t *data;
    size_t size;
    ck_assert_int_eq (pb_store_queue_frame (store, &outside, &data, &size), -1);
    ck_assert (strstr (pb_store_error (store), "outside a queue walk"));
    //  Removals take the frame kept apart with the item
    batch = pb_store_begin (store);
    uint8_t id [16];
    s_id (id, 1);
    ck_assert_int_eq (pb_batch_queue_remove (batch, "health", id, 16), 0);
    s_id (id, 2);
    ck_assert_int_eq (pb_batch_queue_remove (batch, "health", id, 16), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 0);
    pb_store_destroy (&store);
    ck_assert_uint_eq (s_frames_raw (seqs, frames, 8), 0);

    //  A store from before schema 5 has no "frames": a reader opens it as it
    //  is, a writer adds the database
    env = s_meta_raw (&txn, &meta);
    ck_assert_int_eq (mdb_dbi_open (txn, "frames", 0, &fdb), 0);
    ck_assert_int_eq (mdb_drop (txn, fdb, 1), 0);
    s_meta_raw_done (env, txn);
    pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_msg (reader, "%s", s_err);
    ck_assert_uint_eq (pb_store_queue_depth (reader, "health"), 0);
    pb_store_destroy (&reader);
    store = s_open (0);
    batch = pb_store_begin (store);
    ck_assert_int_eq (s_push (batch, "health", 3, false, 10000, 0), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    pb_store_destroy (&store);
    ck_assert_uint_eq (s_frames_raw (seqs, frames, 8), 1);
    ck_assert_str_eq (frames [0], "frame-3");
}
END_TEST

//  Journaled, a broker killed before any flush: its pushes and removals
//  (items, frames, indexes) come back from the redo journal, frames and all
START_TEST (frames_replayed_from_the_journal)
{
    s_flush_ms = 1000000;
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        pb_store_t *store = s_open (0);
        pb_batch_t *batch = pb_store_begin (store);
        for (unsigned n = 1; n <= 3; n++)
            if (!batch || s_push (batch, "health", n, false, 10000, 0) != 0)
                _exit (2);
        if (pb_batch_commit (&batch) != 0 || !(batch = pb_store_begin (store)))
            _exit (3);
        uint8_t id [16];
        s_id (id, 2);
        if (pb_batch_queue_remove (batch, "health", id, 16) != 0 || pb_batch_commit (&batch) != 0)
            _exit (4);
        _exit (0);                          //  killed: no flush, no close
    }
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    uint64_t seqs [8];
    char frames [8][32];
    ck_assert_uint_eq (s_frames_raw (seqs, frames, 8), 0);     //  LMDB has none of it yet
    pb_store_t *store = s_open (0);
    seen_t seen = { .store = store };
    ck_assert_int_eq (pb_store_queue_each (store, "health", NULL, 0, s_seen, &seen), 0);
    ck_assert_uint_eq (seen.count, 2);
    ck_assert_uint_eq (seen.n [0], 1);
    ck_assert_uint_eq (seen.n [1], 3);
    pb_store_destroy (&store);
    s_flush_ms = 0;
    ck_assert_uint_eq (s_frames_raw (seqs, frames, 8), 2);
    ck_assert_str_eq (frames [0], "frame-1");
    ck_assert_str_eq (frames [1], "frame-3");
}
END_TEST

START_TEST (event_replay_across_reopen)
{
    pb_store_t *store = s_open (0);
    uint8_t id [16], original [16];
    s_id (id, 1);
    s_id (original, 9);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_int_eq (pb_batch_event_seen (batch, id, 16), 0);
    const char *to [] = { "health" };
    ck_assert_int_eq (pb_batch_event_record (batch, id, 16, "police", 42, original, 16, to, 1,
                                             NULL), 0);
    ck_assert_int_eq (pb_batch_event_seen (batch, id, 16), 1);
    ck_assert_int_eq (pb_batch_event_seen (batch, id, 0), -1);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    pb_store_destroy (&store);
    store = s_open (0);
    batch = pb_store_begin (store);
    ck_assert_int_eq (pb_batch_event_seen (batch, id, 16), 1);
    ck_assert_int_eq (pb_batch_event_seen (batch, original, 16), 0);
    pb_batch_abort (&batch);
    pb_event_t *event;
    ck_assert_int_eq (pb_store_event_lookup (store, id, 16, &event), 0);
    ck_assert_uint_eq (event->log_index, 42);
    ck_assert_uint_eq (event->supersedes_size, 16);
    ck_assert_mem_eq (event->supersedes, original, 16);
    ck_assert_str_eq (event->recipients [0], "health");
    ck_assert_ptr_null (event->case_ref);
    pb_event_destroy (&event);
    ck_assert_ptr_null (event);
    pb_store_stats_t stats;
    ck_assert_int_eq (pb_store_stats (store, &stats), 0);
    ck_assert_uint_eq (stats.events, 1);
    ck_assert (stats.accepts_publish);
    ck_assert_uint_eq (stats.schema, PB_STORE_SCHEMA);
    pb_store_destroy (&store);
}
END_TEST

static int
s_consent (const char *case_ref, const char *consent_id, const uint8_t *blob, size_t size,
           void *arg)
{
    char *out = arg;
    char line [128];
    snprintf (line, sizeof line, "%s/%s=%.*s;", case_ref, consent_id, (int) size,
              (const char *) blob);
    strcat (out, line);
    return 0;
}

static int
s_member (const char *name, void *arg)
{
    strcat (arg, name);
    strcat (arg, ",");
    return 0;
}

static int
s_sequence (const char *publisher, uint64_t last, void *arg)
{
    char line [64];
    snprintf (line, sizeof line, "%s:%llu;", publisher, (unsigned long long) last);
    strcat (arg, line);
    return 0;
}

static int
s_checkpoint (uint64_t size, const char *text, size_t len, void *arg)
{
    char line [64];
    snprintf (line, sizeof line, "%llu:%.*s;", (unsigned long long) size, (int) len, text);
    strcat (arg, line);
    return 0;
}

START_TEST (registries_survive_reopen)
{
    pb_store_t *store = s_open (0);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_int_eq (pb_batch_consent_put (batch, "case-1", "c1", (const uint8_t *) "given", 5), 0);
    ck_assert_int_eq (pb_batch_consent_put (batch, "case-1", "c2", (const uint8_t *) "x", 1), 0);
    ck_assert_int_eq (pb_batch_consent_put (batch, "case-2", "c1", (const uint8_t *) "y", 1), 0);
    ck_assert_int_eq (pb_batch_consent_put (batch, "case-1", "c1", (const uint8_t *) "withdrawn", 9), 0);
    ck_assert_int_eq (pb_batch_consent_delete (batch, "case-2", "c1"), 0);
    ck_assert_int_eq (pb_batch_consent_delete (batch, "case-2", "c1"), 1);
    ck_assert_int_eq (pb_batch_case_add (batch, "case-1", "police"), 0);
    ck_assert_int_eq (pb_batch_case_add (batch, "case-1", "health"), 0);
    ck_assert_int_eq (pb_batch_case_add (batch, "case-1", "police"), 0);   //  again: fine
    ck_assert_int_eq (pb_batch_case_add (batch, "case-10", "social"), 0);
    ck_assert_int_eq (pb_batch_sequence_set (batch, "police", 7), 0);
    ck_assert_int_eq (pb_batch_sequence_set (batch, "health", 3), 0);
    ck_assert_int_eq (pb_batch_sequence_set (batch, "police", 8), 0);
    ck_assert_int_eq (pb_batch_checkpoint_put (batch, "cp-zero", 7), 0);
    ck_assert_int_eq (pb_batch_case_add (batch, "", "police"), -1);        //  refused, batch fine
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    pb_store_destroy (&store);

    store = s_open (0);
    char out [512] = "";
    ck_assert_int_eq (pb_store_consent_each (store, s_consent, out), 0);
    ck_assert_str_eq (out, "case-1/c1=withdrawn;case-1/c2=x;");
    uint8_t *blob;
    size_t size;
    ck_assert_int_eq (pb_store_consent_get (store, "case-1", "c2", &blob, &size), 0);
    ck_assert_uint_eq (size, 1);
    free (blob);
    ck_assert_int_eq (pb_store_consent_get (store, "case-2", "c1", &blob, &size), 1);
    ck_assert_int_eq (pb_store_case_has (store, "case-1", "health"), 1);
    ck_assert_int_eq (pb_store_case_has (store, "case-1", "social"), 0);
    ck_assert_int_eq (pb_store_case_has (store, "case-9", "police"), 0);
    out [0] = 0;
    ck_assert_int_eq (pb_store_case_members (store, "case-1", s_member, out), 0);
    ck_assert_str_eq (out, "health,police,");
    out [0] = 0;
    ck_assert_int_eq (pb_store_sequence_each (store, s_sequence, out), 0);
    ck_assert_str_eq (out, "health:3;police:8;");
    uint64_t last;
    ck_assert_int_eq (pb_store_sequence_get (store, "police", &last), 0);
    ck_assert_uint_eq (last, 8);
    ck_assert_int_eq (pb_store_sequence_get (store, "nobody", &last), 1);

    //  Checkpoints by tree size; the latest is the newest
    char *text;
    uint64_t tree_size;
    ck_assert_int_eq (pb_store_checkpoint_latest (store, &tree_size, &text), 0);
    ck_assert_uint_eq (tree_size, 0);
    ck_assert_str_eq (text, "cp-zero");
    free (text);
    batch = pb_store_begin (store);
    ck_assert_int_eq (pb_batch_checkpoint_put (batch, "cp-zero-b", 9), 0);   //  replaces
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    out [0] = 0;
    ck_assert_int_eq (pb_store_checkpoint_each (store, s_checkpoint, out), 0);
    ck_assert_str_eq (out, "0:cp-zero-b;");
    pb_store_destroy (&store);
}
END_TEST

//  Records the queue sequence numbers of the items seen
typedef struct {
    uint64_t seq [32];
    size_t count;
} seqs_t;

static int
s_seqs (const pb_queue_item_t *item, void *arg)
{
    seqs_t *seqs = arg;
    ck_assert_uint_lt (seqs->count, 32);
    seqs->seq [seqs->count++] = item->pos.seq;
    return 0;
}

//  "qseq" and each agency's depth are kept in the batch and written at its
//  commit (pb_store_counter.c): what the batch reads counts its own pushes
//  and removals, an abort leaves nothing, a commit writes every one, past
//  the few the batch keeps too
START_TEST (counters_kept_in_the_batch_and_written_at_its_commit)
{
    pb_store_t *store = s_open (0);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_int_eq (s_push (batch, "health", 1, false, 10000, 0), 0);
    ck_assert_int_eq (s_push (batch, "health", 2, false, 10000, 0), 0);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 2);
    pb_batch_abort (&batch);
    ck_assert_uint_eq (pb_store_queue_depth (store, "health"), 0);

    batch = pb_store_begin (store);
    char agency [16];
    for (unsigned a = 0; a < 12; a++) {
        snprintf (agency, sizeof agency, "agency-%u", a);
        for (unsigned n = 0; n <= a; n++)
            ck_assert_int_eq (s_push (batch, agency, 10 + a * 16 + n, false, 10000, 0), 0);
        ck_assert_uint_eq (pb_store_queue_depth (store, agency), a + 1);
    }
    uint8_t id [16];
    s_id (id, 10 + 11 * 16);
    ck_assert_int_eq (pb_batch_queue_remove (batch, "agency-11", id, 16), 0);
    ck_assert_uint_eq (pb_store_queue_depth (store, "agency-11"), 11);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned a = 0; a < 12; a++) {
            snprintf (agency, sizeof agency, "agency-%u", a);
            ck_assert_uint_eq (pb_store_queue_depth (store, agency), a == 11? 11: a + 1);
        }
        pb_store_destroy (&store);          //  then again, as meta holds them
        store = s_open (0);
    }
    //  Numbers one after another across the agencies, the next batch after
    batch = pb_store_begin (store);
    ck_assert_int_eq (s_push (batch, "agency-11", 250, false, 10000, 0), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    seqs_t seqs = { .count = 0 };
    ck_assert_int_eq (pb_store_queue_each (store, "agency-11", NULL, 0, s_seqs, &seqs), 0);
    ck_assert_uint_eq (seqs.count, 12);
    for (size_t i = 1; i < seqs.count; i++)
        ck_assert_uint_eq (seqs.seq [i], seqs.seq [i - 1] + 1);
    ck_assert_uint_eq (seqs.seq [11], 78);      //  78 pushed before it, numbered from 0
    pb_store_destroy (&store);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pb_store_queue");
    TCase *tc = tcase_create ("queue");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, queue_order_remove_replay);
    tcase_add_test (tc, queue_expiry_and_retention);
    tcase_add_test (tc, frames_kept_apart_and_items_from_before);
    tcase_add_test (tc, frames_replayed_from_the_journal);
    tcase_add_test (tc, event_replay_across_reopen);
    tcase_add_test (tc, registries_survive_reopen);
    tcase_add_test (tc, counters_kept_in_the_batch_and_written_at_its_commit);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
