/*  pl_vocab: name <-> id tables for the domain vocabulary (see pl_vocab.h).
 *  The tables follow the order of the enums; a unit test checks both ways.  */
#include <stddef.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include "pl_vocab.h"

static const char *s_roles [PL_ROLE_COUNT] = {
    "police", "prosecution", "social_services", "immigration", "reception", "health",
    "school", "family_centre", "mental_health", "child_protection", "housing",
    "employment", "legal_aid", "perpetrator_programme", "victim_support",
    "interpreter", "coordinator", "auditor"
};
static const char *s_categories [PL_CAT_COUNT] = {
    "identity", "contact", "case_summary", "risk_assessment", "health", "mental_health",
    "psychosocial", "legal_status", "criminal_justice", "child_safety", "referral",
    "feedback"
};
static const char *s_event_types [PL_EV_COUNT] = {
    "referral", "case_update", "risk_assessment", "risk_escalation", "protection_order",
    "safety_plan", "feedback", "meeting_notice", "correction", "consent_given",
    "consent_withdrawn", "case_closed"
};
static const char *s_purposes [PL_PURPOSE_COUNT] = {
    "referral", "risk_management", "safety_planning", "case_coordination",
    "child_protection", "feedback", "statistics"
};
static const char *s_bases [PL_BASIS_COUNT] = {
    "consent", "legal_obligation", "vital_interests", "public_task", "court_order"
};
static const char *s_risks [PL_RISK_COUNT] = { "standard", "medium", "high", "critical" };
static const char *s_subjects [PL_SUBJECT_COUNT] = { "victim", "perpetrator", "guardian" };

static const struct {
    const char *kind_name;
    const char **names;
    int count;
} s_kinds [PL_KIND_COUNT] = {
    [PL_KIND_ROLE]       = { "role", s_roles, PL_ROLE_COUNT },
    [PL_KIND_CATEGORY]   = { "category", s_categories, PL_CAT_COUNT },
    [PL_KIND_EVENT_TYPE] = { "event type", s_event_types, PL_EV_COUNT },
    [PL_KIND_PURPOSE]    = { "purpose", s_purposes, PL_PURPOSE_COUNT },
    [PL_KIND_BASIS]      = { "legal basis", s_bases, PL_BASIS_COUNT },
    [PL_KIND_RISK]       = { "risk level", s_risks, PL_RISK_COUNT },
    [PL_KIND_SUBJECT]    = { "consent subject", s_subjects, PL_SUBJECT_COUNT },
};

int
pl_vocab_id (pl_kind_t kind, const char *name)
{
    if ((unsigned) kind >= PL_KIND_COUNT || !name)
        return -1;
    for (int id = 0; id < s_kinds [kind].count; id++)
        if (strcmp (s_kinds [kind].names [id], name) == 0)
            return id;
    return -1;
}

const char *
pl_vocab_name (pl_kind_t kind, int id)
{
    if ((unsigned) kind >= PL_KIND_COUNT || id < 0 || id >= s_kinds [kind].count)
        return NULL;
    return s_kinds [kind].names [id];
}

int
pl_vocab_count (pl_kind_t kind)
{
    return (unsigned) kind < PL_KIND_COUNT? s_kinds [kind].count: 0;
}

const char *
pl_vocab_kind_name (pl_kind_t kind)
{
    return (unsigned) kind < PL_KIND_COUNT? s_kinds [kind].kind_name: "?";
}

int
pl_vocab_parse_set (pl_kind_t kind, const char *list, pl_set_t *set,
                    char *bad, size_t bad_size)
{
    *set = 0;
    const char *start = list;
    while (start && *start) {
        const char *end = strchr (start, ',');
        size_t len = end? (size_t) (end - start): strlen (start);
        char name [64];
        //  Trim spaces so "police, health" reads as a person would mean it
        while (len && (*start == ' ' || *start == '\t')) { start++; len--; }
        while (len && (start [len - 1] == ' ' || start [len - 1] == '\t')) len--;
        int id = -1;
        if (len > 0 && len < sizeof name) {
            memcpy (name, start, len);
            name [len] = 0;
            id = pl_vocab_id (kind, name);
        }
        if (id < 0) {
            if (bad && bad_size)
                snprintf (bad, bad_size, "%.*s", (int) len, start);
            return -1;
        }
        *set |= PL_SET (id);
        start = end? end + 1: NULL;
    }
    return 0;
}

char *
pl_vocab_format_set (pl_kind_t kind, pl_set_t set, char *buf, size_t size)
{
    size_t used = 0;
    if (size)
        buf [0] = 0;
    for (int id = 0; id < pl_vocab_count (kind); id++) {
        if (!PL_SET_HAS (set, id))
            continue;
        int n = snprintf (buf + used, size > used? size - used: 0, "%s%s",
                          used? ",": "", pl_vocab_name (kind, id));
        if (n > 0)
            used += (size_t) n;
    }
    return buf;
}

int
pl_parse_duration (const char *text, uint64_t *ms)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *unit;
    unsigned long long value = strtoull (text, &unit, 10);
    static const struct { const char *suffix; uint64_t scale; } units [] = {
        { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
        { "d", 86400000 }
    };
    for (size_t i = 0; i < sizeof units / sizeof units [0]; i++)
        if (strcmp (unit, units [i].suffix) == 0) {
            if (value > UINT64_MAX / units [i].scale)
                return -1;
            *ms = (uint64_t) value * units [i].scale;
            return 0;
        }
    return -1;
}
