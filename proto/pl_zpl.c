/*  pl_zpl: ZPL files with line numbers (see pl_zpl.h).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <libgen.h>
#include "pl_zpl.h"

typedef struct {
    zconfig_t *node;
    int line;
} node_line_t;

struct _pl_zpl_t {
    char *name;
    zconfig_t *root;
    node_line_t *lines;     //  sorted by node address for bsearch
    size_t line_count;
};

static int
s_compare_nodes (const void *a, const void *b)
{
    const node_line_t *x = a, *y = b;
    return x->node < y->node? -1: x->node > y->node? 1: 0;
}

static bool
s_line_is_meaningful (const char *line)
{
    while (*line == ' ' || *line == '\t' || *line == '\r')
        line++;
    return *line && *line != '\n' && *line != '#';
}

//  Walk the tree in pre-order, pairing nodes with meaningful lines in order.
static void
s_pair (zconfig_t *node, int *lines, size_t line_total, node_line_t *out, size_t *used)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        out [*used].node = child;
        out [*used].line = *used < line_total? lines [*used]: 0;
        (*used)++;
        s_pair (child, lines, line_total, out, used);
    }
}

static size_t
s_count_nodes (zconfig_t *node)
{
    size_t count = 0;
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child))
        count += 1 + s_count_nodes (child);
    return count;
}

//  zconfig reports "(N) message" through the CZMQ log; turn it into ours.
static void
s_syntax_error (const char *name, const char *captured, char *err, size_t err_size)
{
    //  The logger writes "E (zconfig): (3) indent 4 spaces at once"
    for (const char *scan = strchr (captured, '('); scan; scan = strchr (scan + 1, '(')) {
        char *end;
        long line = strtol (scan + 1, &end, 10);
        if (end != scan + 1 && *end == ')') {
            const char *what = end + 1;
            while (*what == ' ')
                what++;
            size_t len = strcspn (what, "\n");
            snprintf (err, err_size, "%s:%ld: syntax error: %.*s", name, line, (int) len, what);
            return;
        }
    }
    snprintf (err, err_size, "%s: not a valid ZPL file (expected 'name = value' lines "
              "indented by 4 spaces per level)", name);
}

pl_zpl_t *
pl_zpl_load_text (const char *name, const char *text, char *err, size_t err_size)
{
    //  zconfig reports syntax errors with zclock_log, which writes straight
    //  to stdout; catch that text so we can say it with file and line.
    //  Daemons write nothing else to stdout, so the window is safe.
    char captured [512] = "";
    FILE *capture = tmpfile ();
    int saved_stdout = -1;
    if (capture) {
        fflush (stdout);
        saved_stdout = dup (STDOUT_FILENO);
        if (saved_stdout >= 0)
            dup2 (fileno (capture), STDOUT_FILENO);
    }
    zconfig_t *root = zconfig_str_load (text);
    if (saved_stdout >= 0) {
        fflush (stdout);
        dup2 (saved_stdout, STDOUT_FILENO);
        close (saved_stdout);
        rewind (capture);
        size_t got = fread (captured, 1, sizeof captured - 1, capture);
        captured [got] = 0;
    }
    if (capture)
        fclose (capture);
    if (!root) {
        s_syntax_error (name, captured, err, err_size);
        return NULL;
    }

    pl_zpl_t *self = calloc (1, sizeof *self);
    if (!self) {
        zconfig_destroy (&root);
        snprintf (err, err_size, "%s: out of memory", name);
        return NULL;
    }
    self->name = strdup (name);
    self->root = root;

    //  Line numbers of the meaningful lines, in order
    size_t line_cap = 64, line_total = 0;
    int *lines = malloc (line_cap * sizeof *lines);
    int number = 0;
    const char *cursor = text;
    while (lines && *cursor) {
        number++;
        const char *eol = strchr (cursor, '\n');
        size_t len = eol? (size_t) (eol - cursor): strlen (cursor);
        char buffer [256];
        snprintf (buffer, sizeof buffer, "%.*s", (int) (len < 255? len: 255), cursor);
        if (s_line_is_meaningful (buffer)) {
            if (line_total == line_cap) {
                line_cap *= 2;
                int *grown = realloc (lines, line_cap * sizeof *lines);
                if (!grown)
                    break;
                lines = grown;
            }
            lines [line_total++] = number;
        }
        cursor = eol? eol + 1: cursor + len;
    }
    size_t node_total = s_count_nodes (root);
    self->lines = calloc (node_total? node_total: 1, sizeof *self->lines);
    if (self->lines && lines) {
        size_t used = 0;
        s_pair (root, lines, line_total, self->lines, &used);
        //  If the counts differ our pairing assumption broke: forget lines
        //  rather than name wrong ones.
        self->line_count = line_total == node_total? used: 0;
        qsort (self->lines, self->line_count, sizeof *self->lines, s_compare_nodes);
    }
    free (lines);
    return self;
}

pl_zpl_t *
pl_zpl_load (const char *path, char *err, size_t err_size)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, err_size, "%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    //  Config files are small; refuse anything absurd rather than read it
    const long limit = 16L * 1024 * 1024;
    char *text = malloc ((size_t) limit + 1);
    size_t size = text? fread (text, 1, (size_t) limit + 1, file): 0;
    int read_error = ferror (file);
    fclose (file);
    if (!text || read_error || size > (size_t) limit) {
        snprintf (err, err_size, "%s: %s", path, !text? "out of memory":
                  read_error? "read error": "larger than 16 MiB, not a config file");
        free (text);
        return NULL;
    }
    text [size] = 0;
    if (strlen (text) != size) {
        snprintf (err, err_size, "%s: contains a NUL byte, not a text file", path);
        free (text);
        return NULL;
    }
    pl_zpl_t *self = pl_zpl_load_text (path, text, err, err_size);
    free (text);
    return self;
}

void
pl_zpl_destroy (pl_zpl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pl_zpl_t *self = *self_p;
    zconfig_destroy (&self->root);
    free (self->lines);
    free (self->name);
    free (self);
    *self_p = NULL;
}

zconfig_t *
pl_zpl_root (pl_zpl_t *self)
{
    return self->root;
}

const char *
pl_zpl_name (pl_zpl_t *self)
{
    return self->name;
}

int
pl_zpl_line (pl_zpl_t *self, zconfig_t *node)
{
    node_line_t key = { node, 0 };
    node_line_t *found = bsearch (&key, self->lines, self->line_count,
                                  sizeof *self->lines, s_compare_nodes);
    return found? found->line: 0;
}

void
pl_zpl_error (pl_zpl_t *self, zconfig_t *node, char *err, size_t err_size,
              const char *fmt, ...)
{
    char message [1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    int line = node? pl_zpl_line (self, node): 0;
    if (line)
        snprintf (err, err_size, "%s:%d: %s", self->name, line, message);
    else
        snprintf (err, err_size, "%s: %s", self->name, message);
}

int
pl_zpl_check_names (pl_zpl_t *self, zconfig_t *node, const char **allowed,
                    char *err, size_t err_size)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        bool known = false;
        for (const char **a = allowed; *a && !known; a++)
            known = strcmp (*a, name) == 0;
        if (!known) {
            char expected [512] = "";
            for (const char **a = allowed; *a; a++) {
                strncat (expected, *a, sizeof expected - strlen (expected) - 1);
                if (a [1])
                    strncat (expected, ", ", sizeof expected - strlen (expected) - 1);
            }
            pl_zpl_error (self, child, err, err_size, "unknown setting '%s' in '%s' "
                          "(expected one of: %s)", name, zconfig_name (node), expected);
            return -1;
        }
    }
    return 0;
}

void
pl_zpl_resolve_path (const char *config_path, const char *value, char *out, size_t size)
{
    if (value [0] == '/') {
        snprintf (out, size, "%s", value);
        return;
    }
    char copy [4096];
    snprintf (copy, sizeof copy, "%s", config_path);
    snprintf (out, size, "%s/%s", dirname (copy), value);
}
