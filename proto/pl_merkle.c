/*  pl_merkle: the sharing log's RFC 6962 Merkle tree (see pl_merkle.h).
 *
 *  Proof generation walks node ids rather than recursing over leaf ranges
 *  (RFC 9162's PATH and SUBPROOF): the two give the same hashes, and walking
 *  up from a node reads each level once, so a proof costs O(log n) reads.
 *  The one node on a path that is not a complete subtree (the right edge of
 *  a smaller tree, "ephemeral" in transparency-dev's words) is rebuilt from
 *  the complete subtrees it is made of.  */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "pl_hash.h"
#include "pl_merkle.h"

#define HASH_SIZE   PL_MERKLE_HASH_SIZE
#define LEVELS      64

//  --------------------------------------------------------------------------
//  Hashing

void
pl_merkle_leaf_hash (const void *data, size_t size, uint8_t *out)
{
    static const uint8_t prefix = 0x00;
    pl_sha256_t state;
    pl_sha256_init (&state);
    pl_sha256_update (&state, &prefix, 1);
    pl_sha256_update (&state, data, size);
    pl_sha256_final (&state, out);
}

void
pl_merkle_node_hash (const uint8_t *left, const uint8_t *right, uint8_t *out)
{
    //  One contiguous buffer and one call: faster than three updates, and
    //  safe when out aliases left or right
    uint8_t buffer [1 + 2 * HASH_SIZE];
    buffer [0] = 0x01;
    memcpy (buffer + 1, left, HASH_SIZE);
    memcpy (buffer + 1 + HASH_SIZE, right, HASH_SIZE);
    pl_sha256 (out, buffer, sizeof buffer);
}

void
pl_merkle_empty_root (uint8_t *out)
{
    pl_sha256 (out, NULL, 0);
}

static bool
s_hash_equal (const uint8_t *a, const uint8_t *b)
{
    return sodium_memcmp (a, b, HASH_SIZE) == 0;
}

//  --------------------------------------------------------------------------
//  Stateless verifiers, step by step as RFC 9162 writes them

int
pl_merkle_root_from_proof (const uint8_t *leaf_hash, uint64_t index, uint64_t size,
                           const uint8_t *proof, size_t proof_len, uint8_t *root)
{
    if (!leaf_hash || !root || (proof_len && !proof) || index >= size)
        return -1;
    uint64_t fn = index, sn = size - 1;
    uint8_t r [HASH_SIZE];
    memcpy (r, leaf_hash, HASH_SIZE);
    for (size_t i = 0; i < proof_len; i++) {
        const uint8_t *p = proof + i * HASH_SIZE;
        if (sn == 0)
            return -1;              //  proof longer than the path
        if ((fn & 1) || fn == sn) {
            pl_merkle_node_hash (p, r, r);
            //  A right-edge node with no sibling at these levels moves up
            //  without hashing
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        }
        else
            pl_merkle_node_hash (r, p, r);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return -1;                  //  proof shorter than the path
    memcpy (root, r, HASH_SIZE);
    return 0;
}

bool
pl_merkle_verify_inclusion (const uint8_t *leaf_hash, uint64_t index, uint64_t size,
                            const uint8_t *proof, size_t proof_len, const uint8_t *root)
{
    uint8_t computed [HASH_SIZE];
    return root
        && pl_merkle_root_from_proof (leaf_hash, index, size, proof, proof_len, computed) == 0
        && s_hash_equal (computed, root);
}

bool
pl_merkle_verify_consistency (uint64_t size1, uint64_t size2,
                              const uint8_t *root1, const uint8_t *root2,
                              const uint8_t *proof, size_t proof_len)
{
    if (!root1 || !root2 || (proof_len && !proof) || size1 > size2)
        return false;
    if (size1 == size2)
        return proof_len == 0 && s_hash_equal (root1, root2);
    if (size1 == 0)
        return proof_len == 0;
    if (proof_len == 0)
        return false;

    //  When size1 is a power of two its root is a node of the new tree and
    //  the proof leaves it out: put it back in front
    bool prepend = (size1 & (size1 - 1)) == 0;
    size_t total = proof_len + (prepend? 1: 0);
    uint64_t fn = size1 - 1, sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr [HASH_SIZE], sr [HASH_SIZE];
    memcpy (fr, prepend? root1: proof, HASH_SIZE);
    memcpy (sr, fr, HASH_SIZE);
    for (size_t i = 1; i < total; i++) {
        const uint8_t *c = proof + (prepend? i - 1: i) * HASH_SIZE;
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            pl_merkle_node_hash (c, fr, fr);
            pl_merkle_node_hash (c, sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        }
        else
            pl_merkle_node_hash (sr, c, sr);
        fn >>= 1;
        sn >>= 1;
    }
    //  Both comparisons always run: no early exit on which root differs
    bool first_ok = s_hash_equal (fr, root1);
    bool second_ok = s_hash_equal (sr, root2);
    return sn == 0 && first_ok && second_ok;
}

//  --------------------------------------------------------------------------
//  Frontier: the roots of the complete subtrees a size decomposes into,
//  one per set bit. Shared by the tree and the full recompute.

//  Fold a frontier into the root: right to left, smallest subtree first.
static void
s_frontier_root (uint8_t frontier [][HASH_SIZE], uint64_t size, uint8_t *root)
{
    if (size == 0) {
        pl_merkle_empty_root (root);
        return;
    }
    bool first = true;
    for (unsigned level = 0; level < LEVELS; level++)
        if ((size >> level) & 1) {
            if (first)
                memcpy (root, frontier [level], HASH_SIZE);
            else
                pl_merkle_node_hash (frontier [level], root, root);
            first = false;
        }
}

//  Add leaf number size to the frontier of size; returns the level of the
//  subtree the leaf completed. made, if not NULL, receives the leaf and each
//  node the leaf completed, by level: what the store needs.
static unsigned
s_frontier_push (uint8_t frontier [][HASH_SIZE], uint64_t size, const uint8_t *leaf,
                 uint8_t made [][HASH_SIZE])
{
    unsigned level = 0;
    const uint8_t *current = leaf;
    if (made)
        memcpy (made [0], leaf, HASH_SIZE);
    uint8_t scratch [HASH_SIZE];
    while ((size >> level) & 1) {
        uint8_t *into = made? made [level + 1]: scratch;
        pl_merkle_node_hash (frontier [level], current, into);
        current = into;
        level++;
    }
    memcpy (frontier [level], current, HASH_SIZE);
    return level;
}

void
pl_merkle_root_from_leaves (const uint8_t *leaf_hashes, uint64_t count, uint8_t *root)
{
    uint8_t frontier [LEVELS][HASH_SIZE];
    for (uint64_t i = 0; i < count; i++)
        s_frontier_push (frontier, i, leaf_hashes + i * HASH_SIZE, NULL);
    s_frontier_root (frontier, count, root);
}

//  --------------------------------------------------------------------------
//  Built-in in-memory store

struct _pl_merkle_mem_t {
    uint8_t (*nodes [LEVELS])[HASH_SIZE];
    uint64_t count [LEVELS];
    uint64_t capacity [LEVELS];
};

pl_merkle_mem_t *
pl_merkle_mem_new (void)
{
    return calloc (1, sizeof (pl_merkle_mem_t));
}

void
pl_merkle_mem_destroy (pl_merkle_mem_t **self_p)
{
    if (self_p && *self_p) {
        for (unsigned level = 0; level < LEVELS; level++)
            free ((*self_p)->nodes [level]);
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_mem_get (void *ctx, unsigned level, uint64_t index, uint8_t *hash)
{
    pl_merkle_mem_t *self = ctx;
    if (level >= LEVELS || index >= self->count [level])
        return -1;
    memcpy (hash, self->nodes [level][index], HASH_SIZE);
    return 0;
}

//  Nodes of one level arrive in index order; a gap would mean a bug in the
//  caller, so it is refused rather than filled with zeros.
static int
s_mem_put (void *ctx, unsigned level, uint64_t index, const uint8_t *hash)
{
    pl_merkle_mem_t *self = ctx;
    if (level >= LEVELS || index > self->count [level])
        return -1;
    if (index == self->capacity [level]) {
        uint64_t capacity = self->capacity [level]? self->capacity [level] * 2: 64;
        if (capacity > SIZE_MAX / HASH_SIZE)
            return -1;
        void *nodes = realloc (self->nodes [level], (size_t) capacity * HASH_SIZE);
        if (!nodes)
            return -1;
        self->nodes [level] = nodes;
        self->capacity [level] = capacity;
    }
    memcpy (self->nodes [level][index], hash, HASH_SIZE);
    if (index == self->count [level])
        self->count [level]++;
    return 0;
}

const pl_merkle_storage_t *
pl_merkle_mem_storage (void)
{
    static const pl_merkle_storage_t storage = { s_mem_get, s_mem_put };
    return &storage;
}

//  --------------------------------------------------------------------------
//  The tree

struct _pl_merkle_t {
    const pl_merkle_storage_t *storage;
    void *ctx;
    pl_merkle_mem_t *own_mem;       //  set when we made the store ourselves
    uint64_t size;
    //  frontier [level] is valid when bit level of size is set: the node
    //  (level, (size >> level) - 1)
    uint8_t frontier [LEVELS][HASH_SIZE];
};

pl_merkle_t *
pl_merkle_new (const pl_merkle_storage_t *storage, void *ctx, uint64_t size)
{
    if (sodium_init () < 0 || size > PL_MERKLE_SIZE_MAX
    || (!storage && size > 0) || (storage && (!storage->get || !storage->put)))
        return NULL;
    pl_merkle_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->storage = storage;
    self->ctx = ctx;
    self->size = size;
    for (unsigned level = 0; level < LEVELS; level++)
        if (((size >> level) & 1)
        &&  storage->get (ctx, level, (size >> level) - 1, self->frontier [level]) != 0) {
            free (self);
            return NULL;
        }
    return self;
}

pl_merkle_t *
pl_merkle_new_in_memory (void)
{
    pl_merkle_mem_t *mem = pl_merkle_mem_new ();
    pl_merkle_t *self = mem? pl_merkle_new (pl_merkle_mem_storage (), mem, 0): NULL;
    if (!self) {
        pl_merkle_mem_destroy (&mem);
        return NULL;
    }
    self->own_mem = mem;
    return self;
}

void
pl_merkle_destroy (pl_merkle_t **self_p)
{
    if (self_p && *self_p) {
        pl_merkle_mem_destroy (&(*self_p)->own_mem);
        free (*self_p);
        *self_p = NULL;
    }
}

uint64_t
pl_merkle_size (pl_merkle_t *self)
{
    return self->size;
}

int
pl_merkle_append (pl_merkle_t *self, const uint8_t *leaf_hash, uint64_t *index_p)
{
    if (self->size >= PL_MERKLE_SIZE_MAX)
        return -1;
    //  The push writes only frontier [top], a slot the current size leaves
    //  unused (its bit is clear), so a failed put leaves the tree as it was
    uint8_t made [LEVELS][HASH_SIZE];
    unsigned top = s_frontier_push (self->frontier, self->size, leaf_hash, made);
    if (self->storage)
        for (unsigned level = 0; level <= top; level++)
            if (self->storage->put (self->ctx, level, self->size >> level, made [level]) != 0)
                return -1;
    if (index_p)
        *index_p = self->size;
    self->size++;
    return 0;
}

int
pl_merkle_append_data (pl_merkle_t *self, const void *data, size_t size, uint64_t *index_p)
{
    uint8_t leaf [HASH_SIZE];
    pl_merkle_leaf_hash (data, size, leaf);
    return pl_merkle_append (self, leaf, index_p);
}

void
pl_merkle_root (pl_merkle_t *self, uint8_t *root)
{
    s_frontier_root (self->frontier, self->size, root);
}

//  The complete-subtree node (level, index): from the frontier when it is
//  one of the current right edge, else from storage.
static int
s_node (pl_merkle_t *self, unsigned level, uint64_t index, uint8_t *hash)
{
    if (((self->size >> level) & 1) && index == (self->size >> level) - 1) {
        memcpy (hash, self->frontier [level], HASH_SIZE);
        return 0;
    }
    if (!self->storage)
        return -1;
    return self->storage->get (self->ctx, level, index, hash);
}

//  MTH of leaves [begin, end) where begin is a multiple of a power of two
//  larger than end - begin: the complete subtrees it splits into, folded
//  right to left. popcount (end - begin) reads at most.
static int
s_range_hash (pl_merkle_t *self, uint64_t begin, uint64_t end, uint8_t *hash)
{
    uint64_t count = end - begin, position = end;
    bool first = true;
    for (unsigned level = 0; level < LEVELS; level++)
        if ((count >> level) & 1) {
            position -= (uint64_t) 1 << level;
            uint8_t node [HASH_SIZE];
            if (s_node (self, level, position >> level, node) != 0)
                return -1;
            if (first)
                memcpy (hash, node, HASH_SIZE);
            else
                pl_merkle_node_hash (node, hash, hash);
            first = false;
        }
    return 0;
}

int
pl_merkle_root_at (pl_merkle_t *self, uint64_t size, uint8_t *root)
{
    if (size > self->size)
        return -1;
    if (size == 0) {
        pl_merkle_empty_root (root);
        return 0;
    }
    return s_range_hash (self, 0, size, root);
}

int
pl_merkle_leaf_hash_at (pl_merkle_t *self, uint64_t index, uint8_t *hash)
{
    return index < self->size? s_node (self, 0, index, hash): -1;
}

//  Append to proof the path from node (level, index) up to the root of the
//  tree of size: at each level, the sibling if it holds any leaf below size,
//  rebuilt from its parts if it is cut by size.
static int
s_path (pl_merkle_t *self, unsigned level, uint64_t index, uint64_t size,
        uint8_t *proof, size_t *proof_len)
{
    while (((size - 1) >> level) != 0) {
        uint64_t sibling = index ^ 1;
        uint64_t begin = sibling << level;
        if (begin < size) {
            if (*proof_len >= PL_MERKLE_PROOF_MAX)
                return -1;
            uint8_t *into = proof + *proof_len * HASH_SIZE;
            uint64_t end = (sibling + 1) << level;
            int rc = end <= size? s_node (self, level, sibling, into)
                                : s_range_hash (self, begin, size, into);
            if (rc != 0)
                return -1;
            (*proof_len)++;
        }
        index >>= 1;
        level++;
    }
    return 0;
}

int
pl_merkle_inclusion_proof (pl_merkle_t *self, uint64_t index, uint64_t size,
                           uint8_t *proof, size_t *proof_len)
{
    *proof_len = 0;
    if (index >= size || size > self->size)
        return -1;
    return s_path (self, 0, index, size, proof, proof_len);
}

int
pl_merkle_consistency_proof (pl_merkle_t *self, uint64_t size1, uint64_t size2,
                             uint8_t *proof, size_t *proof_len)
{
    *proof_len = 0;
    if (size1 > size2 || size2 > self->size)
        return -1;
    if (size1 == 0 || size1 == size2)
        return 0;
    //  The old tree's last complete subtree is a node of the new tree; the
    //  proof is that node (left out when it is the whole old tree, which
    //  the verifier has) followed by its path in the new tree
    unsigned level = 0;
    while (!((size1 >> level) & 1))
        level++;
    uint64_t index = (size1 - 1) >> level;
    if (index != 0) {
        if (s_node (self, level, index, proof) != 0)
            return -1;
        *proof_len = 1;
    }
    int rc = s_path (self, level, index, size2, proof, proof_len);
    if (rc != 0)
        *proof_len = 0;
    return rc;
}
