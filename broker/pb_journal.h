/*  pb_journal: the sharing log's entries, as the broker writes them.
 *
 *  Turns what just happened (an accepted publish with its decisions, a
 *  refusal, a receipt, a notice, a load of the policy or directory) into the
 *  serialised LogEntry bytes that become one leaf of the Merkle tree. The
 *  bytes are made once, here, and stored as made: nothing re-serialises them.
 *  Entries carry metadata and hashes only, never payload bytes.  */
#ifndef PB_JOURNAL_H_INCLUDED
#define PB_JOURNAL_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include "pb_sharing.h"
#include "pl_envelope.h"

/*  A serialised entry, and the names the log's indexes file it under
 *  (pb_log_names: they travel with it, so the store need not decode it
 *  again); one block: free bytes with free ().  */
typedef struct {
    uint8_t *bytes;
    size_t size;
    const char *names;              //  in the same block as bytes
    size_t names_size;
} pb_entry_t;

/*  An accepted event and every decision taken for it. kind is derived from
 *  the event type: publish, correction, consent_given or consent_withdrawn.  */
pb_entry_t pb_journal_publish (pl_envelope_t *envelope, const pb_decision_t *decisions,
                               size_t count, uint64_t at_ms);

/*  An event refused as a whole (status name and reason); envelope may be
 *  NULL when it did not even decode, then publisher names the peer.  */
pb_entry_t pb_journal_refusal (pl_envelope_t *envelope, const char *publisher,
                               const char *status, const char *reason,
                               const pb_decision_t *decisions, size_t count, uint64_t at_ms);

/*  One item of a recipient's signed receipt, with what makes it prove
 *  itself (pl_receipt_verify_item): its index and count in the receipt, its
 *  inclusion proof, the time and the signature. case_ref (NULL for a
 *  notice) puts it in the case index beside the share it settles.  */
typedef struct {
    const uint8_t *event_id;
    const char *case_ref;
    const char *recipient;
    const uint8_t *header_hash;
    uint64_t received_at_ms;
    const uint8_t *signature;
    uint32_t index, count;
    const uint8_t *proof;               //  proof_len hashes of PL_HASH_SIZE
    size_t proof_len;
} pb_receipt_entry_t;

pb_entry_t pb_journal_receipt (const pb_receipt_entry_t *receipt, uint64_t at_ms);

/*  Anything else the broker did or noticed: kind is notice, sequence_gap,
 *  expiry, late_escalation, policy_load or directory_load.  */
pb_entry_t pb_journal_note (const char *kind, const uint8_t *event_id, const char *case_ref,
                            const char *agency, const char *detail, uint64_t at_ms);

#endif
