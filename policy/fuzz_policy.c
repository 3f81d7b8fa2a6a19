/*  fuzz_policy: libFuzzer target for the policy loader.
 *
 *  Policy files come from people, and a bad one must be refused with file
 *  and line, never crash the broker on reload. Any bytes go through the
 *  loader; if they load, the policy is exercised with a few decisions and an
 *  explain; if not, every error line must name the file. Built and run by
 *  `make fuzz-policy` (policy/policy.mk), seeded with the shipped policy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pol_policy.h"

static void
s_count_verdict (const pol_rule_verdict_t *verdict, void *arg)
{
    (*(size_t *) arg) += verdict->matched;
}

static void
s_exercise (const pol_policy_t *policy, const uint8_t *data, size_t size)
{
    pol_consent_state_t consent = { .categories = ~0u, .recipient_roles = ~0u,
                                    .purposes = ~0u };
    for (int round = 0; round < 8; round++) {
        uint8_t seed = size? data [(size_t) round * 7 % size]: 0;
        pol_request_t request;
        pol_request_init (&request);
        request.sender_roles = PL_SET (seed % PL_ROLE_COUNT);
        request.recipient_roles = PL_SET ((seed / 3) % PL_ROLE_COUNT);
        request.event_type = seed % PL_EV_COUNT;
        request.categories = PL_SET (seed % PL_CAT_COUNT) | PL_SET (round % PL_CAT_COUNT);
        request.purpose = seed % PL_PURPOSE_COUNT;
        request.basis = round % PL_BASIS_COUNT;
        request.risk = round % 5 - 1;
        request.has_justification = round & 1;
        request.recipient_in_case = round & 2;
        request.consent = round & 4? &consent: NULL;
        request.sealed_for_recipient = true;
        pol_decision_t decision;
        pol_policy_decide (policy, &request, &decision);
        if (decision.allow != pol_reason_allows (decision.reason))
            abort ();
        size_t matched = 0;
        pol_decision_t explained;
        pol_policy_explain (policy, &request, s_count_verdict, &matched, &explained);
        if (explained.reason != decision.reason)
            abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text [size] = 0;
    char err [4096] = "";
    pol_policy_t *policy = pol_policy_load_text ("fuzz.cfg", text, err, sizeof err);
    if (policy) {
        s_exercise (policy, data, size);
        pol_policy_destroy (&policy);
    }
    else
    if (strncmp (err, "fuzz.cfg", 8) != 0)
        abort ();               //  an error that does not name the file
    free (text);
    return 0;
}
