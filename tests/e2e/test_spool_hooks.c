/*  End to end: spool folders and hooks (issue 6, agency side), real processes.
 *
 *  A case system drops JSON files in the police agent's outbox folder and
 *  reads the programme agent's inbox folder; hooks on the programme's agent
 *  fire for a high-risk escalation and not for a referral, and a hook that
 *  hangs is killed without holding anything else up. Agent configurations
 *  are extended by appending lines to <dir>/<id>.cfg after pe_net_add_agency.  */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pl_test.h"
#include "e2e/pe_net.h"

#define REFERRAL "{\"type\":\"referral\",\"case\":\"%s\",\"to\":[\"pp-paris\"],"       \
    "\"categories\":[\"identity\",\"referral\"%s],\"purpose\":\"referral\","             \
    "\"basis\":\"legal_obligation\",\"justification\":\"court order\",\"risk\":\"high\"," \
    "\"payload\":\"%s\"%s}"

static void
s_append (pe_net_t *net, const char *name, const char *text)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/%s", pe_net_dir (net), name);
    FILE *file = fopen (path, "a");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
}

//  As a case system should: a temporary name, then a rename.
static void
s_drop (pe_net_t *net, const char *folder, const char *name, const char *text)
{
    char temp [1200], path [1200];
    snprintf (temp, sizeof temp, "%s/%s/.%s.tmp", pe_net_dir (net), folder, name);
    snprintf (path, sizeof path, "%s/%s/%s", pe_net_dir (net), folder, name);
    FILE *file = fopen (temp, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
    ck_assert_int_eq (rename (temp, path), 0);
}

static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *text = calloc (1, 1024 * 1024);
    size_t size = fread (text, 1, 1024 * 1024 - 1, file);
    text [size] = 0;
    fclose (file);
    return text;
}

//  The contents of path once it exists (NULL after ms).
static char *
s_wait_file (pe_net_t *net, const char *name, int ms)
{
    char path [1200];
    snprintf (path, sizeof path, "%s/%s", pe_net_dir (net), name);
    for (int waited = 0; waited <= ms; waited += 100) {
        char *text = s_read (path);
        if (text)
            return text;
        usleep (100000);
    }
    return NULL;
}

//  Visible *.json files of a folder, and their contents concatenated.
static int
s_json_files (pe_net_t *net, const char *folder, char *all, size_t size)
{
    char path [1200];
    snprintf (path, sizeof path, "%s/%s", pe_net_dir (net), folder);
    DIR *dir = opendir (path);
    int count = 0;
    if (all)
        all [0] = 0;
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name [0] == '.' || length < 5 || strcmp (entry->d_name + length - 5, ".json"))
            continue;
        count++;
        char file [1500];
        snprintf (file, sizeof file, "%s/%s", path, entry->d_name);
        char *text = s_read (file);
        if (all && text && strlen (all) + strlen (text) + 1 < size)
            strcat (all, text);
        free (text);
    }
    if (dir)
        closedir (dir);
    return count;
}

static int
s_wait_json_files (pe_net_t *net, const char *folder, int count, int ms)
{
    int found = 0;
    for (int waited = 0; waited <= ms; waited += 100) {
        if ((found = s_json_files (net, folder, NULL, 0)) >= count)
            break;
        usleep (100000);
    }
    return found;
}

static int
s_occurrences (const char *text, const char *what)
{
    int count = 0;
    for (const char *at = text; (at = strstr (at, what)); at += strlen (what))
        count++;
    return count;
}

static pe_net_t *
s_network (const char *police_extra, const char *programme_extra)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true),
                      0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    if (police_extra)
        s_append (net, "police-paris.cfg", police_extra);
    if (programme_extra)
        s_append (net, "pp-paris.cfg", programme_extra);
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    return net;
}

static int
s_publish (pe_net_t *net, const char *type, const char *case_ref, const char *payload)
{
    bool escalation = strcmp (type, "risk_escalation") == 0;
    pe_result_t r = pe_net_cli (net, "police-paris", payload, "publish", "--type", type,
        "--case", case_ref, "--to", "pp-paris",
        "--category", escalation? "identity,risk_assessment": "identity,referral",
        "--purpose", escalation? "risk_management": "referral",
        "--basis", escalation? "vital_interests": "legal_obligation",
        "--justification", escalation? "threats to kill, weapon at home": "court order",
        "--risk", "high", "-", NULL);
    int status = r.status;
    if (status != 0)
        fprintf (stderr, "publish %s: %s%s", type, r.out, r.err);
    pe_result_free (&r);
    return status;
}

START_TEST (spool_round_trip_sent_failed_and_inbox_files)
{
    pe_net_t *net = s_network ("    spool\n        outbox = police-out\n",
                               "    spool\n        inbox = pp-in\n");
    char text [2048];
    snprintf (text, sizeof text, REFERRAL, "C-SP-1", "", "SPOOL-PAYLOAD-1", "");
    s_drop (net, "police-out", "ref-001.json", text);
    s_drop (net, "police-out", "ref-002.json", "{\"type\": \"referral\",\n  oops }");
    snprintf (text, sizeof text, REFERRAL, "C-SP-2", "", "X", ",\"colour\":\"red\"");
    s_drop (net, "police-out", "ref-003.json", text);
    snprintf (text, sizeof text, REFERRAL, "C-SP-3", ",\"health\"", "NEVER-SHARED", "");
    s_drop (net, "police-out", "ref-004.json", text);

    //  The good file: published, moved to sent/ with the answer beside it
    char *result = s_wait_file (net, "police-out/sent/ref-001.json.result.json", 10000);
    ck_assert_msg (result && strstr (result, "\"accepted\": true"), "result: %s", result);
    free (result);
    char *request = s_wait_file (net, "police-out/sent/ref-001.json", 1000);
    ck_assert_msg (request && strstr (request, "SPOOL-PAYLOAD-1"), "request not in sent/");
    free (request);

    //  The bad ones: failed/ with why
    char *error = s_wait_file (net, "police-out/failed/ref-002.json.error", 5000);
    ck_assert_msg (error && strstr (error, "invalid JSON at line 2, column"), "002: %s", error);
    free (error);
    error = s_wait_file (net, "police-out/failed/ref-003.json.error", 5000);
    ck_assert_msg (error && strstr (error, "unknown field 'colour'"), "003: %s", error);
    free (error);
    error = s_wait_file (net, "police-out/failed/ref-004.json.error", 10000);
    ck_assert_msg (error && strstr (error, "refused by the broker") && strstr (error, "health")
                   && strstr (error, "-> pp-paris: deny"), "004: %s", error);
    free (error);
    char *moved = s_wait_file (net, "police-out/failed/ref-004.json", 1000);
    ck_assert_ptr_nonnull (moved);
    free (moved);
    ck_assert_int_eq (s_json_files (net, "police-out", NULL, 0), 0);
    ck_assert_int_eq (s_json_files (net, "police-out/processing", NULL, 0), 0);

    //  The programme's inbox folder: exactly one file, with the payload
    ck_assert_int_eq (s_wait_json_files (net, "pp-in", 1, 10000), 1);
    usleep (1000000);
    char all [8192];
    ck_assert_int_eq (s_json_files (net, "pp-in", all, sizeof all), 1);
    ck_assert_msg (strstr (all, "\"payload\": \"SPOOL-PAYLOAD-1\"")
                   && strstr (all, "\"case\": \"C-SP-1\""), "inbox file: %s", all);
    ck_assert_ptr_null (strstr (all, "NEVER-SHARED"));
    char *cursor = s_wait_file (net, "pp-in/.cursor", 1000);
    ck_assert_msg (cursor && strcmp (cursor, "1\n") == 0, "cursor: %s", cursor);
    free (cursor);
    ck_assert (pe_net_wait_log (net, "police-paris", "spool: ref-001.json published as event",
                                1000));
    pe_net_destroy (&net);
}
END_TEST

START_TEST (inbox_folder_survives_restarts_without_loss_or_duplicates)
{
    pe_net_t *net = s_network (NULL, "    spool\n        inbox = pp-in\n");
    ck_assert_int_eq (s_publish (net, "referral", "C-RS-1", "RESTART-1"), 0);
    ck_assert_int_eq (s_publish (net, "referral", "C-RS-2", "RESTART-2"), 0);
    ck_assert_int_eq (s_wait_json_files (net, "pp-in", 2, 10000), 2);

    //  Killed outright; two more events arrive while it is down
    ck_assert_int_eq (pe_net_kill_agent (net, "pp-paris", SIGKILL), 0);
    ck_assert_int_eq (s_publish (net, "referral", "C-RS-3", "RESTART-3"), 0);
    ck_assert_int_eq (s_publish (net, "referral", "C-RS-4", "RESTART-4"), 0);
    //  As if it had died between a file and its cursor: files already there
    //  must not be written again
    char path [1200];
    snprintf (path, sizeof path, "%s/pp-in/.cursor", pe_net_dir (net));
    FILE *file = fopen (path, "w");
    fputs ("1\n", file);
    fclose (file);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    ck_assert_int_eq (s_wait_json_files (net, "pp-in", 4, 10000), 4);
    usleep (1500000);
    char all [16384];
    ck_assert_int_eq (s_json_files (net, "pp-in", all, sizeof all), 4);
    for (int i = 1; i <= 4; i++) {
        char payload [64];
        snprintf (payload, sizeof payload, "\"payload\": \"RESTART-%d\"", i);
        ck_assert_msg (s_occurrences (all, payload) == 1, "%s not exactly once: %s", payload, all);
    }
    //  Never written twice. (A kill can fall between a file's rename and its
    //  log line, so a file may be there with no line for it: at most 4.)
    char *log = pe_net_log (net, "pp-paris");
    int written = s_occurrences (log, "spool: inbox 0");
    ck_assert_msg (written >= 3 && written <= 4, "files written: %s", log);
    free (log);
    char *cursor = s_wait_file (net, "pp-in/.cursor", 1000);
    ck_assert_msg (cursor && strcmp (cursor, "4\n") == 0, "cursor: %s", cursor);
    free (cursor);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (hooks_fire_on_matching_events_and_a_hung_one_blocks_nothing)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    const char *dir = pe_net_dir (net);
    char script [1200], config [4096];
    snprintf (script, sizeof script, "%s/hook.sh", dir);
    FILE *file = fopen (script, "w");
    fprintf (file, "out=\"%s/fired-$1-$PASSERELLE_EVENT_ID\"\n"
             "{ cat; echo; echo ENV; env | sort; } > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\n",
             dir);
    fclose (file);
    snprintf (config, sizeof config,
        "hook\n    name = duty\n    types = risk_escalation\n    min-risk = high\n"
        "    categories = child_safety,risk_assessment\n"
        "    command = \"/bin/sh %s duty\"\n    timeout = 5s\n"
        "hook\n    name = slow\n    types = referral,risk_escalation\n"
        "    command = \"/bin/sleep 60\"\n    timeout = 3s\n    attempts = 1\n"
        "hook\n    name = failing\n    types = risk_escalation\n"
        "    command = \"/bin/sh -c 'exit 3'\"\n    attempts = 2\n", script);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true),
                      0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    s_append (net, "pp-paris.cfg", config);
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);

    //  A referral (the slow hook hangs on it), then an escalation
    ck_assert_int_eq (s_publish (net, "referral", "C-HK-1", "ORDINARY"), 0);
    ck_assert_int_eq (s_publish (net, "risk_escalation", "C-HK-1", "ESCALATION-PAYLOAD"), 0);
    pe_result_t r = pe_net_cli (net, "pp-paris", NULL, "inbox", "--json", NULL);
    ck_assert_msg (strstr (r.out, "ESCALATION-PAYLOAD") && strstr (r.out, "ORDINARY"),
                   "deliveries held up: %s", r.out);
    pe_result_free (&r);
    ck_assert (pe_net_wait_log (net, "pp-paris", "hook duty: event", 5000));
    char *log = pe_net_log (net, "pp-paris");
    ck_assert_msg (!strstr (log, "timed out"), "duty waited for the slow hook: %s", log);
    free (log);

    //  Exactly one firing of duty, for the escalation, with its fields
    char names [300] = "";
    DIR *folder = opendir (dir);
    struct dirent *entry;
    int fired = 0;
    while ((entry = readdir (folder)))
        if (strncmp (entry->d_name, "fired-duty-", 11) == 0 && !strstr (entry->d_name, ".tmp")) {
            fired++;
            snprintf (names, sizeof names, "%s", entry->d_name);
        }
    closedir (folder);
    ck_assert_int_eq (fired, 1);
    char path [1500];
    snprintf (path, sizeof path, "%s/%s", dir, names);
    char *out = s_read (path);
    ck_assert_ptr_nonnull (out);
    ck_assert_msg (strstr (out, "\"payload\":\"ESCALATION-PAYLOAD\"")
                   && strstr (out, "PASSERELLE_TYPE=risk_escalation\n")
                   && strstr (out, "PASSERELLE_RISK=high\n")
                   && strstr (out, "PASSERELLE_CASE=C-HK-1\n")
                   && strstr (out, "PASSERELLE_PUBLISHER=police-paris\n")
                   && strstr (out, "PASSERELLE_CATEGORIES=identity,risk_assessment\n")
                   && strstr (out, "PASSERELLE_HOOK=duty\n")
                   && strstr (out, "PASSERELLE_EVENT_ID=") && strstr (names, "fired-duty-"),
                   "hook saw: %s", out);
    //  A clean environment: nothing of the agent's own
    ck_assert_msg (!strstr (out, "PASSERELLE_BIN") && !strstr (out, "HOME="), "env: %s", out);
    free (out);

    //  The hung hook is killed at its timeout (for both events) and logged;
    //  the failing one is retried, then given up
    ck_assert (pe_net_wait_log (net, "pp-paris", "hook slow: event", 6000));
    ck_assert (pe_net_wait_log (net, "pp-paris", "timed out after 3000 ms: killed (attempt 1 "
                                "of 1); given up", 6000));
    ck_assert (pe_net_wait_log (net, "pp-paris", "exited with status 3 (attempt 1 of 2); "
                                "retried in 1s", 3000));
    ck_assert (pe_net_wait_log (net, "pp-paris", "exited with status 3 (attempt 2 of 2); "
                                "given up", 5000));
    //  Once all are finished, the cursor says so; a restart fires nothing old
    usleep (4000000);
    char *cursor = s_wait_file (net, "pp-paris-state/hooks.cursor", 2000);
    ck_assert_msg (cursor && strcmp (cursor, "2\n") == 0, "cursor: %s", cursor);
    free (cursor);
    ck_assert_int_eq (pe_net_stop_agent (net, "pp-paris"), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    usleep (2000000);
    log = pe_net_log (net, "pp-paris");
    ck_assert_int_eq (s_occurrences (log, "hook duty: event"), 1);
    ck_assert_msg (strstr (log, "hooks: 3 hook(s), after delivery 2"), "%s", log);
    free (log);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (spool_and_hook_settings_are_checked_with_file_and_line)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    static const struct { const char *text, *error; } cases [] = {
        { "hook\n    name = h\n    min-risk = huge\n    command = /bin/true\n",
          "bad.cfg:8: min-risk: unknown risk level 'huge'" },
        { "hook\n    name = h\n    types = referal\n    command = /bin/true\n",
          "bad.cfg:8: types: unknown event type 'referal'" },
        { "hook\n    name = h\n    command = notify\n",
          "bad.cfg:8: hook h: 'command = ...' is required and must start with an absolute" },
        { "hook\n    name = h\n    categories = health,gossip\n    command = /bin/true\n",
          "bad.cfg:8: categories: unknown category 'gossip'" },
        { "    spool\n        outbox = out\n        sent = s\n",
          "bad.cfg:8: unknown setting 'sent' in 'spool'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char path [1200], text [1024];
        snprintf (path, sizeof path, "%s/bad.cfg", pe_net_dir (net));
        snprintf (text, sizeof text, "agent\n    key = k.key\n    broker = tcp://127.0.0.1:1\n"
                  "    broker-key = b.pub\n    state = st\n%s", cases [i].text);
        FILE *file = fopen (path, "w");
        fputs (text, file);
        fclose (file);
        char bin [1200];
        snprintf (bin, sizeof bin, "%s/passerelle-agent", getenv ("PASSERELLE_BIN")?
                  getenv ("PASSERELLE_BIN"): "build/bin");
        char *argv [] = { bin, "-c", path, NULL };
        pe_result_t r = pe_run (argv, NULL, 10000);
        ck_assert_int_eq (r.status, 1);
        ck_assert_msg (strstr (r.err, cases [i].error), "case %zu: %s", i, r.err);
        pe_result_free (&r);
    }
    pe_net_destroy (&net);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("e2e spool and hooks");
    TCase *tc = tcase_create ("spool folders and hooks");
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, spool_round_trip_sent_failed_and_inbox_files);
    tcase_add_test (tc, inbox_folder_survives_restarts_without_loss_or_duplicates);
    tcase_add_test (tc, hooks_fire_on_matching_events_and_a_hung_one_blocks_nothing);
    tcase_add_test (tc, spool_and_hook_settings_are_checked_with_file_and_line);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
