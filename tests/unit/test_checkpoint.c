/*  test_checkpoint: signed notes and checkpoints, against the known answers
 *  of golang.org/x/mod/sumdb/note (file sumdb/note/note_test.go: the
 *  PeterNeumann and EnochRoot keys, their signatures of the Peter Neumann
 *  quote, and their verifier keys), plus round trips and tampering.  */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sodium.h>
#include "pl_test.h"
#include "pl_checkpoint.h"

//  --- golang.org/x/mod sumdb/note/note_test.go -----------------------------
//  The signer key there is "PRIVATE+KEY+PeterNeumann+c74f20a3+" followed by
//  base64 (0x01 || Ed25519 seed).
static const char *s_peter_skey_data = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char *s_peter_vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char *s_enoch_vkey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
static const char *s_quote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
static const char *s_peter_sig =
    "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
static const char *s_enoch_sig =
    "\xe2\x80\x94 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#define ORIGIN  "passerelle.example/log"

//  pl_keys has no "from seed" constructor: go through a key file, the way
//  the broker loads its key anyway
static pl_keys_t *
s_keys_from_seed (const uint8_t *seed)
{
    char dir [] = "/tmp/test_checkpoint_XXXXXX";
    ck_assert_ptr_nonnull (mkdtemp (dir));
    uint8_t pk [crypto_sign_PUBLICKEYBYTES], sk [crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair (pk, sk, seed);
    char pk_text [PL_KEY_TEXT_SIZE], seed_text [PL_KEY_TEXT_SIZE], path [128];
    pl_key_to_text (pk, pk_text);
    pl_key_to_text (seed, seed_text);
    snprintf (path, sizeof path, "%s/peter.key", dir);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fprintf (file, "id = peter\npublic-key = \"%s\"\nsecret-seed = \"%s\"\n", pk_text, seed_text);
    fclose (file);
    chmod (path, 0600);
    char err [256] = "";
    pl_keys_t *keys = pl_keys_load (path, err, sizeof err);
    ck_assert_msg (keys != NULL, "%s", err);
    unlink (path);
    rmdir (dir);
    sodium_memzero (sk, sizeof sk);
    return keys;
}

static pl_keys_t *
s_peter_keys (void)
{
    uint8_t typed [33];
    size_t len = 0;
    ck_assert_int_eq (sodium_base642bin (typed, sizeof typed, s_peter_skey_data,
                      strlen (s_peter_skey_data), NULL, &len, NULL,
                      sodium_base64_VARIANT_ORIGINAL), 0);
    ck_assert_uint_eq (len, 33);
    ck_assert_uint_eq (typed [0], 0x01);
    return s_keys_from_seed (typed + 1);
}

static char *
s_concat (const char *a, const char *b, const char *c)
{
    size_t size = strlen (a) + strlen (b) + strlen (c) + 1;
    char *out = malloc (size);
    ck_assert_ptr_nonnull (out);
    snprintf (out, size, "%s%s%s", a, b, c);
    return out;
}

//  --- known answers ---------------------------------------------------------

START_TEST (test_vkey_known_answers)
{
    char name [64];
    uint8_t peter [32], enoch [32];
    ck_assert_int_eq (pl_checkpoint_vkey_parse (s_peter_vkey, name, sizeof name, peter), 0);
    ck_assert_str_eq (name, "PeterNeumann");
    ck_assert_uint_eq (pl_checkpoint_key_id ("PeterNeumann", peter), 0xc74f20a3);
    ck_assert_int_eq (pl_checkpoint_vkey_parse (s_enoch_vkey, name, sizeof name, enoch), 0);
    ck_assert_str_eq (name, "EnochRoot");
    ck_assert_uint_eq (pl_checkpoint_key_id ("EnochRoot", enoch), 0xaf0cfe78);

    //  Formatting gives the same text back
    char *vkey = pl_checkpoint_vkey ("PeterNeumann", peter);
    ck_assert_str_eq (vkey, s_peter_vkey);
    free (vkey);

    //  The seed's public key is the vkey's
    pl_keys_t *keys = s_peter_keys ();
    ck_assert_mem_eq (pl_keys_public (keys), peter, 32);
    pl_keys_destroy (&keys);

    //  Manglings from the Go tests: every substring, every byte bumped
    size_t len = strlen (s_peter_vkey);
    char copy [128];
    for (size_t i = 0; i < len; i++)
        for (size_t j = i + 1; j <= len; j++) {
            if (i == 0 && j == len)
                continue;
            memcpy (copy, s_peter_vkey + i, j - i);
            copy [j - i] = 0;
            ck_assert_int_eq (pl_checkpoint_vkey_parse (copy, name, sizeof name, peter), -1);
        }
    for (size_t i = 0; i < len; i++) {
        snprintf (copy, sizeof copy, "%s", s_peter_vkey);
        copy [i]++;
        ck_assert_msg (pl_checkpoint_vkey_parse (copy, name, sizeof name, peter) == -1,
                       "accepted %s", copy);
    }
    //  wrong length key, and unknown algorithm, with adjusted key ids
    ck_assert_int_eq (pl_checkpoint_vkey_parse (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        name, sizeof name, peter), -1);
    ck_assert_int_eq (pl_checkpoint_vkey_parse (
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        name, sizeof name, peter), -1);
    //  no room for the name
    ck_assert_int_eq (pl_checkpoint_vkey_parse (s_peter_vkey, name, 5, peter), -1);

    //  Random keys round-trip, including base64 keys that contain '+'
    int with_plus = 0;
    for (int i = 0; i < 64; i++) {
        uint8_t key [32], back [32];
        randombytes_buf (key, sizeof key);
        char *text = pl_checkpoint_vkey ("log.example/x", key);
        with_plus += strchr (strchr (strchr (text, '+') + 1, '+') + 1, '+') != NULL;
        ck_assert_int_eq (pl_checkpoint_vkey_parse (text, name, sizeof name, back), 0);
        ck_assert_str_eq (name, "log.example/x");
        ck_assert_mem_eq (back, key, 32);
        free (text);
    }
    ck_assert_int_gt (with_plus, 0);
    ck_assert_ptr_null (pl_checkpoint_vkey ("bad name", peter));
}
END_TEST

START_TEST (test_note_sign_known_answer)
{
    pl_keys_t *keys = s_peter_keys ();
    char *note = pl_checkpoint_note_sign (s_quote, "PeterNeumann", keys);
    char *want = s_concat (s_quote, "\n", s_peter_sig);
    ck_assert_str_eq (note, want);
    free (note);
    free (want);

    //  Texts the reader could not split back exactly are refused
    ck_assert_ptr_null (pl_checkpoint_note_sign ("abc", "PeterNeumann", keys));
    ck_assert_ptr_null (pl_checkpoint_note_sign ("", "PeterNeumann", keys));
    ck_assert_ptr_null (pl_checkpoint_note_sign ("abc\n\n", "PeterNeumann", keys));
    ck_assert_ptr_null (pl_checkpoint_note_sign ("a\tb\n", "PeterNeumann", keys));
    ck_assert_ptr_null (pl_checkpoint_note_sign ("\xff\n", "PeterNeumann", keys));
    ck_assert_ptr_null (pl_checkpoint_note_sign (s_quote, "a+b", keys));
    ck_assert_ptr_null (pl_checkpoint_note_sign (s_quote, "Bad Name", keys));
    ck_assert_ptr_null (pl_checkpoint_note_sign (s_quote, "", keys));
    //  an empty line inside the text is allowed: the split is the last one
    note = pl_checkpoint_note_sign ("a\n\nb\n", "PeterNeumann", keys);
    ck_assert_ptr_nonnull (note);
    size_t text_size = 0;
    uint8_t pk [32];
    char name [64];
    ck_assert_int_eq (pl_checkpoint_vkey_parse (s_peter_vkey, name, sizeof name, pk), 0);
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "PeterNeumann", pk,
                                               &text_size), PL_CHECKPOINT_OK);
    ck_assert_uint_eq (text_size, 5);
    free (note);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (test_note_open_known_answers)
{
    uint8_t peter [32], enoch [32];
    char name [64];
    ck_assert_int_eq (pl_checkpoint_vkey_parse (s_peter_vkey, name, sizeof name, peter), 0);
    ck_assert_int_eq (pl_checkpoint_vkey_parse (s_enoch_vkey, name, sizeof name, enoch), 0);
    char *both = s_concat (s_quote, "\n", "");
    char *note = s_concat (both, s_peter_sig, s_enoch_sig);
    size_t text_size = 0;
    //  Each key finds its own signature and ignores the other
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "PeterNeumann", peter,
                                               &text_size), PL_CHECKPOINT_OK);
    ck_assert_uint_eq (text_size, strlen (s_quote));
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "EnochRoot", enoch,
                                               &text_size), PL_CHECKPOINT_OK);
    //  A key that did not sign: no signature, even under a known name
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "PeterNeumann", enoch,
                                               &text_size), PL_CHECKPOINT_NO_SIGNATURE);
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "CarmenSandiego", peter,
                                               &text_size), PL_CHECKPOINT_NO_SIGNATURE);
    free (note);

    //  Go's "invalid signature": ABCD spliced into the signature
    char sig [256];
    snprintf (sig, sizeof sig, "%.60sABCD%s", s_peter_sig, s_peter_sig + 60);
    note = s_concat (both, sig, "");
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "PeterNeumann", peter,
                                               NULL), PL_CHECKPOINT_BAD_SIGNATURE);
    free (note);

    //  Go's malformed notes
    char *text_only = s_concat (s_quote, "", "");
    char *blank_only = s_concat (s_quote, "\n", "");
    char truncated_sig [256];
    snprintf (truncated_sig, sizeof truncated_sig, "%s", s_peter_sig);
    truncated_sig [strlen (truncated_sig) - 1] = 0;
    char *no_final_newline = s_concat (s_quote, "\n", truncated_sig);
    char *control = s_concat ("\x01", both, s_peter_sig);
    char *not_utf8 = s_concat ("\xff", both, s_peter_sig);
    char *bad_name = s_concat (both, "\xe2\x80\x94 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");
    char *extra_line = s_concat (both, s_peter_sig, "Unexpected line.\n");
    char *hyphen = s_concat (both, "-- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");
    const char *bad [] = { text_only, blank_only, no_final_newline, control, not_utf8,
                           bad_name, extra_line, hyphen };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        ck_assert_msg (pl_checkpoint_note_open (bad [i], strlen (bad [i]), "PeterNeumann",
                       peter, NULL) == PL_CHECKPOINT_MALFORMED_NOTE, "bad note %zu accepted", i);
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        free ((char *) bad [i]);

    //  More than 100 signatures is malformed
    size_t size = strlen (both) + 101 * strlen (s_peter_sig) + 1;
    note = malloc (size);
    strcpy (note, both);
    for (int i = 0; i < 101; i++)
        strcat (note, s_peter_sig);
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "PeterNeumann", peter,
                                               NULL), PL_CHECKPOINT_MALFORMED_NOTE);
    //  ... and 100 are fine
    note [strlen (note) - strlen (s_peter_sig)] = 0;
    ck_assert_int_eq (pl_checkpoint_note_open (note, strlen (note), "PeterNeumann", peter,
                                               NULL), PL_CHECKPOINT_OK);
    free (note);
    free (both);
}
END_TEST

//  --- checkpoints -------------------------------------------------------------

START_TEST (test_checkpoint_body_format)
{
    //  The root is the RFC 6962 root of 8 reference leaves (see test_merkle)
    uint8_t root [32];
    size_t len = 0;
    const char *hex = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";
    ck_assert_int_eq (sodium_hex2bin (root, 32, hex, 64, NULL, &len, NULL), 0);
    pl_checkpoint_t *checkpoint = pl_checkpoint_new (ORIGIN, 8, root);
    ck_assert_ptr_nonnull (checkpoint);
    char *body = pl_checkpoint_body (checkpoint);
    ck_assert_str_eq (body, ORIGIN "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
    free (body);
    pl_checkpoint_destroy (&checkpoint);
    ck_assert_ptr_null (checkpoint);

    //  The empty tree is size 0, not an empty line
    pl_merkle_t *tree = pl_merkle_new_in_memory ();
    checkpoint = pl_checkpoint_new_from_tree (ORIGIN, tree);
    body = pl_checkpoint_body (checkpoint);
    ck_assert_str_eq (body, ORIGIN "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
    free (body);
    pl_checkpoint_destroy (&checkpoint);
    pl_merkle_destroy (&tree);

    ck_assert_ptr_null (pl_checkpoint_new ("", 1, root));
    ck_assert_ptr_null (pl_checkpoint_new ("has space", 1, root));
    ck_assert_ptr_null (pl_checkpoint_new ("has+plus", 1, root));
    ck_assert_ptr_null (pl_checkpoint_new ("line\nbreak", 1, root));
    ck_assert_ptr_null (pl_checkpoint_new ("no\xe2\x80\x83" "emspace", 1, root));
    ck_assert (pl_checkpoint_name_is_valid ("\xc3\xa9t\xc3\xa9.example/journal"));
}
END_TEST

START_TEST (test_checkpoint_round_trip)
{
    pl_keys_t *broker = pl_keys_generate ("broker");
    pl_merkle_t *tree = pl_merkle_new_in_memory ();
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq (pl_merkle_append_data (tree, &i, sizeof i, NULL), 0);
    pl_checkpoint_t *checkpoint = pl_checkpoint_new_from_tree (ORIGIN, tree);
    char *note = pl_checkpoint_sign (checkpoint, ORIGIN, broker);
    ck_assert_ptr_nonnull (note);

    int error = -1;
    pl_checkpoint_t *opened = pl_checkpoint_open (note, strlen (note), ORIGIN, ORIGIN,
                                                  pl_keys_public (broker), &error);
    ck_assert_int_eq (error, PL_CHECKPOINT_OK);
    ck_assert_ptr_nonnull (opened);
    ck_assert_str_eq (pl_checkpoint_origin (opened), ORIGIN);
    ck_assert_uint_eq (pl_checkpoint_size (opened), 1000);
    ck_assert_mem_eq (pl_checkpoint_root (opened), pl_checkpoint_root (checkpoint), 32);

    //  The vkey form carries what the agency needs to open it
    char *vkey = pl_checkpoint_vkey (ORIGIN, pl_keys_public (broker));
    char name [PL_CHECKPOINT_NAME_MAX + 1];
    uint8_t pk [32];
    ck_assert_int_eq (pl_checkpoint_vkey_parse (vkey, name, sizeof name, pk), 0);
    ck_assert_str_eq (name, ORIGIN);
    pl_checkpoint_t *again = pl_checkpoint_open (note, strlen (note), ORIGIN, name, pk, NULL);
    ck_assert_ptr_nonnull (again);
    pl_checkpoint_destroy (&again);
    free (vkey);

    //  An agent moving from the checkpoint at 600 to this one
    uint8_t proof [PL_MERKLE_PROOF_MAX * 32], old_root [32];
    size_t len = 0;
    ck_assert_int_eq (pl_merkle_root_at (tree, 600, old_root), 0);
    pl_checkpoint_t *older = pl_checkpoint_new (ORIGIN, 600, old_root);
    ck_assert_int_eq (pl_merkle_consistency_proof (tree, 600, 1000, proof, &len), 0);
    ck_assert (pl_checkpoint_verify_consistency (older, opened, proof, len));
    ck_assert (!pl_checkpoint_verify_consistency (opened, older, proof, len));
    proof [5] ^= 1;
    ck_assert (!pl_checkpoint_verify_consistency (older, opened, proof, len));
    //  ... and of another log's checkpoint, even with the same tree
    pl_checkpoint_t *other = pl_checkpoint_new ("other.example/log", 1000,
                                                pl_checkpoint_root (opened));
    proof [5] ^= 1;
    ck_assert (!pl_checkpoint_verify_consistency (older, other, proof, len));
    pl_checkpoint_destroy (&other);

    //  And a publish ack's inclusion proof against it
    uint8_t leaf [32];
    int entry = 421;
    pl_merkle_leaf_hash (&entry, sizeof entry, leaf);
    ck_assert_int_eq (pl_merkle_inclusion_proof (tree, 421, 1000, proof, &len), 0);
    ck_assert (pl_checkpoint_verify_inclusion (opened, leaf, 421, proof, len));
    ck_assert (!pl_checkpoint_verify_inclusion (opened, leaf, 420, proof, len));
    ck_assert (!pl_checkpoint_verify_inclusion (older, leaf, 421, proof, len));

    pl_checkpoint_destroy (&older);
    pl_checkpoint_destroy (&opened);
    pl_checkpoint_destroy (&checkpoint);
    pl_merkle_destroy (&tree);
    free (note);
    pl_keys_destroy (&broker);
}
END_TEST

//  Open a note, expect it refused with this error
static void
s_expect (const char *note, const uint8_t *pk, const char *key_name, int want)
{
    int error = -1;
    pl_checkpoint_t *checkpoint = pl_checkpoint_open (note, strlen (note), ORIGIN, key_name,
                                                      pk, &error);
    ck_assert_ptr_null (checkpoint);
    ck_assert_msg (error == want, "got %s, want %s, for:\n%s", pl_checkpoint_strerror (error),
                   pl_checkpoint_strerror (want), note);
}

//  Replace the first occurrence of from with to, in place (same length)
static void
s_replace (char *text, const char *from, const char *to)
{
    char *at = strstr (text, from);
    ck_assert_ptr_nonnull (at);
    ck_assert_uint_eq (strlen (from), strlen (to));
    memcpy (at, to, strlen (to));
}

START_TEST (test_checkpoint_tampering)
{
    pl_keys_t *broker = pl_keys_generate ("broker");
    const uint8_t *pk = pl_keys_public (broker);
    uint8_t root [32];
    memset (root, 0x42, 32);
    pl_checkpoint_t *checkpoint = pl_checkpoint_new (ORIGIN, 1234, root);
    char *note = pl_checkpoint_sign (checkpoint, ORIGIN, broker);
    char *copy = strdup (note);

    //  Altered after signing: the signature no longer holds
    s_replace (copy, "\n1234\n", "\n1235\n");
    s_expect (copy, pk, ORIGIN, PL_CHECKPOINT_BAD_SIGNATURE);
    strcpy (copy, note);
    s_replace (copy, "QkJC", "QkJD");       //  base64 of 0x42 0x42 0x42
    s_expect (copy, pk, ORIGIN, PL_CHECKPOINT_BAD_SIGNATURE);
    //  one bit of the signature itself (after the em dash line's key id)
    strcpy (copy, note);
    char *blob = strrchr (copy, ' ') + 1;
    blob [20] = blob [20] == 'A'? 'B': 'A';
    s_expect (copy, pk, ORIGIN, PL_CHECKPOINT_BAD_SIGNATURE);
    //  Another key name, or another key: not ours, so no signature
    strcpy (copy, note);
    s_replace (copy, "\xe2\x80\x94 passerelle", "\xe2\x80\x94 passerellf");
    s_expect (copy, pk, ORIGIN, PL_CHECKPOINT_NO_SIGNATURE);
    pl_keys_t *impostor = pl_keys_generate ("impostor");
    s_expect (note, pl_keys_public (impostor), ORIGIN, PL_CHECKPOINT_NO_SIGNATURE);
    //  A broken structure
    strcpy (copy, note);
    s_replace (copy, "\n\n", "\nx");
    s_expect (copy, pk, ORIGIN, PL_CHECKPOINT_MALFORMED_NOTE);
    s_expect (note, pk, "bad name", PL_CHECKPOINT_BAD_NAME);

    //  Signed by the right key but not a proper checkpoint: each its error
    const struct { const char *body; int error; } cases [] = {
        { ORIGIN "\n1234\n", PL_CHECKPOINT_MALFORMED_BODY },
        { ORIGIN "\n", PL_CHECKPOINT_MALFORMED_BODY },
        { ORIGIN "\n\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_MALFORMED_BODY },
        { ORIGIN "\n01234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_BAD_SIZE },
        { ORIGIN "\n12a4\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_BAD_SIZE },
        { ORIGIN "\n-1\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_BAD_SIZE },
        { ORIGIN "\n 1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_BAD_SIZE },
        { ORIGIN "\n18446744073709551616\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_BAD_SIZE },
        //  non-zero padding bits: a second spelling of some root
        { ORIGIN "\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJ=\n", PL_CHECKPOINT_BAD_ROOT },
        { ORIGIN "\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI\n", PL_CHECKPOINT_BAD_ROOT },
        { ORIGIN "\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQg==\n", PL_CHECKPOINT_BAD_ROOT },
        { ORIGIN "\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk*=\n", PL_CHECKPOINT_BAD_ROOT },
        { "other.example/log\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_WRONG_ORIGIN },
        { ORIGIN "x\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n", PL_CHECKPOINT_WRONG_ORIGIN },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char *signed_note = pl_checkpoint_note_sign (cases [i].body, ORIGIN, broker);
        ck_assert_ptr_nonnull (signed_note);
        s_expect (signed_note, pk, ORIGIN, cases [i].error);
        free (signed_note);
    }
    //  The same body with an extension line is still a checkpoint
    char *extended = pl_checkpoint_note_sign (
        ORIGIN "\n1234\nQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\nextension\n", ORIGIN, broker);
    int error = -1;
    pl_checkpoint_t *opened = pl_checkpoint_open (extended, strlen (extended), ORIGIN, ORIGIN,
                                                  pk, &error);
    ck_assert_int_eq (error, PL_CHECKPOINT_OK);
    ck_assert_uint_eq (pl_checkpoint_size (opened), 1234);
    ck_assert_mem_eq (pl_checkpoint_root (opened), root, 32);
    pl_checkpoint_destroy (&opened);
    free (extended);

    //  Untouched, it still opens: the failures above were the tampering
    opened = pl_checkpoint_open (note, strlen (note), ORIGIN, ORIGIN, pk, &error);
    ck_assert_ptr_nonnull (opened);
    pl_checkpoint_destroy (&opened);
    //  and a second, unknown signature after ours changes nothing
    char *cosigned = s_concat (note, s_enoch_sig, "");
    opened = pl_checkpoint_open (cosigned, strlen (cosigned), ORIGIN, ORIGIN, pk, &error);
    ck_assert_ptr_nonnull (opened);
    pl_checkpoint_destroy (&opened);
    free (cosigned);

    //  Every error has its own description
    for (int a = PL_CHECKPOINT_OK; a <= PL_CHECKPOINT_BAD_NAME; a++)
        for (int b = a + 1; b <= PL_CHECKPOINT_BAD_NAME; b++)
            ck_assert_str_ne (pl_checkpoint_strerror (a), pl_checkpoint_strerror (b));

    free (copy);
    free (note);
    pl_checkpoint_destroy (&checkpoint);
    pl_keys_destroy (&impostor);
    pl_keys_destroy (&broker);
}
END_TEST

//  A broker showing two agencies two different logs: once it shows the
//  second agency a checkpoint of the first log, no proof links them
START_TEST (test_split_view_is_caught)
{
    pl_merkle_t *seen_by_a = pl_merkle_new_in_memory ();
    pl_merkle_t *seen_by_b = pl_merkle_new_in_memory ();
    for (int i = 0; i < 800; i++) {
        ck_assert_int_eq (pl_merkle_append_data (seen_by_a, &i, sizeof i, NULL), 0);
        //  the same entries, except that b's log hides entry 10
        int entry = i == 10? -1: i;
        if (i < 500)
            ck_assert_int_eq (pl_merkle_append_data (seen_by_b, &entry, sizeof entry, NULL), 0);
    }
    uint8_t root [32], proof [PL_MERKLE_PROOF_MAX * 32];
    size_t len = 0;
    ck_assert_int_eq (pl_merkle_root_at (seen_by_a, 500, root), 0);
    pl_checkpoint_t *kept_by_a = pl_checkpoint_new (ORIGIN, 500, root);
    pl_checkpoint_t *kept_by_b = pl_checkpoint_new_from_tree (ORIGIN, seen_by_b);
    pl_checkpoint_t *latest = pl_checkpoint_new_from_tree (ORIGIN, seen_by_a);
    ck_assert_int_eq (pl_merkle_consistency_proof (seen_by_a, 500, 800, proof, &len), 0);
    ck_assert (pl_checkpoint_verify_consistency (kept_by_a, latest, proof, len));
    ck_assert (!pl_checkpoint_verify_consistency (kept_by_b, latest, proof, len));
    //  nor can b's own log provide one: it is not a prefix of a's
    ck_assert_int_eq (pl_merkle_consistency_proof (seen_by_b, 400, 500, proof, &len), 0);
    ck_assert (!pl_checkpoint_verify_consistency (kept_by_b, latest, proof, len));
    pl_checkpoint_destroy (&kept_by_a);
    pl_checkpoint_destroy (&kept_by_b);
    pl_checkpoint_destroy (&latest);
    pl_merkle_destroy (&seen_by_a);
    pl_merkle_destroy (&seen_by_b);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pl_checkpoint");
    TCase *known = tcase_create ("known answers");
    tcase_set_timeout (known, 60);
    tcase_add_test (known, test_vkey_known_answers);
    tcase_add_test (known, test_note_sign_known_answer);
    tcase_add_test (known, test_note_open_known_answers);
    suite_add_tcase (suite, known);

    TCase *checkpoints = tcase_create ("checkpoints");
    tcase_set_timeout (checkpoints, 60);
    tcase_add_test (checkpoints, test_checkpoint_body_format);
    tcase_add_test (checkpoints, test_checkpoint_round_trip);
    tcase_add_test (checkpoints, test_checkpoint_tampering);
    tcase_add_test (checkpoints, test_split_view_is_caught);
    suite_add_tcase (suite, checkpoints);
    return suite;
}

PL_TEST_MAIN
