/*  End to end: the agent's local HTTP/JSON API (issue 6), with real curl.
 *
 *  A real broker and three agents, each with `http = 127.0.0.1:PORT`; the
 *  tests act as an agency's case system would: curl with the bearer token
 *  from state/api.token, publishing through one agency's API and reading
 *  through another's. They also hold agent/openapi.yaml against the route
 *  table the server uses, so the description cannot drift from the code.  */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "pl_test.h"
#include "e2e/pe_net.h"
#include "e2e/pe_port.h"
#include "pa_http.h"

#define CASE "C-2026-0777"

typedef struct {
    pe_net_t *net;
    const char *ids [3];
    int ports [3];
    char tokens [3][PA_HTTP_TOKEN_HEX + 1];
} api_net_t;

typedef struct {
    int code;               //  HTTP status (0: curl failed)
    json_t *body;           //  parsed body (NULL if not JSON)
    char *text;             //  raw body
} reply_t;

static long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
s_reply_free (reply_t *reply)
{
    json_decref (reply->body);
    free (reply->text);
    memset (reply, 0, sizeof *reply);
}

//  curl METHOD http://127.0.0.1:PORT PATH with body (NULL: none). auth NULL
//  sends the agency's token; otherwise the Authorization value given ("":
//  no header). extra: one more header, or NULL.
static reply_t
s_curl (api_net_t *api, int agency, const char *method, const char *path, const char *body,
        const char *auth, const char *extra)
{
    char url [256], bearer [200], header [200];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", api->ports [agency], path);
    if (auth)
        snprintf (bearer, sizeof bearer, "Authorization: %s", auth);
    else
        snprintf (bearer, sizeof bearer, "Authorization: Bearer %s", api->tokens [agency]);
    char *argv [24];
    int n = 0;
    argv [n++] = "/usr/bin/env";
    argv [n++] = "curl";
    argv [n++] = "-sS";
    argv [n++] = "-w";
    argv [n++] = "\n%{http_code}";
    argv [n++] = "-X";
    argv [n++] = (char *) method;
    if (!auth || *auth) {
        argv [n++] = "-H";
        argv [n++] = bearer;
    }
    if (extra) {
        snprintf (header, sizeof header, "%s", extra);
        argv [n++] = "-H";
        argv [n++] = header;
    }
    if (body) {
        if (!extra || strncasecmp (extra, "Content-Type", 12) != 0) {
            argv [n++] = "-H";
            argv [n++] = "Content-Type: application/json";
        }
        argv [n++] = "--data-binary";
        argv [n++] = (char *) (body [0] == '@'? body: "@-");
    }
    argv [n++] = url;
    argv [n] = NULL;
    reply_t reply = { 0, NULL, NULL };
    pe_result_t r = pe_run (argv, body && body [0] != '@'? body: NULL, 60000);
    char *last = strrchr (r.out, '\n');
    if (last) {
        reply.code = atoi (last + 1);
        *last = 0;
    }
    reply.text = strdup (r.out);
    reply.body = json_loads (r.out, 0, NULL);
    if (reply.code == 0)
        fprintf (stderr, "curl %s %s: %d %s\n", method, path, r.status, r.err);
    pe_result_free (&r);
    return reply;
}

static const char *
s_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value? value: "";
}

//  Status and stable error code, with the body in the failure message.
#define ck_http(reply, status, error_code) do {                                            \
        ck_assert_msg ((reply).code == (status), "expected %d, got %d: %s", (status),      \
                       (reply).code, (reply).text);                                         \
        if (error_code)                                                                     \
            ck_assert_msg (streq_ (s_str ((reply).body, "error"), (error_code)),            \
                           "expected error %s: %s", (const char *) (error_code), (reply).text); \
    } while (0)

static bool streq_ (const char *a, const char *b) { return strcmp (a, b) == 0; }

static void
s_read_token (api_net_t *api, int agency)
{
    char name [128];
    snprintf (name, sizeof name, "%s-state/api.token", api->ids [agency]);
    const char *path = pe_net_path (api->net, name);
    struct stat st;
    ck_assert_msg (stat (path, &st) == 0, "no %s", path);
    ck_assert_int_eq (st.st_mode & 0777, 0600);
    FILE *file = fopen (path, "r");
    ck_assert_ptr_nonnull (file);
    char line [100] = "";
    ck_assert_ptr_nonnull (fgets (line, sizeof line, file));
    fclose (file);
    ck_assert_int_eq (strlen (line), PA_HTTP_TOKEN_HEX + 1);
    ck_assert_int_eq (strspn (line, "0123456789abcdef"), PA_HTTP_TOKEN_HEX);
    snprintf (api->tokens [agency], sizeof api->tokens [agency], "%.64s", line);
}

//  Police, the perpetrator programme and social services, each with its API.
static api_net_t
s_network (void)
{
    api_net_t api = { pe_net_new (), { "police-paris", "pp-paris", "ss-paris" }, { 0 }, { "" } };
    const char *roles [] = { "police", "perpetrator_programme", "social_services" };
    ck_assert_ptr_nonnull (api.net);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq (pe_net_add_agency (api.net, api.ids [i], roles [i], "paris", true), 0);
        api.ports [i] = pe_port_free ();
        char name [128];
        snprintf (name, sizeof name, "%s.cfg", api.ids [i]);
        FILE *cfg = fopen (pe_net_path (api.net, name), "a");
        ck_assert_ptr_nonnull (cfg);
        fprintf (cfg, "    http = 127.0.0.1:%d\n", api.ports [i]);
        fclose (cfg);
    }
    ck_assert_int_eq (pe_net_write_directory (api.net, NULL), 0);
    ck_assert_int_eq (pe_net_start_broker (api.net, NULL), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq (pe_net_start_agent (api.net, api.ids [i], true), 0);
        ck_assert (pe_net_wait_log (api.net, api.ids [i], "http: API on", 5000));
        s_read_token (&api, i);
    }
    return api;
}

static void
s_destroy (api_net_t *api)
{
    //  The token is never logged, by any daemon
    for (int i = 0; i < 3; i++) {
        char *log = pe_net_log (api->net, api->ids [i]);
        ck_assert_msg (!strstr (log, api->tokens [i]), "token in the log of %s", api->ids [i]);
        free (log);
    }
    pe_net_destroy (&api->net);
}

//  The police refer to the programme through their API; the event id.
static void
s_police_refer (api_net_t *api, char *event_id)
{
    reply_t r = s_curl (api, 0, "POST", "/v1/events", "{\"type\":\"referral\",\"case\":\"" CASE "\","
        "\"to\":[\"pp-paris\"],\"categories\":[\"identity\",\"referral\"],\"purpose\":\"referral\","
        "\"basis\":\"legal_obligation\",\"justification\":\"criminal procedure code art. 40\","
        "\"risk\":\"high\",\"payload\":\"ARREST-REPORT-17\"}", NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert (json_is_true (json_object_get (r.body, "accepted")));
    json_t *decision = json_array_get (json_object_get (r.body, "decisions"), 0);
    ck_assert_str_eq (s_str (decision, "recipient"), "pp-paris");
    ck_assert (json_is_true (json_object_get (decision, "allowed")));
    ck_assert_str_eq (s_str (decision, "rule"), "justice-refers-to-perpetrator-programme");
    ck_assert_int_eq (strlen (s_str (r.body, "event_id")), 32);
    snprintf (event_id, 33, "%s", s_str (r.body, "event_id"));
    s_reply_free (&r);
}

//  An inbox page holding text (polling with the API's own long-poll).
static reply_t
s_inbox_with (api_net_t *api, int agency, const char *text)
{
    for (int i = 0; ; i++) {
        reply_t r = s_curl (api, agency, "GET", "/v1/inbox?after=0&wait=2", NULL, NULL, NULL);
        if ((r.code == 200 && strstr (r.text, text)) || i == 5)
            return r;
        s_reply_free (&r);
    }
}

START_TEST (publish_through_one_api_and_receive_through_the_other)
{
    api_net_t api = s_network ();
    //  An empty long-poll waits its time, then answers with nothing
    long start = s_now_ms ();
    reply_t r = s_curl (&api, 1, "GET", "/v1/inbox?wait=2", NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert_int_eq (json_array_size (json_object_get (r.body, "events")), 0);
    ck_assert_msg (s_now_ms () - start >= 1800, "answered after %ld ms", s_now_ms () - start);
    s_reply_free (&r);
    //  A long-poll already waiting when the event comes in answers with it
    char out [1024], url [256], auth [128];
    snprintf (out, sizeof out, "%s", pe_net_path (api.net, "longpoll.out"));
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/inbox?after=0&wait=30", api.ports [1]);
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", api.tokens [1]);
    pid_t poller = fork ();
    if (poller == 0) {
        int fd = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execlp ("curl", "curl", "-sS", "-w", "\n%{http_code}", "-H", auth, url, (char *) NULL);
        _exit (127);
    }
    ck_assert_int_gt (poller, 0);
    usleep (500000);
    char event_id [33];
    s_police_refer (&api, event_id);
    start = s_now_ms ();
    char text [8192] = "";
    while (!strstr (text, "\n200") && s_now_ms () - start < 10000) {
        usleep (100000);
        FILE *file = fopen (out, "r");
        size_t size = file? fread (text, 1, sizeof text - 1, file): 0;
        text [size] = 0;
        if (file)
            fclose (file);
    }
    kill (poller, SIGKILL);
    waitpid (poller, NULL, 0);
    ck_assert_msg (strstr (text, "\n200") && strstr (text, event_id)
                   && strstr (text, "ARREST-REPORT-17"), "long-poll: %s", text);
    //  The inbox item, decrypted, not yet processed; ack it
    r = s_curl (&api, 1, "GET", "/v1/inbox?after=0&max=10", NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    json_t *item = json_array_get (json_object_get (r.body, "events"), 0);
    ck_assert_str_eq (s_str (item, "event_id"), event_id);
    ck_assert_str_eq (s_str (item, "publisher"), "police-paris");
    ck_assert_str_eq (s_str (item, "payload"), "ARREST-REPORT-17");
    ck_assert (json_is_false (json_object_get (item, "processed")));
    json_int_t seq = json_integer_value (json_object_get (item, "seq"));
    ck_assert_int_ge (seq, 1);
    s_reply_free (&r);
    char path [128];
    snprintf (path, sizeof path, "/v1/inbox/%lld/ack", (long long) seq);
    r = s_curl (&api, 1, "POST", path, NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert (json_is_true (json_object_get (r.body, "processed")));
    s_reply_free (&r);
    r = s_curl (&api, 1, "GET", "/v1/inbox", NULL, NULL, NULL);
    item = json_array_get (json_object_get (r.body, "events"), 0);
    ck_assert_msg (json_is_true (json_object_get (item, "processed")), "%s", r.text);
    s_reply_free (&r);
    //  Cursor past the last item: nothing
    snprintf (path, sizeof path, "/v1/inbox?after=%lld", (long long) seq);
    r = s_curl (&api, 1, "GET", path, NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert_int_eq (json_array_size (json_object_get (r.body, "events")), 0);
    s_reply_free (&r);
    r = s_curl (&api, 1, "POST", "/v1/inbox/999/ack", NULL, NULL, NULL);
    ck_http (r, 404, "unknown_item");
    s_reply_free (&r);
    //  The outcome, by event id, from the publisher's API only
    snprintf (path, sizeof path, "/v1/events/%s", event_id);
    r = s_curl (&api, 0, "GET", path, NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert (json_is_true (json_object_get (r.body, "accepted")));
    ck_assert_str_eq (s_str (r.body, "event_id"), event_id);
    s_reply_free (&r);
    r = s_curl (&api, 1, "GET", path, NULL, NULL, NULL);
    ck_http (r, 404, "unknown_event");
    s_reply_free (&r);
    //  Status and directory
    r = s_curl (&api, 0, "GET", "/v1/status", NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert_str_eq (s_str (r.body, "agency"), "police-paris");
    ck_assert (json_is_true (json_object_get (r.body, "connected")));
    ck_assert_int_eq (json_integer_value (json_object_get (r.body, "outbox")), 0);
    ck_assert_int_ge (json_integer_value (json_object_get (json_object_get (r.body, "counts"),
                                                           "accepted")), 1);
    ck_assert_ptr_nonnull (json_object_get (r.body, "checkpoint_size"));
    s_reply_free (&r);
    r = s_curl (&api, 2, "GET", "/v1/directory", NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    json_t *agencies = json_object_get (r.body, "agencies");
    ck_assert_int_eq (json_array_size (agencies), 3);
    bool found = false;
    size_t index;
    json_t *agency;
    json_array_foreach (agencies, index, agency)
        if (streq_ (s_str (agency, "id"), "pp-paris")) {
            found = true;
            ck_assert_str_eq (s_str (agency, "network"), "paris");
            ck_assert_str_eq (json_string_value (json_array_get (json_object_get (agency, "roles"), 0)),
                              "perpetrator_programme");
            //  The key is the one keygen wrote in pp-paris.pub
            FILE *file = fopen (pe_net_path (api.net, "pp-paris.pub"), "r");
            char pub [512] = "";
            size_t size = file? fread (pub, 1, sizeof pub - 1, file): 0;
            pub [size] = 0;
            if (file)
                fclose (file);
            ck_assert_int_eq (strlen (s_str (agency, "public_key")), 44);
            ck_assert_msg (strstr (pub, s_str (agency, "public_key")), "%s vs %s", pub, r.text);
        }
    ck_assert (found);
    s_reply_free (&r);
    //  A long-poll in progress does not hold up the agent's shutdown
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/inbox?after=%lld&wait=60", api.ports [1],
              (long long) seq + 100);
    poller = fork ();
    if (poller == 0) {
        int fd = open ("/dev/null", O_WRONLY);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execlp ("curl", "curl", "-sS", "-H", auth, url, (char *) NULL);
        _exit (127);
    }
    usleep (500000);
    start = s_now_ms ();
    ck_assert_int_eq (pe_net_stop_agent (api.net, "pp-paris"), 0);
    //  The caller's poll asks for 60 s: stopping must not wait for it (the
    //  bound is loose so a loaded machine does not make it flaky)
    ck_assert_msg (s_now_ms () - start < 15000, "stopping took %ld ms", s_now_ms () - start);
    kill (poller, SIGKILL);
    waitpid (poller, NULL, 0);
    s_destroy (&api);
}
END_TEST

START_TEST (consents_and_corrections_through_the_api)
{
    api_net_t api = s_network ();
    char referral [33], path [128];
    s_police_refer (&api, referral);
    //  The programme registers the man's consent to a referral on
    reply_t r = s_curl (&api, 1, "POST", "/v1/consents", "{\"case\":\"" CASE "\","
        "\"consent_id\":\"CONS-API-1\",\"subject\":\"perpetrator\",\"categories\":[\"identity\","
        "\"case_summary\",\"referral\"],\"recipient_roles\":[\"social_services\"],"
        "\"purposes\":[\"referral\"],\"evidence_ref\":\"intake form PP-77\"}", NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert (json_is_true (json_object_get (r.body, "accepted")));
    s_reply_free (&r);
    //  ...refers him on under it; health data added is refused as a whole (422)
    const char *refer = "{\"type\":\"referral\",\"case\":\"" CASE "\",\"to\":[\"ss-paris\"],"
        "\"categories\":[\"identity\",\"referral\"%s],\"purpose\":\"referral\",\"basis\":\"consent\","
        "\"consent\":\"CONS-API-1\",\"payload\":\"%s\"}";
    char body [1024];
    snprintf (body, sizeof body, refer, "", "REFERRAL-ON-5");
    r = s_curl (&api, 1, "POST", "/v1/events", body, NULL, NULL);
    ck_http (r, 200, NULL);
    s_reply_free (&r);
    snprintf (body, sizeof body, refer, ",\"health\"", "WITH-HEALTH");
    r = s_curl (&api, 1, "POST", "/v1/events", body, NULL, NULL);
    ck_http (r, 422, "refused");
    json_t *decision = json_array_get (json_object_get (r.body, "decisions"), 0);
    ck_assert (json_is_false (json_object_get (decision, "allowed")));
    ck_assert_str_eq (s_str (decision, "category"), "health");
    ck_assert (*s_str (r.body, "message"));
    s_reply_free (&r);
    r = s_inbox_with (&api, 2, "REFERRAL-ON-5");
    ck_assert_msg (strstr (r.text, "REFERRAL-ON-5") && !strstr (r.text, "WITH-HEALTH"), "%s", r.text);
    s_reply_free (&r);
    //  He withdraws it: social services see the broker's notice in their inbox
    r = s_curl (&api, 1, "POST", "/v1/consents/withdraw", "{\"case\":\"" CASE "\","
                "\"consent_id\":\"CONS-API-1\",\"subject\":\"perpetrator\"}", NULL, NULL);
    ck_http (r, 200, NULL);
    s_reply_free (&r);
    r = s_inbox_with (&api, 2, "consent_withdrawn");
    json_t *items = json_object_get (r.body, "events"), *item;
    size_t index;
    bool notice = false;
    json_array_foreach (items, index, item)
        notice |= streq_ (s_str (item, "type"), "notice")
               && streq_ (s_str (item, "kind"), "consent_withdrawn")
               && streq_ (s_str (item, "consent"), "CONS-API-1");
    ck_assert_msg (notice, "%s", r.text);
    s_reply_free (&r);
    //  A new share under it is refused
    snprintf (body, sizeof body, refer, "", "AFTER-WITHDRAWAL");
    r = s_curl (&api, 1, "POST", "/v1/events", body, NULL, NULL);
    ck_http (r, 422, "refused");
    ck_assert_msg (strstr (r.text, "consent_withdrawn"), "%s", r.text);
    s_reply_free (&r);
    //  The police correct their referral: it reaches the programme
    snprintf (body, sizeof body, "{\"case\":\"" CASE "\",\"supersedes\":\"%s\","
              "\"categories\":[\"identity\",\"referral\"],\"purpose\":\"referral\","
              "\"basis\":\"legal_obligation\",\"justification\":\"wrong date of arrest\","
              "\"payload\":\"CORRECTED-DATE-12\"}", referral);
    r = s_curl (&api, 0, "POST", "/v1/corrections", body, NULL, NULL);
    ck_http (r, 200, NULL);
    decision = json_array_get (json_object_get (r.body, "decisions"), 0);
    ck_assert_str_eq (s_str (decision, "recipient"), "pp-paris");
    ck_assert (json_is_true (json_object_get (decision, "allowed")));
    s_reply_free (&r);
    r = s_inbox_with (&api, 1, "CORRECTED-DATE-12");
    bool corrected = false;
    json_array_foreach (json_object_get (r.body, "events"), index, item)
        corrected |= streq_ (s_str (item, "type"), "correction")
                  && streq_ (s_str (item, "supersedes"), referral);
    ck_assert_msg (corrected, "%s", r.text);
    s_reply_free (&r);
    //  A correction without supersedes, or of another type, never leaves
    r = s_curl (&api, 0, "POST", "/v1/corrections", "{\"case\":\"" CASE "\"}", NULL, NULL);
    ck_http (r, 400, "invalid_request");
    ck_assert_msg (strstr (s_str (r.body, "message"), "supersedes"), "%s", r.text);
    s_reply_free (&r);
    snprintf (body, sizeof body, "{\"type\":\"referral\",\"supersedes\":\"%s\"}", referral);
    r = s_curl (&api, 0, "POST", "/v1/corrections", body, NULL, NULL);
    ck_http (r, 400, "invalid_request");
    s_reply_free (&r);
    //  Consent bodies are checked field by field
    r = s_curl (&api, 1, "POST", "/v1/consents", "{\"case\":\"" CASE "\",\"consent_id\":\"C2\","
                "\"subject\":\"perpetrator\",\"categories\":[],\"recipient_roles\":[],"
                "\"purposes\":[\"referral\"],\"signature\":\"x\"}", NULL, NULL);
    ck_http (r, 400, "invalid_request");
    ck_assert_msg (strstr (s_str (r.body, "message"), "'signature'"), "%s", r.text);
    s_reply_free (&r);
    r = s_curl (&api, 1, "POST", "/v1/consents/withdraw", "{\"case\":\"" CASE "\","
                "\"consent_id\":\"C2\"}", NULL, NULL);
    ck_http (r, 400, "invalid_request");
    ck_assert_msg (strstr (s_str (r.body, "message"), "'subject'"), "%s", r.text);
    s_reply_free (&r);
    r = s_curl (&api, 1, "POST", "/v1/consents/withdraw", "{\"case\":\"" CASE "\","
                "\"consent_id\":\"C2\",\"subject\":\"neighbour\"}", NULL, NULL);
    ck_http (r, 400, "invalid_request");
    ck_assert_msg (strstr (s_str (r.body, "message"), "subject"), "%s", r.text);
    s_reply_free (&r);
    snprintf (path, sizeof path, "/v1/events/%s", referral);
    r = s_curl (&api, 0, "GET", path, NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    s_reply_free (&r);
    s_destroy (&api);
}
END_TEST

START_TEST (no_token_or_a_wrong_one_gets_401_and_no_data)
{
    api_net_t api = s_network ();
    char wrong [100], longer [100], other [100];
    snprintf (wrong, sizeof wrong, "Bearer %s", api.tokens [0]);
    wrong [7] = wrong [7] == 'a'? 'b': 'a';                         //  one character off
    snprintf (longer, sizeof longer, "Bearer %s0", api.tokens [0]);
    snprintf (other, sizeof other, "Bearer %s", api.tokens [1]);    //  another agency's
    const char *auths [] = { "", wrong, longer, other, "Basic dXNlcjpwYXNz", "Bearer " };
    const char *paths [] = { "/v1/status", "/v1/inbox", "/v1/directory", "/v1/nowhere" };
    for (size_t a = 0; a < sizeof auths / sizeof auths [0]; a++)
        for (size_t p = 0; p < sizeof paths / sizeof paths [0]; p++) {
            reply_t r = s_curl (&api, 0, "GET", paths [p], NULL, auths [a], NULL);
            ck_http (r, 401, "unauthorized");
            ck_assert_int_eq (json_object_size (r.body), 2);           //  error and message only
            ck_assert_ptr_null (strstr (r.text, "police-paris"));
            s_reply_free (&r);
        }
    //  Nor is anything published without it, and the body is never read
    reply_t r = s_curl (&api, 0, "POST", "/v1/events", "{\"type\":\"referral\",\"case\":\"" CASE
        "\",\"to\":[\"pp-paris\"],\"categories\":[\"identity\"],\"purpose\":\"referral\","
        "\"basis\":\"legal_obligation\",\"justification\":\"x\",\"payload\":\"NO-TOKEN\"}", "", NULL);
    ck_http (r, 401, "unauthorized");
    s_reply_free (&r);
    r = s_curl (&api, 0, "GET", "/v1/status", NULL, NULL, NULL);
    ck_http (r, 200, NULL);
    ck_assert_int_eq (json_integer_value (json_object_get (json_object_get (r.body, "counts"),
                                                           "published")), 0);
    s_reply_free (&r);
    //  The token survives a restart (the case system keeps using it)
    char before [PA_HTTP_TOKEN_HEX + 1];
    memcpy (before, api.tokens [0], sizeof before);
    ck_assert_int_eq (pe_net_stop_agent (api.net, "police-paris"), 0);
    ck_assert_int_eq (pe_net_start_agent (api.net, "police-paris", true), 0);
    s_read_token (&api, 0);
    ck_assert_str_eq (api.tokens [0], before);
    //  A token file others can read is refused at start
    char name [128];
    snprintf (name, sizeof name, "police-paris-state/api.token");
    ck_assert_int_eq (pe_net_stop_agent (api.net, "police-paris"), 0);
    chmod (pe_net_path (api.net, name), 0644);
    pe_net_start_agent (api.net, "police-paris", false);
    ck_assert (pe_net_wait_log (api.net, "police-paris", "api.token is readable by group or others", 5000));
    usleep (300000);
    r = s_curl (&api, 0, "GET", "/v1/status", NULL, NULL, NULL);
    ck_assert_msg (r.code == 0, "agent still serving: %d %s", r.code, r.text);
    s_reply_free (&r);
    chmod (pe_net_path (api.net, name), 0600);
    s_destroy (&api);
}
END_TEST

START_TEST (each_malformed_request_gets_its_4xx)
{
    api_net_t api = s_network ();
    const char *good = "{\"type\":\"referral\",\"case\":\"" CASE "\",\"to\":[\"pp-paris\"],"
        "\"categories\":[\"identity\"],\"purpose\":\"referral\",\"basis\":\"legal_obligation\","
        "\"justification\":\"x\",\"payload\":\"p\"%s}";
    char body [1024];
    struct { const char *method, *path, *body, *header; int code; const char *error, *names; } cases [] = {
        { "POST", "/v1/events", "{\"type\":\"referral\",\n \"case\": }", NULL, 400, "invalid_json", "column" },
        { "POST", "/v1/events", "{\"a\":1,\"a\":2}", NULL, 400, "invalid_json", "duplicate" },
        { "POST", "/v1/events", "[1,2]", NULL, 400, "invalid_request", "object" },
        { "POST", "/v1/events", "", NULL, 400, "invalid_request", "body" },
        { "POST", "/v1/events", body, NULL, 400, "invalid_request", "'colour'" },
        { "POST", "/v1/events", "{\"type\":\"referral\",\"case\":42}", NULL, 400, "invalid_request", "case" },
        { "POST", "/v1/events", "{\"type\":\"referral\"}", NULL, 400, "invalid_request", "case" },
        { "POST", "/v1/events", "{\"op\":\"status\"}", NULL, 400, "invalid_request", "'op'" },
        { "POST", "/v1/events", "{}", "Content-Type: text/plain", 415, "unsupported_media_type", "application/json" },
        { "GET", "/v1/events/not-an-id", NULL, NULL, 400, "invalid_request", "event_id" },
        { "GET", "/v1/inbox?after=-1", NULL, NULL, 400, "invalid_request", "after" },
        { "GET", "/v1/inbox?max=0", NULL, NULL, 400, "invalid_request", "max" },
        { "GET", "/v1/inbox?wait=601", NULL, NULL, 400, "invalid_request", "wait" },
        { "GET", "/v1/inbox?cursor=3", NULL, NULL, 400, "invalid_request", "'cursor'" },
        { "GET", "/v1/status?verbose=1", NULL, NULL, 400, "invalid_request", "'verbose'" },
        { "POST", "/v1/inbox/abc/ack", NULL, NULL, 400, "invalid_request", "seq" },
        { "POST", "/v1/inbox/1/ack", "{\"note\":\"x\"}", NULL, 400, "invalid_request", "no fields" },
        { "GET", "/v1/nowhere", NULL, NULL, 404, "not_found", "route" },
        { "GET", "/v1/status/", NULL, NULL, 404, "not_found", "route" },
        { "GET", "/v2/status", NULL, NULL, 404, "not_found", "route" },
        { "DELETE", "/v1/events", NULL, NULL, 405, "method_not_allowed", "POST" },
        { "POST", "/v1/status", "{}", NULL, 405, "method_not_allowed", "GET" },
        { "PUT", "/v1/events/0123456789abcdef0123456789abcdef", "{}", NULL, 405, "method_not_allowed", "GET" },
    };
    snprintf (body, sizeof body, good, ",\"colour\":\"red\"");
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        reply_t r = s_curl (&api, 0, cases [i].method, cases [i].path, cases [i].body, NULL,
                            cases [i].header);
        ck_assert_msg (r.code == cases [i].code && streq_ (s_str (r.body, "error"), cases [i].error)
                       && strstr (s_str (r.body, "message"), cases [i].names),
                       "%s %s %s: expected %d %s naming %s, got %d %s", cases [i].method,
                       cases [i].path, cases [i].body? cases [i].body: "", cases [i].code,
                       cases [i].error, cases [i].names, r.code, r.text);
        s_reply_free (&r);
    }
    //  405 says what is allowed
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/status", api.ports [0]);
    char auth [100];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", api.tokens [0]);
    char *head [] = { "/usr/bin/env", "curl", "-sS", "-i", "-X", "DELETE", "-H", auth, url, NULL };
    pe_result_t h = pe_run (head, NULL, 10000);
    ck_assert_msg (strstr (h.out, "405") && strcasestr (h.out, "Allow: GET"), "%s", h.out);
    pe_result_free (&h);
    //  Oversized: refused from Content-Length before the body is read, and
    //  chunked (no length) once past the limit
    const char *big = pe_net_path (api.net, "big.json");
    FILE *file = fopen (big, "w");
    ck_assert_ptr_nonnull (file);
    fputs ("{\"payload\":\"", file);
    for (int i = 0; i < PA_HTTP_MAX_BODY / 64 + 10; i++)
        fputs ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", file);
    fputs ("\"}", file);
    fclose (file);
    char at [1100];
    snprintf (at, sizeof at, "@%s", big);
    reply_t r = s_curl (&api, 0, "POST", "/v1/events", at, NULL, NULL);
    ck_http (r, 413, "too_large");
    s_reply_free (&r);
    r = s_curl (&api, 0, "POST", "/v1/events", at, NULL, "Transfer-Encoding: chunked");
    ck_http (r, 413, "too_large");
    s_reply_free (&r);
    //  The same request well formed goes through
    snprintf (body, sizeof body, good, "");
    r = s_curl (&api, 0, "POST", "/v1/events", body, NULL, NULL);
    ck_http (r, 200, NULL);
    s_reply_free (&r);
    //  Nothing malformed was published
    r = s_curl (&api, 0, "GET", "/v1/status", NULL, NULL, NULL);
    ck_assert_int_eq (json_integer_value (json_object_get (json_object_get (r.body, "counts"),
                                                           "published")), 1);
    s_reply_free (&r);
    //  Unknown recipient: a well-formed request the agent cannot carry out
    r = s_curl (&api, 0, "POST", "/v1/events", "{\"type\":\"referral\",\"case\":\"" CASE "\","
                "\"to\":[\"nobody-paris\"],\"categories\":[\"identity\"],\"purpose\":\"referral\","
                "\"basis\":\"legal_obligation\",\"justification\":\"x\",\"payload\":\"p\"}", NULL, NULL);
    ck_http (r, 422, "unknown_recipient");
    s_reply_free (&r);
    //  The agent's control socket gone: 503, the caller should retry
    char name [128];
    snprintf (name, sizeof name, "police-paris-state/agent.sock");
    ck_assert_int_eq (unlink (pe_net_path (api.net, name)), 0);
    r = s_curl (&api, 0, "GET", "/v1/status", NULL, NULL, NULL);
    ck_http (r, 503, "agent_unavailable");
    s_reply_free (&r);
    s_destroy (&api);
}
END_TEST

//  The paths: section of openapi.yaml, by lines: "  /path:" then "    get:".
static size_t
s_openapi_routes (char routes [][128], size_t max)
{
    FILE *file = fopen ("agent/openapi.yaml", "r");
    ck_assert_msg (file, "agent/openapi.yaml not found (run from the source root)");
    char line [512], path [100] = "";
    bool in_paths = false;
    size_t count = 0;
    while (fgets (line, sizeof line, file)) {
        line [strcspn (line, "\r\n")] = 0;
        if (line [0] && line [0] != ' ' && line [0] != '#')
            in_paths = strcmp (line, "paths:") == 0;
        else
        if (in_paths && strncmp (line, "  /", 3) == 0 && line [strlen (line) - 1] == ':')
            snprintf (path, sizeof path, "%.*s", (int) strlen (line) - 3, line + 2);
        else
        if (in_paths && *path && strncmp (line, "    ", 4) == 0 && line [4] != ' ') {
            static const char *methods [] = { "get", "post", "put", "delete", "patch", "head", NULL };
            for (const char **m = methods; *m; m++)
                if (strncmp (line + 4, *m, strlen (*m)) == 0 && line [4 + strlen (*m)] == ':') {
                    ck_assert (count < max);
                    snprintf (routes [count], 128, "%s %s", *m, path);
                    for (char *c = routes [count]; *c != ' '; c++)
                        *c = (char) (*c - 'a' + 'A');
                    count++;
                }
        }
    }
    fclose (file);
    return count;
}

START_TEST (openapi_describes_exactly_the_routes_served)
{
    char listed [64][128];
    size_t count = s_openapi_routes (listed, 64);
    ck_assert_int_ge (count, 9);
    //  Every route served is listed...
    size_t served = 0;
    const char *method, *path;
    for (; (path = pa_http_route_at (served, &method)); served++) {
        char route [128];
        snprintf (route, sizeof route, "%s %s", method, path);
        bool found = false;
        for (size_t i = 0; i < count; i++)
            found |= streq_ (listed [i], route);
        ck_assert_msg (found, "%s is served but not in openapi.yaml", route);
    }
    //  ...and every route listed is served (and listed once)
    ck_assert_int_eq (served, count);
    for (size_t i = 0; i < count; i++) {
        bool found = false;
        for (size_t s = 0; (path = pa_http_route_at (s, &method)); s++) {
            char route [128];
            snprintf (route, sizeof route, "%s %s", method, path);
            found |= streq_ (listed [i], route);
        }
        ck_assert_msg (found, "openapi.yaml lists %s, which is not served", listed [i]);
    }
    //  And a running agent answers each listed route (not 404/405)
    api_net_t api = s_network ();
    for (size_t i = 0; i < count; i++) {
        char url [160], *at = strchr (listed [i], ' ');
        *at = 0;
        const char *p = at + 1;
        size_t n = 0;
        for (; *p && n < sizeof url - 40; p++) {
            if (*p != '{') {
                url [n++] = *p;
                continue;
            }
            n += (size_t) snprintf (url + n, sizeof url - n, "%s",
                                    strncmp (p, "{seq}", 5) == 0? "1": "0123456789abcdef0123456789abcdef");
            p = strchr (p, '}');
        }
        url [n] = 0;
        reply_t r = s_curl (&api, 0, listed [i], url, streq_ (listed [i], "POST")? "{}": NULL,
                            NULL, NULL);
        ck_assert_msg (r.code != 0 && !streq_ (s_str (r.body, "error"), "not_found")
                       && r.code != 405, "%s %s: %d %s", listed [i], url, r.code, r.text);
        s_reply_free (&r);
    }
    s_destroy (&api);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("e2e http api");
    TCase *tc = tcase_create ("curl against real agents");
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, publish_through_one_api_and_receive_through_the_other);
    tcase_add_test (tc, consents_and_corrections_through_the_api);
    tcase_add_test (tc, no_token_or_a_wrong_one_gets_401_and_no_data);
    tcase_add_test (tc, each_malformed_request_gets_its_4xx);
    tcase_add_test (tc, openapi_describes_exactly_the_routes_served);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
