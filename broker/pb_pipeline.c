/*  pb_pipeline: publish, receipt and expiry inside one batch (pb_pipeline.h).
 *
 *  Refusals are logged in the sharing log too (a denial is a decision an
 *  auditor must see), except "store full": logging those would eat the very
 *  headroom that keeps receipts and expiry working, so they go to the text
 *  log only.  */
#include "pb_pipeline.h"
#include "pb_intake.h"
#include "pb_journal.h"
#include "pl_hash.h"
#include "pl_log.h"
#include "pl_wire.h"

int
pb_broker_notice (pb_broker_t *self, const char *agency, const char *kind, const char *case_ref,
                  const char *consent_id, const uint8_t *event_id, const char *about,
                  const char *text)
{
    uint8_t notice_id [PL_EVENT_ID_SIZE], hash [PL_HASH_SIZE], signature [PL_SIGNATURE_SIZE];
    pl_event_id_new (notice_id);
    uint64_t now = pl_now_ms ();
    Passerelle__Notice notice = PASSERELLE__NOTICE__INIT;
    notice.notice_id.data = notice_id;
    notice.notice_id.len = sizeof notice_id;
    notice.kind = (char *) kind;
    notice.at_ms = now;
    notice.case_ref = (char *) case_ref;
    notice.consent_id = (char *) consent_id;
    notice.event_id.data = (uint8_t *) event_id;
    notice.event_id.len = event_id? PL_EVENT_ID_SIZE: 0;
    notice.agency = (char *) about;
    notice.text = (char *) text;
    size_t size = passerelle__notice__get_packed_size (&notice);
    uint8_t *bytes = malloc (size);
    if (!bytes)
        return -1;
    passerelle__notice__pack (&notice, bytes);
    pl_sha256 (hash, bytes, size);
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
    free (bytes);
    pb_entry_t entry = pb_journal_note ("notice", event_id, case_ref, agency, text, now);
    int rc = frame? pb_broker_log (self, &entry, NULL): -1;
    free (entry.bytes);
    //  A notice is owed like an event until receipted; the priority lane
    //  is kept for escalations, so it goes in the normal one
    if (rc == 0)
        rc = pb_batch_queue_push (self->batch, agency, notice_id, sizeof notice_id, hash, now,
                                  0, 0, false, zframe_data (frame), zframe_size (frame));
    if (rc == 0) {
        pb_broker_defer_delivery (self, agency, notice_id, &frame);
        log_info ("notice %s to %s: %s", kind, agency, text);
    }
    else
        self->spoilt = true;
    zframe_destroy (&frame);
    return rc < 0? rc: 0;
}

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
s_ack (pb_broker_t *self, zframe_t *routing_id, const uint8_t *event_id, Passerelle__Status status,
       const char *reason, const pb_decision_t *decisions, size_t count, const char *warning,
       uint64_t log_index)
{
    Passerelle__RecipientDecision wire [PL_MAX_RECIPIENTS * 2];
    Passerelle__RecipientDecision *list [PL_MAX_RECIPIENTS * 2];
    Passerelle__PublishAck ack = PASSERELLE__PUBLISH_ACK__INIT;
    ack.event_id.data = (uint8_t *) event_id;
    ack.event_id.len = event_id? PL_EVENT_ID_SIZE: 0;
    ack.status = status;
    ack.reason = (char *) reason;
    ack.log_index = log_index;
    for (size_t i = 0; i < count; i++) {
        passerelle__recipient_decision__init (&wire [i]);
        wire [i].recipient = (char *) decisions [i].name;
        wire [i].allowed = decisions [i].status == PASSERELLE__STATUS__STATUS_OK;
        wire [i].status = decisions [i].status;
        wire [i].reason = (char *) decisions [i].reason;
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
    pb_broker_defer_reply (self, routing_id, &msg, status == PASSERELLE__STATUS__STATUS_OK? event_id: NULL);
}

//  Refuse a whole event: text log, sharing log (unless the store is full),
//  and an acknowledgement saying why.
static void
s_refuse (pb_broker_t *self, zframe_t *routing_id, const pl_agency_t *peer, pl_envelope_t *envelope,
          Passerelle__Status status, const char *reason, const pb_decision_t *decisions, size_t count)
{
    const uint8_t *event_id = envelope? pl_envelope_header (envelope)->event_id.data: NULL;
    char hex [PL_EVENT_ID_SIZE * 2 + 1] = "-";
    if (event_id)
        pl_event_id_hex (event_id, hex);
    log_warn ("refuse event %s from %s: %s: %s", hex, peer->id, pl_status_name (status), reason);
    self->counts.refused++;
    uint64_t index = 0;
    if (status != PASSERELLE__STATUS__STATUS_STORE_FULL) {
        pb_entry_t entry = pb_journal_refusal (envelope, peer->id, pl_status_name (status), reason,
                                               decisions, count, pl_now_ms ());
        pb_broker_log (self, &entry, &index);
        free (entry.bytes);
    }
    s_ack (self, routing_id, event_id, status, reason, decisions, count, NULL, index);
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

//  Queue the event for each allowed recipient; deliveries go out after commit.
static int
s_route (pb_broker_t *self, pl_envelope_t *envelope, const pl_agency_t *publisher,
         Passerelle__Envelope *wire, const pb_decision_t *decisions, size_t count, uint64_t now)
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
    if (!frame)
        return -1;
    //  Risk escalations (and high risk and above) travel ahead of the rest
    int risk = pl_vocab_id (PL_KIND_RISK, header->risk_level);
    bool priority = pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type) == PL_EV_RISK_ESCALATION
                 || risk >= PL_RISK_HIGH;
    uint64_t retain_until = pb_sharing_retain_until (self->sharing, envelope, now);
    size_t allowed = 0;
    for (size_t i = 0; i < count; i++)
        allowed += decisions [i].status == PASSERELLE__STATUS__STATUS_OK;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (decisions [i].status != PASSERELLE__STATUS__STATUS_OK)
            continue;
        rc = pb_batch_queue_push (self->batch, decisions [i].agency->id, header->event_id.data,
                                  PL_EVENT_ID_SIZE, header_hash, now, header->valid_until_ms,
                                  retain_until, priority, zframe_data (frame), zframe_size (frame));
        if (rc == 1)
            rc = 0;                     //  already owed: de-duplicated
        if (rc == 0) {
            //  The last recipient takes the frame itself: no copy of 1-2 KiB
            zframe_t *body = --allowed? zframe_dup (frame): frame;
            if (body == frame)
                frame = NULL;
            pb_broker_defer_delivery (self, decisions [i].agency->id, header->event_id.data, &body);
        }
        if (rc == 0 && priority)
            pb_escalation_track (self->escalations, decisions [i].agency->id, publisher->id,
                                 header->case_ref, header->event_id.data, now);
    }
    zframe_destroy (&frame);
    return rc;
}

static void
s_notify_withdrawal (pb_broker_t *self, const pl_agency_t *peer, const Passerelle__EventHeader *h,
                     zlist_t *notify)
{
    for (char *agency = notify? zlist_first (notify): NULL; agency; agency = zlist_next (notify)) {
        if (streq (agency, peer->id))
            continue;
        char text [300];
        snprintf (text, sizeof text, "consent %s on case %s was withdrawn (registered by %s); "
                  "do not share further under it", h->consent->consent_id, h->case_ref, peer->id);
        pb_broker_notice (self, agency, "consent_withdrawn", h->case_ref, h->consent->consent_id,
                          h->event_id.data, peer->id, text);
    }
}

//  The event passed every check on its own: decide, admit, log, queue.
static void
s_accept (pb_broker_t *self, zframe_t *routing_id, const pl_agency_t *peer, pl_envelope_t *envelope,
          Passerelle__Envelope *wire, uint64_t now, const char *warning)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    char hex [PL_EVENT_ID_SIZE * 2 + 1], why [512];
    pl_event_id_hex (header->event_id.data, hex);
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type);
    bool consent_event = type == PL_EV_CONSENT_GIVEN || type == PL_EV_CONSENT_WITHDRAWN;

    pb_decision_t decisions [PL_MAX_RECIPIENTS * 2];
    size_t count = pb_sharing_decide (self->sharing, self->directory, envelope, peer, now,
                                      decisions, PL_MAX_RECIPIENTS * 2);
    size_t allowed = 0;
    for (size_t i = 0; i < count; i++) {
        allowed += decisions [i].status == PASSERELLE__STATUS__STATUS_OK;
        self->counts.denied_recipients += decisions [i].status != PASSERELLE__STATUS__STATUS_OK;
        s_log_decision (hex, header, peer->id, &decisions [i]);
    }
    //  A consent change takes effect even when no one is told by this event
    if (allowed == 0 && !consent_event) {
        s_refuse (self, routing_id, peer, envelope, PASSERELLE__STATUS__STATUS_NO_RECIPIENT,
                  "no recipient may receive this event", decisions, count);
        return;
    }
    uint64_t index = pb_store_log_size (self->store);
    int rc = pb_sharing_admit (self->sharing, self->batch, envelope, decisions, count, index);
    if (rc == PB_STORE_NO_ROOM) {
        s_refuse (self, routing_id, peer, envelope, PASSERELLE__STATUS__STATUS_STORE_FULL,
                  "the broker's store is full: try again later", decisions, count);
        return;
    }
    zlist_t *notify = NULL;
    if (rc == 0 && consent_event
    &&  pb_sharing_apply_consent (self->sharing, self->batch, envelope, now, &notify,
                                  why, sizeof why) != 0) {
        s_refuse (self, routing_id, peer, envelope, PASSERELLE__STATUS__STATUS_POLICY_DENIED, why,
                  decisions, count);
        return;
    }
    if (consent_event)
        log_info ("consent %s case %s by %s: %s", header->consent->consent_id, header->case_ref,
                  peer->id, header->event_type);
    pb_entry_t entry = pb_journal_publish (envelope, decisions, count, now);
    if (rc == 0)
        rc = pb_sharing_record (self->sharing, self->batch, envelope, decisions, count);
    if (rc == 0)
        rc = pb_broker_log (self, &entry, &index);
    free (entry.bytes);
    if (rc == 0)
        rc = s_route (self, envelope, peer, wire, decisions, count, now);
    if (rc == 0)
        s_notify_withdrawal (self, peer, header, notify);
    zlist_destroy (&notify);
    if (rc != 0) {
        //  Half an event must never reach the disk: the server aborts the
        //  whole batch and refuses every event in it (their agents retry)
        bool full = rc == PB_STORE_NO_ROOM || rc == PB_STORE_FULL;
        self->spoilt = true;
        self->spoilt_by_space |= full;
        log_warn ("event %s from %s: store error: %s", hex, peer->id, pb_store_error (self->store));
        s_ack (self, routing_id, header->event_id.data, full? PASSERELLE__STATUS__STATUS_STORE_FULL:
               PASSERELLE__STATUS__STATUS_INTERNAL, full? "the broker's store is full: try again "
               "later": "the broker could not store the event", NULL, 0, NULL, 0);
        return;
    }
    self->counts.accepted++;
    s_ack (self, routing_id, header->event_id.data, PASSERELLE__STATUS__STATUS_OK, "accepted",
           decisions, count, warning, index);
}

static void
s_note_sequence (pb_broker_t *self, pl_envelope_t *envelope, const pl_agency_t *peer, uint64_t now,
                 char *warning, size_t size)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    if (pb_sharing_note_sequence (self->sharing, self->batch, envelope, now, warning, size) != 0)
        self->spoilt = true;
    if (*warning) {
        char hex [PL_EVENT_ID_SIZE * 2 + 1];
        log_warn ("event %s: %s", pl_event_id_hex (header->event_id.data, hex), warning);
        pb_entry_t note = pb_journal_note ("sequence_gap", header->event_id.data, header->case_ref,
                                           peer->id, warning, now);
        pb_broker_log (self, &note, NULL);
        free (note.bytes);
    }
}

void
pb_pipeline_publish (pb_broker_t *self, pb_inbound_t *in)
{
    if (!in->checked)                   //  never left unchecked by the server; cheap to be sure
        pb_intake_check (in, NULL);
    zframe_t *routing_id = in->routing_id;
    const pl_agency_t *peer = in->peer;
    pl_envelope_t *envelope = in->envelope;
    char why [256] = "";
    if (!envelope) {
        s_refuse (self, routing_id, peer, NULL, s_status_of (in->envelope_err), in->why, NULL, 0);
        return;
    }
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    uint64_t now = pl_now_ms ();
    uint64_t skew = pol_policy_clock_skew_ms (pb_sharing_policy (self->sharing));
    int seen;
    if (in->wrong_publisher) {
        snprintf (why, sizeof why, "authenticated as %s, cannot publish as %.64s",
                  peer->id, header->publisher);
        s_refuse (self, routing_id, peer, envelope, PASSERELLE__STATUS__STATUS_PUBLISHER_MISMATCH,
                  why, NULL, 0);
    }
    else
    if (in->envelope_err != PL_OK)     //  signature and payload hash, checked by the pool
        s_refuse (self, routing_id, peer, envelope, s_status_of (in->envelope_err),
                  pl_err_str (in->envelope_err), NULL, 0);
    else
    if ((seen = pb_batch_event_seen (self->batch, header->event_id.data, header->event_id.len)) != 0)
        s_refuse (self, routing_id, peer, envelope, seen == 1? PASSERELLE__STATUS__STATUS_DUPLICATE:
                  PASSERELLE__STATUS__STATUS_INTERNAL, seen == 1?
                  "this event id was already accepted (replay?)": "store error", NULL, 0);
    else {
        //  Every authentic event that reached us counts for gap detection,
        //  accepted or refused, so a refusal never looks like a lost event
        char warning [256];
        s_note_sequence (self, envelope, peer, now, warning, sizeof warning);
        if (header->valid_until_ms && header->valid_until_ms <= now) {
            snprintf (why, sizeof why, "valid until %llu, now %llu",
                      (unsigned long long) header->valid_until_ms, (unsigned long long) now);
            s_refuse (self, routing_id, peer, envelope, PASSERELLE__STATUS__STATUS_EXPIRED, why,
                      NULL, 0);
        }
        else
        if (header->created_at_ms > now + skew) {
            snprintf (why, sizeof why, "created %llu ms in the future, the policy allows %llu ms",
                      (unsigned long long) (header->created_at_ms - now), (unsigned long long) skew);
            s_refuse (self, routing_id, peer, envelope, PASSERELLE__STATUS__STATUS_FUTURE, why,
                      NULL, 0);
        }
        else
        if (!pb_store_accepts_publish (self->store))
            s_refuse (self, routing_id, peer, envelope, PASSERELLE__STATUS__STATUS_STORE_FULL,
                      "the broker's store is full: try again later", NULL, 0);
        else
            s_accept (self, routing_id, peer, envelope, in->request->publish->envelope, now,
                      warning);
    }
}

//  The case an event is about, from its event record (or the publish entry
//  of one recorded by an older broker): receipts and expiries carry it so
//  that the log's case index holds everything about a case, and a case
//  report needs no other walk.
static void
s_case_of (pb_broker_t *self, const uint8_t *event_id, char *case_ref, size_t size)
{
    pb_event_t *event = NULL;
    uint8_t *bytes = NULL;
    size_t length = 0;
    case_ref [0] = 0;
    if (pb_store_event_lookup (self->store, event_id, PL_EVENT_ID_SIZE, &event) != 0)
        return;
    if (event->case_ref)
        snprintf (case_ref, size, "%s", event->case_ref);
    else
    //  Recorded by a broker that did not keep the case there: its entry has it
    if (pb_store_log_entry (self->store, event->log_index, &bytes, &length) == 0) {
        Passerelle__LogEntry *entry = passerelle__log_entry__unpack (NULL, length, bytes);
        if (entry && entry->case_ref)
            snprintf (case_ref, size, "%s", entry->case_ref);
        passerelle__log_entry__free_unpacked (entry, NULL);
    }
    free (bytes);
    pb_event_destroy (&event);
}

//  One item of a checked receipt: if still owed (an earlier receipt in
//  this batch may have taken it) and over the header that was delivered,
//  log it with its proof and take it off the queue. False when it names
//  another header than the one delivered (the caller says so once).
static bool
s_receipt_item (pb_broker_t *self, pb_inbound_t *in, size_t index)
{
    const pl_agency_t *peer = in->peer;
    const pl_receipt_item_t *item = pl_receipt_item (in->receipt, index);
    const Passerelle__Receipt *receipt = in->request->receipt;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (item->event_id, hex);
    uint8_t owed [PL_HASH_SIZE];
    if (pb_store_queue_find (self->store, peer->id, item->event_id, PL_EVENT_ID_SIZE, owed) != 0) {
        log_debug ("receipt for event %s from %s: nothing owed (already receipted)", hex,
                   peer->id);
        return true;
    }
    if (sodium_memcmp (owed, item->header_hash, PL_HASH_SIZE) != 0)
        return false;
    uint8_t proof [PL_RECEIPT_PROOF_MAX * PL_HASH_SIZE];
    size_t proof_len = 0;
    if (pl_receipt_proof (in->receipt, index, proof, &proof_len) != 0) {
        log_warn ("receipt for event %s from %s: out of memory, delivery kept", hex, peer->id);
        return true;
    }
    char case_ref [PL_MAX_CASE_REF + 1];
    s_case_of (self, item->event_id, case_ref, sizeof case_ref);
    pb_receipt_entry_t fields = {
        .event_id = item->event_id, .case_ref = *case_ref? case_ref: NULL,
        .recipient = peer->id, .header_hash = owed,
        .received_at_ms = receipt->received_at_ms, .signature = receipt->signature.data,
        .index = (uint32_t) index, .count = (uint32_t) pl_receipt_count (in->receipt),
        .proof = proof, .proof_len = proof_len
    };
    pb_entry_t entry = pb_journal_receipt (&fields, pl_now_ms ());
    int rc = pb_broker_log (self, &entry, NULL);
    free (entry.bytes);
    if (rc == 0)
        rc = pb_batch_queue_remove (self->batch, peer->id, item->event_id, PL_EVENT_ID_SIZE);
    if (rc == 0)
        pb_broker_receipted (self, peer->id, item->event_id);
    if (rc < 0) {
        self->spoilt = true;
        log_warn ("receipt for event %s from %s: store error: %s", hex, peer->id,
                  pb_store_error (self->store));
        return true;
    }
    self->counts.receipts++;
    log_info ("receipt event %s by %s", hex, peer->id);
    //  An escalation that missed its deadline: its arrival is logged too
    pb_overdue_t late;
    if (pb_escalation_done (self->escalations, peer->id, item->event_id, &late)) {
        char text [300];
        snprintf (text, sizeof text, "escalation %s finally delivered to %s, %llu ms after it "
                  "was queued", hex, peer->id,
                  (unsigned long long) (pl_now_ms () - late.queued_ms));
        log_warn ("%s", text);
        pb_entry_t note = pb_journal_note ("late_escalation", item->event_id,
                                           late.case_ref, peer->id, text, pl_now_ms ());
        pb_broker_log (self, &note, NULL);
        free (note.bytes);
    }
    return true;
}

void
pb_pipeline_receipt (pb_broker_t *self, pb_inbound_t *in)
{
    if (!in->receipt) {
        //  Nothing of it counts: every delivery it names stays owed
        log_warn ("receipt from %s refused: %s; deliveries kept", in->peer->id, in->why);
        return;
    }
    //  Items over another header: one line per receipt, whatever their number
    size_t other = 0, first = 0;
    for (size_t index = 0; index < pl_receipt_count (in->receipt) && !self->spoilt; index++)
        if (!s_receipt_item (self, in, index) && other++ == 0)
            first = index;
    if (other) {
        char hex [PL_EVENT_ID_SIZE * 2 + 1];
        pl_event_id_hex (pl_receipt_item (in->receipt, first)->event_id, hex);
        log_warn ("receipt from %s: %zu item%s signed over another header than the one "
                  "delivered (event %s%s), deliver%s kept", in->peer->id, other,
                  other == 1? "": "s", hex, other == 1? "": " and others",
                  other == 1? "y": "ies");
    }
}

//  Called by the store for each purged item (a copy: we may write).
static int
s_log_expiry (const pb_queue_item_t *item, void *arg)
{
    pb_broker_t *self = arg;
    char hex [PL_EVENT_ID_SIZE * 2 + 1] = "-", text [300];
    uint64_t now = pl_now_ms ();
    bool expired = item->valid_until_ms && item->valid_until_ms <= now;
    if (item->event_id_size == PL_EVENT_ID_SIZE)
        pl_event_id_hex (item->event_id, hex);
    snprintf (text, sizeof text, "event %s was not delivered to %s before its %s", hex,
              item->agency, expired? "valid-until": "retention period ended");
    char case_ref [PL_MAX_CASE_REF + 1] = "";
    if (item->event_id_size == PL_EVENT_ID_SIZE)
        s_case_of (self, item->event_id, case_ref, sizeof case_ref);
    pb_entry_t entry = pb_journal_note ("expiry", item->event_id_size == PL_EVENT_ID_SIZE?
                                        item->event_id: NULL, *case_ref? case_ref: NULL,
                                        item->agency, text, now);
    int rc = pb_broker_log (self, &entry, NULL);
    free (entry.bytes);
    log_warn ("expiry: %s", text);
    self->counts.expired++;
    if (item->event_id_size == PL_EVENT_ID_SIZE)
        pb_escalation_done (self->escalations, item->agency, item->event_id, NULL);
    //  Tell the publisher (broker notices themselves just lapse)
    pb_event_t *event = NULL;
    if (rc == 0 && item->event_id_size == PL_EVENT_ID_SIZE
    &&  pb_store_event_lookup (self->store, item->event_id, item->event_id_size, &event) == 0) {
        rc = pb_broker_notice (self, event->publisher, "expired", NULL, NULL, item->event_id,
                               item->agency, text);
        pb_event_destroy (&event);
    }
    return rc < 0? rc: 0;
}

void
pb_pipeline_late_escalation (pb_broker_t *self, const pb_overdue_t *late, uint64_t deadline_ms)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1], text [400];
    pl_event_id_hex (late->event_id, hex);
    snprintf (text, sizeof text, "risk escalation %s on case %s from %s was not delivered to %s "
              "within %llu s", hex, late->case_ref, late->publisher, late->recipient,
              (unsigned long long) (deadline_ms / 1000));
    log_warn ("late escalation: %s", text);
    pb_entry_t entry = pb_journal_note ("late_escalation", late->event_id, late->case_ref,
                                        late->recipient, text, pl_now_ms ());
    int rc = pb_broker_log (self, &entry, NULL);
    free (entry.bytes);
    //  The publisher, and the fallback roles in its network, must act now
    if (rc == 0 && *late->publisher)
        rc = pb_broker_notice (self, late->publisher, "late_escalation", late->case_ref, NULL,
                               late->event_id, late->recipient, text);
    const pl_agency_t *publisher = pl_directory_lookup (self->directory, late->publisher);
    pl_set_t fallback = pol_policy_escalation_fallback (pb_sharing_policy (self->sharing));
    const pl_agency_t *found [PL_MAX_RECIPIENTS];
    size_t n = publisher && fallback? pl_directory_find_by_roles (self->directory, fallback,
        publisher->network, publisher->id, found, PL_MAX_RECIPIENTS): 0;
    for (size_t i = 0; rc == 0 && i < n && i < PL_MAX_RECIPIENTS; i++)
        if (strcmp (found [i]->id, late->recipient) != 0)
            rc = pb_broker_notice (self, found [i]->id, "late_escalation", late->case_ref, NULL,
                                   late->event_id, late->recipient, text);
}

void
pb_pipeline_report_gap (pb_broker_t *self, const pb_gap_t *gap)
{
    char text [300];
    snprintf (text, sizeof text, "sequence gap: numbers %llu to %llu from %s never reached the "
              "broker", (unsigned long long) gap->first, (unsigned long long) gap->last,
              gap->publisher);
    log_warn ("%s", text);
    pb_entry_t note = pb_journal_note ("sequence_gap", NULL, NULL, gap->publisher, text,
                                       pl_now_ms ());
    int rc = pb_broker_log (self, &note, NULL);
    free (note.bytes);
    if (rc == 0)
        pb_broker_notice (self, gap->publisher, "sequence_gap", NULL, NULL, NULL, gap->publisher,
                          text);
}

uint64_t
pb_pipeline_expire (pb_broker_t *self, uint64_t now_ms)
{
    uint64_t purged = 0;
    if (pb_batch_queue_purge_due (self->batch, now_ms, 100, s_log_expiry, self, &purged) != 0)
        log_warn ("expiry: store error: %s", pb_store_error (self->store));
    return purged;
}
