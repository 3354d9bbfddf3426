/*  bench_sys.c - clocks, /proc, processes, latency sets, the event, and the
    collector thread that reads consumer records.                        */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void bench_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/*  Every child this process started and has not stopped yet: stopped by
    PID when the harness dies, so that no daemon is left behind.         */
static pid_t s_children[64];
static size_t s_child_count;
static pid_t s_parent;

static void s_child_add(pid_t pid)
{
    if (s_child_count < sizeof s_children / sizeof s_children[0])
        s_children[s_child_count++] = pid;
}

static void s_child_remove(pid_t pid)
{
    for (size_t i = 0; i < s_child_count; i++)
        if (s_children[i] == pid) {
            s_children[i] = s_children[--s_child_count];
            return;
        }
}

/*  bench_cleanup_set(): run after the children were stopped, once.     */
static char *const *s_cleanup;

void bench_cleanup_set(char *const argv[])
{
    s_cleanup = argv;
}

/*  Also from the signal handler: fork, execv and waitpid only.         */
static void s_run_cleanup(void)
{
    char *const *argv = s_cleanup;
    s_cleanup = NULL;
    if (!argv)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (getpid() == s_parent) {
        while (s_child_count > 0)
            bench_stop(s_children[s_child_count - 1], SIGTERM, 10000);
        s_run_cleanup();
    }
    exit(1);
}

double bench_proc_cpu_s(pid_t pid)
{
    pid_t ppid;
    return bench_proc_stat(pid, &ppid);
}

double bench_proc_stat(pid_t pid, pid_t *ppid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: start after the
       last ')'; then field 3 (state) comes first                        */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long v[20] = { 0 };
    char state;
    /* fields 3..17: state ppid pgrp session tty tpgid flags minflt cminflt
       majflt cmajflt utime stime cutime cstime                           */
    if (sscanf(p + 1, " %c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
               &state, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
               &v[9], &v[10], &v[11], &v[12], &v[13]) != 15)
        return -1;
    *ppid = (pid_t) v[0];
    double hz = (double) sysconf(_SC_CLK_TCK);
    return (double) (v[10] + v[11] + v[12] + v[13]) / hz;
}

long bench_proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kib = strtol(line + flen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

pid_t bench_spawn(char *const argv[], const char *log_path, int pass_fd)
{
    if (!s_parent)
        s_parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* fd 3 first, so that the opens below cannot take it */
        if (pass_fd >= 0 && pass_fd != 3) {
            if (dup2(pass_fd, 3) < 0)
                _exit(127);
        } else if (pass_fd == 3) {
            int flags = fcntl(3, F_GETFD);
            fcntl(3, F_SETFD, flags & ~FD_CLOEXEC);
        }
        int log = open(log_path ? log_path : "/dev/null",
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log < 0 || null < 0)
            _exit(127);
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    s_child_add(pid);
    return pid;
}

bool bench_alive(pid_t pid)
{
    int status;
    if (pid <= 0)
        return false;
    if (waitpid(pid, &status, WNOHANG) == 0)
        return true;
    s_child_remove(pid);
    return false;
}

/*  SIGINT/SIGTERM to the harness: stop the children by PID, then go.    */
static void s_on_interrupt(int sig)
{
    for (size_t i = 0; i < s_child_count; i++)
        kill(s_children[i], SIGTERM);
    s_run_cleanup();
    _exit(128 + sig);
}

void bench_trap_interrupts(void)
{
    struct sigaction sa = { .sa_handler = s_on_interrupt };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int bench_stop(pid_t pid, int sig, int timeout_ms)
{
    int status = 0;
    if (pid <= 0)
        return -1;
    s_child_remove(pid);
    kill(pid, sig);
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        pid_t rc = waitpid(pid, &status, WNOHANG);
        if (rc == pid || (rc < 0 && errno == ECHILD))
            return status;
        bench_sleep_ms(20);
    }
    bench_log("pid %d did not stop within %d ms: SIGKILL", (int) pid, timeout_ms);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

int bench_run(char *const argv[], const char *log_path)
{
    int status;
    pid_t pid = bench_spawn(argv, log_path, -1);
    pid_t rc = waitpid(pid, &status, 0);
    s_child_remove(pid);
    if (rc != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*  -------------------------------------------------------------- watch */
/*  A thread looks at the watched server every 100 ms; when it has exited
    (a zombie, or gone), it says so and interrupts the main thread with
    SIGUSR1: a ZeroMQ send to a peer that went away waits for ever (the
    emitter's queue is full), and the signal ends that wait with EINTR.
    Nothing is reaped here.                                             */
static struct {
    pid_t pid;
    pthread_t thread, main;
    atomic_bool stop, died;
    bool running;
} s_watch;

static void s_on_usr1(int sig)
{
    (void) sig;
}

static bool s_exited(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !p || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

/*  Once it has exited, the main thread is interrupted every 100 ms until
    the watch stops: a send may block again after the first interrupt. */
static void *s_watch_loop(void *arg)
{
    (void) arg;
    while (!atomic_load(&s_watch.stop)) {
        if (atomic_load(&s_watch.died) || s_exited(s_watch.pid)) {
            atomic_store(&s_watch.died, true);
            pthread_kill(s_watch.main, SIGUSR1);
        }
        bench_sleep_ms(100);
    }
    return NULL;
}

void bench_watch_start(pid_t pid)
{
    struct sigaction sa = { .sa_handler = s_on_usr1 };    /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    bench_watch_stop();
    s_watch.pid = pid;
    s_watch.main = pthread_self();
    atomic_store(&s_watch.stop, false);
    atomic_store(&s_watch.died, false);
    if (pthread_create(&s_watch.thread, NULL, s_watch_loop, NULL) != 0)
        bench_die("pthread_create: %s", strerror(errno));
    s_watch.running = true;
}

void bench_watch_stop(void)
{
    if (!s_watch.running)
        return;
    atomic_store(&s_watch.stop, true);
    pthread_join(s_watch.thread, NULL);
    s_watch.running = false;
}

bool bench_watch_died(void)
{
    return atomic_load(&s_watch.died);
}

/*  ---------------------------------------------------------- latencies */
void bench_lat_add(bench_lat_t *self, int64_t ns)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 65536;
        int64_t *v = realloc(self->v, cap * sizeof *v);
        if (!v)
            bench_die("out of memory");
        self->v = v;
        self->cap = cap;
    }
    self->v[self->n++] = ns;
    self->sorted = false;
}

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

double bench_lat_ms(bench_lat_t *self, double pct)
{
    if (self->n == 0)
        return NAN;
    if (!self->sorted) {
        qsort(self->v, self->n, sizeof *self->v, s_cmp);
        self->sorted = true;
    }
    /* nearest rank */
    size_t rank = (size_t) ceil(pct / 100.0 * (double) self->n);
    if (rank < 1)
        rank = 1;
    if (rank > self->n)
        rank = self->n;
    return (double) self->v[rank - 1] / 1e6;
}

void bench_lat_free(bench_lat_t *self)
{
    free(self->v);
    memset(self, 0, sizeof *self);
}

/*  -------------------------------------------------------------- event */
static char s_event_buf[BENCH_EVENT_SIZE + 1];
static size_t s_idx_at;             /* offset of the 12 index digits */

void bench_event_init(void)
{
    static const char head[] =
        "{\"specversion\":\"1.0\",\"id\":\"sb-00-000000000000\","
        "\"source\":\"urn:nld:oin:00000001001234567000:systeem:bench\","
        "\"type\":\"nl.gemeente.burgerzaken.geen-dubbele-bewoning\","
        "\"time\":\"2026-11-23T12:00:00.000Z\",\"datacontenttype\":\"application/json\","
        "\"subject\":\"999990019\",\"data\":{\"gemeentecode\":\"0855\","
        "\"nummeraanduidingIdentificatie\":\"0855200000012345\","
        "\"bewonerBsn\":\"999990019\",\"vastgesteldOp\":\"2026-11-23\","
        "\"toelichting\":\"";
    static const char tail[] = "\"}}";
    size_t hl = strlen(head), tl = strlen(tail);
    memcpy(s_event_buf, head, hl);
    memset(s_event_buf + hl, 'x', BENCH_EVENT_SIZE - hl - tl);
    memcpy(s_event_buf + BENCH_EVENT_SIZE - tl, tail, tl);
    s_event_buf[BENCH_EVENT_SIZE] = '\0';
    s_idx_at = (size_t) (strstr(s_event_buf, "sb-00-") - s_event_buf) + 6;
}

void bench_event_run(int run)
{
    s_event_buf[s_idx_at - 3] = (char) ('0' + (run / 10) % 10);
    s_event_buf[s_idx_at - 2] = (char) ('0' + run % 10);
}

const char *bench_event(uint64_t idx, size_t *len)
{
    for (int i = 11; i >= 0; i--) {
        s_event_buf[s_idx_at + (size_t) i] = (char) ('0' + idx % 10);
        idx /= 10;
    }
    *len = BENCH_EVENT_SIZE;
    return s_event_buf;
}

uint64_t bench_idx_from_id(const char *id, size_t len)
{
    size_t i = len;
    uint64_t v = 0, mul = 1;
    while (i > 0 && id[i - 1] >= '0' && id[i - 1] <= '9') {
        v += (uint64_t) (id[i - 1] - '0') * mul;
        mul *= 10;
        i--;
    }
    return i == len ? BENCH_NO_IDX : v;
}

/*  ---------------------------------------------------------- collector */
void bench_collector_init(bench_collector_t *self, size_t cap)
{
    memset(self, 0, sizeof *self);
    self->cap = cap;
    self->send_ns = calloc(cap, sizeof *self->send_ns);
    self->count = calloc(cap, 1);
    if (!self->send_ns || !self->count)
        bench_die("out of memory");
    atomic_init(&self->deliveries, 0);
    atomic_init(&self->completed, 0);
    atomic_init(&self->last_ns, 0);
    atomic_init(&self->lat_from, INT64_MAX);
    atomic_init(&self->lat_to, INT64_MAX);
    atomic_init(&self->stop, false);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&self->mu, NULL);
}

static void s_records(bench_collector_t *self, const bench_rec_t *rec, size_t n)
{
    int64_t from = atomic_load(&self->lat_from), to = atomic_load(&self->lat_to);
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = rec[i].idx;
        if (idx >= self->cap)
            continue;
        atomic_fetch_add(&self->deliveries, 1);
        int64_t sent = atomic_load_explicit(&self->send_ns[idx], memory_order_acquire);
        if (sent >= from && sent < to && sent > 0) {
            bench_lat_add(&self->lat_ack, rec[i].t_ack - sent);
            bench_lat_add(&self->lat_recv, rec[i].t_recv - sent);
        }
        if (++self->count[idx] == self->need)
            atomic_fetch_add(&self->completed, 1);
        atomic_store(&self->last_ns, rec[i].t_ack);
    }
}

static void *s_collect(void *arg)
{
    bench_collector_t *self = arg;
    static bench_rec_t buf[4096];
    struct pollfd pfd[BENCH_MAX_CONSUMERS];
    for (int i = 0; i < self->nfds; i++)
        pfd[i] = (struct pollfd) { self->fds[i], POLLIN, 0 };
    while (!atomic_load(&self->stop)) {
        int rc = poll(pfd, (nfds_t) self->nfds, 50);
        if (rc <= 0)
            continue;
        bool any = false;
        for (int i = 0; i < self->nfds; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                continue;
            unsigned char *raw = (unsigned char *) buf;
            size_t have = self->have[i];
            memcpy(raw, self->part[i], have);
            ssize_t got = read(pfd[i].fd, raw + have, sizeof buf - have);
            if (got <= 0) {
                if (got == 0 || (errno != EINTR && errno != EAGAIN))
                    pfd[i].fd = -pfd[i].fd - 1;     /* closed: ignore from now on */
                continue;
            }
            size_t total = have + (size_t) got, whole = total / sizeof(bench_rec_t);
            s_records(self, buf, whole);
            self->have[i] = total - whole * sizeof(bench_rec_t);
            memcpy(self->part[i], raw + whole * sizeof(bench_rec_t), self->have[i]);
            any = any || whole > 0;
        }
        if (any) {
            pthread_mutex_lock(&self->mu);
            if (self->waiting)
                pthread_cond_broadcast(&self->cv);
            pthread_mutex_unlock(&self->mu);
        }
    }
    return NULL;
}

void bench_collector_start(bench_collector_t *self)
{
    if (pthread_create(&self->thread, NULL, s_collect, self) != 0)
        bench_die("pthread_create: %s", strerror(errno));
}

void bench_collector_wait(bench_collector_t *self, uint64_t seen, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long) ms * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_mutex_lock(&self->mu);
    self->waiting++;
    if (atomic_load(&self->completed) == seen)
        pthread_cond_timedwait(&self->cv, &self->mu, &ts);
    self->waiting--;
    pthread_mutex_unlock(&self->mu);
}

void bench_collector_finish(bench_collector_t *self)
{
    atomic_store(&self->stop, true);
    pthread_join(self->thread, NULL);
    for (int i = 0; i < self->nfds; i++)
        close(self->fds[i]);
    self->nfds = 0;
}

void bench_collector_free(bench_collector_t *self)
{
    free(self->send_ns);
    free(self->count);
    bench_lat_free(&self->lat_ack);
    bench_lat_free(&self->lat_recv);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
}
