/*  pb_store_counter: the meta counters a batch changes ("qseq", each
 *  agency's queue depth), kept in the batch and written once at its commit
 *  (pb_store_int.h says why). A batch that aborts drops them with the rest;
 *  one that commits writes their final values, journaled like any put.  */
#include <string.h>
#include "pb_store_int.h"
#include "pl_bytes.h"

//  The batch's copy of counter key, or NULL when it has none
static pb_counter_t *
s_counter_kept (pb_batch_t *self, const void *key, size_t ksize)
{
    for (size_t i = 0; i < self->counter_count; i++) {
        pb_counter_t *counter = &self->counters [i];
        if (counter->ksize == ksize && memcmp (counter->key, key, ksize) == 0)
            return counter;
    }
    return NULL;
}

//  The batch's copy of counter key, read in on first use; NULL when the
//  batch keeps no more (the caller then reads and writes meta directly)
static pb_counter_t *
s_counter (pb_batch_t *self, const void *key, size_t ksize)
{
    pb_counter_t *kept = s_counter_kept (self, key, ksize);
    if (kept)
        return kept;
    if (self->counter_count == PB_BATCH_COUNTERS || ksize > sizeof self->counters [0].key)
        return NULL;
    pb_counter_t *counter = &self->counters [self->counter_count];
    if (pb_store_meta_get_u64 (self->store, self->txn, key, ksize, &counter->value))
        return NULL;
    memcpy (counter->key, key, ksize);
    counter->ksize = ksize;
    self->counter_count++;
    return counter;
}

int
pb_batch_meta_add (pb_batch_t *self, const void *key, size_t ksize, int64_t delta)
{
    if (pb_batch_usable (self))
        return -1;
    pb_counter_t *counter = s_counter (self, key, ksize);
    if (counter) {
        counter->value = (uint64_t) ((int64_t) counter->value + delta);
        return 0;
    }
    uint64_t value;
    if (pb_store_meta_get_u64 (self->store, self->txn, key, ksize, &value))
        return -1;
    uint8_t out [8];
    pl_put_be64 (out, (uint64_t) ((int64_t) value + delta));
    return pb_batch_put (self, self->store->meta, key, ksize, out, 8, 0, "update counter");
}

int
pb_batch_meta_get (pb_batch_t *self, const void *key, size_t ksize, uint64_t *value)
{
    if (pb_batch_usable (self))
        return -1;
    pb_counter_t *kept = s_counter_kept (self, key, ksize);
    if (kept) {
        *value = kept->value;
        return 0;
    }
    return pb_store_meta_get_u64 (self->store, self->txn, key, ksize, value);
}

int
pb_store_counter_get (pb_store_t *self, const void *key, size_t ksize, uint64_t *value)
{
    if (self->batch_open)
        return pb_batch_meta_get (&self->batch, key, ksize, value);
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    int rc = pb_store_meta_get_u64 (self, txn, key, ksize, value);
    pb_store_read_end (self, txn);
    return rc;
}

int
pb_batch_write_counters (pb_batch_t *self)
{
    int rc = 0;
    for (size_t i = 0; i < self->counter_count && rc == 0; i++) {
        uint8_t out [8];
        pl_put_be64 (out, self->counters [i].value);
        rc = pb_batch_put (self, self->store->meta, self->counters [i].key,
                           self->counters [i].ksize, out, 8, 0, "update counter");
    }
    self->counter_count = 0;
    return rc;
}
