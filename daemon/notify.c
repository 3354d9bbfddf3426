/*  notify.c - the sd_notify protocol: READY=1 once every socket is bound and
    the database is open, WATCHDOG=1 from the loop at half the watchdog
    interval, STATUS= with queue figures, STOPPING=1 on the way out.      */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "reload.h"
#include "sp_util.h"

static int64_t s_watchdog_ms;
static int64_t s_next_ping;

static void s_notify(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (!path || !*path || strlen(path) >= sizeof addr.sun_path)
        return;
    memcpy(addr.sun_path, path, strlen(path));
    socklen_t len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path));
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0';        /* abstract socket */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *) &addr, len);
    close(fd);
}

void server_notify_ready(server_t *self)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (usec && (!pid || atol(pid) == (long) getpid()))
        s_watchdog_ms = atoll(usec) / 2000;
    char text[256];
    snprintf(text, sizeof text, "READY=1\nSTATUS=routing for %zu subscribers",
             self->sub_count);
    s_notify(text);
    s_next_ping = sp_clock_ms();
}

void server_notify_tick(server_t *self)
{
    int64_t now = sp_clock_ms();
    if (s_watchdog_ms <= 0 || now < s_next_ping)
        return;
    s_next_ping = now + s_watchdog_ms;
    char text[256];
    snprintf(text, sizeof text, "WATCHDOG=1\nSTATUS=accepted %lld, rejected %lld, "
             "delivered %lld, dead-lettered %lld", (long long) self->stats.accepted,
             (long long) self->stats.rejected, (long long) self->stats.delivered,
             (long long) self->stats.dead);
    s_notify(text);
}

/*  A standby is up and doing its job, waiting: READY=1 so that the
    service manager's start-up timeout does not kill it, STATUS= says
    whose lease it waits on, and the watchdog is fed while it waits.   */
void server_notify_standby(const char *holder)
{
    const char *usec = getenv("WATCHDOG_USEC");
    char text[300];
    snprintf(text, sizeof text, "READY=1\n%sSTATUS=standby: %.200s is active",
             usec ? "WATCHDOG=1\n" : "", holder);
    s_notify(text);
}

void server_notify_stopping(server_t *self)
{
    (void) self;
    s_notify("STOPPING=1");
}

int64_t server_notify_wait_ms(int64_t now)
{
    if (s_watchdog_ms <= 0)
        return -1;
    return s_next_ping > now ? s_next_ping - now : 0;
}
