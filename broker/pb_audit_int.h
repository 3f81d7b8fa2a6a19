/*  pb_audit_int: what the pb_audit*.c files share and nothing else sees.  */
#ifndef PB_AUDIT_INT_H_INCLUDED
#define PB_AUDIT_INT_H_INCLUDED

#include <czmq.h>
#include "pb_audit.h"
#include "pl_directory.h"

struct _pb_audit_t {
    pb_store_t *store;
    pl_directory_t *directory;      //  NULL: no roles known
    zhashx_t *roles;                //  agency -> "role+role" cache
};

//  The log size now: the snapshot a command answers about.
uint64_t pb_audit_snapshot (pb_audit_t *self);

//  Rows of the entries below size, from index from: of one case, naming one
//  agency, or all (both NULL). A PB_AUDIT_* code, or what fn returned.
int pb_audit_walk (pb_audit_t *self, const char *case_ref, const char *agency, uint64_t from,
                   uint64_t size, pb_audit_row_fn *fn, void *arg);

//  Receipt signatures, for verify (pb_audit_receipts.c): every receipt
//  entry checked alone against its agency's key in directory (NULL: none
//  can be). check takes every entry of the walk and ignores other kinds;
//  report prints what was found and is true when nothing failed.
typedef struct _pb_audit_receipts_t pb_audit_receipts_t;
pb_audit_receipts_t *pb_audit_receipts_new (pl_directory_t *directory);
void pb_audit_receipts_destroy (pb_audit_receipts_t **self_p);
void pb_audit_receipts_check (pb_audit_receipts_t *self, uint64_t index, const uint8_t *entry,
                              size_t size);
bool pb_audit_receipts_report (pb_audit_receipts_t *self, FILE *out);

//  The monitoring figures of the rows a filter passes (pb_audit_stats.c);
//  the report draws the same figures.
typedef struct {
    zhashx_t *agency_pairs;         //  "from\tto" -> uint64_t *, allowed shares
    zhashx_t *role_pairs;           //  "role\trole" -> uint64_t *
    zhashx_t *categories;           //  category -> shares carrying it
    zhashx_t *purposes, *bases;
    zhashx_t *denials;              //  reason code -> denied decisions
    zhashx_t *days;                 //  "YYYY-MM-DD" -> shares that day
    zhashx_t *day_denials;          //  "YYYY-MM-DD" -> denials that day
    zhashx_t *pending;              //  "event/agency" -> uint64_t * publish at_ms
    uint64_t shares, denied, without_consent, refusals, receipts, corrections,
             consents_given, consents_withdrawn, late_escalations, expiries, gaps, notices;
    uint64_t *latencies;            //  receipt at_ms - publish at_ms, sorted at the end
    size_t n_latencies, latency_alloc;
} pb_audit_figures_t;

int pb_audit_figures (pb_audit_t *self, const pb_audit_filter_t *filter,
                      pb_audit_figures_t *figures);
void pb_audit_figures_free (pb_audit_figures_t *figures);
//  The keys of a counter hash, sorted (destroy the list).
zlistx_t *pb_audit_sorted_keys (zhashx_t *hash);
uint64_t pb_audit_count (zhashx_t *hash, const char *key);

#endif
