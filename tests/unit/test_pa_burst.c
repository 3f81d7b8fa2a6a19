/*  test_pa_burst: a burst of deliveries kept by one inbox commit
 *  (agent/pa_burst, pa_store_inbox_add_all).
 *
 *  What the agent relies on: a burst is kept in order under consecutive
 *  inbox numbers, all or none; only what was kept is receipted, and a
 *  duplicate or a refused item does not hold back the rest; the burst
 *  says when it is full; an item twice in one burst is seen.  */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pl_test.h"
#include "pa_burst.h"
#include "pl_keys.h"
#include "passerelle.pb-c.h"

#define ID PA_STORE_EVENT_ID_SIZE

static char s_dir [64];

static void
s_setup (void)
{
    strcpy (s_dir, "/tmp/test_pa_burst.XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char path [128];
    const char *names [] = { "data.mdb", "lock.mdb" };
    for (size_t i = 0; i < 2; i++) {
        snprintf (path, sizeof path, "%s/%s", s_dir, names [i]);
        unlink (path);
    }
    rmdir (s_dir);
}

static pa_store_t *
s_open (void)
{
    char err [512];
    pa_store_t *store = pa_store_open (s_dir, 0, err, sizeof err);
    ck_assert_msg (store, "open: %s", err);
    return store;
}

static void
s_id (uint64_t i, uint8_t *id)
{
    memset (id, 0xb0, ID);
    for (int b = 0; b < 8; b++)
        id [8 + b] = (uint8_t) (i >> (8 * b));
}

//  A serialised EventHeader for event i: the inbox lists it back
static size_t
s_header (uint64_t i, const uint8_t *id, uint8_t *out)
{
    char case_ref [32];
    snprintf (case_ref, sizeof case_ref, "case-%u", (unsigned) i);
    Passerelle__EventHeader h = PASSERELLE__EVENT_HEADER__INIT;
    h.event_id = (ProtobufCBinaryData) { ID, (uint8_t *) id };
    h.event_type = "referral";
    h.case_ref = case_ref;
    h.publisher = "police";
    h.sequence = i;
    return passerelle__event_header__pack (&h, out);
}

//  Each inbox item as seq:case, in inbox order: "1:case-1 2:case-2"
static void
s_cases (pa_store_t *store, char *out, size_t size)
{
    json_t *list = pa_store_inbox_list (store, 0, 100);
    ck_assert_ptr_nonnull (list);
    *out = 0;
    for (size_t i = 0; i < json_array_size (list); i++) {
        json_t *item = json_array_get (list, i);
        size_t used = strlen (out);
        snprintf (out + used, size - used, "%s%lld:%s", i? " ": "",
                  (long long) json_integer_value (json_object_get (item, "seq")),
                  json_string_value (json_object_get (item, "case")));
    }
    json_decref (list);
}

START_TEST (add_all_keeps_a_burst_in_order_all_or_none)
{
    pa_store_t *store = s_open ();
    uint8_t ids [3][ID], headers [3][256];
    pa_inbox_item_t items [3];
    for (int i = 0; i < 3; i++) {
        s_id ((uint64_t) i + 1, ids [i]);
        size_t size = s_header ((uint64_t) i + 1, ids [i], headers [i]);
        items [i] = (pa_inbox_item_t) { ids [i], headers [i], size, (const uint8_t *) "payload",
                                        7, 1000, false, 0 };
    }
    ck_assert_int_eq (pa_store_inbox_add_all (store, items, 3), 0);
    ck_assert_uint_eq (items [0].seq, 1);
    ck_assert_uint_eq (items [2].seq, 3);
    char cases [256];
    s_cases (store, cases, sizeof cases);
    ck_assert_str_eq (cases, "1:case-1 2:case-2 3:case-3");

    //  One already kept: none of the burst is, and the numbering goes on
    uint8_t fresh [ID], fresh_header [256];
    s_id (4, fresh);
    pa_inbox_item_t again [2] = {
        { fresh, fresh_header, s_header (4, fresh, fresh_header), NULL, 0, 2000, false, 0 },
        items [1]
    };
    ck_assert_int_eq (pa_store_inbox_add_all (store, again, 2), -1);
    ck_assert_ptr_nonnull (strstr (pa_store_error (store), "already in the inbox"));
    ck_assert_uint_eq (again [0].seq, 0);
    ck_assert (!pa_store_inbox_has (store, fresh));
    //  The same id twice in one burst: refused as a whole too
    again [1] = again [0];
    ck_assert_int_eq (pa_store_inbox_add_all (store, again, 2), -1);
    ck_assert (!pa_store_inbox_has (store, fresh));
    ck_assert_uint_eq (pa_store_inbox_last (store), 3);
    ck_assert_uint_eq (pa_store_inbox_add (store, fresh, fresh_header, again [0].header_size,
                                           NULL, 0, 2000, false), 4);
    pa_store_destroy (&store);
}
END_TEST

START_TEST (a_burst_receipts_only_what_it_kept)
{
    pa_store_t *store = s_open ();
    pl_keys_t *keys = pl_keys_generate ("programme");
    pa_burst_t *burst = pa_burst_new ();
    ck_assert_ptr_nonnull (burst);
    uint8_t ids [4][ID], headers [4][256], hash [32];
    size_t sizes [4];
    for (int i = 0; i < 4; i++) {
        s_id ((uint64_t) i + 1, ids [i]);
        sizes [i] = s_header ((uint64_t) i + 1, ids [i], headers [i]);
    }
    //  Event 2 reached the inbox earlier (its receipt was lost, say)
    ck_assert_uint_eq (pa_store_inbox_add (store, ids [1], headers [1], sizes [1], NULL, 0, 1,
                                           false), 1);
    for (int i = 0; i < 4; i++) {
        memset (hash, 0x10 + i, sizeof hash);
        ck_assert_int_eq (pa_burst_add (burst, ids [i], headers [i], sizes [i],
                                        (const uint8_t *) "secret", 6, hash, i == 3,
                                        "kept"), 0);
    }
    ck_assert (pa_burst_has (burst, ids [2]));
    ck_assert_uint_eq (pa_burst_size (burst), 4);
    pl_receipt_batch_t receipts = { .count = 0 };
    size_t events;
    //  The burst as a whole is refused (event 2); each other item is kept
    //  on its own, in order, and only those are receipted
    ck_assert_uint_eq (pa_burst_commit (burst, store, &receipts, keys, NULL, &events), 3);
    ck_assert_uint_eq (events, 2);
    ck_assert_uint_eq (pa_burst_size (burst), 0);
    ck_assert (!pa_burst_has (burst, ids [2]));
    ck_assert_uint_eq (receipts.count, 3);
    ck_assert_int_eq (memcmp (receipts.items [0].event_id, ids [0], ID), 0);
    ck_assert_int_eq (memcmp (receipts.items [1].event_id, ids [2], ID), 0);
    ck_assert_int_eq (memcmp (receipts.items [2].event_id, ids [3], ID), 0);
    ck_assert_uint_eq (receipts.items [2].header_hash [0], 0x13);
    ck_assert_uint_eq (pa_store_inbox_last (store), 4);
    //  Nothing to keep: nothing receipted
    ck_assert_uint_eq (pa_burst_commit (burst, store, &receipts, keys, NULL, &events), 0);
    ck_assert_uint_eq (receipts.count, 3);
    pa_burst_destroy (&burst);
    ck_assert_ptr_null (burst);
    pl_keys_destroy (&keys);
    pa_store_destroy (&store);
}
END_TEST

START_TEST (a_burst_is_full_at_the_receipt_size_or_its_bytes)
{
    pa_burst_t *burst = pa_burst_new ();
    uint8_t id [ID], header [256], hash [32] = { 0 };
    size_t size = 0;
    for (uint64_t i = 0; i < PL_RECEIPT_ITEMS_MAX; i++) {
        ck_assert (!pa_burst_is_full (burst));
        s_id (i, id);
        size = s_header (i, id, header);
        ck_assert_int_eq (pa_burst_add (burst, id, header, size, NULL, 0, hash, false, ""), 0);
    }
    ck_assert (pa_burst_is_full (burst));
    ck_assert_int_eq (pa_burst_add (burst, id, header, size, NULL, 0, hash, false, ""), -1);
    pa_burst_destroy (&burst);

    //  A few large payloads fill it by bytes
    burst = pa_burst_new ();
    static uint8_t big [3u << 20];
    for (uint64_t i = 0; i < 3; i++) {
        ck_assert (!pa_burst_is_full (burst));
        s_id (i, id);
        ck_assert_int_eq (pa_burst_add (burst, id, header, size, big, sizeof big, hash, false,
                                        ""), 0);
    }
    ck_assert (pa_burst_is_full (burst));
    pa_burst_destroy (&burst);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *s = suite_create ("pa_burst");
    TCase *tc = tcase_create ("burst");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, add_all_keeps_a_burst_in_order_all_or_none);
    tcase_add_test (tc, a_burst_receipts_only_what_it_kept);
    tcase_add_test (tc, a_burst_is_full_at_the_receipt_size_or_its_bytes);
    suite_add_tcase (s, tc);
    return s;
}

PL_TEST_MAIN
