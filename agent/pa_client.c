/*  pa_client: the control-socket client (see pa_client.h).  */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <czmq.h>
#include "pa_client.h"

struct _pa_client_t {
    zsock_t *socket;
};

pa_client_t *
pa_client_new (const char *control_path, char *err, size_t err_size)
{
    //  ZeroMQ would "connect" to a missing socket and wait forever: check
    struct stat st;
    errno = 0;
    if (stat (control_path, &st) != 0 || !S_ISSOCK (st.st_mode)) {
        snprintf (err, err_size, "no agent control socket at %s (%s): is passerelle-agent "
                  "running with this configuration?", control_path,
                  errno? strerror (errno): "not a socket");
        return NULL;
    }
    pa_client_t *self = calloc (1, sizeof *self);
    if (!self || !(self->socket = zsock_new (ZMQ_DEALER))) {
        free (self);
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    zsock_set_linger (self->socket, 0);
    if (zsock_connect (self->socket, "ipc://%s", control_path) != 0) {
        snprintf (err, err_size, "cannot connect to %s", control_path);
        pa_client_destroy (&self);
        return NULL;
    }
    return self;
}

void
pa_client_destroy (pa_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->socket);
    free (*self_p);
    *self_p = NULL;
}

json_t *
pa_client_call (pa_client_t *self, json_t *request, int timeout_ms, char *err, size_t err_size)
{
    char *text = json_dumps (request, JSON_COMPACT);
    if (!text || zstr_send (self->socket, text) != 0) {
        free (text);
        snprintf (err, err_size, "cannot send the request to the agent");
        return NULL;
    }
    free (text);
    zpoller_t *poller = zpoller_new (self->socket, NULL);
    void *ready = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (!ready) {
        snprintf (err, err_size, "the agent did not answer within %d ms", timeout_ms);
        return NULL;
    }
    zframe_t *frame = zframe_recv (self->socket);
    json_error_t error;
    json_t *reply = frame? json_loadb ((const char *) zframe_data (frame), zframe_size (frame),
                                       0, &error): NULL;
    zframe_destroy (&frame);
    if (!reply)
        snprintf (err, err_size, "unreadable reply from the agent");
    return reply;
}
