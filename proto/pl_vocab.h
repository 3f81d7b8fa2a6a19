/*  pl_vocab: the shared vocabulary of docs/domain.md as small integer ids.
 *
 *  Files, flags and the wire carry the lower-case names ("police",
 *  "risk_assessment"); everything that decides (policy, routing) works on the
 *  ids below so that a decision is bit arithmetic, not string comparison.
 *  Each kind has fewer than 32 members, so a set of them is one uint32_t.
 */
#ifndef PL_VOCAB_H_INCLUDED
#define PL_VOCAB_H_INCLUDED

#include <stdint.h>

typedef enum {
    PL_KIND_ROLE, PL_KIND_CATEGORY, PL_KIND_EVENT_TYPE, PL_KIND_PURPOSE,
    PL_KIND_BASIS, PL_KIND_RISK, PL_KIND_SUBJECT, PL_KIND_COUNT
} pl_kind_t;

typedef enum {
    PL_ROLE_POLICE, PL_ROLE_PROSECUTION, PL_ROLE_SOCIAL_SERVICES, PL_ROLE_IMMIGRATION,
    PL_ROLE_RECEPTION, PL_ROLE_HEALTH, PL_ROLE_SCHOOL, PL_ROLE_FAMILY_CENTRE,
    PL_ROLE_MENTAL_HEALTH, PL_ROLE_CHILD_PROTECTION, PL_ROLE_HOUSING, PL_ROLE_EMPLOYMENT,
    PL_ROLE_LEGAL_AID, PL_ROLE_PERPETRATOR_PROGRAMME, PL_ROLE_VICTIM_SUPPORT,
    PL_ROLE_INTERPRETER, PL_ROLE_COORDINATOR, PL_ROLE_AUDITOR, PL_ROLE_COUNT
} pl_role_t;

typedef enum {
    PL_CAT_IDENTITY, PL_CAT_CONTACT, PL_CAT_CASE_SUMMARY, PL_CAT_RISK_ASSESSMENT,
    PL_CAT_HEALTH, PL_CAT_MENTAL_HEALTH, PL_CAT_PSYCHOSOCIAL, PL_CAT_LEGAL_STATUS,
    PL_CAT_CRIMINAL_JUSTICE, PL_CAT_CHILD_SAFETY, PL_CAT_REFERRAL, PL_CAT_FEEDBACK,
    PL_CAT_COUNT
} pl_category_t;

typedef enum {
    PL_EV_REFERRAL, PL_EV_CASE_UPDATE, PL_EV_RISK_ASSESSMENT, PL_EV_RISK_ESCALATION,
    PL_EV_PROTECTION_ORDER, PL_EV_SAFETY_PLAN, PL_EV_FEEDBACK, PL_EV_MEETING_NOTICE,
    PL_EV_CORRECTION, PL_EV_CONSENT_GIVEN, PL_EV_CONSENT_WITHDRAWN, PL_EV_CASE_CLOSED,
    PL_EV_COUNT
} pl_event_type_t;

typedef enum {
    PL_PURPOSE_REFERRAL, PL_PURPOSE_RISK_MANAGEMENT, PL_PURPOSE_SAFETY_PLANNING,
    PL_PURPOSE_CASE_COORDINATION, PL_PURPOSE_CHILD_PROTECTION, PL_PURPOSE_FEEDBACK,
    PL_PURPOSE_STATISTICS, PL_PURPOSE_COUNT
} pl_purpose_t;

typedef enum {
    PL_BASIS_CONSENT, PL_BASIS_LEGAL_OBLIGATION, PL_BASIS_VITAL_INTERESTS,
    PL_BASIS_PUBLIC_TASK, PL_BASIS_COURT_ORDER, PL_BASIS_COUNT
} pl_basis_t;

/*  Ordered: a higher id is a higher risk.  */
typedef enum {
    PL_RISK_STANDARD, PL_RISK_MEDIUM, PL_RISK_HIGH, PL_RISK_CRITICAL, PL_RISK_COUNT
} pl_risk_t;

typedef enum {
    PL_SUBJECT_VICTIM, PL_SUBJECT_PERPETRATOR, PL_SUBJECT_GUARDIAN, PL_SUBJECT_COUNT
} pl_subject_t;

typedef uint32_t pl_set_t;                  /* a set of ids of one kind */
#define PL_SET(id)        ((pl_set_t) 1u << (id))
#define PL_SET_HAS(s, id) (((s) >> (id)) & 1u)

/*  Id of a name in a kind, or -1 when the name is not part of the vocabulary.  */
int pl_vocab_id (pl_kind_t kind, const char *name);

/*  Name of an id, or NULL when out of range. The string is static.  */
const char *pl_vocab_name (pl_kind_t kind, int id);

/*  How many ids a kind has, and its name in messages ("role", "category"...).  */
int pl_vocab_count (pl_kind_t kind);
const char *pl_vocab_kind_name (pl_kind_t kind);

/*  Parse a comma-separated list of names into a set. Returns 0, or -1 with
 *  the first unknown name copied into bad (bad_size bytes).  */
int pl_vocab_parse_set (pl_kind_t kind, const char *list, pl_set_t *set,
                        char *bad, size_t bad_size);

/*  Write a set as a comma-separated list into buf. Returns buf.  */
char *pl_vocab_format_set (pl_kind_t kind, pl_set_t set, char *buf, size_t size);



/*  Durations as people write them: "90s", "15m", "2h", "30d", "500ms", or a
 *  bare number of milliseconds. Returns 0 and *ms, or -1.  */
int pl_parse_duration (const char *text, uint64_t *ms);
#endif
