/*  pa_inbox: the agency's received events (see pa_inbox.h).  */
#include <string.h>
#include <czmq.h>
#include "pa_inbox.h"
#include "pl_envelope.h"
#include "passerelle.pb-c.h"

typedef struct {
    bool is_notice;                 //  header holds a serialised Notice
    uint64_t seq;
    uint64_t received_at_ms;
    uint8_t *header;
    size_t header_size;
    uint8_t *payload;
    size_t payload_size;
} item_t;

struct _pa_inbox_t {
    zlistx_t *items;        //  item_t, in arrival order
    zhashx_t *seen;         //  event id (hex) -> item_t
    uint64_t last_seq;
};

static void
s_item_destroy (void **item_p)
{
    item_t *item = *item_p;
    if (item) {
        free (item->header);
        if (item->payload)
            sodium_memzero (item->payload, item->payload_size);
        free (item->payload);
        free (item);
        *item_p = NULL;
    }
}

pa_inbox_t *
pa_inbox_new (void)
{
    pa_inbox_t *self = calloc (1, sizeof *self);
    if (!self || !(self->items = zlistx_new ()) || !(self->seen = zhashx_new ())) {
        pa_inbox_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->items, s_item_destroy);
    return self;
}

void
pa_inbox_destroy (pa_inbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->seen);
    zlistx_destroy (&(*self_p)->items);
    free (*self_p);
    *self_p = NULL;
}

bool
pa_inbox_has (pa_inbox_t *self, const uint8_t *event_id)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    return zhashx_lookup (self->seen, pl_event_id_hex (event_id, hex)) != NULL;
}

uint64_t
pa_inbox_add (pa_inbox_t *self, const uint8_t *event_id, const uint8_t *header,
              size_t header_size, const uint8_t *payload, size_t payload_size,
              uint64_t received_at_ms)
{
    item_t *item = calloc (1, sizeof *item);
    if (!item || !(item->header = malloc (header_size))
    ||  !(item->payload = malloc (payload_size? payload_size: 1))) {
        void *p = item;
        s_item_destroy (&p);
        return 0;
    }
    memcpy (item->header, header, header_size);
    item->header_size = header_size;
    if (payload_size && payload)
        memcpy (item->payload, payload, payload_size);
    item->payload_size = payload_size;
    item->received_at_ms = received_at_ms;
    item->seq = ++self->last_seq;
    zlistx_add_end (self->items, item);
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    zhashx_insert (self->seen, pl_event_id_hex (event_id, hex), item);
    return item->seq;
}

static json_t *
s_string_list (char **list, size_t count)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (array, json_string (list [i]));
    return array;
}

static void
s_set_optional (json_t *object, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new (object, key, json_string (value));
}

static json_t *
s_notice_to_json (item_t *item)
{
    Passerelle__Notice *n = passerelle__notice__unpack (NULL, item->header_size, item->header);
    if (!n)
        return NULL;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    json_t *json = json_object ();
    json_object_set_new (json, "seq", json_integer ((json_int_t) item->seq));
    json_object_set_new (json, "type", json_string ("notice"));
    json_object_set_new (json, "kind", json_string (n->kind? n->kind: ""));
    if (n->notice_id.len == PL_EVENT_ID_SIZE)
        json_object_set_new (json, "notice_id", json_string (pl_event_id_hex (n->notice_id.data, hex)));
    json_object_set_new (json, "at_ms", json_integer ((json_int_t) n->at_ms));
    json_object_set_new (json, "received_at_ms", json_integer ((json_int_t) item->received_at_ms));
    s_set_optional (json, "case", n->case_ref);
    s_set_optional (json, "consent", n->consent_id);
    s_set_optional (json, "agency", n->agency);
    s_set_optional (json, "text", n->text);
    if (n->event_id.len == PL_EVENT_ID_SIZE)
        json_object_set_new (json, "event_id", json_string (pl_event_id_hex (n->event_id.data, hex)));
    passerelle__notice__free_unpacked (n, NULL);
    return json;
}

static json_t *
s_item_to_json (item_t *item)
{
    if (item->is_notice)
        return s_notice_to_json (item);
    Passerelle__EventHeader *h = passerelle__event_header__unpack (NULL, item->header_size,
                                                                   item->header);
    if (!h)
        return NULL;
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    json_t *json = json_object ();
    json_object_set_new (json, "seq", json_integer ((json_int_t) item->seq));
    json_object_set_new (json, "event_id", json_string (pl_event_id_hex (h->event_id.data, hex)));
    json_object_set_new (json, "type", json_string (h->event_type));
    json_object_set_new (json, "case", json_string (h->case_ref));
    json_object_set_new (json, "publisher", json_string (h->publisher));
    json_object_set_new (json, "sequence", json_integer ((json_int_t) h->sequence));
    json_object_set_new (json, "created_at_ms", json_integer ((json_int_t) h->created_at_ms));
    json_object_set_new (json, "valid_until_ms", json_integer ((json_int_t) h->valid_until_ms));
    json_object_set_new (json, "received_at_ms", json_integer ((json_int_t) item->received_at_ms));
    json_object_set_new (json, "categories", s_string_list (h->categories, h->n_categories));
    json_object_set_new (json, "purpose", json_string (h->purpose));
    json_object_set_new (json, "basis", json_string (h->legal_basis));
    s_set_optional (json, "consent", h->consent_id);
    s_set_optional (json, "justification", h->justification);
    s_set_optional (json, "risk", h->risk_level);
    if (h->supersedes.len == PL_EVENT_ID_SIZE)
        json_object_set_new (json, "supersedes",
                             json_string (pl_event_id_hex (h->supersedes.data, hex)));
    json_object_set_new (json, "to", s_string_list (h->to_agencies, h->n_to_agencies));
    json_object_set_new (json, "to_roles", s_string_list (h->to_roles, h->n_to_roles));
    //  Text stays readable; anything that is not UTF-8 travels as base64
    json_t *text = memchr (item->payload, 0, item->payload_size)? NULL:
        json_stringn ((const char *) item->payload, item->payload_size);
    if (text)
        json_object_set_new (json, "payload", text);
    else {
        size_t size = sodium_base64_ENCODED_LEN (item->payload_size, sodium_base64_VARIANT_ORIGINAL);
        char *base64 = malloc (size);
        if (base64) {
            sodium_bin2base64 (base64, size, item->payload, item->payload_size,
                               sodium_base64_VARIANT_ORIGINAL);
            json_object_set_new (json, "payload_base64", json_string (base64));
            free (base64);
        }
    }
    passerelle__event_header__free_unpacked (h, NULL);
    return json;
}

json_t *
pa_inbox_list (pa_inbox_t *self, uint64_t after, size_t max)
{
    json_t *array = json_array ();
    for (item_t *item = zlistx_first (self->items); item && json_array_size (array) < max;
         item = zlistx_next (self->items))
        if (item->seq > after) {
            json_t *json = s_item_to_json (item);
            if (json)
                json_array_append_new (array, json);
        }
    return array;
}

uint64_t
pa_inbox_add_notice (pa_inbox_t *self, const uint8_t *notice_id, const uint8_t *notice,
                     size_t notice_size, uint64_t received_at_ms)
{
    uint64_t seq = pa_inbox_add (self, notice_id, notice, notice_size, NULL, 0, received_at_ms);
    if (seq) {
        item_t *item = zlistx_last (self->items);
        item->is_notice = true;
    }
    return seq;
}

uint64_t
pa_inbox_last (pa_inbox_t *self)
{
    return self->last_seq;
}
