/*  pol_rules: a policy's rules and settings as plain data, and the compiled
 *  index the engine decides with.
 *
 *  The loader (pol_loader) fills a pol_rules_t from a file; compiling builds,
 *  for every vocabulary id, the bit set of the rules that name it (one bit
 *  per rule, in file order). Narrowing the rules to those that fit a request
 *  is then a handful of AND/OR over machine words, whatever the rule count,
 *  and "first rule in file order" is "lowest set bit".
 */
#ifndef POL_RULES_H_INCLUDED
#define POL_RULES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pl_vocab.h"

//  Who a rule may reach, beyond holding a role it lists (any one suffices)
#define POL_RECIPIENT_IN_CASE   1u
#define POL_RECIPIENT_ADDRESSED 2u

typedef struct {
    char *id;
    int line;                       //  where the rule starts in its file
    pl_set_t from, to, types, categories, purposes, bases;
    pl_set_t only_with;             //  0, or the event must also carry one of these
    pl_set_t consent_subjects;      //  0, or whose consent counts
    unsigned recipient;             //  POL_RECIPIENT_* bits, 0: any recipient
    int min_risk;                   //  -1: none
    uint64_t max_age_ms;            //  0: none
    bool justification_required;    //  even under consent
    bool consent_required;          //  even under another basis
} pol_rule_t;

typedef struct {
    uint64_t clock_skew_ms;
    uint64_t escalation_deadline_ms;
    pl_set_t escalation_fallback;   //  roles told when an escalation is late
    uint64_t max_age_ms [PL_EV_COUNT];      //  0: none
    uint64_t retention_ms [PL_CAT_COUNT];   //  0: none
} pol_settings_t;

//  Index slots: one bit set of rules per (dimension, id)
typedef enum {
    POL_DIM_TO, POL_DIM_TYPE, POL_DIM_PURPOSE, POL_DIM_CATEGORY, POL_DIM_FROM,
    POL_DIM_BASIS, POL_DIM_COUNT
} pol_dim_t;
#define POL_SLOTS_PER_DIM 32

typedef struct {
    char *name;                     //  file name, for messages
    char *version;
    pol_settings_t settings;
    pol_rule_t *rules;
    size_t count, capacity;
    size_t words;                   //  uint64 words per rule bit set
    uint64_t *index;                //  [POL_DIM_COUNT][32][words], after compile
} pol_rules_t;

pol_rules_t *pol_rules_new (const char *name);
void pol_rules_destroy (pol_rules_t **self_p);

/*  Append a copy of rule (its id is duplicated). Returns 0 or -1 (memory).  */
int pol_rules_add (pol_rules_t *self, const pol_rule_t *rule);

/*  Build the index. Returns 0 or -1 (memory).  */
int pol_rules_compile (pol_rules_t *self);

/*  Rule bit set of one vocabulary id in one dimension (after compile).  */
const uint64_t *pol_rules_slot (const pol_rules_t *self, pol_dim_t dim, int id);

/*  True when earlier allows everything later allows, under conditions no
 *  stricter, so that later can never be the rule that decides.  */
bool pol_rule_covers (const pol_rule_t *earlier, const pol_rule_t *later);

/*  The rule's value for one dimension.  */
pl_set_t pol_rule_dim (const pol_rule_t *rule, pol_dim_t dim);

#endif
