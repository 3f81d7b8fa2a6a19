/*  pa_publisher: from the agency system's request to the broker's answer.
 *
 *  Accepting an event means committing it, sealed and signed, to the
 *  outbox first (with its sequence number, in one transaction); only then is
 *  it sent. It stays in the outbox until the broker answers, and is resent
 *  with backoff meanwhile and at every reconnection, always the same bytes
 *  and event id, so the broker's replay check makes resending harmless. A
 *  "duplicate" answer for an event still in our outbox therefore means the
 *  broker accepted it earlier and its acknowledgement was lost. "store full"
 *  and internal errors are the broker's, not the event's: kept and retried.
 *  The caller waits up to publish-timeout for the answer; past that it is
 *  told the event is queued, and can ask for the outcome later.  */
#include "pa_agent_int.h"
#include "pa_publish.h"
#include "pa_witness.h"
#include "pl_burst.h"
#include "pl_merkle.h"
#include "pl_envelope.h"
#include "pl_log.h"
#include "pl_vocab.h"
#include "pl_wire.h"

#define BACKOFF_MAX_MS  60000

static uint64_t
s_backoff_ms (pa_agent_t *self, uint32_t attempts)
{
    uint64_t delay = self->config->publish_timeout_ms;
    while (attempts-- > 1 && delay < BACKOFF_MAX_MS)
        delay *= 2;
    return delay < BACKOFF_MAX_MS? delay: BACKOFF_MAX_MS;
}

//  Everyone the event is sealed for: named agencies, role holders in our own
//  network (as the broker will resolve them), and for a correction everyone
//  who received the original.
static int
s_resolve_recipients (pa_agent_t *self, Passerelle__EventHeader *header, pl_recipient_t *out,
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
    const pl_agency_t *extra [PL_MAX_RECIPIENTS];
    size_t extras = 0;
    for (size_t r = 0; r < header->n_to_roles; r++) {
        int role = pl_vocab_id (PL_KIND_ROLE, header->to_roles [r]);
        size_t n = pl_directory_find_by_roles (self->directory, PL_SET (role), me->network, me->id,
                                               extra + extras, PL_MAX_RECIPIENTS - extras);
        extras += n < PL_MAX_RECIPIENTS - extras? n: PL_MAX_RECIPIENTS - extras;
    }
    char *earlier = NULL;
    if (header->supersedes.len == PL_EVENT_ID_SIZE)
        pa_store_shared_with (self->store, header->supersedes.data, &earlier);
    char *save = NULL;
    for (char *id = earlier? strtok_r (earlier, ",", &save): NULL; id && extras < PL_MAX_RECIPIENTS;
         id = strtok_r (NULL, ",", &save)) {
        const pl_agency_t *agency = pl_directory_lookup (self->directory, id);
        if (agency)
            extra [extras++] = agency;
    }
    free (earlier);
    for (size_t i = 0; i < extras; i++) {
        bool already = false;
        for (size_t k = 0; k < *count && !already; k++)
            already = strcmp (out [k].id, extra [i]->id) == 0;
        if (!already && *count < PL_MAX_RECIPIENTS)
            out [(*count)++] = (pl_recipient_t) { extra [i]->id, extra [i]->public_key };
    }
    //  A consent event addressed to no one goes to the broker's registry;
    //  the payload (if any) is sealed to ourselves, for our own records
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type);
    if (*count == 0 && header->n_to_agencies == 0 && header->n_to_roles == 0
    &&  (type == PL_EV_CONSENT_GIVEN || type == PL_EV_CONSENT_WITHDRAWN))
        out [(*count)++] = (pl_recipient_t) { me->id, me->public_key };
    if (*count == 0) {
        snprintf (err, err_size, "nobody to send to: no agency holds the roles asked for in "
                  "network %s%s", me->network, header->supersedes.len?
                  ", and the corrected event reached no one": "");
        return -1;
    }
    return 0;
}

static int
s_send_envelope (pa_agent_t *self, const uint8_t *bytes, size_t size)
{
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, bytes);
    if (!wire)
        return -1;
    Passerelle__Publish body = PASSERELLE__PUBLISH__INIT;
    body.envelope = wire;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH;
    msg.publish = &body;
    int rc = pa_agent_send_broker (self, &msg);
    passerelle__envelope__free_unpacked (wire, NULL);
    return rc;
}

//  --------------------------------------------------------------------------
//  Sending, in signed bursts
//
//  What goes out together is signed together (pl_burst): one Ed25519
//  signature for up to PL_BURST_MAX events, which the broker and each
//  recipient then check once rather than once per event. The outbox keeps
//  every envelope signed on its own, so that one can always go alone, and
//  a resend is signed again as part of whatever burst it goes out with.

#define SENDING_BYTES_MAX  (8 * 1024 * 1024)
//  Events accepted back to back wait at most this long for the others
#define SENDING_WAIT_MS    2
//  An event unanswered this many times goes alone, signed as the outbox
//  keeps it: whatever kept a burst from being answered (a broker whose
//  max-message a burst's extra proof bytes overstep, say) cannot hold it
#define ALONE_AFTER        2

//  Forget what waits to be sent, unsent: the outbox holds all of it
static void
s_sending_drop (pa_agent_t *self)
{
    for (size_t i = 0; i < self->sending.count; i++) {
        free (self->sending.envelope [i]);
        self->sending.envelope [i] = NULL;
    }
    self->sending.count = 0;
    self->sending.bytes = 0;
}

//  Sign the events that go together as one burst, into burst []; false
//  when fewer than two do or it cannot be done (each then goes alone)
static bool
s_sign_together (pa_agent_t *self, const bool *together, uint8_t **burst, size_t *burst_size)
{
    const uint8_t *envelopes [PL_BURST_MAX];
    size_t sizes [PL_BURST_MAX], count = 0;
    for (size_t i = 0; i < self->sending.count; i++)
        if (together [i]) {
            envelopes [count] = self->sending.envelope [i];
            sizes [count++] = self->sending.size [i];
        }
    if (count < 2)
        return false;
    char why [200] = "";
    pl_err_t err = pl_burst_sign (self->keys, envelopes, sizes, count, burst, burst_size, why,
                                  sizeof why);
    if (err != PL_OK)
        log_warn ("%zu events could not be signed as one burst (%s: %s); each goes with its "
                  "own signature", count, pl_err_str (err), why);
    return err == PL_OK;
}

void
pa_publisher_send (pa_agent_t *self)
{
    size_t count = self->sending.count;
    if (count == 0 || !self->connected) {
        //  Not connected: nothing is lost, the outbox sends it on reconnection
        s_sending_drop (self);
        return;
    }
    bool together [PL_BURST_MAX];
    for (size_t i = 0; i < count; i++)
        together [i] = self->sending.attempts [i] < ALONE_AFTER;
    uint8_t *burst [PL_BURST_MAX];
    size_t burst_size [PL_BURST_MAX];
    bool signed_together = s_sign_together (self, together, burst, burst_size);
    uint8_t sent_ids [PL_BURST_MAX][16];
    uint64_t next_ms [PL_BURST_MAX], now = pl_now_ms ();
    size_t sent = 0, in_burst = 0, sent_in_burst = 0;
    for (size_t i = 0; i < count; i++) {
        bool as_burst = signed_together && together [i];
        const uint8_t *bytes = as_burst? burst [in_burst]: self->sending.envelope [i];
        size_t size = as_burst? burst_size [in_burst]: self->sending.size [i];
        if (s_send_envelope (self, bytes, size) == 0) {
            uint32_t attempts = self->sending.attempts [i];
            memcpy (sent_ids [sent], self->sending.event_id [i], sizeof sent_ids [sent]);
            next_ms [sent++] = now + s_backoff_ms (self, attempts + 1);
            sent_in_burst += as_burst;
            if (attempts > 0)
                self->counts.retries++;
        }
        if (as_burst)
            free (burst [in_burst++]);
    }
    //  One commit for all: a burst costs the outbox one sync, not one each
    int rc = sent? pa_store_outbox_attempted_all (self->store, (const uint8_t (*) [16]) sent_ids,
                                                  next_ms, sent): 0;
    if (rc != 0)
        log_warn ("outbox: %zu sends not recorded (%s): they stay due and go again",
                  sent, rc == PA_STORE_NOT_FOUND? "none of them is pending any more":
                  pa_store_error (self->store));
    if (sent_in_burst) {
        self->counts.bursts++;
        self->counts.burst_events += sent_in_burst;
    }
    s_sending_drop (self);
}

static int
s_handle_send_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    pa_agent_t *self = arg;
    //  One-shot, and never ended early: ending a timer by id could end
    //  another one once zloop's ids wrap. So a send that came first leaves
    //  it armed, and it sends whatever waits by then (at most 2 ms old).
    if (timer_id == self->send_timer) {
        self->send_timer = -1;
        pa_publisher_send (self);
    }
    return 0;
}

//  Add an outbox event to what goes next (taking envelope); what is already
//  there goes first when this would overfill it.
static void
s_sending_add (pa_agent_t *self, const uint8_t *event_id, uint8_t *envelope, size_t size,
               uint32_t attempts)
{
    if (self->sending.count == PL_BURST_MAX
    ||  (self->sending.count > 0 && self->sending.bytes + size > SENDING_BYTES_MAX))
        pa_publisher_send (self);
    size_t i = self->sending.count++;
    self->sending.envelope [i] = envelope;
    self->sending.size [i] = size;
    memcpy (self->sending.event_id [i], event_id, sizeof self->sending.event_id [i]);
    self->sending.attempts [i] = attempts;
    self->sending.bytes += size;
    if (self->send_timer < 0
    &&  (self->send_timer = zloop_timer (self->loop, SENDING_WAIT_MS, 1, s_handle_send_timer,
                                         self)) < 0)
        pa_publisher_send (self);       //  no timer: no waiting either
}

//  True for what travels ahead of ordinary traffic: a risk escalation, or
//  any event of risk high and above (as in the broker's queues).
static bool
s_is_escalation (const uint8_t *envelope, size_t size)
{
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, envelope);
    Passerelle__EventHeader *header = wire? passerelle__event_header__unpack (
        NULL, wire->header.len, wire->header.data): NULL;
    bool urgent = header
               && (pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type) == PL_EV_RISK_ESCALATION
                   || pl_vocab_id (PL_KIND_RISK, header->risk_level) >= PL_RISK_HIGH);
    passerelle__event_header__free_unpacked (header, NULL);
    passerelle__envelope__free_unpacked (wire, NULL);
    return urgent;
}

//  One pass over the due items: only escalations, or all the others.
static int
s_flush_pass (pa_agent_t *self, bool everything, bool escalations, int budget)
{
    uint64_t now = pl_now_ms (), after = 0;
    pa_store_pending_t item = { 0 };
    while (budget > 0
        && pa_store_outbox_next (self->store, after, everything? UINT64_MAX: now, &item) == 0) {
        after = item.sequence;
        if (s_is_escalation (item.envelope, item.size) == escalations) {
            s_sending_add (self, item.event_id, item.envelope, item.size, item.attempts);
            item.envelope = NULL;
            budget--;
        }
    }
    pa_store_pending_clear (&item);
    pa_publisher_send (self);
    return budget;
}

void
pa_publisher_flush (pa_agent_t *self, bool everything)
{
    if (!self->connected)
        return;
    //  What was accepted and not sent yet is due too: it goes first, or,
    //  when everything goes, with the rest (else it would go twice)
    if (everything)
        s_sending_drop (self);
    else
        pa_publisher_send (self);
    //  Escalations waiting in the outbox (after a reconnection, say) go
    //  first; bounded per call, a large backlog drains over several ticks
    int budget = s_flush_pass (self, everything, true, 200);
    s_flush_pass (self, everything, false, budget);
}

void
pa_publisher_request (pa_agent_t *self, zframe_t *routing_id, json_t *request)
{
    char err [512];
    json_object_del (request, "op");
    pa_publish_t *publish = pa_publish_from_json (request, pl_now_ms (), err, sizeof err);
    if (!publish) {
        pa_agent_reply_error (self, routing_id, "invalid_request", err);
        return;
    }
    Passerelle__EventHeader *header = pa_publish_header (publish);
    pl_recipient_t recipients [PL_MAX_RECIPIENTS];
    size_t count = 0, payload_size;
    const uint8_t *payload = pa_publish_payload (publish, &payload_size);
    uint8_t *envelope = NULL;
    size_t envelope_size = 0;
    if (!self->directory) {
        pa_agent_reply_error (self, routing_id, "not_connected", "this agent has not reached the "
                              "broker yet, so it cannot seal to anyone: nothing was accepted");
        goto done;
    }
    if (s_resolve_recipients (self, header, recipients, &count, err, sizeof err) != 0) {
        pa_agent_reply_error (self, routing_id, "unknown_recipient", err);
        goto done;
    }
    if (!pa_store_has_room (self->store, payload_size + 4096)) {
        pa_agent_reply_error (self, routing_id, "store_full", "the agent's outbox is full: "
                              "nothing was accepted; try again once it has drained");
        goto done;
    }
    uint64_t sequence = pa_store_last_sequence (self->store);
    if (self->legacy_sequence > sequence)
        sequence = self->legacy_sequence;
    header->sequence = sequence + 1;
    uint8_t event_id [PL_EVENT_ID_SIZE];
    pl_event_id_new (event_id);
    header->event_id.data = event_id;
    header->event_id.len = sizeof event_id;
    pl_err_t sealed = pl_envelope_seal (self->keys, header, payload, payload_size, recipients,
                                        count, &envelope, &envelope_size, err, sizeof err);
    if (sealed != PL_OK) {
        char message [700];
        snprintf (message, sizeof message, "%s: %s", pl_err_str (sealed), err);
        pa_agent_reply_error (self, routing_id, "invalid_event", message);
        goto done;
    }
    uint64_t now = pl_now_ms ();
    int rc = pa_store_outbox_add (self->store, event_id, envelope, envelope_size,
                                  sequence + 1, now);
    if (rc != 0) {
        snprintf (err, sizeof err, "the event could not be committed to the outbox: %s",
                  pa_store_error (self->store));
        pa_agent_reply_error (self, routing_id, rc == PA_STORE_FULL? "store_full": "store_error", err);
        goto done;
    }
    //  Accepted: from here on the event will reach the broker
    pa_waiter_t *waiter = calloc (1, sizeof *waiter);
    if (waiter) {
        waiter->routing_id = zframe_dup (routing_id);
        memcpy (waiter->event_id, event_id, sizeof event_id);
        waiter->deadline_ms = now + self->config->publish_timeout_ms;
        zlistx_add_end (self->publishes, waiter);
    }
    self->counts.published++;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    log_info ("publish event %s case %s type %s to %zu recipient(s), sequence %llu%s",
              pl_event_id_hex (event_id, hex), header->case_ref, header->event_type, count,
              (unsigned long long) header->sequence, self->connected? "": " (queued: not connected)");
    //  Sent with whatever else arrived meanwhile (pa_publisher_send)
    if (self->connected) {
        s_sending_add (self, event_id, envelope, envelope_size, 0);
        envelope = NULL;
    }
done:
    free (envelope);
    pa_publish_destroy (&publish);
}

//  Answer the caller waiting for event_id, if any (consumes reply).
static void
s_answer_waiter (pa_agent_t *self, const uint8_t *event_id, json_t *reply)
{
    for (pa_waiter_t *w = zlistx_first (self->publishes); w; w = zlistx_next (self->publishes))
        if (memcmp (w->event_id, event_id, PL_EVENT_ID_SIZE) == 0) {
            pa_agent_reply (self, w->routing_id, reply);
            zlistx_delete (self->publishes, zlistx_cursor (self->publishes));
            return;
        }
    json_decref (reply);
}

void
pa_publisher_ack (pa_agent_t *self, Passerelle__PublishAck *ack)
{
    if (ack->event_id.len != PL_EVENT_ID_SIZE)
        return;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (ack->event_id.data, hex);
    pa_store_pending_t pending = { 0 };
    bool ours = pa_store_outbox_get (self->store, ack->event_id.data, &pending) == 0;
    pa_store_pending_clear (&pending);
    if (!ours) {
        log_debug ("answer for event %s, not in the outbox (answered already)", hex);
        return;
    }
    Passerelle__Status status = ack->status;
    bool transient = status == PASSERELLE__STATUS__STATUS_STORE_FULL
                  || status == PASSERELLE__STATUS__STATUS_INTERNAL;
    if (transient) {
        log_warn ("broker could not take event %s now (%s): kept in the outbox, retried",
                  hex, ack->reason? ack->reason: pl_status_name (status));
        return;
    }
    //  Our own resend of an event the broker already took
    bool earlier = status == PASSERELLE__STATUS__STATUS_DUPLICATE;
    bool accepted = status == PASSERELLE__STATUS__STATUS_OK || earlier;
    json_t *decisions = json_array ();
    const char *shared [PL_MAX_RECIPIENTS * 2];
    size_t n_shared = 0;
    for (size_t i = 0; i < ack->n_decisions; i++) {
        Passerelle__RecipientDecision *d = ack->decisions [i];
        json_array_append_new (decisions, json_pack ("{s:s, s:b, s:s, s:s, s:s, s:s, s:s}",
            "recipient", d->recipient, "allowed", d->allowed, "status", pl_status_name (d->status),
            "code", d->code? d->code: "", "rule", d->rule? d->rule: "",
            "category", d->category? d->category: "", "reason", d->reason? d->reason: ""));
        if (d->allowed && n_shared < PL_MAX_RECIPIENTS * 2)
            shared [n_shared++] = d->recipient;
    }
    json_t *warnings = json_array ();
    for (size_t i = 0; i < ack->n_warnings; i++) {
        json_array_append_new (warnings, json_string (ack->warnings [i]));
        log_warn ("broker warning on event %s: %s", hex, ack->warnings [i]);
    }
    json_t *reply = json_pack ("{s:s, s:b, s:s, s:s, s:I, s:o, s:o}", "event_id", hex,
        "accepted", accepted, "status", earlier? "ok": pl_status_name (status),
        "reason", earlier? "accepted earlier (its acknowledgement was lost)":
                  ack->reason? ack->reason: "",
        "log_index", (json_int_t) ack->log_index, "decisions", decisions, "warnings", warnings);
    char *outcome = json_dumps (reply, JSON_COMPACT);
    if (!outcome || pa_store_outbox_done (self->store, ack->event_id.data, outcome, shared,
                                          n_shared) < 0)
        log_warn ("event %s: cannot record the broker's answer: %s (it will be resent)", hex,
                  pa_store_error (self->store));
    free (outcome);
    accepted? self->counts.accepted++: self->counts.refused++;
    if (accepted)
        log_info ("broker accepted event %s%s", hex, earlier? " (earlier)": "");
    else
        log_warn ("broker refused event %s: %s: %s", hex, pl_status_name (status),
                  ack->reason? ack->reason: "");
    s_answer_waiter (self, ack->event_id.data, reply);
}

void
pa_publisher_expire_waiters (pa_agent_t *self, uint64_t now_ms)
{
    pa_waiter_t *w = zlistx_first (self->publishes);
    while (w) {
        if (now_ms < w->deadline_ms) {
            w = zlistx_next (self->publishes);
            continue;
        }
        char hex [PL_EVENT_ID_SIZE * 2 + 1], reason [300];
        snprintf (reason, sizeof reason, "no answer from the broker within %llu ms: the event is "
                  "safe in the outbox and is sent until the broker answers (passerelle outcome "
                  "%s)", (unsigned long long) self->config->publish_timeout_ms,
                  pl_event_id_hex (w->event_id, hex));
        pa_agent_reply (self, w->routing_id, json_pack ("{s:s, s:b, s:b, s:s, s:s}", "event_id",
                        hex, "accepted", 0, "queued", 1, "status", "queued", "reason", reason));
        zlistx_delete (self->publishes, zlistx_cursor (self->publishes));
        w = zlistx_first (self->publishes);
    }
    w = zlistx_first (self->proofs);
    while (w) {
        if (now_ms < w->deadline_ms) {
            w = zlistx_next (self->proofs);
            continue;
        }
        pa_agent_reply_error (self, w->routing_id, "timeout", "no proof from the broker in time");
        zlistx_delete (self->proofs, zlistx_cursor (self->proofs));
        w = zlistx_first (self->proofs);
    }
}

void
pa_publisher_outcome (pa_agent_t *self, zframe_t *routing_id, json_t *request)
{
    const char *hex = json_string_value (json_object_get (request, "event_id"));
    uint8_t event_id [PL_EVENT_ID_SIZE];
    if (!hex || pl_event_id_from_hex (hex, event_id) != 0) {
        pa_agent_reply_error (self, routing_id, "invalid_request",
                              "outcome: 'event_id' must be an event id (32 hex characters)");
        return;
    }
    char *outcome = NULL;
    pa_store_pending_t pending = { 0 };
    if (pa_store_sent_lookup (self->store, event_id, &outcome) == 0) {
        json_t *reply = json_loads (outcome, 0, NULL);
        free (outcome);
        pa_agent_reply (self, routing_id, reply? reply: json_pack ("{s:s}", "status", "unknown"));
    }
    else
    if (pa_store_outbox_get (self->store, event_id, &pending) == 0) {
        pa_agent_reply (self, routing_id, json_pack ("{s:s, s:b, s:b, s:s, s:s, s:i}",
            "event_id", hex, "accepted", 0, "queued", 1, "status", "queued", "reason",
            "in the outbox, waiting for the broker's answer", "attempts", (int) pending.attempts));
        pa_store_pending_clear (&pending);
    }
    else
        pa_agent_reply_error (self, routing_id, "unknown_event", "this agent never published "
                              "that event id");
}

//  --------------------------------------------------------------------------
//  Proof that one of our events is in the broker's sharing log

void
pa_publisher_proof_request (pa_agent_t *self, zframe_t *routing_id, json_t *request)
{
    const char *hex = json_string_value (json_object_get (request, "event_id"));
    uint8_t event_id [PL_EVENT_ID_SIZE];
    char *outcome = NULL;
    json_t *sent = NULL;
    if (!hex || pl_event_id_from_hex (hex, event_id) != 0) {
        pa_agent_reply_error (self, routing_id, "invalid_request",
                              "proof: 'event_id' must be an event id (32 hex characters)");
        return;
    }
    if (pa_store_sent_lookup (self->store, event_id, &outcome) == 0)
        sent = json_loads (outcome, 0, NULL);
    free (outcome);
    if (!sent || !json_is_true (json_object_get (sent, "accepted"))) {
        pa_agent_reply_error (self, routing_id, "unknown_event", "this agency has no accepted "
                              "event with that id (refused, still queued, or not ours)");
        json_decref (sent);
        return;
    }
    if (!self->connected) {
        pa_agent_reply_error (self, routing_id, "not_connected", "not connected to the broker");
        json_decref (sent);
        return;
    }
    Passerelle__ProofRequest ask = PASSERELLE__PROOF_REQUEST__INIT;
    ask.event_id.data = event_id;
    ask.event_id.len = sizeof event_id;
    ask.log_index = (uint64_t) json_integer_value (json_object_get (sent, "log_index"));
    json_decref (sent);
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PROOF_REQUEST;
    msg.proof_request = &ask;
    pa_waiter_t *waiter = calloc (1, sizeof *waiter);
    if (!waiter || pa_agent_send_broker (self, &msg) != 0) {
        free (waiter);
        pa_agent_reply_error (self, routing_id, "send_failed", "could not ask the broker");
        return;
    }
    waiter->routing_id = zframe_dup (routing_id);
    memcpy (waiter->event_id, event_id, sizeof event_id);
    waiter->deadline_ms = pl_now_ms () + self->config->publish_timeout_ms;
    zlistx_add_end (self->proofs, waiter);
}

//  The entry, summarised for the agency: what the log says happened.
static json_t *
s_entry_summary (Passerelle__LogEntry *entry)
{
    json_t *decisions = json_array ();
    for (size_t i = 0; i < entry->n_decisions; i++) {
        Passerelle__LogDecision *d = entry->decisions [i];
        json_array_append_new (decisions, json_pack ("{s:s, s:b, s:s, s:s}", "recipient",
            d->recipient? d->recipient: "", "allowed", d->allowed, "code", d->code? d->code: "",
            "rule", d->rule? d->rule: ""));
    }
    return json_pack ("{s:s, s:I, s:s, s:s, s:s, s:o}", "kind", entry->kind? entry->kind: "",
                      "at_ms", (json_int_t) entry->at_ms, "case", entry->case_ref? entry->case_ref: "",
                      "publisher", entry->publisher? entry->publisher: "",
                      "type", entry->event_type? entry->event_type: "", "decisions", decisions);
}

void
pa_publisher_proof_answer (pa_agent_t *self, Passerelle__Proof *proof)
{
    pa_waiter_t *w = zlistx_first (self->proofs);
    while (w && (proof->event_id.len != PL_EVENT_ID_SIZE
                 || memcmp (w->event_id, proof->event_id.data, PL_EVENT_ID_SIZE) != 0))
        w = zlistx_next (self->proofs);
    if (!w)
        return;
    char why [400], hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (w->event_id, hex);
    uint64_t size = 0;
    uint8_t root [PL_MERKLE_HASH_SIZE], leaf [PL_MERKLE_HASH_SIZE];
    Passerelle__LogEntry *entry = NULL;
    pa_witness_result_t judged = PA_WITNESS_BAD_NOTE;
    if (proof->status == PASSERELLE__STATUS__STATUS_OK && proof->checkpoint)
        judged = pa_witness_check (self->store, self->origin, self->broker_key,
                                   proof->checkpoint->note, proof->checkpoint->from_size,
                                   proof->checkpoint->consistency_proof.data,
                                   proof->checkpoint->consistency_proof.len, why, sizeof why);
    if (judged == PA_WITNESS_INCONSISTENT) {
        snprintf (self->log_alarm, sizeof self->log_alarm, "%s", why);
        log_warn ("ALERT: the broker's sharing log failed verification: %s", why);
    }
    if (proof->status != PASSERELLE__STATUS__STATUS_OK)
        pa_agent_reply_error (self, w->routing_id, "no_proof", proof->reason? proof->reason: "");
    else
    if (judged != PA_WITNESS_ACCEPTED && judged != PA_WITNESS_UNCHANGED)
        pa_agent_reply_error (self, w->routing_id, "checkpoint_unverified", why);
    else {
        pl_merkle_leaf_hash (proof->entry.data, proof->entry.len, leaf);
        entry = passerelle__log_entry__unpack (NULL, proof->entry.len, proof->entry.data);
        bool included = pa_store_checkpoint_load (self->store, NULL, &size, root) == 0
                     && proof->inclusion_proof.len % PL_MERKLE_HASH_SIZE == 0
                     && pl_merkle_verify_inclusion (leaf, proof->log_index, size,
                                                    proof->inclusion_proof.data,
                                                    proof->inclusion_proof.len / PL_MERKLE_HASH_SIZE,
                                                    root);
        bool ours = entry && entry->event_id.len == PL_EVENT_ID_SIZE
                 && memcmp (entry->event_id.data, w->event_id, PL_EVENT_ID_SIZE) == 0;
        if (!included || !ours) {
            snprintf (why, sizeof why, "the broker's proof for event %s does not hold (%s)", hex,
                      !ours? "the entry is about another event": "not in the checkpointed tree");
            log_warn ("ALERT: %s", why);
            pa_agent_reply_error (self, w->routing_id, "proof_failed", why);
        }
        else {
            char root64 [64];
            sodium_bin2base64 (root64, sizeof root64, root, sizeof root, sodium_base64_VARIANT_ORIGINAL);
            pa_agent_reply (self, w->routing_id, json_pack ("{s:s, s:b, s:I, s:I, s:s, s:o}",
                "event_id", hex, "verified", 1, "log_index", (json_int_t) proof->log_index,
                "tree_size", (json_int_t) size, "root", root64, "entry", s_entry_summary (entry)));
        }
    }
    passerelle__log_entry__free_unpacked (entry, NULL);
    zlistx_delete (self->proofs, zlistx_cursor (self->proofs));
}
