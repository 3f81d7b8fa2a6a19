/*  bench_broker: shared by bench_broker.c (the phases and the table),
 *  bench_broker_env.c (the broker process, its folder and store, the
 *  baselines) and bench_broker_seal.c (the events, made before timing).
 *  Not a library: only the end-to-end broker benchmark uses it.  */
#ifndef BENCH_BROKER_H_INCLUDED
#define BENCH_BROKER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <czmq.h>
#include "pl_keys.h"

//  The network under test: a temporary folder with keys, directory.cfg and
//  broker.cfg, and the real passerelle-broker running on a free port.
typedef struct {
    char dir [256];
    char bin [1024];
    char policy [1024];
    char endpoint [64];
    int port;
    pid_t broker_pid;
    pl_keys_t *broker_keys, *publisher, *recipient;
    char broker_z85 [41];
} bb_env_t;

typedef struct {
    long rss_kb, hwm_kb, anon_kb, file_kb;
} bb_rss_t;

//  Monotonic clock.
uint64_t bb_now_ns (void);
double bb_now (void);

//  Sorts v and returns its p-th percentile (0..1); 0 when n is 0.
double bb_percentile (double *v, size_t n, double p);

//  Folder, keys (publisher police-bench: police; recipient pp-bench:
//  perpetrator_programme; one network), directory and broker.cfg with
//  PASSERELLE_POLICY. Installs the cleanup (broker killed, folder removed)
//  for normal exit and for SIGINT/SIGTERM. 0 or -1.
int bb_env_setup (bb_env_t *env);

//  Start PASSERELLE_BIN/passerelle-broker; returns once its port accepts
//  TCP connections. *port_s (may be NULL): seconds from fork to that. 0/-1.
int bb_broker_start (bb_env_t *env, double *port_s);
//  SIGTERM and reap (SIGKILL after 10 s).
void bb_broker_stop (bb_env_t *env);
int bb_broker_rss (bb_env_t *env, bb_rss_t *rss);
//  The log size the broker reported at its last start ("at N entries"), or -1.
long long bb_broker_logged_size (bb_env_t *env);
//  CPU time of each of the broker's threads at one moment.
typedef struct {
    int n;
    int tid [64];
    unsigned long ticks [64];
    char comm [64][20];
    unsigned long long write_bytes;     //  /proc/PID/io: what it sent to storage
    unsigned long long wchar;           //  /proc/PID/io: bytes in its write calls
} bb_cpu_t;
int bb_broker_cpu (bb_env_t *env, bb_cpu_t *snapshot);
//  Between two snapshots: CPU seconds of the whole broker, and of its
//  busiest thread (named in busiest).
void bb_cpu_delta (const bb_cpu_t *before, const bb_cpu_t *after, double *total_s,
                   double *busiest_s, char *busiest, size_t size);
//  The last lines of the broker's log, on stderr (when something failed).
void bb_broker_log_tail (bb_env_t *env, int lines);

//  A CURVE DEALER authenticated with keys, connected to the broker.
zsock_t *bb_dealer (bb_env_t *env, pl_keys_t *keys);
//  Send a Hello as id and wait for the Welcome. 0, or -1 after timeout_ms.
int bb_hello (zsock_t *dealer, const char *id, int timeout_ms);

//  Append real LogEntry messages to the broker's stopped store until it
//  holds total entries; *seconds the time it took. 0 or -1.
int bb_store_prefill (bb_env_t *env, uint64_t total, double *seconds);
//  Drop the store file's pages from the page cache (a cold restart).
void bb_store_evict (bb_env_t *env);

//  Baselines: raw libzmq CURVE DEALER->ROUTER over tcp 127.0.0.1, 1 KiB
//  messages each answered by an 8-byte ack, a window of `window`; then
//  one-at-a-time round trips for latency percentiles (microseconds).
int bb_curve_baseline (int messages, int window, double *msgs_per_s,
                       double *rtt_p50_us, double *rtt_p99_us);
//  Ed25519 verifications per second of sig over msg by pk.
double bb_verify_baseline (const uint8_t *pk, const uint8_t *msg, size_t size,
                           const uint8_t *sig, int count);
//  write + fdatasync of 4 KiB in the bench folder: p50 and p99 in us.
int bb_fsync_baseline (bb_env_t *env, int count, double *p50_us, double *p99_us);
//  What one durable LMDB commit costs this disk: `pages` 4 KiB pages written
//  at random places in a 16 MiB file, fdatasync, a meta page, fdatasync.
int bb_commit_baseline (bb_env_t *env, int count, int pages, double *p50_us, double *p99_us);

/*  bench_broker_seal.c. Event number i's id, into id (16 bytes).  */
typedef void (bb_event_id_fn) (uint64_t i, uint8_t *id);

/*  Seal total events of payload_size bytes from env's publisher to its
 *  recipient, each signed alone: frames [i], a packed Message { Publish }.
 *  0 or -1.  */
int bb_seal_events (bb_env_t *env, zframe_t **frames, size_t total, size_t payload_size,
                    bb_event_id_fn *event_id);

/*  Sign frames [from, to) again, size (1..PL_BURST_MAX) at a time, each
 *  run as one burst (pl_burst). 0 or -1.  */
int bb_sign_bursts (bb_env_t *env, zframe_t **frames, size_t from, size_t to, size_t size);

#endif
