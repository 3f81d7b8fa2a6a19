/*  pa_agent: an agency's agent, as a CZMQ actor.
 *
 *  Holds the agency key, keeps a CURVE connection to the broker (libzmq
 *  reconnects with backoff; heartbeats notice a dead broker), seals and
 *  publishes what the agency system hands it, verifies and decrypts what the
 *  broker delivers, and serves the local control socket (unix socket, 0600)
 *  that the `passerelle` CLI talks JSON over.
 *      zactor_t *agent = zactor_new (pa_agent_actor, &config);
 *  Its first message is "READY" or "FAILED" (reason logged); "$TERM" stops.
 *
 *  Control requests (one JSON object per frame, one reply each). The CLI,
 *  the HTTP API, the spool folders and the hooks are all clients of these:
 *      {"op":"publish", ...pa_publish fields...}   accepted / refused / queued
 *      {"op":"outcome", "event_id":HEX}            the broker's answer, later
 *      {"op":"proof", "event_id":HEX}              verified inclusion in the log
 *      {"op":"inbox", "after":N, "max":M, "wait_ms":W}
 *      {"op":"ack", "seq":N}                       processed by the case system
 *      {"op":"directory"}                          agencies, roles, networks
 *      {"op":"status"}
 *  Errors are {"error":"code","message":"..."}.
 */
#ifndef PA_AGENT_H_INCLUDED
#define PA_AGENT_H_INCLUDED

#include <czmq.h>

void pa_agent_actor (zsock_t *pipe, void *config);

#endif
