/*  pa_witness: checkpoint verification (see pa_witness.h).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "pa_witness.h"
#include "pl_checkpoint.h"
#include "pl_merkle.h"

uint64_t
pa_witness_size (pa_store_t *store)
{
    uint64_t size = 0;
    if (pa_store_checkpoint_load (store, NULL, &size, NULL) != 0)
        return 0;
    return size;
}

pa_witness_result_t
pa_witness_check (pa_store_t *store, const char *origin, const uint8_t *broker_key,
                  const char *note, uint64_t from_size, const uint8_t *proof, size_t proof_size,
                  char *why, size_t why_size)
{
    int error = 0;
    pl_checkpoint_t *fresh = note? pl_checkpoint_open (note, strlen (note), origin, origin,
                                                       broker_key, &error): NULL;
    if (!fresh) {
        snprintf (why, why_size, "checkpoint refused: %s", note? pl_checkpoint_strerror (error):
                  "none sent");
        return PA_WITNESS_BAD_NOTE;
    }
    pa_witness_result_t result;
    char *kept_note = NULL;
    uint64_t kept_size = 0;
    uint8_t kept_root [PL_MERKLE_HASH_SIZE];
    int loaded = pa_store_checkpoint_load (store, &kept_note, &kept_size, kept_root);
    uint64_t size = pl_checkpoint_size (fresh);
    const uint8_t *root = pl_checkpoint_root (fresh);
    if (loaded < 0) {
        snprintf (why, why_size, "cannot read the kept checkpoint: %s", pa_store_error (store));
        result = PA_WITNESS_STORE_ERROR;
    }
    else
    if (loaded == 0 && size < kept_size) {
        snprintf (why, why_size, "the broker shows a log of %llu entries, smaller than the %llu "
                  "this agency verified: history was cut", (unsigned long long) size,
                  (unsigned long long) kept_size);
        result = PA_WITNESS_INCONSISTENT;
    }
    else
    if (loaded == 0 && size == kept_size) {
        bool same = sodium_memcmp (root, kept_root, PL_MERKLE_HASH_SIZE) == 0;
        snprintf (why, why_size, same? "checkpoint at %llu unchanged":
                  "the broker shows another log of the same size %llu: a fork",
                  (unsigned long long) size);
        result = same? PA_WITNESS_UNCHANGED: PA_WITNESS_INCONSISTENT;
    }
    else
    if (loaded == 0 && from_size != kept_size) {
        snprintf (why, why_size, "checkpoint at %llu came with a proof from %llu, not from the "
                  "%llu this agency verified", (unsigned long long) size,
                  (unsigned long long) from_size, (unsigned long long) kept_size);
        result = PA_WITNESS_UNPROVEN;
    }
    else
    if (loaded == 0 && (proof_size % PL_MERKLE_HASH_SIZE
                        || !pl_merkle_verify_consistency (kept_size, size, kept_root, root, proof,
                                                          proof_size / PL_MERKLE_HASH_SIZE))) {
        snprintf (why, why_size, "the log at %llu entries does not extend the one of %llu "
                  "entries this agency verified: history was rewritten, or this agency is "
                  "shown a forked log", (unsigned long long) size, (unsigned long long) kept_size);
        result = PA_WITNESS_INCONSISTENT;
    }
    else
    if (pa_store_checkpoint_save (store, note, size, root) != 0) {
        snprintf (why, why_size, "cannot keep the checkpoint: %s", pa_store_error (store));
        result = PA_WITNESS_STORE_ERROR;
    }
    else {
        snprintf (why, why_size, "checkpoint at %llu verified%s", (unsigned long long) size,
                  loaded == 0? " (consistent with the previous one)": "");
        result = PA_WITNESS_ACCEPTED;
    }
    free (kept_note);
    pl_checkpoint_destroy (&fresh);
    return result;
}
