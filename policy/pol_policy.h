/*  pol_policy: the sharing policy the broker applies, loaded and compiled.
 *
 *  Load a policy file once (pol_policy_load), then ask pol_policy_decide per
 *  event and candidate recipient. The decision is pure: it reads only the
 *  request (facts the broker gathered) and the compiled rules, so the same
 *  request always gets the same answer, which is what lets an auditor
 *  replay a logged decision.
 *
 *  How a decision is taken, in order (the first failing check decides):
 *    1. the event itself: future_dated (beyond the clock skew), expired
 *       (valid-until), too_old (max age of its type), retention_exceeded;
 *    2. corrections: only the original publisher (correction_not_publisher);
 *       a publisher's correction goes to every original recipient whatever
 *       the rules say (allowed_correction);
 *    3. addressing: outside_network;
 *    4. rules, per data category: each category must be allowed by some rule
 *       for this recipient (default deny), else the event is refused and the
 *       decision names the category; when no rule allows it, the reason
 *       comes from the rule that came closest (see pol_reason.h for the
 *       order in which a rule is checked);
 *    5. not_sealed: the recipient could not read it anyway.
 */
#ifndef POL_POLICY_H_INCLUDED
#define POL_POLICY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pl_vocab.h"
#include "pol_reason.h"
#include "pol_request.h"

typedef struct _pol_policy_t pol_policy_t;

/*  Load and compile a policy file. On failure returns NULL and err holds
 *  every error found, one "file:line: what was expected" per line.  */
pol_policy_t *pol_policy_load (const char *path, char *err, size_t err_size);

/*  Same from text in memory; name stands for the file in messages.  */
pol_policy_t *pol_policy_load_text (const char *name, const char *text,
                                    char *err, size_t err_size);

/*  Replace *current_p with the policy in path. When the new file is bad,
 *  *current_p is left running untouched and err says why. Returns 0 or -1.
 *  Decisions taken with the old policy lose their rule_id pointers.  */
int pol_policy_reload (pol_policy_t **current_p, const char *path, char *err, size_t err_size);

void pol_policy_destroy (pol_policy_t **self_p);

const char *pol_policy_version (const pol_policy_t *self);
const char *pol_policy_name (const pol_policy_t *self);
size_t pol_policy_rule_count (const pol_policy_t *self);

/*  Policy-wide settings. A max age or retention of 0 means none.  */
uint64_t pol_policy_clock_skew_ms (const pol_policy_t *self);
uint64_t pol_policy_max_age_ms (const pol_policy_t *self, int event_type);
uint64_t pol_policy_retention_ms (const pol_policy_t *self, int category);
uint64_t pol_policy_escalation_deadline_ms (const pol_policy_t *self);
pl_set_t pol_policy_escalation_fallback (const pol_policy_t *self);

/*  Id and file line of rule index (0 .. rule_count - 1), NULL/0 if out of range.  */
const char *pol_policy_rule_id (const pol_policy_t *self, size_t index);
int pol_policy_rule_line (const pol_policy_t *self, size_t index);

/*  Decide one event for one recipient, all categories at once.  */
void pol_policy_decide (const pol_policy_t *self, const pol_request_t *request,
                        pol_decision_t *out);

/*  What one rule made of a request, for a reviewer.  */
typedef struct {
    const char *rule_id;
    int line;
    bool matched;                   //  allows every category of the request
    pl_set_t allowed_categories;    //  those it does allow
    pol_reason_t reason;            //  first check it failed (POL_ALLOWED if matched)
    int category;                   //  category that check was about, or -1
    char text [256];
} pol_rule_verdict_t;

typedef void (pol_explain_fn) (const pol_rule_verdict_t *verdict, void *arg);

/*  Decide as pol_policy_decide does, and report every rule's verdict, in
 *  file order, to fn. Slower: for review, never for routing.  */
void pol_policy_explain (const pol_policy_t *self, const pol_request_t *request,
                         pol_explain_fn *fn, void *arg, pol_decision_t *out);

#endif
