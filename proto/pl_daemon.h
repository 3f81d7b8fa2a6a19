/*  pl_daemon: what the broker's and the agent's main () have in common.
 *
 *  Signals are blocked in every thread and taken synchronously by main with
 *  sigtimedwait, so no socket call in an actor is ever interrupted: call
 *  pl_daemon_prepare before any thread exists. The long-running part is a
 *  CZMQ actor whose first message is "READY", or "FAILED" after it logged
 *  why (pl_daemon_refuse).  */
#ifndef PL_DAEMON_H_INCLUDED
#define PL_DAEMON_H_INCLUDED

#include <czmq.h>

/*  Parse "-c FILE [-v]" (and -h). Returns -1 to go on, with *config_path and
 *  *verbose set; otherwise the exit code, after printing usage (to stdout
 *  for -h, to stderr for a mistake).  */
int pl_daemon_parse_args (int argc, char **argv, const char *usage,
                          const char **config_path, int *verbose);

/*  Block SIGINT, SIGTERM and SIGHUP here and in every later thread; start
 *  CZMQ without its own signal handling.  */
void pl_daemon_prepare (void);

/*  Start actor with args; NULL unless it said READY.  */
zactor_t *pl_daemon_start (zactor_fn *actor, void *args);

/*  Wait until SIGINT or SIGTERM. On SIGHUP call on_hup (arg), or, when
 *  on_hup is NULL, log that there is nothing to reload.  */
void pl_daemon_wait (void (*on_hup) (void *arg), void *arg);

/*  In an actor that could not start: say FAILED, then wait for $TERM.  */
void pl_daemon_refuse (zsock_t *pipe);

#endif
