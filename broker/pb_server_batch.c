/*  pb_server_batch: the broker's ROUTER side (see pb_server_int.h).
 *
 *  Group commit. When the ROUTER socket is readable we take every message
 *  waiting (up to GROUP_MAX) into one store batch, handle them all
 *  (pb_pipeline), commit once (one fsync), and only then send what they
 *  produced: acknowledgements, deliveries, notices. Events that arrive while
 *  a commit is in progress wait in the socket and share the next one; the
 *  verifier pool checks their signatures meanwhile. If the commit fails,
 *  every acknowledgement becomes a refusal (the agents retry from their
 *  outboxes) and the in-memory registries are rebuilt from the store, so
 *  nothing is ever acknowledged that is not on disk.
 *
 *  Identity comes only from ZAP: libzmq stamps each frame with the User-Id
 *  that zauth accepted (the peer's Z85 CURVE key), mapped to an agency
 *  through the directory. Nothing a peer says about itself is trusted.  */
#include "pb_server_int.h"
#include "pb_checkpoints.h"
#include "pb_pipeline.h"
#include "pl_merkle.h"
#include "pl_log.h"
#include "pl_wire.h"

//  --------------------------------------------------------------------------
//  Sending, now or after the commit

//  ZFRAME_REUSE hands libzmq a reference to the frame's buffer rather than
//  a copy: a delivery is sent without copying its kilobytes once more.
int
pb_server_send_frame (server_t *self, zframe_t *routing_id, zframe_t *body)
{
    if (zframe_send (&routing_id, self->router, ZFRAME_MORE | ZFRAME_REUSE) != 0)
        return -1;
    return zframe_send (&body, self->router, ZFRAME_REUSE);
}

int
pb_server_send (server_t *self, zframe_t *routing_id, Passerelle__Message *msg)
{
    zframe_t *body = pl_wire_pack (msg);
    int rc = body? pb_server_send_frame (self, routing_id, body): -1;
    zframe_destroy (&body);
    return rc;
}

void
pb_server_deferred_destroy (void **item_p)
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
pb_broker_defer_delivery (pb_broker_t *self, const char *agency, const uint8_t *id,
                          zframe_t **frame_p)
{
    deferred_t *item = *frame_p? calloc (1, sizeof *item): NULL;
    if (!item) {
        zframe_destroy (frame_p);
        return;
    }
    item->kind = DEFER_DELIVERY;
    snprintf (item->agency, sizeof item->agency, "%s", agency);
    memcpy (item->event_id, id, PL_EVENT_ID_SIZE);
    item->body = *frame_p;
    *frame_p = NULL;
    zlistx_add_end (self->deferred, item);
}

static pb_client_t *s_client_of_agency (pb_broker_t *self, const char *agency);

void
pb_broker_receipted (pb_broker_t *self, const char *agency, const uint8_t *id)
{
    pb_client_t *client = s_client_of_agency (self, agency);
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    if (!client)
        return;
    pl_event_id_hex (id, hex);
    size_t size = (size_t) (uintptr_t) zhashx_lookup (client->in_flight, hex);
    client->in_flight_bytes -= size <= client->in_flight_bytes? size: client->in_flight_bytes;
    zhashx_delete (client->in_flight, hex);
}

int
pb_broker_log (pb_broker_t *self, const pb_entry_t *entry, uint64_t *index)
{
    uint64_t ignored;
    int rc = entry->bytes? pb_batch_log_append_named (self->batch, entry->bytes, entry->size,
                                                      entry->names, entry->names_size,
                                                      index? index: &ignored): -1;
    if (rc != 0)
        self->spoilt = true;
    return rc;
}

//  --------------------------------------------------------------------------
//  Peers

void
pb_server_client_destroy (void **item_p)
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

void
pb_server_forget_client (server_t *self, pb_client_t *client, const char *why)
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
    //  Credit counts deliveries and bytes: a window of large envelopes must
    //  not pile up in libzmq's pipe for a slow reader (one always goes out)
    size_t size = zframe_size (body);
    if (zhashx_size (client->in_flight) >= self->broker.config->delivery_window
    ||  (client->in_flight_bytes > 0 && client->in_flight_bytes + size > PB_DELIVERY_BYTES_MAX)) {
        client->backlog = true;
        return 1;
    }
    if (pb_server_send_frame (self, client->routing_id, body) != 0)
        return -1;
    //  The value is the delivery's size, never 0: a packed Message always
    //  holds its version
    zhashx_insert (client->in_flight, hex, (void *) (uintptr_t) size);
    client->in_flight_bytes += size;
    return 0;
}

typedef struct {
    server_t *server;
    pb_client_t *client;
    int rc;
} refill_t;

//  The queue keeps each Delivery as the packed Message it was first sent
//  as, version stamp included. One queued by a broker of the first wire
//  version (its Delivery is read the same by this one) goes out with this
//  version's stamp, or agents of this version would refuse it for ever. A
//  packed Message starts with field 1, the version: 0x08, then the number.
static void
s_restamp (zframe_t *frame)
{
    uint8_t *data = zframe_data (frame);
    if (zframe_size (frame) >= 2 && data [0] == 0x08 && data [1] == 1)
        data [1] = PL_WIRE_VERSION;
}

static int
s_refill_item (const pb_queue_item_t *item, void *arg)
{
    refill_t *refill = arg;
    if (item->event_id_size != PL_EVENT_ID_SIZE)
        return 0;
    //  Most of a walk is the window in flight: no copy of those
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (item->event_id, hex);
    if (zhashx_lookup (refill->client->in_flight, hex))
        return 0;
    const uint8_t *frame;
    size_t size;
    if (pb_store_queue_frame (refill->server->broker.store, item, &frame, &size)) {
        log_warn ("store: %s", pb_store_error (refill->server->broker.store));
        return 0;                   //  the others still go
    }
    zframe_t *body = zframe_new (frame, size);
    if (body)
        s_restamp (body);
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
        pb_server_forget_client (self, client, "unreachable");
    else
        client->backlog = refill.rc == 1;
}

//  A (re)connected agency: everything owed is sent again from the start.
static void
s_replay_queue (server_t *self, pb_client_t *client)
{
    zhashx_purge (client->in_flight);
    client->in_flight_bytes = 0;
    client->backlog = true;
    s_refill (self, client);
}

void
pb_server_send_welcome (server_t *self, zframe_t *routing_id, uint64_t checkpoint_size)
{
    uint8_t proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    Passerelle__Checkpoint checkpoint;
    pb_checkpoints_fill (&self->broker, &checkpoint, checkpoint_size, proof);
    Passerelle__Welcome welcome = PASSERELLE__WELCOME__INIT;
    welcome.version = PL_WIRE_VERSION;
    welcome.broker = (char *) pl_keys_id (self->broker.keys);
    welcome.broker_time_ms = pl_now_ms ();
    welcome.directory = pl_directory_to_wire (self->broker.directory, &welcome.n_directory);
    welcome.checkpoint = self->broker.checkpoint_note? &checkpoint: NULL;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_WELCOME;
    msg.welcome = &welcome;
    pb_server_send (self, routing_id, &msg);
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
        pb_server_forget_client (self, old, "replaced by a new connection");
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
    pb_server_send_welcome (self, routing_id, hello->checkpoint_size);
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

void
pb_server_send_error (server_t *self, zframe_t *routing_id, Passerelle__Status status, const char *reason)
{
    Passerelle__Error error = PASSERELLE__ERROR__INIT;
    error.status = status;
    error.reason = (char *) reason;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_ERROR;
    msg.error = &error;
    pb_server_send (self, routing_id, &msg);
}

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
            pb_server_send_error (self, routing_id, PASSERELLE__STATUS__STATUS_MALFORMED,
                                  "expected exactly one frame per message");
    }
    else
    if (!peer || !pl_agency_is_valid_at (peer, pl_now_ms ())) {
        //  Authenticated at connect time but gone from the directory since
        log_warn ("message from a key not in the directory (revoked?): refused");
        pb_server_send_error (self, routing_id, PASSERELLE__STATUS__STATUS_REVOKED,
                              "your key is not in the broker's directory");
    }
    else
    if (!in->request) {
        log_warn ("refuse message from %s: %s: %s", peer->id, pl_status_name (in->status), in->why);
        broker->counts.refused++;
        pb_server_send_error (self, routing_id, in->status, in->why);
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
                pb_server_send (self, routing_id, &reply);
                break;
            }
            default:
                log_warn ("refuse message from %s: unexpected message type %d", peer->id,
                          (int) request->body_case);
                pb_server_send_error (self, routing_id, PASSERELLE__STATUS__STATUS_MALFORMED,
                                      "agents may send hello, publish, receipt, "
                                      "proof_request or ping");
        }
    }
}

//  --------------------------------------------------------------------------
//  Batches

int
pb_server_begin (server_t *self)
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
void
pb_server_commit (server_t *self)
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
            pb_server_send (self, item->routing_id, &msg);
        }
        else
        if (item->kind == DEFER_REPLY)
            pb_server_send_frame (self, item->routing_id, item->body);
        else
        if (item->kind == DEFER_DELIVERY && rc == 0) {
            pb_client_t *client = s_client_of_agency (broker, item->agency);
            if (client && s_send_owed (self, client, item->event_id, item->body) < 0)
                pb_server_forget_client (self, client, "unreachable");
        }
        else
        if (item->kind == DEFER_PROOF) {
            const pl_agency_t *peer = pl_directory_lookup (broker->directory, item->agency);
            Passerelle__Message *msg = passerelle__message__unpack (NULL, zframe_size (item->body),
                                                                    zframe_data (item->body));
            if (peer && msg && msg->body_case == PASSERELLE__MESSAGE__BODY_PROOF_REQUEST)
                pb_server_handle_proof_request (self, item->routing_id, peer, msg->proof_request);
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
    //  After what this batch produced went out: a flush is the one long
    //  wait here, and nobody waits on it
    if (pb_store_flush_if_due (broker->store))
        log_warn ("store: %s", pb_store_error (broker->store));
    s_trim_memory (self);
}

//  Read what waits on the router into group, after what it already holds,
//  and start the pool on the new items.
static void
s_take_waiting (server_t *self, group_t *group)
{
    size_t from = group->count;
    size_t read = pb_intake_read (&self->broker, self->router, group->items + from,
                                  GROUP_MAX - from);
    group->count += read;
    if (read) {
        pb_verifier_finish (self->verifier);    //  the pool may still be in the last runs
        size_t runs = pb_intake_runs (group->items + from, read, group->runs);
        pb_verifier_start (self->verifier, group->runs, sizeof (pb_intake_run_t), runs,
                           pb_intake_check_run, NULL);
    }
}

//  One group of messages, already checked by the pool: one batch, one
//  commit, then what it produced is sent. What arrived meanwhile is read
//  into next (when given) before the commit, not after: the pool checks it
//  while this thread waits on the journal's sync, instead of this thread
//  checking it itself once the commit is over.
static void
s_handle_group (server_t *self, group_t *group, group_t *next)
{
    pb_server_begin (self);
    for (size_t i = 0; i < group->count; i++) {
        pb_inbound_t *in = &group->items [i];
        if (self->broker.batch)
            s_handle_message (self, in);
        else
        if (in->routing_id)
            pb_server_send_error (self, in->routing_id, PASSERELLE__STATUS__STATUS_INTERNAL,
                                  "the broker's store is unavailable");
        pb_inbound_clear (in);
    }
    group->count = 0;
    if (next)
        s_take_waiting (self, next);
    pb_server_commit (self);
}

//  Everything already waiting shares a batch and its fsync. While one
//  group is handled and committed, the pool checks the signatures of what
//  arrived meanwhile (the next group, read as the handling starts and
//  topped up before the commit): signatures on the other cores, the store
//  on this one. Bounded in rounds so that timers and signals get
//  their turn under a steady stream; no group is left pending on return.
int
pb_server_handle_router (zloop_t *loop, zsock_t *router, void *arg)
{
    (void) loop;
    (void) router;
    server_t *self = arg;
    group_t *current = self->groups [0], *next = self->groups [1];
    s_take_waiting (self, current);
    size_t messages = 0;
    for (int round = 1; current->count > 0; round++) {
        messages += current->count;
        pb_verifier_finish (self->verifier);
        if (round < GROUP_ROUNDS)
            s_take_waiting (self, next);
        s_handle_group (self, current, round < GROUP_ROUNDS? next: NULL);
        group_t *handled = current;
        current = next;
        next = handled;
    }
    pb_verifier_finish (self->verifier);
    //  A quiet moment (a few messages, nothing waiting) for the log's
    //  indexes (pb_store_index.c): a slice short enough that an event
    //  arriving now hardly notices. A busy broker leaves them to its flushes.
    if (messages <= QUIET_ROUND && !(zsock_events (self->router) & ZMQ_POLLIN)
    &&  pb_store_index_catch_up (self->broker.store, INDEX_SLICE))
        log_warn ("store: %s (the indexes catch up later)", pb_store_error (self->broker.store));
    pl_log_flush ();        //  the lines of this round's events, in one write
    return 0;
}
