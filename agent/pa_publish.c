/*  pa_publish: JSON publish requests (see pa_publish.h).
 *
 *  Vocabulary is checked here as well as by pl_header_check so that the
 *  agency system hears "categories[1]: unknown category 'healt'" rather than
 *  a generic refusal after sealing.  */
#include <stdio.h>
#include <string.h>
#include "pa_publish.h"
#include "pl_envelope.h"
#include "pl_vocab.h"

struct _pa_publish_t {
    Passerelle__EventHeader header;
    Passerelle__ConsentScope scope;
    json_t *json;                   //  a deep copy; header strings point into it
    char **lists [6];               //  one slot per list field, see LIST_*
    uint8_t supersedes [PL_EVENT_ID_SIZE];
    uint8_t *payload;
    size_t payload_size;
};

//  Which slot of lists each array field owns
enum { LIST_TO, LIST_TO_ROLES, LIST_CATEGORIES, LIST_SCOPE_CATEGORIES, LIST_SCOPE_ROLES,
       LIST_SCOPE_PURPOSES };

static const char *s_fields [] = {
    "type", "case", "to", "to_roles", "categories", "purpose", "basis", "consent",
    "justification", "risk", "valid_for", "valid_until_ms", "supersedes", "consent_scope",
    "payload", "payload_base64", NULL
};
static const char *s_scope_fields [] = {
    "consent_id", "subject", "categories", "recipient_roles", "purposes", "valid_until_ms",
    "evidence_ref", NULL
};

static int
s_check_fields (json_t *object, const char **allowed, const char *where, char *err, size_t size)
{
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        bool known = false;
        for (const char **a = allowed; *a && !known; a++)
            known = strcmp (*a, key) == 0;
        if (!known) {
            snprintf (err, size, "%sunknown field '%.64s'", where, key);
            return -1;
        }
    }
    return 0;
}

//  A string field: NULL when absent; error when present but not a string.
static int
s_string (json_t *object, const char *name, bool required, char **out, char *err, size_t size)
{
    json_t *value = json_object_get (object, name);
    *out = NULL;
    if (!value) {
        if (required) {
            snprintf (err, size, "'%s' is required", name);
            return -1;
        }
        return 0;
    }
    if (!json_is_string (value)) {
        snprintf (err, size, "'%s' must be a string", name);
        return -1;
    }
    *out = (char *) json_string_value (value);
    return 0;
}

//  A list of strings, optionally checked against a vocabulary kind.
static int
s_list (pa_publish_t *self, int slot, json_t *object, const char *name, int kind,
        char ***out, size_t *count, char *err, size_t size)
{
    json_t *array = json_object_get (object, name);
    *out = NULL;
    *count = 0;
    if (!array)
        return 0;
    if (!json_is_array (array)) {
        snprintf (err, size, "'%s' must be an array of strings", name);
        return -1;
    }
    if (json_array_size (array) > PL_MAX_RECIPIENTS) {
        snprintf (err, size, "'%s' has %zu entries, at most %d", name, json_array_size (array),
                  PL_MAX_RECIPIENTS);
        return -1;
    }
    char **list = calloc (json_array_size (array) + 1, sizeof *list);
    self->lists [slot] = list;
    size_t index;
    json_t *item;
    json_array_foreach (array, index, item) {
        if (!json_is_string (item)) {
            snprintf (err, size, "%s[%zu] must be a string", name, index);
            return -1;
        }
        const char *text = json_string_value (item);
        if (kind >= 0 && pl_vocab_id ((pl_kind_t) kind, text) < 0) {
            snprintf (err, size, "%s[%zu]: unknown %s '%.64s'", name, index,
                      pl_vocab_kind_name ((pl_kind_t) kind), text);
            return -1;
        }
        list [index] = (char *) text;
    }
    *out = list;
    *count = json_array_size (array);
    return 0;
}

static int
s_vocab (json_t *object, const char *name, pl_kind_t kind, bool required, char **out,
         char *err, size_t size)
{
    if (s_string (object, name, required, out, err, size) != 0)
        return -1;
    if (*out && pl_vocab_id (kind, *out) < 0) {
        snprintf (err, size, "'%s': unknown %s '%.64s'", name, pl_vocab_kind_name (kind), *out);
        return -1;
    }
    return 0;
}

static int
s_timestamp (json_t *object, const char *name, uint64_t *out, char *err, size_t size)
{
    json_t *value = json_object_get (object, name);
    if (!value)
        return 0;
    if (!json_is_integer (value) || json_integer_value (value) < 0) {
        snprintf (err, size, "'%s' must be a non-negative integer (unix milliseconds)", name);
        return -1;
    }
    *out = (uint64_t) json_integer_value (value);
    return 0;
}

static int
s_consent_scope (pa_publish_t *self, json_t *object, char *err, size_t size)
{
    Passerelle__ConsentScope *scope = &self->scope;
    passerelle__consent_scope__init (scope);
    if (!json_is_object (object)) {
        snprintf (err, size, "'consent_scope' must be an object");
        return -1;
    }
    if (s_check_fields (object, s_scope_fields, "consent_scope: ", err, size) != 0
    ||  s_string (object, "consent_id", true, &scope->consent_id, err, size) != 0
    ||  s_vocab (object, "subject", PL_KIND_SUBJECT, true, &scope->subject, err, size) != 0
    ||  s_list (self, LIST_SCOPE_CATEGORIES, object, "categories", PL_KIND_CATEGORY,
                &scope->categories, &scope->n_categories, err, size) != 0
    ||  s_list (self, LIST_SCOPE_ROLES, object, "recipient_roles", PL_KIND_ROLE,
                &scope->recipient_roles, &scope->n_recipient_roles, err, size) != 0
    ||  s_list (self, LIST_SCOPE_PURPOSES, object, "purposes", PL_KIND_PURPOSE, &scope->purposes,
                &scope->n_purposes, err, size) != 0
    ||  s_timestamp (object, "valid_until_ms", &scope->valid_until_ms, err, size) != 0
    ||  s_string (object, "evidence_ref", false, &scope->evidence_ref, err, size) != 0)
        return -1;
    self->header.consent = scope;
    return 0;
}

static int
s_payload (pa_publish_t *self, json_t *request, char *err, size_t size)
{
    char *text, *base64;
    if (s_string (request, "payload", false, &text, err, size) != 0
    ||  s_string (request, "payload_base64", false, &base64, err, size) != 0)
        return -1;
    if (text && base64) {
        snprintf (err, size, "give 'payload' or 'payload_base64', not both");
        return -1;
    }
    size_t length = text? strlen (text): base64? strlen (base64): 0;
    if (length > PL_MAX_PAYLOAD * 4 / 3 + 4) {
        snprintf (err, size, "payload: larger than %d bytes", PL_MAX_PAYLOAD);
        return -1;
    }
    self->payload = malloc (length + 1);
    if (!self->payload) {
        snprintf (err, size, "out of memory");
        return -1;
    }
    if (text) {
        memcpy (self->payload, text, length);
        self->payload_size = length;
    }
    else
    if (base64 && sodium_base642bin (self->payload, length + 1, base64, length, "\n\r ",
                                     &self->payload_size, NULL,
                                     sodium_base64_VARIANT_ORIGINAL) != 0) {
        snprintf (err, size, "payload_base64: not valid base64");
        return -1;
    }
    if (self->payload_size > PL_MAX_PAYLOAD) {
        snprintf (err, size, "payload: %zu bytes, at most %d", self->payload_size, PL_MAX_PAYLOAD);
        return -1;
    }
    return 0;
}

pa_publish_t *
pa_publish_from_json (json_t *request, uint64_t now_ms, char *err, size_t err_size)
{
    if (!json_is_object (request)) {
        snprintf (err, err_size, "a publish request must be a JSON object");
        return NULL;
    }
    pa_publish_t *self = calloc (1, sizeof *self);
    if (!self || !(self->json = json_deep_copy (request))) {
        free (self);
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    json_t *json = self->json;
    Passerelle__EventHeader *h = &self->header;
    passerelle__event_header__init (h);
    h->created_at_ms = now_ms;
    h->valid_until_ms = now_ms + PA_DEFAULT_VALIDITY_MS;
    char *valid_for = NULL, *supersedes = NULL;
    if (s_check_fields (json, s_fields, "", err, err_size) != 0
    ||  s_vocab (json, "type", PL_KIND_EVENT_TYPE, true, &h->event_type, err, err_size) != 0
    ||  s_string (json, "case", true, &h->case_ref, err, err_size) != 0
    ||  s_list (self, LIST_TO, json, "to", -1, &h->to_agencies, &h->n_to_agencies, err, err_size) != 0
    ||  s_list (self, LIST_TO_ROLES, json, "to_roles", PL_KIND_ROLE, &h->to_roles, &h->n_to_roles,
                err, err_size) != 0
    ||  s_list (self, LIST_CATEGORIES, json, "categories", PL_KIND_CATEGORY, &h->categories, &h->n_categories,
                err, err_size) != 0
    ||  s_vocab (json, "purpose", PL_KIND_PURPOSE, true, &h->purpose, err, err_size) != 0
    ||  s_vocab (json, "basis", PL_KIND_BASIS, true, &h->legal_basis, err, err_size) != 0
    ||  s_string (json, "consent", false, &h->consent_id, err, err_size) != 0
    ||  s_string (json, "justification", false, &h->justification, err, err_size) != 0
    ||  s_vocab (json, "risk", PL_KIND_RISK, false, &h->risk_level, err, err_size) != 0
    ||  s_string (json, "valid_for", false, &valid_for, err, err_size) != 0
    ||  s_timestamp (json, "valid_until_ms", &h->valid_until_ms, err, err_size) != 0
    ||  s_string (json, "supersedes", false, &supersedes, err, err_size) != 0
    ||  s_payload (self, json, err, err_size) != 0)
        goto fail;
    if (json_object_get (json, "consent_scope")
    &&  s_consent_scope (self, json_object_get (json, "consent_scope"), err, err_size) != 0)
        goto fail;
    if (valid_for) {
        uint64_t ms;
        if (pl_parse_duration (valid_for, &ms) != 0 || ms == 0) {
            snprintf (err, err_size, "'valid_for': expected a duration such as 30d, 12h or 90m");
            goto fail;
        }
        h->valid_until_ms = now_ms + ms;
    }
    if (supersedes) {
        if (pl_event_id_from_hex (supersedes, self->supersedes) != 0) {
            snprintf (err, err_size, "'supersedes': expected an event id (32 hex characters)");
            goto fail;
        }
        h->supersedes.data = self->supersedes;
        h->supersedes.len = PL_EVENT_ID_SIZE;
    }
    if (h->n_categories == 0) {
        snprintf (err, err_size, "'categories' needs at least one data category");
        goto fail;
    }
    bool consent_event = strcmp (h->event_type, "consent_given") == 0
                      || strcmp (h->event_type, "consent_withdrawn") == 0;
    if (consent_event && !h->consent) {
        snprintf (err, err_size, "a %s event needs 'consent_scope'", h->event_type);
        goto fail;
    }
    bool correction = strcmp (h->event_type, "correction") == 0;
    if (correction && !supersedes) {
        snprintf (err, err_size, "a correction needs 'supersedes' (the event id it corrects)");
        goto fail;
    }
    if (h->n_to_agencies == 0 && h->n_to_roles == 0 && !consent_event && !correction) {
        snprintf (err, err_size, "no recipient: give 'to' (agency ids) and/or 'to_roles'");
        goto fail;
    }
    if (strcmp (h->legal_basis, "consent") == 0 && !h->consent_id) {
        snprintf (err, err_size, "basis 'consent' needs 'consent' (the consent id)");
        goto fail;
    }
    if (strcmp (h->legal_basis, "consent") != 0 && (!h->justification || !*h->justification)) {
        snprintf (err, err_size, "basis '%s' needs a 'justification' for the audit log",
                  h->legal_basis);
        goto fail;
    }
    return self;
fail:
    pa_publish_destroy (&self);
    return NULL;
}

void
pa_publish_destroy (pa_publish_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pa_publish_t *self = *self_p;
    for (size_t i = 0; i < sizeof self->lists / sizeof self->lists [0]; i++)
        free (self->lists [i]);
    if (self->payload)
        sodium_memzero (self->payload, self->payload_size);
    free (self->payload);
    json_decref (self->json);
    free (self);
    *self_p = NULL;
}

Passerelle__EventHeader *
pa_publish_header (pa_publish_t *self)
{
    return &self->header;
}

const uint8_t *
pa_publish_payload (pa_publish_t *self, size_t *size)
{
    *size = self->payload_size;
    return self->payload;
}
