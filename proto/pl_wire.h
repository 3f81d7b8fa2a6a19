/*  pl_wire: one protobuf Message per ZeroMQ frame, both directions.
 *
 *  Packing stamps the protocol version; unpacking refuses an oversized frame
 *  before protobuf-c sees it, then a frame that does not decode, a message
 *  with no body, or another protocol version - each with its own status so
 *  the broker can answer the peer precisely.  */
#ifndef PL_WIRE_H_INCLUDED
#define PL_WIRE_H_INCLUDED

#include <czmq.h>
#include "passerelle.pb-c.h"

/*  The version every Message carries, apart from the event header's
 *  (PL_PROTOCOL_VERSION, signed into each event). 2: receipts signed per
 *  burst (pl_receipt). 3: publishes may be signed per burst (pl_burst). A
 *  peer of another version is refused with bad_version on every message,
 *  loudly, rather than half understood: a version-1 receipt would look
 *  empty and queues never drain, and a version-2 broker would take a burst
 *  signature for a forged one and refuse the event for good.  */
#define PL_WIRE_VERSION 3

/*  A frame holding msg, or NULL when out of memory.  */
zframe_t *pl_wire_pack (Passerelle__Message *msg);

/*  Unpack a frame of at most max_size bytes. NULL with *status and why on
 *  failure. Free with passerelle__message__free_unpacked (m, NULL).  */
Passerelle__Message *pl_wire_unpack (zframe_t *frame, size_t max_size,
                                     Passerelle__Status *status, char *why, size_t why_size);

/*  Wall-clock time in unix milliseconds (what headers carry).  */
uint64_t pl_now_ms (void);

/*  Stable snake_case name of a wire status ("bad_signature").  */
const char *pl_status_name (Passerelle__Status status);

#endif
