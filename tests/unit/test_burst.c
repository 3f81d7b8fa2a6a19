/*  test_burst: a publisher's one signature over a burst of events
 *  (proto/pl_burst, and pl_envelope_verify_seen / pl_envelope_open).
 *
 *  Covers: sign then verify for 1, 2, 3, 7, 8, 100 and 256 events: each
 *  envelope verifies and opens alone, with its header bytes, payload and
 *  sealed keys unchanged, its index and the count; verifiers that remember
 *  (pl_burst_seen_t) check one signature per burst, keep the newest 8, and
 *  are not fooled by what they remember: an altered header, proof hash,
 *  index, count or signature, another key for the same agency (even with
 *  the burst remembered under the old one), a burst signature
 *  without its proof (taken as over the header) and a header signature
 *  given a proof are all "bad signature"; a proof of the wrong shape
 *  (count 0 or 257, index past the count, a length not in hashes, over 8
 *  hashes) is refused at decode as malformed, naming the burst; sign
 *  refuses 0 and 257 envelopes, another publisher's envelope and bytes
 *  that do not decode, naming which, and leaves nothing behind.  */
#include <string.h>
#include <sodium.h>
#include "pl_test.h"
#include "pl_burst.h"
#include "pl_wire.h"

static pl_keys_t *s_police, *s_other_police, *s_programme;

static void
s_setup (void)
{
    ck_assert_int_ge (sodium_init (), 0);
    s_police = pl_keys_generate ("police-a");
    s_other_police = pl_keys_generate ("police-a");
    s_programme = pl_keys_generate ("programme-b");
    ck_assert_ptr_nonnull (s_police);
    ck_assert_ptr_nonnull (s_other_police);
    ck_assert_ptr_nonnull (s_programme);
}

static void
s_teardown (void)
{
    pl_keys_destroy (&s_police);
    pl_keys_destroy (&s_other_police);
    pl_keys_destroy (&s_programme);
}

//  Event number n of publisher's, sealed for programme-b, signed alone.
static uint8_t *
s_seal (pl_keys_t *publisher, unsigned n, size_t *size)
{
    Passerelle__EventHeader header = PASSERELLE__EVENT_HEADER__INIT;
    char *categories [] = { "case_summary" };
    char *to [] = { "programme-b" };
    header.case_ref = "case:2026/0042-x";
    header.event_type = "referral";
    header.sequence = n + 1;
    header.created_at_ms = pl_now_ms ();
    header.valid_until_ms = header.created_at_ms + 86400000ull;
    header.categories = categories;
    header.n_categories = 1;
    header.purpose = "risk_management";
    header.legal_basis = "legal_obligation";
    header.justification = "art. 6(1)(c)";
    header.to_agencies = to;
    header.n_to_agencies = 1;
    pl_recipient_t recipient = { "programme-b", pl_keys_public (s_programme) };
    char payload [64];
    int length = snprintf (payload, sizeof payload, "payload of event %u", n);
    uint8_t *bytes = NULL;
    char why [256] = "";
    pl_err_t err = pl_envelope_seal (publisher, &header, (const uint8_t *) payload,
                                     (size_t) length, &recipient, 1, &bytes, size, why,
                                     sizeof why);
    ck_assert_msg (err == PL_OK, "seal: %s", why);
    return bytes;
}

typedef struct {
    size_t count;
    uint8_t *alone [PL_BURST_MAX + 1];      //  signed one by one
    size_t alone_size [PL_BURST_MAX + 1];
    uint8_t *signed_ [PL_BURST_MAX + 1];    //  signed as one burst
    size_t signed_size [PL_BURST_MAX + 1];
} burst_t;

static void
s_burst_seal (burst_t *self, size_t count)
{
    memset (self, 0, sizeof *self);
    self->count = count;
    for (size_t i = 0; i < count; i++)
        self->alone [i] = s_seal (s_police, (unsigned) i, &self->alone_size [i]);
}

static void
s_burst_sign (burst_t *self)
{
    char why [256] = "";
    pl_err_t err = pl_burst_sign (s_police, (const uint8_t *const *) self->alone,
                                  self->alone_size, self->count, self->signed_,
                                  self->signed_size, why, sizeof why);
    ck_assert_msg (err == PL_OK, "sign %zu: %s: %s", self->count, pl_err_str (err), why);
}

static void
s_burst_free (burst_t *self)
{
    for (size_t i = 0; i <= PL_BURST_MAX; i++) {
        free (self->alone [i]);
        free (self->signed_ [i]);
    }
    memset (self, 0, sizeof *self);
}

static pl_envelope_t *
s_decode (const uint8_t *bytes, size_t size)
{
    pl_err_t err;
    char why [256] = "";
    pl_envelope_t *envelope = pl_envelope_decode (bytes, size, &err, why, sizeof why);
    ck_assert_msg (envelope != NULL, "decode: %s", why);
    return envelope;
}

//  Verify bytes as police-a's (or as key's), remembering in seen.
static pl_err_t
s_verify_with (const uint8_t *bytes, size_t size, pl_keys_t *key, pl_burst_seen_t *seen)
{
    pl_envelope_t *envelope = s_decode (bytes, size);
    pl_err_t err = pl_envelope_verify_seen (envelope, pl_keys_public (key), seen);
    pl_envelope_destroy (&envelope);
    return err;
}

//  Unpack, let change() alter the envelope, pack again: the altered bytes.
typedef void (change_fn) (Passerelle__Envelope *wire);

static uint8_t *
s_altered (const uint8_t *bytes, size_t size, change_fn *change, size_t *out_size)
{
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, bytes);
    ck_assert_ptr_nonnull (wire);
    change (wire);
    *out_size = passerelle__envelope__get_packed_size (wire);
    uint8_t *out = malloc (*out_size);
    ck_assert_ptr_nonnull (out);
    passerelle__envelope__pack (wire, out);
    passerelle__envelope__free_unpacked (wire, NULL);
    return out;
}

START_TEST (every_event_of_a_signed_burst_verifies_and_opens_alone)
{
    static const size_t counts [] = { 1, 2, 3, 7, 8, 100, PL_BURST_MAX };
    for (size_t c = 0; c < sizeof counts / sizeof counts [0]; c++) {
        burst_t burst;
        s_burst_seal (&burst, counts [c]);
        s_burst_sign (&burst);
        uint8_t first_signature [PL_SIGNATURE_SIZE];
        for (size_t i = 0; i < burst.count; i++) {
            Passerelle__Envelope *before = passerelle__envelope__unpack (
                NULL, burst.alone_size [i], burst.alone [i]);
            Passerelle__Envelope *after = passerelle__envelope__unpack (
                NULL, burst.signed_size [i], burst.signed_ [i]);
            ck_assert_ptr_nonnull (before);
            ck_assert_ptr_nonnull (after);
            //  What was signed is unchanged; only the signature and the proof are new
            ck_assert_mem_eq (after->header.data, before->header.data, before->header.len);
            ck_assert_uint_eq (after->header.len, before->header.len);
            ck_assert_mem_eq (after->ciphertext.data, before->ciphertext.data,
                              before->ciphertext.len);
            ck_assert_mem_eq (after->keys [0]->sealed.data, before->keys [0]->sealed.data,
                              before->keys [0]->sealed.len);
            ck_assert_ptr_null (before->burst);
            ck_assert_ptr_nonnull (after->burst);
            ck_assert_uint_eq (after->burst->index, i);
            ck_assert_uint_eq (after->burst->count, burst.count);
            if (i == 0)
                memcpy (first_signature, after->signature.data, PL_SIGNATURE_SIZE);
            ck_assert_mem_eq (after->signature.data, first_signature, PL_SIGNATURE_SIZE);
            ck_assert_mem_ne (after->signature.data, before->signature.data, PL_SIGNATURE_SIZE);
            passerelle__envelope__free_unpacked (before, NULL);
            passerelle__envelope__free_unpacked (after, NULL);

            //  Alone: no memory of the burst
            ck_assert_int_eq (s_verify_with (burst.signed_ [i], burst.signed_size [i], s_police,
                                             NULL), PL_OK);
            pl_envelope_t *envelope = s_decode (burst.signed_ [i], burst.signed_size [i]);
            uint8_t *plain = NULL;
            size_t plain_size = 0;
            ck_assert_int_eq (pl_envelope_open (envelope, s_programme, pl_keys_public (s_police),
                                                NULL, &plain, &plain_size), PL_OK);
            char expected [64];
            int length = snprintf (expected, sizeof expected, "payload of event %zu", i);
            ck_assert_uint_eq (plain_size, (size_t) length);
            ck_assert_mem_eq (plain, expected, plain_size);
            free (plain);
            pl_envelope_destroy (&envelope);
        }
        s_burst_free (&burst);
    }
}
END_TEST

START_TEST (a_verifier_that_remembers_checks_one_signature_per_burst)
{
    burst_t one, two;
    s_burst_seal (&one, 8);
    s_burst_sign (&one);
    s_burst_seal (&two, 5);
    s_burst_sign (&two);
    pl_burst_seen_t seen;
    memset (&seen, 0, sizeof seen);
    //  A signature is remembered only once checked: one entry per burst
    for (size_t i = 0; i < one.count; i++)
        ck_assert_int_eq (s_verify_with (one.signed_ [i], one.signed_size [i], s_police, &seen),
                          PL_OK);
    ck_assert_uint_eq (seen.used, 1);
    for (size_t i = 0; i < two.count; i++)
        ck_assert_int_eq (s_verify_with (two.signed_ [i], two.signed_size [i], s_police, &seen),
                          PL_OK);
    ck_assert_uint_eq (seen.used, 2);
    //  Events signed alone are not bursts: nothing to remember
    ck_assert_int_eq (s_verify_with (one.alone [0], one.alone_size [0], s_police, &seen), PL_OK);
    ck_assert_uint_eq (seen.used, 2);
    s_burst_free (&one);
    s_burst_free (&two);

    //  Only the newest PL_BURST_SEEN_SIZE are kept: the first of ten is
    //  checked again (a new entry), the last is not (no new entry)
    burst_t more [PL_BURST_SEEN_SIZE + 2];
    for (int b = 0; b < PL_BURST_SEEN_SIZE + 2; b++) {
        s_burst_seal (&more [b], 2);
        s_burst_sign (&more [b]);
        ck_assert_int_eq (s_verify_with (more [b].signed_ [1], more [b].signed_size [1], s_police,
                                         &seen), PL_OK);
    }
    ck_assert_uint_eq (seen.used, PL_BURST_SEEN_SIZE);
    size_t next = seen.next;
    ck_assert_int_eq (s_verify_with (more [PL_BURST_SEEN_SIZE + 1].signed_ [0],
                                     more [PL_BURST_SEEN_SIZE + 1].signed_size [0], s_police,
                                     &seen), PL_OK);
    ck_assert_uint_eq (seen.next, next);
    ck_assert_int_eq (s_verify_with (more [0].signed_ [0], more [0].signed_size [0], s_police,
                                     &seen), PL_OK);
    ck_assert_uint_eq (seen.next, (next + 1) % PL_BURST_SEEN_SIZE);
    for (int b = 0; b < PL_BURST_SEEN_SIZE + 2; b++)
        s_burst_free (&more [b]);
}
END_TEST

//  The changes a forger might try on one event of a verified burst
static void s_change_header (Passerelle__Envelope *w) { w->header.data [w->header.len - 1] ^= 1; }
static void s_change_proof (Passerelle__Envelope *w) { w->burst->proof.data [5] ^= 1; }
static void s_change_index (Passerelle__Envelope *w) { w->burst->index ^= 1; }
static void s_change_count (Passerelle__Envelope *w) { w->burst->count++; }
static void s_change_count_down (Passerelle__Envelope *w) { w->burst->count--; }
static void s_change_signature (Passerelle__Envelope *w) { w->signature.data [9] ^= 1; }
static void s_drop_proof (Passerelle__Envelope *w)
{
    passerelle__burst_proof__free_unpacked (w->burst, NULL);
    w->burst = NULL;
}

START_TEST (nothing_remembered_lets_an_altered_event_through)
{
    static struct { const char *what; change_fn *change; } changes [] = {
        { "a header byte", s_change_header },
        { "a proof hash", s_change_proof },
        { "the index", s_change_index },
        { "the count, up", s_change_count },
        { "the count, down", s_change_count_down },
        { "the signature", s_change_signature },
        { "the proof dropped", s_drop_proof },
    };
    burst_t burst;
    s_burst_seal (&burst, 6);
    s_burst_sign (&burst);
    for (size_t c = 0; c < sizeof changes / sizeof changes [0]; c++) {
        //  The burst is verified and remembered first: the forgery comes second
        pl_burst_seen_t seen;
        memset (&seen, 0, sizeof seen);
        ck_assert_int_eq (s_verify_with (burst.signed_ [1], burst.signed_size [1], s_police,
                                         &seen), PL_OK);
        ck_assert_int_eq (s_verify_with (burst.signed_ [2], burst.signed_size [2], s_police,
                                         &seen), PL_OK);
        size_t size = 0;
        uint8_t *forged = s_altered (burst.signed_ [2], burst.signed_size [2], changes [c].change,
                                     &size);
        pl_err_t err = s_verify_with (forged, size, s_police, &seen);
        ck_assert_msg (err == PL_ERR_BAD_SIGNATURE, "%s changed: '%s', expected bad signature",
                       changes [c].what, pl_err_str (err));
        ck_assert_int_eq (s_verify_with (forged, size, s_police, NULL), PL_ERR_BAD_SIGNATURE);
        free (forged);
    }
    //  Another key, even with the same agency id (an agency re-keyed), and
    //  even when the burst is remembered as verified under the old one
    ck_assert_int_eq (s_verify_with (burst.signed_ [0], burst.signed_size [0], s_other_police,
                                     NULL), PL_ERR_BAD_SIGNATURE);
    pl_burst_seen_t seen;
    memset (&seen, 0, sizeof seen);
    ck_assert_int_eq (s_verify_with (burst.signed_ [0], burst.signed_size [0], s_police, &seen),
                      PL_OK);
    ck_assert_int_eq (s_verify_with (burst.signed_ [1], burst.signed_size [1], s_other_police,
                                     &seen), PL_ERR_BAD_SIGNATURE);
    s_burst_free (&burst);
}
END_TEST

static void s_add_single_proof (Passerelle__Envelope *w)
{
    static Passerelle__BurstProof proof = PASSERELLE__BURST_PROOF__INIT;
    proof.index = 0;
    proof.count = 1;
    w->burst = &proof;
}

static void s_keep (Passerelle__Envelope *w) { (void) w; }

START_TEST (a_header_signature_is_not_a_burst_of_one)
{
    //  An event signed alone, given the proof of a burst of one: the
    //  signature is over the header, not over the burst's bytes
    size_t size = 0, forged_size = 0;
    uint8_t *alone = s_seal (s_police, 0, &size);
    ck_assert_int_eq (s_verify_with (alone, size, s_police, NULL), PL_OK);
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, alone);
    ck_assert_ptr_nonnull (wire);
    s_add_single_proof (wire);
    forged_size = passerelle__envelope__get_packed_size (wire);
    uint8_t *forged = malloc (forged_size);
    passerelle__envelope__pack (wire, forged);
    wire->burst = NULL;
    passerelle__envelope__free_unpacked (wire, NULL);
    ck_assert_int_eq (s_verify_with (forged, forged_size, s_police, NULL), PL_ERR_BAD_SIGNATURE);
    //  ... and the other way round, a burst of one is not a header signature
    burst_t burst;
    s_burst_seal (&burst, 1);
    s_burst_sign (&burst);
    ck_assert_int_eq (s_verify_with (burst.signed_ [0], burst.signed_size [0], s_police, NULL),
                      PL_OK);
    size_t dropped_size = 0;
    uint8_t *dropped = s_altered (burst.signed_ [0], burst.signed_size [0], s_drop_proof,
                                  &dropped_size);
    ck_assert_int_eq (s_verify_with (dropped, dropped_size, s_police, NULL),
                      PL_ERR_BAD_SIGNATURE);
    //  Packing untouched gives the same verdict (the helper itself changes nothing)
    size_t same_size = 0;
    uint8_t *same = s_altered (burst.signed_ [0], burst.signed_size [0], s_keep, &same_size);
    ck_assert_int_eq (s_verify_with (same, same_size, s_police, NULL), PL_OK);
    free (same);
    free (dropped);
    free (forged);
    free (alone);
    s_burst_free (&burst);
}
END_TEST

static uint32_t s_shape_index, s_shape_count;
static size_t s_shape_proof_len;

static void s_reshape (Passerelle__Envelope *w)
{
    static uint8_t proof [PL_HASH_SIZE * (PL_BURST_PROOF_MAX + 1)];
    w->burst->index = s_shape_index;
    w->burst->count = s_shape_count;
    //  The struct owns its proof (freed with it): replace it with a copy of ours
    free (w->burst->proof.data);
    w->burst->proof.data = malloc (s_shape_proof_len + 1);
    memcpy (w->burst->proof.data, proof, s_shape_proof_len);
    w->burst->proof.len = s_shape_proof_len;
}

START_TEST (a_proof_of_the_wrong_shape_is_malformed)
{
    static struct { uint32_t index, count; size_t proof_len; } shapes [] = {
        { 0, 0, 0 },
        { 0, PL_BURST_MAX + 1, 9 * PL_HASH_SIZE },
        { 4, 4, 2 * PL_HASH_SIZE },
        { 1, 4, 2 * PL_HASH_SIZE - 1 },
        { 1, 4, (PL_BURST_PROOF_MAX + 1) * PL_HASH_SIZE },
    };
    burst_t burst;
    s_burst_seal (&burst, 4);
    s_burst_sign (&burst);
    for (size_t c = 0; c < sizeof shapes / sizeof shapes [0]; c++) {
        s_shape_index = shapes [c].index;
        s_shape_count = shapes [c].count;
        s_shape_proof_len = shapes [c].proof_len;
        size_t size = 0;
        uint8_t *bad = s_altered (burst.signed_ [1], burst.signed_size [1], s_reshape, &size);
        pl_err_t err = PL_OK;
        char why [256] = "";
        pl_envelope_t *envelope = pl_envelope_decode (bad, size, &err, why, sizeof why);
        ck_assert_msg (envelope == NULL, "shape %zu decoded", c);
        ck_assert_int_eq (err, PL_ERR_MALFORMED);
        ck_assert_msg (strstr (why, "burst"), "shape %zu: '%s' does not name the burst", c, why);
        free (bad);
    }
    s_burst_free (&burst);
}
END_TEST

START_TEST (sign_refuses_what_is_not_one_publishers_burst)
{
    burst_t burst;
    s_burst_seal (&burst, PL_BURST_MAX + 1);
    char why [256] = "";
    ck_assert_int_eq (pl_burst_sign (s_police, (const uint8_t *const *) burst.alone,
                                     burst.alone_size, 0, burst.signed_, burst.signed_size,
                                     why, sizeof why), PL_ERR_BAD_FIELD);
    ck_assert_int_eq (pl_burst_sign (s_police, (const uint8_t *const *) burst.alone,
                                     burst.alone_size, PL_BURST_MAX + 1, burst.signed_,
                                     burst.signed_size, why, sizeof why), PL_ERR_OVERSIZED);
    ck_assert_msg (strstr (why, "257"), "'%s'", why);
    //  Event 3 is someone else's: refused by number, and nothing is left in out
    free (burst.alone [3]);
    burst.alone [3] = s_seal (s_programme, 3, &burst.alone_size [3]);
    ck_assert_int_eq (pl_burst_sign (s_police, (const uint8_t *const *) burst.alone,
                                     burst.alone_size, 5, burst.signed_, burst.signed_size,
                                     why, sizeof why), PL_ERR_BAD_FIELD);
    ck_assert_msg (strstr (why, "envelope 3") && strstr (why, "police-a"), "'%s'", why);
    //  Bytes that do not decode
    static uint8_t garbage [] = { 0xff, 0xff, 0xff, 0x01 };
    burst.alone [4] = memcpy (realloc (burst.alone [4], sizeof garbage), garbage, sizeof garbage);
    burst.alone_size [4] = sizeof garbage;
    ck_assert_int_eq (pl_burst_sign (s_police, (const uint8_t *const *) burst.alone + 4,
                                     burst.alone_size + 4, 2, burst.signed_, burst.signed_size,
                                     why, sizeof why), PL_ERR_MALFORMED);
    ck_assert_msg (strstr (why, "envelope 0"), "'%s'", why);
    for (size_t i = 0; i <= PL_BURST_MAX; i++)
        ck_assert_ptr_null (burst.signed_ [i]);
    s_burst_free (&burst);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *s = suite_create ("burst");
    TCase *tc = tcase_create ("burst");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, every_event_of_a_signed_burst_verifies_and_opens_alone);
    tcase_add_test (tc, a_verifier_that_remembers_checks_one_signature_per_burst);
    tcase_add_test (tc, nothing_remembered_lets_an_altered_event_through);
    tcase_add_test (tc, a_header_signature_is_not_a_burst_of_one);
    tcase_add_test (tc, a_proof_of_the_wrong_shape_is_malformed);
    tcase_add_test (tc, sign_refuses_what_is_not_one_publishers_burst);
    suite_add_tcase (s, tc);
    return s;
}

PL_TEST_MAIN
