/*  pl_keys: agency identity keys (see pl_keys.h).  */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zmq.h>
#include "pl_keys.h"
#include "pl_zpl.h"

struct _pl_keys_t {
    char id [PL_ID_MAX + 1];
    uint8_t public_key [crypto_sign_PUBLICKEYBYTES];
    uint8_t secret_key [crypto_sign_SECRETKEYBYTES];
    uint8_t curve_public [crypto_box_PUBLICKEYBYTES];
    uint8_t curve_secret [crypto_box_SECRETKEYBYTES];
};

bool
pl_id_is_valid (const char *id)
{
    size_t len = id? strlen (id): 0;
    if (len == 0 || len > PL_ID_MAX)
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')
           || *c == '_' || *c == '-' || *c == '.'))
            return false;
    return id [0] != '.' && id [0] != '-';
}

//  Everything but the id derives from the seed: one place to get it right.
static pl_keys_t *
s_keys_from_seed (const char *id, const uint8_t *seed)
{
    if (sodium_init () < 0 || !pl_id_is_valid (id))
        return NULL;
    pl_keys_t *self = sodium_malloc (sizeof *self);
    if (!self)
        return NULL;
    memset (self, 0, sizeof *self);
    snprintf (self->id, sizeof self->id, "%s", id);
    crypto_sign_seed_keypair (self->public_key, self->secret_key, seed);
    if (crypto_sign_ed25519_pk_to_curve25519 (self->curve_public, self->public_key) != 0
    ||  crypto_sign_ed25519_sk_to_curve25519 (self->curve_secret, self->secret_key) != 0) {
        sodium_free (self);
        return NULL;
    }
    return self;
}

pl_keys_t *
pl_keys_generate (const char *id)
{
    if (sodium_init () < 0)
        return NULL;
    uint8_t seed [crypto_sign_SEEDBYTES];
    randombytes_buf (seed, sizeof seed);
    pl_keys_t *self = s_keys_from_seed (id, seed);
    sodium_memzero (seed, sizeof seed);
    return self;
}

void
pl_key_to_text (const uint8_t *key, char *text)
{
    sodium_bin2base64 (text, PL_KEY_TEXT_SIZE, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

int
pl_key_from_text (const char *text, uint8_t *key)
{
    size_t size = 0;
    const char *end = NULL;
    if (!text || strlen (text) != PL_KEY_TEXT_SIZE - 1)
        return -1;
    if (sodium_base642bin (key, 32, text, strlen (text), NULL, &size, &end,
                           sodium_base64_VARIANT_ORIGINAL) != 0 || size != 32 || *end)
        return -1;
    return 0;
}

//  Shared by the secret and the public loaders: open, check, find id and key.
static pl_zpl_t *
s_load_key_file (const char *path, bool secret, char *id, size_t id_size,
                 uint8_t *pk, char *err, size_t err_size)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (err, err_size, "%s: cannot read key file: %s", path, strerror (errno));
        return NULL;
    }
    size_t len = strlen (path);
    if (secret && len > 4 && strcmp (path + len - 4, ".pub") == 0) {
        snprintf (err, err_size, "%s: this is a public key file; the secret key is the "
                  ".key file beside it", path);
        return NULL;
    }
    if (secret && (st.st_mode & 077)) {
        snprintf (err, err_size, "%s: secret key file is accessible to other users "
                  "(mode %04o); run: chmod 600 %s", path, (unsigned) (st.st_mode & 07777), path);
        return NULL;
    }
    pl_zpl_t *zpl = pl_zpl_load (path, err, err_size);
    if (!zpl)
        return NULL;
    zconfig_t *root = pl_zpl_root (zpl);
    const char *allowed [] = { "id", "public-key", "secret-seed", NULL };
    if (pl_zpl_check_names (zpl, root, allowed, err, err_size) != 0)
        goto fail;
    zconfig_t *id_node = zconfig_locate (root, "id");
    zconfig_t *pk_node = zconfig_locate (root, "public-key");
    if (!id_node || !pl_id_is_valid (zconfig_value (id_node))) {
        pl_zpl_error (zpl, id_node, err, err_size, "expected 'id = AGENCY-ID' "
                      "(lower-case letters, digits, _ . -, at most %d characters)", PL_ID_MAX);
        goto fail;
    }
    if (!pk_node || pl_key_from_text (zconfig_value (pk_node), pk) != 0) {
        pl_zpl_error (zpl, pk_node, err, err_size,
                      "expected 'public-key = \"BASE64\"' (32 bytes, 44 characters)");
        goto fail;
    }
    snprintf (id, id_size, "%s", zconfig_value (id_node));
    return zpl;
fail:
    pl_zpl_destroy (&zpl);
    return NULL;
}

pl_keys_t *
pl_keys_load (const char *path, char *err, size_t err_size)
{
    char id [PL_ID_MAX + 1];
    uint8_t pk [PL_PUBLIC_KEY_SIZE], seed [crypto_sign_SEEDBYTES];
    pl_zpl_t *zpl = s_load_key_file (path, true, id, sizeof id, pk, err, err_size);
    if (!zpl)
        return NULL;
    zconfig_t *seed_node = zconfig_locate (pl_zpl_root (zpl), "secret-seed");
    pl_keys_t *self = NULL;
    if (!seed_node || pl_key_from_text (zconfig_value (seed_node), seed) != 0)
        pl_zpl_error (zpl, seed_node, err, err_size,
                      "expected 'secret-seed = \"BASE64\"': is this a .pub file?");
    else
    if (!(self = s_keys_from_seed (id, seed)))
        snprintf (err, err_size, "%s: cannot derive keys (out of memory?)", path);
    else
    if (sodium_memcmp (self->public_key, pk, sizeof pk) != 0) {
        pl_zpl_error (zpl, zconfig_locate (pl_zpl_root (zpl), "public-key"), err, err_size,
                      "public-key does not belong to secret-seed: the file is damaged");
        pl_keys_destroy (&self);
    }
    sodium_memzero (seed, sizeof seed);
    //  The parsed tree held the seed's text: wipe it before freeing
    if (seed_node) {
        char *text = zconfig_value (seed_node);
        if (text)
            sodium_memzero (text, strlen (text));
    }
    pl_zpl_destroy (&zpl);
    return self;
}

int
pl_public_key_load (const char *path, char *id, size_t id_size, uint8_t *pk,
                    char *err, size_t err_size)
{
    pl_zpl_t *zpl = s_load_key_file (path, false, id, id_size, pk, err, err_size);
    if (!zpl)
        return -1;
    pl_zpl_destroy (&zpl);
    return 0;
}

static int
s_write_file (const char *path, mode_t mode, const char *text, char *err, size_t err_size)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        snprintf (err, err_size, "%s: cannot create: %s%s", path, strerror (errno),
                  errno == EEXIST? " (refusing to overwrite a key)": "");
        return -1;
    }
    //  O_CREAT's mode is filtered by umask; say exactly what we mean
    size_t len = strlen (text);
    int rc = fchmod (fd, mode) == 0 && write (fd, text, len) == (ssize_t) len
          && fsync (fd) == 0? 0: -1;
    if (rc != 0) {
        snprintf (err, err_size, "%s: cannot write: %s", path, strerror (errno));
        unlink (path);
    }
    close (fd);
    return rc;
}

int
pl_keys_save (pl_keys_t *self, const char *dir, char *err, size_t err_size)
{
    char pk_text [PL_KEY_TEXT_SIZE], seed_text [PL_KEY_TEXT_SIZE];
    char path [4096], text [1024];
    pl_key_to_text (self->public_key, pk_text);
    //  libsodium's Ed25519 secret key is seed || public key
    pl_key_to_text (self->secret_key, seed_text);

    snprintf (path, sizeof path, "%s/%s.key", dir, self->id);
    snprintf (text, sizeof text,
              "#   passerelle key pair of '%s'. SECRET: keep mode 0600, never copy it\n"
              "#   off this host. Give others %s.pub, never this file.\n"
              "id = %s\npublic-key = \"%s\"\nsecret-seed = \"%s\"\n",
              self->id, self->id, self->id, pk_text, seed_text);
    int rc = s_write_file (path, 0600, text, err, err_size);
    sodium_memzero (text, sizeof text);
    sodium_memzero (seed_text, sizeof seed_text);
    if (rc != 0)
        return -1;

    char pub_path [4096];
    snprintf (pub_path, sizeof pub_path, "%s/%s.pub", dir, self->id);
    snprintf (text, sizeof text,
              "#   passerelle public key of '%s': safe to share; the directory\n"
              "#   administrator copies public-key into the directory file.\n"
              "id = %s\npublic-key = \"%s\"\n", self->id, self->id, pk_text);
    if (s_write_file (pub_path, 0644, text, err, err_size) != 0) {
        //  Half a key pair on disk would block every retry: take it back
        unlink (path);
        return -1;
    }
    return 0;
}

void
pl_keys_destroy (pl_keys_t **self_p)
{
    if (self_p && *self_p) {
        sodium_free (*self_p);      //  wipes before freeing
        *self_p = NULL;
    }
}

const char *pl_keys_id (pl_keys_t *self) { return self->id; }
const uint8_t *pl_keys_public (pl_keys_t *self) { return self->public_key; }
const uint8_t *pl_keys_curve_public (pl_keys_t *self) { return self->curve_public; }
const uint8_t *pl_keys_curve_secret (pl_keys_t *self) { return self->curve_secret; }

void
pl_keys_sign (pl_keys_t *self, const uint8_t *data, size_t size, uint8_t *sig)
{
    crypto_sign_detached (sig, NULL, data, size, self->secret_key);
}

bool
pl_signature_verify (const uint8_t *pk, const uint8_t *data, size_t size, const uint8_t *sig)
{
    return crypto_sign_verify_detached (sig, data, size, pk) == 0;
}

int
pl_curve_public_from_sign (const uint8_t *pk, uint8_t *curve)
{
    return crypto_sign_ed25519_pk_to_curve25519 (curve, pk) == 0? 0: -1;
}

void
pl_curve_to_z85 (const uint8_t *curve, char *z85)
{
    zmq_z85_encode (z85, curve, 32);
}
