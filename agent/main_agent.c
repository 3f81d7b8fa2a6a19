/*  passerelle-agent: an agency's local daemon.
 *
 *      passerelle-agent -c agent.cfg [-v]
 *
 *  Starts the agent actor, then its HTTP API, spool folders and hooks (all
 *  clients of its control socket), and waits for signals (pl_daemon):
 *  SIGINT/SIGTERM stop cleanly.  */
#include <stdio.h>
#include <czmq.h>
#include "pa_agent.h"
#include "pa_config.h"
#include "pa_hooks.h"
#include "pa_http.h"
#include "pa_spool.h"
#include "pl_daemon.h"
#include "pl_log.h"

static const char *s_usage =
    "usage: passerelle-agent -c agent.cfg [-v]\n"
    "  -c FILE   agent configuration (ZPL; see README)\n"
    "  -v        verbose: log debugging detail\n"
    "signals: SIGTERM/SIGINT stop\n";

int
main (int argc, char **argv)
{
    const char *config_path;
    int verbose;
    pl_log_init ("passerelle-agent");
    int done = pl_daemon_parse_args (argc, argv, s_usage, &config_path, &verbose);
    if (done >= 0)
        return done;
    pa_config_t config;
    char err [1024];
    if (pa_config_load (config_path, &config, err, sizeof err) != 0)
        fatal ("%s", err);
    pl_log_set_verbosity (verbose? 2: 1);

    pl_daemon_prepare ();
    zactor_t *agent = pl_daemon_start (pa_agent_actor, &config);
    if (!agent)
        fatal ("could not start (see above)");
    //  The HTTP API after the agent: its state folder (api.token) and control
    //  socket exist by now, and its threads inherit the blocked signals
    pa_http_t *http = NULL;
    if (config.http_port && !(http = pa_http_new (&config, err, sizeof err))) {
        zactor_destroy (&agent);
        fatal ("%s", err);
    }
    //  Spool folders and hooks are control-socket clients, in their own threads
    pa_spool_t *spool = pa_spool_new (&config);
    pa_hooks_t *hooks = spool? pa_hooks_new (&config): NULL;
    if (!hooks) {
        pa_spool_destroy (&spool);
        pa_http_destroy (&http);
        zactor_destroy (&agent);
        fatal ("could not start the spool folders or hooks (see above)");
    }
    pl_daemon_wait (NULL, NULL);
    //  Clients first: the agent answers their pending long-polls as it goes
    pa_spool_destroy (&spool);
    pa_hooks_destroy (&hooks);
    pa_http_destroy (&http);
    zactor_destroy (&agent);
    return 0;
}
