/*  bench.h - shared by the parts of the seinpost benchmark (`make bench`).

    bench.c        phases, measurement loops, the table, main()
    bench_sys.c    clocks, /proc, latency sets, processes, the consumer
                   record collector
    bench_sp.c     seinpost: keys, daemon configuration, the emitter as a
                   producer, the partner child process
    bench_redis.c  the peer: redis-server, XADD producer, consumer child
    bench_pg.c     seinpost on PostgreSQL: the private cluster, a database
                   per measurement, its processes' CPU, its counts

    A *producer* sends numbered 1 KiB signals and receives one durable
    acknowledgement per signal (seinpost: ACCEPTED; Redis: the XADD reply
    under appendfsync always). A *consumer* is a child process (a seinpost
    partner, or a Redis consumer group reader) that writes one record per
    new signal it handled to a pipe, read by the collector thread.
*/
#ifndef BENCH_H_INCLUDED
#define BENCH_H_INCLUDED

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_EVENT_SIZE 1024       /* bytes per signal, exactly */
#define BENCH_MAX_CONSUMERS 16
#define BENCH_MAX_PARTNERS 10       /* keys and ports port+1..port+10 */
#define BENCH_NO_IDX UINT64_MAX

/*  ------------------------------------------------------------------ sys */
int64_t bench_now_ns(void);         /* CLOCK_MONOTONIC, shared by processes */
void bench_sleep_ms(int ms);
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*  CPU seconds of a process: utime + stime, plus cutime + cstime (children
    it waited for, e.g. Redis's AOF rewrite). -1 when it is gone.         */
double bench_proc_cpu_s(pid_t pid);
/*  The same, with the process's parent in *ppid: one read of its stat.   */
double bench_proc_stat(pid_t pid, pid_t *ppid);
/*  A "Vm...:" line of /proc/PID/status in KiB ("VmRSS", "VmHWM"); -1.    */
long bench_proc_kib(pid_t pid, const char *field);

/*  Starts argv[0] (a path) with stdout and stderr appended to log_path.
    pass_fd >= 0 becomes fd 3 in the child. Returns the PID.              */
pid_t bench_spawn(char *const argv[], const char *log_path, int pass_fd);
/*  Sends sig, waits up to timeout_ms, then SIGKILL. Returns the wait
    status, -1 if pid <= 0.                                               */
int bench_stop(pid_t pid, int sig, int timeout_ms);
bool bench_alive(pid_t pid);        /* not exited (reaps it if it has) */
void bench_trap_interrupts(void);   /* SIGINT/TERM/HUP: stop children, exit */
/*  A command run (and waited for) when the harness dies or is interrupted,
    after its children: for what is not its child, the PostgreSQL cluster
    pg_ctl started. argv must stay valid; NULL unsets it.                */
void bench_cleanup_set(char *const argv[]);
/*  Watches one server (pid): bench_watch_died() turns true once it has
    exited, and the main thread's blocking call is interrupted (EINTR)
    then. Start from the main thread; stop before stopping the server. */
void bench_watch_start(pid_t pid);
void bench_watch_stop(void);
bool bench_watch_died(void);
int bench_run(char *const argv[], const char *log_path);  /* spawn + wait */

/*  Latency set, nanoseconds.                                             */
typedef struct {
    int64_t *v;
    size_t n, cap;
    bool sorted;
} bench_lat_t;

void bench_lat_add(bench_lat_t *self, int64_t ns);
double bench_lat_ms(bench_lat_t *self, double pct);    /* NAN when empty */
void bench_lat_free(bench_lat_t *self);

/*  The event: valid CloudEvents JSON of exactly BENCH_EVENT_SIZE bytes,
    id "sb-RR-NNNNNNNNNNNN" (RR the run, N the index).                   */
void bench_event_init(void);
void bench_event_run(int run);      /* new id prefix: fresh ids per phase */
const char *bench_event(uint64_t idx, size_t *len);
uint64_t bench_idx_from_id(const char *id, size_t len);

/*  ------------------------------------------------------------ producers */
typedef struct bench_producer bench_producer_t;
struct bench_producer {
    /* queues one signal (may sign it); 0 or -1 */
    int (*send)(bench_producer_t *self, uint64_t idx);
    /* one acknowledgement: 0 and *idx (*ok false when refused), 1 when
       nothing arrived within timeout_ms, -1 on error (errno EINTR when a
       signal interrupted the wait)                                      */
    int (*recv)(bench_producer_t *self, uint64_t *idx, bool *ok, int timeout_ms);
    void (*destroy)(bench_producer_t *self);
    char last_error[256];
};

/*  ------------------------------------------------------------ collector */
/*  What a consumer child writes per signal: when it had verified/read the
    signal (t_recv) and when its acknowledgement had been sent (t_ack).   */
typedef struct {
    uint64_t idx;
    int64_t t_recv;
    int64_t t_ack;
} bench_rec_t;

typedef struct {
    int nfds;
    int fds[BENCH_MAX_CONSUMERS];
    size_t have[BENCH_MAX_CONSUMERS];
    unsigned char part[BENCH_MAX_CONSUMERS][sizeof(bench_rec_t)];
    int need;                       /* consumers per signal */
    size_t cap;                     /* highest idx + 1 tracked */
    _Atomic int64_t *send_ns;       /* by idx; written by the producer */
    unsigned char *count;           /* deliveries seen per idx */
    atomic_uint_fast64_t deliveries;
    atomic_uint_fast64_t completed; /* signals seen by all consumers */
    atomic_int_fast64_t last_ns;    /* time of the newest record */
    _Atomic int64_t lat_from, lat_to;   /* latency of signals sent then */
    bench_lat_t lat_ack;            /* emit -> acknowledgement sent */
    bench_lat_t lat_recv;           /* emit -> verified/read */
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting;
} bench_collector_t;

void bench_collector_init(bench_collector_t *self, size_t cap);
void bench_collector_start(bench_collector_t *self);   /* after fds are set */
/*  Waits up to ms for `completed` to move past seen.                    */
void bench_collector_wait(bench_collector_t *self, uint64_t seen, int ms);
void bench_collector_finish(bench_collector_t *self);  /* stop, join, close */
void bench_collector_free(bench_collector_t *self);

/*  ------------------------------------------------------------- seinpost */
typedef struct {
    const char *bin;                /* directory with seinpostd, seinpost */
    const char *keys;               /* directory of generated keys */
    int port;                       /* ingress; partners port+1.. */
    char node_pub[64], node_curvepub[48];
    char emitter_pub[64], emitter_curvepub[48];
    char partner_pub[BENCH_MAX_CONSUMERS][64];
    char partner_curvepub[BENCH_MAX_CONSUMERS][48];
} bench_sp_env_t;

void bench_sp_keys(bench_sp_env_t *env);
/*  Writes DIR/seinpost.yaml: nsubs subscribers, one subscription each,
    a filter every bench signal matches. database: NULL for SQLite
    (DIR/seinpost.db), else a PostgreSQL URI (the node secret is then
    DIR/node.secret, and node.lease its default).                        */
void bench_sp_config(const bench_sp_env_t *env, const char *dir, int nsubs,
                     int window, const char *database);
pid_t bench_sp_daemon(const bench_sp_env_t *env, const char *dir);
bench_producer_t *bench_sp_producer(const bench_sp_env_t *env);
/*  Signs signals from..from+n-1 now, so that send() of those indexes only
    sends (sp_emitter_send_signed); other indexes are signed as before.
    Call after the rig set the run (bench_event_run).                     */
void bench_sp_presign(bench_producer_t *p, uint64_t from, uint64_t n);
/*  A partner child (this program, "partner" mode) for subscriber k.      */
pid_t bench_sp_partner(const bench_sp_env_t *env, const char *self_exe,
                       const char *dir, int k, int fd);
int bench_sp_partner_main(int argc, char **argv);
int bench_sp_emit_main(int argc, char **argv);    /* bench emit ... */

/*  ---------------------------------------------------------------- Redis */
pid_t bench_redis_server(int port, const char *dir);
/*  Connects (retrying up to 20 s), creates stream "s" and groups g0..
    g(ngroups-1) reading from the end.                                    */
void bench_redis_setup(int port, int ngroups);
bench_producer_t *bench_redis_producer(int port);
pid_t bench_redis_consumer(const char *self_exe, const char *dir, int port, int k,
                           int fd);
int bench_redis_consumer_main(int argc, char **argv);
const char *bench_redis_version(void);

/*  ----------------------------------------------------------- PostgreSQL */
typedef struct {
    double xids;                    /* write transactions (an xid each) */
    double commits, rollbacks;      /* pg_stat_database, the rig's database */
    double wal_bytes;               /* how far pg_current_wal_lsn() moved */
    double wal_syncs, wal_writes;   /* pg_stat_wal: WAL flushes and writes */
    double cpu_s;                   /* the cluster's processes */
} bench_pg_counts_t;

typedef struct {
    char dir[PATH_MAX];             /* tests/pg/pg-start DIR */
    char log[PATH_MAX];             /* pg-start's and pg-stop's output */
    char uri[1024];                 /* the cluster's database "seinpost" */
    char about[512];                /* version and settings */
    char error[PATH_MAX + 512];     /* why it did not start */
    char stop_exe[PATH_MAX];
    char *stop_argv[3];             /* pg-stop DIR: bench_cleanup_set */
    pid_t postmaster;
    struct pg_conn *conn;           /* the harness's own session */
    bool up;
    bool statements;                /* pg_stat_statements loaded */
} bench_pg_t;

/*  Runs SCRIPTS/pg-start DIR (output to log), and with statements starts
    it again with pg_stat_statements loaded; 0, or -1 with pg->error.   */
int bench_pg_start(bench_pg_t *pg, const char *scripts, const char *dir, const char *log,
                   bool statements);
void bench_pg_stop(bench_pg_t *pg, bool keep);  /* pg-stop; data removed unless keep */
/*  A fresh database for the rig: its name in db, its URI in uri.       */
void bench_pg_create(bench_pg_t *pg, const char *rig, char *db, size_t dblen,
                     char *uri, size_t urilen);
void bench_pg_wait_idle(bench_pg_t *pg, const char *db);   /* its sessions gone */
void bench_pg_drop(bench_pg_t *pg, const char *db);
double bench_pg_cpu_s(const bench_pg_t *pg);
void bench_pg_counts(bench_pg_t *pg, const char *db, bench_pg_counts_t *c);
int bench_pg_analyses(const char *uri);     /* ANALYZEs of its deliveries, -1 */
/*  With pg_stat_statements: forget what ran so far; what ran in db since,
    per signal (n), as one line of text ("" without it).                */
void bench_pg_statements_reset(bench_pg_t *pg);
void bench_pg_statements(bench_pg_t *pg, const char *db, double n, char *out, size_t len);

#endif
