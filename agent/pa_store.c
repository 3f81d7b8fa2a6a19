/*  pa_store: the agent's durable store (see pa_store.h for the contract and
 *  the LMDB layout). This file: opening, errors, space, sequence numbers,
 *  and the checkpoint. The outbox and the sent records are in
 *  pa_store_outbox.c, the inbox in pa_store_inbox.c; what they share is in
 *  pa_store_int.h.  */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "pa_store_int.h"
#include "pl_merkle.h"

_Static_assert (PA_STORE_ROOT_SIZE == PL_MERKLE_HASH_SIZE, "checkpoint roots are Merkle hashes");

#define STORE_KIND   "passerelle-agent-store"
#define ID           PA_STORE_EVENT_ID_SIZE
#define DB_COUNT     9
//  A write touches a few pages beyond its own bytes (the path from each
//  root it changes, copied on write): counted in the room check.
#define WRITE_PAGES  12

//  --------------------------------------------------------------------------
//  Helpers shared with pa_store_outbox.c and pa_store_inbox.c

int
pa_store_fail (pa_store_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, args);
    va_end (args);
    return -1;
}

int
pa_store_lmdb_fail (pa_store_t *self, int rc, const char *op)
{
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) {
        pa_store_fail (self, "%s: store full (%s; map size %zu bytes)", op, mdb_strerror (rc),
                       self->map_size);
        return PA_STORE_FULL;
    }
    pa_store_fail (self, "%s: %s", op, mdb_strerror (rc));
    return -1;
}

int
pa_store_write_begin (pa_store_t *self, MDB_txn **txn, const char *op)
{
    int rc = mdb_txn_begin (self->env, NULL, 0, txn);
    if (rc) {
        char what [160];
        snprintf (what, sizeof what, "%s: begin write transaction", op);
        return pa_store_lmdb_fail (self, rc, what);
    }
    return 0;
}

int
pa_store_read_begin (pa_store_t *self, MDB_txn **txn, const char *op)
{
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn);
    if (rc) {
        char what [160];
        snprintf (what, sizeof what, "%s: begin read transaction", op);
        return pa_store_lmdb_fail (self, rc, what);
    }
    return 0;
}

int
pa_store_commit (pa_store_t *self, MDB_txn *txn, const char *op)
{
    int rc = mdb_txn_commit (txn);     //  frees the txn, whatever the outcome
    if (rc) {
        char what [160];
        snprintf (what, sizeof what, "%s: commit", op);
        return pa_store_lmdb_fail (self, rc, what);
    }
    return 0;
}

int
pa_store_put (pa_store_t *self, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t ksize,
              const void *val, size_t vsize, unsigned flags, const char *op)
{
    MDB_val k = { ksize, (void *) key }, v = { vsize, (void *) val };
    int rc = mdb_put (txn, dbi, &k, &v, flags);
    return rc? pa_store_lmdb_fail (self, rc, op): 0;
}

int
pa_store_get (pa_store_t *self, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t ksize,
              MDB_val *val, const char *op)
{
    MDB_val k = { ksize, (void *) key };
    int rc = mdb_get (txn, dbi, &k, val);
    if (rc == MDB_NOTFOUND)
        return PA_STORE_NOT_FOUND;
    return rc? pa_store_lmdb_fail (self, rc, op): 0;
}

int
pa_store_room (pa_store_t *self, size_t extra, const char *op)
{
    //  Pages in use: the high-water page minus the free list, which LMDB
    //  keeps in its database 0 as (txn id -> count, page numbers...).
    MDB_envinfo info;
    MDB_txn *txn;
    MDB_cursor *cursor;
    mdb_env_info (self->env, &info);
    int rc = pa_store_read_begin (self, &txn, op);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open (txn, 0, &cursor))) {
        mdb_txn_abort (txn);
        return pa_store_lmdb_fail (self, rc, "read the free page list");
    }
    size_t free_pages = 0;
    MDB_val k, v;
    while ((rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) == 0)
        if (v.mv_size >= sizeof (size_t)) {
            size_t count;
            memcpy (&count, v.mv_data, sizeof count);   //  LMDB does not align it
            free_pages += count;
        }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc != MDB_NOTFOUND)
        return pa_store_lmdb_fail (self, rc, "read the free page list");
    size_t high = ((size_t) info.me_last_pgno + 1) * self->page_size;
    size_t used = high - (free_pages * self->page_size < high? free_pages * self->page_size: high);
    size_t need = extra + WRITE_PAGES * self->page_size;
    if (used + need > self->add_limit) {
        pa_store_fail (self, "%s: store full (%zu of %zu bytes in use, %zu kept for removals; "
                       "a bigger map size or a drained outbox makes room)", op, used,
                       self->map_size, self->map_size - self->add_limit);
        return PA_STORE_FULL;
    }
    return 0;
}

int
pa_store_meta_u64 (pa_store_t *self, MDB_txn *txn, const char *key, uint64_t *value)
{
    MDB_val v;
    *value = 0;
    int rc = pa_store_get (self, txn, self->meta, key, strlen (key), &v, "read meta");
    if (rc == PA_STORE_NOT_FOUND)
        return 0;
    if (rc)
        return rc;
    if (v.mv_size != 8)
        return pa_store_fail (self, "store damaged: meta %s holds %zu bytes, not 8", key,
                              v.mv_size);
    *value = pl_get_be64 (v.mv_data);
    return 0;
}

int
pa_store_meta_put_u64 (pa_store_t *self, MDB_txn *txn, const char *key, uint64_t value)
{
    uint8_t bytes [8];
    pl_put_be64 (bytes, value);
    return pa_store_put (self, txn, self->meta, key, strlen (key), bytes, 8, 0, "write meta");
}

//  --------------------------------------------------------------------------
//  Open and close

//  The folder: created 0700, or narrowed to it (decrypted payloads live
//  here). A non-empty folder without data.mdb is somebody else's: refused.
static int
s_prepare_folder (pa_store_t *self, const char *dir)
{
    struct stat st;
    if (mkdir (dir, 0700) != 0 && errno != EEXIST)
        return pa_store_fail (self, "create the folder: %s", strerror (errno));
    if (stat (dir, &st) != 0)
        return pa_store_fail (self, "%s", strerror (errno));
    if (!S_ISDIR (st.st_mode))
        return pa_store_fail (self, "not a folder");
    if ((st.st_mode & 077) && chmod (dir, 0700) != 0)
        return pa_store_fail (self, "narrow the folder to mode 0700: %s", strerror (errno));
    DIR *folder = opendir (dir);
    if (!folder)
        return pa_store_fail (self, "read the folder: %s", strerror (errno));
    bool has_data = false, has_other = false;
    struct dirent *entry;
    while ((entry = readdir (folder)))
        if (strcmp (entry->d_name, "data.mdb") == 0)
            has_data = true;
        else
        if (strcmp (entry->d_name, ".") && strcmp (entry->d_name, "..")
        &&  strcmp (entry->d_name, "lock.mdb"))
            has_other = true;
    closedir (folder);
    if (has_other && !has_data)
        return pa_store_fail (self, "not a passerelle agent store: the folder holds other "
                              "files and no data.mdb (give the store a folder of its own)");
    return 0;
}

//  meta: a new store gets its kind and schema; an existing one must be an
//  agent store of a schema this code reads.
static int
s_open_meta (pa_store_t *self, MDB_txn *txn)
{
    MDB_dbi main_db;
    int rc = mdb_dbi_open (txn, NULL, 0, &main_db);
    if (rc)
        return pa_store_lmdb_fail (self, rc, "open the main database");
    rc = mdb_dbi_open (txn, "meta", 0, &self->meta);
    if (rc == MDB_INCOMPATIBLE)
        return pa_store_fail (self, "not a passerelle agent store (an LMDB store of "
                              "another kind)");
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        if ((rc = mdb_stat (txn, main_db, &st)))
            return pa_store_lmdb_fail (self, rc, "read the main database");
        if (st.ms_entries > 0)
            return pa_store_fail (self, "not a passerelle agent store (an LMDB store of "
                                  "another kind)");
        if ((rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &self->meta)))
            return pa_store_lmdb_fail (self, rc, "create database meta");
        uint8_t schema [4];
        pl_put_be32 (schema, PA_STORE_SCHEMA);
        return pa_store_put (self, txn, self->meta, "kind", 4, STORE_KIND, strlen (STORE_KIND),
                             0, "write meta kind")
            || pa_store_put (self, txn, self->meta, "schema", 6, schema, 4, 0,
                             "write meta schema")? -1: 0;
    }
    if (rc)
        return pa_store_lmdb_fail (self, rc, "open database meta");
    MDB_val v;
    rc = pa_store_get (self, txn, self->meta, "kind", 4, &v, "read meta kind");
    if (rc < 0)
        return rc;
    if (rc == PA_STORE_NOT_FOUND || v.mv_size != strlen (STORE_KIND)
    ||  memcmp (v.mv_data, STORE_KIND, v.mv_size) != 0)
        return pa_store_fail (self, "not a passerelle agent store (an LMDB store of "
                              "another kind)");
    rc = pa_store_get (self, txn, self->meta, "schema", 6, &v, "read meta schema");
    if (rc < 0)
        return rc;
    if (rc == PA_STORE_NOT_FOUND || v.mv_size != 4)
        return pa_store_fail (self, "store damaged: no readable schema version in meta");
    uint32_t schema = pl_get_be32 (v.mv_data);
    if (schema > PA_STORE_SCHEMA)
        return pa_store_fail (self, "written by a newer passerelle (store schema %u, this "
                              "version reads up to %u): run the newer version",
                              schema, PA_STORE_SCHEMA);
    if (schema < 1)
        return pa_store_fail (self, "store damaged: schema version 0");
    return 0;
}

static int
s_open_dbs (pa_store_t *self, MDB_txn *txn)
{
    struct { const char *name; MDB_dbi *dbi; } dbs [] = {
        { "outbox", &self->outbox }, { "outbox_state", &self->outbox_state },
        { "outbox_ids", &self->outbox_ids }, { "sent", &self->sent },
        { "shared_with", &self->shared_with }, { "inbox", &self->inbox },
        { "inbox_ids", &self->inbox_ids }, { "inbox_done", &self->inbox_done },
    };
    _Static_assert (sizeof dbs / sizeof dbs [0] + 1 == DB_COUNT, "one entry per database");
    for (size_t i = 0; i < sizeof dbs / sizeof dbs [0]; i++) {
        int rc = mdb_dbi_open (txn, dbs [i].name, MDB_CREATE, dbs [i].dbi);
        if (rc) {
            char what [80];
            snprintf (what, sizeof what, "open database %s", dbs [i].name);
            return pa_store_lmdb_fail (self, rc, what);
        }
    }
    return 0;
}

pa_store_t *
pa_store_open (const char *dir, size_t map_size, char *err, size_t err_size)
{
    pa_store_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "store %s: out of memory", dir);
        return NULL;
    }
    MDB_txn *txn = NULL;
    int rc;
    self->map_size = map_size? map_size: PA_STORE_MAP_SIZE_DEFAULT;
    if (self->map_size < PA_STORE_MAP_SIZE_MIN) {
        pa_store_fail (self, "map size %zu bytes is below the minimum, %zu", map_size,
                       PA_STORE_MAP_SIZE_MIN);
        goto failed;
    }
    if (s_prepare_folder (self, dir))
        goto failed;
    if ((rc = mdb_env_create (&self->env))
    ||  (rc = mdb_env_set_maxdbs (self->env, DB_COUNT))
    ||  (rc = mdb_env_set_mapsize (self->env, self->map_size))) {
        pa_store_lmdb_fail (self, rc, "create the LMDB environment");
        goto failed;
    }
    //  Default sync flags: each commit is fsync'd before it returns.
    //  MDB_NOTLS: read transactions are not tied to a thread (an actor may
    //  move between threads; a read may be open while a write begins).
    rc = mdb_env_open (self->env, dir, MDB_NOTLS, 0600);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
        pa_store_fail (self, "not a passerelle agent store (data.mdb: %s)", mdb_strerror (rc));
        goto failed;
    }
    if (rc) {
        pa_store_lmdb_fail (self, rc, "open the LMDB environment");
        goto failed;
    }
    int stale;
    mdb_reader_check (self->env, &stale);   //  slots left by killed readers
    if (pa_store_write_begin (self, &txn, "open"))
        goto failed;
    if (s_open_meta (self, txn) || s_open_dbs (self, txn))
        goto failed;
    rc = pa_store_commit (self, txn, "open");  //  keeps the database handles
    txn = NULL;
    if (rc)
        goto failed;
    //  The map an existing store really has (LMDB keeps at least its data)
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info (self->env, &info);
    mdb_env_stat (self->env, &st);
    self->map_size = info.me_mapsize;
    self->page_size = st.ms_psize;
    size_t headroom = self->map_size / 8;
    if (headroom < 32 * self->page_size)
        headroom = 32 * self->page_size;
    self->add_limit = self->map_size > headroom? self->map_size - headroom: 0;
    return self;

failed:
    snprintf (err, err_size, "store %s: %s", dir, self->error);
    if (txn)
        mdb_txn_abort (txn);
    if (self->env)
        mdb_env_close (self->env);
    free (self);
    return NULL;
}

void
pa_store_destroy (pa_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mdb_env_close ((*self_p)->env);
    free (*self_p);
    *self_p = NULL;
}

const char *
pa_store_error (pa_store_t *self)
{
    return self->error;
}

bool
pa_store_has_room (pa_store_t *self, size_t bytes)
{
    return pa_store_room (self, bytes + 128, "room check") == 0;
}

//  --------------------------------------------------------------------------
//  Sequence numbers

uint64_t
pa_store_last_sequence (pa_store_t *self)
{
    MDB_txn *txn;
    uint64_t last = 0;
    if (pa_store_read_begin (self, &txn, "last sequence") == 0) {
        pa_store_meta_u64 (self, txn, "last_sequence", &last);
        mdb_txn_abort (txn);
    }
    return last;
}

//  --------------------------------------------------------------------------
//  Checkpoint: meta "checkpoint" -> size u64, root, note

#define CHECKPOINT_HEAD (8 + PA_STORE_ROOT_SIZE)

int
pa_store_checkpoint_save (pa_store_t *self, const char *note, uint64_t size, const uint8_t *root)
{
    if (!note || !root)
        return pa_store_fail (self, "checkpoint save: no note or root");
    MDB_txn *txn;
    MDB_val v;
    int rc = pa_store_write_begin (self, &txn, "checkpoint save");
    if (rc)
        return rc;
    rc = pa_store_get (self, txn, self->meta, "checkpoint", 10, &v, "checkpoint save");
    if (rc < 0)
        goto failed;
    if (rc == 0 && v.mv_size < CHECKPOINT_HEAD) {
        rc = pa_store_fail (self, "store damaged: checkpoint record of %zu bytes", v.mv_size);
        goto failed;
    }
    if (rc == 0) {
        uint64_t kept = pl_get_be64 (v.mv_data);
        if (size < kept || (size == kept
                            && memcmp ((uint8_t *) v.mv_data + 8, root, PA_STORE_ROOT_SIZE))) {
            rc = pa_store_fail (self, "checkpoint save: size %llu %s the kept checkpoint's "
                                "(%llu): refused", (unsigned long long) size,
                                size < kept? "is below": "has another root than",
                                (unsigned long long) kept);
            goto failed;
        }
    }
    size_t note_size = strlen (note);
    MDB_val k = { 10, "checkpoint" };
    v = (MDB_val) { CHECKPOINT_HEAD + note_size, NULL };
    if ((rc = mdb_put (txn, self->meta, &k, &v, MDB_RESERVE))) {
        rc = pa_store_lmdb_fail (self, rc, "checkpoint save: write meta");
        goto failed;
    }
    pl_put_be64 (v.mv_data, size);
    memcpy ((uint8_t *) v.mv_data + 8, root, PA_STORE_ROOT_SIZE);
    memcpy ((uint8_t *) v.mv_data + CHECKPOINT_HEAD, note, note_size);
    return pa_store_commit (self, txn, "checkpoint save");

failed:
    mdb_txn_abort (txn);
    return rc;
}

int
pa_store_checkpoint_load (pa_store_t *self, char **note, uint64_t *size, uint8_t *root)
{
    if (note)
        *note = NULL;
    MDB_txn *txn;
    MDB_val v;
    int rc = pa_store_read_begin (self, &txn, "checkpoint load");
    if (rc)
        return rc;
    rc = pa_store_get (self, txn, self->meta, "checkpoint", 10, &v, "checkpoint load");
    if (rc == 0 && v.mv_size < CHECKPOINT_HEAD)
        rc = pa_store_fail (self, "store damaged: checkpoint record of %zu bytes", v.mv_size);
    if (rc == 0) {
        size_t note_size = v.mv_size - CHECKPOINT_HEAD;
        if (note && !(*note = malloc (note_size + 1)))
            rc = pa_store_fail (self, "checkpoint load: out of memory");
        else {
            if (note) {
                memcpy (*note, (uint8_t *) v.mv_data + CHECKPOINT_HEAD, note_size);
                (*note) [note_size] = 0;
            }
            if (size)
                *size = pl_get_be64 (v.mv_data);
            if (root)
                memcpy (root, (uint8_t *) v.mv_data + 8, PA_STORE_ROOT_SIZE);
        }
    }
    mdb_txn_abort (txn);
    return rc;
}
