/*  End to end: nothing lost, nothing hidden (issue 4), with real processes.
 *
 *  A stream of publishes while the broker, or the agents, are killed with
 *  SIGKILL at random moments and restarted; then every event whose publish
 *  was acknowledged (accepted, or accepted into the outbox) must have
 *  reached its recipient exactly once and appear once in the sharing log,
 *  and the log must verify. Also: a full store, and a broker that rewrites
 *  its log (an agent must notice). Bounded in time; the random moments come
 *  from a seed printed on failure.  */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <czmq.h>
#include <jansson.h>
#include <lmdb.h>
#include <unistd.h>
#include "pl_test.h"
#include "e2e/pe_net.h"
#include "pb_store.h"
#include "pl_merkle.h"
#include "pl_wire.h"
#include "passerelle.pb-c.h"

#define EVENTS 30                   //  in a stream
#define FILL_MAX 200                //  at most, to fill a small store

static pe_net_t *
s_pair (const char *broker_extra)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (net, broker_extra), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    return net;
}

static int
s_publish (pe_net_t *net, int number, const char *padding)
{
    char payload [8192];
    snprintf (payload, sizeof payload, "{\"n\":\"EV-%03d\",\"pad\":\"%s\"}", number, padding);
    pe_result_t r = pe_net_cli (net, "police-paris", payload, "publish", "--type", "referral",
        "--case", "C-DUR-1", "--to", "pp-paris", "--category", "identity,referral",
        "--purpose", "referral", "--basis", "legal_obligation", "--justification", "durability",
        "-", NULL);
    int status = r.status;
    pe_result_free (&r);
    return status;
}

//  Publish EVENTS events from a child process; it writes one line per event,
//  "N STATUS", to a file the parent reads when it is done.
static pid_t
s_stream (pe_net_t *net, const char *padding)
{
    pid_t pid = fork ();
    if (pid == 0) {
        FILE *out = fopen (pe_net_path (net, "stream.txt"), "w");
        for (int n = 0; n < EVENTS; n++) {
            fprintf (out, "%d %d\n", n, s_publish (net, n, padding));
            fflush (out);
        }
        fclose (out);
        _exit (0);
    }
    return pid;
}

//  Which events the publisher was told were taken (accepted: 0; in the
//  outbox: 6). Fills taken [EVENTS]; returns how many.
static int
s_taken (pe_net_t *net, bool *taken)
{
    FILE *in = fopen (pe_net_path (net, "stream.txt"), "r");
    ck_assert_ptr_nonnull (in);
    int n, status, count = 0;
    memset (taken, 0, EVENTS * sizeof *taken);
    while (fscanf (in, "%d %d", &n, &status) == 2)
        if (n >= 0 && n < EVENTS && (status == 0 || status == 6)) {
            taken [n] = true;
            count++;
        }
    fclose (in);
    return count;
}

static bool
s_outbox_empty (pe_net_t *net, const char *id, int ms)
{
    for (int waited = 0; waited < ms; waited += 200) {
        pe_result_t r = pe_net_cli (net, id, NULL, "status", "--json", NULL);
        bool empty = strstr (r.out, "\"outbox\":0") != NULL;
        pe_result_free (&r);
        if (empty)
            return true;
        usleep (200000);
    }
    return false;
}

//  Each taken event is in the recipient's inbox exactly once, nothing else.
static void
s_assert_delivered_once (pe_net_t *net, const bool *taken, int events, int ms)
{
    char *inbox = NULL;
    for (int waited = 0; ; waited += 250) {
        pe_result_t r = pe_net_cli (net, "pp-paris", NULL, "inbox", "--json", NULL);
        free (r.err);
        free (inbox);
        inbox = r.out;
        int found = 0;
        for (int n = 0; n < events; n++) {
            char tag [16];
            snprintf (tag, sizeof tag, "EV-%03d", n);
            found += taken [n] && strstr (inbox, tag);
        }
        int wanted = 0;
        for (int n = 0; n < events; n++)
            wanted += taken [n];
        if (found == wanted || waited >= ms)
            break;
        usleep (250000);
    }
    for (int n = 0; n < events; n++) {
        char tag [16];
        snprintf (tag, sizeof tag, "EV-%03d", n);
        const char *first = strstr (inbox, tag);
        if (taken [n]) {
            ck_assert_msg (first, "event %s was acknowledged but never delivered", tag);
            ck_assert_msg (!strstr (first + 1, tag), "event %s was delivered twice", tag);
        }
    }
    free (inbox);
}

typedef struct {
    int publishes;                  //  kind publish entries
    zhashx_t *event_ids;            //  hex -> count, to find doubles
    int doubles;
} census_t;

static int
s_count_entry (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    (void) index;
    census_t *census = arg;
    Passerelle__LogEntry *e = passerelle__log_entry__unpack (NULL, size, entry);
    ck_assert_ptr_nonnull (e);
    if (e->kind && strcmp (e->kind, "publish") == 0 && e->event_id.len == 16) {
        census->publishes++;
        char hex [33];
        for (int i = 0; i < 16; i++)
            snprintf (hex + 2 * i, 3, "%02x", e->event_id.data [i]);
        if (zhashx_lookup (census->event_ids, hex))
            census->doubles++;
        zhashx_insert (census->event_ids, hex, "");
    }
    passerelle__log_entry__free_unpacked (e, NULL);
    return 0;
}

static int
s_recompute (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    (void) index;
    pl_merkle_append_data ((pl_merkle_t *) arg, entry, size, NULL);
    return 0;
}

//  With the broker stopped: one publish entry per accepted event, none
//  twice, and the tree rebuilt from the entries has the stored root.
static void
s_assert_log_sound (pe_net_t *net, int at_least)
{
    char path [1100], err [512];
    snprintf (path, sizeof path, "%s/broker-state/store", pe_net_dir (net));
    pb_store_t *store = pb_store_open (path, 0, true, err, sizeof err);
    ck_assert_msg (store, "store: %s", err);
    census_t census = { 0, zhashx_new (), 0 };
    ck_assert_int_eq (pb_store_log_range (store, 0, UINT64_MAX, s_count_entry, &census), 0);
    ck_assert_msg (census.doubles == 0, "%d events were logged twice", census.doubles);
    ck_assert_msg (census.publishes >= at_least, "%d publish entries, %d events acknowledged",
                   census.publishes, at_least);
    pl_merkle_t *tree = pl_merkle_new (NULL, NULL, 0);
    ck_assert_int_eq (pb_store_log_range (store, 0, UINT64_MAX, s_recompute, tree), 0);
    uint8_t recomputed [PL_MERKLE_HASH_SIZE], stored [PL_MERKLE_HASH_SIZE];
    uint64_t size;
    pl_merkle_root (tree, recomputed);
    ck_assert_int_eq (pb_store_log_root (store, &size, stored), 0);
    ck_assert_int_eq (pl_merkle_size (tree), size);
    ck_assert_msg (memcmp (recomputed, stored, sizeof stored) == 0, "the log does not verify");
    pl_merkle_destroy (&tree);
    zhashx_destroy (&census.event_ids);
    pb_store_destroy (&store);
}

START_TEST (the_broker_killed_at_random_moments_loses_nothing_acknowledged)
{
    unsigned seed = (unsigned) time (NULL);
    srand (seed);
    pe_net_t *net = s_pair ("    checkpoint-interval = 500ms\n");
    pid_t stream = s_stream (net, "x");
    for (int round = 0; round < 4; round++) {
        usleep ((useconds_t) (300000 + rand () % 900000));
        ck_assert_int_eq (pe_net_kill_broker (net, SIGKILL), 0);
        usleep ((useconds_t) (rand () % 300000));
        //  Every other restart without signature-check threads (the server
        //  thread checks alone, the other path through pb_verifier) and
        //  without the redo journal; the others keep up to 1 s of batches
        //  in the journal alone
        ck_assert_msg (pe_net_start_broker (net, round % 2? "    checkpoint-interval = 500ms\n"
                                                 "    verify-threads = 0\n"
                                                 "    store-flush = 0\n":
                                            "    checkpoint-interval = 500ms\n"
                                            "    verify-threads = 3\n"
                                            "    store-flush = 1s\n") == 0,
                       "broker did not restart after SIGKILL (seed %u)", seed);
    }
    ck_assert_int_eq (waitpid (stream, NULL, 0), stream);
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (strstr (log, "; 0 signature checker threads") && strstr (log, "; 3 signature "
                   "checker threads"), "both pool sizes ran");
    free (log);
    bool taken [EVENTS];
    int count = s_taken (net, taken);
    ck_assert_msg (count > 0, "no publish was acknowledged (seed %u)", seed);
    ck_assert_msg (s_outbox_empty (net, "police-paris", 60000), "the outbox never drained (seed %u)", seed);
    s_assert_delivered_once (net, taken, EVENTS, 20000);
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    s_assert_log_sound (net, count);
    pe_net_destroy (&net);
}
END_TEST

static pe_result_t
s_audit (pe_net_t *net, const char *command, const char *arg)
{
    char bin [1200], cfg [1200];
    const char *dir = getenv ("PASSERELLE_BIN");
    snprintf (bin, sizeof bin, "%s/passerelle-audit", dir? dir: "build/bin");
    snprintf (cfg, sizeof cfg, "%s", pe_net_path (net, "broker.cfg"));
    char *argv [] = { bin, "-c", cfg, (char *) command, (char *) arg, NULL };
    return pe_run (argv, NULL, 60000);
}

//  What was acknowledged and then lived only in the redo journal (the
//  broker killed before its next flush) is replayed at the restart:
//  delivered once, in the log once; an auditor looking before the restart
//  is told the store does not show it yet.
START_TEST (acknowledged_events_in_the_journal_alone_survive_a_kill)
{
    pe_net_t *net = s_pair ("    store-flush = 10s\n");
    for (int n = 0; n < 2; n++)
        ck_assert_int_eq (s_publish (net, n, "j"), 0);
    ck_assert_int_eq (pe_net_kill_broker (net, SIGKILL), 0);
    pe_result_t r = s_audit (net, "case", "C-DUR-1");
    ck_assert_msg (strstr (r.err, "the broker's redo journal holds") && !strstr (r.out, "publish"),
                   "before the restart: %s / %s", r.out, r.err);
    pe_result_free (&r);
    ck_assert_int_eq (pe_net_start_broker (net, "    store-flush = 10s\n"), 0);
    ck_assert (pe_net_wait_log (net, "broker", "batches from the redo journal", 5000));
    bool taken [EVENTS] = { true, true };
    s_assert_delivered_once (net, taken, 2, 20000);
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    r = s_audit (net, "case", "C-DUR-1");
    ck_assert_msg (!strstr (r.err, "redo journal") && strstr (r.out, "publish"),
                   "after the restart: %s / %s", r.out, r.err);
    pe_result_free (&r);
    s_assert_log_sound (net, 2);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (agents_killed_at_random_moments_lose_nothing_and_deliver_once)
{
    unsigned seed = (unsigned) time (NULL) ^ 0x5eed;
    srand (seed);
    pe_net_t *net = s_pair (NULL);
    pid_t stream = s_stream (net, "y");
    for (int round = 0; round < 4; round++) {
        usleep ((useconds_t) (300000 + rand () % 900000));
        //  The recipient mid-delivery, then the publisher mid-stream
        const char *victim = round % 2? "police-paris": "pp-paris";
        ck_assert_int_eq (pe_net_kill_agent (net, victim, SIGKILL), 0);
        usleep ((useconds_t) (rand () % 300000));
        ck_assert_msg (pe_net_start_agent (net, victim, false) == 0,
                       "%s did not restart after SIGKILL (seed %u)", victim, seed);
    }
    ck_assert_int_eq (waitpid (stream, NULL, 0), stream);
    bool taken [EVENTS];
    int count = s_taken (net, taken);
    ck_assert_msg (count > 0, "no publish was acknowledged (seed %u)", seed);
    ck_assert (pe_net_wait_connected (net, "police-paris", true, 10000));
    ck_assert_msg (s_outbox_empty (net, "police-paris", 60000), "the outbox never drained (seed %u)", seed);
    s_assert_delivered_once (net, taken, EVENTS, 20000);
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    s_assert_log_sound (net, count);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (a_full_store_refuses_publishes_cleanly_and_keeps_delivering)
{
    pe_net_t *net = s_pair ("    map-size = 262144\n");
    ck_assert_int_eq (pe_net_stop_agent (net, "pp-paris"), 0);
    char padding [4001];
    memset (padding, 'p', sizeof padding - 1);
    padding [sizeof padding - 1] = 0;
    bool taken [FILL_MAX] = { false };
    int accepted = 0, queued = 0;
    for (int n = 0; n < FILL_MAX && queued == 0; n++) {
        int status = s_publish (net, n, padding);
        ck_assert_msg (status == 0 || status == 6, "publish %d: exit %d", n, status);
        taken [n] = status == 0;
        accepted += status == 0;
        queued += status == 6;
    }
    ck_assert_msg (queued == 1 && accepted > 0, "the store never filled (%d accepted)", accepted);
    //  The publisher was told why, and keeps the event to retry
    ck_assert (pe_net_wait_log (net, "police-paris", "store is full", 5000));
    //  ... and the broker's log says so, by whichever way the store
    //  filled: a publish over the limit is refused ("store_full"), a batch
    //  the map could not take fails its commit ("store full"); both lines
    //  are warnings, written before the reply
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (strstr (log, "store_full") || strstr (log, "store full"), "%s", log);
    free (log);
    //  Delivery of what is stored goes on
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    s_assert_delivered_once (net, taken, FILL_MAX, 20000);
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    s_assert_log_sound (net, accepted);
    pe_net_destroy (&net);
}
END_TEST

//  id's agent with `setting = value` (its .cfg rewritten, any earlier line
//  of that setting dropped); it applies from the agent's next start
static void
s_set_agent (pe_net_t *net, const char *id, const char *setting, const char *value)
{
    char name [128], prefix [128];
    snprintf (name, sizeof name, "%s.cfg", id);
    snprintf (prefix, sizeof prefix, "    %s =", setting);
    char *path = strdup (pe_net_path (net, name));
    FILE *file = fopen (path, "r");
    ck_assert_ptr_nonnull (file);
    char text [4096] = "", line [512];
    while (fgets (line, sizeof line, file))
        if (strncmp (line, prefix, strlen (prefix)) != 0)
            strncat (text, line, sizeof text - strlen (text) - 1);
    fclose (file);
    file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fprintf (file, "%s    %s = %s\n", text, setting, value);
    fclose (file);
    free (path);
}

//  A delivery the agent cannot keep (its store has no room for it) is not
//  receipted: the broker keeps it, and it arrives, once, when there is
//  room. Nothing is receipted that is not durably in the inbox.
START_TEST (an_agent_that_cannot_keep_a_delivery_does_not_receipt_it)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    s_set_agent (net, "pp-paris", "map-size", "262144");
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    size_t size = 400000;
    char *payload = malloc (size + 1);
    ck_assert_ptr_nonnull (payload);
    memset (payload, 'x', size);
    memcpy (payload, "LARGE-REPORT-", 13);
    payload [size] = 0;
    pe_result_t r = pe_net_cli (net, "police-paris", payload, "publish", "--type", "referral",
        "--case", "C-DUR-2", "--to", "pp-paris", "--category", "identity,referral",
        "--purpose", "referral", "--basis", "legal_obligation", "--justification", "durability",
        "-", NULL);
    free (payload);
    ck_assert_msg (r.status == 0, "publish: %s%s", r.out, r.err);
    pe_result_free (&r);
    ck_assert (pe_net_wait_log (net, "pp-paris", "not kept", 10000));
    //  Give a receipt time to arrive, were one (wrongly) sent
    usleep (1500000);
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (!strstr (log, "by pp-paris"), "receipted without being kept: %s", log);
    free (log);
    //  Room at last: it arrives, is kept once, and only now is receipted
    ck_assert_int_eq (pe_net_stop_agent (net, "pp-paris"), 0);
    s_set_agent (net, "pp-paris", "map-size", "16777216");
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    ck_assert (pe_net_wait_log (net, "broker", "by pp-paris", 10000));
    r = pe_net_cli (net, "pp-paris", NULL, "inbox", "--json", NULL);
    ck_assert_int_eq (r.status, 0);
    const char *first = strstr (r.out, "LARGE-REPORT-");
    ck_assert_msg (first && !strstr (first + 1, "LARGE-REPORT-"), "inbox: %.300s", r.out);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

#define BACKLOG 5                   //  events published while the broker is down

//  A number from id's `passerelle status --json`: in group (e.g. "counts"),
//  or at the top when group is NULL; -1 when it is not there
static long long
s_status_number (pe_net_t *net, const char *id, const char *group, const char *name)
{
    pe_result_t r = pe_net_cli (net, id, NULL, "status", "--json", NULL);
    json_t *status = json_loads (r.out, 0, NULL);
    json_t *value = json_object_get (group? json_object_get (status, group): status, name);
    long long number = json_is_integer (value)? (long long) json_integer_value (value): -1;
    json_decref (status);
    pe_result_free (&r);
    return number;
}

//  How many of pp-paris's inbox events have exactly payload as their payload
static int
s_inbox_payloads (pe_net_t *net, const char *payload)
{
    pe_result_t r = pe_net_cli (net, "pp-paris", NULL, "inbox", "--json", NULL);
    ck_assert_int_eq (r.status, 0);
    int count = 0;
    char *save = NULL;
    for (char *line = strtok_r (r.out, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        json_t *event = json_loads (line, 0, NULL);
        ck_assert_msg (event, "inbox line is not JSON: %s", line);
        const char *text = json_string_value (json_object_get (event, "payload"));
        count += text && streq (text, payload);
        json_decref (event);
    }
    pe_result_free (&r);
    return count;
}

//  police-paris and pp-paris with their agents up, and the broker down
//  again: what police-paris accepts now waits in its outbox. Its publishes
//  say "queued" after 1 s rather than 5: a shorter outage.
static pe_net_t *
s_outage (void)
{
    pe_net_t *net = pe_net_new ();
    ck_assert_ptr_nonnull (net);
    ck_assert_int_eq (pe_net_add_agency (net, "police-paris", "police", "paris", true), 0);
    ck_assert_int_eq (pe_net_add_agency (net, "pp-paris", "perpetrator_programme", "paris", true), 0);
    ck_assert_int_eq (pe_net_write_directory (net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    s_set_agent (net, "police-paris", "publish-timeout", "1s");
    ck_assert_int_eq (pe_net_start_agent (net, "police-paris", true), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    ck_assert (pe_net_wait_connected (net, "police-paris", false, 5000));
    return net;
}

//  What an agent accepted while it could not reach the broker waits in its
//  outbox; when the broker is back, the agent sends it all together, signed
//  as one burst (one signature over the Merkle root of the headers, each
//  event carrying its place in it: pl_burst). Each event must be accepted
//  and kept by pp-paris's agent once with its payload as published (that
//  agent checks each event's place in the burst again before it opens it),
//  and the publisher's counters must show the backlog went as a burst: sent
//  one by one, each signed alone, it would be delivered just the same.
START_TEST (an_agent_sends_its_backlog_signed_as_one_burst)
{
    pe_net_t *net = s_outage ();
    //  Case workers publish meanwhile, all at once: each event is kept in
    //  the outbox, and its publisher told it is queued (exit 6)
    pid_t publishers [BACKLOG];
    for (int n = 0; n < BACKLOG; n++)
        if ((publishers [n] = fork ()) == 0)
            _exit (s_publish (net, n, "backlog"));
    for (int n = 0; n < BACKLOG; n++) {
        int status = 0;
        ck_assert_int_gt (publishers [n], 0);
        ck_assert_int_eq (waitpid (publishers [n], &status, 0), publishers [n]);
        ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 6,
                       "publish %d with the broker down: status %d", n, status);
    }
    ck_assert_int_eq (s_status_number (net, "police-paris", NULL, "outbox"), BACKLOG);
    ck_assert_int_eq (s_status_number (net, "police-paris", "counts", "bursts"), 0);
    ck_assert_int_eq (pe_net_start_broker (net, NULL), 0);
    ck_assert_msg (s_outbox_empty (net, "police-paris", 10000), "the backlog was never answered");
    bool taken [EVENTS] = { false };
    for (int n = 0; n < BACKLOG; n++)
        taken [n] = true;
    s_assert_delivered_once (net, taken, BACKLOG, 10000);
    for (int n = 0; n < BACKLOG; n++) {
        char payload [64];
        snprintf (payload, sizeof payload, "{\"n\":\"EV-%03d\",\"pad\":\"backlog\"}", n);
        ck_assert_msg (s_inbox_payloads (net, payload) == 1, "%s is not in the inbox once",
                       payload);
    }
    long long bursts = s_status_number (net, "police-paris", "counts", "bursts");
    long long events = s_status_number (net, "police-paris", "counts", "burst_events");
    ck_assert_msg (bursts >= 1 && events >= BACKLOG, "the backlog did not go as a burst: %lld "
                   "bursts, %lld events in them", bursts, events);
    //  Neither end found a signature it could not check
    char *log = pe_net_log (net, "broker");
    ck_assert_msg (!strstr (log, "bad_signature") && !strstr (log, "bad signature"), "%s", log);
    free (log);
    log = pe_net_log (net, "pp-paris");
    ck_assert_msg (!strstr (log, " refused: "), "%s", log);
    free (log);
    pe_net_destroy (&net);
}
END_TEST

//  The smallest "message of N bytes" the broker's log names, or 0
static long
s_smallest_refused (pe_net_t *net)
{
    char *log = pe_net_log (net, "broker");
    long smallest = 0;
    for (const char *at = log; (at = strstr (at, "message of ")); at++) {
        long size = strtol (at + strlen ("message of "), NULL, 10);
        if (size > 0 && (smallest == 0 || size < smallest))
            smallest = size;
    }
    free (log);
    return smallest;
}

//  Whatever keeps a burst from being answered must not hold its events for
//  good: an event unanswered twice goes alone, signed as the outbox keeps
//  it. Here a broker takes messages just too small for an event with its
//  burst proof (found from the broker's own refusals), but large enough
//  for the event alone: the backlog is refused as a burst (oversized, no
//  answer), and must still arrive, each event once.
START_TEST (a_burst_the_broker_cannot_take_goes_alone_in_the_end)
{
    pe_net_t *net = s_outage ();
    char padding [1201];
    memset (padding, 'x', sizeof padding - 1);
    padding [sizeof padding - 1] = 0;
    for (int n = 0; n < 3; n++)
        ck_assert_int_eq (s_publish (net, n, padding), 6);
    //  1. A broker that takes nothing this large: its refusals name the
    //  size of each event as a burst member
    ck_assert_int_eq (pe_net_start_broker (net, "    max-message = 1024\n"), 0);
    long smallest = 0;
    for (int waited = 0; waited < 10000 && !smallest; waited += 200) {
        usleep (200000);
        smallest = s_smallest_refused (net);
    }
    ck_assert_msg (smallest > 1024, "the broker refused no burst as oversized");
    ck_assert_int_ge (s_status_number (net, "police-paris", "counts", "bursts"), 1);
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    //  2. A broker that takes each event alone but not with its proof (in a
    //  burst of three, at least one 32-byte hash and its framing: over 40
    //  bytes more than the event alone)
    char config [64];
    snprintf (config, sizeof config, "    max-message = %ld\n", smallest - 20);
    ck_assert_int_eq (pe_net_start_broker (net, config), 0);
    ck_assert_msg (s_outbox_empty (net, "police-paris", 20000), "the backlog never went alone");
    bool taken [EVENTS] = { false };
    for (int n = 0; n < 3; n++)
        taken [n] = true;
    s_assert_delivered_once (net, taken, 3, 10000);
    pe_net_destroy (&net);
}
END_TEST

//  Stamp every Delivery queued in a stopped broker's store with wire
//  version `version`, as a broker of that version would have packed it
//  (the `frames` database: each value is the packed Message, which starts
//  0x08 <version>). Returns how many.
static int
s_stamp_queue (const char *store, uint8_t version)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cursor;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    mdb_env_set_maxdbs (env, 32);
    ck_assert_int_eq (mdb_env_open (env, store, 0, 0600), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, "frames", 0, &dbi), 0);
    ck_assert_int_eq (mdb_cursor_open (txn, dbi, &cursor), 0);
    int stamped = 0;
    MDB_val k, v;
    for (int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        const uint8_t *p = v.mv_data;
        ck_assert_uint_gt (v.mv_size, 2);
        ck_assert_msg (p [0] == 0x08 && p [1] == PL_WIRE_VERSION, "queued frame %02x %02x",
                       p [0], p [1]);
        uint8_t *copy = malloc (v.mv_size);
        memcpy (copy, p, v.mv_size);
        copy [1] = version;
        MDB_val changed = { v.mv_size, copy };
        ck_assert_int_eq (mdb_cursor_put (cursor, &k, &changed, MDB_CURRENT), 0);
        free (copy);
        stamped++;
    }
    mdb_cursor_close (cursor);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
    return stamped;
}

//  Deliveries a broker of the first wire version queued reach an agent of
//  this version after the upgrade (the broker re-stamps them when it sends
//  them): no event is stranded in a queue by the version change.
START_TEST (deliveries_queued_before_the_wire_version_changed_still_arrive)
{
    pe_net_t *net = s_pair ("    store-flush = 0\n");
    ck_assert_int_eq (pe_net_stop_agent (net, "pp-paris"), 0);
    bool taken [EVENTS] = { false };
    for (int n = 0; n < 3; n++) {
        ck_assert_int_eq (s_publish (net, n, "queued-as-v1"), 0);
        taken [n] = true;
    }
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    char store [1200];
    snprintf (store, sizeof store, "%s", pe_net_path (net, "broker-state/store"));
    ck_assert_int_eq (s_stamp_queue (store, 1), 3);
    ck_assert_int_eq (pe_net_start_broker (net, "    store-flush = 0\n"), 0);
    ck_assert_int_eq (pe_net_start_agent (net, "pp-paris", true), 0);
    s_assert_delivered_once (net, taken, EVENTS, 15000);
    char *log = pe_net_log (net, "pp-paris");
    ck_assert_msg (!strstr (log, "unreadable message"), "%s", log);
    free (log);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (an_agent_notices_a_broker_that_rewrites_its_log)
{
    pe_net_t *net = s_pair ("    checkpoint-interval = 200ms\n");
    for (int n = 0; n < 3; n++)
        ck_assert_int_eq (s_publish (net, n, "z"), 0);
    //  The agency has verified a checkpoint of the honest log
    bool verified = false;
    for (int waited = 0; waited < 5000 && !verified; waited += 200) {
        pe_result_t r = pe_net_cli (net, "police-paris", NULL, "status", "--json", NULL);
        verified = strstr (r.out, "\"checkpoint_size\":0") == NULL
                && strstr (r.out, "\"checkpoint_size\":") != NULL;
        pe_result_free (&r);
        usleep (200000);
    }
    ck_assert_msg (verified, "the agent never verified a checkpoint");
    //  The operator swaps in another history under the same broker key
    ck_assert_int_eq (pe_net_stop_broker (net), 0);
    char command [2400];
    snprintf (command, sizeof command, "mv '%s/broker-state' '%s/broker-state.honest'",
              pe_net_dir (net), pe_net_dir (net));
    ck_assert_int_eq (system (command), 0);
    ck_assert_int_eq (pe_net_start_broker (net, "    checkpoint-interval = 200ms\n"), 0);
    for (int n = 10; n < 20; n++)
        s_publish (net, n, "rewritten");
    ck_assert_msg (pe_net_wait_log (net, "police-paris", "ALERT: the broker's sharing log failed "
                                    "verification", 10000), "the rewrite went unnoticed");
    pe_result_t r = pe_net_cli (net, "police-paris", NULL, "status", NULL);
    ck_assert_msg (strstr (r.out, "ALERT"), "%s", r.out);
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

START_TEST (an_agency_gets_a_verified_proof_that_its_event_is_in_the_log)
{
    pe_net_t *net = s_pair ("    checkpoint-interval = 1h\n");
    pe_result_t r = pe_net_cli (net, "police-paris", "{\"n\":\"PROVE-ME\"}", "publish",
        "--type", "referral", "--case", "C-PROOF-1", "--to", "pp-paris",
        "--category", "identity,referral", "--purpose", "referral", "--basis", "legal_obligation",
        "--justification", "court order", "-", NULL);
    ck_assert_int_eq (r.status, 0);
    char id [33];
    snprintf (id, sizeof id, "%.32s", strstr (r.out, "event ") + 6);
    pe_result_free (&r);
    //  No checkpoint covers it yet (hourly): the broker makes one for the proof
    r = pe_net_cli (net, "police-paris", NULL, "proof", id, NULL);
    ck_assert_msg (r.status == 0, "proof: %d %s %s", r.status, r.out, r.err);
    ck_assert_msg (strstr (r.out, "verified") && strstr (r.out, "publish referral case C-PROOF-1 "
                   "from police-paris") && strstr (r.out, "-> pp-paris: allow allowed rule "
                   "justice-refers-to-perpetrator-programme"), "%s", r.out);
    pe_result_free (&r);
    //  The recipient did not publish it: its agent has nothing to prove
    r = pe_net_cli (net, "pp-paris", NULL, "proof", id, NULL);
    ck_assert_int_eq (r.status, 3);
    ck_assert_ptr_nonnull (strstr (r.err, "no accepted event with that id"));
    pe_result_free (&r);
    pe_net_destroy (&net);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("e2e durability");
    TCase *tc = tcase_create ("crashes and faults");
    tcase_set_timeout (tc, 240);
    tcase_add_test (tc, the_broker_killed_at_random_moments_loses_nothing_acknowledged);
    tcase_add_test (tc, agents_killed_at_random_moments_lose_nothing_and_deliver_once);
    tcase_add_test (tc, acknowledged_events_in_the_journal_alone_survive_a_kill);
    tcase_add_test (tc, a_full_store_refuses_publishes_cleanly_and_keeps_delivering);
    tcase_add_test (tc, an_agent_that_cannot_keep_a_delivery_does_not_receipt_it);
    tcase_add_test (tc, an_agent_notices_a_broker_that_rewrites_its_log);
    tcase_add_test (tc, deliveries_queued_before_the_wire_version_changed_still_arrive);
    tcase_add_test (tc, an_agency_gets_a_verified_proof_that_its_event_is_in_the_log);
    tcase_add_test (tc, an_agent_sends_its_backlog_signed_as_one_burst);
    tcase_add_test (tc, a_burst_the_broker_cannot_take_goes_alone_in_the_end);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
