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

/*  A stored signal as route_covers() reads it: its row in signals.      */
typedef struct {
    const char *type, *source, *ce_id;
    const uint8_t *sealed;          /* NULL once purged */
    size_t sealed_len;
} route_signal_t;

/*  Whether subscription sub, as configured now, takes the stored signal:
    its type and filter are applied again to the event the emitter signed,
    as routing it now would. 1 it does; 0 it does not and -1 the signal
    cannot be read, with why in both cases.                              */
int route_covers(server_t *self, const subscription_t *sub, const route_signal_t *signal,
                 char *why, size_t whylen);
/*  The query route_covers_stored() steps: prepare it once per pass.    */
#define ROUTE_STORED_SIGNAL "SELECT type, source, ce_id, event FROM signals WHERE id = ?"
/*  route_covers() for the stored signal signal_id, read with stmt (a
    prepared ROUTE_STORED_SIGNAL, reset after): 1, 0 or -1 with why, -1
    also for an incomplete row; -2 when there is no row (the store).   */
int route_covers_stored(server_t *self, const subscription_t *sub, db_stmt_t *stmt,
                        int64_t signal_id, char *why, size_t whylen);

#endif
