/*  pl_merkle: the sharing log's RFC 6962 / RFC 9162 Merkle tree.
 *
 *  Every sharing decision the broker makes is one leaf of an append-only
 *  Merkle tree; signed checkpoints (pl_checkpoint) publish its root. This
 *  module is shared by the broker (which appends and serves proofs), the
 *  agents (which only verify) and the auditor (which recomputes from scratch).
 *
 *      leaf hash  = SHA-256 (0x00 || entry bytes)
 *      node hash  = SHA-256 (0x01 || left || right)
 *      empty tree = SHA-256 ("")
 *
 *  Storage. The tree never holds more than its right edge (the "frontier":
 *  one hash per set bit of the size) in memory. Every other hash lives in a
 *  pluggable node store, so the broker can keep them in LMDB. A node is
 *  named (level, index): the root of the complete subtree over the leaves
 *  [index * 2^level, (index + 1) * 2^level). Only complete subtrees are ever
 *  stored, so a stored node never changes once written. Appending writes the
 *  leaf (level 0) and every subtree the leaf completes: two puts per append
 *  on average. Opening a tree of size n reads popcount(n) nodes and hashes
 *  nothing. Roots of any past size and all proofs cost O(log n) reads.
 *
 *  The store owner must persist the tree size itself, in the same
 *  transaction as the puts of the appends it counts (an LMDB meta key), and
 *  pass it to pl_merkle_new on start.
 *
 *  Proofs are flat arrays of PL_MERKLE_HASH_SIZE-byte hashes, in the order
 *  RFC 9162 defines, so they travel as a single bytes field.  */
#ifndef PL_MERKLE_H_INCLUDED
#define PL_MERKLE_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define PL_MERKLE_HASH_SIZE  32
//  Longest proof for any tree size we accept (inclusion <= 62 hashes,
//  consistency <= 63); size proof buffers with it.
#define PL_MERKLE_PROOF_MAX  64
//  Largest tree size: keeps every (index + 1) << level inside 64 bits.
#define PL_MERKLE_SIZE_MAX   ((uint64_t) 1 << 62)

//  --------------------------------------------------------------------------
//  Hashing and stateless verification: what agents and third parties use.

//  SHA-256 (0x00 || data).
void pl_merkle_leaf_hash (const void *data, size_t size, uint8_t *out);

//  SHA-256 (0x01 || left || right).
void pl_merkle_node_hash (const uint8_t *left, const uint8_t *right, uint8_t *out);

//  The root of the empty tree, SHA-256 of nothing.
void pl_merkle_empty_root (uint8_t *out);

//  True when proof (proof_len hashes) proves that leaf_hash is leaf number
//  index of the tree of this size whose root is root. RFC 9162 2.1.3.2.
bool pl_merkle_verify_inclusion (const uint8_t *leaf_hash, uint64_t index, uint64_t size,
                                 const uint8_t *proof, size_t proof_len,
                                 const uint8_t *root);

//  The root that proof (proof_len hashes) leads to from leaf_hash as leaf
//  number index of a tree of this size, into root. -1 when the proof has
//  not the length that path needs. What a signed root is checked with.
int pl_merkle_root_from_proof (const uint8_t *leaf_hash, uint64_t index, uint64_t size,
                               const uint8_t *proof, size_t proof_len, uint8_t *root);

//  True when proof shows that the tree of size1 with root1 is a prefix of
//  the tree of size2 with root2. RFC 9162 2.1.4.2; as in transparency-dev,
//  equal sizes need equal roots and an empty proof, and size1 0 (the empty
//  tree is a prefix of every tree) needs an empty proof.
bool pl_merkle_verify_consistency (uint64_t size1, uint64_t size2,
                                   const uint8_t *root1, const uint8_t *root2,
                                   const uint8_t *proof, size_t proof_len);

//  The root of the tree over count leaf hashes (count * 32 bytes), without
//  storing anything: the auditor's full recompute. O(log n) memory.
void pl_merkle_root_from_leaves (const uint8_t *leaf_hashes, uint64_t count, uint8_t *root);

//  --------------------------------------------------------------------------
//  Node storage.

//  Both return 0 on success, -1 on failure; get fails for a node never put.
//  put may be asked to overwrite a node with the same hash again (an append
//  retried after a failed put); it must accept that.
typedef struct {
    int (*get) (void *ctx, unsigned level, uint64_t index, uint8_t *hash);
    int (*put) (void *ctx, unsigned level, uint64_t index, const uint8_t *hash);
} pl_merkle_storage_t;

//  The built-in in-memory store: one growing array per level. For tests,
//  agents and tools; the broker plugs in LMDB instead.
typedef struct _pl_merkle_mem_t pl_merkle_mem_t;

pl_merkle_mem_t *pl_merkle_mem_new (void);
void pl_merkle_mem_destroy (pl_merkle_mem_t **self_p);
//  Its vtable; the context to pass with it is the pl_merkle_mem_t itself.
const pl_merkle_storage_t *pl_merkle_mem_storage (void);

//  --------------------------------------------------------------------------
//  The tree.

typedef struct _pl_merkle_t pl_merkle_t;

//  Open the tree of this size kept in storage (ctx is passed to its calls);
//  size 0 starts an empty one. Reads the popcount(size) frontier nodes and
//  nothing else. NULL if one cannot be read or size is too large.
//  With storage NULL the tree keeps its frontier only (size must be 0): it
//  can append and give its current root, no proofs; a streaming auditor.
pl_merkle_t *pl_merkle_new (const pl_merkle_storage_t *storage, void *ctx, uint64_t size);

//  A tree with its own in-memory store, destroyed with it.
pl_merkle_t *pl_merkle_new_in_memory (void);

void pl_merkle_destroy (pl_merkle_t **self_p);

uint64_t pl_merkle_size (pl_merkle_t *self);

//  Append a leaf by its hash (or by its entry bytes); index_p, if not NULL,
//  receives its leaf index. 0 or -1 (a put failed: the tree is unchanged).
int pl_merkle_append (pl_merkle_t *self, const uint8_t *leaf_hash, uint64_t *index_p);
int pl_merkle_append_data (pl_merkle_t *self, const void *data, size_t size,
                           uint64_t *index_p);

//  Root of the current tree: no storage reads.
void pl_merkle_root (pl_merkle_t *self, uint8_t *root);

//  Root of the tree as it was at size (<= current size). 0 or -1.
int pl_merkle_root_at (pl_merkle_t *self, uint64_t size, uint8_t *root);

//  Hash of leaf index. 0 or -1.
int pl_merkle_leaf_hash_at (pl_merkle_t *self, uint64_t index, uint8_t *hash);

//  Inclusion proof of leaf index in the tree of size (index < size <= current
//  size) into proof (room for PL_MERKLE_PROOF_MAX hashes); *proof_len gets
//  the number of hashes. 0 or -1.
int pl_merkle_inclusion_proof (pl_merkle_t *self, uint64_t index, uint64_t size,
                               uint8_t *proof, size_t *proof_len);

//  Consistency proof from size1 to size2 (size1 <= size2 <= current size),
//  same conventions. Empty when size1 is 0 or equals size2.
int pl_merkle_consistency_proof (pl_merkle_t *self, uint64_t size1, uint64_t size2,
                                 uint8_t *proof, size_t *proof_len);

#endif
