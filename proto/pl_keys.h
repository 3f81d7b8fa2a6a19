/*  pl_keys: an agency's (or the broker's) identity key pair.
 *
 *  One Ed25519 key pair per agency. It signs headers and receipts; its
 *  X25519 form (crypto_sign_ed25519_*_to_curve25519) is both the CURVE
 *  transport key and the key payload keys are sealed to. So one file holds
 *  everything an agency is, and one public key in the directory is everything
 *  others need to know about it.
 *
 *  Files (ZPL, see README "Key files"):
 *      ID.key   mode 0600: id, public-key, secret-seed (base64)
 *      ID.pub   mode 0644: id, public-key
 *  Secret material lives in sodium_malloc'd memory and is wiped on destroy.
 */
#ifndef PL_KEYS_H_INCLUDED
#define PL_KEYS_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <sodium.h>

#define PL_PUBLIC_KEY_SIZE  crypto_sign_PUBLICKEYBYTES     /* 32 */
#define PL_SIGNATURE_SIZE   crypto_sign_BYTES              /* 64 */
#define PL_CURVE_KEY_SIZE   crypto_box_PUBLICKEYBYTES      /* 32 */
#define PL_ID_MAX           64      /* agency ids: [a-z0-9_.-], 1..64 chars */
#define PL_KEY_TEXT_SIZE    45      /* base64 of 32 bytes + NUL */

typedef struct _pl_keys_t pl_keys_t;

/*  A fresh key pair for id. NULL if id is not a valid agency id.  */
pl_keys_t *pl_keys_generate (const char *id);

/*  Load a secret key file. Refuses a file readable by group or others,
 *  a public key that does not match the seed, and anything malformed;
 *  err says which.  */
pl_keys_t *pl_keys_load (const char *path, char *err, size_t err_size);

/*  Write DIR/ID.key (0600, created exclusively: never overwrites) and
 *  DIR/ID.pub (0644). Returns 0 or -1 with err set.  */
int pl_keys_save (pl_keys_t *self, const char *dir, char *err, size_t err_size);

void pl_keys_destroy (pl_keys_t **self_p);

const char *pl_keys_id (pl_keys_t *self);
const uint8_t *pl_keys_public (pl_keys_t *self);          /* Ed25519 */
const uint8_t *pl_keys_curve_public (pl_keys_t *self);    /* X25519 */
const uint8_t *pl_keys_curve_secret (pl_keys_t *self);    /* X25519 */

/*  Ed25519 detached signature of data into sig (PL_SIGNATURE_SIZE).  */
void pl_keys_sign (pl_keys_t *self, const uint8_t *data, size_t size, uint8_t *sig);

/*  Verify a detached signature by public key pk.  */
bool pl_signature_verify (const uint8_t *pk, const uint8_t *data, size_t size,
                          const uint8_t *sig);

/*  Read a public key file (ID.pub, or the public part of ID.key).  */
int pl_public_key_load (const char *path, char *id, size_t id_size,
                        uint8_t *pk, char *err, size_t err_size);

/*  Base64 text <-> 32-byte key. from_text returns 0 or -1.  */
void pl_key_to_text (const uint8_t *key, char *text);
int pl_key_from_text (const char *text, uint8_t *key);

/*  The X25519 public key of an Ed25519 public key; 0 or -1 if pk is not a
 *  valid point. Z85 form (41 bytes with NUL) is what libzmq wants.  */
int pl_curve_public_from_sign (const uint8_t *pk, uint8_t *curve);
void pl_curve_to_z85 (const uint8_t *curve, char *z85);

/*  True when id is a valid agency id.  */
bool pl_id_is_valid (const char *id);

#endif
