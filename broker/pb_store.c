/*  pb_store: opening the LMDB environment, batches, space and the shared
 *  helpers. The log, its Merkle nodes and event ids are in pb_store_log.c,
 *  the queues in pb_store_queue.c, the registries in pb_store_state.c. See
 *  pb_store.h.  */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pb_store_int.h"
#include "pl_log.h"

#define DB_COUNT  PB_STORE_DB_COUNT

static const char *META_SCHEMA = "schema";
static const char *META_MERKLE_KEYS = "merkle_keys";
static const char *META_LOG_SIZE = PB_STORE_META_LOG_SIZE;

//  --------------------------------------------------------------------------
//  Small helpers

int
pb_store_fail (pb_store_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, args);
    va_end (args);
    return -1;
}

int
pb_store_lmdb_fail (pb_store_t *self, int rc, const char *op)
{
    if (rc == MDB_MAP_FULL) {
        pb_store_fail (self, "%s: store full (MDB_MAP_FULL, map size %zu bytes)",
                       op, self->map_size);
        return PB_STORE_FULL;
    }
    return pb_store_fail (self, "%s: %s", op, mdb_strerror (rc));
}

size_t
pb_store_name_len (pb_store_t *self, const char *name, const char *what)
{
    size_t len = name? strlen (name): 0;
    if (len == 0 || len > PB_STORE_NAME_MAX) {
        pb_store_fail (self, "%s must be 1 to %d bytes (got %zu)", what, PB_STORE_NAME_MAX, len);
        return 0;
    }
    return len;
}

int
pb_store_event_id_ok (pb_store_t *self, const uint8_t *id, size_t size)
{
    if (!id || size == 0 || size > PB_STORE_EVENT_ID_MAX)
        return pb_store_fail (self, "event id must be 1 to %d bytes (got %zu)",
                              PB_STORE_EVENT_ID_MAX, id? size: 0);
    return 0;
}

//  --------------------------------------------------------------------------
//  Reads

int
pb_store_meta_get_u64 (pb_store_t *self, MDB_txn *txn, const void *key, size_t ksize,
                       uint64_t *value)
{
    return pb_store_meta_get_u64_or (self, txn, key, ksize, 0, value);
}

int
pb_store_meta_put_u64 (pb_store_t *self, MDB_txn *txn, const char *key, uint64_t value)
{
    uint8_t bytes [8];
    pl_put_be64 (bytes, value);
    MDB_val k = { strlen (key), (void *) key }, v = { 8, bytes };
    int rc = mdb_put (txn, self->meta, &k, &v, 0);
    if (rc == 0)
        return 0;
    char op [64];
    snprintf (op, sizeof op, "write %s", key);
    return pb_store_lmdb_fail (self, rc, op);
}

int
pb_store_meta_get_u64_or (pb_store_t *self, MDB_txn *txn, const void *key, size_t ksize,
                          uint64_t absent, uint64_t *value)
{
    MDB_val k = { ksize, (void *) key }, v;
    int rc = mdb_get (txn, self->meta, &k, &v);
    *value = absent;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return pb_store_lmdb_fail (self, rc, "read meta");
    if (v.mv_size != 8)
        return pb_store_fail (self, "meta %.*s: a value of %zu bytes, expected 8 (store damaged?)",
                              (int) ksize, (const char *) key, v.mv_size);
    *value = pl_get_be64 (v.mv_data);
    return 0;
}

int
pb_store_read_begin (pb_store_t *self, MDB_txn **txn)
{
    if (self->batch_open) {
        if (pb_batch_usable (&self->batch))
            return -1;
        *txn = self->batch.txn;
        return 0;
    }
    if (self->folded) {
        *txn = self->txn = self->folded;
        return 0;
    }
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "begin read transaction");
    self->txn = *txn;
    if (self->read_only) {
        //  Follow the writer: its commits move the tree on
        uint64_t size;
        if (pb_store_meta_get_u64 (self, *txn, META_LOG_SIZE, strlen (META_LOG_SIZE), &size)
        || ((!self->tree || pl_merkle_size (self->tree) != size)
            && pb_store_tree_open (self, *txn, size))) {
            mdb_txn_abort (*txn);
            self->txn = NULL;
            return -1;
        }
        self->committed_size = size;
    }
    return 0;
}

void
pb_store_read_end (pb_store_t *self, MDB_txn *txn)
{
    if (self->batch_open && txn == self->batch.txn)
        return;
    if (txn != self->folded)
        mdb_txn_abort (txn);
    self->txn = NULL;
}

//  --------------------------------------------------------------------------
//  Space: pages in use = high-water page - pages on LMDB's free list.

int
pb_store_space_refresh (pb_store_t *self)
{
    MDB_envinfo info;
    MDB_stat stat;
    mdb_env_info (self->env, &info);
    mdb_env_stat (self->env, &stat);
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "begin read transaction (space)");
    //  The free list is database 0; each value is an ID list whose first
    //  word is its length (as mdb_stat -f counts it)
    size_t free_pages = 0;
    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, 0, &cursor);
    if (rc == 0) {
        MDB_val k, v;
        while (mdb_cursor_get (cursor, &k, &v, MDB_NEXT) == 0)
            if (v.mv_size >= sizeof (size_t)) {
                size_t n;
                memcpy (&n, v.mv_data, sizeof n);
                free_pages += n;
            }
        mdb_cursor_close (cursor);
    }
    mdb_txn_abort (txn);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "read free list");
    size_t pages = info.me_last_pgno + 1;
    self->page_size = stat.ms_psize;
    self->map_size = info.me_mapsize;
    self->high_water_bytes = pages * stat.ms_psize;
    self->used_bytes = (pages > free_pages? pages - free_pages: 0) * stat.ms_psize;
    size_t reserve = self->map_size / 8;
    if (reserve < 32 * self->page_size)
        reserve = 32 * self->page_size;
    self->limit_bytes = self->map_size > reserve? self->map_size - reserve: 0;
    return 0;
}

//  Whether the pages for what is folded and batch_bytes more written fit
//  under the publish limit. Written bytes cost about twice their size in
//  pages (page fill, copies of the branch pages above them), plus a few
//  pages per database; batches folded into one long transaction cost more:
//  it cannot reuse the pages it frees, so count each as a full copy of its
//  paths (40 pages: a publish and a receipt write some ten databases).
static bool
s_fits (pb_store_t *store, size_t batch_bytes)
{
    size_t need = store->used_bytes + 2 * (store->folded_bytes + batch_bytes)
                + (8 + 40 * store->folded_batches) * store->page_size;
    return need <= store->limit_bytes;
}

int
pb_batch_room (pb_batch_t *self, size_t extra)
{
    pb_store_t *store = self->store;
    if (!s_fits (store, self->bytes + extra)) {
        pb_store_fail (store, "store full: %zu of %zu bytes in use, publishes refused above %zu "
                       "(raise the map size)", store->used_bytes, store->map_size,
                       store->limit_bytes);
        return PB_STORE_NO_ROOM;
    }
    return 0;
}

bool
pb_store_accepts_publish (pb_store_t *self)
{
    return !self->read_only && s_fits (self, self->batch_open? self->batch.bytes: 0);
}

//  --------------------------------------------------------------------------
//  Open and close

static int
s_open_dbs (pb_store_t *self, MDB_txn *txn)
{
    struct { const char *name; MDB_dbi *dbi; unsigned flags; } dbs [DB_COUNT] = {
        { "meta", &self->meta, 0 },
        { "log", &self->log, 0 },
        { "merkle", &self->merkle, 0 },
        { "events", &self->events, 0 },
        { "log_by_case", &self->case_idx, MDB_DUPSORT | MDB_DUPFIXED },
        { "log_by_agency", &self->agency_idx, MDB_DUPSORT | MDB_DUPFIXED },
        { "queue", &self->queue, 0 },
        { "queue_by_event", &self->queue_ev, 0 },
        { "queue_due", &self->queue_due, 0 },
        { "consents", &self->consents, 0 },
        { "cases", &self->cases, MDB_DUPSORT },
        { "sequences", &self->seq, 0 },
        { "checkpoints", &self->checkpoints, 0 },
        { "frames", &self->frames, 0 },                 //  schema 5: last, for the journal
    };
    for (int i = 0; i < DB_COUNT; i++) {
        int rc = mdb_dbi_open (txn, dbs [i].name,
                               dbs [i].flags | (self->read_only? 0: MDB_CREATE), dbs [i].dbi);
        //  A store from before schema 5, read-only: its items all hold
        //  their frames (pb_store_queue.c)
        if (rc == MDB_NOTFOUND && dbs [i].dbi == &self->frames) {
            self->dbs [i] = self->meta;         //  never named by its records
            continue;
        }
        self->frames_open |= rc == 0 && dbs [i].dbi == &self->frames;
        self->dbs [i] = *dbs [i].dbi;
        if (rc == MDB_NOTFOUND)
            return pb_store_fail (self, "not a passerelle store: database '%s' is missing",
                                  dbs [i].name);
        if (rc)
            return pb_store_fail (self, "open database '%s': %s", dbs [i].name,
                                  mdb_strerror (rc));
    }
    return 0;
}

//  Schema check (and stamp on a new store), log size, and the log's own
//  count agreeing with it.
static int
s_open_meta (pb_store_t *self, MDB_txn *txn, uint64_t *size)
{
    MDB_val k = { strlen (META_SCHEMA), (void *) META_SCHEMA }, v;
    int rc = mdb_get (txn, self->meta, &k, &v);
    const uint8_t *stamp = v.mv_data;
    bool older = rc == 0 && v.mv_size == 4
              && ((uint32_t) stamp [0] << 24 | (uint32_t) stamp [1] << 16
                  | (uint32_t) stamp [2] << 8 | stamp [3]) < PB_STORE_SCHEMA;
    bool stamping = (rc == MDB_NOTFOUND || older) && !self->read_only;
    //  A new store keys its Merkle nodes by leaf (s_node_key); one that
    //  has a schema keeps the keys it was written with
    if (rc == MDB_NOTFOUND && stamping) {
        MDB_val fk = { strlen (META_MERKLE_KEYS), (void *) META_MERKLE_KEYS }, fv = { 4, "leaf" };
        int frc = mdb_put (txn, self->meta, &fk, &fv, 0);
        if (frc)
            return pb_store_lmdb_fail (self, frc, "write merkle key layout");
    }
    if (stamping) {
        //  A new store, or one from before the redo journal or the late
        //  indexes: stamped now, so that an older passerelle refuses it
        //  rather than ignore the journal or leave a gap in the indexes
        uint8_t schema [4] = { 0, 0, 0, PB_STORE_SCHEMA };
        v.mv_size = 4;
        v.mv_data = schema;
        rc = mdb_put (txn, self->meta, &k, &v, 0);
        if (rc)
            return pb_store_lmdb_fail (self, rc, "write schema version");
    }
    else
    if (rc == MDB_NOTFOUND)
        return pb_store_fail (self, "not a passerelle store: no schema version");
    else
    if (rc)
        return pb_store_lmdb_fail (self, rc, "read schema version");
    else {
        if (v.mv_size != 4)
            return pb_store_fail (self, "schema version is %zu bytes, expected 4 (store damaged?)",
                                  v.mv_size);
        const uint8_t *p = v.mv_data;
        uint32_t schema = (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16
                        | (uint32_t) p [2] << 8 | p [3];
        if (schema > PB_STORE_SCHEMA)
            return pb_store_fail (self, "store schema version %u is newer than this build's (%u): "
                                  "it was written by a newer passerelle; upgrade to open it",
                                  schema, PB_STORE_SCHEMA);
    }
    MDB_val fk = { strlen (META_MERKLE_KEYS), (void *) META_MERKLE_KEYS }, fv;
    rc = mdb_get (txn, self->meta, &fk, &fv);
    if (rc && rc != MDB_NOTFOUND)
        return pb_store_lmdb_fail (self, rc, "read merkle key layout");
    if (rc == 0 && (fv.mv_size != 4 || memcmp (fv.mv_data, "leaf", 4) != 0))
        return pb_store_fail (self, "merkle key layout '%.*s' unknown (store damaged, or "
                              "written by a newer passerelle?)",
                              (int) (fv.mv_size < 32? fv.mv_size: 32), (const char *) fv.mv_data);
    self->merkle_by_leaf = rc == 0;
    if (pb_store_meta_get_u64 (self, txn, META_LOG_SIZE, strlen (META_LOG_SIZE), size))
        return -1;
    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, self->log, &cursor);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "open log cursor");
    rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    uint64_t count = rc == 0 && k.mv_size == 8? pl_get_be64 (k.mv_data) + 1: 0;
    mdb_cursor_close (cursor);
    if (rc && rc != MDB_NOTFOUND)
        return pb_store_lmdb_fail (self, rc, "read last log entry");
    if (count != *size)
        return pb_store_fail (self, "store damaged: the log holds %llu entries, its meta says %llu",
                              (unsigned long long) count, (unsigned long long) *size);
    //  A store stamped now indexed every entry it holds as it wrote it
    //  (or holds none): the late indexes start from here
    if (stamping && pb_store_set_indexed_to (self, txn, *size))
        return -1;
    return pb_store_indexed_to (self, txn, &self->landed_to);
}

//  LMDB aborts the process after this: said as a warning, which also
//  writes out the log lines held until then (pl_log_buffer)
static void
s_lmdb_assert (MDB_env *env, const char *message)
{
    (void) env;
    log_warn ("store: LMDB assertion failed: %s", message);
}

pb_store_t *
pb_store_open (const char *dir, size_t map_size, bool read_only, char *err, size_t err_size)
{
    pb_store_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "store %s: out of memory", dir);
        return NULL;
    }
    self->read_only = read_only;
    self->file_baseline = pb_store_file_resident_bytes ();     //  libraries, before any store page
    struct stat st;
    int rc;
    MDB_txn *txn = NULL;
    uint64_t size = 0;
    if (!read_only && mkdir (dir, 0700) != 0 && errno != EEXIST) {
        pb_store_fail (self, "create directory: %s", strerror (errno));
        goto failed;
    }
    if (stat (dir, &st) != 0) {
        pb_store_fail (self, "%s", strerror (errno));
        goto failed;
    }
    if (!S_ISDIR (st.st_mode)) {
        pb_store_fail (self, "not a directory");
        goto failed;
    }
    if ((rc = mdb_env_create (&self->env))
    ||  (rc = mdb_env_set_assert (self->env, s_lmdb_assert))
    ||  (rc = mdb_env_set_maxdbs (self->env, DB_COUNT + 2))
    ||  (rc = (map_size || !read_only)
              ? mdb_env_set_mapsize (self->env, map_size? map_size: PB_STORE_MAP_SIZE_DEFAULT)
              : 0)) {
        pb_store_lmdb_fail (self, rc, "create LMDB environment");
        goto failed;
    }
    //  MDB_NOTLS: read transactions are not tied to a thread, so the broker
    //  may read while its batch is open. Default sync flags: commits are durable.
    rc = mdb_env_open (self->env, dir, MDB_NOTLS | (read_only? MDB_RDONLY: 0), 0600);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
        pb_store_fail (self, "not a (compatible) LMDB store: %s", mdb_strerror (rc));
        goto failed;
    }
    if (rc) {
        pb_store_lmdb_fail (self, rc, read_only && rc == ENOENT
                            ? "open LMDB environment (no store there)": "open LMDB environment");
        goto failed;
    }
    int stale;
    mdb_reader_check (self->env, &stale);   //  slots left by crashed readers
    MDB_envinfo info;
    mdb_env_info (self->env, &info);
    self->map_size = info.me_mapsize;       //  for messages until the first space refresh
    if ((rc = mdb_txn_begin (self->env, NULL, read_only? MDB_RDONLY: 0, &txn))) {
        pb_store_lmdb_fail (self, rc, "begin open transaction");
        goto failed;
    }
    if (s_open_dbs (self, txn) || pb_store_redo_open (self, dir, txn))
        goto failed;
    int replay = read_only? 0: pb_store_redo_replay (self, txn);
    if (replay == PB_STORE_FULL) {
        //  Too much for one transaction in this map: one per record, below.
        //  (There are records, so the journal's key was stored before: the
        //  transaction aborted here did not make it.)
        log_warn ("store: %s; replaying the redo journal one batch at a time", self->error);
        mdb_txn_abort (txn);
        if ((rc = mdb_txn_begin (self->env, NULL, 0, &txn))) {
            txn = NULL;
            pb_store_lmdb_fail (self, rc, "begin open transaction");
            goto failed;
        }
        if (s_open_dbs (self, txn))
            goto failed;
    }
    else
    if (replay)
        goto failed;
    if (s_open_meta (self, txn, &size)
    ||  pb_store_tree_open (self, txn, size))
        goto failed;
    if ((rc = mdb_txn_commit (txn))) {      //  keeps the database handles
        txn = NULL;
        pb_store_lmdb_fail (self, rc, "commit open transaction");
        goto failed;
    }
    txn = NULL;
    self->committed_size = size;
    if (replay == PB_STORE_FULL && pb_store_redo_settle (self))
        goto failed;
    if (pb_store_space_refresh (self))
        goto failed;
    return self;

failed:
    snprintf (err, err_size, "store %s: %s", dir, self->error);
    if (txn)
        mdb_txn_abort (txn);
    pl_merkle_destroy (&self->tree);
    pb_redo_destroy (&self->redo);
    if (self->env)
        mdb_env_close (self->env);
    free (self);
    return NULL;
}

void
pb_store_destroy (pb_store_t **self_p)
{
    if (self_p && *self_p) {
        pb_store_t *self = *self_p;
        if (self->batch_open) {
            pb_batch_t *batch = &self->batch;
            pb_batch_abort (&batch);
        }
        //  A stop with batches not yet in LMDB: fold them in now, so that
        //  a reader sees them (were it to fail, the journal still has them)
        if (self->folded && pb_store_flush (self))
            log_warn ("store: at close: %s", self->error);
        //  The indexes complete, so that a reader has no entries to read past them
        if (pb_store_index_land_all (self))
            log_warn ("store: at close: %s", self->error);
        if (self->flush_ms && !self->read_only)
            mdb_env_sync (self->env, 1);        //  the last flush's meta page
        if (self->folded)
            mdb_txn_abort (self->folded);
        pb_redo_destroy (&self->redo);
        pl_merkle_destroy (&self->tree);
        pb_store_index_forget_from (self, 0);
        mdb_env_close (self->env);
        free (self);
        *self_p = NULL;
    }
}

const char *
pb_store_error (pb_store_t *self)
{
    return self->error;
}

//  --------------------------------------------------------------------------
//  Batches

pb_batch_t *
pb_store_begin (pb_store_t *self)
{
    if (self->read_only) {
        pb_store_fail (self, "begin batch: store opened read-only");
        return NULL;
    }
    if (self->batch_open) {
        pb_store_fail (self, "begin batch: a batch is already open");
        return NULL;
    }
    if (!self->tree) {
        pb_store_fail (self, "begin batch: the Merkle tree could not be restored");
        return NULL;
    }
    if (self->broken) {
        pb_store_fail (self, "begin batch: the redo journal could not be synced; restart the "
                       "broker (it replays what the journal holds)");
        return NULL;
    }
    //  Journaled, pages a long transaction frees are not reused before it
    //  commits, and a batch is answered before LMDB has it. Near the limit
    //  (or after a batch found the map full) that could answer a batch the
    //  map then cannot take: there, flush, and commit each batch to LMDB
    //  itself, fully synced, as without the journal
    bool tight = self->flush_ms && (self->flush_soon || !pb_store_accepts_publish (self));
    self->flush_soon = false;
    if (tight && pb_store_flush (self))
        return NULL;
    MDB_txn *txn, *parent = NULL;
    if (self->flush_ms && !tight && !(parent = pb_store_folded (self)))
        return NULL;
    int rc = mdb_txn_begin (self->env, parent, 0, &txn);
    if (rc) {
        pb_store_lmdb_fail (self, rc, "begin write transaction");
        return NULL;
    }
    //  Another process may have written since (LMDB lets writers take
    //  turns): then our right edge is stale; take the stored one
    uint64_t size;
    if (pb_store_meta_get_u64 (self, txn, META_LOG_SIZE, strlen (META_LOG_SIZE), &size)
    || (size != self->committed_size && pb_store_tree_open (self, txn, size))) {
        mdb_txn_abort (txn);
        return NULL;
    }
    self->committed_size = size;
    self->batch = (pb_batch_t) { .store = self, .txn = txn, .journaled = parent != NULL };
    self->batch_open = true;
    self->txn = txn;
    if (self->redo)
        pb_redo_clear (self->redo);
    return &self->batch;
}

//  After an abort, the tree's right edge must go back to the committed one
static void
s_batch_end (pb_store_t *self, bool committed)
{
    self->batch_open = false;
    self->batch.txn = NULL;
    self->txn = NULL;
    if (committed) {
        self->committed_size = pl_merkle_size (self->tree);
        //  A journaled batch leaves LMDB's pages as they were until the
        //  flush, which reads the space figures again itself
        if (!self->batch.journaled)
            pb_store_space_refresh (self);
        return;
    }
    if (self->tree && pl_merkle_size (self->tree) == self->committed_size)
        return;
    if (self->folded) {         //  what the batch nested in holds the edge
        if (pb_store_tree_open (self, self->folded, self->committed_size))
            log_warn ("store: %s", self->error);
        return;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        pl_merkle_destroy (&self->tree);        //  begin refuses until reopened
        pb_store_lmdb_fail (self, rc, "restore Merkle tree after abort");
        log_warn ("store: %s", self->error);
        return;
    }
    if (pb_store_tree_open (self, txn, self->committed_size))
        log_warn ("store: %s", self->error);
    mdb_txn_abort (txn);
}

void
pb_batch_abort (pb_batch_t **batch_p)
{
    if (batch_p && *batch_p) {
        pb_batch_t *self = *batch_p;
        mdb_txn_abort (self->txn);
        //  A batch the map was too full for: start the next with the pages
        //  the long transaction freed (see pb_store_begin)
        if (self->failed == PB_STORE_FULL && self->store->folded)
            self->store->flush_soon = true;
        s_batch_end (self->store, false);
        *batch_p = NULL;
    }
}

int
pb_batch_commit (pb_batch_t **batch_p)
{
    if (!batch_p || !*batch_p)
        return -1;
    pb_batch_t *self = *batch_p;
    pb_store_t *store = self->store;
    *batch_p = NULL;
    int rc = self->failed;
    if (rc == 0)
        rc = pb_batch_write_counters (self);
    //  The tree size goes in the same transaction as the nodes it counts
    if (rc == 0 && pl_merkle_size (store->tree) != store->committed_size) {
        uint8_t size [8];
        pl_put_be64 (size, pl_merkle_size (store->tree));
        rc = pb_batch_put (self, store->meta, META_LOG_SIZE, strlen (META_LOG_SIZE),
                           size, 8, 0, "write log size");
    }
    //  A commit of its own (not journaled) takes the late indexes with it
    //  when they are due (never near a full map: pb_store_index.c); a
    //  landing that fails is left for the next
    if (rc == 0 && !self->journaled && pb_store_index_due (store)
    &&  pb_store_index_land (store, self->txn))
        log_warn ("store: %s (the indexes catch up later)", store->error);
    if (rc != 0) {
        mdb_txn_abort (self->txn);
        store->flush_soon = rc == PB_STORE_FULL && store->folded;
        log_warn ("store: batch aborted: %s", store->error);
        s_batch_end (store, false);
        return rc;
    }
    if (self->journaled) {
        if ((rc = pb_store_redo_commit (self)) != 0) {
            store->flush_soon = rc == PB_STORE_FULL && store->folded;
            log_warn ("store: batch aborted: %s", store->error);
            s_batch_end (store, false);
            return rc;
        }
        s_batch_end (store, true);
        return 0;
    }
    int mrc = mdb_txn_commit (self->txn);
    pb_store_index_settled (store, mrc == 0);
    //  Journaled store, batch committed on its own: MDB_NOMETASYNC left its
    //  meta page unsynced, and no journal record covers it
    if (mrc == 0 && store->flush_ms)
        mrc = mdb_env_sync (store->env, 1);
    if (mrc) {
        rc = pb_store_lmdb_fail (store, mrc, "commit batch");
        log_warn ("store: %s", store->error);
        s_batch_end (store, false);
        return rc;
    }
    s_batch_end (store, true);
    return 0;
}

int
pb_batch_usable (pb_batch_t *self)
{
    if (!self || !self->store->batch_open || self != &self->store->batch)
        return -1;
    return self->failed;
}

int
pb_batch_lmdb_fail (pb_batch_t *self, int rc, const char *op)
{
    int code = pb_store_lmdb_fail (self->store, rc, op);
    if (self->failed == 0)
        self->failed = code;
    return code;
}

int
pb_batch_put (pb_batch_t *self, MDB_dbi dbi, const void *key, size_t ksize,
              const void *val, size_t vsize, unsigned flags, const char *op)
{
    if (self->failed)
        return self->failed;
    MDB_val k = { ksize, (void *) key }, v = { vsize, (void *) val };
    int rc = mdb_put (self->txn, dbi, &k, &v, flags);
    //  MDB_APPEND is a hint: a key that is not past the last one (a put
    //  made again) goes in the ordinary way, as it does at replay
    if (rc == MDB_KEYEXIST && (flags & MDB_APPEND)) {
        flags &= ~(unsigned) MDB_APPEND;
        rc = mdb_put (self->txn, dbi, &k, &v, flags);
    }
    if (rc)
        return pb_batch_lmdb_fail (self, rc, op);
    self->bytes += ksize + vsize;
    return pb_store_redo_note (self, PB_REDO_PUT, dbi, flags & ~(unsigned) MDB_APPEND,
                               key, ksize, val, vsize);
}

int
pb_batch_del (pb_batch_t *self, MDB_dbi dbi, const void *key, size_t ksize,
              const void *val, size_t vsize, const char *op)
{
    if (self->failed)
        return self->failed;
    MDB_val k = { ksize, (void *) key }, v = { vsize, (void *) val };
    int rc = mdb_del (self->txn, dbi, &k, val? &v: NULL);
    if (rc == MDB_NOTFOUND)
        return 1;
    if (rc)
        return pb_batch_lmdb_fail (self, rc, op);
    return pb_store_redo_note (self, val? PB_REDO_DEL_ONE: PB_REDO_DEL_KEY, dbi, 0,
                               key, ksize, val, vsize);
}

//  --------------------------------------------------------------------------
//  Figures

int
pb_store_stats (pb_store_t *self, pb_store_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    if (!self->batch_open && pb_store_space_refresh (self))
        return -1;
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    MDB_stat st;
    stats->log_size = self->tree? pl_merkle_size (self->tree): self->committed_size;
    if (mdb_stat (txn, self->queue, &st) == 0)
        stats->queue_total = st.ms_entries;
    if (mdb_stat (txn, self->events, &st) == 0)
        stats->events = st.ms_entries;
    int rc = pb_store_indexed_to (self, txn, &stats->indexed_to);
    pb_store_read_end (self, txn);
    if (rc)
        return -1;
    stats->map_size = self->map_size;
    stats->page_size = self->page_size;
    stats->used_bytes = self->used_bytes;
    stats->high_water_bytes = self->high_water_bytes;
    stats->publish_limit_bytes = self->limit_bytes;
    stats->accepts_publish = pb_store_accepts_publish (self);
    stats->schema = PB_STORE_SCHEMA;
    return 0;
}
