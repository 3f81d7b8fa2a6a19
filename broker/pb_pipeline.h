/*  pb_pipeline: what the broker does with a publish, a receipt, and time.
 *
 *  Each function works inside the batch the server has open (pb_broker_t),
 *  writes the store and the sharing log there, and defers every reply and
 *  delivery until that batch commits:
 *
 *  publish  (checked by pb_intake: decode and bound-check, the CURVE peer
 *           is the publisher, signature and payload hash) -> valid-until and clock skew ->
 *           replay (event id) -> store has room -> a decision per candidate
 *           recipient -> admit (event id, routing) -> consent registry ->
 *           log entry with every decision -> queue for each allowed
 *           recipient -> acknowledge (after commit) -> deliver (after commit)
 *  receipt  the recipient's signature over what it received -> log it ->
 *           remove the queue item
 *  expire   purge queue items past valid-until or retention, log each and
 *           tell the publisher with a notice
 *  late     an escalation past the policy's delivery deadline: log it, tell
 *           the publisher and the fallback roles  */
#ifndef PB_PIPELINE_H_INCLUDED
#define PB_PIPELINE_H_INCLUDED

#include "pb_broker.h"
#include "pb_intake.h"

/*  in: a publish or a receipt read and checked by pb_intake (the
 *  signatures were verified on the verifier pool; the batch acts on it).  */
void pb_pipeline_publish (pb_broker_t *self, pb_inbound_t *in);

void pb_pipeline_receipt (pb_broker_t *self, pb_inbound_t *in);

/*  An escalation missed its delivery deadline: log it, and tell the
 *  publisher and the policy's fallback roles in the publisher's network.  */
void pb_pipeline_late_escalation (pb_broker_t *self, const pb_overdue_t *late,
                                  uint64_t deadline_ms);

/*  A gap in a publisher's numbers stayed open past the grace period: log
 *  it and tell the publisher.  */
void pb_pipeline_report_gap (pb_broker_t *self, const pb_gap_t *gap);

/*  Purge what is due at now_ms; returns how many items were purged.  */
uint64_t pb_pipeline_expire (pb_broker_t *self, uint64_t now_ms);

#endif
