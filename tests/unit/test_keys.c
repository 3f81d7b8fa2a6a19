/*  test_keys: agency identity keys (proto/pl_keys).
 *
 *  Covers: generate / save / load round trip in a mkdtemp directory; the
 *  .key file is 0600 and the .pub 0644 whatever the umask; load refuses a
 *  .key readable by group or others and says to chmod; save never
 *  overwrites; every kind of damaged file (bad public-key line, a seed that
 *  is not the public key's, a .pub given as secret key, an invalid id, bad or
 *  non-canonical base64, a stranger setting) is refused with an error naming
 *  the file and, where there is one, the line; signatures verify and fail on
 *  any change; the X25519 keys derived from the Ed25519 ones agree across
 *  generate, load and pl_curve_public_from_sign; pl_id_is_valid edges.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zmq.h>
#include "pl_test.h"
#include "pl_keys.h"

static char s_dir [64];
static mode_t s_umask;

static void
s_setup (void)
{
    ck_assert_int_ge (sodium_init (), 0);
    strcpy (s_dir, "/tmp/pl-test-keys-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
    s_umask = umask (022);
    umask (s_umask);
}

static void
s_teardown (void)
{
    umask (s_umask);            //  CK_FORK=no runs every test in one process
    char command [128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    ck_assert_int_eq (system (command), 0);
}

static char *
s_path (char *buf, const char *name)
{
    snprintf (buf, 256, "%s/%s", s_dir, name);
    return buf;
}

static void
s_write (const char *path, mode_t mode, const char *text)
{
    unlink (path);
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    ck_assert_int_ge (fputs (text, file), 0);
    ck_assert_int_eq (fclose (file), 0);
    ck_assert_int_eq (chmod (path, mode), 0);
}

static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "r");
    ck_assert_msg (file != NULL, "cannot read %s", path);
    static char text [4096];
    size_t size = fread (text, 1, sizeof text - 1, file);
    text [size] = 0;
    fclose (file);
    return text;
}

//  The value of 'name = "VALUE"' in a key file's text, into value.
static void
s_value_of (const char *text, const char *name, char *value, size_t size)
{
    char prefix [64];
    snprintf (prefix, sizeof prefix, "\n%s = ", name);
    const char *at = strstr (text, prefix);
    ck_assert_msg (at != NULL, "no %s in the file", name);
    at += strlen (prefix);
    if (*at == '"')
        at++;
    size_t len = strcspn (at, "\"\n");
    ck_assert_uint_lt (len, size);
    memcpy (value, at, len);
    value [len] = 0;
}

static int
s_line_of (const char *text, const char *prefix)
{
    int number = 1;
    for (const char *line = text; line && *line; number++) {
        if (strncmp (line, prefix, strlen (prefix)) == 0)
            return number;
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    ck_abort_msg ("'%s' not in the text", prefix);
    return 0;
}

//  err must start with "path:line: " (line > 0) or "path" (line 0).
static void
s_assert_names (const char *err, const char *path, int line)
{
    char expected [320];
    if (line)
        snprintf (expected, sizeof expected, "%s:%d: ", path, line);
    else
        snprintf (expected, sizeof expected, "%s", path);
    ck_assert_msg (strncmp (err, expected, strlen (expected)) == 0,
                   "error '%s' does not start with '%s'", err, expected);
}

//  Generates and saves id in the test directory; returns the keys.
static pl_keys_t *
s_saved (const char *id)
{
    pl_keys_t *keys = pl_keys_generate (id);
    ck_assert_ptr_nonnull (keys);
    char err [512] = "";
    ck_assert_msg (pl_keys_save (keys, s_dir, err, sizeof err) == 0, "%s", err);
    return keys;
}

static void
s_assert_load_fails (const char *path, const char *must_contain, int line)
{
    char err [512] = "";
    pl_keys_t *keys = pl_keys_load (path, err, sizeof err);
    ck_assert_msg (keys == NULL, "%s loaded", path);
    s_assert_names (err, path, line);
    if (must_contain)
        ck_assert_msg (strstr (err, must_contain) != NULL, "error '%s' does not mention '%s'",
                       err, must_contain);
}

START_TEST (a_generated_key_carries_its_id_and_fresh_material)
{
    pl_keys_t *a = pl_keys_generate ("police-a");
    pl_keys_t *b = pl_keys_generate ("police-a");
    ck_assert_ptr_nonnull (a);
    ck_assert_ptr_nonnull (b);
    ck_assert_str_eq (pl_keys_id (a), "police-a");
    ck_assert_mem_ne (pl_keys_public (a), pl_keys_public (b), PL_PUBLIC_KEY_SIZE);
    ck_assert_mem_ne (pl_keys_curve_secret (a), pl_keys_curve_secret (b), PL_CURVE_KEY_SIZE);
    pl_keys_destroy (&a);
    pl_keys_destroy (&b);
    ck_assert_ptr_null (a);
    pl_keys_destroy (&a);
    pl_keys_destroy (NULL);
}
END_TEST

START_TEST (no_key_is_generated_for_an_invalid_id)
{
    ck_assert_ptr_null (pl_keys_generate (""));
    ck_assert_ptr_null (pl_keys_generate (NULL));
    ck_assert_ptr_null (pl_keys_generate ("Police"));
    ck_assert_ptr_null (pl_keys_generate ("../etc/passwd"));
    ck_assert_ptr_null (pl_keys_generate ("a/b"));
}
END_TEST

START_TEST (a_saved_key_loads_back_as_the_same_key)
{
    pl_keys_t *original = s_saved ("social-b");
    char path [256], err [512] = "";
    pl_keys_t *loaded = pl_keys_load (s_path (path, "social-b.key"), err, sizeof err);
    ck_assert_msg (loaded != NULL, "%s", err);
    ck_assert_str_eq (pl_keys_id (loaded), "social-b");
    ck_assert_mem_eq (pl_keys_public (loaded), pl_keys_public (original), PL_PUBLIC_KEY_SIZE);
    ck_assert_mem_eq (pl_keys_curve_public (loaded), pl_keys_curve_public (original), PL_CURVE_KEY_SIZE);
    ck_assert_mem_eq (pl_keys_curve_secret (loaded), pl_keys_curve_secret (original), PL_CURVE_KEY_SIZE);
    //  The loaded secret signs what the original public key accepts
    const uint8_t data [] = "case:2026/0042";
    uint8_t sig [PL_SIGNATURE_SIZE];
    pl_keys_sign (loaded, data, sizeof data, sig);
    ck_assert (pl_signature_verify (pl_keys_public (original), data, sizeof data, sig));
    pl_keys_destroy (&original);
    pl_keys_destroy (&loaded);
}
END_TEST

START_TEST (the_public_file_and_the_key_file_give_the_same_public_key)
{
    pl_keys_t *keys = s_saved ("health-c");
    char path [256], err [512] = "", id [PL_ID_MAX + 1] = "";
    uint8_t pk [PL_PUBLIC_KEY_SIZE];
    ck_assert_msg (pl_public_key_load (s_path (path, "health-c.pub"), id, sizeof id, pk,
                                       err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq (id, "health-c");
    ck_assert_mem_eq (pk, pl_keys_public (keys), PL_PUBLIC_KEY_SIZE);
    memset (pk, 0, sizeof pk);
    ck_assert_msg (pl_public_key_load (s_path (path, "health-c.key"), id, sizeof id, pk,
                                       err, sizeof err) == 0, "%s", err);
    ck_assert_mem_eq (pk, pl_keys_public (keys), PL_PUBLIC_KEY_SIZE);
    //  And the .pub holds nothing secret
    ck_assert_ptr_null (strstr (s_read (s_path (path, "health-c.pub")), "secret-seed"));
    ck_assert_ptr_nonnull (strstr (s_read (s_path (path, "health-c.key")), "secret-seed"));
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (key_files_get_0600_and_0644_under_a_permissive_umask)
{
    umask (0);
    pl_keys_t *keys = s_saved ("school-d");
    char path [256];
    struct stat st;
    ck_assert_int_eq (stat (s_path (path, "school-d.key"), &st), 0);
    ck_assert_msg ((st.st_mode & 07777) == 0600, ".key mode %04o", st.st_mode & 07777);
    ck_assert_int_eq (stat (s_path (path, "school-d.pub"), &st), 0);
    ck_assert_msg ((st.st_mode & 07777) == 0644, ".pub mode %04o", st.st_mode & 07777);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (the_public_file_is_readable_by_all_even_under_a_strict_umask)
{
    umask (077);
    pl_keys_t *keys = s_saved ("school-e");
    char path [256];
    struct stat st;
    ck_assert_int_eq (stat (s_path (path, "school-e.pub"), &st), 0);
    ck_assert_msg ((st.st_mode & 07777) == 0644, ".pub mode %04o", st.st_mode & 07777);
    ck_assert_int_eq (stat (s_path (path, "school-e.key"), &st), 0);
    ck_assert_msg ((st.st_mode & 07777) == 0600, ".key mode %04o", st.st_mode & 07777);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (a_key_file_readable_by_others_is_refused_with_the_chmod_to_run)
{
    pl_keys_t *keys = s_saved ("police-a");
    char path [256];
    s_path (path, "police-a.key");
    const mode_t modes [] = { 0644, 0640, 0604, 0620, 0602, 0610, 0601, 0666 };
    for (size_t i = 0; i < sizeof modes / sizeof modes [0]; i++) {
        ck_assert_int_eq (chmod (path, modes [i]), 0);
        char err [512] = "";
        ck_assert_ptr_null (pl_keys_load (path, err, sizeof err));
        s_assert_names (err, path, 0);
        ck_assert_msg (strstr (err, "chmod 600") != NULL, "'%s' does not say chmod 600", err);
        char mode [16];
        snprintf (mode, sizeof mode, "%04o", (unsigned) modes [i]);
        ck_assert_msg (strstr (err, mode) != NULL, "'%s' does not show mode %s", err, mode);
    }
    //  Owner-only modes are fine
    ck_assert_int_eq (chmod (path, 0400), 0);
    char err [512] = "";
    pl_keys_t *loaded = pl_keys_load (path, err, sizeof err);
    ck_assert_msg (loaded != NULL, "%s", err);
    pl_keys_destroy (&loaded);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (save_never_overwrites_an_existing_key)
{
    pl_keys_t *first = s_saved ("legal-f");
    char path [256], before [4096];
    snprintf (before, sizeof before, "%s", s_read (s_path (path, "legal-f.key")));
    pl_keys_t *second = pl_keys_generate ("legal-f");
    char err [512] = "";
    ck_assert_int_eq (pl_keys_save (second, s_dir, err, sizeof err), -1);
    s_assert_names (err, path, 0);
    ck_assert_ptr_nonnull (strstr (err, "overwrite"));
    ck_assert_str_eq (s_read (path), before);
    //  The loaded key is still the first one
    pl_keys_t *loaded = pl_keys_load (path, err, sizeof err);
    ck_assert_ptr_nonnull (loaded);
    ck_assert_mem_eq (pl_keys_public (loaded), pl_keys_public (first), PL_PUBLIC_KEY_SIZE);
    pl_keys_destroy (&loaded);
    pl_keys_destroy (&first);
    pl_keys_destroy (&second);
}
END_TEST

START_TEST (save_into_a_missing_directory_fails_naming_the_path)
{
    pl_keys_t *keys = pl_keys_generate ("police-a");
    char dir [256], err [512] = "";
    s_path (dir, "no/such/dir");
    ck_assert_int_eq (pl_keys_save (keys, dir, err, sizeof err), -1);
    ck_assert_ptr_nonnull (strstr (err, dir));
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (a_missing_key_file_is_named_in_the_error)
{
    char path [256];
    s_path (path, "nobody.key");
    s_assert_load_fails (path, "No such file", 0);
    char id [PL_ID_MAX + 1], err [512] = "";
    uint8_t pk [PL_PUBLIC_KEY_SIZE];
    ck_assert_int_eq (pl_public_key_load (path, id, sizeof id, pk, err, sizeof err), -1);
    s_assert_names (err, path, 0);
}
END_TEST

//  A key file written by hand from parts of real ones.
static void
s_compose (const char *path, const char *id, const char *pk_text, const char *seed_text)
{
    char text [1024];
    int n = snprintf (text, sizeof text, "# hand-written\n\nid = %s\n", id);
    if (pk_text)
        n += snprintf (text + n, sizeof text - n, "public-key = \"%s\"\n", pk_text);
    if (seed_text)
        snprintf (text + n, sizeof text - n, "secret-seed = \"%s\"\n", seed_text);
    s_write (path, 0600, text);
}

START_TEST (a_damaged_public_key_line_is_refused_with_its_line)
{
    pl_keys_t *keys = s_saved ("police-a");
    char path [256], pk_text [64], seed_text [64];
    const char *text = s_read (s_path (path, "police-a.key"));
    s_value_of (text, "public-key", pk_text, sizeof pk_text);
    s_value_of (text, "secret-seed", seed_text, sizeof seed_text);
    ck_assert_int_eq (strlen (pk_text), 44);

    //  One character replaced by one that is not base64
    char damaged [64];
    snprintf (damaged, sizeof damaged, "%s", pk_text);
    damaged [10] = '!';
    s_compose (path, "police-a", damaged, seed_text);
    s_assert_load_fails (path, "public-key", s_line_of (s_read (path), "public-key"));

    //  Cut short
    snprintf (damaged, sizeof damaged, "%.40s", pk_text);
    s_compose (path, "police-a", damaged, seed_text);
    s_assert_load_fails (path, "public-key", s_line_of (s_read (path), "public-key"));

    //  Missing altogether: no line to name, but the file and the setting
    s_compose (path, "police-a", NULL, seed_text);
    s_assert_load_fails (path, "public-key", 0);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (a_public_key_that_is_valid_base64_but_another_key_is_refused)
{
    pl_keys_t *keys = s_saved ("police-a");
    pl_keys_t *other = pl_keys_generate ("police-a");
    char path [256], seed_text [64], other_pk [PL_KEY_TEXT_SIZE];
    s_value_of (s_read (s_path (path, "police-a.key")), "secret-seed", seed_text, sizeof seed_text);
    pl_key_to_text (pl_keys_public (other), other_pk);
    s_compose (path, "police-a", other_pk, seed_text);
    s_assert_load_fails (path, "does not belong", s_line_of (s_read (path), "public-key"));
    pl_keys_destroy (&keys);
    pl_keys_destroy (&other);
}
END_TEST

START_TEST (a_seed_that_is_not_the_public_keys_is_refused)
{
    pl_keys_t *a = s_saved ("police-a");
    pl_keys_t *b = s_saved ("health-c");
    char path [256], pk_a [64], seed_b [64];
    s_value_of (s_read (s_path (path, "police-a.key")), "public-key", pk_a, sizeof pk_a);
    s_value_of (s_read (s_path (path, "health-c.key")), "secret-seed", seed_b, sizeof seed_b);
    s_path (path, "mixed.key");
    s_compose (path, "police-a", pk_a, seed_b);
    s_assert_load_fails (path, "does not belong", s_line_of (s_read (path), "public-key"));
    pl_keys_destroy (&a);
    pl_keys_destroy (&b);
}
END_TEST

START_TEST (a_public_file_given_as_secret_key_is_refused)
{
    pl_keys_t *keys = s_saved ("police-a");
    char path [256];
    s_path (path, "police-a.pub");
    //  As saved (0644): refused, naming the file
    s_assert_load_fails (path, NULL, 0);
    //  Even made private, it has no seed: the error says what is missing
    ck_assert_int_eq (chmod (path, 0600), 0);
    s_assert_load_fails (path, ".pub", 0);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (an_invalid_or_missing_id_is_refused_with_its_line)
{
    pl_keys_t *keys = s_saved ("police-a");
    char path [256], pk [64], seed [64];
    const char *text = s_read (s_path (path, "police-a.key"));
    s_value_of (text, "public-key", pk, sizeof pk);
    s_value_of (text, "secret-seed", seed, sizeof seed);
    const char *bad_ids [] = { "Police-A", "-police", ".police", "police/a",
        "a234567890123456789012345678901234567890123456789012345678901234x" };
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids [0]; i++) {
        s_compose (path, bad_ids [i], pk, seed);
        s_assert_load_fails (path, "id", s_line_of (s_read (path), "id = "));
    }
    //  No id at all
    char no_id [512];
    snprintf (no_id, sizeof no_id, "public-key = \"%s\"\nsecret-seed = \"%s\"\n", pk, seed);
    s_write (path, 0600, no_id);
    s_assert_load_fails (path, "id", 0);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (a_bad_or_non_canonical_base64_seed_is_refused_with_its_line)
{
    pl_keys_t *keys = s_saved ("police-a");
    char path [256], pk [64], seed [64], bad [64];
    const char *text = s_read (s_path (path, "police-a.key"));
    s_value_of (text, "public-key", pk, sizeof pk);
    s_value_of (text, "secret-seed", seed, sizeof seed);
    ck_assert_int_eq (seed [43], '=');

    //  Not base64
    snprintf (bad, sizeof bad, "%s", seed);
    bad [5] = '*';
    s_compose (path, "police-a", pk, bad);
    s_assert_load_fails (path, "secret-seed", s_line_of (s_read (path), "secret-seed"));

    //  URL-safe alphabet instead of the original one
    snprintf (bad, sizeof bad, "%s", seed);
    bad [7] = '-';
    s_compose (path, "police-a", pk, bad);
    s_assert_load_fails (path, "secret-seed", s_line_of (s_read (path), "secret-seed"));

    //  Padding removed: 43 characters
    snprintf (bad, sizeof bad, "%.43s", seed);
    s_compose (path, "police-a", pk, bad);
    s_assert_load_fails (path, "secret-seed", s_line_of (s_read (path), "secret-seed"));

    //  Same 32 bytes, but the last character's unused bits set: a second
    //  spelling of one key is not accepted
    snprintf (bad, sizeof bad, "%s", seed);
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int value = (int) (strchr (alphabet, bad [42]) - alphabet);
    bad [42] = alphabet [value ^ 1];
    s_compose (path, "police-a", pk, bad);
    s_assert_load_fails (path, "secret-seed", s_line_of (s_read (path), "secret-seed"));

    //  And the untouched parts load: the failures above were the seed's
    s_compose (path, "police-a", pk, seed);
    char err [512] = "";
    pl_keys_t *loaded = pl_keys_load (path, err, sizeof err);
    ck_assert_msg (loaded != NULL, "%s", err);
    pl_keys_destroy (&loaded);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (an_unknown_setting_in_a_key_file_is_refused_with_its_line)
{
    pl_keys_t *keys = s_saved ("police-a");
    char path [256], text [1024];
    snprintf (text, sizeof text, "%ssecret-sead = \"x\"\n", s_read (s_path (path, "police-a.key")));
    s_write (path, 0600, text);
    s_assert_load_fails (path, "secret-sead", s_line_of (text, "secret-sead"));
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (a_key_file_that_is_not_zpl_is_refused_naming_the_file)
{
    char path [256];
    s_path (path, "garbage.key");
    s_write (path, 0600, "-----BEGIN OPENSSH PRIVATE KEY-----\n  b3BlbnNzaC1rZXktdjEAAAA\n");
    s_assert_load_fails (path, NULL, 0);
}
END_TEST

START_TEST (a_signature_verifies_and_fails_on_any_change)
{
    pl_keys_t *keys = pl_keys_generate ("police-a");
    pl_keys_t *other = pl_keys_generate ("police-a");
    uint8_t data [100], sig [PL_SIGNATURE_SIZE];
    randombytes_buf (data, sizeof data);
    pl_keys_sign (keys, data, sizeof data, sig);
    ck_assert (pl_signature_verify (pl_keys_public (keys), data, sizeof data, sig));
    ck_assert (!pl_signature_verify (pl_keys_public (other), data, sizeof data, sig));
    ck_assert (!pl_signature_verify (pl_keys_public (keys), data, sizeof data - 1, sig));
    for (size_t i = 0; i < sizeof sig; i++) {
        sig [i] ^= 0x01;
        ck_assert_msg (!pl_signature_verify (pl_keys_public (keys), data, sizeof data, sig),
                       "flipped signature byte %zu still verifies", i);
        sig [i] ^= 0x01;
    }
    for (size_t i = 0; i < sizeof data; i += 7) {
        data [i] ^= 0x80;
        ck_assert (!pl_signature_verify (pl_keys_public (keys), data, sizeof data, sig));
        data [i] ^= 0x80;
    }
    ck_assert (pl_signature_verify (pl_keys_public (keys), data, sizeof data, sig));
    //  Empty data can be signed too
    pl_keys_sign (keys, data, 0, sig);
    ck_assert (pl_signature_verify (pl_keys_public (keys), data, 0, sig));
    pl_keys_destroy (&keys);
    pl_keys_destroy (&other);
}
END_TEST

START_TEST (a_box_sealed_to_the_curve_form_of_the_public_key_opens_with_the_loaded_key)
{
    pl_keys_t *keys = s_saved ("child-g");
    char path [256], err [512] = "", id [PL_ID_MAX + 1];
    uint8_t pk [PL_PUBLIC_KEY_SIZE], curve [PL_CURVE_KEY_SIZE];
    //  What a publisher knows: the directory's public key only
    ck_assert_int_eq (pl_public_key_load (s_path (path, "child-g.pub"), id, sizeof id, pk,
                                          err, sizeof err), 0);
    ck_assert_int_eq (pl_curve_public_from_sign (pk, curve), 0);
    ck_assert_mem_eq (curve, pl_keys_curve_public (keys), PL_CURVE_KEY_SIZE);
    const uint8_t secret [] = "payload key, 32 bytes of it.....";
    uint8_t sealed [sizeof secret + crypto_box_SEALBYTES], opened [sizeof secret];
    ck_assert_int_eq (crypto_box_seal (sealed, secret, sizeof secret, curve), 0);

    pl_keys_t *loaded = pl_keys_load (s_path (path, "child-g.key"), err, sizeof err);
    ck_assert_msg (loaded != NULL, "%s", err);
    ck_assert_int_eq (crypto_box_seal_open (opened, sealed, sizeof sealed,
                                            pl_keys_curve_public (loaded),
                                            pl_keys_curve_secret (loaded)), 0);
    ck_assert_mem_eq (opened, secret, sizeof secret);
    //  The curve secret really is the secret of the curve public key
    uint8_t derived [PL_CURVE_KEY_SIZE];
    crypto_scalarmult_base (derived, pl_keys_curve_secret (loaded));
    ck_assert_mem_eq (derived, pl_keys_curve_public (loaded), PL_CURVE_KEY_SIZE);
    //  And another key cannot open it
    pl_keys_t *other = pl_keys_generate ("child-g");
    ck_assert_int_ne (crypto_box_seal_open (opened, sealed, sizeof sealed,
                                            pl_keys_curve_public (other),
                                            pl_keys_curve_secret (other)), 0);
    pl_keys_destroy (&other);
    pl_keys_destroy (&loaded);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (a_small_order_point_has_no_curve_form)
{
    uint8_t zero [PL_PUBLIC_KEY_SIZE] = { 0 }, curve [PL_CURVE_KEY_SIZE];
    ck_assert_int_eq (pl_curve_public_from_sign (zero, curve), -1);
    //  The identity point (y = 1) is small order too
    uint8_t identity [PL_PUBLIC_KEY_SIZE] = { 1 };
    ck_assert_int_eq (pl_curve_public_from_sign (identity, curve), -1);
}
END_TEST

START_TEST (key_text_round_trips_and_refuses_wrong_lengths)
{
    uint8_t key [32], back [32];
    char text [PL_KEY_TEXT_SIZE];
    for (int round = 0; round < 50; round++) {
        randombytes_buf (key, sizeof key);
        pl_key_to_text (key, text);
        ck_assert_int_eq (strlen (text), PL_KEY_TEXT_SIZE - 1);
        ck_assert_int_eq (pl_key_from_text (text, back), 0);
        ck_assert_mem_eq (back, key, sizeof key);
    }
    char longer [64];
    snprintf (longer, sizeof longer, "%sA", text);
    ck_assert_int_eq (pl_key_from_text (longer, back), -1);
    snprintf (longer, sizeof longer, "%.43s", text);
    ck_assert_int_eq (pl_key_from_text (longer, back), -1);
    ck_assert_int_eq (pl_key_from_text ("", back), -1);
    ck_assert_int_eq (pl_key_from_text (NULL, back), -1);
    //  44 characters that are base64 of 33 bytes are not a key
    ck_assert_int_eq (pl_key_from_text ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", back), -1);
}
END_TEST

START_TEST (the_z85_form_of_a_curve_key_is_40_characters)
{
    pl_keys_t *keys = pl_keys_generate ("police-a");
    char z85 [41];
    memset (z85, 'x', sizeof z85);
    pl_curve_to_z85 (pl_keys_curve_public (keys), z85);
    ck_assert_int_eq (strlen (z85), 40);
    uint8_t back [32];
    ck_assert_ptr_nonnull (zmq_z85_decode (back, z85));
    ck_assert_mem_eq (back, pl_keys_curve_public (keys), 32);
    pl_keys_destroy (&keys);
}
END_TEST

START_TEST (agency_ids_are_1_to_64_of_lower_case_digits_and_separators)
{
    char max [PL_ID_MAX + 2];
    memset (max, 'a', PL_ID_MAX);
    max [PL_ID_MAX] = 0;
    ck_assert (pl_id_is_valid (max));
    max [PL_ID_MAX] = 'a';
    max [PL_ID_MAX + 1] = 0;
    ck_assert (!pl_id_is_valid (max));

    const char *good [] = { "a", "0", "police-a", "health_b.north", "9lives", "a-", "a.", "a_",
                            "_private", "x..y" };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++)
        ck_assert_msg (pl_id_is_valid (good [i]), "'%s' refused", good [i]);
    const char *bad [] = { "", "-a", ".a", ".", "..", "A", "Police", "a b", "a/b", "a\\b",
                           "a:b", "a\tb", "caf\xc3\xa9", "a\n", "a@b", "a+b" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        ck_assert_msg (!pl_id_is_valid (bad [i]), "'%s' accepted", bad [i]);
    ck_assert (!pl_id_is_valid (NULL));
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("keys");
    TCase *tc = tcase_create ("keys");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, a_generated_key_carries_its_id_and_fresh_material);
    tcase_add_test (tc, no_key_is_generated_for_an_invalid_id);
    tcase_add_test (tc, a_saved_key_loads_back_as_the_same_key);
    tcase_add_test (tc, the_public_file_and_the_key_file_give_the_same_public_key);
    tcase_add_test (tc, key_files_get_0600_and_0644_under_a_permissive_umask);
    tcase_add_test (tc, the_public_file_is_readable_by_all_even_under_a_strict_umask);
    tcase_add_test (tc, a_key_file_readable_by_others_is_refused_with_the_chmod_to_run);
    tcase_add_test (tc, save_never_overwrites_an_existing_key);
    tcase_add_test (tc, save_into_a_missing_directory_fails_naming_the_path);
    tcase_add_test (tc, a_missing_key_file_is_named_in_the_error);
    tcase_add_test (tc, a_damaged_public_key_line_is_refused_with_its_line);
    tcase_add_test (tc, a_public_key_that_is_valid_base64_but_another_key_is_refused);
    tcase_add_test (tc, a_seed_that_is_not_the_public_keys_is_refused);
    tcase_add_test (tc, a_public_file_given_as_secret_key_is_refused);
    tcase_add_test (tc, an_invalid_or_missing_id_is_refused_with_its_line);
    tcase_add_test (tc, a_bad_or_non_canonical_base64_seed_is_refused_with_its_line);
    tcase_add_test (tc, an_unknown_setting_in_a_key_file_is_refused_with_its_line);
    tcase_add_test (tc, a_key_file_that_is_not_zpl_is_refused_naming_the_file);
    tcase_add_test (tc, a_signature_verifies_and_fails_on_any_change);
    tcase_add_test (tc, a_box_sealed_to_the_curve_form_of_the_public_key_opens_with_the_loaded_key);
    tcase_add_test (tc, a_small_order_point_has_no_curve_form);
    tcase_add_test (tc, key_text_round_trips_and_refuses_wrong_lengths);
    tcase_add_test (tc, the_z85_form_of_a_curve_key_is_40_characters);
    tcase_add_test (tc, agency_ids_are_1_to_64_of_lower_case_digits_and_separators);
    suite_add_tcase (suite, tc);
    return suite;
}

PL_TEST_MAIN
