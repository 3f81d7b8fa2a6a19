/*  pa_hooks: run the agency's commands when something is delivered.
 *
 *  A CZMQ actor started by passerelle-agent once its agent actor is READY.
 *  It is a client of the control socket: it long-polls the 'inbox' op, so a
 *  slow or failing hook never delays a delivery or its receipt.
 *
 *  Each 'hook' section of agent.cfg (pa_config.h) names what it matches:
 *      types = risk_escalation,referral   event types (default: every type);
 *                                         the word 'notice' adds broker notices
 *      notices = consent_withdrawn        only these notice kinds (implies notices)
 *      min-risk = high                    events whose risk is at least this (an
 *                                         event without a risk counts as standard)
 *      categories = child_safety,...      events carrying any of these
 *  min-risk and categories apply to events only: notices carry neither. A
 *  hook without 'types' or 'notices' matches every event and no notice.
 *
 *  For each match the command runs as /bin/sh -c COMMAND (its own process
 *  group) with the delivery's JSON (as the 'inbox' op returns it) on
 *  standard input and a clean environment: PATH=/usr/local/bin:/usr/bin:/bin,
 *  the names listed in 'env' copied from the agent's environment, and
 *      PASSERELLE_HOOK, PASSERELLE_SEQ, PASSERELLE_ATTEMPT,
 *      PASSERELLE_TYPE (event type, or "notice"), PASSERELLE_EVENT_ID,
 *      PASSERELLE_CASE, PASSERELLE_RISK, PASSERELLE_PUBLISHER,
 *      PASSERELLE_CATEGORIES (comma-separated), PASSERELLE_PURPOSE,
 *      PASSERELLE_BASIS; for notices PASSERELLE_KIND, PASSERELLE_NOTICE_ID,
 *      PASSERELLE_CONSENT, PASSERELLE_AGENCY (and PASSERELLE_EVENT_ID when
 *      the notice is about an event).
 *  Nothing of the agent's own (key paths, sockets) is passed. Output goes to
 *  <state>/hook-NAME.log (the payload may be in it if the hook prints it).
 *
 *  A hook that exits non-zero, or runs past its timeout (its whole process
 *  group is killed), is tried again after 1 s, 2 s, 4 s... up to 'attempts'
 *  tries; each failure and the final give-up are logged. At most 8 commands
 *  run at once; the rest wait their turn, so one stuck hook delays no other.
 *
 *  The cursor (<state>/hooks.cursor) is the last delivery every matching
 *  hook has finished with (succeeded or given up), so a restart fires no old
 *  event and misses none. At-least-once edge: a hook that was running or
 *  waiting to retry when the agent stopped runs again at restart, and so do
 *  the hooks of later deliveries that had already finished; commands should
 *  use PASSERELLE_EVENT_ID (or PASSERELLE_NOTICE_ID) to notice a repeat.
 *
 *      pa_hooks_t *hooks = pa_hooks_new (&config);   no hooks: does nothing
 *      pa_hooks_destroy (&hooks);                      kills what still runs
 */
#ifndef PA_HOOKS_H_INCLUDED
#define PA_HOOKS_H_INCLUDED

#include "pa_config.h"

typedef struct _pa_hooks_t pa_hooks_t;

/*  Starts the actor when the configuration has hooks. NULL on no memory.  */
pa_hooks_t *pa_hooks_new (const pa_config_t *config);
void pa_hooks_destroy (pa_hooks_t **self_p);

#endif
