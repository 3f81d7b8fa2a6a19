/*  pl_wire: framing of broker <-> agent messages (see pl_wire.h).  */
#include <stdio.h>
#include <sys/time.h>
#include "pl_wire.h"
#include "pl_envelope.h"

zframe_t *
pl_wire_pack (Passerelle__Message *msg)
{
    msg->version = PL_WIRE_VERSION;
    size_t size = passerelle__message__get_packed_size (msg);
    zframe_t *frame = zframe_new (NULL, size);
    if (frame)
        passerelle__message__pack (msg, zframe_data (frame));
    return frame;
}

Passerelle__Message *
pl_wire_unpack (zframe_t *frame, size_t max_size, Passerelle__Status *status,
                char *why, size_t why_size)
{
    size_t size = zframe_size (frame);
    if (size > max_size) {
        *status = PASSERELLE__STATUS__STATUS_OVERSIZED;
        snprintf (why, why_size, "message of %zu bytes, this broker accepts at most %zu",
                  size, max_size);
        return NULL;
    }
    Passerelle__Message *msg = passerelle__message__unpack (NULL, size, zframe_data (frame));
    if (!msg) {
        *status = PASSERELLE__STATUS__STATUS_MALFORMED;
        snprintf (why, why_size, "frame of %zu bytes is not a passerelle message", size);
        return NULL;
    }
    if (msg->version != PL_WIRE_VERSION) {
        *status = PASSERELLE__STATUS__STATUS_BAD_VERSION;
        snprintf (why, why_size, "wire protocol version %u, this build speaks %d",
                  msg->version, PL_WIRE_VERSION);
        passerelle__message__free_unpacked (msg, NULL);
        return NULL;
    }
    if (msg->body_case == PASSERELLE__MESSAGE__BODY__NOT_SET) {
        *status = PASSERELLE__STATUS__STATUS_MALFORMED;
        snprintf (why, why_size, "message has no body (unknown message type?)");
        passerelle__message__free_unpacked (msg, NULL);
        return NULL;
    }
    *status = PASSERELLE__STATUS__STATUS_OK;
    return msg;
}

uint64_t
pl_now_ms (void)
{
    struct timeval now;
    gettimeofday (&now, NULL);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_usec / 1000;
}

const char *
pl_status_name (Passerelle__Status status)
{
    switch (status) {
        case PASSERELLE__STATUS__STATUS_OK:                 return "ok";
        case PASSERELLE__STATUS__STATUS_MALFORMED:          return "malformed";
        case PASSERELLE__STATUS__STATUS_OVERSIZED:          return "oversized";
        case PASSERELLE__STATUS__STATUS_BAD_VERSION:        return "bad_version";
        case PASSERELLE__STATUS__STATUS_UNKNOWN_PUBLISHER:  return "unknown_publisher";
        case PASSERELLE__STATUS__STATUS_PUBLISHER_MISMATCH: return "publisher_mismatch";
        case PASSERELLE__STATUS__STATUS_BAD_SIGNATURE:      return "bad_signature";
        case PASSERELLE__STATUS__STATUS_BAD_PAYLOAD_HASH:   return "bad_payload_hash";
        case PASSERELLE__STATUS__STATUS_DUPLICATE:          return "duplicate";
        case PASSERELLE__STATUS__STATUS_NO_RECIPIENT:       return "no_recipient";
        case PASSERELLE__STATUS__STATUS_UNKNOWN_RECIPIENT:  return "unknown_recipient";
        case PASSERELLE__STATUS__STATUS_NOT_SEALED:         return "not_sealed";
        case PASSERELLE__STATUS__STATUS_EXPIRED:            return "expired";
        case PASSERELLE__STATUS__STATUS_FUTURE:             return "future_dated";
        case PASSERELLE__STATUS__STATUS_POLICY_DENIED:      return "policy_denied";
        case PASSERELLE__STATUS__STATUS_REVOKED:            return "revoked";
        case PASSERELLE__STATUS__STATUS_STORE_FULL:         return "store_full";
        case PASSERELLE__STATUS__STATUS_INTERNAL:           return "internal";
        default:                                            return "unknown_status";
    }
}
