/*  pol_sequence: gaps in each publisher's sequence numbers.
 *
 *  Every publisher numbers its events 1, 2, 3... without gaps (accuracy
 *  principle, 7.4: a recipient must be able to tell that something is
 *  missing). The broker feeds each accepted event's (publisher, sequence)
 *  here and logs what comes back. In memory; the broker restores the last
 *  number per publisher from its store at start (pol_sequence_restore).
 */
#ifndef POL_SEQUENCE_H_INCLUDED
#define POL_SEQUENCE_H_INCLUDED

#include <stdint.h>

typedef struct _pol_sequence_t pol_sequence_t;

typedef enum {
    POL_SEQ_NEXT,                   //  the one expected
    POL_SEQ_FIRST,                  //  first number ever seen from this publisher
    POL_SEQ_GAP,                    //  numbers missing before this one
    POL_SEQ_OLD,                    //  at or below the highest seen: replay or late
    POL_SEQ_INVALID                 //  0, or no publisher
} pol_seq_result_t;

pol_sequence_t *pol_sequence_new (void);
void pol_sequence_destroy (pol_sequence_t **self_p);

/*  Feed one number. On POL_SEQ_GAP, *gap_first and *gap_last (if not NULL)
 *  are the missing range. The highest number seen only goes up.  */
pol_seq_result_t pol_sequence_feed (pol_sequence_t *self, const char *publisher,
                                    uint64_t sequence, uint64_t *gap_first, uint64_t *gap_last);

/*  Highest number seen from publisher, 0 if none.  */
uint64_t pol_sequence_last (pol_sequence_t *self, const char *publisher);

/*  Set the highest number seen, from the broker's store. Returns 0 or -1.  */
int pol_sequence_restore (pol_sequence_t *self, const char *publisher, uint64_t last);

const char *pol_seq_result_name (pol_seq_result_t result);

#endif
