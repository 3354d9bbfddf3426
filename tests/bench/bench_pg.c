/*  bench_pg.c - seinpost on PostgreSQL in the benchmark: one private
    cluster for the whole run (tests/pg/pg-start: a unix socket only,
    fsync and synchronous_commit on, its data under the work directory,
    on the disk SQLite and Redis write to), a fresh database per
    measurement, the CPU of the cluster's processes, and the server's own
    counts of what a measurement cost it (transactions, commits, WAL).

    The harness keeps one session of its own on the database "seinpost"
    for creating, dropping and counting; the daemon connects to the
    measurement's database.                                             */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench.h"

/*  ------------------------------------------------------------ queries */
/*  Runs sql (with up to one text parameter); dies on an error, as the
    harness does when a rig cannot be set up.                           */
static PGresult *s_query(bench_pg_t *pg, const char *sql, const char *param)
{
    const char *params[1] = { param };
    PGresult *res = PQexecParams(pg->conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        bench_die("PostgreSQL: %s: %s", sql, PQerrorMessage(pg->conn));
    return res;
}

static void s_exec(bench_pg_t *pg, const char *sql)
{
    PQclear(s_query(pg, sql, NULL));
}

static double s_field(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? 0 : strtod(PQgetvalue(res, 0, col), NULL);
}

/*  "name value, ..." of the settings a reader of the table asks about. */
static void s_about(bench_pg_t *pg)
{
    PGresult *res = s_query(pg, "SELECT current_setting('server_version'),"
                            " current_setting('fsync'), current_setting('synchronous_commit'),"
                            " current_setting('wal_sync_method'),"
                            " current_setting('shared_buffers'), current_setting('max_wal_size'),"
                            " current_setting('checkpoint_timeout')", NULL);
    snprintf(pg->about, sizeof pg->about, "PostgreSQL %s: fsync %s, synchronous_commit %s, "
             "wal_sync_method %s, shared_buffers %s, max_wal_size %s, checkpoint_timeout %s",
             PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
             PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
             PQgetvalue(res, 0, 6));
    PQclear(res);
}

/*  ----------------------------------------------------------- the cluster */
/*  pg-start prints the URI as its only line on stdout; everything else in
    the log is its reason for failing.                                  */
static int s_read_start_log(bench_pg_t *pg, const char *log, int status)
{
    char line[1024], first[256] = "";
    FILE *f = fopen(log, "r");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "postgresql:", 11) == 0)
            snprintf(pg->uri, sizeof pg->uri, "%s", line);
        else if (!first[0])
            snprintf(first, sizeof first, "%.255s", line);
    }
    if (f)
        fclose(f);
    if (status == 0 && pg->uri[0])
        return 0;
    snprintf(pg->error, sizeof pg->error, "tests/pg/pg-start exited with status %d: %s "
             "(all of it in %s)", status, first[0] ? first : "no message", log);
    return -1;
}

static int s_postmaster(bench_pg_t *pg)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/postgres.pid", pg->dir);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    pg->postmaster = (pid_t) pid;
    if (pid > 0)
        return 0;
    snprintf(pg->error, sizeof pg->error, "no PID in %s", path);
    return -1;
}

/*  pg-start [--again] DIR, then the harness's session.                  */
static int s_start(bench_pg_t *pg, char *start, bool again)
{
    char *argv[] = { start, again ? "--again" : pg->dir, again ? pg->dir : NULL, NULL };
    pg->uri[0] = '\0';
    int status = bench_run(argv, pg->log);
    if (s_read_start_log(pg, pg->log, status) != 0 || s_postmaster(pg) != 0)
        return -1;
    pg->conn = PQconnectdb(pg->uri);
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    snprintf(pg->error, sizeof pg->error, "cannot connect to %s: %s", pg->uri,
             PQerrorMessage(pg->conn));
    return -1;
}

/*  pg_stat_statements is loaded at the server's start only: set, then
    the cluster started again; its view lives in the database "seinpost",
    and counts the statements of every database.                       */
static int s_load_statements(bench_pg_t *pg, char *start)
{
    s_exec(pg, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    PQfinish(pg->conn);
    pg->conn = NULL;
    if (bench_run(pg->stop_argv, pg->log) != 0 || s_start(pg, start, true) != 0) {
        snprintf(pg->error + strlen(pg->error), sizeof pg->error - strlen(pg->error),
                 " (starting again with pg_stat_statements)");
        return -1;
    }
    s_exec(pg, "CREATE EXTENSION pg_stat_statements");
    pg->statements = true;
    return 0;
}

int bench_pg_start(bench_pg_t *pg, const char *scripts, const char *dir, const char *log,
                   bool statements)
{
    char start[PATH_MAX + 16];
    memset(pg, 0, sizeof *pg);
    snprintf(pg->dir, sizeof pg->dir, "%s", dir);
    snprintf(pg->log, sizeof pg->log, "%s", log);
    snprintf(start, sizeof start, "%s/pg-start", scripts);
    snprintf(pg->stop_exe, sizeof pg->stop_exe, "%s/pg-stop", scripts);
    pg->stop_argv[0] = pg->stop_exe;
    pg->stop_argv[1] = pg->dir;
    pg->stop_argv[2] = NULL;
    if (access(start, X_OK) != 0) {
        snprintf(pg->error, sizeof pg->error, "%s: %s (the harness runs from the source "
                 "tree)", start, strerror(errno));
        return -1;
    }
    unlink(pg->log);
    /* from here on a death of the harness stops the cluster as well */
    bench_cleanup_set(pg->stop_argv);
    if (s_start(pg, start, false) != 0 || (statements && s_load_statements(pg, start) != 0)) {
        bench_pg_stop(pg, true);
        return -1;
    }
    s_about(pg);
    pg->up = true;
    return 0;
}

void bench_pg_stop(bench_pg_t *pg, bool keep)
{
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = NULL;
    pg->up = false;
    if (!pg->stop_argv[0])
        return;
    if (bench_run(pg->stop_argv, pg->log) != 0)
        bench_log("%s %s failed: the cluster may still run (see %s)", pg->stop_exe, pg->dir,
                  pg->log);
    bench_cleanup_set(NULL);
    if (!keep) {
        char data[PATH_MAX + 8];
        snprintf(data, sizeof data, "%s/data", pg->dir);
        char *argv[] = { "/bin/rm", "-rf", data, NULL };
        bench_run(argv, NULL);
    }
}

/*  ------------------------------------------------------------ databases */
/*  The measurement's database, named from the rig: lower-case letters,
    digits and '_' only, so that it needs no quoting.                   */
static void s_db_name(const char *rig, char *out, size_t len)
{
    size_t i = 0;
    out[i++] = 'b';
    out[i++] = '_';
    for (const char *p = rig; *p && i + 1 < len; p++)
        out[i++] = isalnum((unsigned char) *p) ? (char) tolower((unsigned char) *p) : '_';
    out[i] = '\0';
}

/*  Creates the database and writes its URI: the cluster's URI with the
    database "seinpost" replaced. A checkpoint after it, so that no
    measurement starts with the creation's dirty pages still to write. */
void bench_pg_create(bench_pg_t *pg, const char *rig, char *db, size_t dblen,
                     char *uri, size_t urilen)
{
    char sql[256];
    const char *rest = strstr(pg->uri, "/seinpost?");
    if (!rest)
        bench_die("PostgreSQL URI without /seinpost?: %s", pg->uri);
    s_db_name(rig, db, dblen);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    s_exec(pg, sql);
    s_exec(pg, "CHECKPOINT");
    if (snprintf(uri, urilen, "%.*s/%s?%s", (int) (rest - pg->uri), pg->uri, db,
                 rest + strlen("/seinpost?")) >= (int) urilen)
        bench_die("PostgreSQL URI too long");
}

/*  Waits (up to 10 s) until the daemon's sessions on db have ended: a
    backend reports its last counts as it exits.                        */
void bench_pg_wait_idle(bench_pg_t *pg, const char *db)
{
    for (int waited = 0; waited < 10000; waited += 50) {
        PGresult *res = s_query(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                                db);
        double n = s_field(res, 0);
        PQclear(res);
        if (n == 0)
            return;
        bench_sleep_ms(50);
    }
    bench_log("PostgreSQL: sessions on %s still open after 10 s", db);
}

void bench_pg_drop(bench_pg_t *pg, const char *db)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    s_exec(pg, sql);
    /* the next measurement (maybe SQLite's) should not pay for this one */
    s_exec(pg, "CHECKPOINT");
}

/*  --------------------------------------------------------------- counts */
static double s_children_cpu_s(pid_t parent)
{
    double sum = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t ppid = -1;
        double c = bench_proc_stat((pid_t) atol(e->d_name), &ppid);
        if (ppid == parent && c > 0)
            sum += c;
    }
    if (d)
        closedir(d);
    return sum;
}

/*  The postmaster and every process it started (backends, WAL writer,
    checkpointer, ...); the postmaster's own figure counts the children
    that ended, as it waited for them. A child reaped while /proc is
    read would count in neither: then it is read again.                 */
double bench_pg_cpu_s(const bench_pg_t *pg)
{
    double sum = 0;
    for (int tries = 0; pg->postmaster > 0 && tries < 5; tries++) {
        double before = bench_proc_cpu_s(pg->postmaster);
        double children = s_children_cpu_s(pg->postmaster);
        double after = bench_proc_cpu_s(pg->postmaster);
        if (before < 0)
            return 0;
        sum = before + children;
        if (after == before)    /* the same clock ticks: no child reaped meanwhile */
            break;
    }
    return sum;
}

/*  Write transactions are counted by the next transaction id (a
    transaction gets one when it writes or locks a row; exact at once);
    commits and rollbacks by pg_stat_database, which a backend updates
    at most once a second and as it exits; WAL flushes by pg_stat_wal. */
void bench_pg_counts(bench_pg_t *pg, const char *db, bench_pg_counts_t *c)
{
    PGresult *res = s_query(pg,
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text,"
        " d.xact_commit, d.xact_rollback,"
        " pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'), w.wal_sync, w.wal_write"
        " FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = $1", db);
    if (PQntuples(res) != 1)
        bench_die("PostgreSQL: no statistics for database %s", db);
    c->xids = s_field(res, 0);
    c->commits = s_field(res, 1);
    c->rollbacks = s_field(res, 2);
    c->wal_bytes = s_field(res, 3);
    c->wal_syncs = s_field(res, 4);
    c->wal_writes = s_field(res, 5);
    c->cpu_s = bench_pg_cpu_s(pg);
    PQclear(res);
}

/*  How often the deliveries table of a rig's database had been analysed
    (by autovacuum or anyone), -1 if unknown: until it is, the planner
    has no statistics for it, and its plans for the queue's queries
    differ (docs/benchmarks.md, PostgreSQL beside SQLite).              */
int bench_pg_analyses(const char *uri)
{
    PGconn *conn = PQconnectdb(uri);
    int n = -1;
    if (PQstatus(conn) == CONNECTION_OK) {
        PGresult *res = PQexec(conn, "SELECT analyze_count + autoanalyze_count FROM "
                               "pg_stat_user_tables WHERE relname = 'deliveries'");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            n = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    PQfinish(conn);
    return n;
}

void bench_pg_statements_reset(bench_pg_t *pg)
{
    if (pg->statements)
        s_exec(pg, "SELECT pg_stat_statements_reset()");
}

/*  The statements db ran since the reset, per signal (n signals): how
    many and their execution time, then the heaviest by execution time,
    each with its calls per signal and time per call.                  */
void bench_pg_statements(bench_pg_t *pg, const char *db, double n, char *out, size_t len)
{
    static const char sql[] =
        "SELECT calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 72)"
        " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)"
        " ORDER BY total_exec_time DESC";
    out[0] = '\0';
    if (!pg->statements || n <= 0)
        return;
    PGresult *res = s_query(pg, sql, db);
    double calls = 0, ms = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        calls += strtod(PQgetvalue(res, i, 0), NULL);
        ms += strtod(PQgetvalue(res, i, 1), NULL);
    }
    size_t at = (size_t) snprintf(out, len, "%.2f statements per signal, %.1f µs of server "
                                  "execution per signal; the heaviest:", calls / n,
                                  ms * 1000 / n);
    for (int i = 0; i < PQntuples(res) && i < 6 && at < len; i++) {
        double c = strtod(PQgetvalue(res, i, 0), NULL), t = strtod(PQgetvalue(res, i, 1), NULL);
        at += (size_t) snprintf(out + at, len - at, "%s %.3f × `%s` (%.1f µs each)",
                                i ? ";" : "", c / n, PQgetvalue(res, i, 2),
                                c > 0 ? t * 1000 / c : 0);
    }
    PQclear(res);
}
