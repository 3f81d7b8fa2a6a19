/*  pol_reason: names of the decision reasons (see pol_reason.h). The table is
 *  indexed by the enum so a missing entry is a compile-time gap the unit test
 *  catches (every code must be non-NULL and unique).  */
#include <string.h>
#include "pol_reason.h"

static const char *s_names [POL_REASON_COUNT] = {
    [POL_ALLOWED]                  = "allowed",
    [POL_ALLOWED_CORRECTION]       = "allowed_correction",
    [POL_NO_RULE]                  = "no_rule",
    [POL_TYPE_NOT_ALLOWED]         = "type_not_allowed",
    [POL_PURPOSE_NOT_ALLOWED]      = "purpose_not_allowed",
    [POL_CATEGORY_NOT_ALLOWED]     = "category_not_allowed",
    [POL_SENDER_ROLE]              = "sender_role",
    [POL_BASIS_NOT_ACCEPTED]       = "basis_not_accepted",
    [POL_REQUIRED_CATEGORY_ABSENT] = "required_category_absent",
    [POL_NOT_IN_CASE]              = "not_in_case",
    [POL_RISK_TOO_LOW]             = "risk_too_low",
    [POL_TOO_OLD]                  = "too_old",
    [POL_JUSTIFICATION_MISSING]    = "justification_missing",
    [POL_CONSENT_MISSING]          = "consent_missing",
    [POL_CONSENT_WITHDRAWN]        = "consent_withdrawn",
    [POL_CONSENT_EXPIRED]          = "consent_expired",
    [POL_CONSENT_SCOPE]            = "consent_scope",
    [POL_EXPIRED]                  = "expired",
    [POL_FUTURE_DATED]             = "future_dated",
    [POL_RETENTION_EXCEEDED]       = "retention_exceeded",
    [POL_CORRECTION_NOT_PUBLISHER] = "correction_not_publisher",
    [POL_OUTSIDE_NETWORK]          = "outside_network",
    [POL_NOT_SEALED]               = "not_sealed",
    [POL_NO_CATEGORY]              = "no_category",
    [POL_INVALID_REQUEST]          = "invalid_request",
};

const char *
pol_reason_name (pol_reason_t reason)
{
    if ((unsigned) reason >= POL_REASON_COUNT || !s_names [reason])
        return "unknown";
    return s_names [reason];
}

int
pol_reason_from_name (const char *name)
{
    for (int reason = 0; name && reason < POL_REASON_COUNT; reason++)
        if (s_names [reason] && strcmp (s_names [reason], name) == 0)
            return reason;
    return -1;
}

bool
pol_reason_allows (pol_reason_t reason)
{
    return reason == POL_ALLOWED || reason == POL_ALLOWED_CORRECTION;
}
