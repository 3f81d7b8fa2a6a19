/*  pb_audit: rows, filters, tables, and the log / case / exceptions
 *  commands (see pb_audit.h).
 *
 *  Case and agency questions go through the store's indexes
 *  (pb_store_log_case / _agency), never a scan: a data-subject access
 *  report must stay fast on a log of millions of entries.  */
#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pb_audit.h"
#include "pb_audit_int.h"
#include "pl_directory.h"
#include "pl_envelope.h"
#include "pl_vocab.h"
#include "passerelle.pb-c.h"

//  --------------------------------------------------------------------------
//  Open and close

pb_audit_t *
pb_audit_new (const char *store_dir, const char *directory_path, char *err, size_t err_size)
{
    pb_audit_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    if (!(self->store = pb_store_open (store_dir, 0, true, err, err_size))) {
        free (self);
        return NULL;
    }
    if (directory_path && !(self->directory = pl_directory_load (directory_path, err, err_size))) {
        pb_audit_destroy (&self);
        return NULL;
    }
    self->roles = zhashx_new ();
    zhashx_set_destructor (self->roles, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
pb_audit_destroy (pb_audit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_audit_t *self = *self_p;
    pb_store_destroy (&self->store);
    pl_directory_destroy (&self->directory);
    zhashx_destroy (&self->roles);
    free (self);
    *self_p = NULL;
}

pb_store_t *
pb_audit_store (pb_audit_t *self)
{
    return self->store;
}

const char *
pb_audit_roles (pb_audit_t *self, const char *agency)
{
    if (!agency || !*agency)
        return "";
    const char *known = zhashx_lookup (self->roles, agency);
    if (known)
        return known;
    const pl_agency_t *found = self->directory? pl_directory_lookup (self->directory, agency): NULL;
    char buf [512] = "?";
    if (found && found->roles) {
        pl_vocab_format_set (PL_KIND_ROLE, found->roles, buf, sizeof buf);
        //  "a+b", not "a,b": a role pair is then one CSV-friendly token
        for (char *c = buf; *c; c++)
            if (*c == ',')
                *c = '+';
    }
    zhashx_insert (self->roles, agency, strdup (buf));
    return zhashx_lookup (self->roles, agency);
}

uint64_t
pb_audit_snapshot (pb_audit_t *self)
{
    return pb_store_log_size (self->store);
}

//  --------------------------------------------------------------------------
//  Rows

static const char *
s_str (const char *text)
{
    return text? text: "";
}

int
pb_audit_rows (uint64_t index, const uint8_t *entry, size_t size, pb_audit_row_fn *fn, void *arg)
{
    Passerelle__LogEntry *e = passerelle__log_entry__unpack (NULL, size, entry);
    if (!e)
        return -1;
    pb_audit_row_t row;
    memset (&row, 0, sizeof row);
    row.index = index;
    row.at_ms = e->at_ms;
    row.kind = s_str (e->kind);
    row.case_ref = s_str (e->case_ref);
    row.from = s_str (e->publisher);
    row.to = s_str (e->agency);
    row.event_type = s_str (e->event_type);
    row.purpose = s_str (e->purpose);
    row.basis = s_str (e->legal_basis);
    row.decision = row.code = row.rule = row.category = "";
    row.justification = s_str (e->justification);
    row.consent_id = s_str (e->consent_id);
    row.status = s_str (e->status);
    row.detail = s_str (e->detail);
    row.received_at_ms = e->received_at_ms;
    size_t used = 0;
    for (size_t i = 0; i < e->n_categories; i++) {
        int n = snprintf (row.categories + used, sizeof row.categories - used, "%s%s",
                          i? ",": "", s_str (e->categories [i]));
        if (n < 0 || (size_t) n >= sizeof row.categories - used)
            break;
        used += (size_t) n;
    }
    if (e->event_id.len == PL_EVENT_ID_SIZE)
        pl_event_id_hex (e->event_id.data, row.event_id);
    //  Broker notes name no publisher: the broker wrote them
    int rc = 0;
    if (e->n_decisions == 0)
        rc = fn (&row, arg);
    for (size_t i = 0; rc == 0 && i < e->n_decisions; i++) {
        const Passerelle__LogDecision *d = e->decisions [i];
        row.has_decision = true;
        row.to = s_str (d->recipient);
        row.decision = d->allowed? "allow": "deny";
        row.code = s_str (d->code);
        row.rule = s_str (d->rule);
        row.category = s_str (d->category);
        row.needs_review = d->needs_review;
        rc = fn (&row, arg);
    }
    passerelle__log_entry__free_unpacked (e, NULL);
    return rc;
}

//  --------------------------------------------------------------------------
//  Filters

void
pb_audit_filter_init (pb_audit_filter_t *filter)
{
    memset (filter, 0, sizeof *filter);
    filter->role = -1;
}

int
pb_audit_filter_set (pb_audit_filter_t *filter, const char *name, const char *value,
                     char *err, size_t err_size)
{
    if (!value || !*value) {
        snprintf (err, err_size, "--%s needs a value", name);
        return -1;
    }
    if (streq (name, "case"))
        filter->case_ref = value;
    else
    if (streq (name, "agency"))
        filter->agency = value;
    else
    if (streq (name, "role")) {
        if ((filter->role = pl_vocab_id (PL_KIND_ROLE, value)) < 0) {
            snprintf (err, err_size, "unknown role '%s'", value);
            return -1;
        }
    }
    else
    if (streq (name, "type")) {
        static const char *kinds [] = { "publish", "correction", "consent_given",
            "consent_withdrawn", "refusal", "receipt", "notice", "expiry", "sequence_gap",
            "late_escalation", "policy_load", "directory_load", NULL };
        bool known = pl_vocab_id (PL_KIND_EVENT_TYPE, value) >= 0;
        for (size_t i = 0; !known && kinds [i]; i++)
            known = streq (kinds [i], value);
        if (!known) {
            snprintf (err, err_size, "unknown type '%s' (an entry kind or an event type)", value);
            return -1;
        }
        filter->type = value;
    }
    else
    if (streq (name, "decision")) {
        if (streq (value, "allow"))
            filter->decision = 1;
        else
        if (streq (value, "deny"))
            filter->decision = 2;
        else {
            snprintf (err, err_size, "--decision is allow or deny, not '%s'", value);
            return -1;
        }
    }
    else
    if (streq (name, "basis")) {
        if (pl_vocab_id (PL_KIND_BASIS, value) < 0) {
            snprintf (err, err_size, "unknown legal basis '%s'", value);
            return -1;
        }
        filter->basis = value;
    }
    else
    if (streq (name, "reason"))
        filter->reason = value;
    else
    if (streq (name, "since") || streq (name, "until")) {
        bool until = streq (name, "until");
        if (pb_audit_parse_time (value, until, until? &filter->until_ms: &filter->since_ms) != 0) {
            snprintf (err, err_size, "--%s: '%s' is not a date (YYYY-MM-DD or "
                      "YYYY-MM-DDTHH:MM[:SS]Z, UTC)", name, value);
            return -1;
        }
    }
    else {
        snprintf (err, err_size, "unknown filter --%s", name);
        return -1;
    }
    return 0;
}

static bool
s_has_role (pb_audit_t *self, const char *agency, int role)
{
    const pl_agency_t *a = self->directory && *agency?
                           pl_directory_lookup (self->directory, agency): NULL;
    return a && PL_SET_HAS (a->roles, role);
}

bool
pb_audit_filter_match (pb_audit_t *self, const pb_audit_filter_t *f, const pb_audit_row_t *row)
{
    if (f->case_ref && !streq (f->case_ref, row->case_ref))
        return false;
    if (f->agency && !streq (f->agency, row->from) && !streq (f->agency, row->to))
        return false;
    if (f->role >= 0 && !(self && (s_has_role (self, row->from, f->role)
                                || s_has_role (self, row->to, f->role))))
        return false;
    if (f->type && !streq (f->type, row->kind) && !streq (f->type, row->event_type))
        return false;
    if (f->decision == 1 && !streq (row->decision, "allow"))
        return false;
    if (f->decision == 2 && !streq (row->decision, "deny"))
        return false;
    if (f->basis && !streq (f->basis, row->basis))
        return false;
    if (f->reason && !streq (f->reason, row->code))
        return false;
    if (f->since_ms && row->at_ms < f->since_ms)
        return false;
    if (f->until_ms && row->at_ms >= f->until_ms)
        return false;
    return true;
}

int
pb_audit_parse_time (const char *text, bool end, uint64_t *ms)
{
    if (!text || !*text)
        return -1;
    size_t len = strlen (text);
    if (strspn (text, "0123456789") == len && len <= 15) {
        *ms = strtoull (text, NULL, 10);
        return 0;
    }
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, s = 0, used = 0;
    if (sscanf (text, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
        return -1;
    bool date_only = text [10] == 0;
    if (!date_only) {
        const char *t = text + 10;
        if (*t != 'T' && *t != ' ')
            return -1;
        int n = 0;
        if (sscanf (t + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
            return -1;
        t += 1 + n;
        if (*t == ':') {
            if (sscanf (t + 1, "%2d%n", &s, &n) != 1 || n != 2)
                return -1;
            t += 1 + n;
        }
        if (*t == 'Z')
            t++;
        if (*t)
            return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d + (date_only && end? 1: 0);
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm (&tm);
    if (t == (time_t) -1)
        return -1;
    *ms = (uint64_t) t * 1000;
    return 0;
}

char *
pb_audit_format_time (uint64_t ms, char *buf)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    snprintf (buf, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
              (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u,
              (unsigned) tm.tm_mday % 100u, (unsigned) tm.tm_hour % 100u,
              (unsigned) tm.tm_min % 100u, (unsigned) tm.tm_sec % 100u,
              (unsigned) (ms % 1000));
    return buf;
}

//  --------------------------------------------------------------------------
//  Tables

struct _pb_audit_table_t {
    FILE *out;
    pb_audit_format_t format;
    size_t columns;
    char **names;
    bool *numeric;
    size_t *width;
    zlistx_t *rows;                 //  char ** of columns cells, table only
    size_t count;
};

void
pb_audit_csv_field (FILE *out, const char *text)
{
    if (!strpbrk (text, ",\"\r\n")) {
        fputs (text, out);
        return;
    }
    fputc ('"', out);
    for (const char *c = text; *c; c++) {
        if (*c == '"')
            fputc ('"', out);
        fputc (*c, out);
    }
    fputc ('"', out);
}

static void
s_row_free (void **item)
{
    free (*item);
    *item = NULL;
}

pb_audit_table_t *
pb_audit_table_new (FILE *out, pb_audit_format_t format, const char *const *columns)
{
    pb_audit_table_t *self = calloc (1, sizeof *self);
    while (columns [self->columns])
        self->columns++;
    self->out = out;
    self->format = format;
    self->names = calloc (self->columns, sizeof (char *));
    self->numeric = calloc (self->columns, sizeof (bool));
    self->width = calloc (self->columns, sizeof (size_t));
    self->rows = zlistx_new ();
    zlistx_set_destructor (self->rows, s_row_free);
    for (size_t i = 0; i < self->columns; i++) {
        size_t len = strlen (columns [i]);
        self->numeric [i] = len && columns [i][len - 1] == '#';
        self->names [i] = strndup (columns [i], self->numeric [i]? len - 1: len);
        self->width [i] = strlen (self->names [i]);
    }
    if (format == PB_AUDIT_CSV) {
        for (size_t i = 0; i < self->columns; i++) {
            if (i)
                fputc (',', out);
            //  CSV and JSON use lower-case names
            for (char *c = self->names [i]; *c; c++)
                fputc (*c >= 'A' && *c <= 'Z'? *c - 'A' + 'a': *c, out);
        }
        fputc ('\n', out);
    }
    return self;
}

void
pb_audit_table_row (pb_audit_table_t *self, const char *const *cells)
{
    self->count++;
    if (self->format == PB_AUDIT_CSV) {
        for (size_t i = 0; i < self->columns; i++) {
            if (i)
                fputc (',', self->out);
            pb_audit_csv_field (self->out, cells [i]? cells [i]: "");
        }
        fputc ('\n', self->out);
    }
    else
    if (self->format == PB_AUDIT_JSON) {
        json_t *object = json_object ();
        for (size_t i = 0; i < self->columns; i++) {
            char key [64];
            snprintf (key, sizeof key, "%s", self->names [i]);
            for (char *c = key; *c; c++)
                *c = *c >= 'A' && *c <= 'Z'? *c - 'A' + 'a': *c;
            const char *cell = cells [i]? cells [i]: "";
            json_object_set_new (object, key, self->numeric [i] && *cell?
                                 json_integer ((json_int_t) strtoll (cell, NULL, 10)):
                                 json_string (cell));
        }
        char *text = json_dumps (object, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf (self->out, "%s\n", text? text: "{}");
        free (text);
        json_decref (object);
    }
    else {
        //  One block: the pointer array, then the strings
        size_t bytes = self->columns * sizeof (char *);
        for (size_t i = 0; i < self->columns; i++)
            bytes += strlen (cells [i] && *cells [i]? cells [i]: "-") + 1;
        char **row = malloc (bytes);
        char *text = (char *) (row + self->columns);
        for (size_t i = 0; i < self->columns; i++) {
            const char *cell = cells [i] && *cells [i]? cells [i]: "-";
            size_t len = strlen (cell);
            memcpy (text, cell, len + 1);
            row [i] = text;
            text += len + 1;
            if (len > self->width [i])
                self->width [i] = len;
        }
        zlistx_add_end (self->rows, row);
    }
}

size_t
pb_audit_table_rows (pb_audit_table_t *self)
{
    return self->count;
}

static void
s_print_line (pb_audit_table_t *self, char *const *cells)
{
    for (size_t i = 0; i < self->columns; i++) {
        if (i + 1 == self->columns)
            fprintf (self->out, "%s\n", cells [i]);
        else
            fprintf (self->out, "%-*s  ", (int) self->width [i], cells [i]);
    }
}

void
pb_audit_table_end (pb_audit_table_t **self_p)
{
    pb_audit_table_t *self = *self_p;
    if (!self)
        return;
    //  An empty table prints nothing, not a lone header
    if (self->format == PB_AUDIT_TABLE && self->count) {
        s_print_line (self, self->names);
        for (char **row = zlistx_first (self->rows); row; row = zlistx_next (self->rows))
            s_print_line (self, row);
    }
    zlistx_destroy (&self->rows);
    for (size_t i = 0; i < self->columns; i++)
        free (self->names [i]);
    free (self->names);
    free (self->numeric);
    free (self->width);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Walking the log below the snapshot, by index when a filter allows

typedef struct {
    pb_audit_t *audit;
    uint64_t size;                  //  snapshot
    pb_audit_row_fn *fn;
    void *arg;
    int bad;                        //  entries that did not parse
} s_walk_t;

#define S_STOP 0x5705               //  callback code: past the snapshot

static int
s_walk_entry (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    s_walk_t *walk = arg;
    if (index >= walk->size)
        return S_STOP;
    int rc = pb_audit_rows (index, entry, size, walk->fn, walk->arg);
    if (rc == -1) {
        //  Say so, and go on: one unreadable entry must not hide the others
        fprintf (stderr, "passerelle-audit: entry %llu is not a readable log entry\n",
                 (unsigned long long) index);
        walk->bad++;
        rc = 0;
    }
    return rc;
}

int
pb_audit_walk (pb_audit_t *self, const char *case_ref, const char *agency, uint64_t from,
               uint64_t size, pb_audit_row_fn *fn, void *arg)
{
    s_walk_t walk = { self, size, fn, arg, 0 };
    int rc = case_ref? pb_store_log_case (self->store, case_ref, from, s_walk_entry, &walk):
             agency? pb_store_log_agency (self->store, agency, from, s_walk_entry, &walk):
             pb_store_log_range (self->store, from, size, s_walk_entry, &walk);
    if (rc == S_STOP)
        rc = 0;
    if (rc < 0) {
        fprintf (stderr, "passerelle-audit: cannot read the log: %s\n",
                 pb_store_error (self->store));
        return PB_AUDIT_ERROR;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  log

static const char *s_log_columns [] = { "INDEX#", "TIME", "KIND", "CASE", "FROM", "TO",
    "TYPE", "DECISION", "CODE", "RULE", "BASIS", "PURPOSE", "CATEGORIES", "REVIEW", "EVENT",
    NULL };

typedef struct {
    pb_audit_t *audit;
    const pb_audit_filter_t *filter;
    pb_audit_table_t *table;
} s_log_t;

static int
s_log_row (const pb_audit_row_t *row, void *arg)
{
    s_log_t *log = arg;
    if (!pb_audit_filter_match (log->audit, log->filter, row))
        return 0;
    char index [24], at [32];
    snprintf (index, sizeof index, "%llu", (unsigned long long) row->index);
    //  Decisions carry a code; entries without one, their status
    const char *code = row->has_decision? row->code: streq (row->status, "ok")? "": row->status;
    const char *cells [] = { index, pb_audit_format_time (row->at_ms, at), row->kind,
        row->case_ref, row->from, row->to, row->event_type, row->decision, code, row->rule,
        row->basis, row->purpose, row->categories, row->needs_review? "no-consent": "",
        row->event_id };
    pb_audit_table_row (log->table, cells);
    return 0;
}

int
pb_audit_log (pb_audit_t *self, const pb_audit_filter_t *filter, pb_audit_format_t format,
              FILE *out)
{
    s_log_t log = { self, filter, pb_audit_table_new (out, format, s_log_columns) };
    int rc = pb_audit_walk (self, filter->case_ref, filter->agency, 0,
                            pb_audit_snapshot (self), s_log_row, &log);
    pb_audit_table_end (&log.table);
    return rc;
}

//  --------------------------------------------------------------------------
//  exceptions: shares without consent, for the DPO

static const char *s_exception_columns [] = { "INDEX#", "TIME", "CASE", "FROM", "TO",
    "TYPE", "BASIS", "RULE", "PURPOSE", "CATEGORIES", "JUSTIFICATION", NULL };

static int
s_exception_row (const pb_audit_row_t *row, void *arg)
{
    s_log_t *log = arg;
    if (!row->needs_review || !streq (row->decision, "allow")
    ||  !pb_audit_filter_match (log->audit, log->filter, row))
        return 0;
    char index [24], at [32];
    snprintf (index, sizeof index, "%llu", (unsigned long long) row->index);
    const char *cells [] = { index, pb_audit_format_time (row->at_ms, at), row->case_ref,
        row->from, row->to, row->event_type, row->basis, row->rule, row->purpose,
        row->categories, row->justification };
    pb_audit_table_row (log->table, cells);
    return 0;
}

int
pb_audit_exceptions (pb_audit_t *self, const pb_audit_filter_t *filter,
                     pb_audit_format_t format, FILE *out)
{
    s_log_t log = { self, filter, pb_audit_table_new (out, format, s_exception_columns) };
    int rc = pb_audit_walk (self, filter->case_ref, filter->agency, 0,
                            pb_audit_snapshot (self), s_exception_row, &log);
    pb_audit_table_end (&log.table);
    return rc;
}
