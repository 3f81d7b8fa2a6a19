/*  pol_policy: load, compile and decide (see pol_policy.h).
 *
 *  Two paths reach the same answer. pol_policy_decide narrows the rules with
 *  the compiled bit sets and runs the conditions of the few that fit; only on
 *  a denial does it look further, still by bit sets, for the rule that came
 *  closest. pol_policy_explain walks every rule one by one with the same
 *  checks, for a reviewer. A unit test holds the two to the same result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pol_loader.h"
#include "pol_policy.h"
#include "pol_rules.h"

#define MAX_WORDS 64            //  4096 rules: far beyond any reviewed policy

struct _pol_policy_t {
    pol_rules_t *rules;
};

//  How far a rule got before failing: a higher stage came closer to allowing
static int
s_stage (pol_reason_t reason)
{
    switch (reason) {
        case POL_CONSENT_WITHDRAWN:
        case POL_CONSENT_EXPIRED:
        case POL_CONSENT_SCOPE:     return POL_CONSENT_MISSING;
        case POL_ALLOWED:           return POL_REASON_COUNT;
        default:                    return (int) reason;
    }
}

static pol_policy_t *
s_policy_from_rules (pol_rules_t *rules, char *err, size_t err_size)
{
    if (!rules)
        return NULL;
    if (rules->count > (size_t) MAX_WORDS * 64) {
        snprintf (err, err_size, "%s:1: %zu rules (expected at most %d)\n", rules->name,
                  rules->count, MAX_WORDS * 64);
        pol_rules_destroy (&rules);
        return NULL;
    }
    pol_policy_t *self = calloc (1, sizeof *self);
    if (!self || pol_rules_compile (rules)) {
        snprintf (err, err_size, "%s: out of memory\n", rules->name);
        pol_rules_destroy (&rules);
        free (self);
        return NULL;
    }
    self->rules = rules;
    return self;
}

pol_policy_t *
pol_policy_load (const char *path, char *err, size_t err_size)
{
    return s_policy_from_rules (pol_loader_parse_file (path, err, err_size), err, err_size);
}

pol_policy_t *
pol_policy_load_text (const char *name, const char *text, char *err, size_t err_size)
{
    return s_policy_from_rules (pol_loader_parse (name, text, err, err_size), err, err_size);
}

int
pol_policy_reload (pol_policy_t **current_p, const char *path, char *err, size_t err_size)
{
    pol_policy_t *fresh = pol_policy_load (path, err, err_size);
    if (!fresh)
        return -1;
    pol_policy_destroy (current_p);
    *current_p = fresh;
    return 0;
}

void
pol_policy_destroy (pol_policy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pol_rules_destroy (&(*self_p)->rules);
    free (*self_p);
    *self_p = NULL;
}

const char *pol_policy_version (const pol_policy_t *self) { return self->rules->version; }
const char *pol_policy_name (const pol_policy_t *self) { return self->rules->name; }
size_t pol_policy_rule_count (const pol_policy_t *self) { return self->rules->count; }

uint64_t
pol_policy_clock_skew_ms (const pol_policy_t *self)
{
    return self->rules->settings.clock_skew_ms;
}

uint64_t
pol_policy_max_age_ms (const pol_policy_t *self, int event_type)
{
    return event_type >= 0 && event_type < PL_EV_COUNT?
        self->rules->settings.max_age_ms [event_type]: 0;
}

uint64_t
pol_policy_retention_ms (const pol_policy_t *self, int category)
{
    return category >= 0 && category < PL_CAT_COUNT?
        self->rules->settings.retention_ms [category]: 0;
}

uint64_t
pol_policy_escalation_deadline_ms (const pol_policy_t *self)
{
    return self->rules->settings.escalation_deadline_ms;
}

pl_set_t
pol_policy_escalation_fallback (const pol_policy_t *self)
{
    return self->rules->settings.escalation_fallback;
}

const char *
pol_policy_rule_id (const pol_policy_t *self, size_t index)
{
    return index < self->rules->count? self->rules->rules [index].id: NULL;
}

int
pol_policy_rule_line (const pol_policy_t *self, size_t index)
{
    return index < self->rules->count? self->rules->rules [index].line: 0;
}

//  --- the checks, shared by both paths ------------------------------------

static uint64_t
s_age_ms (const pol_request_t *request)
{
    return request->now_ms > request->created_at_ms?
        request->now_ms - request->created_at_ms: 0;
}

static pol_reason_t
s_check_consent (const pol_rule_t *rule, const pol_request_t *request, int category)
{
    const pol_consent_state_t *consent = request->consent;
    if (!consent)
        return POL_CONSENT_MISSING;
    if (consent->withdrawn)
        return POL_CONSENT_WITHDRAWN;
    if (consent->valid_until_ms && request->now_ms > consent->valid_until_ms)
        return POL_CONSENT_EXPIRED;
    if (!PL_SET_HAS (consent->categories, category)
    ||  !(consent->recipient_roles & request->recipient_roles)
    ||  !PL_SET_HAS (consent->purposes, request->purpose)
    ||  (rule->consent_subjects && (consent->subject < 0 || consent->subject >= PL_SUBJECT_COUNT
                                    || !PL_SET_HAS (rule->consent_subjects, consent->subject))))
        return POL_CONSENT_SCOPE;
    return POL_ALLOWED;
}

//  Conditions of a rule whose sets already fit the request
static pol_reason_t
s_check_conditions (const pol_rule_t *rule, const pol_request_t *request, int category)
{
    if (rule->only_with && !(rule->only_with & request->categories))
        return POL_REQUIRED_CATEGORY_ABSENT;
    if (rule->recipient
    &&  !((rule->recipient & POL_RECIPIENT_IN_CASE) && request->recipient_in_case)
    &&  !((rule->recipient & POL_RECIPIENT_ADDRESSED) && request->recipient_addressed_directly))
        return POL_NOT_IN_CASE;
    if (rule->min_risk >= 0 && request->risk < rule->min_risk)
        return POL_RISK_TOO_LOW;
    if (rule->max_age_ms && s_age_ms (request) > rule->max_age_ms)
        return POL_TOO_OLD;
    if ((request->basis != PL_BASIS_CONSENT || rule->justification_required)
    &&  !request->has_justification)
        return POL_JUSTIFICATION_MISSING;
    if (request->basis == PL_BASIS_CONSENT || rule->consent_required)
        return s_check_consent (rule, request, category);
    return POL_ALLOWED;
}

//  Every check of one rule for one category, in the documented order
static pol_reason_t
s_check_rule (const pol_rule_t *rule, const pol_request_t *request, int category)
{
    if (!(rule->to & request->recipient_roles))
        return POL_NO_RULE;
    if (!PL_SET_HAS (rule->types, request->event_type))
        return POL_TYPE_NOT_ALLOWED;
    if (!PL_SET_HAS (rule->purposes, request->purpose))
        return POL_PURPOSE_NOT_ALLOWED;
    if (!PL_SET_HAS (rule->categories, category))
        return POL_CATEGORY_NOT_ALLOWED;
    if (!(rule->from & request->sender_roles))
        return POL_SENDER_ROLE;
    if (!PL_SET_HAS (rule->bases, request->basis))
        return POL_BASIS_NOT_ACCEPTED;
    return s_check_conditions (rule, request, category);
}

static bool
s_request_is_valid (const pol_request_t *request)
{
    const pl_set_t all_roles = (1u << PL_ROLE_COUNT) - 1;
    const pl_set_t all_categories = (1u << PL_CAT_COUNT) - 1;
    return request->event_type >= 0 && request->event_type < PL_EV_COUNT
        && request->purpose >= 0 && request->purpose < PL_PURPOSE_COUNT
        && request->basis >= 0 && request->basis < PL_BASIS_COUNT
        && request->risk >= -1 && request->risk < PL_RISK_COUNT
        && !(request->categories & ~all_categories)
        && !(request->sender_roles & ~all_roles)
        && !(request->recipient_roles & ~all_roles);
}

//  --- readable reasons ------------------------------------------------------

static const char *
s_name (pl_kind_t kind, int id)
{
    const char *name = pl_vocab_name (kind, id);
    return name? name: "none";
}

static void
s_describe_consent (const pol_rule_t *rule, const pol_request_t *request, int category,
                    char *buf, size_t size)
{
    const pol_consent_state_t *consent = request->consent;
    if (!PL_SET_HAS (consent->categories, category))
        snprintf (buf, size, "the consent does not cover category %s",
                  s_name (PL_KIND_CATEGORY, category));
    else
    if (!(consent->recipient_roles & request->recipient_roles))
        snprintf (buf, size, "the consent does not cover this recipient's roles");
    else
    if (!PL_SET_HAS (consent->purposes, request->purpose))
        snprintf (buf, size, "the consent does not cover purpose %s",
                  s_name (PL_KIND_PURPOSE, request->purpose));
    else
        snprintf (buf, size, "rule '%s' does not accept the consent of the %s", rule->id,
                  s_name (PL_KIND_SUBJECT, consent->subject));
}

static void
s_describe (const pol_policy_t *self, const pol_request_t *request, pol_reason_t reason,
            const pol_rule_t *rule, int category, char *buf, size_t size)
{
    char roles [160], detail [200] = "";
    const char *cat = s_name (PL_KIND_CATEGORY, category);
    const char *id = rule? rule->id: "";
    switch (reason) {
        case POL_ALLOWED:
            snprintf (buf, size, "allowed: every category has a rule (first: '%s')", id); break;
        case POL_ALLOWED_CORRECTION:
            snprintf (buf, size, "allowed: the publisher's correction reaches every recipient "
                      "of the original, whatever the rules (GDPR art. 19)"); break;
        case POL_NO_RULE:
            snprintf (buf, size, "%s: no rule lets %s receive it (default deny)", cat,
                      pl_vocab_format_set (PL_KIND_ROLE, request->recipient_roles, roles,
                                           sizeof roles)); break;
        case POL_TYPE_NOT_ALLOWED:
            snprintf (buf, size, "%s: no rule for this recipient covers event type %s "
                      "(closest: '%s')", cat, s_name (PL_KIND_EVENT_TYPE, request->event_type),
                      id); break;
        case POL_PURPOSE_NOT_ALLOWED:
            snprintf (buf, size, "%s: no rule for this recipient and type covers purpose %s "
                      "(closest: '%s')", cat, s_name (PL_KIND_PURPOSE, request->purpose), id);
            break;
        case POL_CATEGORY_NOT_ALLOWED:
            snprintf (buf, size, "%s: no rule allows this category to this recipient for this "
                      "type and purpose (closest: '%s'); the whole event is withheld", cat, id);
            break;
        case POL_SENDER_ROLE:
            snprintf (buf, size, "%s: rule '%s' does not list any role of the sender (%s)", cat,
                      id, pl_vocab_format_set (PL_KIND_ROLE, request->sender_roles, roles,
                                               sizeof roles)); break;
        case POL_BASIS_NOT_ACCEPTED:
            snprintf (buf, size, "%s: rule '%s' does not accept legal basis %s", cat, id,
                      s_name (PL_KIND_BASIS, request->basis)); break;
        case POL_REQUIRED_CATEGORY_ABSENT:
            snprintf (buf, size, "%s: rule '%s' applies only when the event also carries %s",
                      cat, id, pl_vocab_format_set (PL_KIND_CATEGORY, rule->only_with, roles,
                                                    sizeof roles)); break;
        case POL_NOT_IN_CASE:
            snprintf (buf, size, "%s: rule '%s' needs a recipient already in the case or "
                      "addressed directly", cat, id); break;
        case POL_RISK_TOO_LOW:
            snprintf (buf, size, "%s: rule '%s' needs risk %s or above, event has %s", cat, id,
                      s_name (PL_KIND_RISK, rule->min_risk), s_name (PL_KIND_RISK, request->risk));
            break;
        case POL_TOO_OLD:
            if (rule)
                snprintf (buf, size, "%s: rule '%s' accepts events up to %llu ms old, this one "
                          "is %llu ms", cat, id, (unsigned long long) rule->max_age_ms,
                          (unsigned long long) s_age_ms (request));
            else
                snprintf (buf, size, "event type %s may be at most %llu ms old, this one is "
                          "%llu ms", s_name (PL_KIND_EVENT_TYPE, request->event_type),
                          (unsigned long long) pol_policy_max_age_ms (self, request->event_type),
                          (unsigned long long) s_age_ms (request));
            break;
        case POL_JUSTIFICATION_MISSING:
            snprintf (buf, size, "%s: basis %s under rule '%s' needs a written justification",
                      cat, s_name (PL_KIND_BASIS, request->basis), id); break;
        case POL_CONSENT_MISSING:
            snprintf (buf, size, "%s: rule '%s' needs an active consent on this case, none "
                      "was cited or it is unknown here", cat, id); break;
        case POL_CONSENT_WITHDRAWN:
            snprintf (buf, size, "%s: the consent cited was withdrawn", cat); break;
        case POL_CONSENT_EXPIRED:
            snprintf (buf, size, "%s: the consent cited has expired", cat); break;
        case POL_CONSENT_SCOPE:
            s_describe_consent (rule, request, category, detail, sizeof detail);
            snprintf (buf, size, "%s: %s", cat, detail); break;
        case POL_EXPIRED:
            snprintf (buf, size, "the event is past its valid-until"); break;
        case POL_FUTURE_DATED:
            snprintf (buf, size, "the event is dated %llu ms ahead, beyond the clock skew of "
                      "%llu ms", (unsigned long long) (request->created_at_ms - request->now_ms),
                      (unsigned long long) pol_policy_clock_skew_ms (self)); break;
        case POL_RETENTION_EXCEEDED:
            snprintf (buf, size, "%s: older than its retention period of %llu ms", cat,
                      (unsigned long long) pol_policy_retention_ms (self, category)); break;
        case POL_CORRECTION_NOT_PUBLISHER:
            snprintf (buf, size, "only the original publisher may correct an event"); break;
        case POL_OUTSIDE_NETWORK:
            snprintf (buf, size, "addressed by role, but the recipient is outside the "
                      "publisher's local network"); break;
        case POL_NOT_SEALED:
            snprintf (buf, size, "the publisher sealed no payload key for this recipient"); break;
        case POL_NO_CATEGORY:
            snprintf (buf, size, "the event declares no data category"); break;
        default:
            snprintf (buf, size, "invalid request: an id is out of range"); break;
    }
}

//  --- deciding --------------------------------------------------------------

static void
s_settle (const pol_policy_t *self, const pol_request_t *request, pol_decision_t *out,
          pol_reason_t reason, const pol_rule_t *rule, int category)
{
    out->allow = pol_reason_allows (reason);
    out->reason = reason;
    out->rule_id = rule? rule->id: NULL;
    out->category = category;
    s_describe (self, request, reason, rule, category, out->text, sizeof out->text);
}

//  Checks on the event as a whole, before any rule. True when they decided.
static bool
s_event_decides (const pol_policy_t *self, const pol_request_t *request, pol_decision_t *out)
{
    const pol_settings_t *settings = &self->rules->settings;
    uint64_t age = s_age_ms (request);
    pol_reason_t reason = POL_ALLOWED;
    int category = -1;
    //  Written as a difference so that no clock value can wrap the sum
    if (request->created_at_ms > request->now_ms
    &&  request->created_at_ms - request->now_ms > settings->clock_skew_ms)
        reason = POL_FUTURE_DATED;
    else
    if (request->valid_until_ms && request->now_ms > request->valid_until_ms)
        reason = POL_EXPIRED;
    else
    if (settings->max_age_ms [request->event_type]
    &&  age > settings->max_age_ms [request->event_type])
        reason = POL_TOO_OLD;
    for (int c = 0; c < PL_CAT_COUNT && reason == POL_ALLOWED; c++)
        if (PL_SET_HAS (request->categories, c) && settings->retention_ms [c]
        &&  age > settings->retention_ms [c]) {
            reason = POL_RETENTION_EXCEEDED;
            category = c;
        }
    if (reason == POL_ALLOWED && request->is_correction) {
        if (!request->corrector_is_original_publisher)
            reason = POL_CORRECTION_NOT_PUBLISHER;
        else
        if (request->recipient_received_original)
            reason = POL_ALLOWED_CORRECTION;
    }
    if (reason == POL_ALLOWED && request->addressed_by_role_outside_network)
        reason = POL_OUTSIDE_NETWORK;
    if (reason == POL_ALLOWED && !request->categories)
        reason = POL_NO_CATEGORY;
    if (reason == POL_ALLOWED)
        return false;
    s_settle (self, request, out, reason, NULL, category);
    return true;
}

//  The rules that fit a request, as bit sets, computed once per decision
typedef struct {
    size_t words;
    uint64_t to [MAX_WORDS];        //  rules naming a role of the recipient
    uint64_t to_type [MAX_WORDS];   //  ... and the event type
    uint64_t applies [MAX_WORDS];   //  ... and the purpose
    uint64_t sender [MAX_WORDS];    //  rules naming a role of the sender
    uint64_t basis [MAX_WORDS];     //  rules accepting the basis
} fit_t;

static void
s_or_slots (const pol_rules_t *rules, pol_dim_t dim, pl_set_t ids, uint64_t *out)
{
    memset (out, 0, rules->words * sizeof *out);
    for (int id = 0; ids; id++, ids >>= 1)
        if (ids & 1) {
            const uint64_t *slot = pol_rules_slot (rules, dim, id);
            for (size_t w = 0; w < rules->words; w++)
                out [w] |= slot [w];
        }
}

static void
s_fit (const pol_rules_t *rules, const pol_request_t *request, fit_t *fit)
{
    fit->words = rules->words;
    s_or_slots (rules, POL_DIM_TO, request->recipient_roles, fit->to);
    s_or_slots (rules, POL_DIM_FROM, request->sender_roles, fit->sender);
    const uint64_t *type = pol_rules_slot (rules, POL_DIM_TYPE, request->event_type);
    const uint64_t *purpose = pol_rules_slot (rules, POL_DIM_PURPOSE, request->purpose);
    const uint64_t *basis = pol_rules_slot (rules, POL_DIM_BASIS, request->basis);
    for (size_t w = 0; w < fit->words; w++) {
        fit->to_type [w] = fit->to [w] & type [w];
        fit->applies [w] = fit->to_type [w] & purpose [w];
        fit->basis [w] = basis [w];
    }
}

//  First rule (lowest bit) in a & b & c & d, or -1; NULL operands are all ones
static long
s_first_rule (size_t words, const uint64_t *a, const uint64_t *b, const uint64_t *c,
              const uint64_t *d)
{
    for (size_t w = 0; w < words; w++) {
        uint64_t bits = a [w] & (b? b [w]: ~0ull) & (c? c [w]: ~0ull) & (d? d [w]: ~0ull);
        if (bits)
            return (long) (w * 64 + (size_t) __builtin_ctzll (bits));
    }
    return -1;
}

typedef struct {
    pol_reason_t reason;
    long rule;                      //  index of the deciding / closest rule, -1 if none
} verdict_t;

//  One category: the first rule that allows it, or the one that came closest
static verdict_t
s_decide_category (const pol_rules_t *rules, const pol_request_t *request,
                   const fit_t *fit, int category)
{
    const uint64_t *cat = pol_rules_slot (rules, POL_DIM_CATEGORY, category);
    verdict_t best = { POL_NO_RULE, -1 };
    int best_stage = -1;
    for (size_t w = 0; w < fit->words; w++) {
        uint64_t bits = fit->applies [w] & cat [w] & fit->sender [w] & fit->basis [w];
        while (bits) {
            long index = (long) (w * 64 + (size_t) __builtin_ctzll (bits));
            bits &= bits - 1;
            pol_reason_t reason = s_check_conditions (&rules->rules [index], request, category);
            if (reason == POL_ALLOWED)
                return (verdict_t) { POL_ALLOWED, index };
            if (s_stage (reason) > best_stage) {
                best_stage = s_stage (reason);
                best = (verdict_t) { reason, index };
            }
        }
    }
    if (best.rule >= 0)
        return best;
    //  No rule got to its conditions: find the stage the closest one reached
    long index;
    size_t n = fit->words;
    if ((index = s_first_rule (n, fit->applies, cat, fit->sender, NULL)) >= 0)
        return (verdict_t) { POL_BASIS_NOT_ACCEPTED, index };
    if ((index = s_first_rule (n, fit->applies, cat, NULL, NULL)) >= 0)
        return (verdict_t) { POL_SENDER_ROLE, index };
    if ((index = s_first_rule (n, fit->applies, NULL, NULL, NULL)) >= 0)
        return (verdict_t) { POL_CATEGORY_NOT_ALLOWED, index };
    if ((index = s_first_rule (n, fit->to_type, NULL, NULL, NULL)) >= 0)
        return (verdict_t) { POL_PURPOSE_NOT_ALLOWED, index };
    if ((index = s_first_rule (n, fit->to, NULL, NULL, NULL)) >= 0)
        return (verdict_t) { POL_TYPE_NOT_ALLOWED, index };
    return best;
}

static void
s_decide_by_rules (const pol_policy_t *self, const pol_request_t *request, pol_decision_t *out)
{
    const pol_rules_t *rules = self->rules;
    fit_t fit;
    s_fit (rules, request, &fit);
    const pol_rule_t *first = NULL;
    for (int category = 0; category < PL_CAT_COUNT; category++) {
        if (!PL_SET_HAS (request->categories, category))
            continue;
        verdict_t verdict = s_decide_category (rules, request, &fit, category);
        const pol_rule_t *rule = verdict.rule >= 0? &rules->rules [verdict.rule]: NULL;
        if (verdict.reason != POL_ALLOWED) {
            memset (out->category_rule, 0, sizeof out->category_rule);
            s_settle (self, request, out, verdict.reason, rule, category);
            return;
        }
        out->category_rule [category] = rule->id;
        if (!first)
            first = rule;
    }
    s_settle (self, request, out, POL_ALLOWED, first, -1);
}

static void
s_decision_reset (pol_decision_t *out)
{
    out->allow = false;
    out->needs_review = false;
    out->reason = POL_INVALID_REQUEST;
    out->rule_id = NULL;
    out->category = -1;
    memset (out->category_rule, 0, sizeof out->category_rule);
    out->text [0] = 0;
}

void
pol_policy_decide (const pol_policy_t *self, const pol_request_t *request, pol_decision_t *out)
{
    s_decision_reset (out);
    if (!s_request_is_valid (request)) {
        s_settle (self, request, out, POL_INVALID_REQUEST, NULL, -1);
        return;
    }
    out->needs_review = request->basis != PL_BASIS_CONSENT;
    if (!s_event_decides (self, request, out))
        s_decide_by_rules (self, request, out);
    if (out->allow && !request->sealed_for_recipient) {
        memset (out->category_rule, 0, sizeof out->category_rule);
        s_settle (self, request, out, POL_NOT_SEALED, NULL, -1);
    }
}

//  --- explaining ------------------------------------------------------------

//  Why one rule does not fit, worded about that rule (not about the decision)
static void
s_describe_rule_miss (const pol_policy_t *self, const pol_rule_t *rule,
                      const pol_request_t *request, pol_rule_verdict_t *verdict)
{
    char set [200];
    const char *cat = s_name (PL_KIND_CATEGORY, verdict->category);
    switch (verdict->reason) {
        case POL_NO_RULE:
            snprintf (verdict->text, sizeof verdict->text, "not for this recipient's roles");
            break;
        case POL_TYPE_NOT_ALLOWED:
            snprintf (verdict->text, sizeof verdict->text, "not for event type %s (types = %s)",
                      s_name (PL_KIND_EVENT_TYPE, request->event_type),
                      pl_vocab_format_set (PL_KIND_EVENT_TYPE, rule->types, set, sizeof set));
            break;
        case POL_PURPOSE_NOT_ALLOWED:
            snprintf (verdict->text, sizeof verdict->text, "not for purpose %s (purposes = %s)",
                      s_name (PL_KIND_PURPOSE, request->purpose),
                      pl_vocab_format_set (PL_KIND_PURPOSE, rule->purposes, set, sizeof set));
            break;
        case POL_CATEGORY_NOT_ALLOWED:
            snprintf (verdict->text, sizeof verdict->text, "does not allow category %s "
                      "(categories = %s)", cat,
                      pl_vocab_format_set (PL_KIND_CATEGORY, rule->categories, set, sizeof set));
            break;
        default:
            s_describe (self, request, verdict->reason, rule, verdict->category,
                        verdict->text, sizeof verdict->text);
    }
}

static void
s_explain_rule (const pol_policy_t *self, const pol_rule_t *rule,
                const pol_request_t *request, pol_rule_verdict_t *verdict)
{
    *verdict = (pol_rule_verdict_t) { .rule_id = rule->id, .line = rule->line,
                                      .reason = POL_NO_CATEGORY, .category = -1 };
    bool refused = false;
    for (int category = 0; category < PL_CAT_COUNT; category++) {
        if (!PL_SET_HAS (request->categories, category))
            continue;
        pol_reason_t reason = s_check_rule (rule, request, category);
        if (reason == POL_ALLOWED)
            verdict->allowed_categories |= PL_SET (category);
        else
        if (!refused) {
            refused = true;
            verdict->reason = reason;
            verdict->category = category;
        }
    }
    verdict->matched = request->categories && !refused;
    if (verdict->matched) {
        verdict->reason = POL_ALLOWED;
        snprintf (verdict->text, sizeof verdict->text, "matches: allows every category");
    }
    else
        s_describe_rule_miss (self, rule, request, verdict);
}

void
pol_policy_explain (const pol_policy_t *self, const pol_request_t *request,
                    pol_explain_fn *fn, void *arg, pol_decision_t *out)
{
    pol_policy_decide (self, request, out);
    if (!s_request_is_valid (request))
        return;
    for (size_t index = 0; index < self->rules->count; index++) {
        pol_rule_verdict_t verdict;
        s_explain_rule (self, &self->rules->rules [index], request, &verdict);
        if (fn)
            fn (&verdict, arg);
    }
}
