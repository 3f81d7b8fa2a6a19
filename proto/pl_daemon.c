/*  pl_daemon: signals and actor start-up for the daemons (see pl_daemon.h).  */
#include <signal.h>
#include "pl_daemon.h"
#include "pl_log.h"

static sigset_t s_signals;

void
pl_daemon_prepare (void)
{
    sigemptyset (&s_signals);
    sigaddset (&s_signals, SIGINT);
    sigaddset (&s_signals, SIGTERM);
    sigaddset (&s_signals, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &s_signals, NULL);
    zsys_handler_set (NULL);
    zsys_init ();
}

zactor_t *
pl_daemon_start (zactor_fn *actor, void *args)
{
    zactor_t *self = zactor_new (actor, args);
    char *started = self? zstr_recv (self): NULL;
    bool ready = started && streq (started, "READY");
    zstr_free (&started);
    if (!ready)
        zactor_destroy (&self);
    return self;
}

void
pl_daemon_wait (void (*on_hup) (void *arg), void *arg)
{
    while (true) {
        struct timespec tick = { 0, 200 * 1000 * 1000 };
        int sig = sigtimedwait (&s_signals, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info ("%s received, stopping", sig == SIGINT? "SIGINT": "SIGTERM");
            return;
        }
        if (sig == SIGHUP && on_hup)
            on_hup (arg);
        else
        if (sig == SIGHUP)
            log_info ("SIGHUP received: nothing to reload (restart to change the configuration)");
    }
}

void
pl_daemon_refuse (zsock_t *pipe)
{
    zstr_send (pipe, "FAILED");
    char *command;
    while ((command = zstr_recv (pipe)) && !streq (command, "$TERM"))
        zstr_free (&command);
    zstr_free (&command);
}
