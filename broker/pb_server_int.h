/*  pb_server_int: what the broker actor's two files share (not an API).
 *
 *  pb_server.c is the actor: start and stop, the pipe, timers (checkpoints,
 *  expiry, escalations, gaps), reload. pb_server_batch.c is the ROUTER
 *  side: reading groups of messages, one batch and one commit per group,
 *  and sending what a batch produced, within each peer's credit.  */
#ifndef PB_SERVER_INT_H_INCLUDED
#define PB_SERVER_INT_H_INCLUDED

#include "pb_broker.h"
#include "pb_gate.h"
#include "pb_intake.h"
#include "pb_verifier.h"

#define CLIENT_TIMEOUT_MS   10000   //  forget a peer silent this long
#define GROUP_MAX           512     //  messages handled in one batch at most
#define GROUP_ROUNDS        16      //  batches in a row before timers get a turn
#define INDEX_SLICE         512     //  log entries indexed in a quiet moment
#define QUIET_ROUND         8       //  messages a quiet moment's round handled at most
#define MAPPED_BUDGET       (24u << 20) //  file-backed resident bytes before the map is trimmed
#define TRIM_EVERY_MS       5       //  how often that is looked at (a statm read)

typedef enum { DEFER_REPLY, DEFER_DELIVERY, DEFER_REPLAY, DEFER_PROOF } defer_kind_t;

typedef struct {
    defer_kind_t kind;
    zframe_t *routing_id;           //  reply, replay: the peer
    char agency [PL_ID_MAX + 1];    //  delivery: the recipient
    zframe_t *body;
    bool is_ack;                    //  an OK acknowledgement: refused if the commit fails
    uint8_t event_id [PL_EVENT_ID_SIZE];    //  ack: its event; delivery: the item's id
} deferred_t;

typedef struct {
    pb_inbound_t items [GROUP_MAX];
    size_t count;
    pb_intake_run_t runs [GROUP_MAX];   //  what the pool checks: items in runs of one burst
} group_t;

typedef struct {
    pb_broker_t broker;             //  first: the pipeline sees only this
    zsock_t *pipe;
    zloop_t *loop;
    zcert_t *cert;
    pb_gate_t *gate;
    zsock_t *router;
    pb_verifier_t *verifier;        //  signature checks on the other cores
    group_t *groups [2];            //  the group being committed, the next being checked
    int64_t trim_checked_ms;        //  when the map's resident pages were last looked at
} server_t;

//  Sending now (replies that need no commit)
int pb_server_send_frame (server_t *self, zframe_t *routing_id, zframe_t *body);
int pb_server_send (server_t *self, zframe_t *routing_id, Passerelle__Message *msg);
void pb_server_send_error (server_t *self, zframe_t *routing_id, Passerelle__Status status,
                           const char *reason);
void pb_server_send_welcome (server_t *self, zframe_t *routing_id, uint64_t checkpoint_size);

//  Open a batch; commit it and send what it produced (or refusals)
int pb_server_begin (server_t *self);
void pb_server_commit (server_t *self);

//  The ROUTER is readable: groups of messages, each one batch
int pb_server_handle_router (zloop_t *loop, zsock_t *router, void *arg);

//  Peers
void pb_server_forget_client (server_t *self, pb_client_t *client, const char *why);
void pb_server_client_destroy (void **item_p);
void pb_server_deferred_destroy (void **item_p);

//  In pb_server.c: a proof request, answered after the batch commits
void pb_server_handle_proof_request (server_t *self, zframe_t *routing_id, const pl_agency_t *peer,
                                     Passerelle__ProofRequest *request);

#endif
