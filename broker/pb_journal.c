/*  pb_journal: LogEntry bytes for the sharing log (see pb_journal.h).  */
#include <stdlib.h>
#include <string.h>
#include "pb_journal.h"
#include "pb_store.h"

static pb_entry_t
s_pack (Passerelle__LogEntry *entry)
{
    pb_entry_t out = { NULL, 0, NULL, 0 };
    size_t size = passerelle__log_entry__get_packed_size (entry);
    size_t names_size = pb_log_names (entry, NULL, 0);
    out.bytes = malloc (size + names_size);
    if (out.bytes) {
        out.size = passerelle__log_entry__pack (entry, out.bytes);
        out.names = (char *) out.bytes + size;
        out.names_size = pb_log_names (entry, (char *) out.bytes + size, names_size);
    }
    return out;
}

//  The header's metadata, as the auditor needs it; pointers into header.
static void
s_copy_header (Passerelle__LogEntry *entry, pl_envelope_t *envelope, uint8_t *hash)
{
    const Passerelle__EventHeader *h = pl_envelope_header (envelope);
    pl_envelope_header_hash (envelope, hash);
    entry->event_id = h->event_id;
    entry->case_ref = h->case_ref;
    entry->publisher = h->publisher;
    entry->event_type = h->event_type;
    entry->categories = h->categories;
    entry->n_categories = h->n_categories;
    entry->purpose = h->purpose;
    entry->legal_basis = h->legal_basis;
    entry->consent_id = h->consent_id;
    entry->justification = h->justification;
    entry->risk_level = h->risk_level;
    entry->sequence = h->sequence;
    entry->header_hash.data = hash;
    entry->header_hash.len = PL_HASH_SIZE;
    entry->supersedes = h->supersedes;
}

//  Decisions as log records; list and records are the caller's arrays.
static void
s_copy_decisions (Passerelle__LogEntry *entry, const pb_decision_t *decisions, size_t count,
                  Passerelle__LogDecision *records, Passerelle__LogDecision **list)
{
    for (size_t i = 0; i < count; i++) {
        passerelle__log_decision__init (&records [i]);
        records [i].recipient = (char *) decisions [i].name;
        records [i].allowed = decisions [i].status == PASSERELLE__STATUS__STATUS_OK;
        records [i].code = (char *) decisions [i].code;
        records [i].rule = (char *) decisions [i].rule;
        records [i].category = (char *) decisions [i].category;
        records [i].needs_review = decisions [i].needs_review;
        list [i] = &records [i];
    }
    entry->decisions = list;
    entry->n_decisions = count;
}

pb_entry_t
pb_journal_publish (pl_envelope_t *envelope, const pb_decision_t *decisions, size_t count,
                    uint64_t at_ms)
{
    Passerelle__LogEntry entry = PASSERELLE__LOG_ENTRY__INIT;
    uint8_t hash [PL_HASH_SIZE];
    Passerelle__LogDecision records [PL_MAX_RECIPIENTS * 2], *list [PL_MAX_RECIPIENTS * 2];
    s_copy_header (&entry, envelope, hash);
    s_copy_decisions (&entry, decisions, count, records, list);
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, entry.event_type);
    entry.kind = type == PL_EV_CORRECTION? "correction":
                 type == PL_EV_CONSENT_GIVEN? "consent_given":
                 type == PL_EV_CONSENT_WITHDRAWN? "consent_withdrawn": "publish";
    const Passerelle__EventHeader *h = pl_envelope_header (envelope);
    if (h->consent && h->consent->consent_id)
        entry.consent_id = h->consent->consent_id;
    entry.at_ms = at_ms;
    entry.status = "ok";
    return s_pack (&entry);
}

pb_entry_t
pb_journal_refusal (pl_envelope_t *envelope, const char *publisher, const char *status,
                    const char *reason, const pb_decision_t *decisions, size_t count,
                    uint64_t at_ms)
{
    Passerelle__LogEntry entry = PASSERELLE__LOG_ENTRY__INIT;
    uint8_t hash [PL_HASH_SIZE];
    Passerelle__LogDecision records [PL_MAX_RECIPIENTS * 2], *list [PL_MAX_RECIPIENTS * 2];
    if (envelope)
        s_copy_header (&entry, envelope, hash);
    //  The authenticated peer, which is not always who the header claims
    entry.agency = (char *) publisher;
    if (!envelope)
        entry.publisher = (char *) publisher;
    s_copy_decisions (&entry, decisions, count, records, list);
    entry.kind = "refusal";
    entry.at_ms = at_ms;
    entry.status = (char *) status;
    entry.detail = (char *) reason;
    return s_pack (&entry);
}

pb_entry_t
pb_journal_receipt (const pb_receipt_entry_t *receipt, uint64_t at_ms)
{
    Passerelle__LogEntry entry = PASSERELLE__LOG_ENTRY__INIT;
    entry.kind = "receipt";
    entry.case_ref = (char *) receipt->case_ref;
    entry.at_ms = at_ms;
    entry.event_id.data = (uint8_t *) receipt->event_id;
    entry.event_id.len = PL_EVENT_ID_SIZE;
    entry.agency = (char *) receipt->recipient;
    entry.header_hash.data = (uint8_t *) receipt->header_hash;
    entry.header_hash.len = PL_HASH_SIZE;
    entry.received_at_ms = receipt->received_at_ms;
    entry.signature.data = (uint8_t *) receipt->signature;
    entry.signature.len = PL_SIGNATURE_SIZE;
    entry.receipt_index = receipt->index;
    entry.receipt_count = receipt->count;
    entry.receipt_proof.data = (uint8_t *) receipt->proof;
    entry.receipt_proof.len = receipt->proof_len * PL_HASH_SIZE;
    entry.status = "ok";
    return s_pack (&entry);
}

pb_entry_t
pb_journal_note (const char *kind, const uint8_t *event_id, const char *case_ref,
                 const char *agency, const char *detail, uint64_t at_ms)
{
    Passerelle__LogEntry entry = PASSERELLE__LOG_ENTRY__INIT;
    entry.kind = (char *) kind;
    entry.at_ms = at_ms;
    if (event_id) {
        entry.event_id.data = (uint8_t *) event_id;
        entry.event_id.len = PL_EVENT_ID_SIZE;
    }
    entry.case_ref = (char *) case_ref;
    entry.agency = (char *) agency;
    entry.detail = (char *) detail;
    return s_pack (&entry);
}
