/*  pa_witness: the agent as a witness of the broker's sharing log.
 *
 *  The broker signs checkpoints (C2SP tlog-checkpoint notes) of its log and
 *  shows each agent the newest, with an RFC 6962 consistency proof from the
 *  tree size that agent verified last. The agent keeps the newest checkpoint
 *  it verified (in its store) and accepts a new one only if the broker's
 *  signature holds and the proof shows the new tree extends the old one. A
 *  broker that rewrites history, or shows two agencies two different logs,
 *  cannot produce such a proof: the agent says so loudly and keeps the old
 *  checkpoint, which an auditor can then hold against the broker.  */
#ifndef PA_WITNESS_H_INCLUDED
#define PA_WITNESS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "pa_store.h"

typedef enum {
    PA_WITNESS_ACCEPTED,            //  verified and kept
    PA_WITNESS_UNCHANGED,           //  the one we have
    PA_WITNESS_BAD_NOTE,            //  not signed by the broker, or malformed
    PA_WITNESS_INCONSISTENT,        //  does not extend what we verified: ALARM
    PA_WITNESS_UNPROVEN,            //  no proof from our size: cannot judge yet
    PA_WITNESS_STORE_ERROR
} pa_witness_result_t;

/*  Judge a checkpoint note shown by the broker (origin and key name are the
 *  log's name; broker_key its Ed25519 key), with proof (proof_size bytes of
 *  32-byte hashes) from from_size. why says what happened.  */
pa_witness_result_t pa_witness_check (pa_store_t *store, const char *origin,
                                      const uint8_t *broker_key, const char *note,
                                      uint64_t from_size, const uint8_t *proof,
                                      size_t proof_size, char *why, size_t why_size);

/*  Tree size of the checkpoint we keep (0: none).  */
uint64_t pa_witness_size (pa_store_t *store);

#endif
