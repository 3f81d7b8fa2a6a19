/*  pb_store_index: the sharing log's case and agency indexes, written late.
 *
 *  log_by_case and log_by_agency answer an auditor's "everything about
 *  this case" without a scan. Written with each entry, they were the most
 *  costly part of a flush: every busy case's index page is written again
 *  at every flush (50 ms), one 4 KiB page for one 8-byte index. So they are
 *  derived from the log a while later instead, "landed": under load, once a
 *  second or when 4,096 entries wait, inside a flush or a commit already on
 *  its way, each page then taking many entries at once (the benchmark
 *  writes 14 KiB per event instead of 18, and half as much in a backlog).
 *  A quiet broker (a round of a few messages, nothing waiting) lands up to
 *  512 at a time (pb_store_index_catch_up, from the server): such a landing
 *  is too short to hold up an event, and its indexes are never far behind.
 *  4,096 at most per landing: about 16 ms of work here, and the dirty pages
 *  of a larger one raised the broker's peak memory past its 64 MB target.
 *
 *  meta "indexed_to" says how far they go: every entry below it is in both
 *  indexes, none at or above it is. It changes only in the transaction that
 *  lands the entries, so a crash loses the landing and the number together
 *  (the redo journal never holds index writes: nothing to replay). An
 *  absent key reads as "all": a store from before (schema 2) indexed every
 *  entry as it wrote it, and a writer stamping it 3 sets the key.
 *
 *  Readers see no difference: a case or agency walk takes the index below
 *  indexed_to, then reads the entries from there on (at most a second or
 *  two of them) and keeps those that name the case or agency.
 *
 *  A landing runs in a transaction nested in the one it rides with, so a
 *  landing that fails (a full map) is dropped alone and tried again later;
 *  the entries stay findable by the walk all along.  */
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "pb_store_int.h"
#include "passerelle.pb-c.h"

//  Land at most this long after the last landing, or at this many entries;
//  a landing takes this many at most
#define LAND_EVERY_MS   1000
#define LAND_AT_ENTRIES PB_STORE_LAND_AT_MOST

static const char *INDEXED_TO = PB_STORE_META_INDEXED_TO;

//  The agencies an entry names: publisher, agency, each decision's recipient
static const char *
s_agency_at (const Passerelle__LogEntry *le, size_t i)
{
    const char *name = i == 0? le->publisher: i == 1? le->agency: le->decisions [i - 2]->recipient;
    return name? name: "";
}

//  Whether the i-th agency name already came earlier in the entry
static bool
s_named_before (const Passerelle__LogEntry *le, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp (s_agency_at (le, i), s_agency_at (le, j)) == 0)
            return true;
    return false;
}

size_t
pb_log_names (const Passerelle__LogEntry *le, char *out, size_t room)
{
    size_t total = 0;
    //  Name 0 is the case, kept even when empty; then each agency, once
    for (size_t i = 0; i < 3 + le->n_decisions; i++) {
        const char *name = i? s_agency_at (le, i - 1): le->case_ref? le->case_ref: "";
        if (i && (!*name || s_named_before (le, i - 1)))
            continue;
        size_t len = strlen (name) + 1;
        if (total + len <= room)
            memcpy (out + total, name, len);
        total += len;
    }
    return total;
}

char *
pb_log_names_decode (const uint8_t *entry, size_t size, size_t *names_size)
{
    Passerelle__LogEntry *le = entry && size?
                               passerelle__log_entry__unpack (NULL, size, entry): NULL;
    *names_size = le? pb_log_names (le, NULL, 0): 0;
    char *names = *names_size? malloc (*names_size): NULL;
    if (names)
        pb_log_names (le, names, *names_size);
    passerelle__log_entry__free_unpacked (le, NULL);
    return names;
}

//  --------------------------------------------------------------------------
//  The names of entries not landed yet, kept from their append: a landing
//  then writes the indexes without decoding each entry again (that was
//  half its cost). memo [i] holds entry memo_from + i, one unbroken run
//  of appends; memo_next is the index the next append should have, so an
//  append elsewhere starts the run again. Up to MEMO_MAX entries and
//  MEMO_BYTES of names (entries naming many agencies are larger): past
//  that, or after a restart or a failed malloc, a landing decodes the
//  entries the memo lacks, as before.

#define MEMO_MAX    (4 * PB_STORE_LAND_AT_MOST)
#define MEMO_BYTES  ((size_t) 2 << 20)

static void
s_memo_drop_below (pb_store_t *self, uint64_t index)
{
    size_t drop = index <= self->memo_from? 0:
                  index - self->memo_from >= self->memo_count? self->memo_count:
                  (size_t) (index - self->memo_from);
    if (drop == 0)
        return;
    for (size_t i = 0; i < drop; i++) {
        self->memo_bytes -= self->memo [i]->size;
        free (self->memo [i]);
    }
    memmove (self->memo, self->memo + drop, (self->memo_count - drop) * sizeof *self->memo);
    self->memo_count -= drop;
    self->memo_from += drop;
}

void
pb_store_index_forget_from (pb_store_t *self, uint64_t size)
{
    while (self->memo_count > 0 && self->memo_from + self->memo_count > size) {
        pb_names_t *item = self->memo [--self->memo_count];
        self->memo_bytes -= item->size;
        free (item);
    }
    if (self->memo_next > size)
        self->memo_next = size;         //  the tree goes on from there
    if (self->memo_count == 0) {
        free (self->memo);
        self->memo = NULL;
    }
}

void
pb_store_index_remember (pb_store_t *self, uint64_t index, const char *names, size_t size)
{
    if (index != self->memo_next)
        pb_store_index_forget_from (self, 0);       //  all of it
    self->memo_next = index + 1;
    if (self->memo_count == 0)
        self->memo_from = index;
    //  Full, or a gap left by an entry it could not take: the run stops
    if (index != self->memo_from + self->memo_count || self->memo_count >= MEMO_MAX
    ||  self->memo_bytes + size > MEMO_BYTES)
        return;
    if (!self->memo && !(self->memo = malloc (MEMO_MAX * sizeof *self->memo)))
        return;
    pb_names_t *item = malloc (sizeof *item + size);
    if (!item)
        return;
    item->size = size;
    memcpy (item->data, names, size);
    self->memo [self->memo_count++] = item;
    self->memo_bytes += size;
}

static const pb_names_t *
s_memo_at (pb_store_t *self, uint64_t index)
{
    return index >= self->memo_from && index - self->memo_from < self->memo_count?
           self->memo [index - self->memo_from]: NULL;
}

int
pb_store_indexed_to (pb_store_t *self, MDB_txn *txn, uint64_t *indexed_to)
{
    return pb_store_meta_get_u64_or (self, txn, INDEXED_TO, strlen (INDEXED_TO), UINT64_MAX,
                                     indexed_to);
}

int
pb_store_set_indexed_to (pb_store_t *self, MDB_txn *txn, uint64_t indexed_to)
{
    return pb_store_meta_put_u64 (self, txn, INDEXED_TO, indexed_to);
}

//  --------------------------------------------------------------------------
//  Landing

static int
s_put_index (pb_store_t *self, MDB_txn *txn, MDB_dbi dbi, const char *name,
             const uint8_t *index_be)
{
    size_t len = strlen (name);
    if (len == 0)
        return 0;
    if (len > PB_STORE_NAME_MAX)        //  pb_batch_log_append_named refused such entries
        return pb_store_fail (self, "index: a name of %zu bytes", len);
    //  The pair may be there already, at or above indexed_to: a schema-2
    //  journal replayed after the stamp (an open that had to replay one
    //  record per transaction) carries index writes. LMDB then adds
    //  nothing and says 0, and walks stop at indexed_to anyway.
    MDB_val k = { len, (void *) name }, v = { 8, (void *) index_be };
    int rc = mdb_put (txn, dbi, &k, &v, 0);
    return rc? pb_store_lmdb_fail (self, rc, "land index"): 0;
}

//  File entry index_be under its names: the case, then each agency
static int
s_put_names (pb_store_t *self, MDB_txn *txn, const char *names, size_t size,
             const uint8_t *index_be)
{
    int rc = s_put_index (self, txn, self->case_idx, names, index_be);
    for (size_t at = strlen (names) + 1; at < size && rc == 0; at += strlen (names + at) + 1)
        rc = s_put_index (self, txn, self->agency_idx, names + at, index_be);
    return rc;
}

//  Index entries [from, to) in txn
static int
s_land_range (pb_store_t *self, MDB_txn *txn, uint64_t from, uint64_t to)
{
    //  Entries whose names the memo holds need no read of the log: they
    //  are in it by construction (a batch that aborts takes its entries'
    //  names back out, pb_store_index_forget_from)
    for (const pb_names_t *memo; from < to && (memo = s_memo_at (self, from)); from++) {
        uint8_t index_be [8];
        pl_put_be64 (index_be, from);
        int rc = s_put_names (self, txn, memo->data, memo->size, index_be);
        if (rc)
            return rc;
    }
    if (from == to)
        return 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->log, &cursor);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "land index: open log cursor");
    uint8_t key [8];
    pl_put_be64 (key, from);
    MDB_val k = { 8, key }, v;
    int result = 0;
    uint64_t next = from;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE); rc == 0 && result == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        uint64_t index = pl_get_be64 (k.mv_data);
        if (index >= to)
            break;
        if (index != next) {
            result = pb_store_fail (self, "land index: log entry %llu missing",
                                    (unsigned long long) next);
            break;
        }
        next++;
        const pb_names_t *memo = s_memo_at (self, index);
        if (memo) {
            result = s_put_names (self, txn, memo->data, memo->size, k.mv_data);
            continue;
        }
        size_t size;
        char *names = pb_log_names_decode (v.mv_data, v.mv_size, &size);
        if (!names) {
            result = pb_store_fail (self, "land index: log entry %llu does not decode",
                                    (unsigned long long) index);
            break;
        }
        result = s_put_names (self, txn, names, size, k.mv_data);
        free (names);
    }
    if (result == 0 && rc && rc != MDB_NOTFOUND)
        result = pb_store_lmdb_fail (self, rc, "land index: walk log");
    if (result == 0 && next != to)
        result = pb_store_fail (self, "land index: the log ends at %llu, before %llu",
                                (unsigned long long) next, (unsigned long long) to);
    mdb_cursor_close (cursor);
    return result;
}

//  How far the indexes go, counting a landing not yet committed
static uint64_t
s_landed (pb_store_t *self)
{
    return self->landing? self->landing_to: self->landed_to;
}

void
pb_store_index_settled (pb_store_t *self, bool committed)
{
    if (self->landing && committed) {
        self->landed_to = self->landing_to;
        s_memo_drop_below (self, self->landed_to);
    }
    self->landing = false;
}

//  Whether entries wait and a landing may be tried at all: not in a store
//  that refuses batches until a restart, nor near a full map, where the
//  pages it takes could cost events their commit (walks read past
//  indexed_to meanwhile)
static bool
s_may_land (pb_store_t *self)
{
    return !self->read_only && !self->broken && self->tree
        && s_landed (self) < pl_merkle_size (self->tree) && pb_store_accepts_publish (self);
}

bool
pb_store_index_due (pb_store_t *self)
{
    return s_may_land (self)
        && (pl_merkle_size (self->tree) - s_landed (self) >= LAND_AT_ENTRIES
            || zclock_mono () - self->landed_ms >= LAND_EVERY_MS);
}

//  Land up to max waiting entries in a transaction nested in parent
//  (callers have asked s_may_land)
static int
s_land (pb_store_t *self, MDB_txn *parent, uint64_t max)
{
    uint64_t size = pl_merkle_size (self->tree), from, to = size;
    self->landed_ms = zclock_mono ();       //  even a failure waits for the next turn
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, parent, 0, &txn);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "land index: begin");
    int result = pb_store_indexed_to (self, txn, &from);
    if (result == 0 && from < size) {
        if (size - from > max)
            to = from + max;
        result = s_land_range (self, txn, from, to);
        if (result == 0)
            result = pb_store_set_indexed_to (self, txn, to);
    }
    if (result == 0 && (rc = mdb_txn_commit (txn)))
        result = pb_store_lmdb_fail (self, rc, "land index: commit");
    else
    if (result)
        mdb_txn_abort (txn);
    if (result == 0) {
        //  Counted only once parent is committed (pb_store_index_settled)
        self->landing = true;
        self->landing_to = from == UINT64_MAX? from: to;
    }
    return result;
}

int
pb_store_index_land (pb_store_t *self, MDB_txn *parent)
{
    return s_may_land (self)? s_land (self, parent, PB_STORE_LAND_AT_MOST): 0;
}

int
pb_store_index_catch_up (pb_store_t *self, size_t max)
{
    //  Only into batches the next flush commits: a flush with none aborts
    //  what is folded, and a landing in it with it
    if (self->batch_open || !self->folded || self->folded_batches == 0 || !s_may_land (self))
        return 0;
    return s_land (self, self->folded, max);
}

int
pb_store_index_land_alone (pb_store_t *self, uint64_t max)
{
    if (self->batch_open || self->folded || !s_may_land (self))
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc)
        return pb_store_lmdb_fail (self, rc, "land index: begin");
    if (s_land (self, txn, max)) {
        mdb_txn_abort (txn);
        return -1;
    }
    rc = mdb_txn_commit (txn);
    pb_store_index_settled (self, rc == 0);
    //  Journaled: MDB_NOMETASYNC left the meta page unsynced
    if (rc == 0 && self->flush_ms)
        rc = mdb_env_sync (self->env, 1);
    return rc? pb_store_lmdb_fail (self, rc, "land index: commit"): 0;
}

int
pb_store_index_land_all (pb_store_t *self)
{
    //  Stops when a landing moves nothing (none may be tried now)
    uint64_t landed;
    do {
        landed = self->landed_to;
        if (pb_store_index_land_alone (self, PB_STORE_LAND_AT_MOST))
            return -1;
    } while (self->landed_to != landed);
    return 0;
}

//  --------------------------------------------------------------------------
//  Walking

typedef struct {
    bool by_case;
    const char *name;
} match_t;

static bool
s_entry_names (const uint8_t *entry, size_t size, const match_t *match)
{
    Passerelle__LogEntry *le = passerelle__log_entry__unpack (NULL, size, entry);
    if (!le)
        return false;
    bool found = false;
    if (match->by_case)
        found = le->case_ref && strcmp (le->case_ref, match->name) == 0;
    else
        for (size_t i = 0; i < 2 + le->n_decisions && !found; i++)
            found = strcmp (s_agency_at (le, i), match->name) == 0;
    passerelle__log_entry__free_unpacked (le, NULL);
    return found;
}

//  Entries listed under name below indexed_to, then those from indexed_to
//  on that name it, all with index >= from
static int
s_walk (pb_store_t *self, MDB_dbi dbi, const match_t *match, uint64_t from,
        pb_store_entry_fn *fn, void *arg, const char *what)
{
    size_t len = pb_store_name_len (self, match->name, what);
    if (!len)
        return -1;
    MDB_txn *txn;
    if (pb_store_read_begin (self, &txn))
        return -1;
    uint64_t indexed_to;
    MDB_cursor *index_cursor = NULL, *log_cursor = NULL;
    int result = pb_store_indexed_to (self, txn, &indexed_to);
    int rc = result? 0: mdb_cursor_open (txn, dbi, &index_cursor);
    if (rc == 0 && result == 0)
        rc = mdb_cursor_open (txn, self->log, &log_cursor);
    if (rc)
        result = pb_store_lmdb_fail (self, rc, "open index cursor");
    uint8_t from_be [8];
    pl_put_be64 (from_be, from);
    MDB_val k = { len, (void *) match->name }, v = { 8, from_be };
    //  GET_BOTH_RANGE: the first index >= from under this name
    if (result == 0)
        rc = mdb_cursor_get (index_cursor, &k, &v, MDB_GET_BOTH_RANGE);
    for (; result == 0 && rc == 0; rc = mdb_cursor_get (index_cursor, &k, &v, MDB_NEXT_DUP)) {
        uint64_t index = pl_get_be64 (v.mv_data);
        if (index >= indexed_to)
            break;
        MDB_val lk = { 8, v.mv_data }, lv;
        int lrc = mdb_cursor_get (log_cursor, &lk, &lv, MDB_SET_KEY);
        if (lrc) {
            result = pb_store_lmdb_fail (self, lrc, "read indexed log entry");
            break;
        }
        result = fn (index, lv.mv_data, lv.mv_size, arg);
    }
    if (result == 0 && rc && rc != MDB_NOTFOUND)
        result = pb_store_lmdb_fail (self, rc, "walk index");
    //  The entries not landed yet
    if (result == 0 && indexed_to != UINT64_MAX) {
        uint8_t key [8];
        pl_put_be64 (key, from > indexed_to? from: indexed_to);
        MDB_val lk = { 8, key }, lv;
        for (rc = mdb_cursor_get (log_cursor, &lk, &lv, MDB_SET_RANGE); rc == 0 && result == 0;
             rc = mdb_cursor_get (log_cursor, &lk, &lv, MDB_NEXT))
            if (s_entry_names (lv.mv_data, lv.mv_size, match))
                result = fn (pl_get_be64 (lk.mv_data), lv.mv_data, lv.mv_size, arg);
        if (result == 0 && rc != MDB_NOTFOUND)
            result = pb_store_lmdb_fail (self, rc, "walk log after the index");
    }
    if (log_cursor)
        mdb_cursor_close (log_cursor);
    if (index_cursor)
        mdb_cursor_close (index_cursor);
    pb_store_read_end (self, txn);
    return result;
}

int
pb_store_log_case (pb_store_t *self, const char *case_ref, uint64_t from,
                   pb_store_entry_fn *fn, void *arg)
{
    match_t match = { true, case_ref };
    return s_walk (self, self->case_idx, &match, from, fn, arg, "case_ref");
}

int
pb_store_log_agency (pb_store_t *self, const char *agency, uint64_t from,
                     pb_store_entry_fn *fn, void *arg)
{
    match_t match = { false, agency };
    return s_walk (self, self->agency_idx, &match, from, fn, arg, "agency");
}
