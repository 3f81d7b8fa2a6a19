/*  test_store_merkle: how pb_store keys the Merkle nodes (broker/pb_store_log.c).
 *
 *  A new store (schema 4 on) keys each node by the last leaf it covers,
 *  then its level, so that every node put is an LMDB append; a store from
 *  before keeps its level-first keys. Both read, prove and take appends.
 *  And MDB_APPEND is only a hint to pb_batch_put.  */
#include <lmdb.h>
#include "pl_test_store.h"
#include "pb_store_int.h"

//  The Merkle database as (key, value) pairs read behind the store's back
typedef struct {
    uint8_t key [9];
    uint8_t hash [H];
} raw_node_t;

typedef struct {
    raw_node_t *nodes;
    size_t max;
} raw_nodes_t;

static void
s_raw_node (size_t at, const MDB_val *k, const MDB_val *v, void *arg)
{
    raw_nodes_t *out = arg;
    ck_assert_uint_lt (at, out->max);
    ck_assert_uint_eq (k->mv_size, 9);
    ck_assert_uint_eq (v->mv_size, H);
    memcpy (out->nodes [at].key, k->mv_data, 9);
    memcpy (out->nodes [at].hash, v->mv_data, H);
}

static size_t
s_merkle_raw (raw_node_t *nodes, size_t max)
{
    raw_nodes_t out = { nodes, max };
    return s_raw_each ("merkle", s_raw_node, &out);
}

//  Whether the store's meta database says its node keys go by leaf
static bool
s_merkle_keys_by_leaf (void)
{
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_env *env = s_meta_raw (&txn, &meta);
    MDB_val k = { 11, "merkle_keys" }, v;
    int rc = mdb_get (txn, meta, &k, &v);
    bool by_leaf = rc == 0 && v.mv_size == 4 && memcmp (v.mv_data, "leaf", 4) == 0;
    s_meta_raw_done (env, txn);
    return by_leaf;
}

static void
s_check_proof (pb_store_t *store, uint64_t index, uint64_t n, unsigned cases)
{
    uint8_t root [H], proof [64 * H], leaf [H], buf [512];
    size_t len;
    uint64_t size;
    ck_assert_int_eq (pb_store_log_root (store, &size, root), 0);
    ck_assert_uint_eq (size, n);
    ck_assert_int_eq (pb_store_inclusion_proof (store, index, size, proof, &len), 0);
    pl_merkle_leaf_hash (buf, s_entry (index, cases, buf), leaf);
    ck_assert (pl_merkle_verify_inclusion (leaf, index, size, proof, len, root));
}

//  A new store keys each Merkle node by the last leaf it covers, then its
//  level, so that every put is an append: for 6 leaves, the leaves and
//  the subtrees [0,1] [2,3] [4,5] [0..3], in this order
START_TEST (merkle_nodes_keyed_by_their_last_leaf)
{
    pb_store_t *store = s_open (0);
    s_append (store, 0, 4, 3);
    s_append (store, 4, 6, 3);
    pb_store_destroy (&store);
    ck_assert (s_merkle_keys_by_leaf ());
    static const uint8_t expect [][2] = { { 0, 0 }, { 1, 0 }, { 1, 1 }, { 2, 0 }, { 3, 0 },
                                          { 3, 1 }, { 3, 2 }, { 4, 0 }, { 5, 0 }, { 5, 1 } };
    raw_node_t nodes [16];
    size_t count = s_merkle_raw (nodes, 16);
    ck_assert_uint_eq (count, sizeof expect / sizeof expect [0]);
    for (size_t i = 0; i < count; i++) {
        ck_assert_uint_eq (pl_get_be64 (nodes [i].key), expect [i][0]);
        ck_assert_uint_eq (nodes [i].key [8], expect [i][1]);
    }
    store = s_open (0);
    s_check_root (store, 6, 3);
    for (uint64_t i = 0; i < 6; i++)
        s_check_proof (store, i, 6, 3);
    pb_store_destroy (&store);
}
END_TEST

//  A store from before schema 4 (its nodes keyed level first, no
//  "merkle_keys"): made here by rewriting a new one's keys behind its back.
//  It reads and proves as before; a writer stamps it with the current schema, keeps its keys as
//  they were, and the nodes it adds are keyed the same way.
START_TEST (merkle_nodes_of_an_older_store_keep_their_keys)
{
    pb_store_t *store = s_open (0);
    s_append (store, 0, 50, 4);
    pb_store_destroy (&store);
    static raw_node_t nodes [256];
    size_t count = s_merkle_raw (nodes, 256);
    ck_assert_uint_eq (count, 50 + 25 + 12 + 6 + 3 + 1);
    MDB_txn *txn;
    MDB_dbi meta, merkle;
    MDB_env *env = s_meta_raw (&txn, &meta);
    ck_assert_int_eq (mdb_dbi_open (txn, "merkle", 0, &merkle), 0);
    ck_assert_int_eq (mdb_drop (txn, merkle, 0), 0);
    for (size_t i = 0; i < count; i++) {
        unsigned level = nodes [i].key [8];
        uint64_t index = ((pl_get_be64 (nodes [i].key) + 1) >> level) - 1;
        uint8_t key [9] = { (uint8_t) level };
        pl_put_be64 (key + 1, index);
        MDB_val k = { 9, key }, v = { H, nodes [i].hash };
        ck_assert_int_eq (mdb_put (txn, merkle, &k, &v, 0), 0);
    }
    MDB_val flag = { 11, "merkle_keys" };
    ck_assert_int_eq (mdb_del (txn, meta, &flag, NULL), 0);
    s_meta_raw_done (env, txn);
    static const uint8_t three [4] = { 0, 0, 0, 3 };
    ck_assert_uint_eq (s_schema (three), 3);

    pb_store_t *reader = pb_store_open (s_dir, 0, true, s_err, sizeof s_err);
    ck_assert_msg (reader, "%s", s_err);
    s_check_root (reader, 50, 4);
    s_check_proof (reader, 17, 50, 4);
    pb_store_destroy (&reader);
    store = s_open (0);
    ck_assert_uint_eq (s_schema (NULL), PB_STORE_SCHEMA);
    s_append (store, 50, 80, 4);
    s_check_root (store, 80, 4);
    s_check_proof (store, 63, 80, 4);
    pb_store_destroy (&store);
    ck_assert (!s_merkle_keys_by_leaf ());
    //  Leaf 79, level first: { 0, 79 as 8 bytes }
    count = s_merkle_raw (nodes, 256);
    bool found = false;
    for (size_t i = 0; i < count; i++)
        found |= nodes [i].key [0] == 0 && pl_get_be64 (nodes [i].key + 1) == 79;
    ck_assert (found);
}
END_TEST

//  MDB_APPEND is a hint to pb_batch_put: a key that is not past the last
//  one goes in the ordinary way, and the batch goes on
START_TEST (append_hint_takes_a_key_that_is_not_last)
{
    s_flush_ms = _i? 1000: 0;         //  both ways
    pb_store_t *store = s_open (0);
    pb_batch_t *batch = pb_store_begin (store);
    ck_assert_ptr_nonnull (batch);
    pb_store_t *self = store;
    ck_assert_int_eq (pb_batch_put (batch, self->meta, "zz-test", 7, "1", 1, MDB_APPEND, "t"), 0);
    ck_assert_int_eq (pb_batch_put (batch, self->meta, "aa-test", 7, "2", 1, MDB_APPEND, "t"), 0);
    ck_assert_int_eq (pb_batch_put (batch, self->meta, "zz-test", 7, "3", 1, MDB_APPEND, "t"), 0);
    ck_assert_int_eq (pb_batch_commit (&batch), 0);
    pb_store_destroy (&store);
    store = s_open (0);
    pb_store_destroy (&store);
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_env *env = s_meta_raw (&txn, &meta);
    MDB_val k = { 7, "aa-test" }, v;
    ck_assert_int_eq (mdb_get (txn, meta, &k, &v), 0);
    ck_assert_mem_eq (v.mv_data, "2", 1);
    k.mv_data = "zz-test";
    ck_assert_int_eq (mdb_get (txn, meta, &k, &v), 0);
    ck_assert_mem_eq (v.mv_data, "3", 1);
    s_meta_raw_done (env, txn);
    s_flush_ms = 0;
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pb_store_merkle");
    TCase *tc = tcase_create ("merkle keys");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, merkle_nodes_keyed_by_their_last_leaf);
    tcase_add_test (tc, merkle_nodes_of_an_older_store_keep_their_keys);
    tcase_add_loop_test (tc, append_hint_takes_a_key_that_is_not_last, 0, 2);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
