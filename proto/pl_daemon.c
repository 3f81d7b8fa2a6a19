/*  pl_daemon: signals and actor start-up for the daemons (see pl_daemon.h).  */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include "pl_daemon.h"
#include "pl_log.h"

static sigset_t s_signals;

int
pl_daemon_parse_args (int argc, char **argv, const char *usage, const char **config_path,
                      int *verbose)
{
    int opt;
    *config_path = NULL;
    *verbose = 0;
    while ((opt = getopt (argc, argv, "c:vh")) != -1) {
        if (opt == 'c')
            *config_path = optarg;
        else
        if (opt == 'v')
            *verbose = 1;
        else {
            fputs (usage, opt == 'h'? stdout: stderr);
            return opt == 'h'? 0: 1;
        }
    }
    if (!*config_path || optind != argc) {
        fputs (usage, stderr);
        return 1;
    }
    return -1;
}

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
