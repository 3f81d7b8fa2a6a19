/*  pl_directory: the agency directory (see pl_directory.h).
 *  Small and read-mostly: a flat array, linear lookups. A national
 *  deployment is a few thousand agencies; a hash can come when it matters.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pl_directory.h"
#include "pl_zpl.h"

struct _pl_directory_t {
    pl_agency_t *agencies;
    size_t count;
};

//  "2026-01-01" or "2026-01-01T10:00:00Z", UTC, to unix ms; -1 if neither.
static int64_t
s_parse_date (const char *text)
{
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    const char *end = strptime (text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) {
        memset (&tm, 0, sizeof tm);
        end = strptime (text, "%Y-%m-%d", &tm);
    }
    if (!end || *end)
        return -1;
    return (int64_t) timegm (&tm) * 1000;
}

static int
s_derive_curve (pl_agency_t *agency)
{
    if (pl_curve_public_from_sign (agency->public_key, agency->curve_key) != 0)
        return -1;
    pl_curve_to_z85 (agency->curve_key, agency->curve_z85);
    return 0;
}

//  Fill one agency from its ZPL section; 0 or -1 with err.
static int
s_load_agency (pl_zpl_t *zpl, zconfig_t *section, pl_agency_t *agency, char *err, size_t err_size)
{
    static const char *allowed [] = { "id", "name", "roles", "network", "public-key",
                                      "valid-from", "valid-until", NULL };
    if (pl_zpl_check_names (zpl, section, allowed, err, err_size) != 0)
        return -1;
    zconfig_t *node;
    const char *value;

    node = zconfig_locate (section, "id");
    value = node? zconfig_value (node): NULL;
    if (!value || !pl_id_is_valid (value)) {
        pl_zpl_error (zpl, node? node: section, err, err_size, "agency: expected 'id = ID' "
                      "(lower-case letters, digits, _ . -, at most %d characters)", PL_ID_MAX);
        return -1;
    }
    snprintf (agency->id, sizeof agency->id, "%s", value);

    node = zconfig_locate (section, "name");
    value = node? zconfig_value (node): agency->id;
    if (strlen (value) > PL_NAME_MAX) {
        pl_zpl_error (zpl, node, err, err_size, "name: at most %d bytes", PL_NAME_MAX);
        return -1;
    }
    snprintf (agency->name, sizeof agency->name, "%s", value);

    node = zconfig_locate (section, "roles");
    char bad [64] = "";
    if (!node || !*zconfig_value (node)
    ||  pl_vocab_parse_set (PL_KIND_ROLE, zconfig_value (node), &agency->roles, bad, sizeof bad)) {
        pl_zpl_error (zpl, node? node: section, err, err_size, "agency %s: expected 'roles = "
                      "ROLE[,ROLE]' with roles from the domain brief%s%s%s", agency->id,
                      *bad? " (unknown role '": "", bad, *bad? "')": "");
        return -1;
    }

    node = zconfig_locate (section, "network");
    value = node? zconfig_value (node): NULL;
    if (!value || !pl_id_is_valid (value) || strlen (value) > PL_NETWORK_MAX) {
        pl_zpl_error (zpl, node? node: section, err, err_size, "agency %s: expected 'network = "
                      "AREA' (lower-case letters, digits, _ . -)", agency->id);
        return -1;
    }
    snprintf (agency->network, sizeof agency->network, "%s", value);

    node = zconfig_locate (section, "public-key");
    if (!node || pl_key_from_text (zconfig_value (node), agency->public_key) != 0
    ||  s_derive_curve (agency) != 0) {
        pl_zpl_error (zpl, node? node: section, err, err_size, "agency %s: expected "
                      "'public-key = \"BASE64\"' as in its .pub file", agency->id);
        return -1;
    }

    const char *dates [2] = { "valid-from", "valid-until" };
    uint64_t *fields [2] = { &agency->valid_from_ms, &agency->valid_until_ms };
    for (int i = 0; i < 2; i++) {
        node = zconfig_locate (section, dates [i]);
        if (!node)
            continue;
        int64_t ms = s_parse_date (zconfig_value (node));
        if (ms < 0) {
            pl_zpl_error (zpl, node, err, err_size, "%s: expected YYYY-MM-DD or "
                          "YYYY-MM-DDTHH:MM:SSZ (UTC)", dates [i]);
            return -1;
        }
        *fields [i] = (uint64_t) ms;
    }
    return 0;
}

pl_directory_t *
pl_directory_load (const char *path, char *err, size_t err_size)
{
    pl_zpl_t *zpl = pl_zpl_load (path, err, err_size);
    if (!zpl)
        return NULL;
    zconfig_t *root = pl_zpl_root (zpl);
    static const char *allowed [] = { "agency", NULL };
    pl_directory_t *self = calloc (1, sizeof *self);
    size_t capacity = 0;
    for (zconfig_t *c = zconfig_child (root); c; c = zconfig_next (c))
        capacity++;
    if (!self || !(self->agencies = calloc (capacity? capacity: 1, sizeof *self->agencies))) {
        snprintf (err, err_size, "%s: out of memory", path);
        goto fail;
    }
    if (pl_zpl_check_names (zpl, root, allowed, err, err_size) != 0)
        goto fail;
    for (zconfig_t *section = zconfig_child (root); section; section = zconfig_next (section)) {
        pl_agency_t *agency = &self->agencies [self->count];
        if (s_load_agency (zpl, section, agency, err, err_size) != 0)
            goto fail;
        for (size_t i = 0; i < self->count; i++) {
            const char *clash = strcmp (self->agencies [i].id, agency->id) == 0? "id":
                memcmp (self->agencies [i].public_key, agency->public_key, PL_PUBLIC_KEY_SIZE)
                == 0? "public key": NULL;
            if (clash) {
                pl_zpl_error (zpl, section, err, err_size, "agency %s: same %s as agency %s "
                              "above; each agency has its own", agency->id, clash,
                              self->agencies [i].id);
                goto fail;
            }
        }
        self->count++;
    }
    if (self->count == 0) {
        snprintf (err, err_size, "%s: no 'agency' section: an empty directory admits no one",
                  path);
        goto fail;
    }
    pl_zpl_destroy (&zpl);
    return self;
fail:
    pl_zpl_destroy (&zpl);
    pl_directory_destroy (&self);
    return NULL;
}

pl_directory_t *
pl_directory_from_wire (Passerelle__Agency **list, size_t count, char *err, size_t err_size)
{
    pl_directory_t *self = calloc (1, sizeof *self);
    if (!self || !(self->agencies = calloc (count? count: 1, sizeof *self->agencies))) {
        snprintf (err, err_size, "out of memory");
        pl_directory_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        Passerelle__Agency *wire = list [i];
        pl_agency_t *agency = &self->agencies [i];
        char bad [64];
        bool ok = pl_id_is_valid (wire->id) && wire->public_key.len == PL_PUBLIC_KEY_SIZE
               && wire->network && strlen (wire->network) <= PL_NETWORK_MAX
               && wire->name && strlen (wire->name) <= PL_NAME_MAX;
        for (size_t r = 0; ok && r < wire->n_roles; r++) {
            int role = pl_vocab_id (PL_KIND_ROLE, wire->roles [r]);
            ok = role >= 0;
            if (ok)
                agency->roles |= PL_SET (role);
        }
        if (ok) {
            snprintf (agency->id, sizeof agency->id, "%s", wire->id);
            snprintf (agency->name, sizeof agency->name, "%s", wire->name);
            snprintf (agency->network, sizeof agency->network, "%s", wire->network);
            memcpy (agency->public_key, wire->public_key.data, PL_PUBLIC_KEY_SIZE);
            ok = s_derive_curve (agency) == 0;
        }
        if (!ok) {
            snprintf (bad, sizeof bad, "%.40s", wire->id? wire->id: "?");
            snprintf (err, err_size, "directory entry %zu (%s) is malformed", i, bad);
            pl_directory_destroy (&self);
            return NULL;
        }
        self->count++;
    }
    return self;
}

void
pl_directory_destroy (pl_directory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->agencies);
    free (*self_p);
    *self_p = NULL;
}

size_t
pl_directory_size (pl_directory_t *self)
{
    return self->count;
}

const pl_agency_t *
pl_directory_at (pl_directory_t *self, size_t index)
{
    return index < self->count? &self->agencies [index]: NULL;
}

const pl_agency_t *
pl_directory_lookup (pl_directory_t *self, const char *id)
{
    for (size_t i = 0; id && i < self->count; i++)
        if (strcmp (self->agencies [i].id, id) == 0)
            return &self->agencies [i];
    return NULL;
}

const pl_agency_t *
pl_directory_lookup_curve (pl_directory_t *self, const char *z85)
{
    for (size_t i = 0; z85 && i < self->count; i++)
        if (strcmp (self->agencies [i].curve_z85, z85) == 0)
            return &self->agencies [i];
    return NULL;
}

bool
pl_agency_is_valid_at (const pl_agency_t *agency, uint64_t now_ms)
{
    return (!agency->valid_from_ms || now_ms >= agency->valid_from_ms)
        && (!agency->valid_until_ms || now_ms < agency->valid_until_ms);
}

size_t
pl_directory_find_by_roles (pl_directory_t *self, pl_set_t roles, const char *network,
                            const char *except, const pl_agency_t **out, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; i < self->count; i++) {
        const pl_agency_t *agency = &self->agencies [i];
        if ((agency->roles & roles) && strcmp (agency->network, network) == 0
        &&  !(except && strcmp (agency->id, except) == 0)) {
            if (found < max)
                out [found] = agency;
            found++;
        }
    }
    return found;
}

Passerelle__Agency **
pl_directory_to_wire (pl_directory_t *self, size_t *count)
{
    Passerelle__Agency **list = calloc (self->count? self->count: 1, sizeof *list);
    for (size_t i = 0; list && i < self->count; i++) {
        const pl_agency_t *agency = &self->agencies [i];
        Passerelle__Agency *wire = calloc (1, sizeof *wire);
        char **roles = calloc (PL_ROLE_COUNT, sizeof *roles);
        if (!wire || !roles) {
            free (wire);
            free (roles);
            pl_directory_wire_free (list, i);
            return NULL;
        }
        passerelle__agency__init (wire);
        wire->id = (char *) agency->id;
        wire->name = (char *) agency->name;
        wire->network = (char *) agency->network;
        wire->public_key.data = (uint8_t *) agency->public_key;
        wire->public_key.len = PL_PUBLIC_KEY_SIZE;
        wire->roles = roles;
        for (int role = 0; role < PL_ROLE_COUNT; role++)
            if (PL_SET_HAS (agency->roles, role))
                roles [wire->n_roles++] = (char *) pl_vocab_name (PL_KIND_ROLE, role);
        list [i] = wire;
    }
    *count = list? self->count: 0;
    return list;
}

void
pl_directory_wire_free (Passerelle__Agency **list, size_t count)
{
    for (size_t i = 0; list && i < count; i++) {
        free (list [i]->roles);
        free (list [i]);
    }
    free (list);
}

size_t
pl_directory_revoked (pl_directory_t *old_dir, pl_directory_t *new_dir, char *buf, size_t size)
{
    size_t revoked = 0, used = 0;
    if (size)
        buf [0] = 0;
    for (size_t i = 0; i < old_dir->count; i++) {
        const pl_agency_t *before = &old_dir->agencies [i];
        const pl_agency_t *after = pl_directory_lookup (new_dir, before->id);
        if (after && memcmp (after->public_key, before->public_key, PL_PUBLIC_KEY_SIZE) == 0)
            continue;
        int n = snprintf (buf + used, size > used? size - used: 0, "%s%s",
                          revoked? ",": "", before->id);
        if (n > 0)
            used += (size_t) n;
        revoked++;
    }
    return revoked;
}
