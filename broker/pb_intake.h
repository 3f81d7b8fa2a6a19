/*  pb_intake: reading a group of messages off the ROUTER and checking them
 *  before the batch.
 *
 *  The server reads whatever waits (pb_intake_read: one frame per message,
 *  a peer in the directory, a message that unpacks), then lets the verifier
 *  pool run pb_intake_check on each: the publisher's signature and payload
 *  hash, or the receipt's shape and its one signature over all its items.
 *  The batch (pb_pipeline) then acts on what was found, in the order the
 *  messages arrived, without verifying again.  */
#ifndef PB_INTAKE_H_INCLUDED
#define PB_INTAKE_H_INCLUDED

#include "pb_broker.h"
#include "pl_envelope.h"
#include "pl_receipt.h"

typedef struct {
    zframe_t *routing_id;               //  owned; NULL only if the message had none
    zframe_t *body;                     //  owned
    bool one_frame;                     //  exactly [routing id, body]
    const pl_agency_t *peer;            //  the CURVE peer, NULL when not in the directory
    Passerelle__Message *request;       //  unpacked, or NULL with status and why
    Passerelle__Status status;
    char why [256];
    bool checked;                       //  pb_intake_check ran to its end on this item
    //  Publish, after the check
    pl_envelope_t *envelope;            //  decoded (refers into request), or NULL
    pl_err_t envelope_err;              //  decode, then signature and hash: PL_OK only when checked
    bool wrong_publisher;               //  the header names another agency than the peer
    //  Receipt, after the check
    pl_receipt_t *receipt;              //  the sender's, signed over its items; or NULL with
    pl_err_t receipt_err;               //  why it is not (shape, recipient named, signature)
} pb_inbound_t;

/*  Read up to max messages that are waiting on router, a socket whose
 *  reads do not wait (pb_gate_bind). Returns how many were read.  */
size_t pb_intake_read (pb_broker_t *broker, zsock_t *router, pb_inbound_t *items, size_t max);

/*  The verifier pool's work on one pb_inbound_t (arg unused). Touches only
 *  the item: no store, no broker state. Sets checked last.  */
void pb_intake_check (void *item, void *arg);

/*  Items checked together, by one thread: the publishes of one burst.  */
typedef struct {
    pb_inbound_t *first;
    size_t count;
} pb_intake_run_t;

/*  Split count items into runs (runs holds count at most): consecutive
 *  publishes from one peer under one signature (a burst) make one run, any
 *  other item a run of its own. Returns how many runs.  */
size_t pb_intake_runs (pb_inbound_t *items, size_t count, pb_intake_run_t *runs);

/*  The pool's work on one pb_intake_run_t: pb_intake_check on each item.  */
void pb_intake_check_run (void *run, void *arg);

/*  Release what an item holds and zero it.  */
void pb_inbound_clear (pb_inbound_t *item);

#endif
