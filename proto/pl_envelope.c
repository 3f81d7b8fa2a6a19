/*  pl_envelope: seal, verify and open case events (see pl_envelope.h).
 *
 *  The payload AEAD uses the event id as associated data, and the header
 *  carries, under the publisher's signature, a SHA-256 over the nonce, the
 *  ciphertext and every sealed key, plus a commitment to the payload key:
 *  nothing can be changed or moved to another event in transit, and every
 *  recipient decrypts the same content.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include "pl_envelope.h"
#include "pl_burst.h"
#include "pl_hash.h"
#include "pl_vocab.h"
#include "pl_wire.h"

#define PAYLOAD_KEY_SIZE  crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_SIZE        crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEALED_SIZE       (PAYLOAD_KEY_SIZE + crypto_box_SEALBYTES)

struct _pl_envelope_t {
    Passerelle__Envelope *owned;        //  set when we unpacked the bytes
    const Passerelle__Envelope *wire;
    Passerelle__EventHeader *header;
};

static const char *s_err_names [PL_ERR_COUNT] = {
    [PL_OK]                 = "ok",
    [PL_ERR_MALFORMED]      = "malformed envelope",
    [PL_ERR_OVERSIZED]      = "oversized",
    [PL_ERR_BAD_VERSION]    = "unsupported protocol version",
    [PL_ERR_BAD_FIELD]      = "invalid header field",
    [PL_ERR_BAD_SIGNATURE]  = "bad signature (header or signature altered, or wrong key)",
    [PL_ERR_PAYLOAD_HASH]   = "nonce, payload or sealed keys do not match the header's hash",
    [PL_ERR_NOT_RECIPIENT]  = "no key sealed for this recipient",
    [PL_ERR_KEY_UNSEAL]     = "sealed key does not open",
    [PL_ERR_DECRYPT]        = "payload does not decrypt",
    [PL_ERR_KEY_MISMATCH]   = "sealed key is not the key the header commits to",
    [PL_ERR_NO_MEMORY]      = "out of memory",
};

const char *
pl_err_str (pl_err_t err)
{
    return (unsigned) err < PL_ERR_COUNT? s_err_names [err]: "unknown error";
}

void
pl_event_id_new (uint8_t *id)
{
    uint64_t now = pl_now_ms ();
    for (int i = 0; i < 6; i++)
        id [i] = (uint8_t) (now >> (40 - 8 * i));
    randombytes_buf (id + 6, PL_EVENT_ID_SIZE - 6);
}

char *
pl_event_id_hex (const uint8_t *id, char *hex)
{
    return sodium_bin2hex (hex, PL_EVENT_ID_SIZE * 2 + 1, id, PL_EVENT_ID_SIZE);
}

int
pl_event_id_from_hex (const char *hex, uint8_t *id)
{
    size_t size = 0;
    const char *end = NULL;
    if (!hex || strlen (hex) != PL_EVENT_ID_SIZE * 2)
        return -1;
    if (sodium_hex2bin (id, PL_EVENT_ID_SIZE, hex, strlen (hex), NULL, &size, &end) != 0
    ||  size != PL_EVENT_ID_SIZE || *end)
        return -1;
    return 0;
}

//  What the header's payload_hash covers: everything outside the header.
static void
s_payload_hash (const uint8_t *nonce, const uint8_t *cipher, size_t cipher_size,
                Passerelle__SealedKey **keys, size_t key_count, uint8_t *hash)
{
    pl_sha256_t state;
    pl_sha256_init (&state);
    pl_sha256_update (&state, nonce, NONCE_SIZE);
    pl_sha256_update (&state, cipher, cipher_size);
    for (size_t i = 0; i < key_count; i++) {
        uint8_t len = (uint8_t) strlen (keys [i]->recipient);
        pl_sha256_update (&state, &len, 1);
        pl_sha256_update (&state, keys [i]->recipient, len);
        pl_sha256_update (&state, keys [i]->sealed.data, keys [i]->sealed.len);
    }
    pl_sha256_final (&state, hash);
}

static void
s_key_commitment (const uint8_t *key, uint8_t *commitment)
{
    static const char context [] = "passerelle-key-commitment-v1";
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, PL_HASH_SIZE);
    crypto_generichash_update (&state, (const uint8_t *) context, sizeof context - 1);
    crypto_generichash_update (&state, key, PAYLOAD_KEY_SIZE);
    crypto_generichash_final (&state, commitment, PL_HASH_SIZE);
}

//  --------------------------------------------------------------------------
//  Header checks: the same for the publisher (before signing) and the broker

static pl_err_t
s_bad (pl_err_t err, char *why, size_t why_size, const char *fmt, ...)
{
    if (why && why_size) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (why, why_size, fmt, args);
        va_end (args);
    }
    return err;
}

static bool
s_case_ref_is_valid (const char *ref)
{
    size_t len = strlen (ref);
    if (len == 0 || len > PL_MAX_CASE_REF)
        return false;
    for (const char *c = ref; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
           || *c == '_' || *c == '-' || *c == '.' || *c == ':' || *c == '/'))
            return false;
    return true;
}

//  A list of vocabulary names: each known, none twice, at most max.
static pl_err_t
s_check_names (pl_kind_t kind, char **names, size_t count, size_t max,
               bool required, const char *field, char *why, size_t why_size)
{
    if (count > max)
        return s_bad (PL_ERR_OVERSIZED, why, why_size, "%s: %zu entries, at most %zu",
                      field, count, max);
    if (required && count == 0)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "%s: at least one %s is required",
                      field, pl_vocab_kind_name (kind));
    pl_set_t seen = 0;
    for (size_t i = 0; i < count; i++) {
        int id = pl_vocab_id (kind, names [i]);
        if (id < 0)
            return s_bad (PL_ERR_BAD_FIELD, why, why_size, "%s: unknown %s '%.64s'",
                          field, pl_vocab_kind_name (kind), names [i]);
        if (PL_SET_HAS (seen, id))
            return s_bad (PL_ERR_BAD_FIELD, why, why_size, "%s: '%s' listed twice",
                          field, names [i]);
        seen |= PL_SET (id);
    }
    return PL_OK;
}

static pl_err_t
s_check_one (pl_kind_t kind, const char *name, bool required, const char *field,
             char *why, size_t why_size)
{
    if (!name || !*name)
        return required? s_bad (PL_ERR_BAD_FIELD, why, why_size, "%s is required", field): PL_OK;
    if (pl_vocab_id (kind, name) < 0)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "%s: unknown %s '%.64s'",
                      field, pl_vocab_kind_name (kind), name);
    return PL_OK;
}

static pl_err_t
s_check_text (const char *text, size_t max, const char *field, char *why, size_t why_size)
{
    if (text && strlen (text) > max)
        return s_bad (PL_ERR_OVERSIZED, why, why_size, "%s: longer than %zu bytes", field, max);
    return PL_OK;
}

static pl_err_t
s_consent_check (const Passerelle__ConsentScope *scope, char *why, size_t why_size)
{
    pl_err_t err;
    if (!scope->consent_id || !*scope->consent_id || strlen (scope->consent_id) > PL_MAX_CASE_REF
    ||  !s_case_ref_is_valid (scope->consent_id))
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "consent.consent_id: expected 1-%d "
                      "characters of [A-Za-z0-9_.:/-]", PL_MAX_CASE_REF);
    if ((err = s_check_one (PL_KIND_SUBJECT, scope->subject, true, "consent.subject", why, why_size))
    ||  (err = s_check_names (PL_KIND_CATEGORY, scope->categories, scope->n_categories,
                              PL_CAT_COUNT, false, "consent.categories", why, why_size))
    ||  (err = s_check_names (PL_KIND_ROLE, scope->recipient_roles, scope->n_recipient_roles,
                              PL_ROLE_COUNT, false, "consent.recipient_roles", why, why_size))
    ||  (err = s_check_names (PL_KIND_PURPOSE, scope->purposes, scope->n_purposes,
                              PL_PURPOSE_COUNT, false, "consent.purposes", why, why_size))
    ||  (err = s_check_text (scope->evidence_ref, PL_MAX_TEXT, "consent.evidence_ref", why, why_size)))
        return err;
    return PL_OK;
}

pl_err_t
pl_header_check (const Passerelle__EventHeader *h, char *why, size_t why_size)
{
    pl_err_t err;
    if (h->version != PL_PROTOCOL_VERSION)
        return s_bad (PL_ERR_BAD_VERSION, why, why_size, "header version %u, this build speaks %d",
                      h->version, PL_PROTOCOL_VERSION);
    if (h->event_id.len != PL_EVENT_ID_SIZE)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "event_id: %zu bytes, expected %d",
                      h->event_id.len, PL_EVENT_ID_SIZE);
    if (!h->case_ref || !s_case_ref_is_valid (h->case_ref))
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "case_ref: expected 1-%d characters of "
                      "[A-Za-z0-9_.:/-] (a pseudonymous reference, never a name)", PL_MAX_CASE_REF);
    if (!h->publisher || !pl_id_is_valid (h->publisher))
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "publisher: not a valid agency id");
    if (h->sequence == 0)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "sequence: starts at 1");
    if (h->created_at_ms == 0)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "created_at_ms is required");
    if (h->valid_until_ms && h->valid_until_ms < h->created_at_ms)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "valid_until_ms is before created_at_ms");
    if ((err = s_check_one (PL_KIND_EVENT_TYPE, h->event_type, true, "event_type", why, why_size))
    ||  (err = s_check_one (PL_KIND_PURPOSE, h->purpose, true, "purpose", why, why_size))
    ||  (err = s_check_one (PL_KIND_BASIS, h->legal_basis, true, "legal_basis", why, why_size))
    ||  (err = s_check_one (PL_KIND_RISK, h->risk_level, false, "risk_level", why, why_size))
    ||  (err = s_check_names (PL_KIND_CATEGORY, h->categories, h->n_categories, PL_CAT_COUNT,
                              true, "categories", why, why_size))
    ||  (err = s_check_names (PL_KIND_ROLE, h->to_roles, h->n_to_roles, PL_ROLE_COUNT,
                              false, "to_roles", why, why_size))
    ||  (err = s_check_text (h->consent_id, PL_MAX_CASE_REF, "consent_id", why, why_size))
    ||  (err = s_check_text (h->justification, PL_MAX_TEXT, "justification", why, why_size)))
        return err;
    if (h->n_to_agencies > PL_MAX_RECIPIENTS)
        return s_bad (PL_ERR_OVERSIZED, why, why_size, "to_agencies: %zu, at most %d",
                      h->n_to_agencies, PL_MAX_RECIPIENTS);
    for (size_t i = 0; i < h->n_to_agencies; i++)
        if (!pl_id_is_valid (h->to_agencies [i]))
            return s_bad (PL_ERR_BAD_FIELD, why, why_size, "to_agencies: '%.64s' is not a "
                          "valid agency id", h->to_agencies [i]);
    for (size_t i = 0; i < h->n_to_agencies; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp (h->to_agencies [i], h->to_agencies [k]) == 0)
                return s_bad (PL_ERR_BAD_FIELD, why, why_size, "to_agencies: '%.64s' listed twice",
                              h->to_agencies [i]);
    //  Consent events are addressed to the broker's consent registry, and a
    //  correction goes at least to everyone who received the original; all
    //  others need someone to go to
    int kind = pl_vocab_id (PL_KIND_EVENT_TYPE, h->event_type);
    if (h->n_to_agencies == 0 && h->n_to_roles == 0 && kind != PL_EV_CORRECTION
    &&  kind != PL_EV_CONSENT_GIVEN && kind != PL_EV_CONSENT_WITHDRAWN)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "no recipient: to_agencies and to_roles "
                      "are both empty");
    if (h->supersedes.len != 0 && h->supersedes.len != PL_EVENT_ID_SIZE)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "supersedes: %zu bytes, expected %d",
                      h->supersedes.len, PL_EVENT_ID_SIZE);
    if (pl_vocab_id (PL_KIND_EVENT_TYPE, h->event_type) == PL_EV_CORRECTION && !h->supersedes.len)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "a correction must name the event it "
                      "supersedes");
    if (h->payload_hash.len != PL_HASH_SIZE)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "payload_hash: %zu bytes, expected %d",
                      h->payload_hash.len, PL_HASH_SIZE);
    if (h->key_commitment.len != PL_HASH_SIZE)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "key_commitment: %zu bytes, expected %d",
                      h->key_commitment.len, PL_HASH_SIZE);
    //  The legal basis must be evidenced: a consent to point at, or a
    //  justification an auditor can read (domain brief, "Consent")
    bool by_consent = pl_vocab_id (PL_KIND_BASIS, h->legal_basis) == PL_BASIS_CONSENT;
    if (by_consent && (!h->consent_id || !*h->consent_id))
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "consent_id: basis consent needs the "
                      "consent's id");
    if (!by_consent && (!h->justification || !*h->justification))
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "justification: basis %s needs a "
                      "justification", h->legal_basis);
    int type = pl_vocab_id (PL_KIND_EVENT_TYPE, h->event_type);
    if ((type == PL_EV_CONSENT_GIVEN || type == PL_EV_CONSENT_WITHDRAWN) && !h->consent)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "consent: a %s event carries the "
                      "consent's scope", h->event_type);
    if (h->consent && (err = s_consent_check (h->consent, why, why_size)))
        return err;
    return PL_OK;
}

//  --------------------------------------------------------------------------
//  Seal

pl_err_t
pl_envelope_seal (pl_keys_t *publisher, Passerelle__EventHeader *header,
                  const uint8_t *payload, size_t payload_size,
                  const pl_recipient_t *recipients, size_t recipient_count,
                  uint8_t **out, size_t *out_size, char *why, size_t why_size)
{
    *out = NULL;
    *out_size = 0;
    if (payload_size > PL_MAX_PAYLOAD)
        return s_bad (PL_ERR_OVERSIZED, why, why_size, "payload: %zu bytes, at most %d",
                      payload_size, PL_MAX_PAYLOAD);
    if (recipient_count == 0 || recipient_count > PL_MAX_RECIPIENTS)
        return s_bad (recipient_count? PL_ERR_OVERSIZED: PL_ERR_BAD_FIELD, why, why_size,
                      "%zu recipients to seal for, expected 1 to %d", recipient_count,
                      PL_MAX_RECIPIENTS);
    //  The event id is the AEAD's associated data: it must be whole first
    if (header->event_id.len != 0 && header->event_id.len != PL_EVENT_ID_SIZE)
        return s_bad (PL_ERR_BAD_FIELD, why, why_size, "event_id: %zu bytes, expected %d",
                      header->event_id.len, PL_EVENT_ID_SIZE);

    uint8_t event_id [PL_EVENT_ID_SIZE];
    if (header->event_id.len == 0) {
        pl_event_id_new (event_id);
        header->event_id.data = event_id;
        header->event_id.len = sizeof event_id;
    }
    header->version = PL_PROTOCOL_VERSION;
    header->publisher = (char *) pl_keys_id (publisher);

    uint8_t key [PAYLOAD_KEY_SIZE], nonce [NONCE_SIZE], hash [PL_HASH_SIZE];
    uint8_t commitment [PL_HASH_SIZE];
    size_t cipher_size = payload_size + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *cipher = malloc (cipher_size);
    uint8_t *sealed = malloc (recipient_count * SEALED_SIZE);
    Passerelle__SealedKey *keys = calloc (recipient_count, sizeof *keys);
    Passerelle__SealedKey **key_list = calloc (recipient_count, sizeof *key_list);
    uint8_t *header_bytes = NULL;
    pl_err_t err = PL_OK;
    if (!cipher || !sealed || !keys || !key_list) {
        err = PL_ERR_NO_MEMORY;
        goto done;
    }
    crypto_aead_xchacha20poly1305_ietf_keygen (key);
    randombytes_buf (nonce, sizeof nonce);
    unsigned long long produced = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt (cipher, &produced, payload, payload_size,
                                                header->event_id.data, PL_EVENT_ID_SIZE,
                                                NULL, nonce, key);

    //  Seal the key for each recipient first: the hash in the header covers
    //  the sealed keys, so the signature protects them too
    for (size_t i = 0; i < recipient_count; i++) {
        uint8_t curve [PL_CURVE_KEY_SIZE];
        if (!pl_id_is_valid (recipients [i].id)
        ||  pl_curve_public_from_sign (recipients [i].public_key, curve) != 0) {
            err = s_bad (PL_ERR_BAD_FIELD, why, why_size, "recipient %zu: invalid id or key", i);
            goto done;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp (recipients [k].id, recipients [i].id) == 0) {
                err = s_bad (PL_ERR_BAD_FIELD, why, why_size, "recipient %s listed twice",
                             recipients [i].id);
                goto done;
            }
        crypto_box_seal (sealed + i * SEALED_SIZE, key, sizeof key, curve);
        passerelle__sealed_key__init (&keys [i]);
        keys [i].recipient = (char *) recipients [i].id;
        keys [i].sealed.data = sealed + i * SEALED_SIZE;
        keys [i].sealed.len = SEALED_SIZE;
        key_list [i] = &keys [i];
    }
    s_payload_hash (nonce, cipher, cipher_size, key_list, recipient_count, hash);
    header->payload_hash.data = hash;
    header->payload_hash.len = sizeof hash;
    s_key_commitment (key, commitment);
    header->key_commitment.data = commitment;
    header->key_commitment.len = sizeof commitment;

    if ((err = pl_header_check (header, why, why_size)) != PL_OK)
        goto done;

    size_t header_size = passerelle__event_header__get_packed_size (header);
    if (header_size > PL_MAX_HEADER) {
        err = s_bad (PL_ERR_OVERSIZED, why, why_size, "header: %zu bytes, at most %d",
                     header_size, PL_MAX_HEADER);
        goto done;
    }
    header_bytes = malloc (header_size);
    if (!header_bytes) {
        err = PL_ERR_NO_MEMORY;
        goto done;
    }
    passerelle__event_header__pack (header, header_bytes);
    uint8_t signature [PL_SIGNATURE_SIZE];
    pl_keys_sign (publisher, header_bytes, header_size, signature);

    Passerelle__Envelope envelope = PASSERELLE__ENVELOPE__INIT;
    envelope.header.data = header_bytes;
    envelope.header.len = header_size;
    envelope.signature.data = signature;
    envelope.signature.len = sizeof signature;
    envelope.nonce.data = nonce;
    envelope.nonce.len = sizeof nonce;
    envelope.ciphertext.data = cipher;
    envelope.ciphertext.len = cipher_size;
    envelope.n_keys = recipient_count;
    envelope.keys = key_list;
    *out_size = passerelle__envelope__get_packed_size (&envelope);
    *out = malloc (*out_size);
    if (!*out)
        err = PL_ERR_NO_MEMORY;
    else
        passerelle__envelope__pack (&envelope, *out);
done:
    sodium_memzero (key, sizeof key);
    //  The header struct is the caller's: do not leave it pointing at our stack
    header->payload_hash.data = NULL;
    header->payload_hash.len = 0;
    header->key_commitment.data = NULL;
    header->key_commitment.len = 0;
    if (header->event_id.data == event_id) {
        header->event_id.data = NULL;
        header->event_id.len = 0;
    }
    free (header_bytes);
    free (cipher);
    free (sealed);
    free (keys);
    free (key_list);
    if (err != PL_OK) {
        free (*out);
        *out = NULL;
        *out_size = 0;
    }
    return err;
}

//  --------------------------------------------------------------------------
//  Decode and verify

pl_envelope_t *
pl_envelope_from_wire (const Passerelle__Envelope *wire, pl_err_t *err,
                       char *why, size_t why_size)
{
    if (!wire) {
        *err = s_bad (PL_ERR_MALFORMED, why, why_size, "no envelope");
        return NULL;
    }
    if (wire->header.len == 0 || wire->header.len > PL_MAX_HEADER) {
        *err = s_bad (wire->header.len? PL_ERR_OVERSIZED: PL_ERR_MALFORMED, why, why_size,
                      "header: %zu bytes, expected 1 to %d", wire->header.len, PL_MAX_HEADER);
        return NULL;
    }
    if (wire->signature.len != PL_SIGNATURE_SIZE || wire->nonce.len != NONCE_SIZE) {
        *err = s_bad (PL_ERR_MALFORMED, why, why_size, "signature or nonce has the wrong length");
        return NULL;
    }
    if (wire->ciphertext.len < crypto_aead_xchacha20poly1305_ietf_ABYTES
    ||  wire->ciphertext.len > PL_MAX_PAYLOAD + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
        *err = s_bad (wire->ciphertext.len > PL_MAX_PAYLOAD? PL_ERR_OVERSIZED: PL_ERR_MALFORMED,
                      why, why_size, "ciphertext: %zu bytes, payload limit %d",
                      wire->ciphertext.len, PL_MAX_PAYLOAD);
        return NULL;
    }
    if (wire->n_keys == 0 || wire->n_keys > PL_MAX_RECIPIENTS) {
        *err = s_bad (wire->n_keys? PL_ERR_OVERSIZED: PL_ERR_MALFORMED, why, why_size,
                      "%zu sealed keys, expected 1 to %d", wire->n_keys, PL_MAX_RECIPIENTS);
        return NULL;
    }
    for (size_t i = 0; i < wire->n_keys; i++)
        if (!pl_id_is_valid (wire->keys [i]->recipient) || wire->keys [i]->sealed.len != SEALED_SIZE) {
            *err = s_bad (PL_ERR_MALFORMED, why, why_size, "sealed key %zu is malformed", i);
            return NULL;
        }
    if (wire->burst && (*err = pl_burst_check_shape (wire->burst, why, why_size)) != PL_OK)
        return NULL;
    Passerelle__EventHeader *header =
        passerelle__event_header__unpack (NULL, wire->header.len, wire->header.data);
    if (!header) {
        *err = s_bad (PL_ERR_MALFORMED, why, why_size, "header bytes do not decode");
        return NULL;
    }
    if ((*err = pl_header_check (header, why, why_size)) != PL_OK) {
        passerelle__event_header__free_unpacked (header, NULL);
        return NULL;
    }
    pl_envelope_t *self = calloc (1, sizeof *self);
    if (!self) {
        passerelle__event_header__free_unpacked (header, NULL);
        *err = PL_ERR_NO_MEMORY;
        return NULL;
    }
    self->wire = wire;
    self->header = header;
    *err = PL_OK;
    return self;
}

pl_envelope_t *
pl_envelope_decode (const uint8_t *data, size_t size, pl_err_t *err, char *why, size_t why_size)
{
    if (size > PL_MAX_ENVELOPE) {
        *err = s_bad (PL_ERR_OVERSIZED, why, why_size, "envelope: %zu bytes, at most %d",
                      size, PL_MAX_ENVELOPE);
        return NULL;
    }
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, data);
    if (!wire) {
        *err = s_bad (PL_ERR_MALFORMED, why, why_size, "envelope bytes do not decode");
        return NULL;
    }
    pl_envelope_t *self = pl_envelope_from_wire (wire, err, why, why_size);
    if (!self)
        passerelle__envelope__free_unpacked (wire, NULL);
    else
        self->owned = wire;
    return self;
}

void
pl_envelope_destroy (pl_envelope_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pl_envelope_t *self = *self_p;
    passerelle__event_header__free_unpacked (self->header, NULL);
    if (self->owned)
        passerelle__envelope__free_unpacked (self->owned, NULL);
    free (self);
    *self_p = NULL;
}

pl_err_t
pl_envelope_verify (pl_envelope_t *self, const uint8_t *publisher_pk)
{
    return pl_envelope_verify_seen (self, publisher_pk, NULL);
}

pl_err_t
pl_envelope_verify_seen (pl_envelope_t *self, const uint8_t *publisher_pk, pl_burst_seen_t *seen)
{
    if (self->wire->burst) {
        if (!pl_burst_verify (self->wire, self->header->publisher, publisher_pk, seen))
            return PL_ERR_BAD_SIGNATURE;
    }
    else
    if (!pl_signature_verify (publisher_pk, self->wire->header.data, self->wire->header.len,
                              self->wire->signature.data))
        return PL_ERR_BAD_SIGNATURE;
    uint8_t hash [PL_HASH_SIZE];
    s_payload_hash (self->wire->nonce.data, self->wire->ciphertext.data, self->wire->ciphertext.len,
                    self->wire->keys, self->wire->n_keys, hash);
    //  Both values are public; constant time costs nothing and ends the question
    if (sodium_memcmp (hash, self->header->payload_hash.data, PL_HASH_SIZE) != 0)
        return PL_ERR_PAYLOAD_HASH;
    return PL_OK;
}

static const Passerelle__SealedKey *
s_sealed_key_for (pl_envelope_t *self, const char *id)
{
    for (size_t i = 0; i < self->wire->n_keys; i++)
        if (strcmp (self->wire->keys [i]->recipient, id) == 0)
            return self->wire->keys [i];
    return NULL;
}

bool
pl_envelope_is_sealed_for (pl_envelope_t *self, const char *id)
{
    return s_sealed_key_for (self, id) != NULL;
}

pl_err_t
pl_envelope_open (pl_envelope_t *self, pl_keys_t *recipient, const uint8_t *publisher_pk,
                  pl_burst_seen_t *seen, uint8_t **plaintext, size_t *plaintext_size)
{
    *plaintext = NULL;
    *plaintext_size = 0;
    pl_err_t err = pl_envelope_verify_seen (self, publisher_pk, seen);
    if (err != PL_OK)
        return err;
    const Passerelle__SealedKey *sealed = s_sealed_key_for (self, pl_keys_id (recipient));
    if (!sealed)
        return PL_ERR_NOT_RECIPIENT;
    uint8_t key [PAYLOAD_KEY_SIZE];
    if (crypto_box_seal_open (key, sealed->sealed.data, sealed->sealed.len,
                              pl_keys_curve_public (recipient),
                              pl_keys_curve_secret (recipient)) != 0)
        return PL_ERR_KEY_UNSEAL;
    uint8_t commitment [PL_HASH_SIZE];
    s_key_commitment (key, commitment);
    if (sodium_memcmp (commitment, self->header->key_commitment.data, PL_HASH_SIZE) != 0) {
        sodium_memzero (key, sizeof key);
        return PL_ERR_KEY_MISMATCH;
    }
    size_t size = self->wire->ciphertext.len - crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *buffer = malloc (size? size: 1);
    if (!buffer) {
        sodium_memzero (key, sizeof key);
        return PL_ERR_NO_MEMORY;
    }
    unsigned long long produced = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt (
        buffer, &produced, NULL, self->wire->ciphertext.data, self->wire->ciphertext.len,
        self->header->event_id.data, PL_EVENT_ID_SIZE, self->wire->nonce.data, key);
    sodium_memzero (key, sizeof key);
    if (rc != 0) {
        free (buffer);
        return PL_ERR_DECRYPT;
    }
    *plaintext = buffer;
    *plaintext_size = (size_t) produced;
    return PL_OK;
}

const Passerelle__EventHeader *
pl_envelope_header (pl_envelope_t *self)
{
    return self->header;
}

const Passerelle__Envelope *
pl_envelope_wire (pl_envelope_t *self)
{
    return self->wire;
}

void
pl_envelope_header_hash (pl_envelope_t *self, uint8_t *hash)
{
    pl_sha256 (hash, self->wire->header.data, self->wire->header.len);
}
