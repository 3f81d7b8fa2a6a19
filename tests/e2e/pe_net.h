/*  pe_net: a passerelle network of real processes for end-to-end tests.
 *
 *  A temporary folder, a broker key, agencies made with the real
 *  `passerelle keygen`, a directory, a broker on a free 127.0.0.1 port and
 *  one agent per agency, all started from PASSERELLE_BIN, the broker with a
 *  copy (policy.cfg in the folder) of the shipped policy (PASSERELLE_POLICY,
 *  default policy/move.cfg). Tests then drive
 *  it exactly as a user would: CLI commands, their output and exit codes,
 *  and the daemons' logs. Everything is killed and removed on destroy.  */
#ifndef PE_NET_H_INCLUDED
#define PE_NET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _pe_net_t pe_net_t;

/*  What a finished command said and how it ended.  */
typedef struct {
    int status;         /* exit code, or 128 + signal, or -1 on timeout */
    char *out;          /* standard output (NUL-terminated, never NULL) */
    char *err;          /* standard error */
} pe_result_t;

pe_net_t *pe_net_new (void);

/*  Stop everything and remove the folder. When a daemon's log holds a
 *  sanitizer report (check-asan), print it and abort: the test fails.  */
void pe_net_destroy (pe_net_t **self_p);

/*  The temporary folder, and a path inside it.  */
const char *pe_net_dir (pe_net_t *self);
char *pe_net_path (pe_net_t *self, const char *name);      /* static buffer */

/*  Make an agency's keys (real keygen) and record it for the directory.
 *  in_directory false: a key that exists but is not listed.  */
int pe_net_add_agency (pe_net_t *self, const char *id, const char *roles,
                       const char *network, bool in_directory);

/*  (Re)write directory.cfg from the agencies listed; omit one id if given.  */
int pe_net_write_directory (pe_net_t *self, const char *omit);

/*  Start the broker (extra: more "    key = value\n" lines for broker.cfg).
 *  Waits until it listens. 0 or -1.  */
int pe_net_start_broker (pe_net_t *self, const char *extra);
int pe_net_signal_broker (pe_net_t *self, int sig);
int pe_net_stop_broker (pe_net_t *self);
/*  Kill with sig (e.g. SIGKILL) and reap; the next start reuses its state.  */
int pe_net_kill_broker (pe_net_t *self, int sig);
int pe_net_kill_agent (pe_net_t *self, const char *id, int sig);

/*  Start an agency's agent; waits until its control socket answers and, if
 *  wait_connected, until it reports a broker connection (up to 10 s).  */
int pe_net_start_agent (pe_net_t *self, const char *id, bool wait_connected);
int pe_net_stop_agent (pe_net_t *self, const char *id);

/*  Run PASSERELLE_BIN/passerelle -c <id>.cfg ARGS... with stdin_text
 *  (NULL: empty). Arguments end with NULL.  */
pe_result_t pe_net_cli (pe_net_t *self, const char *id, const char *stdin_text, ...)
    __attribute__ ((sentinel));

/*  Run any program (argv NULL-terminated), with a timeout in ms.  */
pe_result_t pe_run (char *const argv [], const char *stdin_text, int timeout_ms);

/*  Run the forge tool as agency id in mode, addressed to `to`; extra
 *  arguments follow, NULL-terminated.  */
pe_result_t pe_net_forge (pe_net_t *self, const char *id, const char *mode, const char *to, ...)
    __attribute__ ((sentinel));

/*  A daemon's log so far ("broker" or an agency id).  */
char *pe_net_log (pe_net_t *self, const char *who);       /* malloc'd */

/*  Poll until the CLI's `status` for id says connected (or not), up to ms.  */
bool pe_net_wait_connected (pe_net_t *self, const char *id, bool connected, int ms);

/*  Poll until the log of who contains text, up to ms.  */
bool pe_net_wait_log (pe_net_t *self, const char *who, const char *text, int ms);

const char *pe_net_endpoint (pe_net_t *self);

void pe_result_free (pe_result_t *result);

#endif
