/*  passerelle-broker: the central broker daemon.
 *
 *      passerelle-broker -c broker.cfg [-v]
 *
 *  Loads the configuration, starts the server actor and then only waits for
 *  signals (pl_daemon): SIGHUP reloads the policy and the directory,
 *  SIGINT/SIGTERM stop cleanly.  */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>
#include "pb_config.h"
#include "pb_server.h"
#include "pl_daemon.h"
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

//  SIGHUP: the server re-reads the policy and the directory
static void
s_reload (void *server)
{
    log_info ("SIGHUP received, reloading the policy and the directory");
    zstr_send (server, "RELOAD");
    char *reply = zstr_recv (server);
    zstr_free (&reply);
    //  An ERROR reply carries the reason as a second frame
    while (zsock_rcvmore (server)) {
        char *more = zstr_recv (server);
        zstr_free (&more);
    }
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

    pl_daemon_prepare ();
    zactor_t *server = pl_daemon_start (pb_server_actor, &config);
    if (!server)
        fatal ("could not start (see above)");
    pl_daemon_wait (s_reload, server);
    zactor_destroy (&server);
    return 0;
}
