/*  test_envelope: the sealed and signed case event (proto/pl_envelope).
 *
 *  Covers: seal -> decode -> verify -> open for several recipients (each gets
 *  exactly the payload; empty and PL_MAX_PAYLOAD payloads; one byte over is
 *  PL_ERR_OVERSIZED); payload_hash and key_commitment are exactly what the
 *  schema comment says (recomputed here independently); the largest
 *  legitimate envelope fits PL_MAX_ENVELOPE; seal refuses 0 recipients
 *  (BAD_FIELD), more than 64 (OVERSIZED) and an event id neither empty nor
 *  16 bytes (BAD_FIELD, without reading past it).
 *  Each tampering in transit fails with its own error: header bytes
 *  (BAD_SIGNATURE, or MALFORMED / BAD_FIELD when they no longer decode or
 *  check), signature (BAD_SIGNATURE), wrong publisher key (BAD_SIGNATURE);
 *  everything outside the header is under the signed payload_hash, so the
 *  ciphertext, the nonce, and a sealed key swapped, altered, replayed,
 *  relabelled, reordered, added or removed all fail verify (broker) and open
 *  (recipient) as PAYLOAD_HASH; an agency never sealed for is NOT_RECIPIENT,
 *  another key pair under a listed id KEY_UNSEAL. What only a dishonest publisher can do
 *  (it signs): give one recipient another payload key (that recipient gets
 *  KEY_MISMATCH, the others open), even with one ciphertext crafted to
 *  authenticate under both keys (XChaCha20-Poly1305 is not key-committing:
 *  libsodium opens it under each key to different content; the commitment
 *  is what stops it), commit to a key nobody got (KEY_MISMATCH for all),
 *  re-sign a payload under another event id (DECRYPT: the id is the AEAD's
 *  associated data). A header signed by the publisher but invalid is still
 *  refused by decode. Every rule of
 *  pl_header_check with its error and a `why` naming the field (including
 *  key_commitment, duplicate to_agencies, consent_id for basis consent,
 *  justification for any other basis, the consent scope of consent events);
 *  every wire length limit of decode; random bytes, every truncation and
 *  every single-byte change never crash and never open at all; event id hex
 *  round trip; pl_err_str (one distinct name per error).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pl_test.h"
#include "pl_envelope.h"
#include "pl_vocab.h"
#include "pl_wire.h"

#define SEALED_SIZE  (crypto_aead_xchacha20poly1305_ietf_KEYBYTES + crypto_box_SEALBYTES)
#define NONCE_SIZE   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ABYTES       crypto_aead_xchacha20poly1305_ietf_ABYTES

//  --------------------------------------------------------------------------
//  Fixture: a publisher, three recipients and one agency nobody seals for

#define RECIPIENTS 3
static pl_keys_t *s_publisher;
static pl_keys_t *s_recipient [RECIPIENTS];
static pl_keys_t *s_outsider;
static pl_recipient_t s_to [RECIPIENTS];
static const char *s_ids [RECIPIENTS] = { "social-b", "health-c", "legal-d" };

static void
s_setup (void)
{
    ck_assert_int_ge (sodium_init (), 0);
    s_publisher = pl_keys_generate ("police-a");
    ck_assert_ptr_nonnull (s_publisher);
    for (int i = 0; i < RECIPIENTS; i++) {
        s_recipient [i] = pl_keys_generate (s_ids [i]);
        ck_assert_ptr_nonnull (s_recipient [i]);
        s_to [i].id = s_ids [i];
        s_to [i].public_key = pl_keys_public (s_recipient [i]);
    }
    s_outsider = pl_keys_generate ("school-e");
    ck_assert_ptr_nonnull (s_outsider);
}

static void
s_teardown (void)
{
    pl_keys_destroy (&s_publisher);
    for (int i = 0; i < RECIPIENTS; i++)
        pl_keys_destroy (&s_recipient [i]);
    pl_keys_destroy (&s_outsider);
}

//  A header the caller of seal would fill, with storage for its lists.
#define CASE_REF "case:2026/0042-x"
typedef struct {
    Passerelle__EventHeader h;
    char *categories [PL_CAT_COUNT + 2];
    char *to_roles [PL_ROLE_COUNT + 2];
    char *to_agencies [PL_MAX_RECIPIENTS + 2];
    uint8_t event_id [PL_EVENT_ID_SIZE + 4];
    uint8_t supersedes [PL_EVENT_ID_SIZE + 4];
    uint8_t payload_hash [PL_HASH_SIZE];
    uint8_t key_commitment [PL_HASH_SIZE];
    Passerelle__ConsentScope consent;
    char *consent_categories [PL_CAT_COUNT + 2];
    char *consent_roles [PL_ROLE_COUNT + 2];
    char *consent_purposes [PL_PURPOSE_COUNT + 2];
} header_t;

//  For seal: no event id, payload hash or key commitment (seal sets them).
//  The basis is not consent, so it carries a justification.
static void
s_header_for_seal (header_t *x)
{
    memset (x, 0, sizeof *x);
    Passerelle__EventHeader init = PASSERELLE__EVENT_HEADER__INIT;
    x->h = init;
    x->h.case_ref = CASE_REF;
    x->h.event_type = "referral";
    x->h.sequence = 7;
    x->h.created_at_ms = 1790000000000ull;
    x->h.valid_until_ms = 1790000000000ull + 86400000ull;
    x->categories [0] = "case_summary";
    x->categories [1] = "risk_assessment";
    x->h.categories = x->categories;
    x->h.n_categories = 2;
    x->h.purpose = "risk_management";
    x->h.legal_basis = "legal_obligation";
    x->h.justification = "art. 6(1)(c)";
    x->h.risk_level = "high";
    for (int i = 0; i < RECIPIENTS; i++)
        x->to_agencies [i] = (char *) s_ids [i];
    x->h.to_agencies = x->to_agencies;
    x->h.n_to_agencies = RECIPIENTS;
    x->to_roles [0] = "perpetrator_programme";
    x->h.to_roles = x->to_roles;
    x->h.n_to_roles = 1;
}

//  For pl_header_check: complete, as decode would see it.
static void
s_header_complete (header_t *x)
{
    s_header_for_seal (x);
    x->h.version = PL_PROTOCOL_VERSION;
    x->h.publisher = "police-a";
    for (int i = 0; i < PL_EVENT_ID_SIZE; i++)
        x->event_id [i] = (uint8_t) (i + 1);
    x->h.event_id.data = x->event_id;
    x->h.event_id.len = PL_EVENT_ID_SIZE;
    memset (x->payload_hash, 0xab, sizeof x->payload_hash);
    x->h.payload_hash.data = x->payload_hash;
    x->h.payload_hash.len = PL_HASH_SIZE;
    memset (x->key_commitment, 0xcd, sizeof x->key_commitment);
    x->h.key_commitment.data = x->key_commitment;
    x->h.key_commitment.len = PL_HASH_SIZE;
}

static void
s_add_consent (header_t *x)
{
    Passerelle__ConsentScope init = PASSERELLE__CONSENT_SCOPE__INIT;
    x->consent = init;
    x->consent.consent_id = "consent:police-a/17";
    x->consent.subject = "victim";
    x->consent_categories [0] = "identity";
    x->consent_categories [1] = "contact";
    x->consent.categories = x->consent_categories;
    x->consent.n_categories = 2;
    x->consent_roles [0] = "victim_support";
    x->consent.recipient_roles = x->consent_roles;
    x->consent.n_recipient_roles = 1;
    x->consent_purposes [0] = "safety_planning";
    x->consent.purposes = x->consent_purposes;
    x->consent.n_purposes = 1;
    x->consent.evidence_ref = "dms://forms/17";
    x->h.consent = &x->consent;
    x->h.event_type = "consent_given";
    x->h.legal_basis = "consent";
    x->h.consent_id = "consent:police-a/17";
    x->h.justification = "";
}

static const uint8_t s_payload [] = "{\"case\":\"case:2026/0042-x\",\"note\":\"referred\"}";

//  Seals s_payload (or payload) for the fixture's three recipients.
static uint8_t *
s_seal (const uint8_t *payload, size_t size, size_t *out_size)
{
    header_t x;
    s_header_for_seal (&x);
    uint8_t *out = NULL;
    char why [256] = "";
    pl_err_t err = pl_envelope_seal (s_publisher, &x.h, payload, size, s_to, RECIPIENTS,
                                     &out, out_size, why, sizeof why);
    ck_assert_msg (err == PL_OK, "seal: %s: %s", pl_err_str (err), why);
    ck_assert_ptr_nonnull (out);
    ck_assert_uint_gt (*out_size, 0);
    return out;
}

static pl_envelope_t *
s_decode_ok (const uint8_t *data, size_t size)
{
    pl_err_t err = PL_ERR_COUNT;
    char why [256] = "";
    pl_envelope_t *env = pl_envelope_decode (data, size, &err, why, sizeof why);
    ck_assert_msg (env != NULL, "decode: %s: %s", pl_err_str (err), why);
    ck_assert_int_eq (err, PL_OK);
    return env;
}

//  Decode must fail with expected, and why must mention must_mention.
static void
s_assert_decode_fails (const uint8_t *data, size_t size, pl_err_t expected,
                       const char *must_mention)
{
    pl_err_t err = PL_OK;
    char why [256] = "";
    pl_envelope_t *env = pl_envelope_decode (data, size, &err, why, sizeof why);
    ck_assert_msg (env == NULL, "decoded, expected %s", pl_err_str (expected));
    ck_assert_msg (err == expected, "decode: '%s' (%s), expected '%s'", pl_err_str (err), why,
                   pl_err_str (expected));
    if (must_mention)
        ck_assert_msg (strstr (why, must_mention) != NULL, "why '%s' does not mention '%s'",
                       why, must_mention);
}

//  Opens env as recipient; expects result, and on PL_OK the exact payload.
static void
s_assert_open (pl_envelope_t *env, pl_keys_t *recipient, const uint8_t *publisher_pk,
               pl_err_t expected, const uint8_t *payload, size_t payload_size)
{
    uint8_t *plain = (uint8_t *) "sentinel";
    size_t plain_size = 12345;
    pl_err_t err = pl_envelope_open (env, recipient, publisher_pk, NULL, &plain, &plain_size);
    ck_assert_msg (err == expected, "%s opens with '%s', expected '%s'", pl_keys_id (recipient),
                   pl_err_str (err), pl_err_str (expected));
    if (expected == PL_OK) {
        ck_assert_ptr_nonnull (plain);
        ck_assert_uint_eq (plain_size, payload_size);
        if (payload_size)
            ck_assert_mem_eq (plain, payload, payload_size);
        free (plain);
    }
    else {
        ck_assert_ptr_null (plain);
        ck_assert_uint_eq (plain_size, 0);
    }
}

//  Unpacks the envelope, lets mutate change the wire struct in place, packs.
typedef void (mutator_fn) (Passerelle__Envelope *wire, void *arg);

static uint8_t *
s_mutate (const uint8_t *data, size_t size, mutator_fn *mutate, void *arg, size_t *out_size)
{
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, data);
    ck_assert_ptr_nonnull (wire);
    size_t n_keys = wire->n_keys;
    mutate (wire, arg);
    *out_size = passerelle__envelope__get_packed_size (wire);
    uint8_t *out = malloc (*out_size ? *out_size : 1);
    ck_assert_ptr_nonnull (out);
    passerelle__envelope__pack (wire, out);
    wire->n_keys = n_keys;                  //  a mutator may hide keys
    passerelle__envelope__free_unpacked (wire, NULL);
    return out;
}

//  payload_hash exactly as the schema comment defines it, written here
//  without the module's code: SHA-256(nonce || ciphertext || for each sealed
//  key, in order: u8 len(recipient) || recipient || sealed).
static void
s_schema_payload_hash (const uint8_t *nonce, size_t nonce_size,
                       const uint8_t *cipher, size_t cipher_size,
                       Passerelle__SealedKey *const *keys, size_t n_keys, uint8_t *hash)
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, nonce, nonce_size);
    crypto_hash_sha256_update (&state, cipher, cipher_size);
    for (size_t i = 0; i < n_keys; i++) {
        size_t len = strlen (keys [i]->recipient);
        ck_assert_uint_le (len, 255);
        uint8_t len_byte = (uint8_t) len;
        crypto_hash_sha256_update (&state, &len_byte, 1);
        crypto_hash_sha256_update (&state, (const uint8_t *) keys [i]->recipient, len);
        crypto_hash_sha256_update (&state, keys [i]->sealed.data, keys [i]->sealed.len);
    }
    crypto_hash_sha256_final (&state, hash);
}

static void
s_wire_payload_hash (const Passerelle__Envelope *wire, uint8_t *hash)
{
    s_schema_payload_hash (wire->nonce.data, wire->nonce.len, wire->ciphertext.data,
                           wire->ciphertext.len, wire->keys, wire->n_keys, hash);
}

//  key_commitment as the schema defines it:
//  BLAKE2b-256("passerelle-key-commitment-v1" || payload key), no key.
static void
s_schema_key_commitment (const uint8_t *key, uint8_t *commitment)
{
    static const char context [] = "passerelle-key-commitment-v1";
    uint8_t input [sizeof context - 1 + crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    memcpy (input, context, sizeof context - 1);
    memcpy (input + sizeof context - 1, key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    ck_assert_int_eq (crypto_generichash (commitment, PL_HASH_SIZE, input, sizeof input, NULL, 0), 0);
}

//  The payload key sealed to recipient in wire (0 on success).
static int
s_unseal (const Passerelle__Envelope *wire, pl_keys_t *recipient, uint8_t *key)
{
    for (size_t i = 0; i < wire->n_keys; i++)
        if (strcmp (wire->keys [i]->recipient, pl_keys_id (recipient)) == 0)
            return crypto_box_seal_open (key, wire->keys [i]->sealed.data, wire->keys [i]->sealed.len,
                                         pl_keys_curve_public (recipient),
                                         pl_keys_curve_secret (recipient));
    return -1;
}

//  What a publisher (not someone in transit) can do: unpack its envelope,
//  change the header and the wire with change(), then recompute payload_hash
//  as the schema says, re-pack the header, re-sign it with the publisher's
//  key and re-pack the envelope.
typedef void (resign_fn) (Passerelle__EventHeader *h, Passerelle__Envelope *wire, void *arg);

static uint8_t *
s_resign (const uint8_t *data, size_t size, resign_fn *change, void *arg, size_t *out_size)
{
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, data);
    ck_assert_ptr_nonnull (wire);
    Passerelle__EventHeader *h =
        passerelle__event_header__unpack (NULL, wire->header.len, wire->header.data);
    ck_assert_ptr_nonnull (h);
    change (h, wire, arg);
    ck_assert_uint_eq (h->payload_hash.len, PL_HASH_SIZE);
    s_wire_payload_hash (wire, h->payload_hash.data);
    size_t header_size = passerelle__event_header__get_packed_size (h);
    uint8_t *header_bytes = malloc (header_size);
    ck_assert_ptr_nonnull (header_bytes);
    passerelle__event_header__pack (h, header_bytes);
    uint8_t *own_header = wire->header.data;
    size_t own_len = wire->header.len;
    wire->header.data = header_bytes;
    wire->header.len = header_size;
    ck_assert_uint_eq (wire->signature.len, PL_SIGNATURE_SIZE);
    pl_keys_sign (s_publisher, header_bytes, header_size, wire->signature.data);
    *out_size = passerelle__envelope__get_packed_size (wire);
    uint8_t *out = malloc (*out_size);
    ck_assert_ptr_nonnull (out);
    passerelle__envelope__pack (wire, out);
    wire->header.data = own_header;
    wire->header.len = own_len;
    free (header_bytes);
    passerelle__event_header__free_unpacked (h, NULL);
    passerelle__envelope__free_unpacked (wire, NULL);
    return out;
}

//  --------------------------------------------------------------------------
//  Round trips

START_TEST (every_recipient_opens_exactly_the_payload)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    pl_envelope_t *env = s_decode_ok (bytes, size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_OK);
    for (int i = 0; i < RECIPIENTS; i++) {
        ck_assert (pl_envelope_is_sealed_for (env, s_ids [i]));
        s_assert_open (env, s_recipient [i], pl_keys_public (s_publisher), PL_OK,
                       s_payload, sizeof s_payload);
    }
    //  The header is the one the publisher wrote, plus what seal set
    const Passerelle__EventHeader *h = pl_envelope_header (env);
    ck_assert_uint_eq (h->version, PL_PROTOCOL_VERSION);
    ck_assert_str_eq (h->publisher, "police-a");
    ck_assert_str_eq (h->case_ref, CASE_REF);
    ck_assert_str_eq (h->event_type, "referral");
    ck_assert_uint_eq (h->sequence, 7);
    ck_assert_uint_eq (h->n_to_agencies, RECIPIENTS);
    ck_assert_uint_eq (h->event_id.len, PL_EVENT_ID_SIZE);
    //  payload_hash covers nonce, ciphertext and sealed keys, as the schema says
    const Passerelle__Envelope *wire = pl_envelope_wire (env);
    ck_assert_uint_eq (wire->n_keys, RECIPIENTS);
    uint8_t hash [PL_HASH_SIZE];
    s_wire_payload_hash (wire, hash);
    ck_assert_uint_eq (h->payload_hash.len, PL_HASH_SIZE);
    ck_assert_mem_eq (h->payload_hash.data, hash, PL_HASH_SIZE);
    //  ... which is not the hash of the ciphertext alone (the old definition)
    crypto_hash_sha256 (hash, wire->ciphertext.data, wire->ciphertext.len);
    ck_assert_mem_ne (h->payload_hash.data, hash, PL_HASH_SIZE);
    //  key_commitment is BLAKE2b-256 of the context and the one payload key,
    //  and every recipient unseals that same key
    uint8_t first [crypto_aead_xchacha20poly1305_ietf_KEYBYTES], key [sizeof first];
    ck_assert_int_eq (s_unseal (wire, s_recipient [0], first), 0);
    s_schema_key_commitment (first, hash);
    ck_assert_uint_eq (h->key_commitment.len, PL_HASH_SIZE);
    ck_assert_mem_eq (h->key_commitment.data, hash, PL_HASH_SIZE);
    for (int i = 1; i < RECIPIENTS; i++) {
        ck_assert_int_eq (s_unseal (wire, s_recipient [i], key), 0);
        ck_assert_mem_eq (key, first, sizeof key);
    }
    //  The content is not in the clear anywhere in the envelope
    ck_assert_ptr_null (memmem (bytes, size, "referred", 8));
    //  The header hash is SHA-256 of the header bytes as received
    uint8_t header_hash [PL_HASH_SIZE];
    pl_envelope_header_hash (env, header_hash);
    crypto_hash_sha256 (hash, wire->header.data, wire->header.len);
    ck_assert_mem_eq (header_hash, hash, PL_HASH_SIZE);
    pl_envelope_destroy (&env);
    ck_assert_ptr_null (env);
    pl_envelope_destroy (&env);
    free (bytes);
}
END_TEST

START_TEST (an_agency_not_sealed_for_cannot_open)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    pl_envelope_t *env = s_decode_ok (bytes, size);
    ck_assert (!pl_envelope_is_sealed_for (env, "school-e"));
    s_assert_open (env, s_outsider, pl_keys_public (s_publisher), PL_ERR_NOT_RECIPIENT, NULL, 0);
    //  Nor can the publisher, who sealed for others only
    s_assert_open (env, s_publisher, pl_keys_public (s_publisher), PL_ERR_NOT_RECIPIENT, NULL, 0);
    pl_envelope_destroy (&env);
    free (bytes);
}
END_TEST

START_TEST (an_agency_with_a_listed_id_but_another_key_cannot_open)
{
    //  Same id as a recipient, different key pair: the sealed key is not its
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    pl_envelope_t *env = s_decode_ok (bytes, size);
    pl_keys_t *impostor = pl_keys_generate (s_ids [0]);
    s_assert_open (env, impostor, pl_keys_public (s_publisher), PL_ERR_KEY_UNSEAL, NULL, 0);
    pl_keys_destroy (&impostor);
    pl_envelope_destroy (&env);
    free (bytes);
}
END_TEST

START_TEST (an_empty_payload_round_trips)
{
    size_t size;
    uint8_t *bytes = s_seal ((const uint8_t *) "", 0, &size);
    pl_envelope_t *env = s_decode_ok (bytes, size);
    ck_assert_uint_eq (pl_envelope_wire (env)->ciphertext.len, ABYTES);
    for (int i = 0; i < RECIPIENTS; i++)
        s_assert_open (env, s_recipient [i], pl_keys_public (s_publisher), PL_OK, NULL, 0);
    pl_envelope_destroy (&env);
    free (bytes);
}
END_TEST

START_TEST (a_payload_of_exactly_the_maximum_size_round_trips)
{
    uint8_t *payload = malloc (PL_MAX_PAYLOAD);
    ck_assert_ptr_nonnull (payload);
    randombytes_buf (payload, PL_MAX_PAYLOAD);
    size_t size;
    uint8_t *bytes = s_seal (payload, PL_MAX_PAYLOAD, &size);
    ck_assert_uint_le (size, PL_MAX_ENVELOPE);
    pl_envelope_t *env = s_decode_ok (bytes, size);
    s_assert_open (env, s_recipient [2], pl_keys_public (s_publisher), PL_OK,
                   payload, PL_MAX_PAYLOAD);
    pl_envelope_destroy (&env);
    free (bytes);
    free (payload);
}
END_TEST

START_TEST (a_payload_one_byte_over_the_maximum_is_refused)
{
    uint8_t *payload = calloc (1, PL_MAX_PAYLOAD + 1);
    ck_assert_ptr_nonnull (payload);
    header_t x;
    s_header_for_seal (&x);
    uint8_t *out = (uint8_t *) "sentinel";
    size_t out_size = 99;
    char why [256] = "";
    ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, payload, PL_MAX_PAYLOAD + 1, s_to,
                                        RECIPIENTS, &out, &out_size, why, sizeof why),
                      PL_ERR_OVERSIZED);
    ck_assert_ptr_null (out);
    ck_assert_uint_eq (out_size, 0);
    ck_assert_ptr_nonnull (strstr (why, "payload"));
    free (payload);
}
END_TEST

START_TEST (the_largest_legitimate_envelope_fits_the_envelope_limit)
{
    //  Every field at its limit: 64 recipients with 64-character ids, the
    //  longest texts, a full consent scope, the largest payload.
    static pl_keys_t *keys [PL_MAX_RECIPIENTS];
    static char ids [PL_MAX_RECIPIENTS][PL_ID_MAX + 1];
    pl_recipient_t to [PL_MAX_RECIPIENTS];
    header_t x;
    s_header_complete (&x);
    s_add_consent (&x);
    x.h.event_id.len = 0;
    x.h.payload_hash.len = 0;
    x.h.key_commitment.len = 0;
    for (int i = 0; i < PL_MAX_RECIPIENTS; i++) {
        memset (ids [i], 'a', PL_ID_MAX);
        snprintf (ids [i], sizeof ids [i], "%02d", i);
        ids [i][2] = 'a';
        ids [i][PL_ID_MAX] = 0;
        keys [i] = pl_keys_generate (ids [i]);
        ck_assert_ptr_nonnull (keys [i]);
        to [i].id = ids [i];
        to [i].public_key = pl_keys_public (keys [i]);
        x.to_agencies [i] = ids [i];
    }
    x.h.n_to_agencies = PL_MAX_RECIPIENTS;
    for (int i = 0; i < PL_ROLE_COUNT; i++)
        x.to_roles [i] = x.consent_roles [i] = (char *) pl_vocab_name (PL_KIND_ROLE, i);
    x.h.n_to_roles = x.consent.n_recipient_roles = PL_ROLE_COUNT;
    for (int i = 0; i < PL_CAT_COUNT; i++)
        x.categories [i] = x.consent_categories [i] = (char *) pl_vocab_name (PL_KIND_CATEGORY, i);
    x.h.n_categories = x.consent.n_categories = PL_CAT_COUNT;
    for (int i = 0; i < PL_PURPOSE_COUNT; i++)
        x.consent_purposes [i] = (char *) pl_vocab_name (PL_KIND_PURPOSE, i);
    x.consent.n_purposes = PL_PURPOSE_COUNT;
    char case_ref [PL_MAX_CASE_REF + 1], justification [PL_MAX_TEXT + 1], evidence [PL_MAX_TEXT + 1];
    memset (case_ref, 'c', PL_MAX_CASE_REF);
    case_ref [PL_MAX_CASE_REF] = 0;
    memset (justification, 'j', PL_MAX_TEXT);
    justification [PL_MAX_TEXT] = 0;
    memset (evidence, 'e', PL_MAX_TEXT);
    evidence [PL_MAX_TEXT] = 0;
    x.h.case_ref = case_ref;
    x.h.consent_id = x.consent.consent_id = case_ref;
    x.h.justification = justification;
    x.consent.evidence_ref = evidence;
    x.h.sequence = UINT64_MAX;
    x.h.created_at_ms = UINT64_MAX - 1;
    x.h.valid_until_ms = UINT64_MAX;
    x.consent.valid_until_ms = UINT64_MAX;

    uint8_t *payload = malloc (PL_MAX_PAYLOAD);
    ck_assert_ptr_nonnull (payload);
    randombytes_buf (payload, PL_MAX_PAYLOAD);
    uint8_t *out = NULL;
    size_t size = 0;
    char why [256] = "";
    pl_err_t err = pl_envelope_seal (s_publisher, &x.h, payload, PL_MAX_PAYLOAD, to,
                                     PL_MAX_RECIPIENTS, &out, &size, why, sizeof why);
    ck_assert_msg (err == PL_OK, "%s: %s", pl_err_str (err), why);
    ck_assert_msg (size <= PL_MAX_ENVELOPE, "%zu bytes, limit %d", size, PL_MAX_ENVELOPE);
    pl_envelope_t *env = s_decode_ok (out, size);
    s_assert_open (env, keys [PL_MAX_RECIPIENTS - 1], pl_keys_public (s_publisher), PL_OK,
                   payload, PL_MAX_PAYLOAD);
    pl_envelope_destroy (&env);
    free (out);
    free (payload);
    for (int i = 0; i < PL_MAX_RECIPIENTS; i++)
        pl_keys_destroy (&keys [i]);
}
END_TEST

START_TEST (seal_refuses_no_recipient_and_more_than_the_maximum)
{
    header_t x;
    s_header_for_seal (&x);
    uint8_t *out = NULL;
    size_t size = 0;
    char why [256] = "";
    pl_err_t err = pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, s_to, 0,
                                     &out, &size, why, sizeof why);
    ck_assert_int_eq (err, PL_ERR_BAD_FIELD);
    ck_assert_ptr_null (out);
    ck_assert_uint_eq (size, 0);
    ck_assert_ptr_nonnull (strstr (why, "recipients"));

    pl_recipient_t many [PL_MAX_RECIPIENTS + 1];
    for (int i = 0; i <= PL_MAX_RECIPIENTS; i++)
        many [i] = s_to [i % RECIPIENTS];
    why [0] = 0;
    err = pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, many,
                            PL_MAX_RECIPIENTS + 1, &out, &size, why, sizeof why);
    ck_assert_int_eq (err, PL_ERR_OVERSIZED);
    ck_assert_ptr_null (out);
    ck_assert_uint_eq (size, 0);
    ck_assert_ptr_nonnull (strstr (why, "recipients"));
    //  A count far past the array is refused before anything reads it
    err = pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, many,
                            (size_t) -1, &out, &size, why, sizeof why);
    ck_assert_int_eq (err, PL_ERR_OVERSIZED);
    ck_assert_ptr_null (out);
}
END_TEST

START_TEST (seal_refuses_a_recipient_with_an_invalid_id_or_key)
{
    header_t x;
    s_header_for_seal (&x);
    uint8_t *out = NULL;
    size_t size = 0;
    char why [256] = "";
    uint8_t zero_key [PL_PUBLIC_KEY_SIZE] = { 0 };
    pl_recipient_t bad_key [2] = { s_to [0], { "health-c", zero_key } };
    ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, bad_key, 2,
                                        &out, &size, why, sizeof why), PL_ERR_BAD_FIELD);
    ck_assert_ptr_null (out);
    ck_assert_ptr_nonnull (strstr (why, "recipient 1"));
    pl_recipient_t bad_id [1] = { { "Health C", s_to [1].public_key } };
    ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, bad_id, 1,
                                        &out, &size, why, sizeof why), PL_ERR_BAD_FIELD);
    ck_assert_ptr_nonnull (strstr (why, "recipient 0"));
}
END_TEST

START_TEST (seal_refuses_an_invalid_header_naming_the_field)
{
    header_t x;
    s_header_for_seal (&x);
    x.h.purpose = "curiosity";
    uint8_t *out = NULL;
    size_t size = 0;
    char why [256] = "";
    ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, s_to,
                                        RECIPIENTS, &out, &size, why, sizeof why),
                      PL_ERR_BAD_FIELD);
    ck_assert_ptr_null (out);
    ck_assert_uint_eq (size, 0);
    ck_assert_ptr_nonnull (strstr (why, "purpose"));
    ck_assert_ptr_nonnull (strstr (why, "curiosity"));
}
END_TEST

//  An event id of the wrong length given by the caller must be refused, and
//  must not be read past its end (the AEAD takes PL_EVENT_ID_SIZE bytes of
//  it as associated data). The read happens inside libsodium, which ASan
//  does not instrument, so the id is put in sodium_malloc'd memory: it ends
//  exactly at a guard page, and reading past it is a SIGSEGV.
START_TEST (seal_refuses_a_caller_event_id_of_the_wrong_length_without_reading_past_it)
{
    //  The control: an id of the right length in the same kind of memory
    header_t x;
    s_header_for_seal (&x);
    uint8_t *good = sodium_malloc (PL_EVENT_ID_SIZE);
    ck_assert_ptr_nonnull (good);
    randombytes_buf (good, PL_EVENT_ID_SIZE);
    x.h.event_id.data = good;
    x.h.event_id.len = PL_EVENT_ID_SIZE;
    uint8_t *sealed = NULL;
    size_t sealed_size = 0;
    ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, s_to,
                                        RECIPIENTS, &sealed, &sealed_size, NULL, 0), PL_OK);
    free (sealed);
    sodium_free (good);

    const size_t lengths [] = { 4, PL_EVENT_ID_SIZE - 1, PL_EVENT_ID_SIZE + 1 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths [0]; i++) {
        s_header_for_seal (&x);
        uint8_t *id = sodium_malloc (lengths [i]);
        ck_assert_ptr_nonnull (id);
        randombytes_buf (id, lengths [i]);
        x.h.event_id.data = id;
        x.h.event_id.len = lengths [i];
        uint8_t *out = NULL;
        size_t size = 0;
        char why [256] = "";
        ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, s_to,
                                            RECIPIENTS, &out, &size, why, sizeof why),
                          PL_ERR_BAD_FIELD);
        ck_assert_ptr_null (out);
        ck_assert_ptr_nonnull (strstr (why, "event_id"));
        //  The caller's id is left as it was
        ck_assert_ptr_eq (x.h.event_id.data, id);
        ck_assert_uint_eq (x.h.event_id.len, lengths [i]);
        sodium_free (id);
    }
}
END_TEST

START_TEST (seal_keeps_a_given_event_id_and_makes_a_fresh_one_otherwise)
{
    header_t x;
    s_header_for_seal (&x);
    uint8_t given [PL_EVENT_ID_SIZE];
    randombytes_buf (given, sizeof given);
    x.h.event_id.data = given;
    x.h.event_id.len = sizeof given;
    x.h.publisher = "someone-else";          //  seal names the real publisher
    //  ... and computes payload_hash and key_commitment whatever the caller left
    uint8_t junk [PL_HASH_SIZE];
    memset (junk, 0x5a, sizeof junk);
    x.h.payload_hash.data = x.h.key_commitment.data = junk;
    x.h.payload_hash.len = x.h.key_commitment.len = sizeof junk;
    uint8_t *out = NULL;
    size_t size = 0;
    ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, s_to,
                                        RECIPIENTS, &out, &size, NULL, 0), PL_OK);
    //  The caller's struct points at nothing of seal's stack afterwards
    ck_assert_ptr_null (x.h.payload_hash.data);
    ck_assert_uint_eq (x.h.payload_hash.len, 0);
    ck_assert_ptr_null (x.h.key_commitment.data);
    ck_assert_uint_eq (x.h.key_commitment.len, 0);
    ck_assert_ptr_eq (x.h.event_id.data, given);
    pl_envelope_t *env = s_decode_ok (out, size);
    ck_assert_mem_ne (pl_envelope_header (env)->payload_hash.data, junk, sizeof junk);
    ck_assert_mem_ne (pl_envelope_header (env)->key_commitment.data, junk, sizeof junk);
    s_assert_open (env, s_recipient [0], pl_keys_public (s_publisher), PL_OK,
                   s_payload, sizeof s_payload);
    ck_assert_mem_eq (pl_envelope_header (env)->event_id.data, given, sizeof given);
    ck_assert_str_eq (pl_envelope_header (env)->publisher, "police-a");
    pl_envelope_destroy (&env);
    free (out);

    //  Two seals without an id: two different ids, two different ciphertexts
    size_t size_a, size_b;
    uint8_t *a = s_seal (s_payload, sizeof s_payload, &size_a);
    uint8_t *b = s_seal (s_payload, sizeof s_payload, &size_b);
    pl_envelope_t *env_a = s_decode_ok (a, size_a), *env_b = s_decode_ok (b, size_b);
    ck_assert_mem_ne (pl_envelope_header (env_a)->event_id.data,
                      pl_envelope_header (env_b)->event_id.data, PL_EVENT_ID_SIZE);
    ck_assert_mem_ne (pl_envelope_wire (env_a)->ciphertext.data,
                      pl_envelope_wire (env_b)->ciphertext.data, sizeof s_payload);
    //  ... each made as pl_event_id_new makes one: the time first
    uint64_t stamped = 0;
    for (int i = 0; i < 6; i++)
        stamped = stamped << 8 | pl_envelope_header (env_a)->event_id.data [i];
    ck_assert_uint_le (stamped, pl_now_ms ());
    ck_assert_uint_ge (stamped + 60000, pl_now_ms ());
    pl_envelope_destroy (&env_a);
    pl_envelope_destroy (&env_b);
    free (a);
    free (b);
}
END_TEST

//  The time now in ms, then random bytes: ids made later sort after, ids
//  made in the same millisecond still differ
static uint64_t
s_id_time (const uint8_t *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id [i];
    return ms;
}

START_TEST (event_ids_lead_with_the_time_and_differ)
{
    uint64_t before = pl_now_ms ();
    uint8_t first [PL_EVENT_ID_SIZE], second [PL_EVENT_ID_SIZE], later [PL_EVENT_ID_SIZE];
    pl_event_id_new (first);
    pl_event_id_new (second);
    uint64_t after = pl_now_ms ();
    ck_assert_uint_ge (s_id_time (first), before);
    ck_assert_uint_le (s_id_time (second), after);
    ck_assert_mem_ne (first + 6, second + 6, PL_EVENT_ID_SIZE - 6);
    usleep (3000);
    pl_event_id_new (later);
    ck_assert_uint_gt (s_id_time (later), s_id_time (first));
    ck_assert_int_lt (memcmp (first, later, PL_EVENT_ID_SIZE), 0);
    //  Ten bytes of chance: over many ids, every byte position varies
    uint8_t seen_or [PL_EVENT_ID_SIZE - 6] = { 0 }, seen_and [PL_EVENT_ID_SIZE - 6];
    memset (seen_and, 0xff, sizeof seen_and);
    for (int n = 0; n < 64; n++) {
        uint8_t id [PL_EVENT_ID_SIZE];
        pl_event_id_new (id);
        for (size_t i = 0; i < sizeof seen_or; i++) {
            seen_or [i] |= id [6 + i];
            seen_and [i] &= id [6 + i];
        }
    }
    for (size_t i = 0; i < sizeof seen_or; i++)
        ck_assert_uint_ne (seen_or [i], seen_and [i]);
}
END_TEST

//  --------------------------------------------------------------------------
//  Tampering: each change fails with its own error

START_TEST (the_wrong_publisher_key_fails_verify_and_open_as_bad_signature)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    pl_envelope_t *env = s_decode_ok (bytes, size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_recipient [0])),
                      PL_ERR_BAD_SIGNATURE);
    s_assert_open (env, s_recipient [0], pl_keys_public (s_outsider), PL_ERR_BAD_SIGNATURE, NULL, 0);
    pl_envelope_destroy (&env);
    free (bytes);
}
END_TEST

START_TEST (a_changed_case_ref_still_decodes_but_fails_as_bad_signature)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    //  The case reference is carried verbatim inside the header bytes; change
    //  one character for another valid one, so the header still checks.
    uint8_t *at = memmem (bytes, size, CASE_REF, strlen (CASE_REF));
    ck_assert_ptr_nonnull (at);
    ck_assert_int_eq (at [strlen ("case:2026/004")], '2');
    at [strlen ("case:2026/004")] = '3';
    pl_envelope_t *env = s_decode_ok (bytes, size);
    ck_assert_str_eq (pl_envelope_header (env)->case_ref, "case:2026/0043-x");
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_ERR_BAD_SIGNATURE);
    for (int i = 0; i < RECIPIENTS; i++)
        s_assert_open (env, s_recipient [i], pl_keys_public (s_publisher),
                       PL_ERR_BAD_SIGNATURE, NULL, 0);
    pl_envelope_destroy (&env);
    free (bytes);
}
END_TEST

static void
s_break_first_header_tag (Passerelle__Envelope *wire, void *arg)
{
    (void) arg;
    ck_assert_int_eq (wire->header.data [0], 0x08);        //  field 1, varint
    wire->header.data [0] = 0x0f;                           //  wire type 7: invalid
}

START_TEST (header_bytes_that_no_longer_parse_fail_decode_as_malformed)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    uint8_t *bad = s_mutate (bytes, size, s_break_first_header_tag, NULL, &bad_size);
    s_assert_decode_fails (bad, bad_size, PL_ERR_MALFORMED, "header");
    free (bad);
    free (bytes);
}
END_TEST

START_TEST (a_header_changed_into_an_unknown_event_type_fails_decode_as_bad_field)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    //  "referral" is the event type; the same word is not elsewhere in the
    //  header (the purpose is risk_management)
    uint8_t *at = memmem (bytes, size, "referral", 8);
    ck_assert_ptr_nonnull (at);
    at [7] = 'k';
    s_assert_decode_fails (bytes, size, PL_ERR_BAD_FIELD, "event_type");
    free (bytes);
}
END_TEST

static void
s_flip_signature (Passerelle__Envelope *wire, void *arg)
{
    wire->signature.data [*(size_t *) arg] ^= 0x40;
}

START_TEST (a_changed_signature_fails_as_bad_signature)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    for (size_t at = 0; at < PL_SIGNATURE_SIZE; at += 9) {
        size_t bad_size;
        uint8_t *bad = s_mutate (bytes, size, s_flip_signature, &at, &bad_size);
        pl_envelope_t *env = s_decode_ok (bad, bad_size);
        ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)),
                          PL_ERR_BAD_SIGNATURE);
        s_assert_open (env, s_recipient [1], pl_keys_public (s_publisher),
                       PL_ERR_BAD_SIGNATURE, NULL, 0);
        pl_envelope_destroy (&env);
        free (bad);
    }
    free (bytes);
}
END_TEST

//  Decodes bad (it still decodes: only bytes under the signed payload_hash
//  changed), then verify and every open, the outsider's included, fail as
//  PAYLOAD_HASH: the broker would refuse it, and so would each recipient.
static void
s_assert_payload_hash_everywhere (const uint8_t *bad, size_t bad_size)
{
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_ERR_PAYLOAD_HASH);
    for (int i = 0; i < RECIPIENTS; i++)
        s_assert_open (env, s_recipient [i], pl_keys_public (s_publisher),
                       PL_ERR_PAYLOAD_HASH, NULL, 0);
    s_assert_open (env, s_outsider, pl_keys_public (s_publisher), PL_ERR_PAYLOAD_HASH, NULL, 0);
    pl_envelope_destroy (&env);
}

static void
s_flip_ciphertext (Passerelle__Envelope *wire, void *arg)
{
    size_t at = *(size_t *) arg;
    wire->ciphertext.data [at % wire->ciphertext.len] ^= 0x01;
}

static void
s_shorten_ciphertext (Passerelle__Envelope *wire, void *arg)
{
    (void) arg;
    wire->ciphertext.len -= 1;
}

START_TEST (a_changed_ciphertext_fails_as_payload_hash)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    size_t positions [] = { 0, 17, sizeof s_payload + ABYTES - 1 };
    for (size_t i = 0; i < 3; i++) {
        size_t bad_size;
        uint8_t *bad = s_mutate (bytes, size, s_flip_ciphertext, &positions [i], &bad_size);
        s_assert_payload_hash_everywhere (bad, bad_size);
        free (bad);
    }
    size_t bad_size;
    uint8_t *bad = s_mutate (bytes, size, s_shorten_ciphertext, NULL, &bad_size);
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_ERR_PAYLOAD_HASH);
    pl_envelope_destroy (&env);
    free (bad);
    free (bytes);
}
END_TEST

static void
s_swap_first_two_sealed_keys (Passerelle__Envelope *wire, void *arg)
{
    (void) arg;
    ck_assert_uint_ge (wire->n_keys, 2);
    uint8_t copy [SEALED_SIZE];
    memcpy (copy, wire->keys [0]->sealed.data, SEALED_SIZE);
    memcpy (wire->keys [0]->sealed.data, wire->keys [1]->sealed.data, SEALED_SIZE);
    memcpy (wire->keys [1]->sealed.data, copy, SEALED_SIZE);
}

START_TEST (sealed_keys_swapped_between_recipients_fail_verify_as_payload_hash)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    uint8_t *bad = s_mutate (bytes, size, s_swap_first_two_sealed_keys, NULL, &bad_size);
    //  The sealed keys are under payload_hash, so the broker sees the swap
    s_assert_payload_hash_everywhere (bad, bad_size);
    free (bad);
    free (bytes);
}
END_TEST

static void
s_flip_sealed_key (Passerelle__Envelope *wire, void *arg)
{
    size_t at = *(size_t *) arg;
    wire->keys [1]->sealed.data [at] ^= 0x20;
}

START_TEST (an_altered_sealed_key_fails_verify_as_payload_hash)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    //  In the ephemeral public key, in the box, and in its MAC
    size_t positions [] = { 0, 31, 32, 47, SEALED_SIZE - 1 };
    for (size_t i = 0; i < sizeof positions / sizeof positions [0]; i++) {
        size_t bad_size;
        uint8_t *bad = s_mutate (bytes, size, s_flip_sealed_key, &positions [i], &bad_size);
        //  Every recipient is refused, not only the one whose key changed
        s_assert_payload_hash_everywhere (bad, bad_size);
        free (bad);
    }
    free (bytes);
}
END_TEST

//  Moves recipient 0's sealed key of another envelope into this one.
static void
s_replay_sealed_key (Passerelle__Envelope *wire, void *arg)
{
    const uint8_t *other = arg;
    memcpy (wire->keys [0]->sealed.data, other, SEALED_SIZE);
}

START_TEST (a_sealed_key_replayed_from_another_event_fails_verify_as_payload_hash)
{
    size_t size_a, size_b, bad_size;
    uint8_t *a = s_seal (s_payload, sizeof s_payload, &size_a);
    uint8_t *b = s_seal (s_payload, sizeof s_payload, &size_b);
    pl_envelope_t *env_b = s_decode_ok (b, size_b);
    ck_assert_str_eq (pl_envelope_wire (env_b)->keys [0]->recipient, s_ids [0]);
    uint8_t other [SEALED_SIZE];
    memcpy (other, pl_envelope_wire (env_b)->keys [0]->sealed.data, SEALED_SIZE);
    //  The replayed key is genuine (it unseals for its recipient) ...
    uint8_t key [crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    ck_assert_int_eq (s_unseal (pl_envelope_wire (env_b), s_recipient [0], key), 0);
    //  ... but is not the one event a's header signed over
    uint8_t *bad = s_mutate (a, size_a, s_replay_sealed_key, other, &bad_size);
    s_assert_payload_hash_everywhere (bad, bad_size);
    pl_envelope_destroy (&env_b);
    free (bad);
    free (a);
    free (b);
}
END_TEST

static void
s_drop_second_sealed_key (Passerelle__Envelope *wire, void *arg)
{
    (void) arg;
    Passerelle__SealedKey *dropped = wire->keys [1];
    wire->keys [1] = wire->keys [wire->n_keys - 1];
    wire->keys [wire->n_keys - 1] = dropped;
    wire->n_keys--;
}

START_TEST (a_removed_sealed_key_fails_verify_as_payload_hash_for_every_recipient)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    uint8_t *bad = s_mutate (bytes, size, s_drop_second_sealed_key, NULL, &bad_size);
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert (!pl_envelope_is_sealed_for (env, s_ids [1]));
    pl_envelope_destroy (&env);
    //  Not NOT_RECIPIENT for health-c: open verifies first, and the hash
    //  names three keys
    s_assert_payload_hash_everywhere (bad, bad_size);
    free (bad);
    free (bytes);
}
END_TEST

//  Moves the first sealed key's recipient name to the outsider: the box is
//  still social-b's, but the name is under the hash.
static void
s_relabel_first_sealed_key (Passerelle__Envelope *wire, void *arg)
{
    (void) arg;
    ck_assert_str_eq (wire->keys [0]->recipient, s_ids [0]);
    free (wire->keys [0]->recipient);
    wire->keys [0]->recipient = strdup ("school-e");
    ck_assert_ptr_nonnull (wire->keys [0]->recipient);
}

START_TEST (a_sealed_key_relabelled_for_another_agency_fails_verify_as_payload_hash)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    uint8_t *bad = s_mutate (bytes, size, s_relabel_first_sealed_key, NULL, &bad_size);
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert (pl_envelope_is_sealed_for (env, "school-e"));
    ck_assert (!pl_envelope_is_sealed_for (env, s_ids [0]));
    pl_envelope_destroy (&env);
    s_assert_payload_hash_everywhere (bad, bad_size);
    free (bad);
    free (bytes);
}
END_TEST

//  Swaps whole entries (name and box together): each recipient's key is
//  intact, only the order changed, and the hash is over the keys in order.
static void
s_reorder_sealed_keys (Passerelle__Envelope *wire, void *arg)
{
    (void) arg;
    Passerelle__SealedKey *first = wire->keys [0];
    wire->keys [0] = wire->keys [1];
    wire->keys [1] = first;
}

START_TEST (sealed_keys_reordered_fail_verify_as_payload_hash)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    uint8_t *bad = s_mutate (bytes, size, s_reorder_sealed_keys, NULL, &bad_size);
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert_str_eq (pl_envelope_wire (env)->keys [0]->recipient, s_ids [1]);
    pl_envelope_destroy (&env);
    s_assert_payload_hash_everywhere (bad, bad_size);
    free (bad);
    free (bytes);
}
END_TEST

//  Someone in transit adds a key for the outsider: a genuine box of a key
//  of its own choosing, sealed to the outsider's curve key.
static Passerelle__SealedKey s_added_key;
static Passerelle__SealedKey *s_added_list [RECIPIENTS + 1];
static uint8_t s_added_sealed [SEALED_SIZE];

static void
s_add_sealed_key (Passerelle__Envelope *wire, void *arg)
{
    pl_keys_t *outsider = arg;
    uint8_t key [crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    crypto_aead_xchacha20poly1305_ietf_keygen (key);
    ck_assert_int_eq (crypto_box_seal (s_added_sealed, key, sizeof key,
                                       pl_keys_curve_public (outsider)), 0);
    passerelle__sealed_key__init (&s_added_key);
    s_added_key.recipient = (char *) pl_keys_id (outsider);
    s_added_key.sealed.data = s_added_sealed;
    s_added_key.sealed.len = SEALED_SIZE;
    ck_assert_uint_eq (wire->n_keys, RECIPIENTS);
    for (size_t i = 0; i < wire->n_keys; i++)
        s_added_list [i] = wire->keys [i];
    s_added_list [RECIPIENTS] = &s_added_key;
    //  The caller puts the unpacked list back before freeing it
    wire->keys = s_added_list;
    wire->n_keys = RECIPIENTS + 1;
}

START_TEST (a_sealed_key_added_in_transit_fails_verify_as_payload_hash)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, bytes);
    ck_assert_ptr_nonnull (wire);
    Passerelle__SealedKey **own = wire->keys;
    s_add_sealed_key (wire, s_outsider);
    bad_size = passerelle__envelope__get_packed_size (wire);
    uint8_t *bad = malloc (bad_size);
    ck_assert_ptr_nonnull (bad);
    passerelle__envelope__pack (wire, bad);
    wire->keys = own;
    wire->n_keys = RECIPIENTS;
    passerelle__envelope__free_unpacked (wire, NULL);

    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert (pl_envelope_is_sealed_for (env, "school-e"));
    pl_envelope_destroy (&env);
    s_assert_payload_hash_everywhere (bad, bad_size);
    free (bad);
    free (bytes);
}
END_TEST

static void
s_flip_nonce (Passerelle__Envelope *wire, void *arg)
{
    size_t at = *(size_t *) arg;
    wire->nonce.data [at] ^= 0x01;
}

//  The nonce is under payload_hash: the broker refuses a changed nonce, it
//  does not have to wait for each recipient's AEAD to notice.
START_TEST (a_changed_nonce_fails_verify_as_payload_hash)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    size_t positions [] = { 0, NONCE_SIZE / 2, NONCE_SIZE - 1 };
    for (size_t i = 0; i < sizeof positions / sizeof positions [0]; i++) {
        size_t bad_size;
        uint8_t *bad = s_mutate (bytes, size, s_flip_nonce, &positions [i], &bad_size);
        s_assert_payload_hash_everywhere (bad, bad_size);
        free (bad);
    }
    free (bytes);
}
END_TEST

//  A ciphertext, nonce and keys moved under another signed header of the
//  same publisher: the header names another hash.
typedef struct { const uint8_t *data; size_t size; } blob_t;

static void
s_graft_header (Passerelle__Envelope *wire, void *arg)
{
    blob_t *parts = arg;        //  [0] header, [1] signature
    ck_assert_uint_eq (parts [1].size, PL_SIGNATURE_SIZE);
    wire->header.data = (uint8_t *) parts [0].data;
    wire->header.len = parts [0].size;
    memcpy (wire->signature.data, parts [1].data, PL_SIGNATURE_SIZE);
}

START_TEST (a_payload_moved_under_another_signed_header_fails_as_payload_hash)
{
    size_t size_a, size_b;
    uint8_t *a = s_seal (s_payload, sizeof s_payload, &size_a);
    uint8_t *b = s_seal (s_payload, sizeof s_payload, &size_b);
    pl_envelope_t *env_b = s_decode_ok (b, size_b);
    const Passerelle__Envelope *wb = pl_envelope_wire (env_b);
    //  Copy b's header so the mutated struct can be freed normally
    uint8_t *header_copy = malloc (wb->header.len);
    memcpy (header_copy, wb->header.data, wb->header.len);
    blob_t parts [2] = { { header_copy, wb->header.len },
                         { wb->signature.data, wb->signature.len } };
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size_a, a);
    ck_assert_ptr_nonnull (wire);
    uint8_t *own_header = wire->header.data;
    size_t own_len = wire->header.len;
    s_graft_header (wire, parts);
    size_t bad_size = passerelle__envelope__get_packed_size (wire);
    uint8_t *bad = malloc (bad_size);
    passerelle__envelope__pack (wire, bad);
    wire->header.data = own_header;
    wire->header.len = own_len;
    passerelle__envelope__free_unpacked (wire, NULL);

    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_ERR_PAYLOAD_HASH);
    s_assert_open (env, s_recipient [0], pl_keys_public (s_publisher), PL_ERR_PAYLOAD_HASH, NULL, 0);
    pl_envelope_destroy (&env);
    pl_envelope_destroy (&env_b);
    free (header_copy);
    free (bad);
    free (a);
    free (b);
}
END_TEST

//  --------------------------------------------------------------------------
//  What only the publisher can do: it signs, so verify passes

//  Seals s_payload for the first two recipients only, with a header that
//  names exactly them.
static uint8_t *
s_seal_for_two (size_t *out_size)
{
    header_t x;
    s_header_for_seal (&x);
    x.h.n_to_agencies = 2;
    uint8_t *out = NULL;
    char why [256] = "";
    pl_err_t err = pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, s_to, 2,
                                     &out, out_size, why, sizeof why);
    ck_assert_msg (err == PL_OK, "seal: %s: %s", pl_err_str (err), why);
    return out;
}

//  The publisher replaces health-c's sealed key with a box of another key,
//  sealed properly to health-c's curve key (from the directory's Ed25519 key).
static void
s_give_second_recipient_another_key (Passerelle__EventHeader *h, Passerelle__Envelope *wire,
                                     void *arg)
{
    (void) h;
    uint8_t *other = arg;                   //  the key health-c will be given
    ck_assert_uint_eq (wire->n_keys, 2);
    ck_assert_str_eq (wire->keys [1]->recipient, s_ids [1]);
    uint8_t curve [PL_CURVE_KEY_SIZE];
    ck_assert_int_eq (pl_curve_public_from_sign (s_to [1].public_key, curve), 0);
    ck_assert_uint_eq (wire->keys [1]->sealed.len, SEALED_SIZE);
    ck_assert_int_eq (crypto_box_seal (wire->keys [1]->sealed.data, other,
                                       crypto_aead_xchacha20poly1305_ietf_KEYBYTES, curve), 0);
}

START_TEST (a_publisher_who_gives_one_recipient_another_key_is_caught_as_key_mismatch)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal_for_two (&size);
    uint8_t other [crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    crypto_aead_xchacha20poly1305_ietf_keygen (other);
    uint8_t *bad = s_resign (bytes, size, s_give_second_recipient_another_key, other, &bad_size);
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    //  The publisher really signed all of it: the broker cannot object
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_OK);
    s_assert_open (env, s_recipient [0], pl_keys_public (s_publisher), PL_OK,
                   s_payload, sizeof s_payload);
    s_assert_open (env, s_recipient [1], pl_keys_public (s_publisher), PL_ERR_KEY_MISMATCH,
                   NULL, 0);

    //  Why: health-c's box is genuine and opens to the other key; only the
    //  signed commitment, which names social-b's key, tells the two apart.
    //  XChaCha20-Poly1305 is not key-committing, so without it a publisher
    //  able to craft a ciphertext valid under both keys would show the two
    //  recipients different content under one signature.
    const Passerelle__Envelope *wire = pl_envelope_wire (env);
    const Passerelle__EventHeader *h = pl_envelope_header (env);
    uint8_t key_a [sizeof other], key_b [sizeof other], commitment [PL_HASH_SIZE];
    ck_assert_int_eq (s_unseal (wire, s_recipient [0], key_a), 0);
    ck_assert_int_eq (s_unseal (wire, s_recipient [1], key_b), 0);
    ck_assert_mem_eq (key_b, other, sizeof other);
    s_schema_key_commitment (key_a, commitment);
    ck_assert_mem_eq (h->key_commitment.data, commitment, PL_HASH_SIZE);
    s_schema_key_commitment (key_b, commitment);
    ck_assert_mem_ne (h->key_commitment.data, commitment, PL_HASH_SIZE);
    pl_envelope_destroy (&env);
    free (bad);
    free (bytes);
}
END_TEST

//  The publisher commits to a key nobody was given: every recipient notices.
static void
s_commit_to_another_key (Passerelle__EventHeader *h, Passerelle__Envelope *wire, void *arg)
{
    (void) wire;
    ck_assert_uint_eq (h->key_commitment.len, PL_HASH_SIZE);
    s_schema_key_commitment (arg, h->key_commitment.data);
}

START_TEST (a_commitment_to_a_key_nobody_was_given_fails_every_open_as_key_mismatch)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    uint8_t other [crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    crypto_aead_xchacha20poly1305_ietf_keygen (other);
    uint8_t *bad = s_resign (bytes, size, s_commit_to_another_key, other, &bad_size);
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_OK);
    for (int i = 0; i < RECIPIENTS; i++)
        s_assert_open (env, s_recipient [i], pl_keys_public (s_publisher),
                       PL_ERR_KEY_MISMATCH, NULL, 0);
    pl_envelope_destroy (&env);
    free (bad);
    free (bytes);
}
END_TEST

//  The control for s_resign: re-signing with no change opens as before, so
//  the failures above come from the change, not from the re-signing.
static void
s_no_change (Passerelle__EventHeader *h, Passerelle__Envelope *wire, void *arg)
{
    (void) h; (void) wire; (void) arg;
}

//  The publisher moves the same ciphertext, nonce and keys under a new event
//  id and signs that: the id is the AEAD's associated data.
static void
s_new_event_id (Passerelle__EventHeader *h, Passerelle__Envelope *wire, void *arg)
{
    (void) wire; (void) arg;
    ck_assert_uint_eq (h->event_id.len, PL_EVENT_ID_SIZE);
    h->event_id.data [0] ^= 0x80;
}

START_TEST (a_payload_re_signed_under_another_event_id_fails_open_as_decrypt)
{
    size_t size, same_size, bad_size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    uint8_t *same = s_resign (bytes, size, s_no_change, NULL, &same_size);
    pl_envelope_t *env = s_decode_ok (same, same_size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_OK);
    for (int i = 0; i < RECIPIENTS; i++)
        s_assert_open (env, s_recipient [i], pl_keys_public (s_publisher), PL_OK,
                       s_payload, sizeof s_payload);
    pl_envelope_destroy (&env);

    uint8_t *bad = s_resign (bytes, size, s_new_event_id, NULL, &bad_size);
    env = s_decode_ok (bad, bad_size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_OK);
    //  The key is the committed one: it is the ciphertext that does not open
    for (int i = 0; i < RECIPIENTS; i++)
        s_assert_open (env, s_recipient [i], pl_keys_public (s_publisher),
                       PL_ERR_DECRYPT, NULL, 0);
    pl_envelope_destroy (&env);
    free (bad);
    free (same);
    free (bytes);
}
END_TEST

//  Why the commitment is needed at all: XChaCha20-Poly1305 is not
//  key-committing. Poly1305 is a polynomial mod p = 2^130 - 5 in a key-
//  dependent point r, so a publisher who picks two keys can solve for one
//  ciphertext block that gives the same tag under both: one ciphertext, two
//  valid plaintexts. A little arithmetic mod p on 32-bit words follows.
#define FE_WORDS 9                                     //  288 bits: room for a sum
typedef uint32_t fe_t [FE_WORDS];
static const fe_t s_p = { 0xfffffffb, 0xffffffff, 0xffffffff, 0xffffffff, 3 };

static int
s_fe_cmp (const uint32_t *a, const uint32_t *b)
{
    for (int i = FE_WORDS - 1; i >= 0; i--)
        if (a [i] != b [i])
            return a [i] < b [i]? -1: 1;
    return 0;
}

//  out = wide (n words, n <= 2W) mod p, folding 2^130 = 5
static void
s_fe_reduce (const uint32_t *wide, size_t n, uint32_t *out)
{
    uint32_t w [2 * FE_WORDS] = { 0 }, hi [2 * FE_WORDS];
    memcpy (w, wide, n * sizeof *w);
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < 2 * FE_WORDS; i++) {
            uint64_t next = i + 5 < 2 * FE_WORDS? w [i + 5]: 0;
            hi [i] = i + 4 < 2 * FE_WORDS? (uint32_t) ((w [i + 4] >> 2) | (next << 30)): 0;
            any |= hi [i] != 0;
        }
        if (!any)
            break;
        w [4] &= 3;
        memset (w + 5, 0, (2 * FE_WORDS - 5) * sizeof *w);
        uint64_t carry = 0;
        for (size_t i = 0; i < 2 * FE_WORDS; i++) {
            carry += (uint64_t) w [i] + 5 * (uint64_t) hi [i];
            w [i] = (uint32_t) carry;
            carry >>= 32;
        }
    }
    while (s_fe_cmp (w, s_p) >= 0) {
        int64_t borrow = 0;
        for (int i = 0; i < FE_WORDS; i++) {
            borrow += (int64_t) w [i] - s_p [i];
            w [i] = (uint32_t) borrow;
            borrow >>= 32;
        }
    }
    memcpy (out, w, FE_WORDS * sizeof *w);
}

static void
s_fe_mul (uint32_t *out, const uint32_t *a, const uint32_t *b)
{
    uint32_t wide [2 * FE_WORDS] = { 0 };
    for (int i = 0; i < FE_WORDS; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < FE_WORDS; j++) {
            carry += (uint64_t) a [i] * b [j] + wide [i + j];
            wide [i + j] = (uint32_t) carry;
            carry >>= 32;
        }
        wide [i + FE_WORDS] = (uint32_t) carry;
    }
    s_fe_reduce (wide, 2 * FE_WORDS, out);
}

//  out = a + b, or a - b (as a + p - b), mod p; a and b below p
static void
s_fe_add_sub (uint32_t *out, const uint32_t *a, const uint32_t *b, bool subtract)
{
    uint32_t sum [FE_WORDS];
    int64_t carry = 0;
    for (int i = 0; i < FE_WORDS; i++) {
        carry += (int64_t) a [i] + (subtract? (int64_t) s_p [i] - b [i]: b [i]);
        sum [i] = (uint32_t) carry;
        carry >>= 32;
    }
    s_fe_reduce (sum, FE_WORDS, out);
}

static void
s_fe_invert (uint32_t *out, const uint32_t *a)
{
    //  a^(p - 2); p - 2 = 2^130 - 7: bits 0 and 3 to 129 set
    fe_t result = { 1 }, base;
    memcpy (base, a, sizeof base);
    for (int bit = 0; bit < 130; bit++) {
        if (bit != 1 && bit != 2)
            s_fe_mul (result, result, base);
        s_fe_mul (base, base, base);
    }
    memcpy (out, result, sizeof result);
}

//  A 16-byte little-endian block, plus 2^128 when pad (as Poly1305 reads it)
static void
s_fe_block (uint32_t *out, const uint8_t *bytes, bool pad)
{
    memset (out, 0, FE_WORDS * sizeof *out);
    for (int i = 0; i < 16; i++)
        out [i / 4] |= (uint32_t) bytes [i] << (8 * (i % 4));
    out [4] = pad;
}

//  Poly1305 key (r, s) of XChaCha20-Poly1305 (IETF) for key and nonce
static void
s_poly_key (const uint8_t *key, const uint8_t *nonce, uint32_t *r, uint8_t *s)
{
    uint8_t subkey [32], nonce12 [12] = { 0 }, block [32];
    crypto_core_hchacha20 (subkey, nonce, key, NULL);
    memcpy (nonce12 + 4, nonce + 16, 8);
    crypto_stream_chacha20_ietf (block, sizeof block, nonce12, subkey);
    block [3] &= 15; block [7] &= 15; block [11] &= 15; block [15] &= 15;
    block [4] &= 252; block [8] &= 252; block [12] &= 252;
    s_fe_block (r, block, false);
    memcpy (s, block + 16, 16);
}

//  Poly1305 over ad (16 bytes) || c1 || c2 || lengths, reduced mod p
static void
s_poly_hash (const uint32_t *r, const uint8_t *ad, const uint8_t *c1, const uint8_t *c2,
             uint32_t *h)
{
    uint8_t lengths [16] = { 16, 0, 0, 0, 0, 0, 0, 0, 32 };
    const uint8_t *blocks [4] = { ad, c1, c2, lengths };
    fe_t m;
    memset (h, 0, FE_WORDS * sizeof *h);
    for (int i = 0; i < 4; i++) {
        s_fe_block (m, blocks [i], true);
        s_fe_add_sub (h, h, m, false);
        s_fe_mul (h, h, r);
    }
}

static void
s_tag (const uint32_t *h, const uint8_t *s, uint8_t *tag)
{
    unsigned carry = 0;
    for (int i = 0; i < 16; i++) {
        carry += ((h [i / 4] >> (8 * (i % 4))) & 0xff) + s [i];
        tag [i] = (uint8_t) carry;
        carry >>= 8;
    }
}

//  Finds a 48-byte ciphertext (32 bytes + tag) that authenticates under both
//  keys with this nonce and associated data (the event id).
static void
s_two_key_ciphertext (const uint8_t *key_a, const uint8_t *key_b, const uint8_t *nonce,
                      const uint8_t *ad, uint8_t *cipher)
{
    fe_t r_a, r_b, r2_a, r2_b, h_a, h_b, x, diff, denominator;
    uint8_t s_a [16], s_b [16], zero [16] = { 0 }, t [16], tag_a [16], tag_b [16];
    s_poly_key (key_a, nonce, r_a, s_a);
    s_poly_key (key_b, nonce, r_b, s_b);
    s_fe_mul (r2_a, r_a, r_a);
    s_fe_mul (r2_b, r_b, r_b);
    s_fe_add_sub (denominator, r2_a, r2_b, true);
    s_fe_invert (denominator, denominator);
    //  Tags equal when h_a - h_b = s_b - s_a (mod 2^128), with no wrap mod p
    unsigned borrow = 0;
    for (int i = 0; i < 16; i++) {
        unsigned d = s_b [i] - s_a [i] - borrow;
        t [i] = (uint8_t) d;
        borrow = (d >> 8) & 1;
    }
    fe_t target;
    s_fe_block (target, t, false);
    for (int attempt = 0; attempt < 1000; attempt++) {
        //  h(x) = h(0) + x r^2 for the second block x (first block random)
        randombytes_buf (cipher, 16);
        s_poly_hash (r_a, ad, cipher, zero, h_a);
        s_poly_hash (r_b, ad, cipher, zero, h_b);
        s_fe_add_sub (diff, target, h_a, true);
        s_fe_add_sub (diff, diff, h_b, false);
        s_fe_mul (x, diff, denominator);
        if (x [4] || x [5] || x [6] || x [7] || x [8])
            continue;                           //  not a 16-byte block
        for (int i = 0; i < 16; i++)
            cipher [16 + i] = (uint8_t) (x [i / 4] >> (8 * (i % 4)));
        s_poly_hash (r_a, ad, cipher, cipher + 16, h_a);
        s_poly_hash (r_b, ad, cipher, cipher + 16, h_b);
        s_tag (h_a, s_a, tag_a);
        s_tag (h_b, s_b, tag_b);
        if (memcmp (tag_a, tag_b, 16) == 0) {
            memcpy (cipher + 32, tag_a, 16);
            return;
        }
    }
    ck_abort_msg ("no two-key ciphertext in 1000 attempts");
}

typedef struct {
    uint8_t key_a [crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint8_t key_b [crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint8_t cipher [32 + ABYTES];
    uint8_t nonce [NONCE_SIZE];
    uint8_t event_id [PL_EVENT_ID_SIZE];
} two_keys_t;

//  The publisher seals key_a to social-b and key_b to health-c, commits to
//  key_a, and carries the ciphertext valid under both.
static void
s_two_keys (Passerelle__EventHeader *h, Passerelle__Envelope *wire, void *arg)
{
    two_keys_t *two = arg;
    ck_assert_uint_eq (wire->n_keys, 2);
    ck_assert_uint_ge (wire->ciphertext.len, sizeof two->cipher);
    crypto_aead_xchacha20poly1305_ietf_keygen (two->key_a);
    crypto_aead_xchacha20poly1305_ietf_keygen (two->key_b);
    randombytes_buf (two->nonce, sizeof two->nonce);
    memcpy (two->event_id, h->event_id.data, PL_EVENT_ID_SIZE);
    s_two_key_ciphertext (two->key_a, two->key_b, two->nonce, two->event_id, two->cipher);
    memcpy (wire->nonce.data, two->nonce, NONCE_SIZE);
    memcpy (wire->ciphertext.data, two->cipher, sizeof two->cipher);
    wire->ciphertext.len = sizeof two->cipher;
    const uint8_t *keys [2] = { two->key_a, two->key_b };
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq (crypto_box_seal (wire->keys [i]->sealed.data, keys [i],
                                           sizeof two->key_a,
                                           pl_keys_curve_public (s_recipient [i])), 0);
    s_schema_key_commitment (two->key_a, h->key_commitment.data);
}

START_TEST (a_ciphertext_valid_under_two_keys_opens_only_under_the_committed_one)
{
    size_t size, bad_size;
    uint8_t *bytes = s_seal_for_two (&size);
    two_keys_t two;
    uint8_t *bad = s_resign (bytes, size, s_two_keys, &two, &bad_size);

    //  The AEAD alone accepts both keys, and gives two different plaintexts
    uint8_t plain_a [32], plain_b [32];
    unsigned long long len_a = 0, len_b = 0;
    ck_assert_int_eq (crypto_aead_xchacha20poly1305_ietf_decrypt (
        plain_a, &len_a, NULL, two.cipher, sizeof two.cipher, two.event_id, PL_EVENT_ID_SIZE,
        two.nonce, two.key_a), 0);
    ck_assert_int_eq (crypto_aead_xchacha20poly1305_ietf_decrypt (
        plain_b, &len_b, NULL, two.cipher, sizeof two.cipher, two.event_id, PL_EVENT_ID_SIZE,
        two.nonce, two.key_b), 0);
    ck_assert_uint_eq (len_a, 32);
    ck_assert_uint_eq (len_b, 32);
    ck_assert_mem_ne (plain_a, plain_b, 32);

    //  The envelope: signed, so verify passes; social-b gets its content,
    //  health-c is told its key is not the committed one instead of being
    //  shown other content under the same signature
    pl_envelope_t *env = s_decode_ok (bad, bad_size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_OK);
    s_assert_open (env, s_recipient [0], pl_keys_public (s_publisher), PL_OK, plain_a, 32);
    s_assert_open (env, s_recipient [1], pl_keys_public (s_publisher), PL_ERR_KEY_MISMATCH,
                   NULL, 0);
    pl_envelope_destroy (&env);
    free (bad);
    free (bytes);
}
END_TEST

//  A header the publisher really signed, but that breaks the rules: decode
//  must refuse it even though the signature is good.
static uint8_t *
s_signed_envelope (Passerelle__EventHeader *h, size_t *out_size)
{
    uint8_t cipher [ABYTES] = { 0 }, nonce [NONCE_SIZE] = { 0 }, sealed [SEALED_SIZE] = { 0 };
    Passerelle__SealedKey key = PASSERELLE__SEALED_KEY__INIT, *keys [1] = { &key };
    key.recipient = (char *) s_ids [0];
    key.sealed.data = sealed;
    key.sealed.len = sizeof sealed;
    uint8_t hash [PL_HASH_SIZE];
    s_schema_payload_hash (nonce, sizeof nonce, cipher, sizeof cipher, keys, 1, hash);
    h->payload_hash.data = hash;
    h->payload_hash.len = sizeof hash;
    size_t header_size = passerelle__event_header__get_packed_size (h);
    uint8_t *header_bytes = malloc (header_size);
    passerelle__event_header__pack (h, header_bytes);
    uint8_t signature [PL_SIGNATURE_SIZE];
    pl_keys_sign (s_publisher, header_bytes, header_size, signature);
    Passerelle__Envelope env = PASSERELLE__ENVELOPE__INIT;
    env.header.data = header_bytes;
    env.header.len = header_size;
    env.signature.data = signature;
    env.signature.len = sizeof signature;
    env.nonce.data = nonce;
    env.nonce.len = sizeof nonce;
    env.ciphertext.data = cipher;
    env.ciphertext.len = sizeof cipher;
    env.keys = keys;
    env.n_keys = 1;
    *out_size = passerelle__envelope__get_packed_size (&env);
    uint8_t *out = malloc (*out_size);
    passerelle__envelope__pack (&env, out);
    free (header_bytes);
    h->payload_hash.data = NULL;
    h->payload_hash.len = 0;
    return out;
}

START_TEST (decode_checks_the_header_even_when_the_signature_is_good)
{
    header_t x;
    size_t size;
    uint8_t *bytes;

    //  The control: the same construction with a valid header decodes
    s_header_complete (&x);
    bytes = s_signed_envelope (&x.h, &size);
    pl_envelope_t *env = s_decode_ok (bytes, size);
    ck_assert_int_eq (pl_envelope_verify (env, pl_keys_public (s_publisher)), PL_OK);
    pl_envelope_destroy (&env);
    free (bytes);

    s_header_complete (&x);
    x.h.version = 2;
    bytes = s_signed_envelope (&x.h, &size);
    s_assert_decode_fails (bytes, size, PL_ERR_BAD_VERSION, "version");
    free (bytes);

    s_header_complete (&x);
    x.categories [1] = "shoe_size";
    bytes = s_signed_envelope (&x.h, &size);
    s_assert_decode_fails (bytes, size, PL_ERR_BAD_FIELD, "categories");
    free (bytes);

    s_header_complete (&x);
    x.h.case_ref = "Jane Doe";
    bytes = s_signed_envelope (&x.h, &size);
    s_assert_decode_fails (bytes, size, PL_ERR_BAD_FIELD, "case_ref");
    free (bytes);

    //  The rules added with the key commitment hold at decode too
    s_header_complete (&x);
    x.h.key_commitment.len = 0;
    bytes = s_signed_envelope (&x.h, &size);
    s_assert_decode_fails (bytes, size, PL_ERR_BAD_FIELD, "key_commitment");
    free (bytes);

    s_header_complete (&x);
    x.to_agencies [2] = x.to_agencies [0];
    bytes = s_signed_envelope (&x.h, &size);
    s_assert_decode_fails (bytes, size, PL_ERR_BAD_FIELD, "to_agencies");
    free (bytes);

    s_header_complete (&x);
    x.h.justification = NULL;
    bytes = s_signed_envelope (&x.h, &size);
    s_assert_decode_fails (bytes, size, PL_ERR_BAD_FIELD, "justification");
    free (bytes);
}
END_TEST

//  --------------------------------------------------------------------------
//  pl_header_check, one rule at a time

static void
s_assert_check (const Passerelle__EventHeader *h, pl_err_t expected, const char *field)
{
    char why [512] = "";
    pl_err_t err = pl_header_check (h, why, sizeof why);
    ck_assert_msg (err == expected, "check: '%s' (%s), expected '%s' for %s", pl_err_str (err),
                   why, pl_err_str (expected), field? field: "a valid header");
    if (field)
        ck_assert_msg (strstr (why, field) != NULL, "why '%s' does not name '%s'", why, field);
}

//  Same, but why must begin with the field's name: for rules whose field
//  name is part of other fields' names (consent_id, consent).
static void
s_assert_check_leads (const Passerelle__EventHeader *h, pl_err_t expected, const char *field)
{
    char why [512] = "";
    pl_err_t err = pl_header_check (h, why, sizeof why);
    ck_assert_msg (err == expected, "check: '%s' (%s), expected '%s' for %s", pl_err_str (err),
                   why, pl_err_str (expected), field);
    ck_assert_msg (strncmp (why, field, strlen (field)) == 0, "why '%s' does not begin with '%s'",
                   why, field);
}

START_TEST (a_complete_header_passes_the_check)
{
    header_t x;
    s_header_complete (&x);
    s_assert_check (&x.h, PL_OK, NULL);
    s_add_consent (&x);
    s_assert_check (&x.h, PL_OK, NULL);
    //  And why may be NULL
    x.h.version = 9;
    ck_assert_int_eq (pl_header_check (&x.h, NULL, 0), PL_ERR_BAD_VERSION);
}
END_TEST

START_TEST (a_header_of_another_version_is_refused)
{
    header_t x;
    const uint32_t versions [] = { 0, 2, 0xffffffffu };
    for (size_t i = 0; i < 3; i++) {
        s_header_complete (&x);
        x.h.version = versions [i];
        s_assert_check (&x.h, PL_ERR_BAD_VERSION, "version");
    }
}
END_TEST

START_TEST (an_event_id_of_the_wrong_length_is_refused)
{
    header_t x;
    const size_t lengths [] = { 0, 1, PL_EVENT_ID_SIZE - 1, PL_EVENT_ID_SIZE + 1 };
    for (size_t i = 0; i < 4; i++) {
        s_header_complete (&x);
        x.h.event_id.len = lengths [i];
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "event_id");
    }
}
END_TEST

START_TEST (a_case_ref_that_is_empty_too_long_or_has_other_characters_is_refused)
{
    header_t x;
    char longest [PL_MAX_CASE_REF + 2];
    memset (longest, '7', sizeof longest);
    longest [PL_MAX_CASE_REF] = 0;
    s_header_complete (&x);
    x.h.case_ref = longest;
    s_assert_check (&x.h, PL_OK, NULL);
    longest [PL_MAX_CASE_REF] = '7';
    longest [PL_MAX_CASE_REF + 1] = 0;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "case_ref");

    const char *bad [] = { "", "Jane Doe", "case#1", "case\n1", "caf\xc3\xa9", "a,b", "x=y",
                           "<script>", "case\\1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_header_complete (&x);
        x.h.case_ref = (char *) bad [i];
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "case_ref");
    }
    s_header_complete (&x);
    x.h.case_ref = NULL;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "case_ref");
    //  Every allowed character class together is fine
    s_header_complete (&x);
    x.h.case_ref = "Az09_.-:/";
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

START_TEST (an_invalid_publisher_sequence_or_creation_time_is_refused)
{
    header_t x;
    s_header_complete (&x);
    x.h.publisher = "";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "publisher");
    x.h.publisher = "Police A";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "publisher");
    s_header_complete (&x);
    x.h.sequence = 0;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "sequence");
    s_header_complete (&x);
    x.h.created_at_ms = 0;
    x.h.valid_until_ms = 0;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "created_at_ms");
}
END_TEST

START_TEST (valid_until_before_created_at_is_refused)
{
    header_t x;
    s_header_complete (&x);
    x.h.valid_until_ms = x.h.created_at_ms - 1;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "valid_until_ms");
    x.h.valid_until_ms = x.h.created_at_ms;
    s_assert_check (&x.h, PL_OK, NULL);
    x.h.valid_until_ms = 0;                 //  no expiry
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

START_TEST (unknown_or_missing_vocabulary_is_refused_naming_the_field)
{
    header_t x;
    struct { char **field; const char *name; bool required; } fields [] = {
        { &x.h.event_type, "event_type", true },
        { &x.h.purpose, "purpose", true },
        { &x.h.legal_basis, "legal_basis", true },
        { &x.h.risk_level, "risk_level", false },
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++) {
        s_header_complete (&x);
        *fields [i].field = "no_such_name";
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, fields [i].name);
        ck_assert_str_eq (*fields [i].field, "no_such_name");
        //  A name of another kind is just as unknown
        *fields [i].field = "police";
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, fields [i].name);
        *fields [i].field = "";
        s_assert_check (&x.h, fields [i].required? PL_ERR_BAD_FIELD: PL_OK,
                        fields [i].required? fields [i].name: NULL);
    }
}
END_TEST

START_TEST (categories_must_be_known_distinct_present_and_at_most_all)
{
    header_t x;
    s_header_complete (&x);
    x.h.n_categories = 0;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "categories");

    s_header_complete (&x);
    x.categories [1] = "shoe_size";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "categories");

    s_header_complete (&x);
    x.categories [1] = "case_summary";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "categories");
    char why [256];
    pl_header_check (&x.h, why, sizeof why);
    ck_assert_ptr_nonnull (strstr (why, "twice"));

    //  All twelve are fine; a thirteenth (necessarily a repeat) is over
    s_header_complete (&x);
    for (int i = 0; i < PL_CAT_COUNT; i++)
        x.categories [i] = (char *) pl_vocab_name (PL_KIND_CATEGORY, i);
    x.h.n_categories = PL_CAT_COUNT;
    s_assert_check (&x.h, PL_OK, NULL);
    x.categories [PL_CAT_COUNT] = "identity";
    x.h.n_categories = PL_CAT_COUNT + 1;
    s_assert_check (&x.h, PL_ERR_OVERSIZED, "categories");
}
END_TEST

START_TEST (to_roles_must_be_known_and_distinct)
{
    header_t x;
    s_header_complete (&x);
    x.to_roles [0] = "plumber";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "to_roles");
    s_header_complete (&x);
    x.to_roles [1] = x.to_roles [0];
    x.h.n_to_roles = 2;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "to_roles");
    s_header_complete (&x);
    for (int i = 0; i <= PL_ROLE_COUNT; i++)
        x.to_roles [i] = (char *) pl_vocab_name (PL_KIND_ROLE, i % PL_ROLE_COUNT);
    x.h.n_to_roles = PL_ROLE_COUNT;
    s_assert_check (&x.h, PL_OK, NULL);
    x.h.n_to_roles = PL_ROLE_COUNT + 1;
    s_assert_check (&x.h, PL_ERR_OVERSIZED, "to_roles");
}
END_TEST

START_TEST (to_agencies_must_be_valid_ids_and_at_most_the_maximum)
{
    header_t x;
    static char ids [PL_MAX_RECIPIENTS + 1][16];
    s_header_complete (&x);
    for (int i = 0; i <= PL_MAX_RECIPIENTS; i++) {
        snprintf (ids [i], sizeof ids [i], "ag-%d", i);
        x.to_agencies [i] = ids [i];
    }
    x.h.n_to_agencies = PL_MAX_RECIPIENTS;
    s_assert_check (&x.h, PL_OK, NULL);
    x.h.n_to_agencies = PL_MAX_RECIPIENTS + 1;
    s_assert_check (&x.h, PL_ERR_OVERSIZED, "to_agencies");

    s_header_complete (&x);
    x.to_agencies [1] = "Health C";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "to_agencies");
    x.to_agencies [1] = "";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "to_agencies");
}
END_TEST

START_TEST (to_agencies_listed_twice_are_refused)
{
    header_t x;
    char why [256] = "";
    s_header_complete (&x);
    x.to_agencies [2] = x.to_agencies [0];
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "to_agencies");
    pl_header_check (&x.h, why, sizeof why);
    ck_assert_ptr_nonnull (strstr (why, "twice"));
    ck_assert_ptr_nonnull (strstr (why, s_ids [0]));
    //  Equal strings at different addresses, adjacent
    s_header_complete (&x);
    char copy [16];
    snprintf (copy, sizeof copy, "%s", s_ids [1]);
    x.to_agencies [2] = copy;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "to_agencies");
    x.to_agencies [2] = x.to_agencies [1];
    x.to_agencies [1] = copy;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "to_agencies");
    //  A prefix of another id is another id
    s_header_complete (&x);
    x.to_agencies [2] = "social-b2";
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

START_TEST (a_header_without_any_recipient_is_refused)
{
    header_t x;
    s_header_complete (&x);
    x.h.n_to_agencies = 0;
    x.h.n_to_roles = 0;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "recipient");
    //  Either kind alone is enough
    x.h.n_to_roles = 1;
    s_assert_check (&x.h, PL_OK, NULL);
    x.h.n_to_roles = 0;
    x.h.n_to_agencies = 1;
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

START_TEST (a_correction_must_name_the_event_it_supersedes)
{
    header_t x;
    s_header_complete (&x);
    x.h.event_type = "correction";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "supersedes");
    randombytes_buf (x.supersedes, PL_EVENT_ID_SIZE);
    x.h.supersedes.data = x.supersedes;
    x.h.supersedes.len = PL_EVENT_ID_SIZE;
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

START_TEST (supersedes_of_the_wrong_length_is_refused)
{
    header_t x;
    const size_t lengths [] = { 1, PL_EVENT_ID_SIZE - 1, PL_EVENT_ID_SIZE + 1 };
    for (size_t i = 0; i < 3; i++) {
        s_header_complete (&x);
        x.h.event_type = i == 0? "correction": "case_update";
        x.h.supersedes.data = x.supersedes;
        x.h.supersedes.len = lengths [i];
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "supersedes");
    }
}
END_TEST

START_TEST (a_payload_hash_of_the_wrong_length_is_refused)
{
    header_t x;
    const size_t lengths [] = { 0, PL_HASH_SIZE - 1 };
    for (size_t i = 0; i < 2; i++) {
        s_header_complete (&x);
        x.h.payload_hash.len = lengths [i];
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "payload_hash");
    }
}
END_TEST

START_TEST (a_key_commitment_missing_or_of_the_wrong_length_is_refused)
{
    header_t x;
    //  Only the length is inspected: the data is never read past it
    const size_t lengths [] = { 0, 1, PL_HASH_SIZE - 1, PL_HASH_SIZE + 1 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths [0]; i++) {
        s_header_complete (&x);
        x.h.key_commitment.len = lengths [i];
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "key_commitment");
    }
    s_header_complete (&x);
    x.h.key_commitment.data = NULL;
    x.h.key_commitment.len = 0;
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "key_commitment");
    //  Any 32 bytes pass the check: only open can tell a wrong commitment
    memset (x.key_commitment, 0, sizeof x.key_commitment);
    x.h.key_commitment.data = x.key_commitment;
    x.h.key_commitment.len = PL_HASH_SIZE;
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

START_TEST (basis_consent_needs_a_consent_id)
{
    header_t x;
    //  Not a consent event: only the basis is consent
    s_header_complete (&x);
    x.h.legal_basis = "consent";
    x.h.justification = NULL;
    x.h.consent_id = NULL;
    s_assert_check_leads (&x.h, PL_ERR_BAD_FIELD, "consent_id");
    x.h.consent_id = "";
    s_assert_check_leads (&x.h, PL_ERR_BAD_FIELD, "consent_id");
    x.h.consent_id = "consent:police-a/17";
    s_assert_check (&x.h, PL_OK, NULL);
    //  A justification does not stand in for the consent's id
    x.h.justification = "she agreed on the phone";
    x.h.consent_id = NULL;
    s_assert_check_leads (&x.h, PL_ERR_BAD_FIELD, "consent_id");
}
END_TEST

START_TEST (every_other_basis_needs_a_justification)
{
    header_t x;
    int others = 0;
    for (int basis = 0; basis < PL_BASIS_COUNT; basis++) {
        if (basis == PL_BASIS_CONSENT)
            continue;
        others++;
        s_header_complete (&x);
        x.h.legal_basis = (char *) pl_vocab_name (PL_KIND_BASIS, basis);
        ck_assert_ptr_nonnull (x.h.legal_basis);
        s_assert_check (&x.h, PL_OK, NULL);
        x.h.justification = NULL;
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "justification");
        x.h.justification = "";
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "justification");
        //  A consent id does not stand in for a justification
        x.h.consent_id = "consent:police-a/17";
        s_assert_check (&x.h, PL_ERR_BAD_FIELD, "justification");
        char why [256] = "";
        pl_header_check (&x.h, why, sizeof why);
        ck_assert_msg (strstr (why, x.h.legal_basis) != NULL, "why '%s' does not name '%s'",
                       why, x.h.legal_basis);
    }
    ck_assert_int_eq (others, PL_BASIS_COUNT - 1);
}
END_TEST

START_TEST (consent_events_must_carry_the_consent_scope)
{
    header_t x;
    const char *types [] = { "consent_given", "consent_withdrawn" };
    for (size_t i = 0; i < 2; i++) {
        s_header_complete (&x);
        s_add_consent (&x);
        x.h.event_type = (char *) types [i];
        s_assert_check (&x.h, PL_OK, NULL);
        x.h.consent = NULL;
        s_assert_check_leads (&x.h, PL_ERR_BAD_FIELD, "consent:");
        char why [256] = "";
        pl_header_check (&x.h, why, sizeof why);
        ck_assert_ptr_nonnull (strstr (why, types [i]));
    }
    //  Another event type under consent needs no scope
    s_header_complete (&x);
    s_add_consent (&x);
    x.h.event_type = "referral";
    x.h.consent = NULL;
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

START_TEST (texts_over_their_limits_are_oversized)
{
    header_t x;
    char text [PL_MAX_TEXT + 2];
    memset (text, 'j', sizeof text);
    text [PL_MAX_TEXT] = 0;
    s_header_complete (&x);
    x.h.justification = text;
    s_assert_check (&x.h, PL_OK, NULL);
    text [PL_MAX_TEXT] = 'j';
    text [PL_MAX_TEXT + 1] = 0;
    s_assert_check (&x.h, PL_ERR_OVERSIZED, "justification");

    char id [PL_MAX_CASE_REF + 2];
    memset (id, 'c', sizeof id);
    id [PL_MAX_CASE_REF] = 0;
    s_header_complete (&x);
    x.h.consent_id = id;
    s_assert_check (&x.h, PL_OK, NULL);
    id [PL_MAX_CASE_REF] = 'c';
    id [PL_MAX_CASE_REF + 1] = 0;
    s_assert_check (&x.h, PL_ERR_OVERSIZED, "consent_id");
}
END_TEST

START_TEST (consent_scope_errors_are_refused_naming_the_field)
{
    header_t x;
    char long_text [PL_MAX_TEXT + 2];
    memset (long_text, 'e', sizeof long_text);
    long_text [PL_MAX_TEXT + 1] = 0;

    s_header_complete (&x); s_add_consent (&x);
    x.consent.consent_id = "";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.consent_id");
    x.consent.consent_id = "Jane's consent";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.consent_id");

    s_header_complete (&x); s_add_consent (&x);
    x.consent.subject = "";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.subject");
    x.consent.subject = "neighbour";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.subject");

    s_header_complete (&x); s_add_consent (&x);
    x.consent_categories [1] = "shoe_size";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.categories");
    x.consent_categories [1] = "identity";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.categories");

    s_header_complete (&x); s_add_consent (&x);
    x.consent_roles [0] = "neighbour";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.recipient_roles");

    s_header_complete (&x); s_add_consent (&x);
    x.consent_purposes [0] = "marketing";
    s_assert_check (&x.h, PL_ERR_BAD_FIELD, "consent.purposes");

    s_header_complete (&x); s_add_consent (&x);
    x.consent.evidence_ref = long_text;
    s_assert_check (&x.h, PL_ERR_OVERSIZED, "consent.evidence_ref");
    long_text [PL_MAX_TEXT] = 0;
    s_assert_check (&x.h, PL_OK, NULL);
}
END_TEST

//  --------------------------------------------------------------------------
//  Decode: bounds and hostile bytes

START_TEST (an_envelope_over_the_size_limit_is_oversized)
{
    uint8_t *big = calloc (1, PL_MAX_ENVELOPE + 1);
    ck_assert_ptr_nonnull (big);
    s_assert_decode_fails (big, PL_MAX_ENVELOPE + 1, PL_ERR_OVERSIZED, "envelope");
    free (big);
}
END_TEST

//  Runs from_wire on a copy of a good envelope changed by change().
static void
s_assert_wire_fails (void (*change) (Passerelle__Envelope *), pl_err_t expected)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, bytes);
    ck_assert_ptr_nonnull (wire);
    Passerelle__Envelope copy = *wire;
    change (&copy);
    pl_err_t err = PL_OK;
    char why [256] = "";
    pl_envelope_t *env = pl_envelope_from_wire (&copy, &err, why, sizeof why);
    ck_assert_msg (env == NULL, "accepted, expected %s", pl_err_str (expected));
    ck_assert_msg (err == expected, "'%s' (%s), expected '%s'", pl_err_str (err), why,
                   pl_err_str (expected));
    ck_assert_int_gt (strlen (why), 0);
    passerelle__envelope__free_unpacked (wire, NULL);
    free (bytes);
}

static uint8_t s_big [PL_MAX_PAYLOAD + ABYTES + 1];
static Passerelle__SealedKey *s_many_keys [PL_MAX_RECIPIENTS + 1];
static Passerelle__SealedKey s_odd_key;

static void s_no_header (Passerelle__Envelope *w) { w->header.len = 0; }
static void s_big_header (Passerelle__Envelope *w)
{ w->header.data = s_big; w->header.len = PL_MAX_HEADER + 1; }
static void s_short_signature (Passerelle__Envelope *w) { w->signature.len--; }
static void s_short_nonce (Passerelle__Envelope *w) { w->nonce.len--; }
static void s_tiny_ciphertext (Passerelle__Envelope *w) { w->ciphertext.len = ABYTES - 1; }
static void s_big_ciphertext (Passerelle__Envelope *w)
{ w->ciphertext.data = s_big; w->ciphertext.len = PL_MAX_PAYLOAD + ABYTES + 1; }
static void s_no_keys (Passerelle__Envelope *w) { w->n_keys = 0; }
static void s_too_many_keys (Passerelle__Envelope *w)
{
    for (int i = 0; i <= PL_MAX_RECIPIENTS; i++)
        s_many_keys [i] = w->keys [i % w->n_keys];
    w->keys = s_many_keys;
    w->n_keys = PL_MAX_RECIPIENTS + 1;
}
static void s_short_sealed_key (Passerelle__Envelope *w)
{
    s_odd_key = *w->keys [0];
    s_odd_key.sealed.len--;
    s_many_keys [0] = &s_odd_key;
    w->keys = s_many_keys;
    w->n_keys = 1;
}
static void s_bad_recipient_id (Passerelle__Envelope *w)
{
    s_odd_key = *w->keys [0];
    s_odd_key.recipient = "Social B";
    s_many_keys [0] = &s_odd_key;
    w->keys = s_many_keys;
    w->n_keys = 1;
}

START_TEST (every_wire_length_limit_is_enforced_by_decode)
{
    s_assert_wire_fails (s_no_header, PL_ERR_MALFORMED);
    s_assert_wire_fails (s_big_header, PL_ERR_OVERSIZED);
    s_assert_wire_fails (s_short_signature, PL_ERR_MALFORMED);
    s_assert_wire_fails (s_short_nonce, PL_ERR_MALFORMED);
    s_assert_wire_fails (s_tiny_ciphertext, PL_ERR_MALFORMED);
    s_assert_wire_fails (s_big_ciphertext, PL_ERR_OVERSIZED);
    s_assert_wire_fails (s_no_keys, PL_ERR_MALFORMED);
    s_assert_wire_fails (s_too_many_keys, PL_ERR_OVERSIZED);
    s_assert_wire_fails (s_short_sealed_key, PL_ERR_MALFORMED);
    s_assert_wire_fails (s_bad_recipient_id, PL_ERR_MALFORMED);
    pl_err_t err = PL_OK;
    ck_assert_ptr_null (pl_envelope_from_wire (NULL, &err, NULL, 0));
    ck_assert_int_eq (err, PL_ERR_MALFORMED);
}
END_TEST

START_TEST (random_bytes_never_decode)
{
    uint8_t seed [randombytes_SEEDBYTES] = "passerelle test: random bytes";
    static uint8_t buf [4096];
    for (int round = 0; round < 2000; round++) {
        size_t size = (size_t) round * 2 % sizeof buf;
        seed [0] = (uint8_t) round;
        seed [1] = (uint8_t) (round >> 8);
        randombytes_buf_deterministic (buf, size, seed);
        pl_err_t err = PL_OK;
        char why [256] = "";
        pl_envelope_t *env = pl_envelope_decode (buf, size, &err, why, sizeof why);
        ck_assert_msg (env == NULL, "round %d decoded", round);
        ck_assert_int_ne (err, PL_OK);
        ck_assert_int_lt (err, PL_ERR_COUNT);
    }
}
END_TEST

static void
s_random_header (Passerelle__Envelope *wire, void *arg)
{
    wire->header.data = arg;
    wire->header.len = 1 + ((uint8_t *) arg) [0] % 200;
}

START_TEST (random_header_bytes_in_a_well_formed_envelope_never_decode)
{
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, bytes);
    uint8_t *own = wire->header.data;
    size_t own_len = wire->header.len;
    uint8_t seed [randombytes_SEEDBYTES] = "passerelle test: random header";
    for (int round = 0; round < 1000; round++) {
        uint8_t header [256];
        seed [0] = (uint8_t) round;
        seed [1] = (uint8_t) (round >> 8);
        randombytes_buf_deterministic (header, sizeof header, seed);
        s_random_header (wire, header);
        size_t bad_size = passerelle__envelope__get_packed_size (wire);
        uint8_t *bad = malloc (bad_size);
        passerelle__envelope__pack (wire, bad);
        pl_err_t err = PL_OK;
        pl_envelope_t *env = pl_envelope_decode (bad, bad_size, &err, NULL, 0);
        ck_assert_msg (env == NULL, "round %d decoded", round);
        ck_assert (err == PL_ERR_MALFORMED || err == PL_ERR_BAD_FIELD
                || err == PL_ERR_BAD_VERSION || err == PL_ERR_OVERSIZED);
        free (bad);
    }
    wire->header.data = own;
    wire->header.len = own_len;
    passerelle__envelope__free_unpacked (wire, NULL);
    free (bytes);
}
END_TEST

START_TEST (every_truncation_of_an_envelope_fails_to_decode)
{
    //  One recipient: the keys are the last field, so any cut loses either
    //  part of a field or the only key.
    header_t x;
    s_header_for_seal (&x);
    uint8_t *bytes = NULL;
    size_t size = 0;
    ck_assert_int_eq (pl_envelope_seal (s_publisher, &x.h, s_payload, sizeof s_payload, s_to, 1,
                                        &bytes, &size, NULL, 0), PL_OK);
    for (size_t cut = 0; cut < size; cut++) {
        uint8_t *copy = malloc (cut? cut: 1);       //  exact size, for ASan
        memcpy (copy, bytes, cut);
        pl_err_t err = PL_OK;
        char why [256] = "";
        pl_envelope_t *env = pl_envelope_decode (copy, cut, &err, why, sizeof why);
        ck_assert_msg (env == NULL, "%zu of %zu bytes decoded", cut, size);
        ck_assert_int_ne (err, PL_OK);
        ck_assert_int_gt (strlen (why), 0);
        free (copy);
    }
    free (bytes);
}
END_TEST

START_TEST (no_single_byte_change_opens_at_all)
{
    //  The header is signed and everything else is under its payload_hash,
    //  so every byte matters: a change either no longer decodes, or every
    //  recipient is refused (and never handed anything but the payload).
    size_t size;
    uint8_t *bytes = s_seal (s_payload, sizeof s_payload, &size);
    size_t undecodable = 0, refused = 0;
    for (size_t at = 0; at < size; at++) {
        uint8_t *copy = malloc (size);
        memcpy (copy, bytes, size);
        copy [at] ^= 0x01;
        pl_err_t err = PL_OK;
        pl_envelope_t *env = pl_envelope_decode (copy, size, &err, NULL, 0);
        if (env) {
            for (int i = 0; i < RECIPIENTS; i++) {
                uint8_t *plain = NULL;
                size_t plain_size = 0;
                err = pl_envelope_open (env, s_recipient [i], pl_keys_public (s_publisher),
                                        NULL, &plain, &plain_size);
                if (err == PL_OK) {
                    ck_assert_uint_eq (plain_size, sizeof s_payload);
                    ck_assert_mem_eq (plain, s_payload, sizeof s_payload);
                    free (plain);
                    ck_abort_msg ("byte %zu of %zu changed, %s still opens", at, size, s_ids [i]);
                }
                ck_assert_ptr_null (plain);
                //  Caught by the signature or the hash, before any key is used
                ck_assert_msg (err == PL_ERR_BAD_SIGNATURE || err == PL_ERR_PAYLOAD_HASH,
                               "byte %zu: %s", at, pl_err_str (err));
            }
            refused++;
            pl_envelope_destroy (&env);
        }
        else {
            ck_assert_int_ne (err, PL_OK);
            undecodable++;
        }
        free (copy);
    }
    ck_assert_uint_eq (undecodable + refused, size);
    //  Most changes are to content (signature, nonce, ciphertext, keys) and
    //  still decode: the verify path is what is being tested here
    ck_assert_uint_gt (refused, size / 2);
    free (bytes);
}
END_TEST

//  --------------------------------------------------------------------------
//  Small helpers

START_TEST (an_event_id_round_trips_through_hex)
{
    for (int round = 0; round < 100; round++) {
        uint8_t id [PL_EVENT_ID_SIZE], back [PL_EVENT_ID_SIZE];
        char hex [PL_EVENT_ID_SIZE * 2 + 1];
        randombytes_buf (id, sizeof id);
        ck_assert_ptr_eq (pl_event_id_hex (id, hex), hex);
        ck_assert_int_eq (strlen (hex), PL_EVENT_ID_SIZE * 2);
        ck_assert_uint_eq (strspn (hex, "0123456789abcdef"), PL_EVENT_ID_SIZE * 2);
        ck_assert_int_eq (pl_event_id_from_hex (hex, back), 0);
        ck_assert_mem_eq (back, id, sizeof id);
    }
    uint8_t id [PL_EVENT_ID_SIZE] = { 0x00, 0x01, 0xfe, 0xff };
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    ck_assert_str_eq (pl_event_id_hex (id, hex), "0001feff000000000000000000000000");
}
END_TEST

START_TEST (event_id_hex_of_the_wrong_length_or_alphabet_is_refused)
{
    uint8_t id [PL_EVENT_ID_SIZE];
    ck_assert_int_eq (pl_event_id_from_hex ("0001feff00000000000000000000000", id), -1);
    ck_assert_int_eq (pl_event_id_from_hex ("0001feff0000000000000000000000000", id), -1);
    ck_assert_int_eq (pl_event_id_from_hex ("0001feff00000000000000000000000g", id), -1);
    ck_assert_int_eq (pl_event_id_from_hex ("0001feff00000000 000000000000000", id), -1);
    ck_assert_int_eq (pl_event_id_from_hex ("", id), -1);
    ck_assert_int_eq (pl_event_id_from_hex (NULL, id), -1);
}
END_TEST

START_TEST (every_error_has_its_own_readable_name)
{
    for (int i = 0; i < PL_ERR_COUNT; i++) {
        ck_assert_ptr_nonnull (pl_err_str (i));
        ck_assert_int_gt (strlen (pl_err_str (i)), 1);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne (pl_err_str (i), pl_err_str (j));
    }
    //  The newest error is named for what it means
    ck_assert_int_eq (PL_ERR_KEY_MISMATCH + 2, PL_ERR_COUNT);
    ck_assert_ptr_nonnull (strstr (pl_err_str (PL_ERR_KEY_MISMATCH), "commit"));
    ck_assert_str_eq (pl_err_str (PL_ERR_COUNT), "unknown error");
    ck_assert_str_eq (pl_err_str ((pl_err_t) -1), "unknown error");
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("envelope");
    TCase *tc = tcase_create ("seal and open");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, every_recipient_opens_exactly_the_payload);
    tcase_add_test (tc, an_agency_not_sealed_for_cannot_open);
    tcase_add_test (tc, an_agency_with_a_listed_id_but_another_key_cannot_open);
    tcase_add_test (tc, an_empty_payload_round_trips);
    tcase_add_test (tc, a_payload_of_exactly_the_maximum_size_round_trips);
    tcase_add_test (tc, a_payload_one_byte_over_the_maximum_is_refused);
    tcase_add_test (tc, the_largest_legitimate_envelope_fits_the_envelope_limit);
    tcase_add_test (tc, seal_refuses_no_recipient_and_more_than_the_maximum);
    tcase_add_test (tc, seal_refuses_a_recipient_with_an_invalid_id_or_key);
    tcase_add_test (tc, seal_refuses_an_invalid_header_naming_the_field);
    tcase_add_test (tc, seal_refuses_a_caller_event_id_of_the_wrong_length_without_reading_past_it);
    tcase_add_test (tc, seal_keeps_a_given_event_id_and_makes_a_fresh_one_otherwise);
    tcase_add_test (tc, event_ids_lead_with_the_time_and_differ);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("tampering");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, the_wrong_publisher_key_fails_verify_and_open_as_bad_signature);
    tcase_add_test (tc, a_changed_case_ref_still_decodes_but_fails_as_bad_signature);
    tcase_add_test (tc, header_bytes_that_no_longer_parse_fail_decode_as_malformed);
    tcase_add_test (tc, a_header_changed_into_an_unknown_event_type_fails_decode_as_bad_field);
    tcase_add_test (tc, a_changed_signature_fails_as_bad_signature);
    tcase_add_test (tc, a_changed_ciphertext_fails_as_payload_hash);
    tcase_add_test (tc, sealed_keys_swapped_between_recipients_fail_verify_as_payload_hash);
    tcase_add_test (tc, an_altered_sealed_key_fails_verify_as_payload_hash);
    tcase_add_test (tc, a_sealed_key_replayed_from_another_event_fails_verify_as_payload_hash);
    tcase_add_test (tc, a_removed_sealed_key_fails_verify_as_payload_hash_for_every_recipient);
    tcase_add_test (tc, a_sealed_key_relabelled_for_another_agency_fails_verify_as_payload_hash);
    tcase_add_test (tc, sealed_keys_reordered_fail_verify_as_payload_hash);
    tcase_add_test (tc, a_sealed_key_added_in_transit_fails_verify_as_payload_hash);
    tcase_add_test (tc, a_changed_nonce_fails_verify_as_payload_hash);
    tcase_add_test (tc, a_payload_moved_under_another_signed_header_fails_as_payload_hash);
    tcase_add_test (tc, decode_checks_the_header_even_when_the_signature_is_good);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("dishonest publisher");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, a_publisher_who_gives_one_recipient_another_key_is_caught_as_key_mismatch);
    tcase_add_test (tc, a_ciphertext_valid_under_two_keys_opens_only_under_the_committed_one);
    tcase_add_test (tc, a_commitment_to_a_key_nobody_was_given_fails_every_open_as_key_mismatch);
    tcase_add_test (tc, a_payload_re_signed_under_another_event_id_fails_open_as_decrypt);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("header check");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, a_complete_header_passes_the_check);
    tcase_add_test (tc, a_header_of_another_version_is_refused);
    tcase_add_test (tc, an_event_id_of_the_wrong_length_is_refused);
    tcase_add_test (tc, a_case_ref_that_is_empty_too_long_or_has_other_characters_is_refused);
    tcase_add_test (tc, an_invalid_publisher_sequence_or_creation_time_is_refused);
    tcase_add_test (tc, valid_until_before_created_at_is_refused);
    tcase_add_test (tc, unknown_or_missing_vocabulary_is_refused_naming_the_field);
    tcase_add_test (tc, categories_must_be_known_distinct_present_and_at_most_all);
    tcase_add_test (tc, to_roles_must_be_known_and_distinct);
    tcase_add_test (tc, to_agencies_must_be_valid_ids_and_at_most_the_maximum);
    tcase_add_test (tc, to_agencies_listed_twice_are_refused);
    tcase_add_test (tc, a_header_without_any_recipient_is_refused);
    tcase_add_test (tc, a_correction_must_name_the_event_it_supersedes);
    tcase_add_test (tc, supersedes_of_the_wrong_length_is_refused);
    tcase_add_test (tc, a_payload_hash_of_the_wrong_length_is_refused);
    tcase_add_test (tc, a_key_commitment_missing_or_of_the_wrong_length_is_refused);
    tcase_add_test (tc, basis_consent_needs_a_consent_id);
    tcase_add_test (tc, every_other_basis_needs_a_justification);
    tcase_add_test (tc, consent_events_must_carry_the_consent_scope);
    tcase_add_test (tc, texts_over_their_limits_are_oversized);
    tcase_add_test (tc, consent_scope_errors_are_refused_naming_the_field);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("decode");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 300);
    tcase_add_test (tc, an_envelope_over_the_size_limit_is_oversized);
    tcase_add_test (tc, every_wire_length_limit_is_enforced_by_decode);
    tcase_add_test (tc, random_bytes_never_decode);
    tcase_add_test (tc, random_header_bytes_in_a_well_formed_envelope_never_decode);
    tcase_add_test (tc, every_truncation_of_an_envelope_fails_to_decode);
    tcase_add_test (tc, no_single_byte_change_opens_at_all);
    tcase_add_test (tc, an_event_id_round_trips_through_hex);
    tcase_add_test (tc, event_id_hex_of_the_wrong_length_or_alphabet_is_refused);
    tcase_add_test (tc, every_error_has_its_own_readable_name);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
