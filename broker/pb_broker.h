/*  pb_broker: the broker's state, shared by the server actor and the pipeline.
 *
 *  Private to broker/: pb_server owns it (sockets, peers, timers, reload)
 *  and pb_pipeline works on it (publish, receipt, expiry), always inside the
 *  one store batch the server has open. Nothing is sent while a batch is
 *  open: every outgoing frame is deferred, and the server sends them only
 *  after the batch commits, so no publisher is acknowledged and no agency
 *  receives anything that is not durably in the store and the log.  */
#ifndef PB_BROKER_H_INCLUDED
#define PB_BROKER_H_INCLUDED

#include <czmq.h>
#include "pb_config.h"
#include "pb_escalation.h"
#include "pb_journal.h"
#include "pb_sharing.h"
#include "pb_store.h"
#include "pb_store_queue.h"
#include "pb_store_state.h"
#include "pl_directory.h"
#include "pl_keys.h"

typedef struct {
    char agency [PL_ID_MAX + 1];
    zframe_t *routing_id;
    uint64_t last_seen_ms;
    uint64_t checkpoint_size;       //  the newest tree size this agent has verified
    zhashx_t *in_flight;            //  event ids (hex) sent, not yet receipted -> their size
    size_t in_flight_bytes;         //  the sum of those sizes
    bool backlog;                   //  the queue holds items not sent yet
} pb_client_t;

typedef struct {
    pb_config_t *config;
    pl_keys_t *keys;
    pl_directory_t *directory;
    pb_store_t *store;
    pb_sharing_t *sharing;
    pb_escalation_t *escalations;   //  priority items not yet receipted
    zhashx_t *clients;              //  routing id (hex) -> pb_client_t
    pb_batch_t *batch;              //  open while a group of messages is handled
    bool spoilt;                    //  a write failed mid-event: abort, never commit
    bool spoilt_by_space;           //  ... because the store is full
    zlistx_t *deferred;             //  what to send once the batch commits
    char origin [PL_ID_MAX + 32];   //  the log's name in checkpoints
    uint64_t checkpoint_size;       //  tree size of the newest checkpoint
    char *checkpoint_note;          //  ... and the note itself
    struct {
        uint64_t accepted, refused, receipts, denied_recipients, expired;
    } counts;
} pb_broker_t;

/*  Send frame to a peer after commit. An acknowledgement names its event so
 *  that a failed commit can turn it into a refusal.  */
void pb_broker_defer_reply (pb_broker_t *self, zframe_t *routing_id, Passerelle__Message *msg,
                            const uint8_t *ack_event_id);

/*  Deliver *frame_p (event or notice id) to agency after commit, if it is
 *  connected and has credit (it is in the durable queue anyway). Takes the
 *  frame and nulls the caller's pointer: a caller sending one frame to
 *  several agencies hands a zframe_dup to all but the last.  */
void pb_broker_defer_delivery (pb_broker_t *self, const char *agency, const uint8_t *id,
                               zframe_t **frame_p);

/*  agency receipted id: its connection gets the credit back.  */
void pb_broker_receipted (pb_broker_t *self, const char *agency, const uint8_t *id);

/*  Queue a broker notice for agency (durable, logged) in the open batch.  */
int pb_broker_notice (pb_broker_t *self, const char *agency, const char *kind,
                      const char *case_ref, const char *consent_id, const uint8_t *event_id,
                      const char *about, const char *text);

/*  Append a log entry (as pb_journal made it) to the open batch; 0 or the
 *  store's error code (the batch is then marked spoilt).  */
int pb_broker_log (pb_broker_t *self, const pb_entry_t *entry, uint64_t *index);

#endif
