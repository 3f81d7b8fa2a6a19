/*  Unit tests: passerelle-audit's pure parts (pb_audit): entries as rows,
 *  filters and their errors, dates, tables in the three formats,
 *  percentiles; and verify on a store written here, untouched and with its
 *  tree disagreeing with an entry.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pl_test.h"
#include "pb_audit.h"
#include "pb_store_state.h"
#include "pl_checkpoint.h"
#include "pl_keys.h"
#include "passerelle.pb-c.h"

static uint8_t *
s_entry (const char *kind, const char *case_ref, size_t n_decisions, size_t *size)
{
    Passerelle__LogEntry e = PASSERELLE__LOG_ENTRY__INIT;
    Passerelle__LogDecision d [2], *list [2];
    char *categories [] = { "identity", "referral" };
    static uint8_t id [16] = { 0xab, 0xcd };
    e.kind = (char *) kind;
    e.at_ms = 1772360000123ull;                 //  2026-03-01T10:13:20.123Z
    e.case_ref = (char *) case_ref;
    e.publisher = "police-paris";
    e.event_type = "referral";
    e.categories = categories;
    e.n_categories = 2;
    e.purpose = "referral";
    e.legal_basis = "legal_obligation";
    e.event_id.data = id;
    e.event_id.len = 16;
    const char *to [] = { "pp-paris", "ss-paris" };
    for (size_t i = 0; i < n_decisions; i++) {
        passerelle__log_decision__init (&d [i]);
        d [i].recipient = (char *) to [i];
        d [i].allowed = i == 0;
        d [i].code = i == 0? "allowed": "consent_missing";
        d [i].rule = "r1";
        d [i].needs_review = i == 0;
        list [i] = &d [i];
    }
    e.decisions = list;
    e.n_decisions = n_decisions;
    *size = passerelle__log_entry__get_packed_size (&e);
    uint8_t *bytes = malloc (*size);
    passerelle__log_entry__pack (&e, bytes);
    return bytes;
}

//  Rows live during their callback only: keep them as text.
typedef struct {
    char text [4][300];
    size_t count;
    const pb_audit_filter_t *filter;
    bool match [4];
} s_rows_t;

static int
s_keep (const pb_audit_row_t *row, void *arg)
{
    s_rows_t *rows = arg;
    snprintf (rows->text [rows->count], 300, "%llu %s %s %s %s %s %s %s %s",
              (unsigned long long) row->index, row->kind, row->case_ref, row->from, row->to,
              *row->decision? row->decision: "-", *row->code? row->code: "-",
              row->categories, row->needs_review? "review": "-");
    if (rows->filter)
        rows->match [rows->count] = pb_audit_filter_match (NULL, rows->filter, row);
    rows->count++;
    return 0;
}

START_TEST (an_entry_is_one_row_per_decision)
{
    size_t size;
    uint8_t *bytes = s_entry ("publish", "C-1", 2, &size);
    s_rows_t rows = { .count = 0 };
    ck_assert_int_eq (pb_audit_rows (7, bytes, size, s_keep, &rows), 0);
    ck_assert_uint_eq (rows.count, 2);
    ck_assert_str_eq (rows.text [0], "7 publish C-1 police-paris pp-paris allow allowed "
                                     "identity,referral review");
    ck_assert_str_eq (rows.text [1], "7 publish C-1 police-paris ss-paris deny consent_missing "
                                     "identity,referral -");
    free (bytes);
    //  No decisions: one row; garbage: -1
    bytes = s_entry ("notice", "", 0, &size);
    rows.count = 0;
    ck_assert_int_eq (pb_audit_rows (1, bytes, size, s_keep, &rows), 0);
    ck_assert_uint_eq (rows.count, 1);
    ck_assert_str_eq (rows.text [0], "1 notice  police-paris  - - identity,referral -");
    free (bytes);
    uint8_t junk [] = { 0xff, 0xff, 0xff };
    ck_assert_int_eq (pb_audit_rows (1, junk, 3, s_keep, &rows), -1);
}
END_TEST

//  Which of the two rows of a two-decision entry f lets through: "10" etc.
static const char *
s_matches (const pb_audit_filter_t *f)
{
    static char out [3];
    size_t size;
    uint8_t *bytes = s_entry ("publish", "C-1", 2, &size);
    s_rows_t rows = { .count = 0, .filter = f };
    pb_audit_rows (0, bytes, size, s_keep, &rows);
    free (bytes);
    out [0] = rows.match [0]? '1': '0';
    out [1] = rows.match [1]? '1': '0';
    out [2] = 0;
    return out;
}

START_TEST (filters_check_their_values_and_match_rows)
{
    pb_audit_filter_t f;
    char err [256];
    pb_audit_filter_init (&f);
    ck_assert_int_eq (pb_audit_filter_set (&f, "decision", "maybe", err, sizeof err), -1);
    ck_assert_str_eq (err, "--decision is allow or deny, not 'maybe'");
    ck_assert_int_eq (pb_audit_filter_set (&f, "role", "wizard", err, sizeof err), -1);
    ck_assert_str_eq (err, "unknown role 'wizard'");
    ck_assert_int_eq (pb_audit_filter_set (&f, "basis", "whim", err, sizeof err), -1);
    ck_assert_int_eq (pb_audit_filter_set (&f, "type", "gossip", err, sizeof err), -1);
    ck_assert_int_eq (pb_audit_filter_set (&f, "since", "soon", err, sizeof err), -1);
    ck_assert_ptr_nonnull (strstr (err, "is not a date"));
    ck_assert_int_eq (pb_audit_filter_set (&f, "case", "", err, sizeof err), -1);
    ck_assert_str_eq (s_matches (&f), "11");
    ck_assert_int_eq (pb_audit_filter_set (&f, "decision", "deny", err, sizeof err), 0);
    ck_assert_str_eq (s_matches (&f), "01");
    ck_assert_int_eq (pb_audit_filter_set (&f, "agency", "ss-paris", err, sizeof err), 0);
    ck_assert_int_eq (pb_audit_filter_set (&f, "type", "referral", err, sizeof err), 0);
    ck_assert_int_eq (pb_audit_filter_set (&f, "basis", "legal_obligation", err, sizeof err), 0);
    ck_assert_int_eq (pb_audit_filter_set (&f, "reason", "consent_missing", err, sizeof err), 0);
    ck_assert_int_eq (pb_audit_filter_set (&f, "since", "2026-03-01", err, sizeof err), 0);
    ck_assert_int_eq (pb_audit_filter_set (&f, "until", "2026-03-01", err, sizeof err), 0);
    ck_assert_str_eq (s_matches (&f), "01");
    ck_assert_int_eq (pb_audit_filter_set (&f, "until", "2026-03-01T10:13", err, sizeof err), 0);
    ck_assert_str_eq (s_matches (&f), "00");
    pb_audit_filter_init (&f);
    ck_assert_int_eq (pb_audit_filter_set (&f, "case", "C-2", err, sizeof err), 0);
    ck_assert_str_eq (s_matches (&f), "00");
    //  A role filter without a directory matches nothing
    pb_audit_filter_init (&f);
    ck_assert_int_eq (pb_audit_filter_set (&f, "role", "police", err, sizeof err), 0);
    ck_assert_str_eq (s_matches (&f), "00");
}
END_TEST

START_TEST (dates_are_utc_and_until_takes_the_whole_day)
{
    uint64_t ms;
    char buf [32];
    ck_assert_int_eq (pb_audit_parse_time ("2026-03-01", false, &ms), 0);
    ck_assert_str_eq (pb_audit_format_time (ms, buf), "2026-03-01T00:00:00.000Z");
    ck_assert_int_eq (pb_audit_parse_time ("2026-03-01", true, &ms), 0);
    ck_assert_str_eq (pb_audit_format_time (ms, buf), "2026-03-02T00:00:00.000Z");
    ck_assert_int_eq (pb_audit_parse_time ("2026-03-01T10:13:20Z", false, &ms), 0);
    ck_assert_uint_eq (ms, 1772360000000ull);
    ck_assert_int_eq (pb_audit_parse_time ("1772360000123", false, &ms), 0);
    ck_assert_str_eq (pb_audit_format_time (ms, buf), "2026-03-01T10:13:20.123Z");
    ck_assert_int_eq (pb_audit_parse_time ("2026-13-01", false, &ms), -1);
    ck_assert_int_eq (pb_audit_parse_time ("2026-03-01T10", false, &ms), -1);
    ck_assert_int_eq (pb_audit_parse_time ("2026-03-01T10:00+02", false, &ms), -1);
    ck_assert_int_eq (pb_audit_parse_time ("", false, &ms), -1);
}
END_TEST

static char *
s_table (pb_audit_format_t format)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    const char *columns [] = { "INDEX#", "NAME", "NOTE", NULL };
    pb_audit_table_t *t = pb_audit_table_new (out, format, columns);
    const char *a [] = { "1", "police-paris", "a, \"quoted\" note" };
    const char *b [] = { "12", "pp", "" };
    pb_audit_table_row (t, a);
    pb_audit_table_row (t, b);
    ck_assert_uint_eq (pb_audit_table_rows (t), 2);
    pb_audit_table_end (&t);
    ck_assert_ptr_null (t);
    fclose (out);
    return text;
}

START_TEST (tables_align_quote_and_type_their_cells)
{
    char *text = s_table (PB_AUDIT_TABLE);
    ck_assert_str_eq (text, "INDEX  NAME          NOTE\n"
                            "1      police-paris  a, \"quoted\" note\n"
                            "12     pp            -\n");
    free (text);
    text = s_table (PB_AUDIT_CSV);
    ck_assert_str_eq (text, "index,name,note\n1,police-paris,\"a, \"\"quoted\"\" note\"\n12,pp,\n");
    free (text);
    text = s_table (PB_AUDIT_JSON);
    ck_assert_str_eq (text, "{\"index\":1,\"name\":\"police-paris\",\"note\":\"a, \\\"quoted\\\" note\"}\n"
                            "{\"index\":12,\"name\":\"pp\",\"note\":\"\"}\n");
    free (text);
}
END_TEST

START_TEST (percentiles_are_nearest_rank)
{
    uint64_t v [100];
    for (size_t i = 0; i < 100; i++)
        v [i] = i + 1;
    ck_assert_uint_eq (pb_audit_percentile (v, 100, 50), 50);
    ck_assert_uint_eq (pb_audit_percentile (v, 100, 95), 95);
    ck_assert_uint_eq (pb_audit_percentile (v, 100, 99), 99);
    ck_assert_uint_eq (pb_audit_percentile (v, 1, 99), 1);
    ck_assert_uint_eq (pb_audit_percentile (v, 0, 50), 0);
    uint64_t two [] = { 10, 1000 };
    ck_assert_uint_eq (pb_audit_percentile (two, 2, 50), 10);
    ck_assert_uint_eq (pb_audit_percentile (two, 2, 95), 1000);
}
END_TEST

//  A store with 300 entries and checkpoints at 100 and 300, signed here.
static char s_dir [64];
static pl_keys_t *s_keys;

static void
s_make_store (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/test-audit-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
    char err [256];
    pb_store_t *store = pb_store_open (s_dir, 0, false, err, sizeof err);
    ck_assert_msg (store != NULL, "%s", err);
    s_keys = pl_keys_generate ("broker");
    for (int i = 0; i < 300; i++) {
        pb_batch_t *batch = pb_store_begin (store);
        size_t size;
        uint8_t *bytes = s_entry ("publish", i % 2? "C-ODD": "C-EVEN", 2, &size);
        ck_assert_int_eq (pb_batch_log_append (batch, bytes, size, NULL), 0);
        free (bytes);
        if (i == 99 || i == 299) {
            uint64_t tree_size;
            uint8_t root [32];
            ck_assert_int_eq (pb_store_log_root (store, &tree_size, root), 0);
            pl_checkpoint_t *cp = pl_checkpoint_new ("broker", tree_size, root);
            char *note = pl_checkpoint_sign (cp, "broker", s_keys);
            ck_assert_int_eq (pb_batch_checkpoint_put (batch, note, strlen (note)), 0);
            free (note);
            pl_checkpoint_destroy (&cp);
        }
        ck_assert_int_eq (pb_batch_commit (&batch), 0);
    }
    pb_store_destroy (&store);
}

static void
s_remove_store (void)
{
    char command [200];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    ck_assert_int_eq (system (command), 0);
    pl_keys_destroy (&s_keys);
}

static char *
s_verify (int *rc, const uint8_t *key)
{
    char err [256], *text = NULL;
    size_t size = 0;
    pb_audit_t *audit = pb_audit_new (s_dir, NULL, err, sizeof err);
    ck_assert_msg (audit != NULL, "%s", err);
    FILE *out = open_memstream (&text, &size);
    pb_audit_verify_t options = { "broker", key, NULL, false };
    *rc = pb_audit_verify (audit, &options, out);
    fclose (out);
    pb_audit_destroy (&audit);
    return text;
}

START_TEST (verify_passes_an_untouched_store_and_names_a_wrong_key)
{
    s_make_store ();
    int rc;
    char *text = s_verify (&rc, pl_keys_public (s_keys));
    ck_assert_int_eq (rc, PB_AUDIT_OK);
    ck_assert_ptr_nonnull (strstr (text, "log: 300 entries, root "));
    ck_assert_ptr_nonnull (strstr (text, "checkpoints: 2, signed by 'broker', each consistent "
                                         "with the one before; newest at size 300\n"));
    free (text);
    pl_keys_t *other = pl_keys_generate ("broker");
    text = s_verify (&rc, pl_keys_public (other));
    ck_assert_int_eq (rc, PB_AUDIT_FAILED);
    ck_assert_str_eq (text, "FAILED: checkpoint at size 100: no signature by the expected key "
                            "(origin and key name 'broker')\n");
    free (text);
    pl_keys_destroy (&other);
    //  The case index answers a case report
    char err [256], *out_text = NULL;
    size_t size = 0;
    pb_audit_t *audit = pb_audit_new (s_dir, NULL, err, sizeof err);
    FILE *out = open_memstream (&out_text, &size);
    ck_assert_int_eq (pb_audit_case (audit, "C-ODD", PB_AUDIT_CSV, out), 0);
    fclose (out);
    size_t lines = 0;
    for (const char *c = out_text; (c = strchr (c, '\n')); c++)
        lines++;
    //  header, 1 recipient, blank, header, 150 entries x 2 decisions
    ck_assert_uint_eq (lines, 1 + 1 + 1 + 1 + 300);
    free (out_text);
    pb_audit_destroy (&audit);
    s_remove_store ();
}
END_TEST

START_TEST (a_missing_store_is_said_plainly)
{
    char err [256];
    ck_assert_ptr_null (pb_audit_new ("/nonexistent/store", NULL, err, sizeof err));
    ck_assert_str_ne (err, "");
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("audit");
    TCase *tc = tcase_create ("pure");
    tcase_add_test (tc, an_entry_is_one_row_per_decision);
    tcase_add_test (tc, filters_check_their_values_and_match_rows);
    tcase_add_test (tc, dates_are_utc_and_until_takes_the_whole_day);
    tcase_add_test (tc, tables_align_quote_and_type_their_cells);
    tcase_add_test (tc, percentiles_are_nearest_rank);
    tcase_add_test (tc, verify_passes_an_untouched_store_and_names_a_wrong_key);
    tcase_add_test (tc, a_missing_store_is_said_plainly);
    tcase_set_timeout (tc, 60);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
