/*  pl_hash: SHA-256, wherever passerelle computes it.
 *
 *  Every event is hashed several times on its way: the payload hash over
 *  nonce, ciphertext and sealed keys; the header hash that logs and
 *  receipts name; the leaves and nodes of a burst's proof, of the sharing
 *  log and of receipts. libsodium's SHA-256 is portable C (6.4 us for a
 *  1 KiB event here); Nettle's uses the CPU's SHA extensions when it has
 *  them (1.0 us), and picks its code at run time, so the same binary runs
 *  anywhere. libsodium keeps everything else (signatures, sealing, AEAD).
 *  The output is SHA-256's, whichever computes it: tests check it against
 *  the standard's vectors and against libsodium.  */
#ifndef PL_HASH_H_INCLUDED
#define PL_HASH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <nettle/sha2.h>

#define PL_SHA256_SIZE  32

/*  A hash in progress: init, update any number of times, final.  */
typedef struct {
    struct sha256_ctx ctx;
} pl_sha256_t;

void pl_sha256_init (pl_sha256_t *self);
void pl_sha256_update (pl_sha256_t *self, const void *data, size_t size);
/*  out gets PL_SHA256_SIZE bytes; init again to hash something else.  */
void pl_sha256_final (pl_sha256_t *self, uint8_t *out);

/*  SHA-256 of data (size 0: data may be NULL) into out.  */
void pl_sha256 (uint8_t *out, const void *data, size_t size);

#endif
