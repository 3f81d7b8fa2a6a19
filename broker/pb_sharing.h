/*  pb_sharing: what the broker knows that decides a share, and the decisions.
 *
 *  Owns the policy (policy/), the consent registry, each publisher's sequence
 *  numbers, who is part of which case, and who published and received each
 *  event (so a correction reaches everyone who got the original). For one
 *  event it lists the candidate recipients (named agencies, role holders in
 *  the publisher's network, and for a correction the original recipients),
 *  and asks the policy about each, with every fact filled in. After the
 *  broker accepts the event, pb_sharing_record remembers what it changes.
 *
 *  Durable: case membership and events are read from the store; the consent
 *  registry and sequence numbers are kept in memory for speed, written
 *  through in the open batch, and rebuilt from the store at start (and after
 *  a failed commit, so memory never runs ahead of the disk).  */
#ifndef PB_SHARING_H_INCLUDED
#define PB_SHARING_H_INCLUDED

#include <czmq.h>
#include "pl_directory.h"
#include "pl_envelope.h"
#include "pol_policy.h"
#include "pb_store.h"

typedef struct _pb_sharing_t pb_sharing_t;

typedef struct {
    const pl_agency_t *agency;      //  NULL when the name resolved to nobody
    char name [PL_ID_MAX + 32];     //  agency id, or "role:ROLE" when unresolved
    Passerelle__Status status;      //  OK, or why not
    const char *code;               //  stable reason code (policy or wire status)
    const char *rule;               //  deciding rule id, or "" (points into rule_copy)
    char rule_copy [128];
    const char *category;           //  category a denial is about, or ""
    bool needs_review;              //  allowed without consent: flag for the DPO
    char reason [256];              //  readable
} pb_decision_t;

/*  Load the policy and rebuild the registries from store.  */
pb_sharing_t *pb_sharing_new (const char *policy_path, pb_store_t *store, char *err, size_t err_size);

/*  Forget the in-memory registries and rebuild them from the store.  */
int pb_sharing_restore (pb_sharing_t *self, char *err, size_t err_size);
void pb_sharing_destroy (pb_sharing_t **self_p);

/*  Re-read the policy; a bad file keeps the current one (err says why).  */
int pb_sharing_reload_policy (pb_sharing_t *self, const char *path, char *err, size_t err_size);
const pol_policy_t *pb_sharing_policy (pb_sharing_t *self);

/*  Consent events change the registry before anything is decided: a
 *  consent_given registers (or renews) the scope, a consent_withdrawn ends
 *  it. Returns 0, or -1 with why (the event is then refused). On withdrawal
 *  *notify_p receives the agencies to tell (caller destroys).  */
int pb_sharing_apply_consent (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                              uint64_t now_ms, zlist_t **notify_p, char *why, size_t why_size);

/*  Decide every candidate recipient of an event. Returns how many
 *  decisions were written (at most max).  */
size_t pb_sharing_decide (pb_sharing_t *self, pl_directory_t *directory, pl_envelope_t *envelope,
                          const pl_agency_t *publisher, uint64_t now_ms,
                          pb_decision_t *decisions, size_t max);

/*  Admit an event into the store (its id, publisher, original and the
 *  recipients it goes to), the log index its entry will have. Returns 0,
 *  PB_STORE_NO_ROOM (store full: nothing written), or another store error.
 *  Call before any other write for the event.  */
int pb_sharing_admit (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                      const pb_decision_t *decisions, size_t count, uint64_t log_index);

/*  An authentic event reached the broker (accepted or refused, but not a
 *  replay): note its sequence number. Numbers may arrive out of order (an
 *  agent sends escalations first, retries after a backoff), so a gap is
 *  only held open here; a late number fills it. A number at or below the
 *  last seen that fills no gap is a warning for the publisher (warning,
 *  empty if none). 0 or a store error.  */
int pb_sharing_note_sequence (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                              uint64_t now_ms, char *warning, size_t warning_size);

/*  A gap still open after the grace period: numbers first..last from
 *  publisher never reached the broker.  */
typedef struct {
    char publisher [PL_ID_MAX + 1];
    uint64_t first, last;
    uint64_t opened_ms;
} pb_gap_t;

/*  Up to max gaps opened before cutoff_ms, removed from those held open.
 *  Returns how many were written to out.  */
size_t pb_sharing_overdue_gaps (pb_sharing_t *self, uint64_t cutoff_ms, pb_gap_t *out, size_t max);

/*  After admission: case membership and shares under consent. 0 or a store
 *  error.  */
int pb_sharing_record (pb_sharing_t *self, pb_batch_t *batch, pl_envelope_t *envelope,
                       const pb_decision_t *decisions, size_t count);

/*  Retention deadline of an event: now + the shortest retention among its
 *  categories in the policy (0: none set).  */
uint64_t pb_sharing_retain_until (pb_sharing_t *self, pl_envelope_t *envelope, uint64_t now_ms);

#endif
