/*  pa_config: agent.cfg (see pa_config.h).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <arpa/inet.h>
#include "pa_config.h"
#include "pl_zpl.h"
#include "pl_vocab.h"

static void
s_resolve (const char *config_path, const char *value, char *out, size_t size)
{
    if (value [0] == '/') {
        snprintf (out, size, "%s", value);
        return;
    }
    char copy [4096];
    snprintf (copy, sizeof copy, "%s", config_path);
    snprintf (out, size, "%s/%s", dirname (copy), value);
}

//  http = HOST:PORT, loopback only: the API's bearer token guards it, but a
//  case system on another machine must go through a reviewed TLS proxy, not
//  reach the agent directly. "[::1]:PORT" for IPv6.
static int
s_parse_http (const char *value, char *host, size_t host_size, uint16_t *port)
{
    const char *colon = strrchr (value, ':');
    if (!colon || colon == value)
        return -1;
    size_t length = (size_t) (colon - value);
    char address [64];
    if (value [0] == '[' && length > 2 && value [length - 1] == ']' && length - 2 < sizeof address)
        snprintf (address, sizeof address, "%.*s", (int) length - 2, value + 1);
    else
    if (value [0] != '[' && length < sizeof address)
        snprintf (address, sizeof address, "%.*s", (int) length, value);
    else
        return -1;
    if (strcmp (address, "localhost") == 0)
        snprintf (address, sizeof address, "127.0.0.1");
    unsigned char bytes [16];
    if (inet_pton (AF_INET, address, bytes) == 1) {
        if (bytes [0] != 127)
            return -1;
    }
    else
    if (inet_pton (AF_INET6, address, bytes) != 1
    ||  memcmp (bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) != 0)
        return -1;
    char *end;
    unsigned long number = strtoul (colon + 1, &end, 10);
    if (colon [1] < '0' || colon [1] > '9' || *end || number < 1 || number > 65535)
        return -1;
    snprintf (host, host_size, "%s", address);
    *port = (uint16_t) number;
    return 0;
}

int
pa_config_load (const char *path, pa_config_t *config, char *err, size_t err_size)
{
    memset (config, 0, sizeof *config);
    config->heartbeat_ms = 1000;
    config->publish_timeout_ms = 10000;
    config->map_size = (size_t) 256 << 20;
    pl_zpl_t *zpl = pl_zpl_load (path, err, err_size);
    if (!zpl)
        return -1;
    int rc = -1;
    zconfig_t *root = pl_zpl_root (zpl);
    zconfig_t *agent = zconfig_locate (root, "agent");
    static const char *top [] = { "agent", NULL };
    static const char *allowed [] = { "key", "broker", "broker-key", "state", "control",
                                      "heartbeat", "publish-timeout", "map-size",
                                      "broker-origin", "http", NULL };
    if (pl_zpl_check_names (zpl, root, top, err, err_size) != 0)
        goto done;
    if (!agent) {
        pl_zpl_error (zpl, NULL, err, err_size, "expected an 'agent' section");
        goto done;
    }
    if (pl_zpl_check_names (zpl, agent, allowed, err, err_size) != 0)
        goto done;
    static const char *required [] = { "key", "broker", "broker-key", "state" };
    for (size_t i = 0; i < sizeof required / sizeof required [0]; i++) {
        zconfig_t *node = zconfig_locate (agent, required [i]);
        if (!node || !*zconfig_value (node)) {
            pl_zpl_error (zpl, node? node: agent, err, err_size, "agent: '%s = ...' is required",
                          required [i]);
            goto done;
        }
    }
    s_resolve (path, zconfig_get (agent, "key", ""), config->key_path, sizeof config->key_path);
    s_resolve (path, zconfig_get (agent, "broker-key", ""), config->broker_key_path,
               sizeof config->broker_key_path);
    s_resolve (path, zconfig_get (agent, "state", ""), config->state_path,
               sizeof config->state_path);
    if (*zconfig_get (agent, "control", ""))
        s_resolve (path, zconfig_get (agent, "control", ""), config->control_path,
                   sizeof config->control_path);
    else
        snprintf (config->control_path, sizeof config->control_path, "%.4000s/agent.sock",
                  config->state_path);
    if (strlen (config->control_path) > 100) {
        //  sun_path is 108 bytes: say so rather than fail obscurely at bind
        pl_zpl_error (zpl, zconfig_locate (agent, "control"), err, err_size,
                      "control socket path '%s' is longer than 100 bytes (a unix socket "
                      "limit): set 'control' to a shorter path", config->control_path);
        goto done;
    }
    zconfig_t *node = zconfig_locate (agent, "broker");
    if (strncmp (zconfig_value (node), "tcp://", 6) != 0
    ||  strlen (zconfig_value (node)) >= sizeof config->broker_endpoint) {
        pl_zpl_error (zpl, node, err, err_size, "broker: expected tcp://ADDRESS:PORT");
        goto done;
    }
    snprintf (config->broker_endpoint, sizeof config->broker_endpoint, "%s", zconfig_value (node));
    static const char *durations [] = { "heartbeat", "publish-timeout" };
    uint64_t *fields [] = { &config->heartbeat_ms, &config->publish_timeout_ms };
    for (int i = 0; i < 2; i++)
        if ((node = zconfig_locate (agent, durations [i]))
        &&  (pl_parse_duration (zconfig_value (node), fields [i]) != 0 || *fields [i] < 100)) {
            pl_zpl_error (zpl, node, err, err_size, "%s: expected a duration of at least "
                          "100ms, such as 1s or 500ms", durations [i]);
            goto done;
        }
    if ((node = zconfig_locate (agent, "map-size"))) {
        char *end;
        unsigned long long value = strtoull (zconfig_value (node), &end, 10);
        if (*end || value < 262144) {
            pl_zpl_error (zpl, node, err, err_size, "map-size: expected bytes, at least 262144");
            goto done;
        }
        config->map_size = (size_t) value;
    }
    if ((node = zconfig_locate (agent, "broker-origin"))) {
        const char *value = zconfig_value (node);
        if (!*value || strlen (value) >= sizeof config->broker_origin || strpbrk (value, " \t+")) {
            pl_zpl_error (zpl, node, err, err_size, "broker-origin: expected the broker's log "
                          "name (its 'origin' setting), without spaces or '+'");
            goto done;
        }
        snprintf (config->broker_origin, sizeof config->broker_origin, "%s", value);
    }
    if ((node = zconfig_locate (agent, "http"))
    &&  s_parse_http (zconfig_value (node), config->http_host, sizeof config->http_host,
                      &config->http_port) != 0) {
        pl_zpl_error (zpl, node, err, err_size, "http: expected a loopback HOST:PORT such as "
                      "127.0.0.1:8640 or [::1]:8640 (the API is never exposed beyond this host)");
        goto done;
    }
    rc = 0;
done:
    pl_zpl_destroy (&zpl);
    return rc;
}

int
pa_config_control_path (const char *path, char *out, size_t size, char *err, size_t err_size)
{
    pa_config_t config;
    if (pa_config_load (path, &config, err, err_size) != 0)
        return -1;
    snprintf (out, size, "%s", config.control_path);
    return 0;
}
