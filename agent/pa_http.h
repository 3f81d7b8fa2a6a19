/*  pa_http: the agent's local HTTP/JSON API, a thin gateway to its control
 *  socket.
 *
 *  Each request is checked here (bearer token, route, method, size, JSON),
 *  turned into the same JSON op the CLI sends, handed to the agent over a
 *  pa_client (one per request: ZeroMQ sockets are not thread-safe and every
 *  connection has its own thread), and the reply mapped to an HTTP status.
 *  So the agent actor stays the one implementation of each operation for
 *  the CLI, the API and the spool folder alike.
 *
 *      pa_http_t *http = pa_http_new (&config, err, sizeof err);
 *      ...
 *      pa_http_destroy (&http);
 *
 *  Listens on config->http_host:http_port (loopback only; pa_config refuses
 *  anything else). Every request needs "Authorization: Bearer <token>",
 *  the token being <state>/api.token (64 hex characters, mode 0600, made
 *  on first start, never logged). Routes (agent/openapi.yaml describes them):
 *      POST /v1/events                 publish
 *      GET  /v1/events/{event_id}      outcome of one of our events
 *      GET  /v1/inbox?after&max&wait   inbox from a cursor, long-poll
 *      POST /v1/inbox/{seq}/ack        mark an inbox item processed
 *      POST /v1/consents               register a consent (consent_given)
 *      POST /v1/consents/withdraw      withdraw it (consent_withdrawn)
 *      POST /v1/corrections            publish a correction (supersedes)
 *      GET  /v1/status                 agent status
 *      GET  /v1/directory              agencies, roles, networks, keys
 *  Errors: {"error":"stable_code","message":"..."} with a 4xx/5xx status.
 */
#ifndef PA_HTTP_H_INCLUDED
#define PA_HTTP_H_INCLUDED

#include <stddef.h>
#include "pa_config.h"

#define PA_HTTP_MAX_BODY    (2 * 1024 * 1024)   /* a 1 MiB payload in base64 fits */
#define PA_HTTP_TOKEN_HEX   64                  /* 32 random bytes */
#define PA_HTTP_MAX_WAIT_S  600                 /* the agent's long-poll limit */

typedef struct _pa_http_t pa_http_t;

/*  Load (or make) the token and start serving. NULL with err.  */
pa_http_t *pa_http_new (const pa_config_t *config, char *err, size_t err_size);

/*  Stop serving: waits for running requests (long-polls end within 1 s).  */
void pa_http_destroy (pa_http_t **self_p);

/*  The route table, for tests that hold it against openapi.yaml: the path
 *  template ("/v1/events/{event_id}") of route index, its method in
 *  *method; NULL past the last route.  */
const char *pa_http_route_at (size_t index, const char **method);

/*  Read <state_path>/api.token, or make it (0600) when absent. Refuses a
 *  token file readable by group or others, or not 64 hex characters.
 *  token: PA_HTTP_TOKEN_HEX + 1 bytes. 0, or -1 with err.  */
int pa_http_token_load (const char *state_path, char *token, char *err, size_t err_size);

#endif
