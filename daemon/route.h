/*  route.h - stores an accepted signal and routes it: one delivery row,
    with the next per-subscription sequence number, for every subscription
    whose type and filter match, each audited with its legal basis.       */
#ifndef ROUTE_H_INCLUDED
#define ROUTE_H_INCLUDED

#include "server.h"
#include "sp_event.h"

sp_code_t route_store(server_t *self, const sp_event_t *event,
                      const emitter_t *emitter, const uint8_t *event_bytes,
                      size_t event_len, const uint8_t sha256[SP_SHA256_SIZE],
                      const char *key_id, const uint8_t *signature,
                      reply_t *reply);

#endif
