/*  pb_sharing: candidates, facts and policy decisions (see pb_sharing.h).
 *
 *  The structural checks (the recipient exists, is valid now, is not the
 *  publisher) come first because the policy cannot judge an agency that is
 *  not there; everything else is the policy's, so that every allow and deny
 *  carries a rule and a reason code from the one fixed list.  */
#include "pb_sharing.h"
#include "pol_consents.h"
#include "pol_sequence.h"
#include "pl_wire.h"

typedef struct {
    char publisher [PL_ID_MAX + 1];
    zlist_t *recipients;            //  agency ids (strings, owned)
} original_t;

struct _pb_sharing_t {
    pol_policy_t *policy;
    pol_consents_t *consents;
    pol_sequence_t *sequences;
    zhashx_t *case_members;         //  "case\nagency" -> ""
    zhashx_t *originals;            //  event id (hex) -> original_t
};

static void
s_original_destroy (void **item_p)
{
    original_t *original = *item_p;
    if (original) {
        zlist_destroy (&original->recipients);
        free (original);
        *item_p = NULL;
    }
}

pb_sharing_t *
pb_sharing_new (const char *policy_path, char *err, size_t err_size)
{
    pb_sharing_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->policy = pol_policy_load (policy_path, err, err_size);
    self->consents = pol_consents_new ();
    self->sequences = pol_sequence_new ();
    self->case_members = zhashx_new ();
    self->originals = zhashx_new ();
    if (!self->policy || !self->consents || !self->sequences || !self->case_members
    ||  !self->originals) {
        pb_sharing_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->originals, s_original_destroy);
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
    zhashx_destroy (&self->case_members);
    zhashx_destroy (&self->originals);
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

static bool
s_in_case (pb_sharing_t *self, const char *case_ref, const char *agency)
{
    char key [PL_MAX_CASE_REF + PL_ID_MAX + 2];
    snprintf (key, sizeof key, "%s\n%s", case_ref, agency);
    return zhashx_lookup (self->case_members, key) != NULL;
}

static void
s_add_to_case (pb_sharing_t *self, const char *case_ref, const char *agency)
{
    char key [PL_MAX_CASE_REF + PL_ID_MAX + 2];
    snprintf (key, sizeof key, "%s\n%s", case_ref, agency);
    zhashx_insert (self->case_members, key, "");
}

static original_t *
s_original (pb_sharing_t *self, const Passerelle__EventHeader *header)
{
    if (header->supersedes.len != PL_EVENT_ID_SIZE)
        return NULL;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    return zhashx_lookup (self->originals, pl_event_id_hex (header->supersedes.data, hex));
}

static bool
s_list_has (zlist_t *list, const char *id)
{
    for (char *item = list? zlist_first (list): NULL; item; item = zlist_next (list))
        if (streq (item, id))
            return true;
    return false;
}

int
pb_sharing_apply_consent (pb_sharing_t *self, pl_envelope_t *envelope, uint64_t now_ms,
                          zlist_t **notify_p, char *why, size_t why_size)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, header->event_type);
    *notify_p = NULL;
    if (type == PL_EV_CONSENT_GIVEN) {
        pol_consent_result_t result = pol_consents_give_scope (self->consents, header->publisher,
                                                               header->case_ref, header->consent,
                                                               now_ms, why, why_size);
        if (result != POL_CONSENT_OK) {
            if (result != POL_CONSENT_INVALID)
                snprintf (why, why_size, "consent %s on case %s: %s", header->consent->consent_id,
                          header->case_ref, pol_consent_result_name (result));
            return -1;
        }
    }
    else
    if (type == PL_EV_CONSENT_WITHDRAWN) {
        pol_consent_result_t result = pol_consents_withdraw (self->consents, header->case_ref,
                                                             header->consent->consent_id,
                                                             header->publisher, now_ms, notify_p);
        if (result != POL_CONSENT_OK) {
            snprintf (why, why_size, "consent %s on case %s: %s", header->consent->consent_id,
                      header->case_ref, pol_consent_result_name (result));
            return -1;
        }
    }
    return 0;
}

//  Fill one decision for a resolved candidate.
static void
s_decide_one (pb_sharing_t *self, pol_request_t *request, pl_envelope_t *envelope,
              const pl_agency_t *publisher, original_t *original, uint64_t now_ms,
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
    request->recipient_in_case = s_in_case (self, header->case_ref, agency->id);
    request->recipient_addressed_directly = addressed;
    //  Role resolution never leaves the publisher's network (pb_sharing_decide)
    request->addressed_by_role_outside_network = false;
    request->sealed_for_recipient = pl_envelope_is_sealed_for (envelope, agency->id);
    request->corrector_is_original_publisher = original
                                            && strcmp (original->publisher, publisher->id) == 0;
    request->recipient_received_original = original && s_list_has (original->recipients, agency->id);
    pol_decision_t verdict;
    pol_policy_decide (self->policy, request, &verdict);
    decision->status = verdict.allow? PASSERELLE__STATUS__STATUS_OK:
                       verdict.reason == POL_NOT_SEALED? PASSERELLE__STATUS__STATUS_NOT_SEALED:
                       PASSERELLE__STATUS__STATUS_POLICY_DENIED;
    decision->code = pol_reason_name (verdict.reason);
    decision->rule = verdict.rule_id? verdict.rule_id: "";
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
    original_t *original = s_original (self, header);
    size_t count = 0;

    //  Named agencies
    for (size_t i = 0; i < header->n_to_agencies && count < max; i++) {
        const char *id = header->to_agencies [i];
        pb_decision_t *decision = &decisions [count++];
        memset (decision, 0, sizeof *decision);
        snprintf (decision->name, sizeof decision->name, "%s", id);
        decision->agency = pl_directory_lookup (directory, id);
        if (!decision->agency) {
            decision->status = PASSERELLE__STATUS__STATUS_UNKNOWN_RECIPIENT;
            decision->code = "unknown_recipient";
            decision->rule = decision->category = "";
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
            pb_decision_t *decision = &decisions [count++];
            memset (decision, 0, sizeof *decision);
            snprintf (decision->name, sizeof decision->name, "role:%s", header->to_roles [r]);
            decision->status = PASSERELLE__STATUS__STATUS_NO_RECIPIENT;
            decision->code = "no_recipient";
            decision->rule = decision->category = "";
            snprintf (decision->reason, sizeof decision->reason, "no agency with role %s in "
                      "network %s", header->to_roles [r], publisher->network);
        }
        for (size_t i = 0; i < n && i < PL_MAX_RECIPIENTS && count < max; i++) {
            if (s_already_listed (decisions, count, found [i]->id))
                continue;
            pb_decision_t *decision = &decisions [count++];
            memset (decision, 0, sizeof *decision);
            decision->agency = found [i];
            snprintf (decision->name, sizeof decision->name, "%s", found [i]->id);
            s_decide_one (self, &request, envelope, publisher, original, now_ms, decision, false);
        }
    }
    //  A correction also goes to everyone who received the original
    for (char *id = original? zlist_first (original->recipients): NULL; id && count < max;
         id = zlist_next (original->recipients)) {
        const pl_agency_t *agency = pl_directory_lookup (directory, id);
        if (!agency || s_already_listed (decisions, count, id))
            continue;
        pb_decision_t *decision = &decisions [count++];
        memset (decision, 0, sizeof *decision);
        decision->agency = agency;
        snprintf (decision->name, sizeof decision->name, "%s", id);
        s_decide_one (self, &request, envelope, publisher, original, now_ms, decision, false);
    }
    return count;
}

void
pb_sharing_record (pb_sharing_t *self, pl_envelope_t *envelope, const pb_decision_t *decisions,
                   size_t count, char *warning, size_t warning_size)
{
    const Passerelle__EventHeader *header = pl_envelope_header (envelope);
    original_t *original = calloc (1, sizeof *original);
    if (original) {
        snprintf (original->publisher, sizeof original->publisher, "%s", header->publisher);
        original->recipients = zlist_new ();
        zlist_autofree (original->recipients);
    }
    s_add_to_case (self, header->case_ref, header->publisher);
    for (size_t i = 0; i < count; i++) {
        if (decisions [i].status != PASSERELLE__STATUS__STATUS_OK)
            continue;
        s_add_to_case (self, header->case_ref, decisions [i].agency->id);
        if (original)
            zlist_append (original->recipients, (void *) decisions [i].agency->id);
        if (header->consent_id && *header->consent_id)
            pol_consents_note_share (self->consents, header->case_ref, header->consent_id,
                                     decisions [i].agency->id);
    }
    if (original) {
        char hex [PL_EVENT_ID_SIZE * 2 + 1];
        zhashx_update (self->originals, pl_event_id_hex (header->event_id.data, hex), original);
    }
    uint64_t first = 0, last = 0;
    pol_seq_result_t seq = pol_sequence_feed (self->sequences, header->publisher,
                                              header->sequence, &first, &last);
    warning [0] = 0;
    if (seq == POL_SEQ_GAP)
        snprintf (warning, warning_size, "sequence gap: numbers %llu to %llu from %s never "
                  "reached the broker", (unsigned long long) first, (unsigned long long) last,
                  header->publisher);
    else
    if (seq == POL_SEQ_OLD)
        snprintf (warning, warning_size, "sequence %llu from %s is not above the last seen "
                  "(%llu): agent state lost?", (unsigned long long) header->sequence,
                  header->publisher,
                  (unsigned long long) pol_sequence_last (self->sequences, header->publisher));
}
