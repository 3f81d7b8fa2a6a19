/*  pb_store_state: consents, case membership, publisher sequence numbers
 *  and checkpoints in pb_store (see the .h). Each is a plain LMDB database:
 *    consents     case_ref \0 consent_id -> opaque blob (the broker's encoding)
 *    cases        case_ref -> agency (dup-sorted: one value per member)
 *    sequences    publisher -> last sequence (8, BE)
 *    checkpoints  tree size (8, BE) -> the signed checkpoint text  */
#include <stdlib.h>
#include <string.h>
#include "pb_store_int.h"
#include "pb_store_state.h"

//  Walk every record of dbi in txn order; fn (k, v, arg) non-zero stops.
typedef int (s_record_fn) (const MDB_val *k, const MDB_val *v, void *ctx);

static int
s_walk (pb_store_t *self, MDB_dbi dbi, const MDB_val *start, bool dup_only,
        s_record_fn *fn, void *ctx, const char *what)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc) {
        pb_store_read_end (self, txn);
        return pb_store_lmdb_fail (self, rc, what);
    }
    MDB_val k = start? *start: (MDB_val) { 0, NULL }, v;
    int result = 0;
    MDB_cursor_op first = start? MDB_SET_KEY: MDB_FIRST, next = dup_only? MDB_NEXT_DUP: MDB_NEXT;
    for (rc = mdb_cursor_get (cursor, &k, &v, first); rc == 0 && result == 0;
         rc = mdb_cursor_get (cursor, &k, &v, next))
        result = fn (&k, &v, ctx);
    if (result == 0 && rc && rc != MDB_NOTFOUND)
        result = pb_store_lmdb_fail (self, rc, what);
    mdb_cursor_close (cursor);
    pb_store_read_end (self, txn);
    return result;
}

//  A copy of the value under key: 0, 1 absent, -1.
static int
s_get_copy (pb_store_t *self, MDB_dbi dbi, const void *key, size_t ksize,
            uint8_t **out, size_t *size, bool terminate, const char *what)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    MDB_val k = { ksize, (void *) key }, v;
    int rc = mdb_get (txn, dbi, &k, &v);
    int result = rc == MDB_NOTFOUND? 1: rc? pb_store_lmdb_fail (self, rc, what): 0;
    if (result == 0) {
        if ((*out = malloc (v.mv_size + 1))) {
            memcpy (*out, v.mv_data, v.mv_size);
            if (terminate)
                (*out) [v.mv_size] = 0;
            if (size)
                *size = v.mv_size;
        }
        else
            result = pb_store_fail (self, "%s: out of memory", what);
    }
    pb_store_read_end (self, txn);
    return result;
}

//  --------------------------------------------------------------------------
//  Consents

static size_t
s_consent_key (pb_store_t *self, uint8_t *key, const char *case_ref, const char *consent_id)
{
    size_t clen = pb_store_name_len (self, case_ref, "case_ref");
    size_t ilen = clen? pb_store_name_len (self, consent_id, "consent_id"): 0;
    if (!ilen)
        return 0;
    memcpy (key, case_ref, clen);
    key [clen] = 0;
    memcpy (key + clen + 1, consent_id, ilen);
    return clen + 1 + ilen;
}

int
pb_batch_consent_put (pb_batch_t *self, const char *case_ref, const char *consent_id,
                      const uint8_t *blob, size_t size)
{
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    uint8_t key [2 * PB_STORE_NAME_MAX + 1];
    size_t ksize = s_consent_key (self->store, key, case_ref, consent_id);
    if (!ksize)
        return -1;
    return pb_batch_put (self, self->store->consents, key, ksize, blob? blob: (const uint8_t *) "",
                         blob? size: 0, 0, "put consent");
}

int
pb_batch_consent_delete (pb_batch_t *self, const char *case_ref, const char *consent_id)
{
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    uint8_t key [2 * PB_STORE_NAME_MAX + 1];
    size_t ksize = s_consent_key (self->store, key, case_ref, consent_id);
    if (!ksize)
        return -1;
    return pb_batch_del (self, self->store->consents, key, ksize, NULL, 0, "delete consent");
}

int
pb_store_consent_get (pb_store_t *self, const char *case_ref, const char *consent_id,
                      uint8_t **blob, size_t *size)
{
    uint8_t key [2 * PB_STORE_NAME_MAX + 1];
    size_t ksize = s_consent_key (self, key, case_ref, consent_id);
    if (!ksize)
        return -1;
    return s_get_copy (self, self->consents, key, ksize, blob, size, false, "get consent");
}

typedef struct { pb_consent_fn *fn; void *arg; } s_consent_walk_t;

static int
s_consent_record (const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_consent_walk_t *walk = ctx;
    char key [2 * PB_STORE_NAME_MAX + 2];
    if (k->mv_size >= sizeof key)
        return -1;
    memcpy (key, k->mv_data, k->mv_size);
    key [k->mv_size] = 0;
    const char *id = memchr (key, 0, k->mv_size)? key + strlen (key) + 1: NULL;
    if (!id)
        return -1;
    return walk->fn (key, id, v->mv_data, v->mv_size, walk->arg);
}

int
pb_store_consent_each (pb_store_t *self, pb_consent_fn *fn, void *arg)
{
    s_consent_walk_t walk = { fn, arg };
    return s_walk (self, self->consents, NULL, false, s_consent_record, &walk, "walk consents");
}

//  --------------------------------------------------------------------------
//  Case membership

int
pb_batch_case_add (pb_batch_t *self, const char *case_ref, const char *agency)
{
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    size_t clen = pb_store_name_len (self->store, case_ref, "case_ref");
    size_t alen = clen? pb_store_name_len (self->store, agency, "agency"): 0;
    if (!alen)
        return -1;
    //  Look before writing: LMDB copies the path to a key before it finds
    //  the pair already there, so a put of an existing member would still
    //  rewrite pages, and most events are about cases whose members are known
    MDB_val k = { clen, (void *) case_ref }, v = { alen, (void *) agency };
    MDB_cursor *cursor;
    rc = mdb_cursor_open (self->txn, self->store->cases, &cursor);
    if (rc == 0) {
        MDB_val found_k = k, found_v = v;
        rc = mdb_cursor_get (cursor, &found_k, &found_v, MDB_GET_BOTH);
        mdb_cursor_close (cursor);
    }
    if (rc == 0)
        return 0;
    if (rc != MDB_NOTFOUND)
        return pb_batch_lmdb_fail (self, rc, "look up case member");
    rc = pb_batch_put (self, self->store->cases, case_ref, clen, agency, alen, MDB_NODUPDATA,
                       "add case member");
    return rc < 0? rc: 0;
}

int
pb_store_case_has (pb_store_t *self, const char *case_ref, const char *agency)
{
    size_t clen = pb_store_name_len (self, case_ref, "case_ref");
    size_t alen = clen? pb_store_name_len (self, agency, "agency"): 0;
    MDB_txn *txn;
    if (!alen || pb_store_read_begin (self, &txn))
        return -1;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->cases, &cursor);
    MDB_val k = { clen, (void *) case_ref }, v = { alen, (void *) agency };
    if (rc == 0) {
        rc = mdb_cursor_get (cursor, &k, &v, MDB_GET_BOTH);
        mdb_cursor_close (cursor);
    }
    pb_store_read_end (self, txn);
    return rc == 0? 1: rc == MDB_NOTFOUND? 0: pb_store_lmdb_fail (self, rc, "case membership");
}

typedef struct { pb_name_fn *fn; void *arg; } s_name_walk_t;

static int
s_member_record (const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) k;
    s_name_walk_t *walk = ctx;
    char name [PB_STORE_NAME_MAX + 1];
    if (v->mv_size > PB_STORE_NAME_MAX)
        return -1;
    memcpy (name, v->mv_data, v->mv_size);
    name [v->mv_size] = 0;
    return walk->fn (name, walk->arg);
}

int
pb_store_case_members (pb_store_t *self, const char *case_ref, pb_name_fn *fn, void *arg)
{
    size_t clen = pb_store_name_len (self, case_ref, "case_ref");
    if (!clen)
        return -1;
    MDB_val start = { clen, (void *) case_ref };
    s_name_walk_t walk = { fn, arg };
    return s_walk (self, self->cases, &start, true, s_member_record, &walk, "walk case members");
}

//  --------------------------------------------------------------------------
//  Sequences

int
pb_batch_sequence_set (pb_batch_t *self, const char *publisher, uint64_t last)
{
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    size_t len = pb_store_name_len (self->store, publisher, "publisher");
    if (!len)
        return -1;
    uint8_t value [8];
    pl_put_be64 (value, last);
    return pb_batch_put (self, self->store->seq, publisher, len, value, 8, 0, "set sequence");
}

int
pb_store_sequence_get (pb_store_t *self, const char *publisher, uint64_t *last)
{
    size_t len = pb_store_name_len (self, publisher, "publisher");
    if (!len)
        return -1;
    uint8_t *value;
    size_t size;
    int rc = s_get_copy (self, self->seq, publisher, len, &value, &size, false, "get sequence");
    if (rc == 0) {
        if (size == 8)
            *last = pl_get_be64 (value);
        else
            rc = pb_store_fail (self, "sequence record damaged");
        free (value);
    }
    return rc;
}

typedef struct { pb_sequence_fn *fn; void *arg; } s_seq_walk_t;

static int
s_seq_record (const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_seq_walk_t *walk = ctx;
    char name [PB_STORE_NAME_MAX + 1];
    if (k->mv_size > PB_STORE_NAME_MAX || v->mv_size != 8)
        return -1;
    memcpy (name, k->mv_data, k->mv_size);
    name [k->mv_size] = 0;
    return walk->fn (name, pl_get_be64 (v->mv_data), walk->arg);
}

int
pb_store_sequence_each (pb_store_t *self, pb_sequence_fn *fn, void *arg)
{
    s_seq_walk_t walk = { fn, arg };
    return s_walk (self, self->seq, NULL, false, s_seq_record, &walk, "walk sequences");
}

//  --------------------------------------------------------------------------
//  Checkpoints

int
pb_batch_checkpoint_put (pb_batch_t *self, const char *text, size_t size)
{
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    if (!text || size == 0)
        return pb_store_fail (self->store, "checkpoint: empty text");
    uint8_t key [8];
    pl_put_be64 (key, pl_merkle_size (self->store->tree));
    return pb_batch_put (self, self->store->checkpoints, key, 8, text, size, 0,
                         "put checkpoint");
}

int
pb_store_checkpoint_latest (pb_store_t *self, uint64_t *tree_size, char **text)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    MDB_cursor *cursor;
    MDB_val k, v;
    int rc = mdb_cursor_open (txn, self->checkpoints, &cursor);
    if (rc == 0) {
        rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
        mdb_cursor_close (cursor);
    }
    int result = rc == MDB_NOTFOUND? 1: rc? pb_store_lmdb_fail (self, rc, "latest checkpoint"): 0;
    if (result == 0 && k.mv_size != 8)
        result = pb_store_fail (self, "checkpoint key damaged");
    if (result == 0) {
        *tree_size = pl_get_be64 (k.mv_data);
        if ((*text = malloc (v.mv_size + 1))) {
            memcpy (*text, v.mv_data, v.mv_size);
            (*text) [v.mv_size] = 0;
        }
        else
            result = pb_store_fail (self, "latest checkpoint: out of memory");
    }
    pb_store_read_end (self, txn);
    return result;
}

typedef struct { pb_checkpoint_fn *fn; void *arg; } s_cp_walk_t;

static int
s_cp_record (const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_cp_walk_t *walk = ctx;
    if (k->mv_size != 8)
        return -1;
    return walk->fn (pl_get_be64 (k->mv_data), v->mv_data, v->mv_size, walk->arg);
}

int
pb_store_checkpoint_each (pb_store_t *self, pb_checkpoint_fn *fn, void *arg)
{
    s_cp_walk_t walk = { fn, arg };
    return s_walk (self, self->checkpoints, NULL, false, s_cp_record, &walk, "walk checkpoints");
}
