/*  upstream.h - the node link: upstream seinpostd nodes deliver here as to
    a partner, and each signal is stored and routed on (protocol.md 16). */
#ifndef UPSTREAM_H_INCLUDED
#define UPSTREAM_H_INCLUDED

#include "server.h"

/*  Binds upstream.listen when the configuration has upstream nodes; 0
    when there are none. -1 with err.                                  */
int upstream_open(server_t *self, char *err, size_t errlen);
void upstream_close(server_t *self);
/*  The link's sockets for the loop's poll (0, 1 or 2).                 */
size_t upstream_sockets(const server_t *self, void *sockets[2]);
/*  Serves what is ready on them: handshakes, DELIVERs.                 */
void upstream_handle(server_t *self);

#endif
