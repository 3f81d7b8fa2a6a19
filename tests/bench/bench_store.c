/*  bench_store: the broker's durable store (pb_store) at 1,000,000 entries.
 *
 *  Issue 4 asks: ready < 1 s after a restart at 1,000,000 log entries, case
 *  queries by index (< 50 ms here), and a full verify of >= 1,000,000
 *  entries a minute. Builds such a log in a temporary directory (LogEntry
 *  messages of ~200 bytes, batches of 1000), then measures
 *    - append rate with durable commits of batches of 100 (group commit);
 *    - close + reopen-to-ready (Merkle tree restored from its right edge);
 *    - a case query and an agency query (index walks);
 *    - full verify: read every entry, rehash, recompute the root, compare;
 *  with baselines measured in the same run: raw SHA-256 of the same entries
 *  in memory (verify's floor), and a bare LMDB put loop of the same bytes
 *  with the same commits (append's floor). Deletes the directory at the end.
 *  Exits non-zero if a target is missed.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <lmdb.h>
#include <sodium.h>
#include "pl_hash.h"
#include "pl_merkle.h"
#include "pb_store.h"
#include "passerelle.pb-c.h"
#include "pl_test_log.h"

#define ENTRIES       1000000
#define BUILD_BATCH   1000
#define DURABLE_N     20000
#define DURABLE_BATCH 100
#define CASES         10000     //  100 entries per case

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  A ~200-byte publish entry with two decisions, like the broker's
static size_t
s_entry (uint64_t i, uint8_t *out)
{
    return pl_test_log_entry (i, CASES, 16, out);
}

static int
s_append (pb_store_t *store, uint64_t from, uint64_t to, uint64_t batch_size)
{
    uint8_t buf [512];
    for (uint64_t i = from; i < to; i += batch_size) {
        pb_batch_t *batch = pb_store_begin (store);
        if (!batch)
            return -1;
        for (uint64_t j = i; j < i + batch_size && j < to; j++)
            if (pb_batch_log_append (batch, buf, s_entry (j, buf), NULL)) {
                pb_batch_abort (&batch);
                return -1;
            }
        if (pb_batch_commit (&batch))
            return -1;
    }
    return 0;
}

//  Bare LMDB: the same bytes under 8-byte keys, commits of batch_size
static int
s_lmdb_baseline (const char *dir, uint64_t n, uint64_t batch_size)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t buf [512], key [8];
    if (mdb_env_create (&env) || mdb_env_set_mapsize (env, (size_t) 1 << 28)
    ||  mdb_env_open (env, dir, 0, 0600))
        return -1;
    for (uint64_t i = 0; i < n; i += batch_size) {
        if (mdb_txn_begin (env, NULL, 0, &txn) || mdb_dbi_open (txn, NULL, 0, &dbi))
            return -1;
        for (uint64_t j = i; j < i + batch_size && j < n; j++) {
            for (int b = 0; b < 8; b++)
                key [b] = (uint8_t) (j >> (56 - 8 * b));
            MDB_val k = { 8, key }, v = { s_entry (j, buf), buf };
            if (mdb_put (txn, dbi, &k, &v, MDB_APPEND))
                return -1;
        }
        if (mdb_txn_commit (txn))
            return -1;
    }
    mdb_env_close (env);
    return 0;
}

typedef struct {
    pl_merkle_t *tree;
    uint64_t count;
} verify_t;

static int
s_verify_entry (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    verify_t *v = arg;
    if (index != v->count)
        return -1;
    v->count++;
    return pl_merkle_append_data (v->tree, entry, size, NULL);
}

static int
s_count (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    (void) index; (void) entry; (void) size;
    (*(uint64_t *) arg)++;
    return 0;
}

static void
s_rmdir (const char *dir)
{
    char path [256];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/lock.mdb", dir);
    unlink (path);
    rmdir (dir);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const char *tmp = getenv ("TMPDIR")? getenv ("TMPDIR"): "/tmp";
    char dir [200], base_dir [200], err [512];
    snprintf (dir, sizeof dir, "%s/bench_store.XXXXXX", tmp);
    snprintf (base_dir, sizeof base_dir, "%s/bench_store_lmdb.XXXXXX", tmp);
    if (!mkdtemp (dir) || !mkdtemp (base_dir)) {
        perror ("bench_store: mkdtemp");
        return 1;
    }
    int status = 0;
    pb_store_t *store = pb_store_open (dir, 0, false, err, sizeof err);
    if (!store) {
        fprintf (stderr, "bench_store: %s\n", err);
        return 1;
    }

    //  Durable appends, batches of 100, against a bare LMDB put loop
    double t0 = s_now ();
    if (s_append (store, 0, DURABLE_N, DURABLE_BATCH))
        goto failed;
    double durable = s_now () - t0;
    t0 = s_now ();
    if (s_lmdb_baseline (base_dir, DURABLE_N, DURABLE_BATCH))
        goto failed;
    double baseline = s_now () - t0;
    s_rmdir (base_dir);
    printf ("append, durable batches of %d: %.0f entries/s (%.0f commits/s); "
            "bare LMDB put loop %.0f entries/s; ratio %.2f\n", DURABLE_BATCH,
            DURABLE_N / durable, DURABLE_N / DURABLE_BATCH / durable,
            DURABLE_N / baseline, baseline / durable);

    //  The rest of the million, batches of 1000
    t0 = s_now ();
    if (s_append (store, DURABLE_N, ENTRIES, BUILD_BATCH))
        goto failed;
    double build = s_now () - t0;
    printf ("append, batches of %d: %.0f entries/s (to %d entries)\n", BUILD_BATCH,
            (ENTRIES - DURABLE_N) / build, ENTRIES);
    uint8_t root [PL_MERKLE_HASH_SIZE], root2 [PL_MERKLE_HASH_SIZE];
    uint64_t size;
    pb_store_log_root (store, &size, root);

    //  Restart to ready
    t0 = s_now ();
    pb_store_destroy (&store);
    store = pb_store_open (dir, 0, false, err, sizeof err);
    double reopen = s_now () - t0;
    if (!store) {
        fprintf (stderr, "bench_store: reopen: %s\n", err);
        goto failed;
    }
    pb_store_log_root (store, &size, root2);
    bool same = size == ENTRIES && memcmp (root, root2, sizeof root) == 0;
    printf ("close + reopen at %llu entries: %.1f ms (target < 1000 ms), %llu Merkle reads, "
            "root %s\n", (unsigned long long) size, reopen * 1000,
            (unsigned long long) pb_store_merkle_reads (store), same? "same": "DIFFERENT");
    if (reopen >= 1.0 || !same)
        status = 1;

    //  Case and agency queries
    uint64_t hits = 0;
    t0 = s_now ();
    if (pb_store_log_case (store, "case-4242", 0, s_count, &hits))
        goto failed;
    double query = s_now () - t0;
    printf ("case query: %llu entries in %.2f ms (target < 50 ms)\n",
            (unsigned long long) hits, query * 1000);
    if (query >= 0.05 || hits != ENTRIES / CASES)
        status = 1;
    hits = 0;
    t0 = s_now ();
    if (pb_store_log_agency (store, "agency-7", 0, s_count, &hits))
        goto failed;
    printf ("agency query: %llu entries in %.1f ms\n", (unsigned long long) hits,
            (s_now () - t0) * 1000);

    //  Full verify against raw SHA-256 of the same entries in memory
    verify_t v = { pl_merkle_new (NULL, NULL, 0), 0 };
    t0 = s_now ();
    int rc = pb_store_log_range (store, 0, UINT64_MAX, s_verify_entry, &v);
    pl_merkle_root (v.tree, root2);
    double verify = s_now () - t0;
    pl_merkle_destroy (&v.tree);
    same = rc == 0 && v.count == ENTRIES && memcmp (root, root2, sizeof root) == 0;
    uint8_t *entries = malloc ((size_t) ENTRIES * 256);
    size_t *sizes = malloc (sizeof (size_t) * ENTRIES);
    if (!entries || !sizes)
        goto failed;
    for (uint64_t i = 0; i < ENTRIES; i++)
        sizes [i] = s_entry (i, entries + i * 256);
    uint8_t leaf [PL_MERKLE_HASH_SIZE];
    t0 = s_now ();
    for (uint64_t i = 0; i < ENTRIES; i++)
        pl_sha256 (leaf, entries + i * 256, sizes [i]);
    double sha = s_now () - t0;
    free (entries);
    free (sizes);
    printf ("full verify: %.0f entries/min (target >= 1000000), root %s; "
            "raw SHA-256 of the entries %.0f/min; ratio %.2f\n",
            ENTRIES / verify * 60, same? "matches": "DIFFERS", ENTRIES / sha * 60, sha / verify);
    if (!same || ENTRIES / verify * 60 < 1000000)
        status = 1;

    pb_store_stats_t stats;
    if (pb_store_stats (store, &stats) == 0)
        printf ("store: %.1f MiB in use of a %.0f MiB map (%.0f bytes per entry)\n",
                stats.used_bytes / 1048576.0, stats.map_size / 1048576.0,
                (double) stats.used_bytes / ENTRIES);
    pb_store_destroy (&store);
    s_rmdir (dir);
    return status;

failed:
    fprintf (stderr, "bench_store: failed: %s\n", store? pb_store_error (store): "");
    pb_store_destroy (&store);
    s_rmdir (dir);
    s_rmdir (base_dir);
    return 1;
}
