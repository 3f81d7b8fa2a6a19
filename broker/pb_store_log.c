/*  pb_store_log: the sharing log and the event-id index in pb_store.
 *
 *  The log database maps an 8-byte big-endian index to the LogEntry bytes
 *  exactly as the broker serialised them; its leaf hash goes into the
 *  Merkle tree (pl_merkle over the merkle database, whose node keys are
 *  below) in the same batch. The case and agency indexes over it are
 *  written later (pb_store_index.c); the names they will use are checked
 *  here, before the entry is taken.
 *
 *  The events database maps an event id to who published it, its log
 *  index, what it supersedes, where it went and its case: replay refusal,
 *  corrections, and the receipts and expiries that name its case read it.  */
#include <stdlib.h>
#include <string.h>
#include "pb_store_int.h"

//  --------------------------------------------------------------------------
//  Merkle node storage over the merkle database, in whatever transaction
//  the store is using now. A node's key, 9 bytes:
//
//      new stores (schema 4)   the last leaf it covers (8, big-endian), level
//      older stores            level, index (8, big-endian)
//
//  Why the first: the nodes an append makes (the leaf, then each subtree it
//  completes) all end at that leaf, so their keys come after every key in
//  the database, level by level: each put is an LMDB append, at the tree's
//  right edge (full pages, no search, one page touched per batch). Keyed
//  level first, each level was an insertion point of its own.

static void
s_node_key (pb_store_t *self, unsigned level, uint64_t index, uint8_t *key)
{
    if (self->merkle_by_leaf) {
        pl_put_be64 (key, ((index + 1) << level) - 1);
        key [8] = (uint8_t) level;
    }
    else {
        key [0] = (uint8_t) level;
        pl_put_be64 (key + 1, index);
    }
}

static int
s_node_get (void *ctx, unsigned level, uint64_t index, uint8_t *hash)
{
    pb_store_t *self = ctx;
    uint8_t key [9];
    s_node_key (self, level, index, key);
    MDB_val k = { sizeof key, key }, v;
    self->merkle_reads++;
    if (!self->txn || mdb_get (self->txn, self->merkle, &k, &v) != 0
    ||  v.mv_size != PL_MERKLE_HASH_SIZE)
        return -1;
    memcpy (hash, v.mv_data, PL_MERKLE_HASH_SIZE);
    return 0;
}

static int
s_node_put (void *ctx, unsigned level, uint64_t index, const uint8_t *hash)
{
    pb_store_t *self = ctx;
    if (!self->batch_open)
        return -1;
    uint8_t key [9];
    s_node_key (self, level, index, key);
    //  Overwriting with the same hash (a retried append) is fine: MDB_APPEND
    //  is only a hint (pb_batch_put)
    return pb_batch_put (&self->batch, self->merkle, key, sizeof key, hash, PL_MERKLE_HASH_SIZE,
                         self->merkle_by_leaf? MDB_APPEND: 0, "put merkle node") == 0? 0: -1;
}

static const pl_merkle_storage_t s_storage = { s_node_get, s_node_put };

int
pb_store_tree_open (pb_store_t *self, MDB_txn *txn, uint64_t size)
{
    pl_merkle_destroy (&self->tree);
    pb_store_index_forget_from (self, size);
    MDB_txn *saved = self->txn;
    self->txn = txn;
    self->tree = pl_merkle_new (&s_storage, self, size);
    self->txn = saved;
    if (!self->tree)
        return pb_store_fail (self, "Merkle tree at size %llu: cannot read its right edge "
                              "(store damaged?)", (unsigned long long) size);
    return 0;
}

//  --------------------------------------------------------------------------
//  Appending

//  Every name fits the indexes' keys, and the block is well formed
static int
s_check_names (pb_store_t *store, const char *names, size_t size)
{
    if (!names || size == 0 || names [size - 1] != 0)
        return pb_store_fail (store, "log append: names not in pb_log_names' form");
    for (size_t at = 0; at < size; ) {
        size_t len = strlen (names + at);
        if (len > PB_STORE_NAME_MAX)
            return pb_store_fail (store, "log append: a name of %zu bytes (at most %d)",
                                  len, PB_STORE_NAME_MAX);
        at += len + 1;
    }
    return 0;
}

int
pb_batch_log_append_named (pb_batch_t *self, const uint8_t *entry, size_t size,
                           const char *names, size_t names_size, uint64_t *index)
{
    if (pb_batch_usable (self))
        return pb_batch_usable (self);
    pb_store_t *store = self->store;
    //  Check the names before the first write, so a bad entry leaves the
    //  batch as it was
    if (!entry || size == 0)
        return pb_store_fail (store, "log append: an empty entry");
    int rc = s_check_names (store, names, names_size);
    uint64_t at = pl_merkle_size (store->tree);
    uint8_t key [8];
    pl_put_be64 (key, at);
    //  MDB_APPEND: indexes only grow, so LMDB may skip the search and fill pages
    if (rc == 0)
        rc = pb_batch_put (self, store->log, key, 8, entry, size, MDB_APPEND, "append log entry");
    if (rc == 0 && pl_merkle_append_data (store->tree, entry, size, NULL) != 0)
        rc = self->failed? self->failed: pb_store_fail (store, "append Merkle leaf: failed");
    //  The case and agency indexes come later (pb_store_index.c)
    if (rc == 0)
        pb_store_index_remember (store, at, names, names_size);
    //  A failure after the first write spoils the batch: it cannot be undone
    //  piecemeal, and the tree has moved on
    if (rc && pl_merkle_size (store->tree) != at && self->failed == 0)
        self->failed = -1;
    if (rc == 0 && index)
        *index = at;
    return rc;
}

int
pb_batch_log_append (pb_batch_t *self, const uint8_t *entry, size_t size, uint64_t *index)
{
    if (pb_batch_usable (self))
        return pb_batch_usable (self);
    //  Parse first: nothing is written for bytes that are not a LogEntry
    size_t names_size;
    char *names = pb_log_names_decode (entry, size, &names_size);
    int rc = names? pb_batch_log_append_named (self, entry, size, names, names_size, index)
                  : pb_store_fail (self->store, "log append: not a serialised LogEntry "
                                   "(%zu bytes)", size);
    free (names);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reading

int
pb_store_log_root (pb_store_t *self, uint64_t *size, uint8_t *root)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    *size = pl_merkle_size (self->tree);
    pl_merkle_root (self->tree, root);
    pb_store_read_end (self, txn);
    return 0;
}

uint64_t
pb_store_log_size (pb_store_t *self)
{
    //  Not via pb_store_log_root: each publish asks, and a root costs
    //  up to one hash per level
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return 0;
    uint64_t size = pl_merkle_size (self->tree);
    pb_store_read_end (self, txn);
    return size;
}

//  Run a pl_merkle read in a read transaction
#define WITH_TREE(self, call)                                           \
    do {                                                                \
        MDB_txn *txn_;                                                  \
        if (pb_store_read_begin (self, &txn_))                          \
            return -1;                                                  \
        int rc_ = (call);                                               \
        pb_store_read_end (self, txn_);                                 \
        if (rc_)                                                        \
            return pb_store_fail (self, "%s: not in the tree or unreadable", #call); \
        return 0;                                                       \
    } while (0)

int
pb_store_log_root_at (pb_store_t *self, uint64_t size, uint8_t *root)
{
    WITH_TREE (self, pl_merkle_root_at (self->tree, size, root));
}

int
pb_store_inclusion_proof (pb_store_t *self, uint64_t index, uint64_t size,
                          uint8_t *proof, size_t *proof_len)
{
    WITH_TREE (self, pl_merkle_inclusion_proof (self->tree, index, size, proof, proof_len));
}

int
pb_store_consistency_proof (pb_store_t *self, uint64_t size1, uint64_t size2,
                            uint8_t *proof, size_t *proof_len)
{
    WITH_TREE (self, pl_merkle_consistency_proof (self->tree, size1, size2, proof, proof_len));
}

uint64_t
pb_store_merkle_reads (pb_store_t *self)
{
    return self->merkle_reads;
}

int
pb_store_log_entry (pb_store_t *self, uint64_t index, uint8_t **entry, size_t *size)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    uint8_t key [8];
    pl_put_be64 (key, index);
    MDB_val k = { 8, key }, v;
    int rc = mdb_get (txn, self->log, &k, &v);
    int result = 0;
    if (rc == MDB_NOTFOUND)
        result = 1;
    else
    if (rc)
        result = pb_store_lmdb_fail (self, rc, "read log entry");
    else
    if (!(*entry = malloc (v.mv_size? v.mv_size: 1)))
        result = pb_store_fail (self, "read log entry: out of memory");
    else {
        memcpy (*entry, v.mv_data, v.mv_size);
        *size = v.mv_size;
    }
    pb_store_read_end (self, txn);
    return result;
}

int
pb_store_log_range (pb_store_t *self, uint64_t from, uint64_t to,
                    pb_store_entry_fn *fn, void *arg)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->log, &cursor);
    if (rc) {
        pb_store_read_end (self, txn);
        return pb_store_lmdb_fail (self, rc, "open log cursor");
    }
    uint8_t key [8];
    pl_put_be64 (key, from);
    MDB_val k = { 8, key }, v;
    int result = 0;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE); rc == 0 && result == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        uint64_t index = pl_get_be64 (k.mv_data);
        if (index >= to)
            break;
        result = fn (index, v.mv_data, v.mv_size, arg);
    }
    if (rc && rc != MDB_NOTFOUND && result == 0)
        result = pb_store_lmdb_fail (self, rc, "walk log");
    mdb_cursor_close (cursor);
    pb_store_read_end (self, txn);
    return result;
}

//  --------------------------------------------------------------------------
//  Event ids. Value: log index (8, BE), publisher (1 + n), supersedes
//  (1 + n), recipient count (2, BE), each recipient (1 + n).

int
pb_batch_event_seen (pb_batch_t *self, const uint8_t *event_id, size_t id_size)
{
    if (pb_batch_usable (self) || pb_store_event_id_ok (self->store, event_id, id_size))
        return -1;
    MDB_val k = { id_size, (void *) event_id }, v;
    int rc = mdb_get (self->txn, self->store->events, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return pb_batch_lmdb_fail (self, rc, "look up event id");
    return 1;
}

int
pb_batch_event_record (pb_batch_t *self, const uint8_t *event_id, size_t id_size,
                       const char *publisher, uint64_t log_index,
                       const uint8_t *supersedes, size_t supersedes_size,
                       const char *const *recipients, size_t n_recipients,
                       const char *case_ref)
{
    pb_store_t *store = self? self->store: NULL;
    int seen = pb_batch_event_seen (self, event_id, id_size);
    if (seen < 0)
        return self && self->failed? self->failed: -1;
    if (seen)
        return pb_store_fail (store, "record event: event id already recorded");
    size_t publisher_len = pb_store_name_len (store, publisher, "publisher");
    if (!publisher_len)
        return -1;
    if (supersedes_size > PB_STORE_EVENT_ID_MAX || (supersedes_size && !supersedes))
        return pb_store_fail (store, "record event: supersedes of %zu bytes", supersedes_size);
    if (n_recipients > 65535)
        return pb_store_fail (store, "record event: %zu recipients", n_recipients);
    size_t case_len = case_ref? strlen (case_ref): 0;
    if (case_len > PB_STORE_NAME_MAX)
        return pb_store_fail (store, "record event: a case of %zu bytes (at most %d)",
                              case_len, PB_STORE_NAME_MAX);
    size_t size = 8 + 1 + publisher_len + 1 + supersedes_size + 2 + 1 + case_len;
    for (size_t i = 0; i < n_recipients; i++) {
        size_t len = pb_store_name_len (store, recipients [i], "recipient");
        if (!len)
            return -1;
        size += 1 + len;
    }
    int rc = pb_batch_room (self, id_size + size);
    if (rc)
        return rc;
    uint8_t *value = malloc (size), *p = value;
    if (!value)
        return pb_store_fail (store, "record event: out of memory");
    pl_put_be64 (p, log_index);
    p += 8;
    *p++ = (uint8_t) publisher_len;
    memcpy (p, publisher, publisher_len);
    p += publisher_len;
    *p++ = (uint8_t) supersedes_size;
    if (supersedes_size)
        memcpy (p, supersedes, supersedes_size);
    p += supersedes_size;
    *p++ = (uint8_t) (n_recipients >> 8);
    *p++ = (uint8_t) n_recipients;
    for (size_t i = 0; i < n_recipients; i++) {
        size_t len = strlen (recipients [i]);
        *p++ = (uint8_t) len;
        memcpy (p, recipients [i], len);
        p += len;
    }
    //  Last, so that a value written before the case was kept decodes alike
    *p++ = (uint8_t) case_len;
    memcpy (p, case_ref? case_ref: "", case_len);
    rc = pb_batch_put (self, store->events, event_id, id_size, value, size,
                       MDB_NOOVERWRITE, "record event id");
    free (value);
    return rc;
}

void
pb_event_destroy (pb_event_t **self_p)
{
    if (self_p && *self_p) {
        pb_event_t *self = *self_p;
        for (size_t i = 0; i < self->n_recipients; i++)
            free (self->recipients [i]);
        free (self->recipients);
        free (self->publisher);
        free (self->supersedes);
        free (self->case_ref);
        free (self);
        *self_p = NULL;
    }
}

//  Decode an events value; NULL if it is damaged or memory runs out
static pb_event_t *
s_event_decode (const uint8_t *p, size_t size)
{
    const uint8_t *end = p + size;
    pb_event_t *self = calloc (1, sizeof *self);
    if (!self || size < 8 + 1)
        goto failed;
    self->log_index = pl_get_be64 (p);
    p += 8;
    size_t len = *p++;
    if ((size_t) (end - p) < len + 1 || !(self->publisher = strndup ((const char *) p, len)))
        goto failed;
    p += len;
    len = *p++;
    if ((size_t) (end - p) < len + 2)
        goto failed;
    if (len) {
        if (!(self->supersedes = malloc (len)))
            goto failed;
        memcpy (self->supersedes, p, len);
        self->supersedes_size = len;
    }
    p += len;
    size_t count = (size_t) p [0] << 8 | p [1];
    p += 2;
    if (!(self->recipients = calloc (count? count: 1, sizeof (char *))))
        goto failed;
    for (size_t i = 0; i < count; i++) {
        if (p >= end || (size_t) (end - p - 1) < *p)
            goto failed;
        len = *p++;
        if (!(self->recipients [i] = strndup ((const char *) p, len)))
            goto failed;
        self->n_recipients = i + 1;
        p += len;
    }
    if (p < end) {
        len = *p++;
        if ((size_t) (end - p) < len)
            goto failed;
        if (len && !(self->case_ref = strndup ((const char *) p, len)))
            goto failed;
    }
    return self;
failed:
    pb_event_destroy (&self);
    return NULL;
}

int
pb_store_event_lookup (pb_store_t *self, const uint8_t *event_id, size_t id_size,
                       pb_event_t **event_p)
{
    *event_p = NULL;
    if (pb_store_event_id_ok (self, event_id, id_size))
        return -1;
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    MDB_val k = { id_size, (void *) event_id }, v;
    int rc = mdb_get (txn, self->events, &k, &v);
    int result = 0;
    if (rc == MDB_NOTFOUND)
        result = 1;
    else
    if (rc)
        result = pb_store_lmdb_fail (self, rc, "look up event id");
    else
    if (!(*event_p = s_event_decode (v.mv_data, v.mv_size)))
        result = pb_store_fail (self, "event record damaged or out of memory");
    pb_store_read_end (self, txn);
    return result;
}
