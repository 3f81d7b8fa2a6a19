/*  test_pa_store: the agent's durable store (agent/pa_store*).
 *
 *  Each test works in its own temporary folder and checks what the agent
 *  relies on: the outbox keeps sealed envelopes byte for byte and in
 *  acceptance order across reopen, together with the last sequence number;
 *  sends are recorded one at a time or a burst at once (skipping what is no
 *  longer pending); done
 *  items leave a readable answer; the inbox numbers, de-duplicates,
 *  lists from a cursor in pa_inbox's JSON and remembers what was processed;
 *  every add that returned success survives a kill -9; a full map refuses
 *  adds with PA_STORE_FULL while reads and removals go on; foreign or newer
 *  stores are refused with a clear reason.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <lmdb.h>
#include "pl_test.h"
#include "pa_store.h"
#include "passerelle.pb-c.h"

#define ID PA_STORE_EVENT_ID_SIZE

static char s_dir [64];
static char s_err [512];

static void
s_remove (const char *name)
{
    char path [256];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    unlink (path);
}

static void
s_setup (void)
{
    strcpy (s_dir, "/tmp/test_pa_store.XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    const char *names [] = { "data.mdb", "lock.mdb", "notes.txt" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        s_remove (names [i]);
    rmdir (s_dir);
}

static pa_store_t *
s_open (size_t map_size)
{
    pa_store_t *store = pa_store_open (s_dir, map_size, s_err, sizeof s_err);
    ck_assert_msg (store, "open: %s", s_err);
    return store;
}

//  Event id number i of a family (tag): 16 distinct bytes.
static void
s_id (uint8_t tag, uint64_t i, uint8_t *id)
{
    memset (id, tag, ID);
    for (int b = 0; b < 8; b++)
        id [8 + b] = (uint8_t) (i >> (8 * b));
}

//  Envelope number i: a size and bytes that depend on i.
static size_t
s_envelope (uint64_t i, uint8_t *out, size_t max)
{
    size_t size = 40 + (size_t) (i * 389) % 2500;
    if (size > max)
        size = max;
    for (size_t b = 0; b < size; b++)
        out [b] = (uint8_t) (i * 31 + b * 7 + (b >> 8));
    return size;
}

//  A serialised EventHeader for inbox item i (id given).
static size_t
s_header (uint64_t i, const uint8_t *id, uint8_t *out)
{
    char case_ref [32];
    snprintf (case_ref, sizeof case_ref, "case-%u", (unsigned) i);
    char *categories [] = { "identity", "risk_assessment" };
    char *to [] = { "programme" };
    Passerelle__EventHeader h = PASSERELLE__EVENT_HEADER__INIT;
    h.event_id = (ProtobufCBinaryData) { ID, (uint8_t *) id };
    h.event_type = "referral";
    h.case_ref = case_ref;
    h.publisher = "police";
    h.sequence = i;
    h.created_at_ms = 1700000000000ULL + i;
    h.valid_until_ms = 1800000000000ULL;
    h.n_categories = 2;
    h.categories = categories;
    h.purpose = "protection";
    h.legal_basis = "court_order";
    h.risk_level = "high";
    h.n_to_agencies = 1;
    h.to_agencies = to;
    return passerelle__event_header__pack (&h, out);
}

static size_t
s_notice (const uint8_t *id, uint8_t *out)
{
    Passerelle__Notice n = PASSERELLE__NOTICE__INIT;
    n.kind = "consent_withdrawn";
    n.notice_id = (ProtobufCBinaryData) { ID, (uint8_t *) id };
    n.at_ms = 1700000000123ULL;
    n.case_ref = "case-7";
    n.consent_id = "c-1";
    n.agency = "programme";
    n.text = "consent c-1 withdrawn";
    return passerelle__notice__pack (&n, out);
}

static uint64_t
s_inbox_add_event (pa_store_t *store, uint64_t i, const char *payload)
{
    uint8_t id [ID], header [512];
    s_id (0xe0, i, id);
    size_t size = s_header (i, id, header);
    return pa_store_inbox_add (store, id, header, size, (const uint8_t *) payload,
                               strlen (payload), 1000 + i, false);
}

static void
s_hex (const uint8_t *id, char *hex)
{
    for (int b = 0; b < ID; b++)
        sprintf (hex + 2 * b, "%02x", id [b]);
}

//  --------------------------------------------------------------------------

START_TEST (outbox_survives_reopen_in_order)
{
    pa_store_t *store = s_open (0);
    uint8_t id [ID], envelope [4096];
    ck_assert_uint_eq (pa_store_last_sequence (store), 0);
    ck_assert_uint_eq (pa_store_outbox_depth (store), 0);
    for (uint64_t i = 1; i <= 5; i++) {
        s_id (0xa0, i, id);
        size_t size = s_envelope (i, envelope, sizeof envelope);
        ck_assert_msg (pa_store_outbox_add (store, id, envelope, size, i, 100 * i) == 0,
                       "add %d: %s", (int) i, pa_store_error (store));
    }
    //  A sequence number is never reused, an event id never added twice
    s_id (0xa0, 9, id);
    ck_assert_int_eq (pa_store_outbox_add (store, id, envelope, 10, 5, 0), -1);
    ck_assert_ptr_nonnull (strstr (pa_store_error (store), "sequence number 5"));
    ck_assert_int_eq (pa_store_outbox_add (store, id, envelope, 10, 3, 0), -1);
    s_id (0xa0, 2, id);
    ck_assert_int_eq (pa_store_outbox_add (store, id, envelope, 10, 6, 0), -1);
    ck_assert_ptr_nonnull (strstr (pa_store_error (store), "already"));
    ck_assert_int_eq (pa_store_outbox_add (store, id, NULL, 0, 6, 0), -1);
    ck_assert_uint_eq (pa_store_last_sequence (store), 5);
    ck_assert_uint_eq (pa_store_outbox_depth (store), 5);
    pa_store_destroy (&store);
    ck_assert_ptr_null (store);

    store = s_open (0);
    ck_assert_uint_eq (pa_store_last_sequence (store), 5);
    ck_assert_uint_eq (pa_store_outbox_depth (store), 5);
    pa_store_pending_t item = { 0 };
    uint64_t after = 0, count = 0;
    while (pa_store_outbox_next (store, after, UINT64_MAX, &item) == 0) {
        count++;
        s_id (0xa0, count, id);
        size_t size = s_envelope (count, envelope, sizeof envelope);
        ck_assert_uint_eq (item.sequence, count);
        ck_assert_mem_eq (item.event_id, id, ID);
        ck_assert_uint_eq (item.size, size);
        ck_assert_mem_eq (item.envelope, envelope, size);
        ck_assert_uint_eq (item.accepted_at_ms, 100 * count);
        ck_assert_uint_eq (item.attempts, 0);
        ck_assert_uint_eq (item.next_attempt_ms, 100 * count);
        after = item.sequence;
    }
    pa_store_pending_clear (&item);
    ck_assert_uint_eq (count, 5);

    //  Attempts and backoff: only due items come out
    s_id (0xa0, 1, id);
    ck_assert_int_eq (pa_store_outbox_attempted (store, id, 10000), 0);
    ck_assert_int_eq (pa_store_outbox_attempted (store, id, 20000), 0);
    ck_assert_int_eq (pa_store_outbox_next (store, 0, 1000, &item), 0);
    ck_assert_uint_eq (item.sequence, 2);
    ck_assert_int_eq (pa_store_outbox_get (store, id, &item), 0);
    ck_assert_uint_eq (item.attempts, 2);
    ck_assert_uint_eq (item.next_attempt_ms, 20000);
    ck_assert_int_eq (pa_store_outbox_next (store, 5, UINT64_MAX, &item), PA_STORE_NOT_FOUND);
    ck_assert_ptr_null (item.envelope);
    s_id (0xa0, 77, id);
    ck_assert_int_eq (pa_store_outbox_attempted (store, id, 1), PA_STORE_NOT_FOUND);
    ck_assert_int_eq (pa_store_outbox_get (store, id, &item), PA_STORE_NOT_FOUND);

    //  A burst sent together is recorded in one go; an event no longer
    //  pending (77, never added) is skipped, and none pending is NOT_FOUND
    uint8_t burst [3][ID];
    uint64_t next [3] = { 40000, 50000, 60000 };
    s_id (0xa0, 77, burst [0]);
    s_id (0xa0, 4, burst [1]);
    s_id (0xa0, 5, burst [2]);
    ck_assert_int_eq (pa_store_outbox_attempted_all (store, (const uint8_t (*) [16]) burst, next, 1),
                      PA_STORE_NOT_FOUND);
    ck_assert_int_eq (pa_store_outbox_attempted_all (store, (const uint8_t (*) [16]) burst, next, 3),
                      0);
    for (int i = 1; i < 3; i++) {
        ck_assert_int_eq (pa_store_outbox_get (store, burst [i], &item), 0);
        ck_assert_uint_eq (item.attempts, 1);
        ck_assert_uint_eq (item.next_attempt_ms, next [i]);
    }

    //  Done: gone from the outbox, the answer and recipients kept
    const char *answer = "{\"accepted\":true,\"status\":\"ok\",\"decisions\":"
                         "[{\"recipient\":\"programme\",\"allowed\":true}]}";
    const char *recipients [] = { "programme", "social_services" };
    s_id (0xa0, 1, id);
    ck_assert_int_eq (pa_store_outbox_done (store, id, "{not json", NULL, 0), -1);
    ck_assert_int_eq (pa_store_outbox_done (store, id, answer, (const char *[]) { "a,b" }, 1), -1);
    ck_assert_uint_eq (pa_store_outbox_depth (store), 5);
    ck_assert_int_eq (pa_store_outbox_done (store, id, answer, recipients, 2), 0);
    ck_assert_int_eq (pa_store_outbox_done (store, id, answer, recipients, 2), PA_STORE_NOT_FOUND);
    ck_assert_int_eq (pa_store_outbox_get (store, id, &item), PA_STORE_NOT_FOUND);
    s_id (0xa0, 3, id);
    ck_assert_int_eq (pa_store_outbox_done (store, id, "{\"accepted\":false}", NULL, 0), 0);
    ck_assert_uint_eq (pa_store_outbox_depth (store), 3);
    pa_store_destroy (&store);

    store = s_open (0);
    char *text = NULL;
    s_id (0xa0, 1, id);
    ck_assert_int_eq (pa_store_sent_lookup (store, id, &text), 0);
    ck_assert_str_eq (text, answer);
    free (text);
    ck_assert_int_eq (pa_store_shared_with (store, id, &text), 0);
    ck_assert_str_eq (text, "programme,social_services");
    free (text);
    s_id (0xa0, 3, id);
    ck_assert_int_eq (pa_store_sent_lookup (store, id, &text), 0);
    ck_assert_str_eq (text, "{\"accepted\":false}");
    free (text);
    ck_assert_int_eq (pa_store_shared_with (store, id, &text), PA_STORE_NOT_FOUND);
    ck_assert_ptr_null (text);
    s_id (0xa0, 2, id);
    ck_assert_int_eq (pa_store_sent_lookup (store, id, &text), PA_STORE_NOT_FOUND);
    //  What is left comes out in order, the backoff kept; a sent id is not
    //  accepted again; the sequence goes on from 5
    after = 0;
    uint64_t expected [] = { 2, 4, 5 };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq (pa_store_outbox_next (store, after, UINT64_MAX, &item), 0);
        ck_assert_uint_eq (item.sequence, expected [i]);
        after = item.sequence;
    }
    pa_store_pending_clear (&item);
    s_id (0xa0, 1, id);
    ck_assert_int_eq (pa_store_outbox_add (store, id, envelope, 10, 6, 0), -1);
    ck_assert_uint_eq (pa_store_last_sequence (store), 5);
    s_id (0xa0, 6, id);
    ck_assert_int_eq (pa_store_outbox_add (store, id, envelope, 10, 6, 600), 0);
    ck_assert_uint_eq (pa_store_last_sequence (store), 6);
    pa_store_destroy (&store);
}
END_TEST

START_TEST (inbox_numbers_lists_and_marks)
{
    pa_store_t *store = s_open (0);
    uint8_t id [ID], notice [512];
    ck_assert_uint_eq (pa_store_inbox_last (store), 0);
    s_id (0xe0, 1, id);
    ck_assert (!pa_store_inbox_has (store, id));
    ck_assert_uint_eq (s_inbox_add_event (store, 1, "first referral"), 1);
    ck_assert (pa_store_inbox_has (store, id));
    //  A redelivery is recognised and not kept twice
    ck_assert_uint_eq (s_inbox_add_event (store, 1, "first referral"), 0);
    ck_assert_ptr_nonnull (strstr (pa_store_error (store), "already"));
    ck_assert_uint_eq (pa_store_inbox_last (store), 1);
    s_id (0xc0, 1, id);
    size_t notice_size = s_notice (id, notice);
    ck_assert_uint_eq (pa_store_inbox_add (store, id, notice, notice_size, NULL, 0, 2000, true), 2);
    //  A payload that is not text travels as base64
    uint8_t binary [] = { 'a', 0, 'b', 0xff }, header [512];
    s_id (0xe0, 3, id);
    size_t header_size = s_header (3, id, header);
    ck_assert_uint_eq (pa_store_inbox_add (store, id, header, header_size, binary,
                                           sizeof binary, 3000, false), 3);
    ck_assert_uint_eq (s_inbox_add_event (store, 4, "fourth"), 4);
    ck_assert_uint_eq (s_inbox_add_event (store, 5, ""), 5);
    ck_assert_uint_eq (pa_store_inbox_last (store), 5);

    json_t *list = pa_store_inbox_list (store, 0, 100);
    ck_assert_ptr_nonnull (list);
    ck_assert_uint_eq (json_array_size (list), 5);
    json_t *first = json_array_get (list, 0);
    char hex [2 * ID + 1];
    s_id (0xe0, 1, id);
    s_hex (id, hex);
    ck_assert_int_eq (json_integer_value (json_object_get (first, "seq")), 1);
    ck_assert_str_eq (json_string_value (json_object_get (first, "event_id")), hex);
    ck_assert_str_eq (json_string_value (json_object_get (first, "type")), "referral");
    ck_assert_str_eq (json_string_value (json_object_get (first, "case")), "case-1");
    ck_assert_str_eq (json_string_value (json_object_get (first, "publisher")), "police");
    ck_assert_str_eq (json_string_value (json_object_get (first, "payload")), "first referral");
    ck_assert_str_eq (json_string_value (json_object_get (first, "risk")), "high");
    ck_assert_str_eq (json_string_value (json_object_get (first, "basis")), "court_order");
    ck_assert_int_eq (json_integer_value (json_object_get (first, "received_at_ms")), 1001);
    ck_assert_uint_eq (json_array_size (json_object_get (first, "categories")), 2);
    ck_assert_str_eq (json_string_value (json_array_get (json_object_get (first, "to"), 0)),
                      "programme");
    ck_assert (json_is_false (json_object_get (first, "processed")));
    ck_assert_ptr_null (json_object_get (first, "consent"));
    json_t *second = json_array_get (list, 1);
    ck_assert_str_eq (json_string_value (json_object_get (second, "type")), "notice");
    ck_assert_str_eq (json_string_value (json_object_get (second, "kind")), "consent_withdrawn");
    ck_assert_str_eq (json_string_value (json_object_get (second, "consent")), "c-1");
    s_id (0xc0, 1, id);
    s_hex (id, hex);
    ck_assert_str_eq (json_string_value (json_object_get (second, "notice_id")), hex);
    ck_assert_ptr_null (json_object_get (second, "payload"));
    json_t *third = json_array_get (list, 2);
    ck_assert_ptr_null (json_object_get (third, "payload"));
    ck_assert_str_eq (json_string_value (json_object_get (third, "payload_base64")), "YQBi/w==");
    ck_assert_str_eq (json_string_value (json_object_get (json_array_get (list, 4), "payload")),
                      "");
    json_decref (list);

    //  Cursor and max
    list = pa_store_inbox_list (store, 2, 2);
    ck_assert_uint_eq (json_array_size (list), 2);
    ck_assert_int_eq (json_integer_value (json_object_get (json_array_get (list, 0), "seq")), 3);
    ck_assert_int_eq (json_integer_value (json_object_get (json_array_get (list, 1), "seq")), 4);
    json_decref (list);
    list = pa_store_inbox_list (store, 5, 10);
    ck_assert_uint_eq (json_array_size (list), 0);
    json_decref (list);
    list = pa_store_inbox_list (store, 0, 0);
    ck_assert_uint_eq (json_array_size (list), 0);
    json_decref (list);
    list = pa_store_inbox_list (store, UINT64_MAX, 10);
    ck_assert_uint_eq (json_array_size (list), 0);
    json_decref (list);

    //  Processed, once, the first time kept
    ck_assert_int_eq (pa_store_inbox_mark_processed (store, 2, 7000), 0);
    ck_assert_int_eq (pa_store_inbox_mark_processed (store, 2, 8000), 0);
    ck_assert_int_eq (pa_store_inbox_mark_processed (store, 6, 8000), PA_STORE_NOT_FOUND);
    ck_assert_int_eq (pa_store_inbox_mark_processed (store, 0, 8000), PA_STORE_NOT_FOUND);
    pa_store_destroy (&store);

    //  Reopened: everything there, numbering goes on
    store = s_open (0);
    ck_assert_uint_eq (pa_store_inbox_last (store), 5);
    s_id (0xc0, 1, id);
    ck_assert (pa_store_inbox_has (store, id));
    list = pa_store_inbox_list (store, 1, 1);
    ck_assert_uint_eq (json_array_size (list), 1);
    second = json_array_get (list, 0);
    ck_assert (json_is_true (json_object_get (second, "processed")));
    ck_assert_int_eq (json_integer_value (json_object_get (second, "processed_at_ms")), 7000);
    json_decref (list);
    list = pa_store_inbox_list (store, 0, 100);
    ck_assert_uint_eq (json_array_size (list), 5);
    ck_assert (json_is_false (json_object_get (json_array_get (list, 0), "processed")));
    json_decref (list);
    ck_assert_uint_eq (s_inbox_add_event (store, 6, "sixth"), 6);
    ck_assert_uint_eq (pa_store_inbox_add (store, NULL, notice, notice_size, NULL, 0, 0, true), 0);
    pa_store_destroy (&store);
}
END_TEST

START_TEST (checkpoint_kept_and_never_rolled_back)
{
    pa_store_t *store = s_open (0);
    uint8_t root_a [PA_STORE_ROOT_SIZE], root_b [PA_STORE_ROOT_SIZE], root [PA_STORE_ROOT_SIZE];
    memset (root_a, 0xaa, sizeof root_a);
    memset (root_b, 0xbb, sizeof root_b);
    char *note = NULL;
    uint64_t size = 99;
    ck_assert_int_eq (pa_store_checkpoint_load (store, &note, &size, root), PA_STORE_NOT_FOUND);
    ck_assert_ptr_null (note);
    ck_assert_int_eq (pa_store_checkpoint_save (store, "broker\n10\nqqq=\n", 10, root_a), 0);
    ck_assert_int_eq (pa_store_checkpoint_save (store, "older", 9, root_a), -1);
    ck_assert_int_eq (pa_store_checkpoint_save (store, "fork", 10, root_b), -1);
    ck_assert_int_eq (pa_store_checkpoint_save (store, "same", 10, root_a), 0);
    ck_assert_int_eq (pa_store_checkpoint_save (store, "broker\n12\nrrr=\n", 12, root_b), 0);
    pa_store_destroy (&store);
    store = s_open (0);
    ck_assert_int_eq (pa_store_checkpoint_load (store, &note, &size, root), 0);
    ck_assert_str_eq (note, "broker\n12\nrrr=\n");
    ck_assert_uint_eq (size, 12);
    ck_assert_mem_eq (root, root_b, sizeof root);
    free (note);
    ck_assert_int_eq (pa_store_checkpoint_load (store, NULL, &size, NULL), 0);
    pa_store_destroy (&store);
}
END_TEST

//  The child adds outbox and inbox items from `from` on until killed, and
//  writes the index of each item both adds returned success for.
static void
s_child_adds (int fd, uint64_t from)
{
    pa_store_t *store = pa_store_open (s_dir, 0, s_err, sizeof s_err);
    if (!store)
        _exit (2);
    uint8_t id [ID], envelope [4096];
    char payload [64];
    for (uint64_t i = from; i < from + 200000; i++) {
        s_id (0xa0, i, id);
        size_t size = s_envelope (i, envelope, sizeof envelope);
        snprintf (payload, sizeof payload, "payload of item %llu", (unsigned long long) i);
        if (pa_store_outbox_add (store, id, envelope, size, i, i) != 0
        ||  s_inbox_add_event (store, i, payload) == 0)
            _exit (3);
        if (write (fd, &i, sizeof i) != sizeof i)
            _exit (4);
    }
    _exit (0);
}

START_TEST (every_acknowledged_add_survives_kill_9)
{
    srand ((unsigned) time (NULL) ^ (unsigned) getpid ());
    uint64_t acknowledged = 0;
    //  Items each round acknowledged: [first, last] (an item the kill cut
    //  between its outbox and its inbox add has no inbox entry)
    uint64_t ranges [4][2];
    for (int round = 0; round < 4; round++) {
        pa_store_t *store = s_open (0);
        uint64_t from = pa_store_last_sequence (store) + 1;
        ck_assert_uint_ge (from, acknowledged + 1);
        pa_store_destroy (&store);
        int fds [2];
        ck_assert_int_eq (pipe (fds), 0);
        pid_t pid = fork ();
        ck_assert_int_ge (pid, 0);
        if (pid == 0) {
            close (fds [0]);
            s_child_adds (fds [1], from);
        }
        close (fds [1]);
        //  Kill it at a random moment once it is under way
        uint64_t index;
        ck_assert_int_eq (read (fds [0], &index, sizeof index), sizeof index);
        acknowledged = index;
        usleep (1000 + (useconds_t) (rand () % 60000));
        kill (pid, SIGKILL);
        int status;
        ck_assert_int_eq (waitpid (pid, &status, 0), pid);
        ck_assert_msg (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL,
                       "child ended by itself, status %d", status);
        while (read (fds [0], &index, sizeof index) == sizeof index)
            acknowledged = index;
        close (fds [0]);
        ck_assert_uint_ge (acknowledged, from);

        //  Everything acknowledged is there, intact; at most one item more
        store = s_open (0);
        uint64_t last = pa_store_last_sequence (store);
        ck_assert_uint_ge (last, acknowledged);
        ck_assert_uint_le (last, acknowledged + 1);
        uint8_t id [ID], envelope [4096];
        pa_store_pending_t item = { 0 };
        uint64_t after = 0, expected = 1;
        while (pa_store_outbox_next (store, after, UINT64_MAX, &item) == 0) {
            ck_assert_uint_eq (item.sequence, expected);
            s_id (0xa0, expected, id);
            size_t size = s_envelope (expected, envelope, sizeof envelope);
            ck_assert_mem_eq (item.event_id, id, ID);
            ck_assert_uint_eq (item.size, size);
            ck_assert_mem_eq (item.envelope, envelope, size);
            after = item.sequence;
            expected++;
        }
        pa_store_pending_clear (&item);
        ck_assert_uint_eq (expected - 1, last);
        ck_assert_uint_eq (pa_store_outbox_depth (store), last);
        ranges [round][0] = from;
        ranges [round][1] = acknowledged;
        for (int r = 0; r <= round; r++)
            for (uint64_t i = ranges [r][0]; i <= ranges [r][1]; i++) {
                s_id (0xe0, i, id);
                ck_assert_msg (pa_store_inbox_has (store, id), "inbox item %d lost", (int) i);
            }
        //  Inbox payloads intact, numbered without a gap
        uint64_t seq = 0;
        for (;;) {
            json_t *list = pa_store_inbox_list (store, seq, 1000);
            ck_assert_ptr_nonnull (list);
            size_t n = json_array_size (list);
            for (size_t k = 0; k < n; k++) {
                json_t *event = json_array_get (list, k);
                ck_assert_int_eq (json_integer_value (json_object_get (event, "seq")), seq + 1);
                seq++;
                char payload [64];
                uint64_t i = (uint64_t) json_integer_value (json_object_get (event, "sequence"));
                snprintf (payload, sizeof payload, "payload of item %llu", (unsigned long long) i);
                ck_assert_str_eq (json_string_value (json_object_get (event, "payload")), payload);
            }
            json_decref (list);
            if (n == 0)
                break;
        }
        ck_assert_uint_eq (seq, pa_store_inbox_last (store));
        uint64_t kept = 0;
        for (int r = 0; r <= round; r++)
            kept += ranges [r][1] - ranges [r][0] + 1;
        ck_assert_uint_ge (seq, kept);
        pa_store_destroy (&store);
    }
}
END_TEST

START_TEST (full_map_refuses_adds_keeps_the_rest)
{
    pa_store_t *store = s_open (1 << 20);
    uint8_t id [ID], envelope [3000], header [512];
    memset (envelope, 0x5a, sizeof envelope);
    uint64_t n = 0;
    int rc;
    for (;;) {
        s_id (0xa0, n + 1, id);
        envelope [0] = (uint8_t) (n + 1);
        if ((rc = pa_store_outbox_add (store, id, envelope, sizeof envelope, n + 1, n)) != 0)
            break;
        n++;
        ck_assert_uint_lt (n, 1000);
    }
    ck_assert_int_eq (rc, PA_STORE_FULL);
    ck_assert_ptr_nonnull (strstr (pa_store_error (store), "store full"));
    ck_assert_uint_gt (n, 50);
    ck_assert (!pa_store_has_room (store, sizeof envelope));
    ck_assert_uint_eq (pa_store_last_sequence (store), n);     //  the refused one used none
    s_id (0xe0, 1, id);
    size_t header_size = s_header (1, id, header);
    ck_assert_uint_eq (pa_store_inbox_add (store, id, header, header_size, envelope,
                                           sizeof envelope, 0, false), 0);
    ck_assert_ptr_nonnull (strstr (pa_store_error (store), "store full"));
    //  Earlier items intact; small updates and removals still go through
    pa_store_pending_t item = { 0 };
    uint64_t after = 0, count = 0;
    while (pa_store_outbox_next (store, after, UINT64_MAX, &item) == 0) {
        count++;
        ck_assert_uint_eq (item.size, sizeof envelope);
        ck_assert_uint_eq (item.envelope [0], (uint8_t) count);
        ck_assert_mem_eq (item.envelope + 1, envelope + 1, sizeof envelope - 1);
        ck_assert_int_eq (pa_store_outbox_attempted (store, item.event_id, 5000), 0);
        after = item.sequence;
    }
    ck_assert_uint_eq (count, n);
    uint8_t root [PA_STORE_ROOT_SIZE] = { 1 };
    ck_assert_int_eq (pa_store_checkpoint_save (store, "checkpoint", 3, root), 0);
    const char *to [] = { "programme" };
    for (uint64_t i = 1; i <= n; i++) {
        s_id (0xa0, i, id);
        ck_assert_msg (pa_store_outbox_done (store, id, "{\"accepted\":true}", to, 1) == 0,
                       "done %d: %s", (int) i, pa_store_error (store));
    }
    ck_assert_uint_eq (pa_store_outbox_depth (store), 0);
    //  Room again
    ck_assert (pa_store_has_room (store, sizeof envelope));
    s_id (0xa0, n + 1, id);
    ck_assert_int_eq (pa_store_outbox_add (store, id, envelope, sizeof envelope, n + 1, 0), 0);
    s_id (0xe0, 1, id);
    ck_assert_uint_eq (pa_store_inbox_add (store, id, header, header_size, envelope,
                                           sizeof envelope, 0, false), 1);
    //  One envelope bigger than the map: refused, same code
    uint8_t *huge = calloc (1, 2 << 20);
    s_id (0xa0, n + 2, id);
    ck_assert_int_eq (pa_store_outbox_add (store, id, huge, 2 << 20, n + 2, 0), PA_STORE_FULL);
    free (huge);
    pa_store_destroy (&store);
    store = s_open (1 << 20);
    ck_assert_uint_eq (pa_store_last_sequence (store), n + 1);
    pa_store_destroy (&store);
}
END_TEST

START_TEST (newer_schema_refused)
{
    pa_store_t *store = s_open (0);
    pa_store_destroy (&store);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 16), 0);
    ck_assert_int_eq (mdb_env_open (env, s_dir, 0, 0600), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "meta", 0, &meta), 0);
    uint8_t schema [4] = { 0, 0, 0, PA_STORE_SCHEMA + 1 };
    MDB_val k = { 6, "schema" }, v = { 4, schema };
    ck_assert_int_eq (mdb_put (txn, meta, &k, &v, 0), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
    ck_assert_ptr_null (pa_store_open (s_dir, 0, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "newer passerelle") && strstr (s_err, s_dir), "%s", s_err);
}
END_TEST

START_TEST (not_a_store_refused)
{
    //  A folder holding other things: refused, nothing created in it
    char path [256];
    snprintf (path, sizeof path, "%s/notes.txt", s_dir);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs ("case notes\n", file);
    fclose (file);
    ck_assert_ptr_null (pa_store_open (s_dir, 0, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "not a passerelle agent store"), "%s", s_err);
    snprintf (path, sizeof path, "%s/data.mdb", s_dir);
    ck_assert_int_eq (access (path, F_OK), -1);
    //  A path that is a file
    snprintf (path, sizeof path, "%s/notes.txt", s_dir);
    ck_assert_ptr_null (pa_store_open (path, 0, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "not a folder"), "%s", s_err);
    s_remove ("notes.txt");

    //  A data.mdb that is not LMDB
    snprintf (path, sizeof path, "%s/data.mdb", s_dir);
    file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    for (int i = 0; i < 3000; i++)
        fputs ("this is no database ", file);
    fclose (file);
    ck_assert_ptr_null (pa_store_open (s_dir, 0, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "not a passerelle agent store"), "%s", s_err);
    s_remove ("data.mdb");
    s_remove ("lock.mdb");

    //  An LMDB store of something else
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 4), 0);
    ck_assert_int_eq (mdb_env_open (env, s_dir, 0, 0600), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "queue", MDB_CREATE, &dbi), 0);
    MDB_val k = { 3, "key" }, v = { 5, "value" };
    ck_assert_int_eq (mdb_put (txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
    ck_assert_ptr_null (pa_store_open (s_dir, 0, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "another kind"), "%s", s_err);

    //  A map size below the minimum
    ck_assert_ptr_null (pa_store_open (s_dir, 4096, s_err, sizeof s_err));
    ck_assert_msg (strstr (s_err, "minimum"), "%s", s_err);
}
END_TEST

START_TEST (private_folder)
{
    //  An existing folder open to others is narrowed; files are 0600
    ck_assert_int_eq (chmod (s_dir, 0755), 0);
    pa_store_t *store = s_open (0);
    ck_assert_uint_eq (s_inbox_add_event (store, 1, "secret"), 1);
    pa_store_destroy (&store);
    struct stat st;
    ck_assert_int_eq (stat (s_dir, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0700);
    char path [256];
    snprintf (path, sizeof path, "%s/data.mdb", s_dir);
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (st.st_mode & 077, 0);
    //  A folder that does not exist yet is created 0700
    char sub [128];
    snprintf (sub, sizeof sub, "%s/sub", s_dir);
    store = pa_store_open (sub, 0, s_err, sizeof s_err);
    ck_assert_msg (store, "%s", s_err);
    pa_store_destroy (&store);
    ck_assert_int_eq (stat (sub, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0700);
    snprintf (path, sizeof path, "%s/data.mdb", sub);
    unlink (path);
    snprintf (path, sizeof path, "%s/lock.mdb", sub);
    unlink (path);
    ck_assert_int_eq (rmdir (sub), 0);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pa_store");
    TCase *tc = tcase_create ("store");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, outbox_survives_reopen_in_order);
    tcase_add_test (tc, inbox_numbers_lists_and_marks);
    tcase_add_test (tc, checkpoint_kept_and_never_rolled_back);
    tcase_add_test (tc, every_acknowledged_add_survives_kill_9);
    tcase_add_test (tc, full_map_refuses_adds_keeps_the_rest);
    tcase_add_test (tc, newer_schema_refused);
    tcase_add_test (tc, not_a_store_refused);
    tcase_add_test (tc, private_folder);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
