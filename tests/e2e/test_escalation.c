/*  End to end: risk escalations (issue 6, broker side) with real processes.
 *
 *  An escalation travels ahead of ordinary traffic, and when its recipient
 *  has not receipted it within the policy's deadline the broker logs a late
 *  escalation and tells the publisher and the policy's fallback roles in the
 *  publisher's network; the eventual delivery is logged too. The policy copy
 *  of this test sets a 2 s deadline (the shipped one says 15 minutes).  */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pl_test.h"
#include "e2e/pe_net.h"

static void
s_shorten_deadline (pe_net_t *net)
{
    char command [1400];
    snprintf (command, sizeof command, "sed -i 's/^    escalation_deadline = .*/    "
              "escalation_deadline = 2s/' '%s'", pe_net_path (net, "policy.cfg"));
    ck_assert_int_eq (system (command), 0);
}

static int
s_publish (pe_net_t *net, const char *type, const char *risk, const char *payload)
{
    bool escalation = strcmp (type, "risk_escalation") == 0;
    pe_result_t r = pe_net_cli (net, "police-paris", payload, "publish", "--type", type,
        "--case", "C-ESC-1", "--to", "pp-paris",
        "--category", escalation? "identity,risk_assessment": "identity,referral",
        "--purpose", escalation? "risk_management": "referral",
        "--basis", escalation? "vital_interests": "legal_obligation",
        "--justification", escalation? "threats to kill, weapon at home": "court order",
        "--risk", risk, "-", NULL);
    int status = r.status;
    if (status != 0 && status != 6)
        fprintf (stderr, "publish %s: %s%s", type, r.out, r.err);
    pe_result_free (&r);
    return status;
}

static char *
s_inbox_with (pe_net_t *net, const char *id, const char *text, int ms)
{
    for (int waited = 0; ; waited += 200) {
        pe_result_t r = pe_net_cli (net, id, NULL, "inbox", "--json", NULL);
        if (strstr (r.out, text) || waited >= ms) {
            free (r.err);
            return r.out;
        }
        pe_result_free (&r);
        usleep (200000);
    }
}

START_TEST (a_late_escalation_alerts_the_publisher_and_the_fallback_then_arrives_first)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "coord-paris", "coordinator", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "coord-lyon", "coordinator", "lyon", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    s_shorten_deadline (net);
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "coord-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "coord-lyon", true), 0);
    //  The programme's agent is down: two ordinary events, then an escalation
    ck_assert_int_eq (s_publish (net, "referral", "medium", "{\"n\":\"ORDINARY-1\"}"), 0);
    ck_assert_int_eq (s_publish (net, "referral", "medium", "{\"n\":\"ORDINARY-2\"}"), 0);
    ck_assert_int_eq (s_publish (net, "risk_escalation", "high", "{\"n\":\"ESCALATION-1\"}"), 0);

    //  Past the deadline the publisher and the fallback (coordinator, in the
    //  publisher's network only) are told, and the log says so
    char *inbox = s_inbox_with (net, "police-paris", "late_escalation", 8000);
    ck_assert_msg (strstr (inbox, "\"kind\":\"late_escalation\"") && strstr (inbox, "pp-paris"),
                   "publisher not told: %s", inbox);
    free (inbox);
    inbox = s_inbox_with (net, "coord-paris", "late_escalation", 3000);
    ck_assert_msg (strstr (inbox, "\"kind\":\"late_escalation\""), "fallback not told: %s", inbox);
    ck_assert_ptr_null (strstr (inbox, "ESCALATION-1"));      //  a notice, not the content
    free (inbox);
    pe_result_t r = pe_net_cli (net, "coord-lyon", NULL, "inbox", "--json", NULL);
    ck_assert_str_eq (r.out, "");
    pe_result_free (&r);
    ck_assert (pe_net_wait_log (net, "broker", "late escalation: risk escalation", 1000));
    //  Ordinary events are not escalations: only one alert was raised
    char *log = pe_net_log (net, "broker");
    const char *first = strstr (log, "late escalation:");
    ck_assert_ptr_null (first? strstr (first + 1, "late escalation:"): NULL);
    free (log);

    //  The programme comes back: the escalation is delivered first
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    inbox = s_inbox_with (net, "pp-paris", "ORDINARY-2", 8000);
    const char *escalation = strstr (inbox, "ESCALATION-1");
    const char *ordinary = strstr (inbox, "ORDINARY-1");
    ck_assert_msg (escalation && ordinary && escalation < ordinary,
                   "escalation not ahead of ordinary traffic: %s", inbox);
    free (inbox);
    ck_assert (pe_net_wait_log (net, "broker", "finally delivered to pp-paris", 5000));
    pe_net_destroy (&net);
}
END_TEST

START_TEST (an_escalation_leaves_the_agents_outbox_before_older_ordinary_events)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    //  The broker is down: the police's outbox fills, oldest first
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    ck_assert (pe_net_wait_connected (net, "police-paris", false, 5000));
    ck_assert_int_eq (s_publish (net, "referral", "medium", "{\"n\":\"QUEUED-ORDINARY-1\"}"), 6);
    ck_assert_int_eq (s_publish (net, "referral", "medium", "{\"n\":\"QUEUED-ORDINARY-2\"}"), 6);
    ck_assert_int_eq (s_publish (net, "risk_escalation", "high", "{\"n\":\"QUEUED-ESCALATION\"}"), 6);
    //  Back up: the escalation goes out first, so the broker decides it first
    //  (its log is in arrival order), whatever the order of the outbox
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    char *inbox = s_inbox_with (net, "pp-paris", "QUEUED-ORDINARY-2", 15000);
    ck_assert_ptr_nonnull (strstr (inbox, "QUEUED-ESCALATION"));
    free (inbox);
    char *log = pe_net_log (net, "broker");
    const char *escalation = strstr (log, "C-ESC-1 risk_escalation police-paris -> pp-paris");
    const char *ordinary = strstr (log, "C-ESC-1 referral police-paris -> pp-paris");
    ck_assert_msg (escalation && ordinary && escalation < ordinary,
                   "the agent did not send the escalation first: %s", log);
    //  ... and sending out of order is not mistaken for lost events
    ck_assert_ptr_null (strstr (log, "sequence gap"));
    ck_assert_ptr_null (strstr (log, "not above the last seen"));
    free (log);
    pe_net_destroy (&net);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("e2e escalation");
    TCase *tc = tcase_create ("deadlines and priority");
    tcase_set_timeout (tc, 90);
    tcase_add_test (tc, a_late_escalation_alerts_the_publisher_and_the_fallback_then_arrives_first);
    tcase_add_test (tc, an_escalation_leaves_the_agents_outbox_before_older_ordinary_events);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
