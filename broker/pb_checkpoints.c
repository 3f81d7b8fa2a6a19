/*  pb_checkpoints: checkpoints and proofs (see pb_checkpoints.h).  */
#include "pb_checkpoints.h"
#include "pl_checkpoint.h"
#include "pl_log.h"
#include "pl_wire.h"

int
pb_checkpoints_restore (pb_broker_t *self)
{
    return pb_store_checkpoint_latest (self->store, &self->checkpoint_size,
                                       &self->checkpoint_note) < 0? -1: 0;
}

bool
pb_checkpoints_make (pb_broker_t *self)
{
    uint64_t size;
    uint8_t root [PL_MERKLE_HASH_SIZE];
    if (pb_store_log_root (self->store, &size, root) != 0 || size == self->checkpoint_size)
        return false;
    pl_checkpoint_t *checkpoint = pl_checkpoint_new (self->origin, size, root);
    char *note = checkpoint? pl_checkpoint_sign (checkpoint, self->origin, self->keys): NULL;
    pl_checkpoint_destroy (&checkpoint);
    pb_batch_t *batch = note? pb_store_begin (self->store): NULL;
    if (!batch || pb_batch_checkpoint_put (batch, note, strlen (note)) != 0
    ||  pb_batch_commit (&batch) != 0) {
        if (batch)
            pb_batch_abort (&batch);
        log_warn ("cannot sign and keep a checkpoint at size %llu: %s", (unsigned long long) size,
                  pb_store_error (self->store));
        free (note);
        return false;
    }
    free (self->checkpoint_note);
    self->checkpoint_note = note;
    self->checkpoint_size = size;
    log_debug ("checkpoint at size %llu", (unsigned long long) size);
    return true;
}

void
pb_checkpoints_fill (pb_broker_t *self, Passerelle__Checkpoint *checkpoint, uint64_t from_size,
                     uint8_t *proof)
{
    passerelle__checkpoint__init (checkpoint);
    checkpoint->note = self->checkpoint_note;
    size_t hashes = 0;
    if (from_size > 0 && from_size < self->checkpoint_size
    &&  pb_store_consistency_proof (self->store, from_size, self->checkpoint_size,
                                    proof, &hashes) == 0) {
        checkpoint->from_size = from_size;
        checkpoint->consistency_proof.data = proof;
        checkpoint->consistency_proof.len = hashes * PL_MERKLE_HASH_SIZE;
    }
}

//  True when agency is the entry's publisher or one of its recipients:
//  an agency may prove what it took part in, not what others did.
static bool
s_names_agency (Passerelle__LogEntry *entry, const char *agency)
{
    if (entry->publisher && streq (entry->publisher, agency))
        return true;
    for (size_t i = 0; i < entry->n_decisions; i++)
        if (entry->decisions [i]->recipient && streq (entry->decisions [i]->recipient, agency))
            return true;
    return false;
}

void
pb_checkpoints_prove (pb_broker_t *self, const pl_agency_t *peer, Passerelle__ProofRequest *request,
                      Passerelle__Proof *reply, uint8_t *inclusion, uint8_t **entry_p)
{
    passerelle__proof__init (reply);
    reply->event_id = request->event_id;
    reply->log_index = request->log_index;
    *entry_p = NULL;
    //  The entry must be under a checkpoint: make one now if it is newer
    if (request->log_index >= self->checkpoint_size)
        pb_checkpoints_make (self);
    size_t size = 0, hashes = 0;
    Passerelle__LogEntry *entry = NULL;
    if (request->log_index >= self->checkpoint_size
    ||  pb_store_log_entry (self->store, request->log_index, entry_p, &size) != 0
    ||  !(entry = passerelle__log_entry__unpack (NULL, size, *entry_p))) {
        reply->status = PASSERELLE__STATUS__STATUS_MALFORMED;
        reply->reason = "no such log entry";
    }
    else
    if (entry->event_id.len != request->event_id.len
    ||  memcmp (entry->event_id.data, request->event_id.data, entry->event_id.len) != 0
    ||  !s_names_agency (entry, peer->id)) {
        reply->status = PASSERELLE__STATUS__STATUS_POLICY_DENIED;
        reply->reason = "that log entry is not about this agency's event";
    }
    else
    if (pb_store_inclusion_proof (self->store, request->log_index, self->checkpoint_size,
                                  inclusion, &hashes) != 0) {
        reply->status = PASSERELLE__STATUS__STATUS_INTERNAL;
        reply->reason = "cannot build the proof";
    }
    else {
        reply->status = PASSERELLE__STATUS__STATUS_OK;
        reply->entry.data = *entry_p;
        reply->entry.len = size;
        reply->inclusion_proof.data = inclusion;
        reply->inclusion_proof.len = hashes * PL_MERKLE_HASH_SIZE;
    }
    passerelle__log_entry__free_unpacked (entry, NULL);
}
