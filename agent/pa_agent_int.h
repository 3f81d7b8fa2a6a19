/*  pa_agent_int: the agent's state, shared by the actor's parts.
 *
 *  Private to agent/: pa_agent.c owns it (broker link, deliveries, the
 *  sockets), pa_control.c answers the control socket's requests, and
 *  pa_publisher.c works on it (outbox, publishing, the broker's answers).  */
#ifndef PA_AGENT_INT_H_INCLUDED
#define PA_AGENT_INT_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include "pa_burst.h"
#include "pa_config.h"
#include "pa_store.h"
#include "pl_burst.h"
#include "pl_directory.h"
#include "pl_keys.h"
#include "pl_receipt.h"
#include "passerelle.pb-c.h"

typedef struct {
    zframe_t *routing_id;           //  the CLI (or API caller) waiting
    uint8_t event_id [16];
    uint64_t deadline_ms;
    uint64_t inbox_after;           //  for inbox waiters
    size_t inbox_max;
} pa_waiter_t;

typedef struct {
    zsock_t *pipe;
    pa_config_t *config;
    zloop_t *loop;
    pl_keys_t *keys;
    zcert_t *cert;
    char broker_z85 [41];
    uint8_t broker_key [32];        //  verifies the broker's notices and checkpoints
    char origin [PL_ID_MAX + 32];   //  the broker's log name in checkpoints
    zsock_t *dealer;
    zactor_t *monitor;
    zsock_t *control;
    int lock_fd;                    //  flock on state/agent.lock: one agent per state
    pa_store_t *store;              //  outbox, inbox, sequence, checkpoint
    pl_directory_t *directory;      //  from the broker's Welcome, kept on disk too
    zlistx_t *publishes;            //  pa_waiter_t: callers awaiting a PublishAck
    zlistx_t *inbox_waiters;        //  pa_waiter_t: callers long-polling the inbox
    zlistx_t *proofs;               //  pa_waiter_t: callers awaiting an inclusion proof
    uint64_t legacy_sequence;       //  from an old state/sequence file, if any
    bool connected;
    bool refusal_logged;
    uint64_t last_heard_ms;
    char log_alarm [400];           //  non-empty: the broker's log failed verification
    //  Deliveries kept but not yet receipted: one signed Receipt for what
    //  arrived within RECEIPT_LINGER_MS (pa_agent.c), not one per event
    pl_receipt_batch_t receipts;
    int receipt_timer;              //  zloop timer sending them, or -1
    size_t receipt_bytes;           //  about how many bytes of deliveries they stand for
    pa_burst_t *burst;              //  deliveries of this burst, kept by one commit
    pl_burst_seen_t bursts_seen;    //  publishers' signed bursts already verified
    //  Outbox events about to be sent, signed together when they go
    //  (pa_publisher_send): the envelopes are ours, copies of the outbox's
    struct {
        uint8_t *envelope [PL_BURST_MAX];
        size_t size [PL_BURST_MAX];
        uint8_t event_id [PL_BURST_MAX][16];
        uint32_t attempts [PL_BURST_MAX];
        size_t count, bytes;
    } sending;
    int send_timer;                 //  zloop timer sending them, or -1
    struct {
        uint64_t published, accepted, refused, delivered, duplicates, undecryptable,
                 connects, retries, checkpoints, bursts, burst_events;
    } counts;
} pa_agent_t;

/*  Reply to a control caller with a JSON object (consumed).  */
void pa_agent_reply (pa_agent_t *self, zframe_t *routing_id, json_t *reply);
void pa_agent_reply_error (pa_agent_t *self, zframe_t *routing_id, const char *code,
                           const char *message);
int pa_agent_send_broker (pa_agent_t *self, Passerelle__Message *msg);

/*  pa_control.c: the control socket's reader (zloop), and the inbox
 *  callers' answers once news came or their wait is over.  */
int pa_control_handle (zloop_t *loop, zsock_t *control, void *arg);
void pa_control_answer_inbox_waiters (pa_agent_t *self, bool timed_out_only);

/*  pa_publisher.c  */
void pa_publisher_request (pa_agent_t *self, zframe_t *routing_id, json_t *request);
void pa_publisher_ack (pa_agent_t *self, Passerelle__PublishAck *ack);
/*  Send what the outbox holds that is due (all of it when everything is).  */
void pa_publisher_flush (pa_agent_t *self, bool everything);
/*  Send the events accepted and not sent yet, as one signed burst. The
 *  control handler calls it once no request is waiting, so that requests
 *  that arrive together go together; a timer, 2 ms after the first.  */
void pa_publisher_send (pa_agent_t *self);
/*  Answer callers whose broker answer did not come in time.  */
void pa_publisher_expire_waiters (pa_agent_t *self, uint64_t now_ms);
/*  {"op":"proof","event_id":HEX}: ask the broker to prove one of our
 *  accepted events is in its log; the answer is verified before replying.  */
void pa_publisher_proof_request (pa_agent_t *self, zframe_t *routing_id, json_t *request);
void pa_publisher_proof_answer (pa_agent_t *self, Passerelle__Proof *proof);

/*  {"op":"outcome","event_id":HEX}: what became of one of our events.  */
void pa_publisher_outcome (pa_agent_t *self, zframe_t *routing_id, json_t *request);

#endif
