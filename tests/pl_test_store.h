/*  pl_test_store: the fixture the broker store's suites share
 *  (test_store.c, test_store_redo.c): a temporary store directory, opening
 *  it with or without the redo journal, appending known log entries in a
 *  batch, and checking the stored Merkle root against one computed in
 *  memory over the same entries.  */
#ifndef PL_TEST_STORE_H_INCLUDED
#define PL_TEST_STORE_H_INCLUDED

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pl_test.h"
#include "pl_test_log.h"
#include <lmdb.h>
#include "pl_merkle.h"
#include "pb_store.h"

#define H PL_MERKLE_HASH_SIZE

static char s_dir [64];
static char s_err [512];
static int64_t s_flush_ms;          //  s_open's journal interval (0: none)

static inline void
s_setup (void)
{
    s_flush_ms = 0;
    strcpy (s_dir, "/tmp/test_store.XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
}

static inline void
s_teardown (void)
{
    char path [128];
    snprintf (path, sizeof path, "%s/data.mdb", s_dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/lock.mdb", s_dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/redo.0", s_dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/redo.1", s_dir);
    unlink (path);
    rmdir (s_dir);
}

static inline pb_store_t *
s_open (size_t map_size)
{
    pb_store_t *store = pb_store_open (s_dir, map_size, false, s_err, sizeof s_err);
    ck_assert_msg (store, "open: %s", s_err);
    ck_assert_int_eq (pb_store_use_journal (store, s_flush_ms), 0);
    return store;
}

//  Entry i: case "case-<i % cases>", recipients "agency-<i % 3>" and
//  "victim_support" (pl_test_log.h)
static inline size_t
s_entry (uint64_t i, unsigned cases, uint8_t *out)
{
    return pl_test_log_entry (i, cases, 3, out);
}

//  Append entries [from, to) in one batch and commit it.
static inline void
s_append (pb_store_t *store, uint64_t from, uint64_t to, unsigned cases)
{
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_msg (batch, "begin: %s", pb_store_error (store));
    uint8_t buf [512];
    for (uint64_t i = from; i < to; i++) {
        uint64_t index;
        ck_assert_int_eq (pb_batch_log_append (batch, buf, s_entry (i, cases, buf), &index), 0);
        ck_assert_uint_eq (index, i);
    }
    ck_assert_msg (pb_batch_commit (&batch) == 0, "commit: %s", pb_store_error (store));
    ck_assert_ptr_null (batch);
}

//  Root over entries [0, n) computed in memory
static inline void
s_expected_root (uint64_t n, unsigned cases, uint8_t *root)
{
    pl_merkle_t *tree = pl_merkle_new (NULL, NULL, 0);
    uint8_t buf [512];
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq (pl_merkle_append_data (tree, buf, s_entry (i, cases, buf), NULL), 0);
    pl_merkle_root (tree, root);
    pl_merkle_destroy (&tree);
}

static inline void
s_check_root (pb_store_t *store, uint64_t n, unsigned cases)
{
    uint8_t root [H], expected [H];
    uint64_t size;
    ck_assert_int_eq (pb_store_log_root (store, &size, root), 0);
    ck_assert_uint_eq (size, n);
    s_expected_root (n, cases, expected);
    ck_assert_mem_eq (root, expected, H);
}

//  The store's meta database opened behind its back (plain LMDB), to
//  tamper with it; commit and close with s_meta_raw_done
static inline MDB_env *
s_meta_raw (MDB_txn **txn, MDB_dbi *dbi)
{
    MDB_env *env;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    mdb_env_set_maxdbs (env, 20);
    ck_assert_int_eq (mdb_env_open (env, s_dir, 0, 0600), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, txn), 0);
    ck_assert_int_eq (mdb_dbi_open (*txn, "meta", 0, dbi), 0);
    return env;
}

static inline void
s_meta_raw_done (MDB_env *env, MDB_txn *txn)
{
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
}

//  The schema stamp, read (and, with value, written) behind the store's back
static inline unsigned
s_schema (const uint8_t *value)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = s_meta_raw (&txn, &dbi);
    MDB_val key = { 6, "schema" }, val = { 4, (void *) value };
    if (value)
        ck_assert_int_eq (mdb_put (txn, dbi, &key, &val, 0), 0);
    ck_assert_int_eq (mdb_get (txn, dbi, &key, &val), 0);
    ck_assert_uint_eq (val.mv_size, 4);
    unsigned schema = ((const uint8_t *) val.mv_data) [3];
    s_meta_raw_done (env, txn);
    return schema;
}

//  Each (key, value) of the store's database `name`, in key order, handed
//  to fn with its position, read behind the store's back. Returns how many.
typedef void (s_raw_fn) (size_t at, const MDB_val *key, const MDB_val *value, void *arg);

static inline size_t
s_raw_each (const char *name, s_raw_fn *fn, void *arg)
{
    MDB_txn *txn;
    MDB_dbi meta, dbi;
    MDB_env *env = s_meta_raw (&txn, &meta);
    ck_assert_int_eq (mdb_dbi_open (txn, name, 0, &dbi), 0);
    MDB_cursor *cursor;
    ck_assert_int_eq (mdb_cursor_open (txn, dbi, &cursor), 0);
    MDB_val k, v;
    size_t count = 0;
    for (int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT))
        fn (count++, &k, &v, arg);
    mdb_cursor_close (cursor);
    s_meta_raw_done (env, txn);
    return count;
}

#endif
