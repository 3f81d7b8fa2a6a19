/*  pb_server: the broker, as a CZMQ actor.
 *
 *  Owns the ZAP handler (zauth, admitting exactly the directory's keys), the
 *  CURVE ROUTER socket, the routing pipeline and the delivery queues.
 *      zactor_t *broker = zactor_new (pb_server_actor, &config);
 *  Its first message is "READY" once it listens, or "FAILED" when it could
 *  not start (the reason is logged). Commands on its pipe:
 *      "RELOAD"  re-read the directory; replies "OK" or "ERROR", reason
 *      "STATS"   replies a one-line summary (for tests and status)
 *      "$TERM"   stop
 */
#ifndef PB_SERVER_H_INCLUDED
#define PB_SERVER_H_INCLUDED

#include <czmq.h>

void pb_server_actor (zsock_t *pipe, void *config);

#endif
