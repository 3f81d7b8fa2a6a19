/*  pa_inbox: events delivered to this agency, verified and decrypted.
 *
 *  Each delivered event gets a local sequence number (the cursor the CLI
 *  and API page with) and is kept once: a redelivery of the same event id
 *  is recognised so the agency system sees each event exactly once. Notices
 *  from the broker (a consent withdrawn, ...) are kept the same way and
 *  listed with "type": "notice". In
 *  memory for now; the LMDB inbox replaces it behind the same calls.  */
#ifndef PA_INBOX_H_INCLUDED
#define PA_INBOX_H_INCLUDED

#include <jansson.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct _pa_inbox_t pa_inbox_t;

pa_inbox_t *pa_inbox_new (void);
void pa_inbox_destroy (pa_inbox_t **self_p);

bool pa_inbox_has (pa_inbox_t *self, const uint8_t *event_id);

/*  Keep an event: its header bytes as signed, and the decrypted payload.
 *  Returns its local sequence number (from 1), 0 when out of memory.  */
uint64_t pa_inbox_add (pa_inbox_t *self, const uint8_t *event_id,
                       const uint8_t *header, size_t header_size,
                       const uint8_t *payload, size_t payload_size, uint64_t received_at_ms);

/*  Keep a notice from the broker (withdrawn consent, ...): the serialised
 *  Notice, whose signature the caller verified. Same numbering as events.  */
uint64_t pa_inbox_add_notice (pa_inbox_t *self, const uint8_t *notice_id,
                              const uint8_t *notice, size_t notice_size, uint64_t received_at_ms);

/*  Events after local sequence `after`, at most max, as a JSON array.  */
json_t *pa_inbox_list (pa_inbox_t *self, uint64_t after, size_t max);

uint64_t pa_inbox_last (pa_inbox_t *self);

#endif
