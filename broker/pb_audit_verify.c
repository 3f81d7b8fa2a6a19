/*  pb_audit_verify: verify the whole log, and proofs for third parties.
 *
 *  verify trusts nothing the broker computed. It rehashes every entry into a
 *  fresh tree that keeps only its right edge (pl_merkle_new (NULL, NULL, 0),
 *  O(log n) memory), and in blocks of entries compares that tree's root
 *  with the root the store's own tree gives at the same size. The first
 *  block that differs is searched entry by entry: the stored tree's
 *  inclusion proof for entry i only leads to the stored root when the
 *  entry's recomputed leaf hash is the stored leaf, so the first entry whose
 *  proof fails is the first altered one (or the first whose stored leaf was
 *  altered). Every stored checkpoint is then checked at its size: the
 *  broker's signature, its root against the recomputed one (this catches an
 *  operator who rewrote entries and rebuilt the stored tree to match), and a
 *  consistency proof from the checkpoint before it.
 *
 *  Block boundaries fall on every checkpoint size, so all comparisons are
 *  against roots the streaming tree has at that moment: no leaf is kept
 *  beyond the current block.  */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pb_audit_int.h"
#include "pb_store_state.h"
#include "pl_checkpoint.h"
#include "pl_merkle.h"

#define S_BLOCK 4096

typedef struct {
    uint64_t size;
    char *text;
    size_t text_size;
} s_note_t;

typedef struct {
    s_note_t *notes;
    size_t count, alloc;
} s_notes_t;

static int
s_collect_note (uint64_t tree_size, const char *text, size_t size, void *arg)
{
    s_notes_t *notes = arg;
    if (notes->count == notes->alloc) {
        size_t alloc = notes->alloc? notes->alloc * 2: 16;
        s_note_t *more = realloc (notes->notes, alloc * sizeof *more);
        if (!more)
            return -1;
        notes->notes = more;
        notes->alloc = alloc;
    }
    s_note_t *note = &notes->notes [notes->count++];
    note->size = tree_size;
    note->text = malloc (size + 1);
    if (!note->text)
        return -1;
    memcpy (note->text, text, size);
    note->text [size] = 0;
    note->text_size = size;
    return 0;
}

static void
s_notes_free (s_notes_t *notes)
{
    for (size_t i = 0; i < notes->count; i++)
        free (notes->notes [i].text);
    free (notes->notes);
}

static int
s_note_cmp (const void *a, const void *b)
{
    uint64_t x = ((const s_note_t *) a)->size, y = ((const s_note_t *) b)->size;
    return x < y? -1: x > y;
}

static char *
s_hex (const uint8_t *hash, char *buf)
{
    sodium_bin2hex (buf, PL_MERKLE_HASH_SIZE * 2 + 1, hash, PL_MERKLE_HASH_SIZE);
    return buf;
}

typedef struct {
    pl_merkle_t *tree;
    uint64_t from, next;            //  the block's first index, the next expected
    uint8_t leaves [S_BLOCK][PL_MERKLE_HASH_SIZE];
    pb_audit_receipts_t *receipts;  //  each entry is shown to it too
} s_block_t;

static int
s_hash_entry (uint64_t index, const uint8_t *entry, size_t size, void *arg)
{
    s_block_t *block = arg;
    if (index != block->next)
        return 1;                   //  an entry is missing: the caller names it
    uint8_t *leaf = block->leaves [index - block->from];
    pl_merkle_leaf_hash (entry, size, leaf);
    if (pl_merkle_append (block->tree, leaf, NULL) != 0)
        return -1;
    pb_audit_receipts_check (block->receipts, index, entry, size);
    block->next++;
    return 0;
}

static void
s_progress (uint64_t done, uint64_t total, int *shown)
{
    int percent = total? (int) (done * 100 / total): 100;
    if (percent == *shown)
        return;
    *shown = percent;
    char bar [41];
    memset (bar, '#', (size_t) percent * 40 / 100);
    memset (bar + percent * 40 / 100, ' ', 40 - (size_t) percent * 40 / 100);
    bar [40] = 0;
    fprintf (stderr, "\rverifying [%s] %3d%% %llu/%llu", bar, percent,
             (unsigned long long) done, (unsigned long long) total);
    fflush (stderr);
}

//  The first entry of [from, to) whose leaf is not the stored tree's.
static int
s_find_bad_entry (pb_store_t *store, s_block_t *block, uint64_t to, uint64_t *bad)
{
    uint8_t root [PL_MERKLE_HASH_SIZE], proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    if (pb_store_log_root_at (store, to, root) != 0)
        return -1;
    for (uint64_t i = block->from; i < to; i++) {
        size_t n = 0;
        if (pb_store_inclusion_proof (store, i, to, proof, &n) != 0
        ||  !pl_merkle_verify_inclusion (block->leaves [i - block->from], i, to, proof, n, root)) {
            *bad = i;
            return 0;
        }
    }
    return -1;
}

//  Check one checkpoint note at the recomputed root of its size.
static int
s_check_note (const char *what, const char *text, size_t text_size,
              const pb_audit_verify_t *options, const uint8_t *root,
              pl_checkpoint_t **checkpoint_p, FILE *out)
{
    int error = 0;
    pl_checkpoint_t *checkpoint = pl_checkpoint_open (text, text_size, options->origin,
                                                      options->origin, options->public_key,
                                                      &error);
    if (!checkpoint) {
        fprintf (out, "FAILED: %s: %s (origin and key name '%s')\n", what,
                 pl_checkpoint_strerror (error), options->origin);
        return PB_AUDIT_FAILED;
    }
    if (memcmp (pl_checkpoint_root (checkpoint), root, PL_MERKLE_HASH_SIZE) != 0) {
        fprintf (out, "FAILED: %s: its root does not match the log's entries: an entry below "
                 "%llu was altered, or the log was rewritten\n", what,
                 (unsigned long long) pl_checkpoint_size (checkpoint));
        pl_checkpoint_destroy (&checkpoint);
        return PB_AUDIT_FAILED;
    }
    *checkpoint_p = checkpoint;
    return 0;
}

static char *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *text = malloc (PL_CHECKPOINT_NOTE_MAX + 1);
    *size = text? fread (text, 1, PL_CHECKPOINT_NOTE_MAX + 1, file): 0;
    fclose (file);
    if (text && *size > PL_CHECKPOINT_NOTE_MAX) {
        free (text);
        return NULL;
    }
    if (text)
        text [*size] = 0;
    return text;
}

int
pb_audit_verify (pb_audit_t *self, const pb_audit_verify_t *options, FILE *out)
{
    uint64_t size;
    uint8_t store_root [PL_MERKLE_HASH_SIZE];
    s_notes_t notes = { NULL, 0, 0 };
    if (pb_store_log_root (self->store, &size, store_root) != 0
    ||  pb_store_checkpoint_each (self->store, s_collect_note, &notes) != 0) {
        fprintf (stderr, "passerelle-audit: cannot read the store: %s\n",
                 pb_store_error (self->store));
        s_notes_free (&notes);
        return PB_AUDIT_ERROR;
    }
    qsort (notes.notes, notes.count, sizeof *notes.notes, s_note_cmp);
    //  The agency's checkpoint is one more note, checked at its size
    s_note_t given = { 0, NULL, 0 };
    char label [4200];
    if (options->checkpoint_file) {
        if (!(given.text = s_read_file (options->checkpoint_file, &given.text_size))) {
            fprintf (stderr, "passerelle-audit: cannot read checkpoint file %s\n",
                     options->checkpoint_file);
            s_notes_free (&notes);
            return PB_AUDIT_ERROR;
        }
        pl_checkpoint_t *claimed = pl_checkpoint_open (given.text, given.text_size,
            options->origin, options->origin, options->public_key, NULL);
        given.size = claimed? pl_checkpoint_size (claimed): 0;
        pl_checkpoint_destroy (&claimed);
        //  It may be newer than our snapshot: the broker went on writing
        if (given.size > size && pb_store_log_root (self->store, &size, store_root) != 0)
            size = 0;
    }
    s_block_t *block = calloc (1, sizeof *block);
    if (block) {
        block->tree = pl_merkle_new (NULL, NULL, 0);
        block->receipts = pb_audit_receipts_new (self->directory);
    }
    if (!block || !block->tree || !block->receipts) {
        fprintf (stderr, "passerelle-audit: out of memory\n");
        if (block) {
            pl_merkle_destroy (&block->tree);
            pb_audit_receipts_destroy (&block->receipts);
        }
        free (block);
        free (given.text);
        s_notes_free (&notes);
        return PB_AUDIT_ERROR;
    }
    int rc = PB_AUDIT_OK, shown = -1;
    pl_checkpoint_t *previous = NULL;
    size_t next_note = 0, verified_notes = 0;
    uint64_t pos = 0;
    if (given.text && given.size > size) {
        fprintf (out, "FAILED: checkpoint %s: it signs %llu entries but the log has only "
                 "%llu: the log was truncated, or shown forked\n", options->checkpoint_file,
                 (unsigned long long) given.size, (unsigned long long) size);
        rc = PB_AUDIT_FAILED;
    }
    while (rc == PB_AUDIT_OK) {
        //  Checkpoints at this size (the empty tree's too)
        uint8_t root [PL_MERKLE_HASH_SIZE];
        pl_merkle_root (block->tree, root);
        while (rc == PB_AUDIT_OK && next_note < notes.count
           &&  notes.notes [next_note].size <= pos) {
            s_note_t *note = &notes.notes [next_note++];
            pl_checkpoint_t *checkpoint = NULL;
            snprintf (label, sizeof label, "checkpoint at size %llu",
                      (unsigned long long) note->size);
            rc = s_check_note (label, note->text, note->text_size, options, root,
                               &checkpoint, out);
            if (rc == PB_AUDIT_OK && previous) {
                uint8_t proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
                size_t n = 0;
                if (pb_store_consistency_proof (self->store, pl_checkpoint_size (previous),
                                                note->size, proof, &n) != 0
                ||  !pl_checkpoint_verify_consistency (previous, checkpoint, proof, n)) {
                    fprintf (out, "FAILED: %s is not consistent with the checkpoint at size %llu\n",
                             label, (unsigned long long) pl_checkpoint_size (previous));
                    rc = PB_AUDIT_FAILED;
                }
            }
            if (rc == PB_AUDIT_OK) {
                pl_checkpoint_destroy (&previous);
                previous = checkpoint;
                verified_notes++;
            }
            else
                pl_checkpoint_destroy (&checkpoint);
        }
        if (rc == PB_AUDIT_OK && given.text && given.size == pos) {
            pl_checkpoint_t *checkpoint = NULL;
            snprintf (label, sizeof label, "checkpoint %s", options->checkpoint_file);
            rc = s_check_note (label, given.text, given.text_size, options, root,
                               &checkpoint, out);
            pl_checkpoint_destroy (&checkpoint);
            given.size = UINT64_MAX;        //  done
        }
        if (rc != PB_AUDIT_OK || pos >= size)
            break;
        //  The next block ends at the next size something is checked at
        uint64_t end = pos + S_BLOCK < size? pos + S_BLOCK: size;
        if (next_note < notes.count && notes.notes [next_note].size < end)
            end = notes.notes [next_note].size;
        if (given.text && given.size > pos && given.size < end)
            end = given.size;
        block->from = block->next = pos;
        int walked = pb_store_log_range (self->store, pos, end, s_hash_entry, block);
        if (walked < 0) {
            fprintf (stderr, "passerelle-audit: cannot read the log: %s\n",
                     pb_store_error (self->store));
            rc = PB_AUDIT_ERROR;
            break;
        }
        if (block->next < end) {
            fprintf (out, "FAILED: entry %llu is missing from the log\n",
                     (unsigned long long) block->next);
            rc = PB_AUDIT_FAILED;
            break;
        }
        uint8_t stored [PL_MERKLE_HASH_SIZE];
        pl_merkle_root (block->tree, root);
        if (pb_store_log_root_at (self->store, end, stored) != 0) {
            fprintf (stderr, "passerelle-audit: cannot read the tree: %s\n",
                     pb_store_error (self->store));
            rc = PB_AUDIT_ERROR;
            break;
        }
        if (memcmp (root, stored, sizeof root) != 0) {
            uint64_t bad;
            if (s_find_bad_entry (self->store, block, end, &bad) == 0)
                fprintf (out, "FAILED: entry %llu does not match the log's tree: the entry "
                         "or the tree was altered\n", (unsigned long long) bad);
            else
                fprintf (out, "FAILED: the log's tree at size %llu does not match entries "
                         "%llu..%llu\n", (unsigned long long) end, (unsigned long long) pos,
                         (unsigned long long) end - 1);
            rc = PB_AUDIT_FAILED;
            break;
        }
        pos = end;
        if (options->progress)
            s_progress (pos, size, &shown);
    }
    if (options->progress && shown >= 0)
        fprintf (stderr, "\n");
    if (rc == PB_AUDIT_OK) {
        char hex [PL_MERKLE_HASH_SIZE * 2 + 1];
        uint8_t root [PL_MERKLE_HASH_SIZE];
        pl_merkle_root (block->tree, root);
        fprintf (out, "log: %llu entries, root %s\n", (unsigned long long) size, s_hex (root, hex));
        if (verified_notes)
            fprintf (out, "checkpoints: %zu, signed by '%s', each consistent with the one "
                     "before; newest at size %llu\n", verified_notes, options->origin,
                     (unsigned long long) pl_checkpoint_size (previous));
        else
            fprintf (out, "checkpoints: none yet\n");
        if (given.text)
            fprintf (out, "checkpoint %s: signed by '%s', matches the log\n",
                     options->checkpoint_file, options->origin);
        if (pb_audit_receipts_report (block->receipts, out))
            fprintf (out, "ok: every entry matches the tree and every checkpoint\n");
        else
            rc = PB_AUDIT_FAILED;
    }
    pl_checkpoint_destroy (&previous);
    pl_merkle_destroy (&block->tree);
    pb_audit_receipts_destroy (&block->receipts);
    free (block);
    free (given.text);
    s_notes_free (&notes);
    return rc;
}

//  --------------------------------------------------------------------------
//  Proofs

static void
s_print_proof (FILE *out, bool json, const uint8_t *proof, size_t n)
{
    char hex [PL_MERKLE_HASH_SIZE * 2 + 1];
    for (size_t i = 0; i < n; i++) {
        if (json)
            fprintf (out, "%s\"%s\"", i? ",": "", s_hex (proof + i * PL_MERKLE_HASH_SIZE, hex));
        else
            fprintf (out, "  %s\n", s_hex (proof + i * PL_MERKLE_HASH_SIZE, hex));
    }
}

//  The stored checkpoint at exactly size, or NULL.
static char *
s_note_at (pb_audit_t *self, uint64_t size)
{
    s_notes_t notes = { NULL, 0, 0 };
    char *found = NULL;
    if (pb_store_checkpoint_each (self->store, s_collect_note, &notes) == 0)
        for (size_t i = 0; i < notes.count && !found; i++)
            if (notes.notes [i].size == size)
                found = strdup (notes.notes [i].text);
    s_notes_free (&notes);
    return found;
}

static void
s_json_string (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if (*c == '"' || *c == '\\')
            fprintf (out, "\\%c", *c);
        else
        if (*c < 0x20)
            fprintf (out, "\\u%04x", *c);
        else
            fputc (*c, out);
    fputc ('"', out);
}

int
pb_audit_proof (pb_audit_t *self, uint64_t index, uint64_t size, bool json, FILE *out)
{
    char *note = NULL;
    if (size == 0 && pb_store_checkpoint_latest (self->store, &size, &note) != 0) {
        fprintf (stderr, "passerelle-audit: no checkpoint yet: give the tree size (--size)\n");
        return PB_AUDIT_USAGE;
    }
    uint64_t log_size = pb_audit_snapshot (self);
    if (index >= size || size > log_size) {
        fprintf (stderr, "passerelle-audit: entry %llu is not in a tree of size %llu "
                 "(the log has %llu entries)\n", (unsigned long long) index,
                 (unsigned long long) size, (unsigned long long) log_size);
        free (note);
        return PB_AUDIT_USAGE;
    }
    if (!note)
        note = s_note_at (self, size);
    uint8_t *entry = NULL, leaf [PL_MERKLE_HASH_SIZE], root [PL_MERKLE_HASH_SIZE];
    uint8_t proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    size_t entry_size = 0, n = 0;
    if (pb_store_log_entry (self->store, index, &entry, &entry_size) != 0
    ||  pb_store_log_root_at (self->store, size, root) != 0
    ||  pb_store_inclusion_proof (self->store, index, size, proof, &n) != 0) {
        fprintf (stderr, "passerelle-audit: cannot read the proof: %s\n",
                 pb_store_error (self->store));
        free (entry);
        free (note);
        return PB_AUDIT_ERROR;
    }
    pl_merkle_leaf_hash (entry, entry_size, leaf);
    free (entry);
    bool ok = pl_merkle_verify_inclusion (leaf, index, size, proof, n, root);
    char hex [PL_MERKLE_HASH_SIZE * 2 + 1];
    if (json) {
        fprintf (out, "{\"index\":%llu,\"size\":%llu,\"leaf_hash\":\"%s\",",
                 (unsigned long long) index, (unsigned long long) size, s_hex (leaf, hex));
        fprintf (out, "\"root\":\"%s\",\"proof\":[", s_hex (root, hex));
        s_print_proof (out, true, proof, n);
        fprintf (out, "],\"checkpoint\":");
        if (note)
            s_json_string (out, note);
        else
            fputs ("null", out);
        fprintf (out, ",\"verified\":%s}\n", ok? "true": "false");
    }
    else {
        fprintf (out, "entry %llu in the tree of size %llu\nleaf hash  %s\n",
                 (unsigned long long) index, (unsigned long long) size, s_hex (leaf, hex));
        fprintf (out, "root       %s\nproof      %zu hashes\n", s_hex (root, hex), n);
        s_print_proof (out, false, proof, n);
        if (note)
            fprintf (out, "checkpoint\n%s", note);
        fprintf (out, ok? "ok: the proof leads from the entry to the root\n":
                          "FAILED: the proof does not lead from the entry to the root\n");
    }
    free (note);
    return ok? PB_AUDIT_OK: PB_AUDIT_FAILED;
}

int
pb_audit_consistency (pb_audit_t *self, uint64_t size1, uint64_t size2, bool json, FILE *out)
{
    uint64_t log_size = pb_audit_snapshot (self);
    if (size1 > size2 || size2 > log_size) {
        fprintf (stderr, "passerelle-audit: need OLD <= NEW <= %llu (the log's size), "
                 "not %llu and %llu\n", (unsigned long long) log_size,
                 (unsigned long long) size1, (unsigned long long) size2);
        return PB_AUDIT_USAGE;
    }
    uint8_t root1 [PL_MERKLE_HASH_SIZE], root2 [PL_MERKLE_HASH_SIZE];
    uint8_t proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    size_t n = 0;
    if (pb_store_log_root_at (self->store, size1, root1) != 0
    ||  pb_store_log_root_at (self->store, size2, root2) != 0
    ||  pb_store_consistency_proof (self->store, size1, size2, proof, &n) != 0) {
        fprintf (stderr, "passerelle-audit: cannot read the proof: %s\n",
                 pb_store_error (self->store));
        return PB_AUDIT_ERROR;
    }
    bool ok = pl_merkle_verify_consistency (size1, size2, root1, root2, proof, n);
    char *note1 = s_note_at (self, size1), *note2 = s_note_at (self, size2);
    char hex [PL_MERKLE_HASH_SIZE * 2 + 1];
    if (json) {
        fprintf (out, "{\"old_size\":%llu,\"new_size\":%llu,", (unsigned long long) size1,
                 (unsigned long long) size2);
        fprintf (out, "\"old_root\":\"%s\",", s_hex (root1, hex));
        fprintf (out, "\"new_root\":\"%s\",\"proof\":[", s_hex (root2, hex));
        s_print_proof (out, true, proof, n);
        fprintf (out, "],\"old_checkpoint\":");
        if (note1) s_json_string (out, note1); else fputs ("null", out);
        fprintf (out, ",\"new_checkpoint\":");
        if (note2) s_json_string (out, note2); else fputs ("null", out);
        fprintf (out, ",\"verified\":%s}\n", ok? "true": "false");
    }
    else {
        fprintf (out, "tree of size %llu is a prefix of the tree of size %llu\n",
                 (unsigned long long) size1, (unsigned long long) size2);
        fprintf (out, "old root   %s\n", s_hex (root1, hex));
        fprintf (out, "new root   %s\nproof      %zu hashes\n", s_hex (root2, hex), n);
        s_print_proof (out, false, proof, n);
        if (note1)
            fprintf (out, "old checkpoint\n%s", note1);
        if (note2)
            fprintf (out, "new checkpoint\n%s", note2);
        fprintf (out, ok? "ok: the proof shows the old tree is a prefix of the new\n":
                          "FAILED: the proof does not show the old tree is a prefix of the new\n");
    }
    free (note1);
    free (note2);
    return ok? PB_AUDIT_OK: PB_AUDIT_FAILED;
}
