/*  test_verifier: the broker's signature-check pool (pb_verifier) and the
 *  checks it runs on each message (pb_intake_check).
 *
 *  The pool must do every item exactly once, whatever the number of
 *  threads and however jobs follow one another; the checks must say the
 *  same thing on a helper thread as the old in-line path did: a good
 *  publish passes, a forged signature, a changed payload or a header that
 *  names another publisher does not; a receipt passes only when signed by
 *  the sender, naming the sender, over the items it carries.  */
#include <stdatomic.h>
#include <string.h>
#include <sodium.h>
#include "pl_test.h"
#include "pb_intake.h"
#include "pb_verifier.h"
#include "pl_envelope.h"
#include "pl_receipt.h"
#include "pl_wire.h"

//  --------------------------------------------------------------------------
//  The pool

typedef struct {
    atomic_int done;                //  times fn ran on this item
    size_t value, square;
} item_t;

static void
s_square (void *item, void *arg)
{
    item_t *it = item;
    atomic_fetch_add ((atomic_size_t *) arg, 1);
    it->square = it->value * it->value;
    atomic_fetch_add (&it->done, 1);
}

static void
s_check_pool (size_t threads)
{
    pb_verifier_t *pool = pb_verifier_new (threads);
    ck_assert_ptr_nonnull (pool);
    ck_assert_uint_eq (pb_verifier_threads (pool), threads);
    static item_t items [700];
    atomic_size_t calls;
    atomic_init (&calls, 0);
    size_t expected = 0;
    for (size_t job = 0; job < 300; job++) {
        size_t count = (job * 37) % 700;        //  0 included
        for (size_t i = 0; i < count; i++) {
            atomic_init (&items [i].done, 0);
            items [i].value = i + job;
            items [i].square = 0;
        }
        pb_verifier_start (pool, items, sizeof items [0], count, s_square, &calls);
        pb_verifier_finish (pool);
        expected += count;
        for (size_t i = 0; i < count; i++) {
            ck_assert_int_eq (atomic_load (&items [i].done), 1);
            ck_assert_uint_eq (items [i].square, (i + job) * (i + job));
        }
    }
    ck_assert_uint_eq (atomic_load (&calls), expected);
    pb_verifier_finish (pool);      //  nothing started: returns at once
    pb_verifier_destroy (&pool);
    ck_assert_ptr_null (pool);
}

START_TEST (pool_does_every_item_once)
{
    s_check_pool (0);
    s_check_pool (1);
    s_check_pool (3);
}
END_TEST

//  Starting a job while one runs finishes the first: nothing is skipped
START_TEST (pool_start_finishes_the_job_before)
{
    pb_verifier_t *pool = pb_verifier_new (2);
    static item_t first [500], second [500];
    atomic_size_t calls;
    atomic_init (&calls, 0);
    for (size_t i = 0; i < 500; i++) {
        first [i].value = i;
        second [i].value = 2 * i;
    }
    pb_verifier_start (pool, first, sizeof first [0], 500, s_square, &calls);
    pb_verifier_start (pool, second, sizeof second [0], 500, s_square, &calls);
    pb_verifier_destroy (&pool);    //  finishes the running job, then stops
    for (size_t i = 0; i < 500; i++) {
        ck_assert_int_eq (atomic_load (&first [i].done), 1);
        ck_assert_int_eq (atomic_load (&second [i].done), 1);
        ck_assert_uint_eq (second [i].square, 4 * i * i);
    }
    ck_assert_uint_eq (atomic_load (&calls), 1000);
}
END_TEST

//  Many small jobs back to back, as the server runs them: a helper that
//  wakes late must never take an item of the next job for the last one's
//  (that was a real race: an item done twice, or never, and a hang)
START_TEST (pool_back_to_back_jobs_never_mix)
{
    pb_verifier_t *pool = pb_verifier_new (4);
    static item_t groups [2][64];
    atomic_size_t calls;
    atomic_init (&calls, 0);
    size_t expected = 0;
    for (size_t job = 0; job < 40000; job++) {
        //  Two groups in turn, as the server's; jobs of 1 to 55 items
        item_t *items = groups [job & 1];
        size_t count = job % 3 == 0? 1: 1 + (job % 7) * 9;
        size_t split = job % 2? count: count / 2;
        for (size_t i = 0; i < count; i++) {
            atomic_init (&items [i].done, 0);
            items [i].value = job + i;
        }
        //  Sometimes a group then a top-up of it, as after a commit
        pb_verifier_start (pool, items, sizeof items [0], split, s_square, &calls);
        if (split < count)
            pb_verifier_start (pool, items + split, sizeof items [0], count - split, s_square,
                               &calls);
        pb_verifier_finish (pool);
        expected += count;
        for (size_t i = 0; i < count; i++) {
            ck_assert_int_eq (atomic_load (&items [i].done), 1);
            ck_assert_uint_eq (items [i].square, (job + i) * (job + i));
        }
    }
    ck_assert_uint_eq (atomic_load (&calls), expected);
    pb_verifier_destroy (&pool);
}
END_TEST

START_TEST (pool_default_threads_in_range)
{
    size_t n = pb_verifier_default_threads ();
    ck_assert_uint_ge (n, 1);
    ck_assert_uint_le (n, 8);
}
END_TEST

//  --------------------------------------------------------------------------
//  The checks

static pl_keys_t *s_police, *s_programme;
static pl_agency_t s_police_agency, s_programme_agency;

static void
s_setup (void)
{
    ck_assert_int_ge (sodium_init (), 0);
    s_police = pl_keys_generate ("police-a");
    s_programme = pl_keys_generate ("programme-b");
    ck_assert_ptr_nonnull (s_police);
    ck_assert_ptr_nonnull (s_programme);
    memset (&s_police_agency, 0, sizeof s_police_agency);
    strcpy (s_police_agency.id, "police-a");
    memcpy (s_police_agency.public_key, pl_keys_public (s_police), PL_PUBLIC_KEY_SIZE);
    memset (&s_programme_agency, 0, sizeof s_programme_agency);
    strcpy (s_programme_agency.id, "programme-b");
    memcpy (s_programme_agency.public_key, pl_keys_public (s_programme), PL_PUBLIC_KEY_SIZE);
}

static void
s_teardown (void)
{
    pl_keys_destroy (&s_police);
    pl_keys_destroy (&s_programme);
}

//  A Publish message from police-a to programme-b, as packed bytes
static zframe_t *
s_publish_frame (void)
{
    Passerelle__EventHeader header = PASSERELLE__EVENT_HEADER__INIT;
    char *categories [] = { "case_summary" };
    char *to [] = { "programme-b" };
    header.case_ref = "case:2026/verifier";
    header.event_type = "referral";
    header.sequence = 1;
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
    static const uint8_t payload [1024] = { 1, 2, 3 };
    uint8_t *bytes = NULL;
    size_t size = 0;
    char why [256] = "";
    pl_err_t err = pl_envelope_seal (s_police, &header, payload, sizeof payload, &recipient, 1,
                                     &bytes, &size, why, sizeof why);
    ck_assert_msg (err == PL_OK, "seal: %s", why);
    Passerelle__Envelope *envelope = passerelle__envelope__unpack (NULL, size, bytes);
    ck_assert_ptr_nonnull (envelope);
    Passerelle__Publish publish = PASSERELLE__PUBLISH__INIT;
    publish.envelope = envelope;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH;
    msg.publish = &publish;
    zframe_t *frame = pl_wire_pack (&msg);
    passerelle__envelope__free_unpacked (envelope, NULL);
    free (bytes);
    return frame;
}

//  An inbound item as pb_intake_read leaves it, from a frame and a peer
static void
s_inbound (pb_inbound_t *in, zframe_t *frame, const pl_agency_t *peer)
{
    memset (in, 0, sizeof *in);
    in->body = frame;
    in->one_frame = true;
    in->peer = peer;
    in->request = pl_wire_unpack (frame, 2 << 20, &in->status, in->why, sizeof in->why);
    ck_assert_ptr_nonnull (in->request);
}

START_TEST (check_publish_good_forged_and_impersonated)
{
    pb_inbound_t in [4];
    //  0: as sent
    s_inbound (&in [0], s_publish_frame (), &s_police_agency);
    //  1: one bit of the signature flipped
    zframe_t *frame = s_publish_frame ();
    pb_inbound_t probe;
    s_inbound (&probe, zframe_dup (frame), &s_police_agency);
    probe.request->publish->envelope->signature.data [5] ^= 0x01;
    zframe_destroy (&frame);
    s_inbound (&in [1], pl_wire_pack (probe.request), &s_police_agency);
    pb_inbound_clear (&probe);
    //  2: one byte of the ciphertext changed (the header's hash no longer matches)
    s_inbound (&probe, s_publish_frame (), &s_police_agency);
    probe.request->publish->envelope->ciphertext.data [0] ^= 0xff;
    s_inbound (&in [2], pl_wire_pack (probe.request), &s_police_agency);
    pb_inbound_clear (&probe);
    //  3: a genuine police-a event sent over programme-b's connection
    s_inbound (&in [3], s_publish_frame (), &s_programme_agency);

    pb_verifier_t *pool = pb_verifier_new (2);
    pb_verifier_start (pool, in, sizeof in [0], 4, pb_intake_check, NULL);
    pb_verifier_finish (pool);
    pb_verifier_destroy (&pool);

    ck_assert_ptr_nonnull (in [0].envelope);
    ck_assert_int_eq (in [0].envelope_err, PL_OK);
    ck_assert (!in [0].wrong_publisher);
    ck_assert_int_eq (in [1].envelope_err, PL_ERR_BAD_SIGNATURE);
    ck_assert_int_eq (in [2].envelope_err, PL_ERR_PAYLOAD_HASH);
    ck_assert (in [3].wrong_publisher);
    for (int i = 0; i < 4; i++)
        pb_inbound_clear (&in [i]);
}
END_TEST

static zframe_t *s_receipt_frame (pl_keys_t *signer, const char *recipient, size_t count,
                                  bool swap);

//  A publish frame made to look like one of a burst: the proof's index
//  and the signature's first byte are set (runs only compare; the check
//  would refuse these)
static zframe_t *
s_burst_frame (uint8_t signature_mark, uint32_t index)
{
    pb_inbound_t probe;
    s_inbound (&probe, s_publish_frame (), &s_police_agency);
    Passerelle__BurstProof proof = PASSERELLE__BURST_PROOF__INIT;
    proof.index = index;
    proof.count = 3;
    Passerelle__Envelope *envelope = probe.request->publish->envelope;
    memset (envelope->signature.data, 0x5a, envelope->signature.len);
    envelope->signature.data [0] = signature_mark;
    envelope->burst = &proof;
    zframe_t *frame = pl_wire_pack (probe.request);
    envelope->burst = NULL;
    pb_inbound_clear (&probe);
    return frame;
}

//  The pool takes work a run at a time: a burst's events must make one run
//  (one thread, one signature check), and nothing else may join a run
START_TEST (runs_keep_a_burst_together)
{
    pb_inbound_t in [11];
    s_inbound (&in [0], s_burst_frame (1, 0), &s_police_agency);      //  burst 1
    s_inbound (&in [1], s_burst_frame (1, 1), &s_police_agency);
    s_inbound (&in [2], s_burst_frame (1, 2), &s_police_agency);
    s_inbound (&in [3], s_burst_frame (1, 0), &s_programme_agency);  //  same bytes, other peer
    s_inbound (&in [4], s_burst_frame (1, 1), &s_programme_agency);
    s_inbound (&in [5], s_burst_frame (2, 0), &s_programme_agency);  //  its next burst
    s_inbound (&in [6], s_burst_frame (2, 1), &s_programme_agency);
    s_inbound (&in [7], s_receipt_frame (s_programme, "programme-b", 1, false),
               &s_programme_agency);
    s_inbound (&in [8], s_publish_frame (), &s_police_agency);       //  signed alone
    s_inbound (&in [9], s_publish_frame (), &s_police_agency);
    memset (&in [10], 0, sizeof in [10]);                             //  did not unpack
    pb_intake_run_t runs [11];
    size_t count = pb_intake_runs (in, 11, runs);
    size_t expect [] = { 3, 2, 2, 1, 1, 1, 1 };
    ck_assert_uint_eq (count, sizeof expect / sizeof expect [0]);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        ck_assert_ptr_eq (runs [i].first, &in [at]);
        ck_assert_uint_eq (runs [i].count, expect [i]);
        at += runs [i].count;
    }
    //  Checked run by run, every item is checked once
    pb_verifier_t *pool = pb_verifier_new (2);
    pb_verifier_start (pool, runs, sizeof runs [0], count, pb_intake_check_run, NULL);
    pb_verifier_finish (pool);
    pb_verifier_destroy (&pool);
    for (int i = 0; i < 11; i++)
        ck_assert (in [i].checked);
    ck_assert_int_eq (in [8].envelope_err, PL_OK);
    ck_assert_int_eq (in [0].envelope_err, PL_ERR_BAD_SIGNATURE);
    for (int i = 0; i < 11; i++)
        pb_inbound_clear (&in [i]);
}
END_TEST

//  A receipt of count random items by signer naming recipient; when
//  swap is set, its first two items are exchanged after signing
static zframe_t *
s_receipt_frame (pl_keys_t *signer, const char *recipient, size_t count, bool swap)
{
    pl_receipt_item_t items [3];
    randombytes_buf (items, sizeof items);
    zframe_t *frame = pl_receipt_pack (signer, recipient, items, count);
    ck_assert_ptr_nonnull (frame);
    if (swap) {
        Passerelle__Message *msg = passerelle__message__unpack (NULL, zframe_size (frame),
                                                                zframe_data (frame));
        Passerelle__ReceiptItem *first = msg->receipt->items [0];
        msg->receipt->items [0] = msg->receipt->items [1];
        msg->receipt->items [1] = first;
        zframe_destroy (&frame);
        frame = pl_wire_pack (msg);
        passerelle__message__free_unpacked (msg, NULL);
    }
    return frame;
}

START_TEST (check_receipt_only_by_the_recipient_over_its_items)
{
    pb_inbound_t in [5];
    s_inbound (&in [0], s_receipt_frame (s_programme, "programme-b", 3, false), &s_programme_agency);
    s_inbound (&in [1], s_receipt_frame (s_programme, "programme-b", 3, true), &s_programme_agency);
    s_inbound (&in [2], s_receipt_frame (s_police, "programme-b", 1, false), &s_programme_agency);
    s_inbound (&in [3], s_receipt_frame (s_programme, "police-a", 1, false), &s_programme_agency);
    //  4: an item whose event id is cut short
    s_inbound (&in [4], s_receipt_frame (s_programme, "programme-b", 2, false), &s_programme_agency);
    in [4].request->receipt->items [1]->event_id.len = 15;

    pb_verifier_t *pool = pb_verifier_new (1);
    pb_verifier_start (pool, in, sizeof in [0], 5, pb_intake_check, NULL);
    pb_verifier_finish (pool);
    pb_verifier_destroy (&pool);

    ck_assert_ptr_nonnull (in [0].receipt);
    ck_assert_int_eq (pl_receipt_count (in [0].receipt), 3);
    ck_assert_ptr_null (in [1].receipt);                        //  items reordered after signing
    ck_assert_int_eq (in [1].receipt_err, PL_ERR_BAD_SIGNATURE);
    ck_assert_ptr_null (in [2].receipt);                        //  not the recipient's key
    ck_assert_int_eq (in [2].receipt_err, PL_ERR_BAD_SIGNATURE);
    ck_assert_ptr_null (in [3].receipt);                        //  names another recipient
    ck_assert_int_eq (in [3].receipt_err, PL_ERR_BAD_FIELD);
    ck_assert_msg (strstr (in [3].why, "police-a"), "%s", in [3].why);
    ck_assert_ptr_null (in [4].receipt);
    ck_assert_int_eq (in [4].receipt_err, PL_ERR_BAD_FIELD);
    ck_assert_msg (strstr (in [4].why, "item 1"), "%s", in [4].why);
    for (int i = 0; i < 5; i++)
        pb_inbound_clear (&in [i]);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *s = suite_create ("verifier");
    TCase *tc = tcase_create ("pool");
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, pool_does_every_item_once);
    tcase_add_test (tc, pool_start_finishes_the_job_before);
    tcase_add_test (tc, pool_back_to_back_jobs_never_mix);
    tcase_add_test (tc, pool_default_threads_in_range);
    suite_add_tcase (s, tc);
    tc = tcase_create ("checks");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, check_publish_good_forged_and_impersonated);
    tcase_add_test (tc, check_receipt_only_by_the_recipient_over_its_items);
    tcase_add_test (tc, runs_keep_a_burst_together);
    suite_add_tcase (s, tc);
    return s;
}

PL_TEST_MAIN
