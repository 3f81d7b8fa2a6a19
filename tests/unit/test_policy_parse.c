/*  test_policy_parse: broken policy files, and the lines their errors name.
 *
 *  Each broken file marks the lines that must be reported with a trailing
 *  "# ERR" comment; the test finds those lines itself and checks that the
 *  loader reported an error on exactly those lines, each saying what was
 *  expected. So the expected line numbers are never typed by hand and the
 *  files can be edited without renumbering anything.
 *  Also here: the engine on generated policies (more rules than one machine
 *  word, so the bit-set paths span words) and decide/explain agreement on
 *  random requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pl_test.h"
#include "pol_loader.h"
#include "pol_policy.h"

#define ERR_SIZE 16384

//  Lines of text carrying the "# ERR" marker, as a bit set (files < 64 lines)
static uint64_t
s_marked_lines (const char *text)
{
    uint64_t lines = 0;
    int number = 1;
    for (const char *cursor = text; *cursor; number++) {
        const char *eol = strchr (cursor, '\n');
        size_t len = eol? (size_t) (eol - cursor): strlen (cursor);
        const char *mark = strstr (cursor, "# ERR");
        if (mark && mark < cursor + len)
            lines |= 1ull << number;
        cursor += len + (eol? 1: 0);
    }
    return lines;
}

//  Lines named by "name:LINE: " at the start of each error line
static uint64_t
s_reported_lines (const char *name, const char *err, int *count)
{
    uint64_t lines = 0;
    *count = 0;
    size_t prefix = strlen (name);
    for (const char *line = err; *line; ) {
        const char *eol = strchr (line, '\n');
        ck_assert_msg (strncmp (line, name, prefix) == 0 && line [prefix] == ':',
                       "error without file name: %.*s", (int) (eol? eol - line: 80), line);
        int number = atoi (line + prefix + 1);
        ck_assert_msg (number > 0 && number < 64, "error without line: %s", line);
        lines |= 1ull << number;
        (*count)++;
        line = eol? eol + 1: line + strlen (line);
    }
    return lines;
}

static void
s_assert_errors_on_marked_lines (const char *text, const char **must_say)
{
    char err [ERR_SIZE] = "";
    pol_policy_t *policy = pol_policy_load_text ("broken.cfg", text, err, sizeof err);
    ck_assert_msg (policy == NULL, "a broken file loaded");
    int count;
    uint64_t reported = s_reported_lines ("broken.cfg", err, &count);
    uint64_t marked = s_marked_lines (text);
    ck_assert_msg (reported == marked, "errors on the wrong lines:\n%s", err);
    ck_assert_int_ge (count, __builtin_popcountll (marked));
    for (const char **phrase = must_say; phrase && *phrase; phrase++)
        ck_assert_msg (strstr (err, *phrase), "expected '%s' in:\n%s", *phrase, err);
}

static const char *s_valid_head =
    "version = test-1\n"
    "rules\n";

START_TEST (test_unknown_names_each_reported)
{
    const char *text =
        "version = t\n"
        "rules\n"
        "    r1\n"
        "        from = police,polise     # ERR\n"
        "        to = victim_support\n"
        "        types = referal          # ERR\n"
        "        categories = identity,helth   # ERR\n"
        "        purposes = referral,fun  # ERR\n"
        "        bases = consent,whim     # ERR\n"
        "        min_risk = extreme       # ERR\n";
    const char *say [] = { "unknown role 'polise'", "unknown event type 'referal'",
        "unknown category 'helth'", "unknown purpose 'fun'", "unknown legal basis 'whim'",
        "unknown risk level 'extreme'", "expected one of: police, prosecution", NULL };
    s_assert_errors_on_marked_lines (text, say);
}
END_TEST

START_TEST (test_duplicate_rule_ids)
{
    const char *text =
        "version = t\n"
        "rules\n"
        "    same\n"
        "        from = police\n"
        "        to = prosecution\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = legal_obligation\n"
        "    same                       # ERR\n"
        "        from = health\n"
        "        to = victim_support\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = consent\n";
    const char *say [] = { "duplicate rule id 'same' (first given at line 3)", NULL };
    s_assert_errors_on_marked_lines (text, say);
}
END_TEST

START_TEST (test_rules_that_can_never_match)
{
    const char *text =
        "version = t\n"
        "rules\n"
        "    broad\n"
        "        from = police,prosecution\n"
        "        to = prosecution\n"
        "        types = referral,case_update\n"
        "        categories = identity,contact\n"
        "        purposes = referral\n"
        "        bases = legal_obligation,public_task\n"
        "    narrower                   # ERR\n"
        "        from = police\n"
        "        to = prosecution\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = legal_obligation\n"
        "        min_risk = high\n"
        "    empty-sender\n"
        "        from = \"\"              # ERR\n"
        "        to = prosecution\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = legal_obligation\n"
        "    stats                      # ERR\n"
        "        from = police\n"
        "        to = auditor\n"
        "        types = case_update\n"
        "        categories = case_summary\n"
        "        purposes = statistics\n"
        "        bases = public_task\n"
        "    dead-subjects              # ERR\n"
        "        from = police\n"
        "        to = victim_support\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = legal_obligation\n"
        "        consent_subjects = victim\n";
    const char *say [] = { "rule 'narrower' can never match: rule 'broad' (line 3)",
        "'from' is empty, so the rule could never match", "statistics",
        "'consent_subjects' can never apply", NULL };
    s_assert_errors_on_marked_lines (text, say);
}
END_TEST

START_TEST (test_missing_and_unknown_settings)
{
    const char *text =
        "version = t\n"
        "colour = blue                  # ERR\n"
        "rules\n"
        "    no-to                      # ERR\n"
        "        from = police\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = legal_obligation\n"
        "        flavour = strong       # ERR\n"
        "        max_age = 3 weeks      # ERR\n"
        "        recipient = anyone     # ERR\n"
        "        justification = maybe  # ERR\n"
        "        from = health          # ERR\n";
    const char *say [] = { "unknown setting 'colour' in the policy file (expected one of: "
        "version, groups, settings, rules)", "rule 'no-to' has no 'to'",
        "unknown setting 'flavour'", "is not a duration", "expected in_case, addressed",
        "expected required or optional", "duplicate setting 'from'", NULL };
    s_assert_errors_on_marked_lines (text, say);
}
END_TEST

START_TEST (test_settings_and_groups_errors)
{
    const char *text =
        "version = t\n"
        "groups\n"
        "    police = prosecution       # ERR\n"
        "    justice = police,judges    # ERR\n"
        "settings\n"
        "    clock_skew = soon          # ERR\n"
        "    escalation_fallback = coordinator,nobody   # ERR\n"
        "    max_age\n"
        "        risk_escalation = 24h\n"
        "        gossip = 1h            # ERR\n"
        "    retention\n"
        "        health = 0d            # ERR\n"
        "rules\n"
        "    r1\n"
        "        from = police\n"
        "        to = prosecution\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = legal_obligation\n";
    const char *say [] = { "group 'police' has the name of a role", "unknown role 'judges'",
        "unknown role 'nobody'", "unknown event type 'gossip'", "'health = 0d' is not a duration",
        NULL };
    s_assert_errors_on_marked_lines (text, say);
}
END_TEST

START_TEST (test_whole_file_errors_on_line_one)
{
    const char *text =
        "# no version here             # ERR\n"
        "settings\n"
        "    clock_skew = 1m\n";
    const char *say [] = { "no policy version", "no 'rules' section", NULL };
    s_assert_errors_on_marked_lines (text, say);
}
END_TEST

START_TEST (test_syntax_error_names_its_line)
{
    const char *text =
        "version = t\n"
        "rules\n"
        "    r1\n"
        "            from = police      # ERR\n";
    const char *say [] = { "syntax error", NULL };
    s_assert_errors_on_marked_lines (text, say);
}
END_TEST

START_TEST (test_groups_expand)
{
    char text [1024];
    snprintf (text, sizeof text,
        "version = t\n"
        "groups\n"
        "    justice = police,prosecution\n"
        "rules\n"
        "    r1\n"
        "        from = justice,health\n"
        "        to = justice\n"
        "        types = referral\n"
        "        categories = identity\n"
        "        purposes = referral\n"
        "        bases = consent\n");
    char err [ERR_SIZE] = "";
    pol_rules_t *rules = pol_loader_parse ("groups.cfg", text, err, sizeof err);
    ck_assert_msg (rules, "%s", err);
    ck_assert_uint_eq (rules->count, 1);
    ck_assert_uint_eq (rules->rules [0].from,
                       PL_SET (PL_ROLE_POLICE) | PL_SET (PL_ROLE_PROSECUTION) | PL_SET (PL_ROLE_HEALTH));
    ck_assert_uint_eq (rules->rules [0].to, PL_SET (PL_ROLE_POLICE) | PL_SET (PL_ROLE_PROSECUTION));
    ck_assert_int_eq (rules->rules [0].line, 5);
    ck_assert_uint_eq (rules->settings.clock_skew_ms, 60000);  //  documented default
    pol_rules_destroy (&rules);
}
END_TEST

static const char *s_good_rule =
    "    r1\n"
    "        from = police\n"
    "        to = prosecution\n"
    "        types = referral\n"
    "        categories = identity\n"
    "        purposes = referral\n"
    "        bases = legal_obligation\n";

START_TEST (test_bad_reload_keeps_old_policy)
{
    char path [] = "/tmp/test_policy_parse_XXXXXX";
    int fd = mkstemp (path);
    ck_assert_int_ge (fd, 0);
    FILE *file = fdopen (fd, "w");
    fprintf (file, "%s%s", s_valid_head, s_good_rule);
    fclose (file);
    char err [ERR_SIZE] = "";
    pol_policy_t *policy = pol_policy_load (path, err, sizeof err);
    ck_assert_msg (policy, "%s", err);
    pol_policy_t *running = policy;

    file = fopen (path, "w");
    fprintf (file, "%s%s        to = nobody\n", s_valid_head, s_good_rule);
    fclose (file);
    ck_assert_int_eq (pol_policy_reload (&policy, path, err, sizeof err), -1);
    ck_assert_ptr_eq (policy, running);
    ck_assert_str_eq (pol_policy_version (policy), "test-1");
    ck_assert_ptr_nonnull (strstr (err, ":10: "));
    ck_assert_ptr_nonnull (strstr (err, path));

    file = fopen (path, "w");
    fprintf (file, "version = test-2\nrules\n%s", s_good_rule);
    fclose (file);
    ck_assert_int_eq (pol_policy_reload (&policy, path, err, sizeof err), 0);
    ck_assert_str_eq (pol_policy_version (policy), "test-2");
    pol_policy_destroy (&policy);
    ck_assert_ptr_null (policy);
    unlink (path);
    //  A missing file is an error that names it
    ck_assert_ptr_null (pol_policy_load (path, err, sizeof err));
    ck_assert_ptr_nonnull (strstr (err, path));
}
END_TEST

START_TEST (test_many_errors_fit_the_buffer)
{
    //  200 bad lines; a small buffer gets whole lines and says it was cut
    size_t size = 64 * 1024;
    char *text = malloc (size);
    size_t used = (size_t) snprintf (text, size, "version = t\nrules\n");
    for (int rule = 0; rule < 200; rule++)
        used += (size_t) snprintf (text + used, size - used, "    r%d\n        from = x%d\n",
                                   rule, rule);
    char err [1024];
    ck_assert_ptr_null (pol_policy_load_text ("many.cfg", text, err, sizeof err));
    ck_assert_ptr_nonnull (strstr (err, "more errors not shown"));
    ck_assert (strlen (err) < sizeof err);
    free (text);
}
END_TEST

//  --- the engine on generated policies ---------------------------------------

//  n rules, rule i from role (i % 18) to role ((i / 18) % 18), one type each:
//  distinct enough that none covers another.
static char *
s_generate (int count)
{
    size_t size = (size_t) count * 300 + 64;
    char *text = malloc (size);
    size_t used = (size_t) snprintf (text, size, "version = generated\nrules\n");
    for (int i = 0; i < count; i++)
        used += (size_t) snprintf (text + used, size - used,
            "    g%d\n        from = %s\n        to = %s\n        types = %s\n"
            "        categories = %s,%s\n        purposes = %s\n        bases = consent\n",
            i, pl_vocab_name (PL_KIND_ROLE, i % 18), pl_vocab_name (PL_KIND_ROLE, (i / 18) % 18),
            pl_vocab_name (PL_KIND_EVENT_TYPE, (i / 324) % 12),
            pl_vocab_name (PL_KIND_CATEGORY, i % 12), pl_vocab_name (PL_KIND_CATEGORY, (i + 5) % 12),
            pl_vocab_name (PL_KIND_PURPOSE, i % 6));
    return text;
}

START_TEST (test_generated_policy_beyond_one_word)
{
    char *text = s_generate (400);
    char err [ERR_SIZE] = "";
    pol_policy_t *policy = pol_policy_load_text ("generated.cfg", text, err, sizeof err);
    ck_assert_msg (policy, "%s", err);
    ck_assert_uint_eq (pol_policy_rule_count (policy), 400);
    //  Rule 350 sits in the sixth word
    int i = 350;
    pol_consent_state_t consent = { .categories = ~0u, .recipient_roles = ~0u, .purposes = ~0u };
    pol_request_t request;
    pol_request_init (&request);
    request.sender_roles = PL_SET (i % 18);
    request.recipient_roles = PL_SET ((i / 18) % 18);
    request.event_type = (i / 324) % 12;
    request.categories = PL_SET (i % 12);
    request.purpose = i % 6;
    request.basis = PL_BASIS_CONSENT;
    request.consent = &consent;
    request.sealed_for_recipient = true;
    pol_decision_t decision;
    pol_policy_decide (policy, &request, &decision);
    ck_assert_msg (decision.allow, "%s", decision.text);
    ck_assert_str_eq (decision.rule_id, "g350");
    request.sender_roles = PL_SET ((i + 1) % 18);
    pol_policy_decide (policy, &request, &decision);
    ck_assert (!decision.allow);
    ck_assert_int_eq (decision.reason, POL_SENDER_ROLE);
    pol_policy_destroy (&policy);
    free (text);
}
END_TEST

typedef struct {
    const char *first_match;
    const char *wanted;
    pol_reason_t wanted_reason;
    bool wanted_seen;
} agree_t;

static void
s_agree (const pol_rule_verdict_t *verdict, void *arg)
{
    agree_t *agree = arg;
    if (verdict->matched && !agree->first_match)
        agree->first_match = verdict->rule_id;
    if (agree->wanted && strcmp (agree->wanted, verdict->rule_id) == 0) {
        agree->wanted_seen = true;
        agree->wanted_reason = verdict->reason;
    }
}

//  Random single-category requests on the MOVE policy: the fast path and the
//  rule-by-rule path must agree on the outcome and on the rule they name
START_TEST (test_decide_agrees_with_explain_at_random)
{
    char err [ERR_SIZE] = "";
    pol_policy_t *policy = pol_policy_load ("policy/move.cfg", err, sizeof err);
    ck_assert_msg (policy, "%s", err);
    srand (20240501);
    int allowed = 0;
    for (int round = 0; round < 20000; round++) {
        pol_consent_state_t consent = { .categories = (pl_set_t) rand (),
            .recipient_roles = (pl_set_t) rand (), .purposes = (pl_set_t) rand (),
            .subject = rand () % 3, .withdrawn = rand () % 8 == 0 };
        pol_request_t r;
        pol_request_init (&r);
        r.sender_roles = PL_SET (rand () % PL_ROLE_COUNT);
        r.recipient_roles = PL_SET (rand () % PL_ROLE_COUNT);
        r.event_type = rand () % PL_EV_COUNT;
        r.categories = PL_SET (rand () % PL_CAT_COUNT);
        if (rand () % 2)
            r.categories |= PL_SET (PL_CAT_CHILD_SAFETY);
        r.purpose = rand () % PL_PURPOSE_COUNT;
        r.basis = rand () % PL_BASIS_COUNT;
        r.risk = rand () % 5 - 1;
        r.has_justification = rand () % 2;
        r.recipient_in_case = rand () % 2;
        r.recipient_addressed_directly = rand () % 2;
        r.consent = rand () % 4? &consent: NULL;
        r.sealed_for_recipient = true;
        r.now_ms = r.created_at_ms = 1000000000;
        pol_decision_t decided, explained;
        pol_policy_decide (policy, &r, &decided);
        agree_t agree = { .wanted = decided.rule_id };
        pol_policy_explain (policy, &r, s_agree, &agree, &explained);
        ck_assert_int_eq (decided.reason, explained.reason);
        if (__builtin_popcount (r.categories) == 1) {
            //  One category: the first matching rule is the one that decides
            ck_assert_int_eq (decided.allow, agree.first_match != NULL);
            if (decided.allow)
                ck_assert_str_eq (decided.rule_id, agree.first_match);
            else
            if (decided.rule_id) {
                ck_assert (agree.wanted_seen);
                ck_assert_int_eq (agree.wanted_reason, decided.reason);
            }
        }
        allowed += decided.allow;
    }
    //  Random shares are mostly refused, but not all
    ck_assert_int_gt (allowed, 0);
    pol_policy_destroy (&policy);
}
END_TEST

START_TEST (test_invalid_requests_are_refused)
{
    char err [ERR_SIZE] = "";
    char text [1024];
    snprintf (text, sizeof text, "%s%s", s_valid_head, s_good_rule);
    pol_policy_t *policy = pol_policy_load_text ("t.cfg", text, err, sizeof err);
    ck_assert_msg (policy, "%s", err);
    pol_request_t request;
    pol_request_init (&request);
    pol_decision_t decision;
    pol_policy_decide (policy, &request, &decision);
    ck_assert (!decision.allow);
    ck_assert_int_eq (decision.reason, POL_INVALID_REQUEST);
    request.event_type = PL_EV_REFERRAL;
    request.purpose = PL_PURPOSE_REFERRAL;
    request.basis = PL_BASIS_LEGAL_OBLIGATION;
    request.categories = 1u << 31;
    pol_policy_decide (policy, &request, &decision);
    ck_assert_int_eq (decision.reason, POL_INVALID_REQUEST);
    pol_policy_destroy (&policy);
}
END_TEST

//  Clock edges: exactly at the skew is accepted, one ms beyond is not, and
//  clock values near the top of the range do not wrap
START_TEST (test_clock_skew_edges)
{
    char err [ERR_SIZE] = "";
    char text [1024];
    snprintf (text, sizeof text, "version = t\nsettings\n    clock_skew = 30s\nrules\n%s",
              s_good_rule);
    pol_policy_t *policy = pol_policy_load_text ("t.cfg", text, err, sizeof err);
    ck_assert_msg (policy, "%s", err);
    pol_request_t request;
    pol_request_init (&request);
    request.sender_roles = PL_SET (PL_ROLE_POLICE);
    request.recipient_roles = PL_SET (PL_ROLE_PROSECUTION);
    request.event_type = PL_EV_REFERRAL;
    request.categories = PL_SET (PL_CAT_IDENTITY);
    request.purpose = PL_PURPOSE_REFERRAL;
    request.basis = PL_BASIS_LEGAL_OBLIGATION;
    request.has_justification = true;
    request.sealed_for_recipient = true;
    pol_decision_t decision;
    uint64_t tops [] = { 1700000000000ull, UINT64_MAX - 10 };
    for (size_t t = 0; t < 2; t++) {
        request.now_ms = tops [t];
        request.created_at_ms = tops [t];
        pol_policy_decide (policy, &request, &decision);
        ck_assert_msg (decision.allow, "%s", decision.text);
        if (t == 0) {
            request.created_at_ms = tops [t] + 30000;
            pol_policy_decide (policy, &request, &decision);
            ck_assert (decision.allow);
            request.created_at_ms = tops [t] + 30001;
            pol_policy_decide (policy, &request, &decision);
            ck_assert_int_eq (decision.reason, POL_FUTURE_DATED);
        }
    }
    //  valid_until: the last valid millisecond still counts
    request.now_ms = request.created_at_ms = 5000;
    request.valid_until_ms = 5000;
    pol_policy_decide (policy, &request, &decision);
    ck_assert (decision.allow);
    request.now_ms = 5001;
    pol_policy_decide (policy, &request, &decision);
    ck_assert_int_eq (decision.reason, POL_EXPIRED);
    pol_policy_destroy (&policy);
}
END_TEST

START_TEST (test_reason_names_are_stable_and_unique)
{
    //  These codes are in the log forever: each has a name, and names differ
    for (int reason = 0; reason < POL_REASON_COUNT; reason++) {
        const char *name = pol_reason_name ((pol_reason_t) reason);
        ck_assert_str_ne (name, "unknown");
        ck_assert_int_eq (pol_reason_from_name (name), reason);
    }
    ck_assert_str_eq (pol_reason_name (POL_NO_RULE), "no_rule");
    ck_assert_str_eq (pol_reason_name (POL_CONSENT_SCOPE), "consent_scope");
    ck_assert_str_eq (pol_reason_name (POL_REASON_COUNT), "unknown");
    ck_assert_int_eq (pol_reason_from_name ("nonsense"), -1);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("policy_parse");
    TCase *broken = tcase_create ("broken files");
    tcase_add_test (broken, test_unknown_names_each_reported);
    tcase_add_test (broken, test_duplicate_rule_ids);
    tcase_add_test (broken, test_rules_that_can_never_match);
    tcase_add_test (broken, test_missing_and_unknown_settings);
    tcase_add_test (broken, test_settings_and_groups_errors);
    tcase_add_test (broken, test_whole_file_errors_on_line_one);
    tcase_add_test (broken, test_syntax_error_names_its_line);
    tcase_add_test (broken, test_groups_expand);
    tcase_add_test (broken, test_bad_reload_keeps_old_policy);
    tcase_add_test (broken, test_many_errors_fit_the_buffer);
    suite_add_tcase (suite, broken);
    TCase *engine = tcase_create ("engine");
    tcase_set_timeout (engine, 60);
    tcase_add_test (engine, test_generated_policy_beyond_one_word);
    tcase_add_test (engine, test_decide_agrees_with_explain_at_random);
    tcase_add_test (engine, test_invalid_requests_are_refused);
    tcase_add_test (engine, test_reason_names_are_stable_and_unique);
    tcase_add_test (engine, test_clock_skew_edges);
    suite_add_tcase (suite, engine);
    return suite;
}

PL_TEST_MAIN
