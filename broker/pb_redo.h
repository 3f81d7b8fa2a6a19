/*  pb_redo: the redo journal ahead of the broker's LMDB store.
 *
 *  Why it exists: a durable LMDB commit rewrites every B-tree page the
 *  batch touched (35-55 random pages for a publish and a receipt) and
 *  syncs twice; an append to one file and one fdatasync costs a tenth of
 *  that. So a batch becomes durable by its writes (each put and delete, in
 *  order) going into one record of this journal, synced, and only then is
 *  anyone acknowledged; LMDB takes those same writes in a transaction that
 *  pb_store commits (durably, the LMDB way) every few tens of milliseconds.
 *  After a crash, pb_store replays the records that LMDB does not hold yet.
 *
 *  Two files, DIR/redo.0 and DIR/redo.1 (mode 0600), each a run of records:
 *
 *      "PBR2"  body length (be32)  sequence number (be64)  body
 *      HMAC-SHA256 of everything before it in the record, cut to 16 bytes
 *
 *  The key is the store's own (random, in its meta database): records are
 *  full of bytes publishers chose, and a record forged inside one must not
 *  pass for a real one where reading stops. Records written by an older
 *  broker ("PBR1", keyed BLAKE2b-128 in place of the HMAC) are read too.
 *  And a body is a run of operations:
 *
 *      kind (1 put, 2 delete one value, 3 delete a key)  database (1 byte)
 *      LMDB put flags (be32)  key length (be32)  value length (be32)  key  value
 *
 *  Why two: the store commits LMDB with MDB_NOMETASYNC (one sync per flush,
 *  not two), so a flush's meta page is durable only once the next flush has
 *  synced. After flush N the journal switches files and writes the other one
 *  again from offset 0: that one holds the records up to flush N-1, which
 *  flush N's sync made durable; the records since N-1 stay in the file just
 *  left. Writing from offset 0 over blocks the file already has means a sync
 *  moves no file-system metadata. Reading takes, from the start of each
 *  file, records while each is whole, its MAC right and its number the
 *  previous one plus one (a file's leftovers from before, and a record torn
 *  by a crash, which was never acknowledged since that comes after the sync,
 *  end it), then the two runs in order of their numbers.
 *
 *  Errors: -1, with the reason (naming the file and the operation) in
 *  pb_redo_error ().  */
#ifndef PB_REDO_H_INCLUDED
#define PB_REDO_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _pb_redo_t pb_redo_t;

#define PB_REDO_KEY_SIZE 32

//  Kinds of operation.
#define PB_REDO_PUT      1
#define PB_REDO_DEL_ONE  2      //  delete one value of a key (DUPSORT)
#define PB_REDO_DEL_KEY  3      //  delete a key and all its values

//  Not in the file: handed to apply after each record's last operation
#define PB_REDO_RECORD_END 0

//  One operation, as read back (key and value point into the journal).
typedef struct {
    uint64_t seq;               //  the record's number
    int kind;
    unsigned db;
    unsigned flags;
    const void *key;
    size_t key_size;
    const void *value;
    size_t value_size;
} pb_redo_op_t;

//  Called for each operation of each record to replay, in order, then
//  once with PB_REDO_RECORD_END; a non-zero return stops the replay with
//  that code.
typedef int (pb_redo_apply_fn) (void *arg, const pb_redo_op_t *op);

//  The key of the records' MACs, for reading and writing.
void pb_redo_set_key (pb_redo_t *self, const uint8_t *key);

//  Open DIR/redo.0 and .1 where they are (a store without them has nothing
//  to replay). NULL on failure with the reason in err.
pb_redo_t *pb_redo_open (const char *dir, bool read_only, char *err, size_t err_size);

//  Create the files (mode 0600) where they are not yet, to write to them,
//  and lock redo.0 (an open-file-description write lock, which a reader
//  can look at without taking) for as long as this handle lives: -1 with
//  "in use by another process" when another writer has it.
int pb_redo_start (pb_redo_t *self);

//  Read-only handles: true when a writer holds the journal (a broker runs),
//  so its records are batches of the last few milliseconds, not leftovers.
bool pb_redo_in_use (pb_redo_t *self);

//  True when either file starts with a record's mark, whatever its MAC:
//  a journal that was written, to refuse rather than read with no key.
bool pb_redo_was_written (pb_redo_t *self);

//  True when nothing was added since pb_redo_clear.
bool pb_redo_is_clear (pb_redo_t *self);

void pb_redo_destroy (pb_redo_t **self_p);

const char *pb_redo_error (pb_redo_t *self);

//  Hand every operation of the records numbered after applied to apply, in
//  order. *last gets the number of the last record replayed (applied when
//  none), *records how many were. -1 on a read error, on records that
//  start after applied + 1 (one is missing: the store and its journal do
//  not belong together), or when apply fails.
int pb_redo_replay (pb_redo_t *self, uint64_t applied, pb_redo_apply_fn *apply, void *arg,
                    uint64_t *last, size_t *records);

//  --------------------------------------------------------------------------
//  Writing: one record per batch

//  Forget the operations gathered so far (a batch starts or is aborted).
void pb_redo_clear (pb_redo_t *self);

//  Add an operation to the record being gathered. value NULL with kind
//  PB_REDO_DEL_KEY. -1 only when memory runs out.
int pb_redo_add (pb_redo_t *self, int kind, unsigned db, unsigned flags,
                 const void *key, size_t key_size, const void *value, size_t value_size);

//  Write the gathered operations as record seq and fdatasync. 0: durable.
//  -1 when the write fails (a full disk): what went out is a torn record
//  that reading stops at, and the next record goes over it. -2 when the
//  sync fails: what is on disk is unknown (the record may be there after
//  all) and the caller must stop writing to this journal.
int pb_redo_commit (pb_redo_t *self, uint64_t seq);

//  After a flush: write the other file, from offset 0. The caller
//  guarantees that the store durably holds every record in it.
void pb_redo_switch (pb_redo_t *self);

//  Bytes written in this generation (the flush policy reads it).
size_t pb_redo_size (pb_redo_t *self);

#endif
