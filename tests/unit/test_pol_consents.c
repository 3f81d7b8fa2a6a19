/*  test_pol_consents: the consent registry and sequence-gap logic, alone and
 *  together with the shipped MOVE policy (a consent decides only on its own
 *  case; a withdrawal stops the next share at once and names who to tell).  */
#include <string.h>
#include "pl_test.h"
#include "passerelle.pb-c.h"
#include "pol_consents.h"
#include "pol_policy.h"
#include "pol_sequence.h"

#define NOW 1700000000000ull

static pol_consent_t
s_health_consent (const char *case_ref, const char *id, const char *publisher)
{
    return (pol_consent_t) {
        .publisher = publisher, .case_ref = case_ref, .consent_id = id,
        .subject = PL_SUBJECT_VICTIM,
        .categories = PL_SET (PL_CAT_HEALTH),
        .recipient_roles = PL_SET (PL_ROLE_VICTIM_SUPPORT),
        .purposes = PL_SET (PL_PURPOSE_CASE_COORDINATION),
        .given_at_ms = NOW - 1000, .evidence_ref = "health-a/forms/2024-117"
    };
}

static bool
s_list_has (zlist_t *list, const char *agency)
{
    for (const char *item = zlist_first (list); item; item = zlist_next (list))
        if (strcmp (item, agency) == 0)
            return true;
    return false;
}

START_TEST (test_give_and_lookup_on_its_case_only)
{
    pol_consents_t *registry = pol_consents_new ();
    pol_consent_t consent = s_health_consent ("case-1", "c-1", "health-a");
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_OK);
    const pol_consent_state_t *state = pol_consents_lookup (registry, "case-1", "c-1");
    ck_assert_ptr_nonnull (state);
    ck_assert_uint_eq (state->categories, PL_SET (PL_CAT_HEALTH));
    ck_assert (!state->withdrawn);
    //  Same id, other case: not the same consent
    ck_assert_ptr_null (pol_consents_lookup (registry, "case-2", "c-1"));
    ck_assert_ptr_null (pol_consents_lookup (registry, "case-1", "c-2"));
    ck_assert_str_eq (pol_consents_publisher (registry, "case-1", "c-1"), "health-a");
    ck_assert_str_eq (pol_consents_evidence (registry, "case-1", "c-1"), "health-a/forms/2024-117");
    ck_assert_ptr_null (pol_consents_withdrawn_by (registry, "case-1", "c-1"));
    ck_assert_uint_eq (pol_consents_size (registry), 1);
    pol_consents_destroy (&registry);
    ck_assert_ptr_null (registry);
}
END_TEST

START_TEST (test_invalid_consents_refused)
{
    pol_consents_t *registry = pol_consents_new ();
    pol_consent_t consent = s_health_consent ("case-1", "", "health-a");
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_INVALID);
    consent = s_health_consent ("case-1", "c-1", "health-a");
    consent.purposes = 0;
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_INVALID);
    consent = s_health_consent ("case-1", "c-1", "health-a");
    consent.valid_until_ms = consent.given_at_ms;
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_INVALID);
    consent = s_health_consent ("case-1", "c-1", "health-a");
    consent.subject = PL_SUBJECT_COUNT;
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_INVALID);
    consent = s_health_consent ("case\x1f" "1", "c-1", "health-a");
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_INVALID);
    ck_assert_uint_eq (pol_consents_size (registry), 0);
    pol_consents_destroy (&registry);
}
END_TEST

START_TEST (test_id_belongs_to_first_registrar)
{
    pol_consents_t *registry = pol_consents_new ();
    pol_consent_t consent = s_health_consent ("case-1", "c-1", "health-a");
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_OK);
    pol_consent_t other = s_health_consent ("case-1", "c-1", "police-b");
    other.categories = PL_SET (PL_CAT_CRIMINAL_JUSTICE);
    ck_assert_int_eq (pol_consents_give (registry, &other), POL_CONSENT_CONFLICT);
    ck_assert_uint_eq (pol_consents_lookup (registry, "case-1", "c-1")->categories,
                       PL_SET (PL_CAT_HEALTH));
    //  The registrar may renew it with a new scope
    consent.categories |= PL_SET (PL_CAT_MENTAL_HEALTH);
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_OK);
    ck_assert_uint_eq (pol_consents_lookup (registry, "case-1", "c-1")->categories,
                       PL_SET (PL_CAT_HEALTH) | PL_SET (PL_CAT_MENTAL_HEALTH));
    pol_consents_destroy (&registry);
}
END_TEST

START_TEST (test_withdraw_names_who_received)
{
    pol_consents_t *registry = pol_consents_new ();
    pol_consent_t consent = s_health_consent ("case-1", "c-1", "health-a");
    pol_consents_give (registry, &consent);
    ck_assert_int_eq (pol_consents_note_share (registry, "case-1", "c-1", "vs-north"), POL_CONSENT_OK);
    ck_assert_int_eq (pol_consents_note_share (registry, "case-1", "c-1", "pp-east"), POL_CONSENT_OK);
    ck_assert_int_eq (pol_consents_note_share (registry, "case-1", "c-1", "vs-north"), POL_CONSENT_OK);
    ck_assert_int_eq (pol_consents_note_share (registry, "case-2", "c-1", "x"), POL_CONSENT_UNKNOWN);
    const pol_consent_state_t *state = pol_consents_lookup (registry, "case-1", "c-1");
    zlist_t *notify = NULL;
    //  Withdrawn through victim support: the registrar and the others are told
    ck_assert_int_eq (pol_consents_withdraw (registry, "case-1", "c-1", "vs-north", NOW, &notify),
                      POL_CONSENT_OK);
    ck_assert_ptr_nonnull (notify);
    ck_assert_uint_eq (zlist_size (notify), 2);
    ck_assert (s_list_has (notify, "pp-east"));
    ck_assert (s_list_has (notify, "health-a"));
    ck_assert (!s_list_has (notify, "vs-north"));
    zlist_destroy (&notify);
    ck_assert (state->withdrawn);
    ck_assert_uint_eq (state->withdrawn_at_ms, NOW);
    ck_assert_str_eq (pol_consents_withdrawn_by (registry, "case-1", "c-1"), "vs-north");
    //  Final: neither withdrawn twice nor given again under the same id
    ck_assert_int_eq (pol_consents_withdraw (registry, "case-1", "c-1", "health-a", NOW, NULL),
                      POL_CONSENT_ALREADY_WITHDRAWN);
    ck_assert_int_eq (pol_consents_give (registry, &consent), POL_CONSENT_ALREADY_WITHDRAWN);
    ck_assert_int_eq (pol_consents_withdraw (registry, "case-9", "c-1", "health-a", NOW, NULL),
                      POL_CONSENT_UNKNOWN);
    pol_consents_destroy (&registry);
}
END_TEST

START_TEST (test_give_from_header_scope)
{
    pol_consents_t *registry = pol_consents_new ();
    char *categories [] = { "health", "mental_health" };
    char *roles [] = { "victim_support" };
    char *purposes [] = { "case_coordination" };
    Passerelle__ConsentScope scope = PASSERELLE__CONSENT_SCOPE__INIT;
    scope.consent_id = "c-7";
    scope.subject = "victim";
    scope.categories = categories; scope.n_categories = 2;
    scope.recipient_roles = roles; scope.n_recipient_roles = 1;
    scope.purposes = purposes; scope.n_purposes = 1;
    scope.evidence_ref = "form-7";
    char err [256] = "";
    ck_assert_int_eq (pol_consents_give_scope (registry, "health-a", "case-1", &scope, NOW,
                                               err, sizeof err), POL_CONSENT_OK);
    const pol_consent_state_t *state = pol_consents_lookup (registry, "case-1", "c-7");
    ck_assert_ptr_nonnull (state);
    ck_assert_uint_eq (state->categories, PL_SET (PL_CAT_HEALTH) | PL_SET (PL_CAT_MENTAL_HEALTH));
    ck_assert_uint_eq (state->recipient_roles, PL_SET (PL_ROLE_VICTIM_SUPPORT));
    //  An unknown name is refused, and said
    char *bad [] = { "helth" };
    scope.consent_id = "c-8";
    scope.categories = bad; scope.n_categories = 1;
    ck_assert_int_eq (pol_consents_give_scope (registry, "health-a", "case-1", &scope, NOW,
                                               err, sizeof err), POL_CONSENT_INVALID);
    ck_assert_ptr_nonnull (strstr (err, "helth"));
    ck_assert_ptr_null (pol_consents_lookup (registry, "case-1", "c-8"));
    pol_consents_destroy (&registry);
}
END_TEST

//  The registry and the shipped policy together, as the broker will use them
static void
s_health_request (pol_request_t *request, const pol_consent_state_t *consent)
{
    pol_request_init (request);
    request->sender_roles = PL_SET (PL_ROLE_HEALTH);
    request->recipient_roles = PL_SET (PL_ROLE_VICTIM_SUPPORT);
    request->event_type = PL_EV_CASE_UPDATE;
    request->categories = PL_SET (PL_CAT_HEALTH);
    request->purpose = PL_PURPOSE_CASE_COORDINATION;
    request->basis = PL_BASIS_CONSENT;
    request->now_ms = request->created_at_ms = NOW;
    request->recipient_in_case = true;
    request->sealed_for_recipient = true;
    request->consent = consent;
}

START_TEST (test_registry_with_move_policy)
{
    char err [4096] = "";
    pol_policy_t *policy = pol_policy_load ("policy/move.cfg", err, sizeof err);
    ck_assert_msg (policy, "%s", err);
    pol_consents_t *registry = pol_consents_new ();
    pol_consent_t consent = s_health_consent ("case-1", "c-1", "health-a");
    pol_consents_give (registry, &consent);
    pol_request_t request;
    pol_decision_t decision;

    //  On its own case the consent allows the share
    s_health_request (&request, pol_consents_lookup (registry, "case-1", "c-1"));
    pol_policy_decide (policy, &request, &decision);
    ck_assert_msg (decision.allow, "%s", decision.text);
    pol_consents_note_share (registry, "case-1", "c-1", "vs-north");

    //  Cited on another case, it is not found, so it does not count
    s_health_request (&request, pol_consents_lookup (registry, "case-2", "c-1"));
    pol_policy_decide (policy, &request, &decision);
    ck_assert (!decision.allow);
    ck_assert_int_eq (decision.reason, POL_CONSENT_MISSING);

    //  Withdrawal stops the very next share, and names who to tell
    zlist_t *notify = NULL;
    pol_consents_withdraw (registry, "case-1", "c-1", "health-a", NOW + 1, &notify);
    ck_assert_uint_eq (zlist_size (notify), 1);
    ck_assert_str_eq (zlist_first (notify), "vs-north");
    zlist_destroy (&notify);
    s_health_request (&request, pol_consents_lookup (registry, "case-1", "c-1"));
    request.now_ms = NOW + 2;
    pol_policy_decide (policy, &request, &decision);
    ck_assert (!decision.allow);
    ck_assert_int_eq (decision.reason, POL_CONSENT_WITHDRAWN);

    pol_consents_destroy (&registry);
    pol_policy_destroy (&policy);
}
END_TEST

START_TEST (test_sequence_gaps)
{
    pol_sequence_t *sequence = pol_sequence_new ();
    uint64_t first = 0, last = 0;
    ck_assert_int_eq (pol_sequence_feed (sequence, "police-a", 1, &first, &last), POL_SEQ_FIRST);
    ck_assert_int_eq (pol_sequence_feed (sequence, "police-a", 2, &first, &last), POL_SEQ_NEXT);
    ck_assert_int_eq (pol_sequence_feed (sequence, "police-a", 6, &first, &last), POL_SEQ_GAP);
    ck_assert_uint_eq (first, 3);
    ck_assert_uint_eq (last, 5);
    ck_assert_int_eq (pol_sequence_feed (sequence, "police-a", 4, NULL, NULL), POL_SEQ_OLD);
    ck_assert_int_eq (pol_sequence_feed (sequence, "police-a", 6, NULL, NULL), POL_SEQ_OLD);
    ck_assert_int_eq (pol_sequence_feed (sequence, "police-a", 7, NULL, NULL), POL_SEQ_NEXT);
    ck_assert_uint_eq (pol_sequence_last (sequence, "police-a"), 7);
    //  Publishers are independent
    ck_assert_int_eq (pol_sequence_feed (sequence, "health-b", 40, NULL, NULL), POL_SEQ_FIRST);
    ck_assert_uint_eq (pol_sequence_last (sequence, "police-a"), 7);
    //  Restored from the store, the next number is checked against it
    ck_assert_int_eq (pol_sequence_restore (sequence, "school-c", 10), 0);
    ck_assert_int_eq (pol_sequence_feed (sequence, "school-c", 12, &first, &last), POL_SEQ_GAP);
    ck_assert_uint_eq (first, 11);
    ck_assert_uint_eq (last, 11);
    ck_assert_int_eq (pol_sequence_feed (sequence, "school-c", 0, NULL, NULL), POL_SEQ_INVALID);
    ck_assert_int_eq (pol_sequence_feed (sequence, "", 1, NULL, NULL), POL_SEQ_INVALID);
    ck_assert_str_eq (pol_seq_result_name (POL_SEQ_GAP), "gap");
    pol_sequence_destroy (&sequence);
    ck_assert_ptr_null (sequence);
}
END_TEST

Suite *
test_suite (void)
{
    Suite *suite = suite_create ("pol_consents");
    TCase *consents = tcase_create ("consents");
    tcase_add_test (consents, test_give_and_lookup_on_its_case_only);
    tcase_add_test (consents, test_invalid_consents_refused);
    tcase_add_test (consents, test_id_belongs_to_first_registrar);
    tcase_add_test (consents, test_withdraw_names_who_received);
    tcase_add_test (consents, test_give_from_header_scope);
    tcase_add_test (consents, test_registry_with_move_policy);
    suite_add_tcase (suite, consents);
    TCase *sequence = tcase_create ("sequence");
    tcase_add_test (sequence, test_sequence_gaps);
    suite_add_tcase (suite, sequence);
    return suite;
}

PL_TEST_MAIN
