/*  pa_burst: the deliveries of one burst, kept in the inbox by one commit.
 *
 *  The agent reads what the broker sent in one go (up to
 *  PL_RECEIPT_ITEMS_MAX messages) and used to commit, and fsync, each
 *  delivery to the inbox on its own. A burst now gathers the verified,
 *  decrypted deliveries (copies: the messages are freed as they are read)
 *  and keeps them all with one transaction and one fsync; only then are
 *  they receipted, in the one signed Receipt the burst ends with. Nothing
 *  is receipted that is not durably in the inbox, as before.
 *
 *  If the burst's commit fails, each item is tried on its own, so one item
 *  the store refuses does not hold back the others; an item not kept is
 *  not receipted, and the broker delivers it again later.
 *
 *  Plaintext payloads are wiped from memory once committed or dropped.  */
#ifndef PA_BURST_H_INCLUDED
#define PA_BURST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pa_store.h"
#include "pl_receipt.h"

//  A burst is committed once it holds this many header and payload bytes:
//  a burst of large events holds at most this plus one delivery in memory.
#define PA_BURST_BYTES_MAX  (8u << 20)

typedef struct _pa_burst_t pa_burst_t;

pa_burst_t *pa_burst_new (void);
void pa_burst_destroy (pa_burst_t **self_p);

//  Take a copy of one delivery (or, with is_notice, a broker notice) to
//  keep: id, the header (or notice) bytes, the plaintext payload, the hash
//  to receipt it by, and the line to log once it is kept. -1 when out of
//  memory or the burst is full (commit it first).
int pa_burst_add (pa_burst_t *self, const uint8_t *id, const uint8_t *header, size_t header_size,
                  const uint8_t *payload, size_t payload_size, const uint8_t *hash,
                  bool is_notice, const char *log_line);

//  True if id is waiting in this burst (a redelivery within the burst).
bool pa_burst_has (pa_burst_t *self, const uint8_t *id);

size_t pa_burst_size (pa_burst_t *self);

//  Header and payload bytes the burst holds.
size_t pa_burst_bytes (pa_burst_t *self);

//  True when the burst should be committed before anything more is added.
bool pa_burst_is_full (pa_burst_t *self);

//  Keep every item in store (one commit), then log each item's line and
//  add it to receipts (a full batch is sent on socket; the rest when the
//  caller decides). Items not kept are logged as such and not receipted.
//  Empties the burst; returns how many were kept, *events_kept of them
//  events (not notices).
size_t pa_burst_commit (pa_burst_t *self, pa_store_t *store, pl_receipt_batch_t *receipts,
                        pl_keys_t *keys, void *socket, size_t *events_kept);

#endif
