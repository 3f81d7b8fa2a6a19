/*  pa_config: the agent's configuration file (ZPL).
 *
 *      agent
 *          key = police-paris.key         the agency's key pair (0600)
 *          broker = tcp://127.0.0.1:7700
 *          broker-key = broker.pub        the broker's public key file
 *          state = state                  private folder (0700)
 *          control = state/agent.sock     CLI socket (default: in state, 0600)
 *          heartbeat = 1s                 ping interval; 3 missed = broker dead
 *          publish-timeout = 10s          how long the CLI waits for the broker
 *          map-size = 268435456           bytes the outbox/inbox store may grow to
 *          broker-origin = broker         the broker's log name (its checkpoints)
 *          http = 127.0.0.1:8640          local HTTP/JSON API (optional; loopback only)
 *          spool                          folders for case systems (optional, pa_spool)
 *              outbox = spool/out         JSON publish requests dropped here are published
 *              inbox = spool/in           each delivery written here as one JSON file
 *      hook                               may repeat (pa_hooks): run a command per delivery
 *          name = duty-sms                [a-z0-9_.-], unique
 *          types = risk_escalation,notice event types, and/or "notice" (default: every type)
 *          notices = consent_withdrawn    notice kinds (implies notices; default: every kind)
 *          min-risk = high                events at or above this risk (default: any)
 *          categories = child_safety      events carrying any of these (default: any)
 *          command = "/usr/local/bin/notify-duty --sms"   absolute path, run by /bin/sh -c
 *          timeout = 10s                  killed (its process group) after this (default 30s)
 *          attempts = 3                   tries, with backoff, before giving up (default 3)
 *          env = SMS_GATEWAY_URL,SMS_TOKEN  agent environment variables passed through
 *
 *  Relative paths are relative to the configuration file's folder.  */
#ifndef PA_CONFIG_H_INCLUDED
#define PA_CONFIG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define PA_HOOKS_MAX  16

typedef struct {                    /* one 'hook' section (see pa_hooks.h) */
    char name [65];
    uint32_t types;                 /* pl_set_t of event types; 0 = every type */
    bool notices;                   /* broker notices match too */
    char notice_kinds [256];        /* comma-separated kinds; "" = every kind */
    int min_risk;                   /* pl_risk_t; -1 = any */
    uint32_t categories;            /* pl_set_t; 0 = any */
    char command [1024];
    uint64_t timeout_ms;
    int attempts;
    char env [512];                 /* comma-separated names passed through */
} pa_hook_config_t;

typedef struct {
    char key_path [4096];
    char broker_endpoint [256];
    char broker_key_path [4096];
    char state_path [4096];
    char control_path [4096];
    uint64_t heartbeat_ms;
    uint64_t publish_timeout_ms;
    size_t map_size;                /* LMDB map of the outbox/inbox store, bytes */
    char broker_origin [96];        /* the broker's log name; default: broker key id */
    char http_host [64];            /* HTTP API address (127.x.x.x or ::1); "" = no API */
    uint16_t http_port;
    char spool_outbox [4096];       /* "" = no outbox folder */
    char spool_inbox [4096];        /* "" = no inbox folder */
    pa_hook_config_t hooks [PA_HOOKS_MAX];
    size_t hook_count;
} pa_config_t;

int pa_config_load (const char *path, pa_config_t *config, char *err, size_t err_size);

/*  Only the control socket path (what the CLI needs), without reading keys.  */
int pa_config_control_path (const char *path, char *out, size_t size, char *err, size_t err_size);

#endif
