/*  bench_broker_seal: the events bench_broker publishes, made before any
 *  timing (bench_broker.h): sealed and signed one by one as an agent's
 *  outbox keeps them, then, for the phases that stand for agencies sending
 *  at full speed, signed again a burst at a time as an agent signs what it
 *  sends together (pl_burst).  */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_broker.h"
#include "pl_burst.h"
#include "pl_envelope.h"
#include "pl_wire.h"

typedef struct {
    bb_env_t *env;
    size_t from, to, payload_size;
    bb_event_id_fn *event_id;
    zframe_t **frames;              //  packed Message { Publish }
    int failed;
} seal_job_t;

static void *
s_seal_range (void *arg)
{
    seal_job_t *job = arg;
    char *to [1] = { (char *) pl_keys_id (job->env->recipient) };
    char *categories [2] = { "identity", "referral" };
    pl_recipient_t recipient = { to [0], pl_keys_public (job->env->recipient) };
    uint8_t *payload = malloc (job->payload_size);
    job->failed = !payload;
    for (size_t i = job->from; i < job->to && !job->failed; i++) {
        uint8_t id [PL_EVENT_ID_SIZE];
        char case_ref [32], why [256];
        job->event_id (i, id);
        snprintf (case_ref, sizeof case_ref, "BENCH-%04u", (unsigned) (i % 1000));
        memset (payload, 'a' + (int) (i % 26), job->payload_size);
        Passerelle__EventHeader header = PASSERELLE__EVENT_HEADER__INIT;
        header.event_id = (ProtobufCBinaryData) { sizeof id, id };
        header.case_ref = case_ref;
        header.event_type = "referral";
        header.sequence = i + 1;            //  sent in this order: no gaps
        header.created_at_ms = pl_now_ms ();
        header.valid_until_ms = header.created_at_ms + 3600000;
        header.categories = categories;
        header.n_categories = 2;
        header.purpose = "referral";
        header.legal_basis = "legal_obligation";
        header.justification = "court-ordered programme (bench)";
        header.to_agencies = to;
        header.n_to_agencies = 1;
        uint8_t *bytes = NULL;
        size_t size;
        pl_err_t err = pl_envelope_seal (job->env->publisher, &header, payload, job->payload_size,
                                         &recipient, 1, &bytes, &size, why, sizeof why);
        Passerelle__Envelope *envelope = err == PL_OK?
                                         passerelle__envelope__unpack (NULL, size, bytes): NULL;
        free (bytes);
        if (!envelope) {
            fprintf (stderr, "bench_broker: cannot seal: %s: %s\n", pl_err_str (err), why);
            job->failed = 1;
            break;
        }
        Passerelle__Publish publish = PASSERELLE__PUBLISH__INIT;
        publish.envelope = envelope;
        Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
        msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH;
        msg.publish = &publish;
        job->frames [i] = pl_wire_pack (&msg);
        job->failed = !job->frames [i];
        passerelle__envelope__free_unpacked (envelope, NULL);
    }
    free (payload);
    return NULL;
}

int
bb_seal_events (bb_env_t *env, zframe_t **frames, size_t total, size_t payload_size,
                bb_event_id_fn *event_id)
{
    //  On two threads: this machine's cores
    seal_job_t jobs [2] = { { env, 0, total / 2, payload_size, event_id, frames, 0 },
                            { env, total / 2, total, payload_size, event_id, frames, 0 } };
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_seal_range, &jobs [1]) != 0)
        return -1;
    s_seal_range (&jobs [0]);
    pthread_join (thread, NULL);
    return jobs [0].failed || jobs [1].failed? -1: 0;
}

int
bb_sign_bursts (bb_env_t *env, zframe_t **frames, size_t from, size_t to, size_t size)
{
    if (size == 0 || size > PL_BURST_MAX)
        return -1;
    for (size_t first = from; first < to; first += size) {
        size_t count = to - first < size? to - first: size;
        Passerelle__Message *msgs [PL_BURST_MAX] = { NULL };
        uint8_t *alone [PL_BURST_MAX] = { NULL }, *burst [PL_BURST_MAX] = { NULL };
        size_t alone_size [PL_BURST_MAX], burst_size [PL_BURST_MAX];
        int rc = 0;
        for (size_t i = 0; i < count && rc == 0; i++) {
            zframe_t *frame = frames [first + i];
            msgs [i] = passerelle__message__unpack (NULL, zframe_size (frame), zframe_data (frame));
            alone_size [i] = msgs [i]? passerelle__envelope__get_packed_size (
                msgs [i]->publish->envelope): 0;
            if (!msgs [i] || !(alone [i] = malloc (alone_size [i])))
                rc = -1;
            else
                passerelle__envelope__pack (msgs [i]->publish->envelope, alone [i]);
        }
        char why [256] = "";
        pl_err_t err = rc == 0? pl_burst_sign (env->publisher, (const uint8_t *const *) alone,
                                               alone_size, count, burst, burst_size, why,
                                               sizeof why): PL_ERR_NO_MEMORY;
        if (err != PL_OK) {
            fprintf (stderr, "bench_broker: cannot sign a burst: %s: %s\n", pl_err_str (err), why);
            rc = -1;
        }
        for (size_t i = 0; i < count; i++) {
            if (rc == 0) {
                Passerelle__Envelope *envelope =
                    passerelle__envelope__unpack (NULL, burst_size [i], burst [i]);
                Passerelle__Publish publish = PASSERELLE__PUBLISH__INIT;
                publish.envelope = envelope;
                Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
                msg.body_case = PASSERELLE__MESSAGE__BODY_PUBLISH;
                msg.publish = &publish;
                zframe_t *frame = envelope? pl_wire_pack (&msg): NULL;
                if (frame) {
                    zframe_destroy (&frames [first + i]);
                    frames [first + i] = frame;
                }
                else
                    rc = -1;
                passerelle__envelope__free_unpacked (envelope, NULL);
            }
            if (msgs [i])
                passerelle__message__free_unpacked (msgs [i], NULL);
            free (alone [i]);
            free (burst [i]);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}
