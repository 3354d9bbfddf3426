/*  fetch.h - FETCH on the delivery link: a partner asks for its
    deliveries again, since a seq or a time (docs/protocol.md 7.4).     */
#ifndef FETCH_H_INCLUDED
#define FETCH_H_INCLUDED

#include "deliver.h"
#include "sp_proto.h"

/*  One FETCH served per subscriber per interval, and none while what the
    last one queued is still on its way: a partner cannot make the router
    queue more than it takes.                                          */
#define FETCH_INTERVAL_MS 5000
/*  Audit kinds: a FETCH served (its counts; each delivery it queued is a
    delivery.redelivered with "requested_by": "partner") and one refused. */
#define FETCH_AUDIT_SERVED  "partner.fetch"
#define FETCH_AUDIT_REFUSED "fetch.refused"

/*  One FETCH from sub's partner (frames as received, protocol frames
    from 0): refused with FETCH_REFUSED (logged and audited within the
    partner's noise limit, protocol.md 7.3), or served: the deliveries
    queued again, committed, then answered with a router-signed FETCHED. */
void fetch_handle(server_t *self, sub_state_t *sub, sp_frames_t *f);

#endif
