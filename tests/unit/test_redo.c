/*  test_redo: the redo journal's file (broker/pb_redo).
 *
 *  Records written, read back in order from any point; a torn or damaged
 *  last record (a crash during its write: never acknowledged) ends the
 *  replay without an error; after a switch the other file is written over
 *  and the records since the flush before stay readable; a record missing
 *  before the ones the store lacks is an error that names it; the files
 *  are 0600; a record is "PBR2" with an HMAC-SHA256 cut to 16 bytes, and
 *  an older broker's ("PBR1", keyed BLAKE2b-128) still replays.  */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/hmac.h>
#include <sodium.h>
#include "pl_test.h"
#include "pb_redo.h"

static char s_dir [64], s_path [128], s_path1 [128], s_err [600];

static void
s_setup (void)
{
    ck_assert_int_ge (sodium_init (), 0);
    strcpy (s_dir, "/tmp/test_redo.XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
    snprintf (s_path, sizeof s_path, "%s/redo.0", s_dir);
    snprintf (s_path1, sizeof s_path1, "%s/redo.1", s_dir);
}

static void
s_teardown (void)
{
    unlink (s_path);
    unlink (s_path1);
    rmdir (s_dir);
}

static pb_redo_t *
s_open (bool read_only)
{
    pb_redo_t *redo = pb_redo_open (s_dir, read_only, s_err, sizeof s_err);
    ck_assert_msg (redo, "open: %s", s_err);
    return redo;
}

//  Record seq: a put of "k<seq>" = "v<seq>" of size bytes, then a delete
static void
s_write (pb_redo_t *redo, uint64_t seq, size_t size)
{
    char key [32], value [4096];
    snprintf (key, sizeof key, "k%llu", (unsigned long long) seq);
    memset (value, 'a' + (int) (seq % 26), sizeof value);
    snprintf (value, sizeof value, "v%llu", (unsigned long long) seq);
    pb_redo_clear (redo);
    ck_assert_int_eq (pb_redo_add (redo, PB_REDO_PUT, 3, 0x10, key, strlen (key), value, size), 0);
    ck_assert_int_eq (pb_redo_add (redo, PB_REDO_DEL_KEY, 7, 0, "gone", 4, NULL, 0), 0);
    ck_assert_int_eq (pb_redo_commit (redo, seq), 0);
}

//  What a replay saw: the sequence number of each put, in order
typedef struct {
    uint64_t puts [64];
    size_t count, deletes, ends;
} seen_t;

static int
s_collect (void *arg, const pb_redo_op_t *op)
{
    seen_t *seen = arg;
    if (op->kind == PB_REDO_RECORD_END) {
        //  After the record's operations, with its number
        ck_assert_uint_eq (seen->count, seen->ends + 1);
        ck_assert_uint_eq (op->seq, seen->puts [seen->count - 1]);
        seen->ends++;
        return 0;
    }
    if (op->kind == PB_REDO_DEL_KEY) {
        ck_assert_uint_eq (op->db, 7);
        ck_assert_ptr_null (op->value);
        ck_assert_int_eq (memcmp (op->key, "gone", 4), 0);
        seen->deletes++;
        return 0;
    }
    ck_assert_int_eq (op->kind, PB_REDO_PUT);
    ck_assert_uint_eq (op->db, 3);
    ck_assert_uint_eq (op->flags, 0x10);
    char key [32];
    ck_assert_uint_lt (op->key_size, sizeof key);
    memcpy (key, op->key, op->key_size);
    key [op->key_size] = 0;
    uint64_t seq = strtoull (key + 1, NULL, 10);
    char value [32];
    snprintf (value, sizeof value, "v%llu", (unsigned long long) seq);
    ck_assert_int_eq (memcmp (op->value, value, strlen (value)), 0);
    seen->puts [seen->count++] = seq;
    return 0;
}

static size_t
s_replay (pb_redo_t *redo, uint64_t applied, seen_t *seen, uint64_t *last)
{
    memset (seen, 0, sizeof *seen);
    size_t records;
    ck_assert_msg (pb_redo_replay (redo, applied, s_collect, seen, last, &records) == 0,
                   "replay: %s", pb_redo_error (redo));
    ck_assert_uint_eq (seen->count, records);
    ck_assert_uint_eq (seen->deletes, records);
    ck_assert_uint_eq (seen->ends, records);
    return records;
}

START_TEST (records_come_back_in_order)
{
    pb_redo_t *redo = s_open (false);
    seen_t seen;
    uint64_t last;
    //  No file yet: nothing to replay, and nothing may be written
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 0);
    ck_assert_int_eq (pb_redo_commit (redo, 1), -1);
    ck_assert_int_eq (pb_redo_start (redo), 0);
    struct stat st;
    ck_assert_int_eq (stat (s_path, &st), 0);
    ck_assert_uint_eq (st.st_mode & 0777, 0600);
    ck_assert_int_eq (stat (s_path1, &st), 0);
    ck_assert_uint_eq (st.st_mode & 0777, 0600);
    for (uint64_t seq = 1; seq <= 5; seq++)
        s_write (redo, seq, 100 * seq);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 5);
    ck_assert_uint_eq (last, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq (seen.puts [i], i + 1);
    //  From where the store stands: only what it lacks
    ck_assert_uint_eq (s_replay (redo, 3, &seen, &last), 2);
    ck_assert_uint_eq (seen.puts [0], 4);
    ck_assert_uint_eq (last, 5);
    ck_assert_uint_eq (s_replay (redo, 5, &seen, &last), 0);
    ck_assert_uint_eq (last, 5);
    pb_redo_destroy (&redo);
    ck_assert_ptr_null (redo);
    //  Another handle (a restart) reads the same
    redo = s_open (true);
    ck_assert_uint_eq (s_replay (redo, 2, &seen, &last), 3);
    pb_redo_destroy (&redo);
}
END_TEST

START_TEST (torn_or_damaged_tail_ends_the_replay)
{
    pb_redo_t *redo = s_open (false);
    ck_assert_int_eq (pb_redo_start (redo), 0);
    for (uint64_t seq = 1; seq <= 3; seq++)
        s_write (redo, seq, 1000);
    size_t whole = pb_redo_size (redo);
    s_write (redo, 4, 1000);
    pb_redo_destroy (&redo);
    seen_t seen;
    uint64_t last;
    //  A byte flipped inside the last record: its hash is wrong
    int fd = open (s_path, O_RDWR);
    ck_assert_int_ge (fd, 0);
    char byte;
    ck_assert_int_eq (pread (fd, &byte, 1, (off_t) whole + 100), 1);
    byte ^= 0x20;
    ck_assert_int_eq (pwrite (fd, &byte, 1, (off_t) whole + 100), 1);
    redo = s_open (false);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 3);
    ck_assert_uint_eq (last, 3);
    pb_redo_destroy (&redo);
    //  Cut in the middle of the last record: the same
    ck_assert_int_eq (ftruncate (fd, (off_t) whole + 500), 0);
    close (fd);
    redo = s_open (false);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 3);
    ck_assert_uint_eq (last, 3);
    pb_redo_destroy (&redo);
}
END_TEST

START_TEST (switching_keeps_the_records_since_the_flush_before)
{
    pb_redo_t *redo = s_open (false);
    ck_assert_int_eq (pb_redo_start (redo), 0);
    for (uint64_t seq = 1; seq <= 6; seq++)
        s_write (redo, seq, 300);
    //  Flush N (the store took 1..6): the other file from now on
    pb_redo_switch (redo);
    ck_assert_uint_eq (pb_redo_size (redo), 0);
    seen_t seen;
    uint64_t last;
    ck_assert_uint_eq (s_replay (redo, 6, &seen, &last), 0);
    s_write (redo, 7, 300);
    s_write (redo, 8, 300);
    //  Both files, in order of their numbers
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 8);
    for (size_t i = 0; i < 8; i++)
        ck_assert_uint_eq (seen.puts [i], i + 1);
    ck_assert_uint_eq (s_replay (redo, 6, &seen, &last), 2);
    struct stat before, after;
    ck_assert_int_eq (stat (s_path, &before), 0);
    //  Flush N+1: back to the first file, written over from offset 0 with
    //  records the size of the old ones, so the old 3..6 follow them on
    //  disk, whole and with right hashes, and still must not be taken
    pb_redo_switch (redo);
    s_write (redo, 9, 300);
    s_write (redo, 10, 300);
    ck_assert_int_eq (stat (s_path, &after), 0);
    ck_assert_uint_eq (after.st_size, before.st_size);      //  written over, not appended
    //  A store whose last flush's meta page did not reach the disk (it
    //  holds up to 6): 7 and 8 are still in the other file
    ck_assert_uint_eq (s_replay (redo, 6, &seen, &last), 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq (seen.puts [i], i + 7);
    ck_assert_uint_eq (last, 10);
    ck_assert_uint_eq (s_replay (redo, 8, &seen, &last), 2);
    ck_assert_uint_eq (seen.puts [0], 9);
    ck_assert_uint_eq (s_replay (redo, 10, &seen, &last), 0);
    //  1..6 are gone: a store that lacks them cannot be brought up to date
    size_t records;
    ck_assert_int_eq (pb_redo_replay (redo, 0, s_collect, &seen, &last, &records), -1);
    ck_assert_ptr_nonnull (strstr (pb_redo_error (redo), "record 7 follows record 1"));
    pb_redo_destroy (&redo);
}
END_TEST

START_TEST (missing_record_is_an_error)
{
    pb_redo_t *redo = s_open (false);
    ck_assert_int_eq (pb_redo_start (redo), 0);
    s_write (redo, 4, 10);
    s_write (redo, 5, 10);
    seen_t seen = { .count = 0 };
    uint64_t last;
    size_t records;
    //  The store holds up to 2: record 3 is nowhere
    ck_assert_int_eq (pb_redo_replay (redo, 2, s_collect, &seen, &last, &records), -1);
    ck_assert_ptr_nonnull (strstr (pb_redo_error (redo), "record 4 follows record 3"));
    ck_assert_uint_eq (seen.count, 0);
    //  From 3 on it is whole
    ck_assert_uint_eq (s_replay (redo, 3, &seen, &last), 2);
    pb_redo_destroy (&redo);
}
END_TEST

//  A writer started under a key of fill bytes (the key is left in key)
static pb_redo_t *
s_start_keyed (uint8_t *key, int fill)
{
    memset (key, fill, PB_REDO_KEY_SIZE);
    pb_redo_t *redo = s_open (false);
    pb_redo_set_key (redo, key);
    ck_assert_int_eq (pb_redo_start (redo), 0);
    return redo;
}

//  Records carry a MAC under the store's key: without it (a record forged
//  in bytes a publisher chose) they are not records at all
START_TEST (records_need_the_key)
{
    uint8_t key [PB_REDO_KEY_SIZE];
    pb_redo_t *redo = s_start_keyed (key, 0x5a);
    s_write (redo, 1, 50);
    s_write (redo, 2, 50);
    pb_redo_destroy (&redo);
    seen_t seen;
    uint64_t last;
    redo = s_open (true);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 0);      //  another key (zeros)
    key [31] ^= 1;
    pb_redo_set_key (redo, key);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 0);      //  one bit off
    key [31] ^= 1;
    pb_redo_set_key (redo, key);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 2);
    pb_redo_destroy (&redo);
}
END_TEST

//  The whole of redo.0 (at most size bytes) into data; returns its size
static size_t
s_read_file (uint8_t *data, size_t size)
{
    FILE *file = fopen (s_path, "rb");
    ck_assert_ptr_nonnull (file);
    size_t got = fread (data, 1, size, file);
    fclose (file);
    return got;
}

static void
s_write_file (const uint8_t *data, size_t size)
{
    FILE *file = fopen (s_path, "r+b");
    ck_assert_ptr_nonnull (file);
    ck_assert_uint_eq (fwrite (data, 1, size, file), size);
    fclose (file);
}

START_TEST (record_format_and_an_older_brokers_records)
{
    uint8_t key [PB_REDO_KEY_SIZE];
    pb_redo_t *redo = s_start_keyed (key, 0x33);
    s_write (redo, 1, 40);
    pb_redo_destroy (&redo);
    //  Written now: "PBR2", and the MAC Nettle computes apart from pb_redo
    uint8_t data [4096];
    size_t size = s_read_file (data, sizeof data);
    ck_assert_uint_ge (size, 16 + 16);
    ck_assert_int_eq (memcmp (data, "PBR2", 4), 0);
    size_t covered = 16 + ((size_t) data [4] << 24 | (size_t) data [5] << 16
                         | (size_t) data [6] << 8 | data [7]);
    ck_assert_uint_le (covered + 16, size);
    uint8_t mac [16];
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key (&ctx, sizeof key, key);
    hmac_sha256_update (&ctx, covered, data);
    hmac_sha256_digest (&ctx, sizeof mac, mac);
    ck_assert_int_eq (memcmp (data + covered, mac, sizeof mac), 0);
    //  Relabelled "PBR1" with the HMAC left: the magic chooses the MAC, so
    //  the record is not whole any more
    memcpy (data, "PBR1", 4);
    s_write_file (data, size);
    seen_t seen;
    uint64_t last;
    redo = s_open (true);
    pb_redo_set_key (redo, key);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 0);
    pb_redo_destroy (&redo);
    //  As an older broker wrote it: "PBR1" with keyed BLAKE2b-128
    crypto_generichash (data + covered, 16, data, covered, key, sizeof key);
    s_write_file (data, size);
    redo = s_open (true);
    pb_redo_set_key (redo, key);
    ck_assert_uint_eq (s_replay (redo, 0, &seen, &last), 1);
    ck_assert_uint_eq (seen.puts [0], 1);
    ck_assert_uint_eq (last, 1);
    ck_assert (pb_redo_was_written (redo));
    pb_redo_destroy (&redo);
}
END_TEST

static int
s_refuse (void *arg, const pb_redo_op_t *op)
{
    (void) op;
    (*(int *) arg)++;
    return -7;
}

START_TEST (apply_failure_stops_the_replay)
{
    pb_redo_t *redo = s_open (false);
    ck_assert_int_eq (pb_redo_start (redo), 0);
    s_write (redo, 1, 10);
    s_write (redo, 2, 10);
    int calls = 0;
    uint64_t last;
    size_t records;
    ck_assert_int_eq (pb_redo_replay (redo, 0, s_refuse, &calls, &last, &records), -7);
    ck_assert_int_eq (calls, 1);
    ck_assert_uint_eq (records, 0);
    ck_assert_uint_eq (last, 0);
    pb_redo_destroy (&redo);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pb_redo");
    TCase *tc = tcase_create ("redo");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, records_come_back_in_order);
    tcase_add_test (tc, torn_or_damaged_tail_ends_the_replay);
    tcase_add_test (tc, switching_keeps_the_records_since_the_flush_before);
    tcase_add_test (tc, missing_record_is_an_error);
    tcase_add_test (tc, records_need_the_key);
    tcase_add_test (tc, record_format_and_an_older_brokers_records);
    tcase_add_test (tc, apply_failure_stops_the_replay);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
