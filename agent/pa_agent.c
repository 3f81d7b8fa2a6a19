/*  pa_agent: the agency daemon's actor (see pa_agent.h).
 *
 *  The broker link's state comes from the socket monitor, not from guesses:
 *  HANDSHAKE_SUCCEEDED means the broker proved its key and accepted ours, so
 *  we say Hello; the Welcome brings the directory, and only then are we
 *  "connected" (we cannot seal to anyone without it). A publish while not
 *  connected is refused at once: nothing is accepted that cannot be sent.  */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "pa_agent.h"
#include "pa_config.h"
#include "pa_inbox.h"
#include "pa_publish.h"
#include "pl_directory.h"
#include "pl_envelope.h"
#include "pl_keys.h"
#include "pl_log.h"
#include "pl_wire.h"

#define INBOX_PAGE_MAX  1000

typedef struct {
    zframe_t *routing_id;           //  the CLI waiting for the answer
    uint8_t event_id [PL_EVENT_ID_SIZE];
    uint64_t deadline_ms;
    uint64_t inbox_after;           //  for inbox waiters
    size_t inbox_max;
} waiter_t;

typedef struct {
    zsock_t *pipe;
    pa_config_t *config;
    zloop_t *loop;
    pl_keys_t *keys;
    zcert_t *cert;
    char broker_z85 [41];
    uint8_t broker_key [PL_PUBLIC_KEY_SIZE];    //  verifies the broker's notices
    zsock_t *dealer;
    zactor_t *monitor;
    zsock_t *control;
    int lock_fd;                    //  flock on state/agent.lock: one agent per state
    pl_directory_t *directory;      //  from the broker's Welcome
    pa_inbox_t *inbox;
    zlistx_t *publishes;            //  waiter_t: CLIs awaiting a PublishAck
    zlistx_t *inbox_waiters;        //  waiter_t: CLIs long-polling the inbox
    zhashx_t *shared_with;          //  our event id (hex) -> "a,b,c": who the broker
                                    //  delivered it to, so a correction reaches them all
    bool connected;
    bool refusal_logged;
    uint64_t last_heard_ms;
    uint64_t sequence;              //  last sequence number used
    struct {
        uint64_t published, accepted, refused, delivered, duplicates, undecryptable,
                 connects;
    } counts;
} agent_t;

//  --------------------------------------------------------------------------
//  Helpers

static void
s_waiter_destroy (void **item_p)
{
    waiter_t *waiter = *item_p;
    if (waiter) {
        zframe_destroy (&waiter->routing_id);
        free (waiter);
        *item_p = NULL;
    }
}

static void
s_reply (agent_t *self, zframe_t *routing_id, json_t *reply)
{
    char *text = json_dumps (reply, JSON_COMPACT);
    json_decref (reply);
    if (!text)
        return;
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (routing_id) });
    zmsg_addstr (msg, text);
    zmsg_send (&msg, self->control);
    free (text);
}

static void
s_reply_error (agent_t *self, zframe_t *routing_id, const char *code, const char *message)
{
    s_reply (self, routing_id, json_pack ("{s:s, s:s}", "error", code, "message", message));
}

static int
s_send_broker (agent_t *self, Passerelle__Message *msg)
{
    zframe_t *frame = pl_wire_pack (msg);
    return frame? zframe_send (&frame, self->dealer, 0): -1;
}

//  The last sequence number survives restarts, so a restarted agent never
//  reuses one (the broker detects gaps and repeats per publisher).
static void
s_load_sequence (agent_t *self)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/sequence", self->config->state_path);
    FILE *file = fopen (path, "r");
    if (file) {
        unsigned long long value = 0;
        if (fscanf (file, "%llu", &value) == 1)
            self->sequence = value;
        fclose (file);
    }
}

static int
s_save_sequence (agent_t *self)
{
    char path [4200], temp [4300];
    snprintf (path, sizeof path, "%s/sequence", self->config->state_path);
    snprintf (temp, sizeof temp, "%s.tmp", path);
    int fd = open (temp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    char text [32];
    int len = snprintf (text, sizeof text, "%llu\n", (unsigned long long) self->sequence);
    int rc = write (fd, text, (size_t) len) == len && fsync (fd) == 0? 0: -1;
    close (fd);
    return rc == 0? rename (temp, path): -1;
}

//  --------------------------------------------------------------------------
//  Publish: from a control request to the broker

//  Everyone the event is sealed for: named agencies, then role holders in
//  our own network, as the broker will resolve them.
static int
s_resolve_recipients (agent_t *self, Passerelle__EventHeader *header, pl_recipient_t *out,
                      size_t *count, char *err, size_t err_size)
{
    const pl_agency_t *me = pl_directory_lookup (self->directory, pl_keys_id (self->keys));
    *count = 0;
    if (!me) {
        snprintf (err, err_size, "this agency (%s) is not in the broker's directory",
                  pl_keys_id (self->keys));
        return -1;
    }
    for (size_t i = 0; i < header->n_to_agencies; i++) {
        const pl_agency_t *agency = pl_directory_lookup (self->directory, header->to_agencies [i]);
        if (!agency) {
            snprintf (err, err_size, "unknown agency '%.64s' (not in the directory)",
                      header->to_agencies [i]);
            return -1;
        }
        out [(*count)++] = (pl_recipient_t) { agency->id, agency->public_key };
    }
    for (size_t r = 0; r < header->n_to_roles; r++) {
        const pl_agency_t *found [PL_MAX_RECIPIENTS];
        int role = pl_vocab_id (PL_KIND_ROLE, header->to_roles [r]);
        size_t n = pl_directory_find_by_roles (self->directory, PL_SET (role), me->network,
                                               me->id, found, PL_MAX_RECIPIENTS);
        for (size_t i = 0; i < n && i < PL_MAX_RECIPIENTS; i++) {
            bool already = false;
            for (size_t k = 0; k < *count && !already; k++)
                already = strcmp (out [k].id, found [i]->id) == 0;
            if (!already && *count < PL_MAX_RECIPIENTS)
                out [(*count)++] = (pl_recipient_t) { found [i]->id, found [i]->public_key };
        }
    }
    //  A correction must be readable by everyone who got the original
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    const char *earlier = header->supersedes.len == PL_EVENT_ID_SIZE?
        zhashx_lookup (self->shared_with, pl_event_id_hex (header->supersedes.data, hex)): NULL;
    char *list = earlier? strdup (earlier): NULL, *save = NULL;
    for (char *id = list? strtok_r (list, ",", &save): NULL; id; id = strtok_r (NULL, ",", &save)) {
        const pl_agency_t *agency = pl_directory_lookup (self->directory, id);
        bool already = false;
        for (size_t k = 0; k < *count && !already; k++)
            already = strcmp (out [k].id, id) == 0;
        if (agency && !already && *count < PL_MAX_RECIPIENTS)
            out [(*count)++] = (pl_recipient_t) { agency->id, agency->public_key };
    }
    free (list);
    //  A consent event addressed to no one goes to the broker's registry;
    //  the payload (if any) is sealed to ourselves, for our own records
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type);
    if (*count == 0 && header->n_to_agencies == 0 && header->n_to_roles == 0
    &&  (type == PL_EV_CONSENT_GIVEN || type == PL_EV_CONSENT_WITHDRAWN))
        out [(*count)++] = (pl_recipient_t) { me->id, me->public_key };
    if (*count == 0) {
        snprintf (err, err_size, "no agency holds the roles asked for in network %s", me->network);
        return -1;
    }
    return 0;
}

static void
s_handle_publish_request (agent_t *self, zframe_t *routing_id, json_t *request)
{
    char err [512];
    json_object_del (request, "op");
    pa_publish_t *publish = pa_publish_from_json (request, pl_now_ms (), err, sizeof err);
    if (!publish) {
        s_reply_error (self, routing_id, "invalid_request", err);
        return;
    }
    Passerelle__EventHeader *header = pa_publish_header (publish);
    pl_recipient_t recipients [PL_MAX_RECIPIENTS];
    size_t count = 0;
    uint8_t *envelope = NULL;
    size_t envelope_size = 0;
    if (!self->connected || !self->directory) {
        s_reply_error (self, routing_id, "not_connected",
                       "not connected to the broker: nothing was sent, try again later");
        goto done;
    }
    if (s_resolve_recipients (self, header, recipients, &count, err, sizeof err) != 0) {
        s_reply_error (self, routing_id, "unknown_recipient", err);
        goto done;
    }
    self->sequence++;
    if (s_save_sequence (self) != 0) {
        self->sequence--;
        snprintf (err, sizeof err, "cannot record the sequence number in %.300s: %s",
                  self->config->state_path, strerror (errno));
        s_reply_error (self, routing_id, "state_write_failed", err);
        goto done;
    }
    header->sequence = self->sequence;
    size_t payload_size;
    const uint8_t *payload = pa_publish_payload (publish, &payload_size);
    uint8_t event_id [PL_EVENT_ID_SIZE];
    randombytes_buf (event_id, sizeof event_id);
    header->event_id.data = event_id;
    header->event_id.len = sizeof event_id;
    pl_err_t sealed = pl_envelope_seal (self->keys, header, payload, payload_size, recipients,
                                        count, &envelope, &envelope_size, err, sizeof err);
    if (sealed != PL_OK) {
        char message [700];
        snprintf (message, sizeof message, "%s: %s", pl_err_str (sealed), err);
        s_reply_error (self, routing_id, "invalid_event", message);
        goto done;
    }
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, envelope_size, envelope);
    Passerelle__Publish body = PASSERELLE__PUBLISH__INIT;
    body.envelope = wire;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH;
    msg.publish = &body;
    int rc = wire? s_send_broker (self, &msg): -1;
    passerelle__envelope__free_unpacked (wire, NULL);
    if (rc != 0) {
        s_reply_error (self, routing_id, "send_failed", "could not hand the event to the broker");
        goto done;
    }
    waiter_t *waiter = calloc (1, sizeof *waiter);
    waiter->routing_id = zframe_dup (routing_id);
    memcpy (waiter->event_id, event_id, sizeof event_id);
    waiter->deadline_ms = pl_now_ms () + self->config->publish_timeout_ms;
    zlistx_add_end (self->publishes, waiter);
    self->counts.published++;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    log_info ("publish event %s case %s type %s to %zu recipient(s), sequence %llu",
              pl_event_id_hex (event_id, hex), header->case_ref, header->event_type, count,
              (unsigned long long) header->sequence);
done:
    free (envelope);
    pa_publish_destroy (&publish);
}

static void
s_handle_publish_ack (agent_t *self, Passerelle__PublishAck *ack)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1] = "-";
    bool accepted = ack->status == PASSERELLE__STATUS__STATUS_OK;
    if (ack->event_id.len == PL_EVENT_ID_SIZE)
        pl_event_id_hex (ack->event_id.data, hex);
    accepted? self->counts.accepted++: self->counts.refused++;
    if (accepted)
        log_info ("broker accepted event %s", hex);
    else
        log_warn ("broker refused event %s: %s: %s", hex, pl_status_name (ack->status),
                  ack->reason? ack->reason: "");
    json_t *decisions = json_array ();
    char shared [PL_MAX_RECIPIENTS * (PL_ID_MAX + 1) + 1] = "";
    for (size_t i = 0; i < ack->n_decisions; i++) {
        Passerelle__RecipientDecision *d = ack->decisions [i];
        json_array_append_new (decisions, json_pack ("{s:s, s:b, s:s, s:s, s:s, s:s, s:s}",
            "recipient", d->recipient, "allowed", d->allowed, "status", pl_status_name (d->status),
            "code", d->code? d->code: "", "rule", d->rule? d->rule: "",
            "category", d->category? d->category: "", "reason", d->reason? d->reason: ""));
        if (d->allowed && strlen (shared) + strlen (d->recipient) + 2 < sizeof shared) {
            if (*shared)
                strcat (shared, ",");
            strcat (shared, d->recipient);
        }
    }
    if (accepted && *shared)
        zhashx_update (self->shared_with, hex, shared);
    json_t *warnings = json_array ();
    for (size_t i = 0; i < ack->n_warnings; i++) {
        json_array_append_new (warnings, json_string (ack->warnings [i]));
        log_warn ("broker warning on event %s: %s", hex, ack->warnings [i]);
    }
    json_t *reply = json_pack ("{s:s, s:b, s:s, s:s, s:o, s:o}", "event_id", hex, "accepted",
                               accepted, "status", pl_status_name (ack->status),
                               "reason", ack->reason? ack->reason: "", "decisions", decisions,
                               "warnings", warnings);
    //  Answer the CLI that asked, if it is still waiting
    for (waiter_t *w = zlistx_first (self->publishes); w; w = zlistx_next (self->publishes))
        if (ack->event_id.len == PL_EVENT_ID_SIZE
        &&  memcmp (w->event_id, ack->event_id.data, PL_EVENT_ID_SIZE) == 0) {
            s_reply (self, w->routing_id, reply);
            zlistx_delete (self->publishes, zlistx_cursor (self->publishes));
            return;
        }
    json_decref (reply);
}

//  --------------------------------------------------------------------------
//  Deliveries: verify, decrypt, keep once, receipt

static void
s_answer_inbox_waiters (agent_t *self, bool timed_out_only)
{
    uint64_t now = pl_now_ms ();
    waiter_t *w = zlistx_first (self->inbox_waiters);
    while (w) {
        bool has_news = pa_inbox_last (self->inbox) > w->inbox_after;
        if ((!timed_out_only && has_news) || now >= w->deadline_ms) {
            json_t *events = pa_inbox_list (self->inbox, w->inbox_after, w->inbox_max);
            s_reply (self, w->routing_id, json_pack ("{s:o, s:I}", "events", events, "last",
                                                     (json_int_t) pa_inbox_last (self->inbox)));
            zlistx_delete (self->inbox_waiters, zlistx_cursor (self->inbox_waiters));
            w = zlistx_first (self->inbox_waiters);
        }
        else
            w = zlistx_next (self->inbox_waiters);
    }
}

static void
s_send_receipt (agent_t *self, pl_envelope_t *envelope)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    uint8_t hash [PL_HASH_SIZE], bytes [PL_RECEIPT_BYTES_MAX], signature [PL_SIGNATURE_SIZE];
    pl_envelope_header_hash (envelope, hash);
    Passerelle__Receipt receipt = PASSERELLE__RECEIPT__INIT;
    receipt.event_id = header->event_id;
    receipt.recipient = (char *) pl_keys_id (self->keys);
    receipt.received_at_ms = pl_now_ms ();
    receipt.header_hash.data = hash;
    receipt.header_hash.len = sizeof hash;
    size_t size = pl_receipt_bytes (header->event_id.data, hash, receipt.recipient,
                                    receipt.received_at_ms, bytes);
    pl_keys_sign (self->keys, bytes, size, signature);
    receipt.signature.data = signature;
    receipt.signature.len = sizeof signature;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_RECEIPT;
    msg.receipt = &receipt;
    s_send_broker (self, &msg);
}

//  A notice from the broker: check the broker signed it, keep it once,
//  receipt it like an event (its hash stands for the header hash).
static void
s_handle_notice (agent_t *self, Passerelle__Delivery *delivery)
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
    uint8_t hash [PL_HASH_SIZE], bytes [PL_RECEIPT_BYTES_MAX], signature [PL_SIGNATURE_SIZE];
    crypto_hash_sha256 (hash, delivery->notice.data, delivery->notice.len);
    bool fresh = !pa_inbox_has (self->inbox, notice->notice_id.data);
    if (fresh && pa_inbox_add_notice (self->inbox, notice->notice_id.data, delivery->notice.data,
                                      delivery->notice.len, pl_now_ms ()) == 0) {
        log_warn ("notice: out of memory, not receipted (will be redelivered)");
        passerelle__notice__free_unpacked (notice, NULL);
        return;
    }
    if (fresh)
        log_info ("notice %s: case %s: %s", notice->kind, notice->case_ref? notice->case_ref: "-",
                  notice->text? notice->text: "");
    Passerelle__Receipt receipt = PASSERELLE__RECEIPT__INIT;
    receipt.event_id = notice->notice_id;
    receipt.recipient = (char *) pl_keys_id (self->keys);
    receipt.received_at_ms = pl_now_ms ();
    receipt.header_hash.data = hash;
    receipt.header_hash.len = sizeof hash;
    size_t size = pl_receipt_bytes (notice->notice_id.data, hash, receipt.recipient,
                                    receipt.received_at_ms, bytes);
    pl_keys_sign (self->keys, bytes, size, signature);
    receipt.signature.data = signature;
    receipt.signature.len = sizeof signature;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_RECEIPT;
    msg.receipt = &receipt;
    s_send_broker (self, &msg);
    passerelle__notice__free_unpacked (notice, NULL);
    if (fresh)
        s_answer_inbox_waiters (self, false);
}

static void
s_handle_delivery (agent_t *self, Passerelle__Delivery *delivery)
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
    const pl_agency_t *publisher = self->directory?
        pl_directory_lookup (self->directory, header->publisher): NULL;
    uint8_t *plaintext = NULL;
    size_t size = 0;
    if (pa_inbox_has (self->inbox, header->event_id.data)) {
        //  A redelivery (our receipt was lost): receipt again, keep once
        self->counts.duplicates++;
        s_send_receipt (self, envelope);
    }
    else
    if (!publisher)
        log_warn ("delivery %s: publisher %s is not in our directory; not accepted", hex,
                  header->publisher);
    else
    if ((err = pl_envelope_open (envelope, self->keys, publisher->public_key, &plaintext, &size))
        != PL_OK) {
        self->counts.undecryptable++;
        log_warn ("delivery %s from %s refused: %s", hex, header->publisher, pl_err_str (err));
    }
    else {
        const Passerelle__Envelope *wire = pl_envelope_wire (envelope);
        if (pa_inbox_add (self->inbox, header->event_id.data, wire->header.data, wire->header.len,
                          plaintext, size, pl_now_ms ()) == 0)
            log_warn ("delivery %s: out of memory, not receipted (will be redelivered)", hex);
        else {
            self->counts.delivered++;
            log_info ("received event %s case %s type %s from %s (%zu bytes)", hex,
                      header->case_ref, header->event_type, header->publisher, size);
            s_send_receipt (self, envelope);
            s_answer_inbox_waiters (self, false);
        }
    }
    if (plaintext)
        sodium_memzero (plaintext, size);
    free (plaintext);
    pl_envelope_destroy (&envelope);
}

//  --------------------------------------------------------------------------
//  Broker link

static void
s_handle_welcome (agent_t *self, Passerelle__Welcome *welcome)
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
    if (!self->connected) {
        self->counts.connects++;
        log_info ("connected to broker %s, %zu agencies in the directory",
                  welcome->broker? welcome->broker: "?", pl_directory_size (directory));
    }
    self->connected = true;
    self->refusal_logged = false;
}

static int
s_handle_dealer (zloop_t *loop, zsock_t *dealer, void *arg)
{
    (void) loop;
    agent_t *self = arg;
    zframe_t *frame = zframe_recv (dealer);
    if (!frame)
        return 0;
    char why [256];
    Passerelle__Status status;
    Passerelle__Message *msg = pl_wire_unpack (frame, PL_MAX_ENVELOPE + 64 * 1024, &status,
                                               why, sizeof why);
    zframe_destroy (&frame);
    if (!msg) {
        log_warn ("unreadable message from the broker: %s", why);
        return 0;
    }
    self->last_heard_ms = pl_now_ms ();
    switch (msg->body_case) {
        case PASSERELLE__MESSAGE__BODY_WELCOME:
            s_handle_welcome (self, msg->welcome);
            break;
        case PASSERELLE__MESSAGE__BODY_PUBLISH_ACK:
            s_handle_publish_ack (self, msg->publish_ack);
            break;
        case PASSERELLE__MESSAGE__BODY_DELIVERY:
            s_handle_delivery (self, msg->delivery);
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
    return 0;
}

static void
s_send_hello (agent_t *self)
{
    Passerelle__Hello hello = PASSERELLE__HELLO__INIT;
    hello.version = PL_PROTOCOL_VERSION;
    hello.agency = (char *) pl_keys_id (self->keys);
    hello.last_sequence = self->sequence;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_HELLO;
    msg.hello = &hello;
    s_send_broker (self, &msg);
}

static void
s_mark_disconnected (agent_t *self, const char *why)
{
    if (self->connected)
        log_warn ("broker connection lost (%s); reconnecting", why);
    self->connected = false;
}

static int
s_handle_monitor (zloop_t *loop, zsock_t *monitor, void *arg)
{
    (void) loop;
    agent_t *self = arg;
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
    agent_t *self = arg;
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
            s_send_broker (self, &msg);
        }
    }
    //  CLIs waiting past their deadline get a clear answer, not silence
    waiter_t *w = zlistx_first (self->publishes);
    while (w) {
        if (now >= w->deadline_ms) {
            char hex [PL_EVENT_ID_SIZE * 2 + 1], message [256];
            snprintf (message, sizeof message, "no answer from the broker within %llu ms for "
                      "event %s: it may or may not have been accepted",
                      (unsigned long long) self->config->publish_timeout_ms,
                      pl_event_id_hex (w->event_id, hex));
            s_reply_error (self, w->routing_id, "timeout", message);
            zlistx_delete (self->publishes, zlistx_cursor (self->publishes));
            w = zlistx_first (self->publishes);
        }
        else
            w = zlistx_next (self->publishes);
    }
    s_answer_inbox_waiters (self, true);
    return 0;
}

//  --------------------------------------------------------------------------
//  Control socket

static void
s_handle_inbox_request (agent_t *self, zframe_t *routing_id, json_t *request)
{
    json_int_t after = 0, max = INBOX_PAGE_MAX, wait_ms = 0;
    json_error_t error;
    if (json_unpack_ex (request, &error, 0, "{s:s, s?I, s?I, s?I}", "op", &(const char *) { 0 },
                        "after", &after, "max", &max, "wait_ms", &wait_ms) != 0
    ||  after < 0 || max < 1 || max > INBOX_PAGE_MAX || wait_ms < 0 || wait_ms > 600000) {
        s_reply_error (self, routing_id, "invalid_request", "inbox: 'after' >= 0, 'max' 1-1000 "
                       "and 'wait_ms' 0-600000 must be integers");
        return;
    }
    if (pa_inbox_last (self->inbox) > (uint64_t) after || wait_ms == 0) {
        json_t *events = pa_inbox_list (self->inbox, (uint64_t) after, (size_t) max);
        s_reply (self, routing_id, json_pack ("{s:o, s:I}", "events", events, "last",
                                              (json_int_t) pa_inbox_last (self->inbox)));
        return;
    }
    waiter_t *waiter = calloc (1, sizeof *waiter);
    waiter->routing_id = zframe_dup (routing_id);
    waiter->inbox_after = (uint64_t) after;
    waiter->inbox_max = (size_t) max;
    waiter->deadline_ms = pl_now_ms () + (uint64_t) wait_ms;
    zlistx_add_end (self->inbox_waiters, waiter);
}

static void
s_handle_status_request (agent_t *self, zframe_t *routing_id)
{
    json_t *counts = json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "published", (json_int_t) self->counts.published,
        "accepted", (json_int_t) self->counts.accepted,
        "refused", (json_int_t) self->counts.refused,
        "delivered", (json_int_t) self->counts.delivered,
        "duplicates", (json_int_t) self->counts.duplicates,
        "undecryptable", (json_int_t) self->counts.undecryptable,
        "connects", (json_int_t) self->counts.connects);
    s_reply (self, routing_id, json_pack ("{s:s, s:s, s:b, s:I, s:I, s:I, s:o}",
        "agency", pl_keys_id (self->keys), "broker", self->config->broker_endpoint,
        "connected", self->connected,
        "directory_size", (json_int_t) (self->directory? pl_directory_size (self->directory): 0),
        "inbox_last", (json_int_t) pa_inbox_last (self->inbox),
        "sequence", (json_int_t) self->sequence, "counts", counts));
}

static int
s_handle_control (zloop_t *loop, zsock_t *control, void *arg)
{
    (void) loop;
    agent_t *self = arg;
    zmsg_t *msg = zmsg_recv (control);
    zframe_t *routing_id = msg? zmsg_pop (msg): NULL;
    zframe_t *body = msg? zmsg_pop (msg): NULL;
    if (routing_id && body) {
        json_error_t error;
        json_t *request = json_loadb ((const char *) zframe_data (body), zframe_size (body),
                                      JSON_REJECT_DUPLICATES, &error);
        const char *op = request? json_string_value (json_object_get (request, "op")): NULL;
        if (!request) {
            char message [300];
            snprintf (message, sizeof message, "not valid JSON: %s (column %d)", error.text,
                      error.column);
            s_reply_error (self, routing_id, "invalid_json", message);
        }
        else
        if (op && streq (op, "publish"))
            s_handle_publish_request (self, routing_id, request);
        else
        if (op && streq (op, "inbox"))
            s_handle_inbox_request (self, routing_id, request);
        else
        if (op && streq (op, "status"))
            s_handle_status_request (self, routing_id);
        else
            s_reply_error (self, routing_id, "unknown_op", "'op' must be publish, inbox or status");
        json_decref (request);
    }
    zframe_destroy (&routing_id);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
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

static int
s_agent_start (agent_t *self)
{
    char err [1024], broker_id [PL_ID_MAX + 1];
    uint8_t broker_key [PL_PUBLIC_KEY_SIZE], broker_curve [PL_CURVE_KEY_SIZE];
    pa_config_t *config = self->config;
    if (mkdir (config->state_path, 0700) != 0 && errno != EEXIST) {
        log_warn ("cannot create state folder %s: %s", config->state_path, strerror (errno));
        return -1;
    }
    chmod (config->state_path, 0700);
    char lock_path [4200];
    snprintf (lock_path, sizeof lock_path, "%s/agent.lock", config->state_path);
    self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0 || flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_warn ("another agent is already running with state folder %s", config->state_path);
        if (self->lock_fd >= 0)
            close (self->lock_fd);
        self->lock_fd = -1;
        return -1;
    }
    if (!(self->keys = pl_keys_load (config->key_path, err, sizeof err))
    ||  pl_public_key_load (config->broker_key_path, broker_id, sizeof broker_id, broker_key,
                            err, sizeof err) != 0) {
        log_warn ("%s", err);
        return -1;
    }
    if (pl_curve_public_from_sign (broker_key, broker_curve) != 0) {
        log_warn ("%s: not a usable public key", config->broker_key_path);
        return -1;
    }
    pl_curve_to_z85 (broker_curve, self->broker_z85);
    memcpy (self->broker_key, broker_key, sizeof broker_key);
    s_load_sequence (self);
    self->cert = zcert_new_from (pl_keys_curve_public (self->keys), pl_keys_curve_secret (self->keys));
    self->inbox = pa_inbox_new ();
    self->publishes = zlistx_new ();
    self->inbox_waiters = zlistx_new ();
    self->shared_with = zhashx_new ();
    self->loop = zloop_new ();
    self->dealer = zsock_new (ZMQ_DEALER);
    self->control = zsock_new (ZMQ_ROUTER);
    if (!self->cert || !self->inbox || !self->publishes || !self->inbox_waiters
    ||  !self->shared_with || !self->loop
    ||  !self->dealer || !self->control)
        return -1;
    zlistx_set_destructor (self->publishes, s_waiter_destroy);
    zlistx_set_destructor (self->inbox_waiters, s_waiter_destroy);
    zhashx_set_destructor (self->shared_with, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->shared_with, (zhashx_duplicator_fn *) strdup);

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
    zloop_reader (self->loop, self->control, s_handle_control, self);
    zloop_timer (self->loop, (size_t) config->heartbeat_ms, 0, s_handle_tick, self);
    log_info ("agency %s: connecting to %s (broker %s), control socket %s", pl_keys_id (self->keys),
              config->broker_endpoint, broker_id, config->control_path);
    return 0;
}

static void
s_agent_destroy (agent_t *self)
{
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
    zhashx_destroy (&self->shared_with);
    pa_inbox_destroy (&self->inbox);
    pl_directory_destroy (&self->directory);
    zcert_destroy (&self->cert);
    pl_keys_destroy (&self->keys);
    zloop_destroy (&self->loop);
}

void
pa_agent_actor (zsock_t *pipe, void *config)
{
    agent_t self = { .pipe = pipe, .config = config, .lock_fd = -1 };
    zsock_signal (pipe, 0);
    if (s_agent_start (&self) != 0) {
        s_agent_destroy (&self);
        zstr_send (pipe, "FAILED");
        char *command;
        while ((command = zstr_recv (pipe)) && !streq (command, "$TERM"))
            zstr_free (&command);
        zstr_free (&command);
        return;
    }
    zstr_send (pipe, "READY");
    zloop_start (self.loop);
    log_info ("stopping: %llu published, %llu received", (unsigned long long) self.counts.published,
              (unsigned long long) self.counts.delivered);
    s_agent_destroy (&self);
}
