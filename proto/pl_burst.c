/*  pl_burst: one publisher signature over a burst of events (pl_burst.h).
 *
 *  Signing needs the headers only, so the envelopes are unpacked, given the
 *  burst's signature and each its proof, and packed again; the header bytes
 *  themselves are never touched (they are what each leaf hashes). The
 *  remembered bursts are digests of everything a signature check looks at,
 *  so a hit means exactly that check already passed.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sodium.h>
#include "pl_burst.h"
#include "pl_bytes.h"
#include "pl_merkle.h"

static const char s_tag [] = "passerelle-publish-burst-v1";
#define SIGNED_MAX  (sizeof s_tag - 1 + PL_HASH_SIZE + 4 + PL_ID_MAX)

static pl_err_t
s_bad (pl_err_t err, char *why, size_t why_size, const char *format, ...)
{
    if (why && why_size) {
        va_list args;
        va_start (args, format);
        vsnprintf (why, why_size, format, args);
        va_end (args);
    }
    return err;
}

//  The bytes the publisher signs, into out (SIGNED_MAX); their length
static size_t
s_signed_bytes (const uint8_t *root, uint32_t count, const char *publisher, uint8_t *out)
{
    size_t used = 0, id_len = strnlen (publisher, PL_ID_MAX);
    memcpy (out, s_tag, sizeof s_tag - 1);
    used += sizeof s_tag - 1;
    memcpy (out + used, root, PL_HASH_SIZE);
    used += PL_HASH_SIZE;
    pl_put_be32 (out + used, count);
    used += 4;
    //  Last, being the one field of variable length
    memcpy (out + used, publisher, id_len);
    return used + id_len;
}

//  --------------------------------------------------------------------------
//  Signing

//  Unpack envelope i and check it is ours; NULL with why on failure.
static Passerelle__Envelope *
s_unpack_own (const uint8_t *bytes, size_t size, size_t i, const char *publisher,
              pl_err_t *err, char *why, size_t why_size)
{
    Passerelle__Envelope *wire = passerelle__envelope__unpack (NULL, size, bytes);
    Passerelle__EventHeader *header = wire? passerelle__event_header__unpack (
        NULL, wire->header.len, wire->header.data): NULL;
    if (!header) {
        *err = s_bad (PL_ERR_MALFORMED, why, why_size, "burst envelope %zu does not decode", i);
        passerelle__envelope__free_unpacked (wire, NULL);
        return NULL;
    }
    bool ours = header->publisher && strcmp (header->publisher, publisher) == 0;
    passerelle__event_header__free_unpacked (header, NULL);
    if (!ours) {
        *err = s_bad (PL_ERR_BAD_FIELD, why, why_size,
                      "burst envelope %zu was not published by %s", i, publisher);
        passerelle__envelope__free_unpacked (wire, NULL);
        return NULL;
    }
    return wire;
}

pl_err_t
pl_burst_sign (pl_keys_t *publisher, const uint8_t *const *envelopes, const size_t *sizes,
               size_t count, uint8_t **out, size_t *out_sizes, char *why, size_t why_size)
{
    if (count == 0 || count > PL_BURST_MAX)
        return s_bad (count? PL_ERR_OVERSIZED: PL_ERR_BAD_FIELD, why, why_size,
                      "a burst holds 1 to %d events, not %zu", PL_BURST_MAX, count);
    const char *id = pl_keys_id (publisher);
    Passerelle__Envelope **wires = calloc (count, sizeof *wires);
    pl_merkle_t *tree = pl_merkle_new_in_memory ();
    pl_err_t err = PL_OK;
    size_t done = 0;
    if (!wires || !tree) {
        err = PL_ERR_NO_MEMORY;
        goto finish;
    }
    for (size_t i = 0; i < count; i++) {
        uint8_t leaf [PL_HASH_SIZE];
        if (!(wires [i] = s_unpack_own (envelopes [i], sizes [i], i, id, &err, why, why_size)))
            goto finish;
        pl_merkle_leaf_hash (wires [i]->header.data, wires [i]->header.len, leaf);
        if (pl_merkle_append (tree, leaf, NULL) != 0) {
            err = PL_ERR_NO_MEMORY;
            goto finish;
        }
    }
    uint8_t root [PL_HASH_SIZE], bytes [SIGNED_MAX], signature [PL_SIGNATURE_SIZE];
    pl_merkle_root (tree, root);
    pl_keys_sign (publisher, bytes, s_signed_bytes (root, (uint32_t) count, id, bytes),
                  signature);
    for (done = 0; done < count; done++) {
        uint8_t proof [PL_MERKLE_PROOF_MAX * PL_HASH_SIZE];
        size_t proof_len = 0;
        if (pl_merkle_inclusion_proof (tree, done, count, proof, &proof_len) != 0) {
            err = PL_ERR_NO_MEMORY;
            goto finish;
        }
        Passerelle__BurstProof burst = PASSERELLE__BURST_PROOF__INIT;
        burst.index = (uint32_t) done;
        burst.count = (uint32_t) count;
        burst.proof.data = proof;
        burst.proof.len = proof_len * PL_HASH_SIZE;
        //  Borrowed for the packing only: the unpacked struct still owns its own
        Passerelle__Envelope copy = *wires [done];
        copy.signature.data = signature;
        copy.signature.len = sizeof signature;
        copy.burst = &burst;
        out_sizes [done] = passerelle__envelope__get_packed_size (&copy);
        if (!(out [done] = malloc (out_sizes [done]))) {
            err = PL_ERR_NO_MEMORY;
            goto finish;
        }
        passerelle__envelope__pack (&copy, out [done]);
    }
finish:
    if (err != PL_OK)
        for (size_t i = 0; i < done; i++) {
            free (out [i]);
            out [i] = NULL;
        }
    for (size_t i = 0; wires && i < count; i++)
        passerelle__envelope__free_unpacked (wires [i], NULL);
    free (wires);
    pl_merkle_destroy (&tree);
    return err;
}

//  --------------------------------------------------------------------------
//  Verifying

pl_err_t
pl_burst_check_shape (const Passerelle__BurstProof *burst, char *why, size_t why_size)
{
    if (burst->count == 0 || burst->count > PL_BURST_MAX || burst->index >= burst->count)
        return s_bad (PL_ERR_MALFORMED, why, why_size, "burst: index %u of %u events, at most %d",
                      burst->index, burst->count, PL_BURST_MAX);
    if (burst->proof.len % PL_HASH_SIZE || burst->proof.len > PL_BURST_PROOF_MAX * PL_HASH_SIZE)
        return s_bad (PL_ERR_MALFORMED, why, why_size, "burst proof: %zu bytes, expected 32-byte "
                      "hashes, at most %d", burst->proof.len, PL_BURST_PROOF_MAX);
    return PL_OK;
}

static bool
s_seen (const pl_burst_seen_t *seen, const uint8_t *digest)
{
    for (size_t i = 0; i < seen->used; i++)
        if (memcmp (seen->digest [i], digest, sizeof seen->digest [i]) == 0)
            return true;
    return false;
}

static void
s_remember (pl_burst_seen_t *seen, const uint8_t *digest)
{
    memcpy (seen->digest [seen->next], digest, sizeof seen->digest [0]);
    seen->next = (seen->next + 1) % PL_BURST_SEEN_SIZE;
    if (seen->used < PL_BURST_SEEN_SIZE)
        seen->used++;
}

bool
pl_burst_verify (const Passerelle__Envelope *wire, const char *publisher,
                 const uint8_t *publisher_pk, pl_burst_seen_t *seen)
{
    const Passerelle__BurstProof *burst = wire->burst;
    if (!burst || pl_burst_check_shape (burst, NULL, 0) != PL_OK
    ||  wire->signature.len != PL_SIGNATURE_SIZE)
        return false;
    uint8_t leaf [PL_HASH_SIZE], root [PL_HASH_SIZE], bytes [SIGNED_MAX];
    pl_merkle_leaf_hash (wire->header.data, wire->header.len, leaf);
    if (pl_merkle_root_from_proof (leaf, burst->index, burst->count, burst->proof.data,
                                   burst->proof.len / PL_HASH_SIZE, root) != 0)
        return false;
    size_t size = s_signed_bytes (root, burst->count, publisher, bytes);
    uint8_t digest [32];
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, sizeof digest);
    crypto_generichash_update (&state, publisher_pk, PL_PUBLIC_KEY_SIZE);
    crypto_generichash_update (&state, wire->signature.data, PL_SIGNATURE_SIZE);
    crypto_generichash_update (&state, bytes, size);
    crypto_generichash_final (&state, digest, sizeof digest);
    if (seen && s_seen (seen, digest))
        return true;
    if (!pl_signature_verify (publisher_pk, bytes, size, wire->signature.data))
        return false;
    if (seen)
        s_remember (seen, digest);
    return true;
}
