/*  test_hash: SHA-256 as passerelle computes it (proto/pl_hash, Nettle).
 *
 *  Covers: the FIPS 180-2 example messages ("", "abc", the 448-bit one, a
 *  million 'a') one shot and fed in uneven pieces; agreement with
 *  libsodium's SHA-256, the one passerelle used before, for every length
 *  from 0 to 1,200 bytes (every padding case, and a 1 KiB event), so that
 *  no hash already in a log or a signature changes.  */
#include <string.h>
#include <sodium.h>
#include "pl_test.h"
#include "pl_hash.h"

static void
s_hex (const uint8_t *hash, char *hex)
{
    sodium_bin2hex (hex, PL_SHA256_SIZE * 2 + 1, hash, PL_SHA256_SIZE);
}

START_TEST (the_standards_examples_come_out)
{
    static struct { const char *message; size_t repeat; const char *digest; } vectors [] = {
        { "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { "a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
    };
    for (size_t v = 0; v < sizeof vectors / sizeof vectors [0]; v++) {
        size_t length = strlen (vectors [v].message), total = length * vectors [v].repeat;
        uint8_t *message = malloc (total + 1);
        ck_assert_ptr_nonnull (message);
        for (size_t r = 0; r < vectors [v].repeat; r++)
            memcpy (message + r * length, vectors [v].message, length);
        uint8_t hash [PL_SHA256_SIZE];
        char hex [PL_SHA256_SIZE * 2 + 1];
        pl_sha256 (hash, total? message: NULL, total);
        s_hex (hash, hex);
        ck_assert_str_eq (hex, vectors [v].digest);
        //  The same in pieces of 1, 2, 3 ... bytes
        pl_sha256_t state;
        pl_sha256_init (&state);
        for (size_t at = 0, piece = 1; at < total; at += piece, piece = piece % 97 + 1)
            pl_sha256_update (&state, message + at, at + piece <= total? piece: total - at);
        pl_sha256_final (&state, hash);
        s_hex (hash, hex);
        ck_assert_str_eq (hex, vectors [v].digest);
        free (message);
    }
}
END_TEST

START_TEST (every_length_agrees_with_libsodium)
{
    ck_assert_int_ge (sodium_init (), 0);
    uint8_t message [1200];
    randombytes_buf (message, sizeof message);
    for (size_t length = 0; length <= sizeof message; length++) {
        uint8_t ours [PL_SHA256_SIZE], theirs [crypto_hash_sha256_BYTES];
        pl_sha256 (ours, message, length);
        crypto_hash_sha256 (theirs, message, length);
        ck_assert_msg (memcmp (ours, theirs, sizeof ours) == 0, "length %zu differs", length);
        //  In two pieces
        pl_sha256_t state;
        pl_sha256_init (&state);
        pl_sha256_update (&state, message, length / 3);
        pl_sha256_update (&state, message + length / 3, length - length / 3);
        pl_sha256_final (&state, ours);
        ck_assert_mem_eq (ours, theirs, sizeof ours);
    }
}
END_TEST

Suite *
test_suite (void)
{
    Suite *s = suite_create ("hash");
    TCase *tc = tcase_create ("hash");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, the_standards_examples_come_out);
    tcase_add_test (tc, every_length_agrees_with_libsodium);
    suite_add_tcase (s, tc);
    return s;
}

PL_TEST_MAIN
