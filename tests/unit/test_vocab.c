/*  test_vocab: the shared vocabulary (proto/pl_vocab).
 *
 *  Covers: every kind holds exactly the ids that docs/domain.md lists (the
 *  expected names below are copied from the domain brief, not from
 *  pl_vocab.c), every id round-trips id -> name -> id, out-of-range and
 *  unknown inputs are refused, risk levels are ordered, parse_set trims
 *  spaces, reports the first unknown name and accepts an empty list, and
 *  format_set writes canonical lists that parse back to the same set.  */
#include <string.h>
#include <stdio.h>
#include "pl_test.h"
#include "pl_vocab.h"

//  From docs/domain.md, "Who shares" and "Shared vocabulary".
static const char *s_roles [] = {
    "police", "prosecution", "social_services", "immigration", "reception", "health",
    "school", "family_centre", "mental_health", "child_protection", "housing",
    "employment", "legal_aid", "perpetrator_programme", "victim_support",
    "interpreter", "coordinator", "auditor", NULL
};
static const char *s_categories [] = {
    "identity", "contact", "case_summary", "risk_assessment", "health", "mental_health",
    "psychosocial", "legal_status", "criminal_justice", "child_safety", "referral",
    "feedback", NULL
};
static const char *s_event_types [] = {
    "referral", "case_update", "risk_assessment", "risk_escalation", "protection_order",
    "safety_plan", "feedback", "meeting_notice", "correction", "consent_given",
    "consent_withdrawn", "case_closed", NULL
};
static const char *s_purposes [] = {
    "referral", "risk_management", "safety_planning", "case_coordination",
    "child_protection", "feedback", "statistics", NULL
};
static const char *s_bases [] = {
    "consent", "legal_obligation", "vital_interests", "public_task", "court_order", NULL
};
static const char *s_risks [] = { "standard", "medium", "high", "critical", NULL };
static const char *s_subjects [] = { "victim", "perpetrator", "guardian", NULL };

static const struct {
    pl_kind_t kind;
    const char **names;
    int expected_count;         //  as the domain brief counts them
} s_domain [] = {
    { PL_KIND_ROLE, s_roles, 18 },
    { PL_KIND_CATEGORY, s_categories, 12 },
    { PL_KIND_EVENT_TYPE, s_event_types, 12 },
    { PL_KIND_PURPOSE, s_purposes, 7 },
    { PL_KIND_BASIS, s_bases, 5 },
    { PL_KIND_RISK, s_risks, 4 },
    { PL_KIND_SUBJECT, s_subjects, 3 },
};
#define DOMAIN_KINDS (sizeof s_domain / sizeof s_domain [0])

static int
s_list_length (const char **names)
{
    int n = 0;
    while (names [n])
        n++;
    return n;
}

START_TEST (each_kind_has_as_many_ids_as_the_domain_brief_lists)
{
    ck_assert_int_eq (DOMAIN_KINDS, PL_KIND_COUNT);
    for (size_t k = 0; k < DOMAIN_KINDS; k++) {
        ck_assert_int_eq (s_list_length (s_domain [k].names), s_domain [k].expected_count);
        ck_assert_msg (pl_vocab_count (s_domain [k].kind) == s_domain [k].expected_count,
                       "kind %s: %d ids, the brief lists %d",
                       pl_vocab_kind_name (s_domain [k].kind),
                       pl_vocab_count (s_domain [k].kind), s_domain [k].expected_count);
    }
}
END_TEST

START_TEST (every_name_of_the_brief_is_known_and_maps_back_to_itself)
{
    for (size_t k = 0; k < DOMAIN_KINDS; k++) {
        pl_set_t seen = 0;
        for (const char **name = s_domain [k].names; *name; name++) {
            int id = pl_vocab_id (s_domain [k].kind, *name);
            ck_assert_msg (id >= 0, "%s '%s' is unknown",
                           pl_vocab_kind_name (s_domain [k].kind), *name);
            ck_assert_msg (!PL_SET_HAS (seen, id), "two names share id %d", id);
            seen |= PL_SET (id);
            ck_assert_str_eq (pl_vocab_name (s_domain [k].kind, id), *name);
        }
    }
}
END_TEST

START_TEST (every_id_maps_to_a_name_that_maps_back_to_the_same_id)
{
    for (int kind = 0; kind < PL_KIND_COUNT; kind++) {
        int count = pl_vocab_count (kind);
        ck_assert_int_gt (count, 0);
        ck_assert_int_lt (count, 32);       //  a set must fit a uint32_t
        for (int id = 0; id < count; id++) {
            const char *name = pl_vocab_name (kind, id);
            ck_assert_ptr_nonnull (name);
            ck_assert_int_eq (pl_vocab_id (kind, name), id);
        }
    }
}
END_TEST

START_TEST (the_enums_follow_the_order_of_the_name_tables)
{
    ck_assert_str_eq (pl_vocab_name (PL_KIND_ROLE, PL_ROLE_POLICE), "police");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_ROLE, PL_ROLE_VICTIM_SUPPORT), "victim_support");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_ROLE, PL_ROLE_AUDITOR), "auditor");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_CATEGORY, PL_CAT_CRIMINAL_JUSTICE), "criminal_justice");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_CATEGORY, PL_CAT_FEEDBACK), "feedback");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_EVENT_TYPE, PL_EV_CORRECTION), "correction");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_EVENT_TYPE, PL_EV_CASE_CLOSED), "case_closed");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_PURPOSE, PL_PURPOSE_STATISTICS), "statistics");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_BASIS, PL_BASIS_COURT_ORDER), "court_order");
    ck_assert_str_eq (pl_vocab_name (PL_KIND_SUBJECT, PL_SUBJECT_GUARDIAN), "guardian");
    ck_assert_int_eq (PL_ROLE_COUNT, pl_vocab_count (PL_KIND_ROLE));
    ck_assert_int_eq (PL_CAT_COUNT, pl_vocab_count (PL_KIND_CATEGORY));
    ck_assert_int_eq (PL_EV_COUNT, pl_vocab_count (PL_KIND_EVENT_TYPE));
    ck_assert_int_eq (PL_PURPOSE_COUNT, pl_vocab_count (PL_KIND_PURPOSE));
    ck_assert_int_eq (PL_BASIS_COUNT, pl_vocab_count (PL_KIND_BASIS));
    ck_assert_int_eq (PL_RISK_COUNT, pl_vocab_count (PL_KIND_RISK));
    ck_assert_int_eq (PL_SUBJECT_COUNT, pl_vocab_count (PL_KIND_SUBJECT));
}
END_TEST

START_TEST (risk_levels_are_ordered_lowest_first)
{
    int standard = pl_vocab_id (PL_KIND_RISK, "standard");
    int medium = pl_vocab_id (PL_KIND_RISK, "medium");
    int high = pl_vocab_id (PL_KIND_RISK, "high");
    int critical = pl_vocab_id (PL_KIND_RISK, "critical");
    ck_assert_int_ge (standard, 0);
    ck_assert_int_lt (standard, medium);
    ck_assert_int_lt (medium, high);
    ck_assert_int_lt (high, critical);
}
END_TEST

START_TEST (unknown_names_and_out_of_range_ids_are_refused)
{
    for (int kind = 0; kind < PL_KIND_COUNT; kind++) {
        ck_assert_int_eq (pl_vocab_id (kind, "no_such_thing"), -1);
        ck_assert_int_eq (pl_vocab_id (kind, ""), -1);
        ck_assert_int_eq (pl_vocab_id (kind, NULL), -1);
        ck_assert_ptr_null (pl_vocab_name (kind, -1));
        ck_assert_ptr_null (pl_vocab_name (kind, pl_vocab_count (kind)));
    }
    //  Names are exact lower-case ids: no case folding, no prefixes
    ck_assert_int_eq (pl_vocab_id (PL_KIND_ROLE, "Police"), -1);
    ck_assert_int_eq (pl_vocab_id (PL_KIND_ROLE, "polic"), -1);
    ck_assert_int_eq (pl_vocab_id (PL_KIND_ROLE, "police "), -1);
    //  A name of one kind is not a name of another
    ck_assert_int_eq (pl_vocab_id (PL_KIND_ROLE, "identity"), -1);
    ck_assert_int_eq (pl_vocab_id (PL_KIND_RISK, "low"), -1);
    //  An invalid kind answers nothing rather than reading out of bounds
    ck_assert_int_eq (pl_vocab_id (PL_KIND_COUNT, "police"), -1);
    ck_assert_ptr_null (pl_vocab_name (PL_KIND_COUNT, 0));
    ck_assert_int_eq (pl_vocab_count (PL_KIND_COUNT), 0);
    ck_assert_int_eq (pl_vocab_count ((pl_kind_t) -1), 0);
}
END_TEST

START_TEST (each_kind_has_a_readable_name_for_messages)
{
    for (int kind = 0; kind < PL_KIND_COUNT; kind++) {
        const char *name = pl_vocab_kind_name (kind);
        ck_assert_ptr_nonnull (name);
        ck_assert_int_gt (strlen (name), 2);
        for (int other = 0; other < kind; other++)
            ck_assert_str_ne (name, pl_vocab_kind_name (other));
    }
    ck_assert_str_eq (pl_vocab_kind_name (PL_KIND_ROLE), "role");
    ck_assert_str_eq (pl_vocab_kind_name (PL_KIND_CATEGORY), "category");
}
END_TEST

START_TEST (parse_set_reads_names_with_spaces_around_them)
{
    pl_set_t set = 0xdeadbeef;
    char bad [32] = "untouched";
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_ROLE, " police ,\thealth\t, legal_aid",
                                          &set, bad, sizeof bad), 0);
    pl_set_t expected = PL_SET (pl_vocab_id (PL_KIND_ROLE, "police"))
                      | PL_SET (pl_vocab_id (PL_KIND_ROLE, "health"))
                      | PL_SET (pl_vocab_id (PL_KIND_ROLE, "legal_aid"));
    ck_assert_uint_eq (set, expected);
}
END_TEST

START_TEST (parse_set_of_every_name_gives_the_full_set)
{
    for (size_t k = 0; k < DOMAIN_KINDS; k++) {
        char list [1024] = "";
        for (const char **name = s_domain [k].names; *name; name++) {
            if (*list)
                strcat (list, ",");
            strcat (list, *name);
        }
        pl_set_t set = 0;
        ck_assert_int_eq (pl_vocab_parse_set (s_domain [k].kind, list, &set, NULL, 0), 0);
        ck_assert_uint_eq (set, (pl_set_t) ((1ull << s_domain [k].expected_count) - 1));
    }
}
END_TEST

START_TEST (parse_set_reports_the_first_unknown_name)
{
    pl_set_t set = 0;
    char bad [64] = "";
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_ROLE, "police, polise ,helth",
                                          &set, bad, sizeof bad), -1);
    ck_assert_str_eq (bad, "polise");
    //  A name of another kind is unknown here
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_CATEGORY, "identity,police",
                                          &set, bad, sizeof bad), -1);
    ck_assert_str_eq (bad, "police");
}
END_TEST

START_TEST (parse_set_truncates_a_long_bad_name_to_the_buffer)
{
    pl_set_t set = 0;
    char long_name [200];
    memset (long_name, 'x', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    char bad [9];
    memset (bad, '#', sizeof bad);
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_ROLE, long_name, &set, bad, sizeof bad), -1);
    ck_assert_str_eq (bad, "xxxxxxxx");
    //  And no bad buffer at all is allowed
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_ROLE, "nobody", &set, NULL, 0), -1);
}
END_TEST

START_TEST (parse_set_of_an_empty_list_is_the_empty_set)
{
    pl_set_t set = 0xffffffffu;
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_PURPOSE, "", &set, NULL, 0), 0);
    ck_assert_uint_eq (set, 0);
}
END_TEST

START_TEST (parse_set_refuses_an_empty_name_between_commas)
{
    pl_set_t set = 0;
    char bad [16] = "x";
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_ROLE, "police,,health", &set, bad, sizeof bad), -1);
    ck_assert_int_eq (pl_vocab_parse_set (PL_KIND_ROLE, "police, ,health", &set, bad, sizeof bad), -1);
}
END_TEST

START_TEST (format_set_writes_names_in_id_order_separated_by_commas)
{
    char buf [256];
    pl_set_t set = PL_SET (pl_vocab_id (PL_KIND_CATEGORY, "health"))
                 | PL_SET (pl_vocab_id (PL_KIND_CATEGORY, "identity"));
    ck_assert_str_eq (pl_vocab_format_set (PL_KIND_CATEGORY, set, buf, sizeof buf),
                      "identity,health");
    ck_assert_str_eq (pl_vocab_format_set (PL_KIND_CATEGORY, 0, buf, sizeof buf), "");
    //  Bits beyond the kind's ids are not names
    ck_assert_str_eq (pl_vocab_format_set (PL_KIND_RISK, PL_SET (31) | PL_SET (PL_RISK_HIGH),
                                           buf, sizeof buf), "high");
}
END_TEST

START_TEST (format_then_parse_gives_back_the_same_set_for_every_kind)
{
    for (int kind = 0; kind < PL_KIND_COUNT; kind++) {
        int count = pl_vocab_count (kind);
        //  Every single id, every pair of neighbours, and the full set
        for (int id = -1; id < count; id++) {
            pl_set_t set = id < 0? (pl_set_t) ((1ull << count) - 1): PL_SET (id);
            if (id > 0)
                set |= PL_SET (id - 1);
            char buf [1024];
            pl_set_t back = 0;
            ck_assert_int_eq (pl_vocab_parse_set (kind, pl_vocab_format_set (kind, set, buf, sizeof buf),
                                                  &back, NULL, 0), 0);
            ck_assert_uint_eq (back, set);
        }
    }
}
END_TEST

START_TEST (format_set_truncates_to_the_buffer_and_stays_terminated)
{
    char full [512], small [12];
    pl_set_t all = (pl_set_t) ((1ull << PL_ROLE_COUNT) - 1);
    pl_vocab_format_set (PL_KIND_ROLE, all, full, sizeof full);
    memset (small, '#', sizeof small);
    pl_vocab_format_set (PL_KIND_ROLE, all, small, sizeof small);
    ck_assert_int_eq (strlen (small), sizeof small - 1);
    ck_assert_int_eq (strncmp (small, full, sizeof small - 1), 0);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("vocab");
    TCase *tc = tcase_create ("vocab");
    tcase_add_test (tc, each_kind_has_as_many_ids_as_the_domain_brief_lists);
    tcase_add_test (tc, every_name_of_the_brief_is_known_and_maps_back_to_itself);
    tcase_add_test (tc, every_id_maps_to_a_name_that_maps_back_to_the_same_id);
    tcase_add_test (tc, the_enums_follow_the_order_of_the_name_tables);
    tcase_add_test (tc, risk_levels_are_ordered_lowest_first);
    tcase_add_test (tc, unknown_names_and_out_of_range_ids_are_refused);
    tcase_add_test (tc, each_kind_has_a_readable_name_for_messages);
    tcase_add_test (tc, parse_set_reads_names_with_spaces_around_them);
    tcase_add_test (tc, parse_set_of_every_name_gives_the_full_set);
    tcase_add_test (tc, parse_set_reports_the_first_unknown_name);
    tcase_add_test (tc, parse_set_truncates_a_long_bad_name_to_the_buffer);
    tcase_add_test (tc, parse_set_of_an_empty_list_is_the_empty_set);
    tcase_add_test (tc, parse_set_refuses_an_empty_name_between_commas);
    tcase_add_test (tc, format_set_writes_names_in_id_order_separated_by_commas);
    tcase_add_test (tc, format_then_parse_gives_back_the_same_set_for_every_kind);
    tcase_add_test (tc, format_set_truncates_to_the_buffer_and_stays_terminated);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
