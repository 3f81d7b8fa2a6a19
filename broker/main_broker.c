/*  passerelle-broker: the central broker daemon.
 *
 *      passerelle-broker -c broker.cfg [-v]
 *
 *  Loads the configuration, starts the server actor and then only waits for
 *  signals (pl_daemon): SIGHUP reloads the policy and the directory,
 *  SIGINT/SIGTERM stop cleanly.  */
#include <stdio.h>
#include <string.h>
#include <czmq.h>
#include "pb_config.h"
#include "pb_server.h"
#include "pl_daemon.h"
#include "pl_log.h"

static const char *s_usage =
    "usage: passerelle-broker -c broker.cfg [-v]\n"
    "  -c FILE   broker configuration (ZPL; see README)\n"
    "  -v        verbose: also log receipts and debugging detail\n"
    "signals: SIGHUP reloads the policy and the directory, SIGTERM/SIGINT stop\n";

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
    const char *config_path;
    int verbose;
    pl_log_init ("passerelle-broker");
    int done = pl_daemon_parse_args (argc, argv, s_usage, &config_path, &verbose);
    if (done >= 0)
        return done;
    pb_config_t config;
    char err [1024];
    if (pb_config_load (config_path, &config, err, sizeof err) != 0)
        fatal ("%s", err);
    pl_log_set_verbosity (verbose || config.verbose? 2: 1);
    pl_log_buffer ();       //  the server flushes after each round of work

    pl_daemon_prepare ();
    zactor_t *server = pl_daemon_start (pb_server_actor, &config);
    if (!server)
        fatal ("could not start (see above)");
    pl_daemon_wait (s_reload, server);
    zactor_destroy (&server);
    return 0;
}
