/*  pb_intake: reading and checking a group of messages (pb_intake.h).
 *
 *  The receipt's owed hash is read here, before the batch opens (a read
 *  transaction sees what is committed, and a receipt can only name an item
 *  that was delivered, so committed). The batch looks again when it acts:
 *  a duplicate receipt in the same group finds nothing owed by then.  */
#include "pb_intake.h"
#include "pl_wire.h"

size_t
pb_intake_read (pb_broker_t *broker, zsock_t *router, pb_inbound_t *items, size_t max,
                bool first_is_ready)
{
    size_t count = 0;
    while (count < max) {
        if ((count > 0 || !first_is_ready) && !(zsock_events (router) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (router);
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
        if (in->request && in->request->body_case == PASSERELLE__MESSAGE__BODY_RECEIPT) {
            Passerelle__Receipt *receipt = in->request->receipt;
            in->owed = receipt->event_id.len != PL_EVENT_ID_SIZE? 1:
                       pb_store_queue_find (broker->store, in->peer->id, receipt->event_id.data,
                                            PL_EVENT_ID_SIZE, in->owed_hash);
        }
    }
    return count;
}

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
        in->envelope_err = pl_envelope_verify (in->envelope, in->peer->public_key);
}

static void
s_check_receipt (pb_inbound_t *in)
{
    Passerelle__Receipt *receipt = in->request->receipt;
    in->receipt_checked = false;
    in->receipt_valid = false;
    if (in->owed != 0)
        return;
    if (!receipt->recipient || strcmp (receipt->recipient, in->peer->id) != 0
    ||  receipt->signature.len != PL_SIGNATURE_SIZE) {
        in->receipt_checked = true;         //  checked: not valid
        return;
    }
    uint8_t signed_bytes [PL_RECEIPT_BYTES_MAX];
    size_t size = pl_receipt_bytes (receipt->event_id.data, in->owed_hash, in->peer->id,
                                    receipt->received_at_ms, signed_bytes);
    in->receipt_valid = pl_signature_verify (in->peer->public_key, signed_bytes, size,
                                             receipt->signature.data);
    in->receipt_checked = true;
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

void
pb_inbound_clear (pb_inbound_t *in)
{
    pl_envelope_destroy (&in->envelope);
    if (in->request)
        passerelle__message__free_unpacked (in->request, NULL);
    zframe_destroy (&in->routing_id);
    zframe_destroy (&in->body);
    memset (in, 0, sizeof *in);
}
