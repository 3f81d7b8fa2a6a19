/*  passerelle-audit: the auditors' and DPOs' tool on the broker's sharing log.
 *
 *  Argument parsing and dispatch only; the work is in pb_audit*.c. Reads the
 *  store read-only, so it runs while the broker writes.
 *
 *  Where things are: -c broker.cfg (default ./broker.cfg) gives the state
 *  folder (the store is <state>/store), the directory file (roles), the
 *  broker's key (its .pub twin is used when present: auditors need no
 *  secret) and the log's origin. --store, --directory, --key and --origin
 *  override each.  */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "pb_audit.h"
#include "pb_config.h"
#include "pl_checkpoint.h"
#include "pl_keys.h"

#define streq(a, b) (strcmp ((a), (b)) == 0)

static const char *s_usage =
    "usage: passerelle-audit COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  verify                 recompute the log's tree, check every checkpoint\n"
    "  log                    the log's entries, filtered\n"
    "  case REF               the access report for one case (GDPR art. 15)\n"
    "  exceptions             shares made without consent, for the DPO\n"
    "  stats                  monitoring and evaluation figures\n"
    "  report --html FILE     a self-contained HTML report\n"
    "  proof INDEX            an inclusion proof for one entry\n"
    "  consistency OLD NEW    a consistency proof between two tree sizes\n"
    "\n"
    "where (every command):\n"
    "  -c FILE                the broker's config (default ./broker.cfg)\n"
    "  --store DIR            the store folder (default <state>/store from the config)\n"
    "  --directory FILE       the directory file giving roles (default from the config)\n"
    "\n"
    "COMMAND --help tells more. Exit: 0 ok, 1 verification failed, 2 bad arguments,\n"
    "3 cannot read the store or a file.\n";

static const char *s_filters_help =
    "filters:\n"
    "  --case REF --agency ID --role ROLE --type KIND|EVENT-TYPE\n"
    "  --decision allow|deny --basis BASIS --reason CODE\n"
    "  --since DATE --until DATE   (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z, UTC;\n"
    "                               --until takes in the whole of a given day)\n";

typedef struct {
    const char *name, *args, *about;
    bool filters;
} s_command_t;

static const s_command_t s_commands [] = {
    { "verify", "[--checkpoint FILE] [--key broker.pub] [--origin NAME]",
      "Recompute the Merkle tree from every entry, compare it with the stored tree,\n"
      "check every stored checkpoint's signature and root, and that each is\n"
      "consistent with the one before. --checkpoint checks an agency's checkpoint\n"
      "too. Every receipt entry is checked alone against its recipient's key in\n"
      "the directory (its proof leads to the root that key signed). On failure\n"
      "names the first bad entry or checkpoint, and each receipt that does not\n"
      "verify, and exits 1. A progress bar shows on a terminal.\n", false },
    { "log", "[FILTERS] [--json | --csv]",
      "The log's entries, one row per decision (a share to two agencies is two\n"
      "rows), as an aligned table, JSON lines or CSV. Columns: index, time (UTC),\n"
      "kind, case, from, to, event type, decision, code (reason code, or status),\n"
      "rule, basis, purpose, categories, review (no-consent: shared without\n"
      "consent), event id. No payload is ever printed.\n", true },
    { "case", "REF [--json | --csv]",
      "The data-subject access report: every agency that received data about\n"
      "the case (roles, categories, purposes, bases, rules, first and last\n"
      "share), then everything that happened, in time order: shares and their\n"
      "delivery, denials with their reason, consent changes, corrections,\n"
      "escalations.\n", false },
    { "exceptions", "[FILTERS] [--json | --csv]",
      "Every share made without consent (vital interests, legal obligation,\n"
      "court order...) with its basis, rule and justification.\n", true },
    { "stats", "[--since DATE] [--until DATE] [--json | --csv]",
      "Shares between agencies and between roles, by category and purpose;\n"
      "denials by reason; bases; delivery latency p50/p95/p99; late escalations;\n"
      "expiries; sequence gaps.\n", true },
    { "report", "--html FILE [--since DATE] [--until DATE]",
      "One self-contained HTML file (inline SVG, no scripts or fonts): flow\n"
      "matrix between roles, shares over time, denials by reason, latency,\n"
      "exceptions.\n", true },
    { "proof", "INDEX [--size N] [--json]",
      "An inclusion proof of entry INDEX in the tree of size N (default: the\n"
      "newest checkpoint's), with the checkpoint, checked before printing.\n", false },
    { "consistency", "OLD NEW [--json]",
      "A consistency proof that the tree of size OLD is a prefix of the tree\n"
      "of size NEW, with the checkpoints at those sizes, checked before printing.\n",
      false },
};
#define S_COMMANDS (sizeof s_commands / sizeof s_commands [0])

static int
s_fail (int code, const char *fmt, const char *arg)
{
    fprintf (stderr, "passerelle-audit: ");
    fprintf (stderr, fmt, arg);
    fprintf (stderr, "\n");
    return code;
}

static bool
s_file_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

static int
s_parse_u64 (const char *text, uint64_t *value)
{
    char *end = NULL;
    if (!text || !*text || strspn (text, "0123456789") != strlen (text))
        return -1;
    errno = 0;
    *value = strtoull (text, &end, 10);
    return errno? -1: 0;
}

int
main (int argc, char *argv [])
{
    const char *command = NULL, *config_path = NULL, *store_dir = NULL, *directory = NULL;
    const char *key_path = NULL, *origin = NULL, *checkpoint = NULL, *html = NULL;
    const char *size_text = NULL, *positional [2] = { NULL, NULL };
    size_t n_positional = 0;
    bool help = false;
    pb_audit_format_t format = PB_AUDIT_TABLE;
    pb_audit_filter_t filter;
    pb_audit_filter_init (&filter);
    char err [4400];
    bool any_filter = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc? argv [i + 1]: NULL;
        static const char *filters [] = { "case", "agency", "role", "type", "decision",
                                          "basis", "reason", "since", "until", NULL };
        bool is_filter = false;
        for (size_t f = 0; filters [f] && !is_filter; f++)
            if (strncmp (arg, "--", 2) == 0 && strcmp (arg + 2, filters [f]) == 0) {
                is_filter = true;
                if (pb_audit_filter_set (&filter, filters [f], value, err, sizeof err) != 0)
                    return s_fail (PB_AUDIT_USAGE, "%s", err);
                any_filter = true;
                i++;
            }
        if (is_filter)
            continue;
        const char **target = streq (arg, "-c") || streq (arg, "--config")? &config_path:
            streq (arg, "--store")? &store_dir: streq (arg, "--directory")? &directory:
            streq (arg, "--key")? &key_path: streq (arg, "--origin")? &origin:
            streq (arg, "--checkpoint")? &checkpoint: streq (arg, "--html")? &html:
            streq (arg, "--size")? &size_text: NULL;
        if (target) {
            if (!value)
                return s_fail (PB_AUDIT_USAGE, "%s needs a value", arg);
            *target = value;
            i++;
        }
        else
        if (streq (arg, "--json"))
            format = PB_AUDIT_JSON;
        else
        if (streq (arg, "--csv"))
            format = PB_AUDIT_CSV;
        else
        if (streq (arg, "-h") || streq (arg, "--help"))
            help = true;
        else
        if (*arg == '-' && arg [1])
            return s_fail (PB_AUDIT_USAGE, "unknown option %s (see --help)", arg);
        else
        if (!command)
            command = arg;
        else
        if (n_positional < 2)
            positional [n_positional++] = arg;
        else
            return s_fail (PB_AUDIT_USAGE, "unexpected argument %s", arg);
    }
    const s_command_t *cmd = NULL;
    for (size_t c = 0; command && c < S_COMMANDS; c++)
        if (streq (command, s_commands [c].name))
            cmd = &s_commands [c];
    if (!command || (help && !cmd)) {
        fputs (s_usage, help? stdout: stderr);
        return help? PB_AUDIT_OK: PB_AUDIT_USAGE;
    }
    if (!cmd)
        return s_fail (PB_AUDIT_USAGE, "unknown command '%s' (see --help)", command);
    if (help) {
        printf ("usage: passerelle-audit %s %s\n\n%s\n%s", cmd->name, cmd->args, cmd->about,
                cmd->filters? s_filters_help: "");
        printf ("\n  -c FILE, --store DIR, --directory FILE: see passerelle-audit --help\n");
        return PB_AUDIT_OK;
    }
    if (any_filter && !cmd->filters)
        return s_fail (PB_AUDIT_USAGE, "%s takes no filters (see --help)", cmd->name);
    size_t wanted = streq (cmd->name, "case") || streq (cmd->name, "proof")? 1:
                    streq (cmd->name, "consistency")? 2: 0;
    if (n_positional != wanted)
        return s_fail (PB_AUDIT_USAGE, "wrong number of arguments: usage: passerelle-audit %s",
                       streq (cmd->name, "case")? "case REF": streq (cmd->name, "proof")?
                       "proof INDEX": streq (cmd->name, "consistency")? "consistency OLD NEW":
                       cmd->name);
    if (streq (cmd->name, "report") && !html)
        return s_fail (PB_AUDIT_USAGE, "%s", "report needs --html FILE");

    //  Where the store, directory, key and origin are
    pb_config_t *config = calloc (1, sizeof *config);
    if (!config_path && !store_dir && s_file_exists ("broker.cfg"))
        config_path = "broker.cfg";
    if (config_path && pb_config_load (config_path, config, err, sizeof err) != 0) {
        free (config);
        return s_fail (PB_AUDIT_ERROR, "%s", err);
    }
    char store_path [4200];
    if (!store_dir && !config_path) {
        free (config);
        return s_fail (PB_AUDIT_USAGE, "%s", "no store: give --store DIR or -c broker.cfg");
    }
    snprintf (store_path, sizeof store_path, "%s", store_dir? store_dir: "");
    if (!store_dir)
        snprintf (store_path, sizeof store_path, "%s/store", config->state_path);
    if (!directory && config_path && *config->directory_path)
        directory = config->directory_path;
    if (!s_file_exists (store_path)) {
        free (config);
        return s_fail (PB_AUDIT_ERROR, "no store at %s", store_path);
    }
    pb_audit_t *audit = pb_audit_new (store_path, directory, err, sizeof err);
    if (!audit) {
        free (config);
        return s_fail (PB_AUDIT_ERROR, "%s", err);
    }
    //  A broker that was killed left acknowledged batches in its journal:
    //  the store shows them once it starts again
    size_t pending = pb_store_redo_pending (pb_audit_store (audit));
    if (pending)
        fprintf (stderr, "passerelle-audit: note: the broker's redo journal holds %zu batches "
                 "the store does not show yet (the broker was stopped without a flush: it "
                 "replays them when it starts)\n", pending);
    int rc = PB_AUDIT_OK;
    if (streq (cmd->name, "verify")) {
        //  The broker's public key: its .pub twin, so no secret is needed
        char pub [4200], id [PL_ID_MAX + 1] = "";
        uint8_t public_key [PL_PUBLIC_KEY_SIZE];
        if (!key_path && config_path && *config->key_path) {
            size_t len = strlen (config->key_path);
            snprintf (pub, sizeof pub, "%s", config->key_path);
            if (len > 4 && streq (pub + len - 4, ".key"))
                memcpy (pub + len - 4, ".pub", 4);
            key_path = s_file_exists (pub)? pub: config->key_path;
        }
        if (!key_path)
            rc = s_fail (PB_AUDIT_USAGE, "%s", "verify needs the broker's public key: "
                         "--key broker.pub or -c broker.cfg");
        else
        if (pl_public_key_load (key_path, id, sizeof id, public_key, err, sizeof err) != 0)
            rc = s_fail (PB_AUDIT_ERROR, "%s", err);
        else {
            if (!origin)
                origin = config_path && *config->origin? config->origin: id;
            pb_audit_verify_t options = { origin, public_key, checkpoint,
                                          isatty (STDERR_FILENO) && isatty (STDOUT_FILENO) };
            rc = pb_audit_verify (audit, &options, stdout);
        }
    }
    else
    if (streq (cmd->name, "log"))
        rc = pb_audit_log (audit, &filter, format, stdout);
    else
    if (streq (cmd->name, "case"))
        rc = pb_audit_case (audit, positional [0], format, stdout);
    else
    if (streq (cmd->name, "exceptions"))
        rc = pb_audit_exceptions (audit, &filter, format, stdout);
    else
    if (streq (cmd->name, "stats"))
        rc = pb_audit_stats (audit, &filter, format, stdout);
    else
    if (streq (cmd->name, "report"))
        rc = pb_audit_report (audit, &filter, html);
    else
    if (streq (cmd->name, "proof")) {
        uint64_t index, size = 0;
        if (s_parse_u64 (positional [0], &index) != 0)
            rc = s_fail (PB_AUDIT_USAGE, "INDEX must be a number, not '%s'", positional [0]);
        else
        if (size_text && (s_parse_u64 (size_text, &size) != 0 || size == 0))
            rc = s_fail (PB_AUDIT_USAGE, "--size must be a positive number, not '%s'", size_text);
        else
            rc = pb_audit_proof (audit, index, size, format == PB_AUDIT_JSON, stdout);
    }
    else {
        uint64_t size1, size2;
        if (s_parse_u64 (positional [0], &size1) != 0 || s_parse_u64 (positional [1], &size2) != 0)
            rc = s_fail (PB_AUDIT_USAGE, "%s", "OLD and NEW must be tree sizes (numbers)");
        else
            rc = pb_audit_consistency (audit, size1, size2, format == PB_AUDIT_JSON, stdout);
    }
    pb_audit_destroy (&audit);
    free (config);
    fflush (stdout);
    return rc;
}
