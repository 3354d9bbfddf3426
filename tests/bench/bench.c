/*  bench.c - `make bench`: seinpost against a peer broker, side by side.

    Real processes on loopback: seinpostd (CURVE on, SQLite in WAL mode
    with synchronous=FULL on the normal disk), libseinpost's emitter in this
    process, partners as child processes (libseinpost's sp_partner: every
    signature verified, signed receipts). The peer: Debian's redis-server
    with appendonly yes and appendfsync always, one stream, consumer groups
    with XACK, through hiredis. Both get the same 1 KiB signals at the same
    number in flight.

      bench [--quick] [--only ingress,ingress1,presigned,e2e,rate,scaling,backlog]
            [--no-peer] [--no-pg] [--pg-statements]
            [--bin DIR] [--dir WORKDIR] [--port N] [--out FILE] [--keep]
            [--perf DIR] [--window N] [--backlog N] [--pg-backlog N]
            [--levels 1,10,100,1000]
            [--strict] [--wait-quiet SECONDS] [--rate-subs N]

    Phases (each on a fresh database / a fresh Redis):
      ingress   1 KiB signals from one emitter, acknowledged durably, at 1,
                10, 100 and 1000 in flight: signals/s, p50/p99 emit->ack,
                the server's CPU per signal (utime+stime from /proc)
      ingress1  100 in flight with 1 consumer receiving: signals/s, and the
                server's CPU per accepted signal until the consumer has
                them all (ingress + one delivery + one receipt)
      presigned 100 in flight, 0 consumers, the emitter's signatures made
                before the timed run (the peer runs the same window)
      e2e       3 consumers, everything matches: closed loop of W signals in
                flight until every consumer has them: signals/s,
                deliveries/s, p50/p99 emit->receipt
      rate      1 000 signals/s open loop for 30 s, 3 consumers running:
                p50/p99/p99.9 emit->ack, stalls (emit->ack > 10 ms), and
                the disk's fdatasync p99 measured right after
      scaling   as e2e with 1 and 10 consumers (3 is e2e): signals/s and
                CPU per signal
      backlog   1 000 000 signals for a consumer that is down: server RSS;
                then it comes back: drain rate
    seinpost on PostgreSQL (unless --no-pg) runs ingress, e2e, rate and
    backlog once more, with its rows under SQLite's: one private cluster
    (tests/pg/pg-start: unix socket, fsync and synchronous_commit on) in
    WORKDIR/pg, a fresh database per measurement; its backlog is
    --pg-backlog signals (default the backlog's size, at most 200 000: at
    PostgreSQL's rate 1 M takes a quarter of an hour); its server CPU
    counts every PostgreSQL process, and the notes give what the server
    counted per signal (transactions, commits, WAL flushes and bytes;
    with --pg-statements, which loads pg_stat_statements and so costs
    a little, also the statements and their execution time). When the
    cluster does not start, those rows say failed.
    The table goes to stdout and to --out (default WORKDIR/../results.md).
    Exit status: 0 when it ran (whatever the targets say), 1 when it could
    not run, 3 with --strict when a target was missed.
*/
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <hiredis.h>
#include <zmq.h>

#include "seinpost.h"
#include "bench.h"

#define SP 0                        /* seinpost on SQLite */
#define PEER 1
#define PG 2                        /* seinpost on PostgreSQL */
#define NSYS 3
/* the phases with PostgreSQL rows */
static const char *const PG_PHASES[] = { "ingress", "e2e", "rate", "backlog" };
#define PG_NPHASES (sizeof PG_PHASES / sizeof PG_PHASES[0])
#define CAP ((size_t) 6 << 20)      /* signal indexes tracked per rig */
#define E2E_PARTNERS 3

/*  -------------------------------------------------------------- options */
static struct {
    bool quick, no_peer, no_pg, pg_statements, keep, strict;
    const char *bin, *only, *perf, *out, *levels;
    char work[PATH_MAX], self_exe[PATH_MAX], out_buf[PATH_MAX];
    int port;
    double ingress_s, e2e_s, rate_s, scale_s;
    int e2e_window, rate, rate_subs, drain_cap_s, wait_quiet_s;
    long backlog_n, pg_backlog_n;
} O;

static bench_sp_env_t ENV;
static bench_pg_t PGC;              /* the PostgreSQL cluster of the run */
static int s_run_counter;

/*  ------------------------------------------------------------ results */
typedef struct {
    bool ran;
    uint64_t n, refused, resent;
    double other_pct;               /* CPU of other processes, % of machine */
    double fill_other_pct;
    double secs, rate, rate2, p50, p99, p999, cpu_us, client_us, consumer_us;
    double recv_p50, recv_p99;
    double lag_max_ms;
    /* backlog */
    double rss_mib, hwm_mib, fill_rate, fill_cpu_first, fill_cpu_last;
    double drain_rate, drain_rss_max_mib;
    double drain_cpu_tenth[10];     /* server CPU per drained signal, µs */
    double drain_first_delivery_s, drain_s;
    uint64_t drained, target;
    /* fixed rate: sends slower than STALL_MS; the disk's fdatasync after */
    uint64_t stalls;
    double fsync_p50, fsync_p99;
    double presign_s;               /* presigned: time the signing took */
    /* PostgreSQL: the cluster did not start (a failed row); what the
       database counted from the daemon's start to its stop, and for how
       many signals (the warm-up's too)                                 */
    bool failed;
    char why[256];                  /* why it failed, for its row */
    bench_pg_counts_t pg;
    double pg_n;
    int pg_analyses;                /* of its deliveries table; -1 unknown */
    char pg_statements[1536];       /* --pg-statements: what ran, per signal */
} meas_t;

static const int LEVELS[4] = { 1, 10, 100, 1000 };
static const int SCALE[3] = { 1, 3, 10 };
static meas_t R_ingress[NSYS][4], R_e2e[NSYS], R_rate[NSYS], R_backlog[NSYS];
static meas_t R_scale[NSYS][3], R_ingress1[NSYS], R_presigned[NSYS];

#define STALL_MS 10.0               /* fixed rate: a send this slow is a stall */
#define PRESIGN_PER_S 20000         /* presigned: signatures made per second run */

/*  ---------------------------------------------------------------- rigs */
typedef struct {
    int sys;
    char dir[PATH_MAX];
    pid_t server;
    pid_t consumers[BENCH_MAX_CONSUMERS];
    int nconsumers, nsubs;
    bench_producer_t *prod;
    bench_collector_t col;
    bool col_running;
    uint64_t next;                  /* next signal index */
    uint64_t low;                   /* lowest index maybe unacknowledged */
    unsigned char *acked;           /* by index: acknowledgement received */
    int64_t *resent_at;             /* RESEND_SLOTS, by index modulo */
    pid_t perf;
    char db[64];                    /* PostgreSQL: the rig's database */
    char db_uri[sizeof PGC.uri + 64];
    bench_pg_counts_t pg0;          /* its counts when the daemon was ready */
    bool died;                      /* the server exited on its own */
} rig_t;

#define RESEND_SLOTS 4096

/*  CPU of everything else on the machine during a measurement: the
    machine's busy time (/proc/stat) minus what the processes of the rig
    and this harness used. Other work on a 2-CPU machine skews figures. */
typedef struct {
    double machine0, ours0;
} bench_load_t;

static double s_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6
           + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

static double s_machine_busy_s(void)
{
    unsigned long long v[8] = { 0 };
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return NAN;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8)
        return NAN;
    /* user nice system idle iowait irq softirq steal: all but idle, iowait */
    return (double) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double) sysconf(_SC_CLK_TCK);
}

/*  On PostgreSQL the server is seinpostd and the cluster's processes.   */
static double s_server_cpu_s(rig_t *r)
{
    double cpu = bench_proc_cpu_s(r->server);
    return r->sys == PG ? cpu + bench_pg_cpu_s(&PGC) : cpu;
}

static double s_consumers_s(rig_t *r)
{
    double sum = 0;
    for (int k = 0; k < r->nconsumers; k++) {
        double c = bench_proc_cpu_s(r->consumers[k]);
        sum += c > 0 ? c : 0;
    }
    return sum;
}

static double s_ours_s(rig_t *r)
{
    double sum = s_self_cpu_s() + s_server_cpu_s(r);
    for (int k = 0; k < r->nconsumers; k++) {
        double c = bench_proc_cpu_s(r->consumers[k]);
        sum += c > 0 ? c : 0;
    }
    return sum;
}

static void bench_load_begin(bench_load_t *l, rig_t *r)
{
    l->machine0 = s_machine_busy_s();
    l->ours0 = s_ours_s(r);
}

static void bench_load_end(bench_load_t *l, rig_t *r, meas_t *m, double secs)
{
    double machine = s_machine_busy_s() - l->machine0, ours = s_ours_s(r) - l->ours0;
    double other = machine - ours;
    if (secs <= 0)
        secs = 1;
    if (other < 0)
        other = 0;
    m->other_pct = 100.0 * other / (secs * (double) sysconf(_SC_NPROCESSORS_ONLN));
}

/*  Waits (up to --wait-quiet seconds) until other processes use less than
    10 % of the machine over one second, so that a measurement does not
    start in the middle of someone else's build. What remains is shown in
    the table's "other load" column.                                     */
static void s_wait_quiet(rig_t *r)
{
    int64_t limit = bench_now_ns() + (int64_t) O.wait_quiet_s * 1000000000LL;
    double ncpu = (double) sysconf(_SC_NPROCESSORS_ONLN);
    int waited = 0;
    for (;;) {
        double m0 = s_machine_busy_s(), o0 = s_ours_s(r);
        bench_sleep_ms(1000);
        double other = (s_machine_busy_s() - m0) - (s_ours_s(r) - o0);
        if (other < 0.10 * ncpu || bench_now_ns() >= limit) {
            if (waited)
                bench_log("waited %d s for other processes to quieten (now %.0f%% of the "
                          "machine)", waited + 1, 100.0 * other / ncpu);
            return;
        }
        waited++;
    }
}

static void s_rm_rf(const char *path)
{
    char *argv[] = { "/bin/rm", "-rf", (char *) path, NULL };
    bench_run(argv, NULL);
}

static void s_mkdir_p(const char *path)
{
    char *argv[] = { "/bin/mkdir", "-p", (char *) path, NULL };
    if (bench_run(argv, NULL) != 0)
        bench_die("mkdir -p %s failed", path);
}

static void rig_consumers(rig_t *r)
{
    for (int k = 0; k < r->nsubs; k++) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            bench_die("pipe: %s", strerror(errno));
        r->consumers[k] = r->sys != PEER
            ? bench_sp_partner(&ENV, O.self_exe, r->dir, k, fds[1])
            : bench_redis_consumer(O.self_exe, r->dir, O.port + 20, k, fds[1]);
        close(fds[1]);
        r->col.fds[r->col.nfds++] = fds[0];
    }
    r->nconsumers = r->nsubs;
    bench_collector_start(&r->col);
    r->col_running = true;
}

/*  Starts the server (and the consumers unless deferred) on a fresh store. */
static void rig_up(rig_t *r, int sys, const char *name, int nsubs, bool consumers_now)
{
    memset(r, 0, sizeof *r);
    r->sys = sys;
    r->nsubs = nsubs;
    r->next = 1;
    r->low = 1;
    r->acked = calloc(CAP, 1);
    r->resent_at = calloc(RESEND_SLOTS, sizeof *r->resent_at);
    if (!r->acked || !r->resent_at)
        bench_die("out of memory");
    if (snprintf(r->dir, sizeof r->dir, "%s/%s-%s", O.work, name,
                 sys == SP ? "seinpost" : sys == PG ? "postgresql" : "redis")
        >= (int) sizeof r->dir)
        bench_die("work directory path too long");
    s_rm_rf(r->dir);
    s_mkdir_p(r->dir);
    bench_collector_init(&r->col, CAP);
    r->col.need = nsubs;
    bench_event_run(++s_run_counter);
    if (sys != PEER) {
        if (sys == PG)
            bench_pg_create(&PGC, name, r->db, sizeof r->db, r->db_uri, sizeof r->db_uri);
        bench_sp_config(&ENV, r->dir, nsubs, 256, sys == PG ? r->db_uri : NULL);
        if (consumers_now && nsubs > 0)
            rig_consumers(r);       /* partners bind first; the daemon connects */
        r->server = bench_sp_daemon(&ENV, r->dir);
        r->prod = bench_sp_producer(&ENV);
        if (sys == PG) {
            bench_pg_counts(&PGC, r->db, &r->pg0);
            bench_pg_statements_reset(&PGC);
        }
    } else {
        r->server = bench_redis_server(O.port + 20, r->dir);
        bench_redis_setup(O.port + 20, nsubs);
        if (consumers_now && nsubs > 0)
            rig_consumers(r);
        r->prod = bench_redis_producer(O.port + 20);
    }
    bench_watch_start(r->server);
}

/*  The rig's server exited on its own (a deposed seinpostd on PostgreSQL
    does, by design): a PostgreSQL measurement ends there and its rows
    say failed (rig_down); for the others the harness stops, as before. */
static bool s_gone(rig_t *r)
{
    if (!bench_watch_died())
        return false;
    if (r->sys != PG)
        bench_die("%s: the server exited during the measurement; see its log", r->dir);
    if (!r->died)
        bench_log("%s: seinpostd exited during the measurement; its rows will say failed",
                  r->dir);
    r->died = true;
    return true;
}

/*  How it ended (status: its wait status) and the last line of its log,
    which says why.                                                      */
static void s_died_why(rig_t *r, meas_t *m, int status)
{
    char path[PATH_MAX + 16], line[512], last[512] = "no log";
    snprintf(path, sizeof path, "%s/daemon.log", r->dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '\n')
            snprintf(last, sizeof last, "%s", line);
    if (f)
        fclose(f);
    last[strcspn(last, "\n")] = '\0';
    for (char *c = last; *c; c++)
        *c = *c == '|' ? '/' : *c;      /* a table cell */
    m->failed = true;
    snprintf(m->why, sizeof m->why, "seinpostd %s %d during the measurement; its log's last "
             "line: %.160s", WIFSIGNALED(status) ? "was killed by signal" : "exited with status",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), last);
}

static void rig_perf_start(rig_t *r, const char *what)
{
    if (!O.perf || r->sys != SP)
        return;
    char out[PATH_MAX], pid[16], log[PATH_MAX];
    snprintf(out, sizeof out, "%s/%s.perf.data", O.perf, what);
    snprintf(log, sizeof log, "%s/%s.perf.log", O.perf, what);
    snprintf(pid, sizeof pid, "%d", (int) r->server);
    char *argv[] = { "/usr/bin/perf", "record", "--call-graph", "dwarf,16384", "-F", "999",
                     "-o", out, "-p", pid, NULL };
    r->perf = bench_spawn(argv, log, -1);
    bench_sleep_ms(500);
}

static void rig_perf_stop(rig_t *r)
{
    if (r->perf > 0)
        bench_stop(r->perf, SIGINT, 30000);
    r->perf = 0;
}

/*  What the rig's database counted from the daemon's start to its stop
    (its sessions ended, so their last counts are in), per signal sent. */
static void s_pg_count(rig_t *r, meas_t *m)
{
    bench_pg_counts_t c;
    bench_pg_wait_idle(&PGC, r->db);
    bench_pg_counts(&PGC, r->db, &c);
    m->pg.xids = c.xids - r->pg0.xids;
    m->pg.commits = c.commits - r->pg0.commits;
    m->pg.rollbacks = c.rollbacks - r->pg0.rollbacks;
    m->pg.wal_bytes = c.wal_bytes - r->pg0.wal_bytes;
    m->pg.wal_syncs = c.wal_syncs - r->pg0.wal_syncs;
    m->pg.wal_writes = c.wal_writes - r->pg0.wal_writes;
    m->pg.cpu_s = c.cpu_s - r->pg0.cpu_s;
    m->pg_n = (double) (r->next - 1 - m->refused);
    m->pg_analyses = bench_pg_analyses(r->db_uri);
    bench_pg_statements(&PGC, r->db, m->pg_n, m->pg_statements, sizeof m->pg_statements);
}

/*  m: the measurement the rig's PostgreSQL counts go to.                */
static void rig_down(rig_t *r, meas_t *m)
{
    bench_watch_stop();
    rig_perf_stop(r);
    if (r->prod)
        r->prod->destroy(r->prod);
    r->prod = NULL;
    for (int k = 0; k < r->nconsumers; k++)
        bench_stop(r->consumers[k], SIGTERM, 10000);
    if (r->col_running)
        bench_collector_finish(&r->col);
    r->col_running = false;
    int status = bench_stop(r->server, SIGTERM, 120000);
    if (status != 0)
        bench_log("%s: server exit status %d (see its log)", r->dir, status);
    if (r->died)
        s_died_why(r, m, status);
    if (r->sys == PG) {
        s_pg_count(r, m);
        if (!O.keep)
            bench_pg_drop(&PGC, r->db);
    }
    bench_collector_free(&r->col);
    free(r->acked);
    free(r->resent_at);
    if (!O.keep) {
        char path[PATH_MAX + 32];
        const char *gone[] = { "seinpost.db", "seinpost.db-wal", "seinpost.db-shm",
                               "appendonlydir", "dump.rdb" };
        for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", r->dir, gone[i]);
            s_rm_rf(path);
        }
    }
}

static void s_mark_sent(rig_t *r, uint64_t idx)
{
    atomic_store_explicit(&r->col.send_ns[idx], bench_now_ns(), memory_order_release);
}

static int64_t s_sent_at(rig_t *r, uint64_t idx)
{
    return atomic_load_explicit(&r->col.send_ns[idx], memory_order_acquire);
}

static void s_refused(rig_t *r, meas_t *m)
{
    if (m->refused++ < 5)
        bench_log("%s: refused: %s", r->dir, r->prod->last_error);
}

/*  ---------------------------------------------- closed loop on the ack */
#define RESEND_AFTER_NS 3000000000LL    /* an emitter's timeout, then resend */

/*  Resends every signal still unacknowledged RESEND_AFTER_NS after it was
    sent: identical bytes and signature, so seinpostd answers ACCEPTED
    DUPLICATE if it had stored it (docs/protocol.md 5.7). Its latency keeps
    counting from the first send, as the emitter experiences it.         */
static void s_resend_overdue(rig_t *r, int64_t now, meas_t *m)
{
    while (r->low < r->next && r->acked[r->low])
        r->low++;
    for (uint64_t idx = r->low; idx < r->next; idx++) {
        if (r->acked[idx] || now - r->resent_at[idx % RESEND_SLOTS] < RESEND_AFTER_NS
            || now - s_sent_at(r, idx) < RESEND_AFTER_NS)
            continue;
        if (r->prod->send(r->prod, idx) != 0) {
            if (s_gone(r))
                return;
            bench_die("%s: resend: %s", r->dir, strerror(errno));
        }
        r->resent_at[idx % RESEND_SLOTS] = now;
        if (m->resent++ < 3)
            bench_log("%s: no answer to signal %" PRIu64 " within %.0f s: resent", r->dir, idx,
                      RESEND_AFTER_NS / 1e9);
    }
}

/*  Keeps `window` signals in flight until `secs` have passed (or
    max_n signals were acknowledged). With max_n, CPU per signal is also
    taken over the first and the last tenth.                             */
static void run_window(rig_t *r, int window, double secs, uint64_t max_n, meas_t *m)
{
    bench_producer_t *p = r->prod;
    bench_lat_t lat = { 0 };
    uint64_t inflight = 0, counted = 0, sent = 0;
    int64_t t0 = bench_now_ns(), t_end = secs > 0 ? t0 + (int64_t) (secs * 1e9) : INT64_MAX;
    int64_t t1 = 0, progress = t0, scan_at = t0 + 1000000000;
    double cpu0 = s_server_cpu_s(r), cpu1 = 0, self0 = s_self_cpu_s(), self1 = 0;
    double cpu_mark[4] = { cpu0, 0, 0, 0 };
    uint64_t n_mark[4] = { 0, max_n / 10, max_n - max_n / 10, max_n };
    int marks = 1;
    bool ended = false;
    int64_t rss_next = t0;
    bench_load_t load;
    bench_load_begin(&load, r);
    for (;;) {
        int64_t now = bench_now_ns();
        bool gone = s_gone(r);
        if (!ended && (gone || now >= t_end || (max_n && counted >= max_n)
                       || r->next >= CAP - 1)) {
            ended = true;
            t1 = now;
            cpu1 = s_server_cpu_s(r);
            self1 = s_self_cpu_s();
            bench_load_end(&load, r, m, (double) (now - t0) / 1e9);
        }
        if (gone)
            break;
        if (max_n && now >= rss_next) {
            long kib = bench_proc_kib(r->server, "VmRSS");
            if ((double) kib / 1024.0 > m->hwm_mib)
                m->hwm_mib = (double) kib / 1024.0;
            rss_next = now + 1000000000;
        }
        while (!ended && inflight < (uint64_t) window && (!max_n || sent < max_n)) {
            uint64_t idx = r->next++;
            s_mark_sent(r, idx);
            if (p->send(p, idx) != 0) {
                if (s_gone(r))
                    break;
                bench_die("%s: send: %s", r->dir, strerror(errno));
            }
            inflight++;
            sent++;
        }
        if (inflight == 0) {
            if (!ended) {       /* max_n reached */
                t1 = bench_now_ns();
                cpu1 = s_server_cpu_s(r);
                self1 = s_self_cpu_s();
                bench_load_end(&load, r, m, (double) (t1 - t0) / 1e9);
            }
            break;
        }
        if (r->sys == SP && now >= scan_at) {
            s_resend_overdue(r, now, m);
            scan_at = now + 1000000000;
        }
        uint64_t idx;
        bool ok;
        int rc = p->recv(p, &idx, &ok, 1000);
        if (rc == 1) {
            if (bench_now_ns() - progress > 60000000000LL)
                bench_die("%s: no acknowledgement for 60 s (%" PRIu64 " in flight, %"
                          PRIu64 " sent since the start); see the logs there", r->dir,
                          inflight, r->next - 1);
            continue;
        }
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            bench_die("%s: receive: %s", r->dir, p->last_error[0] ? p->last_error
                                                                   : strerror(errno));
        }
        if (idx == BENCH_NO_IDX || idx >= r->next) {
            bench_log("%s: an acknowledgement for no signal of this run", r->dir);
            continue;
        }
        if (r->acked[idx])
            continue;           /* the answer to a resend, or to the first send */
        r->acked[idx] = 1;
        progress = bench_now_ns();
        inflight--;
        if (!ok) {
            s_refused(r, m);
            continue;
        }
        if (!ended) {
            bench_lat_add(&lat, progress - s_sent_at(r, idx));
            counted++;
            if (max_n && marks < 4 && counted == n_mark[marks]) {
                cpu_mark[marks] = s_server_cpu_s(r);
                marks++;
            }
        }
    }
    m->ran = true;
    m->n = counted;
    m->secs = (double) (t1 - t0) / 1e9;
    m->rate = (double) counted / m->secs;
    m->p50 = bench_lat_ms(&lat, 50);
    m->p99 = bench_lat_ms(&lat, 99);
    m->p999 = bench_lat_ms(&lat, 99.9);
    m->cpu_us = counted ? (cpu1 - cpu0) * 1e6 / (double) counted : NAN;
    m->client_us = counted ? (self1 - self0) * 1e6 / (double) counted : NAN;
    if (max_n && marks == 4) {
        double tenth = (double) (max_n / 10);
        m->fill_cpu_first = (cpu_mark[1] - cpu_mark[0]) * 1e6 / tenth;
        m->fill_cpu_last = (cpu_mark[3] - cpu_mark[2]) * 1e6 / tenth;
    }
    bench_lat_free(&lat);
}

/*  ------------------------------------------------- open loop, fixed rate */
/*  Sends `rate` signals a second on a schedule, whatever the answers do
    (open loop); latency from the actual send to the acknowledgement. The
    wait for acknowledgements has millisecond timeouts (zmq_poll, poll), so
    a send may leave up to about 1 ms after its slot, and a late one is
    followed at once by the next: the average rate is exact.             */
static void run_rate(rig_t *r, int rate, double secs, meas_t *m)
{
    bench_producer_t *p = r->prod;
    bench_lat_t lat = { 0 };
    int64_t period = 1000000000LL / rate;
    uint64_t total = (uint64_t) (secs * rate), sent = 0, inflight = 0, counted = 0;
    int64_t t0 = bench_now_ns(), due = t0, last_send = t0, progress = t0;
    double cpu0 = s_server_cpu_s(r);
    bench_load_t load;
    bench_load_begin(&load, r);
    prctl(PR_SET_TIMERSLACK, 1UL);      /* poll timeouts to the microsecond */
    while ((sent < total || inflight > 0) && !s_gone(r)) {
        int64_t now = bench_now_ns();
        while (sent < total && now >= due - 100000) {
            double lag = (double) (now - due) / 1e6;
            if (lag > m->lag_max_ms)
                m->lag_max_ms = lag;
            uint64_t idx = r->next++;
            s_mark_sent(r, idx);
            if (p->send(p, idx) != 0) {
                if (s_gone(r))
                    break;
                bench_die("%s: send: %s", r->dir, strerror(errno));
            }
            last_send = now;
            sent++;
            inflight++;
            due += period;
            now = bench_now_ns();
        }
        int timeout = sent < total ? (int) ((due - now + 999999) / 1000000) : 1000;
        if (inflight == 0) {
            /* nothing to wait for: sleep to the next send */
            struct timespec ts = { (time_t) (due / 1000000000), (long) (due % 1000000000) };
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            continue;
        }
        uint64_t idx;
        bool ok;
        int rc = p->recv(p, &idx, &ok, timeout < 0 ? 0 : timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            bench_die("%s: receive: %s", r->dir, p->last_error);
        if (rc == 1) {
            if (bench_now_ns() - progress > 60000000000LL)
                bench_die("%s: no acknowledgement for 60 s", r->dir);
            continue;
        }
        if (idx == BENCH_NO_IDX || idx >= r->next || r->acked[idx])
            continue;
        r->acked[idx] = 1;
        progress = bench_now_ns();
        inflight--;
        if (!ok) {
            s_refused(r, m);
            continue;
        }
        bench_lat_add(&lat, progress - s_sent_at(r, idx));
        if ((double) (progress - s_sent_at(r, idx)) / 1e6 > STALL_MS)
            m->stalls++;
        counted++;
    }
    double cpu1 = s_server_cpu_s(r);
    bench_load_end(&load, r, m, (double) (bench_now_ns() - t0) / 1e9);
    m->ran = true;
    m->n = counted;
    m->secs = (double) (last_send - t0) / 1e9;
    m->rate = m->secs > 0 ? (double) (sent - 1) / m->secs : NAN;
    m->p50 = bench_lat_ms(&lat, 50);
    m->p99 = bench_lat_ms(&lat, 99);
    m->p999 = bench_lat_ms(&lat, 99.9);
    m->cpu_us = counted ? (cpu1 - cpu0) * 1e6 / (double) counted : NAN;
    bench_lat_free(&lat);
}

/*  ------------------------------------------- closed loop end to end */
/*  Waits until every signal sent so far reached every consumer.          */
static void s_wait_complete(rig_t *r, uint64_t base, uint64_t want, int timeout_s)
{
    int64_t limit = bench_now_ns() + (int64_t) timeout_s * 1000000000LL;
    while (atomic_load(&r->col.completed) - base < want && !s_gone(r)) {
        uint64_t idx;
        bool ok;
        r->prod->recv(r->prod, &idx, &ok, 0);       /* keep the acks flowing */
        bench_collector_wait(&r->col, atomic_load(&r->col.completed), 10);
        if (bench_now_ns() > limit)
            bench_die("%s: only %" PRIu64 " of %" PRIu64 " signals reached every consumer "
                      "within %d s; see the logs there", r->dir,
                      atomic_load(&r->col.completed) - base, want, timeout_s);
    }
}

/*  `window` signals in flight until each consumer has handled them.      */
static void run_e2e(rig_t *r, int window, double secs, meas_t *m)
{
    bench_producer_t *p = r->prod;
    bench_collector_t *c = &r->col;
    uint64_t c_base = atomic_load(&c->completed), sent = 0, acks = 0, refused0 = m->refused;
    int64_t t0 = bench_now_ns(), t_end = t0 + (int64_t) (secs * 1e9);
    atomic_store(&c->lat_from, t0);
    atomic_store(&c->lat_to, t_end);
    uint64_t d0 = atomic_load(&c->deliveries);
    double cpu0 = s_server_cpu_s(r), self0 = s_self_cpu_s(), cons0 = s_consumers_s(r);
    int64_t progress = t0;
    bench_load_t load;
    bench_load_begin(&load, r);
    uint64_t last_done = 0;
    for (;;) {
        int64_t now = bench_now_ns();
        if (now >= t_end || r->next >= CAP - 1 || s_gone(r))
            break;
        uint64_t done = atomic_load(&c->completed) - c_base;
        if (done != last_done) {
            last_done = done;
            progress = now;
        } else if (now - progress > 30000000000LL) {
            bench_die("%s: no signal completed for 30 s; see the logs there", r->dir);
        }
        while (sent - done - (m->refused - refused0) < (uint64_t) window) {
            uint64_t idx = r->next++;
            s_mark_sent(r, idx);
            if (p->send(p, idx) != 0) {
                if (s_gone(r))
                    break;
                bench_die("%s: send: %s", r->dir, strerror(errno));
            }
            sent++;
        }
        /* collect the acks without waiting on them */
        for (;;) {
            uint64_t idx;
            bool ok;
            int rc = p->recv(p, &idx, &ok, 0);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc < 0)
                bench_die("%s: receive: %s", r->dir, p->last_error);
            if (rc == 1)
                break;
            acks++;
            if (!ok)
                s_refused(r, m);
        }
        bench_collector_wait(c, done + c_base, 1);
    }
    int64_t t1 = bench_now_ns();
    double cpu1 = s_server_cpu_s(r), self1 = s_self_cpu_s(), cons1 = s_consumers_s(r);
    bench_load_end(&load, r, m, (double) (t1 - t0) / 1e9);
    uint64_t done = atomic_load(&c->completed) - c_base;
    uint64_t deliveries = atomic_load(&c->deliveries) - d0;
    /* let what was sent arrive, so that every latency is counted */
    s_wait_complete(r, c_base, sent - (m->refused - refused0), 60);
    bench_collector_finish(c);
    r->col_running = false;
    m->ran = true;
    m->n = done;
    m->secs = (double) (t1 - t0) / 1e9;
    m->rate = (double) done / m->secs;
    m->rate2 = (double) deliveries / m->secs;
    m->p50 = bench_lat_ms(&c->lat_ack, 50);
    m->p99 = bench_lat_ms(&c->lat_ack, 99);
    m->p999 = bench_lat_ms(&c->lat_ack, 99.9);
    m->recv_p50 = bench_lat_ms(&c->lat_recv, 50);
    m->recv_p99 = bench_lat_ms(&c->lat_recv, 99);
    m->cpu_us = done ? (cpu1 - cpu0) * 1e6 / (double) done : NAN;
    m->client_us = done ? (self1 - self0) * 1e6 / (double) done : NAN;
    m->consumer_us = deliveries ? (cons1 - cons0) * 1e6 / (double) deliveries : NAN;
    (void) acks;
}

/*  Warm-up: connections, CURVE handshakes, caches; not measured.        */
static void s_warm(rig_t *r, int window)
{
    meas_t scratch = { 0 };
    uint64_t base = atomic_load(&r->col.completed), n = 300;
    run_window(r, window < 100 ? window : 100, 0, n, &scratch);
    if (r->col_running)
        s_wait_complete(r, base, n, 60);
}

/*  ------------------------------------------------------------- phases */
static const char *s_name(int sys)
{
    return sys == SP ? "seinpost" : sys == PG ? "seinpost on PostgreSQL" : "peer";
}

static bool s_phase(const char *name)
{
    if (!O.only)
        return true;
    const char *p = strstr(O.only, name);
    size_t len = strlen(name);
    return p && (p == O.only || p[-1] == ',') && (p[len] == '\0' || p[len] == ',');
}

/*  Whether a phase runs sys: seinpost on SQLite always, the peer unless
    --no-peer, seinpost on PostgreSQL in PG_PHASES unless --no-pg. When
    the cluster did not start, m is marked failed instead: its rows say
    so rather than go missing.                                           */
static bool s_runs(int sys, const char *phase, meas_t *m)
{
    if (sys == PEER)
        return !O.no_peer;
    if (sys == SP)
        return true;
    bool listed = false;
    for (size_t i = 0; i < PG_NPHASES; i++)
        listed = listed || strcmp(PG_PHASES[i], phase) == 0;
    if (O.no_pg || !listed)
        return false;
    m->failed = !PGC.up;
    if (m->failed)
        snprintf(m->why, sizeof m->why, "PostgreSQL did not start (see the notes)");
    return PGC.up;
}

static bool s_level(int level)
{
    char text[16];
    if (!O.levels)
        return true;
    snprintf(text, sizeof text, "%d", level);
    const char *p = O.levels;
    size_t len = strlen(text);
    while ((p = strstr(p, text)) != NULL) {
        if ((p == O.levels || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
            return true;
        p += len;
    }
    return false;
}

static void phase_ingress(void)
{
    for (int l = 0; l < 4; l++)
        for (int sys = 0; sys < NSYS && s_level(LEVELS[l]); sys++) {
            rig_t r;
            char name[32];
            if (!s_runs(sys, "ingress", &R_ingress[sys][l]))
                continue;
            snprintf(name, sizeof name, "ingress-%d", LEVELS[l]);
            rig_up(&r, sys, name, 0, true);
            s_warm(&r, LEVELS[l]);
            snprintf(name, sizeof name, "ingress-w%d", LEVELS[l]);
            s_wait_quiet(&r);
            rig_perf_start(&r, name);
            meas_t *m = &R_ingress[sys][l];
            run_window(&r, LEVELS[l], O.ingress_s, 0, m);
            rig_down(&r, m);
            bench_log("ingress %-8s %4d in flight: %8.0f signals/s  p50 %.3f ms  p99 %.3f ms  "
                      "server CPU %.1f us/signal  client CPU %.1f us/signal  other load %.0f%%",
                      s_name(sys), LEVELS[l], m->rate, m->p50, m->p99, m->cpu_us, m->client_us,
                      m->other_pct);
        }
}

/*  100 in flight with one partner receiving: the server's CPU per accepted
    signal then covers its ingress, one delivery and one receipt. Taken
    from the first send until the partner has every accepted signal, so
    that deliveries still queued when the window closed count as well.  */
static void phase_ingress1(void)
{
    for (int sys = 0; sys < NSYS; sys++) {
        rig_t r;
        meas_t *m = &R_ingress1[sys];
        if (!s_runs(sys, "ingress1", m))
            continue;
        rig_up(&r, sys, "ingress1", 1, true);
        s_warm(&r, 100);
        s_wait_quiet(&r);
        rig_perf_start(&r, "ingress1");
        uint64_t base = atomic_load(&r.col.completed), first = r.next;
        double cpu0 = s_server_cpu_s(&r);
        run_window(&r, 100, O.ingress_s, 0, m);
        uint64_t accepted = r.next - first - m->refused;
        s_wait_complete(&r, base, accepted, 120);
        double cpu1 = s_server_cpu_s(&r);
        m->cpu_us = accepted ? (cpu1 - cpu0) * 1e6 / (double) accepted : NAN;
        rig_down(&r, m);
        bench_log("ingress1 %-8s 100 in flight, 1 consumer: %8.0f signals/s  p50 %.3f ms  "
                  "p99 %.3f ms  server CPU %.1f us/signal (ingress + delivery + receipt)  "
                  "other load %.0f%%", s_name(sys), m->rate, m->p50, m->p99, m->cpu_us,
                  m->other_pct);
    }
}

/*  100 in flight, the emitter's signatures made before the timed run:
    on 2 vCPUs the emitter's signing competes with the daemon, and this row
    shows the daemon without that. The peer's producer signs nothing; it
    runs the same window for the ratio.                                  */
static void phase_presigned(void)
{
    uint64_t n = (uint64_t) (O.ingress_s * PRESIGN_PER_S);
    for (int sys = 0; sys < NSYS; sys++) {
        rig_t r;
        meas_t *m = &R_presigned[sys];
        if (!s_runs(sys, "presigned", m))
            continue;
        rig_up(&r, sys, "presigned", 0, true);
        s_warm(&r, 100);
        if (sys != PEER) {
            int64_t t = bench_now_ns();
            bench_sp_presign(r.prod, r.next, n);
            m->presign_s = (double) (bench_now_ns() - t) / 1e9;
        }
        s_wait_quiet(&r);
        rig_perf_start(&r, "presigned");
        run_window(&r, 100, O.ingress_s, n, m);
        rig_down(&r, m);
        if (m->n + m->refused >= n)
            bench_log("presigned %s: all %" PRIu64 " signals sent after %.1f s (the run ends "
                      "there)", s_name(sys), n, m->secs);
        bench_log("presigned %-8s 100 in flight: %8.0f signals/s  p50 %.3f ms  p99 %.3f ms  "
                  "server CPU %.1f us/signal  client CPU %.1f us/signal (signing %" PRIu64
                  " took %.1f s before)  other load %.0f%%", s_name(sys), m->rate, m->p50,
                  m->p99, m->cpu_us, m->client_us, n, m->presign_s, m->other_pct);
    }
}

static void s_e2e(int sys, int nsubs, double secs, meas_t *m, const char *name)
{
    rig_t r;
    rig_up(&r, sys, name, nsubs, true);
    s_warm(&r, O.e2e_window);
    s_wait_quiet(&r);
    if (nsubs == E2E_PARTNERS)
        rig_perf_start(&r, name);
    run_e2e(&r, O.e2e_window, secs, m);
    rig_down(&r, m);
    bench_log("%s %-8s %2d consumers, %d in flight: %7.0f signals/s  %7.0f deliveries/s  "
              "p50 %.2f ms  p99 %.2f ms (verified: p50 %.2f p99 %.2f)  server CPU %.1f "
              "us/signal  harness CPU %.1f us/signal  consumer CPU %.1f us/delivery  other load "
              "%.0f%%", name, s_name(sys), nsubs, O.e2e_window, m->rate, m->rate2, m->p50,
              m->p99, m->recv_p50, m->recv_p99, m->cpu_us, m->client_us, m->consumer_us,
              m->other_pct);
}

static void phase_e2e(void)
{
    for (int sys = 0; sys < NSYS; sys++) {
        if (!s_runs(sys, "e2e", &R_e2e[sys]))
            continue;
        s_e2e(sys, E2E_PARTNERS, O.e2e_s, &R_e2e[sys], "e2e-3");
        R_scale[sys][1] = R_e2e[sys];
    }
}

static void phase_scaling(void)
{
    for (int i = 0; i < 3; i += 2)
        for (int sys = 0; sys < NSYS; sys++) {
            char name[32];
            if (!s_runs(sys, "scaling", &R_scale[sys][i]))
                continue;
            snprintf(name, sizeof name, "scaling-%d", SCALE[i]);
            s_e2e(sys, SCALE[i], O.scale_s, &R_scale[sys][i], name);
        }
}

static void s_fsync_probe(double *p50, double *p99);

static void phase_rate(void)
{
    for (int sys = 0; sys < NSYS; sys++) {
        rig_t r;
        meas_t *m = &R_rate[sys];
        if (!s_runs(sys, "rate", m))
            continue;
        rig_up(&r, sys, "rate", O.rate_subs, true);
        s_warm(&r, 10);
        s_wait_quiet(&r);
        rig_perf_start(&r, "rate");
        run_rate(&r, O.rate, O.rate_s, m);
        rig_down(&r, m);
        /* the disk as it is now: a stall above is often the disk's, not ours */
        s_fsync_probe(&m->fsync_p50, &m->fsync_p99);
        bench_log("rate %-8s %d/s for %.0f s (achieved %.0f/s, send lag max %.2f ms): "
                  "p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  stalls > %.0f ms: %" PRIu64 "  "
                  "server CPU %.1f us/signal  fdatasync p99 after %.3f ms  other load %.0f%%",
                  s_name(sys), O.rate, O.rate_s, m->rate, m->lag_max_ms, m->p50, m->p99,
                  m->p999, STALL_MS, m->stalls, m->cpu_us, m->fsync_p99, m->other_pct);
    }
}

static void phase_backlog(void)
{
    for (int sys = 0; sys < NSYS; sys++) {
        rig_t r;
        meas_t *m = &R_backlog[sys];
        long n = sys == PG ? O.pg_backlog_n : O.backlog_n;
        if (!s_runs(sys, "backlog", m))
            continue;
        rig_up(&r, sys, "backlog", 1, false);
        uint64_t first = r.next;
        s_warm(&r, 100);
        s_wait_quiet(&r);
        bench_log("backlog %s: queueing %ld signals for a consumer that is down", s_name(sys),
                  n);
        meas_t fill = { 0 };
        run_window(&r, 1000, 0, (uint64_t) n, &fill);
        m->fill_rate = fill.rate;
        m->fill_other_pct = fill.other_pct;
        m->resent = fill.resent;
        m->fill_cpu_first = fill.fill_cpu_first;
        m->fill_cpu_last = fill.fill_cpu_last;
        m->refused = fill.refused;
        m->target = r.next - first;         /* warm-up signals queued as well */
        bench_sleep_ms(2000);
        m->rss_mib = (double) bench_proc_kib(r.server, "VmRSS") / 1024.0;
        m->hwm_mib = (double) bench_proc_kib(r.server, "VmHWM") / 1024.0;
        bench_log("backlog %s: %" PRIu64 " queued at %.0f signals/s; RSS %.1f MiB (peak "
                  "%.1f MiB); CPU/signal first tenth %.1f us, last tenth %.1f us",
                  s_name(sys), m->target, fill.rate, m->rss_mib, m->hwm_mib,
                  m->fill_cpu_first, m->fill_cpu_last);
        /* the consumer comes back */
        int64_t t0 = bench_now_ns(), t_first = 0;
        /* CPU at the first delivery and after every tenth of the backlog */
        double cpu0 = s_server_cpu_s(&r), cpu_mark[11] = { 0 };
        uint64_t n_mark[11], n_at[11] = { 0 };    /* target and count seen */
        for (int i = 0; i <= 10; i++)
            n_mark[i] = m->target * (uint64_t) i / 10;
        int marks = 0;
        rig_consumers(&r);
        bench_load_t load;
        bench_load_begin(&load, &r);
        int64_t limit = t0 + (int64_t) O.drain_cap_s * 1000000000LL;
        uint64_t got = 0;
        for (;;) {
            bench_sleep_ms(20);
            int64_t now = bench_now_ns();
            got = atomic_load(&r.col.deliveries);
            if (got > 0 && !t_first) {
                t_first = now;
                cpu_mark[0] = s_server_cpu_s(&r);
                n_at[0] = got;
                marks = 1;
            }
            while (marks > 0 && marks < 11 && got >= n_mark[marks]) {
                cpu_mark[marks] = s_server_cpu_s(&r);
                n_at[marks] = got;
                marks++;
            }
            double rss = (double) bench_proc_kib(r.server, "VmRSS") / 1024.0;
            if (rss > m->drain_rss_max_mib)
                m->drain_rss_max_mib = rss;
            if (got >= m->target || now > limit || s_gone(&r))
                break;
        }
        int64_t t1 = bench_now_ns();
        double cpu1 = s_server_cpu_s(&r);
        bench_load_end(&load, &r, m, (double) (t1 - t0) / 1e9);
        m->drained = got;
        m->drain_s = (double) (t1 - t0) / 1e9;
        m->drain_rate = (double) got / m->drain_s;
        m->drain_first_delivery_s = t_first ? (double) (t_first - t0) / 1e9 : NAN;
        m->cpu_us = got ? (cpu1 - cpu0) * 1e6 / (double) got : NAN;
        /* per signal counted between two samples: a 20 ms sample can pass
           a mark by a few hundred signals, and the first tenth starts at
           the first batch seen, not at 0                                */
        for (int i = 0; i < 10; i++)
            m->drain_cpu_tenth[i] = i + 1 < marks && n_at[i + 1] > n_at[i]
                ? (cpu_mark[i + 1] - cpu_mark[i]) * 1e6
                  / (double) (n_at[i + 1] - n_at[i]) : NAN;
        m->hwm_mib = (double) bench_proc_kib(r.server, "VmHWM") / 1024.0;
        m->ran = true;
        rig_down(&r, m);
        bench_log("backlog %s: drained %" PRIu64 " of %" PRIu64 " in %.1f s: %.0f signals/s "
                  "(first delivery after %.2f s); RSS max while draining %.1f MiB; CPU/signal "
                  "first tenth %.1f us, last tenth %.1f us", s_name(sys), got, m->target,
                  m->drain_s, m->drain_rate, m->drain_first_delivery_s, m->drain_rss_max_mib,
                  m->drain_cpu_tenth[0], m->drain_cpu_tenth[9]);
    }
}

/*  -------------------------------------------------------------- table */
static FILE *s_out;

static void s_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void s_print(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (s_out) {
        va_start(ap, fmt);
        vfprintf(s_out, fmt, ap);
        va_end(ap);
    }
}

static void s_fmt(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "–");
    else if (fabs(v) >= 1000)
        snprintf(buf, len, "%.0f", v);
    else if (fabs(v) >= 100)
        snprintf(buf, len, "%.0f", v);
    else if (fabs(v) >= 10)
        snprintf(buf, len, "%.1f", v);
    else if (fabs(v) >= 1)
        snprintf(buf, len, "%.2f", v);
    else
        snprintf(buf, len, "%.3f", v);
}

/*  Formats "a / b / c" from up to three values.                          */
static void s_cell(char *buf, size_t len, int n, const double *v)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        char one[32];
        s_fmt(one, sizeof one, v[i]);
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, "%s%s", i ? " / " : "", one);
    }
}

static int s_pass, s_fail;

static const char *s_status(int verdict)     /* 1 pass, 0 fail, -1 none */
{
    if (verdict == 1) {
        s_pass++;
        return "PASS";
    }
    if (verdict == 0) {
        s_fail++;
        return "**FAIL**";
    }
    return "";
}

/*  One row: n values per system (n <= 3), ratio seinpost/peer per value. */
/*  The CPU other processes took while a measurement ran, "seinpost / peer". */
static const char *s_other(const meas_t *s, const meas_t *p)
{
    static char buf[48];
    if (!s || !s->ran)
        return "";
    if (p && p->ran && !O.no_peer)
        snprintf(buf, sizeof buf, "%.0f%% / %.0f%%", s->other_pct, p->other_pct);
    else
        snprintf(buf, sizeof buf, "%.0f%%", s->other_pct);
    return buf;
}

static const char *s_other_row;     /* for the next s_row only */

static void s_row(const char *label, bool ran, int n, const double *sp, const double *peer,
                  const char *target, int verdict)
{
    char a[96], b[96], ratio[96] = "";
    const char *other = s_other_row ? s_other_row : "";
    s_other_row = NULL;
    if (!ran) {
        s_print("| %s | not run | | | %s | | |\n", label, target);
        return;
    }
    s_cell(a, sizeof a, n, sp);
    if (peer && !O.no_peer) {
        double q[3];
        s_cell(b, sizeof b, n, peer);
        for (int i = 0; i < n; i++)
            q[i] = sp[i] / peer[i];
        for (int i = 0; i < n; i++) {
            char one[32];
            snprintf(one, sizeof one, isnan(q[i]) || isinf(q[i]) ? "–" : "%.2f×", q[i]);
            size_t at = strlen(ratio);
            snprintf(ratio + at, sizeof ratio - at, "%s%s", i ? " / " : "", one);
        }
    } else {
        snprintf(b, sizeof b, "%s", peer ? "not run" : "–");
    }
    s_print("| %s | %s | %s | %s | %s | %s | %s |\n", label, a, b, ratio, target,
            s_status(verdict), other);
}

#define V1(x) ((const double[]) { (x) })
#define V2(x, y) ((const double[]) { (x), (y) })
#define V3(x, y, z) ((const double[]) { (x), (y), (z) })

static int s_ok(bool ran, bool cond) { return !ran ? -1 : cond ? 1 : 0; }

/*  Whether to print the PostgreSQL rows of a measurement (what: their
    label's start): none with --no-pg or when it was not run; one failed
    row in their place when the cluster did not start or the daemon
    exited during it. They carry no target: the targets are issue 19's,
    for the default store.                                              */
static bool s_pg_rows(const char *what, const meas_t *m)
{
    if (m->failed)
        s_print("| %s, on PostgreSQL | **failed**: %s | | | | %s | |\n", what, m->why,
                s_status(0));
    return m->ran && !m->failed && !O.no_pg;
}

/*  ----------------------------------------------- the PostgreSQL rows */
/*  Printed under the SQLite rows they mirror, with the same peer figures
    and ratios to them.                                                  */
static void s_table_ingress_pg(int l)
{
    char label[160];
    const meas_t *g = &R_ingress[PG][l], *p = &R_ingress[PEER][l];
    snprintf(label, sizeof label, "1. ingress, %d in flight", LEVELS[l]);
    if (!s_pg_rows(label, g))
        return;
    snprintf(label, sizeof label, "1. ingress, %d in flight, on PostgreSQL: signals/s",
             LEVELS[l]);
    s_other_row = s_other(g, p);
    s_row(label, true, 1, V1(g->rate), V1(p->rate), "report", -1);
    snprintf(label, sizeof label, "1. ingress, %d in flight, on PostgreSQL: p50 / p99 "
             "emit→ack, ms", LEVELS[l]);
    s_row(label, true, 2, V2(g->p50, g->p99), V2(p->p50, p->p99), "", -1);
    snprintf(label, sizeof label, "1. ingress, %d in flight, on PostgreSQL: server CPU per "
             "signal (seinpostd + PostgreSQL), µs", LEVELS[l]);
    s_row(label, true, 1, V1(g->cpu_us), V1(p->cpu_us), "", -1);
}

static void s_table_e2e_pg(void)
{
    char label[160];
    const meas_t *g = &R_e2e[PG], *p = &R_e2e[PEER];
    if (!s_pg_rows("2. end to end", g))
        return;
    snprintf(label, sizeof label, "2. end to end, on PostgreSQL, 3 partners, %d in flight: "
             "signals/s", O.e2e_window);
    s_other_row = s_other(g, p);
    s_row(label, true, 1, V1(g->rate), V1(p->rate), "report", -1);
    s_row("2. end to end, on PostgreSQL: deliveries/s", true, 1, V1(g->rate2), V1(p->rate2),
          "", -1);
    s_row("2. end to end, on PostgreSQL: p50 / p99 emit→receipt, ms", true, 2,
          V2(g->p50, g->p99), V2(p->p50, p->p99), "", -1);
    s_row("2. end to end, on PostgreSQL: server CPU per signal (seinpostd + PostgreSQL), µs",
          true, 1, V1(g->cpu_us), V1(p->cpu_us), "", -1);
}

static void s_table_rate_pg(void)
{
    char label[160];
    const meas_t *g = &R_rate[PG], *p = &R_rate[PEER];
    snprintf(label, sizeof label, "3. %d signals/s", O.rate);
    if (!s_pg_rows(label, g))
        return;
    snprintf(label, sizeof label, "3. %d signals/s, on PostgreSQL: p50 / p99 / p99.9 "
             "emit→ack, ms", O.rate);
    s_other_row = s_other(g, p);
    s_row(label, true, 3, V3(g->p50, g->p99, g->p999), V3(p->p50, p->p99, p->p999),
          "report", -1);
    snprintf(label, sizeof label, "3. fixed rate, on PostgreSQL: stalls (emit→ack > %.0f ms) "
             "/ disk fdatasync p99 measured after the run, ms", STALL_MS);
    s_row(label, true, 2, V2((double) g->stalls, g->fsync_p99),
          V2((double) p->stalls, p->fsync_p99), "", -1);
}

/*  RSS is seinpostd's alone: PostgreSQL's memory is its own settings'
    (shared_buffers), whatever the backlog.                             */
static void s_table_backlog_pg(void)
{
    char label[160];
    static char both[64];
    const meas_t *g = &R_backlog[PG], *p = &R_backlog[PEER];
    if (!s_pg_rows("4. backlog", g))
        return;
    snprintf(both, sizeof both, "fill %.0f%%, drain %.0f%%", g->fill_other_pct, g->other_pct);
    s_other_row = both;
    snprintf(label, sizeof label, "4. backlog of %ld, on PostgreSQL: seinpostd RSS, MiB",
             O.pg_backlog_n);
    s_row(label, true, 1, V1(g->rss_mib), V1(p->rss_mib), "report", -1);
    s_row("4. backlog, on PostgreSQL: seinpostd peak RSS (VmHWM), MiB", true, 1,
          V1(g->hwm_mib), V1(p->hwm_mib), "", -1);
    s_row("4. backlog, on PostgreSQL: queueing rate, 1000 in flight, signals/s", true, 1,
          V1(g->fill_rate), V1(p->fill_rate), "", -1);
    snprintf(label, sizeof label, "4. backlog, on PostgreSQL: drain when the partner returns, "
             "signals/s%s", g->drained < g->target ? " (cap reached: partial)" : "");
    s_row(label, true, 1, V1(g->drain_rate), V1(p->drain_rate), "", -1);
    s_row("4. backlog, on PostgreSQL: server CPU per signal queued, first / last tenth, µs",
          true, 2, V2(g->fill_cpu_first, g->fill_cpu_last),
          V2(p->fill_cpu_first, p->fill_cpu_last), "", -1);
    s_row("4. backlog, on PostgreSQL: server CPU per signal drained, first / last tenth, µs",
          true, 2, V2(g->drain_cpu_tenth[0], g->drain_cpu_tenth[9]),
          V2(p->drain_cpu_tenth[0], p->drain_cpu_tenth[9]), "", -1);
}

/*  ------------------------------------------------------ the SQLite rows */
/*  The targets are issue 19's: absolute where the profile gave a floor
    (CPU per signal), ratios to the peer in the same run elsewhere. A ratio
    target is not judged without the peer.                               */
static void s_table_ingress(void)
{
    char label[160];
    for (int l = 0; l < 4; l++) {
        meas_t *s = &R_ingress[SP][l], *p = &R_ingress[PEER][l];
        bool ran = s->ran;
        snprintf(label, sizeof label, "1. ingress, %d in flight: signals/s", LEVELS[l]);
        const char *t = LEVELS[l] == 1 ? "≥ 0.7× peer" : LEVELS[l] == 100 ? "≥ 0.35× peer" : "";
        int v = LEVELS[l] == 1 ? s_ok(ran && p->ran, s->rate >= 0.7 * p->rate)
              : LEVELS[l] == 100 ? s_ok(ran && p->ran, s->rate >= 0.35 * p->rate) : -1;
        s_other_row = s_other(s, p);
        s_row(label, ran, 1, V1(s->rate), V1(p->rate), t, v);
        snprintf(label, sizeof label, "1. ingress, %d in flight: p50 / p99 emit→ack, ms",
                 LEVELS[l]);
        s_row(label, ran, 2, V2(s->p50, s->p99), V2(p->p50, p->p99), "", -1);
        snprintf(label, sizeof label, "1. ingress, %d in flight: server CPU per signal%s, µs",
                 LEVELS[l], LEVELS[l] == 100 ? " (0 subscribers)" : "");
        s_row(label, ran, 1, V1(s->cpu_us), V1(p->cpu_us), LEVELS[l] == 100 ? "≤ 90" : "",
              LEVELS[l] == 100 ? s_ok(ran, s->cpu_us <= 90) : -1);
        s_table_ingress_pg(l);
    }
    meas_t *s = &R_ingress1[SP], *p = &R_ingress1[PEER];
    s_other_row = s_other(s, p);
    s_row("1. ingress, 100 in flight, 1 subscriber: signals/s", s->ran, 1, V1(s->rate),
          V1(p->rate), "", -1);
    s_row("1. ingress, 100 in flight, 1 subscriber: server CPU per accepted signal (ingress + "
          "delivery + receipt), µs", s->ran, 1, V1(s->cpu_us), V1(p->cpu_us), "≤ 110",
          s_ok(s->ran, s->cpu_us <= 110));
    s = &R_presigned[SP];
    p = &R_presigned[PEER];
    s_other_row = s_other(s, p);
    s_row("1. ingress, 100 in flight, signed before the run: signals/s", s->ran, 1,
          V1(s->rate), V1(p->rate), "report", -1);
    s_row("1. ingress, 100 in flight, signed before the run: server CPU per signal, µs",
          s->ran, 1, V1(s->cpu_us), V1(p->cpu_us), "report", -1);
}

static void s_table_e2e_rate(void)
{
    char label[160], target[64];
    meas_t *s = &R_e2e[SP], *p = &R_e2e[PEER];
    snprintf(label, sizeof label, "2. end to end, 3 partners, %d in flight: signals/s",
             O.e2e_window);
    s_other_row = s_other(s, p);
    s_row(label, s->ran, 1, V1(s->rate), V1(p->rate), "≥ 0.25× peer",
          s_ok(s->ran && p->ran, s->rate >= 0.25 * p->rate));
    s_row("2. end to end: deliveries/s", s->ran, 1, V1(s->rate2), V1(p->rate2), "", -1);
    s_row("2. end to end: p50 / p99 emit→receipt, ms", s->ran, 2, V2(s->p50, s->p99),
          V2(p->p50, p->p99), "", -1);
    s_row("2. end to end: server CPU per signal, µs", s->ran, 1, V1(s->cpu_us),
          V1(p->cpu_us), "", -1);
    s_table_e2e_pg();
    s = &R_rate[SP];
    p = &R_rate[PEER];
    snprintf(label, sizeof label, "3. %d signals/s for %.0f s, %d partner%s: p50 / p99 / "
             "p99.9 emit→ack, ms", O.rate, O.rate_s, O.rate_subs, O.rate_subs == 1 ? "" : "s");
    s_other_row = s_other(s, p);
    s_row(label, s->ran, 3, V3(s->p50, s->p99, s->p999), V3(p->p50, p->p99, p->p999),
          "p99 ≤ 2× peer p99", s_ok(s->ran && p->ran, s->p99 <= 2.0 * p->p99));
    snprintf(label, sizeof label, "3. fixed rate: stalls (emit→ack > %.0f ms) / disk "
             "fdatasync p99 measured after the run, ms", STALL_MS);
    snprintf(target, sizeof target, "report");
    s_row(label, s->ran, 2, V2((double) s->stalls, s->fsync_p99),
          V2((double) p->stalls, p->fsync_p99), target, -1);
    s_table_rate_pg();
}

static void s_table_backlog(void)
{
    char label[160], target[64];
    meas_t *s = &R_backlog[SP], *p = &R_backlog[PEER];
    bool full = O.backlog_n >= 1000000;
    snprintf(label, sizeof label, "4. backlog of %ld for a stopped partner: server RSS, MiB",
             O.backlog_n);
    snprintf(target, sizeof target, "≤ 64%s", full ? "" : " (at 1 M)");
    static char both[64];
    if (s->ran)
        snprintf(both, sizeof both, "fill %.0f%%, drain %.0f%%", s->fill_other_pct,
                 s->other_pct);
    s_other_row = s->ran ? both : NULL;
    s_row(label, s->ran, 1, V1(s->rss_mib), V1(p->rss_mib), target,
          s_ok(s->ran, s->rss_mib <= 64));
    s_row("4. backlog: peak RSS (VmHWM), MiB", s->ran, 1, V1(s->hwm_mib), V1(p->hwm_mib),
          "", -1);
    s_row("4. backlog: queueing rate, 1000 in flight, signals/s", s->ran, 1,
          V1(s->fill_rate), V1(p->fill_rate), "", -1);
    snprintf(label, sizeof label, "4. backlog: drain when the partner returns, signals/s%s",
             s->ran && s->drained < s->target ? " (cap reached: partial)" : "");
    s_row(label, s->ran, 1, V1(s->drain_rate), V1(p->drain_rate), "≥ 15 000",
          s_ok(s->ran, s->drain_rate >= 15000));
    s_row("4. backlog: server CPU per signal queued, first / last tenth, µs", s->ran, 2,
          V2(s->fill_cpu_first, s->fill_cpu_last), V2(p->fill_cpu_first, p->fill_cpu_last),
          "", -1);
    s_row("4. backlog: server CPU per signal drained, first / last tenth, µs", s->ran, 2,
          V2(s->drain_cpu_tenth[0], s->drain_cpu_tenth[9]),
          V2(p->drain_cpu_tenth[0], p->drain_cpu_tenth[9]), "", -1);
    s_table_backlog_pg();
}

static void s_table_scaling(void)
{
    char label[160];
    bool all = true;
    for (int i = 0; i < 3; i++) {
        meas_t *s = &R_scale[SP][i], *p = &R_scale[PEER][i];
        all = all && s->ran;
        snprintf(label, sizeof label, "6. %d subscriber%s: signals/s / deliveries/s", SCALE[i],
                 SCALE[i] > 1 ? "s" : "");
        s_other_row = s_other(s, p);
        s_row(label, s->ran, 2, V2(s->rate, s->rate2), V2(p->rate, p->rate2), "", -1);
        snprintf(label, sizeof label, "6. %d subscriber%s: server CPU per signal, µs", SCALE[i],
                 SCALE[i] > 1 ? "s" : "");
        s_row(label, s->ran, 1, V1(s->cpu_us), V1(p->cpu_us), "", -1);
    }
    double c1 = R_scale[SP][0].cpu_us, c3 = R_scale[SP][1].cpu_us, c10 = R_scale[SP][2].cpu_us;
    double m1 = (c3 - c1) / 2, m2 = (c10 - c3) / 7;
    double q1 = (R_scale[PEER][1].cpu_us - R_scale[PEER][0].cpu_us) / 2;
    double q2 = (R_scale[PEER][2].cpu_us - R_scale[PEER][1].cpu_us) / 7;
    /* 1→3 needs only the 1 and 3 points: judged without the 10 */
    bool ran13 = R_scale[SP][0].ran && R_scale[SP][1].ran;
    s_row("6. server CPU per extra subscriber (delivery + receipt), 1→3 / 3→10, µs",
          ran13, 2, V2(m1, all ? m2 : NAN), V2(q1, q2), "1→3 ≤ 25", s_ok(ran13, m1 <= 25));
}

static void s_table(void)
{
    s_print("\n| row | seinpost | peer (Redis) | ratio seinpost/peer | target | status | "
            "other load |\n");
    s_print("| --- | ---: | ---: | ---: | --- | --- | ---: |\n");
    s_table_ingress();
    s_table_e2e_rate();
    s_table_backlog();
    s_table_scaling();
}

/*  ------------------------------------------------------------ machine */
static void s_first_line(const char *cmd, char *buf, size_t len)
{
    FILE *p = popen(cmd, "r");
    buf[0] = '\0';
    if (p) {
        if (fgets(buf, (int) len, p))
            buf[strcspn(buf, "\n")] = '\0';
        pclose(p);
    }
}

static void s_fsync_probe(double *p50, double *p99)
{
    char path[PATH_MAX + 16], block[4096];
    bench_lat_t lat = { 0 };
    snprintf(path, sizeof path, "%s/fsync.probe", O.work);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    memset(block, 'f', sizeof block);
    for (int i = 0; fd >= 0 && i < 300; i++) {
        int64_t t = bench_now_ns();
        if (pwrite(fd, block, sizeof block, (off_t) i * (off_t) sizeof block) < 0
            || fdatasync(fd) != 0)
            break;
        bench_lat_add(&lat, bench_now_ns() - t);
    }
    if (fd >= 0)
        close(fd);
    unlink(path);
    *p50 = bench_lat_ms(&lat, 50);
    *p99 = bench_lat_ms(&lat, 99);
    bench_lat_free(&lat);
}

/*  What the rows "on PostgreSQL" ran on, or why there are none.        */
static void s_machine_pg(void)
{
    if (O.no_pg) {
        s_print("- PostgreSQL: not run (--no-pg)\n");
        return;
    }
    if (PGC.error[0]) {
        s_print("- PostgreSQL: **did not start**, its rows are failed: %s\n", PGC.error);
        return;
    }
    if (!PGC.about[0])
        return;                     /* no phase with PostgreSQL rows ran */
    s_print("- rows \"on PostgreSQL\": the same seinpostd with `database:` a fresh database "
            "of a private cluster (tests/pg/pg-start) in %s, on the same disk as SQLite and "
            "Redis, reached over its unix socket (no TCP), on the same machine (its CPUs "
            "shared by seinpostd, PostgreSQL, the harness and the partners); %s; node.lease "
            "3 s (the default: every transaction first checks the lease, SELECT ... FOR "
            "SHARE); server CPU there is seinpostd's and every PostgreSQL process's\n",
            PGC.dir, PGC.about);
}

static void s_machine(void)
{
    char cpu[256] = "?", line[PATH_MAX + 256], disk[512], rot[64];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    long mem_mib = sysconf(_SC_PHYS_PAGES) / 1024 * sysconf(_SC_PAGESIZE) / 1024;
    if (snprintf(line, sizeof line, "df -P -T '%s' | awk 'NR==2 {print $1\", \"$2}'", O.work)
        >= (int) sizeof line)
        bench_die("work directory path too long");
    s_first_line(line, disk, sizeof disk);
    if (snprintf(line, sizeof line, "dev=$(df -P '%s' | awk 'NR==2 {print $1}'); "
                 "b=$(basename \"$dev\"); cat /sys/block/$b/queue/rotational 2>/dev/null "
                 "|| echo '?'", O.work) >= (int) sizeof line)
        bench_die("work directory path too long");
    s_first_line(line, rot, sizeof rot);
    double f50, f99;
    s_fsync_probe(&f50, &f99);
    int zmaj, zmin, zpat;
    zmq_version(&zmaj, &zmin, &zpat);
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    s_print("## seinpost benchmark (%s mode), %s\n\n", O.quick ? "quick" : "full", when);
    s_print("- machine: %ld CPUs (nproc), %s, %ld MiB RAM, kernel %s %s\n",
            sysconf(_SC_NPROCESSORS_ONLN), cpu, mem_mib, u.sysname, u.release);
    s_print("- disk under %s: %s, rotational=%s; fdatasync of 4 KiB: p50 %.3f ms, "
            "p99 %.3f ms\n", O.work, disk, rot, f50, f99);
    s_print("- software: seinpost %s, libzmq %d.%d.%d, %s (appendonly yes, appendfsync "
            "always), hiredis %d.%d.%d\n", SP_VERSION_STRING, zmaj, zmin, zpat,
            bench_redis_version(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    s_print("- durations: ingress %.0f s per level, end to end %.0f s, fixed rate %d/s for "
            "%.0f s, scaling %.0f s per point, backlog %ld signals (on PostgreSQL %ld; drain "
            "capped at %d s); "
            "each measurement waited up to %d s for other load below 10 %%\n",
            O.ingress_s, O.e2e_s, O.rate, O.rate_s, O.scale_s, O.backlog_n, O.pg_backlog_n,
            O.drain_cap_s, O.wait_quiet_s);
    s_machine_pg();
}

/*  What PostgreSQL counted per signal over each rig's life.             */
static void s_note_pg(const char *what, const meas_t *m)
{
    if (!m->ran || m->failed || m->pg_n <= 0)
        return;
    double n = m->pg_n;
    s_print("- on PostgreSQL, %s: per signal, over the database's life (%.0f signals with the "
            "warm-up, the daemon's start to its stop): %.3f write transactions (xids), %.3f "
            "commits, %.3f rollbacks, %.3f WAL flushes (pg_stat_wal wal_sync), %.3f WAL "
            "writes, %.2f KiB of WAL; %.1f signals per commit; PostgreSQL's processes "
            "%.1f µs CPU; table deliveries analysed %d time(s) by then\n", what, n,
            m->pg.xids / n, m->pg.commits / n, m->pg.rollbacks / n, m->pg.wal_syncs / n,
            m->pg.wal_writes / n, m->pg.wal_bytes / n / 1024.0,
            m->pg.commits > 0 ? n / m->pg.commits : NAN, m->pg.cpu_s * 1e6 / n, m->pg_analyses);
    if (m->pg_statements[0])
        s_print("- on PostgreSQL, %s, pg_stat_statements: %s\n", what, m->pg_statements);
}

static void s_notes_pg(void)
{
    char what[64];
    for (int l = 0; l < 4; l++) {
        snprintf(what, sizeof what, "ingress, %d in flight", LEVELS[l]);
        s_note_pg(what, &R_ingress[PG][l]);
    }
    s_note_pg("end to end, 3 partners", &R_e2e[PG]);
    s_note_pg("fixed rate", &R_rate[PG]);
    s_note_pg("backlog, fill and drain", &R_backlog[PG]);
    if (PGC.error[0])
        s_print("- PostgreSQL did not start: %s\n", PGC.error);
}

static void s_notes(void)
{
    s_print("\nNotes from this run:\n\n");
    s_print("- other load: CPU used by processes outside the benchmark while a measurement "
            "ran (machine busy time from /proc/stat minus the server's, the consumers' and "
            "the harness's), in %% of the machine; above a few %% the figures are skewed.\n");
    for (int l = 0; l < 4; l++) {
        const meas_t *s = &R_ingress[SP][l], *p = &R_ingress[PEER][l];
        if (!s->ran)
            continue;
        s_print("- ingress, %d in flight: client (harness) CPU per signal: seinpost emitter "
                "%.1f µs (it signs each signal)", LEVELS[l], s->client_us);
        if (p->ran)
            s_print(", hiredis producer %.1f µs", p->client_us);
        if (s->resent)
            s_print("; %" PRIu64 " signal(s) got no answer within %.0f s and were resent "
                    "(answered ACCEPTED DUPLICATE)", s->resent, RESEND_AFTER_NS / 1e9);
        if (s->refused)
            s_print("; %" PRIu64 " refused", s->refused);
        s_print("\n");
    }
    if (R_presigned[SP].ran) {
        const meas_t *s = &R_presigned[SP], *p = &R_presigned[PEER];
        s_print("- ingress, 100 in flight, signed before the run: the %.0f signatures took "
                "%.1f s before the timed run; client (harness) CPU per signal: seinpost "
                "emitter %.1f µs", (double) (O.ingress_s * PRESIGN_PER_S), s->presign_s,
                s->client_us);
        if (p->ran)
            s_print(", hiredis producer %.1f µs", p->client_us);
        s_print("\n");
    }
    if (R_ingress1[SP].ran) {
        const meas_t *s = &R_ingress1[SP];
        s_print("- ingress, 100 in flight, 1 subscriber: CPU per signal counted from the first "
                "send until the partner had every accepted signal (%" PRIu64 " acknowledged "
                "in %.1f s); client CPU per signal %.1f µs\n", s->n, s->secs, s->client_us);
    }
    for (int i = 0; i < 3; i++) {
        const meas_t *s = &R_scale[SP][i], *p = &R_scale[PEER][i];
        if (!s->ran)
            continue;
        s_print("- end to end, %d consumer(s): consumer CPU per delivery: seinpost partner "
                "%.1f µs (verifies the batch and each emitter signature, signs receipts)",
                SCALE[i], s->consumer_us);
        if (p->ran)
            s_print(", Redis consumer %.1f µs", p->consumer_us);
        s_print("; emit→consumer has verified, p50 / p99: seinpost %.2f / %.2f ms", s->recv_p50,
                s->recv_p99);
        if (p->ran)
            s_print(", peer %.2f / %.2f ms", p->recv_p50, p->recv_p99);
        s_print("\n");
    }
    if (R_rate[SP].ran) {
        const meas_t *s = &R_rate[SP], *p = &R_rate[PEER];
        s_print("- fixed rate: seinpost achieved %.0f signals/s, largest send delay %.2f ms, "
                "server CPU per signal %.1f µs", s->rate, s->lag_max_ms, s->cpu_us);
        if (p->ran)
            s_print("; peer %.0f signals/s, %.2f ms, %.1f µs", p->rate, p->lag_max_ms,
                    p->cpu_us);
        s_print("\n");
    }
    for (int sys = 0; sys < NSYS; sys++) {
        const meas_t *b = &R_backlog[sys];
        if (!b->ran)
            continue;
        s_print("- backlog, %s: %" PRIu64 " queued (with the warm-up), %" PRIu64 " drained in "
                "%.1f s, first delivery %.2f s after the consumer started, RSS at most "
                "%.1f MiB while draining, server CPU per drained signal %.1f µs",
                s_name(sys), b->target, b->drained, b->drain_s, b->drain_first_delivery_s,
                b->drain_rss_max_mib, b->cpu_us);
        if (b->resent)
            s_print("; %" PRIu64 " signal(s) resent after no answer within %.0f s",
                    b->resent, RESEND_AFTER_NS / 1e9);
        s_print("; server CPU per drained signal by tenth of the backlog, µs:");
        for (int i = 0; i < 10; i++)
            s_print(" %.1f", b->drain_cpu_tenth[i]);
        s_print("\n");
    }
    s_notes_pg();
    s_print("\n%d PASS, %d FAIL\n", s_pass, s_fail);
}

/*  ---------------------------------------------------------------- main */
static void s_check_ports(void)
{
    int ports[12];
    for (int i = 0; i < 11; i++)
        ports[i] = O.port + i;      /* ingress, partners p0..p9 */
    ports[11] = O.port + 20;        /* Redis */
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) ports[i]),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *) &a, sizeof a) != 0)
            bench_die("port %d is in use; choose another base with --port (BENCH_PORT)",
                      ports[i]);
        close(fd);
    }
}

/*  One cluster for the run, when a phase with PostgreSQL rows will run.
    When it does not start, the run goes on and those rows say so.      */
static void s_pg_up(void)
{
    char dir[PATH_MAX + 8], log[PATH_MAX + 16], scripts[PATH_MAX];
    bool wanted = false;
    for (size_t i = 0; i < PG_NPHASES; i++)
        wanted = wanted || s_phase(PG_PHASES[i]);
    if (O.no_pg || !wanted)
        return;
    snprintf(dir, sizeof dir, "%s/pg", O.work);
    snprintf(log, sizeof log, "%s/pg-start.log", O.work);
    if (!realpath("tests/pg", scripts))
        snprintf(scripts, sizeof scripts, "tests/pg");
    bench_log("PostgreSQL: starting a private cluster in %s (tests/pg/pg-start)", dir);
    if (bench_pg_start(&PGC, scripts, dir, log, O.pg_statements) != 0)
        bench_log("PostgreSQL did not start; its rows will say failed: %s", PGC.error);
    else
        bench_log("PostgreSQL: %s", PGC.about);
}

static void s_usage(int status)
{
    fprintf(status ? stderr : stdout, "usage: bench [--quick] "
            "[--only ingress,ingress1,presigned,e2e,rate,scaling,backlog] "
            "[--no-peer] [--no-pg] [--pg-statements] [--bin DIR] [--dir WORKDIR] [--port N] [--out FILE] [--keep] "
            "[--perf DIR] [--window N] [--backlog N] [--pg-backlog N] [--levels 1,10,100,1000] "
            "[--strict] [--wait-quiet SECONDS] [--rate-subs N]\n"
            "See docs/benchmarks.md for what each phase and option does.\n");
    exit(status);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "partner") == 0)
        return bench_sp_partner_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "redis-consumer") == 0)
        return bench_redis_consumer_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "emit") == 0)
        return bench_sp_emit_main(argc, argv);
    const char *dir = "build/bench/work";
    O.bin = "build";
    O.port = 27400;
    O.e2e_window = 256;
    O.rate_subs = E2E_PARTNERS;
    long backlog = 0, pg_backlog = 0;
    int wait_quiet = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) O.quick = true;
        else if (strcmp(a, "--no-peer") == 0) O.no_peer = true;
        else if (strcmp(a, "--no-pg") == 0) O.no_pg = true;
        else if (strcmp(a, "--pg-statements") == 0) O.pg_statements = true;
        else if (strcmp(a, "--keep") == 0) O.keep = true;
        else if (strcmp(a, "--strict") == 0) O.strict = true;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) s_usage(0);
        else if (!v) s_usage(2);
        else if (strcmp(a, "--only") == 0) O.only = argv[++i];
        else if (strcmp(a, "--levels") == 0) O.levels = argv[++i];
        else if (strcmp(a, "--bin") == 0) O.bin = argv[++i];
        else if (strcmp(a, "--dir") == 0) dir = argv[++i];
        else if (strcmp(a, "--out") == 0) O.out = argv[++i];
        else if (strcmp(a, "--perf") == 0) O.perf = argv[++i];
        else if (strcmp(a, "--port") == 0) O.port = atoi(argv[++i]);
        else if (strcmp(a, "--window") == 0) O.e2e_window = atoi(argv[++i]);
        else if (strcmp(a, "--backlog") == 0) backlog = atol(argv[++i]);
        else if (strcmp(a, "--pg-backlog") == 0) pg_backlog = atol(argv[++i]);
        else if (strcmp(a, "--wait-quiet") == 0) wait_quiet = atoi(argv[++i]);
        else if (strcmp(a, "--rate-subs") == 0) O.rate_subs = atoi(argv[++i]);
        else s_usage(2);
    }
    if (O.port <= 0 || O.port > 65000 || O.e2e_window <= 0 || O.e2e_window > 1000
        || O.rate_subs < 0 || O.rate_subs > 10)
        s_usage(2);
    O.ingress_s = O.quick ? 3 : 10;
    O.e2e_s = O.quick ? 5 : 15;
    O.scale_s = O.quick ? 4 : 10;
    O.rate = 1000;
    O.rate_s = O.quick ? 5 : 30;
    O.backlog_n = backlog ? backlog : O.quick ? 100000 : 1000000;
    /* at PostgreSQL's rate a backlog of 1 M would take a quarter of an hour */
    O.pg_backlog_n = pg_backlog ? pg_backlog : O.backlog_n < 200000 ? O.backlog_n : 200000;
    O.drain_cap_s = O.quick ? 60 : 400;
    O.wait_quiet_s = wait_quiet >= 0 ? wait_quiet : O.quick ? 0 : 60;
    if (readlink("/proc/self/exe", O.self_exe, sizeof O.self_exe - 1) < 0)
        bench_die("readlink /proc/self/exe: %s", strerror(errno));
    s_mkdir_p(dir);
    if (!realpath(dir, O.work))
        bench_die("%s: %s", dir, strerror(errno));
    char bin[PATH_MAX], keys[PATH_MAX + 8];
    if (!realpath(O.bin, bin))
        bench_die("%s: %s", O.bin, strerror(errno));
    O.bin = bin;
    if (!O.out) {
        if (snprintf(O.out_buf, sizeof O.out_buf, "%s/../results.md", O.work)
            >= (int) sizeof O.out_buf)
            bench_die("work directory path too long");
        O.out = O.out_buf;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_trap_interrupts();
    s_check_ports();
    s_rm_rf(O.work);
    s_mkdir_p(O.work);
    snprintf(keys, sizeof keys, "%s/keys", O.work);
    s_mkdir_p(keys);
    ENV.bin = O.bin;
    ENV.keys = keys;
    ENV.port = O.port;
    bench_event_init();
    bench_log("keys and configuration in %s", O.work);
    bench_sp_keys(&ENV);
    int64_t t_start = bench_now_ns();
    s_pg_up();
    if (s_phase("ingress"))
        phase_ingress();
    if (s_phase("ingress1"))
        phase_ingress1();
    if (s_phase("presigned"))
        phase_presigned();
    if (s_phase("e2e"))
        phase_e2e();
    if (s_phase("rate"))
        phase_rate();
    if (s_phase("scaling"))
        phase_scaling();
    if (s_phase("backlog"))
        phase_backlog();
    if (PGC.up)
        bench_pg_stop(&PGC, O.keep);
    s_out = fopen(O.out, "w");
    if (!s_out)
        bench_log("%s: %s (table on stdout only)", O.out, strerror(errno));
    s_machine();
    s_print("- command: `%s`", argv[0]);
    for (int i = 1; i < argc; i++)
        s_print(" `%s`", argv[i]);
    s_print(" (%.0f s in all)\n", (double) (bench_now_ns() - t_start) / 1e9);
    s_table();
    s_notes();
    if (s_out)
        fclose(s_out);
    bench_log("table written to %s", O.out);
    return O.strict && s_fail ? 3 : 0;
}
