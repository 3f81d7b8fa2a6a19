/*  pa_publish: a publish request from the agency system, as JSON.
 *
 *  The CLI, and later the HTTP API and the spool folder, all hand the agent
 *  the same JSON object; this module checks every field and turns it into an
 *  EventHeader plus payload bytes ready to seal. Errors name the field.
 *
 *      { "type": "referral", "case": "C-2026-0042",
 *        "to": ["pp-paris"], "to_roles": ["child_protection"],
 *        "categories": ["identity", "referral"], "purpose": "referral",
 *        "basis": "consent", "consent": "CONS-17" | "justification": "...",
 *        "risk": "high", "valid_for": "30d" | "valid_until_ms": 1790000000000,
 *        "supersedes": "<32 hex>",
 *        "consent_scope": { "consent_id", "subject", "categories",
 *                           "recipient_roles", "purposes", "valid_until_ms",
 *                           "evidence_ref" },
 *        "payload": "text" | "payload_base64": "..." }
 */
#ifndef PA_PUBLISH_H_INCLUDED
#define PA_PUBLISH_H_INCLUDED

#include <jansson.h>
#include <stdint.h>
#include "passerelle.pb-c.h"

#define PA_DEFAULT_VALIDITY_MS  (30ULL * 24 * 3600 * 1000)   /* 30 days */

typedef struct _pa_publish_t pa_publish_t;

/*  Check and copy request. now_ms stamps created_at. NULL with err.  */
pa_publish_t *pa_publish_from_json (json_t *request, uint64_t now_ms, char *err, size_t err_size);
void pa_publish_destroy (pa_publish_t **self_p);

/*  The header to seal (event id, publisher, sequence and hash are set by
 *  the agent and pl_envelope_seal).  */
Passerelle__EventHeader *pa_publish_header (pa_publish_t *self);
const uint8_t *pa_publish_payload (pa_publish_t *self, size_t *size);

#endif
