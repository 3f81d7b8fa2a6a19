/*  pl_envelope: the sealed and signed case event.
 *
 *  seal    (publisher's agent) encrypt the payload under a fresh
 *          XChaCha20-Poly1305 key, seal that key to each recipient
 *          (crypto_box_seal to its X25519 key), hash nonce, ciphertext and
 *          sealed keys into the header with a commitment to the key,
 *          serialise the header once and sign those bytes.
 *  verify  (broker) structure, limits, vocabulary, signature (over the
 *          header, or over a burst of headers: pl_burst), payload hash.
 *          Needs no secret and learns nothing of the content.
 *  open    (recipient's agent) verify, find our sealed key, check it is
 *          the committed key, decrypt. So no one in transit can alter
 *          anything undetected, and a publisher cannot show different
 *          recipients different content.
 *
 *  Every failure has its own pl_err_t so logs and tests can tell a forged
 *  signature from a swapped payload from a missing key.
 */
#ifndef PL_ENVELOPE_H_INCLUDED
#define PL_ENVELOPE_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "passerelle.pb-c.h"
#include "pl_keys.h"

#define PL_PROTOCOL_VERSION   1
#define PL_EVENT_ID_SIZE      16
#define PL_HASH_SIZE          32
#define PL_MAX_PAYLOAD        (1024 * 1024)       /* plaintext bytes */
#define PL_MAX_HEADER         (16 * 1024)         /* serialised header bytes */
#define PL_MAX_RECIPIENTS     64
#define PL_MAX_CASE_REF       128
#define PL_MAX_TEXT           2048                /* justification, evidence */
#define PL_MAX_ENVELOPE       (PL_MAX_PAYLOAD + PL_MAX_HEADER \
                               + PL_MAX_RECIPIENTS * (PL_ID_MAX + 128) + 1024)

typedef enum {
    PL_OK = 0,
    PL_ERR_MALFORMED,           /* not a decodable envelope or header */
    PL_ERR_OVERSIZED,           /* some length over its limit */
    PL_ERR_BAD_VERSION,         /* protocol version we do not speak */
    PL_ERR_BAD_FIELD,           /* a header field is missing or invalid */
    PL_ERR_BAD_SIGNATURE,       /* header or signature altered, or wrong key */
    PL_ERR_PAYLOAD_HASH,        /* nonce, ciphertext or a sealed key is not what was signed */
    PL_ERR_NOT_RECIPIENT,       /* no key sealed for us */
    PL_ERR_KEY_UNSEAL,          /* our sealed key does not open */
    PL_ERR_DECRYPT,             /* payload does not decrypt (altered) */
    PL_ERR_KEY_MISMATCH,        /* our key is not the one the header commits to */
    PL_ERR_NO_MEMORY,
    PL_ERR_COUNT
} pl_err_t;

/*  A short, stable, readable name for an error ("bad signature").  */
const char *pl_err_str (pl_err_t err);

/*  One recipient the publisher seals the payload key to.  */
typedef struct {
    const char *id;
    const uint8_t *public_key;      /* Ed25519, from the directory */
} pl_recipient_t;

typedef struct _pl_envelope_t pl_envelope_t;

/*  Seal payload for recipients. The caller fills header's own fields (ids,
 *  type, case, categories...); seal sets version, publisher, payload_hash
 *  and, when missing, event_id. The header is checked exactly as the
 *  broker will check it. On PL_OK, *out is a malloc'd serialised Envelope.
 *  On PL_ERR_BAD_FIELD, why (if not NULL) names the field.  */
pl_err_t pl_envelope_seal (pl_keys_t *publisher, Passerelle__EventHeader *header,
                           const uint8_t *payload, size_t payload_size,
                           const pl_recipient_t *recipients, size_t recipient_count,
                           uint8_t **out, size_t *out_size,
                           char *why, size_t why_size);

/*  Decode serialised Envelope bytes, checking every bound and the header's
 *  structure and vocabulary. NULL with *err (and why) on failure.  */
pl_envelope_t *pl_envelope_decode (const uint8_t *data, size_t size,
                                   pl_err_t *err, char *why, size_t why_size);

/*  Same from an Envelope already unpacked inside a Message; the wire struct
 *  is borrowed and must outlive the result.  */
pl_envelope_t *pl_envelope_from_wire (const Passerelle__Envelope *wire,
                                      pl_err_t *err, char *why, size_t why_size);

void pl_envelope_destroy (pl_envelope_t **self_p);

/*  Bursts already verified (pl_burst.h).  */
typedef struct _pl_burst_seen_t pl_burst_seen_t;

/*  Signature by publisher_pk, over the header bytes or (with a BurstProof)
 *  over the burst holding them, and payload hash.  */
pl_err_t pl_envelope_verify (pl_envelope_t *self, const uint8_t *publisher_pk);

/*  The same, remembering in seen (may be NULL) the bursts verified, so that
 *  the next event of a burst costs a few hashes, not a signature check.  */
pl_err_t pl_envelope_verify_seen (pl_envelope_t *self, const uint8_t *publisher_pk,
                                  pl_burst_seen_t *seen);

/*  Verify (with seen, as above), then decrypt for recipient. *plaintext is
 *  malloc'd.  */
pl_err_t pl_envelope_open (pl_envelope_t *self, pl_keys_t *recipient,
                           const uint8_t *publisher_pk, pl_burst_seen_t *seen,
                           uint8_t **plaintext, size_t *plaintext_size);

const Passerelle__EventHeader *pl_envelope_header (pl_envelope_t *self);
const Passerelle__Envelope *pl_envelope_wire (pl_envelope_t *self);

/*  True when the publisher sealed a key for agency id.  */
bool pl_envelope_is_sealed_for (pl_envelope_t *self, const char *id);

/*  SHA-256 of the header bytes as received (what logs and receipts name).  */
void pl_envelope_header_hash (pl_envelope_t *self, uint8_t *hash);

/*  Check a header's fields: lengths, ids, vocabulary. why names the first
 *  problem. Shared by seal and decode so both ends agree.  */
pl_err_t pl_header_check (const Passerelle__EventHeader *header, char *why, size_t why_size);

/*  A new event id (PL_EVENT_ID_SIZE bytes): the time now in milliseconds,
 *  6 bytes big-endian, then 10 random bytes. Why the time first: the
 *  broker and the agents key their stores by event id, and ids that grow
 *  with time go in at the end of those trees (a page written per flush)
 *  rather than anywhere (a page per event). The header already carries
 *  the time (created_at_ms), so the id tells nobody more; 80 random bits
 *  keep ids apart. Any 16 bytes remain a valid id for a receiver.  */
void pl_event_id_new (uint8_t *id);

/*  Event id as 32 hex characters (buffer of 33).  */
char *pl_event_id_hex (const uint8_t *id, char *hex);
int pl_event_id_from_hex (const char *hex, uint8_t *id);

#endif
