/*  pa_client: talk to a running agent over its control socket.
 *
 *  What the `passerelle` CLI (and scripts linking libpasserelle-agent) use:
 *  one JSON request, one JSON reply, with a timeout. The control socket is
 *  a unix socket only its owner can open (0600, inside the 0700 state
 *  folder), which is the whole of its access control.  */
#ifndef PA_CLIENT_H_INCLUDED
#define PA_CLIENT_H_INCLUDED

#include <jansson.h>

typedef struct _pa_client_t pa_client_t;

/*  NULL with err when there is no agent socket at control_path.  */
pa_client_t *pa_client_new (const char *control_path, char *err, size_t err_size);
void pa_client_destroy (pa_client_t **self_p);

/*  Send request, wait up to timeout_ms for the reply. NULL with err on
 *  timeout or an unreadable reply.  */
json_t *pa_client_call (pa_client_t *self, json_t *request, int timeout_ms,
                        char *err, size_t err_size);

#endif
