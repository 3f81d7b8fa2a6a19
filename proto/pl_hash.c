/*  pl_hash: SHA-256 through Nettle (pl_hash.h says why not libsodium's).  */
#include "pl_hash.h"

void
pl_sha256_init (pl_sha256_t *self)
{
    sha256_init (&self->ctx);
}

void
pl_sha256_update (pl_sha256_t *self, const void *data, size_t size)
{
    if (size)
        sha256_update (&self->ctx, size, (const uint8_t *) data);
}

void
pl_sha256_final (pl_sha256_t *self, uint8_t *out)
{
    sha256_digest (&self->ctx, PL_SHA256_SIZE, out);
}

void
pl_sha256 (uint8_t *out, const void *data, size_t size)
{
    pl_sha256_t hash;
    pl_sha256_init (&hash);
    pl_sha256_update (&hash, data, size);
    pl_sha256_final (&hash, out);
}
