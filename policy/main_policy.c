/*  passerelle-policy: the data-protection officer's tool for a policy file.
 *
 *      passerelle-policy check FILE
 *      passerelle-policy explain FILE --from ROLE --to ROLE --type T ...
 *
 *  'check' validates a file and lists every error with its line. 'explain'
 *  asks the same engine the broker uses about one share, described by flags
 *  instead of a real event, and shows the decision and what every rule made
 *  of it, so a reviewer can see why something is or is not shared.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pol_loader.h"
#include "pol_policy.h"

#define ERR_SIZE 65536

enum { EXIT_ALLOWED = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static void
s_usage_main (FILE *out)
{
    fprintf (out,
        "usage: passerelle-policy COMMAND [ARGS]\n"
        "\n"
        "  check FILE      validate a policy file; lists every error as file:line: message\n"
        "  explain FILE    show how the policy decides one share, rule by rule\n"
        "\n"
        "passerelle-policy COMMAND --help for the arguments of a command.\n");
}

static void
s_usage_check (FILE *out)
{
    fprintf (out,
        "usage: passerelle-policy check FILE\n"
        "\n"
        "Loads FILE as the broker would. Exit 0 and a summary when it is valid;\n"
        "exit 1 and every error found, one 'file:line: what was expected' per line,\n"
        "when it is not.\n");
}

static void
s_usage_explain (FILE *out)
{
    fprintf (out,
        "usage: passerelle-policy explain FILE --from ROLE[,ROLE] --to ROLE[,ROLE]\n"
        "         --type TYPE --category CAT[,CAT] --purpose PURPOSE --basis BASIS\n"
        "         [options]\n"
        "\n"
        "Describes one share to one recipient and prints the decision, then for each\n"
        "rule in file order whether it matched or the first check it failed.\n"
        "\n"
        "  --from ROLES          roles of the sending agency\n"
        "  --to ROLES            roles of the receiving agency\n"
        "  --type TYPE           event type (referral, risk_escalation, ...)\n"
        "  --category CATS       data categories carried; repeat or comma-separate\n"
        "  --purpose PURPOSE     purpose of the share\n"
        "  --basis BASIS         consent, legal_obligation, vital_interests, public_task,\n"
        "                        court_order\n"
        "  --consent-scope SCOPE an active consent is cited, covering\n"
        "                        'categories=A,B;roles=R,S;purposes=P'\n"
        "  --consent-subject S   whose consent: victim (default), perpetrator, guardian\n"
        "  --consent-withdrawn   the cited consent has been withdrawn\n"
        "  --consent-expired     the cited consent is past its validity\n"
        "  --risk LEVEL          standard, medium, high, critical (default: none)\n"
        "  --justification TEXT  a written justification is given\n"
        "  --age DURATION        how old the event is (e.g. 30m, 2d; default 0)\n"
        "  --in-case             the recipient already works this case\n"
        "  --addressed           the recipient is addressed by its agency id\n"
        "  --outside-network     reached by role from outside the publisher's network\n"
        "  --not-sealed          the publisher sealed no key for the recipient\n"
        "  --correction          the event corrects an earlier one (supersedes)\n"
        "  --not-publisher       ... and is sent by someone other than the original publisher\n"
        "  --received-original   ... and the recipient received the original\n"
        "\n"
        "Exit 0 when the share is allowed, 1 when refused, 2 on a usage or file error.\n");
}

static int
s_check (int argc, char **argv)
{
    if (argc == 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0)) {
        s_usage_check (stdout);
        return 0;
    }
    if (argc != 2) {
        s_usage_check (stderr);
        return EXIT_USAGE;
    }
    char *err = calloc (1, ERR_SIZE);
    pol_policy_t *policy = err? pol_policy_load (argv [1], err, ERR_SIZE): NULL;
    if (!policy) {
        fprintf (stderr, "%s", err? err: "out of memory\n");
        if (err && *err && err [strlen (err) - 1] != '\n')
            fputc ('\n', stderr);
        free (err);
        return 1;
    }
    printf ("%s: valid, version %s, %zu rules\n", argv [1], pol_policy_version (policy),
            pol_policy_rule_count (policy));
    pol_policy_destroy (&policy);
    free (err);
    return 0;
}

//  --- explain ------------------------------------------------------------------

typedef struct {
    pol_request_t request;
    pol_consent_state_t consent;
    bool has_consent;
    const char *path;
    unsigned given;                 //  bit per mandatory flag seen
} explain_t;

enum { OPT_FROM = 1, OPT_TO, OPT_TYPE, OPT_CATEGORY, OPT_PURPOSE, OPT_BASIS,
       OPT_SCOPE, OPT_SUBJECT, OPT_WITHDRAWN, OPT_CONSENT_EXPIRED, OPT_RISK,
       OPT_JUSTIFICATION, OPT_AGE, OPT_IN_CASE, OPT_ADDRESSED, OPT_OUTSIDE,
       OPT_NOT_SEALED, OPT_CORRECTION, OPT_NOT_PUBLISHER, OPT_RECEIVED, OPT_HELP };

static int
s_parse_set_arg (const char *flag, pl_kind_t kind, const char *value, pl_set_t *set)
{
    char bad [64];
    pl_set_t parsed;
    if (pl_vocab_parse_set (kind, value, &parsed, bad, sizeof bad) || !parsed) {
        char expected [512];
        fprintf (stderr, "%s: unknown %s '%s' (expected one of: %s)\n", flag,
                 pl_vocab_kind_name (kind), parsed? bad: value,
                 pl_vocab_format_set (kind, (pl_set_t) ((1ull << pl_vocab_count (kind)) - 1),
                                      expected, sizeof expected));
        return -1;
    }
    *set |= parsed;
    return 0;
}

static int
s_parse_id_arg (const char *flag, pl_kind_t kind, const char *value, int *id)
{
    pl_set_t set = 0;
    if (s_parse_set_arg (flag, kind, value, &set))
        return -1;
    if (set & (set - 1)) {
        fprintf (stderr, "%s: give one %s, not a list\n", flag, pl_vocab_kind_name (kind));
        return -1;
    }
    *id = __builtin_ctz (set);
    return 0;
}

//  "categories=a,b;roles=c;purposes=d" -> consent scope
static int
s_parse_scope (const char *value, pol_consent_state_t *consent)
{
    char *copy = strdup (value), *save = NULL;
    int rc = copy? 0: -1;
    for (char *part = copy? strtok_r (copy, ";", &save): NULL; part && !rc;
         part = strtok_r (NULL, ";", &save)) {
        char *equals = strchr (part, '=');
        if (equals)
            *equals = 0;
        const char *list = equals? equals + 1: "";
        if (strcmp (part, "categories") == 0)
            rc = s_parse_set_arg ("--consent-scope categories", PL_KIND_CATEGORY, list,
                                  &consent->categories);
        else
        if (strcmp (part, "roles") == 0)
            rc = s_parse_set_arg ("--consent-scope roles", PL_KIND_ROLE, list,
                                  &consent->recipient_roles);
        else
        if (strcmp (part, "purposes") == 0)
            rc = s_parse_set_arg ("--consent-scope purposes", PL_KIND_PURPOSE, list,
                                  &consent->purposes);
        else {
            fprintf (stderr, "--consent-scope: unknown part '%s' (expected "
                     "categories=..;roles=..;purposes=..)\n", part);
            rc = -1;
        }
    }
    free (copy);
    return rc;
}

static int
s_explain_option (explain_t *self, int option, const char *value)
{
    pol_request_t *r = &self->request;
    if (option >= OPT_FROM && option <= OPT_BASIS)
        self->given |= 1u << option;
    switch (option) {
        case OPT_FROM:     return s_parse_set_arg ("--from", PL_KIND_ROLE, value, &r->sender_roles);
        case OPT_TO:       return s_parse_set_arg ("--to", PL_KIND_ROLE, value, &r->recipient_roles);
        case OPT_TYPE:     return s_parse_id_arg ("--type", PL_KIND_EVENT_TYPE, value, &r->event_type);
        case OPT_CATEGORY: return s_parse_set_arg ("--category", PL_KIND_CATEGORY, value, &r->categories);
        case OPT_PURPOSE:  return s_parse_id_arg ("--purpose", PL_KIND_PURPOSE, value, &r->purpose);
        case OPT_BASIS:    return s_parse_id_arg ("--basis", PL_KIND_BASIS, value, &r->basis);
        case OPT_RISK:     return s_parse_id_arg ("--risk", PL_KIND_RISK, value, &r->risk);
        case OPT_SUBJECT:  return s_parse_id_arg ("--consent-subject", PL_KIND_SUBJECT, value,
                                                  &self->consent.subject);
        case OPT_SCOPE:    self->has_consent = true;
                           return s_parse_scope (value, &self->consent);
        case OPT_WITHDRAWN: self->consent.withdrawn = true; return 0;
        case OPT_CONSENT_EXPIRED: self->consent.valid_until_ms = 1; return 0;
        case OPT_JUSTIFICATION: r->has_justification = *value != 0; return 0;
        case OPT_IN_CASE:  r->recipient_in_case = true; return 0;
        case OPT_ADDRESSED: r->recipient_addressed_directly = true; return 0;
        case OPT_OUTSIDE:  r->addressed_by_role_outside_network = true; return 0;
        case OPT_NOT_SEALED: r->sealed_for_recipient = false; return 0;
        case OPT_CORRECTION: r->is_correction = true; return 0;
        case OPT_NOT_PUBLISHER: r->corrector_is_original_publisher = false; return 0;
        case OPT_RECEIVED: r->recipient_received_original = true; return 0;
        case OPT_AGE: {
            uint64_t age;
            if (pol_duration_parse (value, &age)) {
                fprintf (stderr, "--age: '%s' is not a duration (expected e.g. 30s, 15m, "
                         "24h, 7d)\n", value);
                return -1;
            }
            r->created_at_ms = r->now_ms - age;
            return 0;
        }
        default: return -1;
    }
}

static int
s_parse_explain (explain_t *self, int argc, char **argv)
{
    static const struct option options [] = {
        { "from", required_argument, 0, OPT_FROM }, { "to", required_argument, 0, OPT_TO },
        { "type", required_argument, 0, OPT_TYPE },
        { "category", required_argument, 0, OPT_CATEGORY },
        { "purpose", required_argument, 0, OPT_PURPOSE },
        { "basis", required_argument, 0, OPT_BASIS },
        { "consent-scope", required_argument, 0, OPT_SCOPE },
        { "consent-subject", required_argument, 0, OPT_SUBJECT },
        { "consent-withdrawn", no_argument, 0, OPT_WITHDRAWN },
        { "consent-expired", no_argument, 0, OPT_CONSENT_EXPIRED },
        { "risk", required_argument, 0, OPT_RISK },
        { "justification", required_argument, 0, OPT_JUSTIFICATION },
        { "age", required_argument, 0, OPT_AGE },
        { "in-case", no_argument, 0, OPT_IN_CASE },
        { "addressed", no_argument, 0, OPT_ADDRESSED },
        { "outside-network", no_argument, 0, OPT_OUTSIDE },
        { "not-sealed", no_argument, 0, OPT_NOT_SEALED },
        { "correction", no_argument, 0, OPT_CORRECTION },
        { "not-publisher", no_argument, 0, OPT_NOT_PUBLISHER },
        { "received-original", no_argument, 0, OPT_RECEIVED },
        { "help", no_argument, 0, OPT_HELP },
        { 0, 0, 0, 0 }
    };
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == OPT_HELP || option == 'h')
            return 1;
        if (option == '?' || option == ':') {
            fprintf (stderr, "explain: unknown option or missing value: %s "
                     "(see passerelle-policy explain --help)\n", argv [optind - 1]);
            return -1;
        }
        if (s_explain_option (self, option, optarg))
            return -1;
    }
    if (optind != argc - 1) {
        fprintf (stderr, "explain: expected exactly one FILE (see --help)\n");
        return -1;
    }
    self->path = argv [optind];
    static const char *names [] = { [OPT_FROM] = "--from", [OPT_TO] = "--to",
        [OPT_TYPE] = "--type", [OPT_CATEGORY] = "--category", [OPT_PURPOSE] = "--purpose",
        [OPT_BASIS] = "--basis" };
    for (int flag = OPT_FROM; flag <= OPT_BASIS; flag++)
        if (!(self->given & (1u << flag))) {
            fprintf (stderr, "explain: %s is required (see --help)\n", names [flag]);
            return -1;
        }
    return 0;
}

static void
s_print_verdict (const pol_rule_verdict_t *verdict, void *arg)
{
    (void) arg;
    char allowed [256];
    if (verdict->matched)
        printf ("  line %-4d %-40s matches\n", verdict->line, verdict->rule_id);
    else
    if (verdict->reason == POL_NO_RULE)
        printf ("  line %-4d %-40s -  %s\n", verdict->line, verdict->rule_id, verdict->text);
    else {
        printf ("  line %-4d %-40s no: %s\n", verdict->line, verdict->rule_id,
                pol_reason_name (verdict->reason));
        printf ("            %s\n", verdict->text);
        if (verdict->allowed_categories)
            printf ("            (would allow: %s)\n",
                    pl_vocab_format_set (PL_KIND_CATEGORY, verdict->allowed_categories,
                                         allowed, sizeof allowed));
    }
}

static int
s_explain (int argc, char **argv)
{
    explain_t self = { .consent = { .subject = PL_SUBJECT_VICTIM } };
    pol_request_init (&self.request);
    self.request.now_ms = 1000ull * 86400 * 365 * 50;       //  any fixed "now"
    self.request.created_at_ms = self.request.now_ms;
    self.request.sealed_for_recipient = true;
    self.request.corrector_is_original_publisher = true;
    int parsed = s_parse_explain (&self, argc, argv);
    if (parsed) {
        s_usage_explain (parsed > 0? stdout: stderr);
        return parsed > 0? 0: EXIT_USAGE;
    }
    if (self.consent.valid_until_ms)
        self.consent.valid_until_ms = self.request.now_ms - 1;
    if (self.has_consent || self.consent.withdrawn || self.consent.valid_until_ms)
        self.request.consent = &self.consent;

    char *err = calloc (1, ERR_SIZE);
    pol_policy_t *policy = err? pol_policy_load (self.path, err, ERR_SIZE): NULL;
    if (!policy) {
        fprintf (stderr, "%s", err? err: "out of memory\n");
        free (err);
        return EXIT_USAGE;
    }
    pol_decision_t decision;
    printf ("rules considered, in file order:\n");
    pol_policy_explain (policy, &self.request, s_print_verdict, NULL, &decision);
    printf ("\ndecision: %s\nreason:   %s\nrule:     %s\n", decision.allow? "ALLOW": "DENY",
            pol_reason_name (decision.reason), decision.rule_id? decision.rule_id: "-");
    if (decision.category >= 0)
        printf ("category: %s\n", pl_vocab_name (PL_KIND_CATEGORY, decision.category));
    printf ("why:      %s\n", decision.text);
    if (decision.needs_review)
        printf ("review:   basis %s is not consent: flagged for review in the log\n",
                pl_vocab_name (PL_KIND_BASIS, self.request.basis));
    pol_policy_destroy (&policy);
    free (err);
    return decision.allow? EXIT_ALLOWED: EXIT_REFUSED;
}

int
main (int argc, char **argv)
{
    if (argc >= 2 && strcmp (argv [1], "check") == 0)
        return s_check (argc - 1, argv + 1);
    if (argc >= 2 && strcmp (argv [1], "explain") == 0)
        return s_explain (argc - 1, argv + 1);
    if (argc == 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0)) {
        s_usage_main (stdout);
        return 0;
    }
    if (argc >= 2)
        fprintf (stderr, "passerelle-policy: unknown command '%s'\n", argv [1]);
    s_usage_main (stderr);
    return EXIT_USAGE;
}
