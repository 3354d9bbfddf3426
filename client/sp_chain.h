/*  sp_chain.h - the router's audit hash chain (docs/protocol.md 13.2), as
    a partner or auditor recomputes it from an export, and the anchors a
    partner keeps of it (13.3). Internal to libseinpost.               */
#ifndef SP_CHAIN_H_INCLUDED
#define SP_CHAIN_H_INCLUDED

#include <stdint.h>

#include "seinpost.h"

/*  hash(seq) = SHA-256(prev || "<seq>\n<ts>\n<kind>\n<trace_id>\n
    <signal_id>\n<subscriber>\n<detail>"), NULL and signal_id 0 empty.  */
void sp_chain_row_hash(const uint8_t prev[SP_SHA256_SIZE], int64_t seq, int64_t ts,
                       const char *kind, const char *trace_id, int64_t signal_id,
                       const char *subscriber, const char *detail,
                       uint8_t out[SP_SHA256_SIZE]);

#endif
