/*  pa_store_int: what pa_store.c, pa_store_outbox.c and pa_store_inbox.c
 *  share, and nothing else.
 *
 *  The store's struct and the helpers every part uses: LMDB return codes
 *  turned into messages naming the operation (and into PA_STORE_FULL for a
 *  full map), transactions begun and committed with that reporting, the
  *  room check of the adds and meta counters (big-endian: pl_bytes.h).  */
#ifndef PA_STORE_INT_H_INCLUDED
#define PA_STORE_INT_H_INCLUDED

#include <lmdb.h>
#include "pa_store.h"
#include "pl_bytes.h"

struct _pa_store_t {
    MDB_env *env;
    MDB_dbi meta, outbox, outbox_state, outbox_ids, sent, shared_with,
            inbox, inbox_ids, inbox_done;
    size_t map_size, page_size;
    size_t add_limit;               //  bytes in use above which adds are refused
    char error [512];
};

//  Record a reason (printf-style); returns -1.
int pa_store_fail (pa_store_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
//  Record "op: LMDB's message"; PA_STORE_FULL for a full map, else -1.
int pa_store_lmdb_fail (pa_store_t *self, int rc, const char *op);

//  Begin a write / read transaction: 0, or a failure code with a reason.
int pa_store_write_begin (pa_store_t *self, MDB_txn **txn, const char *op);
int pa_store_read_begin (pa_store_t *self, MDB_txn **txn, const char *op);
//  Commit (durable when 0); on failure the txn is gone and the reason set.
int pa_store_commit (pa_store_t *self, MDB_txn *txn, const char *op);
//  Put / get with reporting. get: 0, PA_STORE_NOT_FOUND, or a failure code.
int pa_store_put (pa_store_t *self, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t ksize,
                  const void *val, size_t vsize, unsigned flags, const char *op);
int pa_store_get (pa_store_t *self, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t ksize,
                  MDB_val *val, const char *op);

//  0 while extra more bytes fit under the add limit, else PA_STORE_FULL with
//  a reason (nothing written).
int pa_store_room (pa_store_t *self, size_t extra, const char *op);

//  meta u64: a missing key reads as 0.
int pa_store_meta_u64 (pa_store_t *self, MDB_txn *txn, const char *key, uint64_t *value);
int pa_store_meta_put_u64 (pa_store_t *self, MDB_txn *txn, const char *key, uint64_t value);

#endif
