/*  pa_http: the local HTTP/JSON API (see pa_http.h).
 *
 *  libmicrohttpd runs one thread per connection, so a long-poll simply
 *  blocks its own thread. Checks happen as early as MHD lets them: the
 *  token, route and method when the headers are in (an unauthenticated
 *  caller learns nothing, not even which routes exist, and sends no body),
 *  the size against Content-Length before any byte of the body is read.
 *  Everything the agent decides (which fields, which values, who may
 *  receive) stays in the agent: we only translate.  */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <czmq.h>
#include <microhttpd.h>
#include <sodium.h>
#include <jansson.h>
#include "pa_http.h"
#include "pa_client.h"
#include "pl_log.h"

#define URL_MAX         512
#define PARAM_MAX       64
#define CALL_TIMEOUT_MS 5000
#define POLL_SLICE_MS   1000        //  long-polls ask the agent in slices: prompt shutdown

struct _pa_http_t {
    struct MHD_Daemon *daemon;
    char control_path [4096];
    char token [PA_HTTP_TOKEN_HEX + 1];
    int publish_timeout_ms;
    atomic_bool stopping;
};

typedef struct _request_t request_t;
typedef json_t *(handler_fn) (pa_http_t *self, request_t *request, int *status);

typedef struct {
    const char *method;
    const char *path;
    handler_fn *handler;
} route_t;

struct _request_t {
    struct MHD_Connection *connection;
    const route_t *route;
    char params [2][PARAM_MAX + 1];     //  the {...} segments of the path, in order
    char *body;
    size_t size, capacity;
    bool too_large;
};

//  --------------------------------------------------------------------------
//  Replies

static json_t *
s_error (int *status, int code, const char *error, const char *fmt, ...)
{
    char message [700];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    *status = code;
    return json_pack ("{s:s, s:s}", "error", error, "message", message);
}

static enum MHD_Result
s_respond (struct MHD_Connection *connection, int status, json_t *body, const char *allow)
{
    char *text = body? json_dumps (body, JSON_COMPACT): NULL;
    json_decref (body);
    if (!text) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        text = strdup ("{\"error\":\"internal\",\"message\":\"out of memory\"}");
        if (!text)
            return MHD_NO;
    }
    size_t length = strlen (text);
    char *line = realloc (text, length + 2);
    if (line) {
        text = line;
        memcpy (text + length++, "\n", 2);
    }
    struct MHD_Response *response = MHD_create_response_from_buffer (length, text,
                                                                      MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (text);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                 "Bearer realm=\"passerelle\"");
    if (allow)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    enum MHD_Result rc = MHD_queue_response (connection, (unsigned int) status, response);
    MHD_destroy_response (response);
    return rc;
}

//  The agent's error codes as HTTP statuses: the request's fault (4xx),
//  a refusal of a well-formed request (422), or try later (503).
static int
s_status_of (const char *code)
{
    static const struct { const char *code; int status; } map [] = {
        { "invalid_json", 400 }, { "invalid_request", 400 },
        { "unknown_recipient", 422 }, { "invalid_event", 422 },
        { "unknown_event", 404 }, { "unknown_item", 404 },
        { "not_connected", 503 }, { "store_full", 503 },
    };
    for (size_t i = 0; code && i < sizeof map / sizeof map [0]; i++)
        if (strcmp (code, map [i].code) == 0)
            return map [i].status;
    return 500;
}

//  One op to the agent (request consumed). Its reply, or an error object;
//  *status 200 or the error's status.
static json_t *
s_call (pa_http_t *self, json_t *request, int timeout_ms, int *status)
{
    char err [512];
    pa_client_t *client = request? pa_client_new (self->control_path, err, sizeof err): NULL;
    if (!request) {
        *status = 500;
        return json_pack ("{s:s, s:s}", "error", "internal", "message", "out of memory");
    }
    json_t *reply = client? pa_client_call (client, request, timeout_ms, err, sizeof err): NULL;
    pa_client_destroy (&client);
    json_decref (request);
    if (!reply)
        return s_error (status, 503, "agent_unavailable", "%s", err);
    json_t *error = json_object_get (reply, "error");
    *status = error? s_status_of (json_string_value (error)): 200;
    return reply;
}

//  A publish's answer: 200 accepted, 202 queued in the outbox (the broker's
//  answer is not in yet), 422 refused (with the broker's decisions).
static json_t *
s_publish (pa_http_t *self, json_t *request, int *status)
{
    json_object_set_new (request, "op", json_string ("publish"));
    json_t *reply = s_call (self, request, self->publish_timeout_ms + CALL_TIMEOUT_MS, status);
    if (*status != 200)
        return reply;
    if (json_is_true (json_object_get (reply, "accepted")))
        *status = 200;
    else
    if (json_is_true (json_object_get (reply, "queued")))
        *status = 202;
    else {
        *status = 422;
        const char *reason = json_string_value (json_object_get (reply, "reason"));
        json_object_set_new (reply, "error", json_string ("refused"));
        json_object_set_new (reply, "message", json_string (reason? reason: "refused"));
    }
    return reply;
}

//  --------------------------------------------------------------------------
//  Request bodies and query strings

static json_t *
s_body_object (request_t *request, int *status, json_t **error)
{
    if (request->size == 0) {
        *error = s_error (status, 400, "invalid_request", "a JSON object body is required");
        return NULL;
    }
    json_error_t parse;
    json_t *body = json_loadb (request->body, request->size, JSON_REJECT_DUPLICATES, &parse);
    if (!body)
        *error = s_error (status, 400, "invalid_json", "not valid JSON: %s (line %d, column %d)",
                          parse.text, parse.line, parse.column);
    else
    if (!json_is_object (body)) {
        json_decref (body);
        body = NULL;
        *error = s_error (status, 400, "invalid_request", "the body must be a JSON object");
    }
    return body;
}

//  Fields a gateway route takes itself (not passed through to pa_publish,
//  which checks its own strictly): unknown or missing ones named.
static json_t *
s_check_fields (json_t *body, const char **allowed, const char **required, int *status)
{
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        const char **a = allowed;
        while (*a && strcmp (*a, key) != 0)
            a++;
        if (!*a)
            return s_error (status, 400, "invalid_request", "unknown field '%.64s'", key);
    }
    for (const char **r = required; *r; r++)
        if (!json_object_get (body, *r))
            return s_error (status, 400, "invalid_request", "missing field '%s'", *r);
    return NULL;
}

//  A whole unsigned decimal number, at most max.
static bool
s_parse_count (const char *text, unsigned long long max, unsigned long long *value)
{
    if (!text || !*text || strlen (text) > 19 || strspn (text, "0123456789") != strlen (text))
        return false;
    *value = strtoull (text, NULL, 10);
    return *value <= max;
}

typedef struct {
    const char **allowed;
    char bad [PARAM_MAX + 1];
    bool duplicate;
    const char *values [4];
} query_t;

static enum MHD_Result
s_query_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    query_t *query = cls;
    for (size_t i = 0; query->allowed [i]; i++)
        if (strcmp (query->allowed [i], key) == 0) {
            if (query->values [i])
                query->duplicate = true;
            query->values [i] = value? value: "";
            return MHD_YES;
        }
    snprintf (query->bad, sizeof query->bad, "%s", key);
    return MHD_YES;
}

//  Query arguments: only those allowed (NULL-terminated, at most 4), once each.
static json_t *
s_check_query (request_t *request, query_t *query, const char **allowed, int *status)
{
    static const char *none [] = { NULL };
    memset (query, 0, sizeof *query);
    query->allowed = allowed? allowed: none;
    MHD_get_connection_values (request->connection, MHD_GET_ARGUMENT_KIND, s_query_arg, query);
    if (*query->bad)
        return s_error (status, 400, "invalid_request", "unknown query parameter '%s'", query->bad);
    if (query->duplicate)
        return s_error (status, 400, "invalid_request", "a query parameter is given twice");
    return NULL;
}

//  --------------------------------------------------------------------------
//  Routes

static json_t *
s_post_event (pa_http_t *self, request_t *request, int *status)
{
    json_t *error = NULL, *body = s_body_object (request, status, &error);
    if (!body)
        return error;
    if (json_object_get (body, "op")) {
        json_decref (body);
        return s_error (status, 400, "invalid_request", "unknown field 'op'");
    }
    return s_publish (self, body, status);
}

static json_t *
s_post_correction (pa_http_t *self, request_t *request, int *status)
{
    json_t *error = NULL, *body = s_body_object (request, status, &error);
    if (!body)
        return error;
    json_t *type = json_object_get (body, "type");
    if (json_object_get (body, "op"))
        error = s_error (status, 400, "invalid_request", "unknown field 'op'");
    else
    if (!json_is_string (json_object_get (body, "supersedes")))
        error = s_error (status, 400, "invalid_request", "missing field 'supersedes' (the event "
                         "id this corrects, 32 hex characters)");
    else
    if (type && (!json_is_string (type) || strcmp (json_string_value (type), "correction") != 0))
        error = s_error (status, 400, "invalid_request", "type: a correction's type is "
                         "'correction' (or leave it out)");
    if (error) {
        json_decref (body);
        return error;
    }
    json_object_set_new (body, "type", json_string ("correction"));
    return s_publish (self, body, status);
}

//  Consents are events addressed to the broker's registry, as the CLI
//  sends them: the scope travels in the signed header; the event's
//  categories and purpose are the scope's.
static json_t *
s_post_consent (pa_http_t *self, request_t *request, int *status, bool give)
{
    static const char *give_fields [] = { "case", "consent_id", "subject", "categories",
        "recipient_roles", "purposes", "valid_until_ms", "evidence_ref", NULL };
    static const char *give_required [] = { "case", "consent_id", "subject", "categories",
        "recipient_roles", "purposes", NULL };
    static const char *withdraw_fields [] = { "case", "consent_id", "subject", NULL };
    json_t *error = NULL, *body = s_body_object (request, status, &error);
    if (!body)
        return error;
    error = s_check_fields (body, give? give_fields: withdraw_fields,
                            give? give_required: withdraw_fields, status);
    json_t *purposes = json_object_get (body, "purposes");
    json_t *categories = json_object_get (body, "categories");
    if (!error && !json_is_string (json_object_get (body, "case")))
        error = s_error (status, 400, "invalid_request", "case: expected a string");
    else
    if (!error && !json_is_string (json_object_get (body, "consent_id")))
        error = s_error (status, 400, "invalid_request", "consent_id: expected a string");
    else
    if (!error && give && (!json_is_array (purposes) || !json_is_string (json_array_get (purposes, 0))))
        error = s_error (status, 400, "invalid_request", "purposes: expected a non-empty array "
                         "of purpose ids");
    else
    if (!error && give && !json_is_array (categories))
        error = s_error (status, 400, "invalid_request", "categories: expected an array of "
                         "category ids");
    if (error) {
        json_decref (body);
        return error;
    }
    json_t *scope = json_deep_copy (body);
    json_object_del (scope, "case");
    json_t *event_categories = give? json_incref (categories): json_pack ("[s]", "case_summary");
    json_t *event = json_pack ("{s:s, s:O, s:o, s:s, s:s, s:O, s:o}",
        "type", give? "consent_given": "consent_withdrawn", "case", json_object_get (body, "case"),
        "categories", event_categories,
        "purpose", give? json_string_value (json_array_get (purposes, 0)): "case_coordination",
        "basis", "consent", "consent", json_object_get (body, "consent_id"), "consent_scope", scope);
    json_decref (body);
    return s_publish (self, event, status);
}

static json_t *
s_post_consent_give (pa_http_t *self, request_t *request, int *status)
{
    return s_post_consent (self, request, status, true);
}

static json_t *
s_post_consent_withdraw (pa_http_t *self, request_t *request, int *status)
{
    return s_post_consent (self, request, status, false);
}

//  Whatever became of it is the resource: 200 for accepted, refused and
//  still queued alike (the body says which); 404 for an id never published.
static json_t *
s_get_event (pa_http_t *self, request_t *request, int *status)
{
    return s_call (self, json_pack ("{s:s, s:s}", "op", "outcome", "event_id", request->params [0]),
                   CALL_TIMEOUT_MS, status);
}

//  The agent long-polls too, but we ask in slices of a second so that a
//  stopping agent never waits on a caller's ten-minute poll.
static json_t *
s_get_inbox (pa_http_t *self, request_t *request, int *status)
{
    static const char *allowed [] = { "after", "max", "wait", NULL };
    query_t query;
    json_t *error = s_check_query (request, &query, allowed, status);
    if (error)
        return error;
    unsigned long long after = 0, max = 100, wait = 0;
    if (query.values [0] && !s_parse_count (query.values [0], INT64_MAX, &after))
        return s_error (status, 400, "invalid_request", "after: expected an inbox seq (integer >= 0)");
    if (query.values [1] && (!s_parse_count (query.values [1], 1000, &max) || max < 1))
        return s_error (status, 400, "invalid_request", "max: expected an integer from 1 to 1000");
    if (query.values [2] && !s_parse_count (query.values [2], PA_HTTP_MAX_WAIT_S, &wait))
        return s_error (status, 400, "invalid_request", "wait: expected seconds, from 0 to %d",
                        PA_HTTP_MAX_WAIT_S);
    int64_t deadline = zclock_mono () + (int64_t) wait * 1000;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        int slice = left <= 0? 0: left > POLL_SLICE_MS? POLL_SLICE_MS: (int) left;
        json_t *reply = s_call (self, json_pack ("{s:s, s:I, s:I, s:i}", "op", "inbox",
                                "after", (json_int_t) after, "max", (json_int_t) max,
                                "wait_ms", slice), slice + CALL_TIMEOUT_MS, status);
        if (*status != 200 || json_array_size (json_object_get (reply, "events")) > 0
        ||  slice == 0 || atomic_load (&self->stopping))
            return reply;
        json_decref (reply);
    }
}

static json_t *
s_post_ack (pa_http_t *self, request_t *request, int *status)
{
    unsigned long long seq;
    if (!s_parse_count (request->params [0], INT64_MAX, &seq) || seq < 1)
        return s_error (status, 400, "invalid_request", "seq: expected an inbox seq (integer >= 1)");
    //  No body needed; an empty object is fine, anything else is a mistake
    if (request->size > 0) {
        json_t *error = NULL, *body = s_body_object (request, status, &error);
        if (!body)
            return error;
        size_t fields = json_object_size (body);
        json_decref (body);
        if (fields > 0)
            return s_error (status, 400, "invalid_request", "ack takes no fields (empty body or {})");
    }
    return s_call (self, json_pack ("{s:s, s:I}", "op", "ack", "seq", (json_int_t) seq),
                   CALL_TIMEOUT_MS, status);
}

static json_t *
s_get_status (pa_http_t *self, request_t *request, int *status)
{
    (void) request;
    return s_call (self, json_pack ("{s:s}", "op", "status"), CALL_TIMEOUT_MS, status);
}

static json_t *
s_get_directory (pa_http_t *self, request_t *request, int *status)
{
    (void) request;
    return s_call (self, json_pack ("{s:s}", "op", "directory"), CALL_TIMEOUT_MS, status);
}

//  The route table: openapi.yaml must list exactly these (tests check).
static const route_t s_routes [] = {
    { "POST", "/v1/events", s_post_event },
    { "GET",  "/v1/events/{event_id}", s_get_event },
    { "GET",  "/v1/inbox", s_get_inbox },
    { "POST", "/v1/inbox/{seq}/ack", s_post_ack },
    { "POST", "/v1/consents", s_post_consent_give },
    { "POST", "/v1/consents/withdraw", s_post_consent_withdraw },
    { "POST", "/v1/corrections", s_post_correction },
    { "GET",  "/v1/status", s_get_status },
    { "GET",  "/v1/directory", s_get_directory },
};
#define ROUTES (sizeof s_routes / sizeof s_routes [0])

const char *
pa_http_route_at (size_t index, const char **method)
{
    if (index >= ROUTES)
        return NULL;
    if (method)
        *method = s_routes [index].method;
    return s_routes [index].path;
}

//  "/v1/events/{event_id}" against a path: a {name} takes one non-empty
//  segment (at most PARAM_MAX characters) into params, in order.
static bool
s_match (const char *pattern, const char *url, char params [][PARAM_MAX + 1])
{
    size_t count = 0;
    while (*pattern && *url) {
        if (*pattern == '{') {
            size_t length = strcspn (url, "/");
            if (length == 0 || length > PARAM_MAX || count >= 2)
                return false;
            memcpy (params [count], url, length);
            params [count++][length] = 0;
            url += length;
            pattern = strchr (pattern, '}') + 1;
        }
        else
        if (*pattern++ != *url++)
            return false;
    }
    return !*pattern && !*url;
}

//  --------------------------------------------------------------------------
//  The MHD side

static bool
s_authorized (pa_http_t *self, struct MHD_Connection *connection)
{
    const char *value = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION);
    //  The token's length is no secret; its bytes are compared in constant time
    return value && strlen (value) == 7 + PA_HTTP_TOKEN_HEX && strncasecmp (value, "Bearer ", 7) == 0
        && sodium_memcmp (value + 7, self->token, PA_HTTP_TOKEN_HEX) == 0;
}

static bool
s_is_json (const char *type)
{
    size_t length = strlen ("application/json");
    return type && strncasecmp (type, "application/json", length) == 0
        && (type [length] == 0 || type [length] == ';' || type [length] == ' ');
}

//  First call, headers in: token, route, method, declared size and type.
//  A JSON error with its status, or NULL to go on reading the body.
static json_t *
s_check_headers (pa_http_t *self, request_t *request, const char *url, const char *method,
                 int *status, char *allow, size_t allow_size)
{
    if (!s_authorized (self, request->connection)) {
        log_info ("http: %s request refused: no valid bearer token", method);
        return s_error (status, 401, "unauthorized", "every request needs 'Authorization: "
                        "Bearer TOKEN', TOKEN being the agent's state/api.token");
    }
    char params [2][PARAM_MAX + 1];
    *allow = 0;
    for (size_t i = 0; i < ROUTES && strlen (url) < URL_MAX; i++)
        if (s_match (s_routes [i].path, url, params)) {
            snprintf (allow + strlen (allow), allow_size - strlen (allow), "%s%s",
                      *allow? ", ": "", s_routes [i].method);
            if (strcmp (s_routes [i].method, method) == 0) {
                request->route = &s_routes [i];
                memcpy (request->params, params, sizeof params);
            }
        }
    if (!*allow)
        return s_error (status, 404, "not_found", "no such route: the API is described in "
                        "agent/openapi.yaml");
    if (!request->route)
        return s_error (status, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                        method, allow);
    *allow = 0;
    json_t *error = NULL;
    query_t query;
    if (request->route->handler != s_get_inbox && (error = s_check_query (request, &query, NULL,
                                                                          status)))
        return error;
    const char *length = MHD_lookup_connection_value (request->connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull (length, NULL, 10) > PA_HTTP_MAX_BODY)
        return s_error (status, 413, "too_large", "the body is larger than %d bytes",
                        PA_HTTP_MAX_BODY);
    const char *type = MHD_lookup_connection_value (request->connection, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE);
    if (type && !s_is_json (type))
        return s_error (status, 415, "unsupported_media_type", "the body must be "
                        "'Content-Type: application/json'");
    return NULL;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    pa_http_t *self = cls;
    request_t *request = *con_cls;
    int status = 500;
    if (!request) {
        if (!(request = calloc (1, sizeof *request)))
            return MHD_NO;
        *con_cls = request;
        request->connection = connection;
        char allow [64] = "";
        json_t *error = s_check_headers (self, request, url, method, &status, allow, sizeof allow);
        //  Answered now, the body is never read (MHD then closes the connection)
        return error? s_respond (connection, status, error, *allow? allow: NULL): MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        if (request->too_large || request->size + size > PA_HTTP_MAX_BODY) {
            request->too_large = true;      //  chunked: no length said; drop the rest
            return MHD_YES;
        }
        if (request->size + size > request->capacity) {
            size_t capacity = request->capacity? request->capacity: 4096;
            while (capacity < request->size + size)
                capacity *= 2;
            char *body = realloc (request->body, capacity);
            if (!body)
                return MHD_NO;
            request->body = body;
            request->capacity = capacity;
        }
        memcpy (request->body + request->size, upload_data, size);
        request->size += size;
        return MHD_YES;
    }
    json_t *reply;
    if (request->too_large)
        reply = s_error (&status, 413, "too_large", "the body is larger than %d bytes",
                         PA_HTTP_MAX_BODY);
    else
    if (request->size && !s_is_json (MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                                  MHD_HTTP_HEADER_CONTENT_TYPE)))
        reply = s_error (&status, 415, "unsupported_media_type", "the body must be "
                         "'Content-Type: application/json'");
    else
        reply = request->route->handler (self, request, &status);
    log_debug ("http: %s %s -> %d", method, request->route->path, status);
    return s_respond (connection, status, reply, NULL);
}

static void
s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
             enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) connection;
    (void) code;
    request_t *request = *con_cls;
    if (request) {
        free (request->body);
        free (request);
        *con_cls = NULL;
    }
}

static void
s_mhd_log (void *cls, const char *fmt, va_list args)
{
    (void) cls;
    char line [512];
    vsnprintf (line, sizeof line, fmt, args);
    line [strcspn (line, "\n")] = 0;
    log_warn ("http: %s", line);
}

//  --------------------------------------------------------------------------

int
pa_http_token_load (const char *state_path, char *token, char *err, size_t err_size)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/api.token", state_path);
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        uint8_t bytes [PA_HTTP_TOKEN_HEX / 2];
        randombytes_buf (bytes, sizeof bytes);
        sodium_bin2hex (token, PA_HTTP_TOKEN_HEX + 1, bytes, sizeof bytes);
        sodium_memzero (bytes, sizeof bytes);
        fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        bool ok = fd >= 0 && write (fd, token, PA_HTTP_TOKEN_HEX) == PA_HTTP_TOKEN_HEX
               && write (fd, "\n", 1) == 1 && fsync (fd) == 0;
        if (fd >= 0)
            close (fd);
        if (!ok) {
            snprintf (err, err_size, "cannot write %s: %s", path, strerror (errno));
            unlink (path);
            return -1;
        }
        log_info ("http: made a new API token in %s", path);
        return 0;
    }
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0) {
        snprintf (err, err_size, "cannot read %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    char text [PA_HTTP_TOKEN_HEX + 8];
    ssize_t size = (st.st_mode & 077)? -1: read (fd, text, sizeof text - 1);
    close (fd);
    if (st.st_mode & 077) {
        snprintf (err, err_size, "%s is readable by group or others: chmod 600 it (or remove it "
                  "to make a new token)", path);
        return -1;
    }
    size = size < 0? 0: size;
    while (size > 0 && (text [size - 1] == '\n' || text [size - 1] == '\r'))
        size--;
    text [size] = 0;
    if (size != PA_HTTP_TOKEN_HEX || strspn (text, "0123456789abcdefABCDEF") != PA_HTTP_TOKEN_HEX) {
        snprintf (err, err_size, "%s: expected %d hex characters (remove it to make a new token)",
                  path, PA_HTTP_TOKEN_HEX);
        return -1;
    }
    memcpy (token, text, PA_HTTP_TOKEN_HEX + 1);
    sodium_memzero (text, sizeof text);
    return 0;
}

pa_http_t *
pa_http_new (const pa_config_t *config, char *err, size_t err_size)
{
    if (sodium_init () < 0) {
        snprintf (err, err_size, "libsodium could not start");
        return NULL;
    }
    pa_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    atomic_init (&self->stopping, false);
    snprintf (self->control_path, sizeof self->control_path, "%s", config->control_path);
    self->publish_timeout_ms = (int) config->publish_timeout_ms;
    if (pa_http_token_load (config->state_path, self->token, err, err_size) != 0) {
        pa_http_destroy (&self);
        return NULL;
    }
    struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = htons (config->http_port) };
    struct sockaddr_in6 v6 = { .sin6_family = AF_INET6, .sin6_port = htons (config->http_port) };
    bool ipv6 = strchr (config->http_host, ':') != NULL;
    if (inet_pton (ipv6? AF_INET6: AF_INET, config->http_host,
                   ipv6? (void *) &v6.sin6_addr: (void *) &v4.sin_addr) != 1) {
        snprintf (err, err_size, "http: '%s' is not an address", config->http_host);
        pa_http_destroy (&self);
        return NULL;
    }
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                       | MHD_USE_POLL | MHD_USE_ERROR_LOG | (ipv6? MHD_USE_IPv6: 0);
    self->daemon = MHD_start_daemon (flags, config->http_port, NULL, NULL, s_access, self,
        MHD_OPTION_SOCK_ADDR, ipv6? (struct sockaddr *) &v6: (struct sockaddr *) &v4,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (err, err_size, "http: cannot listen on %s%s%s:%u (port in use?)",
                  ipv6? "[": "", config->http_host, ipv6? "]": "", config->http_port);
        pa_http_destroy (&self);
        return NULL;
    }
    log_info ("http: API on http://%s%s%s:%u/v1 (bearer token in %s/api.token)", ipv6? "[": "",
              config->http_host, ipv6? "]": "", config->http_port, config->state_path);
    return self;
}

void
pa_http_destroy (pa_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pa_http_t *self = *self_p;
    atomic_store (&self->stopping, true);
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    sodium_memzero (self->token, sizeof self->token);
    free (self);
    *self_p = NULL;
}
