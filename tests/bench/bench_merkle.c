/*  bench_merkle: how fast the sharing log's Merkle tree is on this machine.
 *
 *  Issue 4 asks that verify process >= 1,000,000 entries a minute and that
 *  the broker be ready < 1 s after a restart at 1,000,000 entries. Absolute
 *  figures depend on the machine, so each is also given as a ratio to a
 *  baseline measured in the same run: raw SHA-256 (pl_sha256, the hash
 *  the tree uses) of N inputs the size of a node hash's. One append
 *  costs about two of those (the leaf, and on average one node); the
 *  ratio says how close the tree is to that floor.
 *
 *  Exits non-zero if the 1,000,000 entries/minute or the 1 s reopen
 *  requirement is not met.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "pl_hash.h"
#include "pl_merkle.h"

#define LEAVES      1000000
#define ENTRY_SIZE  160     //  a log entry: ids, decisions, hashes; no payload
#define H           PL_MERKLE_HASH_SIZE

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  Counts storage reads, to show reopening reads only the frontier
typedef struct {
    pl_merkle_mem_t *mem;
    unsigned long gets;
} counting_t;

static int
s_get (void *ctx, unsigned level, uint64_t index, uint8_t *hash)
{
    counting_t *self = ctx;
    self->gets++;
    return pl_merkle_mem_storage ()->get (self->mem, level, index, hash);
}

static int
s_put (void *ctx, unsigned level, uint64_t index, const uint8_t *hash)
{
    counting_t *self = ctx;
    return pl_merkle_mem_storage ()->put (self->mem, level, index, hash);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    uint8_t *entries = malloc ((size_t) LEAVES * ENTRY_SIZE);
    uint8_t *leaves = malloc ((size_t) LEAVES * H);
    if (!entries || !leaves)
        return 1;
    randombytes_buf (entries, (size_t) LEAVES * ENTRY_SIZE);
    int status = 0;

    //  Baseline: raw SHA-256 of 65-byte inputs (a node hash's input)
    uint8_t input [65] = { 1 }, digest [H];
    double start = s_now ();
    for (uint32_t i = 0; i < LEAVES; i++) {
        memcpy (input + 1, &i, sizeof i);
        pl_sha256 (digest, input, sizeof input);
        input [5] ^= digest [0];
    }
    double baseline = LEAVES / (s_now () - start);
    printf ("baseline: raw SHA-256 of 65 bytes      %12.0f /s\n", baseline);

    //  Leaf hashing of whole entries: the part of verify that reads data
    start = s_now ();
    for (size_t i = 0; i < LEAVES; i++)
        pl_merkle_leaf_hash (entries + i * ENTRY_SIZE, ENTRY_SIZE, leaves + i * H);
    double leaf_rate = LEAVES / (s_now () - start);
    printf ("leaf hash of %d-byte entries          %12.0f /s  (%.2f x baseline)\n",
            ENTRY_SIZE, leaf_rate, leaf_rate / baseline);

    //  Appends into the in-memory store (the leaf hashes already made)
    counting_t store = { pl_merkle_mem_new (), 0 };
    pl_merkle_storage_t counting = { s_get, s_put };
    pl_merkle_t *tree = pl_merkle_new (&counting, &store, 0);
    start = s_now ();
    for (size_t i = 0; i < LEAVES; i++)
        if (pl_merkle_append (tree, leaves + i * H, NULL) != 0)
            return 1;
    double append_rate = LEAVES / (s_now () - start);
    printf ("append (in-memory store)               %12.0f /s  (%.2f x baseline)\n",
            append_rate, append_rate / baseline);

    //  Full recompute from leaf hashes, and from entry bytes: the auditor
    uint8_t root [H], recomputed [H];
    pl_merkle_root (tree, root);
    start = s_now ();
    pl_merkle_root_from_leaves (leaves, LEAVES, recomputed);
    double recompute_rate = LEAVES / (s_now () - start);
    printf ("full recompute from leaf hashes        %12.0f leaves/s  (%.2f x baseline)\n",
            recompute_rate, recompute_rate / baseline);
    start = s_now ();
    pl_merkle_t *streaming = pl_merkle_new (NULL, NULL, 0);
    for (size_t i = 0; i < LEAVES; i++) {
        uint8_t leaf [H];
        pl_merkle_leaf_hash (entries + i * ENTRY_SIZE, ENTRY_SIZE, leaf);
        pl_merkle_append (streaming, leaf, NULL);
    }
    pl_merkle_root (streaming, recomputed);
    double verify_rate = LEAVES / (s_now () - start);
    pl_merkle_destroy (&streaming);
    if (sodium_memcmp (root, recomputed, H) != 0) {
        printf ("FAIL: recomputed root differs\n");
        status = 1;
    }
    printf ("verify: entries -> root (streaming)    %12.0f entries/s = %.0f /min  "
            "(%.2f x baseline; need 1,000,000 /min: %.0f x margin)\n",
            verify_rate, verify_rate * 60, verify_rate / baseline, verify_rate * 60 / 1e6);
    if (verify_rate * 60 < 1e6)
        status = 1;

    //  Reopen at 1,000,000: reads the frontier only
    pl_merkle_destroy (&tree);
    store.gets = 0;
    start = s_now ();
    tree = pl_merkle_new (&counting, &store, LEAVES);
    pl_merkle_root (tree, recomputed);
    double reopen = s_now () - start;
    printf ("reopen at %d leaves                   %12.1f us, %lu node reads\n",
            LEAVES, reopen * 1e6, store.gets);
    if (!tree || sodium_memcmp (root, recomputed, H) != 0 || reopen >= 1.0)
        status = 1;

    //  Proofs: make and check an inclusion proof, and a consistency proof
    const int proofs = 100000;
    uint8_t proof [PL_MERKLE_PROOF_MAX * H];
    size_t len = 0;
    start = s_now ();
    for (int i = 0; i < proofs; i++) {
        uint64_t index = randombytes_uniform (LEAVES);
        if (pl_merkle_inclusion_proof (tree, index, LEAVES, proof, &len) != 0
        || !pl_merkle_verify_inclusion (leaves + index * H, index, LEAVES, proof, len, root))
            status = 1;
    }
    double inclusion_rate = proofs / (s_now () - start);
    printf ("inclusion proof make + verify          %12.0f /s\n", inclusion_rate);
    store.gets = 0;
    start = s_now ();
    for (int i = 0; i < proofs / 10; i++) {
        uint64_t size1 = 1 + randombytes_uniform (LEAVES - 1);
        uint8_t old_root [H];
        if (pl_merkle_root_at (tree, size1, old_root) != 0
        ||  pl_merkle_consistency_proof (tree, size1, LEAVES, proof, &len) != 0
        || !pl_merkle_verify_consistency (size1, LEAVES, old_root, root, proof, len))
            status = 1;
    }
    double consistency_rate = proofs / 10 / (s_now () - start);
    printf ("consistency proof make + verify        %12.0f /s  (%.1f node reads each, "
            "old root included)\n", consistency_rate, (double) store.gets / (proofs / 10));

    pl_merkle_destroy (&tree);
    pl_merkle_mem_destroy (&store.mem);
    free (entries);
    free (leaves);
    if (status)
        printf ("FAIL: a requirement or a check above was not met\n");
    return status;
}
