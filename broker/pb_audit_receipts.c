/*  pb_audit_receipts: verify checks every receipt's signature (pb_audit_int.h).
 *
 *  A receipt entry holds what its recipient signed for it: the item (event
 *  id, header hash), its place and the count in the signed Receipt, its
 *  inclusion proof, the time and the signature. Each is checked alone
 *  against the agency's key in the directory, so a court can be shown one
 *  entry. The items of one Receipt share a signature and sit side by side
 *  in the log, so a signature already verified over the same root is not
 *  verified again: one Ed25519 check per Receipt, a few hashes per item.
 *
 *  An entry without a count was signed in the first form, one signature
 *  per event, and is checked in that form: a count left out must not pass
 *  for "nothing to check". What cannot be checked is said, not hidden: no
 *  directory given, or an agency no longer in it (an auditor can give the
 *  directory file in force at the time with --directory).  */
#include <stdlib.h>
#include <string.h>
#include "pb_audit_int.h"
#include "pl_receipt.h"
#include "passerelle.pb-c.h"

#define S_CACHE     8               //  signatures remembered (receipts in flight at once)
#define S_SHOWN     10              //  failures named; the rest are counted

typedef struct {
    bool used;
    char agency [PL_ID_MAX + 1];
    uint64_t received_at_ms;
    uint32_t count;
    uint8_t root [PL_HASH_SIZE];
    uint8_t signature [PL_SIGNATURE_SIZE];
} s_verified_t;

struct _pb_audit_receipts_t {
    pl_directory_t *directory;      //  not owned; NULL: nothing can be checked
    uint64_t entries, signatures, unknown, failed, unreadable;
    char unknown_agencies [256];    //  the first few, for the report
    s_verified_t cache [S_CACHE];
    size_t cache_next;
    char *failures;                 //  the first S_SHOWN, one line each
    size_t failures_size;
};

pb_audit_receipts_t *
pb_audit_receipts_new (pl_directory_t *directory)
{
    pb_audit_receipts_t *self = calloc (1, sizeof *self);
    if (self)
        self->directory = directory;
    return self;
}

void
pb_audit_receipts_destroy (pb_audit_receipts_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->failures);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Is agency one of the names in list ("a, b, c")?
static bool
s_listed (const char *list, const char *agency)
{
    size_t length = strlen (agency);
    if (length == 0)
        return false;
    for (const char *at = list; (at = strstr (at, agency)); at += length)
        if ((at == list || at [-1] == ' ') && (at [length] == ',' || at [length] == 0))
            return true;
    return false;
}

static void
s_note_unknown (pb_audit_receipts_t *self, const char *agency)
{
    self->unknown++;
    size_t used = strlen (self->unknown_agencies);
    if (s_listed (self->unknown_agencies, agency) || used + strlen (agency) + 3 >= 200)
        return;
    snprintf (self->unknown_agencies + used, sizeof self->unknown_agencies - used, "%s%s",
              used? ", ": "", agency);
}

static void
s_note_failure (pb_audit_receipts_t *self, uint64_t index, const Passerelle__LogEntry *e)
{
    if (self->failed++ >= S_SHOWN)
        return;
    char hex [PL_EVENT_ID_SIZE * 2 + 1] = "-", line [400];
    const char *who = e->agency && *e->agency? e->agency: "(no agency)";
    if (e->event_id.len == PL_EVENT_ID_SIZE)
        pl_event_id_hex (e->event_id.data, hex);
    int size = snprintf (line, sizeof line, "FAILED: entry %llu: the receipt by %.64s for event "
                         "%s does not verify against %.64s's key in the directory (the entry was "
                         "altered, or the agency's key changed since)\n",
                         (unsigned long long) index, who, hex, who);
    if (size < 0)
        return;
    if ((size_t) size >= sizeof line)
        size = (int) sizeof line - 1;
    char *grown = realloc (self->failures, self->failures_size + (size_t) size + 1);
    if (!grown)
        return;
    memcpy (grown + self->failures_size, line, (size_t) size + 1);
    self->failures = grown;
    self->failures_size += (size_t) size;
}

//  The signature over this root was verified already (same agency, time
//  and count): the item's proof led to it, so the item is proven
static bool
s_known (pb_audit_receipts_t *self, const Passerelle__LogEntry *e, const uint8_t *root)
{
    for (size_t i = 0; i < S_CACHE; i++) {
        s_verified_t *v = &self->cache [i];
        if (v->used && v->count == e->receipt_count && v->received_at_ms == e->received_at_ms
        &&  memcmp (v->signature, e->signature.data, PL_SIGNATURE_SIZE) == 0
        &&  memcmp (v->root, root, PL_HASH_SIZE) == 0 && strcmp (v->agency, e->agency) == 0)
            return true;
    }
    return false;
}

static void
s_remember (pb_audit_receipts_t *self, const Passerelle__LogEntry *e, const uint8_t *root)
{
    s_verified_t *v = &self->cache [self->cache_next++ % S_CACHE];
    v->used = true;
    snprintf (v->agency, sizeof v->agency, "%s", e->agency);
    v->received_at_ms = e->received_at_ms;
    v->count = e->receipt_count;
    memcpy (v->root, root, PL_HASH_SIZE);
    memcpy (v->signature, e->signature.data, PL_SIGNATURE_SIZE);
}

//  Is the entry a receipt whose fields have the sizes a check needs?
static bool
s_well_formed (const Passerelle__LogEntry *e)
{
    return e->agency && *e->agency && e->event_id.len == PL_EVENT_ID_SIZE
        && e->header_hash.len == PL_HASH_SIZE && e->signature.len == PL_SIGNATURE_SIZE
        && e->receipt_proof.len % PL_HASH_SIZE == 0;
}

static void
s_check_one (pb_audit_receipts_t *self, uint64_t index, const Passerelle__LogEntry *e)
{
    const pl_agency_t *agency = e->agency? pl_directory_lookup (self->directory, e->agency): NULL;
    uint8_t root [PL_HASH_SIZE];
    if (!s_well_formed (e))
        s_note_failure (self, index, e);
    else
    if (!agency)
        s_note_unknown (self, e->agency);
    else
    if (e->receipt_count == 0 && (e->receipt_index || e->receipt_proof.len))
        s_note_failure (self, index, e);    //  no count, yet a place in one
    else
    if (e->receipt_count == 0) {
        //  Signed one per event, before receipts were signed per burst
        self->signatures++;
        if (!pl_receipt_verify_v1 (agency->public_key, e->agency, e->received_at_ms,
                                   e->event_id.data, e->header_hash.data, e->signature.data))
            s_note_failure (self, index, e);
    }
    else
    if (pl_receipt_item_root (e->event_id.data, e->header_hash.data, e->receipt_index,
                              e->receipt_count, e->receipt_proof.data,
                              e->receipt_proof.len / PL_HASH_SIZE, root) != 0)
        s_note_failure (self, index, e);
    else
    if (!s_known (self, e, root)) {
        self->signatures++;
        if (pl_receipt_verify_root (agency->public_key, e->agency, e->received_at_ms, root,
                                    e->receipt_count, e->signature.data))
            s_remember (self, e, root);
        else
            s_note_failure (self, index, e);
    }
}

void
pb_audit_receipts_check (pb_audit_receipts_t *self, uint64_t index, const uint8_t *entry,
                         size_t size)
{
    //  A receipt's kind is in its bytes verbatim, whatever the field order:
    //  what lacks them is no receipt, and need not be decoded (most entries)
    if (!memmem (entry, size, "receipt", 7))
        return;
    Passerelle__LogEntry *e = passerelle__log_entry__unpack (NULL, size, entry);
    if (!e) {
        self->unreadable++;
        return;
    }
    if (!e->kind || strcmp (e->kind, "receipt") != 0) {
        passerelle__log_entry__free_unpacked (e, NULL);
        return;
    }
    self->entries++;
    if (self->directory)
        s_check_one (self, index, e);
    passerelle__log_entry__free_unpacked (e, NULL);
}

bool
pb_audit_receipts_report (pb_audit_receipts_t *self, FILE *out)
{
    if (self->failures)
        fputs (self->failures, out);
    if (self->failed > S_SHOWN)
        fprintf (out, "FAILED: %llu more receipts do not verify\n",
                 (unsigned long long) (self->failed - S_SHOWN));
    if (self->unreadable)
        fprintf (out, "FAILED: %llu entries that name a receipt do not decode as log entries\n",
                 (unsigned long long) self->unreadable);
    if (!self->directory) {
        fprintf (out, "receipts: %llu, signatures not checked (no directory: give "
                 "--directory)\n", (unsigned long long) self->entries);
        return self->unreadable == 0;
    }
    uint64_t checked = self->entries - self->unknown - self->failed;
    fprintf (out, "receipts: %llu, %llu proven signed by their recipient (%llu signatures "
             "checked against the directory's keys)\n", (unsigned long long) self->entries,
             (unsigned long long) checked, (unsigned long long) self->signatures);
    if (self->unknown)
        fprintf (out, "receipts: %llu by agencies no longer in the directory (%s), not "
                 "checked\n", (unsigned long long) self->unknown, self->unknown_agencies);
    return self->failed == 0 && self->unreadable == 0;
}
