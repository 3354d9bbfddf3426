/*  bench_redis.c - the peer: Debian's redis-server with AOF and
    appendfsync always (fsync before replying, group commit per event-loop
    turn, as seinpostd), one stream "s", XADD of the same 1 KiB bytes
    pipelined through hiredis, consumer groups g0.. read by child processes
    with XREADGROUP (COUNT 32, seinpost's batch size) and acknowledged with
    XACK. Plain TCP on loopback: Redis has no CURVE, and no signatures.  */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "bench.h"

#define RING (1u << 16)             /* XADDs in flight, at most */

pid_t bench_redis_server(int port, const char *dir)
{
    char sport[16], log[512];
    snprintf(sport, sizeof sport, "%d", port);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    char *argv[] = { "/usr/bin/redis-server", "--port", sport, "--bind", "127.0.0.1",
                     "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                     "--dir", (char *) dir, "--daemonize", "no", NULL };
    if (access(argv[0], X_OK) != 0)
        bench_die("%s missing: run tests/bench/install-peer", argv[0]);
    return bench_spawn(argv, log, -1);
}

const char *bench_redis_version(void)
{
    static char version[128] = "redis-server ?";
    FILE *p = popen("/usr/bin/redis-server --version 2>/dev/null", "r");
    if (p) {
        char line[256];
        if (fgets(line, sizeof line, p)) {
            char *v = strstr(line, "v=");
            if (v)
                snprintf(version, sizeof version, "redis-server %.*s", (int) strcspn(v + 2, " \n"),
                         v + 2);
        }
        pclose(p);
    }
    return version;
}

static redisContext *s_connect(int port, int wait_ms)
{
    for (int waited = 0;; waited += 50) {
        redisContext *c = redisConnect("127.0.0.1", port);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            bool up = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            if (up)
                return c;   /* PING fails while the AOF is being loaded */
        }
        if (c)
            redisFree(c);
        if (waited >= wait_ms)
            bench_die("redis on port %d: no connection within %d ms", port, wait_ms);
        bench_sleep_ms(50);
    }
}

void bench_redis_setup(int port, int ngroups)
{
    redisContext *c = s_connect(port, 20000);
    for (int k = 0; k < ngroups; k++) {
        redisReply *r = redisCommand(c, "XGROUP CREATE s g%d $ MKSTREAM", k);
        if (!r || r->type == REDIS_REPLY_ERROR)
            bench_die("XGROUP CREATE: %s", r ? r->str : c->errstr);
        freeReplyObject(r);
    }
    redisFree(c);
}

/*  ----------------------------------------------------------- producer */
typedef struct {
    bench_producer_t base;
    redisContext *c;
    uint64_t ring[RING];
    size_t head, tail;              /* idx of XADDs sent, reply pending */
} redis_producer_t;

static int s_send(bench_producer_t *base, uint64_t idx)
{
    redis_producer_t *self = (redis_producer_t *) base;
    size_t len;
    const char *event = bench_event(idx, &len);
    if (self->tail - self->head == RING)
        return -1;
    if (redisAppendCommand(self->c, "XADD s * i %llu d %b", (unsigned long long) idx,
                           event, len) != REDIS_OK)
        return -1;
    self->ring[self->tail++ % RING] = idx;
    return 0;
}

/*  Non-blocking reads, so that a timeout or a signal can end the wait.   */
static int s_recv(bench_producer_t *base, uint64_t *idx, bool *ok, int timeout_ms)
{
    redis_producer_t *self = (redis_producer_t *) base;
    redisContext *c = self->c;
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
            goto failed;
        if (reply) {
            redisReply *r = reply;
            if (self->head == self->tail) {
                freeReplyObject(r);
                snprintf(base->last_error, sizeof base->last_error, "reply to nothing");
                return -1;
            }
            *idx = self->ring[self->head++ % RING];
            *ok = r->type == REDIS_REPLY_STRING;
            if (!*ok)
                snprintf(base->last_error, sizeof base->last_error, "XADD: %s",
                         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            return 0;
        }
        int done = 0;
        while (!done)
            if (redisBufferWrite(c, &done) != REDIS_OK)
                goto failed;
        if (self->head == self->tail)
            return 1;               /* nothing asked, nothing to wait for */
        struct pollfd pfd = { c->fd, POLLIN, 0 };
        int rc = poll(&pfd, 1, timeout_ms);
        if (rc < 0)
            return -1;              /* errno: EINTR after a signal */
        if (rc == 0)
            return 1;
        if (redisBufferRead(c) != REDIS_OK)
            goto failed;
    }
failed:
    snprintf(base->last_error, sizeof base->last_error, "redis: %s", c->errstr);
    errno = EIO;
    return -1;
}

static void s_destroy(bench_producer_t *base)
{
    redis_producer_t *self = (redis_producer_t *) base;
    redisFree(self->c);
    free(self);
}

bench_producer_t *bench_redis_producer(int port)
{
    redis_producer_t *self = calloc(1, sizeof *self);
    if (!self)
        bench_die("out of memory");
    self->c = s_connect(port, 20000);
    self->base.send = s_send;
    self->base.recv = s_recv;
    self->base.destroy = s_destroy;
    return &self->base;
}

/*  ----------------------------------------------------------- consumer */
pid_t bench_redis_consumer(const char *self_exe, const char *dir, int port, int k, int fd)
{
    char sport[16], group[16], log[512];
    snprintf(sport, sizeof sport, "%d", port);
    snprintf(group, sizeof group, "g%d", k);
    snprintf(log, sizeof log, "%s/consumer-g%d.log", dir, k);
    char *argv[] = { (char *) self_exe, "redis-consumer", sport, group, NULL };
    return bench_spawn(argv, log, fd);
}

static volatile sig_atomic_t s_stop;

static void s_on_term(int sig)
{
    (void) sig;
    s_stop = 1;
}

static void s_write_all(const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(3, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        len -= (size_t) w;
    }
}

/*  bench redis-consumer PORT GROUP; records on fd 3                      */
int bench_redis_consumer_main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench redis-consumer PORT GROUP\n");
        return 2;
    }
    struct sigaction sa = { .sa_handler = s_on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    const char *group = argv[3];
    redisContext *c = s_connect(atoi(argv[2]), 20000);
    bench_rec_t rec[32];
    const char *ack_argv[3 + 32];
    size_t ack_len[3 + 32];
    unsigned long long handled = 0;
    while (!s_stop) {
        redisReply *r = redisCommand(c, "XREADGROUP GROUP %s c COUNT 32 BLOCK 100 STREAMS s >",
                                     group);
        if (!r) {
            fprintf(stderr, "consumer %s: %s\n", group, c->errstr);
            return 1;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            if (r->type == REDIS_REPLY_ERROR)
                fprintf(stderr, "consumer %s: %s\n", group, r->str);
            freeReplyObject(r);
            continue;
        }
        int64_t t_recv = bench_now_ns();
        redisReply *entries = r->element[0]->element[1];
        size_t n = 0;
        ack_argv[0] = "XACK", ack_len[0] = 4;
        ack_argv[1] = "s", ack_len[1] = 1;
        ack_argv[2] = group, ack_len[2] = strlen(group);
        for (size_t i = 0; i < entries->elements && n < 32; i++) {
            redisReply *e = entries->element[i];
            redisReply *fields = e->element[1];
            uint64_t idx = BENCH_NO_IDX;
            for (size_t j = 0; fields && j + 1 < fields->elements; j += 2)
                if (strcmp(fields->element[j]->str, "i") == 0)
                    idx = strtoull(fields->element[j + 1]->str, NULL, 10);
            ack_argv[3 + n] = e->element[0]->str;
            ack_len[3 + n] = e->element[0]->len;
            rec[n].idx = idx;
            rec[n].t_recv = t_recv;
            n++;
        }
        redisReply *a = redisCommandArgv(c, (int) (3 + n), ack_argv, ack_len);
        if (!a || a->type != REDIS_REPLY_INTEGER) {
            fprintf(stderr, "consumer %s: XACK: %s\n", group,
                    a && a->type == REDIS_REPLY_ERROR ? a->str : c->errstr);
            return 1;
        }
        freeReplyObject(a);
        int64_t t_ack = bench_now_ns();
        for (size_t i = 0; i < n; i++)
            rec[i].t_ack = t_ack;
        s_write_all(rec, n * sizeof rec[0]);
        handled += n;
        freeReplyObject(r);
    }
    fprintf(stderr, "consumer %s: %llu handled\n", group, handled);
    redisFree(c);
    return 0;
}
