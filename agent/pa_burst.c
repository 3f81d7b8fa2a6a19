/*  pa_burst: one inbox commit per burst of deliveries (see pa_burst.h).
 *
 *  Items are owned copies in a fixed array of PL_RECEIPT_ITEMS_MAX: the
 *  burst never holds more than the Receipt it ends with can name.  */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "pa_burst.h"
#include "pl_envelope.h"
#include "pl_log.h"
#include "pl_wire.h"

typedef struct {
    uint8_t id [PL_EVENT_ID_SIZE];
    uint8_t hash [PL_HASH_SIZE];
    uint8_t *header;
    size_t header_size;
    uint8_t *payload;               //  plaintext: wiped before it is freed
    size_t payload_size;
    bool is_notice;
    char *log_line;
} item_t;

struct _pa_burst_t {
    item_t items [PL_RECEIPT_ITEMS_MAX];
    size_t count;
    size_t bytes;                   //  header and payload bytes held
};

static void
s_item_clear (item_t *item)
{
    if (item->payload)
        sodium_memzero (item->payload, item->payload_size);
    free (item->payload);
    free (item->header);
    free (item->log_line);
    memset (item, 0, sizeof *item);
}

static void
s_clear (pa_burst_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        s_item_clear (&self->items [i]);
    self->count = 0;
    self->bytes = 0;
}

pa_burst_t *
pa_burst_new (void)
{
    return calloc (1, sizeof (pa_burst_t));
}

void
pa_burst_destroy (pa_burst_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_clear (*self_p);
    free (*self_p);
    *self_p = NULL;
}

int
pa_burst_add (pa_burst_t *self, const uint8_t *id, const uint8_t *header, size_t header_size,
              const uint8_t *payload, size_t payload_size, const uint8_t *hash,
              bool is_notice, const char *log_line)
{
    if (self->count >= PL_RECEIPT_ITEMS_MAX || !header_size)
        return -1;
    item_t *item = &self->items [self->count];
    item->header = malloc (header_size);
    item->payload = payload_size? malloc (payload_size): NULL;
    item->log_line = strdup (log_line? log_line: "");
    if (!item->header || (payload_size && !item->payload) || !item->log_line) {
        s_item_clear (item);
        return -1;
    }
    memcpy (item->id, id, PL_EVENT_ID_SIZE);
    memcpy (item->hash, hash, PL_HASH_SIZE);
    memcpy (item->header, header, header_size);
    item->header_size = header_size;
    if (payload_size)
        memcpy (item->payload, payload, payload_size);
    item->payload_size = payload_size;
    item->is_notice = is_notice;
    self->count++;
    self->bytes += header_size + payload_size;
    return 0;
}

bool
pa_burst_has (pa_burst_t *self, const uint8_t *id)
{
    for (size_t i = 0; i < self->count; i++)
        if (memcmp (self->items [i].id, id, PL_EVENT_ID_SIZE) == 0)
            return true;
    return false;
}

size_t
pa_burst_size (pa_burst_t *self)
{
    return self->count;
}

size_t
pa_burst_bytes (pa_burst_t *self)
{
    return self->bytes;
}

bool
pa_burst_is_full (pa_burst_t *self)
{
    return self->count >= PL_RECEIPT_ITEMS_MAX || self->bytes >= PA_BURST_BYTES_MAX;
}

static pa_inbox_item_t
s_inbox_item (const item_t *item, uint64_t now)
{
    return (pa_inbox_item_t) { item->id, item->header, item->header_size, item->payload,
                               item->payload_size, now, item->is_notice, 0 };
}

size_t
pa_burst_commit (pa_burst_t *self, pa_store_t *store, pl_receipt_batch_t *receipts,
                 pl_keys_t *keys, void *socket, size_t *events_kept)
{
    *events_kept = 0;
    if (self->count == 0)
        return 0;
    uint64_t now = pl_now_ms ();
    pa_inbox_item_t all [PL_RECEIPT_ITEMS_MAX];
    for (size_t i = 0; i < self->count; i++)
        all [i] = s_inbox_item (&self->items [i], now);
    bool together = pa_store_inbox_add_all (store, all, self->count) == 0;
    if (!together && self->count > 1)
        log_warn ("inbox: a burst of %zu could not be kept in one commit (%s): keeping each "
                  "on its own", self->count, pa_store_error (store));
    size_t count = 0;
    for (size_t i = 0; i < self->count; i++) {
        item_t *item = &self->items [i];
        //  If the burst failed, one by one, so that what the store can take is kept
        if (!together && pa_store_inbox_add_all (store, &all [i], 1) != 0) {
            char hex [PL_EVENT_ID_SIZE * 2 + 1];
            log_warn ("%s %s not kept (%s): not receipted, the broker will resend it",
                      item->is_notice? "notice": "delivery", pl_event_id_hex (item->id, hex),
                      pa_store_error (store));
            continue;
        }
        if (*item->log_line)
            log_info ("%s", item->log_line);
        pl_receipt_batch_add (receipts, keys, socket, item->id, item->hash);
        count++;
        *events_kept += !item->is_notice;
    }
    s_clear (self);
    return count;
}
