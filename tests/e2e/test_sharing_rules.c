/*  End to end: the sharing rules (issue 3) with the shipped MOVE policy.
 *
 *  Real broker and agents; the tests act as agency staff with the CLI and
 *  check what each agency sees: the publisher's decisions with their reason
 *  codes and categories, deliveries, the broker's notices, and the broker's
 *  log lines an auditor relies on.  */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pl_test.h"
#include "e2e/pe_net.h"

#define CASE "C-2026-0099"

static pe_net_t *
s_network_with (const char *broker_extra)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    const char *agencies [][2] = {
        { "police-paris", "police" }, { "prosecution-paris", "prosecution" },
        { "pp-paris", "perpetrator_programme" }, { "ss-paris", "social_services" },
    };
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq (pe_net_add_agency (net, agencies [i][0], agencies [i][1], "paris", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (net, broker_extra), 0);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq (pe_net_start_agent (net, agencies [i][0], true), 0);
    return net;
}

static pe_net_t *
s_network (void)
{
    return s_network_with (NULL);
}

//  The event id printed by "event <id> accepted|refused".
static void
s_event_id (const char *out, char *id)
{
    const char *at = strstr (out, "event ");
    ck_assert_ptr_nonnull (at);
    snprintf (id, 33, "%.32s", at + 6);
}

static char *
s_inbox_with (pe_net_t *net, const char *id, const char *text, int ms)
{
    for (int waited = 0; ; waited += 100) {
        pe_result_t r = pe_net_cli (net, id, NULL, "inbox", NULL);
        if (strstr (r.out, text) || waited >= ms) {
            free (r.err);
            return r.out;
        }
        pe_result_free (&r);
        usleep (100000);
    }
}

//  The court-ordered referral that puts the programme on the case.
static void
s_police_refer (pe_net_t *net, char *event_id)
{
    pe_result_t r = pe_net_cli (net, "police-paris", "{\"facts\":\"arrest\"}", "publish",
        "--type", "referral", "--case", CASE, "--to", "pp-paris,prosecution-paris",
        "--category", "identity,referral", "--purpose", "referral", "--basis", "legal_obligation",
        "--justification", "criminal procedure code art. 40", "-", NULL);
    ck_assert_msg (r.status == 0, "referral: %d %s %s", r.status, r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, "-> pp-paris: allow (rule justice-refers-to-perpetrator-programme)"));
    ck_assert_ptr_nonnull (strstr (r.out, "-> prosecution-paris: allow (rule police-to-prosecution)"));
    if (event_id)
        s_event_id (r.out, event_id);
    pe_result_free (&r);
}

static pe_result_t
s_programme_refers (pe_net_t *net, const char *case_ref, const char *categories, const char *payload)
{
    return pe_net_cli (net, "pp-paris", payload, "publish", "--type", "referral", "--case", case_ref,
                       "--to", "ss-paris", "--category", categories, "--purpose", "referral",
                       "--basis", "consent", "--consent", "CONS-PP-1", "-", NULL);
}

static void
s_give_consent (pe_net_t *net)
{
    pe_result_t r = pe_net_cli (net, "pp-paris", NULL, "consent", "give", "--case", CASE,
        "--id", "CONS-PP-1", "--subject", "perpetrator",
        "--categories", "identity,contact,case_summary,psychosocial,referral",
        "--roles", "social_services", "--purposes", "referral",
        "--evidence", "intake form PP-2026-114", NULL);
    ck_assert_msg (r.status == 0, "consent give: %d %s %s", r.status, r.out, r.err);
    ck_assert_str_eq (r.out, "consent CONS-PP-1 on case " CASE " registered\n");
    pe_result_free (&r);
}

START_TEST (a_share_under_consent_goes_through_and_a_special_category_smuggled_in_does_not)
{
    pe_net_t *net = s_network ();
    s_police_refer (net, NULL);
    //  Without a registered consent: refused, and the publisher is told why
    pe_result_t r = s_programme_refers (net, CASE, "identity,referral", "{\"n\":1}");
    ck_assert_int_eq (r.status, 3);
    ck_assert_msg (strstr (r.out, "-> ss-paris: deny consent_missing"), "%s", r.out);
    pe_result_free (&r);
    s_give_consent (net);
    r = s_programme_refers (net, CASE, "identity,referral", "{\"intake\":\"REFER-OK-551\"}");
    ck_assert_msg (r.status == 0, "%d %s %s", r.status, r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, "-> ss-paris: allow (rule programme-refers-on)"));
    pe_result_free (&r);
    char *inbox = s_inbox_with (net, "ss-paris", "REFER-OK-551", 5000);
    ck_assert_ptr_nonnull (strstr (inbox, "REFER-OK-551"));
    free (inbox);
    //  Need: health data riding along with allowed categories sinks the lot
    r = s_programme_refers (net, CASE, "identity,referral,health", "{\"dx\":\"HEALTH-LEAK-1\"}");
    ck_assert_int_eq (r.status, 3);
    ck_assert_msg (strstr (r.out, "-> ss-paris: deny") && strstr (r.out, "category health"),
                   "%s", r.out);
    pe_result_free (&r);
    //  The consent counts on its own case only
    r = s_programme_refers (net, "C-OTHER-1", "identity,referral", "{\"n\":2}");
    ck_assert_int_eq (r.status, 3);
    ck_assert_ptr_nonnull (strstr (r.out, "deny consent_missing"));
    pe_result_free (&r);
    usleep (300000);
    inbox = s_inbox_with (net, "ss-paris", "HEALTH-LEAK-1", 0);
    ck_assert_ptr_null (strstr (inbox, "HEALTH-LEAK-1"));
    free (inbox);
    //  Every decision is in the broker's log with its rule or reason code
    char *log = pe_net_log (net, "broker");
    ck_assert_ptr_nonnull (strstr (log, "pp-paris -> ss-paris: allow allowed rule programme-refers-on"));
    ck_assert_ptr_nonnull (strstr (log, "pp-paris -> ss-paris: deny consent_missing"));
    ck_assert_ptr_nonnull (strstr (log, "category health"));
    //  ... and shares without consent are flagged for the DPO
    ck_assert_ptr_nonnull (strstr (log, "police-paris -> pp-paris: allow allowed rule "
                                        "justice-refers-to-perpetrator-programme"));
    ck_assert_ptr_nonnull (strstr (log, "[review: no consent]"));
    free (log);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (withdrawing_consent_tells_every_earlier_recipient_and_stops_sharing)
{
    pe_net_t *net = s_network ();
    s_police_refer (net, NULL);
    s_give_consent (net);
    pe_result_t r = s_programme_refers (net, CASE, "identity,referral", "{\"intake\":\"BEFORE-WITHDRAWAL\"}");
    ck_assert_int_eq (r.status, 0);
    pe_result_free (&r);
    char *inbox = s_inbox_with (net, "ss-paris", "BEFORE-WITHDRAWAL", 5000);
    free (inbox);
    //  The person tells the programme they withdraw
    r = pe_net_cli (net, "pp-paris", NULL, "consent", "withdraw", "--case", CASE,
                    "--id", "CONS-PP-1", "--subject", "perpetrator", NULL);
    ck_assert_msg (r.status == 0, "withdraw: %d %s %s", r.status, r.out, r.err);
    ck_assert_str_eq (r.out, "consent CONS-PP-1 on case " CASE " withdrawn\n");
    pe_result_free (&r);
    //  Social services, which received data under it, gets a notice
    inbox = s_inbox_with (net, "ss-paris", "NOTICE consent_withdrawn", 5000);
    ck_assert_msg (strstr (inbox, "NOTICE consent_withdrawn"), "%s", inbox);
    ck_assert_ptr_nonnull (strstr (inbox, "consent CONS-PP-1 on case " CASE " was withdrawn"));
    free (inbox);
    //  The police, which received nothing under it, do not
    r = pe_net_cli (net, "police-paris", NULL, "inbox", NULL);
    ck_assert_ptr_null (strstr (r.out, "NOTICE"));
    pe_result_free (&r);
    //  And no further sharing under it
    r = s_programme_refers (net, CASE, "identity,referral", "{\"n\":3}");
    ck_assert_int_eq (r.status, 3);
    ck_assert_msg (strstr (r.out, "deny consent_withdrawn"), "%s", r.out);
    pe_result_free (&r);
    //  A withdrawn id cannot be withdrawn (or given) again
    r = pe_net_cli (net, "pp-paris", NULL, "consent", "withdraw", "--case", CASE,
                    "--id", "CONS-PP-1", "--subject", "perpetrator", NULL);
    ck_assert_int_eq (r.status, 3);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (a_correction_reaches_every_earlier_recipient_and_only_from_the_publisher)
{
    pe_net_t *net = s_network ();
    char original [33];
    s_police_refer (net, original);
    //  The police correct their referral, naming no one: it goes to both
    pe_result_t r = pe_net_cli (net, "police-paris", "{\"facts\":\"CORRECTED-DATE-12\"}", "publish",
        "--type", "correction", "--case", CASE, "--supersedes", original,
        "--category", "identity,referral", "--purpose", "referral", "--basis", "legal_obligation",
        "--justification", "wrong date of arrest in the referral", "-", NULL);
    ck_assert_msg (r.status == 0, "correction: %d %s %s", r.status, r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, "-> pp-paris: allow"));
    ck_assert_ptr_nonnull (strstr (r.out, "-> prosecution-paris: allow"));
    pe_result_free (&r);
    const char *receivers [] = { "pp-paris", "prosecution-paris" };
    for (int i = 0; i < 2; i++) {
        char *inbox = s_inbox_with (net, receivers [i], "CORRECTED-DATE-12", 5000);
        ck_assert_msg (strstr (inbox, "CORRECTED-DATE-12"), "%s: %s", receivers [i], inbox);
        free (inbox);
    }
    r = pe_net_cli (net, "ss-paris", NULL, "inbox", NULL);
    ck_assert_str_eq (r.out, "");
    pe_result_free (&r);
    //  Someone else cannot correct the police's event
    r = pe_net_cli (net, "pp-paris", "{\"facts\":\"x\"}", "publish", "--type", "correction",
        "--case", CASE, "--supersedes", original, "--to", "prosecution-paris",
        "--category", "case_summary", "--purpose", "risk_management", "--basis", "court_order",
        "--justification", "programme thinks the date is wrong", "-", NULL);
    ck_assert_int_eq (r.status, 3);
    ck_assert_msg (strstr (r.out, "deny correction_not_publisher"), "%s", r.out);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (a_gap_in_a_publishers_sequence_is_reported_to_it)
{
    //  Numbers may arrive late (retries, escalations first): a gap is
    //  reported once it has stayed open for the grace period
    pe_net_t *net = s_network_with ("    gap-grace = 500ms\n");
    s_police_refer (net, NULL);
    //  Lose numbers 2 to 4, as a broken agency system restore would
    ck_assert_int_eq (pe_net_stop_agent (net, "police-paris"), 0);
    FILE *file = fopen (pe_net_path (net, "police-paris-state/sequence"), "w");
    ck_assert_ptr_nonnull (file);
    fputs ("4\n", file);
    fclose (file);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    pe_result_t r = pe_net_cli (net, "police-paris", "{}", "publish", "--type", "referral",
        "--case", CASE, "--to", "pp-paris", "--category", "identity", "--purpose", "referral",
        "--basis", "legal_obligation", "--justification", "follow-up", "-", NULL);
    ck_assert_msg (r.status == 0, "%d %s %s", r.status, r.out, r.err);
    pe_result_free (&r);
    char *inbox = s_inbox_with (net, "police-paris", "sequence_gap", 8000);
    ck_assert_msg (strstr (inbox, "NOTICE sequence_gap") && strstr (inbox, "sequence gap: numbers 2 "
                   "to 4 from police-paris never reached the broker"), "%s", inbox);
    free (inbox);
    ck_assert (pe_net_wait_log (net, "broker", "sequence gap: numbers 2 to 4", 2000));
    pe_net_destroy (&net);
}
END_TEST

START_TEST (a_bad_policy_on_reload_keeps_the_current_one)
{
    pe_net_t *net = s_network ();
    FILE *file = fopen (pe_net_path (net, "policy.cfg"), "a");
    fputs ("    broken-rule\n        from = policemen\n", file);
    fclose (file);
    ck_assert_int_eq (pe_net_signal_broker (net, SIGHUP), 0);
    ck_assert (pe_net_wait_log (net, "broker", "policy reload failed, keeping policy", 5000));
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (strstr (log, "policy.cfg:") && strstr (log, "policemen"), "%s", log);
    free (log);
    s_police_refer (net, NULL);
    pe_net_destroy (&net);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("e2e sharing rules");
    TCase *tc = tcase_create ("MOVE policy, real processes");
    tcase_set_timeout (tc, 90);
    tcase_add_test (tc, a_share_under_consent_goes_through_and_a_special_category_smuggled_in_does_not);
    tcase_add_test (tc, withdrawing_consent_tells_every_earlier_recipient_and_stops_sharing);
    tcase_add_test (tc, a_correction_reaches_every_earlier_recipient_and_only_from_the_publisher);
    tcase_add_test (tc, a_gap_in_a_publishers_sequence_is_reported_to_it);
    tcase_add_test (tc, a_bad_policy_on_reload_keeps_the_current_one);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
