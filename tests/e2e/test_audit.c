/*  End to end: passerelle-audit (issue 5) on a real broker's log.
 *
 *  A scripted multi-agency case with the shipped MOVE policy: a
 *  court-ordered referral (shared without consent), a denial for want of
 *  consent, consent given, a share under it, a correction, the withdrawal,
 *  and a risk escalation to an agency that is down (late escalation). Then
 *  every audit command runs while the broker is still up and writing, and
 *  its output is compared with what happened, timestamps masked (they are
 *  the broker's clock). A copy of the store with one entry's bytes changed
 *  makes verify fail at exactly that entry.  */
#include <ctype.h>
#include <lmdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <jansson.h>
#include <sodium.h>
#include "pl_test.h"
#include "e2e/pe_net.h"

#define CASE "C-AUD-2026-7"

static pe_net_t *s_net;
static char s_referral [33], s_share [33], s_correction [33];

static void
s_event_id (const char *out, char *id)
{
    const char *at = strstr (out, "event ");
    ck_assert_ptr_nonnull (at);
    snprintf (id, 33, "%.32s", at + 6);
}

//  Every ISO time "2026-03-01T10:22:33.123Z" becomes "T", every event id
//  (32 hex digits) "E": the broker's clock and random ids.
static char *
s_mask (char *text)
{
    char *w = text;
    for (const char *r = text; *r; ) {
        if (strspn (r, "0123456789abcdef") == 32 && (r == text || !isxdigit ((unsigned char) r [-1]))) {
            *w++ = 'E';
            r += 32;
        }
        else
        if (strlen (r) >= 24 && isdigit ((unsigned char) r [0]) && r [4] == '-' && r [7] == '-'
        &&  r [10] == 'T' && r [13] == ':' && r [16] == ':' && r [19] == '.' && r [23] == 'Z') {
            *w++ = 'T';
            r += 24;
        }
        else
            *w++ = *r++;
    }
    *w = 0;
    return text;
}

static pe_result_t
s_audit (const char *arg, ...)
{
    char *argv [32];
    char bin [1200], cfg [1200];
    const char *dir = getenv ("PASSERELLE_BIN");
    snprintf (bin, sizeof bin, "%s/passerelle-audit", dir? dir: "build/bin");
    snprintf (cfg, sizeof cfg, "%s", pe_net_path (s_net, "broker.cfg"));
    size_t n = 0;
    argv [n++] = bin;
    argv [n++] = "-c";
    argv [n++] = cfg;
    va_list args;
    va_start (args, arg);
    for (const char *a = arg; a && n < 31; a = va_arg (args, const char *))
        argv [n++] = (char *) a;
    va_end (args);
    argv [n] = NULL;
    return pe_run (argv, NULL, 60000);
}

//  Wait until the log holds count receipts, so entry indexes do not depend
//  on how fast the agents answer.
static void
s_wait_receipts (int count)
{
    int seen = 0;
    for (int waited = 0; waited < 10000; waited += 100) {
        pe_result_t r = s_audit ("log", "--type", "receipt", "--csv", NULL);
        seen = 0;
        for (const char *c = r.out; (c = strchr (c, '\n')); c++)
            seen++;
        seen--;                 //  the header
        pe_result_free (&r);
        if (seen >= count)
            return;
        usleep (100000);
    }
    ck_abort_msg ("%d receipts logged, waited for %d", seen, count);
}

//  The scripted case. Runs once: the suite's fixture.
static void
s_setup (void)
{
    s_net = pe_net_new ();
    ck_assert_ptr_nonnull (s_net);
    const char *agencies [][2] = {
        { "police-paris", "police" }, { "prosecution-paris", "prosecution" },
        { "pp-paris", "perpetrator_programme" }, { "ss-paris", "social_services" },
        { "coord-paris", "coordinator" },
    };
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq (pe_net_add_agency (s_net, agencies [i][0], agencies [i][1], "paris",
                                             true), 0);
    ck_assert_int_eq (pe_net_write_directory (s_net, NULL), 0);
    char command [1400];
    snprintf (command, sizeof command, "sed -i 's/^    escalation_deadline = .*/    "
              "escalation_deadline = 2s/' '%s'", pe_net_path (s_net, "policy.cfg"));
    ck_assert_int_eq (system (command), 0);
    ck_assert_int_eq (pe_net_start_broker (s_net, "    checkpoint-interval = 300ms\n"), 0);
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq (pe_net_start_agent (s_net, agencies [i][0], true), 0);

    //  1. The court-ordered referral: no consent needed, flagged for the DPO
    pe_result_t r = pe_net_cli (s_net, "police-paris", "{\"facts\":\"SECRET-ARREST\"}", "publish",
        "--type", "referral", "--case", CASE, "--to", "pp-paris,prosecution-paris",
        "--category", "identity,referral", "--purpose", "referral", "--basis", "legal_obligation",
        "--justification", "criminal procedure code art. 40", "-", NULL);
    ck_assert_msg (r.status == 0, "referral: %s %s", r.out, r.err);
    s_event_id (r.out, s_referral);
    pe_result_free (&r);
    s_wait_receipts (2);
    //  2. The programme refers on without consent: denied
    r = pe_net_cli (s_net, "pp-paris", "{\"n\":\"SECRET-1\"}", "publish", "--type", "referral",
        "--case", CASE, "--to", "ss-paris", "--category", "identity,referral", "--purpose",
        "referral", "--basis", "consent", "--consent", "CONS-PP-1", "-", NULL);
    ck_assert_int_eq (r.status, 3);
    pe_result_free (&r);
    //  3. Consent given; 4. the same referral goes through
    r = pe_net_cli (s_net, "pp-paris", NULL, "consent", "give", "--case", CASE,
        "--id", "CONS-PP-1", "--subject", "perpetrator",
        "--categories", "identity,contact,case_summary,psychosocial,referral",
        "--roles", "social_services", "--purposes", "referral",
        "--evidence", "intake form PP-2026-114", NULL);
    ck_assert_msg (r.status == 0, "consent: %s %s", r.out, r.err);
    pe_result_free (&r);
    r = pe_net_cli (s_net, "pp-paris", "{\"n\":\"SECRET-2\"}", "publish", "--type", "referral",
        "--case", CASE, "--to", "ss-paris", "--category", "identity,referral", "--purpose",
        "referral", "--basis", "consent", "--consent", "CONS-PP-1", "-", NULL);
    ck_assert_msg (r.status == 0, "share: %s %s", r.out, r.err);
    s_event_id (r.out, s_share);
    pe_result_free (&r);
    s_wait_receipts (3);
    //  5. A correction of it
    r = pe_net_cli (s_net, "pp-paris", "{\"n\":\"SECRET-3\"}", "publish", "--type", "correction",
        "--supersedes", s_share, "--case", CASE, "--category", "identity,referral",
        "--purpose", "referral", "--basis", "consent", "--consent", "CONS-PP-1", "-", NULL);
    ck_assert_msg (r.status == 0, "correction: %s %s", r.out, r.err);
    s_event_id (r.out, s_correction);
    pe_result_free (&r);
    s_wait_receipts (4);
    //  6. Consent withdrawn
    r = pe_net_cli (s_net, "pp-paris", NULL, "consent", "withdraw", "--case", CASE,
        "--id", "CONS-PP-1", "--subject", "perpetrator", NULL);
    ck_assert_msg (r.status == 0, "withdraw: %s %s", r.out, r.err);
    pe_result_free (&r);
    s_wait_receipts (5);
    //  7. A risk escalation to the programme while its agent is down
    ck_assert_int_eq (pe_net_stop_agent (s_net, "pp-paris"), 0);
    r = pe_net_cli (s_net, "police-paris", "{\"n\":\"SECRET-4\"}", "publish",
        "--type", "risk_escalation", "--case", CASE, "--to", "pp-paris",
        "--category", "identity,risk_assessment", "--purpose", "risk_management",
        "--basis", "vital_interests", "--justification", "threats to kill, weapon at home",
        "--risk", "high", "-", NULL);
    ck_assert_msg (r.status == 0, "escalation: %s %s", r.out, r.err);
    pe_result_free (&r);
    ck_assert (pe_net_wait_log (s_net, "broker", "late escalation: risk escalation", 8000));
    //  Receipts for everything delivered, and a checkpoint after them
    usleep (1000000);
}

static void
s_teardown (void)
{
    pe_net_destroy (&s_net);
}

static const char *s_expected_log =
    "INDEX  TIME                      KIND               CASE          FROM          TO                 TYPE               DECISION  CODE                RULE                                     BASIS             PURPOSE            CATEGORIES                                           REVIEW      EVENT\n"
    "1      T  publish            C-AUD-2026-7  police-paris  pp-paris           referral           allow     allowed             justice-refers-to-perpetrator-programme  legal_obligation  referral           identity,referral                                    no-consent  E\n"
    "1      T  publish            C-AUD-2026-7  police-paris  prosecution-paris  referral           allow     allowed             police-to-prosecution                    legal_obligation  referral           identity,referral                                    no-consent  E\n"
    "4      T  refusal            C-AUD-2026-7  pp-paris      ss-paris           referral           deny      consent_missing     programme-refers-on                      consent           referral           identity,referral                                    -           E\n"
    "5      T  consent_given      C-AUD-2026-7  pp-paris      -                  consent_given      -         -                   -                                        consent           referral           identity,contact,case_summary,psychosocial,referral  -           E\n"
    "6      T  publish            C-AUD-2026-7  pp-paris      ss-paris           referral           allow     allowed             programme-refers-on                      consent           referral           identity,referral                                    -           E\n"
    "8      T  correction         C-AUD-2026-7  pp-paris      ss-paris           correction         allow     allowed_correction  -                                        consent           referral           identity,referral                                    -           E\n"
    "10     T  consent_withdrawn  C-AUD-2026-7  pp-paris      -                  consent_withdrawn  -         -                   -                                        consent           case_coordination  case_summary                                         -           E\n"
    "11     T  notice             C-AUD-2026-7  -             ss-paris           -                  -         -                   -                                        -                 -                  -                                                    -           E\n"
    "13     T  publish            C-AUD-2026-7  police-paris  pp-paris           risk_escalation    allow     allowed             risk-escalation                          vital_interests   risk_management    identity,risk_assessment                             no-consent  E\n"
    "14     T  late_escalation    C-AUD-2026-7  -             pp-paris           -                  -         -                   -                                        -                 -                  -                                                    -           E\n"
    "15     T  notice             C-AUD-2026-7  -             police-paris       -                  -         -                   -                                        -                 -                  -                                                    -           E\n"
    "16     T  notice             C-AUD-2026-7  -             coord-paris        -                  -         -                   -                                        -                 -                  -                                                    -           E\n";

static const char *s_expected_case =
    "case C-AUD-2026-7: access report (GDPR art. 15), log entries 0..18\n"
    "\n"
    "agencies that received data about the case:\n"
    "AGENCY             ROLES                  CATEGORIES                         PURPOSES                  BASES                             RULES                                                    FIRST                     LAST\n"
    "pp-paris           perpetrator_programme  identity,referral,risk_assessment  referral,risk_management  legal_obligation,vital_interests  justice-refers-to-perpetrator-programme,risk-escalation  T  T\n"
    "prosecution-paris  prosecution            identity,referral                  referral                  legal_obligation                  police-to-prosecution                                    T  T\n"
    "ss-paris           social_services        identity,referral                  referral                  consent                           programme-refers-on                                      T  T\n"
    "\n"
    "what happened, in time order:\n"
    "INDEX  TIME                      WHAT               FROM          TO                 TYPE               CATEGORIES                                           PURPOSE            BASIS             DECISION  RULE/REASON                              DELIVERED\n"
    "1      T  publish            police-paris  pp-paris           referral           identity,referral                                    referral           legal_obligation  allow     justice-refers-to-perpetrator-programme  T\n"
    "1      T  publish            police-paris  prosecution-paris  referral           identity,referral                                    referral           legal_obligation  allow     police-to-prosecution                    T\n"
    "4      T  refusal            pp-paris      ss-paris           referral           identity,referral                                    referral           consent           deny      consent_missing (category identity)      -\n"
    "5      T  consent_given      pp-paris      -                  consent_given      identity,contact,case_summary,psychosocial,referral  referral           consent           -         -                                        -\n"
    "6      T  publish            pp-paris      ss-paris           referral           identity,referral                                    referral           consent           allow     programme-refers-on                      T\n"
    "8      T  correction         pp-paris      ss-paris           correction         identity,referral                                    referral           consent           allow     allowed_correction                       T\n"
    "10     T  consent_withdrawn  pp-paris      -                  consent_withdrawn  case_summary                                         case_coordination  consent           -         -                                        -\n"
    "11     T  notice             -             ss-paris           -                  -                                                    -                  -                 -         -                                        -\n"
    "13     T  publish            police-paris  pp-paris           risk_escalation    identity,risk_assessment                             risk_management    vital_interests   allow     risk-escalation                          pending\n"
    "14     T  late_escalation    -             pp-paris           -                  -                                                    -                  -                 -         -                                        -\n"
    "15     T  notice             -             police-paris       -                  -                                                    -                  -                 -         -                                        -\n"
    "16     T  notice             -             coord-paris        -                  -                                                    -                  -                 -         -                                        -\n";

static const char *s_expected_exceptions =
    "INDEX  TIME                      CASE          FROM          TO                 TYPE             BASIS             RULE                                     PURPOSE          CATEGORIES                JUSTIFICATION\n"
    "1      T  C-AUD-2026-7  police-paris  pp-paris           referral         legal_obligation  justice-refers-to-perpetrator-programme  referral         identity,referral         criminal procedure code art. 40\n"
    "1      T  C-AUD-2026-7  police-paris  prosecution-paris  referral         legal_obligation  police-to-prosecution                    referral         identity,referral         criminal procedure code art. 40\n"
    "13     T  C-AUD-2026-7  police-paris  pp-paris           risk_escalation  vital_interests   risk-escalation                          risk_management  identity,risk_assessment  threats to kill, weapon at home\n";

static const char *s_expected_stats =
    "totals:\n"
    "shares                       5\n"
    "  of which corrections       1\n"
    "  of which without consent   3\n"
    "denied decisions             1\n"
    "refused messages             0\n"
    "consents given               1\n"
    "consents withdrawn           1\n"
    "deliveries with a receipt    4\n"
    "late escalations             1\n"
    "sequence gaps reported       0\n"
    "\n"
    "delivery latency (publish to receipt, ms):\n"
    "\n"
    "shares between agencies:\n"
    "FROM          TO                 COUNT\n"
    "police-paris  pp-paris           2\n"
    "police-paris  prosecution-paris  1\n"
    "pp-paris      ss-paris           2\n"
    "\n"
    "shares between roles:\n"
    "FROM                   TO                     COUNT\n"
    "perpetrator_programme  social_services        2\n"
    "police                 perpetrator_programme  2\n"
    "police                 prosecution            1\n"
    "\n"
    "shares by category:\n"
    "CATEGORY         COUNT\n"
    "identity         5\n"
    "referral         4\n"
    "risk_assessment  1\n"
    "\n"
    "shares by purpose:\n"
    "PURPOSE          COUNT\n"
    "referral         4\n"
    "risk_management  1\n"
    "\n"
    "shares by legal basis:\n"
    "BASIS             COUNT\n"
    "consent           2\n"
    "legal_obligation  2\n"
    "vital_interests   1\n"
    "\n"
    "denials by reason:\n"
    "REASON           COUNT\n"
    "consent_missing  1\n";

//  Lines starting with one of these prefixes removed: figures that depend
//  on timing (latency, notices that lapse).
static char *
s_drop_lines (char *text, const char *const *prefixes)
{
    char *w = text;
    for (char *line = text; *line; ) {
        char *end = strchr (line, '\n');
        size_t len = end? (size_t) (end - line + 1): strlen (line);
        bool drop = false;
        for (size_t i = 0; prefixes [i] && !drop; i++)
            drop = strncmp (line, prefixes [i], strlen (prefixes [i])) == 0;
        if (!drop) {
            memmove (w, line, len);
            w += len;
        }
        line += len;
    }
    *w = 0;
    return text;
}

//  Receipt rows of text removed (counted into *receipts): two recipients
//  receipt the same event in whatever order they happen to answer.
static char *
s_drop_receipts (char *text, int *receipts)
{
    char *w = text;
    *receipts = 0;
    for (char *line = text; *line; ) {
        char *end = strchr (line, '\n');
        size_t len = end? (size_t) (end - line + 1): strlen (line);
        char row [600];
        snprintf (row, sizeof row, "%.*s", (int) (len < sizeof row? len: sizeof row - 1), line);
        if (strstr (row, "  receipt  "))
            (*receipts)++;
        else {
            memmove (w, line, len);
            w += len;
        }
        line += len;
    }
    *w = 0;
    return text;
}

START_TEST (log_case_and_exceptions_say_exactly_what_happened)
{
    pe_result_t r = s_audit ("log", "--case", CASE, NULL);
    ck_assert_msg (r.status == 0, "%s", r.err);
    //  Receipts carry the case too: one for each of the four deliveries
    int receipts = 0;
    ck_assert_str_eq (s_drop_receipts (s_mask (r.out), &receipts), s_expected_log);
    ck_assert_int_eq (receipts, 4);
    pe_result_free (&r);
    r = s_audit ("case", CASE, NULL);
    ck_assert_msg (r.status == 0, "%s", r.err);
    ck_assert_str_eq (s_mask (r.out), s_expected_case);
    pe_result_free (&r);
    r = s_audit ("exceptions", NULL);
    ck_assert_msg (r.status == 0, "%s", r.err);
    ck_assert_str_eq (s_mask (r.out), s_expected_exceptions);
    pe_result_free (&r);
    //  Filters: one denial, for want of consent
    r = s_audit ("log", "--decision", "deny", "--csv", NULL);
    ck_assert_int_eq (r.status, 0);
    ck_assert_str_eq (s_mask (r.out), "index,time,kind,case,from,to,type,decision,code,rule,"
        "basis,purpose,categories,review,event\n4,T,refusal," CASE ",pp-paris,ss-paris,referral,"
        "deny,consent_missing,programme-refers-on,consent,referral,\"identity,referral\",,E\n");
    pe_result_free (&r);
    r = s_audit ("log", "--role", "social_services", "--type", "correction", "--json", NULL);
    ck_assert_int_eq (r.status, 0);
    ck_assert_str_eq (s_mask (r.out), "{\"index\":8,\"time\":\"T\",\"kind\":\"correction\","
        "\"case\":\"" CASE "\",\"from\":\"pp-paris\",\"to\":\"ss-paris\",\"type\":\"correction\","
        "\"decision\":\"allow\",\"code\":\"allowed_correction\",\"rule\":\"\",\"basis\":\"consent\","
        "\"purpose\":\"referral\",\"categories\":\"identity,referral\",\"review\":\"\","
        "\"event\":\"E\"}\n");
    pe_result_free (&r);
    //  Receipts: each share delivered was receipted by its recipient
    r = s_audit ("log", "--type", "receipt", "--agency", "prosecution-paris", "--csv", NULL);
    ck_assert_ptr_nonnull (strstr (r.out, s_referral));
    pe_result_free (&r);
    //  No payload, ever
    const char *all [][2] = { { "log", NULL }, { "case", CASE }, { "stats", NULL },
                              { "exceptions", NULL } };
    for (size_t i = 0; i < 4; i++) {
        r = s_audit (all [i][0], all [i][1], "--json", NULL);
        ck_assert_ptr_null (strstr (r.out, "SECRET"));
        pe_result_free (&r);
    }
}
END_TEST

START_TEST (stats_count_what_happened)
{
    pe_result_t r = s_audit ("stats", NULL);
    ck_assert_msg (r.status == 0, "%s", r.err);
    const char *timing [] = { "p50 ", "p95 ", "p99 ", "max ", "expiries ", NULL };
    ck_assert_str_eq (s_drop_lines (r.out, timing), s_expected_stats);
    pe_result_free (&r);
    r = s_audit ("stats", "--json", NULL);
    ck_assert_int_eq (r.status, 0);
    ck_assert_ptr_nonnull (strstr (r.out, "{\"shares\":5,\"corrections\":1,\"without_consent\":3,"));
    ck_assert_ptr_nonnull (strstr (r.out, "\"denials\":[{\"name\":\"consent_missing\",\"count\":1}]"));
    pe_result_free (&r);
    r = s_audit ("stats", "--csv", "--since", "2000-01-01", NULL);
    ck_assert_ptr_nonnull (strstr (r.out, "role_pairs,police,prosecution,1\n"));
    pe_result_free (&r);
    //  Nothing before 1971
    r = s_audit ("stats", "--csv", "--until", "1971-01-01", NULL);
    ck_assert_ptr_nonnull (strstr (r.out, "total,shares,,0\n"));
    pe_result_free (&r);
}
END_TEST

START_TEST (verify_proofs_and_checkpoints_while_the_broker_writes)
{
    //  The broker goes on writing while we verify
    for (int i = 0; i < 5; i++) {
        pe_result_t p = pe_net_cli (s_net, "police-paris", "{\"n\":1}", "publish",
            "--type", "referral", "--case", "C-AUD-OTHER", "--to", "prosecution-paris",
            "--category", "identity", "--purpose", "referral", "--basis", "legal_obligation",
            "--justification", "code art. 40", "-", NULL);
        pe_result_free (&p);
        pe_result_t r = s_audit ("verify", NULL);
        ck_assert_msg (r.status == 0, "verify: %s %s", r.out, r.err);
        ck_assert_ptr_nonnull (strstr (r.out, "ok: every entry matches the tree and every checkpoint\n"));
        ck_assert_ptr_nonnull (strstr (r.out, ", signed by 'broker', each consistent"));
        //  Piped: no progress bar
        ck_assert_str_eq (r.err, "");
        pe_result_free (&r);
    }
    pe_result_t r = s_audit ("proof", "6", "--json", NULL);
    ck_assert_msg (r.status == 0, "proof: %s %s", r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, "\"verified\":true"));
    //  The agency's copy of the checkpoint: verify checks it too
    json_t *proof = json_loads (r.out, 0, NULL);
    ck_assert_ptr_nonnull (proof);
    const char *note = json_string_value (json_object_get (proof, "checkpoint"));
    ck_assert_ptr_nonnull (note);
    char *path = strdup (pe_net_path (s_net, "agency-checkpoint.txt"));
    FILE *file = fopen (path, "w");
    fputs (note, file);
    fclose (file);
    pe_result_free (&r);
    r = s_audit ("verify", "--checkpoint", path, NULL);
    ck_assert_msg (r.status == 0, "%s %s", r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, "matches the log"));
    pe_result_free (&r);
    //  A forged one (its size changed): the signature fails, verify says so
    char *forged = strdup (note);
    char *size_line = strchr (forged, '\n') + 1;
    *size_line = *size_line == '9'? '1': *size_line + 1;
    file = fopen (path, "w");
    fputs (forged, file);
    fclose (file);
    r = s_audit ("verify", "--checkpoint", path, NULL);
    ck_assert_int_eq (r.status, 1);
    ck_assert_ptr_nonnull (strstr (r.out, "FAILED: checkpoint "));
    ck_assert_ptr_nonnull (strstr (r.out, "agency-checkpoint.txt: "));
    pe_result_free (&r);
    free (forged);
    free (path);
    json_decref (proof);
    r = s_audit ("consistency", "3", "12", NULL);
    ck_assert_msg (r.status == 0, "%s %s", r.out, r.err);
    ck_assert_ptr_nonnull (strstr (r.out, "ok: the proof shows the old tree is a prefix of the new\n"));
    pe_result_free (&r);
}
END_TEST

//  Copy the live store (LMDB's own copy: consistent while the broker writes).
static void
s_copy_store (const char *to)
{
    char from [1200];
    snprintf (from, sizeof from, "%s", pe_net_path (s_net, "broker-state/store"));
    MDB_env *env;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    mdb_env_set_maxdbs (env, 32);
    ck_assert_int_eq (mdb_env_open (env, from, MDB_RDONLY, 0600), 0);
    ck_assert_int_eq (mkdir (to, 0700), 0);
    ck_assert_int_eq (mdb_env_copy (env, to), 0);
    mdb_env_close (env);
}

//  Put value (or, with flip, the stored value with one byte changed) in db.
static void
s_tamper (const char *dir, const char *db, const void *key, size_t key_size,
          const void *value, size_t value_size)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    mdb_env_set_maxdbs (env, 32);
    mdb_env_set_mapsize (env, (size_t) 1 << 30);
    ck_assert_int_eq (mdb_env_open (env, dir, 0, 0600), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    ck_assert_int_eq (mdb_dbi_open (txn, db, 0, &dbi), 0);
    MDB_val k = { key_size, (void *) key }, v;
    uint8_t copy [4096];
    if (!value) {
        ck_assert_int_eq (mdb_get (txn, dbi, &k, &v), 0);
        ck_assert (v.mv_size < sizeof copy);
        memcpy (copy, v.mv_data, v.mv_size);
        //  A recipient's name, "ss-paris" -> "ts-paris"
        uint8_t *at = memmem (copy, v.mv_size, "ss-paris", 8);
        ck_assert_ptr_nonnull (at);
        *at = 't';
        v.mv_data = copy;
    }
    else {
        v.mv_size = value_size;
        v.mv_data = (void *) value;
    }
    ck_assert_int_eq (mdb_put (txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
}

START_TEST (a_tampered_store_copy_fails_verify_at_the_changed_entry)
{
    char copy [1200];
    snprintf (copy, sizeof copy, "%s", pe_net_path (s_net, "tampered"));
    s_copy_store (copy);
    pe_result_t r = s_audit ("verify", "--store", copy, NULL);
    ck_assert_msg (r.status == 0, "untouched copy: %s %s", r.out, r.err);
    pe_result_free (&r);
    uint8_t key [8] = { 0, 0, 0, 0, 0, 0, 0, 6 };       //  the share under consent
    s_tamper (copy, "log", key, 8, NULL, 0);
    r = s_audit ("verify", "--store", copy, NULL);
    ck_assert_int_eq (r.status, 1);
    ck_assert_str_eq (r.out, "FAILED: entry 6 does not match the log's tree: the entry or "
                             "the tree was altered\n");
    pe_result_free (&r);
}
END_TEST

//  A copy of the directory file in which agency has another (fresh) public
//  key, written at path: as if its key had been replaced.
static void
s_directory_with_new_key (const char *agency, const char *path)
{
    FILE *file = fopen (pe_net_path (s_net, "directory.cfg"), "r");
    ck_assert_ptr_nonnull (file);
    static char text [65536];
    size_t size = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [size] = 0;
    char find [128];
    snprintf (find, sizeof find, "id = %s\n", agency);
    char *key = strstr (strstr (text, find), "public-key = \"");
    ck_assert_ptr_nonnull (key);
    key += strlen ("public-key = \"");
    uint8_t pk [crypto_sign_PUBLICKEYBYTES], sk [crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair (pk, sk);
    char fresh [64];
    sodium_bin2base64 (fresh, sizeof fresh, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
    ck_assert_uint_eq (strchr (key, '"') - key, strlen (fresh));
    memcpy (key, fresh, strlen (fresh));
    file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
}

//  Each receipt entry proves itself: verify checks every one against its
//  recipient's key in the directory (one signature per signed Receipt),
//  names an entry whose signature is not that key's, and says which it
//  could not check rather than pass over them.
START_TEST (verify_checks_every_receipt_against_the_directory)
{
    s_wait_receipts (4);
    pe_result_t r = s_audit ("log", "--type", "receipt", "--agency", "prosecution-paris",
                             "--csv", NULL);
    int by_prosecution = -1;        //  rows after the header
    for (const char *at = r.out; (at = strchr (at, '\n')); at++)
        by_prosecution++;
    ck_assert_int_gt (by_prosecution, 0);
    pe_result_free (&r);

    r = s_audit ("verify", NULL);
    ck_assert_msg (r.status == 0, "verify: %s %s", r.out, r.err);
    unsigned long long receipts = 0, proven = 0, signatures = 0;
    const char *line = strstr (r.out, "receipts: ");
    ck_assert_msg (line && sscanf (line, "receipts: %llu, %llu proven signed by their recipient "
                   "(%llu signatures", &receipts, &proven, &signatures) == 3, "%s", r.out);
    ck_assert_uint_ge (receipts, 4);
    ck_assert_uint_eq (proven, receipts);
    ck_assert_uint_ge (signatures, 1);
    ck_assert_uint_le (signatures, receipts);
    pe_result_free (&r);

    //  prosecution-paris's key replaced: each of its receipts is named, and
    //  verify fails
    char path [1200];
    snprintf (path, sizeof path, "%s", pe_net_path (s_net, "directory-new-key.cfg"));
    s_directory_with_new_key ("prosecution-paris", path);
    r = s_audit ("verify", "--directory", path, NULL);
    ck_assert_msg (r.status == 1, "%d: %s %s", r.status, r.out, r.err);
    int named = 0;
    for (const char *at = r.out; (at = strstr (at, "the receipt by prosecution-paris for event "));
         at++)
        named++;
    ck_assert_msg (named == by_prosecution, "%d named, %d receipts:\n%s", named, by_prosecution,
                   r.out);
    ck_assert_ptr_nonnull (strstr (r.out, "does not verify against prosecution-paris's key in "
                                          "the directory"));
    ck_assert_ptr_null (strstr (r.out, "ok: every entry"));
    pe_result_free (&r);

    //  prosecution-paris no longer in the directory: said, not failed
    ck_assert_int_eq (pe_net_write_directory (s_net, "prosecution-paris"), 0);
    snprintf (path, sizeof path, "%s", pe_net_path (s_net, "directory-without.cfg"));
    char command [2600];
    snprintf (command, sizeof command, "cp '%s' '%s'", pe_net_path (s_net, "directory.cfg"), path);
    ck_assert_int_eq (system (command), 0);
    ck_assert_int_eq (pe_net_write_directory (s_net, NULL), 0);
    r = s_audit ("verify", "--directory", path, NULL);
    ck_assert_msg (r.status == 0, "%s %s", r.out, r.err);
    char expected [200];
    snprintf (expected, sizeof expected, "receipts: %d by agencies no longer in the directory "
              "(prosecution-paris), not checked\n", by_prosecution);
    ck_assert_msg (strstr (r.out, expected), "%s", r.out);
    pe_result_free (&r);
}
END_TEST

START_TEST (errors_are_plain)
{
    pe_result_t r = s_audit ("log", "--store", "/nonexistent/store", NULL);
    ck_assert_int_eq (r.status, 3);
    ck_assert_str_eq (r.err, "passerelle-audit: no store at /nonexistent/store\n");
    pe_result_free (&r);
    r = s_audit ("log", "--decision", "maybe", NULL);
    ck_assert_int_eq (r.status, 2);
    ck_assert_str_eq (r.err, "passerelle-audit: --decision is allow or deny, not 'maybe'\n");
    pe_result_free (&r);
    r = s_audit ("log", "--since", "yesterday", NULL);
    ck_assert_int_eq (r.status, 2);
    ck_assert_ptr_nonnull (strstr (r.err, "--since: 'yesterday' is not a date"));
    pe_result_free (&r);
    r = s_audit ("log", "--role", "wizard", NULL);
    ck_assert_int_eq (r.status, 2);
    ck_assert_str_eq (r.err, "passerelle-audit: unknown role 'wizard'\n");
    pe_result_free (&r);
    //  A store of a newer format
    char copy [1200];
    snprintf (copy, sizeof copy, "%s", pe_net_path (s_net, "newer"));
    s_copy_store (copy);
    uint8_t schema [4] = { 0, 0, 0, 99 };
    s_tamper (copy, "meta", "schema", 6, schema, 4);
    r = s_audit ("log", "--store", copy, NULL);
    ck_assert_int_eq (r.status, 3);
    ck_assert_msg (strstr (r.err, "newer passerelle"), "%s", r.err);
    pe_result_free (&r);
    r = s_audit ("case", "--help", NULL);
    ck_assert_int_eq (r.status, 0);
    ck_assert_ptr_nonnull (strstr (r.out, "usage: passerelle-audit case REF"));
    pe_result_free (&r);
}
END_TEST

//  The chromium to screenshot with, or NULL.
static const char *
s_chromium (void)
{
    static const char *names [] = { "chromium", "chromium-browser", "google-chrome", NULL };
    static char found [1200];
    const char *path = getenv ("PATH");
    for (size_t i = 0; names [i]; i++) {
        char copy [4096];
        snprintf (copy, sizeof copy, "%s", path? path: "/usr/bin:/bin");
        char *save = NULL;
        for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save)) {
            snprintf (found, sizeof found, "%s/%s", dir, names [i]);
            if (access (found, X_OK) == 0)
                return found;
        }
    }
    return NULL;
}

START_TEST (the_html_report_is_self_contained_and_renders)
{
    char html [1200], png [1200];
    snprintf (html, sizeof html, "%s", pe_net_path (s_net, "report.html"));
    snprintf (png, sizeof png, "%s", pe_net_path (s_net, "report.png"));
    pe_result_t r = s_audit ("report", "--html", html, NULL);
    ck_assert_msg (r.status == 0, "%s %s", r.out, r.err);
    pe_result_free (&r);
    FILE *file = fopen (html, "r");
    ck_assert_ptr_nonnull (file);
    static char text [1 << 20];
    size_t size = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [size] = 0;
    //  The figures are there, as charts, and nothing is fetched from anywhere
    ck_assert_ptr_nonnull (strstr (text, "<h2>Flows between roles</h2>\n<svg"));
    ck_assert_ptr_nonnull (strstr (text, ">perpetrator_programme</text>"));
    ck_assert_ptr_nonnull (strstr (text, ">consent_missing</text>"));
    ck_assert_ptr_nonnull (strstr (text, "<td>threats to kill, weapon at home</td>"));
    ck_assert_ptr_null (strstr (text, "<script"));
    ck_assert_ptr_null (strstr (text, "<link"));
    ck_assert_ptr_null (strstr (text, "@import"));
    ck_assert_ptr_null (strstr (text, "src="));
    ck_assert_ptr_null (strstr (text, "url("));
    ck_assert_ptr_null (strstr (text, "SECRET"));
    const char *chromium = s_chromium ();
    if (!chromium) {
        fprintf (stderr, "test_audit: no chromium found: the report's rendering is not checked "
                 "(deploy/install-deps chromium)\n");
        return;
    }
    char shot [1300], url [1300], profile [1300];
    snprintf (shot, sizeof shot, "--screenshot=%s", png);
    snprintf (url, sizeof url, "file://%s", html);
    snprintf (profile, sizeof profile, "--user-data-dir=%s", pe_net_path (s_net, "chromium"));
    char *argv [] = { (char *) chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", profile, "--window-size=1200,2400", shot, url, NULL };
    r = pe_run (argv, NULL, 90000);
    ck_assert_msg (r.status == 0, "chromium: %d %s %s", r.status, r.out, r.err);
    pe_result_free (&r);
    struct stat st;
    ck_assert_int_eq (stat (png, &st), 0);
    ck_assert_int_gt (st.st_size, 10000);
    uint8_t magic [8];
    file = fopen (png, "rb");
    ck_assert_int_eq (fread (magic, 1, 8, file), 8);
    fclose (file);
    ck_assert_int_eq (memcmp (magic, "\x89PNG\r\n\x1a\n", 8), 0);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("audit");
    TCase *tc = tcase_create ("scripted case");
    tcase_set_timeout (tc, 120);
    tcase_add_unchecked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, log_case_and_exceptions_say_exactly_what_happened);
    tcase_add_test (tc, stats_count_what_happened);
    tcase_add_test (tc, a_tampered_store_copy_fails_verify_at_the_changed_entry);
    tcase_add_test (tc, errors_are_plain);
    tcase_add_test (tc, verify_checks_every_receipt_against_the_directory);
    tcase_add_test (tc, the_html_report_is_self_contained_and_renders);
    //  Last: it adds entries to the log
    tcase_add_test (tc, verify_proofs_and_checkpoints_while_the_broker_writes);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
