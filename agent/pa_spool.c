/*  pa_spool: the outbox and inbox folders (see pa_spool.h).
 *
 *  Each folder has its own actor so that a long-poll on the inbox never
 *  delays a file dropped in the outbox. Every move is a rename within one
 *  file system, which is atomic; every file the spool writes is written to a
 *  temporary name, fsync'd, renamed, and its folder fsync'd, so a crash
 *  leaves either the old state or the new one.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <czmq.h>
#include <jansson.h>
#include "pa_spool.h"
#include "pa_client.h"
#include "pl_log.h"

#define SCAN_INTERVAL_MS   200
#define INBOX_WAIT_MS      500
#define INBOX_PAGE         100
#define MAX_REQUEST_BYTES  (4 * 1024 * 1024)    //  base64 of a 1 MiB payload, and room
#define PATH_SIZE          4400

typedef struct {
    char control [4096];            //  the agent's control socket
    char folder [4096];
    uint64_t publish_timeout_ms;
    uint64_t heartbeat_ms;
} s_args_t;

struct _pa_spool_t {
    s_args_t outbox_args, inbox_args;
    zactor_t *outbox, *inbox;
};

//  --------------------------------------------------------------------------
//  Files

static int
s_sync_folder (const char *folder)
{
    int fd = open (folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0? fsync (fd): -1;
    if (fd >= 0)
        close (fd);
    return rc;
}

//  folder/name holds text, or nothing changed. The temporary name starts
//  with '.', so neither the spool nor a case system following the same rule
//  ever picks it up half-written.
int
pa_spool_write_file (const char *folder, const char *name, const char *text, mode_t mode)
{
    char temp [PATH_SIZE + 320], path [PATH_SIZE + 320];
    snprintf (temp, sizeof temp, "%s/.%s.tmp", folder, name);
    snprintf (path, sizeof path, "%s/%s", folder, name);
    int fd = open (temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t left = strlen (text);
    bool ok = true;
    while (ok && left > 0) {
        ssize_t n = write (fd, text, left);
        ok = n > 0;
        if (ok) {
            text += n;
            left -= (size_t) n;
        }
    }
    ok = ok && fsync (fd) == 0;
    ok = close (fd) == 0 && ok;
    if (!ok || rename (temp, path) != 0) {
        unlink (temp);
        return -1;
    }
    return s_sync_folder (folder);
}

static bool
s_exists (const char *folder, const char *name)
{
    char path [PATH_SIZE + 320];
    snprintf (path, sizeof path, "%s/%s", folder, name);
    struct stat st;
    return lstat (path, &st) == 0;
}

static int
s_move (const char *from_folder, const char *name, const char *to_folder, const char *to_name)
{
    char from [PATH_SIZE + 320], to [PATH_SIZE + 320];
    snprintf (from, sizeof from, "%s/%s", from_folder, name);
    snprintf (to, sizeof to, "%s/%s", to_folder, to_name);
    return rename (from, to);
}

static bool
s_ends_with (const char *text, const char *end)
{
    size_t a = strlen (text), b = strlen (end);
    return a >= b && strcmp (text + a - b, end) == 0;
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  Regular files of folder that are not temporary, sorted; NULL-terminated.
static char **
s_list (const char *folder)
{
    DIR *dir = opendir (folder);
    if (!dir)
        return NULL;
    size_t count = 0, capacity = 16;
    char **names = calloc (capacity + 1, sizeof *names);
    struct dirent *entry;
    while (names && (entry = readdir (dir))) {
        const char *name = entry->d_name;
        if (name [0] == '.' || s_ends_with (name, ".tmp"))
            continue;
        if (entry->d_type != DT_REG && entry->d_type != DT_UNKNOWN)
            continue;
        if (entry->d_type == DT_UNKNOWN) {
            char path [PATH_SIZE + 320];
            struct stat st;
            snprintf (path, sizeof path, "%s/%s", folder, name);
            if (lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
                continue;
        }
        if (count == capacity) {
            char **bigger = realloc (names, (2 * capacity + 1) * sizeof *names);
            if (!bigger)
                break;
            names = bigger;
            capacity *= 2;
        }
        names [count++] = strdup (name);
        names [count] = NULL;
    }
    closedir (dir);
    if (names)
        qsort (names, count, sizeof *names, s_compare_names);
    return names;
}

static void
s_list_free (char ***names_p)
{
    for (char **name = *names_p; name && *name; name++)
        free (*name);
    free (*names_p);
    *names_p = NULL;
}

static int
s_make_folder (const char *path)
{
    if (mkdir (path, 0700) != 0 && errno != EEXIST) {
        log_warn ("spool: cannot create folder %s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (stat (path, &st) != 0 || !S_ISDIR (st.st_mode)) {
        log_warn ("spool: %s is not a folder", path);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Outbox

typedef enum { S_DONE, S_LATER } s_outcome_t;

typedef struct {
    s_args_t *args;
    zsock_t *pipe;
    pa_client_t *client;
    char processing [PATH_SIZE], sent [PATH_SIZE], failed [PATH_SIZE];
    char waiting [256];             //  file held back by a transient answer (logged once)
    bool stop;
} s_outbox_t;

//  Both parts of an answered file go to their final folder: the request
//  first, so that a crash in between leaves an answer without its request
//  (moved on at the next scan), never a request without its answer (which
//  would be published again).
static void
s_finish (s_outbox_t *self, const char *name, bool sent)
{
    char companion [300];
    snprintf (companion, sizeof companion, "%s%s", name, sent? ".result.json": ".error");
    const char *to = sent? self->sent: self->failed;
    if (s_move (self->processing, name, to, name) != 0 && errno != ENOENT)
        log_warn ("spool: cannot move %s to %s: %s", name, to, strerror (errno));
    if (s_move (self->processing, companion, to, companion) != 0 && errno != ENOENT)
        log_warn ("spool: cannot move %s to %s: %s", companion, to, strerror (errno));
    s_sync_folder (self->processing);
    s_sync_folder (to);
}

static void
s_fail (s_outbox_t *self, const char *name, const char *why)
{
    char companion [300];
    snprintf (companion, sizeof companion, "%s.error", name);
    char *text = zsys_sprintf ("%s\n", why);
    if (!text || pa_spool_write_file (self->processing, companion, text, 0600) != 0)
        log_warn ("spool: cannot write %s: %s", companion, strerror (errno));
    free (text);
    //  One log line: the decisions are in the .error file
    log_warn ("spool: %s failed: %.*s", name, (int) strcspn (why, "\n"), why);
    s_finish (self, name, false);
}

//  The broker refused: the reason and each recipient's decision.
static char *
s_refusal_text (json_t *reply)
{
    const char *status = json_string_value (json_object_get (reply, "status"));
    const char *reason = json_string_value (json_object_get (reply, "reason"));
    const char *event = json_string_value (json_object_get (reply, "event_id"));
    char *text = zsys_sprintf ("refused by the broker: %s: %s (event %s)", status? status: "?",
                               reason? reason: "", event? event: "?");
    size_t index;
    json_t *d;
    json_array_foreach (json_object_get (reply, "decisions"), index, d) {
        const char *category = json_string_value (json_object_get (d, "category"));
        const char *rule = json_string_value (json_object_get (d, "rule"));
        char *line = zsys_sprintf ("%s\n-> %s: %s %s%s%s%s%s%s: %s", text,
            json_string_value (json_object_get (d, "recipient")),
            json_is_true (json_object_get (d, "allowed"))? "allow": "deny",
            json_string_value (json_object_get (d, "status")),
            category && *category? ", category ": "", category? category: "",
            rule && *rule? " (rule ": "", rule? rule: "", rule && *rule? ")": "",
            json_string_value (json_object_get (d, "reason")));
        free (text);
        text = line;
    }
    return text;
}

static json_t *
s_call (s_outbox_t *self, json_t *request, int timeout_ms, char *err, size_t err_size)
{
    if (!self->client
    &&  !(self->client = pa_client_new (self->args->control, err, err_size)))
        return NULL;
    json_t *reply = pa_client_call (self->client, request, timeout_ms, err, err_size);
    if (!reply)                     //  a late reply must not answer the next request
        pa_client_destroy (&self->client);
    return reply;
}

//  Hold name back: the agent cannot take it now.
static s_outcome_t
s_later (s_outbox_t *self, const char *name, const char *why)
{
    if (strcmp (self->waiting, name) != 0)
        log_warn ("spool: %s not published yet: %s; retried", name, why);
    snprintf (self->waiting, sizeof self->waiting, "%s", name);
    return S_LATER;
}

//  Read, check and publish processing/name, then file it.
static s_outcome_t
s_publish (s_outbox_t *self, const char *name)
{
    char path [PATH_SIZE + 320], err [600], why [800];
    snprintf (path, sizeof path, "%s/%s", self->processing, name);
    FILE *file = fopen (path, "rb");
    if (!file)
        return s_later (self, name, strerror (errno));
    char *bytes = malloc (MAX_REQUEST_BYTES + 1);
    size_t size = bytes? fread (bytes, 1, MAX_REQUEST_BYTES + 1, file): 0;
    bool unreadable = !bytes || ferror (file);
    fclose (file);
    if (unreadable) {
        free (bytes);
        return s_later (self, name, "cannot read it");
    }
    if (size > MAX_REQUEST_BYTES) {
        free (bytes);
        snprintf (why, sizeof why, "larger than %d bytes", MAX_REQUEST_BYTES);
        s_fail (self, name, why);
        return S_DONE;
    }
    json_error_t error;
    json_t *request = json_loadb (bytes, size, JSON_REJECT_DUPLICATES, &error);
    free (bytes);
    if (!request || !json_is_object (request)) {
        if (request)
            snprintf (why, sizeof why, "invalid request: a publish request must be a JSON "
                      "object");
        else
            snprintf (why, sizeof why, "invalid JSON at line %d, column %d: %s", error.line,
                      error.column, error.text);
        json_decref (request);
        s_fail (self, name, why);
        return S_DONE;
    }
    if (json_object_get (request, "op")) {
        json_decref (request);
        s_fail (self, name, "invalid request: unknown field 'op' (the spool adds it)");
        return S_DONE;
    }
    json_object_set_new (request, "op", json_string ("publish"));
    //  The agent answers a publish by publish-timeout at the latest ("queued")
    int timeout = (int) (self->args->publish_timeout_ms + 2 * self->args->heartbeat_ms) + 5000;
    json_t *reply = s_call (self, request, timeout, err, sizeof err);
    json_decref (request);
    if (!reply)
        return s_later (self, name, err);
    const char *code = json_string_value (json_object_get (reply, "error"));
    const char *message = json_string_value (json_object_get (reply, "message"));
    s_outcome_t outcome = S_DONE;
    if (code && (streq (code, "not_connected") || streq (code, "store_full")
             ||  streq (code, "store_error") || streq (code, "timeout"))) {
        snprintf (why, sizeof why, "%s (%s)", message? message: "", code);
        outcome = s_later (self, name, why);
    }
    else
    if (code) {
        snprintf (why, sizeof why, "%s: %s", streq (code, "invalid_request")?
                  "invalid request": code, message? message: "");
        s_fail (self, name, why);
    }
    else {
        bool accepted = json_is_true (json_object_get (reply, "accepted"));
        bool queued = json_is_true (json_object_get (reply, "queued"));
        const char *event = json_string_value (json_object_get (reply, "event_id"));
        if (accepted || queued) {
            char companion [300];
            snprintf (companion, sizeof companion, "%s.result.json", name);
            char *text = json_dumps (reply, JSON_INDENT (2));
            char *line = text? zsys_sprintf ("%s\n", text): NULL;
            if (!line || pa_spool_write_file (self->processing, companion, line, 0600) != 0)
                log_warn ("spool: cannot write %s: %s", companion, strerror (errno));
            free (line);
            free (text);
            log_info ("spool: %s published as event %s: %s", name, event? event: "?",
                      accepted? "accepted": "queued in the agent's outbox");
            s_finish (self, name, true);
        }
        else {
            char *text = s_refusal_text (reply);
            s_fail (self, name, text? text: "refused by the broker");
            free (text);
        }
    }
    json_decref (reply);
    if (outcome == S_DONE)
        self->waiting [0] = 0;
    return outcome;
}

//  A file already answered before a crash is only moved on.
static s_outcome_t
s_handle (s_outbox_t *self, const char *name)
{
    char companion [300];
    snprintf (companion, sizeof companion, "%s.result.json", name);
    if (s_exists (self->processing, companion)) {
        s_finish (self, name, true);
        return S_DONE;
    }
    snprintf (companion, sizeof companion, "%s.error", name);
    if (s_exists (self->processing, companion)) {
        s_finish (self, name, false);
        return S_DONE;
    }
    return s_publish (self, name);
}

static bool
s_stop_requested (s_outbox_t *self, int wait_ms)
{
    zpoller_t *poller = zpoller_new (self->pipe, NULL);
    bool stop = zpoller_wait (poller, wait_ms) != NULL;
    zpoller_destroy (&poller);
    if (stop) {
        char *command = zstr_recv (self->pipe);
        stop = !command || streq (command, "$TERM");
        zstr_free (&command);
    }
    return self->stop = self->stop || stop;
}

//  processing/ first (left over from a crash or held back), then the folder.
static void
s_scan (s_outbox_t *self)
{
    char **names = s_list (self->processing);
    for (char **name = names; name && *name && !self->stop; name++) {
        if (s_ends_with (*name, ".result.json") || s_ends_with (*name, ".error")) {
            //  An answer whose request already moved on: follow it
            char request [300];
            bool sent = s_ends_with (*name, ".result.json");
            snprintf (request, sizeof request, "%.*s", (int) (strlen (*name)
                      - (sent? 12: 6)), *name);
            if (!s_exists (self->processing, request))
                s_finish (self, request, sent);
            continue;
        }
        if (s_handle (self, *name) == S_LATER) {
            s_list_free (&names);
            return;                 //  nothing overtakes a file held back
        }
        s_stop_requested (self, 0);
    }
    s_list_free (&names);
    names = s_list (self->args->folder);
    for (char **name = names; name && *name && !self->stop; name++) {
        if (strlen (*name) > 200) {
            log_warn ("spool: %.64s...: name longer than 200 bytes; left in the outbox", *name);
            continue;
        }
        //  Not readable yet (still being given its permissions): next scan
        char path [PATH_SIZE + 320];
        snprintf (path, sizeof path, "%s/%s", self->args->folder, *name);
        if (access (path, R_OK) != 0)
            continue;
        //  Claim it under a name no earlier file in the pipeline uses
        char claimed [300];
        snprintf (claimed, sizeof claimed, "%s", *name);
        if (s_exists (self->processing, claimed) || s_exists (self->sent, claimed)
        ||  s_exists (self->failed, claimed))
            snprintf (claimed, sizeof claimed, "%llu-%s", (unsigned long long) zclock_time (),
                      *name);
        if (s_move (self->args->folder, *name, self->processing, claimed) != 0) {
            log_warn ("spool: cannot take %s: %s", *name, strerror (errno));
            continue;
        }
        s_sync_folder (self->processing);
        if (s_handle (self, claimed) == S_LATER)
            break;
        s_stop_requested (self, 0);
    }
    s_list_free (&names);
}

static void
s_outbox_actor (zsock_t *pipe, void *args)
{
    s_outbox_t self;
    memset (&self, 0, sizeof self);
    self.args = args;
    self.pipe = pipe;
    snprintf (self.processing, sizeof self.processing, "%s/processing", self.args->folder);
    snprintf (self.sent, sizeof self.sent, "%s/sent", self.args->folder);
    snprintf (self.failed, sizeof self.failed, "%s/failed", self.args->folder);
    zsock_signal (pipe, 0);
    log_info ("spool: outbox folder %s", self.args->folder);
    while (!s_stop_requested (&self, SCAN_INTERVAL_MS))
        s_scan (&self);
    pa_client_destroy (&self.client);
}

//  --------------------------------------------------------------------------
//  Inbox

static uint64_t
s_read_cursor (const char *folder)
{
    char path [PATH_SIZE + 320];
    snprintf (path, sizeof path, "%s/.cursor", folder);
    FILE *file = fopen (path, "r");
    unsigned long long value = 0;
    if (file) {
        if (fscanf (file, "%llu", &value) != 1)
            value = 0;
        fclose (file);
    }
    return value;
}

//  One delivery to one file, then the cursor past it. -1: stop here.
static int
s_write_delivery (s_args_t *args, json_t *event, uint64_t *cursor)
{
    json_int_t seq = json_integer_value (json_object_get (event, "seq"));
    const char *id = json_string_value (json_object_get (event, "event_id"));
    const char *notice = json_string_value (json_object_get (event, "notice_id"));
    if (notice)
        id = notice;                //  a notice's event_id is the event it is about
    if (seq <= 0 || (uint64_t) seq <= *cursor || !id || strspn (id, "0123456789abcdef")
        != strlen (id))
        return 0;
    char name [128];
    snprintf (name, sizeof name, "%012llu-%.64s.json", (unsigned long long) seq, id);
    if (!s_exists (args->folder, name)) {
        char *text = json_dumps (event, JSON_INDENT (2));
        char *line = text? zsys_sprintf ("%s\n", text): NULL;
        int rc = line? pa_spool_write_file (args->folder, name, line, 0660): -1;
        free (line);
        free (text);
        if (rc != 0) {
            log_warn ("spool: cannot write %s/%s: %s; retried", args->folder, name,
                      strerror (errno));
            return -1;
        }
        log_info ("spool: inbox %s (%s)", name, notice? "notice":
                  json_string_value (json_object_get (event, "type")));
    }
    char value [32];
    snprintf (value, sizeof value, "%llu\n", (unsigned long long) seq);
    if (pa_spool_write_file (args->folder, ".cursor", value, 0600) != 0) {
        log_warn ("spool: cannot write %s/.cursor: %s; retried", args->folder, strerror (errno));
        return -1;
    }
    *cursor = (uint64_t) seq;
    return 0;
}

static bool
s_pipe_says_stop (zsock_t *pipe, int wait_ms)
{
    zpoller_t *poller = zpoller_new (pipe, NULL);
    bool stop = zpoller_wait (poller, wait_ms) != NULL;
    zpoller_destroy (&poller);
    if (stop) {
        char *command = zstr_recv (pipe);
        stop = !command || streq (command, "$TERM");
        zstr_free (&command);
    }
    return stop;
}

static void
s_inbox_actor (zsock_t *pipe, void *arg)
{
    s_args_t *args = arg;
    zsock_signal (pipe, 0);
    uint64_t cursor = s_read_cursor (args->folder);
    log_info ("spool: inbox folder %s, after delivery %llu", args->folder,
              (unsigned long long) cursor);
    pa_client_t *client = NULL;
    char err [600], reported [600] = "";
    int pause_ms = 0;
    while (!s_pipe_says_stop (pipe, pause_ms)) {
        pause_ms = 0;
        if (!client && !(client = pa_client_new (args->control, err, sizeof err))) {
            pause_ms = 1000;
            continue;
        }
        json_t *request = json_pack ("{s:s, s:I, s:i, s:i}", "op", "inbox", "after",
                                     (json_int_t) cursor, "max", INBOX_PAGE,
                                     "wait_ms", INBOX_WAIT_MS);
        //  The agent answers a long-poll on its next tick after wait_ms
        int timeout = INBOX_WAIT_MS + 2 * (int) args->heartbeat_ms + 5000;
        json_t *reply = pa_client_call (client, request, timeout, err, sizeof err);
        json_decref (request);
        const char *code = reply? json_string_value (json_object_get (reply, "error")): NULL;
        if (!reply || code) {
            if (code)
                snprintf (err, sizeof err, "%s", code);
            if (strcmp (err, reported) != 0)
                log_warn ("spool: inbox not read: %s; retried", err);
            snprintf (reported, sizeof reported, "%s", err);
            if (!reply)
                pa_client_destroy (&client);
            json_decref (reply);
            pause_ms = 1000;
            continue;
        }
        reported [0] = 0;
        size_t index;
        json_t *event;
        json_array_foreach (json_object_get (reply, "events"), index, event)
            if (s_write_delivery (args, event, &cursor) != 0) {
                pause_ms = 1000;
                break;
            }
        json_decref (reply);
    }
    pa_client_destroy (&client);
}

//  --------------------------------------------------------------------------

pa_spool_t *
pa_spool_new (const pa_config_t *config)
{
    pa_spool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    s_args_t *all [] = { &self->outbox_args, &self->inbox_args };
    const char *folders [] = { config->spool_outbox, config->spool_inbox };
    for (int i = 0; i < 2; i++) {
        snprintf (all [i]->control, sizeof all [i]->control, "%s", config->control_path);
        snprintf (all [i]->folder, sizeof all [i]->folder, "%s", folders [i]);
        all [i]->publish_timeout_ms = config->publish_timeout_ms;
        all [i]->heartbeat_ms = config->heartbeat_ms;
    }
    if (*config->spool_outbox) {
        char path [PATH_SIZE + 320];
        static const char *subfolders [] = { "processing", "sent", "failed" };
        if (s_make_folder (config->spool_outbox) != 0) {
            pa_spool_destroy (&self);
            return NULL;
        }
        for (int i = 0; i < 3; i++) {
            snprintf (path, sizeof path, "%s/%s", config->spool_outbox, subfolders [i]);
            if (s_make_folder (path) != 0) {
                pa_spool_destroy (&self);
                return NULL;
            }
        }
        self->outbox = zactor_new (s_outbox_actor, &self->outbox_args);
    }
    if (*config->spool_inbox) {
        if (s_make_folder (config->spool_inbox) != 0) {
            pa_spool_destroy (&self);
            return NULL;
        }
        self->inbox = zactor_new (s_inbox_actor, &self->inbox_args);
    }
    return self;
}

void
pa_spool_destroy (pa_spool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pa_spool_t *self = *self_p;
    //  Both are told first, so their waits overlap instead of adding up
    if (self->outbox)
        zstr_send (self->outbox, "$TERM");
    if (self->inbox)
        zstr_send (self->inbox, "$TERM");
    zactor_destroy (&self->outbox);
    zactor_destroy (&self->inbox);
    free (self);
    *self_p = NULL;
}
