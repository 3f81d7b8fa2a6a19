/*  pol_rules: rule storage and the compiled bit-set index (see pol_rules.h).  */
#include <stdlib.h>
#include <string.h>
#include "pol_rules.h"

pol_rules_t *
pol_rules_new (const char *name)
{
    pol_rules_t *self = calloc (1, sizeof *self);
    if (self && !(self->name = strdup (name? name: "policy"))) {
        free (self);
        self = NULL;
    }
    return self;
}

void
pol_rules_destroy (pol_rules_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pol_rules_t *self = *self_p;
    for (size_t index = 0; index < self->count; index++)
        free (self->rules [index].id);
    free (self->rules);
    free (self->index);
    free (self->version);
    free (self->name);
    free (self);
    *self_p = NULL;
}

int
pol_rules_add (pol_rules_t *self, const pol_rule_t *rule)
{
    if (self->count == self->capacity) {
        size_t capacity = self->capacity? self->capacity * 2: 32;
        pol_rule_t *grown = realloc (self->rules, capacity * sizeof *grown);
        if (!grown)
            return -1;
        self->rules = grown;
        self->capacity = capacity;
    }
    pol_rule_t *copy = &self->rules [self->count];
    *copy = *rule;
    copy->id = strdup (rule->id? rule->id: "");
    if (!copy->id)
        return -1;
    self->count++;
    return 0;
}

pl_set_t
pol_rule_dim (const pol_rule_t *rule, pol_dim_t dim)
{
    switch (dim) {
        case POL_DIM_TO:       return rule->to;
        case POL_DIM_TYPE:     return rule->types;
        case POL_DIM_PURPOSE:  return rule->purposes;
        case POL_DIM_CATEGORY: return rule->categories;
        case POL_DIM_FROM:     return rule->from;
        case POL_DIM_BASIS:    return rule->bases;
        default:               return 0;
    }
}

static uint64_t *
s_slot (pol_rules_t *self, pol_dim_t dim, int id)
{
    return self->index + ((size_t) dim * POL_SLOTS_PER_DIM + (size_t) id) * self->words;
}

int
pol_rules_compile (pol_rules_t *self)
{
    free (self->index);
    self->words = (self->count + 63) / 64;
    if (self->words == 0)
        self->words = 1;
    self->index = calloc ((size_t) POL_DIM_COUNT * POL_SLOTS_PER_DIM * self->words,
                          sizeof *self->index);
    if (!self->index)
        return -1;
    for (size_t rule = 0; rule < self->count; rule++)
        for (int dim = 0; dim < POL_DIM_COUNT; dim++) {
            pl_set_t set = pol_rule_dim (&self->rules [rule], (pol_dim_t) dim);
            for (int id = 0; id < POL_SLOTS_PER_DIM; id++)
                if (PL_SET_HAS (set, id))
                    s_slot (self, (pol_dim_t) dim, id) [rule / 64] |= 1ull << (rule % 64);
        }
    return 0;
}

const uint64_t *
pol_rules_slot (const pol_rules_t *self, pol_dim_t dim, int id)
{
    return s_slot ((pol_rules_t *) self, dim, id);
}

static bool
s_subset (pl_set_t inner, pl_set_t outer)
{
    return (inner & ~outer) == 0;
}

//  An optional restriction (0 = none) of earlier is no stricter than later's
static bool
s_restriction_no_stricter (pl_set_t earlier, pl_set_t later)
{
    return earlier == 0 || (later != 0 && s_subset (later, earlier));
}

bool
pol_rule_covers (const pol_rule_t *earlier, const pol_rule_t *later)
{
    for (int dim = 0; dim < POL_DIM_COUNT; dim++)
        if (!s_subset (pol_rule_dim (later, (pol_dim_t) dim),
                       pol_rule_dim (earlier, (pol_dim_t) dim)))
            return false;
    return s_restriction_no_stricter (earlier->only_with, later->only_with)
        && s_restriction_no_stricter (earlier->consent_subjects, later->consent_subjects)
        && s_restriction_no_stricter (earlier->recipient, later->recipient)
        && (earlier->min_risk < 0 || (later->min_risk >= earlier->min_risk))
        && (earlier->max_age_ms == 0
            || (later->max_age_ms != 0 && later->max_age_ms <= earlier->max_age_ms))
        && (!earlier->justification_required || later->justification_required)
        && (!earlier->consent_required || later->consent_required);
}
