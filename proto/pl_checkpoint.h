/*  pl_checkpoint: signed checkpoints of the sharing log.
 *
 *  A checkpoint is what the broker commits to: "the log called ORIGIN has
 *  SIZE entries and this Merkle root" (pl_merkle), in the C2SP
 *  tlog-checkpoint text form, signed as a C2SP signed note with the broker's
 *  Ed25519 key (pl_keys):
 *
 *      passerelle.example/log          <- origin
 *      1234                            <- tree size, decimal
 *      W3E2bdT3...=                    <- base64 root hash
 *                                      <- blank line
 *      — passerelle.example/log AbCd...  <- em dash, key name, base64 of
 *                                         key id (4 bytes) || signature (64)
 *
 *  key id = SHA-256 (key name || 0x0A || 0x01 || public key)[:4]; the
 *  signature covers the note text up to and including its last newline.
 *  Agents keep the last checkpoint they verified and accept a new one only
 *  with a consistency proof from it: a broker that rewrites history, or
 *  shows agencies different logs, cannot produce one.
 *
 *  Opening a note checks its signature first and only then reads the text,
 *  as the signed-note spec requires: a note whose size or root was altered
 *  fails as PL_CHECKPOINT_BAD_SIGNATURE; the body errors are for notes the
 *  key really signed but that are not proper checkpoints.
 *  The generic note functions (sign any text, open any note) and the
 *  verifier key text form ("vkey") are here too, for other signed notes.  */
#ifndef PL_CHECKPOINT_H_INCLUDED
#define PL_CHECKPOINT_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "pl_keys.h"
#include "pl_merkle.h"

#define PL_CHECKPOINT_NAME_MAX   255     //  origin and key name, in bytes
#define PL_CHECKPOINT_NOTE_MAX   65536   //  larger notes are refused unread
#define PL_CHECKPOINT_SIGS_MAX   100     //  signature lines per note

typedef enum {
    PL_CHECKPOINT_OK = 0,
    PL_CHECKPOINT_MALFORMED_NOTE,   //  not a signed note: no blank line, bad
                                    //  signature line, control characters...
    PL_CHECKPOINT_NO_SIGNATURE,     //  no signature by the expected key
    PL_CHECKPOINT_BAD_SIGNATURE,    //  the expected key's signature is wrong
    PL_CHECKPOINT_MALFORMED_BODY,   //  signed, but not origin/size/root lines
    PL_CHECKPOINT_BAD_SIZE,         //  size line not a canonical decimal
    PL_CHECKPOINT_BAD_ROOT,         //  root line not base64 of 32 bytes
    PL_CHECKPOINT_WRONG_ORIGIN,     //  a checkpoint of another log
    PL_CHECKPOINT_BAD_NAME,         //  key name or origin unusable
} pl_checkpoint_error_t;

//  A short English description of an error code.
const char *pl_checkpoint_strerror (int error);

typedef struct _pl_checkpoint_t pl_checkpoint_t;

//  A checkpoint of log origin at size with root (PL_MERKLE_HASH_SIZE).
//  NULL if origin is not a valid origin line (empty, too long, spaces, '+').
pl_checkpoint_t *pl_checkpoint_new (const char *origin, uint64_t size, const uint8_t *root);

//  The checkpoint of a tree's current state.
pl_checkpoint_t *pl_checkpoint_new_from_tree (const char *origin, pl_merkle_t *tree);

void pl_checkpoint_destroy (pl_checkpoint_t **self_p);

const char *pl_checkpoint_origin (pl_checkpoint_t *self);
uint64_t pl_checkpoint_size (pl_checkpoint_t *self);
const uint8_t *pl_checkpoint_root (pl_checkpoint_t *self);

//  The note text: "<origin>\n<size>\n<base64 root>\n". Caller frees.
char *pl_checkpoint_body (pl_checkpoint_t *self);

//  The signed note, signed with keys under key_name (by convention the
//  origin). Caller frees; NULL if key_name is not valid.
char *pl_checkpoint_sign (pl_checkpoint_t *self, const char *key_name, pl_keys_t *keys);

//  Verify note (note_size bytes) as signed by key_name/public_key, then
//  parse it as a checkpoint of origin. NULL on failure with *error_p, if
//  not NULL, set to why; signatures by other keys are ignored.
pl_checkpoint_t *pl_checkpoint_open (const char *note, size_t note_size,
                                     const char *origin, const char *key_name,
                                     const uint8_t *public_key, int *error_p);

//  True when proof (see pl_merkle) shows that newer extends self: what an
//  agent checks before replacing the checkpoint it keeps. Same origin needed.
bool pl_checkpoint_verify_consistency (pl_checkpoint_t *self, pl_checkpoint_t *newer,
                                       const uint8_t *proof, size_t proof_len);

//  True when proof shows leaf_hash at index in the tree self commits to.
bool pl_checkpoint_verify_inclusion (pl_checkpoint_t *self, const uint8_t *leaf_hash,
                                     uint64_t index, const uint8_t *proof,
                                     size_t proof_len);

//  --------------------------------------------------------------------------
//  Signed notes in general

//  The 4-byte key id of an Ed25519 key under key_name, big-endian.
uint32_t pl_checkpoint_key_id (const char *key_name, const uint8_t *public_key);

//  True when name can be a key name: non-empty, valid UTF-8, no spaces
//  (ASCII or Unicode), no '+', no control characters, <= NAME_MAX bytes.
bool pl_checkpoint_name_is_valid (const char *name);

//  text (ending in newline, no blank line at its end) as a note signed by
//  keys under key_name. Caller frees; NULL if text or name is unusable.
char *pl_checkpoint_note_sign (const char *text, const char *key_name, pl_keys_t *keys);

//  Verify note as signed by key_name/public_key. On success returns 0 and
//  sets *text_size to the length of the signed text (note [0 .. text_size)
//  is what was signed); else an error code.
int pl_checkpoint_note_open (const char *note, size_t note_size, const char *key_name,
                             const uint8_t *public_key, size_t *text_size);

//  The verifier key text "<name>+<hex key id>+<base64 (0x01 || key)>", the
//  standard way to hand agencies the broker's key. Caller frees.
char *pl_checkpoint_vkey (const char *key_name, const uint8_t *public_key);

//  Parse a verifier key into name (name_size bytes of room) and public_key.
//  0, or -1 if malformed or its key id does not match its name and key.
int pl_checkpoint_vkey_parse (const char *vkey, char *name, size_t name_size,
                              uint8_t *public_key);

#endif
