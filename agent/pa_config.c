/*  pa_config: agent.cfg (see pa_config.h).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "pa_config.h"
#include "pl_zpl.h"
#include "pl_vocab.h"
#include "pl_keys.h"

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

//  A 'hook' section (pa_hooks runs them). The command is run by /bin/sh -c
//  with a clean environment, so its program must be an absolute path; event
//  fields reach it only through stdin and PASSERELLE_* variables, never
//  through the command line, so no event can inject shell syntax.
static int
s_load_hook (pl_zpl_t *zpl, zconfig_t *section, pa_config_t *config, char *err, size_t err_size)
{
    static const char *allowed [] = { "name", "types", "notices", "min-risk", "categories",
                                      "command", "timeout", "attempts", "env", NULL };
    if (pl_zpl_check_names (zpl, section, allowed, err, err_size) != 0)
        return -1;
    if (config->hook_count == PA_HOOKS_MAX) {
        pl_zpl_error (zpl, section, err, err_size, "hook: at most %d hooks", PA_HOOKS_MAX);
        return -1;
    }
    pa_hook_config_t *hook = &config->hooks [config->hook_count];
    memset (hook, 0, sizeof *hook);
    hook->min_risk = -1;
    hook->timeout_ms = 30000;
    hook->attempts = 3;
    zconfig_t *node = zconfig_locate (section, "name");
    const char *value = node? zconfig_value (node): "";
    if (!pl_id_is_valid (value)) {
        pl_zpl_error (zpl, node? node: section, err, err_size, "hook: 'name = ...' is required: "
                      "lower-case letters, digits, _ . - (at most %d)", PL_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < config->hook_count; i++)
        if (strcmp (config->hooks [i].name, value) == 0) {
            pl_zpl_error (zpl, node, err, err_size, "hook: name '%s' is used twice", value);
            return -1;
        }
    snprintf (hook->name, sizeof hook->name, "%s", value);
    char bad [128];
    if ((node = zconfig_locate (section, "types"))) {
        char copy [1024], *save = NULL;
        snprintf (copy, sizeof copy, "%s", zconfig_value (node));
        for (char *item = strtok_r (copy, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
            int id = strcmp (item, "notice") == 0? -2: pl_vocab_id (PL_KIND_EVENT_TYPE, item);
            if (id == -1) {
                pl_zpl_error (zpl, node, err, err_size, "types: unknown event type '%.64s' "
                              "(event types, or 'notice' for broker notices)", item);
                return -1;
            }
            if (id == -2)
                hook->notices = true;
            else
                hook->types |= PL_SET (id);
        }
        if (!hook->types && !hook->notices) {
            pl_zpl_error (zpl, node, err, err_size, "types: expected event types or 'notice'");
            return -1;
        }
    }
    if ((node = zconfig_locate (section, "notices"))) {
        value = zconfig_value (node);
        if (!*value || strlen (value) >= sizeof hook->notice_kinds
        ||  strspn (value, "abcdefghijklmnopqrstuvwxyz0123456789_,") != strlen (value)) {
            pl_zpl_error (zpl, node, err, err_size, "notices: expected notice kinds such as "
                          "consent_withdrawn,late_escalation");
            return -1;
        }
        snprintf (hook->notice_kinds, sizeof hook->notice_kinds, "%s", value);
        hook->notices = true;
    }
    if ((node = zconfig_locate (section, "min-risk"))
    &&  (hook->min_risk = pl_vocab_id (PL_KIND_RISK, zconfig_value (node))) < 0) {
        pl_zpl_error (zpl, node, err, err_size, "min-risk: unknown risk level '%.64s'",
                      zconfig_value (node));
        return -1;
    }
    if ((node = zconfig_locate (section, "categories"))
    &&  pl_vocab_parse_set (PL_KIND_CATEGORY, zconfig_value (node), &hook->categories, bad,
                            sizeof bad) != 0) {
        pl_zpl_error (zpl, node, err, err_size, "categories: unknown category '%s'", bad);
        return -1;
    }
    node = zconfig_locate (section, "command");
    value = node? zconfig_value (node): "";
    if (value [0] != '/' || strlen (value) >= sizeof hook->command) {
        pl_zpl_error (zpl, node? node: section, err, err_size, "hook %s: 'command = ...' is "
                      "required and must start with an absolute path (quote it when it has "
                      "arguments)", hook->name);
        return -1;
    }
    snprintf (hook->command, sizeof hook->command, "%s", value);
    if ((node = zconfig_locate (section, "timeout"))
    &&  (pl_parse_duration (zconfig_value (node), &hook->timeout_ms) != 0
         || hook->timeout_ms < 100 || hook->timeout_ms > 3600000)) {
        pl_zpl_error (zpl, node, err, err_size, "timeout: expected a duration from 100ms to 1h");
        return -1;
    }
    if ((node = zconfig_locate (section, "attempts"))) {
        char *end;
        long number = strtol (zconfig_value (node), &end, 10);
        if (*end || end == zconfig_value (node) || number < 1 || number > 10) {
            pl_zpl_error (zpl, node, err, err_size, "attempts: expected a number from 1 to 10");
            return -1;
        }
        hook->attempts = (int) number;
    }
    if ((node = zconfig_locate (section, "env"))) {
        value = zconfig_value (node);
        if (strlen (value) >= sizeof hook->env
        ||  strspn (value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_,")
            != strlen (value) || strncmp (value, "PASSERELLE_", 11) == 0
        ||  strstr (value, ",PASSERELLE_")) {
            pl_zpl_error (zpl, node, err, err_size, "env: expected variable names such as "
                          "SMS_GATEWAY_URL,SMS_GATEWAY_TOKEN (not PASSERELLE_*)");
            return -1;
        }
        snprintf (hook->env, sizeof hook->env, "%s", value);
    }
    config->hook_count++;
    return 0;
}

//  spool: the folders a case system drops requests into and reads deliveries
//  from (pa_spool).
static int
s_load_spool (pl_zpl_t *zpl, const char *path, zconfig_t *spool, pa_config_t *config,
              char *err, size_t err_size)
{
    static const char *allowed [] = { "outbox", "inbox", NULL };
    if (pl_zpl_check_names (zpl, spool, allowed, err, err_size) != 0)
        return -1;
    char *fields [] = { config->spool_outbox, config->spool_inbox };
    for (int i = 0; i < 2; i++) {
        zconfig_t *node = zconfig_locate (spool, allowed [i]);
        if (!node)
            continue;
        if (!*zconfig_value (node)) {
            pl_zpl_error (zpl, node, err, err_size, "spool: %s: expected a folder", allowed [i]);
            return -1;
        }
        pl_zpl_resolve_path (path, zconfig_value (node), fields [i], sizeof config->spool_outbox);
    }
    if (*config->spool_outbox && strcmp (config->spool_outbox, config->spool_inbox) == 0) {
        pl_zpl_error (zpl, spool, err, err_size, "spool: outbox and inbox must be different "
                      "folders");
        return -1;
    }
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
    static const char *top [] = { "agent", "hook", NULL };
    static const char *allowed [] = { "key", "broker", "broker-key", "state", "control",
                                      "heartbeat", "publish-timeout", "map-size",
                                      "broker-origin", "http", "spool", NULL };
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
    pl_zpl_resolve_path (path, zconfig_get (agent, "key", ""), config->key_path, sizeof config->key_path);
    pl_zpl_resolve_path (path, zconfig_get (agent, "broker-key", ""), config->broker_key_path,
               sizeof config->broker_key_path);
    pl_zpl_resolve_path (path, zconfig_get (agent, "state", ""), config->state_path,
               sizeof config->state_path);
    if (*zconfig_get (agent, "control", ""))
        pl_zpl_resolve_path (path, zconfig_get (agent, "control", ""), config->control_path,
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
    if ((node = zconfig_locate (agent, "spool"))
    &&  s_load_spool (zpl, path, node, config, err, err_size) != 0)
        goto done;
    for (node = zconfig_child (root); node; node = zconfig_next (node))
        if (streq (zconfig_name (node), "hook") && s_load_hook (zpl, node, config, err, err_size))
            goto done;
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
