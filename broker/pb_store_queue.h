/*  pb_store_queue: the durable per-recipient delivery queues.
 *
 *  What the broker owes each agency: packed Delivery frames (the envelope as
 *  received: header, sealed keys, ciphertext; or a broker Notice), kept until
 *  the recipient's signed receipt removes them, replayed in order each time
 *  the agency says Hello, and purged when due. Replaces the in-memory
 *  pb_queue behind the same operations:
 *
 *      pb_queue_push    -> pb_batch_queue_push
 *      pb_queue_find    -> pb_store_queue_find
 *      pb_queue_remove  -> pb_batch_queue_remove
 *      pb_queue_at      -> pb_store_queue_each (from a position, in order)
 *      pb_queue_depth   -> pb_store_queue_depth, pb_queue_total -> _total
 *      pb_queue_drop    -> pb_batch_queue_drop
 *      (new)            -> pb_batch_queue_purge_due: expiry and retention
 *
 *  Order: two lanes per agency; priority items (risk escalations) before all
 *  others, each lane in arrival order (a store-wide increasing sequence).
 *  De-duplication: an agency holds an event id at most once.
 *
 *  Payloads. These queued frames are the only place the store holds any
 *  payload (ciphertext); the log never held one. So retention is done here:
 *  each item carries a purge time, min (valid_until, retain_until), where
 *  retain_until is what the broker computes from the policy's retention for
 *  the event's categories. pb_batch_queue_purge_due removes every item whose
 *  purge time has come; the broker logs each (expiry or retention) and
 *  tells the publisher. A receipt deletes the item anyway.  */
#ifndef PB_STORE_QUEUE_H_INCLUDED
#define PB_STORE_QUEUE_H_INCLUDED

#include "pb_store.h"

//  Where an item sits in its agency's queue; {0, 0} is the start.
typedef struct {
    uint8_t lane;                   //  0 priority, 1 normal
    uint64_t seq;
} pb_queue_pos_t;

typedef struct {
    const char *agency;
    const uint8_t *event_id;
    size_t event_id_size;
    const uint8_t *header_hash;     //  PB_STORE_HASH_SIZE: what the receipt must name
    uint64_t enqueued_ms;
    uint64_t valid_until_ms;
    uint64_t retain_until_ms;
    bool priority;
    bool frame_apart;               //  the frame is in the frames database: read it with
                                    //  pb_store_queue_frame (delivery is NULL, size 0)
    const uint8_t *delivery;        //  the packed Delivery frame, when held in the item
    size_t delivery_size;
    pb_queue_pos_t pos;             //  resume after this item with pos.seq + 1
} pb_queue_item_t;

//  Called per item; the item is valid during the call only. Non-zero stops.
typedef int (pb_queue_item_fn) (const pb_queue_item_t *item, void *arg);

//  Owe delivery to agency. retain_until_ms 0: keep until valid_until.
//  0; 1 when agency already holds this event id (nothing written: the
//  de-duplication); PB_STORE_NO_ROOM past the publish limit; -1; FULL.
int pb_batch_queue_push (pb_batch_t *self, const char *agency,
                         const uint8_t *event_id, size_t id_size,
                         const uint8_t *header_hash, uint64_t now_ms,
                         uint64_t valid_until_ms, uint64_t retain_until_ms,
                         bool priority, const uint8_t *delivery, size_t delivery_size);

//  Forget (agency, event) after its receipt: 0 removed, 1 was not owed.
int pb_batch_queue_remove (pb_batch_t *self, const char *agency,
                           const uint8_t *event_id, size_t id_size);

//  The header hash owed for (agency, event) into header_hash: 0; 1 not owed.
int pb_store_queue_find (pb_store_t *self, const char *agency,
                         const uint8_t *event_id, size_t id_size, uint8_t *header_hash);

//  Items of agency from position from (NULL: the start), in order, at most
//  max (0: all). The callback must not write to the store.
int pb_store_queue_each (pb_store_t *self, const char *agency, const pb_queue_pos_t *from,
                         size_t max, pb_queue_item_fn *fn, void *arg);

//  The item's packed Delivery frame, wherever it is kept: only inside the
//  callback of pb_store_queue_each or pb_store_queue_due, valid during the
//  call. 0, or -1 with the reason (a frame missing: the store is damaged).
int pb_store_queue_frame (pb_store_t *self, const pb_queue_item_t *item,
                          const uint8_t **frame, size_t *size);

uint64_t pb_store_queue_depth (pb_store_t *self, const char *agency);
uint64_t pb_store_queue_total (pb_store_t *self);

//  Drop everything owed to agency (revoked); *dropped gets how many.
int pb_batch_queue_drop (pb_batch_t *self, const char *agency, uint64_t *dropped);

//  List, without removing, up to max (0: all) items whose purge time
//  (min of valid_until, retain_until) is <= now_ms, earliest first.
int pb_store_queue_due (pb_store_t *self, uint64_t now_ms, size_t max,
                        pb_queue_item_fn *fn, void *arg);

//  Remove up to max (0: all) due items in this batch, then call fn for
//  each removed one (a copy: fn may write to the batch, e.g. log the
//  expiry). *purged gets how many. Works past the publish limit.
int pb_batch_queue_purge_due (pb_batch_t *self, uint64_t now_ms, size_t max,
                              pb_queue_item_fn *fn, void *arg, uint64_t *purged);

#endif
