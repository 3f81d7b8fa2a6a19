/*  pb_redo: the redo journal ahead of the broker's LMDB store. The file
 *  format, the generations and why the journal exists are in pb_redo.h.  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/hmac.h>
#include <sodium.h>
#include "pb_redo.h"
#include "pl_bytes.h"

//  Two record formats, told apart by their magic (inside what the MAC
//  covers): PBR2, written now, ends in HMAC-SHA256 cut to 16 bytes (Nettle:
//  SHA-256 in the CPU's instructions, 1.6 times BLAKE2b's speed here, and a
//  journal record is some 300 KB a sync under load); PBR1, written before,
//  in keyed BLAKE2b-128. Both are read, so a journal left by an older
//  broker replays.
#define MAGIC       "PBR2"
#define MAGIC_V1    "PBR1"
#define HEAD_SIZE   16          //  magic, body length, sequence number
#define MAC_SIZE    16
#define OP_HEAD     14          //  kind, database, flags, key length, value length
//  A record larger than this is not one the broker wrote (a batch is
//  bounded well below it): reading stops there rather than allocate it
#define BODY_MAX    ((size_t) 1 << 30)

//  One of the two files; -1 when absent (read-only, or not started)
typedef struct {
    int fd;
    char path [4096];
} file_t;

//  The records read from the start of one file: whole, MACs right,
//  numbers consecutive
typedef struct {
    uint8_t *data;
    size_t size, end;           //  bytes read; bytes of the run
    uint64_t first, last;       //  0, 0: no record
} run_t;

struct _pb_redo_t {
    file_t files [2];
    int current;                //  the file written now
    bool in_use;                //  read-only: a writer holds the journal
    bool locked;                //  this handle holds it
    bool folder_synced;         //  the files' names are durable
    uint8_t key [PB_REDO_KEY_SIZE];     //  the records' MAC key (pb_redo_set_key)
    char dir [4096];
    uint8_t *record;            //  head + operations gathered, then the MAC
    size_t size, capacity;
    off_t end;                  //  where the next record goes
    char error [512];
};

static int
s_fail (pb_redo_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, args);
    va_end (args);
    return -1;
}

pb_redo_t *
pb_redo_open (const char *dir, bool read_only, char *err, size_t err_size)
{
    pb_redo_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "redo journal: out of memory");
        return NULL;
    }
    self->size = HEAD_SIZE;
    self->files [0].fd = self->files [1].fd = -1;
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    for (int i = 0; i < 2; i++) {
        file_t *file = &self->files [i];
        snprintf (file->path, sizeof file->path, "%s/redo.%d", dir, i);
        file->fd = open (file->path, (read_only? O_RDONLY: O_RDWR) | O_CLOEXEC);
        if (file->fd < 0 && errno != ENOENT) {
            snprintf (err, err_size, "redo journal %s: %s", file->path, strerror (errno));
            pb_redo_destroy (&self);
            return NULL;
        }
    }
    //  A writer holds a write lock on redo.0 for as long as it runs. Only
    //  look (F_OFD_GETLK takes nothing): a reader holding a lock, even for
    //  a moment, could keep a broker from starting
    if (read_only && self->files [0].fd >= 0) {
        struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        self->in_use = fcntl (self->files [0].fd, F_OFD_GETLK, &lock) == 0
                    && lock.l_type != F_UNLCK;
    }
    return self;
}

int
pb_redo_start (pb_redo_t *self)
{
    if (self->locked)
        return 0;
    for (int i = 0; i < 2; i++) {
        file_t *file = &self->files [i];
        if (file->fd < 0)
            file->fd = open (file->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (file->fd < 0)
            return s_fail (self, "redo journal %s: create: %s", file->path, strerror (errno));
    }
    //  The files' names must be durable before a record in them is
    if (!self->folder_synced) {
        int dir = open (self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0 || fsync (dir) != 0) {
            s_fail (self, "redo journal in %s: sync the folder: %s", self->dir, strerror (errno));
            if (dir >= 0)
                close (dir);
            return -1;
        }
        close (dir);
        self->folder_synced = true;
    }
    //  Two writers would each think the journal theirs; LMDB's own lock
    //  only makes them take turns
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl (self->files [0].fd, F_OFD_SETLK, &lock) != 0)
        return s_fail (self, "redo journal %s: %s", self->files [0].path,
                       errno == EAGAIN || errno == EACCES?
                       "in use by another process (a broker running on this store?)":
                       strerror (errno));
    self->locked = true;
    self->current = 0;
    self->end = 0;
    return 0;
}

void
pb_redo_destroy (pb_redo_t **self_p)
{
    if (self_p && *self_p) {
        pb_redo_t *self = *self_p;
        for (int i = 0; i < 2; i++)
            if (self->files [i].fd >= 0)
                close (self->files [i].fd);
        sodium_memzero (self->key, sizeof self->key);
        free (self->record);
        free (self);
        *self_p = NULL;
    }
}

const char *
pb_redo_error (pb_redo_t *self)
{
    return self->error;
}

//  --------------------------------------------------------------------------
//  Reading

//  A whole file in memory (it holds at most one flush interval)
static int
s_read_all (pb_redo_t *self, file_t *file, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (file->fd < 0)
        return 0;
    struct stat st;
    if (fstat (file->fd, &st) != 0)
        return s_fail (self, "redo journal %s: stat: %s", file->path, strerror (errno));
    if (st.st_size == 0)
        return 0;
    *data = malloc ((size_t) st.st_size);
    if (!*data)
        return s_fail (self, "redo journal %s: out of memory for %lld bytes", file->path,
                       (long long) st.st_size);
    while (*size < (size_t) st.st_size) {
        ssize_t got = pread (file->fd, *data + *size, (size_t) st.st_size - *size, (off_t) *size);
        if (got < 0 && errno == EINTR)
            continue;
        //  Records read past would be lost without a word: no open then
        if (got < 0)
            return s_fail (self, "redo journal %s: read: %s", file->path, strerror (errno));
        if (got == 0)
            break;
        *size += (size_t) got;
    }
    return 0;
}

//  The MAC of a record's size bytes at data, in the format its magic names
static void
s_record_mac (const uint8_t *key, const uint8_t *data, size_t size, uint8_t *mac)
{
    if (memcmp (data, MAGIC_V1, 4) == 0) {
        crypto_generichash (mac, MAC_SIZE, data, size, key, PB_REDO_KEY_SIZE);
        return;
    }
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key (&ctx, PB_REDO_KEY_SIZE, key);
    hmac_sha256_update (&ctx, size, data);
    hmac_sha256_digest (&ctx, MAC_SIZE, mac);
    sodium_memzero (&ctx, sizeof ctx);      //  it holds the key, padded
}

static bool
s_is_magic (const uint8_t *data)
{
    return memcmp (data, MAGIC, 4) == 0 || memcmp (data, MAGIC_V1, 4) == 0;
}

//  Size of the whole record at data (head, body, MAC) if it is whole and
//  its MAC is right, else 0.
static size_t
s_record_at (const uint8_t *key, const uint8_t *data, size_t size)
{
    if (size < HEAD_SIZE + MAC_SIZE || !s_is_magic (data))
        return 0;
    size_t body = pl_get_be32 (data + 4);
    if (body > BODY_MAX || body > size - HEAD_SIZE - MAC_SIZE)
        return 0;
    uint8_t mac [MAC_SIZE];
    s_record_mac (key, data, HEAD_SIZE + body, mac);
    if (sodium_memcmp (mac, data + HEAD_SIZE + body, MAC_SIZE) != 0)
        return 0;
    return HEAD_SIZE + body + MAC_SIZE;
}

//  The run at the start of a file; it ends at the first record that is
//  not whole, or not numbered one more than the one before (the leftovers
//  of what the file held before it was last taken up again)
static int
s_run_read (pb_redo_t *self, file_t *file, run_t *run)
{
    memset (run, 0, sizeof *run);
    if (s_read_all (self, file, &run->data, &run->size))
        return -1;
    size_t whole;
    while ((whole = s_record_at (self->key, run->data + run->end, run->size - run->end)) > 0) {
        uint64_t seq = pl_get_be64 (run->data + run->end + 8);
        if (run->end > 0 && seq != run->last + 1)
            break;
        if (run->end == 0)
            run->first = seq;
        run->last = seq;
        run->end += whole;
    }
    return 0;
}

static int
s_replay_body (pb_redo_t *self, uint64_t seq, const uint8_t *body, size_t size,
               pb_redo_apply_fn *apply, void *arg)
{
    size_t at = 0;
    while (at < size) {
        if (size - at < OP_HEAD)
            return s_fail (self, "redo journal in %s: record %llu: operation cut short",
                           self->dir, (unsigned long long) seq);
        const uint8_t *head = body + at;
        pb_redo_op_t op = {
            .seq = seq, .kind = head [0], .db = head [1], .flags = pl_get_be32 (head + 2),
            .key_size = pl_get_be32 (head + 6), .value_size = pl_get_be32 (head + 10)
        };
        at += OP_HEAD;
        if (op.key_size > size - at || op.value_size > size - at - op.key_size)
            return s_fail (self, "redo journal in %s: record %llu: operation longer than its "
                           "record", self->dir, (unsigned long long) seq);
        op.key = body + at;
        op.value = op.kind == PB_REDO_DEL_KEY? NULL: body + at + op.key_size;
        at += op.key_size + op.value_size;
        int rc = apply (arg, &op);
        if (rc)
            return rc;
    }
    pb_redo_op_t end = { .seq = seq, .kind = PB_REDO_RECORD_END };
    return apply (arg, &end);
}

//  The records of one run after applied, in order, continuing *last
static int
s_run_replay (pb_redo_t *self, run_t *run, uint64_t applied, pb_redo_apply_fn *apply,
              void *arg, uint64_t *last, size_t *records)
{
    size_t at = 0, whole;
    while (at < run->end) {
        whole = s_record_at (self->key, run->data + at, run->end - at);
        uint64_t seq = pl_get_be64 (run->data + at + 8);
        if (seq > *last + 1)
            return s_fail (self, "redo journal in %s: record %llu follows record %llu, which the "
                           "store does not hold and the journal lacks (not this store's journal?)",
                           self->dir, (unsigned long long) seq, (unsigned long long) (*last + 1));
        if (seq == *last + 1 && seq > applied) {
            int rc = s_replay_body (self, seq, run->data + at + HEAD_SIZE,
                                    whole - HEAD_SIZE - MAC_SIZE, apply, arg);
            if (rc)
                return rc;
            *last = seq;
            (*records)++;
        }
        at += whole;
    }
    return 0;
}

int
pb_redo_replay (pb_redo_t *self, uint64_t applied, pb_redo_apply_fn *apply, void *arg,
                uint64_t *last, size_t *records)
{
    *last = applied;
    *records = 0;
    run_t runs [2];
    int rc = s_run_read (self, &self->files [0], &runs [0]);
    if (rc == 0)
        rc = s_run_read (self, &self->files [1], &runs [1]);
    else
        memset (&runs [1], 0, sizeof runs [1]);
    //  The older run first: the file written before the last switch holds
    //  the records just before the other's (or only what the store has)
    int first = runs [1].end && (!runs [0].end || runs [1].first < runs [0].first);
    for (int i = 0; rc == 0 && i < 2; i++) {
        run_t *run = &runs [i? !first: first];
        if (run->end && run->last > applied)
            rc = s_run_replay (self, run, applied, apply, arg, last, records);
    }
    free (runs [0].data);
    free (runs [1].data);
    return rc;
}

//  --------------------------------------------------------------------------
//  Writing

void
pb_redo_clear (pb_redo_t *self)
{
    self->size = HEAD_SIZE;
}

static int
s_reserve (pb_redo_t *self, size_t more)
{
    if (self->capacity - self->size >= more && self->record)
        return 0;
    size_t capacity = self->capacity? self->capacity: 64 * 1024;
    while (capacity - self->size < more)
        capacity *= 2;
    uint8_t *record = realloc (self->record, capacity);
    if (!record)
        return s_fail (self, "redo journal: out of memory for a %zu-byte record", capacity);
    self->record = record;
    self->capacity = capacity;
    return 0;
}

int
pb_redo_add (pb_redo_t *self, int kind, unsigned db, unsigned flags,
             const void *key, size_t key_size, const void *value, size_t value_size)
{
    if (!value)
        value_size = 0;
    if (key_size > UINT32_MAX || value_size > UINT32_MAX)
        return s_fail (self, "redo journal: a key or value over 4 GiB");
    if (s_reserve (self, OP_HEAD + key_size + value_size))
        return -1;
    uint8_t *head = self->record + self->size;
    head [0] = (uint8_t) kind;
    head [1] = (uint8_t) db;
    pl_put_be32 (head + 2, flags);
    pl_put_be32 (head + 6, (uint32_t) key_size);
    pl_put_be32 (head + 10, (uint32_t) value_size);
    self->size += OP_HEAD;
    memcpy (self->record + self->size, key, key_size);
    self->size += key_size;
    if (value_size)
        memcpy (self->record + self->size, value, value_size);
    self->size += value_size;
    return 0;
}

int
pb_redo_commit (pb_redo_t *self, uint64_t seq)
{
    file_t *file = &self->files [self->current];
    if (!self->locked)
        return s_fail (self, "redo journal in %s: not started", self->dir);
    size_t body = self->size - HEAD_SIZE;
    if (body > BODY_MAX)
        return s_fail (self, "redo journal %s: a %zu-byte record is over the %zu-byte limit",
                       file->path, body, BODY_MAX);
    if (s_reserve (self, MAC_SIZE))
        return -1;
    memcpy (self->record, MAGIC, 4);
    pl_put_be32 (self->record + 4, (uint32_t) body);
    pl_put_be64 (self->record + 8, seq);
    s_record_mac (self->key, self->record, self->size, self->record + self->size);
    size_t total = self->size + MAC_SIZE, done = 0;
    while (done < total) {
        ssize_t wrote = pwrite (file->fd, self->record + done, total - done,
                                self->end + (off_t) done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            //  What went out is a torn record that reading stops at (its
            //  MAC is wrong); the next record is written over it
            return s_fail (self, "redo journal %s: write: %s", file->path,
                           wrote < 0? strerror (errno): "nothing written");
        done += (size_t) wrote;
    }
    if (fdatasync (file->fd) != 0) {
        s_fail (self, "redo journal %s: fdatasync: %s", file->path, strerror (errno));
        return -2;
    }
    self->end += (off_t) total;
    return 0;
}

bool
pb_redo_was_written (pb_redo_t *self)
{
    for (int i = 0; i < 2; i++) {
        char mark [4];
        if (self->files [i].fd >= 0 && pread (self->files [i].fd, mark, 4, 0) == 4
        &&  s_is_magic ((const uint8_t *) mark))
            return true;
    }
    return false;
}

bool
pb_redo_is_clear (pb_redo_t *self)
{
    return self->size == HEAD_SIZE;
}

bool
pb_redo_in_use (pb_redo_t *self)
{
    return self->in_use;
}

void
pb_redo_set_key (pb_redo_t *self, const uint8_t *key)
{
    memcpy (self->key, key, PB_REDO_KEY_SIZE);
}

void
pb_redo_switch (pb_redo_t *self)
{
    self->current = !self->current;
    self->end = 0;
}

size_t
pb_redo_size (pb_redo_t *self)
{
    return (size_t) self->end;
}
