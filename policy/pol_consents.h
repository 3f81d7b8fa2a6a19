/*  pol_consents: the consent registry's logic, in memory.
 *
 *  Agencies register consents with consent_given events and end them with
 *  consent_withdrawn; the broker feeds both in here, points each request at
 *  the consent the event cites (pol_consents_lookup), and notes every share
 *  made under a consent so that a withdrawal can tell those who received data
 *  under it (GDPR art. 7(3), art. 19). Persistence is the broker's (LMDB).
 *
 *  Keying: a consent is keyed by (case reference, consent id) and counts only
 *  on that case. The header of an event carries its case_ref and consent_id,
 *  and the broker looks up exactly that pair, so a consent cited on another
 *  case is simply not found (consent_missing). Consent ids are chosen by the
 *  registering agency; on one case an id belongs to the first agency that
 *  registers it, and another agency reusing it is refused (conflict), so a
 *  lookup is never ambiguous. Any agency on the case may cite it.
 *
 *  Withdrawal is final for that id (a new consent needs a new id), takes
 *  effect at once for every later decision, and may be registered by any
 *  agency: the person may tell whichever service they are in touch with, and
 *  withdrawing must be as easy as consenting (GDPR art. 7(3)). The registry
 *  records who withdrew it.
 */
#ifndef POL_CONSENTS_H_INCLUDED
#define POL_CONSENTS_H_INCLUDED

#include <czmq.h>
#include "pol_request.h"

struct Passerelle__ConsentScope;

typedef struct _pol_consents_t pol_consents_t;

typedef enum {
    POL_CONSENT_OK,
    POL_CONSENT_UNKNOWN,            //  no such consent on this case
    POL_CONSENT_CONFLICT,           //  id already registered on this case by another agency
    POL_CONSENT_ALREADY_WITHDRAWN,  //  withdrawn ids stay withdrawn
    POL_CONSENT_INVALID,            //  empty id, empty scope, unknown name, bad dates
    POL_CONSENT_NO_MEMORY
} pol_consent_result_t;

//  A consent as given
typedef struct {
    const char *publisher;          //  registering agency: holds the evidence
    const char *case_ref;
    const char *consent_id;
    int subject;                    //  pl_subject_t
    pl_set_t categories, recipient_roles, purposes;
    uint64_t given_at_ms;
    uint64_t valid_until_ms;        //  0: until withdrawn
    const char *evidence_ref;       //  where the agency holds the signed form
} pol_consent_t;

pol_consents_t *pol_consents_new (void);
void pol_consents_destroy (pol_consents_t **self_p);

/*  Register a consent, or renew one the same agency registered (new scope
 *  and validity; the list of those who received data under it is kept).  */
pol_consent_result_t pol_consents_give (pol_consents_t *self, const pol_consent_t *consent);

/*  Same from the ConsentScope of a consent_given header. err says what was
 *  wrong on POL_CONSENT_INVALID.  */
pol_consent_result_t pol_consents_give_scope (pol_consents_t *self, const char *publisher,
                                              const char *case_ref,
                                              const struct Passerelle__ConsentScope *scope,
                                              uint64_t given_at_ms, char *err, size_t err_size);

/*  Withdraw. On success *notify_p (if not NULL) receives a new list of the
 *  agency ids to tell: every agency noted as having received data under it,
 *  and the registering agency if someone else withdrew; the caller destroys
 *  it.  */
pol_consent_result_t pol_consents_withdraw (pol_consents_t *self, const char *case_ref,
                                            const char *consent_id, const char *by_agency,
                                            uint64_t at_ms, zlist_t **notify_p);

/*  The consent as decisions need it, or NULL when not known on this case.
 *  The pointer stays valid as long as the registry (entries are never freed
 *  before it, withdrawn ones included).  */
const pol_consent_state_t *pol_consents_lookup (pol_consents_t *self, const char *case_ref,
                                                const char *consent_id);

/*  Record that recipient received data under this consent.  */
pol_consent_result_t pol_consents_note_share (pol_consents_t *self, const char *case_ref,
                                              const char *consent_id, const char *recipient);

/*  Registering agency, evidence reference and withdrawing agency of a
 *  consent; NULL when unknown (or, for withdrawn_by, not withdrawn).  */
const char *pol_consents_publisher (pol_consents_t *self, const char *case_ref,
                                    const char *consent_id);
const char *pol_consents_evidence (pol_consents_t *self, const char *case_ref,
                                   const char *consent_id);
const char *pol_consents_withdrawn_by (pol_consents_t *self, const char *case_ref,
                                       const char *consent_id);

size_t pol_consents_size (pol_consents_t *self);

/*  Stable snake_case name of a result, for logs.  */
const char *pol_consent_result_name (pol_consent_result_t result);

#endif
