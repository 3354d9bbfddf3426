/*  cmd_gateway_conf.c - gateway.yaml: the emitter's part, as in
    conf/client.yaml, and the `gateway:` block (conf/gateway.yaml).

    The gateway signs, with the emitter's key, whatever an authenticated
    client posts: so it speaks only to this host by default (a loopback
    address or a unix socket), and never without authentication (a
    bearer token, or the peer's uid on a unix socket).                   */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd_gateway.h"
#include "config.h"
#include "sp_yaml.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 512
#define UID_MAX 64

static const char *const s_top_keys[] = {
    "endpoint", "signing_key", "source", "curve_secret_key", "server_curve_public_key",
    "gateway", NULL };
static const char *const s_gateway_keys[] = {
    "listen", "unix", "allowed_uids", "public", "bearer_token_file", "timeout", NULL };

static char *s_text(sp_yaml_t *yaml, sp_yaml_node_t *map, const char *key, bool resolve)
{
    const char *text = sp_yaml_scalar(sp_yaml_get(yaml, map, key));
    if (!text || !text[0])
        return NULL;
    return resolve ? sp_yaml_resolve(yaml, text) : strdup(text);
}

static int s_unknown(sp_yaml_t *yaml, sp_yaml_node_t *map, const char *const *allowed,
                     char *err, size_t errlen)
{
    size_t index = 0;
    sp_yaml_node_t *unknown = sp_yaml_next_unknown(yaml, map, allowed, &index);
    if (!unknown)
        return 0;
    const char *near = sp_yaml_closest(sp_yaml_scalar(unknown), allowed);
    return sp_yaml_error(yaml, unknown, err, errlen, "unknown key%s%s%s",
                         near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
}

/*  RFC 6750 b64token: what a client can put after "Bearer ".           */
static bool s_token_ok(const char *token, size_t len)
{
    size_t i = 0;
    while (i < len && (strchr("-._~+/", token[i]) || (token[i] >= '0' && token[i] <= '9')
                       || ((token[i] | 0x20) >= 'a' && (token[i] | 0x20) <= 'z')))
        i++;
    while (i < len && token[i] == '=')
        i++;
    return i == len && len >= TOKEN_MIN && len <= TOKEN_MAX;
}

/*  Only the token's SHA-256 is kept: requests are compared by hash, in
    constant time and whatever the length of what a client sent.        */
static int s_token(gateway_conf_t *self, const char *path, char *err, size_t errlen)
{
    char buf[TOKEN_MAX + 8];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "bearer_token_file %s: %s", path, strerror(errno));
        goto failed;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(err, errlen, "bearer_token_file %s: not a regular file of mode 0600 "
                 "(mode %03o): a token others can read lets them sign as this emitter; "
                 "chmod 600 it", path, (unsigned) (st.st_mode & 0777));
        goto failed;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    size_t len = n > 0 ? (size_t) n : 0;
    while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
        len--;
    if (n < 0 || (size_t) n >= sizeof buf - 1 || !s_token_ok(buf, len)) {
        snprintf(err, errlen, "bearer_token_file %s: expected one token of %d to %d "
                 "characters A-Z a-z 0-9 - . _ ~ + / (then = padding)", path, TOKEN_MIN,
                 TOKEN_MAX);
        goto failed;
    }
    sp_sha256(buf, len, self->token_sha256);
    self->has_token = true;
    sodium_memzero(buf, sizeof buf);
    close(fd);
    return 0;
failed:
    sodium_memzero(buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return -1;
}

/*  "HOST:PORT" or "[V6]:PORT", numeric only: a name could resolve to
    anything. 1 when the address is a loopback one, 0 when not, -1 bad.  */
static int s_loopback(const char *listen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    size_t len = colon ? (size_t) (colon - listen) : 0;
    if (!colon || len == 0 || len >= sizeof host)
        return -1;
    memcpy(host, listen, len);
    host[len] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 1 || port > 65535)
        return -1;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (host[0] == '[' && host[len - 1] == ']') {
        host[len - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &v6) == 1)
            return IN6_IS_ADDR_LOOPBACK(&v6);
    }
    return -1;
}

static int s_listen(gateway_conf_t *self, sp_yaml_t *yaml, sp_yaml_node_t *block,
                    char *err, size_t errlen)
{
    sp_yaml_node_t *node = sp_yaml_get(yaml, block, "listen");
    sp_yaml_node_t *pub = sp_yaml_get(yaml, block, "public");
    if (pub && sp_yaml_bool(pub, &self->public_ok) != 0)
        return sp_yaml_error(yaml, pub, err, errlen, "public: true or false");
    int loopback = s_loopback(self->listen);
    if (loopback < 0)
        return sp_yaml_error(yaml, node, err, errlen, "listen: expected a numeric "
                             "HOST:PORT, like 127.0.0.1:8088 or [::1]:8088");
    if (!loopback && !self->public_ok)
        return sp_yaml_error(yaml, node, err, errlen, "listen: %s is not a loopback "
                             "address: the gateway signs what any client with the token "
                             "posts, over plain HTTP (no TLS); keep it on 127.0.0.1 (behind "
                             "a TLS proxy on this host), or set 'public: true' to mean it",
                             self->listen);
    if (!self->has_token)
        return sp_yaml_error(yaml, node, err, errlen, "listen: needs bearer_token_file "
                             "(a TCP port has no peer credentials)");
    return 0;
}

static int s_uids(gateway_conf_t *self, sp_yaml_t *yaml, sp_yaml_node_t *block,
                  char *err, size_t errlen)
{
    sp_yaml_node_t *list = sp_yaml_get(yaml, block, "allowed_uids");
    sp_yaml_node_t *where = list ? list : sp_yaml_get(yaml, block, "unix");
    if (!list || !sp_yaml_is_seq(list) || sp_yaml_size(list) < 1
        || sp_yaml_size(list) > UID_MAX)
        return sp_yaml_error(yaml, where, err, errlen, "unix: needs allowed_uids, a list "
                             "of 1 to %d user ids that may connect", UID_MAX);
    self->uids = calloc(sp_yaml_size(list), sizeof *self->uids);
    if (!self->uids)
        return sp_yaml_error(yaml, list, err, errlen, "out of memory");
    for (size_t i = 0; i < sp_yaml_size(list); i++) {
        sp_yaml_node_t *item = sp_yaml_item(yaml, list, i);
        long long uid;
        if (sp_yaml_int(item, 0, 4294967294LL, &uid) != 0)
            return sp_yaml_error(yaml, item, err, errlen, "expected a numeric user id");
        self->uids[self->uid_count++] = (uid_t) uid;
    }
    if (strlen(self->unix_path) >= sizeof ((struct sockaddr_un *) 0)->sun_path)
        return sp_yaml_error(yaml, sp_yaml_get(yaml, block, "unix"), err, errlen,
                             "unix: path too long for a socket");
    if (sp_yaml_get(yaml, block, "public"))
        return sp_yaml_error(yaml, sp_yaml_get(yaml, block, "public"), err, errlen,
                             "public: only with listen");
    return 0;
}

static int s_gateway(gateway_conf_t *self, sp_yaml_t *yaml, sp_yaml_node_t *root,
                     char *err, size_t errlen)
{
    sp_yaml_node_t *block = sp_yaml_get(yaml, root, "gateway");
    if (!block || !sp_yaml_is_map(block))
        return sp_yaml_error(yaml, block ? block : root, err, errlen,
                             "needs a 'gateway:' mapping (listen or unix, ...)");
    if (s_unknown(yaml, block, s_gateway_keys, err, errlen) != 0)
        return -1;
    sp_yaml_node_t *timeout = sp_yaml_get(yaml, block, "timeout");
    int64_t ms = 10000;
    if (timeout && (config_parse_duration(sp_yaml_scalar(timeout), &ms) != 0
                    || ms < 100 || ms > 300000))
        return sp_yaml_error(yaml, timeout, err, errlen, "timeout: a duration from 100ms "
                             "to 5m, like 10s");
    self->timeout_ms = (int) ms;
    char *token_path = s_text(yaml, block, "bearer_token_file", true);
    int rc = token_path ? s_token(self, token_path, err, errlen) : 0;
    free(token_path);
    if (rc != 0)
        return -1;
    self->listen = s_text(yaml, block, "listen", false);
    self->unix_path = s_text(yaml, block, "unix", true);
    if (!self->listen == !self->unix_path)
        return sp_yaml_error(yaml, block, err, errlen, "gateway: exactly one of listen "
                             "(HOST:PORT) and unix (a socket path)");
    return self->listen ? s_listen(self, yaml, block, err, errlen)
                        : s_uids(self, yaml, block, err, errlen);
}

static int s_parse(gateway_conf_t *self, sp_yaml_t *yaml, char *err, size_t errlen)
{
    sp_yaml_node_t *root = sp_yaml_root(yaml);
    if (!sp_yaml_is_map(root))
        return sp_yaml_error(yaml, root, err, errlen, "expected a mapping");
    if (s_unknown(yaml, root, s_top_keys, err, errlen) != 0)
        return -1;
    self->endpoint = s_text(yaml, root, "endpoint", false);
    char *key_path = s_text(yaml, root, "signing_key", true);
    if (!self->endpoint || !key_path) {
        free(key_path);
        return sp_yaml_error(yaml, root, err, errlen, "needs endpoint and signing_key");
    }
    self->signing_key = sp_key_load(key_path, true, err, errlen);
    free(key_path);
    if (!self->signing_key)
        return -1;
    self->curve_secret_path = s_text(yaml, root, "curve_secret_key", true);
    self->server_curve_public = s_text(yaml, root, "server_curve_public_key", false);
    return s_gateway(self, yaml, root, err, errlen);
}

gateway_conf_t *gateway_conf_load(const char *path, char *err, size_t errlen)
{
    gateway_conf_t *self = calloc(1, sizeof *self);
    sp_yaml_t *yaml = sp_yaml_load(path, err, errlen);
    if (!self || !yaml || !(self->path = strdup(path)) || s_parse(self, yaml, err, errlen) != 0)
        gateway_conf_destroy(&self);
    sp_yaml_destroy(&yaml);
    return self;
}

void gateway_conf_destroy(gateway_conf_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gateway_conf_t *self = *self_p;
    free(self->path);
    free(self->endpoint);
    sp_key_destroy(&self->signing_key);
    free(self->curve_secret_path);
    free(self->server_curve_public);
    free(self->listen);
    free(self->unix_path);
    free(self->uids);
    sodium_memzero(self->token_sha256, sizeof self->token_sha256);
    free(self);
    *self_p = NULL;
}
