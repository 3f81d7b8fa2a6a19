/*  pa_store_outbox: the outbox and what became of sent events (see
 *  pa_store.h, "Outbox").
 *
 *  Sealed envelopes wait here from the moment the agency system's event is
 *  accepted until the broker answers: keyed by the publisher sequence number
 *  (acceptance order), with a small separate state record (attempts, next
 *  attempt) so that recording a send rewrites 12 bytes, not the envelope.
 *  The add also records the last sequence number, in the same transaction.
 *  The broker's answer then replaces the item: "sent" keeps it for "what
 *  happened to X" after a restart, "shared_with" keeps who got an accepted
 *  event, so a correction can be sealed to all of them.
 *
 *  Records: outbox (seq -> event id, accepted_at_ms, envelope), outbox_state
 *  (seq -> attempts u32, next_attempt_ms u64), outbox_ids (event id -> seq),
 *  sent (event id -> seq, outcome JSON), shared_with (event id -> "a,b").  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "pa_store_int.h"

#define ID           PA_STORE_EVENT_ID_SIZE
//  outbox value: event id, accepted_at_ms, then the envelope
#define OUTBOX_HEAD  (ID + 8)
//  outbox_state value: attempts u32, next_attempt_ms u64
#define STATE_SIZE   12
//  Beside the record bytes, an add writes three small keys and node headers
#define ADD_OVERHEAD (STATE_SIZE + ID + 8 + 3 * 16)

int
pa_store_outbox_add (pa_store_t *self, const uint8_t *event_id, const uint8_t *envelope,
                     size_t size, uint64_t sequence, uint64_t accepted_at_ms)
{
    if (!event_id || !envelope || !size || !sequence)
        return pa_store_fail (self, "outbox add: no event id, envelope or sequence number");
    int rc = pa_store_room (self, OUTBOX_HEAD + size + ADD_OVERHEAD,
                            "outbox add");
    MDB_txn *txn;
    if (rc || (rc = pa_store_write_begin (self, &txn, "outbox add")))
        return rc;
    uint64_t last;
    MDB_val v;
    if ((rc = pa_store_meta_u64 (self, txn, "last_sequence", &last)))
        goto failed;
    if (sequence <= last) {
        rc = pa_store_fail (self, "outbox add: sequence number %llu is not above the last "
                            "one, %llu", (unsigned long long) sequence, (unsigned long long) last);
        goto failed;
    }
    MDB_dbi known [] = { self->outbox_ids, self->sent };
    for (size_t i = 0; i < 2; i++) {
        rc = pa_store_get (self, txn, known [i], event_id, ID, &v, "outbox add: look up id");
        if (rc == 0)
            rc = pa_store_fail (self, "outbox add: event id already in the outbox or sent");
        if (rc < 0)
            goto failed;
    }
    uint8_t key [8], state [STATE_SIZE];
    pl_put_be64 (key, sequence);
    MDB_val k = { sizeof key, key };
    v = (MDB_val) { OUTBOX_HEAD + size, NULL };
    if ((rc = mdb_put (txn, self->outbox, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE))) {
        rc = pa_store_lmdb_fail (self, rc, "outbox add: write outbox");
        goto failed;
    }
    uint8_t *record = v.mv_data;
    memcpy (record, event_id, ID);
    pl_put_be64 (record + ID, accepted_at_ms);
    memcpy (record + OUTBOX_HEAD, envelope, size);
    pl_put_be32 (state, 0);
    pl_put_be64 (state + 4, accepted_at_ms);
    if ((rc = pa_store_put (self, txn, self->outbox_state, key, 8, state, sizeof state,
                            MDB_NOOVERWRITE, "outbox add: write outbox_state"))
    ||  (rc = pa_store_put (self, txn, self->outbox_ids, event_id, ID, key, 8,
                            MDB_NOOVERWRITE, "outbox add: write outbox_ids"))
    ||  (rc = pa_store_meta_put_u64 (self, txn, "last_sequence", sequence)))
        goto failed;
    return pa_store_commit (self, txn, "outbox add");

failed:
    mdb_txn_abort (txn);
    return rc;
}

//  Fill *item from the records under key (state: its outbox_state value).
static int
s_fill_item (pa_store_t *self, MDB_txn *txn, const uint8_t *key, const MDB_val *state,
             pa_store_pending_t *item)
{
    MDB_val v;
    int rc = pa_store_get (self, txn, self->outbox, key, 8, &v, "outbox: read item");
    if (rc == PA_STORE_NOT_FOUND || (rc == 0 && v.mv_size <= OUTBOX_HEAD)
    ||  state->mv_size != STATE_SIZE)
        return pa_store_fail (self, "store damaged: outbox item %llu is incomplete",
                              (unsigned long long) pl_get_be64 (key));
    if (rc)
        return rc;
    const uint8_t *record = v.mv_data, *st = state->mv_data;
    uint8_t *envelope = malloc (v.mv_size - OUTBOX_HEAD);
    if (!envelope)
        return pa_store_fail (self, "outbox: out of memory");
    memcpy (item->event_id, record, ID);
    item->sequence = pl_get_be64 (key);
    item->accepted_at_ms = pl_get_be64 (record + ID);
    item->attempts = pl_get_be32 (st);
    item->next_attempt_ms = pl_get_be64 (st + 4);
    item->size = v.mv_size - OUTBOX_HEAD;
    memcpy (envelope, record + OUTBOX_HEAD, item->size);
    item->envelope = envelope;
    return 0;
}

int
pa_store_outbox_next (pa_store_t *self, uint64_t after, uint64_t due_by_ms,
                      pa_store_pending_t *item)
{
    pa_store_pending_clear (item);
    if (after == UINT64_MAX)
        return PA_STORE_NOT_FOUND;
    MDB_txn *txn;
    MDB_cursor *cursor;
    int rc = pa_store_read_begin (self, &txn, "outbox next");
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open (txn, self->outbox_state, &cursor))) {
        mdb_txn_abort (txn);
        return pa_store_lmdb_fail (self, rc, "outbox next: open cursor");
    }
    uint8_t start [8];
    pl_put_be64 (start, after + 1);
    MDB_val k = { sizeof start, start }, v;
    //  Only the small state records are read until a due one turns up
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT))
        if (k.mv_size == 8 && v.mv_size == STATE_SIZE
        &&  pl_get_be64 ((uint8_t *) v.mv_data + 4) <= due_by_ms)
            break;
    if (rc == MDB_NOTFOUND)
        rc = PA_STORE_NOT_FOUND;
    else
    if (rc)
        rc = pa_store_lmdb_fail (self, rc, "outbox next: read outbox_state");
    else
        rc = s_fill_item (self, txn, k.mv_data, &v, item);
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    return rc;
}

int
pa_store_outbox_get (pa_store_t *self, const uint8_t *event_id, pa_store_pending_t *item)
{
    pa_store_pending_clear (item);
    MDB_txn *txn;
    MDB_val seq, state;
    int rc = pa_store_read_begin (self, &txn, "outbox get");
    if (rc)
        return rc;
    if ((rc = pa_store_get (self, txn, self->outbox_ids, event_id, ID, &seq, "outbox get")) == 0
    &&  seq.mv_size != 8)
        rc = pa_store_fail (self, "store damaged: outbox_ids value of %zu bytes", seq.mv_size);
    if (rc == 0
    &&  (rc = pa_store_get (self, txn, self->outbox_state, seq.mv_data, 8, &state,
                            "outbox get")) == PA_STORE_NOT_FOUND)
        rc = pa_store_fail (self, "store damaged: outbox item without its state");
    if (rc == 0)
        rc = s_fill_item (self, txn, seq.mv_data, &state, item);
    mdb_txn_abort (txn);
    return rc;
}

void
pa_store_pending_clear (pa_store_pending_t *item)
{
    if (item) {
        free (item->envelope);
        memset (item, 0, sizeof *item);
    }
}

//  The pending item's sequence key, in a write txn: 0, NOT_FOUND, <0.
static int
s_pending_key (pa_store_t *self, MDB_txn *txn, const uint8_t *event_id, uint8_t *key,
               const char *op)
{
    MDB_val v;
    int rc = pa_store_get (self, txn, self->outbox_ids, event_id, ID, &v, op);
    if (rc == 0 && v.mv_size != 8)
        rc = pa_store_fail (self, "%s: store damaged: outbox_ids value of %zu bytes", op,
                            v.mv_size);
    if (rc == 0)
        memcpy (key, v.mv_data, 8);
    return rc;
}

int
pa_store_outbox_attempted (pa_store_t *self, const uint8_t *event_id, uint64_t next_attempt_ms)
{
    if (!event_id)
        return pa_store_fail (self, "outbox attempted: no event id");
    uint8_t ids [1][16];
    memcpy (ids [0], event_id, sizeof ids [0]);
    return pa_store_outbox_attempted_all (self, (const uint8_t (*) [16]) ids, &next_attempt_ms, 1);
}

int
pa_store_outbox_attempted_all (pa_store_t *self, const uint8_t (*event_ids) [16],
                               const uint64_t *next_attempt_ms, size_t count)
{
    MDB_txn *txn;
    MDB_val v;
    uint8_t key [8], state [STATE_SIZE];
    int rc = pa_store_write_begin (self, &txn, "outbox attempted");
    if (rc)
        return rc;
    size_t found = 0;
    for (size_t i = 0; i < count; i++) {
        //  Answered meanwhile: nothing to record for that one
        rc = s_pending_key (self, txn, event_ids [i], key, "outbox attempted");
        if (rc == PA_STORE_NOT_FOUND)
            continue;
        if (rc)
            goto failed;
        found++;
        rc = pa_store_get (self, txn, self->outbox_state, key, 8, &v, "outbox attempted");
        if (rc == PA_STORE_NOT_FOUND || (rc == 0 && v.mv_size != STATE_SIZE))
            rc = pa_store_fail (self, "store damaged: outbox item without its state");
        if (rc)
            goto failed;
        uint32_t attempts = pl_get_be32 (v.mv_data);
        pl_put_be32 (state, attempts < UINT32_MAX? attempts + 1: attempts);
        pl_put_be64 (state + 4, next_attempt_ms [i]);
        if ((rc = pa_store_put (self, txn, self->outbox_state, key, 8, state, sizeof state, 0,
                                "outbox attempted: write outbox_state")))
            goto failed;
    }
    if (found == 0) {
        rc = PA_STORE_NOT_FOUND;
        goto failed;
    }
    return pa_store_commit (self, txn, "outbox attempted");

failed:
    mdb_txn_abort (txn);
    return rc;
}

//  "a,b,c" from ids (malloc'd), or NULL with a reason.
static char *
s_join (pa_store_t *self, const char *const *ids, size_t count)
{
    size_t total = 1;
    for (size_t i = 0; i < count; i++) {
        if (!ids [i] || !*ids [i] || strchr (ids [i], ',')) {
            pa_store_fail (self, "outbox done: recipient %zu is empty or holds a ','", i);
            return NULL;
        }
        total += strlen (ids [i]) + 1;
    }
    char *list = malloc (total);
    if (!list) {
        pa_store_fail (self, "outbox done: out of memory");
        return NULL;
    }
    *list = 0;
    for (size_t i = 0; i < count; i++) {
        if (i)
            strcat (list, ",");
        strcat (list, ids [i]);
    }
    return list;
}

int
pa_store_outbox_done (pa_store_t *self, const uint8_t *event_id, const char *outcome_json,
                      const char *const *shared_with, size_t n_shared)
{
    if (!event_id || !outcome_json || (n_shared && !shared_with))
        return pa_store_fail (self, "outbox done: no event id or outcome");
    json_error_t parse_error;
    json_t *parsed = json_loads (outcome_json, JSON_DECODE_ANY, &parse_error);
    if (!parsed)
        return pa_store_fail (self, "outbox done: the outcome is not JSON (%s)",
                              parse_error.text);
    json_decref (parsed);
    char *list = n_shared? s_join (self, shared_with, n_shared): NULL;
    if (n_shared && !list)
        return -1;
    MDB_txn *txn;
    uint8_t key [8];
    int rc = pa_store_write_begin (self, &txn, "outbox done");
    if (rc) {
        free (list);
        return rc;
    }
    if ((rc = s_pending_key (self, txn, event_id, key, "outbox done")))
        goto failed;
    MDB_val k = { 8, key }, id = { ID, (void *) event_id };
    if ((rc = mdb_del (txn, self->outbox, &k, NULL))
    ||  (rc = mdb_del (txn, self->outbox_state, &k, NULL))
    ||  (rc = mdb_del (txn, self->outbox_ids, &id, NULL))) {
        rc = pa_store_lmdb_fail (self, rc, rc == MDB_NOTFOUND? "outbox done: store damaged, "
                                 "part of the item missing": "outbox done: remove item");
        goto failed;
    }
    size_t json_size = strlen (outcome_json);
    MDB_val v = { 8 + json_size, NULL };
    if ((rc = mdb_put (txn, self->sent, &id, &v, MDB_RESERVE))) {
        rc = pa_store_lmdb_fail (self, rc, "outbox done: write sent");
        goto failed;
    }
    memcpy (v.mv_data, key, 8);
    memcpy ((uint8_t *) v.mv_data + 8, outcome_json, json_size);
    if (list && (rc = pa_store_put (self, txn, self->shared_with, event_id, ID, list,
                                    strlen (list), 0, "outbox done: write shared_with")))
        goto failed;
    free (list);
    return pa_store_commit (self, txn, "outbox done");

failed:
    free (list);
    mdb_txn_abort (txn);
    return rc;
}

size_t
pa_store_outbox_depth (pa_store_t *self)
{
    MDB_txn *txn;
    MDB_stat st = { 0 };
    if (pa_store_read_begin (self, &txn, "outbox depth") == 0) {
        int rc = mdb_stat (txn, self->outbox, &st);
        if (rc)
            pa_store_lmdb_fail (self, rc, "outbox depth");
        mdb_txn_abort (txn);
    }
    return st.ms_entries;
}

//  A malloc'd, NUL-terminated copy of the value under event_id in dbi, from
//  byte skip on: 0, NOT_FOUND, <0.
static int
s_lookup_text (pa_store_t *self, MDB_dbi dbi, const uint8_t *event_id, size_t skip,
               char **text_p, const char *op)
{
    *text_p = NULL;
    MDB_txn *txn;
    MDB_val v;
    int rc = event_id? pa_store_read_begin (self, &txn, op): pa_store_fail (self, "%s: no id", op);
    if (rc)
        return rc;
    if ((rc = pa_store_get (self, txn, dbi, event_id, ID, &v, op)) == 0) {
        if (v.mv_size < skip)
            rc = pa_store_fail (self, "%s: store damaged: record of %zu bytes", op, v.mv_size);
        else
        if (!(*text_p = malloc (v.mv_size - skip + 1)))
            rc = pa_store_fail (self, "%s: out of memory", op);
        else {
            memcpy (*text_p, (uint8_t *) v.mv_data + skip, v.mv_size - skip);
            (*text_p) [v.mv_size - skip] = 0;
        }
    }
    mdb_txn_abort (txn);
    return rc;
}

int
pa_store_sent_lookup (pa_store_t *self, const uint8_t *event_id, char **json_p)
{
    return s_lookup_text (self, self->sent, event_id, 8, json_p, "sent lookup");
}

int
pa_store_shared_with (pa_store_t *self, const uint8_t *event_id, char **list_p)
{
    return s_lookup_text (self, self->shared_with, event_id, 0, list_p, "shared with");
}
