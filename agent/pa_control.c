/*  pa_control: the agent's control socket (pa_agent_int.h), where the
 *  agency system's requests come in: the passerelle CLI, the HTTP API's
 *  thread and the spool folders' each speak the same JSON over it.
 *  Publishing is pa_publisher's; here are the rest (inbox, with callers
 *  long-polling it, acknowledgements, status, directory), and the one rule
 *  that makes requests arriving together go together: what was accepted is
 *  sent once no request is waiting.  */
#include "pa_agent_int.h"
#include "pa_witness.h"
#include "pl_log.h"
#include "pl_wire.h"

#define INBOX_PAGE_MAX  1000

//  Answer inbox callers who have news, or whose wait is over (only those
//  when timed_out_only)
void
pa_control_answer_inbox_waiters (pa_agent_t *self, bool timed_out_only)
{
    uint64_t now = pl_now_ms ();
    pa_waiter_t *w = zlistx_first (self->inbox_waiters);
    while (w) {
        bool has_news = pa_store_inbox_last (self->store) > w->inbox_after;
        if ((!timed_out_only && has_news) || now >= w->deadline_ms) {
            json_t *events = pa_store_inbox_list (self->store, w->inbox_after, w->inbox_max);
            pa_agent_reply (self, w->routing_id, json_pack ("{s:o, s:I}", "events",
                            events? events: json_array (), "last",
                            (json_int_t) pa_store_inbox_last (self->store)));
            zlistx_delete (self->inbox_waiters, zlistx_cursor (self->inbox_waiters));
            w = zlistx_first (self->inbox_waiters);
        }
        else
            w = zlistx_next (self->inbox_waiters);
    }
}

static void
s_handle_inbox_request (pa_agent_t *self, zframe_t *routing_id, json_t *request)
{
    json_int_t after = 0, max = INBOX_PAGE_MAX, wait_ms = 0;
    json_error_t error;
    if (json_unpack_ex (request, &error, 0, "{s:s, s?I, s?I, s?I}", "op", &(const char *) { 0 },
                        "after", &after, "max", &max, "wait_ms", &wait_ms) != 0
    ||  after < 0 || max < 1 || max > INBOX_PAGE_MAX || wait_ms < 0 || wait_ms > 600000) {
        pa_agent_reply_error (self, routing_id, "invalid_request", "inbox: 'after' >= 0, 'max' "
                              "1-1000 and 'wait_ms' 0-600000 must be integers");
        return;
    }
    if (pa_store_inbox_last (self->store) > (uint64_t) after || wait_ms == 0) {
        json_t *events = pa_store_inbox_list (self->store, (uint64_t) after, (size_t) max);
        if (!events) {
            pa_agent_reply_error (self, routing_id, "store_error", pa_store_error (self->store));
            return;
        }
        pa_agent_reply (self, routing_id, json_pack ("{s:o, s:I}", "events", events, "last",
                        (json_int_t) pa_store_inbox_last (self->store)));
        return;
    }
    pa_waiter_t *waiter = calloc (1, sizeof *waiter);
    waiter->routing_id = zframe_dup (routing_id);
    waiter->inbox_after = (uint64_t) after;
    waiter->inbox_max = (size_t) max;
    waiter->deadline_ms = pl_now_ms () + (uint64_t) wait_ms;
    zlistx_add_end (self->inbox_waiters, waiter);
}

static void
s_handle_status_request (pa_agent_t *self, zframe_t *routing_id)
{
    json_t *counts = json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "published", (json_int_t) self->counts.published,
        "accepted", (json_int_t) self->counts.accepted,
        "refused", (json_int_t) self->counts.refused,
        "delivered", (json_int_t) self->counts.delivered,
        "duplicates", (json_int_t) self->counts.duplicates,
        "undecryptable", (json_int_t) self->counts.undecryptable,
        "connects", (json_int_t) self->counts.connects,
        "retries", (json_int_t) self->counts.retries,
        "checkpoints", (json_int_t) self->counts.checkpoints,
        "bursts", (json_int_t) self->counts.bursts,
        "burst_events", (json_int_t) self->counts.burst_events);
    json_t *reply = json_pack ("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:o}",
        "agency", pl_keys_id (self->keys), "broker", self->config->broker_endpoint,
        "connected", self->connected,
        "directory_size", (json_int_t) (self->directory? pl_directory_size (self->directory): 0),
        "inbox_last", (json_int_t) pa_store_inbox_last (self->store),
        "sequence", (json_int_t) pa_store_last_sequence (self->store),
        "outbox", (json_int_t) pa_store_outbox_depth (self->store),
        "checkpoint_size", (json_int_t) pa_witness_size (self->store), "counts", counts);
    if (*self->log_alarm)
        json_object_set_new (reply, "log_alarm", json_string (self->log_alarm));
    pa_agent_reply (self, routing_id, reply);
}

//  {"op":"ack","seq":N}: the agency system has processed inbox item N (the
//  HTTP API's POST /v1/inbox/N/ack).
static void
s_handle_ack_request (pa_agent_t *self, zframe_t *routing_id, json_t *request)
{
    json_t *seq = json_object_get (request, "seq");
    if (!json_is_integer (seq) || json_integer_value (seq) < 1) {
        pa_agent_reply_error (self, routing_id, "invalid_request", "ack: 'seq' must be an "
                              "inbox sequence number (integer >= 1)");
        return;
    }
    int rc = pa_store_inbox_mark_processed (self->store, (uint64_t) json_integer_value (seq),
                                            pl_now_ms ());
    if (rc == PA_STORE_NOT_FOUND)
        pa_agent_reply_error (self, routing_id, "unknown_item", "no inbox item with that seq");
    else
    if (rc != 0)
        pa_agent_reply_error (self, routing_id, "store_error", pa_store_error (self->store));
    else
        pa_agent_reply (self, routing_id, json_pack ("{s:O, s:b}", "seq", seq, "processed", 1));
}

//  {"op":"directory"}: the agencies and roles the broker sent us (public
//  keys are public: base64, as in the directory file).
static void
s_handle_directory_request (pa_agent_t *self, zframe_t *routing_id)
{
    json_t *agencies = json_array ();
    for (size_t i = 0; self->directory && i < pl_directory_size (self->directory); i++) {
        const pl_agency_t *a = pl_directory_at (self->directory, i);
        char key [sodium_base64_ENCODED_LEN (PL_PUBLIC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64 (key, sizeof key, a->public_key, PL_PUBLIC_KEY_SIZE,
                           sodium_base64_VARIANT_ORIGINAL);
        json_t *roles = json_array ();
        for (int r = 0; r < pl_vocab_count (PL_KIND_ROLE); r++)
            if (PL_SET_HAS (a->roles, r))
                json_array_append_new (roles, json_string (pl_vocab_name (PL_KIND_ROLE, r)));
        json_array_append_new (agencies, json_pack ("{s:s, s:s, s:o, s:s, s:s}", "id", a->id,
                               "name", a->name, "roles", roles, "network", a->network,
                               "public_key", key));
    }
    pa_agent_reply (self, routing_id, json_pack ("{s:o}", "agencies", agencies));
}

int
pa_control_handle (zloop_t *loop, zsock_t *control, void *arg)
{
    (void) loop;
    pa_agent_t *self = arg;
    zmsg_t *msg = zmsg_recv (control);
    zframe_t *routing_id = msg? zmsg_pop (msg): NULL;
    zframe_t *body = msg? zmsg_pop (msg): NULL;
    if (routing_id && body) {
        json_error_t error;
        json_t *request = json_loadb ((const char *) zframe_data (body), zframe_size (body),
                                      JSON_REJECT_DUPLICATES, &error);
        const char *op = request? json_string_value (json_object_get (request, "op")): NULL;
        if (!request) {
            char message [300];
            snprintf (message, sizeof message, "not valid JSON: %s (column %d)", error.text,
                      error.column);
            pa_agent_reply_error (self, routing_id, "invalid_json", message);
        }
        else
        if (op && streq (op, "publish"))
            pa_publisher_request (self, routing_id, request);
        else
        if (op && streq (op, "outcome"))
            pa_publisher_outcome (self, routing_id, request);
        else
        if (op && streq (op, "proof"))
            pa_publisher_proof_request (self, routing_id, request);
        else
        if (op && streq (op, "inbox"))
            s_handle_inbox_request (self, routing_id, request);
        else
        if (op && streq (op, "status"))
            s_handle_status_request (self, routing_id);
        else
        if (op && streq (op, "ack"))
            s_handle_ack_request (self, routing_id, request);
        else
        if (op && streq (op, "directory"))
            s_handle_directory_request (self, routing_id);
        else
            pa_agent_reply_error (self, routing_id, "unknown_op", "'op' must be publish, "
                                  "outcome, proof, inbox, status, ack or directory");
        json_decref (request);
    }
    zframe_destroy (&routing_id);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    //  Publishes that arrived together go together, under one signature:
    //  sent once no request is waiting (or by the timer, 2 ms after the first)
    if (!(zsock_events (control) & ZMQ_POLLIN))
        pa_publisher_send (self);
    return 0;
}
