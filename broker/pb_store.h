/*  pb_store: the broker's durable store (LMDB), and the sharing log in it.
 *
 *  One LMDB environment (a directory, mode 0700) holds everything the broker
 *  must not lose: the sharing log and its Merkle tree, the event-id index
 *  (replay refusal, corrections), the per-recipient delivery queues, the
 *  consent registry, case membership, per-publisher sequence numbers and the
 *  signed checkpoints. The layout is in the README ("The durable store").
 *
 *  Writing: one batch at a time, one LMDB write transaction per batch. The
 *  broker's single writer does group commit with it:
 *
 *      loop:
 *          wait for one message; then take, without waiting, every message
 *          that arrived meanwhile (up to a bound)
 *          batch = pb_store_begin (store)
 *          for each message: pb_batch_event_seen / _event_record /
 *              _log_append / _queue_push / _queue_remove ...
 *          rc = pb_batch_commit (&batch)      (one fsync for all of them)
 *          only now acknowledge each publisher (rc 0), or refuse them all
 *          (rc PB_STORE_FULL: "store full"; rc -1: "store error")
 *
 *  So each publisher is acknowledged only after the transaction holding its
 *  event is durable (default LMDB flags: commit = fsync), and events that
 *  arrive while one commit is in progress share the next one.
 *
 *  Journaled (pb_store_use_journal, the broker's mode): pb_batch_commit
 *  makes the batch durable as one record of the redo journal (pb_redo.h)
 *  and folds it into a long LMDB transaction that pb_store_flush commits;
 *  the open replays what the journal holds beyond the store. The guarantee
 *  to the caller is the same: 0 means durable.
 *
 *  Reading: the readers (pb_store_log_*, pb_store_queue_*, ...) see the open
 *  batch's own writes when the caller has a batch open on this handle, and
 *  otherwise the last committed state. Each read is its own short LMDB read
 *  transaction, so another process (passerelle-audit) may open the same
 *  directory read-only while the broker writes: LMDB readers never block the
 *  writer. A read-only handle follows the writer's commits on every call.
 *
 *  Errors: calls return 0 on success and a negative code otherwise; the
 *  reason, naming the LMDB operation, is in pb_store_error (). A batch call
 *  that fails inside LMDB (-1 or PB_STORE_FULL) spoils the batch: later calls
 *  on it fail at once and pb_batch_commit aborts it and returns that code.
 *  Nothing half-written ever reaches the disk.
 *
 *  Space. A full map (MDB_MAP_FULL) would also stop the writes that free
 *  space: a receipt is logged and removes its queue item, and LMDB's
 *  copy-on-write needs new pages even to delete. So the store keeps headroom:
 *  once the pages in use (high-water page minus free pages) plus what the
 *  open batch has written would cross the publish limit (map size minus
 *  max (1/8 of the map, 32 pages)), the publish path (pb_batch_event_record,
 *  pb_batch_queue_push) answers PB_STORE_NO_ROOM and writes nothing, while
 *  receipts, expiry, removals, drops and their log entries go on in the
 *  headroom. The broker checks pb_store_accepts_publish () before deciding
 *  a publish, refuses it with a clear "store full" reason, and does not log
 *  such refusals in the store (only in its text log), so a flood of them
 *  cannot eat the headroom.  */
#ifndef PB_STORE_H_INCLUDED
#define PB_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Layout version written in the meta database. A store with a newer one is
//  refused at open ("written by a newer passerelle"). 2: the redo journal
//  (an older broker would ignore it). 3: the case and agency indexes are
//  written late, up to meta "indexed_to" (an older broker would write
//  them as before and leave a gap). 4: a new store keys its Merkle nodes
//  by the leaf that completes them (meta "merkle_keys"; an older broker
//  would read them as keyed level first). 5: a queue item's Delivery frame
//  kept apart, in "frames" (an older broker would find items without
//  their frames). 6: redo journal records end in an HMAC-SHA256 (magic
//  PBR2; an older broker would not read them and would write over
//  acknowledged batches). A writer stamps an older store 6 and keeps its
//  node keys, the frames its items hold and its PBR1 records (replayed)
//  as they were.
#define PB_STORE_SCHEMA           6
//  Default map size: 1 GiB of address space (not disk) per broker.
#define PB_STORE_MAP_SIZE_DEFAULT ((size_t) 1 << 30)
//  Bounds on what becomes part of an LMDB key (max key size is 511).
#define PB_STORE_NAME_MAX         200     //  agency, case_ref, publisher, consent id
#define PB_STORE_EVENT_ID_MAX     64      //  event ids are 16 bytes on the wire
#define PB_STORE_HASH_SIZE        32

//  Return codes beside 0 and -1.
#define PB_STORE_FULL    (-2)   //  MDB_MAP_FULL: the batch is spoilt, commit aborts it
#define PB_STORE_NO_ROOM (-3)   //  publish limit crossed: nothing written, batch still good

typedef struct _pb_store_t pb_store_t;
typedef struct _pb_batch_t pb_batch_t;

//  --------------------------------------------------------------------------
//  Open and close

//  Open (creating when absent, unless read_only) the store in dir. map_size
//  0 means PB_STORE_MAP_SIZE_DEFAULT (read-only: the size the writer chose);
//  an existing store larger than map_size keeps its size. Restores the Merkle
//  tree at its stored size reading only its right edge (no rehash). NULL on
//  failure, with the reason in err: a missing or unreadable dir, a file that
//  is not an LMDB store, a schema newer than PB_STORE_SCHEMA, ...
pb_store_t *pb_store_open (const char *dir, size_t map_size, bool read_only,
                           char *err, size_t err_size);

//  Aborts an open batch, closes the environment, nulls *self_p.
void pb_store_destroy (pb_store_t **self_p);

//  The reason of the last failure on this handle ("" when none).
const char *pb_store_error (pb_store_t *self);

//  --------------------------------------------------------------------------
//  Batches (one write transaction; at most one open per handle)

//  NULL when read-only, when a batch is already open, or LMDB fails.
pb_batch_t *pb_store_begin (pb_store_t *self);

//  Commit durably. 0; PB_STORE_FULL (map full: aborted, nothing written, the
//  store stays usable); -1 (aborted; reason logged and in pb_store_error).
//  Nulls *batch_p in every case.
int pb_batch_commit (pb_batch_t **batch_p);

//  Forget everything the batch did, including its Merkle appends.
void pb_batch_abort (pb_batch_t **batch_p);

//  --------------------------------------------------------------------------
//  Journaled commits (the broker's mode; see pb_redo.h and pb_store_redo.c)

//  From now on a batch commits by writing its writes to the redo journal
//  (DIR/redo) and syncing that: one sequential write instead of a full
//  LMDB commit. LMDB gets the batches durably at pb_store_flush, which
//  pb_store_flush_if_due does every flush_ms (and at 8 MiB of journal).
//  Other processes see the store as of the last flush. 0: every batch
//  commits LMDB (the default). A writer's open always replays the journal.
//  0, or -1 (the journal cannot be created; reason in pb_store_error).
int pb_store_use_journal (pb_store_t *self, int64_t flush_ms);

//  Commit the batches folded since the last flush to LMDB, durably. 0, or
//  -1 (reason in pb_store_error; nothing is lost: the journal holds them).
int pb_store_flush (pb_store_t *self);
int pb_store_flush_if_due (pb_store_t *self);
//  Index up to max log entries that wait for the case and agency indexes
//  (pb_store_index.c), in what the next flush commits: for a broker with
//  nothing waiting. 0 (also when there is nothing to do), or -1.
int pb_store_index_catch_up (pb_store_t *self, size_t max);

//  Read-only handles: how many journal records the store did not hold at
//  open while no writer held the journal: what a broker that was killed
//  replays at its next start. (A running broker's last few milliseconds
//  are not counted: they reach the store at its next flush.)
size_t pb_store_redo_pending (pb_store_t *self);

//  True while a publish would still fit under the publish limit (see Space).
bool pb_store_accepts_publish (pb_store_t *self);

//  --------------------------------------------------------------------------
//  The sharing log

//  Append a serialised LogEntry (stored as given, never re-serialised): its
//  leaf goes into the Merkle tree in the same transaction, and the entry is
//  indexed by its case_ref and by every agency it names (publisher, each
//  decision's recipient, agency). *index gets its leaf index. Fails (-1)
//  on bytes that do not parse as a LogEntry.
int pb_batch_log_append (pb_batch_t *self, const uint8_t *entry, size_t size,
                         uint64_t *index);

//  The names an entry is indexed under, as one block: its case_ref (""
//  if none), then each agency it names once, each string ending with a
//  NUL. Returns the block's size, and writes it to out if room holds it.
struct Passerelle__LogEntry;
size_t pb_log_names (const struct Passerelle__LogEntry *entry, char *out, size_t room);

//  The same append for the broker, which made entry from a LogEntry it
//  holds and names from the same one (pb_journal): the bytes are not
//  decoded again, and the names are kept for the indexes. Fails (-1) on
//  names not in pb_log_names' form or longer than a name may be.
int pb_batch_log_append_named (pb_batch_t *self, const uint8_t *entry, size_t size,
                               const char *names, size_t names_size, uint64_t *index);

//  Size and root of the tree, as one consistent pair.
int pb_store_log_root (pb_store_t *self, uint64_t *size, uint8_t *root);
uint64_t pb_store_log_size (pb_store_t *self);
//  Root of the tree as it was at size (<= current size).
int pb_store_log_root_at (pb_store_t *self, uint64_t size, uint8_t *root);

//  A copy of entry index (free () it). 0, 1 (no such entry), or -1.
int pb_store_log_entry (pb_store_t *self, uint64_t index, uint8_t **entry, size_t *size);

//  Called per entry in index order; entry is valid during the call only, and
//  the callback must not write to the store. Non-zero stops the walk (and
//  is returned by the walker).
typedef int (pb_store_entry_fn) (uint64_t index, const uint8_t *entry, size_t size, void *arg);

//  Entries [from, to) (to beyond the size: up to the end).
int pb_store_log_range (pb_store_t *self, uint64_t from, uint64_t to,
                        pb_store_entry_fn *fn, void *arg);
//  Entries of a case / naming an agency, index >= from, by index (not scans).
int pb_store_log_case (pb_store_t *self, const char *case_ref, uint64_t from,
                       pb_store_entry_fn *fn, void *arg);
int pb_store_log_agency (pb_store_t *self, const char *agency, uint64_t from,
                         pb_store_entry_fn *fn, void *arg);

//  Proofs as pl_merkle makes them (room for PL_MERKLE_PROOF_MAX hashes);
//  verify with pl_merkle_verify_inclusion / _consistency.
int pb_store_inclusion_proof (pb_store_t *self, uint64_t index, uint64_t size,
                              uint8_t *proof, size_t *proof_len);
int pb_store_consistency_proof (pb_store_t *self, uint64_t size1, uint64_t size2,
                                uint8_t *proof, size_t *proof_len);

//  Merkle node reads this handle has made since open: lets tests check that
//  opening reads only the tree's right edge.
uint64_t pb_store_merkle_reads (pb_store_t *self);

//  --------------------------------------------------------------------------
//  Event ids: replay refusal, and corrections (who published, who got it)

//  1 if event_id was recorded (committed, or earlier in this batch), 0 if
//  not, -1 on error.
int pb_batch_event_seen (pb_batch_t *self, const uint8_t *event_id, size_t id_size);

//  Record an accepted event: its publisher, the log index of its publish
//  entry, what it supersedes (NULL/0: nothing), the agencies it is routed
//  to and its case (NULL: none). The admission point of a publish: call it
//  before the other writes of that event; PB_STORE_NO_ROOM past the publish
//  limit (nothing written), -1 if already recorded (check
//  pb_batch_event_seen first).
int pb_batch_event_record (pb_batch_t *self, const uint8_t *event_id, size_t id_size,
                           const char *publisher, uint64_t log_index,
                           const uint8_t *supersedes, size_t supersedes_size,
                           const char *const *recipients, size_t n_recipients,
                           const char *case_ref);

typedef struct {
    uint64_t log_index;
    char *publisher;
    uint8_t *supersedes;            //  NULL when none
    size_t supersedes_size;
    size_t n_recipients;
    char **recipients;
    char *case_ref;                 //  NULL: none, or recorded before the store kept it
} pb_event_t;

//  A copy of what was recorded: 0 (*event_p set), 1 (unknown event), -1.
int pb_store_event_lookup (pb_store_t *self, const uint8_t *event_id, size_t id_size,
                           pb_event_t **event_p);
void pb_event_destroy (pb_event_t **self_p);

//  --------------------------------------------------------------------------
//  Figures

typedef struct {
    uint64_t log_size;
    uint64_t queue_total;           //  items owed, all agencies
    uint64_t events;                //  event ids recorded
    size_t map_size;
    size_t page_size;
    size_t used_bytes;              //  pages in use (high water - free pages)
    size_t high_water_bytes;        //  file extent LMDB has touched
    size_t publish_limit_bytes;     //  used_bytes above this: publishes refused
    bool accepts_publish;
    unsigned schema;
    uint64_t indexed_to;            //  entries below it are in the case and agency
                                    //  indexes (UINT64_MAX: all); walks read past it
} pb_store_stats_t;

int pb_store_stats (pb_store_t *self, pb_store_stats_t *stats);

/*  Give the map's pages back to the kernel if this process has more than
 *  budget bytes of file-backed pages resident beyond what it had at open
 *  (shared libraries). LMDB reads through a shared
 *  map of the store file, so every page the broker has read stays in its
 *  RSS, though it is page cache the kernel may reclaim at any time; left
 *  alone, RSS grows with the store, not with what the broker holds. The
 *  pages stay in the page cache and come back on the next read (a minor
 *  fault), so nothing is lost and any transaction may be open. Returns the
 *  bytes resident before (0 if /proc cannot be read), and sets *released.  */
size_t pb_store_trim_map (pb_store_t *self, size_t budget, bool *released);

#endif
