/*  test_receipt: a recipient's receipt over a burst of deliveries
 *  (proto/pl_receipt).
 *
 *  Covers: pack then check for 1, 2, 3, 7, 8, 100 and 256 items; every
 *  item's proof makes its log entry verify alone (pl_receipt_verify_item),
 *  and any change to that entry - event id, header hash, index, count,
 *  proof, time, recipient, signature or key - makes it fail; check refuses
 *  no items, too many, a short id or hash, another recipient named, a
 *  signature of the wrong size, one altered, items reordered or dropped
 *  after signing, each with its own error and a reason that says so; pack
 *  refuses 0 and 257 items; pl_merkle_root_from_proof refuses a proof of
 *  the wrong length; a batch (what an agent gathers per burst) sends one
 *  Receipt for what it holds, the full 256 first when a 257th comes.  */
#include <string.h>
#include <sodium.h>
#include "pl_test.h"
#include "pl_merkle.h"
#include "pl_receipt.h"
#include "pl_wire.h"

static pl_keys_t *s_keys, *s_other;

static void
s_setup (void)
{
    ck_assert_int_ge (sodium_init (), 0);
    s_keys = pl_keys_generate ("pp-lyon");
    s_other = pl_keys_generate ("pp-lyon");
    ck_assert_ptr_nonnull (s_keys);
    ck_assert_ptr_nonnull (s_other);
}

static void
s_teardown (void)
{
    pl_keys_destroy (&s_keys);
    pl_keys_destroy (&s_other);
}

static Passerelle__Message *
s_unpack (zframe_t *frame)
{
    ck_assert_ptr_nonnull (frame);
    Passerelle__Message *msg = passerelle__message__unpack (NULL, zframe_size (frame),
                                                            zframe_data (frame));
    ck_assert_ptr_nonnull (msg);
    ck_assert_int_eq (msg->body_case, PASSERELLE__MESSAGE__BODY_RECEIPT);
    return msg;
}

static pl_receipt_t *
s_check (const Passerelle__Message *msg, const char *recipient, pl_keys_t *keys, pl_err_t *err,
         char *why, size_t why_size)
{
    return pl_receipt_check (msg->receipt, recipient, pl_keys_public (keys), err, why, why_size);
}

START_TEST (every_item_of_a_signed_burst_proves_itself_alone)
{
    static const size_t counts [] = { 1, 2, 3, 7, 8, 100, PL_RECEIPT_ITEMS_MAX };
    for (size_t c = 0; c < sizeof counts / sizeof counts [0]; c++) {
        size_t count = counts [c];
        pl_receipt_item_t items [PL_RECEIPT_ITEMS_MAX];
        randombytes_buf (items, count * sizeof items [0]);
        zframe_t *frame = pl_receipt_pack (s_keys, "pp-lyon", items, count);
        Passerelle__Message *msg = s_unpack (frame);
        zframe_destroy (&frame);
        pl_err_t err = PL_ERR_COUNT;
        char why [256] = "";
        pl_receipt_t *receipt = s_check (msg, "pp-lyon", s_keys, &err, why, sizeof why);
        ck_assert_msg (receipt, "%zu items: %s", count, why);
        ck_assert_int_eq (err, PL_OK);
        ck_assert_uint_eq (pl_receipt_count (receipt), count);
        ck_assert_ptr_null (pl_receipt_item (receipt, count));
        const uint8_t *pk = pl_keys_public (s_keys), *sig = msg->receipt->signature.data;
        uint64_t at = msg->receipt->received_at_ms;
        for (size_t i = 0; i < count; i++) {
            const pl_receipt_item_t *item = pl_receipt_item (receipt, i);
            ck_assert_mem_eq (item, &items [i], sizeof *item);
            uint8_t proof [PL_RECEIPT_PROOF_MAX * PL_HASH_SIZE];
            size_t len = 99;
            ck_assert_int_eq (pl_receipt_proof (receipt, i, proof, &len), 0);
            ck_assert_uint_le (len, PL_RECEIPT_PROOF_MAX);
            uint32_t n = (uint32_t) count, k = (uint32_t) i;
            const uint8_t *id = item->event_id, *hash = item->header_hash;
            ck_assert (pl_receipt_verify_item (pk, "pp-lyon", at, id, hash, k, n, proof, len, sig));
            //  Whatever else the entry said, it would not verify
            ck_assert (!pl_receipt_verify_item (pk, "pp-paris", at, id, hash, k, n, proof, len, sig));
            ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at + 1, id, hash, k, n, proof, len,
                                                sig));
            ck_assert (!pl_receipt_verify_item (pl_keys_public (s_other), "pp-lyon", at, id, hash,
                                                k, n, proof, len, sig));
            if (count > 1) {
                const pl_receipt_item_t *next = pl_receipt_item (receipt, (i + 1) % count);
                ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at, next->event_id, hash, k, n,
                                                    proof, len, sig));
                ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at, id, next->header_hash, k,
                                                    n, proof, len, sig));
                ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at, id, hash,
                                                    (k + 1) % n, n, proof, len, sig));
                ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at, id, hash, k, n + 1, proof,
                                                    len, sig));
                proof [len * PL_HASH_SIZE - 1] ^= 0x01;
                ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at, id, hash, k, n, proof, len,
                                                    sig));
                proof [len * PL_HASH_SIZE - 1] ^= 0x01;
                ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at, id, hash, k, n, proof,
                                                    len - 1, sig));
            }
            uint8_t altered [PL_SIGNATURE_SIZE];
            memcpy (altered, sig, sizeof altered);
            altered [10] ^= 0x04;
            ck_assert (!pl_receipt_verify_item (pk, "pp-lyon", at, id, hash, k, n, proof, len,
                                                altered));
        }
        uint8_t proof [PL_RECEIPT_PROOF_MAX * PL_HASH_SIZE];
        size_t len;
        ck_assert_int_eq (pl_receipt_proof (receipt, count, proof, &len), -1);
        pl_receipt_destroy (&receipt);
        ck_assert_ptr_null (receipt);
        passerelle__message__free_unpacked (msg, NULL);
    }
}
END_TEST

//  Check msg as pp-lyon's; it must fail with err and a reason holding text
static void
s_refused (const Passerelle__Message *msg, pl_err_t expected, const char *text)
{
    pl_err_t err = PL_OK;
    char why [256] = "";
    pl_receipt_t *receipt = s_check (msg, "pp-lyon", s_keys, &err, why, sizeof why);
    ck_assert_ptr_null (receipt);
    ck_assert_msg (err == expected, "error %d, wanted %d (%s)", err, expected, why);
    ck_assert_msg (strstr (why, text), "'%s' does not say '%s'", why, text);
}

START_TEST (check_refuses_what_the_recipient_did_not_sign)
{
    pl_receipt_item_t items [3];
    randombytes_buf (items, sizeof items);
    zframe_t *frame = pl_receipt_pack (s_keys, "pp-lyon", items, 3);
    Passerelle__Message *msg = s_unpack (frame);
    zframe_destroy (&frame);
    Passerelle__Receipt *r = msg->receipt;

    //  Signed by another key, or checked as from another agency
    pl_err_t err;
    char why [256];
    ck_assert_ptr_null (s_check (msg, "pp-lyon", s_other, &err, why, sizeof why));
    ck_assert_int_eq (err, PL_ERR_BAD_SIGNATURE);
    ck_assert_ptr_null (s_check (msg, "pp-paris", s_keys, &err, why, sizeof why));
    ck_assert_int_eq (err, PL_ERR_BAD_FIELD);
    ck_assert_msg (strstr (why, "'pp-lyon'"), "%s", why);
    //  Changed after signing: the time, an item, their order, their number
    r->received_at_ms++;
    s_refused (msg, PL_ERR_BAD_SIGNATURE, "bad signature");
    r->received_at_ms--;
    r->items [2]->header_hash.data [31] ^= 0x80;
    s_refused (msg, PL_ERR_BAD_SIGNATURE, "over its 3 items");
    r->items [2]->header_hash.data [31] ^= 0x80;
    Passerelle__ReceiptItem *first = r->items [0];
    r->items [0] = r->items [1];
    r->items [1] = first;
    s_refused (msg, PL_ERR_BAD_SIGNATURE, "bad signature");
    r->items [1] = r->items [0];
    r->items [0] = first;
    r->n_items = 2;
    s_refused (msg, PL_ERR_BAD_SIGNATURE, "over its 2 items");
    r->n_items = 0;
    s_refused (msg, PL_ERR_BAD_FIELD, "no items");
    r->n_items = 3;
    //  Shapes
    r->items [1]->event_id.len = 15;
    s_refused (msg, PL_ERR_BAD_FIELD, "receipt item 1");
    r->items [1]->event_id.len = PL_EVENT_ID_SIZE;
    r->items [2]->header_hash.len = 31;
    s_refused (msg, PL_ERR_BAD_FIELD, "receipt item 2");
    r->items [2]->header_hash.len = PL_HASH_SIZE;
    r->signature.len = 63;
    s_refused (msg, PL_ERR_BAD_SIGNATURE, "signature of 63 bytes");
    r->signature.len = PL_SIGNATURE_SIZE;
    char *named = r->recipient;
    r->recipient = NULL;
    s_refused (msg, PL_ERR_BAD_FIELD, "names recipient ''");
    r->recipient = named;
    //  And as it was sent, it still passes
    pl_receipt_t *receipt = s_check (msg, "pp-lyon", s_keys, &err, why, sizeof why);
    ck_assert_ptr_nonnull (receipt);
    pl_receipt_destroy (&receipt);
    passerelle__message__free_unpacked (msg, NULL);
}
END_TEST

START_TEST (at_most_256_items)
{
    static pl_receipt_item_t items [PL_RECEIPT_ITEMS_MAX + 1];
    randombytes_buf (items, sizeof items);
    ck_assert_ptr_null (pl_receipt_pack (s_keys, "pp-lyon", items, 0));
    ck_assert_ptr_null (pl_receipt_pack (s_keys, "pp-lyon", items, PL_RECEIPT_ITEMS_MAX + 1));
    //  A sender that builds 257 itself is refused before any hashing
    zframe_t *frame = pl_receipt_pack (s_keys, "pp-lyon", items, PL_RECEIPT_ITEMS_MAX);
    Passerelle__Message *msg = s_unpack (frame);
    zframe_destroy (&frame);
    Passerelle__ReceiptItem extra = PASSERELLE__RECEIPT_ITEM__INIT;
    extra.event_id = (ProtobufCBinaryData) { PL_EVENT_ID_SIZE, items [256].event_id };
    extra.header_hash = (ProtobufCBinaryData) { PL_HASH_SIZE, items [256].header_hash };
    Passerelle__ReceiptItem **grown = calloc (PL_RECEIPT_ITEMS_MAX + 1, sizeof *grown);
    ck_assert_ptr_nonnull (grown);
    memcpy (grown, msg->receipt->items, PL_RECEIPT_ITEMS_MAX * sizeof *grown);
    grown [PL_RECEIPT_ITEMS_MAX] = &extra;
    Passerelle__ReceiptItem **kept = msg->receipt->items;
    msg->receipt->items = grown;
    msg->receipt->n_items = PL_RECEIPT_ITEMS_MAX + 1;
    s_refused (msg, PL_ERR_OVERSIZED, "257 items (at most 256)");
    msg->receipt->items = kept;
    msg->receipt->n_items = PL_RECEIPT_ITEMS_MAX;
    free (grown);
    passerelle__message__free_unpacked (msg, NULL);
}
END_TEST

START_TEST (a_root_from_a_proof_of_the_wrong_length_is_refused)
{
    uint8_t leaves [5][PL_HASH_SIZE], root [PL_HASH_SIZE], got [PL_HASH_SIZE];
    randombytes_buf (leaves, sizeof leaves);
    pl_merkle_t *tree = pl_merkle_new_in_memory ();
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq (pl_merkle_append (tree, leaves [i], NULL), 0);
    pl_merkle_root (tree, root);
    uint8_t proof [PL_RECEIPT_PROOF_MAX * PL_HASH_SIZE + PL_HASH_SIZE];
    size_t len;
    ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 1, 5, proof, &len), 0);
    ck_assert_int_eq (pl_merkle_root_from_proof (leaves [1], 1, 5, proof, len, got), 0);
    ck_assert_mem_eq (got, root, PL_HASH_SIZE);
    ck_assert_int_eq (pl_merkle_root_from_proof (leaves [1], 1, 5, proof, len - 1, got), -1);
    memset (proof + len * PL_HASH_SIZE, 0, PL_HASH_SIZE);
    ck_assert_int_eq (pl_merkle_root_from_proof (leaves [1], 1, 5, proof, len + 1, got), -1);
    ck_assert_int_eq (pl_merkle_root_from_proof (leaves [1], 5, 5, proof, len, got), -1);
    pl_merkle_destroy (&tree);
}
END_TEST

//  A batch sends nothing empty, one Receipt for what it holds, and first
//  the full 256 when a 257th item comes; each arrives signed and whole.
START_TEST (a_batch_sends_one_receipt_per_burst_and_never_more_than_256)
{
    zsock_t *in = zsock_new_pull ("inproc://receipt-batch");
    zsock_t *out = zsock_new_push (">inproc://receipt-batch");
    ck_assert_ptr_nonnull (in);
    ck_assert_ptr_nonnull (out);
    static pl_receipt_batch_t batch;
    static pl_receipt_item_t items [PL_RECEIPT_ITEMS_MAX + 1];
    randombytes_buf (items, sizeof items);
    ck_assert_int_eq (pl_receipt_batch_send (&batch, s_keys, out), 0);
    int sent = 0;
    for (size_t i = 0; i <= PL_RECEIPT_ITEMS_MAX; i++)
        sent += pl_receipt_batch_add (&batch, s_keys, out, items [i].event_id,
                                      items [i].header_hash);
    ck_assert_int_eq (sent, 1);                     //  the full one, at the 257th
    ck_assert_uint_eq (batch.count, 1);
    ck_assert_int_eq (pl_receipt_batch_send (&batch, s_keys, out), 1);
    ck_assert_uint_eq (batch.count, 0);
    size_t expected [2] = { PL_RECEIPT_ITEMS_MAX, 1 }, first [2] = { 0, PL_RECEIPT_ITEMS_MAX };
    for (int r = 0; r < 2; r++) {
        zframe_t *frame = zframe_recv (in);
        Passerelle__Message *msg = s_unpack (frame);
        zframe_destroy (&frame);
        pl_err_t err;
        char why [256];
        pl_receipt_t *receipt = s_check (msg, "pp-lyon", s_keys, &err, why, sizeof why);
        ck_assert_msg (receipt, "%s", why);
        ck_assert_uint_eq (pl_receipt_count (receipt), expected [r]);
        for (size_t i = 0; i < expected [r]; i++)
            ck_assert_mem_eq (pl_receipt_item (receipt, i), &items [first [r] + i],
                              sizeof items [0]);
        pl_receipt_destroy (&receipt);
        passerelle__message__free_unpacked (msg, NULL);
    }
    zsock_destroy (&out);
    zsock_destroy (&in);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *s = suite_create ("receipt");
    TCase *tc = tcase_create ("receipt");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, every_item_of_a_signed_burst_proves_itself_alone);
    tcase_add_test (tc, check_refuses_what_the_recipient_did_not_sign);
    tcase_add_test (tc, at_most_256_items);
    tcase_add_test (tc, a_root_from_a_proof_of_the_wrong_length_is_refused);
    tcase_add_test (tc, a_batch_sends_one_receipt_per_burst_and_never_more_than_256);
    suite_add_tcase (s, tc);
    return s;
}

PL_TEST_MAIN
