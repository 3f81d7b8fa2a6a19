/*  pb_config: broker.cfg (see pb_config.h).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pb_config.h"
#include "pl_zpl.h"
#include "pl_vocab.h"
#include "pl_envelope.h"


int
pb_config_load (const char *path, pb_config_t *config, char *err, size_t err_size)
{
    memset (config, 0, sizeof *config);
    config->max_message = PL_MAX_ENVELOPE + 4096;
    config->map_size = (size_t) 1 << 30;
    config->checkpoint_interval_ms = 10000;
    config->gap_grace_ms = 60000;
    config->verify_threads = -1;
    config->store_flush_ms = 50;
    config->delivery_window = PB_DELIVERY_WINDOW_DEFAULT;

    pl_zpl_t *zpl = pl_zpl_load (path, err, err_size);
    if (!zpl)
        return -1;
    int rc = -1;
    zconfig_t *root = pl_zpl_root (zpl);
    static const char *top [] = { "broker", NULL };
    static const char *allowed [] = { "key", "endpoint", "directory", "state", "policy",
                                      "max-message", "map-size", "checkpoint-interval", "gap-grace", "origin",
                                      "verify-threads", "store-flush", "delivery-window", "verbose",
                                      NULL };
    zconfig_t *broker = zconfig_locate (root, "broker");
    if (pl_zpl_check_names (zpl, root, top, err, err_size) != 0)
        goto done;
    if (!broker) {
        pl_zpl_error (zpl, NULL, err, err_size, "expected a 'broker' section");
        goto done;
    }
    if (pl_zpl_check_names (zpl, broker, allowed, err, err_size) != 0)
        goto done;

    static const char *required [] = { "key", "endpoint", "directory", "state", "policy" };
    for (size_t i = 0; i < sizeof required / sizeof required [0]; i++) {
        zconfig_t *node = zconfig_locate (broker, required [i]);
        if (!node || !*zconfig_value (node)) {
            pl_zpl_error (zpl, node? node: broker, err, err_size,
                          "broker: '%s = ...' is required", required [i]);
            goto done;
        }
    }
    pl_zpl_resolve_path (path, zconfig_get (broker, "key", ""), config->key_path, sizeof config->key_path);
    pl_zpl_resolve_path (path, zconfig_get (broker, "directory", ""), config->directory_path,
               sizeof config->directory_path);
    pl_zpl_resolve_path (path, zconfig_get (broker, "state", ""), config->state_path,
               sizeof config->state_path);
    pl_zpl_resolve_path (path, zconfig_get (broker, "policy", ""), config->policy_path,
               sizeof config->policy_path);

    zconfig_t *node = zconfig_locate (broker, "endpoint");
    const char *endpoint = zconfig_value (node);
    if (strncmp (endpoint, "tcp://", 6) != 0 || strlen (endpoint) >= sizeof config->endpoint) {
        pl_zpl_error (zpl, node, err, err_size, "endpoint: expected tcp://ADDRESS:PORT");
        goto done;
    }
    snprintf (config->endpoint, sizeof config->endpoint, "%s", endpoint);

    if ((node = zconfig_locate (broker, "max-message"))) {
        char *end;
        unsigned long long value = strtoull (zconfig_value (node), &end, 10);
        if (*end || value < 1024 || value > PL_MAX_ENVELOPE + 4096) {
            pl_zpl_error (zpl, node, err, err_size, "max-message: expected bytes between "
                          "1024 and %d", PL_MAX_ENVELOPE + 4096);
            goto done;
        }
        config->max_message = (size_t) value;
    }
    if ((node = zconfig_locate (broker, "map-size"))) {
        char *end;
        unsigned long long value = strtoull (zconfig_value (node), &end, 10);
        if (*end || value < 65536) {
            pl_zpl_error (zpl, node, err, err_size, "map-size: expected bytes, at least 65536");
            goto done;
        }
        config->map_size = (size_t) value;
    }
    if ((node = zconfig_locate (broker, "checkpoint-interval"))
    &&  (pl_parse_duration (zconfig_value (node), &config->checkpoint_interval_ms) != 0
         || config->checkpoint_interval_ms < 100)) {
        pl_zpl_error (zpl, node, err, err_size, "checkpoint-interval: expected a duration of at "
                      "least 100ms, such as 10s");
        goto done;
    }
    if ((node = zconfig_locate (broker, "gap-grace"))
    &&  pl_parse_duration (zconfig_value (node), &config->gap_grace_ms) != 0) {
        pl_zpl_error (zpl, node, err, err_size, "gap-grace: expected a duration such as 60s");
        goto done;
    }
    if ((node = zconfig_locate (broker, "origin"))) {
        const char *value = zconfig_value (node);
        if (!*value || strlen (value) >= sizeof config->origin || strpbrk (value, " \t\n+")) {
            pl_zpl_error (zpl, node, err, err_size, "origin: expected a name without spaces or "
                          "'+', such as passerelle.paris.example");
            goto done;
        }
        snprintf (config->origin, sizeof config->origin, "%s", value);
    }
    if ((node = zconfig_locate (broker, "verify-threads"))) {
        const char *value = zconfig_value (node);
        char *end;
        unsigned long threads = strtoul (value, &end, 10);
        if (strcmp (value, "auto") != 0 && (!*value || *end || threads > 8)) {
            pl_zpl_error (zpl, node, err, err_size, "verify-threads: expected auto or a number "
                          "from 0 to 8");
            goto done;
        }
        config->verify_threads = strcmp (value, "auto") == 0? -1: (int) threads;
    }
    if ((node = zconfig_locate (broker, "store-flush"))
    &&  (pl_parse_duration (zconfig_value (node), &config->store_flush_ms) != 0
         || config->store_flush_ms > 10000)) {
        pl_zpl_error (zpl, node, err, err_size, "store-flush: expected a duration from 0 to 10s, "
                      "such as 50ms (0: every batch commits the store itself)");
        goto done;
    }
    if ((node = zconfig_locate (broker, "delivery-window"))) {
        char *end;
        unsigned long long value = strtoull (zconfig_value (node), &end, 10);
        if (!*zconfig_value (node) || *end || value < 1 || value > PB_DELIVERY_WINDOW_MAX) {
            pl_zpl_error (zpl, node, err, err_size, "delivery-window: expected a number of "
                          "deliveries from 1 to %d", PB_DELIVERY_WINDOW_MAX);
            goto done;
        }
        config->delivery_window = (size_t) value;
    }
    if ((node = zconfig_locate (broker, "verbose"))) {
        const char *value = zconfig_value (node);
        if (strcmp (value, "0") != 0 && strcmp (value, "1") != 0) {
            pl_zpl_error (zpl, node, err, err_size, "verbose: expected 0 or 1");
            goto done;
        }
        config->verbose = atoi (value);
    }
    rc = 0;
done:
    pl_zpl_destroy (&zpl);
    return rc;
}
