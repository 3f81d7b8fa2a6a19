/*  test_audit_receipts: what passerelle-audit verify concludes about
 *  receipt entries (broker/pb_audit_receipts), given forged ones.
 *
 *  Entries are built as the broker builds them (pb_journal_receipt) from a
 *  Receipt signed by pp-lyon (pl_receipt), then altered as an operator who
 *  wanted to pass off a receipt the agency never signed might: another
 *  event id, header hash, index, count, time or proof (one signature shared
 *  by several items must not let a changed item through the auditor's
 *  cache), the signature, the agency (another one in the directory), the
 *  count left out (then the entry is checked as a first-form receipt, one
 *  signature per event: a random signature fails, a genuine first-form one
 *  passes, one with an index or a proof fails), no agency, an agency not in the directory (said,
 *  not passed over), an entry that names a receipt but is not a log entry.
 *  No other kind is looked at.  */
#include <string.h>
#include <sodium.h>
#include "pl_test.h"
#include "pb_audit_int.h"
#include "pb_journal.h"
#include "pl_bytes.h"
#include "pl_receipt.h"
#include "pl_wire.h"

#define N_ITEMS 5

static pl_keys_t *s_keys, *s_other;
static pl_directory_t *s_directory;
static pl_receipt_item_t s_items [N_ITEMS];
static Passerelle__Message *s_msg;          //  the signed Receipt
static pl_receipt_t *s_receipt;             //  checked, for its proofs

static void
s_setup (void)
{
    ck_assert_int_ge (sodium_init (), 0);
    s_keys = pl_keys_generate ("pp-lyon");
    ck_assert_ptr_nonnull (s_keys);
    //  pp-lyon, and pp-other with a key of its own
    s_other = pl_keys_generate ("pp-other");
    ck_assert_ptr_nonnull (s_other);
    Passerelle__Agency agencies [2], *list [2] = { &agencies [0], &agencies [1] };
    char *roles [1] = { "perpetrator_programme" };
    pl_keys_t *keys [2] = { s_keys, s_other };
    const char *ids [2] = { "pp-lyon", "pp-other" };
    for (int i = 0; i < 2; i++) {
        passerelle__agency__init (&agencies [i]);
        agencies [i].id = (char *) ids [i];
        agencies [i].name = "programme";
        agencies [i].roles = roles;
        agencies [i].n_roles = 1;
        agencies [i].network = "lyon";
        agencies [i].public_key = (ProtobufCBinaryData) { PL_PUBLIC_KEY_SIZE,
                                                          (uint8_t *) pl_keys_public (keys [i]) };
    }
    char err [256];
    s_directory = pl_directory_from_wire (list, 2, err, sizeof err);
    ck_assert_msg (s_directory, "%s", err);
    randombytes_buf (s_items, sizeof s_items);
    zframe_t *frame = pl_receipt_pack (s_keys, "pp-lyon", s_items, N_ITEMS);
    ck_assert_ptr_nonnull (frame);
    s_msg = passerelle__message__unpack (NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    pl_err_t e;
    s_receipt = pl_receipt_check (s_msg->receipt, "pp-lyon", pl_keys_public (s_keys), &e,
                                  err, sizeof err);
    ck_assert_msg (s_receipt, "%s", err);
}

static void
s_teardown (void)
{
    pl_receipt_destroy (&s_receipt);
    passerelle__message__free_unpacked (s_msg, NULL);
    pl_directory_destroy (&s_directory);
    pl_keys_destroy (&s_keys);
    pl_keys_destroy (&s_other);
}

//  The entry the broker logs for item index, as fields to alter
typedef struct {
    pb_receipt_entry_t fields;
    uint8_t proof [PL_RECEIPT_PROOF_MAX * PL_HASH_SIZE];
    uint8_t event_id [PL_EVENT_ID_SIZE], header_hash [PL_HASH_SIZE];
    uint8_t signature [PL_SIGNATURE_SIZE];
} s_entry_t;

static void
s_entry (s_entry_t *e, size_t index)
{
    memset (e, 0, sizeof *e);
    ck_assert_int_eq (pl_receipt_proof (s_receipt, index, e->proof, &e->fields.proof_len), 0);
    memcpy (e->event_id, s_items [index].event_id, PL_EVENT_ID_SIZE);
    memcpy (e->header_hash, s_items [index].header_hash, PL_HASH_SIZE);
    memcpy (e->signature, s_msg->receipt->signature.data, PL_SIGNATURE_SIZE);
    e->fields = (pb_receipt_entry_t) {
        .event_id = e->event_id, .case_ref = "C-1", .recipient = "pp-lyon",
        .header_hash = e->header_hash, .received_at_ms = s_msg->receipt->received_at_ms,
        .signature = e->signature, .index = (uint32_t) index, .count = N_ITEMS,
        .proof = e->proof, .proof_len = e->fields.proof_len };
}

//  Check the entries as verify does; return the report and whether it passed
static char *
s_report (pb_audit_receipts_t *audit, bool *passed)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    *passed = pb_audit_receipts_report (audit, out);
    fclose (out);
    return text;
}

static void
s_check (pb_audit_receipts_t *audit, uint64_t index, const s_entry_t *e)
{
    pb_entry_t packed = pb_journal_receipt (&e->fields, 1000);
    ck_assert_ptr_nonnull (packed.bytes);
    pb_audit_receipts_check (audit, index, packed.bytes, packed.size);
    free (packed.bytes);
}

START_TEST (the_items_of_a_signed_receipt_pass_with_one_signature_check)
{
    pb_audit_receipts_t *audit = pb_audit_receipts_new (s_directory);
    for (size_t i = 0; i < N_ITEMS; i++) {
        s_entry_t e;
        s_entry (&e, i);
        s_check (audit, 10 + i, &e);
    }
    //  Other kinds are not receipts
    pb_entry_t note = pb_journal_note ("sequence_gap", NULL, "C-1", "pp-lyon", "gap", 1);
    pb_audit_receipts_check (audit, 20, note.bytes, note.size);
    free (note.bytes);
    bool passed;
    char *text = s_report (audit, &passed);
    ck_assert_msg (passed, "%s", text);
    ck_assert_str_eq (text, "receipts: 5, 5 proven signed by their recipient (1 signatures "
                            "checked against the directory's keys)\n");
    free (text);
    pb_audit_receipts_destroy (&audit);
    ck_assert_ptr_null (audit);
}
END_TEST

//  Each alteration, after the genuine item 0 put its signature in the cache
START_TEST (an_altered_entry_fails_even_beside_its_genuine_siblings)
{
    for (int change = 0; change < 10; change++) {
        pb_audit_receipts_t *audit = pb_audit_receipts_new (s_directory);
        s_entry_t e;
        s_entry (&e, 0);
        s_check (audit, 1, &e);
        s_entry (&e, 1);
        switch (change) {
            case 0: e.event_id [3] ^= 1; break;
            case 1: e.header_hash [30] ^= 1; break;
            case 2: e.fields.index = 2; break;
            case 3: e.fields.count = N_ITEMS + 1; break;
            case 4: e.fields.received_at_ms++; break;
            case 5: e.proof [0] ^= 1; break;
            case 6: e.fields.proof_len--; break;
            case 7: e.fields.count = 300; break;
            case 8: e.signature [0] ^= 1; break;
            case 9: e.fields.recipient = "pp-other"; break;
        }
        s_check (audit, 2, &e);
        bool passed;
        char *text = s_report (audit, &passed);
        ck_assert_msg (!passed, "change %d passed: %s", change, text);
        ck_assert_msg (strstr (text, "FAILED: entry 2: the receipt by pp-"),
                       "change %d: %s", change, text);
        ck_assert_msg (!strstr (text, "entry 1:"), "change %d: %s", change, text);
        free (text);
        pb_audit_receipts_destroy (&audit);
    }
}
END_TEST

START_TEST (a_count_left_out_is_checked_as_a_first_form_receipt)
{
    pb_audit_receipts_t *audit = pb_audit_receipts_new (s_directory);
    //  A random signature, count 0: what a downgrade would try
    s_entry_t forged;
    s_entry (&forged, 0);
    forged.fields.count = forged.fields.index = 0;
    forged.fields.proof_len = 0;
    randombytes_buf (forged.signature, sizeof forged.signature);
    s_check (audit, 7, &forged);
    //  A genuine first-form receipt: one signature over that one event
    s_entry_t v1;
    s_entry (&v1, 1);
    v1.fields.count = v1.fields.index = 0;
    v1.fields.proof_len = 0;
    uint8_t bytes [256];
    size_t used = 0;
    memcpy (bytes, "passerelle-receipt-v1", 21);
    used += 21;
    memcpy (bytes + used, v1.event_id, PL_EVENT_ID_SIZE);
    used += PL_EVENT_ID_SIZE;
    memcpy (bytes + used, v1.header_hash, PL_HASH_SIZE);
    used += PL_HASH_SIZE;
    memcpy (bytes + used, "pp-lyon", 7);
    used += 7;
    pl_put_be64 (bytes + used, v1.fields.received_at_ms);
    pl_keys_sign (s_keys, bytes, used + 8, v1.signature);
    s_check (audit, 8, &v1);
    //  No count, yet an index or a proof: not a first-form receipt either
    s_entry_t half = v1;
    half.fields.index = 1;
    s_check (audit, 9, &half);
    half = v1;
    half.fields.proof_len = 1;
    s_check (audit, 10, &half);
    bool passed;
    char *text = s_report (audit, &passed);
    ck_assert (!passed);
    ck_assert_msg (strstr (text, "FAILED: entry 7: "), "%s", text);
    ck_assert_msg (!strstr (text, "entry 8:"), "%s", text);
    ck_assert_msg (strstr (text, "FAILED: entry 9: "), "%s", text);
    ck_assert_msg (strstr (text, "FAILED: entry 10: "), "%s", text);
    ck_assert_msg (strstr (text, "receipts: 4, 1 proven signed by their recipient (2 signatures"),
                   "%s", text);
    free (text);
    pb_audit_receipts_destroy (&audit);
}
END_TEST

START_TEST (what_cannot_be_checked_is_said)
{
    //  An agency not in the directory; a receipt naming no agency; bytes
    //  that are no log entry
    pb_audit_receipts_t *audit = pb_audit_receipts_new (s_directory);
    s_entry_t e;
    s_entry (&e, 0);
    e.fields.recipient = "pp-old";
    s_check (audit, 3, &e);
    s_check (audit, 4, &e);
    e.fields.recipient = "pp";          //  a prefix of the first: listed apart
    s_check (audit, 5, &e);
    bool passed;
    char *text = s_report (audit, &passed);
    ck_assert_msg (passed, "%s", text);
    ck_assert_msg (strstr (text, "receipts: 3 by agencies no longer in the directory (pp-old, "
                                 "pp), not checked\n"), "%s", text);
    free (text);
    e.fields.recipient = "";
    s_check (audit, 6, &e);
    static const uint8_t junk [] = { 0x0a, 0x07, 'r', 'e', 'c', 'e', 'i', 'p', 't', 0xff, 0xff };
    pb_audit_receipts_check (audit, 7, junk, sizeof junk);
    text = s_report (audit, &passed);
    ck_assert (!passed);
    ck_assert_msg (strstr (text, "FAILED: entry 6: the receipt by (no agency) for event"), "%s",
                   text);
    ck_assert_msg (strstr (text, "FAILED: 1 entries that name a receipt do not decode as "
                                 "log entries\n"), "%s", text);
    free (text);
    pb_audit_receipts_destroy (&audit);
    //  No directory: nothing can be checked, and the report says so
    audit = pb_audit_receipts_new (NULL);
    s_entry (&e, 0);
    s_check (audit, 1, &e);
    text = s_report (audit, &passed);
    ck_assert (passed);
    ck_assert_str_eq (text, "receipts: 1, signatures not checked (no directory: give "
                            "--directory)\n");
    free (text);
    pb_audit_receipts_destroy (&audit);
}
END_TEST

//  A Message of an earlier wire version (1: receipts signed one by one; 2:
//  no publish bursts) is refused as such, not half read
START_TEST (a_first_version_peer_is_refused_loudly)
{
    for (uint32_t version = 1; version < PL_WIRE_VERSION; version++) {
        Passerelle__Message *msg = s_msg;
        msg->version = version;
        size_t size = passerelle__message__get_packed_size (msg);
        zframe_t *frame = zframe_new (NULL, size);
        passerelle__message__pack (msg, zframe_data (frame));
        msg->version = PL_WIRE_VERSION;
        Passerelle__Status status = PASSERELLE__STATUS__STATUS_OK;
        char why [256] = "", expected [256];
        ck_assert_ptr_null (pl_wire_unpack (frame, 1 << 20, &status, why, sizeof why));
        ck_assert_int_eq (status, PASSERELLE__STATUS__STATUS_BAD_VERSION);
        snprintf (expected, sizeof expected, "wire protocol version %u, this build speaks 3",
                  version);
        ck_assert_str_eq (why, expected);
        zframe_destroy (&frame);
    }
}
END_TEST

Suite *
test_suite (void)
{
    Suite *s = suite_create ("audit_receipts");
    TCase *tc = tcase_create ("receipts");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, the_items_of_a_signed_receipt_pass_with_one_signature_check);
    tcase_add_test (tc, an_altered_entry_fails_even_beside_its_genuine_siblings);
    tcase_add_test (tc, a_count_left_out_is_checked_as_a_first_form_receipt);
    tcase_add_test (tc, what_cannot_be_checked_is_said);
    tcase_add_test (tc, a_first_version_peer_is_refused_loudly);
    suite_add_tcase (s, tc);
    return s;
}

PL_TEST_MAIN
