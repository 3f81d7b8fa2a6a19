/*  pb_gate: ZAP keys and the CURVE ROUTER socket (see pb_gate.h).  */
#include <errno.h>
#include <sys/stat.h>
#include "pb_gate.h"
#include "pl_envelope.h"
#include "pl_log.h"

//  Frames larger than this are dropped by libzmq with the connection; below
//  it the broker answers "oversized" itself (config max-message).
#define HARD_MESSAGE_LIMIT  (PL_MAX_ENVELOPE + 64 * 1024)

struct _pb_gate_t {
    zactor_t *auth;
    char state_path [4096];
    char keys_path [4200];
    unsigned generation;
};

static void
s_remove_folder (const char *path)
{
    zdir_t *dir = *path? zdir_new (path, NULL): NULL;
    if (dir) {
        zdir_remove (dir, true);
        zdir_destroy (&dir);
    }
}

pb_gate_t *
pb_gate_new (const char *state_path)
{
    pb_gate_t *self = calloc (1, sizeof *self);
    if (!self || !(self->auth = zactor_new (zauth, NULL))) {
        log_warn ("cannot start the ZAP handler");
        free (self);
        return NULL;
    }
    snprintf (self->state_path, sizeof self->state_path, "%s", state_path);
    return self;
}

void
pb_gate_destroy (pb_gate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_gate_t *self = *self_p;
    zactor_destroy (&self->auth);
    s_remove_folder (self->keys_path);
    free (self);
    *self_p = NULL;
}

int
pb_gate_admit (pb_gate_t *self, pl_directory_t *directory)
{
    char old [sizeof self->keys_path];
    snprintf (old, sizeof old, "%s", self->keys_path);
    snprintf (self->keys_path, sizeof self->keys_path, "%.4000s/zap-keys.%u", self->state_path,
              ++self->generation);
    s_remove_folder (self->keys_path);
    if (mkdir (self->keys_path, 0700) != 0 && errno != EEXIST) {
        log_warn ("cannot create %s: %s", self->keys_path, strerror (errno));
        return -1;
    }
    for (size_t i = 0; i < pl_directory_size (directory); i++) {
        const pl_agency_t *agency = pl_directory_at (directory, i);
        uint8_t no_secret [32] = { 0 };
        zcert_t *cert = zcert_new_from (agency->curve_key, no_secret);
        zcert_set_meta (cert, "agency", "%s", agency->id);
        char path [4400];
        snprintf (path, sizeof path, "%s/%s.cert", self->keys_path, agency->id);
        int rc = zcert_save_public (cert, path);
        zcert_destroy (&cert);
        if (rc != 0) {
            log_warn ("cannot write %s", path);
            return -1;
        }
    }
    zstr_sendx (self->auth, "CURVE", self->keys_path, NULL);
    zsock_wait (self->auth);
    s_remove_folder (old);
    return 0;
}

zsock_t *
pb_gate_bind (pb_gate_t *self, zcert_t *cert, const char *endpoint)
{
    (void) self;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (!router)
        return NULL;
    zcert_apply (cert, router);
    zsock_set_curve_server (router, 1);
    zsock_set_zap_domain (router, "passerelle");
    zsock_set_router_mandatory (router, 1);
    zsock_set_maxmsgsize (router, HARD_MESSAGE_LIMIT);
    zsock_set_heartbeat_ivl (router, 2000);
    zsock_set_heartbeat_timeout (router, 6000);
    zsock_set_linger (router, 0);
    //  Deliveries are bounded by each connection's credit (delivery-window, at most
    //  PB_DELIVERY_WINDOW_MAX)
    zsock_set_sndhwm (router, 10000);
    zsock_set_rcvhwm (router, 100000);
    //  Reads never wait: the server reads what is there and stops at the
    //  first "nothing" (one call per message, no ZMQ_EVENTS query each)
    zsock_set_rcvtimeo (router, 0);
    int rc = -1;
    for (int attempt = 0; attempt < 40 && rc == -1; attempt++) {
        rc = zsock_bind (router, "%s", endpoint);
        if (rc == -1)
            zclock_sleep (50);
    }
    if (rc == -1) {
        log_warn ("cannot listen on %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&router);
    }
    return router;
}
