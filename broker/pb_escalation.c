/*  pb_escalation: tracking escalations to their deadline (pb_escalation.h).
 *  A handful are open at any time (they are receipted within milliseconds
 *  when the recipient is connected), so a hash and a scan per tick do.  */
#include <czmq.h>
#include "pb_escalation.h"
#include "pb_store_queue.h"
#include "pl_directory.h"
#include "pl_envelope.h"

struct _pb_escalation_t {
    zhashx_t *items;        //  "recipient\n<event hex>" -> pb_overdue_t
};

static void
s_key (const char *recipient, const uint8_t *event_id, char *key, size_t size)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    pl_event_id_hex (event_id, hex);
    snprintf (key, size, "%s\n%s", recipient, hex);
}

pb_escalation_t *
pb_escalation_new (void)
{
    pb_escalation_t *self = calloc (1, sizeof *self);
    if (!self || !(self->items = zhashx_new ())) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->items, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
pb_escalation_destroy (pb_escalation_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->items);
    free (*self_p);
    *self_p = NULL;
}

void
pb_escalation_track (pb_escalation_t *self, const char *recipient, const char *publisher,
                     const char *case_ref, const uint8_t *event_id, uint64_t queued_ms)
{
    char key [128];
    s_key (recipient, event_id, key, sizeof key);
    if (zhashx_lookup (self->items, key))
        return;
    pb_overdue_t *entry = calloc (1, sizeof *entry);
    if (!entry)
        return;
    snprintf (entry->recipient, sizeof entry->recipient, "%s", recipient);
    snprintf (entry->publisher, sizeof entry->publisher, "%s", publisher? publisher: "");
    snprintf (entry->case_ref, sizeof entry->case_ref, "%s", case_ref? case_ref: "");
    memcpy (entry->event_id, event_id, sizeof entry->event_id);
    entry->queued_ms = queued_ms;
    zhashx_insert (self->items, key, entry);
}

bool
pb_escalation_done (pb_escalation_t *self, const char *recipient, const uint8_t *event_id,
                    pb_overdue_t *out)
{
    //  Every receipt asks; hardly any delivery is an escalation
    if (zhashx_size (self->items) == 0)
        return false;
    char key [128];
    s_key (recipient, event_id, key, sizeof key);
    pb_overdue_t *entry = zhashx_lookup (self->items, key);
    bool late = entry && entry->reported_late;
    if (late && out)
        *out = *entry;
    if (entry)
        zhashx_delete (self->items, key);
    return late;
}

size_t
pb_escalation_overdue (pb_escalation_t *self, uint64_t cutoff_ms, pb_overdue_t *out, size_t max)
{
    size_t count = 0;
    for (pb_overdue_t *e = zhashx_first (self->items); e && count < max; e = zhashx_next (self->items))
        if (!e->reported_late && e->queued_ms < cutoff_ms) {
            e->reported_late = true;
            out [count++] = *e;
        }
    return count;
}

size_t
pb_escalation_size (pb_escalation_t *self)
{
    return zhashx_size (self->items);
}

typedef struct {
    pb_escalation_t *self;
    pb_store_t *store;
    size_t tracked;
} rebuild_t;

static int
s_track_queued (const pb_queue_item_t *item, void *arg)
{
    rebuild_t *rebuild = arg;
    if (!item->priority)
        return 1;                   //  the priority lane comes first: done
    pb_event_t *event = NULL;
    if (item->event_id_size == 16
    &&  pb_store_event_lookup (rebuild->store, item->event_id, item->event_id_size, &event) == 0) {
        pb_escalation_track (rebuild->self, item->agency, event->publisher, "", item->event_id,
                             item->enqueued_ms);
        rebuild->tracked++;
    }
    pb_event_destroy (&event);
    return 0;
}

size_t
pb_escalation_rebuild (pb_escalation_t *self, pb_store_t *store, pl_directory_t *directory)
{
    rebuild_t rebuild = { self, store, 0 };
    for (size_t i = 0; i < pl_directory_size (directory); i++)
        pb_store_queue_each (store, pl_directory_at (directory, i)->id, NULL, 0, s_track_queued,
                             &rebuild);
    return rebuild.tracked;
}
