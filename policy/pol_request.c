/*  pol_request: header -> request (see pol_request.h). The only place in
 *  policy/ that sees the protobuf types, so the engine itself stays free of
 *  the wire format and of strings.  */
#include <stdio.h>
#include <string.h>
#include "passerelle.pb-c.h"
#include "pol_request.h"

void
pol_request_init (pol_request_t *self)
{
    memset (self, 0, sizeof *self);
    self->event_type = -1;
    self->purpose = -1;
    self->basis = -1;
    self->risk = -1;
}

static int
s_name_to_id (pl_kind_t kind, const char *field, const char *name, int *id,
              char *err, size_t err_size)
{
    *id = pl_vocab_id (kind, name);
    if (*id < 0)
        snprintf (err, err_size, "%s: unknown %s '%s'", field, pl_vocab_kind_name (kind),
                  name? name: "");
    return *id < 0? -1: 0;
}

static int
s_names_to_set (pl_kind_t kind, const char *field, char **names, size_t count,
                pl_set_t *set, char *err, size_t err_size)
{
    *set = 0;
    for (size_t index = 0; index < count; index++) {
        int id;
        if (s_name_to_id (kind, field, names [index], &id, err, err_size))
            return -1;
        *set |= PL_SET (id);
    }
    return 0;
}

int
pol_request_from_header (pol_request_t *self, const Passerelle__EventHeader *header,
                         char *err, size_t err_size)
{
    if (s_name_to_id (PL_KIND_EVENT_TYPE, "event_type", header->event_type,
                      &self->event_type, err, err_size)
    ||  s_names_to_set (PL_KIND_CATEGORY, "categories", header->categories,
                        header->n_categories, &self->categories, err, err_size)
    ||  s_name_to_id (PL_KIND_PURPOSE, "purpose", header->purpose, &self->purpose,
                      err, err_size)
    ||  s_name_to_id (PL_KIND_BASIS, "legal_basis", header->legal_basis, &self->basis,
                      err, err_size))
        return -1;
    self->risk = -1;
    if (header->risk_level && *header->risk_level
    &&  s_name_to_id (PL_KIND_RISK, "risk_level", header->risk_level, &self->risk,
                      err, err_size))
        return -1;
    //  A justification of blanks justifies nothing
    const char *why = header->justification? header->justification: "";
    while (*why == ' ' || *why == '\t' || *why == '\n')
        why++;
    self->has_justification = *why != 0;
    self->is_correction = header->supersedes.len > 0;
    self->created_at_ms = header->created_at_ms;
    self->valid_until_ms = header->valid_until_ms;
    return 0;
}
