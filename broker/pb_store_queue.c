/*  pb_store_queue: the durable per-recipient delivery queues (see the .h).
 *
 *  Four databases move together in every write:
 *    queue           agency \0 lane (1) seq (8, BE) -> the item
 *    frames          seq (8, BE)                    -> the item's Delivery frame
 *    queue_by_event  agency \0 event id             -> lane (1) seq (8)
 *    queue_due       purge_at (8, BE) + queue key   -> (empty)
 *  and two meta counters: "qseq" (the next sequence, store-wide) and
 *  "depth\0" agency (the agency's queue depth, so depth is one read).
 *  Item: flags (1: bit 0 priority, bit 1 frame apart), header hash (32),
 *  enqueued, valid until, retain until (8 each, BE), event id length (1),
 *  event id, then, without bit 1 (items written before schema 5), the
 *  Delivery frame to the end.
 *
 *  Why the frames apart: a frame is over a kilobyte, two to an LMDB page,
 *  and an item goes in at the end of its agency's run of keys, which LMDB
 *  splits half and half: with the frames in the items, a page held one
 *  item and every flush wrote a page per item (two thirds of its pages).
 *  Keyed by the store-wide sequence, every frame put is an append (pages
 *  filled, whatever the agency), and the items left are small.  */
#include <stdlib.h>
#include <string.h>
#include "pb_store_int.h"
#include "pb_store_queue.h"

#define QKEY_MAX   (PB_STORE_NAME_MAX + 1 + 1 + 8)
#define EVKEY_MAX  (PB_STORE_NAME_MAX + 1 + PB_STORE_EVENT_ID_MAX)
#define ITEM_HEAD  (1 + PB_STORE_HASH_SIZE + 8 + 8 + 8 + 1)
#define ITEM_PRIORITY     1
#define ITEM_FRAME_APART  2

static const char QSEQ [] = "qseq";

//  "depth\0" agency
static size_t
s_depth_key (uint8_t *key, const char *agency, size_t len)
{
    memcpy (key, "depth", 6);
    memcpy (key + 6, agency, len);
    return 6 + len;
}

static uint64_t
s_purge_at (uint64_t valid_until, uint64_t retain_until)
{
    return retain_until && retain_until < valid_until? retain_until: valid_until;
}

//  Parse a queue record into item (agency copied into agency_buf).
static int
s_item_parse (const MDB_val *k, const MDB_val *v, pb_queue_item_t *item, char *agency_buf)
{
    const uint8_t *key = k->mv_data, *p = v->mv_data;
    const uint8_t *nul = k->mv_size > 10? memchr (key, 0, k->mv_size - 9): NULL;
    if (!nul || (size_t) (nul - key) + 10 != k->mv_size || v->mv_size < ITEM_HEAD
    ||  v->mv_size < (size_t) ITEM_HEAD + p [ITEM_HEAD - 1])
        return -1;
    memcpy (agency_buf, key, (size_t) (nul - key) + 1);
    item->agency = agency_buf;
    item->pos.lane = nul [1];
    item->pos.seq = pl_get_be64 (nul + 2);
    item->priority = p [0] & ITEM_PRIORITY;
    item->frame_apart = p [0] & ITEM_FRAME_APART;
    item->header_hash = p + 1;
    item->enqueued_ms = pl_get_be64 (p + 1 + 32);
    item->valid_until_ms = pl_get_be64 (p + 1 + 40);
    item->retain_until_ms = pl_get_be64 (p + 1 + 48);
    item->event_id_size = p [ITEM_HEAD - 1];
    item->event_id = p + ITEM_HEAD;
    item->delivery = p + ITEM_HEAD + item->event_id_size;
    item->delivery_size = v->mv_size - ITEM_HEAD - item->event_id_size;
    if (item->frame_apart && item->delivery_size)
        return -1;
    if (item->frame_apart)
        item->delivery = NULL;              //  pb_store_queue_frame reads it
    return 0;
}

//  agency \0 event id
static size_t
s_evkey (uint8_t *key, const char *agency, size_t len, const uint8_t *id, size_t id_size)
{
    memcpy (key, agency, len);
    key [len] = 0;
    memcpy (key + len + 1, id, id_size);
    return len + 1 + id_size;
}

//  agency \0 lane seq
static size_t
s_qkey (uint8_t *key, const char *agency, size_t len, uint8_t lane, uint64_t seq)
{
    memcpy (key, agency, len);
    key [len] = 0;
    key [len + 1] = lane;
    pl_put_be64 (key + len + 2, seq);
    return len + 10;
}

int
pb_batch_queue_push (pb_batch_t *self, const char *agency,
                     const uint8_t *event_id, size_t id_size,
                     const uint8_t *header_hash, uint64_t now_ms,
                     uint64_t valid_until_ms, uint64_t retain_until_ms,
                     bool priority, const uint8_t *delivery, size_t delivery_size)
{
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    pb_store_t *store = self->store;
    size_t len = pb_store_name_len (store, agency, "agency");
    if (!len || pb_store_event_id_ok (store, event_id, id_size))
        return -1;
    if (!header_hash || (!delivery && delivery_size))
        return pb_store_fail (store, "queue push: header hash and delivery are required");
    uint8_t evkey [EVKEY_MAX], qkey [QKEY_MAX], duekey [8 + QKEY_MAX], dkey [6 + PB_STORE_NAME_MAX];
    MDB_val k = { s_evkey (evkey, agency, len, event_id, id_size), evkey }, v;
    rc = mdb_get (self->txn, store->queue_ev, &k, &v);
    if (rc == 0)
        return 1;                           //  already owed: de-duplicated
    if (rc != MDB_NOTFOUND)
        return pb_batch_lmdb_fail (self, rc, "queue push: look up event");
    bool apart = store->frames_open;        //  always, but for a store opened read-only
    size_t item_size = ITEM_HEAD + id_size + (apart? 0: delivery_size);
    if ((rc = pb_batch_room (self, item_size + (apart? 8 + delivery_size: 0) + 3 * QKEY_MAX)))
        return rc;
    uint64_t seq;
    if (pb_batch_meta_get (self, QSEQ, sizeof QSEQ - 1, &seq))
        return -1;
    uint8_t *item = malloc (item_size);
    if (!item)
        return pb_store_fail (store, "queue push: out of memory");
    item [0] = (priority? ITEM_PRIORITY: 0) | (apart? ITEM_FRAME_APART: 0);
    memcpy (item + 1, header_hash, PB_STORE_HASH_SIZE);
    pl_put_be64 (item + 1 + 32, now_ms);
    pl_put_be64 (item + 1 + 40, valid_until_ms);
    pl_put_be64 (item + 1 + 48, retain_until_ms);
    item [ITEM_HEAD - 1] = (uint8_t) id_size;
    memcpy (item + ITEM_HEAD, event_id, id_size);
    if (delivery_size && !apart)
        memcpy (item + ITEM_HEAD + id_size, delivery, delivery_size);
    size_t qlen = s_qkey (qkey, agency, len, priority? 0: 1, seq);
    pl_put_be64 (duekey, s_purge_at (valid_until_ms, retain_until_ms));
    memcpy (duekey + 8, qkey, qlen);
    rc = pb_batch_put (self, store->queue, qkey, qlen, item, item_size, MDB_NOOVERWRITE,
                       "queue push: put item");
    free (item);
    uint8_t fkey [8];
    pl_put_be64 (fkey, seq);
    if (rc == 0 && apart)
        rc = pb_batch_put (self, store->frames, fkey, 8, delivery, delivery_size,
                           MDB_APPEND | MDB_NOOVERWRITE, "queue push: put frame");
    if (rc == 0)
        rc = pb_batch_put (self, store->queue_ev, evkey, k.mv_size, qkey + len + 1, 9, 0,
                           "queue push: index event");
    if (rc == 0)
        rc = pb_batch_put (self, store->queue_due, duekey, 8 + qlen, "", 0, 0,
                           "queue push: index purge time");
    if (rc == 0)
        rc = pb_batch_meta_add (self, QSEQ, sizeof QSEQ - 1, 1);
    if (rc == 0)
        rc = pb_batch_meta_add (self, dkey, s_depth_key (dkey, agency, len), 1);
    if (rc && self->failed == 0)
        self->failed = rc;                  //  half-written: the batch cannot go on
    return rc;
}

//  Delete the item at queue key qkey (agency of len bytes) and its index
//  entries. 0, 1 absent, or a failure code.
static int
s_remove_at (pb_batch_t *self, const uint8_t *qkey, size_t qlen, size_t len)
{
    pb_store_t *store = self->store;
    MDB_val k = { qlen, (void *) qkey }, v;
    int rc = mdb_get (self->txn, store->queue, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 1;
    if (rc)
        return pb_batch_lmdb_fail (self, rc, "queue remove: read item");
    pb_queue_item_t item;
    char agency [PB_STORE_NAME_MAX + 1];
    if (s_item_parse (&k, &v, &item, agency))
        return pb_store_fail (store, "queue item damaged");
    uint8_t evkey [EVKEY_MAX], duekey [8 + QKEY_MAX], dkey [6 + PB_STORE_NAME_MAX];
    size_t evlen = s_evkey (evkey, agency, len, item.event_id, item.event_id_size);
    pl_put_be64 (duekey, s_purge_at (item.valid_until_ms, item.retain_until_ms));
    memcpy (duekey + 8, qkey, qlen);
    //  item points into the map: everything needed is copied by now
    bool apart = item.frame_apart;
    uint8_t fkey [8];
    pl_put_be64 (fkey, item.pos.seq);
    rc = pb_batch_del (self, store->queue, qkey, qlen, NULL, 0, "queue remove: delete item");
    if (rc == 0 && apart
    &&  (rc = pb_batch_del (self, store->frames, fkey, 8, NULL, 0,
                            "queue remove: delete frame")) == 1)
        pb_store_fail (store, "queue item %llu: its frame is missing (store damaged?)",
                       (unsigned long long) item.pos.seq);
    if (rc == 0)
        rc = pb_batch_del (self, store->queue_ev, evkey, evlen, NULL, 0,
                           "queue remove: delete event index");
    if (rc == 0)
        rc = pb_batch_del (self, store->queue_due, duekey, 8 + qlen, NULL, 0,
                           "queue remove: delete purge index");
    if (rc == 0)
        rc = pb_batch_meta_add (self, dkey, s_depth_key (dkey, agency, len), -1);
    if (rc && self->failed == 0)
        self->failed = rc < 0? rc: -1;      //  an index missing: the store is inconsistent
    return rc;
}

int
pb_batch_queue_remove (pb_batch_t *self, const char *agency,
                       const uint8_t *event_id, size_t id_size)
{
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    size_t len = pb_store_name_len (self->store, agency, "agency");
    if (!len || pb_store_event_id_ok (self->store, event_id, id_size))
        return -1;
    uint8_t evkey [EVKEY_MAX], qkey [QKEY_MAX];
    MDB_val k = { s_evkey (evkey, agency, len, event_id, id_size), evkey }, v;
    rc = mdb_get (self->txn, self->store->queue_ev, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 1;
    if (rc)
        return pb_batch_lmdb_fail (self, rc, "queue remove: look up event");
    if (v.mv_size != 9)
        return pb_store_fail (self->store, "queue event index damaged");
    memcpy (qkey, agency, len);
    qkey [len] = 0;
    memcpy (qkey + len + 1, v.mv_data, 9);
    return s_remove_at (self, qkey, len + 10, len);
}

int
pb_store_queue_find (pb_store_t *self, const char *agency,
                     const uint8_t *event_id, size_t id_size, uint8_t *header_hash)
{
    size_t len = pb_store_name_len (self, agency, "agency");
    if (!len || pb_store_event_id_ok (self, event_id, id_size))
        return -1;
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    uint8_t evkey [EVKEY_MAX], qkey [QKEY_MAX];
    MDB_val k = { s_evkey (evkey, agency, len, event_id, id_size), evkey }, v;
    int rc = mdb_get (txn, self->queue_ev, &k, &v);
    int result = rc == MDB_NOTFOUND? 1: rc? pb_store_lmdb_fail (self, rc, "queue find"): 0;
    if (result == 0 && v.mv_size == 9) {
        memcpy (qkey, agency, len);
        qkey [len] = 0;
        memcpy (qkey + len + 1, v.mv_data, 9);
        k.mv_size = len + 10;
        k.mv_data = qkey;
        rc = mdb_get (txn, self->queue, &k, &v);
        if (rc || v.mv_size < ITEM_HEAD)
            result = pb_store_fail (self, "queue find: item missing or damaged");
        else
            memcpy (header_hash, (uint8_t *) v.mv_data + 1, PB_STORE_HASH_SIZE);
    }
    else
    if (result == 0)
        result = pb_store_fail (self, "queue event index damaged");
    pb_store_read_end (self, txn);
    return result;
}

int
pb_store_queue_each (pb_store_t *self, const char *agency, const pb_queue_pos_t *from,
                     size_t max, pb_queue_item_fn *fn, void *arg)
{
    size_t len = pb_store_name_len (self, agency, "agency");
    if (!len)
        return -1;
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->queue, &cursor);
    if (rc) {
        pb_store_read_end (self, txn);
        return pb_store_lmdb_fail (self, rc, "open queue cursor");
    }
    uint8_t qkey [QKEY_MAX];
    char agency_buf [PB_STORE_NAME_MAX + 1];
    MDB_val k = { s_qkey (qkey, agency, len, from? from->lane: 0, from? from->seq: 0), qkey }, v;
    int result = 0;
    size_t count = 0;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
         rc == 0 && result == 0 && (max == 0 || count < max);
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT), count++) {
        if (k.mv_size != len + 10 || memcmp (k.mv_data, qkey, len + 1) != 0)
            break;                          //  past this agency's items
        pb_queue_item_t item;
        if (s_item_parse (&k, &v, &item, agency_buf)) {
            result = pb_store_fail (self, "queue item damaged");
            break;
        }
        MDB_txn *outer = self->walk_txn;        //  a walk inside a callback
        self->walk_txn = txn;
        result = fn (&item, arg);
        self->walk_txn = outer;
    }
    if (result == 0 && rc && rc != MDB_NOTFOUND)
        result = pb_store_lmdb_fail (self, rc, "walk queue");
    mdb_cursor_close (cursor);
    pb_store_read_end (self, txn);
    return result;
}

int
pb_store_queue_frame (pb_store_t *self, const pb_queue_item_t *item,
                      const uint8_t **frame, size_t *size)
{
    if (!item->frame_apart) {
        *frame = item->delivery;
        *size = item->delivery_size;
        return 0;
    }
    if (!self->frames_open)
        return pb_store_fail (self, "queue frame: this store has no frames database (opened "
                              "read-only before a broker of schema 5 wrote to it?)");
    if (!self->walk_txn)
        return pb_store_fail (self, "queue frame: read outside a queue walk");
    uint8_t fkey [8];
    pl_put_be64 (fkey, item->pos.seq);
    MDB_val k = { 8, fkey }, v;
    int rc = mdb_get (self->walk_txn, self->frames, &k, &v);
    if (rc == MDB_NOTFOUND)
        return pb_store_fail (self, "queue frame %llu missing (store damaged?)",
                              (unsigned long long) item->pos.seq);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "queue frame: read");
    *frame = v.mv_data;
    *size = v.mv_size;
    return 0;
}

uint64_t
pb_store_queue_depth (pb_store_t *self, const char *agency)
{
    size_t len = pb_store_name_len (self, agency, "agency");
    uint8_t dkey [6 + PB_STORE_NAME_MAX];
    uint64_t depth;
    if (!len || pb_store_counter_get (self, dkey, s_depth_key (dkey, agency, len), &depth))
        return 0;
    return depth;
}

uint64_t
pb_store_queue_total (pb_store_t *self)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return 0;
    MDB_stat st;
    uint64_t total = mdb_stat (txn, self->queue, &st) == 0? st.ms_entries: 0;
    pb_store_read_end (self, txn);
    return total;
}

int
pb_batch_queue_drop (pb_batch_t *self, const char *agency, uint64_t *dropped)
{
    *dropped = 0;
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    size_t len = pb_store_name_len (self->store, agency, "agency");
    if (!len)
        return -1;
    uint8_t qkey [QKEY_MAX];
    while (true) {
        //  Seek afresh each time: deleting under a cursor is not worth its quirks
        MDB_val k = { s_qkey (qkey, agency, len, 0, 0), qkey }, v;
        MDB_cursor *cursor;
        rc = mdb_cursor_open (self->txn, self->store->queue, &cursor);
        if (rc)
            return pb_batch_lmdb_fail (self, rc, "queue drop: open cursor");
        rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
        bool mine = rc == 0 && k.mv_size == len + 10 && memcmp (k.mv_data, qkey, len + 1) == 0;
        if (mine)
            memcpy (qkey, k.mv_data, len + 10);
        mdb_cursor_close (cursor);
        if (rc && rc != MDB_NOTFOUND)
            return pb_batch_lmdb_fail (self, rc, "queue drop: walk");
        if (!mine)
            return 0;
        if ((rc = s_remove_at (self, qkey, len + 10, len)))
            return rc;
        (*dropped)++;
    }
}

//  Walk queue_due up to now in txn; fn gets each item.
static int
s_walk_due (pb_store_t *self, MDB_txn *txn, uint64_t now_ms, size_t max,
            pb_queue_item_fn *fn, void *arg)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->queue_due, &cursor);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "open purge cursor");
    MDB_val k, v;
    int result = 0;
    size_t count = 0;
    char agency_buf [PB_STORE_NAME_MAX + 1];
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
         rc == 0 && result == 0 && (max == 0 || count < max);
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT), count++) {
        if (k.mv_size < 8 || pl_get_be64 (k.mv_data) > now_ms)
            break;
        MDB_val qk = { k.mv_size - 8, (uint8_t *) k.mv_data + 8 }, qv;
        pb_queue_item_t item;
        int grc = mdb_get (txn, self->queue, &qk, &qv);
        if (grc || s_item_parse (&qk, &qv, &item, agency_buf)) {
            result = pb_store_fail (self, "purge index names a missing or damaged item");
            break;
        }
        MDB_txn *outer = self->walk_txn;        //  a walk inside a callback
        self->walk_txn = txn;
        result = fn (&item, arg);
        self->walk_txn = outer;
    }
    if (result == 0 && rc && rc != MDB_NOTFOUND)
        result = pb_store_lmdb_fail (self, rc, "walk purge index");
    mdb_cursor_close (cursor);
    return result;
}

int
pb_store_queue_due (pb_store_t *self, uint64_t now_ms, size_t max,
                    pb_queue_item_fn *fn, void *arg)
{
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    int result = s_walk_due (self, txn, now_ms, max, fn, arg);
    pb_store_read_end (self, txn);
    return result;
}

//  Copies of due items, so that they outlive their deletion
typedef struct {
    pb_queue_item_t *items;
    char **agencies;
    uint8_t **blobs;
    size_t count, room;
} s_copies_t;

static int
s_copy_item (const pb_queue_item_t *item, void *arg)
{
    s_copies_t *c = arg;
    if (c->count == c->room) {
        size_t room = c->room? c->room * 2: 64;
        pb_queue_item_t *items = realloc (c->items, room * sizeof *items);
        if (items)
            c->items = items;
        char **agencies = realloc (c->agencies, room * sizeof *agencies);
        if (agencies)
            c->agencies = agencies;
        uint8_t **blobs = realloc (c->blobs, room * sizeof *blobs);
        if (blobs)
            c->blobs = blobs;
        if (!items || !agencies || !blobs)
            return -1;
        c->room = room;
    }
    size_t blob_size = PB_STORE_HASH_SIZE + item->event_id_size + item->delivery_size;
    char *agency = strdup (item->agency);
    uint8_t *blob = malloc (blob_size);
    if (!agency || !blob) {
        free (agency);
        free (blob);
        return -1;
    }
    memcpy (blob, item->header_hash, PB_STORE_HASH_SIZE);
    memcpy (blob + 32, item->event_id, item->event_id_size);
    if (item->delivery_size)
        memcpy (blob + 32 + item->event_id_size, item->delivery, item->delivery_size);
    pb_queue_item_t *copy = &c->items [c->count];
    *copy = *item;
    copy->agency = agency;
    copy->header_hash = blob;
    copy->event_id = blob + 32;
    copy->delivery = blob + 32 + item->event_id_size;
    c->agencies [c->count] = agency;
    c->blobs [c->count] = blob;
    c->count++;
    return 0;
}

int
pb_batch_queue_purge_due (pb_batch_t *self, uint64_t now_ms, size_t max,
                          pb_queue_item_fn *fn, void *arg, uint64_t *purged)
{
    *purged = 0;
    int rc = pb_batch_usable (self);
    if (rc)
        return rc;
    s_copies_t copies = { 0 };
    rc = s_walk_due (self->store, self->txn, now_ms, max, s_copy_item, &copies);
    if (rc && self->store->error [0] == 0)
        pb_store_fail (self->store, "queue purge: out of memory");
    uint8_t qkey [QKEY_MAX];
    for (size_t i = 0; rc == 0 && i < copies.count; i++) {
        const pb_queue_item_t *item = &copies.items [i];
        size_t len = strlen (item->agency);
        rc = s_remove_at (self, qkey, s_qkey (qkey, item->agency, len, item->pos.lane,
                                              item->pos.seq), len);
        if (rc == 0)
            (*purged)++;
    }
    for (size_t i = 0; rc == 0 && fn && i < copies.count; i++)
        rc = fn (&copies.items [i], arg);
    for (size_t i = 0; i < copies.count; i++) {
        free (copies.agencies [i]);
        free (copies.blobs [i]);
    }
    free (copies.items);
    free (copies.agencies);
    free (copies.blobs);
    return rc;
}
