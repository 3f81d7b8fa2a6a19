/*  pb_server: sockets, peers and the publish pipeline (see pb_server.h).
 *
 *  Pipeline for each publish: bound-check and decode -> the CURVE peer must
 *  be the publisher -> signature and payload hash -> timeliness -> replay
 *  (event id) -> per-recipient decision -> queue for each allowed recipient
 *  -> acknowledge the publisher -> deliver to those connected. Every refusal
 *  and every decision is logged on one line.
 *
 *  Identity comes only from ZAP: libzmq stamps each frame with the User-Id
 *  that zauth accepted (the peer's Z85 CURVE key), and we map that key to
 *  an agency through the directory. Nothing a peer says about itself (its
 *  Hello, its routing id) is trusted.  */
#include <sys/stat.h>
#include <errno.h>
#include "pb_server.h"
#include "pb_config.h"
#include "pb_queue.h"
#include "pb_sharing.h"
#include "pl_directory.h"
#include "pl_envelope.h"
#include "pl_keys.h"
#include "pl_log.h"
#include "pl_wire.h"

#define CLIENT_TIMEOUT_MS   10000   //  forget a peer silent this long
#define HARD_MESSAGE_LIMIT  (PL_MAX_ENVELOPE + 64 * 1024)

typedef struct {
    char agency [PL_ID_MAX + 1];
    zframe_t *routing_id;
    uint64_t last_seen_ms;
} client_t;

typedef struct {
    zsock_t *pipe;
    pb_config_t *config;
    zloop_t *loop;
    pl_keys_t *keys;
    zcert_t *cert;                  //  the broker's CURVE certificate
    pl_directory_t *directory;
    zactor_t *auth;
    zsock_t *router;
    char certs_path [4200];
    unsigned certs_generation;
    zhashx_t *clients;              //  routing id (hex) -> client_t
    zhashx_t *seen;                 //  accepted event ids (hex)
    pb_queue_t *queue;
    pb_sharing_t *sharing;          //  policy, consents, cases, sequences
    struct {
        uint64_t accepted, refused, delivered, receipts, denied_recipients;
    } counts;
} server_t;

//  --------------------------------------------------------------------------
//  Sending

//  Send msg to one peer. With ROUTER_MANDATORY a vanished peer fails with
//  EHOSTUNREACH instead of silently dropping: the caller keeps what it owes.
static int
s_send (server_t *self, zframe_t *routing_id, Passerelle__Message *msg)
{
    zframe_t *body = pl_wire_pack (msg);
    if (!body)
        return -1;
    zmsg_t *out = zmsg_new ();
    zmsg_append (out, &(zframe_t *) { zframe_dup (routing_id) });
    zmsg_append (out, &body);
    int rc = zmsg_send (&out, self->router);
    zmsg_destroy (&out);
    return rc;
}

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

//  --------------------------------------------------------------------------
//  Peers

static void
s_client_destroy (void **item_p)
{
    client_t *client = *item_p;
    if (client) {
        zframe_destroy (&client->routing_id);
        free (client);
        *item_p = NULL;
    }
}

static client_t *
s_client_of_agency (server_t *self, const char *agency)
{
    for (client_t *c = zhashx_first (self->clients); c; c = zhashx_next (self->clients))
        if (strcmp (c->agency, agency) == 0)
            return c;
    return NULL;
}

static void
s_forget_client (server_t *self, client_t *client, const char *why)
{
    log_info ("agency %s disconnected (%s)", client->agency, why);
    char *key = zframe_strhex (client->routing_id);
    zhashx_delete (self->clients, key);
    free (key);
}

//  Send everything owed to a connected agency, oldest first.
static void
s_flush_queue (server_t *self, client_t *client)
{
    zframe_t *delivery;
    for (size_t i = 0; (delivery = pb_queue_at (self->queue, client->agency, i)); i++)
        if (s_send_frame (self, client->routing_id, delivery) != 0) {
            s_forget_client (self, client, "unreachable");
            return;
        }
}

static void
s_send_welcome (server_t *self, zframe_t *routing_id)
{
    Passerelle__Welcome welcome = PASSERELLE__WELCOME__INIT;
    welcome.version = PL_PROTOCOL_VERSION;
    welcome.broker = (char *) pl_keys_id (self->keys);
    welcome.broker_time_ms = pl_now_ms ();
    welcome.directory = pl_directory_to_wire (self->directory, &welcome.n_directory);
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
    client_t *old = s_client_of_agency (self, peer->id);
    if (old && !zframe_eq (old->routing_id, routing_id))
        s_forget_client (self, old, "replaced by a new connection");
    char *key = zframe_strhex (routing_id);
    client_t *client = zhashx_lookup (self->clients, key);
    if (!client) {
        client = calloc (1, sizeof *client);
        snprintf (client->agency, sizeof client->agency, "%s", peer->id);
        client->routing_id = zframe_dup (routing_id);
        zhashx_insert (self->clients, key, client);
        log_info ("agency %s connected (%zu deliveries waiting)", peer->id,
                  pb_queue_depth (self->queue, peer->id));
    }
    free (key);
    client->last_seen_ms = pl_now_ms ();
    s_send_welcome (self, routing_id);
    s_flush_queue (self, client);
}

//  --------------------------------------------------------------------------
//  Publish pipeline

static Passerelle__Status
s_status_of (pl_err_t err)
{
    switch (err) {
        case PL_ERR_OVERSIZED:      return PASSERELLE__STATUS__STATUS_OVERSIZED;
        case PL_ERR_BAD_VERSION:    return PASSERELLE__STATUS__STATUS_BAD_VERSION;
        case PL_ERR_BAD_SIGNATURE:  return PASSERELLE__STATUS__STATUS_BAD_SIGNATURE;
        case PL_ERR_PAYLOAD_HASH:   return PASSERELLE__STATUS__STATUS_BAD_PAYLOAD_HASH;
        case PL_ERR_NO_MEMORY:      return PASSERELLE__STATUS__STATUS_INTERNAL;
        default:                    return PASSERELLE__STATUS__STATUS_MALFORMED;
    }
}

static void
s_send_ack (server_t *self, zframe_t *routing_id, const uint8_t *event_id,
            Passerelle__Status status, const char *reason, pb_decision_t *decisions, size_t count,
            const char *warning)
{
    Passerelle__RecipientDecision wire [PL_MAX_RECIPIENTS * 2];
    Passerelle__RecipientDecision *list [PL_MAX_RECIPIENTS * 2];
    Passerelle__PublishAck ack = PASSERELLE__PUBLISH_ACK__INIT;
    ack.event_id.data = (uint8_t *) event_id;
    ack.event_id.len = event_id? PL_EVENT_ID_SIZE: 0;
    ack.status = status;
    ack.reason = (char *) reason;
    for (size_t i = 0; i < count; i++) {
        passerelle__recipient_decision__init (&wire [i]);
        wire [i].recipient = decisions [i].name;
        wire [i].allowed = decisions [i].status == PASSERELLE__STATUS__STATUS_OK;
        wire [i].status = decisions [i].status;
        wire [i].reason = decisions [i].reason;
        wire [i].code = (char *) decisions [i].code;
        wire [i].rule = (char *) decisions [i].rule;
        wire [i].category = (char *) decisions [i].category;
        list [i] = &wire [i];
    }
    ack.n_decisions = count;
    ack.decisions = list;
    char *warnings [1] = { (char *) warning };
    if (warning && *warning) {
        ack.warnings = warnings;
        ack.n_warnings = 1;
    }
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH_ACK;
    msg.publish_ack = &ack;
    s_send (self, routing_id, &msg);
}

static void
s_refuse (server_t *self, zframe_t *routing_id, const pl_agency_t *peer, const uint8_t *event_id,
          Passerelle__Status status, const char *reason)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1] = "-";
    if (event_id)
        pl_event_id_hex (event_id, hex);
    log_warn ("refuse event %s from %s: %s: %s", hex, peer->id, pl_status_name (status), reason);
    self->counts.refused++;
    s_send_ack (self, routing_id, event_id, status, reason, NULL, 0, NULL);
}

//  Queue a frame owed to agency and send it now if the agency is connected.
static void
s_deliver (server_t *self, const char *agency, const uint8_t *id, const uint8_t *hash,
           zframe_t *frame)
{
    pb_queue_push (self->queue, agency, id, hash, frame);
    client_t *client = s_client_of_agency (self, agency);
    if (client && s_send_frame (self, client->routing_id, frame) != 0)
        s_forget_client (self, client, "unreachable");
}

//  A notice from the broker itself (no payload), signed with its key and
//  owed like an event until the agency receipts it.
static void
s_send_notice (server_t *self, const char *agency, const char *kind, const char *case_ref,
               const char *consent_id, const uint8_t *event_id, const char *about,
               const char *text)
{
    uint8_t notice_id [PL_EVENT_ID_SIZE], hash [PL_HASH_SIZE], signature [PL_SIGNATURE_SIZE];
    randombytes_buf (notice_id, sizeof notice_id);
    Passerelle__Notice notice = PASSERELLE__NOTICE__INIT;
    notice.notice_id.data = notice_id;
    notice.notice_id.len = sizeof notice_id;
    notice.kind = (char *) kind;
    notice.at_ms = pl_now_ms ();
    notice.case_ref = (char *) case_ref;
    notice.consent_id = (char *) consent_id;
    notice.event_id.data = (uint8_t *) event_id;
    notice.event_id.len = event_id? PL_EVENT_ID_SIZE: 0;
    notice.agency = (char *) about;
    notice.text = (char *) text;
    size_t size = passerelle__notice__get_packed_size (&notice);
    uint8_t *bytes = malloc (size);
    if (!bytes)
        return;
    passerelle__notice__pack (&notice, bytes);
    crypto_hash_sha256 (hash, bytes, size);
    pl_keys_sign (self->keys, bytes, size, signature);
    Passerelle__Delivery delivery = PASSERELLE__DELIVERY__INIT;
    delivery.notice.data = bytes;
    delivery.notice.len = size;
    delivery.notice_signature.data = signature;
    delivery.notice_signature.len = sizeof signature;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_DELIVERY;
    msg.delivery = &delivery;
    zframe_t *frame = pl_wire_pack (&msg);
    if (frame)
        s_deliver (self, agency, notice_id, hash, frame);
    zframe_destroy (&frame);
    free (bytes);
    log_info ("notice %s to %s: case %s: %s", kind, agency, case_ref? case_ref: "-", text);
}

static void
s_route (server_t *self, pl_envelope_t *envelope, const pl_agency_t *publisher,
         Passerelle__Envelope *wire, pb_decision_t *decisions, size_t count)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    uint8_t header_hash [PL_HASH_SIZE];
    pl_envelope_header_hash (envelope, header_hash);
    Passerelle__Delivery delivery = PASSERELLE__DELIVERY__INIT;
    delivery.envelope = wire;
    delivery.publisher = (char *) publisher->id;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_DELIVERY;
    msg.delivery = &delivery;
    zframe_t *frame = pl_wire_pack (&msg);
    for (size_t i = 0; frame && i < count; i++) {
        if (decisions [i].status != PASSERELLE__STATUS__STATUS_OK)
            continue;
        s_deliver (self, decisions [i].agency->id, header->event_id.data, header_hash, frame);
    }
    zframe_destroy (&frame);
}

static void
s_log_decision (const char *hex, const Passerelle__EventHeader *header, const char *publisher,
                const pb_decision_t *d)
{
    bool allow = d->status == PASSERELLE__STATUS__STATUS_OK;
    log_info ("decision event %s case %s %s %s -> %s: %s %s%s%s%s%s (%s)%s", hex, header->case_ref,
              header->event_type, publisher, d->name, allow? "allow": "deny", d->code,
              *d->rule? " rule ": "", d->rule, *d->category? " category ": "", d->category,
              d->reason, d->needs_review? " [review: no consent]": "");
}

//  The event passed every check on its own: consent registry, decisions,
//  acknowledgement, delivery.
static void
s_accept (server_t *self, zframe_t *routing_id, const pl_agency_t *peer, pl_envelope_t *envelope,
          Passerelle__Envelope *wire, uint64_t now)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    const uint8_t *event_id = header->event_id.data;
    char hex [PL_EVENT_ID_SIZE * 2 + 1], why [512];
    pl_event_id_hex (event_id, hex);
    zlist_t *notify = NULL;
    if (pb_sharing_apply_consent (self->sharing, envelope, now, &notify, why, sizeof why) != 0) {
        s_refuse (self, routing_id, peer, event_id, PASSERELLE__STATUS__STATUS_POLICY_DENIED, why);
        return;
    }
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type);
    bool consent_event = type == PL_EV_CONSENT_GIVEN || type == PL_EV_CONSENT_WITHDRAWN;
    if (consent_event)
        log_info ("consent %s case %s by %s: %s", header->consent->consent_id, header->case_ref,
                  peer->id, header->event_type);

    pb_decision_t decisions [PL_MAX_RECIPIENTS * 2];
    size_t count = pb_sharing_decide (self->sharing, self->directory, envelope, peer, now,
                                      decisions, PL_MAX_RECIPIENTS * 2);
    size_t allowed = 0;
    for (size_t i = 0; i < count; i++) {
        bool allow = decisions [i].status == PASSERELLE__STATUS__STATUS_OK;
        allowed += allow;
        self->counts.denied_recipients += !allow;
        s_log_decision (hex, header, peer->id, &decisions [i]);
    }
    //  A consent change takes effect even when no one is told by this event
    if (allowed == 0 && !consent_event) {
        self->counts.refused++;
        log_warn ("refuse event %s from %s: no_recipient: no recipient may receive it", hex, peer->id);
        s_send_ack (self, routing_id, event_id, PASSERELLE__STATUS__STATUS_NO_RECIPIENT,
                    "no recipient may receive this event", decisions, count, NULL);
    }
    else {
        char warning [256];
        zhashx_insert (self->seen, hex, "");
        pb_sharing_record (self->sharing, envelope, decisions, count, warning, sizeof warning);
        if (*warning)
            log_warn ("event %s: %s", hex, warning);
        self->counts.accepted++;
        s_send_ack (self, routing_id, event_id, PASSERELLE__STATUS__STATUS_OK, "accepted",
                    decisions, count, warning);
        s_route (self, envelope, peer, wire, decisions, count);
    }
    //  Everyone who received data under a withdrawn consent is told at once
    for (char *agency = notify? zlist_first (notify): NULL; agency; agency = zlist_next (notify)) {
        if (streq (agency, peer->id))
            continue;
        char text [300];
        snprintf (text, sizeof text, "consent %s on case %s was withdrawn (registered by %s); "
                  "do not share further under it", header->consent->consent_id, header->case_ref,
                  peer->id);
        s_send_notice (self, agency, "consent_withdrawn", header->case_ref,
                       header->consent->consent_id, event_id, peer->id, text);
    }
    zlist_destroy (&notify);
}

static void
s_handle_publish (server_t *self, zframe_t *routing_id, const pl_agency_t *peer,
                  Passerelle__Publish *publish)
{
    char why [256] = "";
    pl_err_t err;
    pl_envelope_t *envelope = pl_envelope_from_wire (publish->envelope, &err, why, sizeof why);
    if (!envelope) {
        s_refuse (self, routing_id, peer, NULL, s_status_of (err), why);
        return;
    }
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    const uint8_t *event_id = header->event_id.data;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (event_id, hex);
    uint64_t now = pl_now_ms ();

    if (strcmp (header->publisher, peer->id) != 0) {
        snprintf (why, sizeof why, "authenticated as %s, cannot publish as %.64s",
                  peer->id, header->publisher);
        s_refuse (self, routing_id, peer, event_id, PASSERELLE__STATUS__STATUS_PUBLISHER_MISMATCH, why);
    }
    else
    if ((err = pl_envelope_verify (envelope, peer->public_key)) != PL_OK)
        s_refuse (self, routing_id, peer, event_id, s_status_of (err), pl_err_str (err));
    else
    if (header->valid_until_ms && header->valid_until_ms <= now) {
        snprintf (why, sizeof why, "valid until %llu, now %llu",
                  (unsigned long long) header->valid_until_ms, (unsigned long long) now);
        s_refuse (self, routing_id, peer, event_id, PASSERELLE__STATUS__STATUS_EXPIRED, why);
    }
    else
    if (header->created_at_ms > now + pol_policy_clock_skew_ms (pb_sharing_policy (self->sharing))) {
        snprintf (why, sizeof why, "created %llu ms in the future, the policy allows %llu ms",
                  (unsigned long long) (header->created_at_ms - now),
                  (unsigned long long) pol_policy_clock_skew_ms (pb_sharing_policy (self->sharing)));
        s_refuse (self, routing_id, peer, event_id, PASSERELLE__STATUS__STATUS_FUTURE, why);
    }
    else
    if (zhashx_lookup (self->seen, hex))
        s_refuse (self, routing_id, peer, event_id, PASSERELLE__STATUS__STATUS_DUPLICATE,
                  "this event id was already accepted (replay?)");
    else
        s_accept (self, routing_id, peer, envelope, publish->envelope, now);
    pl_envelope_destroy (&envelope);
}

static void
s_handle_receipt (server_t *self, const pl_agency_t *peer, Passerelle__Receipt *receipt)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1] = "-";
    if (receipt->event_id.len == PL_EVENT_ID_SIZE)
        pl_event_id_hex (receipt->event_id.data, hex);
    const uint8_t *owed = receipt->event_id.len == PL_EVENT_ID_SIZE?
        pb_queue_find (self->queue, peer->id, receipt->event_id.data): NULL;
    if (!owed) {
        log_debug ("receipt for event %s from %s: nothing owed (already receipted)", hex, peer->id);
        return;
    }
    uint8_t signed_bytes [PL_RECEIPT_BYTES_MAX];
    size_t size = pl_receipt_bytes (receipt->event_id.data, owed, peer->id,
                                    receipt->received_at_ms, signed_bytes);
    if (!receipt->recipient || strcmp (receipt->recipient, peer->id) != 0
    ||  receipt->signature.len != PL_SIGNATURE_SIZE
    ||  !pl_signature_verify (peer->public_key, signed_bytes, size, receipt->signature.data)) {
        log_warn ("receipt for event %s from %s: bad signature, delivery kept", hex, peer->id);
        return;
    }
    pb_queue_remove (self->queue, peer->id, receipt->event_id.data);
    self->counts.receipts++;
    log_info ("receipt event %s by %s", hex, peer->id);
}

//  --------------------------------------------------------------------------
//  The ROUTER socket

static int
s_handle_router (zloop_t *loop, zsock_t *router, void *arg)
{
    (void) loop;
    server_t *self = arg;
    zmsg_t *msg = zmsg_recv (router);
    if (!msg)
        return 0;
    zframe_t *routing_id = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    const char *user_id = body? zframe_meta (body, "User-Id"): NULL;
    const pl_agency_t *peer = pl_directory_lookup_curve (self->directory, user_id);
    char why [256];
    Passerelle__Status status;
    Passerelle__Message *request = NULL;

    if (!routing_id || !body || zmsg_size (msg) != 0) {
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
    if (!(request = pl_wire_unpack (body, self->config->max_message, &status, why, sizeof why))) {
        log_warn ("refuse message from %s: %s: %s", peer->id, pl_status_name (status), why);
        self->counts.refused++;
        s_send_error (self, routing_id, status, why);
    }
    else {
        char *key = zframe_strhex (routing_id);
        client_t *client = zhashx_lookup (self->clients, key);
        free (key);
        if (client)
            client->last_seen_ms = pl_now_ms ();
        switch (request->body_case) {
            case PASSERELLE__MESSAGE__BODY_HELLO:
                s_handle_hello (self, routing_id, peer, request->hello);
                break;
            case PASSERELLE__MESSAGE__BODY_PUBLISH:
                s_handle_publish (self, routing_id, peer, request->publish);
                break;
            case PASSERELLE__MESSAGE__BODY_RECEIPT:
                s_handle_receipt (self, peer, request->receipt);
                break;
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
                              "agents may send hello, publish, receipt or ping");
        }
        passerelle__message__free_unpacked (request, NULL);
    }
    zframe_destroy (&routing_id);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    return 0;
}

//  Write the directory's keys as CZMQ public certificates into a fresh
//  folder and point zauth at it. zauth then admits exactly these keys.
static int
s_publish_keys_to_zap (server_t *self)
{
    char old [sizeof self->certs_path];
    snprintf (old, sizeof old, "%s", self->certs_path);
    snprintf (self->certs_path, sizeof self->certs_path, "%s/zap-keys.%u",
              self->config->state_path, ++self->certs_generation);
    zsys_dir_delete (self->certs_path);
    if (mkdir (self->certs_path, 0700) != 0 && errno != EEXIST) {
        log_warn ("cannot create %s: %s", self->certs_path, strerror (errno));
        return -1;
    }
    for (size_t i = 0; i < pl_directory_size (self->directory); i++) {
        const pl_agency_t *agency = pl_directory_at (self->directory, i);
        uint8_t no_secret [32] = { 0 };
        zcert_t *cert = zcert_new_from (agency->curve_key, no_secret);
        zcert_set_meta (cert, "agency", "%s", agency->id);
        char path [4400];
        snprintf (path, sizeof path, "%s/%s.cert", self->certs_path, agency->id);
        int rc = zcert_save_public (cert, path);
        zcert_destroy (&cert);
        if (rc != 0) {
            log_warn ("cannot write %s", path);
            return -1;
        }
    }
    zstr_sendx (self->auth, "CURVE", self->certs_path, NULL);
    zsock_wait (self->auth);
    //  Remove the previous generation's files and folder
    if (*old) {
        zdir_t *dir = zdir_new (old, NULL);
        if (dir) {
            zdir_remove (dir, true);
            zdir_destroy (&dir);
        }
    }
    return 0;
}

static int
s_bind_router (server_t *self)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (!router)
        return -1;
    zcert_apply (self->cert, router);
    zsock_set_curve_server (router, 1);
    zsock_set_zap_domain (router, "passerelle");
    zsock_set_router_mandatory (router, 1);
    zsock_set_maxmsgsize (router, HARD_MESSAGE_LIMIT);
    zsock_set_heartbeat_ivl (router, 2000);
    zsock_set_heartbeat_timeout (router, 6000);
    zsock_set_linger (router, 0);
    //  After a rebuild the old listener may still be closing: retry briefly
    int rc = -1;
    for (int attempt = 0; attempt < 40 && rc == -1; attempt++) {
        rc = zsock_bind (router, "%s", self->config->endpoint);
        if (rc == -1)
            zclock_sleep (50);
    }
    if (rc == -1) {
        log_warn ("cannot listen on %s: %s", self->config->endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&router);
        return -1;
    }
    self->router = router;
    zloop_reader (self->loop, router, s_handle_router, self);
    return 0;
}

//  Close every connection and listen again: each agent reconnects and is
//  authenticated against the current directory, so a revoked key is out
//  at once rather than at its next reconnect.
static int
s_rebind_router (server_t *self)
{
    zloop_reader_end (self->loop, self->router);
    zsock_destroy (&self->router);
    zhashx_purge (self->clients);
    return s_bind_router (self);
}

static void
s_reload (server_t *self)
{
    char err [1024];
    if (pb_sharing_reload_policy (self->sharing, self->config->policy_path, err, sizeof err) != 0)
        log_warn ("policy reload failed, keeping policy %s: %s",
                  pol_policy_version (pb_sharing_policy (self->sharing)), err);
    else
        log_info ("policy %s loaded: %zu rules", pol_policy_version (pb_sharing_policy (self->sharing)),
                  pol_policy_rule_count (pb_sharing_policy (self->sharing)));
    pl_directory_t *fresh = pl_directory_load (self->config->directory_path, err, sizeof err);
    if (!fresh) {
        log_warn ("directory reload failed, keeping the current directory: %s", err);
        zstr_sendx (self->pipe, "ERROR", err, NULL);
        return;
    }
    char revoked [1024];
    size_t removed = pl_directory_revoked (self->directory, fresh, revoked, sizeof revoked);
    pl_directory_destroy (&self->directory);
    self->directory = fresh;
    if (s_publish_keys_to_zap (self) != 0) {
        zstr_sendx (self->pipe, "ERROR", "cannot write ZAP keys", NULL);
        return;
    }
    log_info ("directory reloaded: %zu agencies, %zu revoked%s%s",
              pl_directory_size (fresh), removed, removed? ": ": "", removed? revoked: "");
    if (removed) {
        char *list = strdup (revoked), *save = NULL;
        for (char *id = strtok_r (list, ",", &save); id; id = strtok_r (NULL, ",", &save)) {
            size_t dropped = pb_queue_drop (self->queue, id);
            if (dropped)
                log_warn ("agency %s revoked: %zu undelivered events will not be delivered",
                          id, dropped);
        }
        free (list);
        if (s_rebind_router (self) != 0) {
            zstr_sendx (self->pipe, "ERROR", "cannot listen again after reload", NULL);
            return;
        }
    }
    else
        for (client_t *c = zhashx_first (self->clients); c; c = zhashx_next (self->clients))
            s_send_welcome (self, c->routing_id);
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
        zstr_sendf (pipe, "accepted=%llu refused=%llu receipts=%llu queued=%zu connected=%zu",
                    (unsigned long long) self->counts.accepted,
                    (unsigned long long) self->counts.refused,
                    (unsigned long long) self->counts.receipts,
                    pb_queue_total (self->queue), zhashx_size (self->clients));
    else
        log_warn ("unknown actor command %s", command);
    zstr_free (&command);
    return rc;
}

static int
s_expire_clients (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    server_t *self = arg;
    uint64_t now = pl_now_ms ();
    for (client_t *c = zhashx_first (self->clients); c; c = zhashx_next (self->clients))
        if (now - c->last_seen_ms > CLIENT_TIMEOUT_MS) {
            s_forget_client (self, c, "silent");
            break;          //  the hash changed under us; next tick does the rest
        }
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_server_destroy (server_t *self)
{
    if (self->router)
        zsock_destroy (&self->router);
    zactor_destroy (&self->auth);
    zhashx_destroy (&self->clients);
    zhashx_destroy (&self->seen);
    pb_queue_destroy (&self->queue);
    pb_sharing_destroy (&self->sharing);
    zcert_destroy (&self->cert);
    pl_keys_destroy (&self->keys);
    pl_directory_destroy (&self->directory);
    zloop_destroy (&self->loop);
    if (*self->certs_path) {
        zdir_t *dir = zdir_new (self->certs_path, NULL);
        if (dir) {
            zdir_remove (dir, true);
            zdir_destroy (&dir);
        }
    }
}

static int
s_server_start (server_t *self)
{
    char err [1024];
    if (mkdir (self->config->state_path, 0700) != 0 && errno != EEXIST) {
        log_warn ("cannot create state folder %s: %s", self->config->state_path, strerror (errno));
        return -1;
    }
    chmod (self->config->state_path, 0700);
    if (!(self->keys = pl_keys_load (self->config->key_path, err, sizeof err))) {
        log_warn ("%s", err);
        return -1;
    }
    if (!(self->directory = pl_directory_load (self->config->directory_path, err, sizeof err))) {
        log_warn ("%s", err);
        return -1;
    }
    if (!(self->sharing = pb_sharing_new (self->config->policy_path, err, sizeof err))) {
        log_warn ("cannot load the policy: %s", err);
        return -1;
    }
    self->cert = zcert_new_from (pl_keys_curve_public (self->keys),
                                 pl_keys_curve_secret (self->keys));
    self->clients = zhashx_new ();
    zhashx_set_destructor (self->clients, s_client_destroy);
    self->seen = zhashx_new ();
    self->queue = pb_queue_new ();
    self->loop = zloop_new ();
    //  ZAP must be answering before the first socket binds, or libzmq
    //  would let the first handshakes through unauthenticated.
    self->auth = zactor_new (zauth, NULL);
    if (!self->cert || !self->clients || !self->seen || !self->queue || !self->loop
    ||  !self->auth || s_publish_keys_to_zap (self) != 0 || s_bind_router (self) != 0)
        return -1;
    zloop_reader (self->loop, self->pipe, s_handle_pipe, self);
    zloop_timer (self->loop, 1000, 0, s_expire_clients, self);
    char z85 [41];
    pl_curve_to_z85 (pl_keys_curve_public (self->keys), z85);
    log_info ("listening on %s as %s (CURVE key %s), %zu agencies in the directory, "
              "policy %s (%zu rules)", self->config->endpoint, pl_keys_id (self->keys), z85,
              pl_directory_size (self->directory),
              pol_policy_version (pb_sharing_policy (self->sharing)),
              pol_policy_rule_count (pb_sharing_policy (self->sharing)));
    return 0;
}

void
pb_server_actor (zsock_t *pipe, void *config)
{
    server_t self = { .pipe = pipe, .config = config };
    zsock_signal (pipe, 0);
    if (s_server_start (&self) != 0) {
        s_server_destroy (&self);
        zstr_send (pipe, "FAILED");
        char *command;
        while ((command = zstr_recv (pipe)) && !streq (command, "$TERM"))
            zstr_free (&command);
        zstr_free (&command);
        return;
    }
    zstr_send (pipe, "READY");
    zloop_start (self.loop);
    log_info ("stopping: %llu accepted, %llu refused, %zu deliveries still queued",
              (unsigned long long) self.counts.accepted, (unsigned long long) self.counts.refused,
              pb_queue_total (self.queue));
    s_server_destroy (&self);
}
