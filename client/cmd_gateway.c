/*  cmd_gateway.c - `seinpost gateway -c gateway.yaml`: the listening
    socket (TCP on a loopback address, or a unix socket of mode 0660),
    the router link, and a clean stop on SIGTERM or SIGINT. The requests
    are cmd_gateway_http.c's; the configuration cmd_gateway_conf.c's.    */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd_gateway.h"
#include "sp_util.h"

/*  Bodies and the emitter's secret key are in memory: no core dump and
    no ptrace by the user's other processes, as for seinpostd.          */
static void s_no_core_dumps(void)
{
    struct rlimit none = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        sp_log(SP_LOG_WARNING, "cannot turn core dumps off: %s", strerror(errno));
}

/*  HOST:PORT, numeric (the configuration checked it).                   */
static int s_listen_tcp(const char *address, char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    size_t len = (size_t) (colon - address);
    bool bracket = address[0] == '[';
    snprintf(host, sizeof host, "%.*s", (int) (bracket ? len - 2 : len), address + bracket);
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int one = 1, fd = -1;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) {
        snprintf(err, errlen, "listen %s: not an address", address);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errlen, "listen %s: %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/*  A socket file left by a gateway that died is replaced; one that
    answers, or anything that is not a socket, is not.                  */
static int s_clear_stale(const struct sockaddr_un *addr, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(addr->sun_path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "unix %s: exists and is not a socket", addr->sun_path);
        return -1;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int in_use = probe >= 0 && connect(probe, (const struct sockaddr *) addr, sizeof *addr) == 0;
    if (probe >= 0)
        close(probe);
    if (in_use) {
        snprintf(err, errlen, "unix %s: another process listens on it", addr->sun_path);
        return -1;
    }
    return unlink(addr->sun_path);
}

/*  Mode 0660 from the start (umask around bind): the uid check decides
    who may post, the mode who may connect at all.                      */
static int s_listen_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (s_clear_stale(&addr, err, errlen) != 0) {
        if (!err[0])
            snprintf(err, errlen, "unix %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0117);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *) &addr, sizeof addr);
    umask(old);
    if (rc != 0 || chmod(path, 0660) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errlen, "unix %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/*  SIGTERM, SIGINT and SIGHUP are blocked before any thread starts
    (ZeroMQ's, libmicrohttpd's), so that every thread inherits the mask
    and only sigwait sees them; SIGPIPE is ignored: a client gone is an
    error on its connection, not the end of the gateway.               */
static void s_block_signals(sigset_t *set)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/*  Until SIGTERM or SIGINT; SIGHUP is ignored (restart to reload).     */
static void s_wait_for_stop(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
        ;
    sp_log(SP_LOG_NOTICE, "stopping (signal %d)", sig);
}

static int s_run(const gateway_conf_t *conf, sp_emitter_t *emitter, const sigset_t *set)
{
    char err[512] = "";
    int fd = conf->listen ? s_listen_tcp(conf->listen, err, sizeof err)
                          : s_listen_unix(conf->unix_path, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "seinpost gateway: %s\n", err);
        return CMD_FAILED;
    }
    gateway_t *gateway = gateway_http_start(conf, emitter, fd, err, sizeof err);
    if (!gateway) {
        close(fd);
        fprintf(stderr, "seinpost gateway: %s\n", err);
        return CMD_FAILED;
    }
    sp_log(SP_LOG_NOTICE, "listening on %s%s, POST /events -> %s", conf->listen ? "" : "unix:",
           conf->listen ? conf->listen : conf->unix_path, conf->endpoint);
    s_wait_for_stop(set);
    gateway_http_stop(&gateway);
    if (conf->unix_path)
        unlink(conf->unix_path);
    return CMD_OK;
}

int cmd_gateway(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 't' },
        { NULL, 0, NULL, 0 } };
    const char *path = NULL;
    bool check = false;
    int opt, rc = CMD_FAILED;
    char err[1024] = "";
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:t", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': check = true; break;
        default: return CMD_USAGE;
        }
    }
    if (!path || optind != argc) {
        fprintf(stderr, "usage: seinpost gateway -c GATEWAY.YAML [--check]\n");
        return CMD_USAGE;
    }
    sp_log_setup("seinpost-gateway", SP_LOG_INFO, 0);
    s_no_core_dumps();
    gateway_conf_t *conf = gateway_conf_load(path, err, sizeof err);
    if (!conf) {
        fprintf(stderr, "seinpost gateway: %s\n", err);
        return CMD_FAILED;
    }
    if (check) {
        printf("%s: OK\n", path);
        gateway_conf_destroy(&conf);
        return CMD_OK;
    }
    sigset_t set;
    s_block_signals(&set);
    sp_emitter_t *emitter = sp_emitter_new(conf->endpoint, conf->signing_key,
                                           conf->server_curve_public, conf->curve_secret_path,
                                           err, sizeof err);
    if (emitter)
        rc = s_run(conf, emitter, &set);
    else
        fprintf(stderr, "seinpost gateway: %s\n", err);
    sp_emitter_destroy(&emitter);
    gateway_conf_destroy(&conf);
    return rc;
}
