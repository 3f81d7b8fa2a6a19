/*  pe_net: real processes on 127.0.0.1 for end-to-end tests (see pe_net.h).
 *  Deliberately plain POSIX (fork, exec, pipes, poll): the harness must not
 *  share code paths with what it tests.  */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "pe_net.h"
#include "pe_port.h"

#define MAX_AGENCIES 16

typedef struct {
    char id [65];
    char roles [256];
    char network [65];
    bool in_directory;
    pid_t pid;
} agency_t;

struct _pe_net_t {
    char dir [256];
    char bin [1024];
    char tools [1024];
    char policy [1024];
    char endpoint [64];
    pid_t broker_pid;
    agency_t agencies [MAX_AGENCIES];
    size_t count;
};

static long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    char *text = NULL;
    size_t size = 0;
    if (file) {
        fseek (file, 0, SEEK_END);
        size = (size_t) ftell (file);
        rewind (file);
        text = malloc (size + 1);
        size = fread (text, 1, size, file);
        fclose (file);
    }
    if (!text)
        text = malloc (1);
    text [size] = 0;
    return text;
}

static int
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    fputs (text, file);
    return fclose (file);
}

//  --------------------------------------------------------------------------
//  Processes

static pid_t
s_spawn_daemon (char *const argv [], const char *log_path)
{
    pid_t pid = fork ();
    if (pid == 0) {
        int log = open (log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open ("/dev/null", O_RDWR);
        dup2 (null, 0);
        dup2 (log, 1);
        dup2 (log, 2);
        execv (argv [0], argv);
        _exit (127);
    }
    return pid;
}

static void
s_kill (pid_t *pid, int sig)
{
    if (*pid > 0) {
        kill (*pid, sig);
        //  Wait up to 5 s, then insist
        for (int i = 0; i < 500; i++) {
            if (waitpid (*pid, NULL, WNOHANG) == *pid) {
                *pid = 0;
                return;
            }
            usleep (10000);
        }
        kill (*pid, SIGKILL);
        waitpid (*pid, NULL, 0);
        *pid = 0;
    }
}

pe_result_t
pe_run (char *const argv [], const char *stdin_text, int timeout_ms)
{
    pe_result_t result = { -1, NULL, NULL };
    int in [2], out [2], err [2];
    if (pipe (in) || pipe (out) || pipe (err))
        return result;
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (in [0], 0);
        dup2 (out [1], 1);
        dup2 (err [1], 2);
        close (in [1]);
        close (out [0]);
        close (err [0]);
        execv (argv [0], argv);
        _exit (127);
    }
    close (in [0]);
    close (out [1]);
    close (err [1]);
    if (stdin_text) {
        size_t left = strlen (stdin_text);
        const char *cursor = stdin_text;
        while (left > 0) {
            ssize_t n = write (in [1], cursor, left);
            if (n <= 0)
                break;
            cursor += n;
            left -= (size_t) n;
        }
    }
    close (in [1]);
    size_t sizes [2] = { 0, 0 }, caps [2] = { 4096, 4096 };
    char *bufs [2] = { malloc (caps [0]), malloc (caps [1]) };
    struct pollfd fds [2] = { { out [0], POLLIN, 0 }, { err [0], POLLIN, 0 } };
    long deadline = s_now_ms () + timeout_ms;
    int open_fds = 2;
    while (open_fds > 0 && s_now_ms () < deadline) {
        if (poll (fds, 2, 100) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds [i].fd < 0 || !(fds [i].revents & (POLLIN | POLLHUP)))
                continue;
            if (sizes [i] + 4096 > caps [i])
                bufs [i] = realloc (bufs [i], caps [i] *= 2);
            ssize_t n = read (fds [i].fd, bufs [i] + sizes [i], caps [i] - sizes [i] - 1);
            if (n <= 0) {
                close (fds [i].fd);
                fds [i].fd = -1;
                open_fds--;
            }
            else
                sizes [i] += (size_t) n;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fds [i].fd >= 0)
            close (fds [i].fd);
        bufs [i][sizes [i]] = 0;
    }
    int status = 0;
    if (open_fds > 0) {
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
        result.status = -1;
    }
    else {
        waitpid (pid, &status, 0);
        result.status = WIFEXITED (status)? WEXITSTATUS (status): 128 + WTERMSIG (status);
    }
    result.out = bufs [0];
    result.err = bufs [1];
    return result;
}

void
pe_result_free (pe_result_t *result)
{
    free (result->out);
    free (result->err);
    result->out = result->err = NULL;
}

//  --------------------------------------------------------------------------
//  The network

pe_net_t *
pe_net_new (void)
{
    pe_net_t *self = calloc (1, sizeof *self);
    const char *bin = getenv ("PASSERELLE_BIN");
    const char *tools = getenv ("PASSERELLE_TOOLS");
    snprintf (self->bin, sizeof self->bin, "%s", bin? bin: "build/bin");
    snprintf (self->tools, sizeof self->tools, "%s", tools? tools: "build/tests/tools");
    const char *policy = getenv ("PASSERELLE_POLICY");
    if (!realpath (policy? policy: "policy/move.cfg", self->policy))
        snprintf (self->policy, sizeof self->policy, "%s", policy? policy: "policy/move.cfg");
    snprintf (self->dir, sizeof self->dir, "/tmp/passerelle-e2e.XXXXXX");
    if (!mkdtemp (self->dir)) {
        free (self);
        return NULL;
    }
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", pe_port_free ());
    char keygen [1100];
    snprintf (keygen, sizeof keygen, "%s/passerelle", self->bin);
    char *argv [] = { keygen, "keygen", "--id", "broker", "--out", self->dir, NULL };
    pe_result_t r = pe_run (argv, NULL, 10000);
    int status = r.status;
    pe_result_free (&r);
    //  Each network gets its own copy of the policy, so a test may change it
    char *policy_text = s_read_file (self->policy);
    snprintf (self->policy, sizeof self->policy, "%s/policy.cfg", self->dir);
    int copied = *policy_text? s_write_file (self->policy, policy_text): -1;
    free (policy_text);
    if (status != 0 || copied != 0) {
        pe_net_destroy (&self);
        return NULL;
    }
    return self;
}

//  Under check-asan the daemons are sanitized too, but what they report goes
//  to their logs: read them, so that a leak or overflow fails the test.
static bool
s_logs_are_clean (pe_net_t *self)
{
    static const char *alarms [] = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                     "runtime error:", NULL };
    bool clean = true;
    for (size_t i = 0; i <= self->count; i++) {
        const char *who = i < self->count? self->agencies [i].id: "broker";
        char *log = pe_net_log (self, who);
        for (const char **alarm = alarms; *alarm; alarm++)
            if (strstr (log, *alarm)) {
                fprintf (stderr, "pe_net: %s's log holds a sanitizer report:\n%s\n", who,
                         strstr (log, *alarm));
                clean = false;
                break;
            }
        free (log);
    }
    return clean;
}

void
pe_net_destroy (pe_net_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pe_net_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        s_kill (&self->agencies [i].pid, SIGTERM);
    s_kill (&self->broker_pid, SIGTERM);
    if (!s_logs_are_clean (self)) {
        fprintf (stderr, "pe_net: logs kept in %s\n", self->dir);
        abort ();                       //  fails the test that owns this network
    }
    if (!getenv ("PASSERELLE_KEEP")) {
        char command [512];
        snprintf (command, sizeof command, "rm -rf '%s'", self->dir);
        if (system (command) != 0)
            fprintf (stderr, "pe_net: could not remove %s\n", self->dir);
    }
    free (self);
    *self_p = NULL;
}

const char *pe_net_dir (pe_net_t *self) { return self->dir; }
const char *pe_net_endpoint (pe_net_t *self) { return self->endpoint; }

char *
pe_net_path (pe_net_t *self, const char *name)
{
    static char path [1024];
    snprintf (path, sizeof path, "%s/%s", self->dir, name);
    return path;
}

static agency_t *
s_agency (pe_net_t *self, const char *id)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->agencies [i].id, id) == 0)
            return &self->agencies [i];
    return NULL;
}

static void
s_public_key (pe_net_t *self, const char *id, char *out, size_t size)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/%s.pub", self->dir, id);
    char *text = s_read_file (path);
    const char *line = strstr (text, "\npublic-key = \"");
    out [0] = 0;
    if (line)
        snprintf (out, size, "%.44s", line + 15);
    free (text);
}

int
pe_net_add_agency (pe_net_t *self, const char *id, const char *roles, const char *network,
                   bool in_directory)
{
    if (self->count == MAX_AGENCIES)
        return -1;
    char keygen [1100];
    snprintf (keygen, sizeof keygen, "%s/passerelle", self->bin);
    char *argv [] = { keygen, "keygen", "--id", (char *) id, "--out", self->dir, NULL };
    pe_result_t r = pe_run (argv, NULL, 10000);
    int status = r.status;
    pe_result_free (&r);
    if (status != 0)
        return -1;
    agency_t *agency = &self->agencies [self->count++];
    snprintf (agency->id, sizeof agency->id, "%s", id);
    snprintf (agency->roles, sizeof agency->roles, "%s", roles);
    snprintf (agency->network, sizeof agency->network, "%s", network);
    agency->in_directory = in_directory;
    char path [1100], text [2048];
    snprintf (path, sizeof path, "%s/%s.cfg", self->dir, id);
    snprintf (text, sizeof text, "agent\n    key = %s.key\n    broker = %s\n"
              "    broker-key = broker.pub\n    state = %s-state\n    heartbeat = 500ms\n"
              "    publish-timeout = 5s\n", id, self->endpoint, id);
    return s_write_file (path, text);
}

int
pe_net_write_directory (pe_net_t *self, const char *omit)
{
    char *text = calloc (1, 64 * 1024);
    for (size_t i = 0; i < self->count; i++) {
        agency_t *agency = &self->agencies [i];
        if (!agency->in_directory || (omit && strcmp (omit, agency->id) == 0))
            continue;
        char key [64], entry [1024];
        s_public_key (self, agency->id, key, sizeof key);
        snprintf (entry, sizeof entry, "agency\n    id = %s\n    name = \"%s (test)\"\n"
                  "    roles = %s\n    network = %s\n    public-key = \"%s\"\n",
                  agency->id, agency->id, agency->roles, agency->network, key);
        strcat (text, entry);
    }
    //  Replace atomically: the broker may be reading it on SIGHUP
    char temp [1100], path [1100];
    snprintf (temp, sizeof temp, "%s/directory.cfg.tmp", self->dir);
    snprintf (path, sizeof path, "%s/directory.cfg", self->dir);
    int rc = s_write_file (temp, text) == 0 && rename (temp, path) == 0? 0: -1;
    free (text);
    return rc;
}

int
pe_net_start_broker (pe_net_t *self, const char *extra)
{
    char path [1100], text [2048], log [1100], bin [1100];
    snprintf (path, sizeof path, "%s/broker.cfg", self->dir);
    snprintf (text, sizeof text, "broker\n    key = broker.key\n    endpoint = %s\n"
              "    directory = directory.cfg\n    policy = %s\n    state = broker-state\n%s",
              self->endpoint, self->policy, extra? extra: "");
    if (s_write_file (path, text) != 0)
        return -1;
    snprintf (log, sizeof log, "%s/broker.log", self->dir);
    snprintf (bin, sizeof bin, "%s/passerelle-broker", self->bin);
    char *argv [] = { bin, "-c", path, NULL };
    self->broker_pid = s_spawn_daemon (argv, log);
    int port = atoi (strrchr (self->endpoint, ':') + 1);
    for (long deadline = s_now_ms () + 10000; s_now_ms () < deadline; usleep (20000)) {
        if (waitpid (self->broker_pid, NULL, WNOHANG) == self->broker_pid) {
            self->broker_pid = 0;
            return -1;
        }
        if (pe_port_open (port))
            return 0;
    }
    return -1;
}

int
pe_net_signal_broker (pe_net_t *self, int sig)
{
    return self->broker_pid > 0? kill (self->broker_pid, sig): -1;
}

int
pe_net_stop_broker (pe_net_t *self)
{
    s_kill (&self->broker_pid, SIGTERM);
    return 0;
}

int
pe_net_kill_broker (pe_net_t *self, int sig)
{
    s_kill (&self->broker_pid, sig);
    return 0;
}

int
pe_net_kill_agent (pe_net_t *self, const char *id, int sig)
{
    agency_t *agency = s_agency (self, id);
    if (agency)
        s_kill (&agency->pid, sig);
    return agency? 0: -1;
}

int
pe_net_start_agent (pe_net_t *self, const char *id, bool wait_connected)
{
    agency_t *agency = s_agency (self, id);
    if (!agency)
        return -1;
    char path [1100], log [1100], bin [1100], sock [1100];
    snprintf (path, sizeof path, "%s/%s.cfg", self->dir, id);
    snprintf (log, sizeof log, "%s/%s.log", self->dir, id);
    snprintf (bin, sizeof bin, "%s/passerelle-agent", self->bin);
    snprintf (sock, sizeof sock, "%s/%s-state/agent.sock", self->dir, id);
    char *argv [] = { bin, "-c", path, NULL };
    agency->pid = s_spawn_daemon (argv, log);
    struct stat st;
    long deadline = s_now_ms () + 10000;
    while (s_now_ms () < deadline && stat (sock, &st) != 0) {
        if (waitpid (agency->pid, NULL, WNOHANG) == agency->pid) {
            agency->pid = 0;
            return -1;
        }
        usleep (20000);
    }
    if (wait_connected)
        return pe_net_wait_connected (self, id, true, 10000)? 0: -1;
    return stat (sock, &st) == 0? 0: -1;
}

int
pe_net_stop_agent (pe_net_t *self, const char *id)
{
    agency_t *agency = s_agency (self, id);
    if (agency)
        s_kill (&agency->pid, SIGTERM);
    return agency? 0: -1;
}

pe_result_t
pe_net_cli (pe_net_t *self, const char *id, const char *stdin_text, ...)
{
    char bin [1100], config [1100];
    snprintf (bin, sizeof bin, "%s/passerelle", self->bin);
    snprintf (config, sizeof config, "%s/%s.cfg", self->dir, id);
    char *argv [64] = { bin, "-c", config };
    int argc = 3;
    va_list args;
    va_start (args, stdin_text);
    const char *arg;
    while ((arg = va_arg (args, const char *)) && argc < 62)
        argv [argc++] = (char *) arg;
    va_end (args);
    argv [argc] = NULL;
    return pe_run (argv, stdin_text, 30000);
}

pe_result_t
pe_net_forge (pe_net_t *self, const char *id, const char *mode, const char *to, ...)
{
    char bin [1100], key [1100], broker_key [1100];
    snprintf (bin, sizeof bin, "%s/passerelle-forge", self->tools);
    snprintf (key, sizeof key, "%s/%s.key", self->dir, id);
    snprintf (broker_key, sizeof broker_key, "%s/broker.pub", self->dir);
    char *argv [64] = { bin, (char *) mode, "--key", key, "--broker-key", broker_key,
                        "--endpoint", self->endpoint, "--to", (char *) to };
    int argc = 10;
    va_list args;
    va_start (args, to);
    const char *arg;
    while ((arg = va_arg (args, const char *)) && argc < 62)
        argv [argc++] = (char *) arg;
    va_end (args);
    argv [argc] = NULL;
    return pe_run (argv, NULL, 15000);
}

char *
pe_net_log (pe_net_t *self, const char *who)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/%s.log", self->dir, who);
    return s_read_file (path);
}

bool
pe_net_wait_connected (pe_net_t *self, const char *id, bool connected, int ms)
{
    for (long deadline = s_now_ms () + ms; s_now_ms () < deadline; usleep (50000)) {
        pe_result_t r = pe_net_cli (self, id, NULL, "status", "--json", NULL);
        bool is = strstr (r.out, "\"connected\":true") != NULL;
        bool answered = strstr (r.out, "\"connected\":") != NULL;
        pe_result_free (&r);
        if (answered && is == connected)
            return true;
    }
    return false;
}

bool
pe_net_wait_log (pe_net_t *self, const char *who, const char *text, int ms)
{
    for (long deadline = s_now_ms () + ms; s_now_ms () < deadline; usleep (50000)) {
        char *log = pe_net_log (self, who);
        bool found = strstr (log, text) != NULL;
        free (log);
        if (found)
            return true;
    }
    return false;
}
