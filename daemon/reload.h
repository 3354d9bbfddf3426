/*  reload.h - SIGHUP reload and systemd notification.                      */
#ifndef RELOAD_H_INCLUDED
#define RELOAD_H_INCLUDED

#include "server.h"

/*  Loads the configuration file again and swaps it in atomically. Returns
    1 when the new configuration took effect, 0 when it was refused (the
    old one stays, errors logged and audited), -1 on a fatal error.      */
int server_reload(server_t *self);
/*  Dead-letters pending deliveries whose subscriber or subscription is no
    longer configured: no legal basis, so they must not be delivered.    */
int server_dead_letter_orphans(server_t *self);

/*  sd_notify(3) protocol, written by hand: one datagram to $NOTIFY_SOCKET.
    (libsystemd would add a dependency for twenty lines of code.)        */
void server_notify_ready(server_t *self);
void server_notify_tick(server_t *self);
void server_notify_stopping(server_t *self);
void server_notify_standby(const char *holder);
/*  Milliseconds until the next watchdog ping is due, or -1 without one.  */
int64_t server_notify_wait_ms(int64_t now);

#endif
