/*  test_policy_move: the decision table for the shipped MOVE policy.
 *
 *  Each row is a share the domain brief (docs/domain.md, the MOVE source)
 *  says something about, run against policy/move.cfg as shipped, with the
 *  expected allow/deny AND reason code (and the offending category, and the
 *  deciding rule where the row is about a particular rule). The traps the
 *  issue names are rows too: a special category smuggled in with an allowed
 *  one, consent for the wrong purpose, a withdrawn consent, an expired event,
 *  a correction by someone other than the publisher, role addressing outside
 *  the local network.
 *
 *  Rows are written with vocabulary names and a few flag words so that a
 *  reviewer can read them as sentences:
 *    consent: NULL (none cited) or "cats=..;roles=..;purposes=..[;subject=S]
 *             [;state=withdrawn|expired]"
 *    flags:   justified in_case addressed outside unsealed correction
 *             not_publisher received expired old=DURATION ahead=DURATION
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pl_test.h"
#include "pol_loader.h"
#include "pol_policy.h"

#define NOW 1700000000000ull

typedef struct {
    const char *what;
    const char *from, *to, *type, *categories, *purpose, *basis;
    const char *risk;               //  NULL: the event carries none
    const char *consent;
    const char *flags;
    bool allow;
    const char *reason;
    const char *category;           //  NULL: the decision names none
    const char *rule;               //  NULL: not checked
} move_case_t;

static const move_case_t s_cases [] = {
    //  --- criminal justice path (5.1, 8) ---
    { "5.1 police refer an arrest to prosecution on legal obligation",
      "police", "prosecution", "referral", "identity,criminal_justice", "referral",
      "legal_obligation", NULL, NULL, "justified", true, "allowed", NULL, "police-to-prosecution" },
    { "7.4 an exception to consent without a justification is refused",
      "police", "prosecution", "referral", "identity,criminal_justice", "referral",
      "legal_obligation", NULL, NULL, "", false, "justification_missing", "identity", NULL },
    { "police to prosecution is not a consent flow",
      "police", "prosecution", "referral", "identity", "referral", "consent", NULL,
      "cats=identity;roles=prosecution;purposes=referral", "", false, "basis_not_accepted",
      "identity", "police-to-prosecution" },
    { "5.1 prosecution refers the man to a perpetrator programme by court order",
      "prosecution", "perpetrator_programme", "referral",
      "identity,contact,criminal_justice,referral", "referral", "court_order", NULL, NULL,
      "justified", true, "allowed", NULL, "justice-refers-to-perpetrator-programme" },
    { "trap: health data smuggled into a justice referral",
      "police", "perpetrator_programme", "referral", "identity,health", "referral",
      "legal_obligation", NULL, NULL, "justified", false, "category_not_allowed", "health", NULL },
    { "a school cannot refer to a programme without the man's consent",
      "school", "perpetrator_programme", "referral", "identity", "referral",
      "legal_obligation", NULL, NULL, "justified", false, "basis_not_accepted", "identity",
      "front-line-refers-to-programme" },
    { "5.1 a school that detects a perpetrator refers him with consent",
      "school", "perpetrator_programme", "referral", "identity,contact,referral", "referral",
      "consent", NULL, "cats=identity,contact,referral;roles=perpetrator_programme;purposes=referral",
      "", true, "allowed", NULL, "front-line-refers-to-programme" },
    { "5.1 prosecution orients the man to front-line social services",
      "prosecution", "social_services", "referral", "identity,criminal_justice", "referral",
      "court_order", NULL, NULL, "justified", true, "allowed", NULL, "prosecution-orders-orientation" },
    { "only prosecution orders an orientation to social services, not the police",
      "police", "social_services", "referral", "identity", "referral", "legal_obligation", NULL,
      NULL, "justified", false, "sender_role", "identity", "prosecution-orders-orientation" },
    { "8 a programme keeps the prosecutor informed of a case he follows",
      "perpetrator_programme", "prosecution", "case_update", "case_summary,criminal_justice",
      "risk_management", "court_order", NULL, NULL, "justified in_case", true, "allowed", NULL,
      "programme-reports-to-prosecution" },
    { "... but not a prosecutor who is not on the case",
      "perpetrator_programme", "prosecution", "case_update", "case_summary,criminal_justice",
      "risk_management", "court_order", NULL, NULL, "justified", false, "not_in_case",
      "case_summary", NULL },
    //  --- referral paths (5.1, 4.1.2, 8) ---
    { "5.1 the programme refers on to mental health with consent",
      "perpetrator_programme", "mental_health", "referral", "identity,psychosocial", "referral",
      "consent", NULL, "cats=identity,psychosocial;roles=mental_health;purposes=referral", "",
      true, "allowed", NULL, "programme-refers-on" },
    { "trap: health data in a referral, even with a consent covering it",
      "perpetrator_programme", "mental_health", "referral", "identity,health", "referral",
      "consent", NULL, "cats=identity,health;roles=mental_health;purposes=referral", "",
      false, "category_not_allowed", "health", NULL },
    { "5.1 legal aid for migrants receives the legal status",
      "perpetrator_programme", "legal_aid", "referral", "identity,legal_status", "referral",
      "consent", NULL, "cats=identity,legal_status;roles=legal_aid;purposes=referral", "",
      true, "allowed", NULL, NULL },
    { "no referral of legal status to immigration services",
      "victim_support", "immigration", "referral", "legal_status", "referral", "consent", NULL,
      "cats=legal_status;roles=immigration;purposes=referral", "", false, "type_not_allowed",
      "legal_status", NULL },
    { "4.1.2 health orients a victim to victim support with her consent",
      "health", "victim_support", "referral", "identity,contact,referral", "referral", "consent",
      NULL, "cats=identity,contact,referral;roles=victim_support;purposes=referral", "",
      true, "allowed", NULL, "front-line-refers-victims" },
    { "5.1 victim support reports the perpetrator to the police (vital interests)",
      "victim_support", "police", "referral", "identity,criminal_justice", "referral",
      "vital_interests", NULL, NULL, "justified", true, "allowed", NULL,
      "victim-support-reports-to-justice" },
    { "... and must say why",
      "victim_support", "police", "referral", "identity,criminal_justice", "referral",
      "vital_interests", NULL, NULL, "", false, "justification_missing", "identity", NULL },
    { "7.3 social services refer to housing with who and how to reach",
      "social_services", "housing", "referral", "identity,contact", "referral", "consent", NULL,
      "cats=identity,contact;roles=housing;purposes=referral", "", true, "allowed", NULL,
      "refer-to-housing-employment" },
    { "housing does not need the case summary",
      "social_services", "housing", "referral", "identity,case_summary", "referral", "consent",
      NULL, "cats=identity,case_summary;roles=housing;purposes=referral", "", false,
      "category_not_allowed", "case_summary", NULL },
    { "4.1.4 auditors never receive a case (default deny)",
      "police", "auditor", "case_update", "case_summary", "case_coordination", "public_task",
      NULL, NULL, "justified in_case", false, "no_rule", "case_summary", NULL },
    { "employment: consent only",
      "school", "employment", "referral", "identity", "referral", "legal_obligation", NULL, NULL,
      "justified", false, "basis_not_accepted", "identity", NULL },
    //  --- risk escalation (4.1.3, 3.1, 8) ---
    { "4.1.3 a high-risk escalation reaches victim support",
      "police", "victim_support", "risk_escalation", "identity,risk_assessment",
      "risk_management", "vital_interests", "high", NULL, "justified", true, "allowed", NULL,
      "risk-escalation" },
    { "a medium risk is not an escalation",
      "police", "victim_support", "risk_escalation", "identity,risk_assessment",
      "risk_management", "vital_interests", "medium", NULL, "justified", false, "risk_too_low",
      "identity", "risk-escalation" },
    { "an escalation without a risk level is refused",
      "police", "victim_support", "risk_escalation", "risk_assessment", "risk_management",
      "vital_interests", NULL, NULL, "justified", false, "risk_too_low", "risk_assessment", NULL },
    { "mental health escalates a critical risk to the police with consent",
      "mental_health", "police", "risk_escalation", "risk_assessment", "risk_management",
      "consent", "critical", "cats=risk_assessment;roles=police;purposes=risk_management", "",
      true, "allowed", NULL, "risk-escalation" },
    { "4.1.7 escalation to child protection only when children are concerned",
      "police", "child_protection", "risk_escalation", "identity,risk_assessment",
      "risk_management", "vital_interests", "high", NULL, "justified", false,
      "required_category_absent", "identity", "risk-escalation-children" },
    { "4.1.7 escalation with child-safety facts reaches child protection",
      "police", "child_protection", "risk_escalation", "identity,child_safety",
      "child_protection", "vital_interests", "high", NULL, "justified", true, "allowed", NULL,
      "risk-escalation-children" },
    { "an escalation 7 hours old is stale for the rule (6h)",
      "police", "victim_support", "risk_escalation", "identity,risk_assessment",
      "risk_management", "vital_interests", "high", NULL, "justified old=7h", false, "too_old",
      "identity", "risk-escalation" },
    { "an escalation 25 hours old is past the type's maximum age (24h)",
      "police", "victim_support", "risk_escalation", "identity,risk_assessment",
      "risk_management", "vital_interests", "high", NULL, "justified old=25h", false, "too_old",
      NULL, NULL },
    { "the coordinator is told of an escalation",
      "police", "coordinator", "risk_escalation", "risk_assessment", "safety_planning",
      "vital_interests", "critical", NULL, "justified", true, "allowed", NULL, "risk-escalation" },
    { "housing gets no escalations",
      "police", "housing", "risk_escalation", "risk_assessment", "risk_management",
      "vital_interests", "critical", NULL, "justified", false, "type_not_allowed",
      "risk_assessment", NULL },
    { "trap: health data riding on an escalation",
      "police", "victim_support", "risk_escalation", "risk_assessment,health", "risk_management",
      "vital_interests", "high", NULL, "justified", false, "category_not_allowed", "health", NULL },
    //  --- psychosocial services (4.1.3) ---
    { "4.1.3 psychosocial services share the risk level without consent",
      "mental_health", "perpetrator_programme", "risk_assessment", "risk_assessment",
      "risk_management", "vital_interests", NULL, NULL, "justified in_case", true, "allowed",
      NULL, "psychosocial-risk-only" },
    { "4.1.3 ... but not the mental-health assessment itself",
      "mental_health", "perpetrator_programme", "risk_assessment",
      "risk_assessment,mental_health", "risk_management", "vital_interests", NULL, NULL,
      "justified in_case", false, "basis_not_accepted", "mental_health",
      "psychosocial-with-consent" },
    { "4.1.3 more than risk when the consent covers it",
      "mental_health", "perpetrator_programme", "case_update", "psychosocial", "risk_management",
      "consent", NULL, "cats=psychosocial;roles=perpetrator_programme;purposes=risk_management",
      "in_case", true, "allowed", NULL, "psychosocial-with-consent" },
    { "a consent that covers risk only does not cover the psychosocial file",
      "mental_health", "perpetrator_programme", "case_update", "psychosocial", "risk_management",
      "consent", NULL, "cats=risk_assessment;roles=perpetrator_programme;purposes=risk_management",
      "in_case", false, "consent_scope", "psychosocial", NULL },
    { "joint risk assessment needs a recipient on the case or addressed",
      "social_services", "victim_support", "risk_assessment", "risk_assessment",
      "risk_management", "consent", NULL,
      "cats=risk_assessment;roles=victim_support;purposes=risk_management", "", false,
      "not_in_case", "risk_assessment", NULL },
    { "4.1.5 joint risk assessment to an agency addressed directly",
      "social_services", "victim_support", "risk_assessment", "risk_assessment",
      "risk_management", "consent", NULL,
      "cats=risk_assessment;roles=victim_support;purposes=risk_management", "addressed", true,
      "allowed", NULL, "joint-risk-assessment" },
    //  --- health data (4.1.3) ---
    { "4.1.3 a diagnosis shared for a joint response, with consent",
      "health", "victim_support", "case_update", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=victim_support;purposes=case_coordination", "in_case", true, "allowed",
      NULL, "health-joint-response" },
    { "health data never on vital interests",
      "health", "victim_support", "case_update", "health", "case_coordination",
      "vital_interests", NULL, NULL, "justified in_case", false, "basis_not_accepted", "health",
      "health-joint-response" },
    { "trap: a consent for the wrong purpose",
      "health", "victim_support", "case_update", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=victim_support;purposes=referral", "in_case", false, "consent_scope",
      "health", "health-joint-response" },
    { "health data do not go to the police",
      "health", "police", "case_update", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=police;purposes=case_coordination", "in_case", false,
      "category_not_allowed", "health", NULL },
    { "trap: a withdrawn consent",
      "health", "victim_support", "case_update", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=victim_support;purposes=case_coordination;state=withdrawn", "in_case",
      false, "consent_withdrawn", "health", NULL },
    { "an expired consent",
      "health", "victim_support", "case_update", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=victim_support;purposes=case_coordination;state=expired", "in_case",
      false, "consent_expired", "health", NULL },
    { "basis consent with no consent cited",
      "health", "victim_support", "case_update", "health", "case_coordination", "consent", NULL,
      NULL, "in_case", false, "consent_missing", "health", NULL },
    { "a consent to share with the police does not cover victim support",
      "health", "victim_support", "case_update", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=police;purposes=case_coordination", "in_case", false, "consent_scope",
      "health", NULL },
    { "the coordinator addressed by name joins the joint response",
      "health", "coordinator", "case_update", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=coordinator;purposes=case_coordination", "addressed", true, "allowed",
      NULL, "health-joint-response" },
    //  --- children (4.1.7, 7.4) ---
    { "7.4 a school shares child-safety concerns on legal obligation",
      "school", "child_protection", "referral", "identity,child_safety", "child_protection",
      "legal_obligation", NULL, NULL, "justified", true, "allowed", NULL,
      "child-safety-to-child-protection" },
    { "... always with a justification",
      "school", "child_protection", "referral", "child_safety", "child_protection",
      "legal_obligation", NULL, NULL, "", false, "justification_missing", "child_safety", NULL },
    { "child safety goes on legal obligation, not consent",
      "school", "child_protection", "referral", "child_safety", "child_protection", "consent",
      NULL, "cats=child_safety;roles=child_protection;purposes=child_protection", "", false,
      "basis_not_accepted", "child_safety", NULL },
    { "trap: health data with a child-safety referral",
      "school", "child_protection", "referral", "child_safety,health", "child_protection",
      "legal_obligation", NULL, NULL, "justified", false, "category_not_allowed", "health", NULL },
    { "child-safety data only for the purpose of child protection",
      "police", "child_protection", "referral", "child_safety", "referral", "legal_obligation",
      NULL, NULL, "justified", false, "purpose_not_allowed", "child_safety", NULL },
    //  --- feedback (7.5) ---
    { "7.5 feedback to the referrer after the man consented",
      "perpetrator_programme", "police", "feedback", "feedback", "feedback", "consent", NULL,
      "cats=feedback;roles=police;purposes=feedback;subject=perpetrator", "in_case", true,
      "allowed", NULL, "feedback-to-referrer" },
    { "7.5 feedback never on another basis",
      "perpetrator_programme", "police", "feedback", "feedback", "feedback", "legal_obligation",
      NULL, NULL, "justified in_case", false, "basis_not_accepted", "feedback", NULL },
    { "feedback needs the consent of the person, not of a guardian",
      "perpetrator_programme", "police", "feedback", "feedback", "feedback", "consent", NULL,
      "cats=feedback;roles=police;purposes=feedback;subject=guardian", "in_case", false,
      "consent_scope", "feedback", NULL },
    { "feedback goes to the referrer on the case only",
      "perpetrator_programme", "police", "feedback", "feedback", "feedback", "consent", NULL,
      "cats=feedback;roles=police;purposes=feedback;subject=perpetrator", "", false,
      "not_in_case", "feedback", NULL },
    { "the coordinator is not a referrer",
      "coordinator", "police", "feedback", "feedback", "feedback", "consent", NULL,
      "cats=feedback;roles=police;purposes=feedback", "in_case", false, "sender_role",
      "feedback", NULL },
    //  --- interpreters (4.1.5, 8) ---
    { "8 an interpreter addressed by name gets the meeting's contact data",
      "social_services", "interpreter", "meeting_notice", "contact", "case_coordination",
      "public_task", NULL, NULL, "justified addressed", true, "allowed", NULL,
      "interpreter-scheduling" },
    { "trap: identity smuggled in with the contact data",
      "social_services", "interpreter", "meeting_notice", "contact,identity",
      "case_coordination", "public_task", NULL, NULL, "justified addressed", false,
      "category_not_allowed", "identity", "interpreter-scheduling" },
    { "an interpreter only when addressed by name",
      "social_services", "interpreter", "meeting_notice", "contact", "case_coordination",
      "public_task", NULL, NULL, "justified in_case", false, "not_in_case", "contact", NULL },
    { "interpreters receive no case updates",
      "social_services", "interpreter", "case_update", "contact", "case_coordination",
      "public_task", NULL, NULL, "justified addressed", false, "type_not_allowed", "contact", NULL },
    //  --- coordination and protection orders (7.5, 7.4) ---
    { "7.5 the coordinator calls a meeting",
      "coordinator", "police", "meeting_notice", "contact,case_summary", "case_coordination",
      "public_task", NULL, NULL, "justified in_case", true, "allowed", NULL, "meeting-notice" },
    { "the coordinator follows the case (two rules, one per category)",
      "police", "coordinator", "case_update", "case_summary,risk_assessment",
      "case_coordination", "consent", NULL,
      "cats=case_summary,risk_assessment;roles=coordinator;purposes=case_coordination",
      "in_case", true, "allowed", NULL, "case-team-updates" },
    { "criminal records are not coordination material",
      "police", "coordinator", "case_update", "criminal_justice", "case_coordination",
      "public_task", NULL, NULL, "justified in_case", false, "category_not_allowed",
      "criminal_justice", NULL },
    { "7.4 victim support learns of a protection order",
      "prosecution", "victim_support", "protection_order", "identity,criminal_justice",
      "safety_planning", "court_order", NULL, NULL, "justified in_case", true, "allowed", NULL,
      "protection-order-notice" },
    { "housing is not told of protection orders",
      "prosecution", "housing", "protection_order", "identity", "safety_planning", "court_order",
      NULL, NULL, "justified in_case", false, "type_not_allowed", "identity", NULL },
    //  --- timeliness, accuracy, security: the event itself ---
    { "trap: an event past its valid-until",
      "police", "prosecution", "referral", "identity", "referral", "legal_obligation", NULL,
      NULL, "justified expired", false, "expired", NULL, NULL },
    { "an event dated 10 minutes ahead (skew 2m)",
      "police", "prosecution", "referral", "identity", "referral", "legal_obligation", NULL,
      NULL, "justified ahead=10m", false, "future_dated", NULL, NULL },
    { "an event dated 1 minute ahead is within the clock skew",
      "police", "prosecution", "referral", "identity", "referral", "legal_obligation", NULL,
      NULL, "justified ahead=1m", true, "allowed", NULL, "police-to-prosecution" },
    { "a referral 31 days old is stale (30d)",
      "police", "prosecution", "referral", "identity", "referral", "legal_obligation", NULL,
      NULL, "justified old=31d", false, "too_old", NULL, NULL },
    { "trap: a correction by someone other than the publisher",
      "police", "prosecution", "correction", "identity", "referral", "legal_obligation", NULL,
      NULL, "justified correction not_publisher received", false, "correction_not_publisher",
      NULL, NULL },
    { "GDPR art. 19: a correction reaches every original recipient, whatever the rules",
      "social_services", "interpreter", "correction", "contact,identity", "case_coordination",
      "public_task", NULL, NULL, "justified correction received", true, "allowed_correction",
      NULL, NULL },
    { "a correction to someone who never had the original follows the rules",
      "social_services", "interpreter", "correction", "contact", "case_coordination",
      "public_task", NULL, NULL, "justified correction addressed", false, "type_not_allowed",
      "contact", NULL },
    { "a correction of health data past their retention is not spread",
      "health", "victim_support", "correction", "health", "case_coordination", "consent", NULL,
      "cats=health;roles=victim_support;purposes=case_coordination",
      "in_case correction received old=400d", false, "retention_exceeded", "health", NULL },
    { "trap: role addressing resolved outside the publisher's local network",
      "police", "victim_support", "risk_escalation", "risk_assessment", "risk_management",
      "vital_interests", "high", NULL, "justified outside", false, "outside_network", NULL, NULL },
    { "a recipient the publisher sealed no key for",
      "police", "victim_support", "risk_escalation", "risk_assessment", "risk_management",
      "vital_interests", "high", NULL, "justified unsealed", false, "not_sealed", NULL, NULL },
    { "an event that declares no data category",
      "police", "prosecution", "referral", "", "referral", "legal_obligation", NULL, NULL,
      "justified", false, "no_category", NULL, NULL },
};

#define CASE_COUNT ((int) (sizeof s_cases / sizeof s_cases [0]))

static pol_policy_t *s_policy;

static void
s_load_policy (void)
{
    char err [8192] = "";
    const char *path = getenv ("PASSERELLE_POLICY");
    s_policy = pol_policy_load (path? path: "policy/move.cfg", err, sizeof err);
    if (!s_policy)
        fprintf (stderr, "cannot load the shipped policy:\n%s", err);
}

static void
s_free_policy (void)
{
    pol_policy_destroy (&s_policy);
}

static pl_set_t
s_set (pl_kind_t kind, const char *names)
{
    pl_set_t set = 0;
    char bad [64] = "";
    ck_assert_msg (pl_vocab_parse_set (kind, names, &set, bad, sizeof bad) == 0,
                   "bad %s '%s' in the table", pl_vocab_kind_name (kind), bad);
    return set;
}

static int
s_id (pl_kind_t kind, const char *name)
{
    int id = pl_vocab_id (kind, name);
    ck_assert_msg (id >= 0, "bad %s '%s' in the table", pl_vocab_kind_name (kind), name);
    return id;
}

static void
s_parse_consent (const char *spec, pol_consent_state_t *consent)
{
    *consent = (pol_consent_state_t) { .subject = PL_SUBJECT_VICTIM };
    char copy [256], *save = NULL;
    snprintf (copy, sizeof copy, "%s", spec);
    for (char *part = strtok_r (copy, ";", &save); part; part = strtok_r (NULL, ";", &save)) {
        char *value = strchr (part, '=');
        ck_assert_msg (value, "bad consent part '%s'", part);
        *value++ = 0;
        if (strcmp (part, "cats") == 0)
            consent->categories = s_set (PL_KIND_CATEGORY, value);
        else if (strcmp (part, "roles") == 0)
            consent->recipient_roles = s_set (PL_KIND_ROLE, value);
        else if (strcmp (part, "purposes") == 0)
            consent->purposes = s_set (PL_KIND_PURPOSE, value);
        else if (strcmp (part, "subject") == 0)
            consent->subject = s_id (PL_KIND_SUBJECT, value);
        else if (strcmp (part, "state") == 0 && strcmp (value, "withdrawn") == 0)
            consent->withdrawn = true;
        else if (strcmp (part, "state") == 0 && strcmp (value, "expired") == 0)
            consent->valid_until_ms = NOW - 1;
        else
            ck_abort_msg ("bad consent part '%s'", part);
    }
}

static uint64_t
s_duration (const char *text)
{
    uint64_t ms = 0;
    ck_assert_msg (pol_duration_parse (text, &ms) == 0, "bad duration '%s'", text);
    return ms;
}

static void
s_apply_flags (const char *flags, pol_request_t *r)
{
    char copy [256], *save = NULL;
    snprintf (copy, sizeof copy, "%s", flags);
    for (char *flag = strtok_r (copy, " ", &save); flag; flag = strtok_r (NULL, " ", &save)) {
        if (strcmp (flag, "justified") == 0) r->has_justification = true;
        else if (strcmp (flag, "in_case") == 0) r->recipient_in_case = true;
        else if (strcmp (flag, "addressed") == 0) r->recipient_addressed_directly = true;
        else if (strcmp (flag, "outside") == 0) r->addressed_by_role_outside_network = true;
        else if (strcmp (flag, "unsealed") == 0) r->sealed_for_recipient = false;
        else if (strcmp (flag, "correction") == 0) r->is_correction = true;
        else if (strcmp (flag, "not_publisher") == 0) r->corrector_is_original_publisher = false;
        else if (strcmp (flag, "received") == 0) r->recipient_received_original = true;
        else if (strcmp (flag, "expired") == 0) r->valid_until_ms = NOW - 1000;
        else if (strncmp (flag, "old=", 4) == 0) r->created_at_ms = NOW - s_duration (flag + 4);
        else if (strncmp (flag, "ahead=", 6) == 0) r->created_at_ms = NOW + s_duration (flag + 6);
        else ck_abort_msg ("bad flag '%s'", flag);
    }
}

static void
s_build_request (const move_case_t *row, pol_request_t *r, pol_consent_state_t *consent)
{
    pol_request_init (r);
    r->sender_roles = s_set (PL_KIND_ROLE, row->from);
    r->recipient_roles = s_set (PL_KIND_ROLE, row->to);
    r->event_type = s_id (PL_KIND_EVENT_TYPE, row->type);
    r->categories = s_set (PL_KIND_CATEGORY, row->categories);
    r->purpose = s_id (PL_KIND_PURPOSE, row->purpose);
    r->basis = s_id (PL_KIND_BASIS, row->basis);
    r->risk = row->risk? s_id (PL_KIND_RISK, row->risk): -1;
    r->now_ms = r->created_at_ms = NOW;
    r->sealed_for_recipient = true;
    r->corrector_is_original_publisher = true;
    if (row->consent) {
        s_parse_consent (row->consent, consent);
        r->consent = consent;
    }
    s_apply_flags (row->flags, r);
}

START_TEST (test_move_case)
{
    ck_assert_msg (s_policy, "policy/move.cfg did not load");
    const move_case_t *row = &s_cases [_i];
    pol_request_t request;
    pol_consent_state_t consent;
    s_build_request (row, &request, &consent);
    pol_decision_t decision;
    pol_policy_decide (s_policy, &request, &decision);
    const char *category = decision.category >= 0?
        pl_vocab_name (PL_KIND_CATEGORY, decision.category): NULL;
    ck_assert_msg (decision.allow == row->allow
                   && strcmp (pol_reason_name (decision.reason), row->reason) == 0,
                   "row %d '%s': expected %s/%s, got %s/%s (%s)", _i, row->what,
                   row->allow? "allow": "deny", row->reason, decision.allow? "allow": "deny",
                   pol_reason_name (decision.reason), decision.text);
    ck_assert_msg ((category == NULL) == (row->category == NULL)
                   && (!category || strcmp (category, row->category) == 0),
                   "row %d '%s': expected category %s, got %s", _i, row->what,
                   row->category? row->category: "none", category? category: "none");
    if (row->rule)
        ck_assert_msg (decision.rule_id && strcmp (decision.rule_id, row->rule) == 0,
                       "row %d '%s': expected rule %s, got %s", _i, row->what, row->rule,
                       decision.rule_id? decision.rule_id: "none");
    ck_assert_msg (decision.text [0], "row %d: no readable reason", _i);
}
END_TEST

//  The explain path must reach the decide path's verdict: for each row, a
//  denied category has no rule that explain says allows it, and an allowed
//  event has, for each category, some rule explain says allows it.
typedef struct {
    pl_set_t allowed;               //  union of categories some rule allows
    bool named_rule_seen;
    const char *named_rule;
} explain_seen_t;

static void
s_collect (const pol_rule_verdict_t *verdict, void *arg)
{
    explain_seen_t *seen = arg;
    seen->allowed |= verdict->allowed_categories;
    if (seen->named_rule && strcmp (seen->named_rule, verdict->rule_id) == 0)
        seen->named_rule_seen = true;
}

START_TEST (test_move_explain_agrees)
{
    ck_assert (s_policy);
    const move_case_t *row = &s_cases [_i];
    pol_request_t request;
    pol_consent_state_t consent;
    s_build_request (row, &request, &consent);
    pol_decision_t decided, explained;
    pol_policy_decide (s_policy, &request, &decided);
    explain_seen_t seen = { .named_rule = decided.rule_id };
    pol_policy_explain (s_policy, &request, s_collect, &seen, &explained);
    ck_assert_int_eq (decided.allow, explained.allow);
    ck_assert_int_eq (decided.reason, explained.reason);
    if (decided.reason == POL_ALLOWED)
        ck_assert_msg (seen.allowed == request.categories, "row %d: explain allows less", _i);
    if (decided.category >= 0 && decided.reason != POL_RETENTION_EXCEEDED)
        ck_assert_msg (!PL_SET_HAS (seen.allowed, decided.category),
                       "row %d: explain shows a rule allowing the refused category", _i);
    if (decided.rule_id)
        ck_assert_msg (seen.named_rule_seen, "row %d: deciding rule not among those explained", _i);
}
END_TEST

START_TEST (test_move_table_is_large_enough)
{
    //  The issue asks for at least 60 rows from the domain brief
    ck_assert_int_ge (CASE_COUNT, 60);
    int allowed = 0;
    for (int row = 0; row < CASE_COUNT; row++)
        allowed += s_cases [row].allow;
    //  Both outcomes well represented, so a policy that allows or refuses
    //  everything fails many rows
    ck_assert_int_ge (allowed, 15);
    ck_assert_int_ge (CASE_COUNT - allowed, 30);
}
END_TEST

START_TEST (test_move_settings)
{
    ck_assert (s_policy);
    ck_assert_str_eq (pol_policy_version (s_policy), "move-2024.1");
    ck_assert_uint_eq (pol_policy_clock_skew_ms (s_policy), 2 * 60 * 1000);
    ck_assert_uint_eq (pol_policy_max_age_ms (s_policy, PL_EV_RISK_ESCALATION), 24 * 3600 * 1000);
    ck_assert_uint_eq (pol_policy_max_age_ms (s_policy, PL_EV_CORRECTION), 0);
    ck_assert_uint_eq (pol_policy_retention_ms (s_policy, PL_CAT_HEALTH), 365ull * 86400 * 1000);
    ck_assert_uint_eq (pol_policy_escalation_deadline_ms (s_policy), 15 * 60 * 1000);
    ck_assert_uint_eq (pol_policy_escalation_fallback (s_policy),
                       PL_SET (PL_ROLE_COORDINATOR) | PL_SET (PL_ROLE_POLICE));
    ck_assert_uint_eq (pol_policy_max_age_ms (s_policy, -1), 0);
    ck_assert_uint_eq (pol_policy_retention_ms (s_policy, PL_CAT_COUNT), 0);
}
END_TEST

START_TEST (test_move_review_flag)
{
    ck_assert (s_policy);
    pol_request_t request;
    pol_consent_state_t consent;
    pol_decision_t decision;
    //  Row 0 is a legal-obligation share: allowed and flagged for review
    s_build_request (&s_cases [0], &request, &consent);
    pol_policy_decide (s_policy, &request, &decision);
    ck_assert (decision.allow);
    ck_assert (decision.needs_review);
    //  A consent share is not flagged
    for (int row = 0; row < CASE_COUNT; row++)
        if (s_cases [row].allow && strcmp (s_cases [row].basis, "consent") == 0) {
            s_build_request (&s_cases [row], &request, &consent);
            pol_policy_decide (s_policy, &request, &decision);
            ck_assert (!decision.needs_review);
        }
}
END_TEST

START_TEST (test_move_category_rules_on_allow)
{
    ck_assert (s_policy);
    //  Row "the coordinator follows the case": each category names its rule
    for (int row = 0; row < CASE_COUNT; row++) {
        if (strstr (s_cases [row].what, "two rules, one per category") == NULL)
            continue;
        pol_request_t request;
        pol_consent_state_t consent;
        pol_decision_t decision;
        s_build_request (&s_cases [row], &request, &consent);
        pol_policy_decide (s_policy, &request, &decision);
        ck_assert (decision.allow);
        ck_assert_str_eq (decision.category_rule [PL_CAT_CASE_SUMMARY], "case-team-updates");
        ck_assert_str_eq (decision.category_rule [PL_CAT_RISK_ASSESSMENT],
                          "coordinator-follows-case");
        ck_assert_ptr_null (decision.category_rule [PL_CAT_IDENTITY]);
        return;
    }
    ck_abort_msg ("row not found");
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("policy_move");
    TCase *table = tcase_create ("decision table");
    tcase_add_unchecked_fixture (table, s_load_policy, s_free_policy);
    tcase_add_loop_test (table, test_move_case, 0, CASE_COUNT);
    tcase_add_loop_test (table, test_move_explain_agrees, 0, CASE_COUNT);
    tcase_add_test (table, test_move_table_is_large_enough);
    tcase_add_test (table, test_move_settings);
    tcase_add_test (table, test_move_review_flag);
    tcase_add_test (table, test_move_category_rules_on_allow);
    suite_add_tcase (suite, table);
    return suite;
}

PL_TEST_MAIN
