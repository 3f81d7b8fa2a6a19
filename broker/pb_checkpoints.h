/*  pb_checkpoints: the broker's signed view of its own log.
 *
 *  Signs a C2SP checkpoint (origin, size, root) with the broker's key when
 *  the log has grown, keeps it in the store, and builds what agents verify:
 *  the newest checkpoint with a consistency proof from the size an agent
 *  verified last, and, on request, an inclusion proof that one of the
 *  agency's own events is in the log. Works on pb_broker_t (no batch open).  */
#ifndef PB_CHECKPOINTS_H_INCLUDED
#define PB_CHECKPOINTS_H_INCLUDED

#include "pb_broker.h"
#include "pl_merkle.h"

/*  Load the newest stored checkpoint (at start). 0 or -1.  */
int pb_checkpoints_restore (pb_broker_t *self);

/*  Sign and keep a checkpoint if the log grew since the last one. Returns
 *  true when a new one was made.  */
bool pb_checkpoints_make (pb_broker_t *self);

/*  Fill checkpoint with the newest note and, when from_size is older, a
 *  consistency proof from it (proof: room for PL_MERKLE_PROOF_MAX hashes).  */
void pb_checkpoints_fill (pb_broker_t *self, Passerelle__Checkpoint *checkpoint, uint64_t from_size,
                          uint8_t *proof);

/*  Answer a proof request from peer (an agency named in the entry),
 *  checkpointing first if the entry is newer than the newest checkpoint.
 *  Sends nothing: fills reply, which points into inclusion (room for
 *  PL_MERKLE_PROOF_MAX hashes) and *entry_p (free () it). The caller adds
 *  the checkpoint (pb_checkpoints_fill).  */
void pb_checkpoints_prove (pb_broker_t *self, const pl_agency_t *peer,
                           Passerelle__ProofRequest *request, Passerelle__Proof *reply,
                           uint8_t *inclusion, uint8_t **entry_p);

#endif
