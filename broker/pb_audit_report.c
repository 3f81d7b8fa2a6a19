/*  pb_audit_report: one self-contained HTML file for evaluation teams.
 *
 *  It must open offline, years later, on a locked-down machine: so inline
 *  CSS and inline SVG only, no script, no font, no external reference of
 *  any kind. Charts: the flow matrix between roles as a heat map, shares
 *  per day, denials by reason, the delivery latency distribution; then the
 *  exceptions (shares without consent) as a table. Figures are those of
 *  `stats` (pb_audit_figures), so the two never disagree. Every string from
 *  the log is HTML-escaped.  */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include "pb_audit_int.h"

static void
s_esc (FILE *out, const char *text)
{
    for (const char *c = text; *c; c++)
        switch (*c) {
            case '<': fputs ("&lt;", out); break;
            case '>': fputs ("&gt;", out); break;
            case '&': fputs ("&amp;", out); break;
            case '"': fputs ("&quot;", out); break;
            case '\'': fputs ("&#39;", out); break;
            default: fputc (*c, out);
        }
}

//  A horizontal bar chart of a counter hash, sorted by key.
static void
s_bars (FILE *out, zhashx_t *hash, const char *colour)
{
    zlistx_t *keys = pb_audit_sorted_keys (hash);
    uint64_t max = 1;
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys))
        if (pb_audit_count (hash, k) > max)
            max = pb_audit_count (hash, k);
    size_t n = zlistx_size (keys);
    if (n == 0) {
        fprintf (out, "<p class=\"none\">none</p>\n");
        zlistx_destroy (&keys);
        return;
    }
    fprintf (out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"%zu\" "
             "role=\"img\">\n", n * 26 + 10);
    size_t i = 0;
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys), i++) {
        uint64_t v = pb_audit_count (hash, k);
        unsigned width = (unsigned) (v * 440 / max);
        fprintf (out, "<text x=\"210\" y=\"%zu\" text-anchor=\"end\">", i * 26 + 22);
        s_esc (out, k);
        fprintf (out, "</text><rect x=\"220\" y=\"%zu\" width=\"%u\" height=\"18\" fill=\"%s\"/>"
                 "<text x=\"%u\" y=\"%zu\">%llu</text>\n", i * 26 + 8, width? width: 1, colour,
                 226 + width, i * 26 + 22, (unsigned long long) v);
    }
    fprintf (out, "</svg>\n");
    zlistx_destroy (&keys);
}

//  The flow matrix: sending roles down, receiving roles across.
static void
s_heat_map (FILE *out, zhashx_t *pairs)
{
    zhashx_t *from = zhashx_new (), *to = zhashx_new ();
    uint64_t max = 1;
    zlistx_t *keys = pb_audit_sorted_keys (pairs);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        char pair [512];
        snprintf (pair, sizeof pair, "%s", k);
        char *tab = strchr (pair, '\t');
        if (!tab)
            continue;
        *tab = 0;
        zhashx_update (from, pair, (void *) 1);
        zhashx_update (to, tab + 1, (void *) 1);
        if (pb_audit_count (pairs, k) > max)
            max = pb_audit_count (pairs, k);
    }
    zlistx_destroy (&keys);
    zlistx_t *rows = pb_audit_sorted_keys (from), *cols = pb_audit_sorted_keys (to);
    size_t nr = zlistx_size (rows), nc = zlistx_size (cols);
    if (nr == 0)
        fprintf (out, "<p class=\"none\">no shares</p>\n");
    else {
        const unsigned left = 200, top = 150, cell = 56;
        fprintf (out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%zu\" height=\"%zu\" "
                 "role=\"img\">\n", left + nc * cell + 10, top + nr * cell + 10);
        size_t c = 0;
        for (char *col = zlistx_first (cols); col; col = zlistx_next (cols), c++) {
            fprintf (out, "<text transform=\"translate(%zu,%u) rotate(-45)\">",
                     left + c * cell + cell / 2, top - 6);
            s_esc (out, col);
            fprintf (out, "</text>\n");
        }
        size_t r = 0;
        for (char *row = zlistx_first (rows); row; row = zlistx_next (rows), r++) {
            fprintf (out, "<text x=\"%u\" y=\"%zu\" text-anchor=\"end\">", left - 8,
                     top + r * cell + cell / 2 + 5);
            s_esc (out, row);
            fprintf (out, "</text>\n");
            c = 0;
            for (char *col = zlistx_first (cols); col; col = zlistx_next (cols), c++) {
                char key [512];
                snprintf (key, sizeof key, "%s\t%s", row, col);
                uint64_t v = pb_audit_count (pairs, key);
                //  Light to dark blue with the count; empty cells stay grey
                double shade = v? 0.15 + 0.85 * (double) v / (double) max: 0;
                fprintf (out, "<rect x=\"%zu\" y=\"%zu\" width=\"%u\" height=\"%u\" "
                         "fill=\"%s\" fill-opacity=\"%.2f\" stroke=\"#fff\"/>",
                         left + c * cell, top + r * cell, cell, cell, v? "#1f4e9c": "#eeeeee",
                         v? shade: 1.0);
                if (v)
                    fprintf (out, "<text x=\"%zu\" y=\"%zu\" text-anchor=\"middle\" fill=\"%s\">"
                             "%llu</text>", left + c * cell + cell / 2, top + r * cell + cell / 2 + 5,
                             shade > 0.5? "#fff": "#000", (unsigned long long) v);
                fputc ('\n', out);
            }
        }
        fprintf (out, "</svg>\n");
    }
    zlistx_destroy (&rows);
    zlistx_destroy (&cols);
    zhashx_destroy (&from);
    zhashx_destroy (&to);
}

//  Shares and denials per day as a column chart.
static void
s_over_time (FILE *out, zhashx_t *days, zhashx_t *denials)
{
    zhashx_t *all = zhashx_new ();
    zlistx_t *a = zhashx_keys (days), *b = zhashx_keys (denials);
    for (char *k = zlistx_first (a); k; k = zlistx_next (a))
        zhashx_update (all, k, (void *) 1);
    for (char *k = zlistx_first (b); k; k = zlistx_next (b))
        zhashx_update (all, k, (void *) 1);
    zlistx_destroy (&a);
    zlistx_destroy (&b);
    zlistx_t *keys = pb_audit_sorted_keys (all);
    size_t n = zlistx_size (keys);
    uint64_t max = 1;
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        uint64_t v = pb_audit_count (days, k) + pb_audit_count (denials, k);
        if (v > max)
            max = v;
    }
    if (n == 0)
        fprintf (out, "<p class=\"none\">none</p>\n");
    else {
        size_t width = n * 30 > 600? n * 30: 600;
        fprintf (out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%zu\" height=\"260\" "
                 "role=\"img\">\n<line x1=\"40\" y1=\"200\" x2=\"%zu\" y2=\"200\" "
                 "stroke=\"#444\"/>\n<text x=\"36\" y=\"24\" text-anchor=\"end\">%llu</text>\n",
                 width + 60, width + 50, (unsigned long long) max);
        size_t i = 0;
        size_t step = n * 30 > 600? 30: 600 / n;
        for (char *k = zlistx_first (keys); k; k = zlistx_next (keys), i++) {
            uint64_t s = pb_audit_count (days, k), d = pb_audit_count (denials, k);
            unsigned hs = (unsigned) (s * 180 / max), hd = (unsigned) (d * 180 / max);
            size_t x = 45 + i * step;
            fprintf (out, "<rect x=\"%zu\" y=\"%u\" width=\"%zu\" height=\"%u\" fill=\"#1f4e9c\"/>"
                     "<rect x=\"%zu\" y=\"%u\" width=\"%zu\" height=\"%u\" fill=\"#c0392b\"/>",
                     x, 200 - hs, step * 2 / 3, hs, x, 200 - hs - hd, step * 2 / 3, hd);
            fprintf (out, "<text transform=\"translate(%zu,214) rotate(45)\" font-size=\"10\">"
                     "%s</text>\n", x, k);
        }
        fprintf (out, "</svg>\n<p class=\"legend\"><span style=\"color:#1f4e9c\">&#9632;</span> "
                 "shares <span style=\"color:#c0392b\">&#9632;</span> denials</p>\n");
    }
    zlistx_destroy (&keys);
    zhashx_destroy (&all);
}

//  Latency histogram over fixed decades, and the percentiles.
static void
s_latency (FILE *out, const pb_audit_figures_t *f)
{
    static const char *labels [] = { "< 10 ms", "< 100 ms", "< 1 s", "< 10 s", "< 1 min",
                                     "< 10 min", "< 1 h", "1 h or more" };
    static const uint64_t limits [] = { 10, 100, 1000, 10000, 60000, 600000, 3600000, UINT64_MAX };
    uint64_t counts [8] = { 0 };
    for (size_t i = 0; i < f->n_latencies; i++)
        for (size_t b = 0; b < 8; b++)
            if (f->latencies [i] < limits [b] || b == 7) {
                counts [b]++;
                break;
            }
    fprintf (out, "<p>p50 %llu ms, p95 %llu ms, p99 %llu ms, over %zu deliveries.</p>\n",
             (unsigned long long) pb_audit_percentile (f->latencies, f->n_latencies, 50),
             (unsigned long long) pb_audit_percentile (f->latencies, f->n_latencies, 95),
             (unsigned long long) pb_audit_percentile (f->latencies, f->n_latencies, 99),
             f->n_latencies);
    uint64_t max = 1;
    for (size_t b = 0; b < 8; b++)
        if (counts [b] > max)
            max = counts [b];
    fprintf (out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"240\" "
             "role=\"img\">\n<line x1=\"20\" y1=\"200\" x2=\"700\" y2=\"200\" stroke=\"#444\"/>\n");
    for (size_t b = 0; b < 8; b++) {
        unsigned h = (unsigned) (counts [b] * 170 / max);
        fprintf (out, "<rect x=\"%zu\" y=\"%u\" width=\"70\" height=\"%u\" fill=\"#2e8b57\"/>"
                 "<text x=\"%zu\" y=\"%u\" text-anchor=\"middle\">%llu</text>"
                 "<text x=\"%zu\" y=\"220\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n",
                 30 + b * 84, 200 - h, h, 65 + b * 84, 195 - h,
                 (unsigned long long) counts [b], 65 + b * 84, labels [b]);
    }
    fprintf (out, "</svg>\n");
}

typedef struct {
    pb_audit_t *audit;
    const pb_audit_filter_t *filter;
    FILE *out;
    size_t count;
} s_exceptions_t;

static int
s_exception_row (const pb_audit_row_t *row, void *arg)
{
    s_exceptions_t *e = arg;
    if (!row->needs_review || !streq (row->decision, "allow")
    ||  !pb_audit_filter_match (e->audit, e->filter, row))
        return 0;
    char at [32];
    const char *cells [] = { pb_audit_format_time (row->at_ms, at), row->case_ref, row->from,
        row->to, row->event_type, row->basis, row->rule, row->categories, row->justification };
    fprintf (e->out, "<tr><td>%llu</td>", (unsigned long long) row->index);
    for (size_t i = 0; i < sizeof cells / sizeof cells [0]; i++) {
        fputs ("<td>", e->out);
        s_esc (e->out, cells [i]);
        fputs ("</td>", e->out);
    }
    fputs ("</tr>\n", e->out);
    e->count++;
    return 0;
}

static const char *s_style =
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;"
    "padding:3px 6px;text-align:left}th{background:#f3f3f3}.none{color:#777}"
    "svg text{font-family:sans-serif;font-size:12px}dl{display:grid;"
    "grid-template-columns:max-content max-content;gap:2px 16px}dd{margin:0}";

int
pb_audit_report (pb_audit_t *self, const pb_audit_filter_t *filter, const char *path)
{
    pb_audit_figures_t f;
    int rc = pb_audit_figures (self, filter, &f);
    if (rc != 0) {
        pb_audit_figures_free (&f);
        return rc;
    }
    FILE *out = fopen (path, "w");
    if (!out) {
        fprintf (stderr, "passerelle-audit: cannot write %s\n", path);
        pb_audit_figures_free (&f);
        return PB_AUDIT_ERROR;
    }
    char since [32] = "the start", until [32] = "now";
    if (filter->since_ms)
        pb_audit_format_time (filter->since_ms, since);
    if (filter->until_ms)
        pb_audit_format_time (filter->until_ms, until);
    fprintf (out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>passerelle: information sharing report</title><style>%s</style>"
             "</head><body>\n<h1>Information sharing report</h1>\n<p>From %s to %s; "
             "%llu log entries read. Aggregated figures; case references are pseudonymous.</p>\n",
             s_style, since, until, (unsigned long long) pb_audit_snapshot (self));
    fprintf (out, "<h2>Totals</h2>\n<dl>");
    const struct { const char *label; uint64_t value; } totals [] = {
        { "shares", f.shares }, { "of which without consent", f.without_consent },
        { "corrections", f.corrections }, { "denied decisions", f.denied },
        { "refused messages", f.refusals }, { "consents given", f.consents_given },
        { "consents withdrawn", f.consents_withdrawn }, { "late escalations", f.late_escalations },
        { "expiries", f.expiries }, { "sequence gaps reported", f.gaps } };
    for (size_t i = 0; i < sizeof totals / sizeof totals [0]; i++)
        fprintf (out, "<dt>%s</dt><dd>%llu</dd>", totals [i].label,
                 (unsigned long long) totals [i].value);
    fprintf (out, "</dl>\n<h2>Flows between roles</h2>\n");
    s_heat_map (out, f.role_pairs);
    fprintf (out, "<h2>Shares over time</h2>\n");
    s_over_time (out, f.days, f.day_denials);
    fprintf (out, "<h2>Denials by reason</h2>\n");
    s_bars (out, f.denials, "#c0392b");
    fprintf (out, "<h2>Shares by legal basis</h2>\n");
    s_bars (out, f.bases, "#1f4e9c");
    fprintf (out, "<h2>Delivery latency (publish to receipt)</h2>\n");
    s_latency (out, &f);
    fprintf (out, "<h2>Exceptions: shares without consent</h2>\n<table><tr><th>entry</th>"
             "<th>time (UTC)</th><th>case</th><th>from</th><th>to</th><th>type</th>"
             "<th>basis</th><th>rule</th><th>categories</th><th>justification</th></tr>\n");
    s_exceptions_t e = { self, filter, out, 0 };
    rc = pb_audit_walk (self, filter->case_ref, filter->agency, 0, pb_audit_snapshot (self),
                        s_exception_row, &e);
    fprintf (out, "</table>\n%s</body></html>\n", e.count? "":
             "<p class=\"none\">none</p>\n");
    if (fclose (out) != 0 && rc == 0) {
        fprintf (stderr, "passerelle-audit: cannot write %s\n", path);
        rc = PB_AUDIT_ERROR;
    }
    pb_audit_figures_free (&f);
    return rc;
}
