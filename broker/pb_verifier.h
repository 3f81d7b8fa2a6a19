/*  pb_verifier: signature checks on the other cores, ahead of the batch.
 *
 *  Checking a message (decoding, payload hash, burst proof, and an Ed25519
 *  signature per publish burst or Receipt) was half of the broker's CPU per
 *  event before publishes and receipts were signed per burst. The batch
 *  must stay on one thread (one LMDB writer, one order in the log), but a
 *  check needs nothing from the store, so the server hands each group of
 *  messages to this pool as soon as it has read them, and handles the
 *  previous group (policy, store, commit) while the pool checks this one.
 *
 *  A job is a function applied to each item of an array the caller owns.
 *  pb_verifier_finish() makes the caller help with what is left, then waits
 *  until every item is done and every helper is out of the job: after it
 *  returns, no thread touches the array. One job at a time, and one thread
 *  (the server's) calls start and finish. Plain threads rather than an
 *  actor: the work is pure computation on memory the caller lends, with
 *  nothing to say back.  */
#ifndef PB_VERIFIER_H_INCLUDED
#define PB_VERIFIER_H_INCLUDED

#include <stddef.h>

typedef struct _pb_verifier_t pb_verifier_t;

typedef void (pb_verify_fn) (void *item, void *arg);

/*  threads: helpers beside the caller; 0 means the caller does every item
 *  in pb_verifier_finish(). NULL if a thread cannot be started.  */
pb_verifier_t *pb_verifier_new (size_t threads);

/*  Stops the helpers (after the job in progress, if any).  */
void pb_verifier_destroy (pb_verifier_t **self_p);

/*  Start fn(item, arg) on count items of item_size bytes at items. The
 *  helpers begin at once; the caller carries on with other work.  */
void pb_verifier_start (pb_verifier_t *self, void *items, size_t item_size, size_t count,
                        pb_verify_fn *fn, void *arg);

/*  Help with the items not yet taken, then wait for all. Returns at once
 *  when no job is in progress.  */
void pb_verifier_finish (pb_verifier_t *self);

size_t pb_verifier_threads (pb_verifier_t *self);

/*  Helpers to use on this machine by default: one per core beyond the
 *  server's own, at least 1, at most 8.  */
size_t pb_verifier_default_threads (void);

#endif
