/*  pl_directory: the one list of who exists.
 *
 *  Each agency: id, display name, roles, local network (area), Ed25519
 *  public key, optional validity window. The broker loads it from a ZPL file
 *  and admits exactly these keys (ZAP); agents receive the same list in the
 *  broker's Welcome and use it to seal payload keys to recipients and to
 *  verify publishers' signatures. Role addressing resolves here, always
 *  within one network.
 *
 *  File format (see README "The directory file"):
 *      agency
 *          id = police-paris
 *          name = "Préfecture de police de Paris"
 *          roles = police
 *          network = paris
 *          public-key = "BASE64 Ed25519 key from ID.pub"
 *          valid-from = 2026-01-01            (optional, UTC)
 *          valid-until = 2027-12-31           (optional, UTC)
 */
#ifndef PL_DIRECTORY_H_INCLUDED
#define PL_DIRECTORY_H_INCLUDED

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "pl_keys.h"
#include "pl_vocab.h"
#include "passerelle.pb-c.h"

#define PL_NAME_MAX     128
#define PL_NETWORK_MAX  64

typedef struct {
    char id [PL_ID_MAX + 1];
    char name [PL_NAME_MAX + 1];
    pl_set_t roles;
    char network [PL_NETWORK_MAX + 1];
    uint8_t public_key [PL_PUBLIC_KEY_SIZE];
    uint8_t curve_key [PL_CURVE_KEY_SIZE];
    char curve_z85 [41];            /* what ZAP reports as User-Id */
    uint64_t valid_from_ms;         /* 0: no limit */
    uint64_t valid_until_ms;        /* 0: no limit */
} pl_agency_t;

typedef struct _pl_directory_t pl_directory_t;

/*  Load and check a directory file: every error names file and line.  */
pl_directory_t *pl_directory_load (const char *path, char *err, size_t err_size);

/*  Build from the list in a Welcome message.  */
pl_directory_t *pl_directory_from_wire (Passerelle__Agency **agencies, size_t count,
                                        char *err, size_t err_size);

void pl_directory_destroy (pl_directory_t **self_p);

size_t pl_directory_size (pl_directory_t *self);
const pl_agency_t *pl_directory_at (pl_directory_t *self, size_t index);
const pl_agency_t *pl_directory_lookup (pl_directory_t *self, const char *id);
const pl_agency_t *pl_directory_lookup_curve (pl_directory_t *self, const char *z85);

/*  True when agency is inside its validity window at now_ms.  */
bool pl_agency_is_valid_at (const pl_agency_t *agency, uint64_t now_ms);

/*  Agencies holding any role in roles within network, except one id
 *  (the publisher). Fills out (up to max) and returns how many matched.  */
size_t pl_directory_find_by_roles (pl_directory_t *self, pl_set_t roles, const char *network,
                                   const char *except, const pl_agency_t **out, size_t max);

/*  The list as Agency messages for a Welcome. Free with pl_directory_wire_free.  */
Passerelle__Agency **pl_directory_to_wire (pl_directory_t *self, size_t *count);
void pl_directory_wire_free (Passerelle__Agency **list, size_t count);

/*  Ids present in old but absent (or with another key) in new: revoked.
 *  Writes a comma-separated list into buf; returns how many.  */
size_t pl_directory_revoked (pl_directory_t *old_dir, pl_directory_t *new_dir,
                             char *buf, size_t size);

#endif
