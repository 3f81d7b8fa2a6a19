/*  pol_consents: consent registry in memory (see pol_consents.h). One entry
 *  per (case, consent id) in a hash; entries are never removed, so the state
 *  pointer a request holds cannot dangle while the registry lives.  */
#include <stdio.h>
#include <string.h>
#include "passerelle.pb-c.h"
#include "pol_consents.h"

typedef struct {
    pol_consent_state_t state;      //  what decisions read
    char *publisher;
    char *evidence_ref;
    char *withdrawn_by;
    zlistx_t *recipients;           //  agency ids that received data under it
} entry_t;

struct _pol_consents_t {
    zhashx_t *entries;              //  "case_ref\x1fconsent_id" -> entry_t
};

static void
s_entry_destroy (void **item)
{
    entry_t *entry = *item;
    if (!entry)
        return;
    zlistx_destroy (&entry->recipients);
    free (entry->publisher);
    free (entry->evidence_ref);
    free (entry->withdrawn_by);
    free (entry);
    *item = NULL;
}

pol_consents_t *
pol_consents_new (void)
{
    pol_consents_t *self = calloc (1, sizeof *self);
    if (self && !(self->entries = zhashx_new ())) {
        free (self);
        return NULL;
    }
    if (self)
        zhashx_set_destructor (self->entries, s_entry_destroy);
    return self;
}

void
pol_consents_destroy (pol_consents_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->entries);
    free (*self_p);
    *self_p = NULL;
}

//  The unit separator cannot occur in a case ref or id that came through
//  the validity checks below, so the key is unambiguous.
static bool
s_make_key (const char *case_ref, const char *consent_id, char *key, size_t size)
{
    if (!case_ref || !*case_ref || !consent_id || !*consent_id
    ||  strchr (case_ref, '\x1f') || strchr (consent_id, '\x1f'))
        return false;
    int n = snprintf (key, size, "%s\x1f%s", case_ref, consent_id);
    return n > 0 && (size_t) n < size;
}

static entry_t *
s_find (pol_consents_t *self, const char *case_ref, const char *consent_id)
{
    char key [512];
    return s_make_key (case_ref, consent_id, key, sizeof key)?
        zhashx_lookup (self->entries, key): NULL;
}

static bool
s_consent_is_valid (const pol_consent_t *consent)
{
    return consent->publisher && *consent->publisher
        && consent->subject >= 0 && consent->subject < PL_SUBJECT_COUNT
        && consent->categories && consent->recipient_roles && consent->purposes
        && (consent->valid_until_ms == 0 || consent->valid_until_ms > consent->given_at_ms);
}

static void
s_set_scope (entry_t *entry, const pol_consent_t *consent)
{
    entry->state.subject = consent->subject;
    entry->state.categories = consent->categories;
    entry->state.recipient_roles = consent->recipient_roles;
    entry->state.purposes = consent->purposes;
    entry->state.valid_until_ms = consent->valid_until_ms;
}

static pol_consent_result_t
s_renew (entry_t *entry, const pol_consent_t *consent)
{
    if (strcmp (entry->publisher, consent->publisher) != 0)
        return POL_CONSENT_CONFLICT;
    if (entry->state.withdrawn)
        return POL_CONSENT_ALREADY_WITHDRAWN;
    char *evidence = strdup (consent->evidence_ref? consent->evidence_ref: "");
    if (!evidence)
        return POL_CONSENT_NO_MEMORY;
    free (entry->evidence_ref);
    entry->evidence_ref = evidence;
    s_set_scope (entry, consent);
    return POL_CONSENT_OK;
}

pol_consent_result_t
pol_consents_give (pol_consents_t *self, const pol_consent_t *consent)
{
    char key [512];
    if (!s_make_key (consent->case_ref, consent->consent_id, key, sizeof key)
    ||  !s_consent_is_valid (consent))
        return POL_CONSENT_INVALID;
    entry_t *entry = zhashx_lookup (self->entries, key);
    if (entry)
        return s_renew (entry, consent);
    entry = calloc (1, sizeof *entry);
    if (!entry)
        return POL_CONSENT_NO_MEMORY;
    entry->publisher = strdup (consent->publisher);
    entry->evidence_ref = strdup (consent->evidence_ref? consent->evidence_ref: "");
    entry->recipients = zlistx_new ();
    if (!entry->publisher || !entry->evidence_ref || !entry->recipients) {
        void *item = entry;
        s_entry_destroy (&item);
        return POL_CONSENT_NO_MEMORY;
    }
    zlistx_set_destructor (entry->recipients, (czmq_destructor *) zstr_free);
    zlistx_set_duplicator (entry->recipients, (czmq_duplicator *) strdup);
    zlistx_set_comparator (entry->recipients, (czmq_comparator *) strcmp);
    s_set_scope (entry, consent);
    if (zhashx_insert (self->entries, key, entry)) {
        void *item = entry;
        s_entry_destroy (&item);
        return POL_CONSENT_NO_MEMORY;
    }
    return POL_CONSENT_OK;
}

static int
s_strings_to_set (pl_kind_t kind, const char *field, char **names, size_t count,
                  pl_set_t *set, char *err, size_t err_size)
{
    *set = 0;
    for (size_t index = 0; index < count; index++) {
        int id = pl_vocab_id (kind, names [index]);
        if (id < 0) {
            snprintf (err, err_size, "consent %s: unknown %s '%s'", field,
                      pl_vocab_kind_name (kind), names [index]);
            return -1;
        }
        *set |= PL_SET (id);
    }
    if (*set == 0)
        snprintf (err, err_size, "consent %s: empty (a consent must cover something)", field);
    return *set? 0: -1;
}

pol_consent_result_t
pol_consents_give_scope (pol_consents_t *self, const char *publisher, const char *case_ref,
                         const Passerelle__ConsentScope *scope, uint64_t given_at_ms,
                         char *err, size_t err_size)
{
    pol_consent_t consent = { .publisher = publisher, .case_ref = case_ref,
        .consent_id = scope->consent_id, .given_at_ms = given_at_ms,
        .valid_until_ms = scope->valid_until_ms, .evidence_ref = scope->evidence_ref,
        .subject = pl_vocab_id (PL_KIND_SUBJECT, scope->subject) };
    if (consent.subject < 0) {
        snprintf (err, err_size, "consent subject: unknown '%s' (expected victim, "
                  "perpetrator or guardian)", scope->subject? scope->subject: "");
        return POL_CONSENT_INVALID;
    }
    if (s_strings_to_set (PL_KIND_CATEGORY, "categories", scope->categories,
                          scope->n_categories, &consent.categories, err, err_size)
    ||  s_strings_to_set (PL_KIND_ROLE, "recipient_roles", scope->recipient_roles,
                          scope->n_recipient_roles, &consent.recipient_roles, err, err_size)
    ||  s_strings_to_set (PL_KIND_PURPOSE, "purposes", scope->purposes, scope->n_purposes,
                          &consent.purposes, err, err_size))
        return POL_CONSENT_INVALID;
    pol_consent_result_t result = pol_consents_give (self, &consent);
    if (result != POL_CONSENT_OK)
        snprintf (err, err_size, "consent '%s' on case '%s': %s", scope->consent_id,
                  case_ref? case_ref: "", pol_consent_result_name (result));
    return result;
}

static void
s_add_unique (zlist_t *list, const char *agency)
{
    for (const char *seen = zlist_first (list); seen; seen = zlist_next (list))
        if (strcmp (seen, agency) == 0)
            return;
    zlist_append (list, (void *) agency);     //  autofree: the list copies it
}

pol_consent_result_t
pol_consents_withdraw (pol_consents_t *self, const char *case_ref, const char *consent_id,
                       const char *by_agency, uint64_t at_ms, zlist_t **notify_p)
{
    if (!by_agency || !*by_agency)
        return POL_CONSENT_INVALID;
    entry_t *entry = s_find (self, case_ref, consent_id);
    if (!entry)
        return POL_CONSENT_UNKNOWN;
    if (entry->state.withdrawn)
        return POL_CONSENT_ALREADY_WITHDRAWN;
    char *by = strdup (by_agency);
    zlist_t *notify = zlist_new ();
    if (!by || !notify) {
        free (by);
        zlist_destroy (&notify);
        return POL_CONSENT_NO_MEMORY;
    }
    zlist_autofree (notify);
    entry->state.withdrawn = true;
    entry->state.withdrawn_at_ms = at_ms;
    entry->withdrawn_by = by;
    for (const char *agency = zlistx_first (entry->recipients); agency;
         agency = zlistx_next (entry->recipients))
        if (strcmp (agency, by_agency) != 0)
            s_add_unique (notify, agency);
    if (strcmp (entry->publisher, by_agency) != 0)
        s_add_unique (notify, entry->publisher);
    if (notify_p)
        *notify_p = notify;
    else
        zlist_destroy (&notify);
    return POL_CONSENT_OK;
}

const pol_consent_state_t *
pol_consents_lookup (pol_consents_t *self, const char *case_ref, const char *consent_id)
{
    entry_t *entry = s_find (self, case_ref, consent_id);
    return entry? &entry->state: NULL;
}

pol_consent_result_t
pol_consents_note_share (pol_consents_t *self, const char *case_ref, const char *consent_id,
                         const char *recipient)
{
    entry_t *entry = s_find (self, case_ref, consent_id);
    if (!entry)
        return POL_CONSENT_UNKNOWN;
    if (!recipient || !*recipient)
        return POL_CONSENT_INVALID;
    if (zlistx_find (entry->recipients, (void *) recipient))
        return POL_CONSENT_OK;
    return zlistx_add_end (entry->recipients, (void *) recipient)?
        POL_CONSENT_OK: POL_CONSENT_NO_MEMORY;
}

const char *
pol_consents_publisher (pol_consents_t *self, const char *case_ref, const char *consent_id)
{
    entry_t *entry = s_find (self, case_ref, consent_id);
    return entry? entry->publisher: NULL;
}

const char *
pol_consents_evidence (pol_consents_t *self, const char *case_ref, const char *consent_id)
{
    entry_t *entry = s_find (self, case_ref, consent_id);
    return entry? entry->evidence_ref: NULL;
}

const char *
pol_consents_withdrawn_by (pol_consents_t *self, const char *case_ref, const char *consent_id)
{
    entry_t *entry = s_find (self, case_ref, consent_id);
    return entry? entry->withdrawn_by: NULL;
}

size_t
pol_consents_size (pol_consents_t *self)
{
    return zhashx_size (self->entries);
}

const char *
pol_consent_result_name (pol_consent_result_t result)
{
    static const char *names [] = { "ok", "unknown_consent", "consent_id_conflict",
        "already_withdrawn", "invalid_consent", "no_memory" };
    return (unsigned) result < sizeof names / sizeof names [0]? names [result]: "unknown";
}
