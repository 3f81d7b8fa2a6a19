/*  passerelle-broker: the central broker daemon.
 *
 *      passerelle-broker -c broker.cfg [-v]
 *
 *  Loads the configuration, starts the server actor and then only waits for
 *  signals: SIGHUP reloads the directory, SIGINT/SIGTERM stop cleanly.
 *  Signals are blocked in every thread and taken synchronously here with
 *  sigtimedwait, so no socket call anywhere is ever interrupted.  */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>
#include "pb_config.h"
#include "pb_server.h"
#include "pl_log.h"

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: passerelle-broker -c broker.cfg [-v]\n"
        "  -c FILE   broker configuration (ZPL; see README)\n"
        "  -v        verbose: also log receipts and debugging detail\n"
        "signals: SIGHUP reloads the directory, SIGTERM/SIGINT stop\n");
}

int
main (int argc, char **argv)
{
    const char *config_path = NULL;
    int verbose = 0, opt;
    pl_log_init ("passerelle-broker");
    while ((opt = getopt (argc, argv, "c:vh")) != -1) {
        if (opt == 'c')
            config_path = optarg;
        else
        if (opt == 'v')
            verbose = 1;
        else {
            s_usage (opt == 'h'? stdout: stderr);
            return opt == 'h'? 0: 1;
        }
    }
    if (!config_path || optind != argc) {
        s_usage (stderr);
        return 1;
    }
    pb_config_t config;
    char err [1024];
    if (pb_config_load (config_path, &config, err, sizeof err) != 0)
        fatal ("%s", err);
    pl_log_set_verbosity (verbose || config.verbose? 2: 1);

    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    zsys_handler_set (NULL);
    zsys_init ();

    zactor_t *server = zactor_new (pb_server_actor, &config);
    char *started = server? zstr_recv (server): NULL;
    bool ready = started && streq (started, "READY");
    zstr_free (&started);
    if (!ready) {
        zactor_destroy (&server);
        fatal ("could not start (see above)");
    }
    while (true) {
        struct timespec tick = { 0, 200 * 1000 * 1000 };
        int sig = sigtimedwait (&signals, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info ("%s received, stopping", sig == SIGINT? "SIGINT": "SIGTERM");
            break;
        }
        if (sig == SIGHUP) {
            log_info ("SIGHUP received, reloading the directory");
            zstr_send (server, "RELOAD");
            char *reply = zstr_recv (server);
            zstr_free (&reply);
            //  An ERROR reply carries the reason as a second frame
            while (zsock_rcvmore (server)) {
                char *more = zstr_recv (server);
                zstr_free (&more);
            }
        }
    }
    zactor_destroy (&server);
    return 0;
}
