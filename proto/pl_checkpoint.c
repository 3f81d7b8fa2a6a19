/*  pl_checkpoint: signed checkpoints of the sharing log (see pl_checkpoint.h).
 *
 *  Formats follow c2sp.org/signed-note and c2sp.org/tlog-checkpoint. Parsing
 *  is strict where the specs say MUST (UTF-8, no control characters, the
 *  blank line, the em dash, canonical size) so that two parties never read
 *  one signed text two ways.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "pl_checkpoint.h"
#include "pl_hash.h"

#define HASH_SIZE       PL_MERKLE_HASH_SIZE
#define KEY_ID_SIZE     4
#define SIG_BLOB_SIZE   (KEY_ID_SIZE + PL_SIGNATURE_SIZE)
#define ROOT_TEXT_LEN   44          //  base64 of 32 bytes, padded
#define ALG_ED25519     0x01

//  "— ": U+2014 EM DASH, then a space
static const char s_sig_prefix [] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN  4

struct _pl_checkpoint_t {
    char origin [PL_CHECKPOINT_NAME_MAX + 1];
    uint64_t size;
    uint8_t root [HASH_SIZE];
};

const char *
pl_checkpoint_strerror (int error)
{
    switch (error) {
        case PL_CHECKPOINT_OK:             return "ok";
        case PL_CHECKPOINT_MALFORMED_NOTE: return "malformed signed note";
        case PL_CHECKPOINT_NO_SIGNATURE:   return "no signature by the expected key";
        case PL_CHECKPOINT_BAD_SIGNATURE:  return "invalid signature by the expected key";
        case PL_CHECKPOINT_MALFORMED_BODY: return "malformed checkpoint body";
        case PL_CHECKPOINT_BAD_SIZE:       return "checkpoint tree size is not a canonical decimal";
        case PL_CHECKPOINT_BAD_ROOT:       return "checkpoint root is not base64 of 32 bytes";
        case PL_CHECKPOINT_WRONG_ORIGIN:   return "checkpoint is for another log origin";
        case PL_CHECKPOINT_BAD_NAME:       return "invalid key name or origin";
        default:                           return "unknown checkpoint error";
    }
}

//  --------------------------------------------------------------------------
//  Text rules shared by notes and names

//  Length of the UTF-8 sequence at text (at most size bytes) and its code
//  point, or 0 if it is not well-formed (overlong, surrogate, too large).
static size_t
s_utf8_next (const uint8_t *text, size_t size, uint32_t *point)
{
    uint8_t lead = text [0];
    size_t len = lead < 0x80? 1: (lead & 0xe0) == 0xc0? 2: (lead & 0xf0) == 0xe0? 3
               : (lead & 0xf8) == 0xf0? 4: 0;
    if (len == 0 || len > size)
        return 0;
    uint32_t value = len == 1? lead: lead & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((text [i] & 0xc0) != 0x80)
            return 0;
        value = (value << 6) | (text [i] & 0x3f);
    }
    static const uint32_t smallest [5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (value < smallest [len] || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
        return 0;
    *point = value;
    return len;
}

//  True for the code points Unicode calls white space.
static bool
s_is_space (uint32_t point)
{
    return point == ' ' || (point >= 0x09 && point <= 0x0d) || point == 0x85
        || point == 0xa0 || point == 0x1680 || (point >= 0x2000 && point <= 0x200a)
        || point == 0x2028 || point == 0x2029 || point == 0x202f || point == 0x205f
        || point == 0x3000;
}

//  Valid UTF-8 with no control characters except newline: the signed-note
//  MUST for the whole note.
static bool
s_text_is_clean (const char *text, size_t size)
{
    const uint8_t *bytes = (const uint8_t *) text;
    for (size_t at = 0; at < size; ) {
        uint32_t point;
        size_t len = s_utf8_next (bytes + at, size - at, &point);
        if (len == 0 || (point < 0x20 && point != '\n'))
            return false;
        at += len;
    }
    return true;
}

static bool
s_name_is_valid (const char *name, size_t size)
{
    if (size == 0 || size > PL_CHECKPOINT_NAME_MAX)
        return false;
    const uint8_t *bytes = (const uint8_t *) name;
    for (size_t at = 0; at < size; ) {
        uint32_t point;
        size_t len = s_utf8_next (bytes + at, size - at, &point);
        if (len == 0 || point < 0x20 || point == 0x7f || point == '+' || s_is_space (point))
            return false;
        at += len;
    }
    return true;
}

bool
pl_checkpoint_name_is_valid (const char *name)
{
    return name && s_name_is_valid (name, strlen (name));
}

//  --------------------------------------------------------------------------
//  Keys

static void
s_key_id (const char *name, size_t name_size, const uint8_t *public_key, uint8_t *id)
{
    static const uint8_t separator [2] = { '\n', ALG_ED25519 };
    uint8_t digest [PL_SHA256_SIZE];
    pl_sha256_t state;
    pl_sha256_init (&state);
    pl_sha256_update (&state, name, name_size);
    pl_sha256_update (&state, separator, sizeof separator);
    pl_sha256_update (&state, public_key, PL_PUBLIC_KEY_SIZE);
    pl_sha256_final (&state, digest);
    memcpy (id, digest, KEY_ID_SIZE);
}

uint32_t
pl_checkpoint_key_id (const char *key_name, const uint8_t *public_key)
{
    uint8_t id [KEY_ID_SIZE];
    s_key_id (key_name, strlen (key_name), public_key, id);
    return (uint32_t) id [0] << 24 | (uint32_t) id [1] << 16 | (uint32_t) id [2] << 8 | id [3];
}

char *
pl_checkpoint_vkey (const char *key_name, const uint8_t *public_key)
{
    if (!pl_checkpoint_name_is_valid (key_name))
        return NULL;
    uint8_t typed [1 + PL_PUBLIC_KEY_SIZE];
    typed [0] = ALG_ED25519;
    memcpy (typed + 1, public_key, PL_PUBLIC_KEY_SIZE);
    char key_text [sodium_base64_ENCODED_LEN (sizeof typed, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64 (key_text, sizeof key_text, typed, sizeof typed,
                       sodium_base64_VARIANT_ORIGINAL);
    size_t size = strlen (key_name) + 1 + 8 + 1 + strlen (key_text) + 1;
    char *vkey = malloc (size);
    if (vkey)
        snprintf (vkey, size, "%s+%08x+%s", key_name,
                  (unsigned) pl_checkpoint_key_id (key_name, public_key), key_text);
    return vkey;
}

//  Strict base64 (standard alphabet, padded): decodes into out (room for
//  out_max bytes) and returns the size, or -1. libsodium already refuses
//  non-zero padding bits, so each byte string has one spelling only.
static long
s_base64_decode (const char *text, size_t text_size, uint8_t *out, size_t out_max)
{
    size_t size = 0;
    const char *end = NULL;
    if (text_size == 0 || text_size % 4 != 0
    ||  sodium_base642bin (out, out_max, text, text_size, NULL, &size, &end,
                           sodium_base64_VARIANT_ORIGINAL) != 0
    ||  end != text + text_size)
        return -1;
    return (long) size;
}

int
pl_checkpoint_vkey_parse (const char *vkey, char *name, size_t name_size, uint8_t *public_key)
{
    const char *plus1 = vkey? strchr (vkey, '+'): NULL;
    const char *plus2 = plus1? strchr (plus1 + 1, '+'): NULL;
    //  The name has no '+'; the base64 key after the second one may
    if (!plus2 || plus2 - plus1 - 1 != 8)
        return -1;
    size_t name_len = (size_t) (plus1 - vkey);
    if (!s_name_is_valid (vkey, name_len) || name_len + 1 > name_size)
        return -1;
    uint8_t id [KEY_ID_SIZE], typed [1 + PL_PUBLIC_KEY_SIZE + 1];
    size_t id_len = 0;
    const char *hex_end = NULL;
    if (sodium_hex2bin (id, sizeof id, plus1 + 1, 8, NULL, &id_len, &hex_end) != 0
    ||  id_len != KEY_ID_SIZE)
        return -1;
    const char *key_text = plus2 + 1;
    if (s_base64_decode (key_text, strlen (key_text), typed, sizeof typed)
        != 1 + PL_PUBLIC_KEY_SIZE || typed [0] != ALG_ED25519)
        return -1;
    uint8_t want [KEY_ID_SIZE];
    s_key_id (vkey, name_len, typed + 1, want);
    if (memcmp (id, want, KEY_ID_SIZE) != 0)
        return -1;
    memcpy (name, vkey, name_len);
    name [name_len] = 0;
    memcpy (public_key, typed + 1, PL_PUBLIC_KEY_SIZE);
    return 0;
}

//  --------------------------------------------------------------------------
//  Signed notes

char *
pl_checkpoint_note_sign (const char *text, const char *key_name, pl_keys_t *keys)
{
    size_t text_size = text? strlen (text): 0;
    //  A text ending in a blank line would move the split the reader finds
    if (text_size == 0 || text_size > PL_CHECKPOINT_NOTE_MAX / 2
    ||  text [text_size - 1] != '\n'
    || (text_size >= 2 && text [text_size - 2] == '\n')
    ||  !s_text_is_clean (text, text_size)
    ||  !pl_checkpoint_name_is_valid (key_name))
        return NULL;

    uint8_t blob [SIG_BLOB_SIZE];
    s_key_id (key_name, strlen (key_name), pl_keys_public (keys), blob);
    pl_keys_sign (keys, (const uint8_t *) text, text_size, blob + KEY_ID_SIZE);
    char blob_text [sodium_base64_ENCODED_LEN (SIG_BLOB_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64 (blob_text, sizeof blob_text, blob, sizeof blob,
                       sodium_base64_VARIANT_ORIGINAL);

    size_t size = text_size + 1 + SIG_PREFIX_LEN + strlen (key_name) + 1
                + strlen (blob_text) + 2;
    char *note = malloc (size);
    if (note)
        snprintf (note, size, "%s\n%s%s %s\n", text, s_sig_prefix, key_name, blob_text);
    return note;
}

//  Find the last occurrence of "\n\n" in note, or -1.
static long
s_last_blank_line (const char *note, size_t size)
{
    for (size_t at = size - 1; at > 0; at--)
        if (note [at] == '\n' && note [at - 1] == '\n')
            return (long) (at - 1);
    return -1;
}

int
pl_checkpoint_note_open (const char *note, size_t note_size, const char *key_name,
                         const uint8_t *public_key, size_t *text_size)
{
    if (!pl_checkpoint_name_is_valid (key_name))
        return PL_CHECKPOINT_BAD_NAME;
    if (!note || note_size < 2 || note_size > PL_CHECKPOINT_NOTE_MAX
    ||  note [note_size - 1] != '\n' || !s_text_is_clean (note, note_size))
        return PL_CHECKPOINT_MALFORMED_NOTE;
    long split = s_last_blank_line (note, note_size);
    if (split < 0)
        return PL_CHECKPOINT_MALFORMED_NOTE;
    size_t signed_size = (size_t) split + 1;        //  text keeps its newline

    uint8_t want_id [KEY_ID_SIZE];
    size_t key_name_len = strlen (key_name);
    s_key_id (key_name, key_name_len, public_key, want_id);

    //  Every line after the blank one is a signature line; the first bad
    //  one makes the whole note malformed, whoever signed it
    uint8_t *blob = malloc (note_size);
    if (!blob)
        return PL_CHECKPOINT_MALFORMED_NOTE;
    int result = PL_CHECKPOINT_NO_SIGNATURE;
    bool bad_signature = false;
    size_t lines = 0;
    const char *line = note + signed_size + 1;
    const char *end = note + note_size;
    if (line >= end)
        result = PL_CHECKPOINT_MALFORMED_NOTE;
    while (line < end && result != PL_CHECKPOINT_MALFORMED_NOTE) {
        const char *eol = memchr (line, '\n', (size_t) (end - line));
        const char *name = line + SIG_PREFIX_LEN;
        const char *space = eol > name? memchr (name, ' ', (size_t) (eol - name)): NULL;
        long blob_size = -1;
        if (++lines <= PL_CHECKPOINT_SIGS_MAX && space
        &&  memcmp (line, s_sig_prefix, SIG_PREFIX_LEN) == 0
        &&  s_name_is_valid (name, (size_t) (space - name)))
            blob_size = s_base64_decode (space + 1, (size_t) (eol - space - 1), blob, note_size);
        if (blob_size < KEY_ID_SIZE + 1) {
            result = PL_CHECKPOINT_MALFORMED_NOTE;
            break;
        }
        //  Ours only if both name and key id match: anything else is
        //  someone else's key, to be ignored
        if ((size_t) (space - name) == key_name_len
        &&  memcmp (name, key_name, key_name_len) == 0
        &&  memcmp (blob, want_id, KEY_ID_SIZE) == 0) {
            if (blob_size == SIG_BLOB_SIZE
            &&  pl_signature_verify (public_key, (const uint8_t *) note, signed_size,
                                     blob + KEY_ID_SIZE))
                result = PL_CHECKPOINT_OK;
            else
                bad_signature = true;
        }
        line = eol + 1;
    }
    free (blob);
    if (result == PL_CHECKPOINT_MALFORMED_NOTE)
        return result;
    //  A failing signature by the expected key condemns the whole note
    if (bad_signature)
        return PL_CHECKPOINT_BAD_SIGNATURE;
    if (result == PL_CHECKPOINT_OK && text_size)
        *text_size = signed_size;
    return result;
}

//  --------------------------------------------------------------------------
//  Checkpoints

pl_checkpoint_t *
pl_checkpoint_new (const char *origin, uint64_t size, const uint8_t *root)
{
    if (!pl_checkpoint_name_is_valid (origin) || !root || size > PL_MERKLE_SIZE_MAX)
        return NULL;
    pl_checkpoint_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->origin, sizeof self->origin, "%s", origin);
    self->size = size;
    memcpy (self->root, root, HASH_SIZE);
    return self;
}

pl_checkpoint_t *
pl_checkpoint_new_from_tree (const char *origin, pl_merkle_t *tree)
{
    uint8_t root [HASH_SIZE];
    pl_merkle_root (tree, root);
    return pl_checkpoint_new (origin, pl_merkle_size (tree), root);
}

void
pl_checkpoint_destroy (pl_checkpoint_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const char *pl_checkpoint_origin (pl_checkpoint_t *self) { return self->origin; }
uint64_t pl_checkpoint_size (pl_checkpoint_t *self) { return self->size; }
const uint8_t *pl_checkpoint_root (pl_checkpoint_t *self) { return self->root; }

char *
pl_checkpoint_body (pl_checkpoint_t *self)
{
    char root_text [sodium_base64_ENCODED_LEN (HASH_SIZE, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64 (root_text, sizeof root_text, self->root, HASH_SIZE,
                       sodium_base64_VARIANT_ORIGINAL);
    size_t size = strlen (self->origin) + 1 + 20 + 1 + ROOT_TEXT_LEN + 2;
    char *body = malloc (size);
    if (body)
        snprintf (body, size, "%s\n%llu\n%s\n", self->origin,
                  (unsigned long long) self->size, root_text);
    return body;
}

char *
pl_checkpoint_sign (pl_checkpoint_t *self, const char *key_name, pl_keys_t *keys)
{
    char *body = pl_checkpoint_body (self);
    char *note = body? pl_checkpoint_note_sign (body, key_name, keys): NULL;
    free (body);
    return note;
}

//  Canonical decimal: digits only, no leading zero unless it is "0".
static bool
s_parse_size (const char *text, size_t len, uint64_t *size)
{
    if (len == 0 || len > 20 || (len > 1 && text [0] == '0'))
        return false;
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text [i] < '0' || text [i] > '9')
            return false;
        unsigned digit = (unsigned) (text [i] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *size = value;
    return value <= PL_MERKLE_SIZE_MAX;
}

//  Read a signed text (clean, ending in newline) as a checkpoint body.
static int
s_parse_body (const char *text, size_t text_size, const char *origin, pl_checkpoint_t *into)
{
    const char *lines [3];
    size_t lengths [3];
    size_t count = 0;
    for (const char *at = text, *end = text + text_size; at < end; count++) {
        const char *eol = memchr (at, '\n', (size_t) (end - at));
        //  origin, size, root, then optional extension lines: none empty
        if (eol == at)
            return PL_CHECKPOINT_MALFORMED_BODY;
        if (count < 3) {
            lines [count] = at;
            lengths [count] = (size_t) (eol - at);
        }
        at = eol + 1;
    }
    if (count < 3)
        return PL_CHECKPOINT_MALFORMED_BODY;
    if (!s_parse_size (lines [1], lengths [1], &into->size))
        return PL_CHECKPOINT_BAD_SIZE;
    if (lengths [2] != ROOT_TEXT_LEN
    ||  s_base64_decode (lines [2], lengths [2], into->root, HASH_SIZE) != HASH_SIZE)
        return PL_CHECKPOINT_BAD_ROOT;
    if (lengths [0] != strlen (origin) || memcmp (lines [0], origin, lengths [0]) != 0)
        return PL_CHECKPOINT_WRONG_ORIGIN;
    snprintf (into->origin, sizeof into->origin, "%s", origin);
    return PL_CHECKPOINT_OK;
}

pl_checkpoint_t *
pl_checkpoint_open (const char *note, size_t note_size, const char *origin,
                    const char *key_name, const uint8_t *public_key, int *error_p)
{
    size_t text_size = 0;
    int error = pl_checkpoint_name_is_valid (origin)? PL_CHECKPOINT_OK: PL_CHECKPOINT_BAD_NAME;
    if (error == PL_CHECKPOINT_OK)
        error = pl_checkpoint_note_open (note, note_size, key_name, public_key, &text_size);
    pl_checkpoint_t *self = NULL;
    if (error == PL_CHECKPOINT_OK) {
        self = calloc (1, sizeof *self);
        error = self? s_parse_body (note, text_size, origin, self): PL_CHECKPOINT_MALFORMED_NOTE;
        if (error != PL_CHECKPOINT_OK)
            pl_checkpoint_destroy (&self);
    }
    if (error_p)
        *error_p = error;
    return self;
}

bool
pl_checkpoint_verify_consistency (pl_checkpoint_t *self, pl_checkpoint_t *newer,
                                  const uint8_t *proof, size_t proof_len)
{
    return strcmp (self->origin, newer->origin) == 0
        && pl_merkle_verify_consistency (self->size, newer->size, self->root, newer->root,
                                         proof, proof_len);
}

bool
pl_checkpoint_verify_inclusion (pl_checkpoint_t *self, const uint8_t *leaf_hash,
                                uint64_t index, const uint8_t *proof, size_t proof_len)
{
    return pl_merkle_verify_inclusion (leaf_hash, index, self->size, proof, proof_len,
                                       self->root);
}
