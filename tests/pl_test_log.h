/*  pl_test_log: the sharing-log entry that store tests and benchmarks
 *  append, so that they all measure and check the same kind of entry.
 *
 *  Header-only like pl_test.h: each test and benchmark is its own program.  */
#ifndef PL_TEST_LOG_H_INCLUDED
#define PL_TEST_LOG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "passerelle.pb-c.h"

/*  A serialised publish LogEntry number i, about 200 bytes, as the broker
 *  writes them: case "case-<i % cases>", publisher "police", decisions for
 *  "agency-<i % agencies>" (allowed) and "victim_support" (no rule). out
 *  holds at least 512 bytes. Returns the size.  */
static inline size_t
pl_test_log_entry (uint64_t i, unsigned cases, unsigned agencies, uint8_t *out)
{
    char case_ref [32], recipient [32];
    uint8_t event_id [16] = { 0 }, hash [32];
    memcpy (event_id, &i, sizeof i);
    memset (hash, (int) (i & 0xff), sizeof hash);
    snprintf (case_ref, sizeof case_ref, "case-%u", (unsigned) (i % cases));
    snprintf (recipient, sizeof recipient, "agency-%u", (unsigned) (i % agencies));
    Passerelle__LogDecision d1 = PASSERELLE__LOG_DECISION__INIT, d2 = PASSERELLE__LOG_DECISION__INIT;
    d1.recipient = recipient;
    d1.allowed = true;
    d1.code = "allowed";
    d1.rule = "referral-to-programme";
    d1.category = "offence";
    d2.recipient = "victim_support";
    d2.code = "no_rule";
    Passerelle__LogDecision *decisions [2] = { &d1, &d2 };
    Passerelle__LogEntry e = PASSERELLE__LOG_ENTRY__INIT;
    e.kind = "publish";
    e.at_ms = 1700000000000ULL + i;
    e.event_id = (ProtobufCBinaryData) { sizeof event_id, event_id };
    e.case_ref = case_ref;
    e.publisher = "police";
    e.event_type = "referral";
    e.purpose = "protection";
    e.legal_basis = "court_order";
    e.risk_level = "high";
    e.sequence = i + 1;
    e.header_hash = (ProtobufCBinaryData) { sizeof hash, hash };
    e.n_decisions = 2;
    e.decisions = decisions;
    return passerelle__log_entry__pack (&e, out);
}

#endif
