/*  passerelle-forge: a misbehaving agency, for tests and the demo.
 *
 *  Speaks the broker protocol directly (no agent) with a real agency key,
 *  and does what an honest agent never would, so that tests can show the
 *  broker refusing it:
 *
 *      passerelle-forge MODE --key A.key --broker-key broker.pub
 *                            --endpoint tcp://... --to AGENCY [--as ID] [--size N]
 *                            [--count N]
 *  modes:
 *      honest       a valid publish (the control case)
 *      impersonate  header says it comes from --as, signed with a key made up for it
 *      badsig       valid header, signature altered
 *      replay       the same valid event published twice
 *      malformed    a frame that is not a passerelle message
 *      oversized    a frame of --size bytes
 *      twoframes    a message of two frames
 *      receipts     as the recipient: for the first --count events delivered
 *                   (default 1, at most 16), four receipts in one burst: one
 *                   over all of them whose signature is altered, one over
 *                   the first signed over another header hash, one over all
 *                   of them and the first again, and that one again. Prints
 *                   "receipted <event id hex>" for each, or "no delivery"
 *                   (--to unused)
 *      window       as the recipient: reads what the broker delivers until
 *                   it has been quiet for a second, signs one valid receipt
 *                   for that round, and again until a round brings nothing.
 *                   Prints "deliveries N N ..." (the count of each round):
 *                   with credit flow control no round exceeds the broker's
 *                   delivery-window (--to unused)
 *      burst        --count events (default 4, at most 16), sealed for --to
 *                   with its key from the broker's directory (so that its
 *                   agent can open them), sequences 1..N, payload
 *                   {"forged":true,"n":"BURST-EVENT-i"}, signed as one burst
 *                   (pl_burst_sign) as an agent does; then the last one's
 *                   header is altered after signing (a letter of its
 *                   justification: still decodable, so only the signature
 *                   can tell), and all are sent back to back. Prints one
 *                   answer line per event, in burst order
 *
 *  Prints one line per broker answer: "STATUS: reason" (PublishAck or
 *  Error), or "no answer" after 3 s. Exit 0 when it got every answer.
 *  Not installed: it exists to be refused.  */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <czmq.h>
#include "pl_burst.h"
#include "pl_envelope.h"
#include "pl_hash.h"
#include "pl_keys.h"
#include "pl_receipt.h"
#include "pl_wire.h"

typedef struct {
    const char *mode, *key_path, *broker_key_path, *endpoint, *to, *as;
    size_t size;
    size_t count;                   //  receipts: deliveries to wait for; burst: events
                                    //  (0: the mode's default)
} options_t;

static zsock_t *
s_connect (pl_keys_t *keys, const options_t *opt)
{
    char id [PL_ID_MAX + 1], err [512], z85 [41];
    uint8_t broker_key [PL_PUBLIC_KEY_SIZE], broker_curve [PL_CURVE_KEY_SIZE];
    if (pl_public_key_load (opt->broker_key_path, id, sizeof id, broker_key, err, sizeof err) != 0
    ||  pl_curve_public_from_sign (broker_key, broker_curve) != 0) {
        fprintf (stderr, "forge: %s\n", err);
        return NULL;
    }
    pl_curve_to_z85 (broker_curve, z85);
    zcert_t *cert = zcert_new_from (pl_keys_curve_public (keys), pl_keys_curve_secret (keys));
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, dealer);
    zcert_destroy (&cert);
    zsock_set_curve_serverkey (dealer, z85);
    zsock_set_linger (dealer, 500);
    zsock_connect (dealer, "%s", opt->endpoint);
    return dealer;
}

//  The next message from the broker that unpacks, or NULL at the deadline
static Passerelle__Message *
s_next_message (zsock_t *dealer, int64_t deadline)
{
    zpoller_t *poller = zpoller_new (dealer, NULL);
    Passerelle__Message *msg = NULL;
    while (!msg && zclock_mono () < deadline
       &&  zpoller_wait (poller, (int) (deadline - zclock_mono ()))) {
        zframe_t *frame = zframe_recv (dealer);
        Passerelle__Status status;
        char why [256];
        msg = frame? pl_wire_unpack (frame, 1 << 24, &status, why, sizeof why): NULL;
        zframe_destroy (&frame);
    }
    zpoller_destroy (&poller);
    return msg;
}

//  Wait for the next answer to a publish (skipping Welcome and the like).
static int
s_print_answer (zsock_t *dealer)
{
    int64_t deadline = zclock_mono () + 3000;
    int rc = -1;
    Passerelle__Message *msg;
    while (rc == -1 && (msg = s_next_message (dealer, deadline))) {
        if (msg->body_case == PASSERELLE__MESSAGE__BODY_PUBLISH_ACK) {
            printf ("%s: %s\n", pl_status_name (msg->publish_ack->status), msg->publish_ack->reason);
            rc = 0;
        }
        else
        if (msg->body_case == PASSERELLE__MESSAGE__BODY_ERROR) {
            printf ("%s: %s\n", pl_status_name (msg->error->status), msg->error->reason);
            rc = 0;
        }
        passerelle__message__free_unpacked (msg, NULL);
    }
    if (rc != 0)
        printf ("no answer\n");
    fflush (stdout);
    return rc;
}

static void
s_send (zsock_t *dealer, Passerelle__Message *msg)
{
    zframe_t *frame = pl_wire_pack (msg);
    zframe_send (&frame, dealer, 0);
}

static void
s_hello (zsock_t *dealer, const char *id)
{
    Passerelle__Hello hello = PASSERELLE__HELLO__INIT;
    hello.version = PL_WIRE_VERSION;
    hello.agency = (char *) id;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_HELLO;
    msg.hello = &hello;
    s_send (dealer, &msg);
}

//  An event for opt->to, sealed and signed by signer (who decides the
//  publisher id), serialised; NULL on failure. to_key is the recipient's
//  key, or NULL for one made up: the broker cannot check what it cannot
//  open, so any key will do to be refused.
static uint8_t *
s_seal (pl_keys_t *signer, const options_t *opt, const uint8_t *to_key, uint64_t sequence,
        const char *payload, size_t *size)
{
    //  A referral the shipped policy lets the police send to a perpetrator
    //  programme: only the forgery itself should be what gets refused
    char *to [1] = { (char *) opt->to }, *categories [2] = { "identity", "referral" };
    Passerelle__EventHeader header = PASSERELLE__EVENT_HEADER__INIT;
    header.case_ref = "FORGED-1";
    header.event_type = "referral";
    header.sequence = sequence;
    header.created_at_ms = pl_now_ms ();
    header.valid_until_ms = header.created_at_ms + 3600000;
    header.categories = categories;
    header.n_categories = 2;
    header.purpose = "referral";
    header.legal_basis = "legal_obligation";
    header.justification = "forged by passerelle-forge";
    header.to_agencies = to;
    header.n_to_agencies = 1;
    pl_keys_t *someone = to_key? NULL: pl_keys_generate (opt->to);
    pl_recipient_t recipient = { opt->to, to_key? to_key: pl_keys_public (someone) };
    uint8_t *bytes = NULL;
    char why [256];
    pl_err_t err = pl_envelope_seal (signer, &header, (const uint8_t *) payload, strlen (payload),
                                     &recipient, 1, &bytes, size, why, sizeof why);
    pl_keys_destroy (&someone);
    if (err != PL_OK) {
        fprintf (stderr, "forge: cannot seal: %s: %s\n", pl_err_str (err), why);
        return NULL;
    }
    return bytes;
}

//  A sealed envelope for opt->to (to a made-up key); signer decides the
//  publisher id.
static Passerelle__Envelope *
s_envelope (pl_keys_t *signer, const options_t *opt)
{
    size_t size;
    uint8_t *bytes = s_seal (signer, opt, NULL, 1, "{\"forged\":true}", &size);
    Passerelle__Envelope *envelope = bytes? passerelle__envelope__unpack (NULL, size, bytes): NULL;
    free (bytes);
    return envelope;
}

static int
s_publish (zsock_t *dealer, Passerelle__Envelope *envelope, int times)
{
    Passerelle__Publish publish = PASSERELLE__PUBLISH__INIT;
    publish.envelope = envelope;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH;
    msg.publish = &publish;
    int rc = 0;
    for (int i = 0; i < times; i++) {
        s_send (dealer, &msg);
        rc |= s_print_answer (dealer);
    }
    return rc;
}

//  A receipt of count items signed by keys; with its signature altered
//  after signing when alter is true
static void
s_send_receipt (zsock_t *dealer, pl_keys_t *keys, const pl_receipt_item_t *items, size_t count,
                bool alter)
{
    zframe_t *frame = pl_receipt_pack (keys, pl_keys_id (keys), items, count);
    if (frame && alter) {
        Passerelle__Message *msg = passerelle__message__unpack (NULL, zframe_size (frame),
                                                                zframe_data (frame));
        zframe_destroy (&frame);
        if (msg && msg->receipt && msg->receipt->signature.len) {
            msg->receipt->signature.data [0] ^= 0x01;
            frame = pl_wire_pack (msg);
        }
        passerelle__message__free_unpacked (msg, NULL);
    }
    if (frame)
        zframe_send (&frame, dealer, 0);
}

#define FORGE_ITEMS 16

//  msg as a receipt item when it is the delivery of an event: true then
static bool
s_delivered_item (Passerelle__Message *msg, pl_receipt_item_t *item)
{
    if (msg->body_case != PASSERELLE__MESSAGE__BODY_DELIVERY || !msg->delivery->envelope)
        return false;
    Passerelle__Envelope *envelope = msg->delivery->envelope;
    Passerelle__EventHeader *header = passerelle__event_header__unpack (
        NULL, envelope->header.len, envelope->header.data);
    bool ok = header && header->event_id.len == PL_EVENT_ID_SIZE;
    if (ok) {
        memcpy (item->event_id, header->event_id.data, PL_EVENT_ID_SIZE);
        pl_sha256 (item->header_hash, envelope->header.data, envelope->header.len);
    }
    passerelle__event_header__free_unpacked (header, NULL);
    return ok;
}

static int
s_receipts (zsock_t *dealer, pl_keys_t *keys, size_t wanted)
{
    //  The first `wanted` deliveries (at most 16), waiting up to 5 s
    pl_receipt_item_t items [FORGE_ITEMS + 1];
    size_t count = 0;
    if (wanted < 1 || wanted > FORGE_ITEMS)
        wanted = wanted < 1? 1: FORGE_ITEMS;
    int64_t deadline = zclock_mono () + 5000;
    Passerelle__Message *msg;
    while (count < wanted && (msg = s_next_message (dealer, deadline))) {
        if (s_delivered_item (msg, &items [count]))
            count++;
        passerelle__message__free_unpacked (msg, NULL);
    }
    if (count == 0) {
        printf ("no delivery\n");
        fflush (stdout);
        return -1;
    }
    //  All of them, signature altered; the first over another header; all
    //  of them and the first again; then that once more
    pl_receipt_item_t other = items [0];
    other.header_hash [0] ^= 0x01;
    items [count] = items [0];
    s_send_receipt (dealer, keys, items, count, true);
    s_send_receipt (dealer, keys, &other, 1, false);
    s_send_receipt (dealer, keys, items, count + 1, false);
    s_send_receipt (dealer, keys, items, count + 1, false);
    for (size_t i = 0; i < count; i++) {
        char hex [PL_EVENT_ID_SIZE * 2 + 1];
        printf ("receipted %s\n", pl_event_id_hex (items [i].event_id, hex));
    }
    fflush (stdout);
    zclock_sleep (500);         //  the linger would do, this makes it plain
    return 0;
}

#define WINDOW_ROUNDS 32

//  Rounds of deliveries, each receipted once it has gone quiet for a second
//  (a round larger than PL_RECEIPT_ITEMS_MAX is not receipted: the count is
//  what the test looks at).
static int
s_window (zsock_t *dealer, pl_keys_t *keys)
{
    printf ("deliveries");
    for (int round = 0; round < WINDOW_ROUNDS; round++) {
        pl_receipt_item_t items [PL_RECEIPT_ITEMS_MAX];
        size_t count = 0, seen = 0;
        //  A round's first delivery may wait for the connection (round 1)
        //  or for the receipt's commit and the refill: up to 5 s; after
        //  it, a second of quiet ends the round
        Passerelle__Message *msg;
        int64_t wait = 5000;
        while ((msg = s_next_message (dealer, zclock_mono () + wait))) {
            wait = 1000;
            pl_receipt_item_t item;
            if (s_delivered_item (msg, &item) && seen++ < PL_RECEIPT_ITEMS_MAX)
                items [count++] = item;
            passerelle__message__free_unpacked (msg, NULL);
        }
        printf (" %zu", seen);
        if (seen == 0 || seen > count)
            break;
        zframe_t *frame = pl_receipt_pack (keys, pl_keys_id (keys), items, count);
        if (frame && zframe_send (&frame, dealer, 0) != 0)
            zframe_destroy (&frame);
    }
    printf ("\n");
    fflush (stdout);
    return 0;
}

#define FORGE_BURST 16

//  Wait for the broker's Welcome and copy the key its directory lists for
//  agency id into key; false when no Welcome came in 3 s or id is not listed
static bool
s_directory_key (zsock_t *dealer, const char *id, uint8_t *key)
{
    int64_t deadline = zclock_mono () + 3000;
    bool welcomed = false, found = false;
    Passerelle__Message *msg;
    while (!welcomed && (msg = s_next_message (dealer, deadline))) {
        if (msg->body_case == PASSERELLE__MESSAGE__BODY_WELCOME) {
            welcomed = true;
            for (size_t i = 0; i < msg->welcome->n_directory; i++) {
                Passerelle__Agency *agency = msg->welcome->directory [i];
                if (agency->id && streq (agency->id, id)
                &&  agency->public_key.len == PL_PUBLIC_KEY_SIZE) {
                    memcpy (key, agency->public_key.data, PL_PUBLIC_KEY_SIZE);
                    found = true;
                }
            }
        }
        passerelle__message__free_unpacked (msg, NULL);
    }
    if (welcomed && !found)
        fprintf (stderr, "forge: %s is not in the broker's directory\n", id);
    return found;
}

//  Events signed as one burst, the last altered after signing: the broker
//  must take each event on its own merits, refusing that one alone. Sent
//  back to back, as an agent sends a burst, so that they are checked
//  together; the answers are printed in burst order, matched by event id.
static int
s_burst (zsock_t *dealer, pl_keys_t *keys, const options_t *opt)
{
    size_t count = opt->count == 0? 4: opt->count > FORGE_BURST? FORGE_BURST: opt->count;
    uint8_t to_key [PL_PUBLIC_KEY_SIZE];
    if (!s_directory_key (dealer, opt->to, to_key)) {
        printf ("no answer\n");
        fflush (stdout);
        return -1;
    }
    uint8_t *sealed [FORGE_BURST] = { NULL }, *burst [FORGE_BURST] = { NULL };
    size_t sealed_size [FORGE_BURST], burst_size [FORGE_BURST];
    uint8_t event_id [FORGE_BURST][PL_EVENT_ID_SIZE];
    char *answer [FORGE_BURST] = { NULL };
    int rc = -1;
    for (size_t i = 0; i < count; i++) {
        char payload [64];
        snprintf (payload, sizeof payload, "{\"forged\":true,\"n\":\"BURST-EVENT-%zu\"}", i);
        if (!(sealed [i] = s_seal (keys, opt, to_key, i + 1, payload, &sealed_size [i])))
            goto done;
    }
    char why [256];
    pl_err_t err = pl_burst_sign (keys, (const uint8_t *const *) sealed, sealed_size, count,
                                  burst, burst_size, why, sizeof why);
    if (err != PL_OK) {
        fprintf (stderr, "forge: cannot sign the burst: %s: %s\n", pl_err_str (err), why);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        Passerelle__Envelope *envelope = passerelle__envelope__unpack (NULL, burst_size [i],
                                                                       burst [i]);
        Passerelle__EventHeader *header = envelope? passerelle__event_header__unpack (
            NULL, envelope->header.len, envelope->header.data): NULL;
        if (!header || header->event_id.len != PL_EVENT_ID_SIZE) {
            fprintf (stderr, "forge: burst envelope %zu does not decode\n", i);
            passerelle__event_header__free_unpacked (header, NULL);
            passerelle__envelope__free_unpacked (envelope, NULL);
            goto done;
        }
        memcpy (event_id [i], header->event_id.data, PL_EVENT_ID_SIZE);
        passerelle__event_header__free_unpacked (header, NULL);
        //  'f' to 'F' in "forged by": the header still decodes and says
        //  nearly the same, but it is no longer the one the burst's root holds
        uint8_t *letter = i + 1 < count? NULL:
            memmem (envelope->header.data, envelope->header.len, "forged by", 9);
        if (i + 1 == count && !letter) {
            fprintf (stderr, "forge: nothing to alter in the last header\n");
            passerelle__envelope__free_unpacked (envelope, NULL);
            goto done;
        }
        if (letter)
            *letter ^= 0x20;
        Passerelle__Publish publish = PASSERELLE__PUBLISH__INIT;
        publish.envelope = envelope;
        Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
        msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH;
        msg.publish = &publish;
        s_send (dealer, &msg);
        passerelle__envelope__free_unpacked (envelope, NULL);
    }
    //  An answer that names none of them (an Error names no event) is
    //  said on stderr, so that stdout stays one line per event
    size_t answered = 0;
    int64_t deadline = zclock_mono () + 3000;
    Passerelle__Message *msg;
    while (answered < count && (msg = s_next_message (dealer, deadline))) {
        Passerelle__PublishAck *ack = msg->body_case == PASSERELLE__MESSAGE__BODY_PUBLISH_ACK?
                                      msg->publish_ack: NULL;
        size_t i = 0;
        while (ack && i < count && !(ack->event_id.len == PL_EVENT_ID_SIZE && !answer [i]
                                     && memcmp (ack->event_id.data, event_id [i],
                                                PL_EVENT_ID_SIZE) == 0))
            i++;
        if (ack && i < count) {
            answer [i] = zsys_sprintf ("%s: %s", pl_status_name (ack->status), ack->reason);
            answered++;
        }
        else
        if (ack || msg->body_case == PASSERELLE__MESSAGE__BODY_ERROR)
            fprintf (stderr, "forge: an answer for none of the burst's events: %s: %s\n",
                     pl_status_name (ack? ack->status: msg->error->status),
                     ack? ack->reason: msg->error->reason);
        passerelle__message__free_unpacked (msg, NULL);
    }
    for (size_t i = 0; i < count; i++)
        printf ("%s\n", answer [i]? answer [i]: "no answer");
    fflush (stdout);
    rc = answered == count? 0: -1;
done:
    for (size_t i = 0; i < count; i++) {
        free (sealed [i]);
        free (burst [i]);
        zstr_free (&answer [i]);
    }
    return rc;
}

int
main (int argc, char **argv)
{
    static const struct option long_options [] = {
        { "key", required_argument, NULL, 'k' }, { "broker-key", required_argument, NULL, 'b' },
        { "endpoint", required_argument, NULL, 'e' }, { "to", required_argument, NULL, 't' },
        { "as", required_argument, NULL, 'a' }, { "size", required_argument, NULL, 's' },
        { "count", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 }
    };
    options_t opt = { .size = 2 * 1024 * 1024, .count = 0 };
    int c;
    while ((c = getopt_long (argc, argv, "", long_options, NULL)) != -1)
        switch (c) {
            case 'k': opt.key_path = optarg; break;
            case 'b': opt.broker_key_path = optarg; break;
            case 'e': opt.endpoint = optarg; break;
            case 't': opt.to = optarg; break;
            case 'a': opt.as = optarg; break;
            case 's': opt.size = (size_t) atoll (optarg); break;
            case 'c': opt.count = (size_t) atoll (optarg); break;
            default: return 1;
        }
    opt.mode = optind < argc? argv [optind]: NULL;
    if (!opt.mode || !opt.key_path || !opt.broker_key_path || !opt.endpoint || !opt.to) {
        fprintf (stderr, "usage: passerelle-forge MODE --key A.key --broker-key broker.pub "
                 "--endpoint tcp://... --to AGENCY [--as ID] [--size N] [--count N]\n");
        return 1;
    }
    zsys_handler_set (NULL);
    char err [512];
    pl_keys_t *keys = pl_keys_load (opt.key_path, err, sizeof err);
    if (!keys) {
        fprintf (stderr, "forge: %s\n", err);
        return 1;
    }
    zsock_t *dealer = s_connect (keys, &opt);
    if (!dealer)
        return 1;
    s_hello (dealer, pl_keys_id (keys));
    int rc = 0;
    Passerelle__Envelope *envelope = NULL;
    if (streq (opt.mode, "honest") || streq (opt.mode, "replay") || streq (opt.mode, "badsig")) {
        envelope = s_envelope (keys, &opt);
        if (envelope && streq (opt.mode, "badsig"))
            envelope->signature.data [0] ^= 0x01;
        rc = envelope? s_publish (dealer, envelope, streq (opt.mode, "replay")? 2: 1): 1;
    }
    else
    if (streq (opt.mode, "impersonate")) {
        pl_keys_t *fake = pl_keys_generate (opt.as? opt.as: "someone-else");
        envelope = fake? s_envelope (fake, &opt): NULL;
        rc = envelope? s_publish (dealer, envelope, 1): 1;
        pl_keys_destroy (&fake);
    }
    else
    if (streq (opt.mode, "malformed")) {
        zstr_send (dealer, "this is not a passerelle message");
        rc = s_print_answer (dealer);
    }
    else
    if (streq (opt.mode, "oversized")) {
        zframe_t *frame = zframe_new (NULL, opt.size);
        memset (zframe_data (frame), 'x', opt.size);
        zframe_send (&frame, dealer, 0);
        rc = s_print_answer (dealer);
    }
    else
    if (streq (opt.mode, "twoframes")) {
        zstr_sendm (dealer, "one");
        zstr_send (dealer, "two");
        rc = s_print_answer (dealer);
    }
    else
    if (streq (opt.mode, "receipts"))
        rc = s_receipts (dealer, keys, opt.count);
    else
    if (streq (opt.mode, "window"))
        rc = s_window (dealer, keys);
    else
    if (streq (opt.mode, "burst"))
        rc = s_burst (dealer, keys, &opt);
    else {
        fprintf (stderr, "forge: unknown mode %s\n", opt.mode);
        rc = 1;
    }
    passerelle__envelope__free_unpacked (envelope, NULL);
    zsock_destroy (&dealer);
    pl_keys_destroy (&keys);
    return rc == 0? 0: 2;
}
