/*  pol_loader: a policy file (ZPL) -> pol_rules_t, with every error.
 *
 *  A data-protection officer reviews the file and fixes it from the error
 *  list, so the loader does not stop at the first problem: it checks the
 *  whole file and reports each error as "file:line: what was expected", one
 *  per line. Format (see policy/move.cfg for a commented example):
 *
 *      version = TEXT
 *      groups                      optional: names for sets of roles
 *          front_line = police,prosecution,...
 *      settings                    optional
 *          clock_skew = 2m
 *          escalation_deadline = 15m
 *          escalation_fallback = coordinator,police
 *          max_age                 per event type
 *              risk_escalation = 24h
 *          retention               per data category
 *              health = 365d
 *      rules
 *          RULE-ID
 *              from = ROLES        to = ROLES        types = EVENT-TYPES
 *              categories = CATS   purposes = PURPOSES
 *              bases = consent,legal_obligation,...
 *              recipient = in_case,addressed     (optional, either suffices)
 *              min_risk = high                   (optional)
 *              max_age = 24h                     (optional)
 *              justification = required          (optional; always for non-consent bases)
 *              consent = required                (optional; always for basis consent)
 *              consent_subjects = victim,...     (optional)
 *              only_with = child_safety          (optional)
 *
 *  Durations are a whole number with a unit: ms, s, m, h or d.
 */
#ifndef POL_LOADER_H_INCLUDED
#define POL_LOADER_H_INCLUDED

#include <stddef.h>
#include "pol_rules.h"

/*  Parse text (name is used in messages). Returns the uncompiled rules, or
 *  NULL with every error, one per line, in err.  */
pol_rules_t *pol_loader_parse (const char *name, const char *text, char *err, size_t err_size);

/*  Same, reading path.  */
pol_rules_t *pol_loader_parse_file (const char *path, char *err, size_t err_size);

/*  A duration as the file writes it ("30s", "15m", "24h", "7d", "250ms")
 *  into milliseconds. Returns 0, or -1 when text is not one (or is zero).  */
int pol_duration_parse (const char *text, uint64_t *ms);

#endif
