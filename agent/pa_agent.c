/*  pa_agent: the agency daemon's actor (see pa_agent.h).
 *
 *  The broker link's state comes from the socket monitor, not from guesses:
 *  HANDSHAKE_SUCCEEDED means the broker proved its key and accepted ours, so
 *  we say Hello (with the checkpoint size we verified); the Welcome brings
 *  the directory and the newest checkpoint, and only then are we
 *  "connected" and flush the outbox. Deliveries are verified, decrypted and
 *  committed to the inbox, a burst at a time (pa_burst), before they are
 *  receipted, so an event is in the agency's hands for good before the
 *  broker forgets it.  */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pa_agent.h"
#include "pa_agent_int.h"
#include "pa_witness.h"
#include "pl_daemon.h"
#include "pl_envelope.h"
#include "pl_hash.h"
#include "pl_log.h"
#include "pl_wire.h"

//  --------------------------------------------------------------------------
//  Helpers

static void
s_waiter_destroy (void **item_p)
{
    pa_waiter_t *waiter = *item_p;
    if (waiter) {
        zframe_destroy (&waiter->routing_id);
        free (waiter);
        *item_p = NULL;
    }
}

void
pa_agent_reply (pa_agent_t *self, zframe_t *routing_id, json_t *reply)
{
    char *text = reply? json_dumps (reply, JSON_COMPACT): NULL;
    json_decref (reply);
    if (!text)
        return;
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (routing_id) });
    zmsg_addstr (msg, text);
    zmsg_send (&msg, self->control);
    free (text);
}

void
pa_agent_reply_error (pa_agent_t *self, zframe_t *routing_id, const char *code, const char *message)
{
    pa_agent_reply (self, routing_id, json_pack ("{s:s, s:s}", "error", code, "message", message));
}

int
pa_agent_send_broker (pa_agent_t *self, Passerelle__Message *msg)
{
    zframe_t *frame = pl_wire_pack (msg);
    return frame? zframe_send (&frame, self->dealer, 0): -1;
}

//  The directory is kept on disk so that a restarted agent can seal (and
//  accept publishes into its outbox) before the broker is reachable again.
static void
s_save_directory (pa_agent_t *self, Passerelle__Welcome *welcome)
{
    char path [4200], temp [4300];
    snprintf (path, sizeof path, "%s/directory.pb", self->config->state_path);
    snprintf (temp, sizeof temp, "%s.tmp", path);
    Passerelle__Welcome copy = PASSERELLE__WELCOME__INIT;
    copy.directory = welcome->directory;
    copy.n_directory = welcome->n_directory;
    size_t size = passerelle__welcome__get_packed_size (&copy);
    uint8_t *bytes = malloc (size? size: 1);
    int fd = bytes? open (temp, O_WRONLY | O_CREAT | O_TRUNC, 0600): -1;
    if (fd >= 0) {
        passerelle__welcome__pack (&copy, bytes);
        bool ok = write (fd, bytes, size) == (ssize_t) size && fsync (fd) == 0;
        close (fd);
        if (!ok || rename (temp, path) != 0)
            log_warn ("cannot keep the directory in %s: %s", path, strerror (errno));
    }
    free (bytes);
}

static void
s_load_directory (pa_agent_t *self)
{
    char path [4200], err [256];
    snprintf (path, sizeof path, "%s/directory.pb", self->config->state_path);
    zfile_t *file = zfile_new (NULL, path);
    zchunk_t *chunk = file && zfile_input (file) == 0? zfile_read (file, 16 * 1024 * 1024, 0): NULL;
    Passerelle__Welcome *welcome = chunk?
        passerelle__welcome__unpack (NULL, zchunk_size (chunk), zchunk_data (chunk)): NULL;
    if (welcome)
        self->directory = pl_directory_from_wire (welcome->directory, welcome->n_directory,
                                                  err, sizeof err);
    passerelle__welcome__free_unpacked (welcome, NULL);
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
}

//  --------------------------------------------------------------------------
//  Deliveries: verify, decrypt, keep once (durably), then receipt

//  Queue a receipt for id with hash (what we received), signed with the
//  others by s_send_receipts: only ever called once it is durably in the
//  inbox.
static void
s_queue_receipt (pa_agent_t *self, const uint8_t *id, const uint8_t *hash)
{
    pl_receipt_batch_add (&self->receipts, self->keys, self->dealer, id, hash);
}

//  A notice from the broker: check the broker signed it, keep it once,
//  receipt it like an event (its hash stands for the header hash).
static void
s_handle_notice (pa_agent_t *self, Passerelle__Delivery *delivery)
{
    Passerelle__Notice *notice = NULL;
    if (delivery->notice_signature.len != PL_SIGNATURE_SIZE
    ||  !pl_signature_verify (self->broker_key, delivery->notice.data, delivery->notice.len,
                              delivery->notice_signature.data)
    ||  !(notice = passerelle__notice__unpack (NULL, delivery->notice.len, delivery->notice.data))
    ||  notice->notice_id.len != PL_EVENT_ID_SIZE) {
        log_warn ("notice refused: not signed by the broker, or malformed");
        passerelle__notice__free_unpacked (notice, NULL);
        return;
    }
    uint8_t hash [PL_HASH_SIZE];
    pl_sha256 (hash, delivery->notice.data, delivery->notice.len);
    const uint8_t *id = notice->notice_id.data;
    if (pa_store_inbox_has (self->store, id))
        s_queue_receipt (self, id, hash);       //  kept already: receipt again
    else
    if (!pa_burst_has (self->burst, id)) {
        //  Kept, logged and receipted with the rest of the burst, in order
        char line [600];
        snprintf (line, sizeof line, "notice %s: %s", notice->kind,
                  notice->text? notice->text: "");
        if (pa_burst_add (self->burst, id, delivery->notice.data, delivery->notice.len, NULL, 0,
                          hash, true, line) != 0)
            log_warn ("notice not kept (no memory to hold it for the inbox): not receipted, "
                      "the broker will resend it");
    }
    passerelle__notice__free_unpacked (notice, NULL);
}

static void
s_handle_delivery (pa_agent_t *self, Passerelle__Delivery *delivery)
{
    if (delivery->notice.len) {
        s_handle_notice (self, delivery);
        return;
    }
    char why [256] = "";
    pl_err_t err;
    pl_envelope_t *envelope = pl_envelope_from_wire (delivery->envelope, &err, why, sizeof why);
    if (!envelope) {
        self->counts.undecryptable++;
        log_warn ("delivery refused: %s: %s", pl_err_str (err), why);
        return;
    }
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (header->event_id.data, hex);
    uint8_t hash [PL_HASH_SIZE];
    pl_envelope_header_hash (envelope, hash);
    const pl_agency_t *publisher = self->directory?
        pl_directory_lookup (self->directory, header->publisher): NULL;
    uint8_t *plaintext = NULL;
    size_t size = 0;
    if (pa_store_inbox_has (self->store, header->event_id.data)) {
        //  A redelivery (our receipt was lost): receipt again, keep once
        self->counts.duplicates++;
        s_queue_receipt (self, header->event_id.data, hash);
    }
    else
    if (pa_burst_has (self->burst, header->event_id.data))
        self->counts.duplicates++;  //  twice in one burst: kept and receipted once
    else
    if (!publisher)
        log_warn ("delivery %s: publisher %s is not in our directory; not accepted", hex,
                  header->publisher);
    else
    if ((err = pl_envelope_open (envelope, self->keys, publisher->public_key,
                                 &self->bursts_seen, &plaintext, &size))
        != PL_OK) {
        self->counts.undecryptable++;
        log_warn ("delivery %s from %s refused: %s", hex, header->publisher, pl_err_str (err));
    }
    else {
        //  Kept with the rest of the burst (one commit), then receipted
        const Passerelle__Envelope *wire = pl_envelope_wire (envelope);
        char line [400];
        snprintf (line, sizeof line, "received event %s case %s type %s from %s (%zu bytes)",
                  hex, header->case_ref, header->event_type, header->publisher, size);
        if (pa_burst_add (self->burst, header->event_id.data, wire->header.data,
                          wire->header.len, plaintext, size, hash, false, line) != 0)
            log_warn ("delivery %s not kept (no memory to hold it for the inbox): not "
                      "receipted, the broker will resend it", hex);
    }
    if (plaintext)
        sodium_memzero (plaintext, size);
    free (plaintext);
    pl_envelope_destroy (&envelope);
}

//  --------------------------------------------------------------------------
//  Broker link

static void
s_handle_checkpoint (pa_agent_t *self, Passerelle__Checkpoint *checkpoint)
{
    char why [400];
    pa_witness_result_t result = pa_witness_check (self->store, self->origin, self->broker_key,
        checkpoint->note, checkpoint->from_size, checkpoint->consistency_proof.data,
        checkpoint->consistency_proof.len, why, sizeof why);
    if (result == PA_WITNESS_ACCEPTED) {
        self->counts.checkpoints++;
        log_debug ("%s", why);
    }
    else
    if (result == PA_WITNESS_INCONSISTENT) {
        //  The one thing an agent must never keep quiet about
        snprintf (self->log_alarm, sizeof self->log_alarm, "%s", why);
        log_warn ("ALERT: the broker's sharing log failed verification: %s", why);
    }
    else
    if (result != PA_WITNESS_UNCHANGED)
        log_warn ("checkpoint not verified: %s", why);
}

static void
s_handle_welcome (pa_agent_t *self, Passerelle__Welcome *welcome)
{
    char err [256];
    pl_directory_t *directory = pl_directory_from_wire (welcome->directory, welcome->n_directory,
                                                        err, sizeof err);
    if (!directory) {
        log_warn ("broker sent an unusable directory: %s", err);
        return;
    }
    pl_directory_destroy (&self->directory);
    self->directory = directory;
    s_save_directory (self, welcome);
    if (!self->connected) {
        self->counts.connects++;
        log_info ("connected to broker %s, %zu agencies in the directory, %zu events in the outbox",
                  welcome->broker? welcome->broker: "?", pl_directory_size (directory),
                  pa_store_outbox_depth (self->store));
    }
    self->connected = true;
    self->refusal_logged = false;
    if (welcome->checkpoint)
        s_handle_checkpoint (self, welcome->checkpoint);
    pa_publisher_flush (self, true);
}

static void
s_handle_message (pa_agent_t *self, zframe_t *frame)
{
    char why [256];
    Passerelle__Status status;
    Passerelle__Message *msg = pl_wire_unpack (frame, PL_MAX_ENVELOPE + 64 * 1024, &status,
                                               why, sizeof why);
    if (!msg) {
        log_warn ("unreadable message from the broker: %s", why);
        return;
    }
    self->last_heard_ms = pl_now_ms ();
    switch (msg->body_case) {
        case PASSERELLE__MESSAGE__BODY_WELCOME:
            s_handle_welcome (self, msg->welcome);
            break;
        case PASSERELLE__MESSAGE__BODY_PUBLISH_ACK:
            pa_publisher_ack (self, msg->publish_ack);
            break;
        case PASSERELLE__MESSAGE__BODY_DELIVERY:
            s_handle_delivery (self, msg->delivery);
            break;
        case PASSERELLE__MESSAGE__BODY_CHECKPOINT:
            s_handle_checkpoint (self, msg->checkpoint);
            break;
        case PASSERELLE__MESSAGE__BODY_PROOF:
            pa_publisher_proof_answer (self, msg->proof);
            break;
        case PASSERELLE__MESSAGE__BODY_ERROR:
            log_warn ("broker error: %s: %s", pl_status_name (msg->error->status),
                      msg->error->reason? msg->error->reason: "");
            break;
        case PASSERELLE__MESSAGE__BODY_PONG:
            break;
        default:
            log_warn ("unexpected message type %d from the broker", (int) msg->body_case);
    }
    passerelle__message__free_unpacked (msg, NULL);
}

//  Sign and send the receipts gathered so far. If the Receipt is lost the
//  broker keeps those items and sends them again; the inbox then knows
//  them and we receipt them again.
static void
s_send_receipts (pa_agent_t *self)
{
    pl_receipt_batch_send (&self->receipts, self->keys, self->dealer);
    self->receipt_bytes = 0;
}

static int
s_handle_receipt_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    pa_agent_t *self = arg;
    self->receipt_timer = -1;
    s_send_receipts (self);
    return 0;
}

//  Receipts wait RECEIPT_LINGER_MS after the first one of a Receipt is due
//  (or until 256 are due): under a stream, deliveries come in many small
//  bursts, and one signature over each would be one check at the broker
//  per few events. Everything receipted is already in the inbox, so waiting
//  loses nothing; the broker keeps the items meanwhile (they count against
//  the credit, which is far larger than what arrives in this time). With
//  RECEIPT_BYTES_NOW of deliveries waiting they go at once: the broker's
//  credit also stops at 8 MiB out, and large envelopes must not stall on
//  it. (A delivery-window far under the default still slows a connection
//  to one window per linger: broker.cfg says so.)
#define RECEIPT_LINGER_MS 20
#define RECEIPT_BYTES_NOW (4u << 20)

static void
s_linger_receipts (pa_agent_t *self)
{
    if (self->receipts.count > 0 && self->receipt_bytes >= RECEIPT_BYTES_NOW) {
        s_send_receipts (self);
        return;
    }
    if (self->receipts.count == 0 || self->receipt_timer >= 0)
        return;
    self->receipt_timer = zloop_timer (self->loop, RECEIPT_LINGER_MS, 1,
                                       s_handle_receipt_timer, self);
    if (self->receipt_timer < 0)
        s_send_receipts (self);
}

//  Keep what the burst gathered (one inbox commit), queue its receipts, and
//  wake the callers long-polling the inbox.
static void
s_keep_burst (pa_agent_t *self)
{
    size_t events;
    self->receipt_bytes += pa_burst_bytes (self->burst);
    if (pa_burst_commit (self->burst, self->store, &self->receipts, self->keys, self->dealer,
                         &events) > 0) {
        self->counts.delivered += events;
        pa_control_answer_inbox_waiters (self, false);
    }
}

//  Whatever the broker sent that is waiting (a burst of deliveries, say):
//  verified and decrypted one by one, kept in the inbox by one commit, and
//  their receipts queued (s_linger_receipts). Bounded in messages and in
//  time, so that the control socket and timers are not kept waiting
//  behind a backlog.
#define READ_BURST_MS 50

static int
s_handle_dealer (zloop_t *loop, zsock_t *dealer, void *arg)
{
    (void) loop;
    pa_agent_t *self = arg;
    //  Publishes waiting for company go before a burst of deliveries, which
    //  may take a while (reading, one inbox commit, receipts)
    pa_publisher_send (self);
    int64_t until = zclock_mono () + READ_BURST_MS;
    for (size_t read = 0; read < PL_RECEIPT_ITEMS_MAX; read++) {
        if (read > 0 && (zclock_mono () >= until || !(zsock_events (dealer) & ZMQ_POLLIN)))
            break;
        if (pa_burst_is_full (self->burst))
            s_keep_burst (self);
        zframe_t *frame = zframe_recv (dealer);
        if (!frame)
            break;
        s_handle_message (self, frame);
        zframe_destroy (&frame);
    }
    s_keep_burst (self);
    s_linger_receipts (self);
    return 0;
}

static void
s_send_hello (pa_agent_t *self)
{
    Passerelle__Hello hello = PASSERELLE__HELLO__INIT;
    hello.version = PL_WIRE_VERSION;
    hello.agency = (char *) pl_keys_id (self->keys);
    hello.last_sequence = pa_store_last_sequence (self->store);
    hello.checkpoint_size = pa_witness_size (self->store);
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_HELLO;
    msg.hello = &hello;
    pa_agent_send_broker (self, &msg);
}

static void
s_mark_disconnected (pa_agent_t *self, const char *why)
{
    if (self->connected)
        log_warn ("broker connection lost (%s); reconnecting", why);
    self->connected = false;
}

static int
s_handle_monitor (zloop_t *loop, zsock_t *monitor, void *arg)
{
    (void) loop;
    pa_agent_t *self = arg;
    zmsg_t *msg = zmsg_recv (monitor);
    char *event = msg? zmsg_popstr (msg): NULL;
    if (event && streq (event, "HANDSHAKE_SUCCEEDED"))
        s_send_hello (self);
    else
    if (event && streq (event, "DISCONNECTED"))
        s_mark_disconnected (self, "disconnected");
    else
    if (event && strncmp (event, "HANDSHAKE_FAILED", 16) == 0) {
        s_mark_disconnected (self, "handshake failed");
        if (!self->refusal_logged)
            log_warn ("broker refused the connection (%s): is this agency's key in the broker's "
                      "directory, and is broker-key the right file?", event);
        self->refusal_logged = true;
    }
    zstr_free (&event);
    zmsg_destroy (&msg);
    return 0;
}

static int
s_handle_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    pa_agent_t *self = arg;
    uint64_t now = pl_now_ms ();
    if (self->connected) {
        if (now - self->last_heard_ms > 3 * self->config->heartbeat_ms)
            s_mark_disconnected (self, "broker silent");
        else {
            Passerelle__Ping ping = PASSERELLE__PING__INIT;
            ping.sent_at_ms = now;
            Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
            msg.body_case = PASSERELLE__MESSAGE__BODY_PING;
            msg.ping = &ping;
            pa_agent_send_broker (self, &msg);
            pa_publisher_flush (self, false);
        }
    }
    pa_publisher_expire_waiters (self, now);
    pa_control_answer_inbox_waiters (self, true);
    return 0;
}

static int
s_handle_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void) loop;
    (void) arg;
    char *command = zstr_recv (pipe);
    int rc = !command || streq (command, "$TERM")? -1: 0;
    zstr_free (&command);
    return rc;
}

//  --------------------------------------------------------------------------

//  An agent from before the store kept its last sequence number in a file:
//  never go below it.
static void
s_read_legacy_sequence (pa_agent_t *self)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/sequence", self->config->state_path);
    FILE *file = fopen (path, "r");
    if (file) {
        unsigned long long value = 0;
        if (fscanf (file, "%llu", &value) == 1)
            self->legacy_sequence = value;
        fclose (file);
    }
}

static int
s_agent_start (pa_agent_t *self)
{
    char err [1024], broker_id [PL_ID_MAX + 1], path [4200];
    uint8_t broker_curve [PL_CURVE_KEY_SIZE];
    pa_config_t *config = self->config;
    if (mkdir (config->state_path, 0700) != 0 && errno != EEXIST) {
        log_warn ("cannot create state folder %s: %s", config->state_path, strerror (errno));
        return -1;
    }
    chmod (config->state_path, 0700);
    snprintf (path, sizeof path, "%s/agent.lock", config->state_path);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0 || flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_warn ("another agent is already running with state folder %s", config->state_path);
        if (self->lock_fd >= 0)
            close (self->lock_fd);
        self->lock_fd = -1;
        return -1;
    }
    snprintf (path, sizeof path, "%s/store", config->state_path);
    if (!(self->keys = pl_keys_load (config->key_path, err, sizeof err))
    ||  pl_public_key_load (config->broker_key_path, broker_id, sizeof broker_id, self->broker_key,
                            err, sizeof err) != 0
    ||  !(self->store = pa_store_open (path, config->map_size, err, sizeof err))) {
        log_warn ("%s", err);
        return -1;
    }
    if (pl_curve_public_from_sign (self->broker_key, broker_curve) != 0) {
        log_warn ("%s: not a usable public key", config->broker_key_path);
        return -1;
    }
    pl_curve_to_z85 (broker_curve, self->broker_z85);
    snprintf (self->origin, sizeof self->origin, "%s", *config->broker_origin?
              config->broker_origin: broker_id);
    s_read_legacy_sequence (self);
    s_load_directory (self);
    self->cert = zcert_new_from (pl_keys_curve_public (self->keys), pl_keys_curve_secret (self->keys));
    self->publishes = zlistx_new ();
    self->inbox_waiters = zlistx_new ();
    self->proofs = zlistx_new ();
    self->burst = pa_burst_new ();
    self->loop = zloop_new ();
    self->dealer = zsock_new (ZMQ_DEALER);
    self->control = zsock_new (ZMQ_ROUTER);
    if (!self->cert || !self->publishes || !self->inbox_waiters || !self->proofs || !self->burst
    ||  !self->loop || !self->dealer || !self->control)
        return -1;
    zlistx_set_destructor (self->publishes, s_waiter_destroy);
    zlistx_set_destructor (self->inbox_waiters, s_waiter_destroy);
    zlistx_set_destructor (self->proofs, s_waiter_destroy);

    //  Control socket first: a stale file from a killed agent is removed,
    //  and the socket is made 0600 before anyone can be told it exists.
    unlink (config->control_path);
    mode_t old_mask = umask (077);
    int rc = zsock_bind (self->control, "ipc://%s", config->control_path);
    umask (old_mask);
    if (rc != 0 || chmod (config->control_path, 0600) != 0) {
        log_warn ("cannot open control socket %s: %s", config->control_path,
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    zcert_apply (self->cert, self->dealer);
    zsock_set_curve_serverkey (self->dealer, self->broker_z85);
    zsock_set_linger (self->dealer, 1000);
    zsock_set_reconnect_ivl (self->dealer, 100);
    zsock_set_reconnect_ivl_max (self->dealer, 5000);
    zsock_set_heartbeat_ivl (self->dealer, (int) config->heartbeat_ms);
    zsock_set_heartbeat_timeout (self->dealer, (int) (3 * config->heartbeat_ms));
    zsock_set_sndhwm (self->dealer, 100000);
    self->monitor = zactor_new (zmonitor, self->dealer);
    zstr_sendx (self->monitor, "LISTEN", "HANDSHAKE_SUCCEEDED", "HANDSHAKE_FAILED_AUTH",
                "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_NO_DETAIL", "DISCONNECTED", NULL);
    zstr_send (self->monitor, "START");
    zsock_wait (self->monitor);
    if (zsock_connect (self->dealer, "%s", config->broker_endpoint) != 0) {
        log_warn ("cannot connect to %s", config->broker_endpoint);
        return -1;
    }
    zloop_reader (self->loop, self->pipe, s_handle_pipe, self);
    zloop_reader (self->loop, self->dealer, s_handle_dealer, self);
    zloop_reader (self->loop, zactor_sock (self->monitor), s_handle_monitor, self);
    zloop_reader (self->loop, self->control, pa_control_handle, self);
    zloop_timer (self->loop, (size_t) config->heartbeat_ms, 0, s_handle_tick, self);
    log_info ("agency %s: connecting to %s (broker %s), control socket %s, %zu events in the "
              "outbox, %llu in the inbox", pl_keys_id (self->keys), config->broker_endpoint,
              broker_id, config->control_path, pa_store_outbox_depth (self->store),
              (unsigned long long) pa_store_inbox_last (self->store));
    return 0;
}

static void
s_agent_destroy (pa_agent_t *self)
{
    //  Events accepted in the last few ms and not sent: the outbox has them
    self->connected = false;
    pa_publisher_send (self);
    zactor_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->control);
    if (self->lock_fd >= 0) {
        //  Only the agent holding the lock owns the socket file
        unlink (self->config->control_path);
        close (self->lock_fd);
    }
    zlistx_destroy (&self->publishes);
    zlistx_destroy (&self->inbox_waiters);
    zlistx_destroy (&self->proofs);
    pa_burst_destroy (&self->burst);
    pa_store_destroy (&self->store);
    pl_directory_destroy (&self->directory);
    zcert_destroy (&self->cert);
    pl_keys_destroy (&self->keys);
    zloop_destroy (&self->loop);
}

void
pa_agent_actor (zsock_t *pipe, void *config)
{
    pa_agent_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.config = config;
    self.lock_fd = -1;
    self.receipt_timer = -1;
    self.send_timer = -1;
    zsock_signal (pipe, 0);
    if (s_agent_start (&self) != 0) {
        s_agent_destroy (&self);
        pl_daemon_refuse (pipe);
        return;
    }
    zstr_send (pipe, "READY");
    zloop_start (self.loop);
    s_send_receipts (&self);        //  what was kept and not receipted yet
    log_info ("stopping: %llu published, %llu received, %zu still in the outbox",
              (unsigned long long) self.counts.published, (unsigned long long) self.counts.delivered,
              pa_store_outbox_depth (self.store));
    s_agent_destroy (&self);
}
