/*  pb_audit_case: the data-subject access report for one case (GDPR art. 15).
 *
 *  Who received data about the case, which categories, when, for what
 *  purpose, on which basis and under which rule; and every denial, consent
 *  change, correction and escalation, in log (= time) order.
 *
 *  One walk of the case index, never a scan: the broker writes the case
 *  reference into every entry about the case, receipts and expiries
 *  included, so the shares and what became of each come in one pass,
 *  however long the rest of the log.  */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include "pb_audit_int.h"

typedef struct {
    uint64_t index, at_ms;
    char *kind, *from, *to, *type, *categories, *purpose, *basis, *decision, *reason,
         *event_id, *delivered;
    bool allowed;
} s_item_t;

typedef struct {
    char *agency;
    char categories [512], purposes [256], bases [256], rules [512];
    uint64_t first_ms, last_ms, first_index;
    size_t pending;                 //  shares without a receipt or expiry yet
} s_recipient_t;

typedef struct {
    pb_audit_t *audit;
    zlistx_t *items;                //  s_item_t, by index
    zhashx_t *shares;               //  "event/agency" -> s_item_t (allowed only)
    zhashx_t *recipients;           //  agency -> s_recipient_t
    zlistx_t *order;                //  recipient agencies, in first-share order
} s_case_t;

static void
s_item_destroy (void **item_p)
{
    s_item_t *item = *item_p;
    if (!item)
        return;
    free (item->kind); free (item->from); free (item->to); free (item->type);
    free (item->categories); free (item->purpose); free (item->basis); free (item->decision);
    free (item->reason); free (item->event_id); free (item->delivered);
    free (item);
    *item_p = NULL;
}

static void
s_recipient_destroy (void **item_p)
{
    s_recipient_t *r = *item_p;
    if (r) {
        free (r->agency);
        free (r);
    }
    *item_p = NULL;
}

//  Add token to a comma-separated set of them, once.
static void
s_add_tokens (char *set, size_t size, const char *tokens)
{
    char copy [512];
    snprintf (copy, sizeof copy, "%s", tokens);
    char *save = NULL;
    for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save)) {
        bool found = false;
        size_t len = strlen (t);
        for (const char *at = set; (at = strstr (at, t)); at += len)
            if ((at == set || at [-1] == ',') && (at [len] == ',' || at [len] == 0)) {
                found = true;
                break;
            }
        if (!found && strlen (set) + len + 2 < size)
            snprintf (set + strlen (set), size - strlen (set), "%s%s", *set? ",": "", t);
    }
}

//  A receipt or expiry of the case: settle the share it is about (they come
//  after the share in index order, so the share is known by then).
static void
s_settle (s_case_t *c, const pb_audit_row_t *row, bool receipt)
{
    char key [300], at [32], text [64];
    snprintf (key, sizeof key, "%s/%s", row->event_id, row->to);
    s_item_t *item = *row->event_id? zhashx_lookup (c->shares, key): NULL;
    s_recipient_t *r = item? zhashx_lookup (c->recipients, row->to): NULL;
    if (!item || !r || *item->delivered)
        return;
    pb_audit_format_time (row->at_ms, at);
    snprintf (text, sizeof text, "%s%s", receipt? "": "expired ", at);
    free (item->delivered);
    item->delivered = strdup (text);
    r->pending--;
}

static int
s_case_row (const pb_audit_row_t *row, void *arg)
{
    s_case_t *c = arg;
    //  Receipts and expiries carry the case too: they settle a share
    if (streq (row->kind, "receipt") || streq (row->kind, "expiry")) {
        s_settle (c, row, streq (row->kind, "receipt"));
        return 0;
    }
    s_item_t *item = calloc (1, sizeof *item);
    char reason [256] = "";
    if (streq (row->decision, "allow"))
        snprintf (reason, sizeof reason, "%s", *row->rule? row->rule: row->code);
    else
    if (*row->category)
        snprintf (reason, sizeof reason, "%s (category %s)", row->code, row->category);
    else
        snprintf (reason, sizeof reason, "%s", *row->code? row->code:
                  streq (row->status, "ok")? "": row->status);
    item->index = row->index;
    item->at_ms = row->at_ms;
    item->kind = strdup (row->kind);
    item->from = strdup (row->from);
    item->to = strdup (row->to);
    item->type = strdup (row->event_type);
    item->categories = strdup (row->categories);
    item->purpose = strdup (row->purpose);
    item->basis = strdup (row->basis);
    item->decision = strdup (row->decision);
    item->reason = strdup (reason);
    item->event_id = strdup (row->event_id);
    item->allowed = streq (row->decision, "allow");
    item->delivered = strdup ("");
    zlistx_add_end (c->items, item);
    if (!item->allowed || !*row->to)
        return 0;
    s_recipient_t *r = zhashx_lookup (c->recipients, row->to);
    if (!r) {
        r = calloc (1, sizeof *r);
        r->agency = strdup (row->to);
        r->first_ms = row->at_ms;
        r->first_index = row->index;
        zhashx_insert (c->recipients, row->to, r);
        zlistx_add_end (c->order, r->agency);
    }
    r->last_ms = row->at_ms;
    s_add_tokens (r->categories, sizeof r->categories, row->categories);
    s_add_tokens (r->purposes, sizeof r->purposes, row->purpose);
    s_add_tokens (r->bases, sizeof r->bases, row->basis);
    s_add_tokens (r->rules, sizeof r->rules, row->rule);
    char key [300];
    snprintf (key, sizeof key, "%s/%s", row->event_id, row->to);
    if (*row->event_id && !zhashx_lookup (c->shares, key)) {
        zhashx_insert (c->shares, key, item);
        r->pending++;
    }
    return 0;
}

static const char *s_recipient_columns [] = { "SECTION", "AGENCY", "ROLES", "CATEGORIES",
    "PURPOSES", "BASES", "RULES", "FIRST", "LAST", NULL };
static const char *s_event_columns [] = { "SECTION", "INDEX#", "TIME", "WHAT", "FROM", "TO",
    "TYPE", "CATEGORIES", "PURPOSE", "BASIS", "DECISION", "RULE/REASON", "DELIVERED", NULL };

static void
s_print (s_case_t *c, const char *case_ref, uint64_t size, pb_audit_format_t format, FILE *out)
{
    //  The section column tells JSON and CSV rows apart; a table has headings
    size_t skip = format == PB_AUDIT_TABLE? 1: 0;
    if (format == PB_AUDIT_TABLE)
        fprintf (out, "case %s: access report (GDPR art. 15), log entries 0..%llu\n\n"
                 "agencies that received data about the case:\n", case_ref,
                 (unsigned long long) (size? size - 1: 0));
    pb_audit_table_t *table = pb_audit_table_new (out, format, s_recipient_columns + skip);
    for (char *agency = zlistx_first (c->order); agency; agency = zlistx_next (c->order)) {
        s_recipient_t *r = zhashx_lookup (c->recipients, agency);
        char first [32], last [32];
        const char *cells [] = { "recipient", r->agency, pb_audit_roles (c->audit, r->agency),
            r->categories, r->purposes, r->bases, r->rules,
            pb_audit_format_time (r->first_ms, first), pb_audit_format_time (r->last_ms, last) };
        pb_audit_table_row (table, cells + skip);
    }
    if (format == PB_AUDIT_TABLE && pb_audit_table_rows (table) == 0)
        fprintf (out, "none\n");
    pb_audit_table_end (&table);
    if (format == PB_AUDIT_TABLE)
        fprintf (out, "\nwhat happened, in time order:\n");
    else
    if (format == PB_AUDIT_CSV)
        fprintf (out, "\n");
    table = pb_audit_table_new (out, format, s_event_columns + skip);
    for (s_item_t *item = zlistx_first (c->items); item; item = zlistx_next (c->items)) {
        char index [24], at [32];
        snprintf (index, sizeof index, "%llu", (unsigned long long) item->index);
        const char *delivered = item->allowed && *item->to && !*item->delivered
                                && *item->event_id? "pending": item->delivered;
        const char *cells [] = { "event", index, pb_audit_format_time (item->at_ms, at),
            item->kind, item->from, item->to, item->type, item->categories, item->purpose,
            item->basis, item->decision, item->reason, delivered };
        pb_audit_table_row (table, cells + skip);
    }
    pb_audit_table_end (&table);
}

int
pb_audit_case (pb_audit_t *self, const char *case_ref, pb_audit_format_t format, FILE *out)
{
    s_case_t c = { self, zlistx_new (), zhashx_new (), zhashx_new (), zlistx_new () };
    zlistx_set_destructor (c.items, s_item_destroy);
    zhashx_set_destructor (c.recipients, s_recipient_destroy);
    uint64_t size = pb_audit_snapshot (self);
    //  One walk of the case index: shares, decisions and their receipts
    int rc = pb_audit_walk (self, case_ref, NULL, 0, size, s_case_row, &c);
    if (rc == 0 && zlistx_size (c.items) == 0 && format == PB_AUDIT_TABLE)
        fprintf (out, "case %s: no log entries\n", case_ref);
    else
    if (rc == 0)
        s_print (&c, case_ref, size, format, out);
    zlistx_destroy (&c.items);
    zhashx_destroy (&c.shares);
    zhashx_destroy (&c.recipients);
    zlistx_destroy (&c.order);
    return rc;
}
