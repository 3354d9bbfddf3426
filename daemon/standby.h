/*  standby.h - a node on PostgreSQL waits here until the lease is its own.

    Nodes that share one PostgreSQL database take turns: the one holding
    the lease (lease.h) is active, binds its sockets and routes; the
    others wait, report "standby" to the service manager and the log,
    and take over when the active node's lease runs out: when it died,
    lost its connection or stopped renewing.                            */
#ifndef STANDBY_H_INCLUDED
#define STANDBY_H_INCLUDED

#include <signal.h>

#include "config.h"
#include "lease.h"

/*  0 with the lease in *lease_out; 1 when *stop was set while waiting;
    -1 when the lease cannot be set up (the reason in err).            */
int standby_wait(const config_t *config, volatile sig_atomic_t *stop, lease_t **lease_out,
                 char *err, size_t errlen);

#endif
