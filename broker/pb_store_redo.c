/*  pb_store_redo: journaled commits, the broker's way of making a batch
 *  durable without a full LMDB commit each time (pb_redo.h says why).
 *
 *      batch   a nested LMDB transaction inside `folded`; each put and
 *              delete it makes is also noted for its redo record
 *      commit  the record is written and fdatasync'd (now the batch is
 *              durable: its publishers may be acknowledged), then the
 *              nested transaction is merged into `folded` (memory only)
 *      flush   `folded` is committed the LMDB way (data, fsync, meta) with
 *              MDB_NOMETASYNC, every flush_ms or 8 MiB of journal: the meta
 *              page is synced by the next flush, so the journal keeps two
 *              files and switches at each flush (pb_redo.h)
 *      open    records after the one LMDB's meta "redo_seq" names are
 *              replayed in the open transaction, which commits durably
 *              (or, if the map cannot take them at once, one per
 *              transaction)
 *
 *  Readers in this process see the batches folded in (they read in
 *  `folded`); another process (passerelle-audit) sees the store as of the
 *  last flush. An abort of one batch leaves the others untouched. Past the
 *  publish limit a batch is not journaled but committed to LMDB on its own
 *  (pb_store_begin), so that none is answered that the map cannot take.
 *  If the folded transaction is lost (LMDB fails to merge a batch or to
 *  commit a flush), the batches since the last flush are committed from
 *  the journal one per transaction (pb_store_redo_settle); if that fails too, or the
 *  journal cannot be synced, nothing more is accepted until a restart.  */
#include <string.h>
#include <czmq.h>
#include <sodium.h>
#include "pb_store_int.h"
#include "pl_log.h"

//  A flush when this much is in the journal even if flush_ms has not passed
#define FLUSH_BYTES  ((size_t) 8 << 20)

static const char *REDO_SEQ = PB_STORE_META_REDO_SEQ;
static const char *REDO_KEY = "redo_key";

static int
s_db_number (pb_store_t *self, MDB_dbi dbi)
{
    for (int i = 0; i < PB_STORE_DB_COUNT; i++)
        if (self->dbs [i] == dbi)
            return i;
    return -1;
}

//  --------------------------------------------------------------------------
//  Replay

typedef struct {
    pb_store_t *store;
    MDB_txn *txn;
    bool commit_each;           //  one transaction per record (pb_store_redo_settle)
} replay_t;

static int
s_set_redo_seq (pb_store_t *self, MDB_txn *txn, uint64_t seq)
{
    return pb_store_meta_put_u64 (self, txn, REDO_SEQ, seq);
}

//  A record is over: with commit_each, commit it (its number with it) and
//  begin the next transaction
static int
s_record_end (replay_t *replay, uint64_t seq)
{
    pb_store_t *self = replay->store;
    if (!replay->commit_each)
        return 0;
    int rc = s_set_redo_seq (self, replay->txn, seq);
    if (rc)
        return rc;
    rc = mdb_txn_commit (replay->txn);
    replay->txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin (self->env, NULL, 0, &replay->txn);
    if (rc) {
        replay->txn = NULL;
        return pb_store_lmdb_fail (self, rc, "commit a batch from the redo journal");
    }
    return 0;
}

static int
s_apply (void *arg, const pb_redo_op_t *op)
{
    replay_t *replay = arg;
    pb_store_t *self = replay->store;
    if (op->kind == PB_REDO_RECORD_END)
        return s_record_end (replay, op->seq);
    if (op->db >= PB_STORE_DB_COUNT)
        return pb_store_fail (self, "redo journal: an operation on database %u, which this "
                              "store does not have", op->db);
    MDB_dbi dbi = self->dbs [op->db];
    MDB_val k = { op->key_size, (void *) op->key }, v = { op->value_size, (void *) op->value };
    int rc;
    switch (op->kind) {
        case PB_REDO_PUT:     rc = mdb_put (replay->txn, dbi, &k, &v, op->flags); break;
        case PB_REDO_DEL_ONE: rc = mdb_del (replay->txn, dbi, &k, &v); break;
        case PB_REDO_DEL_KEY: rc = mdb_del (replay->txn, dbi, &k, NULL); break;
        default:
            return pb_store_fail (self, "redo journal: unknown operation %d", op->kind);
    }
    //  The same writes on the same state succeed as they did the first time
    return rc? pb_store_lmdb_fail (self, rc, "replay redo journal"): 0;
}

static int s_count (void *arg, const pb_redo_op_t *op) { (void) arg; (void) op; return 0; }

//  Replay what LMDB lacks into replay->txn (which, with commit_each, is
//  committed and replaced record by record); the meta counter follows.
//  PB_STORE_FULL when the map cannot take it.
static int
s_replay (pb_store_t *self, replay_t *replay, size_t *records)
{
    uint64_t applied, last;
    *records = 0;
    if (pb_store_meta_get_u64 (self, replay->txn, REDO_SEQ, strlen (REDO_SEQ), &applied))
        return -1;
    self->error [0] = 0;
    int rc = pb_redo_replay (self->redo, applied, s_apply, replay, &last, records);
    if (rc == PB_STORE_FULL)
        return rc;
    if (rc)
        return self->error [0]? -1: pb_store_fail (self, "%s", pb_redo_error (self->redo));
    self->redo_seq = last;
    return last == applied || replay->commit_each? 0: s_set_redo_seq (self, replay->txn, last);
}

//  The key the journal's records are hashed with: the store's own, made
//  (in txn, which commits it before any record) the first time
static int
s_key_load (pb_store_t *self, MDB_txn *txn)
{
    MDB_val k = { strlen (REDO_KEY), (void *) REDO_KEY }, v;
    int rc = mdb_get (txn, self->meta, &k, &v);
    if (rc == 0 && v.mv_size == PB_REDO_KEY_SIZE) {
        pb_redo_set_key (self->redo, v.mv_data);
        return 0;
    }
    if (rc == 0)
        return pb_store_fail (self, "redo journal key of %zu bytes, expected %d (store damaged?)",
                              v.mv_size, PB_REDO_KEY_SIZE);
    if (rc != MDB_NOTFOUND)
        return pb_store_lmdb_fail (self, rc, "read redo journal key");
    //  Records and no key to read them with: refuse, rather than drop them
    if (pb_redo_was_written (self->redo))
        return pb_store_fail (self, "the redo journal holds records but the store has no key for "
                              "them (store damaged, or journal files from another store)");
    if (self->read_only)
        return 0;               //  no key, so no record was ever written
    uint8_t key [PB_REDO_KEY_SIZE];
    randombytes_buf (key, sizeof key);
    v.mv_size = sizeof key;
    v.mv_data = key;
    if ((rc = mdb_put (txn, self->meta, &k, &v, 0)))
        return pb_store_lmdb_fail (self, rc, "write redo journal key");
    pb_redo_set_key (self->redo, key);
    sodium_memzero (key, sizeof key);
    return 0;
}

int
pb_store_redo_open (pb_store_t *self, const char *dir, MDB_txn *txn)
{
    char err [600];
    self->redo = pb_redo_open (dir, self->read_only, err, sizeof err);
    if (!self->redo)
        return pb_store_fail (self, "%s", err);
    if (s_key_load (self, txn))
        return -1;
    size_t records;
    if (self->read_only) {
        uint64_t applied, last;
        if (pb_store_meta_get_u64 (self, txn, REDO_SEQ, strlen (REDO_SEQ), &applied))
            return -1;
        if (!pb_redo_in_use (self->redo)
        &&  pb_redo_replay (self->redo, applied, s_count, NULL, &last, &records) == 0)
            self->redo_pending = records;
        pb_redo_destroy (&self->redo);
        return 0;
    }
    return 0;
}

int
pb_store_redo_replay (pb_store_t *self, MDB_txn *txn)
{
    size_t records;
    replay_t replay = { self, txn, false };
    int rc = s_replay (self, &replay, &records);
    if (rc)
        return rc;
    if (records)
        log_info ("store: replayed %zu batches from the redo journal (up to record %llu)",
                  records, (unsigned long long) self->redo_seq);
    //  The open transaction commits them (fully synced: the journal is not in
    //  use yet), after which both files hold nothing the store lacks
    return 0;
}

//  --------------------------------------------------------------------------
//  The folded transaction

MDB_txn *
pb_store_folded (pb_store_t *self)
{
    if (self->folded)
        return self->folded;
    int rc = mdb_txn_begin (self->env, NULL, 0, &self->folded);
    if (rc) {
        self->folded = NULL;
        pb_store_lmdb_fail (self, rc, "begin write transaction");
        return NULL;
    }
    self->folded_since_ms = zclock_mono ();
    self->folded_bytes = 0;
    self->folded_batches = 0;
    return self->folded;
}

//  The folded transaction was lost, or LMDB could not commit it (a map
//  nearly full: a long transaction cannot reuse the pages it frees). Commit
//  what the journal holds since the last flush one record per transaction,
//  each as small as a batch committed on its own, so the map takes them as
//  it took the batches. On failure nothing more is accepted.
int
pb_store_redo_settle (pb_store_t *self)
{
    char why [512];
    snprintf (why, sizeof why, "%s", self->error);
    if (self->folded)
        mdb_txn_abort (self->folded);
    pb_store_index_settled (self, false);
    self->folded = NULL;
    self->folded_bytes = 0;
    self->folded_batches = 0;
    size_t records = 0;
    uint64_t size = 0;
    replay_t replay = { self, NULL, true };
    int rc = mdb_txn_begin (self->env, NULL, 0, &replay.txn);
    if (rc) {
        replay.txn = NULL;
        pb_store_lmdb_fail (self, rc, "begin write transaction");
    }
    //  One pass over the journal; each record ends its own transaction
    if (rc == 0)
        rc = s_replay (self, &replay, &records);
    if (rc == 0)
        rc = pb_store_meta_get_u64 (self, replay.txn, PB_STORE_META_LOG_SIZE,
                                    strlen (PB_STORE_META_LOG_SIZE), &size);
    if (rc == 0)
        rc = pb_store_tree_open (self, replay.txn, size);
    if (replay.txn)
        mdb_txn_abort (replay.txn);
    if (rc == 0 && (rc = mdb_env_sync (self->env, 1)) != 0)
        pb_store_lmdb_fail (self, rc, "sync the store");
    if (rc == 0) {
        //  Both files now hold nothing the store lacks
        self->committed_size = size;
        pb_redo_switch (self->redo);
        log_warn ("store: %s; committed the %zu batches since the last flush one by one from "
                  "the redo journal", why, records);
        return 0;
    }
    log_warn ("store: %s; cannot commit the redo journal's batches either (%s): refusing "
              "batches until a restart", why, self->error);
    self->broken = true;
    return -1;
}

int
pb_store_redo_note (pb_batch_t *batch, int kind, MDB_dbi dbi, unsigned flags,
                    const void *key, size_t ksize, const void *val, size_t vsize)
{
    pb_store_t *self = batch->store;
    if (!batch->journaled)
        return 0;
    int db = s_db_number (self, dbi);
    if (db < 0 || pb_redo_add (self->redo, kind, (unsigned) db, flags, key, ksize, val, vsize)) {
        pb_store_fail (self, "redo journal: %s", db < 0? "a write to an unknown database":
                       pb_redo_error (self->redo));
        if (batch->failed == 0)
            batch->failed = -1;
        return -1;
    }
    return 0;
}

int
pb_store_redo_commit (pb_batch_t *batch)
{
    pb_store_t *self = batch->store;
    //  A batch that wrote nothing has nothing to make durable
    if (pb_redo_is_clear (self->redo)) {
        mdb_txn_abort (batch->txn);
        return 0;
    }
    uint8_t seq [8];
    pl_put_be64 (seq, self->redo_seq + 1);
    if (pb_batch_put (batch, self->meta, REDO_SEQ, strlen (REDO_SEQ), seq, 8, 0,
                      "write redo record number")) {
        mdb_txn_abort (batch->txn);
        return batch->failed? batch->failed: -1;
    }
    int rc = pb_redo_commit (self->redo, self->redo_seq + 1);
    if (rc) {
        pb_store_fail (self, "%s", pb_redo_error (self->redo));
        self->broken = rc == -2;
        mdb_txn_abort (batch->txn);
        return -1;
    }
    self->redo_seq++;
    self->folded_bytes += batch->bytes;
    self->folded_batches++;
    rc = mdb_txn_commit (batch->txn);
    if (rc) {
        //  Durable in the journal but not merged: take it from there. The
        //  batch is durable either way (a restart replays it), so it is
        //  answered as such; if settling fails the store refuses the next
        pb_store_lmdb_fail (self, rc, "fold batch into the open transaction");
        pb_store_redo_settle (self);
        return 0;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Public part

int
pb_store_use_journal (pb_store_t *self, int64_t flush_ms)
{
    if (self->read_only || self->batch_open || flush_ms < 0)
        return pb_store_fail (self, "use journal: %s", self->read_only? "store opened read-only":
                              self->batch_open? "a batch is open": "negative interval");
    if (flush_ms == 0) {
        int rc;
        if (pb_store_flush (self))
            return -1;
        if ((rc = mdb_env_set_flags (self->env, MDB_NOMETASYNC, 0))
        ||  (rc = mdb_env_sync (self->env, 1)))
            return pb_store_lmdb_fail (self, rc, "sync the store");
    }
    if (flush_ms > 0 && !self->flush_ms) {
        //  The journal is written from its start: the store must hold all
        //  it had durably first (a broker killed after a flush left that
        //  flush's meta page unsynced, and its records in these files)
        int rc = mdb_env_sync (self->env, 1);
        if (rc)
            return pb_store_lmdb_fail (self, rc, "sync the store");
        if (pb_redo_start (self->redo))
            return pb_store_fail (self, "%s", pb_redo_error (self->redo));
        //  The journal covers a flush whose meta page is not synced yet
        if ((rc = mdb_env_set_flags (self->env, MDB_NOMETASYNC, 1)))
            return pb_store_lmdb_fail (self, rc, "set MDB_NOMETASYNC");
    }
    self->flush_ms = flush_ms;
    return 0;
}

int
pb_store_flush (pb_store_t *self)
{
    if (!self->folded)
        return 0;
    if (self->batch_open)
        return pb_store_fail (self, "flush: a batch is open");
    if (self->folded_batches == 0) {
        //  Only aborted batches: nothing to commit, and LMDB would sync
        //  nothing, so the journal must not switch files either
        mdb_txn_abort (self->folded);
        self->folded = NULL;
        self->folded_bytes = 0;
        pb_store_index_settled (self, false);
        return 0;
    }
    //  The late indexes ride with this commit when they are due; a landing
    //  that fails leaves folded as it was, and is tried again later
    if (pb_store_index_due (self) && pb_store_index_land (self, self->folded))
        log_warn ("store: %s (the indexes catch up later)", self->error);
    int rc = mdb_txn_commit (self->folded);
    pb_store_index_settled (self, rc == 0);
    self->folded = NULL;
    self->folded_bytes = 0;
    self->folded_batches = 0;
    if (rc) {
        pb_store_lmdb_fail (self, rc, "flush batches into the store");
        return pb_store_redo_settle (self);
    }
    pb_redo_switch (self->redo);
    pb_store_space_refresh (self);
    return 0;
}

int
pb_store_flush_if_due (pb_store_t *self)
{
    if (self->batch_open)
        return 0;
    if (!self->folded)      //  an idle store: the indexes catch up on their own
        return pb_store_index_due (self)?
               pb_store_index_land_alone (self, PB_STORE_LAND_AT_MOST): 0;
    if (zclock_mono () - self->folded_since_ms < self->flush_ms
    &&  pb_redo_size (self->redo) < FLUSH_BYTES)
        return 0;
    return pb_store_flush (self);
}

size_t
pb_store_redo_pending (pb_store_t *self)
{
    return self->redo_pending;
}
