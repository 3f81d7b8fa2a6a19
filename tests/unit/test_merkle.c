/*  test_merkle: the sharing log's Merkle tree against published vectors, the
 *  RFC's own recursive definitions, and its own verifiers.
 *
 *  Known answers are the RFC 6962 reference vectors of transparency-dev/merkle,
 *  file proof/verify_test.go (github.com/transparency-dev/merkle; the same
 *  constants as google/certificate-transparency-go's merkletree tests): the 8
 *  leaves' data, the roots of sizes 1..8, and its inclusion and consistency
 *  proofs. They are data, copied as hex.  */
#include <string.h>
#include <stdio.h>
#include <sodium.h>
#include "pl_test.h"
#include "pl_merkle.h"

#define H PL_MERKLE_HASH_SIZE

static void
s_hex (const char *hex, uint8_t *bin)
{
    size_t len = 0;
    ck_assert_int_eq (sodium_hex2bin (bin, H, hex, strlen (hex), NULL, &len, NULL), 0);
    ck_assert_uint_eq (len, H);
}

//  --- transparency-dev/merkle proof/verify_test.go ---------------------------

static const struct { const char *hex; size_t size; } s_leaf_data [8] = {
    { "", 0 }, { "00", 1 }, { "10", 1 }, { "2021", 2 }, { "3031", 2 },
    { "40414243", 4 }, { "5051525354555657", 8 },
    { "606162636465666768696a6b6c6d6e6f", 16 },
};

static const char *s_roots [8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

//  leaf is 1-based there, as in the source
static const struct { uint64_t leaf, size; size_t len; const char *proof [3]; }
s_inclusion_vectors [] = {
    { 1, 1, 0, { NULL } },
    { 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
    { 6, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
    { 3, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
    { 2, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const struct { uint64_t size1, size2; size_t len; const char *proof [3]; }
s_consistency_vectors [] = {
    { 1, 1, 0, { NULL } },
    { 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
    { 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
    { 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
    { 6, 7, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                 "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

//  The 8 reference leaves in a fresh in-memory tree
static pl_merkle_t *
s_reference_tree (uint8_t leaves [8][H])
{
    pl_merkle_t *tree = pl_merkle_new_in_memory ();
    ck_assert_ptr_nonnull (tree);
    for (int i = 0; i < 8; i++) {
        uint8_t data [16];
        size_t len = 0;
        ck_assert_int_eq (sodium_hex2bin (data, sizeof data, s_leaf_data [i].hex,
                          strlen (s_leaf_data [i].hex), NULL, &len, NULL), 0);
        ck_assert_uint_eq (len, s_leaf_data [i].size);
        uint64_t index = 99;
        ck_assert_int_eq (pl_merkle_append_data (tree, data, len, &index), 0);
        ck_assert_uint_eq (index, (uint64_t) i);
        pl_merkle_leaf_hash (data, len, leaves [i]);
    }
    return tree;
}

//  --- a reference built from the RFC 9162 2.1 definitions, recursively --------

static uint64_t
s_split (uint64_t n)        //  largest power of two smaller than n
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void
s_ref_mth (const uint8_t *leaves, uint64_t n, uint8_t *out)
{
    if (n == 0)
        pl_merkle_empty_root (out);
    else
    if (n == 1)
        memcpy (out, leaves, H);
    else {
        uint64_t k = s_split (n);
        uint8_t left [H], right [H];
        s_ref_mth (leaves, k, left);
        s_ref_mth (leaves + k * H, n - k, right);
        pl_merkle_node_hash (left, right, out);
    }
}

static void
s_ref_path (uint64_t m, const uint8_t *leaves, uint64_t n, uint8_t *proof, size_t *len)
{
    if (n <= 1)
        return;
    uint64_t k = s_split (n);
    if (m < k) {
        s_ref_path (m, leaves, k, proof, len);
        s_ref_mth (leaves + k * H, n - k, proof + (*len)++ * H);
    }
    else {
        s_ref_path (m - k, leaves + k * H, n - k, proof, len);
        s_ref_mth (leaves, k, proof + (*len)++ * H);
    }
}

static void
s_ref_subproof (uint64_t m, const uint8_t *leaves, uint64_t n, bool whole,
                uint8_t *proof, size_t *len)
{
    if (m == n) {
        if (!whole)
            s_ref_mth (leaves, n, proof + (*len)++ * H);
        return;
    }
    uint64_t k = s_split (n);
    if (m <= k) {
        s_ref_subproof (m, leaves, k, whole, proof, len);
        s_ref_mth (leaves + k * H, n - k, proof + (*len)++ * H);
    }
    else {
        s_ref_subproof (m - k, leaves + k * H, n - k, false, proof, len);
        s_ref_mth (leaves, k, proof + (*len)++ * H);
    }
}

//  n leaves of distinct, deterministic content
static uint8_t *
s_make_leaves (uint64_t n)
{
    uint8_t *leaves = malloc (n? n * H: 1);
    ck_assert_ptr_nonnull (leaves);
    for (uint64_t i = 0; i < n; i++) {
        char entry [32];
        int len = snprintf (entry, sizeof entry, "entry %llu", (unsigned long long) i);
        pl_merkle_leaf_hash (entry, (size_t) len, leaves + i * H);
    }
    return leaves;
}

static pl_merkle_t *
s_tree_of (const uint8_t *leaves, uint64_t n)
{
    pl_merkle_t *tree = pl_merkle_new_in_memory ();
    ck_assert_ptr_nonnull (tree);
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq (pl_merkle_append (tree, leaves + i * H, NULL), 0);
    return tree;
}

//  --- storage that counts its calls and can be told to fail ------------------

typedef struct {
    pl_merkle_mem_t *mem;
    unsigned gets, puts;
    int fail_put_after;         //  fail the put after this many more; -1 never
} counting_t;

static int
s_counting_get (void *ctx, unsigned level, uint64_t index, uint8_t *hash)
{
    counting_t *self = ctx;
    self->gets++;
    return pl_merkle_mem_storage ()->get (self->mem, level, index, hash);
}

static int
s_counting_put (void *ctx, unsigned level, uint64_t index, const uint8_t *hash)
{
    counting_t *self = ctx;
    if (self->fail_put_after == 0)
        return -1;
    if (self->fail_put_after > 0)
        self->fail_put_after--;
    self->puts++;
    return pl_merkle_mem_storage ()->put (self->mem, level, index, hash);
}

static const pl_merkle_storage_t s_counting_storage = { s_counting_get, s_counting_put };

//  --- tests -------------------------------------------------------------------

START_TEST (test_hash_prefixes)
{
    uint8_t hash [H], want [H];
    //  SHA-256 of nothing, and of the single byte 0x00 (the empty leaf)
    pl_merkle_empty_root (hash);
    s_hex ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
    ck_assert_mem_eq (hash, want, H);
    pl_merkle_leaf_hash ("", 0, hash);
    s_hex (s_roots [0], want);
    ck_assert_mem_eq (hash, want, H);

    //  The node hash is SHA-256 (0x01 || l || r), which differs from the
    //  leaf hash of the same 64 bytes: second preimages cannot cross levels
    uint8_t left [H], right [H], buffer [1 + 2 * H], direct [H];
    memset (left, 0xaa, H);
    memset (right, 0x55, H);
    buffer [0] = 0x01;
    memcpy (buffer + 1, left, H);
    memcpy (buffer + 1 + H, right, H);
    crypto_hash_sha256 (direct, buffer, sizeof buffer);
    pl_merkle_node_hash (left, right, hash);
    ck_assert_mem_eq (hash, direct, H);
    pl_merkle_leaf_hash (buffer + 1, 2 * H, direct);
    ck_assert_mem_ne (hash, direct, H);

    //  Output may alias an input
    memcpy (direct, hash, H);
    pl_merkle_node_hash (left, right, left);
    ck_assert_mem_eq (left, direct, H);
}
END_TEST

START_TEST (test_reference_roots)
{
    uint8_t leaves [8][H], root [H], want [H];
    pl_merkle_t *tree = s_reference_tree (leaves);
    ck_assert_uint_eq (pl_merkle_size (tree), 8);
    for (uint64_t size = 1; size <= 8; size++) {
        s_hex (s_roots [size - 1], want);
        ck_assert_int_eq (pl_merkle_root_at (tree, size, root), 0);
        ck_assert_mem_eq (root, want, H);
        pl_merkle_root_from_leaves (&leaves [0][0], size, root);
        ck_assert_mem_eq (root, want, H);
    }
    pl_merkle_root (tree, root);
    ck_assert_mem_eq (root, want, H);
    //  Size 0 is the empty tree, a prefix of every tree; no size 9 yet
    uint8_t empty [H], proof [PL_MERKLE_PROOF_MAX * H];
    size_t len = 99;
    pl_merkle_empty_root (empty);
    ck_assert_int_eq (pl_merkle_root_at (tree, 0, root), 0);
    ck_assert_mem_eq (root, empty, H);
    ck_assert_int_eq (pl_merkle_root_at (tree, 9, root), -1);
    ck_assert_int_eq (pl_merkle_consistency_proof (tree, 0, 8, proof, &len), 0);
    ck_assert_uint_eq (len, 0);
    ck_assert (pl_merkle_verify_consistency (0, 8, empty, want, proof, len));

    //  Growing one leaf at a time, the current root is each reference root
    pl_merkle_t *growing = pl_merkle_new_in_memory ();
    for (uint64_t size = 1; size <= 8; size++) {
        ck_assert_int_eq (pl_merkle_append (growing, leaves [size - 1], NULL), 0);
        pl_merkle_root (growing, root);
        s_hex (s_roots [size - 1], want);
        ck_assert_mem_eq (root, want, H);
    }
    pl_merkle_destroy (&growing);
    pl_merkle_destroy (&tree);
    ck_assert_ptr_null (tree);
}
END_TEST

START_TEST (test_reference_inclusion)
{
    uint8_t leaves [8][H], root [H];
    pl_merkle_t *tree = s_reference_tree (leaves);
    for (size_t v = 0; v < sizeof s_inclusion_vectors / sizeof s_inclusion_vectors [0]; v++) {
        uint64_t index = s_inclusion_vectors [v].leaf - 1;
        uint64_t size = s_inclusion_vectors [v].size;
        size_t want_len = s_inclusion_vectors [v].len;
        uint8_t want [3 * H], proof [PL_MERKLE_PROOF_MAX * H];
        for (size_t i = 0; i < want_len; i++)
            s_hex (s_inclusion_vectors [v].proof [i], want + i * H);
        s_hex (s_roots [size - 1], root);

        size_t len = 99;
        ck_assert_int_eq (pl_merkle_inclusion_proof (tree, index, size, proof, &len), 0);
        ck_assert_uint_eq (len, want_len);
        if (len)
            ck_assert_mem_eq (proof, want, len * H);
        ck_assert (pl_merkle_verify_inclusion (leaves [index], index, size, want, want_len, root));

        //  The probes transparency-dev runs against each known proof
        uint8_t some [H];
        s_hex ("abacaba000000000000000000000000000000000000000000060061e00123456", some);
        if (index > 0)
            ck_assert (!pl_merkle_verify_inclusion (leaves [index], index - 1, size, want, want_len, root));
        ck_assert (!pl_merkle_verify_inclusion (leaves [index], index + 1, size, want, want_len, root));
        ck_assert (!pl_merkle_verify_inclusion (leaves [index], index ^ 2, size, want, want_len, root));
        ck_assert (!pl_merkle_verify_inclusion (leaves [index], index, size * 2, want, want_len, root));
        ck_assert (!pl_merkle_verify_inclusion (leaves [index], index, size / 2, want, want_len, root));
        ck_assert (!pl_merkle_verify_inclusion (some, index, size, want, want_len, root));
        ck_assert (!pl_merkle_verify_inclusion (leaves [index], index, size, want, want_len, some));
        //  trailing and preceding extra hashes
        uint8_t longer [4 * H];
        memcpy (longer, want, want_len * H);
        memcpy (longer + want_len * H, root, H);
        ck_assert (!pl_merkle_verify_inclusion (leaves [index], index, size, longer, want_len + 1, root));
        memcpy (longer, root, H);
        memcpy (longer + H, want, want_len * H);
        ck_assert (!pl_merkle_verify_inclusion (leaves [index], index, size, longer, want_len + 1, root));
        if (want_len > 0)
            ck_assert (!pl_merkle_verify_inclusion (leaves [index], index, size, want, want_len - 1, root));
    }
    //  Out of range requests are refused
    uint8_t proof [PL_MERKLE_PROOF_MAX * H];
    size_t len = 0;
    ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 8, 8, proof, &len), -1);
    ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 0, 9, proof, &len), -1);
    ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 0, 0, proof, &len), -1);
    pl_merkle_destroy (&tree);
}
END_TEST

START_TEST (test_reference_consistency)
{
    uint8_t leaves [8][H];
    pl_merkle_t *tree = s_reference_tree (leaves);
    for (size_t v = 0; v < sizeof s_consistency_vectors / sizeof s_consistency_vectors [0]; v++) {
        uint64_t size1 = s_consistency_vectors [v].size1;
        uint64_t size2 = s_consistency_vectors [v].size2;
        size_t want_len = s_consistency_vectors [v].len;
        uint8_t want [3 * H], proof [PL_MERKLE_PROOF_MAX * H], root1 [H], root2 [H];
        for (size_t i = 0; i < want_len; i++)
            s_hex (s_consistency_vectors [v].proof [i], want + i * H);
        s_hex (s_roots [size1 - 1], root1);
        s_hex (s_roots [size2 - 1], root2);

        size_t len = 99;
        ck_assert_int_eq (pl_merkle_consistency_proof (tree, size1, size2, proof, &len), 0);
        ck_assert_uint_eq (len, want_len);
        if (len)
            ck_assert_mem_eq (proof, want, len * H);
        ck_assert (pl_merkle_verify_consistency (size1, size2, root1, root2, want, want_len));
        if (want_len == 0)
            continue;
        //  transparency-dev's probes: wrong sizes, swapped roots, no proof
        ck_assert (!pl_merkle_verify_consistency (size1 - 1, size2, root1, root2, want, want_len));
        ck_assert (!pl_merkle_verify_consistency (size1 + 1, size2, root1, root2, want, want_len));
        ck_assert (!pl_merkle_verify_consistency (size1 ^ 2, size2, root1, root2, want, want_len));
        ck_assert (!pl_merkle_verify_consistency (size1, size2 * 2, root1, root2, want, want_len));
        ck_assert (!pl_merkle_verify_consistency (size1, size2 / 2, root1, root2, want, want_len));
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root2, root1, want, want_len));
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root1, root2, want, 0));
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root1, root2, want, want_len - 1));
        uint8_t longer [4 * H];
        memcpy (longer, want, want_len * H);
        memcpy (longer + want_len * H, root2, H);
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root1, root2, longer, want_len + 1));
        memcpy (longer, want, H);
        memcpy (longer + H, want, want_len * H);
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root1, root2, longer, want_len + 1));
    }
    uint8_t proof [PL_MERKLE_PROOF_MAX * H];
    size_t len = 0;
    ck_assert_int_eq (pl_merkle_consistency_proof (tree, 9, 8, proof, &len), -1);
    ck_assert_int_eq (pl_merkle_consistency_proof (tree, 1, 9, proof, &len), -1);
    pl_merkle_destroy (&tree);
}
END_TEST

//  transparency-dev's edge cases for sizes 0 and 1 and equal sizes
START_TEST (test_verifier_edges)
{
    uint8_t a [H], b [H], empty [H], leaf [H];
    memset (a, 1, H);
    memset (b, 2, H);
    pl_merkle_empty_root (empty);
    pl_merkle_leaf_hash ("data", 4, leaf);

    ck_assert (pl_merkle_verify_consistency (0, 0, a, a, NULL, 0));
    ck_assert (!pl_merkle_verify_consistency (0, 0, a, b, NULL, 0));
    ck_assert (pl_merkle_verify_consistency (0, 1, a, b, NULL, 0));
    ck_assert (pl_merkle_verify_consistency (1, 1, b, b, NULL, 0));
    ck_assert (!pl_merkle_verify_consistency (1, 1, a, b, NULL, 0));
    ck_assert (!pl_merkle_verify_consistency (1, 0, a, b, NULL, 0));
    ck_assert (!pl_merkle_verify_consistency (2, 1, a, b, NULL, 0));
    ck_assert (!pl_merkle_verify_consistency (1, 2, a, b, NULL, 0));
    //  equal roots, but a proof where none belongs
    ck_assert (!pl_merkle_verify_consistency (0, 0, empty, empty, empty, 1));
    ck_assert (!pl_merkle_verify_consistency (0, 1, empty, empty, empty, 1));
    ck_assert (!pl_merkle_verify_consistency (1, 1, empty, empty, empty, 1));

    //  a one-leaf tree's root is its leaf, with an empty proof
    ck_assert (pl_merkle_verify_inclusion (leaf, 0, 1, NULL, 0, leaf));
    ck_assert (!pl_merkle_verify_inclusion (leaf, 0, 1, NULL, 0, a));
    ck_assert (!pl_merkle_verify_inclusion (leaf, 0, 0, NULL, 0, leaf));
    ck_assert (!pl_merkle_verify_inclusion (leaf, 1, 1, NULL, 0, leaf));
    ck_assert (!pl_merkle_verify_inclusion (leaf, 2, 1, NULL, 0, leaf));
}
END_TEST

//  Every proof our tree gives equals the RFC's PATH / PROOF, for every leaf,
//  every pair of sizes, every tree up to 40 leaves
START_TEST (test_proofs_equal_rfc_definitions)
{
    const uint64_t max = 40;
    uint8_t *leaves = s_make_leaves (max);
    pl_merkle_t *tree = s_tree_of (leaves, max);
    uint8_t proof [PL_MERKLE_PROOF_MAX * H], want [PL_MERKLE_PROOF_MAX * H];
    uint8_t root [H], ref_root [H];
    for (uint64_t n = 1; n <= max; n++) {
        s_ref_mth (leaves, n, ref_root);
        ck_assert_int_eq (pl_merkle_root_at (tree, n, root), 0);
        ck_assert_mem_eq (root, ref_root, H);
        for (uint64_t m = 0; m < n; m++) {
            size_t len = 0, want_len = 0;
            ck_assert_int_eq (pl_merkle_inclusion_proof (tree, m, n, proof, &len), 0);
            s_ref_path (m, leaves, n, want, &want_len);
            ck_assert_uint_eq (len, want_len);
            ck_assert_mem_eq (proof, want, len * H);
        }
        for (uint64_t m = 1; m < n; m++) {
            size_t len = 0, want_len = 0;
            ck_assert_int_eq (pl_merkle_consistency_proof (tree, m, n, proof, &len), 0);
            s_ref_subproof (m, leaves, n, true, want, &want_len);
            ck_assert_uint_eq (len, want_len);
            ck_assert_mem_eq (proof, want, len * H);
        }
    }
    pl_merkle_destroy (&tree);
    free (leaves);
}
END_TEST

//  Flipping one bit anywhere makes a proof fail
static void
s_check_inclusion_tamper (const uint8_t *leaf, uint64_t index, uint64_t size,
                          uint8_t *proof, size_t len, uint8_t *root)
{
    uint8_t copy [H];
    memcpy (copy, leaf, H);
    for (size_t byte = 0; byte < H; byte++) {
        copy [byte] ^= 0x01;
        ck_assert (!pl_merkle_verify_inclusion (copy, index, size, proof, len, root));
        copy [byte] ^= 0x01;
        root [byte] ^= 0x80;
        ck_assert (!pl_merkle_verify_inclusion (leaf, index, size, proof, len, root));
        root [byte] ^= 0x80;
    }
    for (size_t byte = 0; byte < len * H; byte++) {
        proof [byte] ^= 0x10;
        ck_assert (!pl_merkle_verify_inclusion (leaf, index, size, proof, len, root));
        proof [byte] ^= 0x10;
    }
    ck_assert (pl_merkle_verify_inclusion (leaf, index, size, proof, len, root));
}

static void
s_check_consistency_tamper (uint64_t size1, uint64_t size2, uint8_t *root1, uint8_t *root2,
                            uint8_t *proof, size_t len)
{
    for (size_t byte = 0; byte < H; byte++) {
        root1 [byte] ^= 0x04;
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root1, root2, proof, len));
        root1 [byte] ^= 0x04;
        root2 [byte] ^= 0x04;
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root1, root2, proof, len));
        root2 [byte] ^= 0x04;
    }
    for (size_t byte = 0; byte < len * H; byte++) {
        proof [byte] ^= 0x20;
        ck_assert (!pl_merkle_verify_consistency (size1, size2, root1, root2, proof, len));
        proof [byte] ^= 0x20;
    }
    ck_assert (pl_merkle_verify_consistency (size1, size2, root1, root2, proof, len));
}

//  Random trees up to 300 leaves: every proof verifies, every bit flip in a
//  sample of them fails. Fixed seed, so a failure reproduces.
START_TEST (test_random_sizes_prove_and_tamper)
{
    uint8_t seed [randombytes_SEEDBYTES] = { 'p', 'l', '-', 'm', 'e', 'r', 'k', 'l', 'e' };
    uint32_t sizes [6];
    randombytes_buf_deterministic (sizes, sizeof sizes, seed);
    const uint64_t max = 300;
    uint8_t *leaves = s_make_leaves (max);
    pl_merkle_t *tree = s_tree_of (leaves, max);
    uint8_t proof [PL_MERKLE_PROOF_MAX * H], root [H], old_root [H];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes [0]; s++) {
        uint64_t n = 1 + sizes [s] % max;
        ck_assert_int_eq (pl_merkle_root_at (tree, n, root), 0);
        for (uint64_t i = 0; i < n; i++) {
            size_t len = 0;
            ck_assert_int_eq (pl_merkle_inclusion_proof (tree, i, n, proof, &len), 0);
            ck_assert (pl_merkle_verify_inclusion (leaves + i * H, i, n, proof, len, root));
            //  the proof is for this leaf at this index only
            if (n > 1) {
                uint64_t other = (i + 1) % n;
                ck_assert (!pl_merkle_verify_inclusion (leaves + other * H, i, n, proof, len, root));
                ck_assert (!pl_merkle_verify_inclusion (leaves + i * H, other, n, proof, len, root));
            }
            if (i % 17 == 0 || i == n - 1)
                s_check_inclusion_tamper (leaves + i * H, i, n, proof, len, root);
        }
        for (uint64_t m = 1; m <= n; m++) {
            size_t len = 0;
            ck_assert_int_eq (pl_merkle_root_at (tree, m, old_root), 0);
            ck_assert_int_eq (pl_merkle_consistency_proof (tree, m, n, proof, &len), 0);
            ck_assert (pl_merkle_verify_consistency (m, n, old_root, root, proof, len));
            if (m < n && (m % 13 == 0 || m == n - 1 || (m & (m - 1)) == 0))
                s_check_consistency_tamper (m, n, old_root, root, proof, len);
        }
    }
    pl_merkle_destroy (&tree);
    free (leaves);
}
END_TEST

//  A history rewritten at any one leaf has no consistency proof: the proof
//  of the honest log does not link the forged old root to the new one
START_TEST (test_rewritten_history_is_caught)
{
    const uint64_t n = 100;
    uint8_t *leaves = s_make_leaves (n);
    pl_merkle_t *honest = s_tree_of (leaves, n);
    uint8_t root [H], proof [PL_MERKLE_PROOF_MAX * H];
    pl_merkle_root (honest, root);
    for (uint64_t m = 1; m < n; m += 7) {
        for (uint64_t forged = 0; forged < m; forged += 5) {
            leaves [forged * H] ^= 1;
            uint8_t forged_root [H];
            pl_merkle_root_from_leaves (leaves, m, forged_root);
            leaves [forged * H] ^= 1;
            size_t len = 0;
            ck_assert_int_eq (pl_merkle_consistency_proof (honest, m, n, proof, &len), 0);
            ck_assert (!pl_merkle_verify_consistency (m, n, forged_root, root, proof, len));
        }
    }
    pl_merkle_destroy (&honest);
    free (leaves);
}
END_TEST

START_TEST (test_reopen_does_not_rehash)
{
    const uint64_t n = 1000;        //  popcount 6
    uint8_t *leaves = s_make_leaves (n);
    counting_t store = { pl_merkle_mem_new (), 0, 0, -1 };
    pl_merkle_t *tree = pl_merkle_new (&s_counting_storage, &store, 0);
    ck_assert_ptr_nonnull (tree);
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq (pl_merkle_append (tree, leaves + i * H, NULL), 0);
    //  Appends write each leaf and each subtree completed, nothing twice,
    //  and read nothing: 2n - popcount(n) nodes
    ck_assert_uint_eq (store.puts, 2 * n - 6);
    ck_assert_uint_eq (store.gets, 0);
    uint8_t root [H], reopened_root [H], want [H];
    pl_merkle_root (tree, root);
    pl_merkle_root_from_leaves (leaves, n, want);
    ck_assert_mem_eq (root, want, H);
    pl_merkle_destroy (&tree);

    //  Reopen: one read per frontier node, no writes
    store.gets = store.puts = 0;
    tree = pl_merkle_new (&s_counting_storage, &store, n);
    ck_assert_ptr_nonnull (tree);
    ck_assert_uint_eq (store.gets, 6);
    ck_assert_uint_eq (store.puts, 0);
    ck_assert_uint_eq (pl_merkle_size (tree), n);
    pl_merkle_root (tree, reopened_root);
    ck_assert_mem_eq (reopened_root, want, H);
    ck_assert_uint_eq (store.gets, 6);

    //  Proofs from the reopened tree: O(log n) reads, and they verify
    uint8_t proof [PL_MERKLE_PROOF_MAX * H];
    size_t len = 0;
    store.gets = 0;
    ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 777, n, proof, &len), 0);
    ck_assert_uint_le (store.gets, 10);
    ck_assert (pl_merkle_verify_inclusion (leaves + 777 * H, 777, n, proof, len, want));
    uint8_t old_root [H];
    ck_assert_int_eq (pl_merkle_root_at (tree, 333, old_root), 0);
    store.gets = 0;
    ck_assert_int_eq (pl_merkle_consistency_proof (tree, 333, n, proof, &len), 0);
    ck_assert_uint_le (store.gets, 2 * 10);
    ck_assert (pl_merkle_verify_consistency (333, n, old_root, want, proof, len));

    //  And it keeps growing like one that never closed
    ck_assert_int_eq (pl_merkle_append_data (tree, "next", 4, NULL), 0);
    pl_merkle_t *memory = s_tree_of (leaves, n);
    ck_assert_int_eq (pl_merkle_append_data (memory, "next", 4, NULL), 0);
    pl_merkle_root (tree, root);
    pl_merkle_root (memory, want);
    ck_assert_mem_eq (root, want, H);
    pl_merkle_destroy (&memory);
    pl_merkle_destroy (&tree);

    //  A size the store does not have cannot be opened
    ck_assert_ptr_null (pl_merkle_new (&s_counting_storage, &store, 4096));
    pl_merkle_mem_destroy (&store.mem);
    ck_assert_ptr_null (store.mem);
    free (leaves);
}
END_TEST

//  Reads are O(log n) for big trees too, far from any frontier
START_TEST (test_proof_reads_are_logarithmic)
{
    const uint64_t n = 100000;      //  17 levels
    counting_t store = { pl_merkle_mem_new (), 0, 0, -1 };
    pl_merkle_t *tree = pl_merkle_new (&s_counting_storage, &store, 0);
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq (pl_merkle_append_data (tree, &i, sizeof i, NULL), 0);
    uint8_t proof [PL_MERKLE_PROOF_MAX * H], root [H];
    const uint64_t sizes [] = { 65535, 65537, 99999, 77777 };
    for (size_t s = 0; s < 4; s++) {
        size_t len = 0;
        store.gets = 0;
        ck_assert_int_eq (pl_merkle_root_at (tree, sizes [s], root), 0);
        ck_assert_uint_le (store.gets, 17);
        store.gets = 0;
        ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 12345, sizes [s], proof, &len), 0);
        ck_assert_uint_le (store.gets, 2 * 17);
        store.gets = 0;
        ck_assert_int_eq (pl_merkle_consistency_proof (tree, 4321, sizes [s], proof, &len), 0);
        ck_assert_uint_le (store.gets, 2 * 17 + 1);
        uint8_t old_root [H];
        ck_assert_int_eq (pl_merkle_root_at (tree, 4321, old_root), 0);
        ck_assert (pl_merkle_verify_consistency (4321, sizes [s], old_root, root, proof, len));
    }
    pl_merkle_destroy (&tree);
    pl_merkle_mem_destroy (&store.mem);
}
END_TEST

START_TEST (test_failed_put_leaves_tree_unchanged)
{
    counting_t store = { pl_merkle_mem_new (), 0, 0, -1 };
    pl_merkle_t *tree = pl_merkle_new (&s_counting_storage, &store, 0);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq (pl_merkle_append_data (tree, &i, sizeof i, NULL), 0);
    uint8_t before [H], after [H];
    pl_merkle_root (tree, before);
    //  Leaf 7 completes subtrees at levels 1, 2 and 3: fail the third put
    store.fail_put_after = 2;
    int eight = 7;
    ck_assert_int_eq (pl_merkle_append_data (tree, &eight, sizeof eight, NULL), -1);
    ck_assert_uint_eq (pl_merkle_size (tree), 7);
    pl_merkle_root (tree, after);
    ck_assert_mem_eq (before, after, H);
    //  Retried, it overwrites what was half written and comes out right
    store.fail_put_after = -1;
    uint64_t index = 0;
    ck_assert_int_eq (pl_merkle_append_data (tree, &eight, sizeof eight, &index), 0);
    ck_assert_uint_eq (index, 7);
    pl_merkle_t *clean = pl_merkle_new_in_memory ();
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq (pl_merkle_append_data (clean, &i, sizeof i, NULL), 0);
    pl_merkle_root (tree, after);
    pl_merkle_root (clean, before);
    ck_assert_mem_eq (before, after, H);
    pl_merkle_destroy (&clean);
    pl_merkle_destroy (&tree);
    pl_merkle_mem_destroy (&store.mem);
}
END_TEST

START_TEST (test_frontier_only_tree)
{
    const uint64_t n = 1235;       //  odd: the last leaf is on the right edge
    uint8_t *leaves = s_make_leaves (n);
    pl_merkle_t *tree = pl_merkle_new (NULL, NULL, 0);
    ck_assert_ptr_nonnull (tree);
    uint8_t root [H], want [H], proof [PL_MERKLE_PROOF_MAX * H];
    pl_merkle_root (tree, root);
    pl_merkle_empty_root (want);
    ck_assert_mem_eq (root, want, H);
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq (pl_merkle_append (tree, leaves + i * H, NULL), 0);
    pl_merkle_root (tree, root);
    s_ref_mth (leaves, n, want);
    ck_assert_mem_eq (root, want, H);
    //  It kept no nodes, so it has no proofs, but knows its right edge
    size_t len = 0;
    ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 0, n, proof, &len), -1);
    ck_assert_int_eq (pl_merkle_leaf_hash_at (tree, n - 1, root), 0);
    ck_assert_mem_eq (root, leaves + (n - 1) * H, H);
    pl_merkle_destroy (&tree);
    //  It cannot open an existing size: it has nowhere to read from
    ck_assert_ptr_null (pl_merkle_new (NULL, NULL, 5));
    ck_assert_ptr_null (pl_merkle_new (pl_merkle_mem_storage (), NULL, PL_MERKLE_SIZE_MAX + 1));
    free (leaves);
}
END_TEST

START_TEST (test_mem_storage_refuses_gaps)
{
    pl_merkle_mem_t *mem = pl_merkle_mem_new ();
    const pl_merkle_storage_t *storage = pl_merkle_mem_storage ();
    uint8_t hash [H] = { 1 }, got [H];
    ck_assert_int_eq (storage->put (mem, 0, 1, hash), -1);
    ck_assert_int_eq (storage->put (mem, 0, 0, hash), 0);
    ck_assert_int_eq (storage->get (mem, 0, 0, got), 0);
    ck_assert_mem_eq (got, hash, H);
    ck_assert_int_eq (storage->get (mem, 0, 1, got), -1);
    ck_assert_int_eq (storage->get (mem, 1, 0, got), -1);
    ck_assert_int_eq (storage->put (mem, 64, 0, hash), -1);
    pl_merkle_mem_destroy (&mem);
    ck_assert_ptr_null (mem);
    pl_merkle_mem_destroy (&mem);       //  twice is harmless
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pl_merkle");
    TCase *vectors = tcase_create ("vectors");
    tcase_add_test (vectors, test_hash_prefixes);
    tcase_add_test (vectors, test_reference_roots);
    tcase_add_test (vectors, test_reference_inclusion);
    tcase_add_test (vectors, test_reference_consistency);
    tcase_add_test (vectors, test_verifier_edges);
    suite_add_tcase (suite, vectors);

    //  Heavier: generous timeouts so valgrind runs pass too
    TCase *properties = tcase_create ("properties");
    tcase_set_timeout (properties, 300);
    tcase_add_test (properties, test_proofs_equal_rfc_definitions);
    tcase_add_test (properties, test_random_sizes_prove_and_tamper);
    tcase_add_test (properties, test_rewritten_history_is_caught);
    suite_add_tcase (suite, properties);

    TCase *storage = tcase_create ("storage");
    tcase_set_timeout (storage, 300);
    tcase_add_test (storage, test_reopen_does_not_rehash);
    tcase_add_test (storage, test_proof_reads_are_logarithmic);
    tcase_add_test (storage, test_failed_put_leaves_tree_unchanged);
    tcase_add_test (storage, test_frontier_only_tree);
    tcase_add_test (storage, test_mem_storage_refuses_gaps);
    suite_add_tcase (suite, storage);
    return suite;
}

PL_TEST_MAIN
