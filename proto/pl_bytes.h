/*  pl_bytes: big-endian integers in byte strings.
 *
 *  The stores (the broker's, its redo journal, the agent's) write every
 *  integer key and counter big-endian, so that LMDB's byte order is their
 *  numeric order; these are the four conversions they share.  */
#ifndef PL_BYTES_H_INCLUDED
#define PL_BYTES_H_INCLUDED

#include <stdint.h>

static inline void
pl_put_be32 (uint8_t *out, uint32_t value)
{
    for (int i = 3; i >= 0; i--, value >>= 8)
        out [i] = (uint8_t) value;
}

static inline uint32_t
pl_get_be32 (const uint8_t *in)
{
    return (uint32_t) in [0] << 24 | (uint32_t) in [1] << 16 | (uint32_t) in [2] << 8 | in [3];
}

static inline void
pl_put_be64 (uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        out [i] = (uint8_t) value;
}

static inline uint64_t
pl_get_be64 (const uint8_t *in)
{
    return (uint64_t) pl_get_be32 (in) << 32 | pl_get_be32 (in + 4);
}

#endif
