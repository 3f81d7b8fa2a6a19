/*  bench_broker_env: what the end-to-end broker benchmark stands on (see
 *  bench_broker.h): the temporary folder, keys, directory and broker.cfg;
 *  the real passerelle-broker as a child process (killed and the folder
 *  removed whatever happens: exit, SIGINT/SIGTERM, or our own death through
 *  PR_SET_PDEATHSIG); the store pre-fill for the restart measure; and the
 *  machine's own ceilings measured in the same run (raw CURVE, Ed25519
 *  verify, fdatasync), so that figures can be read as ratios on a shared,
 *  noisy machine.  */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>
#include "bench_broker.h"
#include "e2e/pe_port.h"
#include "pb_store.h"
#include "pl_envelope.h"
#include "pl_wire.h"
#include "passerelle.pb-c.h"

#define PREFILL_BATCH 5000

uint64_t
bb_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

double
bb_now (void)
{
    return (double) bb_now_ns () / 1e9;
}

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

double
bb_percentile (double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort (v, n, sizeof *v, s_compare_double);
    size_t rank = (size_t) (p * (double) n + 0.999999);     //  nearest rank
    return v [rank == 0? 0: (rank > n? n: rank) - 1];
}

//  --------------------------------------------------------------------------
//  Cleanup: whatever ends the bench, the broker dies and the folder goes

static bb_env_t *s_env;
static atomic_flag s_cleaned = ATOMIC_FLAG_INIT;

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path) == 0 || errno == ENOENT? 0: -1;
}

static void
s_cleanup (void)
{
    if (!s_env || atomic_flag_test_and_set (&s_cleaned))
        return;
    if (s_env->broker_pid > 0) {
        kill (s_env->broker_pid, SIGKILL);
        waitpid (s_env->broker_pid, NULL, 0);
        s_env->broker_pid = 0;
    }
    if (getenv ("PASSERELLE_KEEP"))
        fprintf (stderr, "bench_broker: kept %s\n", s_env->dir);
    else
    if (*s_env->dir && nftw (s_env->dir, s_remove, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf (stderr, "bench_broker: could not remove %s\n", s_env->dir);
}

//  SIGINT/SIGTERM are blocked in every thread (set before any is made) and
//  taken here, where cleaning up is not restricted to async-signal-safe calls.
static void *
s_signal_thread (void *arg)
{
    sigset_t *signals = arg;
    int sig = 0;
    sigwait (signals, &sig);
    fprintf (stderr, "bench_broker: signal %d, stopping\n", sig);
    s_cleanup ();
    _exit (128 + sig);
}

//  --------------------------------------------------------------------------
//  Folder, keys, directory, broker.cfg

static int
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    fputs (text, file);
    return fclose (file);
}

static void
s_agency_entry (pl_keys_t *keys, const char *roles, char *out, size_t size)
{
    char key [PL_KEY_TEXT_SIZE];
    pl_key_to_text (pl_keys_public (keys), key);
    snprintf (out, size, "agency\n    id = %s\n    name = \"%s (bench)\"\n    roles = %s\n"
              "    network = bench\n    public-key = \"%s\"\n", pl_keys_id (keys),
              pl_keys_id (keys), roles, key);
}

int
bb_env_setup (bb_env_t *env)
{
    static sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_signal_thread, &signals) != 0)
        return -1;
    pthread_detach (thread);
    s_env = env;
    atexit (s_cleanup);

    const char *bin = getenv ("PASSERELLE_BIN"), *policy = getenv ("PASSERELLE_POLICY");
    const char *tmp = getenv ("TMPDIR");
    snprintf (env->bin, sizeof env->bin, "%s", bin? bin: "build/bin");
    if (!realpath (policy? policy: "policy/move.cfg", env->policy)) {
        fprintf (stderr, "bench_broker: no policy at %s\n", policy? policy: "policy/move.cfg");
        return -1;
    }
    snprintf (env->dir, sizeof env->dir, "%s/passerelle-bench.XXXXXX", tmp? tmp: "/tmp");
    if (!mkdtemp (env->dir)) {
        env->dir [0] = 0;
        return -1;
    }
    env->port = pe_port_free ();
    snprintf (env->endpoint, sizeof env->endpoint, "tcp://127.0.0.1:%d", env->port);
    //  Same files `passerelle keygen` writes (pl_keys_save is what it calls)
    char err [512];
    env->broker_keys = pl_keys_generate ("broker");
    env->publisher = pl_keys_generate ("police-bench");
    env->recipient = pl_keys_generate ("pp-bench");
    if (!env->broker_keys || !env->publisher || !env->recipient
    ||  pl_keys_save (env->broker_keys, env->dir, err, sizeof err) != 0) {
        fprintf (stderr, "bench_broker: keys: %s\n", err);
        return -1;
    }
    uint8_t curve [PL_CURVE_KEY_SIZE];
    pl_curve_public_from_sign (pl_keys_public (env->broker_keys), curve);
    pl_curve_to_z85 (curve, env->broker_z85);

    char path [1100], text [4096], one [1024], two [1024];
    s_agency_entry (env->publisher, "police", one, sizeof one);
    s_agency_entry (env->recipient, "perpetrator_programme", two, sizeof two);
    snprintf (text, sizeof text, "%s%s", one, two);
    snprintf (path, sizeof path, "%s/directory.cfg", env->dir);
    if (s_write_file (path, text) != 0)
        return -1;
    //  PASSERELLE_BENCH_BROKER_CFG: settings to add (e.g. "store-flush = 20ms"),
    //  one per line, to compare them on this machine
    const char *extra = getenv ("PASSERELLE_BENCH_BROKER_CFG");
    char lines [1024] = "";
    for (const char *at = extra; at && *at; ) {
        size_t len = strcspn (at, "\n");
        size_t used = strlen (lines);
        snprintf (lines + used, sizeof lines - used, "    %.*s\n", (int) len, at);
        at += len + (at [len] == '\n');
    }
    snprintf (text, sizeof text, "broker\n    key = broker.key\n    endpoint = %s\n"
              "    directory = directory.cfg\n    policy = %s\n    state = broker-state\n%s",
              env->endpoint, env->policy, lines);
    snprintf (path, sizeof path, "%s/broker.cfg", env->dir);
    return s_write_file (path, text);
}

//  --------------------------------------------------------------------------
//  The broker process

int
bb_broker_start (bb_env_t *env, double *port_s)
{
    char config [1100], log [1100], bin [1100];
    snprintf (config, sizeof config, "%s/broker.cfg", env->dir);
    snprintf (log, sizeof log, "%s/broker.log", env->dir);
    snprintf (bin, sizeof bin, "%s/passerelle-broker", env->bin);
    uint64_t t0 = bb_now_ns ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  Dies with us, even if we crash; takes its signals itself
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        int out = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open ("/dev/null", O_RDWR);
        dup2 (null, 0);
        dup2 (out, 1);
        dup2 (out, 2);
        char *argv [] = { bin, "-c", config, NULL };
        execv (bin, argv);
        _exit (127);
    }
    if (pid < 0)
        return -1;
    env->broker_pid = pid;
    //  1 ms polls: this is also how restart-to-ready is timed
    while (bb_now_ns () - t0 < 20000000000ULL) {
        if (waitpid (pid, NULL, WNOHANG) == pid) {
            env->broker_pid = 0;
            fprintf (stderr, "bench_broker: the broker exited at start; see %s\n", log);
            return -1;
        }
        if (pe_port_open (env->port)) {
            if (port_s)
                *port_s = (double) (bb_now_ns () - t0) / 1e9;
            return 0;
        }
        usleep (1000);
    }
    fprintf (stderr, "bench_broker: the broker did not listen within 20 s\n");
    return -1;
}

void
bb_broker_stop (bb_env_t *env)
{
    if (env->broker_pid <= 0)
        return;
    kill (env->broker_pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid (env->broker_pid, NULL, WNOHANG) == env->broker_pid) {
            env->broker_pid = 0;
            return;
        }
        usleep (10000);
    }
    kill (env->broker_pid, SIGKILL);
    waitpid (env->broker_pid, NULL, 0);
    env->broker_pid = 0;
}

int
bb_broker_rss (bb_env_t *env, bb_rss_t *rss)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) env->broker_pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    memset (rss, 0, sizeof *rss);
    while (fgets (line, sizeof line, file)) {
        sscanf (line, "VmRSS: %ld", &rss->rss_kb);
        sscanf (line, "VmHWM: %ld", &rss->hwm_kb);
        sscanf (line, "RssAnon: %ld", &rss->anon_kb);
        sscanf (line, "RssFile: %ld", &rss->file_kb);
    }
    fclose (file);
    return rss->rss_kb > 0? 0: -1;
}

long long
bb_broker_logged_size (bb_env_t *env)
{
    char path [1100], line [4096];
    snprintf (path, sizeof path, "%s/broker.log", env->dir);
    FILE *file = fopen (path, "r");
    long long size = -1;
    while (file && fgets (line, sizeof line, file)) {
        //  "listening on ...; log ORIGIN at N entries, M deliveries queued"
        const char *at = strstr (line, "; log ");
        long long n;
        if (at && (at = strstr (at, " at ")) && sscanf (at, " at %lld entries", &n) == 1)
            size = n;
    }
    if (file)
        fclose (file);
    return size;
}

//  utime + stime of /proc/PID/task/TID/stat (fields 14 and 15)
static int
s_thread_ticks (int pid, int tid, unsigned long *ticks, char *comm, size_t size)
{
    char path [96], line [1024];
    snprintf (path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    FILE *file = fopen (path, "r");
    bool ok = file && fgets (line, sizeof line, file);
    if (file)
        fclose (file);
    char *open = ok? strchr (line, '('): NULL, *close = ok? strrchr (line, ')'): NULL;
    unsigned long utime, stime;
    if (!open || !close || close < open
    ||  sscanf (close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                &utime, &stime) != 2)
        return -1;
    snprintf (comm, size, "%.*s", (int) (close - open - 1), open + 1);
    *ticks = utime + stime;
    return 0;
}

int
bb_broker_cpu (bb_env_t *env, bb_cpu_t *snapshot)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", (int) env->broker_pid);
    memset (snapshot, 0, sizeof *snapshot);
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    struct dirent *entry;
    while ((entry = readdir (dir)) && snapshot->n < 64) {
        int tid = atoi (entry->d_name);
        if (tid > 0 && s_thread_ticks ((int) env->broker_pid, tid, &snapshot->ticks [snapshot->n],
                                       snapshot->comm [snapshot->n],
                                       sizeof snapshot->comm [0]) == 0)
            snapshot->tid [snapshot->n++] = tid;
    }
    closedir (dir);
    char line [128];
    snprintf (path, sizeof path, "/proc/%d/io", (int) env->broker_pid);
    FILE *file = fopen (path, "r");
    while (file && fgets (line, sizeof line, file)) {
        sscanf (line, "write_bytes: %llu", &snapshot->write_bytes);
        sscanf (line, "wchar: %llu", &snapshot->wchar);
    }
    if (file)
        fclose (file);
    return 0;
}

void
bb_cpu_delta (const bb_cpu_t *before, const bb_cpu_t *after, double *total_s,
              double *busiest_s, char *busiest, size_t size)
{
    double tick = (double) sysconf (_SC_CLK_TCK);
    *total_s = *busiest_s = 0;
    snprintf (busiest, size, "-");
    for (int i = 0; i < after->n; i++) {
        unsigned long was = 0;
        for (int j = 0; j < before->n; j++)
            if (before->tid [j] == after->tid [i])
                was = before->ticks [j];
        double used = (double) (after->ticks [i] - was) / tick;
        *total_s += used;
        if (used > *busiest_s) {
            *busiest_s = used;
            snprintf (busiest, size, "%s/%d", after->comm [i], after->tid [i]);
        }
    }
}

void
bb_broker_log_tail (bb_env_t *env, int lines)
{
    char path [1100], line [4096];
    snprintf (path, sizeof path, "%s/broker.log", env->dir);
    FILE *file = fopen (path, "r");
    if (!file)
        return;
    long count = 0;
    while (fgets (line, sizeof line, file))
        count++;
    rewind (file);
    fprintf (stderr, "bench_broker: the broker's log, last %d lines:\n", lines);
    for (long i = 0; fgets (line, sizeof line, file); i++)
        if (i >= count - lines)
            fputs (line, stderr);
    fclose (file);
}

//  --------------------------------------------------------------------------
//  Clients

zsock_t *
bb_dealer (bb_env_t *env, pl_keys_t *keys)
{
    zcert_t *cert = zcert_new_from (pl_keys_curve_public (keys), pl_keys_curve_secret (keys));
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!cert || !dealer) {
        zcert_destroy (&cert);
        zsock_destroy (&dealer);
        return NULL;
    }
    zcert_apply (cert, dealer);
    zcert_destroy (&cert);
    zsock_set_curve_serverkey (dealer, env->broker_z85);
    //  The broker's own limits bound the flow, not ours
    zsock_set_sndhwm (dealer, 100000);
    zsock_set_rcvhwm (dealer, 100000);
    zsock_set_reconnect_ivl (dealer, 10);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", env->endpoint);
    return dealer;
}

int
bb_hello (zsock_t *dealer, const char *id, int timeout_ms)
{
    Passerelle__Hello hello = PASSERELLE__HELLO__INIT;
    hello.version = PL_WIRE_VERSION;
    hello.agency = (char *) id;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_HELLO;
    msg.hello = &hello;
    zframe_t *frame = pl_wire_pack (&msg);
    if (!frame || zframe_send (&frame, dealer, 0) != 0)
        return -1;
    zpoller_t *poller = zpoller_new (dealer, NULL);
    uint64_t deadline = bb_now_ns () + (uint64_t) timeout_ms * 1000000ULL;
    int rc = -1;
    while (rc != 0 && bb_now_ns () < deadline) {
        if (!zpoller_wait (poller, (int) ((deadline - bb_now_ns ()) / 1000000ULL) + 1))
            continue;
        frame = zframe_recv (dealer);
        Passerelle__Status status;
        char why [256];
        Passerelle__Message *reply = frame? pl_wire_unpack (frame, 1 << 24, &status, why,
                                                            sizeof why): NULL;
        zframe_destroy (&frame);
        if (reply && reply->body_case == PASSERELLE__MESSAGE__BODY_WELCOME)
            rc = 0;
        if (reply)
            passerelle__message__free_unpacked (reply, NULL);
    }
    zpoller_destroy (&poller);
    return rc;
}

//  --------------------------------------------------------------------------
//  The store at 1,000,000 entries

//  A ~200-byte publish entry, like those the broker writes for this bench
static size_t
s_log_entry (uint64_t i, uint8_t *out)
{
    char case_ref [32];
    uint8_t event_id [16] = { 0xbe, 0xec }, hash [32];
    memcpy (event_id + 8, &i, sizeof i);
    memset (hash, (int) (i & 0xff), sizeof hash);
    snprintf (case_ref, sizeof case_ref, "PREFILL-%06u", (unsigned) (i % 10000));
    char *categories [2] = { "identity", "referral" };
    Passerelle__LogDecision decision = PASSERELLE__LOG_DECISION__INIT;
    decision.recipient = "pp-bench";
    decision.allowed = true;
    decision.code = "allowed";
    decision.rule = "justice-refers-to-perpetrator-programme";
    decision.needs_review = true;
    Passerelle__LogDecision *decisions [1] = { &decision };
    Passerelle__LogEntry e = PASSERELLE__LOG_ENTRY__INIT;
    e.kind = "publish";
    e.at_ms = 1700000000000ULL + i;
    e.event_id = (ProtobufCBinaryData) { sizeof event_id, event_id };
    e.case_ref = case_ref;
    e.publisher = "police-bench";
    e.event_type = "referral";
    e.categories = categories;
    e.n_categories = 2;
    e.purpose = "referral";
    e.legal_basis = "legal_obligation";
    e.justification = "bench";
    e.sequence = i + 1;
    e.header_hash = (ProtobufCBinaryData) { sizeof hash, hash };
    e.n_decisions = 1;
    e.decisions = decisions;
    return passerelle__log_entry__pack (&e, out);
}

int
bb_store_prefill (bb_env_t *env, uint64_t total, double *seconds)
{
    char path [1100], err [512];
    snprintf (path, sizeof path, "%s/broker-state/store", env->dir);
    double t0 = bb_now ();
    pb_store_t *store = pb_store_open (path, 0, false, err, sizeof err);
    if (!store) {
        fprintf (stderr, "bench_broker: prefill: %s\n", err);
        return -1;
    }
    uint8_t buf [512];
    int rc = 0;
    for (uint64_t i = pb_store_log_size (store); i < total && rc == 0; ) {
        pb_batch_t *batch = pb_store_begin (store);
        if (!batch) {
            rc = -1;
            break;
        }
        for (uint64_t end = i + PREFILL_BATCH; i < end && i < total && rc == 0; i++)
            rc = pb_batch_log_append (batch, buf, s_log_entry (i, buf), NULL);
        if (rc == 0)
            rc = pb_batch_commit (&batch);
        else
            pb_batch_abort (&batch);
    }
    if (rc != 0)
        fprintf (stderr, "bench_broker: prefill: %s\n", pb_store_error (store));
    pb_store_destroy (&store);
    *seconds = bb_now () - t0;
    return rc == 0? 0: -1;
}

void
bb_store_evict (bb_env_t *env)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/broker-state/store/data.mdb", env->dir);
    int fd = open (path, O_RDONLY);
    if (fd >= 0) {
        fdatasync (fd);                 //  only clean pages can be dropped
        posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
        close (fd);
    }
}

//  --------------------------------------------------------------------------
//  Baselines

typedef struct {
    void *router;
    long answered;
} echo_t;

//  Answers every message with an 8-byte ack until an empty one arrives
static void *
s_echo (void *arg)
{
    echo_t *echo = arg;
    uint8_t id [256], body [2048];
    while (true) {
        int id_size = zmq_recv (echo->router, id, sizeof id, 0);
        int size = id_size >= 0? zmq_recv (echo->router, body, sizeof body, 0): -1;
        if (size < 0)
            break;
        zmq_send (echo->router, id, (size_t) id_size, ZMQ_SNDMORE);
        zmq_send (echo->router, "ack-ack!", 8, 0);
        echo->answered++;
        if (size == 0)
            break;
    }
    return NULL;
}

int
bb_curve_baseline (int messages, int window, double *msgs_per_s,
                   double *rtt_p50_us, double *rtt_p99_us)
{
    char server_public [41], server_secret [41], client_public [41], client_secret [41];
    char endpoint [256];
    size_t endpoint_size = sizeof endpoint;
    int one = 1, hwm = 100000, linger = 0;
    if (zmq_curve_keypair (server_public, server_secret) != 0
    ||  zmq_curve_keypair (client_public, client_secret) != 0)
        return -1;
    void *ctx = zmq_ctx_new ();
    void *router = zmq_socket (ctx, ZMQ_ROUTER), *dealer = zmq_socket (ctx, ZMQ_DEALER);
    zmq_setsockopt (router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt (router, ZMQ_CURVE_SECRETKEY, server_secret, 40);
    zmq_setsockopt (router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (dealer, ZMQ_CURVE_SERVERKEY, server_public, 40);
    zmq_setsockopt (dealer, ZMQ_CURVE_PUBLICKEY, client_public, 40);
    zmq_setsockopt (dealer, ZMQ_CURVE_SECRETKEY, client_secret, 40);
    zmq_setsockopt (dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (dealer, ZMQ_LINGER, &linger, sizeof linger);
    int rc = -1;
    if (zmq_bind (router, "tcp://127.0.0.1:*") != 0
    ||  zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_size) != 0
    ||  zmq_connect (dealer, endpoint) != 0) {
        zmq_close (router);
        zmq_close (dealer);
        zmq_ctx_term (ctx);
        return -1;
    }
    echo_t echo = { router, 0 };
    pthread_t thread;
    pthread_create (&thread, NULL, s_echo, &echo);
    uint8_t payload [1024], ack [16];
    randombytes_buf (payload, sizeof payload);
    //  One round trip first: the CURVE handshake is not what we measure
    zmq_send (dealer, payload, sizeof payload, 0);
    zmq_recv (dealer, ack, sizeof ack, 0);

    uint64_t t0 = bb_now_ns ();
    int sent = 0, acked = 0;
    while (acked < messages) {
        while (sent < messages && sent - acked < window)
            if (zmq_send (dealer, payload, sizeof payload, 0) == (int) sizeof payload)
                sent++;
        if (zmq_recv (dealer, ack, sizeof ack, 0) >= 0)
            acked++;
    }
    *msgs_per_s = messages / ((double) (bb_now_ns () - t0) / 1e9);

    //  Round trips one at a time: the transport's share of a latency
    int trips = 2000;
    double *rtt = malloc (sizeof (double) * (size_t) trips);
    for (int i = 0; rtt && i < trips; i++) {
        uint64_t start = bb_now_ns ();
        zmq_send (dealer, payload, sizeof payload, 0);
        zmq_recv (dealer, ack, sizeof ack, 0);
        rtt [i] = (double) (bb_now_ns () - start) / 1e3;
    }
    if (rtt) {
        *rtt_p99_us = bb_percentile (rtt, (size_t) trips, 0.99);
        *rtt_p50_us = bb_percentile (rtt, (size_t) trips, 0.50);
        rc = 0;
    }
    free (rtt);
    zmq_send (dealer, "", 0, 0);            //  stops the echo thread
    pthread_join (thread, NULL);
    zmq_close (router);
    zmq_close (dealer);
    zmq_ctx_term (ctx);
    return rc;
}

double
bb_verify_baseline (const uint8_t *pk, const uint8_t *msg, size_t size, const uint8_t *sig,
                    int count)
{
    int good = 0;
    double t0 = bb_now ();
    for (int i = 0; i < count; i++)
        good += crypto_sign_verify_detached (sig, msg, size, pk) == 0;
    double elapsed = bb_now () - t0;
    return good == count? count / elapsed: 0;
}

int
bb_fsync_baseline (bb_env_t *env, int count, double *p50_us, double *p99_us)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/fsync.probe", env->dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    double *times = malloc (sizeof (double) * (size_t) count);
    if (fd < 0 || !times) {
        free (times);
        if (fd >= 0)
            close (fd);
        return -1;
    }
    uint8_t page [4096];
    memset (page, 0x5a, sizeof page);
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        uint64_t t0 = bb_now_ns ();
        //  Rewriting the same page each time, as LMDB's meta page is
        if (pwrite (fd, page, sizeof page, 0) != (ssize_t) sizeof page || fdatasync (fd) != 0)
            rc = -1;
        times [i] = (double) (bb_now_ns () - t0) / 1e3;
    }
    close (fd);
    unlink (path);
    if (rc == 0) {
        *p99_us = bb_percentile (times, (size_t) count, 0.99);
        *p50_us = bb_percentile (times, (size_t) count, 0.50);
    }
    free (times);
    return rc;
}

int
bb_commit_baseline (bb_env_t *env, int count, int pages, double *p50_us, double *p99_us)
{
    enum { FILE_PAGES = 4096 };         //  16 MiB, written once so no block is new
    char path [1100];
    snprintf (path, sizeof path, "%s/commit.probe", env->dir);
    int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    double *times = malloc (sizeof (double) * (size_t) count);
    uint8_t page [4096];
    memset (page, 0xa5, sizeof page);
    int rc = fd >= 0 && times? 0: -1;
    for (int i = 0; i < FILE_PAGES && rc == 0; i++)
        if (write (fd, page, sizeof page) != (ssize_t) sizeof page)
            rc = -1;
    if (rc == 0 && fdatasync (fd) != 0)
        rc = -1;
    for (int i = 0; i < count && rc == 0; i++) {
        uint64_t t0 = bb_now_ns ();
        //  As an LMDB commit does: the touched pages wherever the free
        //  list puts them, one fdatasync, then the meta page, synced too
        for (int p = 0; p < pages && rc == 0; p++) {
            off_t at = (off_t) (1 + randombytes_uniform (FILE_PAGES - 1)) * (off_t) sizeof page;
            if (pwrite (fd, page, sizeof page, at) != (ssize_t) sizeof page)
                rc = -1;
        }
        if (rc == 0 && (fdatasync (fd) != 0
                        || pwrite (fd, page, sizeof page, 0) != (ssize_t) sizeof page
                        || fdatasync (fd) != 0))
            rc = -1;
        times [i] = (double) (bb_now_ns () - t0) / 1e3;
    }
    if (fd >= 0)
        close (fd);
    unlink (path);
    if (rc == 0) {
        *p99_us = bb_percentile (times, (size_t) count, 0.99);
        *p50_us = bb_percentile (times, (size_t) count, 0.50);
    }
    free (times);
    return rc;
}
