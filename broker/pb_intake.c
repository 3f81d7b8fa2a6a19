/*  pb_intake: reading and checking a group of messages (pb_intake.h).
 *
 *  A receipt's signature covers the items as the recipient names them, so
 *  it is checked here without the store; whether each item is owed, and
 *  over that header, the batch sees when it acts (a duplicate in the same
 *  group then finds nothing owed).  */
#include "pb_intake.h"
#include "pl_burst.h"
#include "pl_wire.h"

size_t
pb_intake_read (pb_broker_t *broker, zsock_t *router, pb_inbound_t *items, size_t max)
{
    size_t count = 0;
    while (count < max) {
        zmsg_t *msg = zmsg_recv (router);       //  the router does not wait (pb_gate)
        if (!msg)
            break;
        pb_inbound_t *in = &items [count++];
        memset (in, 0, sizeof *in);
        in->routing_id = zmsg_pop (msg);
        in->body = zmsg_pop (msg);
        in->one_frame = in->routing_id && in->body && zmsg_size (msg) == 0;
        zmsg_destroy (&msg);
        const char *user_id = in->body? zframe_meta (in->body, "User-Id"): NULL;
        in->peer = pl_directory_lookup_curve (broker->directory, user_id);
        in->envelope_err = PL_ERR_BAD_SIGNATURE;    //  until the check says otherwise
        if (!in->one_frame || !in->peer)
            continue;
        in->request = pl_wire_unpack (in->body, broker->config->max_message, &in->status,
                                      in->why, sizeof in->why);
    }
    return count;
}

//  Each checking thread (the pool's and the server's) remembers the bursts
//  it verified, so that a burst of events costs it one signature check
static _Thread_local pl_burst_seen_t s_bursts_seen;

static void
s_check_publish (pb_inbound_t *in)
{
    Passerelle__Publish *publish = in->request->publish;
    pl_envelope_destroy (&in->envelope);
    in->wrong_publisher = false;
    in->envelope = pl_envelope_from_wire (publish->envelope, &in->envelope_err,
                                          in->why, sizeof in->why);
    if (!in->envelope)
        return;
    const Passerelle__EventHeader *header = pl_envelope_header (in->envelope);
    if (strcmp (header->publisher, in->peer->id) != 0)
        in->wrong_publisher = true;
    else
        in->envelope_err = pl_envelope_verify_seen (in->envelope, in->peer->public_key,
                                                    &s_bursts_seen);
}

static void
s_check_receipt (pb_inbound_t *in)
{
    pl_receipt_destroy (&in->receipt);
    in->receipt = pl_receipt_check (in->request->receipt, in->peer->id, in->peer->public_key,
                                    &in->receipt_err, in->why, sizeof in->why);
}

void
pb_intake_check (void *item, void *arg)
{
    (void) arg;
    pb_inbound_t *in = item;
    if (!in->request) {
        in->checked = true;
        return;
    }
    if (in->request->body_case == PASSERELLE__MESSAGE__BODY_PUBLISH)
        s_check_publish (in);
    else
    if (in->request->body_case == PASSERELLE__MESSAGE__BODY_RECEIPT)
        s_check_receipt (in);
    in->checked = true;
}

//  The burst signature a publish carries, or NULL when it is not one
static const ProtobufCBinaryData *
s_burst_signature (const pb_inbound_t *in)
{
    if (!in->request || in->request->body_case != PASSERELLE__MESSAGE__BODY_PUBLISH)
        return NULL;
    const Passerelle__Envelope *envelope = in->request->publish->envelope;
    if (!envelope || !envelope->burst || envelope->signature.len == 0)
        return NULL;
    return &envelope->signature;
}

//  Why runs: the pool hands out work one unit at a time, and a burst's
//  events spread over two threads cost each of them its signature check.
//  Same peer and same signature bytes: whether they are a burst indeed is
//  for the check to say; this only decides who checks what.
size_t
pb_intake_runs (pb_inbound_t *items, size_t count, pb_intake_run_t *runs)
{
    size_t used = 0;
    const ProtobufCBinaryData *signature = NULL;
    for (size_t i = 0; i < count; i++) {
        const ProtobufCBinaryData *mine = s_burst_signature (&items [i]);
        if (mine && signature && items [i].peer == runs [used - 1].first->peer
        &&  mine->len == signature->len && memcmp (mine->data, signature->data, mine->len) == 0)
            runs [used - 1].count++;
        else
            runs [used++] = (pb_intake_run_t) { &items [i], 1 };
        signature = mine;
    }
    return used;
}

void
pb_intake_check_run (void *run, void *arg)
{
    pb_intake_run_t *self = run;
    for (size_t i = 0; i < self->count; i++)
        pb_intake_check (&self->first [i], arg);
}

void
pb_inbound_clear (pb_inbound_t *in)
{
    pl_envelope_destroy (&in->envelope);
    pl_receipt_destroy (&in->receipt);
    if (in->request)
        passerelle__message__free_unpacked (in->request, NULL);
    zframe_destroy (&in->routing_id);
    zframe_destroy (&in->body);
    memset (in, 0, sizeof *in);
}
