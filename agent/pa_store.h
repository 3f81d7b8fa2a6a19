/*  pa_store: the agent's durable store (LMDB): outbox, inbox, sequence
 *  numbers, what became of sent events, and the latest verified checkpoint.
 *
 *  Issue 4 asks that nothing the agency system hands its agent is lost, and
 *  that nothing delivered is lost once receipted, across kill -9 and
 *  restarts. This module is that promise; pa_agent wires it in:
 *
 *    publish (agency system -> broker)
 *      seq = pa_store_last_sequence (store) + 1;  header->sequence = seq;
 *      seal and sign the envelope (pl_envelope_seal)
 *      rc = pa_store_outbox_add (store, event_id, envelope, size, seq, now)
 *          rc 0: durable; only now answer "accepted for sending" (or keep the
 *                caller waiting for the PublishAck), then send it
 *          rc PA_STORE_FULL: refuse the publish ("store full"), nothing kept
 *      after each send: pa_store_outbox_attempted (store, event_id, now + backoff),
 *          or pa_store_outbox_attempted_all for a burst sent together
 *      on a timer / on reconnect: walk pa_store_outbox_next (..., due_by = now)
 *          and send each due item's envelope again: the same signed bytes, the
 *          same event id, so the broker's replay check makes a retry harmless
 *      on the PublishAck: pa_store_outbox_done (store, event_id, reply JSON,
 *          recipients it was delivered to); the CLI reply is that same JSON,
 *          and pa_store_sent_lookup finds it again after a restart
 *      corrections: pa_store_shared_with (store, original id) replaces the
 *          in-memory shared_with table
 *
 *    delivery (broker -> agency system)
 *      if pa_store_inbox_has (store, id): receipt again (a redelivery)
 *      else verify, decrypt, seq = pa_store_inbox_add (...): durable when it
 *          returns; only then send the signed receipt. 0: do not receipt
 *          (the broker keeps it queued and delivers it again later). The
 *          agent keeps a whole burst with pa_store_inbox_add_all instead.
 *      pa_store_inbox_list / _last replace pa_inbox_list / _last (same JSON,
 *          plus "processed"); pa_store_inbox_mark_processed (issue 6)
 *
 *    checkpoints: pa_store_checkpoint_load gives the last verified one; after
 *      verifying a consistency proof from it to a new one, _save the new one.
 *
 *  Durability: every call that changes something is one LMDB write
 *  transaction, committed with LMDB's default flags (fsync at commit) before
 *  it returns 0. A call that fails wrote nothing.
 *
 *  Secrets: decrypted payloads live only in the inbox database, in dir,
 *  which is created (or narrowed to) mode 0700, files 0600. Use a dedicated
 *  folder inside the agent's private state folder (e.g. <state>/store): a
 *  non-empty folder holding no store is refused, so a mistyped path never
 *  sprinkles plaintext in someone's home. Nothing here logs; error messages
 *  name the operation and the LMDB reason, never content. The outbox holds
 *  only sealed envelopes.
 *
 *  Space: when the map nears full, the adds (outbox_add, inbox_add) are
 *  refused with PA_STORE_FULL before LMDB itself is full, so that the calls
 *  that free space (outbox_done) and the small updates (attempted,
 *  mark_processed, checkpoint_save) still have headroom. So the agent refuses
 *  new publishes with a clear error while what the outbox already holds goes
 *  on being sent and removed. A delivery refused for lack of room is simply
 *  not receipted: the broker keeps it.
 *
 *  Threads: a handle is used by one thread at a time (the agent's actor).
 *  One process per store: the agent's state lock (state/agent.lock) already
 *  guarantees that.
 *
 *  LMDB layout (named databases; integers big-endian, so keys sort in order;
 *  event ids are PA_STORE_EVENT_ID_SIZE bytes):
 *    meta          "kind" -> "passerelle-agent-store"; "schema" -> u32;
 *                  "last_sequence", "inbox_last" -> u64;
 *                  "checkpoint" -> size u64, root (32), note text
 *    outbox        sequence -> event id, accepted_at_ms u64, envelope bytes
 *    outbox_state  sequence -> attempts u32, next_attempt_ms u64
 *    outbox_ids    event id -> sequence
 *    sent          event id -> sequence u64, outcome JSON text
 *    shared_with   event id -> "agency,agency,..." (accepted events only)
 *    inbox         local seq -> flags u8 (1: notice), received_at_ms u64,
 *                  event id, header size u32, header bytes, payload bytes
 *    inbox_ids     event id -> local seq
 *    inbox_done    local seq -> processed_at_ms u64
 *  The outbox is keyed by publisher sequence number, which is the order of
 *  acceptance, so one sorted walk gives the sending order.  */
#ifndef PA_STORE_H_INCLUDED
#define PA_STORE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Layout version in meta. A store with a newer one is refused at open.
#define PA_STORE_SCHEMA            1
//  Map size when 0 is given: address space, not disk.
#define PA_STORE_MAP_SIZE_DEFAULT  ((size_t) 1 << 30)
//  Smallest map size accepted (the headroom needs a few dozen pages).
#define PA_STORE_MAP_SIZE_MIN      ((size_t) 256 << 10)
#define PA_STORE_EVENT_ID_SIZE     16      //  PL_EVENT_ID_SIZE
#define PA_STORE_ROOT_SIZE         32      //  PL_MERKLE_HASH_SIZE

//  Return codes beside 0 (done) and -1 (failed; reason in pa_store_error).
#define PA_STORE_NOT_FOUND  1       //  no such item; nothing changed
#define PA_STORE_FULL     (-2)      //  no room: nothing written (see Space)

typedef struct _pa_store_t pa_store_t;

//  --------------------------------------------------------------------------
//  Open and close

//  Open the store in dir, creating dir (0700) and the store when absent.
//  map_size 0: PA_STORE_MAP_SIZE_DEFAULT. NULL on failure with the reason in
//  err ("store DIR: ..."): dir not a directory or not creatable, a non-empty
//  folder that holds no store, a file that is not LMDB, an LMDB environment
//  that is not an agent store, a schema newer than PA_STORE_SCHEMA.
pa_store_t *pa_store_open (const char *dir, size_t map_size, char *err, size_t err_size);

//  Close; nulls *self_p.
void pa_store_destroy (pa_store_t **self_p);

//  The reason of the last failure on this handle ("" when none). Never
//  holds payload or envelope content.
const char *pa_store_error (pa_store_t *self);

//  False when an add of about bytes (envelope or header + payload) would be
//  refused with PA_STORE_FULL now: lets the agent refuse a publish before
//  sealing it (the reason is then in pa_store_error).
bool pa_store_has_room (pa_store_t *self, size_t bytes);

//  --------------------------------------------------------------------------
//  Sequence numbers (replace the state/sequence file)

//  The last sequence number the outbox accepted (0: none yet; 0 also when
//  LMDB fails, and then pa_store_outbox_add refuses 1, so none is reused).
uint64_t pa_store_last_sequence (pa_store_t *self);

//  --------------------------------------------------------------------------
//  Outbox: sealed events accepted from the agency system, until acknowledged
//  (pa_store_outbox.c)

//  Commit a sealed envelope to the outbox, due at once (next_attempt_ms =
//  accepted_at_ms, attempts 0), and record sequence as the last sequence
//  number in the same transaction: a crash can neither reuse nor skip one.
//  sequence must be above pa_store_last_sequence (normally last + 1; a
//  bigger one is accepted, e.g. to continue from an old state/sequence file).
//  0; PA_STORE_FULL; -1 (bad arguments, event id already in the outbox or
//  already sent, LMDB failure).
int pa_store_outbox_add (pa_store_t *self, const uint8_t *event_id, const uint8_t *envelope,
                         size_t size, uint64_t sequence, uint64_t accepted_at_ms);

typedef struct {
    uint8_t event_id [PA_STORE_EVENT_ID_SIZE];
    uint64_t sequence;
    uint64_t accepted_at_ms;
    uint32_t attempts;              //  sends recorded with _attempted
    uint64_t next_attempt_ms;       //  due when <= now
    uint8_t *envelope;              //  malloc'd copy, exactly the bytes added
    size_t size;
} pa_store_pending_t;

//  The first pending item with sequence > after and next_attempt_ms <=
//  due_by_ms (UINT64_MAX: any), in acceptance order, copied into *item (free
//  its envelope with pa_store_pending_clear). 0; PA_STORE_NOT_FOUND (none
//  left); -1. To walk: after = 0, then after = item.sequence.
int pa_store_outbox_next (pa_store_t *self, uint64_t after, uint64_t due_by_ms,
                          pa_store_pending_t *item);

//  The pending item with this event id (for "what happened to X"). 0;
//  PA_STORE_NOT_FOUND (not pending: done, or never added); -1.
int pa_store_outbox_get (pa_store_t *self, const uint8_t *event_id, pa_store_pending_t *item);

//  Free the item's envelope and zero it. Safe on a cleared item.
void pa_store_pending_clear (pa_store_pending_t *item);

//  Record a send: attempts + 1, next try at next_attempt_ms (the caller's
//  backoff). 0; PA_STORE_NOT_FOUND (not pending); -1.
int pa_store_outbox_attempted (pa_store_t *self, const uint8_t *event_id,
                               uint64_t next_attempt_ms);

//  The same for count events sent together, in one transaction (one sync
//  for a burst, not one per event). Events no longer pending are skipped;
//  PA_STORE_NOT_FOUND when none is; on -1 nothing is recorded.
int pa_store_outbox_attempted_all (pa_store_t *self, const uint8_t (*event_ids) [16],
                                   const uint64_t *next_attempt_ms, size_t count);

//  The broker answered (accepted or refused): remove the item and keep the
//  answer, in one transaction. outcome_json is the broker's answer as JSON
//  text (the agent's publish reply: status, reason, decisions, warnings),
//  must parse as JSON, and is what pa_store_sent_lookup returns. shared_with
//  lists the agencies the event was delivered to (accepted events; 0 ids:
//  none recorded); ids must not contain ','. 0; PA_STORE_NOT_FOUND (not
//  pending: e.g. a second PublishAck; nothing changed); -1.
int pa_store_outbox_done (pa_store_t *self, const uint8_t *event_id, const char *outcome_json,
                          const char *const *shared_with, size_t n_shared);

//  Items still pending.
size_t pa_store_outbox_depth (pa_store_t *self);

//  The answer kept by _done, as malloc'd JSON text in *json_p. 0;
//  PA_STORE_NOT_FOUND; -1.
int pa_store_sent_lookup (pa_store_t *self, const uint8_t *event_id, char **json_p);

//  Who received our event (for a correction to reach them all), as malloc'd
//  "a,b,c" in *list_p. 0; PA_STORE_NOT_FOUND (unknown, refused, or shared
//  with no one); -1.
int pa_store_shared_with (pa_store_t *self, const uint8_t *event_id, char **list_p);

//  --------------------------------------------------------------------------
//  Inbox: delivered events and broker notices, each kept once
//  (pa_store_inbox.c)

//  Keep a verified, decrypted event (header: its serialised EventHeader as
//  signed; payload: the plaintext) or, with is_notice, a broker Notice
//  whose signature the caller verified (header: the serialised Notice;
//  payload NULL/0). Durable when it returns its local sequence number (from
//  1, shared by events and notices); 0 on failure, reason in pa_store_error:
//  already in the inbox (check pa_store_inbox_has first), no room, LMDB.
uint64_t pa_store_inbox_add (pa_store_t *self, const uint8_t *event_id,
                             const uint8_t *header, size_t header_size,
                             const uint8_t *payload, size_t payload_size,
                             uint64_t received_at_ms, bool is_notice);

//  One item of a burst for pa_store_inbox_add_all (the same fields as
//  pa_store_inbox_add); seq is set on success.
typedef struct {
    const uint8_t *event_id;
    const uint8_t *header;
    size_t header_size;
    const uint8_t *payload;
    size_t payload_size;
    uint64_t received_at_ms;
    bool is_notice;
    uint64_t seq;
} pa_inbox_item_t;

//  Keep count items in one transaction and one fsync, in order: all of
//  them or none. 0, or -1 with the reason in pa_store_error (one already in
//  the inbox, or twice in items; no room; LMDB). A burst of deliveries costs
//  one commit instead of one each; the caller receipts them only after.
int pa_store_inbox_add_all (pa_store_t *self, pa_inbox_item_t *items, size_t count);

//  True if this event or notice id is in the inbox (false also on an LMDB
//  failure, with the reason in pa_store_error).
bool pa_store_inbox_has (pa_store_t *self, const uint8_t *event_id);

//  Items with local seq > after, at most max, as a JSON array, in the shape
//  pa_inbox_list gives:
//    event:  seq, event_id, type, case, publisher, sequence, created_at_ms,
//            valid_until_ms, received_at_ms, categories [], purpose, basis,
//            consent?, justification?, risk?, supersedes?, to [], to_roles [],
//            payload (text) or payload_base64 (bytes holding a NUL)
//    notice: seq, type "notice", kind, notice_id, at_ms, received_at_ms,
//            case?, consent?, agency?, text?, event_id?
//  each with "processed": true|false (and processed_at_ms when true). A
//  record that no longer parses is skipped. NULL on an LMDB failure.
json_t *pa_store_inbox_list (pa_store_t *self, uint64_t after, size_t max);

//  The last local seq given (0: none).
uint64_t pa_store_inbox_last (pa_store_t *self);

//  The agency system has processed item seq. Marking twice keeps the first
//  time. 0; PA_STORE_NOT_FOUND (no such seq); -1.
int pa_store_inbox_mark_processed (pa_store_t *self, uint64_t seq, uint64_t processed_at_ms);

//  --------------------------------------------------------------------------
//  Checkpoint: the latest broker checkpoint this agent verified

//  Keep (note: the checkpoint text as signed; size and root of its tree).
//  Refuses (-1) a size below the kept one, or the same size with another
//  root: the caller verifies consistency before saving, so either means a
//  bug or a forked log. 0; PA_STORE_FULL; -1.
int pa_store_checkpoint_save (pa_store_t *self, const char *note, uint64_t size,
                              const uint8_t *root);

//  The kept checkpoint: *note malloc'd (NULL allowed to skip it), root
//  PA_STORE_ROOT_SIZE bytes (NULL allowed). 0; PA_STORE_NOT_FOUND (none
//  yet); -1.
int pa_store_checkpoint_load (pa_store_t *self, char **note, uint64_t *size, uint8_t *root);

#endif
