/*  pa_spool: folders a case system uses instead of the CLI or the HTTP API.
 *
 *  Two CZMQ actors started by passerelle-agent once its agent actor is
 *  READY; both are ordinary clients of the agent's control socket (the same
 *  'publish' and 'inbox' ops the CLI uses), so the agent actor knows nothing
 *  about them.
 *
 *  Outbox folder (agent.cfg: spool/outbox). The case system writes a publish
 *  request (the JSON object of pa_publish.h, without "op") to a temporary
 *  name (starting with '.' or ending in '.tmp', both ignored) and renames it
 *  into the folder. Every 200 ms the spool takes files in name order:
 *      outbox/NAME  --rename-->  outbox/processing/NAME  --publish-->
 *          outbox/sent/NAME   + sent/NAME.result.json  (accepted, or queued in
 *                                                      the agent's outbox)
 *          outbox/failed/NAME + failed/NAME.error      (invalid JSON with line
 *                     and column, a field pa_publish refuses, refused by the
 *                     broker with each recipient's decision)
 *  A file that cannot be opened yet stays where it is and is tried again. A
 *  transient answer (agent not connected yet, its store full, no answer in
 *  time) leaves the file in processing/ and stops the scan, so later files
 *  never overtake it. The answer is written into processing/ first, then the
 *  request and the answer are moved; at start, processing/ is finished first:
 *  a file with its answer beside it is only moved, one without is published.
 *  At-least-once edge: if the agent process dies after the agent committed
 *  the publish but before the answer file is written (a few milliseconds), the
 *  request is published again at restart, as a second event. Case systems
 *  that cannot tolerate this can look for the case reference in sent/.
 *
 *  Inbox folder (agent.cfg: spool/inbox). Each delivered event and broker
 *  notice becomes one file, <seq>-<event_id or notice_id>.json (seq
 *  zero-padded to 12 digits so names sort in delivery order), holding the
 *  object the 'inbox' op returns. Written to a temporary name, fsync'd,
 *  renamed; then the cursor (.cursor, the last seq written) is replaced the
 *  same way. After a restart the spool resumes after the cursor and never
 *  rewrites a file that exists, so nothing is lost or written twice (unless
 *  the case system removed a file in the instant between its write and the
 *  cursor's). The case system takes files away (moves or deletes them); the
 *  spool never looks at them again. Files are created 0660 less the agent's
 *  umask, inside a folder created 0700: payloads are decrypted, so open the
 *  folder to the case system's group deliberately.
 *
 *      pa_spool_t *spool = pa_spool_new (&config);     NULL: reason logged
 *      pa_spool_destroy (&spool);
 */
#ifndef PA_SPOOL_H_INCLUDED
#define PA_SPOOL_H_INCLUDED

#include <sys/types.h>
#include "pa_config.h"

typedef struct _pa_spool_t pa_spool_t;

/*  Creates the folders (0700 when missing) and starts the actors for the
 *  folders the configuration names. Returns an empty spool when it names
 *  none, and NULL (reason logged) when a folder cannot be made.  */
pa_spool_t *pa_spool_new (const pa_config_t *config);

/*  Asks every actor to stop, then waits for them.  */
void pa_spool_destroy (pa_spool_t **self_p);

/*  folder/name holds text afterwards, or nothing changed: written to
 *  folder/.name.tmp, fsync'd, renamed, folder fsync'd. 0 or -1 (errno).
 *  Shared with pa_hooks (its cursor).  */
int pa_spool_write_file (const char *folder, const char *name, const char *text, mode_t mode);

#endif
