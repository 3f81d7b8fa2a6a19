/*  pl_receipt: a recipient's signed word for a burst of deliveries
 *  (pl_receipt.h).
 *
 *  The leaves are hashed once at check time (the root needs them) and kept;
 *  the in-memory tree that gives proofs is built only when the broker asks
 *  for the first one, since a receipt whose items were all receipted
 *  already needs none.  */
#include <stdio.h>
#include <string.h>
#include "pl_receipt.h"
#include "pl_merkle.h"
#include "pl_wire.h"
#include "pl_bytes.h"

//  "passerelle-receipt-v2" || root || count || received_at_ms || recipient
#define S_SIGNED_MAX (21 + PL_HASH_SIZE + 4 + 8 + PL_ID_MAX)

struct _pl_receipt_t {
    size_t count;
    pl_merkle_t *tree;                  //  for proofs, built on first use
    uint8_t (*leaves) [PL_HASH_SIZE];   //  count of each, in the same allocation
    pl_receipt_item_t items [];
};

static void
s_leaf (const uint8_t *event_id, const uint8_t *header_hash, uint8_t *leaf)
{
    uint8_t data [PL_EVENT_ID_SIZE + PL_HASH_SIZE];
    memcpy (data, event_id, PL_EVENT_ID_SIZE);
    memcpy (data + PL_EVENT_ID_SIZE, header_hash, PL_HASH_SIZE);
    pl_merkle_leaf_hash (data, sizeof data, leaf);
}

//  The Merkle root over count items (1..PL_RECEIPT_ITEMS_MAX)
static void
s_root (const pl_receipt_item_t *items, size_t count, uint8_t *root)
{
    uint8_t leaves [PL_RECEIPT_ITEMS_MAX][PL_HASH_SIZE];
    if (count > PL_RECEIPT_ITEMS_MAX)
        count = PL_RECEIPT_ITEMS_MAX;
    for (size_t i = 0; i < count; i++)
        s_leaf (items [i].event_id, items [i].header_hash, leaves [i]);
    pl_merkle_root_from_leaves (&leaves [0][0], count, root);
}

//  The bytes a recipient signs, into out (S_SIGNED_MAX); their length
static size_t
s_signed_bytes (const uint8_t *root, uint32_t count, uint64_t received_at_ms,
                const char *recipient, uint8_t *out)
{
    static const char tag [] = "passerelle-receipt-v2";
    size_t used = 0, id_len = strnlen (recipient, PL_ID_MAX);
    memcpy (out + used, tag, sizeof tag - 1);
    used += sizeof tag - 1;
    memcpy (out + used, root, PL_HASH_SIZE);
    used += PL_HASH_SIZE;
    pl_put_be32 (out + used, count);
    used += 4;
    pl_put_be64 (out + used, received_at_ms);
    used += 8;
    //  Last, being the one field of variable length
    memcpy (out + used, recipient, id_len);
    return used + id_len;
}

zframe_t *
pl_receipt_pack (pl_keys_t *signer, const char *recipient,
                 const pl_receipt_item_t *items, size_t count)
{
    if (count == 0 || count > PL_RECEIPT_ITEMS_MAX)
        return NULL;
    Passerelle__ReceiptItem wire_items [PL_RECEIPT_ITEMS_MAX];
    Passerelle__ReceiptItem *pointers [PL_RECEIPT_ITEMS_MAX];
    for (size_t i = 0; i < count; i++) {
        passerelle__receipt_item__init (&wire_items [i]);
        wire_items [i].event_id = (ProtobufCBinaryData) {
            PL_EVENT_ID_SIZE, (uint8_t *) items [i].event_id };
        wire_items [i].header_hash = (ProtobufCBinaryData) {
            PL_HASH_SIZE, (uint8_t *) items [i].header_hash };
        pointers [i] = &wire_items [i];
    }
    Passerelle__Receipt receipt = PASSERELLE__RECEIPT__INIT;
    receipt.recipient = (char *) recipient;
    receipt.received_at_ms = pl_now_ms ();
    receipt.n_items = count;
    receipt.items = pointers;
    uint8_t root [PL_HASH_SIZE], bytes [S_SIGNED_MAX], signature [PL_SIGNATURE_SIZE];
    s_root (items, count, root);
    size_t size = s_signed_bytes (root, (uint32_t) count, receipt.received_at_ms,
                                           recipient, bytes);
    pl_keys_sign (signer, bytes, size, signature);
    receipt.signature = (ProtobufCBinaryData) { sizeof signature, signature };
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_RECEIPT;
    msg.receipt = &receipt;
    return pl_wire_pack (&msg);
}

int
pl_receipt_batch_add (pl_receipt_batch_t *self, pl_keys_t *signer, void *socket,
                      const uint8_t *event_id, const uint8_t *header_hash)
{
    int rc = self->count == PL_RECEIPT_ITEMS_MAX? pl_receipt_batch_send (self, signer, socket): 0;
    pl_receipt_item_t *item = &self->items [self->count++];
    memcpy (item->event_id, event_id, PL_EVENT_ID_SIZE);
    memcpy (item->header_hash, header_hash, PL_HASH_SIZE);
    return rc;
}

int
pl_receipt_batch_send (pl_receipt_batch_t *self, pl_keys_t *signer, void *socket)
{
    if (self->count == 0)
        return 0;
    zframe_t *frame = pl_receipt_pack (signer, pl_keys_id (signer), self->items, self->count);
    self->count = 0;
    if (!frame || zframe_send (&frame, socket, 0) != 0) {
        zframe_destroy (&frame);
        return -1;
    }
    return 1;
}

//  The shape, before any hashing: what a malformed receipt is refused for
static pl_err_t
s_check_shape (const Passerelle__Receipt *wire, const char *recipient, char *why, size_t why_size)
{
    if (wire->n_items == 0) {
        snprintf (why, why_size, "a receipt with no items");
        return PL_ERR_BAD_FIELD;
    }
    if (wire->n_items > PL_RECEIPT_ITEMS_MAX) {
        snprintf (why, why_size, "a receipt of %zu items (at most %d)", wire->n_items,
                  PL_RECEIPT_ITEMS_MAX);
        return PL_ERR_OVERSIZED;
    }
    for (size_t i = 0; i < wire->n_items; i++)
        if (wire->items [i]->event_id.len != PL_EVENT_ID_SIZE
        ||  wire->items [i]->header_hash.len != PL_HASH_SIZE) {
            snprintf (why, why_size, "receipt item %zu: an event id of %d bytes and a header "
                      "hash of %d are required", i, PL_EVENT_ID_SIZE, PL_HASH_SIZE);
            return PL_ERR_BAD_FIELD;
        }
    if (!wire->recipient || strcmp (wire->recipient, recipient) != 0) {
        snprintf (why, why_size, "the receipt names recipient '%.64s', not the sender",
                  wire->recipient? wire->recipient: "");
        return PL_ERR_BAD_FIELD;
    }
    if (wire->signature.len != PL_SIGNATURE_SIZE) {
        snprintf (why, why_size, "a receipt signature of %zu bytes", wire->signature.len);
        return PL_ERR_BAD_SIGNATURE;
    }
    return PL_OK;
}

pl_receipt_t *
pl_receipt_check (const Passerelle__Receipt *wire, const char *recipient,
                  const uint8_t *public_key, pl_err_t *err, char *why, size_t why_size)
{
    *err = s_check_shape (wire, recipient, why, why_size);
    if (*err != PL_OK)
        return NULL;
    //  Sized by the count: most receipts hold a few items
    size_t count = wire->n_items;
    pl_receipt_t *self = malloc (sizeof *self + count * (sizeof (pl_receipt_item_t)
                                                         + PL_HASH_SIZE));
    if (!self) {
        *err = PL_ERR_NO_MEMORY;
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    self->count = count;
    self->tree = NULL;
    self->leaves = (uint8_t (*) [PL_HASH_SIZE]) (self->items + count);
    for (size_t i = 0; i < self->count; i++) {
        memcpy (self->items [i].event_id, wire->items [i]->event_id.data, PL_EVENT_ID_SIZE);
        memcpy (self->items [i].header_hash, wire->items [i]->header_hash.data, PL_HASH_SIZE);
        s_leaf (self->items [i].event_id, self->items [i].header_hash, self->leaves [i]);
    }
    uint8_t root [PL_HASH_SIZE];
    pl_merkle_root_from_leaves (&self->leaves [0][0], self->count, root);
    if (!pl_receipt_verify_root (public_key, recipient, wire->received_at_ms, root,
                                 (uint32_t) self->count, wire->signature.data)) {
        snprintf (why, why_size, "bad signature: not the recipient's over its %zu item%s",
                  self->count, self->count == 1? "": "s");
        *err = PL_ERR_BAD_SIGNATURE;
        pl_receipt_destroy (&self);
    }
    return self;
}

void
pl_receipt_destroy (pl_receipt_t **self_p)
{
    if (*self_p) {
        pl_merkle_destroy (&(*self_p)->tree);
        free (*self_p);
        *self_p = NULL;
    }
}

size_t
pl_receipt_count (pl_receipt_t *self)
{
    return self->count;
}

const pl_receipt_item_t *
pl_receipt_item (pl_receipt_t *self, size_t index)
{
    return index < self->count? &self->items [index]: NULL;
}

int
pl_receipt_proof (pl_receipt_t *self, size_t index, uint8_t *proof, size_t *proof_len)
{
    if (index >= self->count)
        return -1;
    if (!self->tree) {
        self->tree = pl_merkle_new_in_memory ();
        for (size_t i = 0; self->tree && i < self->count; i++)
            if (pl_merkle_append (self->tree, self->leaves [i], NULL) != 0)
                pl_merkle_destroy (&self->tree);
        if (!self->tree)
            return -1;
    }
    return pl_merkle_inclusion_proof (self->tree, index, self->count, proof, proof_len);
}

int
pl_receipt_item_root (const uint8_t *event_id, const uint8_t *header_hash, uint32_t index,
                      uint32_t count, const uint8_t *proof, size_t proof_len, uint8_t *root)
{
    if (count == 0 || count > PL_RECEIPT_ITEMS_MAX || index >= count
    ||  proof_len > PL_RECEIPT_PROOF_MAX)
        return -1;
    uint8_t leaf [PL_HASH_SIZE];
    s_leaf (event_id, header_hash, leaf);
    return pl_merkle_root_from_proof (leaf, index, count, proof, proof_len, root);
}

bool
pl_receipt_verify_root (const uint8_t *public_key, const char *recipient,
                        uint64_t received_at_ms, const uint8_t *root, uint32_t count,
                        const uint8_t *signature)
{
    uint8_t bytes [S_SIGNED_MAX];
    size_t size = s_signed_bytes (root, count, received_at_ms, recipient, bytes);
    return pl_signature_verify (public_key, bytes, size, signature);
}

bool
pl_receipt_verify_v1 (const uint8_t *public_key, const char *recipient, uint64_t received_at_ms,
                      const uint8_t *event_id, const uint8_t *header_hash,
                      const uint8_t *signature)
{
    static const char tag [] = "passerelle-receipt-v1";
    uint8_t bytes [sizeof tag - 1 + PL_EVENT_ID_SIZE + PL_HASH_SIZE + PL_ID_MAX + 8];
    size_t used = 0, id_len = strnlen (recipient, PL_ID_MAX);
    memcpy (bytes + used, tag, sizeof tag - 1);
    used += sizeof tag - 1;
    memcpy (bytes + used, event_id, PL_EVENT_ID_SIZE);
    used += PL_EVENT_ID_SIZE;
    memcpy (bytes + used, header_hash, PL_HASH_SIZE);
    used += PL_HASH_SIZE;
    memcpy (bytes + used, recipient, id_len);
    used += id_len;
    pl_put_be64 (bytes + used, received_at_ms);
    return pl_signature_verify (public_key, bytes, used + 8, signature);
}

bool
pl_receipt_verify_item (const uint8_t *public_key, const char *recipient,
                        uint64_t received_at_ms, const uint8_t *event_id,
                        const uint8_t *header_hash, uint32_t index, uint32_t count,
                        const uint8_t *proof, size_t proof_len, const uint8_t *signature)
{
    //  The root this item and its proof lead to: the signature says whether
    //  the recipient signed that root, so a wrong item or proof fails there
    uint8_t root [PL_HASH_SIZE];
    return pl_receipt_item_root (event_id, header_hash, index, count, proof, proof_len,
                                 root) == 0
        && pl_receipt_verify_root (public_key, recipient, received_at_ms, root, count,
                                   signature);
}
