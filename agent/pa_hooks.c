/*  pa_hooks: commands run on deliveries (see pa_hooks.h).
 *
 *  One thread: it fetches deliveries, starts commands with posix_spawn (safe
 *  in a threaded process, unlike fork), and reaps them by polling waitpid on
 *  its own children every 100 ms while any run. SIGCHLD is left alone: the
 *  agent takes signals synchronously in main, and a handler here would be
 *  the only asynchronous one in the process.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <czmq.h>
#include <jansson.h>
#include "pa_hooks.h"
#include "pa_client.h"
#include "pa_spool.h"
#include "pl_log.h"
#include "pl_vocab.h"

#define MAX_RUNNING     8           //  commands at once
#define MAX_QUEUED      256         //  jobs waiting before we stop fetching
#define INBOX_WAIT_MS   500
#define BACKOFF_MAX_MS  60000
#define ENV_MAX         40

typedef struct {
    const pa_hook_config_t *hook;
    uint64_t seq;
    char id [72];                   //  event or notice id, for logs
    char *json;                     //  standard input
    char *env [ENV_MAX + 1];
    int attempt;                    //  tries started
    pid_t pid;                      //  0: not running
    int64_t started_ms, next_ms;
} s_job_t;

typedef struct {
    pa_config_t config;             //  a copy: the hooks point into it
    zactor_t *actor;
} s_shared_t;

struct _pa_hooks_t {
    s_shared_t *shared;
};

typedef struct {
    const pa_config_t *config;
    zsock_t *pipe;
    pa_client_t *client;
    zlistx_t *jobs;                 //  s_job_t, in delivery order
    uint64_t fetched;               //  last delivery looked at
    uint64_t saved;                 //  cursor on disk
    size_t running;
    char reported [600];
} s_hooks_t;

//  --------------------------------------------------------------------------
//  Jobs

static void
s_job_destroy (void **item_p)
{
    s_job_t *job = *item_p;
    if (job) {
        free (job->json);
        for (int i = 0; job->env [i]; i++)
            free (job->env [i]);
        free (job);
        *item_p = NULL;
    }
}

//  Values are vocabulary ids, hex ids and case references already checked
//  by the agent; anything with a control character is left out anyway.
static void
s_env_add (s_job_t *job, int *count, const char *name, const char *value)
{
    if (!value || *count >= ENV_MAX)
        return;
    for (const char *c = value; *c; c++)
        if ((unsigned char) *c < 0x20)
            return;
    job->env [(*count)++] = zsys_sprintf ("%s=%s", name, value);
}

static void
s_env_build (s_job_t *job, json_t *event)
{
    int n = 0;
    char number [32];
    s_env_add (job, &n, "PATH", "/usr/local/bin:/usr/bin:/bin");
    s_env_add (job, &n, "PASSERELLE_HOOK", job->hook->name);
    snprintf (number, sizeof number, "%llu", (unsigned long long) job->seq);
    s_env_add (job, &n, "PASSERELLE_SEQ", number);
    snprintf (number, sizeof number, "%d", job->attempt);
    s_env_add (job, &n, "PASSERELLE_ATTEMPT", number);
    static const char *fields [][2] = {
        { "type", "PASSERELLE_TYPE" }, { "event_id", "PASSERELLE_EVENT_ID" },
        { "case", "PASSERELLE_CASE" }, { "risk", "PASSERELLE_RISK" },
        { "publisher", "PASSERELLE_PUBLISHER" }, { "purpose", "PASSERELLE_PURPOSE" },
        { "basis", "PASSERELLE_BASIS" }, { "kind", "PASSERELLE_KIND" },
        { "notice_id", "PASSERELLE_NOTICE_ID" }, { "consent", "PASSERELLE_CONSENT" },
        { "agency", "PASSERELLE_AGENCY" } };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++)
        s_env_add (job, &n, fields [i][1], json_string_value (json_object_get (event,
                   fields [i][0])));
    json_t *categories = json_object_get (event, "categories");
    if (json_is_array (categories)) {
        char list [512] = "";
        size_t index;
        json_t *item;
        json_array_foreach (categories, index, item)
            if (json_is_string (item) && strlen (list) + strlen (json_string_value (item)) + 2
                < sizeof list) {
                if (*list)
                    strcat (list, ",");
                strcat (list, json_string_value (item));
            }
        s_env_add (job, &n, "PASSERELLE_CATEGORIES", list);
    }
    char names [sizeof job->hook->env], *save = NULL;
    snprintf (names, sizeof names, "%s", job->hook->env);
    for (char *name = strtok_r (names, ",", &save); name; name = strtok_r (NULL, ",", &save))
        s_env_add (job, &n, name, getenv (name));
    job->env [n] = NULL;
}

static bool
s_in_list (const char *list, const char *word)
{
    size_t length = strlen (word);
    for (const char *at = list; (at = strstr (at, word)); at += length)
        if ((at == list || at [-1] == ',') && (at [length] == ',' || at [length] == 0))
            return true;
    return false;
}

static bool
s_matches (const pa_hook_config_t *hook, json_t *event)
{
    const char *type = json_string_value (json_object_get (event, "type"));
    if (!type)
        return false;
    if (streq (type, "notice")) {
        const char *kind = json_string_value (json_object_get (event, "kind"));
        return hook->notices && (!*hook->notice_kinds || (kind && s_in_list (hook->notice_kinds,
                                                                            kind)));
    }
    int id = pl_vocab_id (PL_KIND_EVENT_TYPE, type);
    if (id < 0)
        return false;
    if (hook->types? !PL_SET_HAS (hook->types, id): hook->notices)
        return false;
    if (hook->min_risk >= 0) {
        const char *risk = json_string_value (json_object_get (event, "risk"));
        int level = risk? pl_vocab_id (PL_KIND_RISK, risk): PL_RISK_STANDARD;
        if (level < hook->min_risk)
            return false;
    }
    if (hook->categories) {
        bool any = false;
        size_t index;
        json_t *item;
        json_array_foreach (json_object_get (event, "categories"), index, item) {
            int category = pl_vocab_id (PL_KIND_CATEGORY, json_string_value (item));
            any = any || (category >= 0 && PL_SET_HAS (hook->categories, category));
        }
        if (!any)
            return false;
    }
    return true;
}

static void
s_enqueue (s_hooks_t *self, json_t *event, uint64_t seq)
{
    const char *id = json_string_value (json_object_get (event, "notice_id"));
    if (!id)
        id = json_string_value (json_object_get (event, "event_id"));
    for (size_t i = 0; i < self->config->hook_count; i++) {
        const pa_hook_config_t *hook = &self->config->hooks [i];
        if (!s_matches (hook, event))
            continue;
        s_job_t *job = calloc (1, sizeof *job);
        if (!job)
            return;
        job->hook = hook;
        job->seq = seq;
        snprintf (job->id, sizeof job->id, "%s", id? id: "?");
        job->json = json_dumps (event, JSON_COMPACT);
        s_env_build (job, event);
        if (!job->json) {
            void *item = job;
            s_job_destroy (&item);
            log_warn ("hook %s: event %s: out of memory; skipped", hook->name, id? id: "?");
            continue;
        }
        zlistx_add_end (self->jobs, job);
    }
}

//  --------------------------------------------------------------------------
//  Running

static int
s_spawn (s_hooks_t *self, s_job_t *job)
{
    //  Standard input from an unlinked file, not a pipe: a hook that never
    //  reads it cannot block us, and a 1 MiB payload needs no writer loop.
    char path [4200];
    snprintf (path, sizeof path, "%s/.hook-input-XXXXXX", self->config->state_path);
    int fd = mkostemp (path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    unlink (path);
    size_t left = strlen (job->json);
    const char *cursor = job->json;
    while (left > 0) {
        ssize_t n = write (fd, cursor, left);
        if (n <= 0) {
            close (fd);
            return -1;
        }
        cursor += n;
        left -= (size_t) n;
    }
    lseek (fd, 0, SEEK_SET);
    char log_path [4200];
    snprintf (log_path, sizeof log_path, "%s/hook-%s.log", self->config->state_path,
              job->hook->name);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, fd, 0);
    posix_spawn_file_actions_addopen (&actions, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2 (&actions, 1, 2);
    posix_spawnattr_init (&attr);
    //  Its own process group (killed as a whole on timeout), no blocked
    //  signals (main blocks SIGTERM in every thread), default dispositions
    sigset_t none, defaults;
    sigemptyset (&none);
    sigemptyset (&defaults);
    int reset [] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof reset / sizeof reset [0]; i++)
        sigaddset (&defaults, reset [i]);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                   | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup (&attr, 0);
    posix_spawnattr_setsigmask (&attr, &none);
    posix_spawnattr_setsigdefault (&attr, &defaults);
    job->attempt++;
    for (int i = 0; job->env [i]; i++)
        if (strncmp (job->env [i], "PASSERELLE_ATTEMPT=", 19) == 0) {
            free (job->env [i]);
            job->env [i] = zsys_sprintf ("PASSERELLE_ATTEMPT=%d", job->attempt);
        }
    char *argv [] = { "/bin/sh", "-c", (char *) job->hook->command, NULL };
    int rc = posix_spawn (&job->pid, "/bin/sh", &actions, &attr, argv, job->env);
    posix_spawn_file_actions_destroy (&actions);
    posix_spawnattr_destroy (&attr);
    close (fd);
    if (rc != 0) {
        job->pid = 0;
        errno = rc;
        return -1;
    }
    job->started_ms = zclock_mono ();
    self->running++;
    log_debug ("hook %s: event %s: started, attempt %d of %d", job->hook->name, job->id,
               job->attempt, job->hook->attempts);
    return 0;
}

//  A try failed: retry later or give up. true when the job is finished.
static bool
s_failed (s_job_t *job, const char *why)
{
    if (job->attempt < job->hook->attempts) {
        int64_t backoff = 1000LL << (job->attempt - 1);
        if (backoff > BACKOFF_MAX_MS)
            backoff = BACKOFF_MAX_MS;
        job->next_ms = zclock_mono () + backoff;
        log_warn ("hook %s: event %s: %s (attempt %d of %d); retried in %llds", job->hook->name,
                  job->id, why, job->attempt, job->hook->attempts, (long long) backoff / 1000);
        return false;
    }
    log_warn ("hook %s: event %s: %s (attempt %d of %d); given up", job->hook->name, job->id,
              why, job->attempt, job->hook->attempts);
    return true;
}

//  Reap what ended, kill what overran, start what is due.
static void
s_run (s_hooks_t *self)
{
    int64_t now = zclock_mono ();
    s_job_t *job = zlistx_first (self->jobs);
    while (job) {
        bool finished = false;
        if (job->pid > 0) {
            int status = 0;
            pid_t pid = waitpid (job->pid, &status, WNOHANG);
            char why [128] = "";
            if (pid == 0 && now - job->started_ms > (int64_t) job->hook->timeout_ms) {
                kill (-job->pid, SIGKILL);
                waitpid (job->pid, &status, 0);
                snprintf (why, sizeof why, "timed out after %llu ms: killed",
                          (unsigned long long) job->hook->timeout_ms);
                pid = job->pid;
            }
            else
            if (pid == job->pid && WIFEXITED (status) && WEXITSTATUS (status) == 0)
                log_info ("hook %s: event %s: done in %lld ms", job->hook->name, job->id,
                          (long long) (now - job->started_ms));
            else
            if (pid == job->pid && WIFEXITED (status))
                snprintf (why, sizeof why, "exited with status %d", WEXITSTATUS (status));
            else
            if (pid == job->pid)
                snprintf (why, sizeof why, "killed by signal %d", WTERMSIG (status));
            if (pid == job->pid || pid < 0) {
                job->pid = 0;
                self->running--;
                finished = *why? s_failed (job, why): true;
            }
        }
        else
        if (job->next_ms <= now && self->running < MAX_RUNNING && s_spawn (self, job) != 0) {
            char why [300];
            snprintf (why, sizeof why, "cannot start: %s", strerror (errno));
            finished = s_failed (job, why);
        }
        if (finished) {
            zlistx_delete (self->jobs, zlistx_cursor (self->jobs));
            job = zlistx_first (self->jobs);    //  restart: cheap, lists are short
        }
        else
            job = zlistx_next (self->jobs);
    }
}

//  Everything before the oldest unfinished job is done with.
static void
s_save_cursor (s_hooks_t *self)
{
    s_job_t *oldest = zlistx_first (self->jobs);
    uint64_t safe = oldest? oldest->seq - 1: self->fetched;
    if (safe <= self->saved)
        return;
    char value [32];
    snprintf (value, sizeof value, "%llu\n", (unsigned long long) safe);
    if (pa_spool_write_file (self->config->state_path, "hooks.cursor", value, 0600) == 0)
        self->saved = safe;
    else
        log_warn ("hooks: cannot write %s/hooks.cursor: %s", self->config->state_path,
                  strerror (errno));
}

static void
s_fetch (s_hooks_t *self, int wait_ms)
{
    char err [600];
    if (!self->client
    &&  !(self->client = pa_client_new (self->config->control_path, err, sizeof err))) {
        zclock_sleep (200);
        return;
    }
    json_t *request = json_pack ("{s:s, s:I, s:i, s:i}", "op", "inbox", "after",
                                 (json_int_t) self->fetched, "max", 50, "wait_ms", wait_ms);
    //  The agent answers a long-poll on its next tick after wait_ms
    int timeout = wait_ms + 2 * (int) self->config->heartbeat_ms + 5000;
    json_t *reply = pa_client_call (self->client, request, timeout, err, sizeof err);
    json_decref (request);
    const char *code = reply? json_string_value (json_object_get (reply, "error")): NULL;
    if (!reply || code) {
        if (code)
            snprintf (err, sizeof err, "%s", code);
        if (strcmp (err, self->reported) != 0)
            log_warn ("hooks: inbox not read: %s; retried", err);
        snprintf (self->reported, sizeof self->reported, "%s", err);
        if (!reply)                 //  a late reply must not answer the next request
            pa_client_destroy (&self->client);
        json_decref (reply);
        return;
    }
    self->reported [0] = 0;
    size_t index;
    json_t *event;
    json_array_foreach (json_object_get (reply, "events"), index, event) {
        json_int_t seq = json_integer_value (json_object_get (event, "seq"));
        if (seq <= 0 || (uint64_t) seq <= self->fetched)
            continue;
        s_enqueue (self, event, (uint64_t) seq);
        self->fetched = (uint64_t) seq;
    }
    json_decref (reply);
}

static bool
s_stop_requested (zsock_t *pipe, int wait_ms)
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
s_hooks_actor (zsock_t *pipe, void *arg)
{
    s_shared_t *shared = arg;
    s_hooks_t self;
    memset (&self, 0, sizeof self);
    self.config = &shared->config;
    self.pipe = pipe;
    self.jobs = zlistx_new ();
    zlistx_set_destructor (self.jobs, s_job_destroy);
    zsock_signal (pipe, 0);
    char path [4200];
    snprintf (path, sizeof path, "%s/hooks.cursor", self.config->state_path);
    FILE *file = fopen (path, "r");
    unsigned long long cursor = 0;
    if (file && fscanf (file, "%llu", &cursor) != 1)
        cursor = 0;
    if (file)
        fclose (file);
    self.fetched = self.saved = cursor;
    log_info ("hooks: %zu hook(s), after delivery %llu", self.config->hook_count, cursor);
    while (true) {
        bool busy = zlistx_size (self.jobs) > 0;
        if (zlistx_size (self.jobs) < MAX_QUEUED)
            s_fetch (&self, busy? 0: INBOX_WAIT_MS);
        s_run (&self);
        s_save_cursor (&self);
        if (s_stop_requested (pipe, zlistx_size (self.jobs)? 100: 0))
            break;
    }
    //  Unfinished jobs run again at restart (the cursor is before them)
    for (s_job_t *job = zlistx_first (self.jobs); job; job = zlistx_next (self.jobs))
        if (job->pid > 0) {
            kill (-job->pid, SIGKILL);
            waitpid (job->pid, NULL, 0);
            log_warn ("hook %s: event %s: stopped with the agent; run again at restart",
                      job->hook->name, job->id);
        }
    zlistx_destroy (&self.jobs);
    pa_client_destroy (&self.client);
}

//  --------------------------------------------------------------------------

pa_hooks_t *
pa_hooks_new (const pa_config_t *config)
{
    pa_hooks_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (config->hook_count == 0)
        return self;
    self->shared = calloc (1, sizeof *self->shared);
    if (!self->shared) {
        free (self);
        return NULL;
    }
    self->shared->config = *config;
    self->shared->actor = zactor_new (s_hooks_actor, self->shared);
    return self;
}

void
pa_hooks_destroy (pa_hooks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pa_hooks_t *self = *self_p;
    if (self->shared) {
        zactor_destroy (&self->shared->actor);
        free (self->shared);
    }
    free (self);
    *self_p = NULL;
}
