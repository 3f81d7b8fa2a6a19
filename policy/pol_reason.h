/*  pol_reason: the fixed list of reasons a sharing decision can give.
 *
 *  Every decision the broker takes names one of these, and the snake_case
 *  name goes into the tamper-evident sharing log and the audit reports. The
 *  names are therefore forever: add new reasons at the end, never rename or
 *  renumber one. The numeric value is for this process only; logs carry the
 *  name.
 */
#ifndef POL_REASON_H_INCLUDED
#define POL_REASON_H_INCLUDED

#include <stdbool.h>

typedef enum {
    POL_ALLOWED,                    //  a rule allowed every category
    POL_ALLOWED_CORRECTION,         //  publisher's correction to an original recipient
    POL_NO_RULE,                    //  default deny: no rule names this recipient role
    POL_TYPE_NOT_ALLOWED,           //  rules for this recipient, none for this event type
    POL_PURPOSE_NOT_ALLOWED,        //  ... none for this purpose
    POL_CATEGORY_NOT_ALLOWED,       //  ... none for this data category
    POL_SENDER_ROLE,                //  the sender holds no role the rule lists
    POL_BASIS_NOT_ACCEPTED,         //  legal basis not accepted by the rule
    POL_REQUIRED_CATEGORY_ABSENT,   //  rule applies only with another category (e.g. child_safety)
    POL_NOT_IN_CASE,                //  recipient neither part of the case nor addressed
    POL_RISK_TOO_LOW,               //  below the rule's minimum risk level
    POL_TOO_OLD,                    //  older than the rule's or the event type's maximum age
    POL_JUSTIFICATION_MISSING,      //  non-consent basis (or rule) needs a justification
    POL_CONSENT_MISSING,            //  consent needed, none cited or none known on this case
    POL_CONSENT_WITHDRAWN,
    POL_CONSENT_EXPIRED,
    POL_CONSENT_SCOPE,              //  consent does not cover category, role, purpose or subject
    POL_EXPIRED,                    //  past the event's own valid-until
    POL_FUTURE_DATED,               //  created later than now + clock skew
    POL_RETENTION_EXCEEDED,         //  older than a category's retention period
    POL_CORRECTION_NOT_PUBLISHER,   //  only the original publisher may correct
    POL_OUTSIDE_NETWORK,            //  role addressing resolved outside the local network
    POL_NOT_SEALED,                 //  publisher sealed no payload key for this recipient
    POL_NO_CATEGORY,                //  event declares no data category
    POL_INVALID_REQUEST,            //  an id out of range: a broker bug, never a policy outcome
    POL_REASON_COUNT
} pol_reason_t;

/*  Stable snake_case code ("consent_scope"), or "unknown" when out of range.  */
const char *pol_reason_name (pol_reason_t reason);

/*  Reason for a code, or -1 when the code is not one of ours.  */
int pol_reason_from_name (const char *name);

/*  True for the reasons that let the data through.  */
bool pol_reason_allows (pol_reason_t reason);

#endif
