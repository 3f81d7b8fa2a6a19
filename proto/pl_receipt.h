/*  pl_receipt: a recipient's signed word that it holds what it was sent.
 *
 *  One Ed25519 signature covers a burst of deliveries (1 to
 *  PL_RECEIPT_ITEMS_MAX), so that neither the agent signing nor the broker
 *  checking pays a signature per event: at a few thousand events a second
 *  those checks were a third of the broker's CPU. What is signed is the
 *  RFC 6962 Merkle root of the items (leaf i: event id || header hash) with
 *  their count, the time and the recipient (see Receipt in the schema). The
 *  broker logs one entry per item carrying the item's index, the count and
 *  its inclusion proof, so that an auditor checks any one entry alone
 *  (pl_receipt_verify_item) and a court sees exactly what that agency
 *  signed for that event, without the rest of the burst.
 *
 *  pack    (agent)   sign items and pack the Message
 *  check   (broker)  shape, recipient and signature of one that arrived;
 *                    then the proof of each item, for its log entry
 *  verify_item (auditor) one logged item against the agency's key  */
#ifndef PL_RECEIPT_H_INCLUDED
#define PL_RECEIPT_H_INCLUDED

#include <czmq.h>
#include "passerelle.pb-c.h"
#include "pl_envelope.h"

#define PL_RECEIPT_ITEMS_MAX  256
#define PL_RECEIPT_PROOF_MAX  8         //  hashes: log2 (PL_RECEIPT_ITEMS_MAX)

typedef struct {
    uint8_t event_id [PL_EVENT_ID_SIZE];    //  or a notice's id
    uint8_t header_hash [PL_HASH_SIZE];     //  SHA-256 of the header (or notice) delivered
} pl_receipt_item_t;

/*  A Message { Receipt } for items (1..PL_RECEIPT_ITEMS_MAX), received now,
 *  naming recipient and signed by signer. recipient is the signer's own id
 *  except in tests that forge receipts. NULL when count is out of range or
 *  memory ran out.  */
zframe_t *pl_receipt_pack (pl_keys_t *signer, const char *recipient,
                           const pl_receipt_item_t *items, size_t count);

/*  Deliveries kept and not yet receipted, gathered into one signed Receipt
 *  (the agent sends it 20 ms after the first item, or at 256 items). Zero
 *  it to start.  */
typedef struct {
    pl_receipt_item_t items [PL_RECEIPT_ITEMS_MAX];
    size_t count;
} pl_receipt_batch_t;

/*  Add (event_id, header_hash); a full batch is first signed and sent on
 *  socket. Returns what that send returned, or 0.  */
int pl_receipt_batch_add (pl_receipt_batch_t *self, pl_keys_t *signer, void *socket,
                          const uint8_t *event_id, const uint8_t *header_hash);

/*  Sign what self holds as signer's own and send it on socket; self is
 *  then empty (a Receipt lost is answered by the broker sending its items
 *  again). 1 sent, 0 nothing to send, -1 it could not be packed or sent.  */
int pl_receipt_batch_send (pl_receipt_batch_t *self, pl_keys_t *signer, void *socket);

typedef struct _pl_receipt_t pl_receipt_t;

/*  Check a Receipt that arrived from agency recipient, whose key is
 *  public_key: 1 to PL_RECEIPT_ITEMS_MAX items, each a 16-byte id and a
 *  32-byte hash; it names recipient; the signature is public_key's over the
 *  items. NULL on any failure, with *err (PL_ERR_OVERSIZED, PL_ERR_BAD_FIELD
 *  or PL_ERR_BAD_SIGNATURE, PL_ERR_NO_MEMORY) and why. Whether each item
 *  was owed, and over that header, is the broker's to see.  */
pl_receipt_t *pl_receipt_check (const Passerelle__Receipt *wire, const char *recipient,
                                const uint8_t *public_key, pl_err_t *err,
                                char *why, size_t why_size);

void pl_receipt_destroy (pl_receipt_t **self_p);

/*  How many items it holds; item number index.  */
size_t pl_receipt_count (pl_receipt_t *self);
const pl_receipt_item_t *pl_receipt_item (pl_receipt_t *self, size_t index);

/*  Inclusion proof of item index (room for PL_RECEIPT_PROOF_MAX hashes);
 *  *proof_len gets the number of hashes. 0 or -1.  */
int pl_receipt_proof (pl_receipt_t *self, size_t index, uint8_t *proof, size_t *proof_len);

/*  The root that item index of count (event_id, header_hash) and its proof
 *  lead to. 0, or -1 when index, count or the proof's length cannot be.  */
int pl_receipt_item_root (const uint8_t *event_id, const uint8_t *header_hash, uint32_t index,
                          uint32_t count, const uint8_t *proof, size_t proof_len,
                          uint8_t *root);

/*  True when signature is public_key's over a receipt of count items with
 *  this root, by recipient at received_at_ms.  */
bool pl_receipt_verify_root (const uint8_t *public_key, const char *recipient,
                             uint64_t received_at_ms, const uint8_t *root, uint32_t count,
                             const uint8_t *signature);

/*  True when signature is public_key's over a receipt, by recipient at
 *  received_at_ms, of count items of which item index is (event_id,
 *  header_hash), as proof shows: what a receipt log entry proves alone.
 *  (pl_receipt_item_root, then pl_receipt_verify_root: an auditor that
 *  meets the same signature again need only compare roots.)  */
bool pl_receipt_verify_item (const uint8_t *public_key, const char *recipient,
                             uint64_t received_at_ms, const uint8_t *event_id,
                             const uint8_t *header_hash, uint32_t index, uint32_t count,
                             const uint8_t *proof, size_t proof_len, const uint8_t *signature);

/*  True when signature is public_key's over a receipt of the first wire
 *  version, one per event: "passerelle-receipt-v1" || event id || header
 *  hash || recipient || received_at_ms (8 bytes, big-endian). Log entries
 *  without a count were signed so; an auditor checks them too, or a broker
 *  could pass off an unsigned receipt by leaving the count out.  */
bool pl_receipt_verify_v1 (const uint8_t *public_key, const char *recipient,
                           uint64_t received_at_ms, const uint8_t *event_id,
                           const uint8_t *header_hash, const uint8_t *signature);

#endif
