/*  passerelle: the agency command line.
 *
 *      passerelle keygen --id ID --out DIR
 *      passerelle [-c agent.cfg | -s SOCKET] publish ... (--payload-file F | -)
 *      passerelle [-c agent.cfg | -s SOCKET] consent give|withdraw ...
 *      passerelle [-c agent.cfg | -s SOCKET] inbox [--follow] [--json] [--after N]
 *      passerelle [-c agent.cfg | -s SOCKET] status [--json]
 *
 *  Every command but keygen talks to the running agent over its control
 *  socket; the agent holds the key, so staff using the CLI never touch it.
 *  Exit codes (README "Exit codes"): 0 done, 1 usage, 2 agent unreachable,
 *  3 refused (by the agent or the broker), 4 try again later (nothing was
 *  accepted), 5 local file error, 6 queued: accepted into the agent's outbox,
 *  the broker's answer is not in yet (`passerelle outcome ID` later).  */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <czmq.h>
#include <jansson.h>
#include "pa_client.h"
#include "pa_config.h"
#include "pl_envelope.h"
#include "pl_keys.h"
#include "pl_vocab.h"

enum { EXIT_DONE, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_LATER, EXIT_FILE, EXIT_QUEUED };

static const char *s_usage_text =
    "usage: passerelle [-c agent.cfg | -s SOCKET] COMMAND [OPTIONS]\n"
    "commands:\n"
    "  keygen   make an agency (or broker) key pair\n"
    "  publish  seal, sign and publish a case event through the agent\n"
    "  consent  register or withdraw a person's consent with the broker\n"
    "  outcome  what the broker answered for an event this agency published\n"
    "  proof    check that an event of this agency is in the broker's sharing log\n"
    "  inbox    show events delivered to this agency, verified and decrypted\n"
    "  ack      mark an inbox item as processed by the agency's case system\n"
    "  directory  list the agencies, their roles and networks\n"
    "  status   show the agent's connection state and counters\n"
    "'passerelle COMMAND --help' describes each command.\n"
    "-c defaults to $PASSERELLE_CONFIG, then ./agent.cfg.\n";

static int
s_fail (int code, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fprintf (stderr, "passerelle: ");
    vfprintf (stderr, fmt, args);
    fprintf (stderr, "\n");
    va_end (args);
    return code;
}

//  --------------------------------------------------------------------------
//  keygen

static int
s_keygen (int argc, char **argv)
{
    static const struct option options [] = {
        { "id", required_argument, NULL, 'i' }, { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    const char *id = NULL, *out = NULL;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        if (opt == 'i')
            id = optarg;
        else
        if (opt == 'o')
            out = optarg;
        else {
            printf ("usage: passerelle keygen --id ID --out DIR\n"
                    "  Writes DIR/ID.key (secret, mode 0600) and DIR/ID.pub (public).\n"
                    "  ID: lower-case letters, digits, _ . - (at most %d characters).\n"
                    "  Never overwrites an existing key.\n", PL_ID_MAX);
            return opt == 'h'? EXIT_DONE: EXIT_USAGE;
        }
    }
    if (!id || !out)
        return s_fail (EXIT_USAGE, "keygen needs --id ID and --out DIR");
    if (!pl_id_is_valid (id))
        return s_fail (EXIT_USAGE, "'%s' is not a valid id: lower-case letters, digits, _ . -, "
                       "at most %d characters", id, PL_ID_MAX);
    pl_keys_t *keys = pl_keys_generate (id);
    char err [1024];
    int rc = keys? pl_keys_save (keys, out, err, sizeof err): -1;
    if (!keys)
        snprintf (err, sizeof err, "cannot generate keys");
    if (rc == 0) {
        char text [PL_KEY_TEXT_SIZE];
        pl_key_to_text (pl_keys_public (keys), text);
        printf ("%s/%s.key (secret, 0600)\n%s/%s.pub\npublic-key = \"%s\"\n", out, id, out, id, text);
    }
    pl_keys_destroy (&keys);
    return rc == 0? EXIT_DONE: s_fail (EXIT_FILE, "%s", err);
}

//  --------------------------------------------------------------------------
//  Talking to the agent

static pa_client_t *
s_connect (const char *config_path, const char *socket_path, int *code)
{
    char err [1200], control [4096];
    if (!socket_path) {
        if (!config_path)
            config_path = getenv ("PASSERELLE_CONFIG");
        if (!config_path)
            config_path = "agent.cfg";
        if (pa_config_control_path (config_path, control, sizeof control, err, sizeof err) != 0) {
            *code = s_fail (EXIT_UNREACHABLE, "%s", err);
            return NULL;
        }
        socket_path = control;
    }
    pa_client_t *client = pa_client_new (socket_path, err, sizeof err);
    if (!client)
        *code = s_fail (EXIT_UNREACHABLE, "%s", err);
    return client;
}

//  The agent's error replies are {"error": code, "message": text}.
static int
s_report_error (json_t *reply)
{
    const char *code = json_string_value (json_object_get (reply, "error"));
    const char *message = json_string_value (json_object_get (reply, "message"));
    if (!code)
        return 0;
    bool later = streq (code, "not_connected") || streq (code, "timeout")
              || streq (code, "store_full");
    return s_fail (later? EXIT_LATER: EXIT_REFUSED, "%s (%s)", message? message: code, code);
}

//  Send request (consumed) to the agent and wait for its reply. NULL, with
//  the reason printed and *code set, when there is no answer (no_answer
//  code) or the agent answered with an error (its code).
static json_t *
s_call (pa_client_t *client, json_t *request, int timeout_ms, int no_answer, int *code)
{
    char err [256];
    json_t *reply = pa_client_call (client, request, timeout_ms, err, sizeof err);
    json_decref (request);
    *code = reply? s_report_error (reply): s_fail (no_answer, "%s", err);
    if (*code != EXIT_DONE) {
        json_decref (reply);
        return NULL;
    }
    return reply;
}

static void
s_print_json (json_t *reply)
{
    char *text = json_dumps (reply, JSON_COMPACT);
    printf ("%s\n", text? text: "{}");
    free (text);
}

static json_t *
s_split_list (const char *list)
{
    json_t *array = json_array ();
    char *copy = strdup (list), *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item; item = strtok_r (NULL, ",", &save))
        json_array_append_new (array, json_string (item));
    free (copy);
    return array;
}

static int
s_read_payload (const char *path, json_t *request)
{
    FILE *file = streq (path, "-")? stdin: fopen (path, "rb");
    if (!file)
        return s_fail (EXIT_FILE, "cannot open payload file %s: %s", path, strerror (errno));
    size_t capacity = PL_MAX_PAYLOAD + 1;
    uint8_t *buffer = malloc (capacity);
    size_t size = buffer? fread (buffer, 1, capacity, file): 0;
    bool failed = !buffer || ferror (file);
    if (file != stdin)
        fclose (file);
    if (failed || size > PL_MAX_PAYLOAD) {
        free (buffer);
        return failed? s_fail (EXIT_FILE, "cannot read payload %s", path):
            s_fail (EXIT_USAGE, "payload %s is larger than %d bytes", path, PL_MAX_PAYLOAD);
    }
    size_t text_size = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc (text_size);
    sodium_bin2base64 (text, text_size, buffer, size, sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new (request, "payload_base64", json_string (text));
    free (text);
    free (buffer);
    return EXIT_DONE;
}

//  --------------------------------------------------------------------------
//  publish

static void s_print_decisions (json_t *reply);

//  "event <id> accepted|refused|queued" and the decisions; the exit code.
static int
s_print_outcome (json_t *reply, bool as_json)
{
    bool accepted = json_is_true (json_object_get (reply, "accepted"));
    bool queued = json_is_true (json_object_get (reply, "queued"));
    if (as_json)
        s_print_json (reply);
    else {
        printf ("event %s %s", json_string_value (json_object_get (reply, "event_id")),
                accepted? "accepted": queued? "queued": "refused");
        if (!accepted)
            printf (": %s%s%s", queued? "": json_string_value (json_object_get (reply, "status")),
                    queued? "": ": ", json_string_value (json_object_get (reply, "reason")));
        printf ("\n");
        s_print_decisions (reply);
    }
    return accepted? EXIT_DONE: queued? EXIT_QUEUED: EXIT_REFUSED;
}

//  "  -> pp-paris: allow (rule justice-refers-to-perpetrator-programme)"
//  "  -> ss-paris: deny consent_scope, category health (rule ...): reason"
static void
s_print_decisions (json_t *reply)
{
    size_t index;
    json_t *d;
    json_array_foreach (json_object_get (reply, "decisions"), index, d) {
        bool allowed = json_is_true (json_object_get (d, "allowed"));
        const char *code = json_string_value (json_object_get (d, "code"));
        const char *rule = json_string_value (json_object_get (d, "rule"));
        const char *category = json_string_value (json_object_get (d, "category"));
        printf ("  -> %s: %s", json_string_value (json_object_get (d, "recipient")),
                allowed? "allow": "deny");
        if (!allowed)
            printf (" %s", code && *code? code: json_string_value (json_object_get (d, "status")));
        if (!allowed && category && *category)
            printf (", category %s", category);
        if (rule && *rule)
            printf (" (rule %s)", rule);
        if (allowed)
            printf ("\n");
        else
            printf (": %s\n", json_string_value (json_object_get (d, "reason")));
    }
    json_array_foreach (json_object_get (reply, "warnings"), index, d)
        printf ("  warning: %s\n", json_string_value (d));
}

static void
s_publish_help (void)
{
    printf ("usage: passerelle publish --type TYPE --case REF (--to AGENCY[,AGENCY] | --to-role ROLE[,ROLE])\n"
            "                          --category CAT[,CAT] --purpose PURPOSE --basis BASIS\n"
            "                          [--consent ID | --justification TEXT] [--risk LEVEL]\n"
            "                          [--valid-for DURATION] [--supersedes EVENT-ID] [--json]\n"
            "                          (--payload-file FILE | -)\n"
            "  Seals the payload to each recipient, signs the header and publishes it.\n"
            "  Prints the event id and the broker's decision for each recipient.\n"
            "  Basis 'consent' needs --consent; any other basis needs --justification.\n"
            "  --to-role resolves within this agency's own network only.\n"
            "  --type correction --supersedes ID goes to everyone who received ID (add --to\n"
            "  for more); only the original publisher may correct.\n"
            "  --valid-for defaults to 30d (e.g. 90m, 12h, 7d).\n"
            "  The event is committed to the agent's outbox first and sent until the broker\n"
            "  answers, across restarts of either side.\n"
            "exit: 0 accepted, 3 refused, 6 queued (no answer yet: see passerelle outcome),\n"
            "      4 nothing accepted (agent never reached the broker, or its store is full),\n"
            "      2 agent unreachable\n");
}

static int
s_publish (pa_client_t **client_p, const char *config, const char *socket, int argc, char **argv)
{
    static const struct option options [] = {
        { "type", required_argument, NULL, 't' }, { "case", required_argument, NULL, 'C' },
        { "to", required_argument, NULL, 'T' }, { "to-role", required_argument, NULL, 'R' },
        { "category", required_argument, NULL, 'g' }, { "purpose", required_argument, NULL, 'p' },
        { "basis", required_argument, NULL, 'b' }, { "consent", required_argument, NULL, 'k' },
        { "justification", required_argument, NULL, 'j' }, { "risk", required_argument, NULL, 'r' },
        { "valid-for", required_argument, NULL, 'v' }, { "supersedes", required_argument, NULL, 's' },
        { "payload-file", required_argument, NULL, 'f' }, { "json", no_argument, NULL, 'J' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    json_t *request = json_pack ("{s:s}", "op", "publish");
    const char *payload = NULL;
    bool as_json = false;
    int opt, code = EXIT_DONE;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        const char *field = NULL;
        switch (opt) {
            case 't': field = "type"; break;
            case 'C': field = "case"; break;
            case 'p': field = "purpose"; break;
            case 'b': field = "basis"; break;
            case 'k': field = "consent"; break;
            case 'j': field = "justification"; break;
            case 'r': field = "risk"; break;
            case 'v': field = "valid_for"; break;
            case 's': field = "supersedes"; break;
            case 'T': json_object_set_new (request, "to", s_split_list (optarg)); break;
            case 'R': json_object_set_new (request, "to_roles", s_split_list (optarg)); break;
            case 'g': json_object_set_new (request, "categories", s_split_list (optarg)); break;
            case 'f': payload = optarg; break;
            case 'J': as_json = true; break;
            case 'h': s_publish_help (); json_decref (request); return EXIT_DONE;
            default:  s_publish_help (); json_decref (request); return EXIT_USAGE;
        }
        if (field)
            json_object_set_new (request, field, json_string (optarg));
    }
    if (!payload && optind < argc && streq (argv [optind], "-"))
        payload = argv [optind++];
    if (optind != argc || !payload) {
        json_decref (request);
        return s_fail (EXIT_USAGE, "publish needs --payload-file FILE or - (standard input); "
                       "see 'passerelle publish --help'");
    }
    if ((code = s_read_payload (payload, request)) != EXIT_DONE) {
        json_decref (request);
        return code;
    }
    if (!(*client_p = s_connect (config, socket, &code))) {
        json_decref (request);
        return code;
    }
    json_t *reply = s_call (*client_p, request, 30000, EXIT_LATER, &code);
    if (!reply)
        return code;
    code = s_print_outcome (reply, as_json);
    json_decref (reply);
    return code;
}

//  --------------------------------------------------------------------------
//  ack and directory: the rest of what the HTTP API offers

static int
s_ack (pa_client_t *client, int argc, char **argv)
{
    char *end = NULL;
    long long seq = argc == 2? strtoll (argv [1], &end, 10): 0;
    if (argc != 2 || !end || *end || seq < 1) {
        printf ("usage: passerelle ack SEQ\n"
                "  Marks inbox item SEQ (the #N of 'passerelle inbox') as processed by the\n"
                "  agency's case system; 'inbox --json' then shows \"processed\": true.\n"
                "exit: 0 marked, 3 no such item\n");
        return argc == 2 && streq (argv [1], "--help")? EXIT_DONE: EXIT_USAGE;
    }
    json_t *request = json_pack ("{s:s, s:I}", "op", "ack", "seq", (json_int_t) seq);
    int code;
    json_t *reply = s_call (client, request, 5000, EXIT_UNREACHABLE, &code);
    if (reply)
        printf ("inbox item %lld marked processed\n", seq);
    json_decref (reply);
    return code;
}

static int
s_directory (pa_client_t *client, int argc, char **argv)
{
    bool as_json = argc == 2 && streq (argv [1], "--json");
    if (argc > 2 || (argc == 2 && !as_json)) {
        printf ("usage: passerelle directory [--json]\n"
                "  The agencies the broker's directory lists: id, roles, network, name.\n");
        return argc == 2 && streq (argv [1], "--help")? EXIT_DONE: EXIT_USAGE;
    }
    json_t *request = json_pack ("{s:s}", "op", "directory");
    int code;
    json_t *reply = s_call (client, request, 5000, EXIT_UNREACHABLE, &code);
    if (reply && as_json)
        s_print_json (reply);
    else
    if (reply) {
        size_t index, r;
        json_t *agency, *role;
        json_array_foreach (json_object_get (reply, "agencies"), index, agency) {
            char roles [512] = "";
            json_array_foreach (json_object_get (agency, "roles"), r, role) {
                if (r)
                    strncat (roles, ",", sizeof roles - strlen (roles) - 1);
                strncat (roles, json_string_value (role), sizeof roles - strlen (roles) - 1);
            }
            printf ("%-24s %-28s %-12s %s\n", json_string_value (json_object_get (agency, "id")),
                    roles, json_string_value (json_object_get (agency, "network")),
                    json_string_value (json_object_get (agency, "name")));
        }
    }
    json_decref (reply);
    return code;
}

//  --------------------------------------------------------------------------
//  proof: that an event of ours is in the broker's sharing log

//  "COMMAND EVENT-ID [--json]": 0 when the arguments are right (with
//  *as_json), else prints help and returns the exit code.
static int
s_event_id_args (int argc, char **argv, const char *help, bool *as_json, int *code)
{
    *as_json = argc > 2 && streq (argv [2], "--json");
    if (argc < 2 || streq (argv [1], "--help") || argc > 3 || (argc == 3 && !*as_json)) {
        fputs (help, stdout);
        *code = argc >= 2 && streq (argv [1], "--help")? EXIT_DONE: EXIT_USAGE;
        return -1;
    }
    return 0;
}

static int
s_proof (pa_client_t *client, int argc, char **argv)
{
    bool as_json;
    int code;
    if (s_event_id_args (argc, argv,
            "usage: passerelle proof EVENT-ID [--json]\n"
            "  Asks the broker to prove that an event this agency published (and the\n"
            "  broker accepted) is in its sharing log, and checks the proof here: the\n"
            "  broker-signed checkpoint must extend the one this agent verified before,\n"
            "  and the entry must be included in it (RFC 6962).\n"
            "exit: 0 proven, 3 no proof or the proof does not hold, 4 not connected\n",
            &as_json, &code) != 0)
        return code;
    json_t *request = json_pack ("{s:s, s:s}", "op", "proof", "event_id", argv [1]);
    json_t *reply = s_call (client, request, 30000, EXIT_LATER, &code);
    if (reply) {
        if (as_json)
            s_print_json (reply);
        else {
            json_t *entry = json_object_get (reply, "entry");
            printf ("event %s is entry %lld of the sharing log, included in the checkpoint of "
                    "%lld entries (root %s), verified\n", argv [1],
                    (long long) json_integer_value (json_object_get (reply, "log_index")),
                    (long long) json_integer_value (json_object_get (reply, "tree_size")),
                    json_string_value (json_object_get (reply, "root")));
            printf ("  %s %s case %s from %s\n", json_string_value (json_object_get (entry, "kind")),
                    json_string_value (json_object_get (entry, "type")),
                    json_string_value (json_object_get (entry, "case")),
                    json_string_value (json_object_get (entry, "publisher")));
            size_t index;
            json_t *d;
            json_array_foreach (json_object_get (entry, "decisions"), index, d)
                printf ("  -> %s: %s %s%s%s\n", json_string_value (json_object_get (d, "recipient")),
                        json_is_true (json_object_get (d, "allowed"))? "allow": "deny",
                        json_string_value (json_object_get (d, "code")),
                        *json_string_value (json_object_get (d, "rule"))? " rule ": "",
                        json_string_value (json_object_get (d, "rule")));
        }
    }
    json_decref (reply);
    return code;
}

//  --------------------------------------------------------------------------
//  outcome: what became of an event this agency published

static int
s_outcome (pa_client_t *client, int argc, char **argv)
{
    bool as_json;
    int code;
    if (s_event_id_args (argc, argv,
            "usage: passerelle outcome EVENT-ID [--json]\n"
            "  What the broker answered for an event this agency published, or that it\n"
            "  is still in the outbox waiting for the broker (kept across restarts).\n"
            "exit: 0 accepted, 3 refused, 6 still queued\n",
            &as_json, &code) != 0)
        return code;
    json_t *request = json_pack ("{s:s, s:s}", "op", "outcome", "event_id", argv [1]);
    json_t *reply = s_call (client, request, 5000, EXIT_UNREACHABLE, &code);
    if (reply)
        code = s_print_outcome (reply, as_json);
    json_decref (reply);
    return code;
}

//  --------------------------------------------------------------------------
//  consent give | withdraw: events addressed to the broker's consent registry

static void
s_consent_help (void)
{
    printf ("usage: passerelle consent give --case REF --id CONSENT-ID --subject SUBJECT\n"
            "                               --categories CAT[,CAT] --roles ROLE[,ROLE]\n"
            "                               --purposes PURPOSE[,PURPOSE] [--valid-for DURATION]\n"
            "                               [--evidence REF] [--json]\n"
            "       passerelle consent withdraw --case REF --id CONSENT-ID --subject SUBJECT [--json]\n"
            "  Registers a person's informed consent with the broker: which data categories, to\n"
            "  which recipient roles, for which purposes, on this case only. Shares citing\n"
            "  --consent CONSENT-ID are then allowed only within that scope. A withdrawal stops\n"
            "  further sharing at once and every agency that received data under the consent\n"
            "  is sent a notice. SUBJECT: victim, perpetrator or guardian. --evidence names where\n"
            "  your agency holds the signed form (never the form itself).\n"
            "exit: 0 registered, 3 refused, 4 not connected or no answer (retry)\n");
}

static int
s_consent (pa_client_t **client_p, const char *config, const char *socket, int argc, char **argv)
{
    static const struct option options [] = {
        { "case", required_argument, NULL, 'C' }, { "id", required_argument, NULL, 'i' },
        { "subject", required_argument, NULL, 's' }, { "categories", required_argument, NULL, 'g' },
        { "roles", required_argument, NULL, 'r' }, { "purposes", required_argument, NULL, 'p' },
        { "valid-for", required_argument, NULL, 'v' }, { "evidence", required_argument, NULL, 'e' },
        { "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *action = argc > 1? argv [1]: "";
    bool give = streq (action, "give");
    if (!give && !streq (action, "withdraw")) {
        s_consent_help ();
        return streq (action, "--help")? EXIT_DONE: EXIT_USAGE;
    }
    json_t *scope = json_object ();
    const char *case_ref = NULL, *valid_for = NULL;
    bool as_json = false;
    int opt;
    optind = 2;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'C': case_ref = optarg; break;
            case 'i': json_object_set_new (scope, "consent_id", json_string (optarg)); break;
            case 's': json_object_set_new (scope, "subject", json_string (optarg)); break;
            case 'g': json_object_set_new (scope, "categories", s_split_list (optarg)); break;
            case 'r': json_object_set_new (scope, "recipient_roles", s_split_list (optarg)); break;
            case 'p': json_object_set_new (scope, "purposes", s_split_list (optarg)); break;
            case 'v': valid_for = optarg; break;
            case 'e': json_object_set_new (scope, "evidence_ref", json_string (optarg)); break;
            case 'J': as_json = true; break;
            case 'h': s_consent_help (); json_decref (scope); return EXIT_DONE;
            default:  s_consent_help (); json_decref (scope); return EXIT_USAGE;
        }
    }
    json_t *id = json_object_get (scope, "consent_id");
    char consent_id [PL_MAX_CASE_REF + 1];
    snprintf (consent_id, sizeof consent_id, "%s", id? json_string_value (id): "");
    if (!case_ref || !id || !json_object_get (scope, "subject")
    ||  (give && (!json_object_get (scope, "categories") || !json_object_get (scope, "recipient_roles")
                  || !json_object_get (scope, "purposes")))) {
        json_decref (scope);
        return s_fail (EXIT_USAGE, "consent %s needs --case, --id, --subject%s; see 'passerelle "
                       "consent --help'", action, give? ", --categories, --roles and --purposes": "");
    }
    if (valid_for) {
        uint64_t ms;
        if (pl_parse_duration (valid_for, &ms) != 0) {
            json_decref (scope);
            return s_fail (EXIT_USAGE, "--valid-for: expected a duration such as 180d");
        }
        json_object_set_new (scope, "valid_until_ms",
                             json_integer ((json_int_t) (zclock_time () + (int64_t) ms)));
    }
    //  The event itself: its categories and purpose are those of the scope
    json_t *categories = json_object_get (scope, "categories");
    json_t *purposes = json_object_get (scope, "purposes");
    json_t *event_categories = categories? json_incref (categories): json_pack ("[s]", "case_summary");
    json_t *request = json_pack ("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:O}", "op", "publish",
        "type", give? "consent_given": "consent_withdrawn", "case", case_ref,
        "categories", event_categories,
        "purpose", purposes && json_array_size (purposes)?
                   json_string_value (json_array_get (purposes, 0)): "case_coordination",
        "basis", "consent", "consent", consent_id, "consent_scope", scope);
    json_decref (scope);
    int code;
    if (!request) 
        return s_fail (EXIT_USAGE, "invalid consent arguments");
    if (!(*client_p = s_connect (config, socket, &code))) {
        json_decref (request);
        return code;
    }
    json_t *reply = s_call (*client_p, request, 30000, EXIT_LATER, &code);
    if (!reply)
        return code;
    bool accepted = json_is_true (json_object_get (reply, "accepted"));
    if (as_json)
        s_print_json (reply);
    else
        printf ("consent %s on case %s %s%s%s\n", consent_id, case_ref,
                accepted? (give? "registered": "withdrawn"): "refused: ",
                accepted? "": json_string_value (json_object_get (reply, "status")),
                accepted? "": "");
    if (!accepted && !as_json)
        printf ("  %s\n", json_string_value (json_object_get (reply, "reason")));
    json_decref (reply);
    return accepted? EXIT_DONE: EXIT_REFUSED;
}

//  --------------------------------------------------------------------------
//  inbox and status

static void
s_print_notice (json_t *notice)
{
    char when [32] = "?";
    time_t seconds = (time_t) (json_integer_value (json_object_get (notice, "at_ms")) / 1000);
    struct tm tm;
    if (gmtime_r (&seconds, &tm))
        strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *text = json_string_value (json_object_get (notice, "text"));
    printf ("#%lld %s NOTICE %s from the broker\n    %s\n",
            (long long) json_integer_value (json_object_get (notice, "seq")), when,
            json_string_value (json_object_get (notice, "kind")), text? text: "");
}

static void
s_print_event (json_t *event)
{
    const char *type = json_string_value (json_object_get (event, "type"));
    if (type && streq (type, "notice")) {
        s_print_notice (event);
        return;
    }
    char when [32] = "?";
    time_t seconds = (time_t) (json_integer_value (json_object_get (event, "created_at_ms")) / 1000);
    struct tm tm;
    if (gmtime_r (&seconds, &tm))
        strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char categories [256] = "";
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (event, "categories"), index, item) {
        if (index)
            strncat (categories, ",", sizeof categories - strlen (categories) - 1);
        strncat (categories, json_string_value (item), sizeof categories - strlen (categories) - 1);
    }
    const char *risk = json_string_value (json_object_get (event, "risk"));
    const char *consent = json_string_value (json_object_get (event, "consent"));
    const char *justification = json_string_value (json_object_get (event, "justification"));
    printf ("#%lld %s %s case %s from %s\n", (long long) json_integer_value (json_object_get (event, "seq")),
            when, json_string_value (json_object_get (event, "type")),
            json_string_value (json_object_get (event, "case")),
            json_string_value (json_object_get (event, "publisher")));
    printf ("    event %s  categories %s  purpose %s  basis %s%s%s%s%s\n",
            json_string_value (json_object_get (event, "event_id")), categories,
            json_string_value (json_object_get (event, "purpose")),
            json_string_value (json_object_get (event, "basis")),
            consent? " consent ": "", consent? consent: "",
            risk? "  risk ": "", risk? risk: "");
    if (justification)
        printf ("    justification: %s\n", justification);
    const char *payload = json_string_value (json_object_get (event, "payload"));
    if (payload)
        printf ("    %s\n", payload);
    else
        printf ("    (binary payload, %zu base64 characters; use --json)\n",
                strlen (json_string_value (json_object_get (event, "payload_base64"))));
}

static int
s_inbox (pa_client_t *client, int argc, char **argv)
{
    static const struct option options [] = {
        { "follow", no_argument, NULL, 'f' }, { "json", no_argument, NULL, 'j' },
        { "after", required_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    bool follow = false, as_json = false;
    long long after = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        if (opt == 'f')
            follow = true;
        else
        if (opt == 'j')
            as_json = true;
        else
        if (opt == 'a')
            after = atoll (optarg);
        else {
            printf ("usage: passerelle inbox [--follow] [--json] [--after N]\n"
                    "  Events delivered to this agency, verified and decrypted, oldest first.\n"
                    "  --after N   only events after local number N\n"
                    "  --follow    keep waiting for new events (Ctrl-C to stop)\n"
                    "  --json      one JSON object per line\n");
            return opt == 'h'? EXIT_DONE: EXIT_USAGE;
        }
    }
    do {
        json_t *request = json_pack ("{s:s, s:I, s:I}", "op", "inbox", "after", (json_int_t) after,
                                     "wait_ms", (json_int_t) (follow? 25000: 0));
        int code;
        json_t *reply = s_call (client, request, 30000, EXIT_LATER, &code);
        if (!reply)
            return code;
        size_t index;
        json_t *event;
        json_array_foreach (json_object_get (reply, "events"), index, event) {
            if (as_json)
                s_print_json (event);
            else
                s_print_event (event);
            after = json_integer_value (json_object_get (event, "seq"));
        }
        fflush (stdout);
        json_decref (reply);
    } while (follow);
    return EXIT_DONE;
}

static int
s_status (pa_client_t *client, int argc, char **argv)
{
    bool as_json = argc > 1 && streq (argv [1], "--json");
    if (argc > 1 && !as_json) {
        printf ("usage: passerelle status [--json]\n"
                "  Connection to the broker, directory size and counters.\n"
                "exit: 0 connected, 4 not connected\n");
        return streq (argv [1], "--help")? EXIT_DONE: EXIT_USAGE;
    }
    char err [256];
    json_t *request = json_pack ("{s:s}", "op", "status");
    json_t *reply = pa_client_call (client, request, 5000, err, sizeof err);
    json_decref (request);
    if (!reply)
        return s_fail (EXIT_UNREACHABLE, "%s", err);
    bool connected = json_is_true (json_object_get (reply, "connected"));
    if (as_json)
        s_print_json (reply);
    else {
        json_t *counts = json_object_get (reply, "counts");
        printf ("agency %s\nbroker %s: %s\ndirectory %lld agencies\nsequence %lld\n"
                "outbox %lld waiting\ninbox %lld received\nlog checkpoint verified at %lld\n",
                json_string_value (json_object_get (reply, "agency")),
                json_string_value (json_object_get (reply, "broker")),
                connected? "connected": "not connected",
                (long long) json_integer_value (json_object_get (reply, "directory_size")),
                (long long) json_integer_value (json_object_get (reply, "sequence")),
                (long long) json_integer_value (json_object_get (reply, "outbox")),
                (long long) json_integer_value (json_object_get (reply, "inbox_last")),
                (long long) json_integer_value (json_object_get (reply, "checkpoint_size")));
        const char *alarm = json_string_value (json_object_get (reply, "log_alarm"));
        if (alarm)
            printf ("ALERT: the broker's sharing log failed verification: %s\n", alarm);
        const char *key;
        json_t *value;
        json_object_foreach (counts, key, value)
            printf ("%s %lld\n", key, (long long) json_integer_value (value));
    }
    json_decref (reply);
    return connected? EXIT_DONE: EXIT_LATER;
}

int
main (int argc, char **argv)
{
    const char *config = NULL, *socket = NULL;
    int first = 1;
    //  Global options come before the command
    while (first < argc && argv [first][0] == '-') {
        if ((streq (argv [first], "-c") || streq (argv [first], "-s")) && first + 1 < argc) {
            *(argv [first][1] == 'c'? &config: &socket) = argv [first + 1];
            first += 2;
        }
        else
        if (streq (argv [first], "-h") || streq (argv [first], "--help")) {
            printf ("%s", s_usage_text);
            return EXIT_DONE;
        }
        else {
            fprintf (stderr, "%s", s_usage_text);
            return EXIT_USAGE;
        }
    }
    if (first >= argc) {
        fprintf (stderr, "%s", s_usage_text);
        return EXIT_USAGE;
    }
    if (sodium_init () < 0)
        return s_fail (EXIT_FILE, "libsodium failed to start");
    zsys_handler_set (NULL);
    const char *command = argv [first];
    int sub_argc = argc - first;
    char **sub_argv = argv + first;
    optind = 1;
    if (streq (command, "keygen"))
        return s_keygen (sub_argc, sub_argv);
    pa_client_t *client = NULL;
    int code;
    //  Help, or a command missing its argument, needs no agent: answer with
    //  usage rather than "no agent control socket"
    bool wants_help = (sub_argc > 1 && streq (sub_argv [1], "--help"))
                   || (sub_argc < 2 && (streq (command, "proof") || streq (command, "outcome")
                                        || streq (command, "ack")));
    if (streq (command, "publish"))
        code = s_publish (&client, config, socket, sub_argc, sub_argv);
    else
    if (streq (command, "consent"))
        code = s_consent (&client, config, socket, sub_argc, sub_argv);
    else
    if (!streq (command, "inbox") && !streq (command, "status") && !streq (command, "outcome")
    &&  !streq (command, "proof") && !streq (command, "ack") && !streq (command, "directory")) {
        fprintf (stderr, "passerelle: unknown command '%s'\n%s", command, s_usage_text);
        return EXIT_USAGE;
    }
    else
    if (!wants_help && !(client = s_connect (config, socket, &code)))
        return code;
    else
        code = streq (command, "inbox")? s_inbox (client, sub_argc, sub_argv):
               streq (command, "outcome")? s_outcome (client, sub_argc, sub_argv):
               streq (command, "proof")? s_proof (client, sub_argc, sub_argv):
               streq (command, "ack")? s_ack (client, sub_argc, sub_argv):
               streq (command, "directory")? s_directory (client, sub_argc, sub_argv):
               s_status (client, sub_argc, sub_argv);
    pa_client_destroy (&client);
    return code;
}
