/*  pb_sharing: candidates, facts and policy decisions (see pb_sharing.h).
 *
 *  The structural checks (the recipient exists, is valid now, is not the
 *  publisher) come first because the policy cannot judge an agency that is
 *  not there; everything else is the policy's, so that every allow and deny
 *  carries a rule and a reason code from the one fixed list.
 *
 *  A consent is stored as a small JSON record (the registering agency, the
 *  signed ConsentScope bytes, when, who received data under it, and its
 *  withdrawal), enough to rebuild pol_consents exactly at start.  */
#include <jansson.h>
#include "pb_sharing.h"
#include "pb_store_state.h"
#include "pol_consents.h"
#include "pol_sequence.h"
#include "pl_wire.h"

struct _pb_sharing_t {
    pol_policy_t *policy;
    pb_store_t *store;
    pol_consents_t *consents;
    pol_sequence_t *sequences;
    zlistx_t *gaps;                 //  pb_gap_t: missing numbers, held open a while
};

//  --------------------------------------------------------------------------
//  Consent records in the store

static int
s_consent_save (pb_batch_t *batch, const char *case_ref, const char *consent_id, json_t *record)
{
    char *text = json_dumps (record, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = text? pb_batch_consent_put (batch, case_ref, consent_id, (const uint8_t *) text,
                                         strlen (text)): -1;
    free (text);
    return rc;
}

static json_t *
s_consent_load (pb_store_t *store, const char *case_ref, const char *consent_id)
{
    uint8_t *blob = NULL;
    size_t size = 0;
    if (pb_store_consent_get (store, case_ref, consent_id, &blob, &size) != 0)
        return NULL;
    json_t *record = json_loadb ((const char *) blob, size, 0, NULL);
    free (blob);
    return record;
}

typedef struct {
    pb_sharing_t *self;
    size_t restored, broken;
} restore_t;

static int
s_restore_consent (const char *case_ref, const char *consent_id, const uint8_t *blob, size_t size,
                   void *arg)
{
    restore_t *restore = arg;
    json_t *record = json_loadb ((const char *) blob, size, 0, NULL);
    const char *publisher = json_string_value (json_object_get (record, "publisher"));
    const char *scope64 = json_string_value (json_object_get (record, "scope"));
    uint8_t scope_bytes [8192];
    size_t scope_size = 0;
    Passerelle__ConsentScope *scope = NULL;
    if (publisher && scope64
    &&  sodium_base642bin (scope_bytes, sizeof scope_bytes, scope64, strlen (scope64), NULL,
                           &scope_size, NULL, sodium_base64_VARIANT_ORIGINAL) == 0)
        scope = passerelle__consent_scope__unpack (NULL, scope_size, scope_bytes);
    char err [256];
    if (!scope || pol_consents_give_scope (restore->self->consents, publisher, case_ref, scope,
                  (uint64_t) json_integer_value (json_object_get (record, "given_at_ms")),
                  err, sizeof err) != POL_CONSENT_OK)
        restore->broken++;
    else {
        size_t index;
        json_t *agency;
        json_array_foreach (json_object_get (record, "shared_with"), index, agency)
            pol_consents_note_share (restore->self->consents, case_ref, consent_id,
                                     json_string_value (agency));
        const char *by = json_string_value (json_object_get (record, "withdrawn_by"));
        if (by)
            pol_consents_withdraw (restore->self->consents, case_ref, consent_id, by,
                (uint64_t) json_integer_value (json_object_get (record, "withdrawn_at_ms")), NULL);
        restore->restored++;
    }
    passerelle__consent_scope__free_unpacked (scope, NULL);
    json_decref (record);
    return 0;
}

static int
s_restore_sequence (const char *publisher, uint64_t last, void *arg)
{
    restore_t *restore = arg;
    pol_sequence_restore (restore->self->sequences, publisher, last);
    return 0;
}

int
pb_sharing_restore (pb_sharing_t *self, char *err, size_t err_size)
{
    pol_consents_destroy (&self->consents);
    pol_sequence_destroy (&self->sequences);
    self->consents = pol_consents_new ();
    self->sequences = pol_sequence_new ();
    if (!self->consents || !self->sequences) {
        snprintf (err, err_size, "out of memory");
        return -1;
    }
    restore_t restore = { self, 0, 0 };
    if (pb_store_consent_each (self->store, s_restore_consent, &restore) != 0
    ||  pb_store_sequence_each (self->store, s_restore_sequence, &restore) != 0) {
        snprintf (err, err_size, "cannot read the registries: %s", pb_store_error (self->store));
        return -1;
    }
    if (restore.broken) {
        snprintf (err, err_size, "%zu consent records in the store are unreadable", restore.broken);
        return -1;
    }
    return 0;
}

pb_sharing_t *
pb_sharing_new (const char *policy_path, pb_store_t *store, char *err, size_t err_size)
{
    pb_sharing_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->gaps = zlistx_new ();
    if (self->gaps)
        zlistx_set_destructor (self->gaps, (zlistx_destructor_fn *) zstr_free);
    if (!self->gaps || !(self->policy = pol_policy_load (policy_path, err, err_size))
    ||  pb_sharing_restore (self, err, err_size) != 0)
        pb_sharing_destroy (&self);
    return self;
}

void
pb_sharing_destroy (pb_sharing_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_sharing_t *self = *self_p;
    pol_policy_destroy (&self->policy);
    pol_consents_destroy (&self->consents);
    pol_sequence_destroy (&self->sequences);
    zlistx_destroy (&self->gaps);
    free (self);
    *self_p = NULL;
}

int
pb_sharing_reload_policy (pb_sharing_t *self, const char *path, char *err, size_t err_size)
{
    return pol_policy_reload (&self->policy, path, err, err_size);
}

const pol_policy_t *
pb_sharing_policy (pb_sharing_t *self)
{
    return self->policy;
}

//  --------------------------------------------------------------------------
//  Consent events

static int
s_record_consent_given (pb_sharing_t *self, pb_batch_t *batch, const Passerelle__EventHeader *h,
                        uint64_t now_ms)
{
    size_t size = passerelle__consent_scope__get_packed_size (h->consent);
    uint8_t *bytes = malloc (size? size: 1);
    if (!bytes)
        return -1;
    passerelle__consent_scope__pack (h->consent, bytes);
    char *scope64 = malloc (sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL));
    if (scope64)
        sodium_bin2base64 (scope64, sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL),
                           bytes, size, sodium_base64_VARIANT_ORIGINAL);
    free (bytes);
    //  A renewal by the same agency keeps the list of who received data
    json_t *old = s_consent_load (self->store, h->case_ref, h->consent->consent_id);
    json_t *shared = json_object_get (old, "shared_with");
    json_t *record = json_pack ("{s:s, s:s, s:I, s:O}", "publisher", h->publisher,
                                "scope", scope64? scope64: "", "given_at_ms", (json_int_t) now_ms,
                                "shared_with", shared? shared: json_array ());
    if (!shared)
        json_decref (json_object_get (record, "shared_with"));
    free (scope64);
    json_decref (old);
    int rc = record? s_consent_save (batch, h->case_ref, h->consent->consent_id, record): -1;
    json_decref (record);
    return rc;
}

static int
s_record_consent_withdrawn (pb_sharing_t *self, pb_batch_t *batch, const Passerelle__EventHeader *h,
                            uint64_t now_ms)
{
    json_t *record = s_consent_load (self->store, h->case_ref, h->consent->consent_id);
    if (!record)
        return -1;
    json_object_set_new (record, "withdrawn_by", json_string (h->publisher));
    json_object_set_new (record, "withdrawn_at_ms", json_integer ((json_int_t) now_ms));
    int rc = s_consent_save (batch, h->case_ref, h->consent->consent_id, record);
    json_decref (record);
    return rc;
}

int
pb_sharing_apply_consent (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                          uint64_t now_ms, zlist_t **notify_p, char *why, size_t why_size)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type);
    *notify_p = NULL;
    pol_consent_result_t result = POL_CONSENT_OK;
    if (type == PL_EV_CONSENT_GIVEN) {
        result = pol_consents_give_scope (self->consents, header->publisher, header->case_ref,
                                          header->consent, now_ms, why, why_size);
        if (result == POL_CONSENT_OK && s_record_consent_given (self, batch, header, now_ms) != 0)
            goto store_error;
        if (result == POL_CONSENT_INVALID)
            return -1;
    }
    else
    if (type == PL_EV_CONSENT_WITHDRAWN) {
        result = pol_consents_withdraw (self->consents, header->case_ref,
                                        header->consent->consent_id, header->publisher, now_ms,
                                        notify_p);
        if (result == POL_CONSENT_OK && s_record_consent_withdrawn (self, batch, header, now_ms) != 0)
            goto store_error;
    }
    if (result != POL_CONSENT_OK) {
        snprintf (why, why_size, "consent %s on case %s: %s", header->consent->consent_id,
                  header->case_ref, pol_consent_result_name (result));
        return -1;
    }
    return 0;
store_error:
    snprintf (why, why_size, "cannot record the consent: %s", pb_store_error (self->store));
    return -1;
}

//  --------------------------------------------------------------------------
//  Decisions

static bool
s_event_has_recipient (pb_event_t *event, const char *id)
{
    for (size_t i = 0; event && i < event->n_recipients; i++)
        if (streq (event->recipients [i], id))
            return true;
    return false;
}

//  Fill one decision for a resolved candidate.
static void
s_decide_one (pb_sharing_t *self, pol_request_t *request, pl_envelope_t *envelope,
              const pl_agency_t *publisher, pb_event_t *original, uint64_t now_ms,
              pb_decision_t *decision, bool addressed)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    const pl_agency_t *agency = decision->agency;
    decision->rule = "";
    decision->category = "";
    decision->needs_review = false;
    if (strcmp (agency->id, publisher->id) == 0) {
        decision->status = PASSERELLE__STATUS__STATUS_NO_RECIPIENT;
        decision->code = "no_recipient";
        snprintf (decision->reason, sizeof decision->reason, "the publisher is not its own recipient");
        return;
    }
    if (!pl_agency_is_valid_at (agency, now_ms)) {
        decision->status = PASSERELLE__STATUS__STATUS_REVOKED;
        decision->code = "revoked";
        snprintf (decision->reason, sizeof decision->reason,
                  "agency is outside its directory validity window");
        return;
    }
    request->recipient_roles = agency->roles;
    request->recipient_in_case = pb_store_case_has (self->store, header->case_ref, agency->id) == 1;
    request->recipient_addressed_directly = addressed;
    //  Role resolution never leaves the publisher's network (pb_sharing_decide)
    request->addressed_by_role_outside_network = false;
    request->sealed_for_recipient = pl_envelope_is_sealed_for (envelope, agency->id);
    request->corrector_is_original_publisher = original && streq (original->publisher, publisher->id);
    request->recipient_received_original = s_event_has_recipient (original, agency->id);
    pol_decision_t verdict;
    pol_policy_decide (self->policy, request, &verdict);
    decision->status = verdict.allow? PASSERELLE__STATUS__STATUS_OK:
                       verdict.reason == POL_NOT_SEALED? PASSERELLE__STATUS__STATUS_NOT_SEALED:
                       PASSERELLE__STATUS__STATUS_POLICY_DENIED;
    decision->code = pol_reason_name (verdict.reason);
    //  rule_id points into the policy, which a reload replaces: copy it
    snprintf (decision->rule_copy, sizeof decision->rule_copy, "%s", verdict.rule_id? verdict.rule_id: "");
    decision->rule = decision->rule_copy;
    decision->category = verdict.category >= 0?
        pl_vocab_name (PL_KIND_CATEGORY, verdict.category): "";
    decision->needs_review = verdict.needs_review;
    snprintf (decision->reason, sizeof decision->reason, "%s", verdict.text);
}

static bool
s_already_listed (pb_decision_t *decisions, size_t count, const char *id)
{
    for (size_t i = 0; i < count; i++)
        if (decisions [i].agency && strcmp (decisions [i].agency->id, id) == 0)
            return true;
    return false;
}

static pb_decision_t *
s_new_decision (pb_decision_t *decisions, size_t *count, const pl_agency_t *agency, const char *name)
{
    pb_decision_t *decision = &decisions [(*count)++];
    memset (decision, 0, sizeof *decision);
    decision->agency = agency;
    decision->rule = decision->category = "";
    snprintf (decision->name, sizeof decision->name, "%s", name);
    return decision;
}

size_t
pb_sharing_decide (pb_sharing_t *self, pl_directory_t *directory, pl_envelope_t *envelope,
                   const pl_agency_t *publisher, uint64_t now_ms,
                   pb_decision_t *decisions, size_t max)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    pol_request_t request;
    pol_request_init (&request);
    char err [256];
    //  The header passed pl_header_check, so every name is ours
    pol_request_from_header (&request, header, err, sizeof err);
    request.sender_roles = publisher->roles;
    request.now_ms = now_ms;
    if (header->consent_id && *header->consent_id)
        request.consent = pol_consents_lookup (self->consents, header->case_ref, header->consent_id);
    pb_event_t *original = NULL;
    if (header->supersedes.len)
        pb_store_event_lookup (self->store, header->supersedes.data, header->supersedes.len,
                               &original);
    size_t count = 0;

    //  Named agencies
    for (size_t i = 0; i < header->n_to_agencies && count < max; i++) {
        const char *id = header->to_agencies [i];
        pb_decision_t *decision = s_new_decision (decisions, &count,
                                                  pl_directory_lookup (directory, id), id);
        if (!decision->agency) {
            decision->status = PASSERELLE__STATUS__STATUS_UNKNOWN_RECIPIENT;
            decision->code = "unknown_recipient";
            snprintf (decision->reason, sizeof decision->reason, "no agency '%s' in the directory", id);
        }
        else
            s_decide_one (self, &request, envelope, publisher, original, now_ms, decision, true);
    }
    //  Role holders, in the publisher's own network only
    for (size_t r = 0; r < header->n_to_roles && count < max; r++) {
        int role = pl_vocab_id (PL_KIND_ROLE, header->to_roles [r]);
        const pl_agency_t *found [PL_MAX_RECIPIENTS];
        size_t n = pl_directory_find_by_roles (directory, PL_SET (role), publisher->network,
                                               publisher->id, found, PL_MAX_RECIPIENTS);
        if (n == 0) {
            char name [80];
            snprintf (name, sizeof name, "role:%s", header->to_roles [r]);
            pb_decision_t *decision = s_new_decision (decisions, &count, NULL, name);
            decision->status = PASSERELLE__STATUS__STATUS_NO_RECIPIENT;
            decision->code = "no_recipient";
            snprintf (decision->reason, sizeof decision->reason, "no agency with role %s in "
                      "network %s", header->to_roles [r], publisher->network);
        }
        for (size_t i = 0; i < n && i < PL_MAX_RECIPIENTS && count < max; i++)
            if (!s_already_listed (decisions, count, found [i]->id))
                s_decide_one (self, &request, envelope, publisher, original, now_ms,
                              s_new_decision (decisions, &count, found [i], found [i]->id), false);
    }
    //  A correction also goes to everyone who received the original
    for (size_t i = 0; original && i < original->n_recipients && count < max; i++) {
        const pl_agency_t *agency = pl_directory_lookup (directory, original->recipients [i]);
        if (agency && !s_already_listed (decisions, count, agency->id))
            s_decide_one (self, &request, envelope, publisher, original, now_ms,
                          s_new_decision (decisions, &count, agency, agency->id), false);
    }
    pb_event_destroy (&original);
    return count;
}

//  --------------------------------------------------------------------------
//  After acceptance

int
pb_sharing_admit (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                  const pb_decision_t *decisions, size_t count, uint64_t log_index)
{
    (void) self;
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    const char *recipients [PL_MAX_RECIPIENTS * 2];
    size_t allowed = 0;
    for (size_t i = 0; i < count; i++)
        if (decisions [i].status == PASSERELLE__STATUS__STATUS_OK)
            recipients [allowed++] = decisions [i].agency->id;
    return pb_batch_event_record (batch, header->event_id.data, header->event_id.len,
                                  header->publisher, log_index, header->supersedes.data,
                                  header->supersedes.len, recipients, allowed,
                                  header->case_ref);
}

static int
s_note_share (pb_sharing_t *self, pb_batch_t *batch, const Passerelle__EventHeader *header,
              const char *recipient)
{
    pol_consents_note_share (self->consents, header->case_ref, header->consent_id, recipient);
    json_t *record = s_consent_load (self->store, header->case_ref, header->consent_id);
    if (!record)
        return 0;       //  not a registered consent: the policy refused it anyway
    json_t *shared = json_object_get (record, "shared_with");
    bool known = false;
    size_t index;
    json_t *item;
    json_array_foreach (shared, index, item)
        known |= streq (json_string_value (item), recipient);
    int rc = 0;
    if (!known) {
        json_array_append_new (shared, json_string (recipient));
        rc = s_consent_save (batch, header->case_ref, header->consent_id, record);
    }
    json_decref (record);
    return rc;
}

int
pb_sharing_record (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                   const pb_decision_t *decisions, size_t count)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    if (pb_batch_case_add (batch, header->case_ref, header->publisher) != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (decisions [i].status != PASSERELLE__STATUS__STATUS_OK)
            continue;
        if (pb_batch_case_add (batch, header->case_ref, decisions [i].agency->id) != 0)
            return -1;
        if (header->consent_id && *header->consent_id
        &&  s_note_share (self, batch, header, decisions [i].agency->id) != 0)
            return -1;
    }
    return 0;
}

//  A late number inside an open gap closes that part of it. True if it did.
static bool
s_fill_gap (pb_sharing_t *self, const char *publisher, uint64_t number)
{
    for (pb_gap_t *gap = zlistx_first (self->gaps); gap; gap = zlistx_next (self->gaps)) {
        if (!streq (gap->publisher, publisher) || number < gap->first || number > gap->last)
            continue;
        if (gap->first == gap->last)
            zlistx_delete (self->gaps, zlistx_cursor (self->gaps));
        else
        if (number == gap->first)
            gap->first++;
        else
        if (number == gap->last)
            gap->last--;
        else {
            //  Split in two around the number that arrived
            pb_gap_t *upper = malloc (sizeof *upper);
            if (upper) {
                *upper = *gap;
                upper->first = number + 1;
                zlistx_add_end (self->gaps, upper);
            }
            gap->last = number - 1;
        }
        return true;
    }
    return false;
}

int
pb_sharing_note_sequence (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                          uint64_t now_ms, char *warning, size_t warning_size)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    uint64_t first = 0, last = 0;
    warning [0] = 0;
    pol_seq_result_t seq = pol_sequence_feed (self->sequences, header->publisher,
                                              header->sequence, &first, &last);
    //  Numbers start at 1: a first number above it leaves a gap below it
    if (seq == POL_SEQ_FIRST && header->sequence > 1) {
        seq = POL_SEQ_GAP;
        first = 1;
        last = header->sequence - 1;
    }
    if (seq == POL_SEQ_GAP) {
        pb_gap_t *gap = calloc (1, sizeof *gap);
        if (gap) {
            snprintf (gap->publisher, sizeof gap->publisher, "%s", header->publisher);
            gap->first = first;
            gap->last = last;
            gap->opened_ms = now_ms;
            zlistx_add_end (self->gaps, gap);
        }
    }
    else
    if (seq == POL_SEQ_OLD && !s_fill_gap (self, header->publisher, header->sequence))
        snprintf (warning, warning_size, "sequence %llu from %s is not above the last seen "
                  "(%llu) and fills no gap: agent state lost?",
                  (unsigned long long) header->sequence, header->publisher,
                  (unsigned long long) pol_sequence_last (self->sequences, header->publisher));
    return pb_batch_sequence_set (batch, header->publisher,
                                  pol_sequence_last (self->sequences, header->publisher));
}

size_t
pb_sharing_overdue_gaps (pb_sharing_t *self, uint64_t cutoff_ms, pb_gap_t *out, size_t max)
{
    size_t count = 0;
    pb_gap_t *gap = zlistx_first (self->gaps);
    while (gap && count < max) {
        if (gap->opened_ms < cutoff_ms) {
            out [count++] = *gap;
            zlistx_delete (self->gaps, zlistx_cursor (self->gaps));
            gap = zlistx_first (self->gaps);
        }
        else
            gap = zlistx_next (self->gaps);
    }
    return count;
}

uint64_t
pb_sharing_retain_until (pb_sharing_t *self, pl_envelope_t *envelope, uint64_t now_ms)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    uint64_t shortest = 0;
    for (size_t i = 0; i < header->n_categories; i++) {
        uint64_t retention = pol_policy_retention_ms (self->policy,
                                                      pl_vocab_id (PL_KIND_CATEGORY, header->categories [i]));
        if (retention && (!shortest || retention < shortest))
            shortest = retention;
    }
    return shortest? now_ms + shortest: 0;
}
