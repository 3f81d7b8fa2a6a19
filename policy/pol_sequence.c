/*  pol_sequence: per-publisher highest sequence number (see pol_sequence.h).  */
#include <czmq.h>
#include "pol_sequence.h"

struct _pol_sequence_t {
    zhashx_t *last;                 //  publisher -> uint64_t *
};

static void
s_free_slot (void **item)
{
    free (*item);
    *item = NULL;
}

pol_sequence_t *
pol_sequence_new (void)
{
    pol_sequence_t *self = calloc (1, sizeof *self);
    if (self && !(self->last = zhashx_new ())) {
        free (self);
        return NULL;
    }
    if (self)
        zhashx_set_destructor (self->last, s_free_slot);
    return self;
}

void
pol_sequence_destroy (pol_sequence_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->last);
    free (*self_p);
    *self_p = NULL;
}

static uint64_t *
s_slot (pol_sequence_t *self, const char *publisher)
{
    uint64_t *slot = zhashx_lookup (self->last, publisher);
    if (!slot && (slot = calloc (1, sizeof *slot)) && zhashx_insert (self->last, publisher, slot)) {
        free (slot);
        slot = NULL;
    }
    return slot;
}

pol_seq_result_t
pol_sequence_feed (pol_sequence_t *self, const char *publisher, uint64_t sequence,
                   uint64_t *gap_first, uint64_t *gap_last)
{
    if (!publisher || !*publisher || sequence == 0)
        return POL_SEQ_INVALID;
    uint64_t *last = s_slot (self, publisher);
    if (!last)
        return POL_SEQ_INVALID;
    if (*last == 0) {
        //  Without history we cannot say what came before: not a gap
        *last = sequence;
        return POL_SEQ_FIRST;
    }
    if (sequence <= *last)
        return POL_SEQ_OLD;
    pol_seq_result_t result = sequence == *last + 1? POL_SEQ_NEXT: POL_SEQ_GAP;
    if (result == POL_SEQ_GAP) {
        if (gap_first)
            *gap_first = *last + 1;
        if (gap_last)
            *gap_last = sequence - 1;
    }
    *last = sequence;
    return result;
}

uint64_t
pol_sequence_last (pol_sequence_t *self, const char *publisher)
{
    uint64_t *last = publisher? zhashx_lookup (self->last, publisher): NULL;
    return last? *last: 0;
}

int
pol_sequence_restore (pol_sequence_t *self, const char *publisher, uint64_t last)
{
    uint64_t *slot = publisher && *publisher? s_slot (self, publisher): NULL;
    if (!slot)
        return -1;
    *slot = last;
    return 0;
}

const char *
pol_seq_result_name (pol_seq_result_t result)
{
    static const char *names [] = { "next", "first", "gap", "old", "invalid" };
    return (unsigned) result < sizeof names / sizeof names [0]? names [result]: "unknown";
}
