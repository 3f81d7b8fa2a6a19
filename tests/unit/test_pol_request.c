/*  test_pol_request: filling a request from a wire header (what the broker
 *  does once per event), and the passerelle-policy tool as a reviewer runs it.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "pl_test.h"
#include "passerelle.pb-c.h"
#include "pol_policy.h"

static Passerelle__EventHeader
s_header (char **categories, size_t count)
{
    Passerelle__EventHeader header = PASSERELLE__EVENT_HEADER__INIT;
    header.event_type = "risk_escalation";
    header.categories = categories;
    header.n_categories = count;
    header.purpose = "risk_management";
    header.legal_basis = "vital_interests";
    header.justification = "imminent threat reported by the victim";
    header.risk_level = "critical";
    header.created_at_ms = 1000;
    header.valid_until_ms = 5000;
    return header;
}

START_TEST (test_header_fills_request)
{
    char *categories [] = { "identity", "risk_assessment" };
    Passerelle__EventHeader header = s_header (categories, 2);
    pol_request_t request;
    pol_request_init (&request);
    char err [256] = "";
    ck_assert_int_eq (pol_request_from_header (&request, &header, err, sizeof err), 0);
    ck_assert_int_eq (request.event_type, PL_EV_RISK_ESCALATION);
    ck_assert_uint_eq (request.categories, PL_SET (PL_CAT_IDENTITY) | PL_SET (PL_CAT_RISK_ASSESSMENT));
    ck_assert_int_eq (request.purpose, PL_PURPOSE_RISK_MANAGEMENT);
    ck_assert_int_eq (request.basis, PL_BASIS_VITAL_INTERESTS);
    ck_assert_int_eq (request.risk, PL_RISK_CRITICAL);
    ck_assert (request.has_justification);
    ck_assert (!request.is_correction);
    ck_assert_uint_eq (request.created_at_ms, 1000);
    ck_assert_uint_eq (request.valid_until_ms, 5000);
}
END_TEST

START_TEST (test_header_edge_cases)
{
    char *categories [] = { "identity" };
    Passerelle__EventHeader header = s_header (categories, 1);
    header.risk_level = "";
    header.justification = "  \n ";
    uint8_t original [16] = { 1 };
    header.supersedes.data = original;
    header.supersedes.len = sizeof original;
    pol_request_t request;
    pol_request_init (&request);
    char err [256] = "";
    ck_assert_int_eq (pol_request_from_header (&request, &header, err, sizeof err), 0);
    ck_assert_int_eq (request.risk, -1);
    ck_assert (!request.has_justification);     //  blanks justify nothing
    ck_assert (request.is_correction);
}
END_TEST

START_TEST (test_header_unknown_names_refused)
{
    char *categories [] = { "identity", "horoscope" };
    Passerelle__EventHeader header = s_header (categories, 2);
    pol_request_t request;
    pol_request_init (&request);
    char err [256] = "";
    ck_assert_int_eq (pol_request_from_header (&request, &header, err, sizeof err), -1);
    ck_assert_ptr_nonnull (strstr (err, "horoscope"));
    header = s_header (categories, 1);
    header.legal_basis = "because";
    ck_assert_int_eq (pol_request_from_header (&request, &header, err, sizeof err), -1);
    ck_assert_ptr_nonnull (strstr (err, "legal_basis"));
    header = s_header (categories, 1);
    header.risk_level = "apocalyptic";
    ck_assert_int_eq (pol_request_from_header (&request, &header, err, sizeof err), -1);
    ck_assert_ptr_nonnull (strstr (err, "risk_level"));
}
END_TEST

//  --- passerelle-policy, run as a reviewer would ---------------------------------

static int
s_run (const char *args, char *out, size_t size)
{
    const char *bin = getenv ("PASSERELLE_BIN");
    char command [2048];
    snprintf (command, sizeof command, "%s/passerelle-policy %s 2>&1", bin? bin: "build/bin", args);
    FILE *pipe = popen (command, "r");
    ck_assert_ptr_nonnull (pipe);
    size_t used = fread (out, 1, size - 1, pipe);
    out [used] = 0;
    int status = pclose (pipe);
    return WIFEXITED (status)? WEXITSTATUS (status): -1;
}

START_TEST (test_cli_check)
{
    static char out [65536];
    ck_assert_int_eq (s_run ("check policy/move.cfg", out, sizeof out), 0);
    ck_assert_ptr_nonnull (strstr (out, "valid"));
    ck_assert_int_eq (s_run ("check tests/policy-fixtures/broken-rules.cfg", out, sizeof out), 1);
    ck_assert_ptr_nonnull (strstr (out, "broken-rules.cfg:6: unknown role 'polise'"));
    ck_assert_ptr_nonnull (strstr (out, "broken-rules.cfg:12: duplicate rule id 'r1' "
                                        "(first given at line 5)"));
    //  A syntax error stops the parse, and still names its line
    ck_assert_int_eq (s_run ("check tests/policy-fixtures/fuzz-seeds/broken.cfg", out, sizeof out), 1);
    ck_assert_ptr_nonnull (strstr (out, "broken.cfg:8: syntax error"));
    ck_assert_int_eq (s_run ("check", out, sizeof out), 2);
    ck_assert_int_eq (s_run ("check --help", out, sizeof out), 0);
    ck_assert_ptr_nonnull (strstr (out, "usage: passerelle-policy check"));
}
END_TEST

START_TEST (test_cli_explain)
{
    static char out [65536];
    //  The interpreter trap: identity smuggled in with contact data
    int rc = s_run ("explain policy/move.cfg --from social_services --to interpreter "
                    "--type meeting_notice --category contact,identity "
                    "--purpose case_coordination --basis public_task --justification 'meeting' "
                    "--addressed", out, sizeof out);
    ck_assert_int_eq (rc, 1);
    ck_assert_ptr_nonnull (strstr (out, "decision: DENY"));
    ck_assert_ptr_nonnull (strstr (out, "reason:   category_not_allowed"));
    ck_assert_ptr_nonnull (strstr (out, "category: identity"));
    ck_assert_ptr_nonnull (strstr (out, "interpreter-scheduling"));
    //  With a consent scope that covers it, the health share is allowed
    rc = s_run ("explain policy/move.cfg --from health --to victim_support --type case_update "
                "--category health --purpose case_coordination --basis consent --in-case "
                "--consent-scope 'categories=health;roles=victim_support;purposes=case_coordination'",
                out, sizeof out);
    ck_assert_int_eq (rc, 0);
    ck_assert_ptr_nonnull (strstr (out, "decision: ALLOW"));
    ck_assert_ptr_nonnull (strstr (out, "health-joint-response"));
    //  Errors name what was wrong
    rc = s_run ("explain policy/move.cfg --from polise --to police --type referral "
                "--category identity --purpose referral --basis consent", out, sizeof out);
    ck_assert_int_eq (rc, 2);
    ck_assert_ptr_nonnull (strstr (out, "--from: unknown role 'polise'"));
    rc = s_run ("explain policy/move.cfg --from police --to police --type referral",
                out, sizeof out);
    ck_assert_int_eq (rc, 2);
    ck_assert_ptr_nonnull (strstr (out, "--category is required"));
    ck_assert_int_eq (s_run ("explain --help", out, sizeof out), 0);
    ck_assert_ptr_nonnull (strstr (out, "--consent-scope"));
    ck_assert_int_eq (s_run ("frobnicate", out, sizeof out), 2);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pol_request");
    TCase *header = tcase_create ("header");
    tcase_add_test (header, test_header_fills_request);
    tcase_add_test (header, test_header_edge_cases);
    tcase_add_test (header, test_header_unknown_names_refused);
    suite_add_tcase (suite, header);
    TCase *cli = tcase_create ("passerelle-policy");
    tcase_set_timeout (cli, 30);
    tcase_add_test (cli, test_cli_check);
    tcase_add_test (cli, test_cli_explain);
    suite_add_tcase (suite, cli);
    return suite;
}

PL_TEST_MAIN
