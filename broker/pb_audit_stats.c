/*  pb_audit_stats: the monitoring and evaluation figures (domain.md,
 *  "Monitoring and evaluation"): aggregated counts only, never a case.
 *
 *  A share is an allowed decision of a publish or correction entry (one per
 *  recipient). Role pairs come from the directory: an agency with several
 *  roles counts under "role1+role2", one unknown to it under "?". Delivery
 *  latency is a publish entry's at_ms to the receipt entry's at_ms for the
 *  same event and recipient (both broker clock, so no skew between
 *  agencies); shares not yet delivered are not in it.  */
#include <czmq.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "pb_audit_int.h"

static void
s_add (zhashx_t *hash, const char *key, uint64_t n)
{
    uint64_t *count = zhashx_lookup (hash, key);
    if (!count) {
        count = calloc (1, sizeof *count);
        zhashx_insert (hash, key, count);
    }
    *count += n;
}

uint64_t
pb_audit_count (zhashx_t *hash, const char *key)
{
    uint64_t *count = zhashx_lookup (hash, key);
    return count? *count: 0;
}

static int
s_key_cmp (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

zlistx_t *
pb_audit_sorted_keys (zhashx_t *hash)
{
    zlistx_t *keys = zhashx_keys (hash);
    zlistx_set_comparator (keys, (zlistx_comparator_fn *) s_key_cmp);
    zlistx_sort (keys);
    return keys;
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static zhashx_t *
s_counter (void)
{
    zhashx_t *hash = zhashx_new ();
    zhashx_set_destructor (hash, s_free_item);
    return hash;
}

typedef struct {
    pb_audit_t *audit;
    const pb_audit_filter_t *filter;
    pb_audit_figures_t *f;
} s_stats_t;

static int
s_figures_row (const pb_audit_row_t *row, void *arg)
{
    s_stats_t *s = arg;
    pb_audit_figures_t *f = s->f;
    char key [600];
    //  Receipts carry no case or roles: they count when their share did
    if (streq (row->kind, "receipt")) {
        snprintf (key, sizeof key, "%s/%s", row->event_id, row->to);
        uint64_t *at = zhashx_lookup (f->pending, key);
        if (!at)
            return 0;
        f->receipts++;
        if (f->n_latencies == f->latency_alloc) {
            size_t alloc = f->latency_alloc? f->latency_alloc * 2: 1024;
            uint64_t *more = realloc (f->latencies, alloc * sizeof *more);
            if (!more)
                return -1;
            f->latencies = more;
            f->latency_alloc = alloc;
        }
        f->latencies [f->n_latencies++] = row->at_ms > *at? row->at_ms - *at: 0;
        zhashx_delete (f->pending, key);
        return 0;
    }
    if (!pb_audit_filter_match (s->audit, s->filter, row))
        return 0;
    char day [32];
    pb_audit_format_time (row->at_ms, day);
    day [10] = 0;
    bool share_kind = streq (row->kind, "publish") || streq (row->kind, "correction");
    if (share_kind && streq (row->decision, "allow")) {
        f->shares++;
        if (streq (row->kind, "correction"))
            f->corrections++;
        if (row->needs_review)
            f->without_consent++;
        snprintf (key, sizeof key, "%s\t%s", row->from, row->to);
        s_add (f->agency_pairs, key, 1);
        snprintf (key, sizeof key, "%s\t%s", pb_audit_roles (s->audit, row->from),
                  pb_audit_roles (s->audit, row->to));
        s_add (f->role_pairs, key, 1);
        char categories [256];
        snprintf (categories, sizeof categories, "%s", row->categories);
        char *save = NULL;
        for (char *c = strtok_r (categories, ",", &save); c; c = strtok_r (NULL, ",", &save))
            s_add (f->categories, c, 1);
        s_add (f->purposes, *row->purpose? row->purpose: "-", 1);
        s_add (f->bases, *row->basis? row->basis: "-", 1);
        s_add (f->days, day, 1);
        if (*row->event_id) {
            snprintf (key, sizeof key, "%s/%s", row->event_id, row->to);
            uint64_t *at = malloc (sizeof *at);
            *at = row->at_ms;
            zhashx_update (f->pending, key, at);
        }
    }
    else
    if (row->has_decision && streq (row->decision, "deny")) {
        f->denied++;
        s_add (f->denials, *row->code? row->code: "-", 1);
        s_add (f->day_denials, day, 1);
    }
    if (streq (row->kind, "refusal") && !row->has_decision)
        f->refusals++;
    if (streq (row->kind, "late_escalation"))
        f->late_escalations++;
    else
    if (streq (row->kind, "expiry"))
        f->expiries++;
    else
    if (streq (row->kind, "sequence_gap"))
        f->gaps++;
    else
    if (streq (row->kind, "notice"))
        f->notices++;
    return 0;
}

//  Consent entries count once per entry, not per recipient told.
typedef struct {
    s_stats_t stats;
    uint64_t last_index;
    bool any;
} s_walk_t;

static int
s_walk_row (const pb_audit_row_t *row, void *arg)
{
    s_walk_t *w = arg;
    bool first = !w->any || row->index != w->last_index;
    w->any = true;
    w->last_index = row->index;
    if (first && (streq (row->kind, "consent_given") || streq (row->kind, "consent_withdrawn"))
    &&  pb_audit_filter_match (w->stats.audit, w->stats.filter, row)) {
        if (streq (row->kind, "consent_given"))
            w->stats.f->consents_given++;
        else
            w->stats.f->consents_withdrawn++;
    }
    return s_figures_row (row, &w->stats);
}

static int
s_u64_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y? -1: x > y;
}

int
pb_audit_figures (pb_audit_t *self, const pb_audit_filter_t *filter, pb_audit_figures_t *f)
{
    memset (f, 0, sizeof *f);
    f->agency_pairs = s_counter ();
    f->role_pairs = s_counter ();
    f->categories = s_counter ();
    f->purposes = s_counter ();
    f->bases = s_counter ();
    f->denials = s_counter ();
    f->days = s_counter ();
    f->day_denials = s_counter ();
    f->pending = s_counter ();
    s_walk_t walk = { { self, filter, f }, 0, false };
    //  A case or agency filter can use its index; receipts then come only
    //  through the agency index (they carry no case), so a case filter
    //  walks everything to see them
    int rc = pb_audit_walk (self, NULL, filter->case_ref? NULL: filter->agency, 0,
                            pb_audit_snapshot (self), s_walk_row, &walk);
    if (f->n_latencies)
        qsort (f->latencies, f->n_latencies, sizeof *f->latencies, s_u64_cmp);
    return rc;
}

void
pb_audit_figures_free (pb_audit_figures_t *f)
{
    zhashx_destroy (&f->agency_pairs);
    zhashx_destroy (&f->role_pairs);
    zhashx_destroy (&f->categories);
    zhashx_destroy (&f->purposes);
    zhashx_destroy (&f->bases);
    zhashx_destroy (&f->denials);
    zhashx_destroy (&f->days);
    zhashx_destroy (&f->day_denials);
    zhashx_destroy (&f->pending);
    free (f->latencies);
    f->latencies = NULL;
}

uint64_t
pb_audit_percentile (const uint64_t *sorted, size_t n, unsigned p)
{
    if (n == 0)
        return 0;
    //  Nearest rank: the smallest value with at least p% at or below it
    size_t rank = ((size_t) p * n + 99) / 100;
    return sorted [rank? rank - 1: 0];
}

//  --------------------------------------------------------------------------
//  Printing: text (headed tables), JSON (one object), CSV (section,key,key2,value)

typedef struct {
    FILE *out;
    pb_audit_format_t format;
    json_t *root;
} s_out_t;

static void
s_section (s_out_t *o, const char *title, const char *json_key, zhashx_t *hash,
           const char *col1, const char *col2)
{
    zlistx_t *keys = pb_audit_sorted_keys (hash);
    if (o->format == PB_AUDIT_TABLE) {
        fprintf (o->out, "\n%s:\n", title);
        if (zlistx_size (keys) == 0)
            fprintf (o->out, "none\n");
        const char *columns [] = { col1, col2? col2: "COUNT#", col2? "COUNT#": NULL, NULL };
        pb_audit_table_t *table = pb_audit_table_new (o->out, o->format, columns);
        for (char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
            char first [512], count [24];
            snprintf (first, sizeof first, "%s", key);
            char *tab = strchr (first, '\t');
            if (tab)
                *tab = 0;
            snprintf (count, sizeof count, "%llu",
                      (unsigned long long) pb_audit_count (hash, key));
            const char *cells [] = { first, col2 && tab? tab + 1: count, count };
            pb_audit_table_row (table, cells);
        }
        pb_audit_table_end (&table);
    }
    else
    if (o->format == PB_AUDIT_CSV) {
        for (char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
            char first [512];
            snprintf (first, sizeof first, "%s", key);
            char *tab = strchr (first, '\t');
            if (tab)
                *tab = 0;
            fprintf (o->out, "%s,", json_key);
            pb_audit_csv_field (o->out, first);
            fputc (',', o->out);
            pb_audit_csv_field (o->out, tab? tab + 1: "");
            fprintf (o->out, ",%llu\n", (unsigned long long) pb_audit_count (hash, key));
        }
    }
    else {
        json_t *list = json_array ();
        for (char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
            char first [512];
            snprintf (first, sizeof first, "%s", key);
            char *tab = strchr (first, '\t');
            if (tab)
                *tab = 0;
            json_t *item = json_object ();
            json_object_set_new (item, col2? "from": "name", json_string (first));
            if (col2)
                json_object_set_new (item, "to", json_string (tab? tab + 1: ""));
            json_object_set_new (item, "count",
                                 json_integer ((json_int_t) pb_audit_count (hash, key)));
            json_array_append_new (list, item);
        }
        json_object_set_new (o->root, json_key, list);
    }
    zlistx_destroy (&keys);
}

static void
s_value (s_out_t *o, const char *label, const char *key, uint64_t value)
{
    if (o->format == PB_AUDIT_TABLE)
        fprintf (o->out, "%-28s %llu\n", label, (unsigned long long) value);
    else
    if (o->format == PB_AUDIT_CSV)
        fprintf (o->out, "total,%s,,%llu\n", key, (unsigned long long) value);
    else
        json_object_set_new (o->root, key, json_integer ((json_int_t) value));
}

int
pb_audit_stats (pb_audit_t *self, const pb_audit_filter_t *filter, pb_audit_format_t format,
                FILE *out)
{
    pb_audit_figures_t f;
    int rc = pb_audit_figures (self, filter, &f);
    if (rc != 0) {
        pb_audit_figures_free (&f);
        return rc;
    }
    s_out_t o = { out, format, format == PB_AUDIT_JSON? json_object (): NULL };
    if (format == PB_AUDIT_CSV)
        fprintf (out, "section,key,key2,value\n");
    if (format == PB_AUDIT_TABLE)
        fprintf (out, "totals:\n");
    s_value (&o, "shares", "shares", f.shares);
    s_value (&o, "  of which corrections", "corrections", f.corrections);
    s_value (&o, "  of which without consent", "without_consent", f.without_consent);
    s_value (&o, "denied decisions", "denied", f.denied);
    s_value (&o, "refused messages", "refusals", f.refusals);
    s_value (&o, "consents given", "consents_given", f.consents_given);
    s_value (&o, "consents withdrawn", "consents_withdrawn", f.consents_withdrawn);
    s_value (&o, "deliveries with a receipt", "delivered", f.receipts);
    s_value (&o, "late escalations", "late_escalations", f.late_escalations);
    s_value (&o, "expiries", "expiries", f.expiries);
    s_value (&o, "sequence gaps reported", "sequence_gaps", f.gaps);
    if (format == PB_AUDIT_TABLE)
        fprintf (out, "\ndelivery latency (publish to receipt, ms):\n");
    s_value (&o, "p50", "latency_p50_ms", pb_audit_percentile (f.latencies, f.n_latencies, 50));
    s_value (&o, "p95", "latency_p95_ms", pb_audit_percentile (f.latencies, f.n_latencies, 95));
    s_value (&o, "p99", "latency_p99_ms", pb_audit_percentile (f.latencies, f.n_latencies, 99));
    s_value (&o, "max", "latency_max_ms", f.n_latencies? f.latencies [f.n_latencies - 1]: 0);
    s_section (&o, "shares between agencies", "agency_pairs", f.agency_pairs, "FROM", "TO");
    s_section (&o, "shares between roles", "role_pairs", f.role_pairs, "FROM", "TO");
    s_section (&o, "shares by category", "categories", f.categories, "CATEGORY", NULL);
    s_section (&o, "shares by purpose", "purposes", f.purposes, "PURPOSE", NULL);
    s_section (&o, "shares by legal basis", "bases", f.bases, "BASIS", NULL);
    s_section (&o, "denials by reason", "denials", f.denials, "REASON", NULL);
    if (o.root) {
        char *text = json_dumps (o.root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf (out, "%s\n", text? text: "{}");
        free (text);
        json_decref (o.root);
    }
    pb_audit_figures_free (&f);
    return PB_AUDIT_OK;
}
