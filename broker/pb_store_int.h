/*  pb_store_int: what the pb_store*.c files share and nothing else sees.
 *
 *  The store's struct, the one batch it may have open, and the small
 *  helpers every part uses: turning an LMDB return code into a message that
 *  names the operation (and into PB_STORE_FULL for MDB_MAP_FULL), spoiling
 *  a batch on the first LMDB failure, name checks (big-endian keys: pl_bytes.h), and the
 *  choice of transaction a read runs in (the open batch's, or its own).  */
#ifndef PB_STORE_INT_H_INCLUDED
#define PB_STORE_INT_H_INCLUDED

#include <lmdb.h>
#include "pb_store.h"
#include "pl_merkle.h"
#include "pb_redo.h"
#include "pl_bytes.h"

//  Named databases; the layout is documented in the README.
#define PB_STORE_DB_COUNT 14
//  meta keys: the log's size, the last redo record LMDB holds
#define PB_STORE_META_LOG_SIZE "log_size"
#define PB_STORE_META_REDO_SEQ "redo_seq"
#define PB_STORE_META_INDEXED_TO "indexed_to"

//  The names a log entry is filed under (pb_log_names), kept from its
//  append for its landing (pb_store_index.c)
typedef struct {
    size_t size;
    char data [];
} pb_names_t;

//  A meta counter a batch changed, kept here and written once at its
//  commit: a group of a hundred pushes and receipts would otherwise read
//  and put "qseq" and each agency's depth a hundred times (and journal
//  every put).
#define PB_BATCH_COUNTERS 8
typedef struct {
    uint8_t key [8 + PB_STORE_NAME_MAX];
    size_t ksize;
    uint64_t value;
} pb_counter_t;

struct _pb_batch_t {
    pb_store_t *store;
    MDB_txn *txn;
    int failed;                     //  0, or the code that spoilt the batch
    size_t bytes;                   //  key + value bytes written: space estimate
    bool journaled;                 //  nested in `folded`: its record makes it durable
    pb_counter_t counters [PB_BATCH_COUNTERS];  //  changed, not yet written
    size_t counter_count;
};

struct _pb_store_t {
    MDB_env *env;
    bool read_only;
    MDB_dbi meta, log, merkle, events, case_idx, agency_idx,
            queue, queue_ev, queue_due, consents, cases, seq, checkpoints, frames;
    bool frames_open;               //  false: a store from before schema 5, opened read-only
    MDB_txn *walk_txn;              //  during a queue walk: where pb_store_queue_frame reads
    MDB_dbi dbs [PB_STORE_DB_COUNT];    //  the same, by the number the redo journal uses
    pl_merkle_t *tree;
    void *map_start;                //  LMDB's map of the file, once found (pb_store_trim_map)
    size_t map_length;
    size_t map_not_found;           //  a map size for which the mapping was not found
    size_t file_baseline;           //  file-backed resident bytes at open: libraries, not the map
    uint64_t committed_size;        //  log size as of the last commit
    MDB_txn *txn;                   //  the txn Merkle node reads/writes use now
    uint64_t merkle_reads;
    bool merkle_by_leaf;            //  node keys: completing leaf, then level (meta "merkle_keys")
    pb_batch_t batch;
    bool batch_open;
    //  Journaled commits (pb_store_use_journal): a batch is durable once its
    //  record is in the redo journal; LMDB gets it as a nested transaction
    //  of `folded`, committed (durably) by pb_store_flush.
    pb_redo_t *redo;                //  writers only
    uint64_t redo_seq;              //  last record written (meta "redo_seq" in folded)
    int64_t flush_ms;               //  0: not journaled, every batch commits LMDB
    MDB_txn *folded;                //  batches since the last flush, or NULL
    int64_t folded_since_ms;
    size_t folded_bytes;            //  their written bytes (space estimate)
    size_t folded_batches;
    size_t redo_pending;            //  read-only: journal records LMDB does not hold yet
    bool flush_soon;                //  a batch found the map full: flush before the next
    bool broken;                    //  the journal could not be synced: refuse until restart
    //  The case and agency indexes, landed late (pb_store_index.c)
    uint64_t landed_to;             //  meta "indexed_to" as committed (UINT64_MAX: all)
    uint64_t landing_to;            //  and as landed in a transaction not committed yet
    bool landing;                   //  (landing_to is set)
    int64_t landed_ms;              //  when the last landing was tried
    pb_names_t **memo;              //  the names of entries memo_from.., kept from their append
    uint64_t memo_from, memo_next;  //  memo_next: the index the next append should have
    size_t memo_count, memo_bytes;
    size_t page_size, map_size, used_bytes, high_water_bytes, limit_bytes;
    char error [512];
};

//  Record a failure reason (printf-style); returns -1.
int pb_store_fail (pb_store_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
//  Record "op: LMDB's message"; PB_STORE_FULL for MDB_MAP_FULL, else -1.
int pb_store_lmdb_fail (pb_store_t *self, int rc, const char *op);

//  0 if the batch may go on, else its failure code (and a reason).
int pb_batch_usable (pb_batch_t *self);
//  Spoil the batch with an LMDB failure; returns the code.
int pb_batch_lmdb_fail (pb_batch_t *self, int rc, const char *op);
//  Put / delete in the batch, spoiling it on failure. del: 0, 1 absent, <0.
int pb_batch_put (pb_batch_t *self, MDB_dbi dbi, const void *key, size_t ksize,
                  const void *val, size_t vsize, unsigned flags, const char *op);
int pb_batch_del (pb_batch_t *self, MDB_dbi dbi, const void *key, size_t ksize,
                  const void *val, size_t vsize, const char *op);
//  0 while extra more bytes would fit under the publish limit, else
//  PB_STORE_NO_ROOM with a reason (the batch stays usable).
int pb_batch_room (pb_batch_t *self, size_t extra);

//  A transaction to read in: the open batch's, or a fresh read-only one
//  (which also brings a read-only handle's tree up to the writer's size).
int pb_store_read_begin (pb_store_t *self, MDB_txn **txn);
void pb_store_read_end (pb_store_t *self, MDB_txn *txn);

//  meta counters: a missing key reads as 0.
int pb_store_meta_get_u64 (pb_store_t *self, MDB_txn *txn, const void *key, size_t ksize,
                           uint64_t *value);
//  The same with the value an absent key reads as; and a write in txn
//  (not journaled: for open, replay and the late indexes).
int pb_store_meta_get_u64_or (pb_store_t *self, MDB_txn *txn, const void *key, size_t ksize,
                              uint64_t absent, uint64_t *value);
int pb_store_meta_put_u64 (pb_store_t *self, MDB_txn *txn, const char *key, uint64_t value);
//  A counter of the open batch: add to it, read it (with what the batch
//  added), or read it through the store (the batch's value while one is
//  open, else the committed one). Written to meta at the batch's commit.
int pb_batch_meta_add (pb_batch_t *self, const void *key, size_t ksize, int64_t delta);
int pb_batch_meta_get (pb_batch_t *self, const void *key, size_t ksize, uint64_t *value);
int pb_store_counter_get (pb_store_t *self, const void *key, size_t ksize, uint64_t *value);
//  At commit: the counters the batch changed, into meta (and its record).
int pb_batch_write_counters (pb_batch_t *self);

//  The redo journal's part (pb_store_redo.c). At open, in the open
//  transaction: a writer replays what LMDB lacks, a reader counts it.
int pb_store_redo_open (pb_store_t *self, const char *dir, MDB_txn *txn);
//  A writer's open, after pb_store_redo_open: replay in txn what the store
//  lacks; PB_STORE_FULL if the map cannot take it in one transaction.
int pb_store_redo_replay (pb_store_t *self, MDB_txn *txn);
//  Commit what the journal holds beyond the store one record per
//  transaction (and sync): 0, or -1 (and the store refuses batches).
int pb_store_redo_settle (pb_store_t *self);
//  Journaled: the transaction batches nest in (begun when none is open).
MDB_txn *pb_store_folded (pb_store_t *self);
//  Journaled: note a write the batch made, for its record.
int pb_store_redo_note (pb_batch_t *batch, int kind, MDB_dbi dbi, unsigned flags,
                        const void *key, size_t ksize, const void *val, size_t vsize);
//  Journaled: make the batch durable in the journal, then fold it in.
//  0, or -1 with the batch aborted (reason in the store's error).
int pb_store_redo_commit (pb_batch_t *batch);
//  (Re)open the Merkle tree at size reading its right edge in txn.
int pb_store_tree_open (pb_store_t *self, MDB_txn *txn, uint64_t size);

//  The late indexes (pb_store_index.c). indexed_to: meta "indexed_to" in
//  txn, UINT64_MAX when absent (a store that indexed as it wrote).
int pb_store_indexed_to (pb_store_t *self, MDB_txn *txn, uint64_t *indexed_to);
int pb_store_set_indexed_to (pb_store_t *self, MDB_txn *txn, uint64_t indexed_to);
//  Whether entries wait to be indexed and it is time (a second, or many).
bool pb_store_index_due (pb_store_t *self);
//  Index the entries that wait, in a transaction nested in parent: 0, or
//  -1 with nothing of it done (parent is untouched).
int pb_store_index_land (pb_store_t *self, MDB_txn *parent);
//  Up to max waiting entries in a transaction of its own, committed
//  durably; only when no batch is open and nothing is folded (else 0).
int pb_store_index_land_alone (pb_store_t *self, uint64_t max);
//  Every waiting entry, a landing (a transaction) at a time: for a close.
int pb_store_index_land_all (pb_store_t *self);
//  The transaction a landing rode in was committed, or dropped: what has
//  been landed is then as that says.
void pb_store_index_settled (pb_store_t *self, bool committed);
//  A landing takes this many entries at most
#define PB_STORE_LAND_AT_MOST 4096
//  An appended entry's names, kept until it lands (so a landing need not
//  decode it again); forget those at or above size (a tree reopened), or
//  all (a close)
void pb_store_index_remember (pb_store_t *self, uint64_t index, const char *names, size_t size);
void pb_store_index_forget_from (pb_store_t *self, uint64_t size);
//  The names (pb_log_names) of a serialised LogEntry, decoded, in a block
//  to free (): NULL when it is not one (or memory runs out).
char *pb_log_names_decode (const uint8_t *entry, size_t size, size_t *names_size);

//  Pages in use, the map's size and the publish limit, read again.
int pb_store_space_refresh (pb_store_t *self);
//  Resident file-backed bytes of this process (pb_store_memory.c).
size_t pb_store_file_resident_bytes (void);

//  Length of a usable name (1..PB_STORE_NAME_MAX bytes), else 0 with a
//  reason naming what (e.g. "agency").
size_t pb_store_name_len (pb_store_t *self, const char *name, const char *what);
//  Check an event id's size (1..PB_STORE_EVENT_ID_MAX): 0 or -1.
int pb_store_event_id_ok (pb_store_t *self, const uint8_t *id, size_t size);

#endif
