/*  pol_request: what the policy engine is asked, and what it answers.
 *
 *  The engine is pure: everything it needs is a fact the broker already
 *  holds (the signed header, the directory, the consent registry, the case
 *  membership, the clock) and copies into a pol_request_t before asking.
 *  pol_request_from_header fills the header part from a decoded EventHeader
 *  (names -> ids, once per event); the broker then sets the per-recipient
 *  facts and calls pol_policy_decide once per candidate recipient.
 */
#ifndef POL_REQUEST_H_INCLUDED
#define POL_REQUEST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pl_vocab.h"
#include "pol_reason.h"

struct Passerelle__EventHeader;

/*  One consent as the registry knows it, looked up on the event's own case.
 *  The registry (pol_consents) hands out pointers to these.  */
typedef struct {
    int subject;                    //  pl_subject_t
    pl_set_t categories;            //  what it covers
    pl_set_t recipient_roles;       //  to whom
    pl_set_t purposes;              //  for what
    uint64_t valid_until_ms;        //  0: until withdrawn
    bool withdrawn;
    uint64_t withdrawn_at_ms;
} pol_consent_state_t;

typedef struct {
    //  From the header (pol_request_from_header)
    pl_set_t sender_roles;          //  publisher's roles, from the directory
    int event_type;                 //  pl_event_type_t
    pl_set_t categories;            //  data categories the payload carries
    int purpose;                    //  pl_purpose_t
    int basis;                      //  pl_basis_t
    int risk;                       //  pl_risk_t, or -1 when the event carries none
    bool has_justification;
    bool is_correction;             //  header.supersedes is set
    uint64_t created_at_ms;
    uint64_t valid_until_ms;        //  0: no limit
    //  From the consent registry, looked up on this event's case; NULL when
    //  no consent was cited or the registry does not know it on this case
    const pol_consent_state_t *consent;
    //  From the clock, read once by the broker per event
    uint64_t now_ms;
    //  Per candidate recipient, from the directory and the case store
    pl_set_t recipient_roles;
    bool recipient_in_case;             //  already received something on this case
    bool recipient_addressed_directly;  //  named in to_agencies
    bool addressed_by_role_outside_network; //  reached only through a role, from another network
    bool sealed_for_recipient;          //  envelope holds a key for this recipient
    bool corrector_is_original_publisher;
    bool recipient_received_original;   //  for corrections: got the event superseded
} pol_request_t;

typedef struct {
    bool allow;
    bool needs_review;              //  basis other than consent: flag in the log for review
    pol_reason_t reason;
    const char *rule_id;            //  rule that decided (or came closest); NULL if none.
                                    //  Points into the policy: valid while it lives
    int category;                   //  offending category id, or -1
    const char *category_rule [PL_CAT_COUNT];   //  on allow: the rule for each category
    char text [256];                //  readable reason
} pol_decision_t;

/*  A request that denies everything until filled: no roles, no categories,
 *  risk -1, not sealed.  */
void pol_request_init (pol_request_t *self);

/*  Fill the header part of a request from a decoded header. Sender roles,
 *  consent and the per-recipient facts are left to the caller. Returns 0,
 *  or -1 with "field: unknown NAME" in err when a vocabulary name is not
 *  ours (the broker refuses such an event as malformed).  */
int pol_request_from_header (pol_request_t *self, const struct Passerelle__EventHeader *header,
                             char *err, size_t err_size);

#endif
