/*  pb_server: the broker actor: peers, group commit, timers, reload.
 *
 *  Group commit. When the ROUTER socket is readable we take every message
 *  waiting (up to GROUP_MAX) into one store batch, handle them all
 *  (pb_pipeline), commit once (one fsync), and only then send what they
 *  produced: acknowledgements, deliveries, notices. Events that arrive while
 *  a commit is in progress simply wait in the socket and share the next one.
 *  If the commit fails, every acknowledgement becomes a refusal (the agents
 *  retry from their outboxes) and the in-memory registries are rebuilt from
 *  the store, so nothing is ever acknowledged that is not on disk.
 *
 *  Identity comes only from ZAP: libzmq stamps each frame with the User-Id
 *  that zauth accepted (the peer's Z85 CURVE key), mapped to an agency
 *  through the directory. Nothing a peer says about itself is trusted.  */
#include <sys/stat.h>
#include <errno.h>
#include "pb_server.h"
#include "pb_broker.h"
#include "pb_checkpoints.h"
#include "pb_gate.h"
#include "pb_journal.h"
#include "pb_intake.h"
#include "pb_pipeline.h"
#include "pb_verifier.h"
#include "pl_checkpoint.h"
#include "pl_envelope.h"
#include "pl_daemon.h"
#include "pl_log.h"
#include "pl_merkle.h"
#include "pl_wire.h"

#define CLIENT_TIMEOUT_MS   10000   //  forget a peer silent this long
#define GROUP_MAX           512     //  messages handled in one batch at most
#define GROUP_ROUNDS        16      //  batches in a row before timers get a turn
#define MAPPED_BUDGET       (24u << 20) //  file-backed resident bytes before the map is trimmed
#define TRIM_EVERY_MS       20      //  how often that is looked at (a statm read)

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

//  --------------------------------------------------------------------------
//  Sending, now or after the commit

static int
s_send_frame (server_t *self, zframe_t *routing_id, zframe_t *body)
{
    zmsg_t *out = zmsg_new ();
    zmsg_append (out, &(zframe_t *) { zframe_dup (routing_id) });
    zmsg_append (out, &(zframe_t *) { zframe_dup (body) });
    int rc = zmsg_send (&out, self->router);
    zmsg_destroy (&out);
    return rc;
}

static int
s_send (server_t *self, zframe_t *routing_id, Passerelle__Message *msg)
{
    zframe_t *body = pl_wire_pack (msg);
    int rc = body? s_send_frame (self, routing_id, body): -1;
    zframe_destroy (&body);
    return rc;
}

static void
s_deferred_destroy (void **item_p)
{
    deferred_t *item = *item_p;
    if (item) {
        zframe_destroy (&item->routing_id);
        zframe_destroy (&item->body);
        free (item);
        *item_p = NULL;
    }
}

void
pb_broker_defer_reply (pb_broker_t *self, zframe_t *routing_id, Passerelle__Message *msg,
                       const uint8_t *ack_event_id)
{
    deferred_t *item = calloc (1, sizeof *item);
    if (!item || !(item->body = pl_wire_pack (msg))) {
        free (item);
        return;
    }
    item->kind = DEFER_REPLY;
    item->routing_id = zframe_dup (routing_id);
    if (ack_event_id) {
        item->is_ack = true;
        memcpy (item->event_id, ack_event_id, PL_EVENT_ID_SIZE);
    }
    zlistx_add_end (self->deferred, item);
}

void
pb_broker_defer_delivery (pb_broker_t *self, const char *agency, const uint8_t *id, zframe_t *frame)
{
    deferred_t *item = calloc (1, sizeof *item);
    if (!item)
        return;
    item->kind = DEFER_DELIVERY;
    snprintf (item->agency, sizeof item->agency, "%s", agency);
    memcpy (item->event_id, id, PL_EVENT_ID_SIZE);
    item->body = zframe_dup (frame);
    zlistx_add_end (self->deferred, item);
}

static pb_client_t *s_client_of_agency (pb_broker_t *self, const char *agency);

void
pb_broker_receipted (pb_broker_t *self, const char *agency, const uint8_t *id)
{
    pb_client_t *client = s_client_of_agency (self, agency);
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    if (client)
        zhashx_delete (client->in_flight, pl_event_id_hex (id, hex));
}

int
pb_broker_log (pb_broker_t *self, uint8_t *bytes, size_t size, uint64_t *index)
{
    uint64_t ignored;
    int rc = bytes? pb_batch_log_append (self->batch, bytes, size, index? index: &ignored): -1;
    if (rc != 0)
        self->spoilt = true;
    return rc;
}

//  --------------------------------------------------------------------------
//  Peers

static void
s_client_destroy (void **item_p)
{
    pb_client_t *client = *item_p;
    if (client) {
        zhashx_destroy (&client->in_flight);
        zframe_destroy (&client->routing_id);
        free (client);
        *item_p = NULL;
    }
}

static pb_client_t *
s_client_of_agency (pb_broker_t *self, const char *agency)
{
    zhashx_t *clients = self->clients;
    for (pb_client_t *c = zhashx_first (clients); c; c = zhashx_next (clients))
        if (strcmp (c->agency, agency) == 0)
            return c;
    return NULL;
}

static void
s_forget_client (server_t *self, pb_client_t *client, const char *why)
{
    log_info ("agency %s disconnected (%s)", client->agency, why);
    char *key = zframe_strhex (client->routing_id);
    zhashx_delete (self->broker.clients, key);
    free (key);
}

//  Send one owed item if the connection has credit; 1 when it has none left.
static int
s_send_owed (server_t *self, pb_client_t *client, const uint8_t *id, zframe_t *body)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (id, hex);
    if (zhashx_lookup (client->in_flight, hex))
        return 0;                   //  already out, awaiting its receipt
    if (zhashx_size (client->in_flight) >= PB_DELIVERY_WINDOW) {
        client->backlog = true;
        return 1;
    }
    if (s_send_frame (self, client->routing_id, body) != 0)
        return -1;
    zhashx_insert (client->in_flight, hex, "");
    return 0;
}

typedef struct {
    server_t *server;
    pb_client_t *client;
    int rc;
} refill_t;

static int
s_refill_item (const pb_queue_item_t *item, void *arg)
{
    refill_t *refill = arg;
    if (item->event_id_size != PL_EVENT_ID_SIZE)
        return 0;
    zframe_t *body = zframe_new (item->delivery, item->delivery_size);
    refill->rc = s_send_owed (refill->server, refill->client, item->event_id, body);
    zframe_destroy (&body);
    return refill->rc != 0;
}

//  Give a connection what it is owed, oldest (and escalations) first, up to
//  its credit. The items in flight sit at the head of the queue, so the walk
//  to the first unsent one stays short.
static void
s_refill (server_t *self, pb_client_t *client)
{
    if (!client->backlog)
        return;
    refill_t refill = { self, client, 0 };
    pb_store_queue_each (self->broker.store, client->agency, NULL, 0, s_refill_item, &refill);
    if (refill.rc < 0)
        s_forget_client (self, client, "unreachable");
    else
        client->backlog = refill.rc == 1;
}

//  A (re)connected agency: everything owed is sent again from the start.
static void
s_replay_queue (server_t *self, pb_client_t *client)
{
    zhashx_purge (client->in_flight);
    client->backlog = true;
    s_refill (self, client);
}

static void
s_send_welcome (server_t *self, zframe_t *routing_id, uint64_t checkpoint_size)
{
    uint8_t proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    Passerelle__Checkpoint checkpoint;
    pb_checkpoints_fill (&self->broker, &checkpoint, checkpoint_size, proof);
    Passerelle__Welcome welcome = PASSERELLE__WELCOME__INIT;
    welcome.version = PL_PROTOCOL_VERSION;
    welcome.broker = (char *) pl_keys_id (self->broker.keys);
    welcome.broker_time_ms = pl_now_ms ();
    welcome.directory = pl_directory_to_wire (self->broker.directory, &welcome.n_directory);
    welcome.checkpoint = self->broker.checkpoint_note? &checkpoint: NULL;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_WELCOME;
    msg.welcome = &welcome;
    s_send (self, routing_id, &msg);
    pl_directory_wire_free (welcome.directory, welcome.n_directory);
}

static void
s_handle_hello (server_t *self, zframe_t *routing_id, const pl_agency_t *peer,
                Passerelle__Hello *hello)
{
    if (hello->agency && *hello->agency && strcmp (hello->agency, peer->id) != 0)
        log_warn ("agency %s said hello as '%.64s': using the authenticated identity",
                  peer->id, hello->agency);
    //  One live connection per agency: the newest wins
    pb_client_t *old = s_client_of_agency (&self->broker, peer->id);
    if (old && !zframe_eq (old->routing_id, routing_id))
        s_forget_client (self, old, "replaced by a new connection");
    char *key = zframe_strhex (routing_id);
    pb_client_t *client = zhashx_lookup (self->broker.clients, key);
    if (!client) {
        client = calloc (1, sizeof *client);
        snprintf (client->agency, sizeof client->agency, "%s", peer->id);
        client->routing_id = zframe_dup (routing_id);
        client->in_flight = zhashx_new ();
        zhashx_insert (self->broker.clients, key, client);
        log_info ("agency %s connected (%llu deliveries waiting)", peer->id,
                  (unsigned long long) pb_store_queue_depth (self->broker.store, peer->id));
    }
    free (key);
    client->last_seen_ms = pl_now_ms ();
    s_send_welcome (self, routing_id, hello->checkpoint_size);
    //  What this agent verified is what the next proof must start from
    client->checkpoint_size = self->broker.checkpoint_note
                           && hello->checkpoint_size < self->broker.checkpoint_size?
                              self->broker.checkpoint_size: hello->checkpoint_size;
    //  Replayed after this batch commits, so it includes what the batch adds
    deferred_t *item = calloc (1, sizeof *item);
    if (item) {
        item->kind = DEFER_REPLAY;
        item->routing_id = zframe_dup (routing_id);
        zlistx_add_end (self->broker.deferred, item);
    }
}

//  --------------------------------------------------------------------------
//  One message

static void
s_send_error (server_t *self, zframe_t *routing_id, Passerelle__Status status, const char *reason)
{
    Passerelle__Error error = PASSERELLE__ERROR__INIT;
    error.status = status;
    error.reason = (char *) reason;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_ERROR;
    msg.error = &error;
    s_send (self, routing_id, &msg);
}

static void s_handle_proof_request (server_t *self, zframe_t *routing_id, const pl_agency_t *peer,
                                    Passerelle__ProofRequest *request);

static void
s_handle_message (server_t *self, pb_inbound_t *in)
{
    pb_broker_t *broker = &self->broker;
    zframe_t *routing_id = in->routing_id;
    const pl_agency_t *peer = in->peer;

    if (!in->one_frame) {
        log_warn ("malformed message from %s: expected exactly one frame",
                  peer? peer->id: "unknown peer");
        if (routing_id)
            s_send_error (self, routing_id, PASSERELLE__STATUS__STATUS_MALFORMED,
                          "expected exactly one frame per message");
    }
    else
    if (!peer || !pl_agency_is_valid_at (peer, pl_now_ms ())) {
        //  Authenticated at connect time but gone from the directory since
        log_warn ("message from a key not in the directory (revoked?): refused");
        s_send_error (self, routing_id, PASSERELLE__STATUS__STATUS_REVOKED,
                      "your key is not in the broker's directory");
    }
    else
    if (!in->request) {
        log_warn ("refuse message from %s: %s: %s", peer->id, pl_status_name (in->status), in->why);
        broker->counts.refused++;
        s_send_error (self, routing_id, in->status, in->why);
    }
    else {
        Passerelle__Message *request = in->request;
        char *key = zframe_strhex (routing_id);
        pb_client_t *client = zhashx_lookup (broker->clients, key);
        free (key);
        if (client)
            client->last_seen_ms = pl_now_ms ();
        switch (request->body_case) {
            case PASSERELLE__MESSAGE__BODY_HELLO:
                s_handle_hello (self, routing_id, peer, request->hello);
                break;
            case PASSERELLE__MESSAGE__BODY_PUBLISH:
                pb_pipeline_publish (broker, in);
                break;
            case PASSERELLE__MESSAGE__BODY_RECEIPT:
                pb_pipeline_receipt (broker, in);
                break;
            case PASSERELLE__MESSAGE__BODY_PROOF_REQUEST: {
                //  Answered after the batch commits: the proof may need a
                //  checkpoint of what this very batch adds
                deferred_t *item = calloc (1, sizeof *item);
                if (item) {
                    item->kind = DEFER_PROOF;
                    item->routing_id = zframe_dup (routing_id);
                    snprintf (item->agency, sizeof item->agency, "%s", peer->id);
                    item->body = zframe_dup (in->body);
                    zlistx_add_end (broker->deferred, item);
                }
                break;
            }
            case PASSERELLE__MESSAGE__BODY_PING: {
                Passerelle__Pong pong = PASSERELLE__PONG__INIT;
                pong.sent_at_ms = request->ping->sent_at_ms;
                Passerelle__Message reply = PASSERELLE__MESSAGE__INIT;
                reply.body_case = PASSERELLE__MESSAGE__BODY_PONG;
                reply.pong = &pong;
                s_send (self, routing_id, &reply);
                break;
            }
            default:
                log_warn ("refuse message from %s: unexpected message type %d", peer->id,
                          (int) request->body_case);
                s_send_error (self, routing_id, PASSERELLE__STATUS__STATUS_MALFORMED,
                              "agents may send hello, publish, receipt, proof_request or ping");
        }
    }
}

//  --------------------------------------------------------------------------
//  Batches

static int
s_begin (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    broker->spoilt = broker->spoilt_by_space = false;
    broker->batch = pb_store_begin (broker->store);
    if (!broker->batch)
        log_warn ("cannot open a store batch: %s", pb_store_error (broker->store));
    return broker->batch? 0: -1;
}

//  Keep the broker's RSS about what it holds, not about how large the
//  store is (pb_store_trim_map says why).
static void
s_trim_memory (server_t *self)
{
    int64_t now = zclock_mono ();
    if (now - self->trim_checked_ms < TRIM_EVERY_MS)
        return;
    self->trim_checked_ms = now;
    bool released;
    size_t resident = pb_store_trim_map (self->broker.store, MAPPED_BUDGET, &released);
    if (released)
        log_debug ("store map: %zu KiB of file pages resident, given back to the page cache",
                   resident / 1024);
}

//  Commit the open batch, then send what it produced (or refusals).
static void
s_commit (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    int rc = -1;
    if (broker->batch && broker->spoilt) {
        pb_batch_abort (&broker->batch);
        rc = broker->spoilt_by_space? PB_STORE_FULL: -1;
    }
    else
    if (broker->batch)
        rc = pb_batch_commit (&broker->batch);
    if (rc != 0) {
        char err [256];
        log_warn ("store commit failed (%s): every event of the batch is refused; agents retry",
                  rc == PB_STORE_FULL? "store full": pb_store_error (broker->store));
        if (pb_sharing_restore (broker->sharing, err, sizeof err) != 0)
            log_warn ("cannot rebuild the registries: %s", err);
    }
    for (deferred_t *item = zlistx_first (broker->deferred); item;
         item = zlistx_next (broker->deferred)) {
        if (item->kind == DEFER_REPLY && item->is_ack && rc != 0) {
            Passerelle__PublishAck ack = PASSERELLE__PUBLISH_ACK__INIT;
            ack.event_id.data = item->event_id;
            ack.event_id.len = PL_EVENT_ID_SIZE;
            ack.status = rc == PB_STORE_FULL? PASSERELLE__STATUS__STATUS_STORE_FULL:
                                              PASSERELLE__STATUS__STATUS_INTERNAL;
            ack.reason = rc == PB_STORE_FULL? "the broker's store is full: try again later":
                         "the broker could not store the event: try again later";
            Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
            msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH_ACK;
            msg.publish_ack = &ack;
            s_send (self, item->routing_id, &msg);
        }
        else
        if (item->kind == DEFER_REPLY)
            s_send_frame (self, item->routing_id, item->body);
        else
        if (item->kind == DEFER_DELIVERY && rc == 0) {
            pb_client_t *client = s_client_of_agency (broker, item->agency);
            if (client && s_send_owed (self, client, item->event_id, item->body) < 0)
                s_forget_client (self, client, "unreachable");
        }
        else
        if (item->kind == DEFER_PROOF) {
            const pl_agency_t *peer = pl_directory_lookup (broker->directory, item->agency);
            Passerelle__Message *msg = passerelle__message__unpack (NULL, zframe_size (item->body),
                                                                    zframe_data (item->body));
            if (peer && msg && msg->body_case == PASSERELLE__MESSAGE__BODY_PROOF_REQUEST)
                s_handle_proof_request (self, item->routing_id, peer, msg->proof_request);
            passerelle__message__free_unpacked (msg, NULL);
        }
        else
        if (item->kind == DEFER_REPLAY) {
            char *key = zframe_strhex (item->routing_id);
            pb_client_t *client = zhashx_lookup (broker->clients, key);
            free (key);
            if (client)
                s_replay_queue (self, client);
        }
    }
    zlistx_purge (broker->deferred);
    //  Receipts gave credit back: send what waits behind it, for every
    //  agency (a refill may drop a client, so walk a snapshot of keys)
    if (rc == 0) {
        zlist_t *waiting = zlist_new ();
        zlist_autofree (waiting);
        for (pb_client_t *c = zhashx_first (broker->clients); c; c = zhashx_next (broker->clients))
            if (c->backlog)
                zlist_append (waiting, (void *) zhashx_cursor (broker->clients));
        for (char *key = zlist_first (waiting); key; key = zlist_next (waiting)) {
            pb_client_t *client = zhashx_lookup (broker->clients, key);
            if (client)
                s_refill (self, client);
        }
        zlist_destroy (&waiting);
    }
    s_trim_memory (self);
}

//  One group of messages, already checked by the pool: one batch, one
//  commit, then what it produced is sent.
static void
s_handle_group (server_t *self, group_t *group)
{
    s_begin (self);
    for (size_t i = 0; i < group->count; i++) {
        pb_inbound_t *in = &group->items [i];
        if (self->broker.batch)
            s_handle_message (self, in);
        else
        if (in->routing_id)
            s_send_error (self, in->routing_id, PASSERELLE__STATUS__STATUS_INTERNAL,
                          "the broker's store is unavailable");
        pb_inbound_clear (in);
    }
    group->count = 0;
    s_commit (self);
}

//  Read what waits on the router into group, after what it already holds,
//  and start the pool on the new items. Returns how many were read.
static size_t
s_take_waiting (server_t *self, group_t *group, bool first_is_ready)
{
    size_t from = group->count;
    size_t read = pb_intake_read (&self->broker, self->router, group->items + from,
                                  GROUP_MAX - from, first_is_ready);
    group->count += read;
    if (read)
        pb_verifier_start (self->verifier, group->items + from, sizeof (pb_inbound_t), read,
                           pb_intake_check, NULL);
    return read;
}

//  Everything already waiting shares a batch and its fsync. While one
//  group is handled and committed, the pool checks the signatures of what
//  arrived meanwhile (the next group, topped up after the commit so that
//  it still holds everything that waits): signatures on the other cores,
//  the store on this one. Bounded in rounds so that timers and signals get
//  their turn under a steady stream; no group is left pending on return.
static int
s_handle_router (zloop_t *loop, zsock_t *router, void *arg)
{
    (void) loop;
    (void) router;
    server_t *self = arg;
    group_t *current = self->groups [0], *next = self->groups [1];
    s_take_waiting (self, current, true);
    for (int round = 1; current->count > 0; round++) {
        pb_verifier_finish (self->verifier);
        if (round < GROUP_ROUNDS)
            s_take_waiting (self, next, false);
        s_handle_group (self, current);
        if (round < GROUP_ROUNDS)
            s_take_waiting (self, next, false);
        group_t *handled = current;
        current = next;
        next = handled;
    }
    pb_verifier_finish (self->verifier);
    return 0;
}

//  --------------------------------------------------------------------------
//  The log's housekeeping: notes, checkpoints, expiry

//  A note in the sharing log, in a batch of its own.
static void
s_log_note (server_t *self, const char *kind, const char *detail)
{
    if (s_begin (self) != 0)
        return;
    pb_entry_t entry = pb_journal_note (kind, NULL, NULL, pl_keys_id (self->broker.keys), detail,
                                        pl_now_ms ());
    pb_broker_log (&self->broker, entry.bytes, entry.size, NULL);
    free (entry.bytes);
    s_commit (self);
}

//  Sign and keep a checkpoint when the log grew, and show it to every agent
//  with a consistency proof from what each last saw.
static void
s_checkpoint (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    if (!pb_checkpoints_make (broker))
        return;
    uint8_t proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    for (pb_client_t *c = zhashx_first (broker->clients); c; c = zhashx_next (broker->clients)) {
        Passerelle__Checkpoint message;
        pb_checkpoints_fill (broker, &message, c->checkpoint_size, proof);
        Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
        msg.body_case = PASSERELLE__MESSAGE__BODY_CHECKPOINT;
        msg.checkpoint = &message;
        s_send (self, c->routing_id, &msg);
        c->checkpoint_size = broker->checkpoint_size;
    }
}

//  An agency asks for proof that its event is in the log.
static void
s_handle_proof_request (server_t *self, zframe_t *routing_id, const pl_agency_t *peer,
                        Passerelle__ProofRequest *request)
{
    char *key = zframe_strhex (routing_id);
    pb_client_t *client = zhashx_lookup (self->broker.clients, key);
    free (key);
    uint8_t inclusion [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    uint8_t consistency [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    uint8_t *entry = NULL;
    Passerelle__Proof proof;
    Passerelle__Checkpoint checkpoint;
    pb_checkpoints_prove (&self->broker, peer, request, &proof, inclusion, &entry);
    pb_checkpoints_fill (&self->broker, &checkpoint, client? client->checkpoint_size: 0, consistency);
    proof.checkpoint = self->broker.checkpoint_note? &checkpoint: NULL;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PROOF;
    msg.proof = &proof;
    s_send (self, routing_id, &msg);
    if (client && proof.checkpoint)
        client->checkpoint_size = self->broker.checkpoint_size;
    free (entry);
    log_info ("proof for log entry %llu to %s: %s", (unsigned long long) request->log_index,
              peer->id, proof.status == PASSERELLE__STATUS__STATUS_OK? "sent": proof.reason);
}

static int
s_note_due (const pb_queue_item_t *item, void *arg)
{
    (void) item;
    *(bool *) arg = true;
    return 1;
}

static int
s_handle_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    server_t *self = arg;
    pb_broker_t *broker = &self->broker;
    uint64_t now = pl_now_ms ();
    for (pb_client_t *c = zhashx_first (broker->clients); c; c = zhashx_next (broker->clients))
        if (now - c->last_seen_ms > CLIENT_TIMEOUT_MS) {
            s_forget_client (self, c, "silent");
            break;          //  the hash changed under us; next tick does the rest
        }
    //  Escalations past the policy's deadline
    uint64_t deadline = pol_policy_escalation_deadline_ms (pb_sharing_policy (broker->sharing));
    pb_overdue_t late [32];
    size_t overdue = deadline && now > deadline?
        pb_escalation_overdue (broker->escalations, now - deadline, late, 32): 0;
    if (overdue && s_begin (self) == 0) {
        for (size_t i = 0; i < overdue; i++) {
            uint8_t hash [PL_HASH_SIZE];
            //  Still owed? (a phantom from an aborted batch is not)
            if (pb_store_queue_find (broker->store, late [i].recipient, late [i].event_id,
                                     PL_EVENT_ID_SIZE, hash) == 0)
                pb_pipeline_late_escalation (broker, &late [i], deadline);
        }
        s_commit (self);
    }
    //  Gaps in publishers' numbers that late arrivals did not fill
    pb_gap_t gaps [16];
    size_t open_gaps = now > broker->config->gap_grace_ms?
        pb_sharing_overdue_gaps (broker->sharing, now - broker->config->gap_grace_ms, gaps, 16): 0;
    if (open_gaps && s_begin (self) == 0) {
        for (size_t i = 0; i < open_gaps; i++)
            pb_pipeline_report_gap (broker, &gaps [i]);
        s_commit (self);
    }
    //  Expiry and retention; a write batch only when something is due
    bool due = false;
    pb_store_queue_due (broker->store, now, 1, s_note_due, &due);
    if (due && s_begin (self) == 0) {
        pb_pipeline_expire (broker, now);
        s_commit (self);
    }
    return 0;
}

static int
s_handle_checkpoint_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_checkpoint ((server_t *) arg);
    return 0;
}

//  --------------------------------------------------------------------------
//  Reload

//  Close every connection and listen again: each agent reconnects and is
//  authenticated against the current directory, so a revoked key is out
//  at once rather than at its next reconnect.
static int
s_rebind_router (server_t *self)
{
    zloop_reader_end (self->loop, self->router);
    zsock_destroy (&self->router);
    zhashx_purge (self->broker.clients);
    self->router = pb_gate_bind (self->gate, self->cert, self->broker.config->endpoint);
    if (!self->router)
        return -1;
    zloop_reader (self->loop, self->router, s_handle_router, self);
    return 0;
}

static void
s_reload (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    char err [1024], detail [1200];
    if (pb_sharing_reload_policy (broker->sharing, broker->config->policy_path, err, sizeof err) != 0)
        log_warn ("policy reload failed, keeping policy %s: %s",
                  pol_policy_version (pb_sharing_policy (broker->sharing)), err);
    else {
        snprintf (detail, sizeof detail, "policy %s: %zu rules",
                  pol_policy_version (pb_sharing_policy (broker->sharing)),
                  pol_policy_rule_count (pb_sharing_policy (broker->sharing)));
        log_info ("%s loaded", detail);
        s_log_note (self, "policy_load", detail);
    }
    pl_directory_t *fresh = pl_directory_load (broker->config->directory_path, err, sizeof err);
    if (!fresh) {
        log_warn ("directory reload failed, keeping the current directory: %s", err);
        zstr_sendx (self->pipe, "ERROR", err, NULL);
        return;
    }
    char revoked [1024];
    size_t removed = pl_directory_revoked (broker->directory, fresh, revoked, sizeof revoked);
    pl_directory_destroy (&broker->directory);
    broker->directory = fresh;
    if (pb_gate_admit (self->gate, fresh) != 0) {
        zstr_sendx (self->pipe, "ERROR", "cannot write ZAP keys", NULL);
        return;
    }
    snprintf (detail, sizeof detail, "directory: %zu agencies, %zu revoked%s%s",
              pl_directory_size (fresh), removed, removed? ": ": "", removed? revoked: "");
    log_info ("%s reloaded", detail);
    s_log_note (self, "directory_load", detail);
    if (removed) {
        char *list = strdup (revoked), *save = NULL;
        if (s_begin (self) == 0) {
            for (char *id = strtok_r (list, ",", &save); id; id = strtok_r (NULL, ",", &save)) {
                uint64_t dropped = 0;
                pb_batch_queue_drop (broker->batch, id, &dropped);
                if (dropped)
                    log_warn ("agency %s revoked: %llu undelivered items will not be delivered",
                              id, (unsigned long long) dropped);
            }
            s_commit (self);
        }
        free (list);
        if (s_rebind_router (self) != 0) {
            zstr_sendx (self->pipe, "ERROR", "cannot listen again after reload", NULL);
            return;
        }
    }
    else
        for (pb_client_t *c = zhashx_first (broker->clients); c; c = zhashx_next (broker->clients))
            s_send_welcome (self, c->routing_id, c->checkpoint_size);
    zstr_sendx (self->pipe, "OK", NULL);
}

static int
s_handle_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void) loop;
    server_t *self = arg;
    char *command = zstr_recv (pipe);
    int rc = 0;
    if (!command || streq (command, "$TERM"))
        rc = -1;
    else
    if (streq (command, "RELOAD"))
        s_reload (self);
    else
    if (streq (command, "STATS"))
        zstr_sendf (pipe, "accepted=%llu refused=%llu receipts=%llu queued=%llu connected=%zu",
                    (unsigned long long) self->broker.counts.accepted,
                    (unsigned long long) self->broker.counts.refused,
                    (unsigned long long) self->broker.counts.receipts,
                    (unsigned long long) pb_store_queue_total (self->broker.store),
                    zhashx_size (self->broker.clients));
    else
        log_warn ("unknown actor command %s", command);
    zstr_free (&command);
    return rc;
}

//  --------------------------------------------------------------------------

static void
s_server_destroy (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    if (broker->batch)
        pb_batch_abort (&broker->batch);
    pb_verifier_destroy (&self->verifier);
    for (int i = 0; i < 2; i++)
        free (self->groups [i]);
    zsock_destroy (&self->router);
    pb_gate_destroy (&self->gate);
    zhashx_destroy (&broker->clients);
    zlistx_destroy (&broker->deferred);
    pb_sharing_destroy (&broker->sharing);
    pb_escalation_destroy (&broker->escalations);
    pb_store_destroy (&broker->store);
    zcert_destroy (&self->cert);
    pl_keys_destroy (&broker->keys);
    pl_directory_destroy (&broker->directory);
    zloop_destroy (&self->loop);
    free (broker->checkpoint_note);
}

static int
s_server_start (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    pb_config_t *config = broker->config;
    char err [1024], path [4200];
    if (mkdir (config->state_path, 0700) != 0 && errno != EEXIST) {
        log_warn ("cannot create state folder %s: %s", config->state_path, strerror (errno));
        return -1;
    }
    chmod (config->state_path, 0700);
    snprintf (path, sizeof path, "%s/store", config->state_path);
    if (!(broker->keys = pl_keys_load (config->key_path, err, sizeof err))
    ||  !(broker->directory = pl_directory_load (config->directory_path, err, sizeof err))
    ||  !(broker->store = pb_store_open (path, config->map_size, false, err, sizeof err))) {
        log_warn ("%s", err);
        return -1;
    }
    if (!(broker->sharing = pb_sharing_new (config->policy_path, broker->store, err, sizeof err))) {
        log_warn ("cannot load the policy: %s", err);
        return -1;
    }
    snprintf (broker->origin, sizeof broker->origin, "%s", *config->origin? config->origin:
              pl_keys_id (broker->keys));
    if (pb_checkpoints_restore (broker) != 0)
        log_warn ("cannot read the last checkpoint: %s", pb_store_error (broker->store));
    self->cert = zcert_new_from (pl_keys_curve_public (broker->keys),
                                 pl_keys_curve_secret (broker->keys));
    if (!(broker->escalations = pb_escalation_new ()))
        return -1;
    size_t tracked = pb_escalation_rebuild (broker->escalations, broker->store, broker->directory);
    if (tracked)
        log_info ("%zu undelivered escalations still tracked against their deadline", tracked);
    broker->clients = zhashx_new ();
    broker->deferred = zlistx_new ();
    self->loop = zloop_new ();
    self->verifier = pb_verifier_new (config->verify_threads < 0? pb_verifier_default_threads ():
                                      (size_t) config->verify_threads);
    self->groups [0] = calloc (1, sizeof (group_t));
    self->groups [1] = calloc (1, sizeof (group_t));
    if (!self->cert || !broker->clients || !broker->deferred || !self->loop || !self->verifier
    ||  !self->groups [0] || !self->groups [1])
        return -1;
    zhashx_set_destructor (broker->clients, s_client_destroy);
    zlistx_set_destructor (broker->deferred, s_deferred_destroy);
    //  ZAP must be answering before the first socket binds
    if (!(self->gate = pb_gate_new (config->state_path)) || pb_gate_admit (self->gate, broker->directory)
    ||  !(self->router = pb_gate_bind (self->gate, self->cert, config->endpoint)))
        return -1;
    zloop_reader (self->loop, self->pipe, s_handle_pipe, self);
    zloop_reader (self->loop, self->router, s_handle_router, self);
    zloop_timer (self->loop, 1000, 0, s_handle_tick, self);
    zloop_timer (self->loop, (size_t) config->checkpoint_interval_ms, 0, s_handle_checkpoint_timer, self);
    char detail [512], z85 [41];
    snprintf (detail, sizeof detail, "started: policy %s (%zu rules), %zu agencies in the directory",
              pol_policy_version (pb_sharing_policy (broker->sharing)),
              pol_policy_rule_count (pb_sharing_policy (broker->sharing)),
              pl_directory_size (broker->directory));
    s_log_note (self, "policy_load", detail);
    pl_curve_to_z85 (pl_keys_curve_public (broker->keys), z85);
    log_info ("listening on %s as %s (CURVE key %s); %s; log %s at %llu entries, %llu deliveries "
              "queued; %zu signature checker threads", config->endpoint, pl_keys_id (broker->keys),
              z85, detail, broker->origin, (unsigned long long) pb_store_log_size (broker->store),
              (unsigned long long) pb_store_queue_total (broker->store),
              pb_verifier_threads (self->verifier));
    return 0;
}

void
pb_server_actor (zsock_t *pipe, void *config)
{
    server_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.broker.config = config;
    zsock_signal (pipe, 0);
    if (s_server_start (&self) != 0) {
        s_server_destroy (&self);
        pl_daemon_refuse (pipe);
        return;
    }
    zstr_send (pipe, "READY");
    zloop_start (self.loop);
    //  A last checkpoint, so what happened up to the stop is signed
    s_checkpoint (&self);
    log_info ("stopping: %llu accepted, %llu refused, %llu deliveries still queued, log at %llu",
              (unsigned long long) self.broker.counts.accepted,
              (unsigned long long) self.broker.counts.refused,
              (unsigned long long) pb_store_queue_total (self.broker.store),
              (unsigned long long) pb_store_log_size (self.broker.store));
    s_server_destroy (&self);
}
