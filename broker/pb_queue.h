/*  pb_queue: what the broker still owes each agency.
 *
 *  One ordered queue per recipient agency of packed Delivery frames, kept
 *  until the recipient's signed receipt removes them, and replayed in order
 *  each time the agency says Hello. This is the in-memory form; the durable
 *  LMDB store replaces it behind the same calls.  */
#ifndef PB_QUEUE_H_INCLUDED
#define PB_QUEUE_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef struct _pb_queue_t pb_queue_t;

pb_queue_t *pb_queue_new (void);
void pb_queue_destroy (pb_queue_t **self_p);

/*  Owe delivery (copied) to agency; header_hash (32 bytes) is what the
 *  receipt must name. 0, or -1 when out of memory.  */
int pb_queue_push (pb_queue_t *self, const char *agency, const uint8_t *event_id,
                   const uint8_t *header_hash, zframe_t *delivery);

/*  The header hash owed for (agency, event), or NULL when nothing is owed.  */
const uint8_t *pb_queue_find (pb_queue_t *self, const char *agency, const uint8_t *event_id);

/*  Forget (agency, event) after its receipt. 0 if it was owed, -1 if not.  */
int pb_queue_remove (pb_queue_t *self, const char *agency, const uint8_t *event_id);

/*  Iterate what agency is owed, oldest first: index 0, 1, ... until NULL.  */
zframe_t *pb_queue_at (pb_queue_t *self, const char *agency, size_t index);

size_t pb_queue_depth (pb_queue_t *self, const char *agency);
size_t pb_queue_total (pb_queue_t *self);

/*  Drop everything owed to agency (revoked). Returns how many.  */
size_t pb_queue_drop (pb_queue_t *self, const char *agency);

#endif
