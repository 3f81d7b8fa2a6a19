/*  pb_store_state: the broker's registries, kept durable in pb_store.
 *
 *  The policy module keeps its working state in memory (pol_consents,
 *  pol_sequence); the broker writes each change here in the batch that logs
 *  it, and rebuilds those registries from here at start (the _each walkers).
 *  Also case membership (which agencies have taken part in a case: who must
 *  hear of a consent withdrawal or a correction) and the signed checkpoints
 *  (C2SP text, pl_checkpoint), kept by tree size.  */
#ifndef PB_STORE_STATE_H_INCLUDED
#define PB_STORE_STATE_H_INCLUDED

#include "pb_store.h"

//  --- consents: an opaque blob per (case_ref, consent_id) ---------------------
int pb_batch_consent_put (pb_batch_t *self, const char *case_ref, const char *consent_id,
                          const uint8_t *blob, size_t size);
//  0 deleted, 1 absent.
int pb_batch_consent_delete (pb_batch_t *self, const char *case_ref, const char *consent_id);
//  A copy (free () it): 0; 1 absent; -1.
int pb_store_consent_get (pb_store_t *self, const char *case_ref, const char *consent_id,
                          uint8_t **blob, size_t *size);
typedef int (pb_consent_fn) (const char *case_ref, const char *consent_id,
                             const uint8_t *blob, size_t size, void *arg);
int pb_store_consent_each (pb_store_t *self, pb_consent_fn *fn, void *arg);

//  --- case membership ---------------------------------------------------------
//  Adding a member twice is not an error.
int pb_batch_case_add (pb_batch_t *self, const char *case_ref, const char *agency);
//  1 member, 0 not, -1 error.
int pb_store_case_has (pb_store_t *self, const char *case_ref, const char *agency);
typedef int (pb_name_fn) (const char *name, void *arg);
//  The members of a case, in name order.
int pb_store_case_members (pb_store_t *self, const char *case_ref, pb_name_fn *fn, void *arg);

//  --- last sequence number per publisher (pol_sequence) -----------------------
int pb_batch_sequence_set (pb_batch_t *self, const char *publisher, uint64_t last);
//  0 (*last set), 1 none yet, -1.
int pb_store_sequence_get (pb_store_t *self, const char *publisher, uint64_t *last);
typedef int (pb_sequence_fn) (const char *publisher, uint64_t last, void *arg);
int pb_store_sequence_each (pb_store_t *self, pb_sequence_fn *fn, void *arg);

//  --- checkpoints ---------------------------------------------------------------
//  Keep a signed checkpoint's text at the tree size of the batch (after its
//  appends); one per size, a later one at the same size replaces it.
int pb_batch_checkpoint_put (pb_batch_t *self, const char *text, size_t size);
//  The newest: 0 (*text a NUL-terminated copy, free () it); 1 none; -1.
int pb_store_checkpoint_latest (pb_store_t *self, uint64_t *tree_size, char **text);
typedef int (pb_checkpoint_fn) (uint64_t tree_size, const char *text, size_t size, void *arg);
int pb_store_checkpoint_each (pb_store_t *self, pb_checkpoint_fn *fn, void *arg);

#endif
