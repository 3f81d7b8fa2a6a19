/*  pb_config: the broker's configuration file (ZPL).
 *
 *      broker
 *          key = broker.key               the broker's key pair (0600)
 *          endpoint = tcp://127.0.0.1:7700
 *          directory = directory.cfg      who may connect
 *          policy = move.cfg              the sharing rules (required: default deny)
 *          state = state                  private folder (0700)
 *          max-message = 1114112          bytes; larger messages are refused
 *          map-size = 1073741824          bytes the store may grow to (LMDB map)
 *          checkpoint-interval = 10s      how often the log gets a signed checkpoint
 *          gap-grace = 60s                how long missing sequence numbers may arrive late
 *          origin = passerelle.example    the log's name in checkpoints
 *          verify-threads = auto          signature checkers beside the server thread
 *          store-flush = 50ms             how often journaled batches go into LMDB (0: each)
 *          delivery-window = 512          deliveries one connection may hold unreceipted
 *          verbose = 0                    1: log every delivery and receipt
 *
 *  Relative paths are relative to the configuration file's folder, so a
 *  deployment folder can be moved as a whole.  */
#ifndef PB_CONFIG_H_INCLUDED
#define PB_CONFIG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  A connection's credit: deliveries sent and not yet receipted, at most.
//  More wait in the durable queue, so a backlog never floods the connection
//  or the broker's memory. 512 rather than 256: receipts then come back
//  before the credit runs dry under load (make bench: the deliveries
//  trailed the acknowledgements by 0.4-0.6 s at 256, by 0.1 s at most at
//  512); 1024 gained nothing more and cost 3-5 MB of peak RSS. Agents sign
//  their receipts 20 ms after the first is due, so a window far smaller
//  than the default limits a connection to one window per 20 ms.
//  The ceiling stays well under the ROUTER's send high-water mark
//  (pb_gate), so the server thread never blocks on it. The window also
//  stops at PB_DELIVERY_BYTES_MAX of deliveries out (one always goes): a
//  delivery may be as large as an envelope (1.1 MiB), and 512 of those
//  held in libzmq's pipe for a slow reader would be half a gigabyte.
#define PB_DELIVERY_WINDOW_DEFAULT  512
#define PB_DELIVERY_WINDOW_MAX      4096
#define PB_DELIVERY_BYTES_MAX       (8u << 20)

typedef struct {
    char key_path [4096];
    char endpoint [256];
    char directory_path [4096];
    char state_path [4096];
    char policy_path [4096];        /* the sharing policy (policy/move.cfg) */
    size_t max_message;
    size_t map_size;                /* LMDB map size in bytes */
    uint64_t checkpoint_interval_ms;
    uint64_t gap_grace_ms;          /* a gap in a publisher's numbers is reported after this */
    char origin [96];               /* the log's name in checkpoints; default: broker id */
    int verify_threads;             /* helpers for signature checks; -1: one per extra core */
    uint64_t store_flush_ms;        /* 0: every batch is a durable LMDB commit (no journal) */
    size_t delivery_window;         /* a connection's credit: deliveries out, not receipted */
    int verbose;
} pb_config_t;

/*  Load path into config (defaults first). 0, or -1 with err naming file
 *  and line.  */
int pb_config_load (const char *path, pb_config_t *config, char *err, size_t err_size);

#endif
