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
 *
 *  Relative paths are relative to the configuration file's folder.  */
#ifndef PA_CONFIG_H_INCLUDED
#define PA_CONFIG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

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
} pa_config_t;

int pa_config_load (const char *path, pa_config_t *config, char *err, size_t err_size);

/*  Only the control socket path (what the CLI needs), without reading keys.  */
int pa_config_control_path (const char *path, char *out, size_t size, char *err, size_t err_size);

#endif
