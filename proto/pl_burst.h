/*  pl_burst: one publisher signature over a burst of events.
 *
 *  Checking a publisher's Ed25519 signature was the broker's largest cost
 *  per event (two thirds of its instructions), and every recipient pays it
 *  again. So an agent that sends several events at once (requests that
 *  arrived together, its outbox after an outage) signs them once, as
 *  recipients already sign their receipts: over the RFC 6962 Merkle root of
 *  the burst's headers,
 *
 *      leaf i  = SHA-256 (0x00 || header i, the exact bytes in the envelope)
 *      signed  = "passerelle-publish-burst-v1" || root || count (be32)
 *                || the publisher's agency id
 *
 *  Each Envelope then carries that signature and its own place in the burst
 *  (BurstProof: index, count, inclusion proof, at most 8 hashes), so every
 *  event is still checked alone, by the broker and by each recipient, and
 *  an envelope kept shows alone what its publisher signed. A verifier that
 *  remembers the bursts it checked (pl_burst_seen_t) pays one signature
 *  check per burst; the proof costs a few hashes per event.
 *
 *  The tag cannot begin a valid EventHeader (its first byte would be field
 *  14 as a varint, and field 14 is a string), so a burst signature is never
 *  also a signature over some header, nor a receipt's ("passerelle-receipt-").
 *
 *  sign    (publisher's agent) envelopes signed one by one, as the outbox
 *          keeps them, in; the same envelopes signed as one burst, out.
 *  verify  (pl_envelope_verify_seen, for broker and recipients).  */
#ifndef PL_BURST_H_INCLUDED
#define PL_BURST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "passerelle.pb-c.h"
#include "pl_envelope.h"

#define PL_BURST_MAX        256
#define PL_BURST_PROOF_MAX  8           //  hashes: log2 (PL_BURST_MAX)

/*  The last PL_BURST_SEEN_SIZE bursts whose signature was verified (a new
 *  one replaces the oldest): a burst's events arrive together, so a few are
 *  enough. Zero it to start; one per thread (it is not locked).  */
#define PL_BURST_SEEN_SIZE  8
struct _pl_burst_seen_t {
    uint8_t digest [PL_BURST_SEEN_SIZE][32];   //  of key, signature, signed bytes
    size_t used, next;
};

/*  Sign count envelopes (serialised, 1..PL_BURST_MAX, each header naming
 *  publisher's own id) as one burst: out [i] gets a malloc'd copy of
 *  envelope i with the burst's signature and its BurstProof, out_sizes [i]
 *  its size. All or nothing: on failure nothing is in out, and why says
 *  what is wrong (PL_ERR_MALFORMED, naming the envelope that does not
 *  decode; PL_ERR_BAD_FIELD, naming another publisher's, or for a count of
 *  0; PL_ERR_OVERSIZED for a count over PL_BURST_MAX; PL_ERR_NO_MEMORY).  */
pl_err_t pl_burst_sign (pl_keys_t *publisher, const uint8_t *const *envelopes,
                        const size_t *sizes, size_t count, uint8_t **out, size_t *out_sizes,
                        char *why, size_t why_size);

/*  Shape of wire's BurstProof (count, index, proof length): what decoding
 *  checks before anything is hashed. PL_OK or PL_ERR_MALFORMED with why.  */
pl_err_t pl_burst_check_shape (const Passerelle__BurstProof *burst, char *why, size_t why_size);

/*  True when wire's signature is publisher_pk's, as agency publisher, over
 *  a burst holding wire's header at the place its BurstProof says. With
 *  seen (may be NULL), a burst verified before is not verified again.  */
bool pl_burst_verify (const Passerelle__Envelope *wire, const char *publisher,
                      const uint8_t *publisher_pk, pl_burst_seen_t *seen);

#endif
