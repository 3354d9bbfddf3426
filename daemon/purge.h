/*  purge.h - retention (AVG): past a signal type's retention, the sealed
    payload of a signal is deleted once no delivery of it is pending. Its
    SHA-256, the emitter's signature, the batches and receipts stay, so
    `seinpost audit verify` still proves what was there.                 */
#ifndef PURGE_H_INCLUDED
#define PURGE_H_INCLUDED

#include "server.h"

#define PURGE_BATCH 500         /* signals per turn: keeps turns short */

/*  Milliseconds between purge runs for this configuration (0: none).    */
int64_t purge_interval_ms(const config_t *config);
/*  Purges what is due; returns the number purged or -1.                */
int purge_run(server_t *self);

#endif
