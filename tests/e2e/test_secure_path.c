/*  End to end: the secure path (issue 2), with the real binaries.
 *
 *  A broker and agents on free 127.0.0.1 ports in a temporary folder; the
 *  tests act as agency staff (the `passerelle` CLI) and as a misbehaving
 *  agency (passerelle-forge), and check what a user would see: exit codes,
 *  printed decisions, inbox contents, and the daemons' logs.  */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pl_test.h"
#include "e2e/pe_net.h"

#define SECRET "{\"note\":\"SECRET-REFERRAL-7731: arrest, partner and child at risk\"}"

static pe_net_t *
s_paris (const char *broker_extra)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "ss-paris", "social_services", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-lyon", "perpetrator_programme", "lyon", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (net, broker_extra), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "ss-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-lyon", true), 0);
    return net;
}

//  Police and the programme only; the police agent runs, pp-paris's does
//  not (the tests play it with passerelle-forge).
static pe_net_t *
s_police_and_programme (const char *broker_extra)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (net, broker_extra), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    return net;
}

static pe_result_t
s_publish_to (pe_net_t *net, const char *from, const char *flag, const char *to, const char *payload)
{
    return pe_net_cli (net, from, payload, "publish", "--type", "referral", "--case", "C-2026-0042",
                       flag, to, "--category", "identity,referral", "--purpose", "referral",
                       "--basis", "legal_obligation", "--justification",
                       "court-ordered perpetrator programme", "-", NULL);
}

//  Wait until id's inbox holds text (or give up after ms); returns the inbox.
static char *
s_inbox_with (pe_net_t *net, const char *id, const char *text, int ms)
{
    for (int waited = 0; ; waited += 100) {
        pe_result_t r = pe_net_cli (net, id, NULL, "inbox", "--json", NULL);
        ck_assert_int_eq (r.status, 0);
        if (strstr (r.out, text) || waited >= ms) {
            free (r.err);
            return r.out;
        }
        pe_result_free (&r);
        usleep (100000);
    }
}

static bool
s_file_contains (const char *dir, const char *text)
{
    char command [1024];
    snprintf (command, sizeof command, "grep -rqaF '%s' '%s'", text, dir);
    return system (command) == 0;
}

START_TEST (a_published_event_reaches_only_the_addressed_agency_decrypted)
{
    pe_net_t *net = s_paris (NULL);
    pe_result_t r = s_publish_to (net, "police-paris", "--to", "pp-paris", SECRET);
    ck_assert_msg (r.status == 0, "publish exit %d: %s%s", r.status, r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, " accepted"));
    ck_assert_ptr_nonnull (strstr (r.out, "-> pp-paris: allow"));
    pe_result_free (&r);

    char *inbox = s_inbox_with (net, "pp-paris", "SECRET-REFERRAL-7731", 5000);
    ck_assert_msg (strstr (inbox, "SECRET-REFERRAL-7731"), "pp-paris inbox: %s", inbox);
    ck_assert_ptr_nonnull (strstr (inbox, "\"publisher\":\"police-paris\""));
    ck_assert_ptr_nonnull (strstr (inbox, "\"case\":\"C-2026-0042\""));
    free (inbox);
    //  Nobody else got anything, and the broker never saw the plaintext
    for (const char **id = (const char *[]) { "ss-paris", "pp-lyon", "police-paris", NULL }; *id; id++) {
        r = pe_net_cli (net, *id, NULL, "inbox", "--json", NULL);
        ck_assert_int_eq (r.status, 0);
        ck_assert_msg (strlen (r.out) == 0, "%s received: %s", *id, r.out);
        pe_result_free (&r);
    }
    //  The case system marks it processed; the directory is there to consult
    r = pe_net_cli (net, "pp-paris", NULL, "ack", "1", NULL);
    ck_assert_msg (r.status == 0 && strstr (r.out, "inbox item 1 marked processed"), "%s%s", r.out, r.err);
    pe_result_free (&r);
    r = pe_net_cli (net, "pp-paris", NULL, "inbox", "--json", NULL);
    ck_assert_ptr_nonnull (strstr (r.out, "\"processed\":true"));
    pe_result_free (&r);
    r = pe_net_cli (net, "pp-paris", NULL, "ack", "99", NULL);
    ck_assert_int_eq (r.status, 3);
    pe_result_free (&r);
    r = pe_net_cli (net, "pp-paris", NULL, "directory", NULL);
    ck_assert_msg (r.status == 0 && strstr (r.out, "pp-lyon") && strstr (r.out, "perpetrator_programme")
                   && strstr (r.out, "lyon"), "%s", r.out);
    pe_result_free (&r);
    char *log = pe_net_log (net, "broker");
    ck_assert_ptr_null (strstr (log, "SECRET-REFERRAL-7731"));
    ck_assert_ptr_nonnull (strstr (log, "police-paris -> pp-paris: allow"));
    free (log);
    ck_assert (!s_file_contains (pe_net_path (net, "broker-state"), "SECRET-REFERRAL-7731"));
    pe_net_destroy (&net);
}
END_TEST

START_TEST (role_addressing_stays_inside_the_publishers_network)
{
    pe_net_t *net = s_paris (NULL);
    pe_result_t r = s_publish_to (net, "police-paris", "--to-role", "perpetrator_programme", SECRET);
    ck_assert_msg (r.status == 0, "publish exit %d: %s%s", r.status, r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, "-> pp-paris: allow"));
    ck_assert_ptr_null (strstr (r.out, "pp-lyon"));
    pe_result_free (&r);
    char *inbox = s_inbox_with (net, "pp-paris", "SECRET-REFERRAL-7731", 5000);
    ck_assert_ptr_nonnull (strstr (inbox, "SECRET-REFERRAL-7731"));
    free (inbox);
    r = pe_net_cli (net, "pp-lyon", NULL, "inbox", "--json", NULL);
    ck_assert_str_eq (r.out, "");
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (an_event_waits_for_a_recipient_that_is_offline)
{
    pe_net_t *net = s_paris (NULL);
    ck_assert_int_eq (pe_net_stop_agent (net, "pp-paris"), 0);
    pe_result_t r = s_publish_to (net, "police-paris", "--to", "pp-paris", SECRET);
    ck_assert_msg (r.status == 0, "publish exit %d: %s%s", r.status, r.out, r.err);
    pe_result_free (&r);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    char *inbox = s_inbox_with (net, "pp-paris", "SECRET-REFERRAL-7731", 5000);
    ck_assert_msg (strstr (inbox, "SECRET-REFERRAL-7731"), "held event not delivered: %s", inbox);
    free (inbox);
    ck_assert (pe_net_wait_log (net, "broker", "receipt event", 3000));
    pe_net_destroy (&net);
}
END_TEST

START_TEST (a_key_not_in_the_directory_cannot_connect_or_receive)
{
    pe_net_t *net = s_paris (NULL);
    ck_assert_int_eq (pe_net_add_agency (net, "stranger", "police", "paris", false), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "stranger", false), 0);
    ck_assert (pe_net_wait_log (net, "stranger", "broker refused the connection", 5000));
    pe_result_t r = pe_net_cli (net, "stranger", NULL, "status", NULL);
    ck_assert_int_eq (r.status, 4);
    ck_assert_ptr_nonnull (strstr (r.out, "not connected"));
    pe_result_free (&r);
    //  Its publishes go nowhere, and no one can address it
    r = s_publish_to (net, "stranger", "--to", "pp-paris", SECRET);
    ck_assert_int_eq (r.status, 4);
    ck_assert_msg (strstr (r.err, "has not reached the broker yet") &&
                   strstr (r.err, "nothing was accepted"), "%s", r.err);
    pe_result_free (&r);
    r = s_publish_to (net, "police-paris", "--to", "stranger", SECRET);
    ck_assert_int_eq (r.status, 3);
    ck_assert_ptr_nonnull (strstr (r.err, "unknown agency 'stranger'"));
    pe_result_free (&r);
    //  Speaking the protocol directly does not help either
    r = pe_net_forge (net, "stranger", "honest", "pp-paris", NULL);
    ck_assert_str_eq (r.out, "no answer\n");
    pe_result_free (&r);
    r = pe_net_cli (net, "pp-paris", NULL, "inbox", "--json", NULL);
    ck_assert_str_eq (r.out, "");
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (publishing_under_another_agencys_id_is_refused)
{
    pe_net_t *net = s_paris (NULL);
    pe_result_t r = pe_net_forge (net, "ss-paris", "impersonate", "pp-paris",
                                  "--as", "police-paris", NULL);
    ck_assert_msg (strncmp (r.out, "publisher_mismatch: authenticated as ss-paris, cannot "
                   "publish as police-paris", 70) == 0, "forge said: %s", r.out);
    pe_result_free (&r);
    ck_assert (pe_net_wait_log (net, "broker", "refuse event", 2000));
    char *log = pe_net_log (net, "broker");
    ck_assert_ptr_nonnull (strstr (log, "from ss-paris: publisher_mismatch"));
    free (log);
    r = pe_net_cli (net, "pp-paris", NULL, "inbox", "--json", NULL);
    ck_assert_str_eq (r.out, "");
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (a_forged_signature_and_a_replay_are_refused)
{
    pe_net_t *net = s_paris (NULL);
    pe_result_t r = pe_net_forge (net, "police-paris", "badsig", "pp-paris", NULL);
    ck_assert_msg (strncmp (r.out, "bad_signature:", 14) == 0, "forge said: %s", r.out);
    pe_result_free (&r);
    r = pe_net_forge (net, "police-paris", "replay", "pp-paris", NULL);
    ck_assert_msg (strncmp (r.out, "ok: accepted\nduplicate: ", 24) == 0, "forge said: %s", r.out);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

//  Count the lines of text in text
static int
s_count (const char *text, const char *line)
{
    int count = 0;
    for (const char *at = strstr (text, line); at; at = strstr (at + 1, line))
        count++;
    return count;
}

//  A receipt counts only when signed by the recipient over the header it
//  was delivered; a second one for the same event changes nothing. Three
//  events wait for pp-paris; passerelle-forge plays pp-paris and sends, in
//  one burst, a receipt over all three whose signature was altered, one over
//  the first signed over another header hash, one over all three and the
//  first again, and that one again: the broker must keep every delivery
//  after the first two, then log each of the three once, from the third
//  receipt's items (every item counts, not only its first), and ignore the
//  rest.
START_TEST (a_receipt_counts_once_and_only_over_what_was_delivered)
{
    pe_net_t *net = s_police_and_programme (NULL);
    for (int i = 0; i < 3; i++) {
        pe_result_t r = s_publish_to (net, "police-paris", "--to", "pp-paris", SECRET);
        ck_assert_msg (r.status == 0 && strstr (r.out, " accepted"), "publish: %s%s", r.out,
                       r.err);
        pe_result_free (&r);
    }

    pe_result_t r = pe_net_forge (net, "pp-paris", "receipts", "police-paris", "--count", "3",
                                  NULL);
    char hex [3][33];
    const char *line = r.out;
    for (int i = 0; i < 3; i++) {
        ck_assert_msg (strncmp (line, "receipted ", 10) == 0, "forge said: %s", r.out);
        snprintf (hex [i], sizeof hex [i], "%.32s", line + 10);
        line += 10 + 32 + 1;
    }
    ck_assert_msg (*line == 0, "forge said: %s", r.out);
    pe_result_free (&r);
    const char *bad = "receipt from pp-paris refused: bad signature: not the recipient's over "
                      "its 3 items; deliveries kept";
    char other [200], good [3][128];
    snprintf (other, sizeof other, "receipt from pp-paris: 1 item signed over another header "
              "than the one delivered (event %s), delivery kept", hex [0]);
    for (int i = 0; i < 3; i++)
        snprintf (good [i], sizeof good [i], "receipt event %s by pp-paris", hex [i]);
    ck_assert (pe_net_wait_log (net, "broker", good [2], 5000));
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (s_count (log, bad) == 1, "%s", log);
    ck_assert_msg (s_count (log, other) == 1, "%s", log);
    for (int i = 0; i < 3; i++)
        ck_assert_msg (s_count (log, good [i]) == 1, "%s: %s", good [i], log);
    free (log);
    //  Nothing is owed any more: reconnecting gets no delivery
    r = pe_net_forge (net, "pp-paris", "receipts", "police-paris", NULL);
    ck_assert_msg (strcmp (r.out, "no delivery\n") == 0, "forge said: %s", r.out);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

//  Credit flow control: a connection holds at most delivery-window
//  deliveries not yet receipted; each receipt lets the next ones out. Five
//  events wait for pp-paris behind a window of two: passerelle-forge plays
//  pp-paris, receipting each round once it has gone quiet, and must see
//  rounds of 2, 2 and 1 (without the window it sees 5 at once).
START_TEST (a_connection_gets_no_more_deliveries_than_its_window)
{
    pe_net_t *net = s_police_and_programme ("    delivery-window = 2\n");
    for (int i = 0; i < 5; i++) {
        pe_result_t r = s_publish_to (net, "police-paris", "--to", "pp-paris", SECRET);
        ck_assert_msg (r.status == 0 && strstr (r.out, " accepted"), "publish: %s%s", r.out,
                       r.err);
        pe_result_free (&r);
    }
    pe_result_t r = pe_net_forge (net, "pp-paris", "window", "police-paris", NULL);
    ck_assert_msg (strcmp (r.out, "deliveries 2 2 1 0\n") == 0, "forge said: %s%s", r.out, r.err);
    pe_result_free (&r);
    //  Everything was receipted: nothing is owed on the next connection
    r = pe_net_forge (net, "pp-paris", "window", "police-paris", NULL);
    ck_assert_msg (strcmp (r.out, "deliveries 0\n") == 0, "forge said: %s%s", r.out, r.err);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

//  The credit also stops at 8 MiB of deliveries out, so a window of large
//  envelopes never piles up for a slow reader: nine events of 1,000,000
//  bytes come in rounds of 8 and 1 (one more would pass 8 MiB).
START_TEST (large_deliveries_are_held_back_by_bytes_too)
{
    pe_net_t *net = s_police_and_programme (NULL);
    size_t size = 1000000;
    char *payload = malloc (size + 1);
    ck_assert_ptr_nonnull (payload);
    memset (payload, 'x', size);
    payload [size] = 0;
    for (int i = 0; i < 9; i++) {
        pe_result_t r = s_publish_to (net, "police-paris", "--to", "pp-paris", payload);
        ck_assert_msg (r.status == 0 && strstr (r.out, " accepted"), "publish: %s%s", r.out,
                       r.err);
        pe_result_free (&r);
    }
    free (payload);
    pe_result_t r = pe_net_forge (net, "pp-paris", "window", "police-paris", NULL);
    ck_assert_msg (strcmp (r.out, "deliveries 8 1 0\n") == 0, "forge said: %s%s", r.out, r.err);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

//  Events signed together (one publisher signature over the Merkle root of
//  their headers) are still each checked on their own: passerelle-forge,
//  with the police key, signs four events for pp-paris as one burst, alters
//  the last one's header after signing and sends all four back to back.
//  The broker must refuse that one alone, as bad_signature, and take the
//  three others; pp-paris's agent, which checks each event's place in the
//  burst again before it opens it, must receive those three, once each.
//  The broker checks with one thread, so the altered event is checked
//  right after its burst's signature was verified and remembered: trusting
//  that memory without recomputing the root from the event's own header
//  would let it through.
START_TEST (a_burst_with_one_altered_event_loses_only_that_event)
{
    pe_net_t *net = s_police_and_programme ("    verify-threads = 0\n");
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    pe_result_t r = pe_net_forge (net, "police-paris", "burst", "pp-paris", "--count", "4", NULL);
    ck_assert_msg (r.status == 0, "forge exit %d: %s%s", r.status, r.out, r.err);
    const char *answers = "ok: accepted\nok: accepted\nok: accepted\nbad_signature: ";
    ck_assert_msg (strncmp (r.out, answers, strlen (answers)) == 0 && s_count (r.out, "\n") == 4,
                   "forge said: %s", r.out);
    pe_result_free (&r);
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (s_count (log, "from police-paris: bad_signature") == 1, "%s", log);
    ck_assert_msg (s_count (log, "police-paris -> pp-paris: allow") == 3, "%s", log);
    free (log);
    char *inbox = s_inbox_with (net, "pp-paris", "BURST-EVENT-2", 5000);
    for (int i = 0; i < 3; i++) {
        char tag [32];
        snprintf (tag, sizeof tag, "BURST-EVENT-%d", i);
        ck_assert_msg (s_count (inbox, tag) == 1, "%s: pp-paris inbox: %s", tag, inbox);
    }
    ck_assert_msg (!strstr (inbox, "BURST-EVENT-3"), "pp-paris inbox: %s", inbox);
    free (inbox);
    log = pe_net_log (net, "pp-paris");
    ck_assert_msg (!strstr (log, " refused: "), "%s", log);
    free (log);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (malformed_and_oversized_messages_are_refused_and_others_still_served)
{
    pe_net_t *net = s_paris ("    max-message = 65536\n");
    pe_result_t r = pe_net_forge (net, "police-paris", "malformed", "ss-paris", NULL);
    ck_assert_msg (strncmp (r.out, "malformed: ", 11) == 0, "forge said: %s", r.out);
    pe_result_free (&r);
    r = pe_net_forge (net, "police-paris", "twoframes", "ss-paris", NULL);
    ck_assert_msg (strncmp (r.out, "malformed: expected exactly one frame", 37) == 0,
                   "forge said: %s", r.out);
    pe_result_free (&r);
    r = pe_net_forge (net, "police-paris", "oversized", "ss-paris", "--size", "100000", NULL);
    ck_assert_msg (strncmp (r.out, "oversized: message of 100000 bytes", 34) == 0,
                   "forge said: %s", r.out);
    pe_result_free (&r);
    //  Beyond the protocol's hard ceiling the connection itself is dropped
    r = pe_net_forge (net, "police-paris", "oversized", "ss-paris", "--size", "4000000", NULL);
    ck_assert_str_eq (r.out, "no answer\n");
    pe_result_free (&r);
    //  ... and everyone else is still served
    r = s_publish_to (net, "police-paris", "--to", "pp-paris", SECRET);
    ck_assert_msg (r.status == 0, "publish after abuse: exit %d: %s%s", r.status, r.out, r.err);
    pe_result_free (&r);
    char *inbox = s_inbox_with (net, "pp-paris", "SECRET-REFERRAL-7731", 5000);
    ck_assert_ptr_nonnull (strstr (inbox, "SECRET-REFERRAL-7731"));
    free (inbox);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (sighup_after_removing_an_agency_revokes_it)
{
    pe_net_t *net = s_paris (NULL);
    ck_assert_int_eq (pe_net_write_directory (net, "ss-paris"), 0);
    ck_assert_int_eq (pe_net_signal_broker (net, SIGHUP), 0);
    ck_assert (pe_net_wait_log (net, "broker", "1 revoked: ss-paris", 5000));
    //  Its open connection is closed and it cannot come back
    ck_assert (pe_net_wait_connected (net, "ss-paris", false, 8000));
    ck_assert (pe_net_wait_log (net, "ss-paris", "broker refused the connection", 8000));
    //  The others reconnected and no longer know it
    ck_assert (pe_net_wait_connected (net, "police-paris", true, 8000));
    pe_result_t r = s_publish_to (net, "police-paris", "--to", "ss-paris", SECRET);
    ck_assert_int_eq (r.status, 3);
    ck_assert_ptr_nonnull (strstr (r.err, "unknown agency 'ss-paris'"));
    pe_result_free (&r);
    r = pe_net_forge (net, "ss-paris", "honest", "pp-paris", NULL);
    ck_assert_str_eq (r.out, "no answer\n");
    pe_result_free (&r);
    //  A broken directory on reload keeps the current one, and says why
    FILE *file = fopen (pe_net_path (net, "directory.cfg"), "a");
    fputs ("agency\n    id = Bad Id\n", file);
    fclose (file);
    ck_assert_int_eq (pe_net_signal_broker (net, SIGHUP), 0);
    ck_assert (pe_net_wait_log (net, "broker", "directory reload failed, keeping the current "
                                "directory", 5000));
    r = s_publish_to (net, "police-paris", "--to", "pp-paris", SECRET);
    ck_assert_int_eq (r.status, 0);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (bad_files_and_bad_requests_get_clear_errors)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    //  A config with an unknown setting: file, line and what was expected
    ck_assert_int_eq (pe_net_start_broker (net, "    colour = blue\n"), -1);
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (strstr (log, "broker.cfg:7: unknown setting 'colour' in 'broker'"), "%s", log);
    free (log);
    ck_assert_int_eq (pe_net_start_broker (net, "    verify-threads = 12\n"), -1);
    log = pe_net_log (net, "broker");
    ck_assert_msg (strstr (log, "broker.cfg:7: verify-threads: expected auto or a number from 0 "
                           "to 8"), "%s", log);
    free (log);
    ck_assert_int_eq (pe_net_start_broker (net, "    store-flush = 1h\n"), -1);
    log = pe_net_log (net, "broker");
    ck_assert_msg (strstr (log, "broker.cfg:7: store-flush: expected a duration from 0 to 10s"),
                   "%s", log);
    free (log);
    static const char *const windows [] = { "    delivery-window = 0\n",
                                            "    delivery-window = 4097\n",
                                            "    delivery-window = abc\n" };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq (pe_net_start_broker (net, windows [i]), -1);
        log = pe_net_log (net, "broker");
        ck_assert_msg (strstr (log, "broker.cfg:7: delivery-window: expected a number of "
                               "deliveries from 1 to 4096"), "%s: %s", windows [i], log);
        free (log);
    }
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    //  A secret key readable by others is refused, naming the fix
    chmod (pe_net_path (net, "police-paris.key"), 0644);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", false), -1);
    log = pe_net_log (net, "police-paris");
    ck_assert_msg (strstr (log, "chmod 600"), "%s", log);
    free (log);
    chmod (pe_net_path (net, "police-paris.key"), 0600);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    //  Requests are checked field by field before anything is sent
    pe_result_t r = pe_net_cli (net, "police-paris", "{}", "publish", "--type", "referral",
                                "--case", "C-1", "--to", "pp-paris", "--category", "identity,healht",
                                "--purpose", "referral", "--basis", "consent", "--consent", "K-1",
                                "-", NULL);
    ck_assert_int_eq (r.status, 3);
    ck_assert_msg (strstr (r.err, "categories[1]: unknown category 'healht'"), "%s", r.err);
    pe_result_free (&r);
    r = pe_net_cli (net, "police-paris", "{}", "publish", "--type", "referral", "--case", "C-1",
                    "--to", "pp-paris", "--category", "identity", "--purpose", "referral",
                    "--basis", "vital_interests", "-", NULL);
    ck_assert_int_eq (r.status, 3);
    ck_assert_ptr_nonnull (strstr (r.err, "needs a 'justification'"));
    pe_result_free (&r);
    r = pe_net_cli (net, "police-paris", NULL, "publish", "--type", "referral", NULL);
    ck_assert_int_eq (r.status, 1);
    pe_result_free (&r);
    //  A command missing its argument gets its usage, agent or no agent
    r = pe_net_cli (net, "pp-paris", NULL, "proof", NULL);
    ck_assert_int_eq (r.status, 1);
    ck_assert_ptr_nonnull (strstr (r.out, "usage: passerelle proof EVENT-ID"));
    pe_result_free (&r);
    //  No agent behind a configuration: exit 2 and where it looked
    char bin [1100];
    snprintf (bin, sizeof bin, "%s/passerelle", getenv ("PASSERELLE_BIN")? getenv ("PASSERELLE_BIN"): "build/bin");
    char *argv [] = { bin, "-c", pe_net_path (net, "pp-paris.cfg"), "status", NULL };
    r = pe_run (argv, NULL, 5000);
    ck_assert_int_eq (r.status, 2);
    ck_assert_ptr_nonnull (strstr (r.err, "no agent control socket"));
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("e2e secure path");
    TCase *tc = tcase_create ("real processes");
    tcase_set_timeout (tc, 90);
    tcase_add_test (tc, a_published_event_reaches_only_the_addressed_agency_decrypted);
    tcase_add_test (tc, role_addressing_stays_inside_the_publishers_network);
    tcase_add_test (tc, an_event_waits_for_a_recipient_that_is_offline);
    tcase_add_test (tc, a_key_not_in_the_directory_cannot_connect_or_receive);
    tcase_add_test (tc, publishing_under_another_agencys_id_is_refused);
    tcase_add_test (tc, a_forged_signature_and_a_replay_are_refused);
    tcase_add_test (tc, a_receipt_counts_once_and_only_over_what_was_delivered);
    tcase_add_test (tc, a_connection_gets_no_more_deliveries_than_its_window);
    tcase_add_test (tc, large_deliveries_are_held_back_by_bytes_too);
    tcase_add_test (tc, a_burst_with_one_altered_event_loses_only_that_event);
    tcase_add_test (tc, malformed_and_oversized_messages_are_refused_and_others_still_served);
    tcase_add_test (tc, sighup_after_removing_an_agency_revokes_it);
    tcase_add_test (tc, bad_files_and_bad_requests_get_clear_errors);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
