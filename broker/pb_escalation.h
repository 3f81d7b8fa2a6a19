/*  pb_escalation: risk escalations the broker has not yet seen receipted.
 *
 *  An escalation (a risk_escalation event, or any event of risk high and
 *  above) travels in the priority lane of each recipient's queue. The policy
 *  sets a delivery deadline; this tracker remembers, per (recipient, event),
 *  when it was queued, so the server's tick can find the overdue ones, log a
 *  late_escalation entry and tell the publisher and the policy's fallback
 *  roles. A receipt ends the tracking (and is logged as late if it was).
 *  In memory, rebuilt from the priority lanes of the durable queues at start.  */
#ifndef PB_ESCALATION_H_INCLUDED
#define PB_ESCALATION_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

typedef struct _pb_escalation_t pb_escalation_t;

typedef struct {
    char recipient [65];
    char publisher [65];
    char case_ref [129];
    uint8_t event_id [16];
    uint64_t queued_ms;
    bool reported_late;
} pb_overdue_t;

pb_escalation_t *pb_escalation_new (void);
void pb_escalation_destroy (pb_escalation_t **self_p);

void pb_escalation_track (pb_escalation_t *self, const char *recipient, const char *publisher,
                          const char *case_ref, const uint8_t *event_id, uint64_t queued_ms);

/*  The receipt came (or the item left the queue): stop tracking. Returns
 *  true, with *entry filled, when it had been reported late.  */
bool pb_escalation_done (pb_escalation_t *self, const char *recipient, const uint8_t *event_id,
                         pb_overdue_t *entry);

/*  Up to max tracked items queued before cutoff_ms and not reported yet;
 *  each is marked reported. Returns how many were written to out.  */
size_t pb_escalation_overdue (pb_escalation_t *self, uint64_t cutoff_ms, pb_overdue_t *out,
                              size_t max);

size_t pb_escalation_size (pb_escalation_t *self);

/*  Track again what the priority lanes of every agency's durable queue
 *  hold (after a restart). Returns how many.  */
struct _pb_store_t;
struct _pl_directory_t;
size_t pb_escalation_rebuild (pb_escalation_t *self, struct _pb_store_t *store,
                              struct _pl_directory_t *directory);

#endif
