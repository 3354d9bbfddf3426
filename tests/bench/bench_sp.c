/*  bench_sp.c - the seinpost side of the benchmark: keys and daemon
    configuration (as tests/lib.sh writes them: CURVE on every tcp://
    endpoint), seinpostd as a child process, libseinpost's emitter as a
    producer, and the partner child (libseinpost's sp_partner, which
    verifies the router's batch signature, each event's SHA-256 and each
    emitter signature, and signs a SEINPOST2 receipt per batch listing
    exactly the entries it handled; its dedup state is in memory, where
    seinpost listen keeps and fsyncs it in SQLite).                     */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seinpost.h"
#include "bench.h"

/*  --------------------------------------------------------------- keys */
static void s_keygen(const bench_sp_env_t *env, const char *name, bool curve,
                     char *out, size_t outlen)
{
    char exe[512], file[512], log[512], line[256];
    const char *want = curve ? "curve_public_key: " : "public_key: ";
    snprintf(exe, sizeof exe, "%s/seinpost", env->bin);
    snprintf(file, sizeof file, "%s/%s.%s", env->keys, name, curve ? "curve" : "key");
    snprintf(log, sizeof log, "%s/%s.%s.out", env->keys, name, curve ? "curve" : "key");
    unlink(log);
    char *argv[] = { exe, "keygen", curve ? "--curve" : "-o", curve ? "-o" : file,
                     curve ? file : NULL, NULL };
    if (bench_run(argv, log) != 0)
        bench_die("%s keygen %s failed (see %s)", exe, file, log);
    FILE *f = fopen(log, "r");
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            if (snprintf(out, outlen, "%s", line + strlen(want)) >= (int) outlen)
                bench_die("%s: key text too long", log);
        }
    if (f)
        fclose(f);
    if (!out[0])
        bench_die("no %s in %s", want, log);
}

void bench_sp_keys(bench_sp_env_t *env)
{
    char name[16];
    s_keygen(env, "node", false, env->node_pub, sizeof env->node_pub);
    s_keygen(env, "node", true, env->node_curvepub, sizeof env->node_curvepub);
    s_keygen(env, "emitter", false, env->emitter_pub, sizeof env->emitter_pub);
    s_keygen(env, "emitter", true, env->emitter_curvepub, sizeof env->emitter_curvepub);
    for (int k = 0; k < BENCH_MAX_PARTNERS; k++) {
        snprintf(name, sizeof name, "p%d", k);
        s_keygen(env, name, false, env->partner_pub[k], sizeof env->partner_pub[k]);
        s_keygen(env, name, true, env->partner_curvepub[k], sizeof env->partner_curvepub[k]);
    }
}

/*  ------------------------------------------------------------- config */
void bench_sp_config(const bench_sp_env_t *env, const char *dir, int nsubs, int window,
                     const char *database)
{
    char path[512];
    snprintf(path, sizeof path, "%s/seinpost.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die("%s: %s", path, strerror(errno));
    fprintf(f,
        "# written by tests/bench: %d subscriber(s), CURVE on every tcp:// endpoint\n"
        "node:\n"
        "  name: seinpost-bench\n"
        "  signing_key: %s/node.key\n"
        "  curve_secret_key: %s/node.curve\n",
        nsubs, env->keys, env->keys);
    /* PostgreSQL has no file beside which the node secret would go */
    if (database)
        fprintf(f, "  pseudonym_key: %s/node.secret\n", dir);
    fprintf(f,
        "listen:\n"
        "  ingress: tcp://127.0.0.1:%d\n"
        "  admin: ipc://admin.sock\n"
        "database: \"%s\"\n"
        "limits:\n"
        "  clock_skew: 0s\n"
        "audit:\n"
        "  checkpoint_interval: 60s\n"
        "signal_types:\n"
        "  - type: nl.gemeente.burgerzaken.geen-dubbele-bewoning\n"
        "    subject_id_type: BSN\n"
        "    retention: 30d\n"
        "    data:\n"
        "      gemeentecode: string\n"
        "      nummeraanduidingIdentificatie: string\n"
        "      bewonerBsn: { type: string, subject_id: true }\n"
        "      vastgesteldOp: string\n"
        "emitters:\n"
        "  - name: bench-emitter\n"
        "    oin: \"00000001001234567000\"\n"
        "    public_key: %s\n"
        "    curve_public_key: \"%s\"\n"
        "    max_in_flight: 1000\n"
        "    types:\n"
        "      - nl.gemeente.burgerzaken.geen-dubbele-bewoning\n"
        "subscribers:%s\n",
        env->port, database ? database : "seinpost.db", env->emitter_pub,
        env->emitter_curvepub, nsubs == 0 ? " []" : "");
    for (int k = 0; k < nsubs; k++)
        fprintf(f,
            "  - name: p%d\n"
            "    endpoint: tcp://127.0.0.1:%d\n"
            "    public_key: %s\n"
            "    curve_public_key: \"%s\"\n"
            "    window: %d\n"
            "    receipt_timeout: 10s\n"
            "    retry: { initial: 100ms, multiplier: 2, max_delay: 1s, max_age: 72h, jitter: 0.1 }\n"
            "    subscriptions:\n"
            "      - name: all\n"
            "        type: nl.gemeente.burgerzaken.geen-dubbele-bewoning\n"
            "        filter:\n"
            "          - { field: source, prefix: \"urn:nld:oin:\" }\n"
            "        grondslag:\n"
            "          text: \"benchmark: every signal\"\n"
            "          activity: \"https://verwerkingsregister.example/bench/all\"\n",
            k, env->port + 1 + k, env->partner_pub[k], env->partner_curvepub[k], window);
    if (fclose(f) != 0)
        bench_die("%s: %s", path, strerror(errno));
}

pid_t bench_sp_daemon(const bench_sp_env_t *env, const char *dir)
{
    char exe[512], conf[512], log[512], line[1024];
    snprintf(exe, sizeof exe, "%s/seinpostd", env->bin);
    snprintf(conf, sizeof conf, "%s/seinpost.yaml", dir);
    snprintf(log, sizeof log, "%s/daemon.log", dir);
    char *argv[] = { exe, "-c", conf, NULL };
    pid_t pid = bench_spawn(argv, log, -1);
    for (int waited = 0; waited < 30000; waited += 50) {
        FILE *f = fopen(log, "r");
        bool ready = false;
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, " ready: "))
                ready = true;
        if (f)
            fclose(f);
        if (ready)
            return pid;
        if (!bench_alive(pid))
            bench_die("seinpostd exited at start; see %s", log);
        bench_sleep_ms(50);
    }
    bench_stop(pid, SIGTERM, 5000);
    bench_die("seinpostd not ready after 30 s; see %s", log);
}

/*  ----------------------------------------------------------- producer */
typedef struct {
    bench_producer_t base;
    sp_key_t *key;
    sp_emitter_t *emitter;
    uint8_t (*sigs)[SP_SIGNATURE_SIZE];     /* bench_sp_presign */
    uint64_t sig_from, sig_n;
} sp_producer_t;

static int s_send(bench_producer_t *base, uint64_t idx)
{
    sp_producer_t *self = (sp_producer_t *) base;
    char correlation[32];
    size_t len;
    const char *event = bench_event(idx, &len);
    snprintf(correlation, sizeof correlation, "c%llu", (unsigned long long) idx);
    if (idx >= self->sig_from && idx - self->sig_from < self->sig_n)
        return sp_emitter_send_signed(self->emitter, correlation, event, len,
                                      self->sigs[idx - self->sig_from]);
    return sp_emitter_send(self->emitter, correlation, event, len);
}

/*  Only the signatures are kept: bench_event() rebuilds the same bytes
    for an index by writing its 12 digits, far cheaper than signing.     */
void bench_sp_presign(bench_producer_t *base, uint64_t from, uint64_t n)
{
    sp_producer_t *self = (sp_producer_t *) base;
    free(self->sigs);
    self->sigs = malloc(n * sizeof *self->sigs);
    if (!self->sigs)
        bench_die("out of memory for %llu signatures", (unsigned long long) n);
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const char *event = bench_event(from + i, &len);
        if (sp_key_sign(self->key, SP_DOMAIN_SIGNAL, event, len, self->sigs[i]) != 0)
            bench_die("signing signal %llu failed", (unsigned long long) (from + i));
    }
    self->sig_from = from;
    self->sig_n = n;
}

static int s_recv(bench_producer_t *base, uint64_t *idx, bool *ok, int timeout_ms)
{
    sp_producer_t *self = (sp_producer_t *) base;
    sp_reply_t reply;
    int rc = sp_emitter_recv(self->emitter, &reply, timeout_ms);
    if (rc != 0)
        return rc;
    *idx = reply.correlation[0] == 'c'
           ? strtoull(reply.correlation + 1, NULL, 10) : BENCH_NO_IDX;
    /* ACCEPTED: OK, or DUPLICATE for a resend of a signal stored before */
    *ok = reply.code == SP_OK || reply.code == SP_DUPLICATE;
    if (!*ok)
        snprintf(base->last_error, sizeof base->last_error, "%.64s %.39s: %.140s",
                 reply.correlation, reply.code_name, reply.reason);
    return 0;
}

static void s_destroy(bench_producer_t *base)
{
    sp_producer_t *self = (sp_producer_t *) base;
    sp_emitter_destroy(&self->emitter);
    sp_key_destroy(&self->key);
    free(self->sigs);
    free(self);
}

bench_producer_t *bench_sp_producer(const bench_sp_env_t *env)
{
    char path[512], curve[512], endpoint[64], err[512];
    sp_producer_t *self = calloc(1, sizeof *self);
    if (!self)
        bench_die("out of memory");
    snprintf(path, sizeof path, "%s/emitter.key", env->keys);
    snprintf(curve, sizeof curve, "%s/emitter.curve", env->keys);
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", env->port);
    self->key = sp_key_load(path, true, err, sizeof err);
    if (!self->key)
        bench_die("%s: %s", path, err);
    self->emitter = sp_emitter_new(endpoint, self->key, env->node_curvepub, curve,
                                   err, sizeof err);
    if (!self->emitter)
        bench_die("emitter: %s", err);
    self->base.send = s_send;
    self->base.recv = s_recv;
    self->base.destroy = s_destroy;
    return &self->base;
}

/*  ------------------------------------------------------------ partner */
pid_t bench_sp_partner(const bench_sp_env_t *env, const char *self_exe, const char *dir,
                       int k, int fd)
{
    char endpoint[64], key[512], curve[512], log[512];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", env->port + 1 + k);
    snprintf(key, sizeof key, "%s/p%d.key", env->keys, k);
    snprintf(curve, sizeof curve, "%s/p%d.curve", env->keys, k);
    snprintf(log, sizeof log, "%s/partner-p%d.log", dir, k);
    char *argv[] = { (char *) self_exe, "partner", endpoint, key, curve,
                     (char *) env->node_pub, (char *) env->emitter_pub, NULL };
    return bench_spawn(argv, log, fd);
}

typedef struct {
    bench_rec_t rec[8192];
    size_t n;
    uint64_t handled, duplicates;
} partner_ctx_t;

static volatile sig_atomic_t s_partner_stop;

static void s_on_term(int sig)
{
    (void) sig;
    s_partner_stop = 1;
}

static void s_flush(partner_ctx_t *ctx, int64_t t_ack)
{
    for (size_t i = 0; i < ctx->n; i++)
        ctx->rec[i].t_ack = t_ack;
    const char *p = (const char *) ctx->rec;
    size_t left = ctx->n * sizeof ctx->rec[0];
    while (left > 0) {
        ssize_t w = write(3, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;              /* the harness went away: nothing to tell */
        p += w;
        left -= (size_t) w;
    }
    ctx->n = 0;
}

/*  Runs after sp_partner verified the router's batch signature, the
    event's SHA-256 and the emitter's signature.                         */
static int s_handle(const sp_signal_t *signal, void *arg)
{
    partner_ctx_t *ctx = arg;
    if (signal->duplicate) {
        ctx->duplicates++;
        return 0;
    }
    if (ctx->n == sizeof ctx->rec / sizeof ctx->rec[0])
        s_flush(ctx, bench_now_ns());
    ctx->rec[ctx->n].idx = bench_idx_from_id(signal->id, strlen(signal->id));
    ctx->rec[ctx->n].t_recv = bench_now_ns();
    ctx->n++;
    ctx->handled++;
    return 0;
}

/*  bench partner ENDPOINT KEY CURVE ROUTER_PUB EMITTER_PUB; records on fd 3 */
int bench_sp_partner_main(int argc, char **argv)
{
    char err[512];
    if (argc != 7) {
        fprintf(stderr, "usage: bench partner ENDPOINT KEY CURVE ROUTER_PUB EMITTER_PUB\n");
        return 2;
    }
    struct sigaction sa = { .sa_handler = s_on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sp_key_t *key = sp_key_load(argv[3], true, err, sizeof err);
    sp_key_t *router = sp_key_from_text(argv[5]);
    sp_key_t *emitter = sp_key_from_text(argv[6]);
    if (!key || !router || !emitter) {
        fprintf(stderr, "partner: keys: %s\n", key ? "bad public key text" : err);
        return 1;
    }
    const sp_key_t *trusted[] = { emitter };
    sp_partner_t *partner = sp_partner_new(argv[2], key, router, trusted, 1, argv[4],
                                           err, sizeof err);
    if (!partner) {
        fprintf(stderr, "partner: %s\n", err);
        return 1;
    }
    partner_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return 1;
    while (!s_partner_stop) {
        int rc = sp_partner_poll(partner, s_handle, ctx, 100);
        /* the receipts of every batch handled in this call have been sent */
        if (ctx->n)
            s_flush(ctx, bench_now_ns());
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "partner: poll: %s\n", strerror(errno));
            break;
        }
        if (sp_partner_last_error(partner)[0]) {
            fprintf(stderr, "partner: refused a batch: %s\n", sp_partner_last_error(partner));
            ((char *) sp_partner_last_error(partner))[0] = '\0';
        }
    }
    fprintf(stderr, "partner %s: %llu handled, %llu duplicates\n", argv[2],
            (unsigned long long) ctx->handled, (unsigned long long) ctx->duplicates);
    free(ctx);
    sp_partner_destroy(&partner);
    sp_key_destroy(&key);
    sp_key_destroy(&router);
    sp_key_destroy(&emitter);
    return 0;
}

/*  ---------------------------------------------------------- emit mode */
/*  bench emit ENDPOINT KEY CURVE SERVER_CURVEPUB N WINDOW: sends N bench
    signals, WINDOW in flight, until each is ACCEPTED; for scripts that
    drive a daemon they started themselves (tests/bench/callgrind-per-
    signal). No resends: a daemon under valgrind is slow, not lossy, so
    it waits (up to 10 minutes without an answer) instead.              */
int bench_sp_emit_main(int argc, char **argv)
{
    char err[512];
    if (argc != 8) {
        fprintf(stderr, "usage: bench emit ENDPOINT KEY CURVE SERVER_CURVEPUB N WINDOW\n");
        return 2;
    }
    uint64_t n = strtoull(argv[6], NULL, 10), window = strtoull(argv[7], NULL, 10);
    sp_key_t *key = sp_key_load(argv[3], true, err, sizeof err);
    sp_emitter_t *em = key ? sp_emitter_new(argv[2], key, argv[5], argv[4], err, sizeof err)
                           : NULL;
    if (!em || window == 0) {
        fprintf(stderr, "emit: %s\n", em ? "WINDOW must be > 0" : err);
        return 1;
    }
    bench_event_init();
    bench_event_run(1);
    uint64_t sent = 0, done = 0, refused = 0;
    int64_t progress = bench_now_ns();
    while (done < n) {
        while (sent < n && sent - done < window) {
            size_t len;
            char correlation[32];
            const char *event = bench_event(++sent, &len);
            snprintf(correlation, sizeof correlation, "c%llu", (unsigned long long) sent);
            if (sp_emitter_send(em, correlation, event, len) != 0) {
                fprintf(stderr, "emit: send: %s\n", strerror(errno));
                return 1;
            }
        }
        sp_reply_t reply;
        int rc = sp_emitter_recv(em, &reply, 1000);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "emit: receive: %s\n", strerror(errno));
            return 1;
        }
        if (rc == 0) {
            done++;
            progress = bench_now_ns();
            if (reply.code != SP_OK && refused++ < 5)
                fprintf(stderr, "emit: %s %s: %s\n", reply.correlation, reply.code_name,
                        reply.reason);
        } else if (bench_now_ns() - progress > 600000000000LL) {
            fprintf(stderr, "emit: no answer for 10 minutes (%llu of %llu)\n",
                    (unsigned long long) done, (unsigned long long) n);
            return 1;
        }
    }
    sp_emitter_destroy(&em);
    sp_key_destroy(&key);
    printf("emitted %llu, refused %llu\n", (unsigned long long) n, (unsigned long long) refused);
    return refused ? 1 : 0;
}
