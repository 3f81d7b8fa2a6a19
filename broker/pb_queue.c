/*  pb_queue: per-agency delivery queues in memory (see pb_queue.h).
 *  Queues are short in normal operation (an agency is connected and
 *  receipts within milliseconds), so a list per agency is enough.  */
#include <string.h>
#include "pb_queue.h"
#include "pl_envelope.h"

typedef struct {
    uint8_t event_id [PL_EVENT_ID_SIZE];
    uint8_t header_hash [PL_HASH_SIZE];
    zframe_t *delivery;
} item_t;

struct _pb_queue_t {
    zhashx_t *queues;       //  agency id -> zlistx of item_t
    size_t total;
};

static void
s_item_destroy (void **item_p)
{
    item_t *item = *item_p;
    if (item) {
        zframe_destroy (&item->delivery);
        free (item);
        *item_p = NULL;
    }
}

static void
s_list_destroy (void **list_p)
{
    zlistx_destroy ((zlistx_t **) list_p);
}

pb_queue_t *
pb_queue_new (void)
{
    pb_queue_t *self = calloc (1, sizeof *self);
    if (!self || !(self->queues = zhashx_new ())) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->queues, s_list_destroy);
    return self;
}

void
pb_queue_destroy (pb_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->queues);
    free (*self_p);
    *self_p = NULL;
}

static zlistx_t *
s_queue_of (pb_queue_t *self, const char *agency, bool create)
{
    zlistx_t *list = zhashx_lookup (self->queues, agency);
    if (!list && create && (list = zlistx_new ())) {
        zlistx_set_destructor (list, s_item_destroy);
        zhashx_insert (self->queues, agency, list);
    }
    return list;
}

static item_t *
s_find (zlistx_t *list, const uint8_t *event_id)
{
    for (item_t *item = list? zlistx_first (list): NULL; item; item = zlistx_next (list))
        if (memcmp (item->event_id, event_id, PL_EVENT_ID_SIZE) == 0)
            return item;
    return NULL;
}

int
pb_queue_push (pb_queue_t *self, const char *agency, const uint8_t *event_id,
               const uint8_t *header_hash, zframe_t *delivery)
{
    zlistx_t *list = s_queue_of (self, agency, true);
    item_t *item = calloc (1, sizeof *item);
    if (!list || !item || !(item->delivery = zframe_dup (delivery))) {
        free (item);
        return -1;
    }
    memcpy (item->event_id, event_id, PL_EVENT_ID_SIZE);
    memcpy (item->header_hash, header_hash, PL_HASH_SIZE);
    zlistx_add_end (list, item);
    self->total++;
    return 0;
}

const uint8_t *
pb_queue_find (pb_queue_t *self, const char *agency, const uint8_t *event_id)
{
    item_t *item = s_find (s_queue_of (self, agency, false), event_id);
    return item? item->header_hash: NULL;
}

int
pb_queue_remove (pb_queue_t *self, const char *agency, const uint8_t *event_id)
{
    zlistx_t *list = s_queue_of (self, agency, false);
    if (!s_find (list, event_id))
        return -1;
    //  s_find left the cursor on the item
    zlistx_delete (list, zlistx_cursor (list));
    self->total--;
    return 0;
}

zframe_t *
pb_queue_at (pb_queue_t *self, const char *agency, size_t index)
{
    zlistx_t *list = s_queue_of (self, agency, false);
    size_t i = 0;
    for (item_t *item = list? zlistx_first (list): NULL; item; item = zlistx_next (list), i++)
        if (i == index)
            return item->delivery;
    return NULL;
}

size_t
pb_queue_depth (pb_queue_t *self, const char *agency)
{
    zlistx_t *list = s_queue_of (self, agency, false);
    return list? zlistx_size (list): 0;
}

size_t
pb_queue_total (pb_queue_t *self)
{
    return self->total;
}

size_t
pb_queue_drop (pb_queue_t *self, const char *agency)
{
    size_t dropped = pb_queue_depth (self, agency);
    zhashx_delete (self->queues, agency);
    self->total -= dropped;
    return dropped;
}
