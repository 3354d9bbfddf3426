/*  main.c - seinpostd: argument parsing, signals, run.                    */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <sodium.h>

#include "reload.h"
#include "db.h"
#include "lease.h"
#include "server.h"
#include "sp_schema.h"
#include "standby.h"
#include "store.h"
#include "sp_proto.h"
#include "sp_util.h"

static server_t *s_server;
static volatile sig_atomic_t s_standby_stop;

static void s_on_signal(int sig)
{
    if (!s_server) {
        if (sig != SIGHUP)
            s_standby_stop = 1;     /* a standby stops waiting */
        return;
    }
    if (sig == SIGHUP)
        s_server->reload = 1;
    else
        s_server->stop = 1;
}

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: seinpostd -c FILE [-t | --migrate] [--log-level LEVEL] [--log-format text|json]\n"
        "  -c, --config FILE      configuration (see seinpost.yaml(5))\n"
        "  -t, --test             check the configuration and exit\n"
        "      --migrate          bring the database to this release's schema and exit\n"
        "      --log-level L      debug, info, notice, warning, error (default info)\n"
        "      --log-format F     text (default) or json\n"
        "  -V, --version\n");
}

static void s_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* a file-size limit must fail the write (SQLITE_FULL -> REJECTED
       STORAGE_UNAVAILABLE), not kill the daemon                         */
    signal(SIGXFSZ, SIG_IGN);
}

/*  A core dump of the daemon would hold events in plaintext (they are
    opened to be sent) and its keys: none is written, and /proc/PID/mem
    and ptrace stay closed to the user's other processes. Both, since
    with fs.suid_dumpable = 2 the kernel dumps a non-dumpable process
    all the same. Done before start-up reads a key; systemd's
    LimitCORE=0 says the same.                                          */
static void s_no_core_dumps(void)
{
    struct rlimit none = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        sp_log(SP_LOG_WARNING, "cannot set the core size limit to 0: %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        sp_log(SP_LOG_WARNING, "cannot make the process non-dumpable: %s", strerror(errno));
}

static int s_test_config(const char *path)
{
    char err[8192] = "";
    char pub[41], sec[41];
    config_t *config = config_load(path, err, sizeof err);
    if (!config) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* the sockets load it at start and reload; the operator tools, which
       load the same file, need not read it: only the daemon checks it  */
    int bad_key = config->curve_secret_path
                  && sp_curve_load(config->curve_secret_path, pub, sec, err, sizeof err) != 0;
    sodium_memzero(sec, sizeof sec);
    if (bad_key) {
        fprintf(stderr, "%s: node.curve_secret_key: %s\n", path, err);
        config_destroy(&config);
        return 1;
    }
    printf("%s: configuration OK (%zu emitters, %zu subscribers, %zu signal types)\n",
           path, config->emitter_count, config->subscriber_count, config->type_count);
    config_destroy(&config);
    return 0;
}

/*  What a start would do to the database, done alone: the operator sees
    the migration happen (after a backup, with the daemon stopped) rather
    than find it in the log of a start.                                 */
static int s_migrate(const char *path)
{
    char err[8192] = "";
    config_t *config = config_load(path, err, sizeof err);
    if (!config) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    store_t *store = store_open(config->database, false, err, sizeof err);
    if (!store) {
        fprintf(stderr, "seinpostd: %s\n", err);
        config_destroy(&config);
        return 1;
    }
    int found = store_schema_found(store);
    char name[512];
    db_target_display(config->database, name, sizeof name);    /* no password */
    if (found == 0)
        printf("%s: created at schema version %d\n", name, SP_SCHEMA_VERSION);
    else if (found < SP_SCHEMA_VERSION)
        printf("%s: migrated from schema version %d to %d\n", name, found, SP_SCHEMA_VERSION);
    else
        printf("%s: at schema version %d, nothing to migrate\n", name, found);
    store_destroy(&store);
    config_destroy(&config);
    return 0;
}

/*  A start-up error, one log line per line of it.                       */
static void s_log_lines(char *err)
{
    for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
        sp_log(SP_LOG_ERROR, "%s", line);
}

/*  On PostgreSQL: 0 with this node holding the lease in *lease (NULL on
    SQLite, where one process owns the file), 1 stopped while waiting as
    a standby, -1 on an error (logged). The configuration is read here
    for the database and the lease only: server_new() reads it again,
    so that a standby that waited for hours starts with the file as it
    is then.                                                            */
static int s_take_turn(const char *config_path, lease_t **lease)
{
    char err[8192] = "";
    *lease = NULL;
    config_t *config = config_load(config_path, err, sizeof err);
    if (!config) {
        s_log_lines(err);
        return -1;
    }
    int rc = db_target_is_postgresql(config->database)
             ? standby_wait(config, &s_standby_stop, lease, err, sizeof err) : 0;
    if (rc < 0)
        sp_log(SP_LOG_ERROR, "%s", err);
    config_destroy(&config);
    return rc;
}

/*  The node holds the lease: from its first write on, every transaction
    checks that it still does (store.c, the fence). Start-up (the queue
    opened, sockets bound, orphans dead-lettered) takes a while: the
    lease is renewed once more before the loop, which otherwise would
    find it nearly spent by its own clock at its first turn.           */
static int s_fence(server_t *server, lease_t *lease)
{
    server->lease = lease;
    if (store_set_fence(server->store, lease_id(lease), lease_token(lease),
                        lease_ttl(lease)) != 0) {
        sp_log(SP_LOG_ERROR, "setting the fence: %s", store_errmsg(server->store));
        return -1;
    }
    return 0;
}

static int s_renew(server_t *server, lease_t *lease)
{
    char why[512] = "";
    int64_t token = lease_token(lease);
    if (lease_acquire(lease, sp_clock_ms(), why, sizeof why) == 1 && lease_token(lease) == token)
        return 0;
    sp_log(SP_LOG_ERROR, "deposed: the lease was lost during start-up%s%s", why[0] ? ": " : "",
           why);
    server->deposed = true;
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "test", no_argument, NULL, 't' },
        { "migrate", no_argument, NULL, 'm' },
        { "log-level", required_argument, NULL, 'l' },
        { "log-format", required_argument, NULL, 'f' },
        { "version", no_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    const char *config_path = NULL;
    sp_log_level_t level = SP_LOG_INFO;
    int json = 0, test = 0, migrate = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:tVh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 't': test = 1; break;
        case 'm': migrate = 1; break;
        case 'l':
            if (sp_log_level_parse(optarg, &level) != 0) {
                fprintf(stderr, "seinpostd: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "seinpostd: log format is text or json\n");
                return 2;
            }
            json = strcmp(optarg, "json") == 0;
            break;
        case 'V': printf("seinpostd %s\n", SP_VERSION_STRING); return 0;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (!config_path) {
        s_usage(stderr);
        return 2;
    }
    if (test)
        return s_test_config(config_path);
    if (migrate)
        return s_migrate(config_path);
    sp_log_setup("seinpostd", level, json);
    /* before sodium_init(): ChaCha20 in user space, seeded from the kernel
       once (and again after a fork), instead of a getrandom() system call
       for each trace id and payload nonce, two per signal (issue 19)   */
    randombytes_set_implementation(&randombytes_internal_implementation);
    char err[8192] = "";
    lease_t *lease = NULL;
    s_install_signals();
    s_no_core_dumps();
    int turn = s_take_turn(config_path, &lease);
    if (turn != 0)
        return turn > 0 ? 0 : 1;
    s_server = server_new(config_path, err, sizeof err);
    if (!s_server) {
        s_log_lines(err);
        lease_destroy(&lease);
        return 1;
    }
    /* renewed before the first transaction: that one holds the lease
       row until it commits, in the loop's first turn                 */
    int rc = (lease && (s_fence(s_server, lease) != 0 || s_renew(s_server, lease) != 0)) ? -1
             : server_dead_letter_orphans(s_server) == 0 ? server_run(s_server) : -1;
    /* EX_TEMPFAIL: deposed, for the service manager to start a standby */
    int status = rc == 0 ? 0 : s_server->deposed ? 75 : 1;
    server_destroy(&s_server);
    if (lease && status == 0)
        lease_release(lease);
    lease_destroy(&lease);
    return status;
}
