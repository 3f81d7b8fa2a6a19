/*  pol_loader: ZPL policy file -> rules, reporting every error (see
 *  pol_loader.h). Each check names the node it is about so pl_zpl can give
 *  the line; nothing here stops at the first error except a ZPL syntax
 *  error, after which there is no tree to walk.  */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pl_zpl.h"
#include "pol_loader.h"

#define MAX_GROUPS   64
#define MAX_ID_CHARS 64

typedef struct {
    char name [MAX_ID_CHARS + 1];
    pl_set_t roles;
} group_t;

typedef struct {
    pl_zpl_t *zpl;
    pol_rules_t *rules;
    char *errors;               //  accumulated, one per line
    size_t length, capacity;
    int error_count;
    group_t groups [MAX_GROUPS];
    size_t group_count;
} loader_t;

static void s_error (loader_t *self, zconfig_t *node, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_error (loader_t *self, zconfig_t *node, const char *fmt, ...)
{
    char message [768], line [1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    //  Without a node the error is about the file as a whole: say line 1
    if (node)
        pl_zpl_error (self->zpl, node, line, sizeof line, "%s", message);
    else
        snprintf (line, sizeof line, "%s:1: %s", pl_zpl_name (self->zpl), message);
    size_t needed = strlen (line) + 2;
    if (self->length + needed > self->capacity) {
        size_t capacity = (self->capacity + needed) * 2;
        char *grown = realloc (self->errors, capacity);
        if (!grown)
            return;             //  the count still says the file is bad
        self->errors = grown;
        self->capacity = capacity;
    }
    self->length += (size_t) sprintf (self->errors + self->length, "%s\n", line);
    self->error_count++;
}

//  Copy the errors into the caller's buffer, cutting at a line boundary
static void
s_copy_errors (loader_t *self, char *err, size_t err_size)
{
    if (!err || !err_size)
        return;
    const char *all = self->errors? self->errors: "";
    if (strlen (all) < err_size) {
        snprintf (err, err_size, "%s", all);
        return;
    }
    const char *tail = "...more errors not shown\n";
    size_t room = err_size > strlen (tail) + 1? err_size - strlen (tail) - 1: 0;
    size_t cut = room;
    while (cut > 0 && all [cut - 1] != '\n')
        cut--;
    snprintf (err, err_size, "%.*s%s", (int) cut, all, room? tail: "");
}

static const char *
s_value (zconfig_t *node)
{
    const char *value = zconfig_value (node);
    return value? value: "";
}

static const char *
s_line_of (loader_t *self, zconfig_t *node, char *buf, size_t size)
{
    snprintf (buf, size, "%d", pl_zpl_line (self->zpl, node));
    return buf;
}

static void
s_expected_names (pl_kind_t kind, const loader_t *groups_from, char *buf, size_t size)
{
    buf [0] = 0;
    size_t used = 0;
    for (int id = 0; id < pl_vocab_count (kind); id++)
        used += (size_t) snprintf (buf + used, used < size? size - used: 0, "%s%s",
                                   id? ", ": "", pl_vocab_name (kind, id));
    for (size_t g = 0; groups_from && g < groups_from->group_count; g++)
        used += (size_t) snprintf (buf + used, used < size? size - used: 0, ", %s",
                                   groups_from->groups [g].name);
}

static const group_t *
s_find_group (const loader_t *self, const char *name)
{
    for (size_t g = 0; g < self->group_count; g++)
        if (strcmp (self->groups [g].name, name) == 0)
            return &self->groups [g];
    return NULL;
}

//  "a, b,c" -> set; each unknown name is its own error. Roles may name groups.
static int
s_parse_set (loader_t *self, zconfig_t *node, pl_kind_t kind, bool groups, pl_set_t *set)
{
    *set = 0;
    const char *value = s_value (node);
    int errors = 0;
    char expected [1024];
    const char *cursor = value? value: "";
    while (*cursor) {
        size_t len = strcspn (cursor, ",");
        const char *start = cursor;
        cursor += len + (cursor [len] == ',');
        while (len && (*start == ' ' || *start == '\t')) { start++; len--; }
        while (len && (start [len - 1] == ' ' || start [len - 1] == '\t')) len--;
        char name [MAX_ID_CHARS + 1];
        snprintf (name, sizeof name, "%.*s", (int) (len < MAX_ID_CHARS? len: MAX_ID_CHARS), start);
        int id = len && len <= MAX_ID_CHARS? pl_vocab_id (kind, name): -1;
        const group_t *group = groups && len? s_find_group (self, name): NULL;
        if (id >= 0)
            *set |= PL_SET (id);
        else
        if (group)
            *set |= group->roles;
        else {
            s_expected_names (kind, groups? self: NULL, expected, sizeof expected);
            s_error (self, node, "unknown %s '%.*s' in '%s' (expected one of: %s)",
                     pl_vocab_kind_name (kind), (int) len, start, zconfig_name (node), expected);
            errors++;
        }
    }
    if (*set == 0 && errors == 0) {
        s_error (self, node, "'%s' is empty, so the rule could never match "
                 "(expected %s = %s[,%s...])", zconfig_name (node), zconfig_name (node),
                 pl_vocab_kind_name (kind), pl_vocab_kind_name (kind));
        errors++;
    }
    return errors? -1: 0;
}

static int
s_parse_one (loader_t *self, zconfig_t *node, pl_kind_t kind, int *id)
{
    *id = pl_vocab_id (kind, s_value (node));
    if (*id < 0) {
        char expected [512];
        s_expected_names (kind, NULL, expected, sizeof expected);
        s_error (self, node, "unknown %s '%s' in '%s' (expected one of: %s)",
                 pl_vocab_kind_name (kind), s_value (node), zconfig_name (node), expected);
    }
    return *id < 0? -1: 0;
}

int
pol_duration_parse (const char *text, uint64_t *ms)
{
    static const struct { const char *unit; uint64_t ms; } units [] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 }
    };
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end = NULL;
    unsigned long long number = strtoull (text, &end, 10);
    for (size_t u = 0; u < sizeof units / sizeof units [0]; u++)
        //  Half of UINT64_MAX keeps "now + skew" and friends from wrapping
        if (strcmp (end, units [u].unit) == 0 && number > 0
        &&  number <= UINT64_MAX / units [u].ms / 2) {
            *ms = number * units [u].ms;
            return 0;
        }
    return -1;
}

static int
s_parse_duration (loader_t *self, zconfig_t *node, uint64_t *ms)
{
    if (pol_duration_parse (s_value (node), ms) == 0)
        return 0;
    s_error (self, node, "'%s = %s' is not a duration (expected a whole number above "
             "zero with a unit: ms, s, m, h or d, as in 30s, 15m, 24h, 7d)",
             zconfig_name (node), s_value (node));
    return -1;
}

//  Every child of node must be named in allowed; report each stranger
static void
s_check_names (loader_t *self, zconfig_t *node, const char **allowed, const char *where)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        bool known = false;
        for (const char **name = allowed; *name && !known; name++)
            known = strcmp (*name, zconfig_name (child)) == 0;
        if (known)
            continue;
        char expected [512] = "";
        size_t used = 0;
        for (const char **name = allowed; *name; name++)
            used += (size_t) snprintf (expected + used, used < sizeof expected?
                                       sizeof expected - used: 0, "%s%s",
                                       name == allowed? "": ", ", *name);
        s_error (self, child, "unknown setting '%s' in %s (expected one of: %s)",
                 zconfig_name (child), where, expected);
    }
}

//  A name given twice under one parent is an error at the second
static void
s_check_duplicates (loader_t *self, zconfig_t *node, const char *what)
{
    char line [16];
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child))
        for (zconfig_t *earlier = zconfig_child (node); earlier != child;
             earlier = zconfig_next (earlier))
            if (strcmp (zconfig_name (earlier), zconfig_name (child)) == 0) {
                s_error (self, child, "duplicate %s '%s' (first given at line %s)", what,
                         zconfig_name (child), s_line_of (self, earlier, line, sizeof line));
                break;
            }
}

static bool
s_takes_value (loader_t *self, zconfig_t *node)
{
    if (zconfig_child (node)) {
        s_error (self, node, "'%s' takes a value, not an indented block", zconfig_name (node));
        return false;
    }
    return true;
}

static void
s_load_groups (loader_t *self, zconfig_t *groups)
{
    s_check_duplicates (self, groups, "group");
    for (zconfig_t *node = zconfig_child (groups); node; node = zconfig_next (node)) {
        const char *name = zconfig_name (node);
        if (pl_vocab_id (PL_KIND_ROLE, name) >= 0)
            s_error (self, node, "group '%s' has the name of a role (expected a new name)", name);
        else
        if (strlen (name) > MAX_ID_CHARS || self->group_count == MAX_GROUPS)
            s_error (self, node, "group '%s': at most %d groups of at most %d characters",
                     name, MAX_GROUPS, MAX_ID_CHARS);
        else {
            pl_set_t roles;
            if (s_takes_value (self, node)
            &&  s_parse_set (self, node, PL_KIND_ROLE, true, &roles) == 0
            &&  !s_find_group (self, name)) {
                group_t *group = &self->groups [self->group_count++];
                snprintf (group->name, sizeof group->name, "%s", name);
                group->roles = roles;
            }
        }
    }
}

static void
s_load_durations (loader_t *self, zconfig_t *block, pl_kind_t kind, uint64_t *table)
{
    s_check_duplicates (self, block, pl_vocab_kind_name (kind));
    for (zconfig_t *node = zconfig_child (block); node; node = zconfig_next (node)) {
        int id = pl_vocab_id (kind, zconfig_name (node));
        char expected [512];
        s_expected_names (kind, NULL, expected, sizeof expected);
        if (id < 0)
            s_error (self, node, "unknown %s '%s' in '%s' (expected one of: %s)",
                     pl_vocab_kind_name (kind), zconfig_name (node), zconfig_name (block),
                     expected);
        else
        if (s_takes_value (self, node))
            s_parse_duration (self, node, &table [id]);
    }
}

static void
s_load_settings (loader_t *self, zconfig_t *settings)
{
    static const char *allowed [] = { "clock_skew", "escalation_deadline",
        "escalation_fallback", "max_age", "retention", NULL };
    s_check_names (self, settings, allowed, "'settings'");
    s_check_duplicates (self, settings, "setting");
    pol_settings_t *out = &self->rules->settings;
    for (zconfig_t *node = zconfig_child (settings); node; node = zconfig_next (node)) {
        const char *name = zconfig_name (node);
        if (strcmp (name, "max_age") == 0)
            s_load_durations (self, node, PL_KIND_EVENT_TYPE, out->max_age_ms);
        else
        if (strcmp (name, "retention") == 0)
            s_load_durations (self, node, PL_KIND_CATEGORY, out->retention_ms);
        else
        if (!s_takes_value (self, node))
            continue;
        else
        if (strcmp (name, "clock_skew") == 0)
            s_parse_duration (self, node, &out->clock_skew_ms);
        else
        if (strcmp (name, "escalation_deadline") == 0)
            s_parse_duration (self, node, &out->escalation_deadline_ms);
        else
        if (strcmp (name, "escalation_fallback") == 0)
            s_parse_set (self, node, PL_KIND_ROLE, true, &out->escalation_fallback);
    }
}

static const char *s_rule_keys [] = { "from", "to", "types", "categories", "purposes",
    "bases", "recipient", "min_risk", "max_age", "justification", "consent",
    "consent_subjects", "only_with", NULL };
static const char *s_required_keys [] = { "from", "to", "types", "categories",
    "purposes", "bases", NULL };

static void
s_parse_recipient (loader_t *self, zconfig_t *node, unsigned *recipient)
{
    *recipient = 0;
    bool understood = true;
    const char *cursor = s_value (node);
    while (*cursor && understood) {
        size_t len = strcspn (cursor, ",");
        const char *start = cursor;
        cursor += len + (cursor [len] == ',');
        while (len && *start == ' ') { start++; len--; }
        while (len && start [len - 1] == ' ') len--;
        if (len == 7 && strncmp (start, "in_case", 7) == 0)
            *recipient |= POL_RECIPIENT_IN_CASE;
        else
        if (len == 9 && strncmp (start, "addressed", 9) == 0)
            *recipient |= POL_RECIPIENT_ADDRESSED;
        else
            understood = false;
    }
    if (!understood || !*recipient) {
        s_error (self, node, "'recipient = %s' is not understood (expected in_case, "
                 "addressed, or in_case,addressed)", s_value (node));
        *recipient = 0;
    }
}

static void
s_parse_required (loader_t *self, zconfig_t *node, bool *required)
{
    const char *value = s_value (node);
    *required = strcmp (value, "required") == 0;
    if (!*required && strcmp (value, "optional") != 0)
        s_error (self, node, "'%s = %s' is not understood (expected required or optional)",
                 zconfig_name (node), value);
}

static void
s_parse_rule_key (loader_t *self, zconfig_t *node, pol_rule_t *rule)
{
    const char *key = zconfig_name (node);
    static const struct { const char *key; pl_kind_t kind; size_t offset; } sets [] = {
        { "from",             PL_KIND_ROLE,       offsetof (pol_rule_t, from) },
        { "to",               PL_KIND_ROLE,       offsetof (pol_rule_t, to) },
        { "types",            PL_KIND_EVENT_TYPE, offsetof (pol_rule_t, types) },
        { "categories",       PL_KIND_CATEGORY,   offsetof (pol_rule_t, categories) },
        { "purposes",         PL_KIND_PURPOSE,    offsetof (pol_rule_t, purposes) },
        { "bases",            PL_KIND_BASIS,      offsetof (pol_rule_t, bases) },
        { "consent_subjects", PL_KIND_SUBJECT,    offsetof (pol_rule_t, consent_subjects) },
        { "only_with",        PL_KIND_CATEGORY,   offsetof (pol_rule_t, only_with) },
    };
    for (size_t s = 0; s < sizeof sets / sizeof sets [0]; s++)
        if (strcmp (key, sets [s].key) == 0) {
            s_parse_set (self, node, sets [s].kind, sets [s].kind == PL_KIND_ROLE,
                         (pl_set_t *) ((char *) rule + sets [s].offset));
            return;
        }
    if (strcmp (key, "recipient") == 0)
        s_parse_recipient (self, node, &rule->recipient);
    else
    if (strcmp (key, "min_risk") == 0)
        s_parse_one (self, node, PL_KIND_RISK, &rule->min_risk);
    else
    if (strcmp (key, "max_age") == 0)
        s_parse_duration (self, node, &rule->max_age_ms);
    else
    if (strcmp (key, "justification") == 0)
        s_parse_required (self, node, &rule->justification_required);
    else
    if (strcmp (key, "consent") == 0)
        s_parse_required (self, node, &rule->consent_required);
}

//  Conditions that make a rule dead or unlawful, whatever the request
static void
s_check_rule_sense (loader_t *self, zconfig_t *node, const pol_rule_t *rule)
{
    if (PL_SET_HAS (rule->purposes, PL_PURPOSE_STATISTICS))
        s_error (self, node, "rule '%s': purpose 'statistics' is for aggregated data, never "
                 "a named case, so no sharing rule may allow it (expected other purposes)",
                 rule->id);
    if (rule->consent_subjects && !rule->consent_required
    &&  !PL_SET_HAS (rule->bases, PL_BASIS_CONSENT))
        s_error (self, node, "rule '%s': 'consent_subjects' can never apply: the rule "
                 "neither accepts basis consent nor says consent = required", rule->id);
}

static void
s_load_rule (loader_t *self, zconfig_t *node)
{
    pol_rule_t rule = { .id = zconfig_name (node), .line = pl_zpl_line (self->zpl, node),
                        .min_risk = -1 };
    int before = self->error_count;
    char where [MAX_ID_CHARS + 16];
    snprintf (where, sizeof where, "rule '%.*s'", MAX_ID_CHARS, rule.id);
    if (strlen (rule.id) > MAX_ID_CHARS)
        s_error (self, node, "rule id '%s' is longer than %d characters", rule.id, MAX_ID_CHARS);
    if (*s_value (node))
        s_error (self, node, "rule '%s' takes an indented block of settings, not a value",
                 rule.id);
    s_check_names (self, node, s_rule_keys, where);
    s_check_duplicates (self, node, "setting");
    for (const char **key = s_required_keys; *key; key++)
        if (!zconfig_locate (node, *key))
            s_error (self, node, "rule '%s' has no '%s' (expected %s = ...)", rule.id, *key, *key);
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child))
        if (s_takes_value (self, child))
            s_parse_rule_key (self, child, &rule);
    if (self->error_count == before)
        s_check_rule_sense (self, node, &rule);
    if (self->error_count == before && pol_rules_add (self->rules, &rule))
        s_error (self, node, "out of memory");
}

//  A rule that an earlier rule fully covers can never be the one that decides
static void
s_check_shadowed (loader_t *self, zconfig_t *rules_node)
{
    size_t index = 0;
    for (zconfig_t *node = zconfig_child (rules_node); node && index < self->rules->count;
         node = zconfig_next (node)) {
        const pol_rule_t *later = &self->rules->rules [index];
        if (strcmp (later->id, zconfig_name (node)) != 0)
            continue;           //  this node had errors and was not added
        for (size_t earlier = 0; earlier < index; earlier++)
            if (pol_rule_covers (&self->rules->rules [earlier], later)) {
                s_error (self, node, "rule '%s' can never match: rule '%s' (line %d) "
                         "comes first and allows everything it allows (expected narrower "
                         "conditions in the earlier rule, or this rule removed)", later->id,
                         self->rules->rules [earlier].id, self->rules->rules [earlier].line);
                break;
            }
        index++;
    }
}

static void
s_load_rules (loader_t *self, zconfig_t *rules)
{
    s_check_duplicates (self, rules, "rule id");
    for (zconfig_t *node = zconfig_child (rules); node; node = zconfig_next (node)) {
        bool duplicate = false;
        for (zconfig_t *earlier = zconfig_child (rules); earlier != node && !duplicate;
             earlier = zconfig_next (earlier))
            duplicate = strcmp (zconfig_name (earlier), zconfig_name (node)) == 0;
        if (!duplicate)
            s_load_rule (self, node);
    }
    s_check_shadowed (self, rules);
    if (!zconfig_child (rules))
        s_error (self, rules, "'rules' is empty (expected at least one rule: "
                 "without one, everything is refused)");
}

static void
s_load_root (loader_t *self)
{
    zconfig_t *root = pl_zpl_root (self->zpl);
    static const char *allowed [] = { "version", "groups", "settings", "rules", NULL };
    s_check_names (self, root, allowed, "the policy file");
    s_check_duplicates (self, root, "section");
    self->rules->settings.clock_skew_ms = 60000;    //  documented default
    zconfig_t *version = zconfig_locate (root, "version");
    if (!version || !*s_value (version))
        s_error (self, version, "no policy version (expected version = TEXT, e.g. "
                 "version = move-2024.1)");
    else
    if (s_takes_value (self, version))
        self->rules->version = strdup (s_value (version));
    zconfig_t *groups = zconfig_locate (root, "groups");
    if (groups)
        s_load_groups (self, groups);
    zconfig_t *settings = zconfig_locate (root, "settings");
    if (settings)
        s_load_settings (self, settings);
    zconfig_t *rules = zconfig_locate (root, "rules");
    if (rules)
        s_load_rules (self, rules);
    else
        s_error (self, NULL, "no 'rules' section (expected rules, then one indented "
                 "block per rule)");
}

static pol_rules_t *
s_load (pl_zpl_t *zpl, char *err, size_t err_size)
{
    if (!zpl)
        return NULL;
    loader_t self = { .zpl = zpl, .rules = pol_rules_new (pl_zpl_name (zpl)) };
    if (!self.rules) {
        snprintf (err, err_size, "%s: out of memory\n", pl_zpl_name (zpl));
        pl_zpl_destroy (&zpl);
        return NULL;
    }
    s_load_root (&self);
    if (self.error_count)
        s_copy_errors (&self, err, err_size);
    free (self.errors);
    pl_zpl_destroy (&zpl);
    if (self.error_count)
        pol_rules_destroy (&self.rules);
    return self.rules;
}

pol_rules_t *
pol_loader_parse (const char *name, const char *text, char *err, size_t err_size)
{
    return s_load (pl_zpl_load_text (name, text, err, err_size), err, err_size);
}

pol_rules_t *
pol_loader_parse_file (const char *path, char *err, size_t err_size)
{
    return s_load (pl_zpl_load (path, err, err_size), err, err_size);
}
