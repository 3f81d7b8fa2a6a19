/*  pb_audit: passerelle-audit's library: read the sharing log, read-only.
 *
 *  The auditor's view of the broker's store (pb_store), opened read-only so
 *  it can run while the broker writes: LMDB readers never block the writer.
 *  Every command takes the log's size once at its start and looks at the
 *  entries below it only, so its answer is about one consistent snapshot
 *  even while the log grows.
 *
 *  Entries become rows: one row per decision of an entry (a publish to two
 *  agencies is two rows, one per recipient), one row for an entry without
 *  decisions (receipts, notes, loads). Filters and every output work on rows.
 *  Rows carry metadata only: log entries hold no payload bytes, and case
 *  references are printed exactly as stored (pseudonymous).
 *
 *  Roles are not in the log (it names agencies); they come from the
 *  broker's directory file, read at open. An agency absent from it has the
 *  role "?" (e.g. one removed since).
 *
 *  Files: pb_audit.c (rows, filters, tables, log/case/exceptions),
 *  pb_audit_verify.c (verify, proofs), pb_audit_stats.c (figures),
 *  pb_audit_report.c (the HTML report).  */
#ifndef PB_AUDIT_H_INCLUDED
#define PB_AUDIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "pb_store.h"

//  Exit codes passerelle-audit uses, and the commands return.
#define PB_AUDIT_OK       0
#define PB_AUDIT_FAILED   1     //  verification failed: the record was altered
#define PB_AUDIT_USAGE    2     //  bad argument or filter value
#define PB_AUDIT_ERROR    3     //  cannot read the store, the config, a file

typedef struct _pb_audit_t pb_audit_t;

//  Open the store in store_dir read-only; directory_path (NULL: none, every
//  role is "?") gives the roles. NULL with err set: a missing store, a store
//  of a newer format, an unreadable directory file...
pb_audit_t *pb_audit_new (const char *store_dir, const char *directory_path,
                          char *err, size_t err_size);
void pb_audit_destroy (pb_audit_t **self_p);
pb_store_t *pb_audit_store (pb_audit_t *self);

//  The roles of an agency as "role" or "role1+role2"; "?" when unknown.
const char *pb_audit_roles (pb_audit_t *self, const char *agency);

//  --------------------------------------------------------------------------
//  Rows

typedef struct {
    uint64_t index;                 //  leaf index in the log
    uint64_t at_ms;                 //  when the broker logged it
    const char *kind;               //  publish, refusal, receipt, ... (never NULL)
    const char *case_ref;           //  these are "" when absent, never NULL
    const char *from;               //  publisher (or, for notes, the broker)
    const char *to;                 //  decision recipient, or the entry's agency
    const char *event_type;
    const char *purpose;
    const char *basis;
    const char *decision;           //  "allow", "deny" or ""
    const char *code;               //  reason code or wire status
    const char *rule;
    const char *category;           //  the category a decision is about
    const char *justification;
    const char *consent_id;
    const char *status;
    const char *detail;
    bool needs_review;              //  shared without consent
    bool has_decision;
    uint64_t received_at_ms;        //  receipts
    char categories [256];          //  the entry's categories, comma-separated
    char event_id [33];             //  hex, "" when none
} pb_audit_row_t;

//  Called per row; non-zero stops the walk and is returned.
typedef int (pb_audit_row_fn) (const pb_audit_row_t *row, void *arg);

//  The rows of one serialised LogEntry. -1 when it does not parse.
int pb_audit_rows (uint64_t index, const uint8_t *entry, size_t size,
                   pb_audit_row_fn *fn, void *arg);

//  --------------------------------------------------------------------------
//  Filters

typedef struct {
    const char *case_ref;
    const char *agency;             //  as publisher, recipient or agency
    int role;                       //  pl_role_t on either side, -1: any
    const char *type;               //  entry kind or event type
    int decision;                   //  0 any, 1 allow, 2 deny
    const char *basis;
    const char *reason;             //  decision code (e.g. consent_missing)
    uint64_t since_ms;              //  at_ms >= since (0: no bound)
    uint64_t until_ms;              //  at_ms < until (0: no bound)
} pb_audit_filter_t;

void pb_audit_filter_init (pb_audit_filter_t *filter);

//  Set one filter from its command-line name ("case", "agency", "role",
//  "type", "decision", "basis", "reason", "since", "until") and value.
//  Values of vocabulary filters are checked: -1 with err ("unknown role
//  'x'") when bad. The strings stay the caller's.
int pb_audit_filter_set (pb_audit_filter_t *filter, const char *name, const char *value,
                         char *err, size_t err_size);

bool pb_audit_filter_match (pb_audit_t *self, const pb_audit_filter_t *filter,
                            const pb_audit_row_t *row);

//  "2026-03-01" (midnight UTC; with end, the next midnight, so --until
//  takes in the whole day), "2026-03-01T10:30[:00][Z]", or milliseconds
//  since 1970. 0 or -1.
int pb_audit_parse_time (const char *text, bool end, uint64_t *ms);

//  "2026-03-01T10:30:00.123Z" into buf (at least 32 bytes).
char *pb_audit_format_time (uint64_t ms, char *buf);

//  --------------------------------------------------------------------------
//  Output: an aligned table, JSON lines or CSV, from the same rows.

typedef enum { PB_AUDIT_TABLE, PB_AUDIT_JSON, PB_AUDIT_CSV } pb_audit_format_t;

typedef struct _pb_audit_table_t pb_audit_table_t;

//  Column names end with NULL; a name ending in '#' is a number in JSON
//  (the '#' is not printed). JSON and CSV rows are written as they come;
//  the table is kept until pb_audit_table_end, which aligns it.
pb_audit_table_t *pb_audit_table_new (FILE *out, pb_audit_format_t format,
                                      const char *const *columns);
void pb_audit_table_row (pb_audit_table_t *self, const char *const *cells);
size_t pb_audit_table_rows (pb_audit_table_t *self);
//  Print what is kept (the table) and destroy.
void pb_audit_table_end (pb_audit_table_t **self_p);

//  CSV field quoting (RFC 4180) into out.
void pb_audit_csv_field (FILE *out, const char *text);

//  --------------------------------------------------------------------------
//  Commands; each returns a PB_AUDIT_* code, errors on stderr.

int pb_audit_log (pb_audit_t *self, const pb_audit_filter_t *filter,
                  pb_audit_format_t format, FILE *out);
int pb_audit_case (pb_audit_t *self, const char *case_ref, pb_audit_format_t format, FILE *out);
int pb_audit_exceptions (pb_audit_t *self, const pb_audit_filter_t *filter,
                         pb_audit_format_t format, FILE *out);

typedef struct {
    const char *origin;             //  the log's name in checkpoints
    const uint8_t *public_key;      //  the broker's Ed25519 key
    const char *checkpoint_file;    //  an agency's checkpoint to check too, or NULL
    bool progress;                  //  a progress bar on stderr
} pb_audit_verify_t;

//  Recompute the whole tree and check it and every checkpoint: PB_AUDIT_OK,
//  PB_AUDIT_FAILED naming the first bad entry or checkpoint, or _ERROR.
int pb_audit_verify (pb_audit_t *self, const pb_audit_verify_t *options, FILE *out);

//  An inclusion proof for entry index at size (0: the newest checkpoint's
//  size) / a consistency proof between two sizes, checked before printing.
int pb_audit_proof (pb_audit_t *self, uint64_t index, uint64_t size, bool json, FILE *out);
int pb_audit_consistency (pb_audit_t *self, uint64_t size1, uint64_t size2, bool json,
                          FILE *out);

//  Monitoring figures (pb_audit_stats.c).
int pb_audit_stats (pb_audit_t *self, const pb_audit_filter_t *filter,
                    pb_audit_format_t format, FILE *out);
//  The self-contained HTML report (pb_audit_report.c).
int pb_audit_report (pb_audit_t *self, const pb_audit_filter_t *filter, const char *path);

//  Percentile p (0..100) of sorted values (nearest rank); 0 when n is 0.
uint64_t pb_audit_percentile (const uint64_t *sorted, size_t n, unsigned p);

#endif
