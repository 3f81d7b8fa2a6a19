/*  pb_server: the broker actor: start and stop, timers, reload.
 *
 *  The ROUTER side (groups of messages, batches, commits, sending within
 *  each peer's credit) is pb_server_batch.c. Here: the store, keys,
 *  directory and policy are opened, the gate binds once ZAP answers, and
 *  timers keep the log's housekeeping: signed checkpoints, expiry and
 *  retention, escalations past their deadline, sequence gaps, and the
 *  broker's memory. SIGHUP (through the pipe) reloads directory and policy.  */
#include <sys/stat.h>
#include <errno.h>
#include "pb_server.h"
#include "pb_server_int.h"
#include "pb_broker.h"
#include "pb_checkpoints.h"
#include "pb_gate.h"
#include "pb_journal.h"
#include "pb_intake.h"
#include "pb_pipeline.h"
#include "pb_verifier.h"
#include "pl_checkpoint.h"
#include "pl_envelope.h"
#include "pl_daemon.h"
#include "pl_log.h"
#include "pl_merkle.h"
#include "pl_wire.h"

//  --------------------------------------------------------------------------
//  The log's housekeeping: notes, checkpoints, expiry

//  A note in the sharing log, in a batch of its own.
static void
s_log_note (server_t *self, const char *kind, const char *detail)
{
    if (pb_server_begin (self) != 0)
        return;
    pb_entry_t entry = pb_journal_note (kind, NULL, NULL, pl_keys_id (self->broker.keys), detail,
                                        pl_now_ms ());
    pb_broker_log (&self->broker, &entry, NULL);
    free (entry.bytes);
    pb_server_commit (self);
}

//  Sign and keep a checkpoint when the log grew, and show it to every agent
//  with a consistency proof from what each last saw.
static void
s_checkpoint (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    if (!pb_checkpoints_make (broker))
        return;
    uint8_t proof [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    for (pb_client_t *c = zhashx_first (broker->clients); c; c = zhashx_next (broker->clients)) {
        Passerelle__Checkpoint message;
        pb_checkpoints_fill (broker, &message, c->checkpoint_size, proof);
        Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
        msg.body_case = PASSERELLE__MESSAGE__BODY_CHECKPOINT;
        msg.checkpoint = &message;
        pb_server_send (self, c->routing_id, &msg);
        c->checkpoint_size = broker->checkpoint_size;
    }
}

//  An agency asks for proof that its event is in the log.
void
pb_server_handle_proof_request (server_t *self, zframe_t *routing_id, const pl_agency_t *peer,
                                Passerelle__ProofRequest *request)
{
    char *key = zframe_strhex (routing_id);
    pb_client_t *client = zhashx_lookup (self->broker.clients, key);
    free (key);
    uint8_t inclusion [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    uint8_t consistency [PL_MERKLE_PROOF_MAX * PL_MERKLE_HASH_SIZE];
    uint8_t *entry = NULL;
    Passerelle__Proof proof;
    Passerelle__Checkpoint checkpoint;
    pb_checkpoints_prove (&self->broker, peer, request, &proof, inclusion, &entry);
    pb_checkpoints_fill (&self->broker, &checkpoint, client? client->checkpoint_size: 0, consistency);
    proof.checkpoint = self->broker.checkpoint_note? &checkpoint: NULL;
    Passerelle__Message msg = PASSERELLE__MESSAGE__INIT;
    msg.body_case = PASSERELLE__MESSAGE__BODY_PROOF;
    msg.proof = &proof;
    pb_server_send (self, routing_id, &msg);
    if (client && proof.checkpoint)
        client->checkpoint_size = self->broker.checkpoint_size;
    free (entry);
    log_info ("proof for log entry %llu to %s: %s", (unsigned long long) request->log_index,
              peer->id, proof.status == PASSERELLE__STATUS__STATUS_OK? "sent": proof.reason);
}

static int
s_note_due (const pb_queue_item_t *item, void *arg)
{
    (void) item;
    *(bool *) arg = true;
    return 1;
}

static int
s_handle_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    server_t *self = arg;
    pb_broker_t *broker = &self->broker;
    uint64_t now = pl_now_ms ();
    for (pb_client_t *c = zhashx_first (broker->clients); c; c = zhashx_next (broker->clients))
        if (now - c->last_seen_ms > CLIENT_TIMEOUT_MS) {
            pb_server_forget_client (self, c, "silent");
            break;          //  the hash changed under us; next tick does the rest
        }
    //  Escalations past the policy's deadline
    uint64_t deadline = pol_policy_escalation_deadline_ms (pb_sharing_policy (broker->sharing));
    pb_overdue_t late [32];
    size_t overdue = deadline && now > deadline?
        pb_escalation_overdue (broker->escalations, now - deadline, late, 32): 0;
    if (overdue && pb_server_begin (self) == 0) {
        for (size_t i = 0; i < overdue; i++) {
            uint8_t hash [PL_HASH_SIZE];
            //  Still owed? (a phantom from an aborted batch is not)
            if (pb_store_queue_find (broker->store, late [i].recipient, late [i].event_id,
                                     PL_EVENT_ID_SIZE, hash) == 0)
                pb_pipeline_late_escalation (broker, &late [i], deadline);
        }
        pb_server_commit (self);
    }
    //  Gaps in publishers' numbers that late arrivals did not fill
    pb_gap_t gaps [16];
    size_t open_gaps = now > broker->config->gap_grace_ms?
        pb_sharing_overdue_gaps (broker->sharing, now - broker->config->gap_grace_ms, gaps, 16): 0;
    if (open_gaps && pb_server_begin (self) == 0) {
        for (size_t i = 0; i < open_gaps; i++)
            pb_pipeline_report_gap (broker, &gaps [i]);
        pb_server_commit (self);
    }
    //  Expiry and retention; a write batch only when something is due
    bool due = false;
    pb_store_queue_due (broker->store, now, 1, s_note_due, &due);
    if (due && pb_server_begin (self) == 0) {
        pb_pipeline_expire (broker, now);
        pb_server_commit (self);
    }
    pl_log_flush ();
    return 0;
}

static int
s_handle_checkpoint_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_checkpoint ((server_t *) arg);
    pl_log_flush ();
    return 0;
}

//  Journaled batches go into LMDB at least this often, so that a reader in
//  another process (passerelle-audit) is never far behind, even when idle
static int
s_handle_flush_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    server_t *self = arg;
    if (pb_store_flush_if_due (self->broker.store))
        log_warn ("store: %s", pb_store_error (self->broker.store));
    pl_log_flush ();        //  lines a quiet broker's other threads logged
    return 0;
}

//  --------------------------------------------------------------------------
//  Reload

//  Close every connection and listen again: each agent reconnects and is
//  authenticated against the current directory, so a revoked key is out
//  at once rather than at its next reconnect.
static int
s_rebind_router (server_t *self)
{
    zloop_reader_end (self->loop, self->router);
    zsock_destroy (&self->router);
    zhashx_purge (self->broker.clients);
    self->router = pb_gate_bind (self->gate, self->cert, self->broker.config->endpoint);
    if (!self->router)
        return -1;
    zloop_reader (self->loop, self->router, pb_server_handle_router, self);
    return 0;
}

static void
s_reload (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    char err [1024], detail [1200];
    if (pb_sharing_reload_policy (broker->sharing, broker->config->policy_path, err, sizeof err) != 0)
        log_warn ("policy reload failed, keeping policy %s: %s",
                  pol_policy_version (pb_sharing_policy (broker->sharing)), err);
    else {
        snprintf (detail, sizeof detail, "policy %s: %zu rules",
                  pol_policy_version (pb_sharing_policy (broker->sharing)),
                  pol_policy_rule_count (pb_sharing_policy (broker->sharing)));
        log_info ("%s loaded", detail);
        s_log_note (self, "policy_load", detail);
    }
    pl_directory_t *fresh = pl_directory_load (broker->config->directory_path, err, sizeof err);
    if (!fresh) {
        log_warn ("directory reload failed, keeping the current directory: %s", err);
        zstr_sendx (self->pipe, "ERROR", err, NULL);
        return;
    }
    char revoked [1024];
    size_t removed = pl_directory_revoked (broker->directory, fresh, revoked, sizeof revoked);
    pl_directory_destroy (&broker->directory);
    broker->directory = fresh;
    if (pb_gate_admit (self->gate, fresh) != 0) {
        zstr_sendx (self->pipe, "ERROR", "cannot write ZAP keys", NULL);
        return;
    }
    snprintf (detail, sizeof detail, "directory: %zu agencies, %zu revoked%s%s",
              pl_directory_size (fresh), removed, removed? ": ": "", removed? revoked: "");
    log_info ("%s reloaded", detail);
    s_log_note (self, "directory_load", detail);
    if (removed) {
        char *list = strdup (revoked), *save = NULL;
        if (pb_server_begin (self) == 0) {
            for (char *id = strtok_r (list, ",", &save); id; id = strtok_r (NULL, ",", &save)) {
                uint64_t dropped = 0;
                pb_batch_queue_drop (broker->batch, id, &dropped);
                if (dropped)
                    log_warn ("agency %s revoked: %llu undelivered items will not be delivered",
                              id, (unsigned long long) dropped);
            }
            pb_server_commit (self);
        }
        free (list);
        if (s_rebind_router (self) != 0) {
            zstr_sendx (self->pipe, "ERROR", "cannot listen again after reload", NULL);
            return;
        }
    }
    else
        for (pb_client_t *c = zhashx_first (broker->clients); c; c = zhashx_next (broker->clients))
            pb_server_send_welcome (self, c->routing_id, c->checkpoint_size);
    zstr_sendx (self->pipe, "OK", NULL);
}

static int
s_handle_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void) loop;
    server_t *self = arg;
    char *command = zstr_recv (pipe);
    int rc = 0;
    if (!command || streq (command, "$TERM"))
        rc = -1;
    else
    if (streq (command, "RELOAD"))
        s_reload (self);
    else
    if (streq (command, "STATS"))
        zstr_sendf (pipe, "accepted=%llu refused=%llu receipts=%llu queued=%llu connected=%zu",
                    (unsigned long long) self->broker.counts.accepted,
                    (unsigned long long) self->broker.counts.refused,
                    (unsigned long long) self->broker.counts.receipts,
                    (unsigned long long) pb_store_queue_total (self->broker.store),
                    zhashx_size (self->broker.clients));
    else
        log_warn ("unknown actor command %s", command);
    zstr_free (&command);
    pl_log_flush ();
    return rc;
}

//  --------------------------------------------------------------------------

static void
s_server_destroy (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    if (broker->batch)
        pb_batch_abort (&broker->batch);
    pb_verifier_destroy (&self->verifier);
    for (int i = 0; i < 2; i++)
        free (self->groups [i]);
    zsock_destroy (&self->router);
    pb_gate_destroy (&self->gate);
    zhashx_destroy (&broker->clients);
    zlistx_destroy (&broker->deferred);
    pb_sharing_destroy (&broker->sharing);
    pb_escalation_destroy (&broker->escalations);
    pb_store_destroy (&broker->store);
    zcert_destroy (&self->cert);
    pl_keys_destroy (&broker->keys);
    pl_directory_destroy (&broker->directory);
    zloop_destroy (&self->loop);
    free (broker->checkpoint_note);
}

static int
s_server_start (server_t *self)
{
    pb_broker_t *broker = &self->broker;
    pb_config_t *config = broker->config;
    char err [1024], path [4200];
    if (mkdir (config->state_path, 0700) != 0 && errno != EEXIST) {
        log_warn ("cannot create state folder %s: %s", config->state_path, strerror (errno));
        return -1;
    }
    chmod (config->state_path, 0700);
    snprintf (path, sizeof path, "%s/store", config->state_path);
    if (!(broker->keys = pl_keys_load (config->key_path, err, sizeof err))
    ||  !(broker->directory = pl_directory_load (config->directory_path, err, sizeof err))
    ||  !(broker->store = pb_store_open (path, config->map_size, false, err, sizeof err))) {
        log_warn ("%s", err);
        return -1;
    }
    if (pb_store_use_journal (broker->store, (int64_t) config->store_flush_ms)) {
        log_warn ("%s", pb_store_error (broker->store));
        return -1;
    }
    if (!(broker->sharing = pb_sharing_new (config->policy_path, broker->store, err, sizeof err))) {
        log_warn ("cannot load the policy: %s", err);
        return -1;
    }
    snprintf (broker->origin, sizeof broker->origin, "%s", *config->origin? config->origin:
              pl_keys_id (broker->keys));
    if (pb_checkpoints_restore (broker) != 0)
        log_warn ("cannot read the last checkpoint: %s", pb_store_error (broker->store));
    self->cert = zcert_new_from (pl_keys_curve_public (broker->keys),
                                 pl_keys_curve_secret (broker->keys));
    if (!(broker->escalations = pb_escalation_new ()))
        return -1;
    size_t tracked = pb_escalation_rebuild (broker->escalations, broker->store, broker->directory);
    if (tracked)
        log_info ("%zu undelivered escalations still tracked against their deadline", tracked);
    broker->clients = zhashx_new ();
    broker->deferred = zlistx_new ();
    self->loop = zloop_new ();
    self->verifier = pb_verifier_new (config->verify_threads < 0? pb_verifier_default_threads ():
                                      (size_t) config->verify_threads);
    self->groups [0] = calloc (1, sizeof (group_t));
    self->groups [1] = calloc (1, sizeof (group_t));
    if (!self->cert || !broker->clients || !broker->deferred || !self->loop || !self->verifier
    ||  !self->groups [0] || !self->groups [1])
        return -1;
    zhashx_set_destructor (broker->clients, pb_server_client_destroy);
    zlistx_set_destructor (broker->deferred, pb_server_deferred_destroy);
    //  ZAP must be answering before the first socket binds
    if (!(self->gate = pb_gate_new (config->state_path)) || pb_gate_admit (self->gate, broker->directory)
    ||  !(self->router = pb_gate_bind (self->gate, self->cert, config->endpoint)))
        return -1;
    zloop_reader (self->loop, self->pipe, s_handle_pipe, self);
    zloop_reader (self->loop, self->router, pb_server_handle_router, self);
    zloop_timer (self->loop, 1000, 0, s_handle_tick, self);
    zloop_timer (self->loop, (size_t) config->checkpoint_interval_ms, 0, s_handle_checkpoint_timer, self);
    if (config->store_flush_ms)
        zloop_timer (self->loop, (size_t) config->store_flush_ms, 0, s_handle_flush_timer, self);
    char detail [512], z85 [41];
    snprintf (detail, sizeof detail, "started: policy %s (%zu rules), %zu agencies in the directory",
              pol_policy_version (pb_sharing_policy (broker->sharing)),
              pol_policy_rule_count (pb_sharing_policy (broker->sharing)),
              pl_directory_size (broker->directory));
    s_log_note (self, "policy_load", detail);
    pl_curve_to_z85 (pl_keys_curve_public (broker->keys), z85);
    log_info ("listening on %s as %s (CURVE key %s); %s; log %s at %llu entries, %llu deliveries "
              "queued; %zu signature checker threads", config->endpoint, pl_keys_id (broker->keys),
              z85, detail, broker->origin, (unsigned long long) pb_store_log_size (broker->store),
              (unsigned long long) pb_store_queue_total (broker->store),
              pb_verifier_threads (self->verifier));
    return 0;
}

void
pb_server_actor (zsock_t *pipe, void *config)
{
    server_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.broker.config = config;
    zsock_signal (pipe, 0);
    if (s_server_start (&self) != 0) {
        s_server_destroy (&self);
        pl_daemon_refuse (pipe);
        return;
    }
    zstr_send (pipe, "READY");
    pl_log_flush ();
    zloop_start (self.loop);
    //  A last checkpoint, so what happened up to the stop is signed
    s_checkpoint (&self);
    log_info ("stopping: %llu accepted, %llu refused, %llu deliveries still queued, log at %llu",
              (unsigned long long) self.broker.counts.accepted,
              (unsigned long long) self.broker.counts.refused,
              (unsigned long long) pb_store_queue_total (self.broker.store),
              (unsigned long long) pb_store_log_size (self.broker.store));
    s_server_destroy (&self);
    pl_log_flush ();
}
