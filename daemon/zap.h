/*  zap.h - ZeroMQ Authentication Protocol handler (RFC 27) for the ingress.

    Only CURVE public keys configured for an emitter may complete the
    handshake; the ZAP reply gives that key as the connection's User-Id,
    so ingress can require that the signing key belongs to the emitter
    the CURVE key is configured for, now. Refusals are audited, at most ZAP_AUDIT_PER_MINUTE a
    minute so that a flood of handshakes cannot fill the disk.           */
#ifndef ZAP_H_INCLUDED
#define ZAP_H_INCLUDED

#include "server.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_AUDIT_PER_MINUTE 20

/*  Binds the handler socket; must run before the ingress socket binds.  */
int zap_setup(server_t *self, char *err, size_t errlen);
void zap_teardown(server_t *self);
/*  Answers every pending ZAP request.                                  */
void zap_handle(server_t *self);
/*  Watches the ingress for handshakes that fail before ZAP is asked (a
    plain-text client on a CURVE port, a broken greeting) and audits them
    under the same rate limit.                                         */
int zap_monitor_setup(server_t *self, char *err, size_t errlen);
void zap_monitor_handle(server_t *self);

#endif
