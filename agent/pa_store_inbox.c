/*  pa_store_inbox: the durable inbox (see pa_store.h, "Inbox").
 *
 *  Delivered events (their signed header bytes and decrypted payload) and
 *  broker notices, each under a local sequence number that is the cursor the
 *  CLI and API page with, each kept once by its event or notice id. This
 *  replaces pa_inbox with the same numbering and the same JSON, durable:
 *  an add is committed (fsync'd) before it returns, so the agent receipts
 *  only what survives a crash; a burst is one commit (add_all). The plaintext payloads live here and nowhere
 *  else on disk.
 *
 *  Records: inbox (local seq -> flags, received_at_ms, id, header size,
 *  header, payload), inbox_ids (id -> local seq), inbox_done (local seq ->
 *  processed_at_ms), meta "inbox_last".  */
#include <string.h>
#include <sodium.h>
#include "pa_store_int.h"
#include "pl_envelope.h"
#include "passerelle.pb-c.h"

_Static_assert (PA_STORE_EVENT_ID_SIZE == PL_EVENT_ID_SIZE, "store ids are event ids");

#define ID          PA_STORE_EVENT_ID_SIZE
#define FLAG_NOTICE 1
//  flags u8, received_at_ms u64, id, header size u32
#define INBOX_HEAD  (1 + 8 + ID + 4)
//  Beside the record bytes, an add writes the id index, inbox_last, and
//  node headers
#define ADD_OVERHEAD (ID + 8 + 16 + 3 * 16)

//  A record read in place (pointers into the map: valid in its txn only).
typedef struct {
    uint64_t seq;
    bool is_notice;
    uint64_t received_at_ms;
    const uint8_t *event_id;
    const uint8_t *header;
    size_t header_size;
    const uint8_t *payload;
    size_t payload_size;
    bool processed;
    uint64_t processed_at_ms;
} record_t;

//  Write one item in txn after the last sequence number *last (which it
//  advances). 0, or -1 with the reason set.
static int
s_inbox_put (pa_store_t *self, MDB_txn *txn, pa_inbox_item_t *item, uint64_t *last)
{
    MDB_val v;
    int rc = pa_store_get (self, txn, self->inbox_ids, item->event_id, ID, &v,
                           "inbox add: look up id");
    if (rc == 0)
        pa_store_fail (self, "inbox add: already in the inbox");
    if (rc != PA_STORE_NOT_FOUND)
        return -1;
    uint64_t seq = *last + 1;
    uint8_t key [8];
    pl_put_be64 (key, seq);
    MDB_val k = { sizeof key, key };
    v = (MDB_val) { INBOX_HEAD + item->header_size + item->payload_size, NULL };
    if ((rc = mdb_put (txn, self->inbox, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE)))
        return pa_store_lmdb_fail (self, rc, "inbox add: write inbox");
    uint8_t *record = v.mv_data;
    record [0] = item->is_notice? FLAG_NOTICE: 0;
    pl_put_be64 (record + 1, item->received_at_ms);
    memcpy (record + 9, item->event_id, ID);
    pl_put_be32 (record + 9 + ID, (uint32_t) item->header_size);
    memcpy (record + INBOX_HEAD, item->header, item->header_size);
    if (item->payload_size)
        memcpy (record + INBOX_HEAD + item->header_size, item->payload, item->payload_size);
    if (pa_store_put (self, txn, self->inbox_ids, item->event_id, ID, key, 8, MDB_NOOVERWRITE,
                      "inbox add: write inbox_ids"))
        return -1;
    item->seq = *last = seq;
    return 0;
}

int
pa_store_inbox_add_all (pa_store_t *self, pa_inbox_item_t *items, size_t count)
{
    size_t bytes = 0;
    for (size_t i = 0; i < count; i++) {
        pa_inbox_item_t *item = &items [i];
        item->seq = 0;
        if (!item->event_id || !item->header || !item->header_size
        ||  item->header_size > UINT32_MAX || (item->payload_size && !item->payload)) {
            pa_store_fail (self, "inbox add: no id or header, or a header over 4 GiB");
            return -1;
        }
        //  and a page: each random id may copy a leaf of inbox_ids
        bytes += INBOX_HEAD + item->header_size + item->payload_size + ADD_OVERHEAD
               + self->page_size;
    }
    if (count == 0)
        return 0;
    MDB_txn *txn;
    uint64_t last;
    if (pa_store_room (self, bytes, "inbox add")
    ||  pa_store_write_begin (self, &txn, "inbox add"))
        return -1;
    if (pa_store_meta_u64 (self, txn, "inbox_last", &last))
        goto failed;
    for (size_t i = 0; i < count; i++)
        if (s_inbox_put (self, txn, &items [i], &last))
            goto failed;
    if (pa_store_meta_put_u64 (self, txn, "inbox_last", last))
        goto failed;
    if (pa_store_commit (self, txn, "inbox add") == 0)
        return 0;
    for (size_t i = 0; i < count; i++)
        items [i].seq = 0;
    return -1;

failed:
    mdb_txn_abort (txn);
    for (size_t i = 0; i < count; i++)
        items [i].seq = 0;
    return -1;
}

uint64_t
pa_store_inbox_add (pa_store_t *self, const uint8_t *event_id, const uint8_t *header,
                    size_t header_size, const uint8_t *payload, size_t payload_size,
                    uint64_t received_at_ms, bool is_notice)
{
    pa_inbox_item_t item = { event_id, header, header_size, payload, payload_size,
                             received_at_ms, is_notice, 0 };
    return pa_store_inbox_add_all (self, &item, 1) == 0? item.seq: 0;
}

bool
pa_store_inbox_has (pa_store_t *self, const uint8_t *event_id)
{
    MDB_txn *txn;
    MDB_val v;
    if (!event_id || pa_store_read_begin (self, &txn, "inbox has"))
        return false;
    int rc = pa_store_get (self, txn, self->inbox_ids, event_id, ID, &v, "inbox has");
    mdb_txn_abort (txn);
    return rc == 0;
}

uint64_t
pa_store_inbox_last (pa_store_t *self)
{
    MDB_txn *txn;
    uint64_t last = 0;
    if (pa_store_read_begin (self, &txn, "inbox last") == 0) {
        pa_store_meta_u64 (self, txn, "inbox_last", &last);
        mdb_txn_abort (txn);
    }
    return last;
}

int
pa_store_inbox_mark_processed (pa_store_t *self, uint64_t seq, uint64_t processed_at_ms)
{
    MDB_txn *txn;
    MDB_val v;
    uint8_t key [8], value [8];
    pl_put_be64 (key, seq);
    pl_put_be64 (value, processed_at_ms);
    int rc = pa_store_write_begin (self, &txn, "inbox mark processed");
    if (rc)
        return rc;
    rc = pa_store_get (self, txn, self->inbox, key, 8, &v, "inbox mark processed: read inbox");
    if (rc == 0) {
        rc = pa_store_get (self, txn, self->inbox_done, key, 8, &v,
                           "inbox mark processed: read inbox_done");
        if (rc == 0) {                      //  marked before: keep the first time
            mdb_txn_abort (txn);
            return 0;
        }
        if (rc == PA_STORE_NOT_FOUND
        &&  (rc = pa_store_put (self, txn, self->inbox_done, key, 8, value, 8, 0,
                                "inbox mark processed: write inbox_done")) == 0)
            return pa_store_commit (self, txn, "inbox mark processed");
    }
    mdb_txn_abort (txn);
    return rc;
}

//  --------------------------------------------------------------------------
//  Listing: the JSON pa_inbox_list gives, plus "processed"

static json_t *
s_string_list (char **list, size_t count)
{
    json_t *array = json_array ();
    for (size_t i = 0; array && i < count; i++)
        json_array_append_new (array, json_string (list [i]));
    return array;
}

static void
s_set_text (json_t *object, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new (object, key, json_string (value));
}

static void
s_set_id (json_t *object, const char *key, const ProtobufCBinaryData *id)
{
    char hex [PL_EVENT_ID_SIZE * 2 + 1];
    if (id->len == PL_EVENT_ID_SIZE)
        json_object_set_new (object, key, json_string (pl_event_id_hex (id->data, hex)));
}

static json_t *
s_notice_json (const record_t *r)
{
    Passerelle__Notice *n = passerelle__notice__unpack (NULL, r->header_size, r->header);
    json_t *json = n? json_object (): NULL;
    if (json) {
        json_object_set_new (json, "seq", json_integer ((json_int_t) r->seq));
        json_object_set_new (json, "type", json_string ("notice"));
        json_object_set_new (json, "kind", json_string (n->kind? n->kind: ""));
        s_set_id (json, "notice_id", &n->notice_id);
        json_object_set_new (json, "at_ms", json_integer ((json_int_t) n->at_ms));
        json_object_set_new (json, "received_at_ms", json_integer ((json_int_t) r->received_at_ms));
        s_set_text (json, "case", n->case_ref);
        s_set_text (json, "consent", n->consent_id);
        s_set_text (json, "agency", n->agency);
        s_set_text (json, "text", n->text);
        s_set_id (json, "event_id", &n->event_id);
    }
    passerelle__notice__free_unpacked (n, NULL);
    return json;
}

//  Text stays readable; a payload holding a NUL or not UTF-8 goes as base64.
static void
s_set_payload (json_t *json, const uint8_t *payload, size_t size)
{
    json_t *text = size == 0? json_string (""):
        memchr (payload, 0, size)? NULL: json_stringn ((const char *) payload, size);
    if (text) {
        json_object_set_new (json, "payload", text);
        return;
    }
    size_t encoded = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL);
    char *base64 = malloc (encoded);
    if (base64) {
        sodium_bin2base64 (base64, encoded, payload, size, sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new (json, "payload_base64", json_string (base64));
        free (base64);
    }
}

static json_t *
s_event_json (const record_t *r)
{
    Passerelle__EventHeader *h = passerelle__event_header__unpack (NULL, r->header_size,
                                                                   r->header);
    json_t *json = h? json_object (): NULL;
    if (json) {
        char hex [PL_EVENT_ID_SIZE * 2 + 1];
        json_object_set_new (json, "seq", json_integer ((json_int_t) r->seq));
        json_object_set_new (json, "event_id", json_string (pl_event_id_hex (r->event_id, hex)));
        json_object_set_new (json, "type", json_string (h->event_type));
        json_object_set_new (json, "case", json_string (h->case_ref));
        json_object_set_new (json, "publisher", json_string (h->publisher));
        json_object_set_new (json, "sequence", json_integer ((json_int_t) h->sequence));
        json_object_set_new (json, "created_at_ms", json_integer ((json_int_t) h->created_at_ms));
        json_object_set_new (json, "valid_until_ms",
                             json_integer ((json_int_t) h->valid_until_ms));
        json_object_set_new (json, "received_at_ms", json_integer ((json_int_t) r->received_at_ms));
        json_object_set_new (json, "categories", s_string_list (h->categories, h->n_categories));
        json_object_set_new (json, "purpose", json_string (h->purpose));
        json_object_set_new (json, "basis", json_string (h->legal_basis));
        s_set_text (json, "consent", h->consent_id);
        s_set_text (json, "justification", h->justification);
        s_set_text (json, "risk", h->risk_level);
        s_set_id (json, "supersedes", &h->supersedes);
        json_object_set_new (json, "to", s_string_list (h->to_agencies, h->n_to_agencies));
        json_object_set_new (json, "to_roles", s_string_list (h->to_roles, h->n_to_roles));
        s_set_payload (json, r->payload, r->payload_size);
    }
    passerelle__event_header__free_unpacked (h, NULL);
    return json;
}

//  Read the record under k/v in place, and whether it was processed.
static int
s_record (pa_store_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, record_t *r)
{
    const uint8_t *bytes = v->mv_data;
    if (k->mv_size != 8 || v->mv_size < INBOX_HEAD)
        return pa_store_fail (self, "inbox list: store damaged: record of %zu bytes", v->mv_size);
    r->seq = pl_get_be64 (k->mv_data);
    r->is_notice = bytes [0] & FLAG_NOTICE;
    r->received_at_ms = pl_get_be64 (bytes + 1);
    r->event_id = bytes + 9;
    r->header_size = pl_get_be32 (bytes + 9 + ID);
    if (r->header_size > v->mv_size - INBOX_HEAD)
        return pa_store_fail (self, "inbox list: store damaged: record %llu is cut short",
                              (unsigned long long) r->seq);
    r->header = bytes + INBOX_HEAD;
    r->payload = r->header + r->header_size;
    r->payload_size = v->mv_size - INBOX_HEAD - r->header_size;
    MDB_val done;
    int rc = pa_store_get (self, txn, self->inbox_done, k->mv_data, 8, &done,
                           "inbox list: read inbox_done");
    if (rc < 0)
        return rc;
    r->processed = rc == 0 && done.mv_size == 8;
    r->processed_at_ms = r->processed? pl_get_be64 (done.mv_data): 0;
    return 0;
}

json_t *
pa_store_inbox_list (pa_store_t *self, uint64_t after, size_t max)
{
    json_t *array = json_array ();
    MDB_txn *txn;
    MDB_cursor *cursor;
    if (!array || after == UINT64_MAX || max == 0)
        return array;
    if (pa_store_read_begin (self, &txn, "inbox list")) {
        json_decref (array);
        return NULL;
    }
    int rc = mdb_cursor_open (txn, self->inbox, &cursor);
    if (rc) {
        pa_store_lmdb_fail (self, rc, "inbox list: open cursor");
        mdb_txn_abort (txn);
        json_decref (array);
        return NULL;
    }
    uint8_t start [8];
    pl_put_be64 (start, after + 1);
    MDB_val k = { sizeof start, start }, v;
    bool failed = false;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
         rc == 0 && json_array_size (array) < max;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        record_t r = { 0 };
        if (s_record (self, txn, &k, &v, &r)) {
            failed = true;
            break;
        }
        json_t *json = r.is_notice? s_notice_json (&r): s_event_json (&r);
        if (!json)
            continue;                       //  no longer parses: skipped, as pa_inbox did
        json_object_set_new (json, "processed", json_boolean (r.processed));
        if (r.processed)
            json_object_set_new (json, "processed_at_ms",
                                 json_integer ((json_int_t) r.processed_at_ms));
        json_array_append_new (array, json);
    }
    if (rc && rc != MDB_NOTFOUND) {
        pa_store_lmdb_fail (self, rc, "inbox list: read inbox");
        failed = true;
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (failed) {
        json_decref (array);
        return NULL;
    }
    return array;
}
