/*  config.c - loads and validates seinpostd's YAML configuration.

    The loader keeps going after an error so that one run reports every
    mistake in the file, each as "file:line: message". Nothing is half
    accepted: any error and the whole config_t is thrown away, so a reload
    with a typo leaves the running configuration in place.
*/
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zmq.h>

#include "config.h"
#include "db.h"
#include "sp_yaml.h"

#define S_NAME_MAX 64
#define S_ERROR_LINE 512

typedef struct {
    sp_yaml_t *yaml;
    config_t *cfg;
    char *err;
    size_t errlen;
    size_t used;
    int errors;
    bool public_only;           /* config_load_public(): no secret key read */
} loader_t;

static void s_error(loader_t *ld, const sp_yaml_node_t *node,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void s_error(loader_t *ld, const sp_yaml_node_t *node,
                    const char *fmt, ...)
{
    char line[S_ERROR_LINE];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    ld->errors++;
    if (!ld->err || ld->used + 1 >= ld->errlen)
        return;
    size_t room = ld->errlen - ld->used;
    int n = snprintf(ld->err + ld->used, room, "%s%s:%d: %s",
                     ld->used ? "\n" : "", sp_yaml_path(ld->yaml),
                     sp_yaml_line(node), line);
    /*  A line that does not fit is dropped whole rather than cut.         */
    if (n < 0 || (size_t) n >= room)
        ld->err[ld->used] = '\0';
    else
        ld->used += (size_t) n;
}

static const char *s_dot(const char *where)
{
    return *where ? "." : "";
}

/*  --------------------------------------------------------------------
    Generic accessors. Each looks key up in map, reports what is wrong with
    it and returns 0 when the value (or its absence) is acceptable.       */

static sp_yaml_node_t *s_lookup(loader_t *ld, const sp_yaml_node_t *map,
                                const char *where, const char *key,
                                bool required)
{
    sp_yaml_node_t *value = sp_yaml_get(ld->yaml, map, key);
    if (value && !sp_yaml_is_null(value))
        return value;
    if (required && value)
        s_error(ld, value, "%s%s%s: needs a value", where, s_dot(where), key);
    else if (required)
        s_error(ld, map, "%s: missing required key '%s'",
                *where ? where : "top level", key);
    return NULL;
}

static void s_check_keys(loader_t *ld, const sp_yaml_node_t *map,
                         const char *where, const char *const *allowed)
{
    size_t index = 0;
    sp_yaml_node_t *key;
    while ((key = sp_yaml_next_unknown(ld->yaml, map, allowed, &index))) {
        const char *name = sp_yaml_scalar(key);
        const char *hint = sp_yaml_closest(name, allowed);
        s_error(ld, key, "%s: unknown key '%.64s'%s%s%s",
                *where ? where : "top level", name,
                hint ? " (did you mean '" : "", hint ? hint : "",
                hint ? "'?)" : "");
    }
}

static int s_text(loader_t *ld, const sp_yaml_node_t *node, const char *where,
                  const char *key, const char **text)
{
    *text = sp_yaml_scalar(node);
    if (!*text) {
        s_error(ld, node, "%s%s%s: expected a string, not %s", where,
                s_dot(where), key, sp_yaml_kind(node));
        return -1;
    }
    if (!**text) {
        s_error(ld, node, "%s%s%s: must not be empty", where, s_dot(where), key);
        return -1;
    }
    return 0;
}

static char *s_strdup(loader_t *ld, const sp_yaml_node_t *node, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        s_error(ld, node, "out of memory");
    return copy;
}

static int s_string(loader_t *ld, const sp_yaml_node_t *map, const char *where,
                    const char *key, bool required, char **out)
{
    const char *text;
    sp_yaml_node_t *node = s_lookup(ld, map, where, key, required);
    if (!node)
        return required ? -1 : 0;
    if (s_text(ld, node, where, key, &text) != 0)
        return -1;
    *out = s_strdup(ld, node, text);
    return *out ? 0 : -1;
}

/*  Relative paths name files beside the configuration, not in whatever
    directory the daemon happened to be started from.                      */
static int s_path(loader_t *ld, const sp_yaml_node_t *map, const char *where,
                  const char *key, bool required, char **out)
{
    const char *text;
    sp_yaml_node_t *node = s_lookup(ld, map, where, key, required);
    if (!node)
        return required ? -1 : 0;
    if (s_text(ld, node, where, key, &text) != 0)
        return -1;
    *out = sp_yaml_resolve(ld->yaml, text);
    if (!*out)
        s_error(ld, node, "out of memory");
    return *out ? 0 : -1;
}

static int s_integer(loader_t *ld, const sp_yaml_node_t *map, const char *where,
                     const char *key, long long min, long long max,
                     long long *out)
{
    sp_yaml_node_t *node = s_lookup(ld, map, where, key, false);
    if (!node)
        return 0;
    if (sp_yaml_int(node, min, max, out) != 0) {
        s_error(ld, node, "%s%s%s: expected an integer from %lld to %lld",
                where, s_dot(where), key, min, max);
        return -1;
    }
    return 0;
}

static int s_number(loader_t *ld, const sp_yaml_node_t *map, const char *where,
                    const char *key, double min, double max, double *out)
{
    sp_yaml_node_t *node = s_lookup(ld, map, where, key, false);
    if (!node)
        return 0;
    double value;
    if (sp_yaml_double(node, &value) != 0 || value < min || value > max) {
        s_error(ld, node, "%s%s%s: expected a number from %g to %g",
                where, s_dot(where), key, min, max);
        return -1;
    }
    *out = value;
    return 0;
}

static int s_boolean(loader_t *ld, const sp_yaml_node_t *map, const char *where,
                     const char *key, bool *out)
{
    sp_yaml_node_t *node = s_lookup(ld, map, where, key, false);
    if (!node)
        return 0;
    if (sp_yaml_bool(node, out) != 0) {
        s_error(ld, node, "%s%s%s: expected true or false", where,
                s_dot(where), key);
        return -1;
    }
    return 0;
}

static int s_duration(loader_t *ld, const sp_yaml_node_t *map, const char *where,
                      const char *key, int64_t min_ms, int64_t *out)
{
    sp_yaml_node_t *node = s_lookup(ld, map, where, key, false);
    if (!node)
        return 0;
    const char *text = sp_yaml_scalar(node);
    int64_t ms;
    if (!text || config_parse_duration(text, &ms) != 0) {
        s_error(ld, node, "%s%s%s: bad duration%s%.32s%s (use e.g. 250ms, "
                "10s, 5m, 2h, 3d)", where, s_dot(where), key,
                text ? " '" : "", text ? text : "", text ? "'" : "");
        return -1;
    }
    if (ms < min_ms) {
        s_error(ld, node, "%s%s%s: must be at least %lld ms", where,
                s_dot(where), key, (long long) min_ms);
        return -1;
    }
    *out = ms;
    return 0;
}

/*  A mapping section (or sequence item); NULL when absent or malformed.   */
static sp_yaml_node_t *s_map(loader_t *ld, sp_yaml_node_t *node,
                             const char *where, const char *const *allowed)
{
    if (!node)
        return NULL;
    if (!sp_yaml_is_map(node)) {
        s_error(ld, node, "%s: expected a mapping, not %s", where,
                sp_yaml_kind(node));
        return NULL;
    }
    s_check_keys(ld, node, where, allowed);
    return node;
}

static sp_yaml_node_t *s_seq(loader_t *ld, sp_yaml_node_t *node,
                             const char *where, const char *key)
{
    if (node && !sp_yaml_is_seq(node)) {
        s_error(ld, node, "%s%s%s: expected a sequence, not %s", where,
                s_dot(where), key, sp_yaml_kind(node));
        return NULL;
    }
    return node;
}

/*  --------------------------------------------------------------------
    Value checks.                                                         */

/*  Names show up in logs, the admin socket and the database: keep them to
    characters that need no quoting anywhere.                              */
static bool s_valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > S_NAME_MAX || !isalnum((unsigned char) name[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char) name[i]) && !strchr("._-", name[i]))
            return false;
    return true;
}

static int s_name(loader_t *ld, const sp_yaml_node_t *map, const char *where,
                  char **out)
{
    if (s_string(ld, map, where, "name", true, out) != 0)
        return -1;
    if (!s_valid_name(*out)) {
        s_error(ld, sp_yaml_get(ld->yaml, map, "name"), "%s.name: must be "
                "1 to %d letters, digits, '.', '_' or '-', starting with a "
                "letter or digit", where, S_NAME_MAX);
        return -1;
    }
    return 0;
}

/*  Same rule as sp_event.c applies to incoming types: reverse-DNS with at
    least two labels of [a-z0-9-].                                         */
static bool s_valid_type(const char *type)
{
    size_t labels = 0, label_len = 0;
    for (const char *p = type;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label_len == 0)
                return false;
            labels++;
            label_len = 0;
            if (*p == '\0')
                break;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
                   || *p == '-') {
            label_len++;
        } else {
            return false;
        }
    }
    return labels >= 2;
}

static bool s_valid_oin(const char *oin)
{
    return strlen(oin) == 20 && strspn(oin, "0123456789") == 20;
}

static bool s_valid_z85_key(const char *text)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    uint8_t raw[32];
    return strlen(text) == 40 && strspn(text, alphabet) == 40
        && zmq_z85_decode(raw, text) != NULL;
}

/*  Filter paths as sp_event_lookup() understands them.                    */
static bool s_valid_filter_path(const char *path)
{
    if (strcmp(path, "source") == 0 || strcmp(path, "subject") == 0
        || strcmp(path, "type") == 0)
        return true;
    if (strncmp(path, "data.", 5) != 0)
        return false;
    for (const char *p = path + 4; *p; p++)
        if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
            return false;
    return true;
}

/*  A processing-activity id is a URI: scheme ":" rest.                    */
static bool s_valid_uri(const char *text)
{
    if (!isalpha((unsigned char) text[0]))
        return false;
    size_t scheme = strspn(text, "abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    return text[scheme] == ':' && text[scheme + 1] != '\0';
}

static bool s_is_tcp(const char *endpoint)
{
    return endpoint && strncmp(endpoint, "tcp://", 6) == 0;
}

static int s_check_tcp(loader_t *ld, const sp_yaml_node_t *node,
                       const char *where, const char *key, const char *address)
{
    const char *colon = strrchr(address, ':');
    long long port;
    char *end = NULL;
    if (!colon || colon == address) {
        s_error(ld, node, "%s.%s: tcp endpoint needs host:port", where, key);
        return -1;
    }
    if (strcmp(colon + 1, "*") == 0)
        return 0;
    errno = 0;
    port = strtoll(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 1 || port > 65535) {
        s_error(ld, node, "%s.%s: tcp port must be 1 to 65535", where, key);
        return -1;
    }
    return 0;
}

static char *s_ipc_endpoint(loader_t *ld, const sp_yaml_node_t *node,
                            const char *where, const char *key,
                            const char *path)
{
    char *resolved = NULL, *endpoint = NULL;
    struct sockaddr_un addr;
    if (!*path) {
        s_error(ld, node, "%s.%s: ipc endpoint needs a path", where, key);
        return NULL;
    }
    /*  An abstract socket has no file, so no permissions: any local user
        could send operator commands to the admin socket.                 */
    if (path[0] == '@' && strcmp(key, "admin") == 0) {
        s_error(ld, node, "%s.%s: an abstract socket (@) has no file permissions; "
                "give the admin socket a path", where, key);
        return NULL;
    }
    /*  '@' names a Linux abstract socket: no file, nothing to resolve.    */
    resolved = path[0] == '@' ? strdup(path) : sp_yaml_resolve(ld->yaml, path);
    if (!resolved) {
        s_error(ld, node, "out of memory");
        return NULL;
    }
    if (strlen(resolved) >= sizeof addr.sun_path)
        s_error(ld, node, "%s.%s: socket path is longer than %zu bytes once "
                "resolved", where, key, sizeof addr.sun_path - 1);
    else if ((endpoint = malloc(strlen(resolved) + 7)))
        sprintf(endpoint, "ipc://%s", resolved);
    else
        s_error(ld, node, "out of memory");
    free(resolved);
    return endpoint;
}

static int s_endpoint(loader_t *ld, const sp_yaml_node_t *map,
                      const char *where, const char *key, bool ipc_only,
                      char **out)
{
    const char *text;
    sp_yaml_node_t *node = s_lookup(ld, map, where, key, true);
    if (!node || s_text(ld, node, where, key, &text) != 0)
        return -1;
    if (strncmp(text, "ipc://", 6) == 0) {
        *out = s_ipc_endpoint(ld, node, where, key, text + 6);
        return *out ? 0 : -1;
    }
    if (ipc_only || strncmp(text, "tcp://", 6) != 0) {
        s_error(ld, node, "%s.%s: endpoint must start with %s", where, key,
                ipc_only ? "ipc://" : "tcp:// or ipc://");
        return -1;
    }
    if (s_check_tcp(ld, node, where, key, text + 6) != 0)
        return -1;
    *out = s_strdup(ld, node, text);
    return *out ? 0 : -1;
}

static int s_public_key(loader_t *ld, const sp_yaml_node_t *map,
                        const char *where, sp_key_t **out)
{
    const char *text;
    sp_yaml_node_t *node = s_lookup(ld, map, where, "public_key", true);
    if (!node || s_text(ld, node, where, "public_key", &text) != 0)
        return -1;
    *out = sp_key_from_text(text);
    if (!*out) {
        /*  The value is not quoted back: keys have no place in logs.      */
        s_error(ld, node, "%s.public_key: not an Ed25519 public key of the "
                "form 'ed25519:<base64 of 32 bytes>'", where);
        return -1;
    }
    return 0;
}

/*  previous_public_keys: a sequence of "ed25519:<base64>" keys the party
    signed with before a rotation; none may be its current key or repeat. */
static void s_previous_keys(loader_t *ld, sp_yaml_node_t *map, const char *where,
                            const sp_key_t *current, key_list_t *list)
{
    const char *text;
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, map, where, "previous_public_keys", false),
                                where, "previous_public_keys");
    size_t count = sp_yaml_size(seq);
    if (!seq || count == 0 || !(list->keys = calloc(count, sizeof *list->keys)))
        return;
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *item = sp_yaml_item(ld->yaml, seq, i);
        if (s_text(ld, item, where, "previous_public_keys[]", &text) != 0)
            continue;
        sp_key_t *key = sp_key_from_text(text);
        if (!key) {
            s_error(ld, item, "%s.previous_public_keys[%zu]: not an Ed25519 public key "
                    "of the form 'ed25519:<base64 of 32 bytes>'", where, i);
            continue;
        }
        const char *id = sp_key_id(key);
        if (current && strcmp(id, sp_key_id(current)) == 0)
            s_error(ld, item, "%s.previous_public_keys[%zu]: is the current key", where, i);
        else if (config_key_by_id(NULL, list, id))
            s_error(ld, item, "%s.previous_public_keys[%zu]: listed twice", where, i);
        list->keys[list->count++] = key;
    }
}

static void s_free_keys(key_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        sp_key_destroy(&list->keys[i]);
    free(list->keys);
    list->keys = NULL;
    list->count = 0;
}

static int s_curve_key(loader_t *ld, const sp_yaml_node_t *map,
                       const char *where, char **out)
{
    if (s_string(ld, map, where, "curve_public_key", false, out) != 0)
        return -1;
    if (*out && !s_valid_z85_key(*out)) {
        s_error(ld, sp_yaml_get(ld->yaml, map, "curve_public_key"),
                "%s.curve_public_key: not a CURVE public key (40 Z85 "
                "characters)", where);
        return -1;
    }
    return 0;
}

/*  The Ed25519 public key in the PEM file at path (SubjectPublicKeyInfo,
    as `seinpost keygen` and `openssl pkey -pubout` write it).          */
static sp_key_t *s_read_public_pem(const char *path, char *reason, size_t len)
{
    uint8_t raw[SP_PUBLIC_KEY_SIZE];
    size_t raw_len = sizeof raw;
    sp_key_t *key = NULL;
    FILE *file = fopen(path, "re");
    if (!file) {
        snprintf(reason, len, "%.256s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_PUBKEY(file, NULL, NULL, NULL);
    fclose(file);
    if (pkey && EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519
        && EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) == 1 && raw_len == sizeof raw)
        key = sp_key_from_raw_public(raw);
    if (!key)
        snprintf(reason, len, "%.256s: not an Ed25519 public key in PEM", path);
    EVP_PKEY_free(pkey);
    return key;
}

/*  The node's key for config_load_public(): KEY.pub beside the secret key
    KEY, so that an auditor needs no access to KEY; without KEY.pub, KEY
    itself (the daemon's user, as before).                              */
static sp_key_t *s_node_public_key(const char *path, char *reason, size_t len)
{
    char pub[4096];
    if (snprintf(pub, sizeof pub, "%s.pub", path) >= (int) sizeof pub) {
        snprintf(reason, len, "%.256s...: path too long", path);
        return NULL;
    }
    if (access(pub, F_OK) == 0 || errno != ENOENT)
        return s_read_public_pem(pub, reason, len);
    sp_key_t *key = sp_key_load(path, true, reason, len);
    size_t used = strlen(reason);
    if (!key && used + 1 < len)
        snprintf(reason + used, len - used, "; the audit commands read %.256s instead, which is "
                 "missing (openssl pkey -in KEY -pubout -out KEY.pub writes it)", pub);
    return key;
}

/*  --------------------------------------------------------------------
    Sections.                                                             */

static void s_parse_node(loader_t *ld, sp_yaml_node_t *root)
{
    static const char *const keys[] = { "name", "signing_key",
        "previous_public_keys", "curve_secret_key", "pseudonym_key", "lease", NULL };
    config_t *cfg = ld->cfg;
    sp_yaml_node_t *map = s_map(ld, s_lookup(ld, root, "", "node", true),
                                "node", keys);
    if (!map)
        return;
    s_name(ld, map, "node", &cfg->node_name);
    s_path(ld, map, "node", "curve_secret_key", false, &cfg->curve_secret_path);
    s_path(ld, map, "node", "pseudonym_key", false, &cfg->pseudonym_key_path);
    s_duration(ld, map, "node", "lease", 1000, &cfg->lease_ms);
    if (s_path(ld, map, "node", "signing_key", true, &cfg->signing_key_path) != 0)
        return;
    char reason[S_ERROR_LINE];
    cfg->signing_key = ld->public_only
        ? s_node_public_key(cfg->signing_key_path, reason, sizeof reason)
        : sp_key_load(cfg->signing_key_path, true, reason, sizeof reason);
    if (!cfg->signing_key)
        s_error(ld, sp_yaml_get(ld->yaml, map, "signing_key"),
                "node.signing_key: %s", reason);
    s_previous_keys(ld, map, "node", cfg->signing_key, &cfg->previous_keys);
}

/*  Plaintext TCP would carry personal data in the clear; it takes an
    explicit, loudly named switch.                                         */
static void s_need_curve(loader_t *ld, const sp_yaml_node_t *node,
                         const char *where, const char *key)
{
    if (ld->cfg->allow_plaintext_tcp || ld->cfg->curve_secret_path)
        return;
    s_error(ld, node, "%s.%s: a tcp:// endpoint needs node.curve_secret_key "
            "(plaintext TCP only with listen.insecure_plaintext_tcp_for_tests)",
            where, key);
}

static void s_parse_listen(loader_t *ld, sp_yaml_node_t *root)
{
    static const char *const keys[] = { "ingress", "admin", "metrics",
        "insecure_plaintext_tcp_for_tests", NULL };
    config_t *cfg = ld->cfg;
    sp_yaml_node_t *map = s_map(ld, s_lookup(ld, root, "", "listen", true),
                                "listen", keys);
    if (!map)
        return;
    s_boolean(ld, map, "listen", "insecure_plaintext_tcp_for_tests",
              &cfg->allow_plaintext_tcp);
    s_endpoint(ld, map, "listen", "admin", true, &cfg->admin_endpoint);
    s_string(ld, map, "listen", "metrics", false, &cfg->metrics_listen);
    if (s_endpoint(ld, map, "listen", "ingress", false,
                   &cfg->ingress_endpoint) == 0
        && s_is_tcp(cfg->ingress_endpoint))
        s_need_curve(ld, sp_yaml_get(ld->yaml, map, "ingress"), "listen",
                     "ingress");
}

static void s_parse_limits(loader_t *ld, sp_yaml_node_t *root)
{
    static const char *const keys[] = { "max_message_bytes", "max_json_depth",
        "max_string_bytes", "max_attribute_bytes", "clock_skew", NULL };
    sp_event_limits_t *limits = &ld->cfg->limits;
    long long value;
    sp_yaml_node_t *map = s_map(ld, s_lookup(ld, root, "", "limits", false),
                                "limits", keys);
    if (!map)
        return;
    value = (long long) limits->max_bytes;
    if (s_integer(ld, map, "limits", "max_message_bytes", 64, 64LL << 20,
                  &value) == 0)
        limits->max_bytes = (size_t) value;
    value = limits->max_depth;
    if (s_integer(ld, map, "limits", "max_json_depth", 2, 1000, &value) == 0)
        limits->max_depth = (int) value;
    value = (long long) limits->max_string;
    if (s_integer(ld, map, "limits", "max_string_bytes", 1, 64LL << 20,
                  &value) == 0)
        limits->max_string = (size_t) value;
    value = (long long) limits->max_attr_string;
    if (s_integer(ld, map, "limits", "max_attribute_bytes", 1, 64LL << 20,
                  &value) == 0)
        limits->max_attr_string = (size_t) value;
    s_duration(ld, map, "limits", "clock_skew", 0, &ld->cfg->clock_skew_ms);
}

static void s_parse_audit(loader_t *ld, sp_yaml_node_t *root)
{
    static const char *const keys[] = { "checkpoint_interval", "alert_command",
        "alert_interval", NULL };
    config_t *cfg = ld->cfg;
    sp_yaml_node_t *map = s_map(ld, s_lookup(ld, root, "", "audit", false),
                                "audit", keys);
    if (!map)
        return;
    s_duration(ld, map, "audit", "checkpoint_interval", 1000,
               &cfg->checkpoint_interval_ms);
    s_string(ld, map, "audit", "alert_command", false, &cfg->alert_command);
    s_duration(ld, map, "audit", "alert_interval", 1000,
               &cfg->alert_interval_ms);
}

/*  --------------------------------------------------------------------
    signal_types                                                          */

static int s_field_type(const char *text, field_type_t *type)
{
    static const char *const names[] = { "string", "number", "integer",
        "boolean", "object", "array", "any" };
    static const field_type_t types[] = { FIELD_STRING, FIELD_NUMBER,
        FIELD_INTEGER, FIELD_BOOLEAN, FIELD_OBJECT, FIELD_ARRAY, FIELD_ANY };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(text, names[i]) == 0) {
            *type = types[i];
            return 0;
        }
    return -1;
}

static void s_parse_field(loader_t *ld, sp_yaml_node_t *value,
                          const char *where, data_field_t *field)
{
    static const char *const keys[] = { "type", "subject_id", NULL };
    sp_yaml_node_t *type_node = value;
    const char *text;
    if (sp_yaml_is_map(value)) {
        s_check_keys(ld, value, where, keys);
        s_boolean(ld, value, where, "subject_id", &field->subject_id);
        type_node = s_lookup(ld, value, where, "type", true);
        if (!type_node)
            return;
    }
    if (s_text(ld, type_node, where, "type", &text) != 0)
        return;
    if (s_field_type(text, &field->type) != 0)
        s_error(ld, type_node, "%s: unknown data type '%.32s' (use string, "
                "number, integer, boolean, object, array or any)", where, text);
    else if (field->subject_id && field->type != FIELD_STRING)
        s_error(ld, type_node, "%s: a subject_id field must be of type "
                "string", where);
}

static void s_parse_fields(loader_t *ld, sp_yaml_node_t *map,
                           const char *where, signal_type_t *st)
{
    char sub[160];
    size_t count = sp_yaml_size(map);
    if (!sp_yaml_is_map(map)) {
        s_error(ld, map, "%s.data: expected a mapping of field: type, not %s",
                where, sp_yaml_kind(map));
        return;
    }
    if (!(st->fields = calloc(count ? count : 1, sizeof *st->fields))) {
        s_error(ld, map, "out of memory");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *key = sp_yaml_pair_key(ld->yaml, map, i);
        data_field_t *field = &st->fields[st->field_count++];
        field->type = FIELD_ANY;
        if (!*sp_yaml_scalar(key)) {
            s_error(ld, key, "%s.data: empty field name", where);
            continue;
        }
        field->name = s_strdup(ld, key, sp_yaml_scalar(key));
        snprintf(sub, sizeof sub, "%s.data.%.64s", where, sp_yaml_scalar(key));
        s_parse_field(ld, sp_yaml_pair_value(ld->yaml, map, i), sub, field);
    }
}

static void s_parse_type(loader_t *ld, sp_yaml_node_t *item, const char *where,
                         signal_type_t *st)
{
    static const char *const keys[] = { "type", "subject_id_type", "retention",
        "data", NULL };
    sp_yaml_node_t *map = s_map(ld, item, where, keys), *data;
    if (!map)
        return;
    st->line = sp_yaml_line(map);
    if (s_string(ld, map, where, "type", true, &st->type) == 0
        && !s_valid_type(st->type)) {
        s_error(ld, sp_yaml_get(ld->yaml, map, "type"), "%s.type: '%.128s' is "
                "not a reverse-DNS type (labels of a-z, 0-9 and '-')", where,
                st->type);
    }
    s_string(ld, map, where, "subject_id_type", false, &st->subject_id_type);
    s_duration(ld, map, where, "retention", 0, &st->retention_ms);
    if ((data = s_lookup(ld, map, where, "data", false)))
        s_parse_fields(ld, data, where, st);
}

static void s_parse_types(loader_t *ld, sp_yaml_node_t *root)
{
    config_t *cfg = ld->cfg;
    char where[64];
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, root, "", "signal_types",
                                             false), "", "signal_types");
    size_t count = sp_yaml_size(seq);
    if (!seq || !(cfg->types = calloc(count ? count : 1, sizeof *cfg->types)))
        return;
    for (size_t i = 0; i < count; i++) {
        signal_type_t *st = &cfg->types[cfg->type_count++];
        snprintf(where, sizeof where, "signal_types[%zu]", i);
        s_parse_type(ld, sp_yaml_item(ld->yaml, seq, i), where, st);
        for (size_t j = 0; st->type && j < i; j++)
            if (cfg->types[j].type && strcmp(cfg->types[j].type, st->type) == 0)
                s_error(ld, sp_yaml_item(ld->yaml, seq, i), "%s: signal type "
                        "'%.128s' is already configured at line %d", where,
                        st->type, cfg->types[j].line);
    }
}

/*  --------------------------------------------------------------------
    emitters                                                              */

static void s_parse_emitter_types(loader_t *ld, sp_yaml_node_t *map,
                                  const char *where, emitter_t *em)
{
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, map, where, "types", true),
                                where, "types");
    size_t count = sp_yaml_size(seq);
    if (!seq)
        return;
    if (count == 0)
        s_error(ld, seq, "%s.types: lists no signal type", where);
    if (!(em->types = calloc(count ? count : 1, sizeof *em->types))) {
        s_error(ld, seq, "out of memory");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *item = sp_yaml_item(ld->yaml, seq, i);
        const char *type;
        if (s_text(ld, item, where, "types[]", &type) != 0)
            continue;
        if (!config_signal_type(ld->cfg, type))
            s_error(ld, item, "%s.types: signal type '%.128s' is not "
                    "configured in signal_types", where, type);
        else if (config_emitter_may_emit(em, type))
            s_error(ld, item, "%s.types: '%.128s' is listed twice", where, type);
        else
            em->types[em->type_count++] = s_strdup(ld, item, type);
    }
}

static void s_parse_emitter(loader_t *ld, sp_yaml_node_t *item,
                            const char *where, emitter_t *em)
{
    static const char *const keys[] = { "name", "oin", "public_key",
        "previous_public_keys", "curve_public_key", "max_in_flight", "types", NULL };
    sp_yaml_node_t *map = s_map(ld, item, where, keys), *oin;
    const char *text;
    long long max_in_flight = 1000;
    if (!map)
        return;
    em->line = sp_yaml_line(map);
    s_name(ld, map, where, &em->name);
    if ((oin = s_lookup(ld, map, where, "oin", true))
        && s_text(ld, oin, where, "oin", &text) == 0) {
        if (s_valid_oin(text))
            memcpy(em->oin, text, sizeof em->oin);
        else
            s_error(ld, oin, "%s.oin: must be exactly 20 digits", where);
    }
    s_public_key(ld, map, where, &em->key);
    s_previous_keys(ld, map, where, em->key, &em->previous_keys);
    s_curve_key(ld, map, where, &em->curve_public);
    if (s_integer(ld, map, where, "max_in_flight", 1, 1000000,
                  &max_in_flight) == 0)
        em->max_in_flight = (int) max_in_flight;
    s_parse_emitter_types(ld, map, where, em);
}

/*  Signals are matched to emitters by key id and CURVE key, so neither
    may be shared; names must be unique for the admin interface.          */
static void s_emitter_unique(loader_t *ld, const sp_yaml_node_t *item,
                             const char *where, size_t index)
{
    const emitter_t *em = &ld->cfg->emitters[index];
    for (size_t j = 0; j < index; j++) {
        const emitter_t *other = &ld->cfg->emitters[j];
        if (em->name && other->name && strcmp(em->name, other->name) == 0)
            s_error(ld, item, "%s: duplicate emitter name '%s' (first at "
                    "line %d)", where, em->name, other->line);
        if (em->key && other->key
            && strcmp(sp_key_id(em->key), sp_key_id(other->key)) == 0)
            s_error(ld, item, "%s: public_key is already used by the emitter "
                    "at line %d", where, other->line);
        if (em->curve_public && other->curve_public
            && strcmp(em->curve_public, other->curve_public) == 0)
            s_error(ld, item, "%s: curve_public_key is already used by the "
                    "emitter at line %d", where, other->line);
    }
}

static void s_parse_emitters(loader_t *ld, sp_yaml_node_t *root)
{
    config_t *cfg = ld->cfg;
    char where[64];
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, root, "", "emitters", false),
                                "", "emitters");
    size_t count = sp_yaml_size(seq);
    if (!seq || !(cfg->emitters = calloc(count ? count : 1,
                                         sizeof *cfg->emitters)))
        return;
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *item = sp_yaml_item(ld->yaml, seq, i);
        snprintf(where, sizeof where, "emitters[%zu]", i);
        cfg->emitter_count++;
        s_parse_emitter(ld, item, where, &cfg->emitters[i]);
        s_emitter_unique(ld, item, where, i);
    }
}

/*  --------------------------------------------------------------------
    upstream nodes (protocol.md 16)                                        */

static void s_parse_relay_rule(loader_t *ld, sp_yaml_node_t *item, const char *where,
                               relay_rule_t *rule)
{
    static const char *const keys[] = { "emitter", "types", NULL };
    sp_yaml_node_t *map = s_map(ld, item, where, keys);
    char *name = NULL;
    if (!map || s_string(ld, map, where, "emitter", true, &name) != 0)
        return;
    const emitter_t *em = config_emitter_by_name(ld->cfg, name);
    if (!em)
        s_error(ld, map, "%s.emitter: '%.64s' is not a configured emitter: this node "
                "trusts relayed signals only of emitters whose keys it holds", where, name);
    else
        rule->emitter = (size_t) (em - ld->cfg->emitters);
    free(name);
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, map, where, "types", false), where, "types");
    size_t count = sp_yaml_size(seq);
    if (!seq || !count || !(rule->types = calloc(count, sizeof *rule->types)))
        return;
    for (size_t i = 0; i < count; i++) {
        const char *type;
        sp_yaml_node_t *t = sp_yaml_item(ld->yaml, seq, i);
        if (s_text(ld, t, where, "types[]", &type) != 0)
            continue;
        if (em && !config_emitter_may_emit(em, type))
            s_error(ld, t, "%s.types: emitter %s may not emit '%.128s' here", where,
                    em->name, type);
        else
            rule->types[rule->type_count++] = s_strdup(ld, t, type);
    }
}

static void s_parse_upstream_node(loader_t *ld, sp_yaml_node_t *item, const char *where,
                                  upstream_t *up)
{
    static const char *const keys[] = { "name", "public_key", "curve_public_key", "relay",
                                        NULL };
    char rule_where[96];
    sp_yaml_node_t *map = s_map(ld, item, where, keys);
    if (!map)
        return;
    up->line = sp_yaml_line(map);
    s_name(ld, map, where, &up->name);
    s_public_key(ld, map, where, &up->key);
    if (s_curve_key(ld, map, where, &up->curve_public) == 0 && !up->curve_public)
        s_error(ld, map, "%s.curve_public_key: required: an upstream node is known by "
                "its CURVE key as well as its signing key", where);
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, map, where, "relay", true), where, "relay");
    size_t count = sp_yaml_size(seq);
    if (seq && count == 0)
        s_error(ld, seq, "%s.relay: names no emitter: the node could relay nothing", where);
    if (!seq || !count || !(up->relay = calloc(count, sizeof *up->relay)))
        return;
    for (size_t i = 0; i < count; i++) {
        snprintf(rule_where, sizeof rule_where, "%s.relay[%zu]", where, i);
        up->relay_count++;
        s_parse_relay_rule(ld, sp_yaml_item(ld->yaml, seq, i), rule_where, &up->relay[i]);
    }
}

static void s_parse_upstream(loader_t *ld, sp_yaml_node_t *root)
{
    static const char *const keys[] = { "listen", "subscriber", "nodes", NULL };
    config_t *cfg = ld->cfg;
    char where[64];
    sp_yaml_node_t *map = s_map(ld, s_lookup(ld, root, "", "upstream", false), "upstream",
                                keys);
    if (!map)
        return;
    /* the link's record of what it took (protocol.md 6.3) is a SQLite file
       beside the database, one per node: nodes taking turns on PostgreSQL
       would each keep their own, and a takeover would forget what the
       other node took                                                  */
    if (cfg->database && db_target_is_postgresql(cfg->database))
        s_error(ld, map, "upstream: a node link is not available with a PostgreSQL database "
                "(its delivery record is a file of one node); use SQLite for this node");
    s_endpoint(ld, map, "upstream", "listen", false, &cfg->upstream_listen);
    s_string(ld, map, "upstream", "subscriber", false, &cfg->upstream_subscriber);
    if (!cfg->upstream_subscriber && cfg->node_name)
        cfg->upstream_subscriber = strdup(cfg->node_name);
    if (cfg->upstream_listen && s_is_tcp(cfg->upstream_listen) && !cfg->curve_secret_path)
        s_error(ld, map, "upstream.listen: a tcp:// node link needs node.curve_secret_key");
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, map, "upstream", "nodes", true), "upstream",
                                "nodes");
    size_t count = sp_yaml_size(seq);
    if (!seq || !(cfg->upstreams = calloc(count ? count : 1, sizeof *cfg->upstreams)))
        return;
    for (size_t i = 0; i < count; i++) {
        snprintf(where, sizeof where, "upstream.nodes[%zu]", i);
        cfg->upstream_count++;
        s_parse_upstream_node(ld, sp_yaml_item(ld->yaml, seq, i), where, &cfg->upstreams[i]);
        for (size_t j = 0; j < i; j++)
            if (cfg->upstreams[i].name && cfg->upstreams[j].name
                && strcmp(cfg->upstreams[i].name, cfg->upstreams[j].name) == 0)
                s_error(ld, map, "%s: duplicate upstream name '%s'", where,
                        cfg->upstreams[i].name);
    }
}

/*  --------------------------------------------------------------------
    subscribers and their subscriptions                                   */

static int s_filter_values(loader_t *ld, sp_yaml_node_t *node,
                           const char *where, const char *op,
                           filter_cond_t *cond)
{
    const char *text;
    bool many = cond->op == FILTER_ANY_OF;
    size_t count = many ? sp_yaml_size(node) : 1;
    if (many && (!sp_yaml_is_seq(node) || count == 0)) {
        s_error(ld, node, "%s.any_of: expected a non-empty sequence of values",
                where);
        return -1;
    }
    if (!(cond->values = calloc(count, sizeof *cond->values))) {
        s_error(ld, node, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *item = many ? sp_yaml_item(ld->yaml, node, i) : node;
        if (sp_yaml_is_null(item)) {
            s_error(ld, item, "%s.%s: needs a value", where, op);
            return -1;
        }
        if (s_text(ld, item, where, op, &text) != 0)
            return -1;
        if (!(cond->values[cond->value_count++] = s_strdup(ld, item, text)))
            return -1;
    }
    return 0;
}

/*  Exactly one operator per condition: with two, which one was meant?    */
static void s_filter_op(loader_t *ld, sp_yaml_node_t *map, const char *where,
                        bool had_unknown, filter_cond_t *cond)
{
    static const char *const ops[] = { "exact", "prefix", "any_of" };
    static const filter_op_t codes[] = { FILTER_EXACT, FILTER_PREFIX,
        FILTER_ANY_OF };
    sp_yaml_node_t *operand = NULL;
    const char *op = NULL;
    for (size_t i = 0; i < 3; i++) {
        sp_yaml_node_t *value = sp_yaml_get(ld->yaml, map, ops[i]);
        if (!value)
            continue;
        if (operand) {
            s_error(ld, value, "%s: has both '%s' and '%s'; use one operator "
                    "per condition", where, op, ops[i]);
            return;
        }
        operand = value;
        op = ops[i];
        cond->op = codes[i];
    }
    if (operand)
        s_filter_values(ld, operand, where, op, cond);
    /*  A misspelt operator was reported already; "none" would be noise. */
    else if (!had_unknown)
        s_error(ld, map, "%s: needs one operator: exact, prefix or any_of",
                where);
}

static void s_parse_cond(loader_t *ld, sp_yaml_node_t *item, const char *where,
                         filter_cond_t *cond)
{
    static const char *const keys[] = { "field", "exact", "prefix", "any_of",
        NULL };
    size_t index = 0;
    bool had_unknown = false;
    sp_yaml_node_t *key;
    if (!sp_yaml_is_map(item)) {
        s_error(ld, item, "%s: expected a mapping, not %s", where,
                sp_yaml_kind(item));
        return;
    }
    cond->line = sp_yaml_line(item);
    while ((key = sp_yaml_next_unknown(ld->yaml, item, keys, &index))) {
        const char *hint = sp_yaml_closest(sp_yaml_scalar(key), keys);
        had_unknown = true;
        if (hint)
            s_error(ld, key, "%s: unknown key '%.64s' (did you mean '%s'?)",
                    where, sp_yaml_scalar(key), hint);
        else
            s_error(ld, key, "%s: unknown filter operator '%.64s' (use "
                    "exact, prefix or any_of)", where, sp_yaml_scalar(key));
    }
    if (s_string(ld, item, where, "field", true, &cond->path) == 0
        && !s_valid_filter_path(cond->path))
        s_error(ld, sp_yaml_get(ld->yaml, item, "field"), "%s.field: '%.128s' "
                "is not source, subject, type or data.<field>", where,
                cond->path);
    s_filter_op(ld, item, where, had_unknown, cond);
}

static void s_parse_filter(loader_t *ld, sp_yaml_node_t *map,
                           const char *where, subscription_t *sub)
{
    char sub_where[160];
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, map, where, "filter", false),
                                where, "filter");
    size_t count = sp_yaml_size(seq);
    if (!seq || !(sub->conds = calloc(count ? count : 1, sizeof *sub->conds)))
        return;
    for (size_t i = 0; i < count; i++) {
        snprintf(sub_where, sizeof sub_where, "%s.filter[%zu]", where, i);
        s_parse_cond(ld, sp_yaml_item(ld->yaml, seq, i), sub_where,
                     &sub->conds[sub->cond_count++]);
    }
}

/*  No delivery without a legal basis: the grondslag and the processing
    activity travel with every delivery and land in the audit log.        */
static void s_parse_grondslag(loader_t *ld, sp_yaml_node_t *map,
                              const char *where, subscription_t *sub)
{
    static const char *const keys[] = { "text", "activity", NULL };
    char sub_where[160];
    sp_yaml_node_t *node = sp_yaml_get(ld->yaml, map, "grondslag");
    if (!node || sp_yaml_is_null(node)) {
        s_error(ld, node ? node : map, "%s%s (every subscription needs its "
                "legal basis: text and activity)", where, node
                ? ".grondslag: needs a value" : ": missing required key "
                "'grondslag'");
        return;
    }
    snprintf(sub_where, sizeof sub_where, "%s.grondslag", where);
    if (!(node = s_map(ld, node, sub_where, keys)))
        return;
    s_string(ld, node, sub_where, "text", true, &sub->grondslag);
    if (s_string(ld, node, sub_where, "activity", true, &sub->activity) == 0
        && !s_valid_uri(sub->activity))
        s_error(ld, sp_yaml_get(ld->yaml, node, "activity"), "%s.activity: "
                "must be the URI of the processing activity", sub_where);
}

static void s_parse_subscription(loader_t *ld, sp_yaml_node_t *item,
                                 const char *where, subscription_t *sub)
{
    static const char *const keys[] = { "name", "type", "filter", "grondslag",
        NULL };
    sp_yaml_node_t *map = s_map(ld, item, where, keys);
    if (!map)
        return;
    sub->line = sp_yaml_line(map);
    s_name(ld, map, where, &sub->name);
    if (s_string(ld, map, where, "type", true, &sub->type) == 0
        && !config_signal_type(ld->cfg, sub->type))
        s_error(ld, sp_yaml_get(ld->yaml, map, "type"), "%s.type: signal "
                "type '%.128s' is not configured in signal_types", where,
                sub->type);
    s_parse_filter(ld, map, where, sub);
    s_parse_grondslag(ld, map, where, sub);
}

static void s_parse_subscriptions(loader_t *ld, sp_yaml_node_t *map,
                                  const char *where, subscriber_t *sb)
{
    char sub_where[128];
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, map, where, "subscriptions",
                                             true), where, "subscriptions");
    size_t count = sp_yaml_size(seq);
    if (!seq || !(sb->subs = calloc(count ? count : 1, sizeof *sb->subs)))
        return;
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *item = sp_yaml_item(ld->yaml, seq, i);
        subscription_t *sub = &sb->subs[sb->sub_count++];
        snprintf(sub_where, sizeof sub_where, "%s.subscriptions[%zu]", where, i);
        s_parse_subscription(ld, item, sub_where, sub);
        for (size_t j = 0; sub->name && j < i; j++)
            if (sb->subs[j].name && strcmp(sb->subs[j].name, sub->name) == 0)
                s_error(ld, item, "%s: duplicate subscription name '%s' "
                        "(first at line %d)", sub_where, sub->name,
                        sb->subs[j].line);
    }
}

static void s_parse_retry(loader_t *ld, sp_yaml_node_t *map, const char *where,
                          retry_policy_t *retry)
{
    static const char *const keys[] = { "initial", "multiplier", "max_delay",
        "max_age", "jitter", NULL };
    char sub[96];
    snprintf(sub, sizeof sub, "%s.retry", where);
    if (!(map = s_map(ld, s_lookup(ld, map, where, "retry", false), sub, keys)))
        return;
    s_duration(ld, map, sub, "initial", 1, &retry->initial_ms);
    s_number(ld, map, sub, "multiplier", 1.0, 100.0, &retry->multiplier);
    s_duration(ld, map, sub, "max_delay", 1, &retry->max_delay_ms);
    s_duration(ld, map, sub, "max_age", 1, &retry->max_age_ms);
    s_number(ld, map, sub, "jitter", 0.0, 1.0, &retry->jitter);
    if (retry->max_delay_ms < retry->initial_ms)
        s_error(ld, map, "%s: max_delay is shorter than initial", sub);
}

static void s_subscriber_defaults(subscriber_t *sb)
{
    sb->window = 64;
    sb->receipt_timeout_ms = 10 * 1000;
    sb->batch_linger_ms = CONFIG_BATCH_LINGER_DEFAULT_MS;
    sb->retry.initial_ms = 1000;
    sb->retry.multiplier = 2.0;
    sb->retry.max_delay_ms = 3600 * 1000;
    sb->retry.max_age_ms = 72 * 3600 * 1000LL;
    sb->retry.jitter = 0.2;
}

/*  kind node: the subscriber is another seinpostd (protocol.md 16). On
    the wire it is a partner; its node key signs the receipts.         */
static void s_subscriber_kind(loader_t *ld, sp_yaml_node_t *map, const char *where,
                              subscriber_t *sb)
{
    char *kind = NULL;
    if (s_string(ld, map, where, "kind", false, &kind) != 0 || !kind)
        return;
    if (strcmp(kind, "node") == 0)
        sb->is_node = true;
    else if (strcmp(kind, "partner") != 0)
        s_error(ld, sp_yaml_get(ld->yaml, map, "kind"), "%s.kind: partner or node", where);
    free(kind);
}

static void s_parse_subscriber(loader_t *ld, sp_yaml_node_t *item,
                               const char *where, subscriber_t *sb)
{
    static const char *const keys[] = { "name", "kind", "endpoint", "public_key",
        "previous_public_keys", "curve_public_key", "window", "receipt_timeout", "batch_linger", "retry",
        "subscriptions", NULL };
    sp_yaml_node_t *map = s_map(ld, item, where, keys);
    long long window = sb->window;
    if (!map)
        return;
    sb->line = sp_yaml_line(map);
    s_name(ld, map, where, &sb->name);
    s_subscriber_kind(ld, map, where, sb);
    s_public_key(ld, map, where, &sb->key);
    s_previous_keys(ld, map, where, sb->key, &sb->previous_keys);
    s_curve_key(ld, map, where, &sb->curve_public);
    if (s_endpoint(ld, map, where, "endpoint", false, &sb->endpoint) == 0
        && s_is_tcp(sb->endpoint)) {
        sp_yaml_node_t *node = sp_yaml_get(ld->yaml, map, "endpoint");
        s_need_curve(ld, node, where, "endpoint");
        if (!sb->curve_public && !ld->cfg->allow_plaintext_tcp)
            s_error(ld, node, "%s.endpoint: a tcp:// endpoint needs the "
                    "partner's curve_public_key", where);
    }
    if (s_integer(ld, map, where, "window", 1, 100000, &window) == 0)
        sb->window = (int) window;
    s_duration(ld, map, where, "receipt_timeout", 1,
               &sb->receipt_timeout_ms);
    if (s_duration(ld, map, where, "batch_linger", 0, &sb->batch_linger_ms) == 0
        && sb->batch_linger_ms > CONFIG_BATCH_LINGER_MAX_MS)
        s_error(ld, sp_yaml_get(ld->yaml, map, "batch_linger"), "%s.batch_linger: at "
                "most %d ms", where, CONFIG_BATCH_LINGER_MAX_MS);
    s_parse_retry(ld, map, where, &sb->retry);
    s_parse_subscriptions(ld, map, where, sb);
}

static void s_parse_subscribers(loader_t *ld, sp_yaml_node_t *root)
{
    config_t *cfg = ld->cfg;
    char where[64];
    sp_yaml_node_t *seq = s_seq(ld, s_lookup(ld, root, "", "subscribers",
                                             false), "", "subscribers");
    size_t count = sp_yaml_size(seq);
    if (!seq || !(cfg->subscribers = calloc(count ? count : 1,
                                            sizeof *cfg->subscribers)))
        return;
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *item = sp_yaml_item(ld->yaml, seq, i);
        subscriber_t *sb = &cfg->subscribers[cfg->subscriber_count++];
        snprintf(where, sizeof where, "subscribers[%zu]", i);
        s_subscriber_defaults(sb);
        s_parse_subscriber(ld, item, where, sb);
        for (size_t j = 0; sb->name && j < i; j++)
            if (cfg->subscribers[j].name
                && strcmp(cfg->subscribers[j].name, sb->name) == 0)
                s_error(ld, item, "%s: duplicate subscriber name '%s' (first "
                        "at line %d)", where, sb->name,
                        cfg->subscribers[j].line);
    }
}

/*  --------------------------------------------------------------------
    Public API                                                            */

static void s_defaults(config_t *cfg)
{
    sp_event_limits_default(&cfg->limits);
    cfg->clock_skew_ms = 24 * 3600 * 1000LL;
    cfg->checkpoint_interval_ms = 60 * 1000;
    cfg->alert_interval_ms = 3600 * 1000;
    cfg->lease_ms = 3000;
}

/*  A SQLite path resolves against the file's directory; a PostgreSQL URI
    is taken as it is (libpq reads its password file and TLS settings
    from its own parameters: passfile, sslmode, sslrootcert ...). The
    nodes of a PostgreSQL cluster open each other's sealed payloads, so
    they share a node secret named in the configuration: a default one
    beside a database file has no place to be.                         */
static void s_parse_database(loader_t *ld, sp_yaml_node_t *root)
{
    const char *text = NULL;
    sp_yaml_node_t *node = s_lookup(ld, root, "", "database", true);
    if (!node || s_text(ld, node, "", "database", &text) != 0)
        return;
    if (!db_target_is_postgresql(text)) {
        s_path(ld, root, "", "database", true, &ld->cfg->database);
        return;
    }
    if (!(ld->cfg->database = strdup(text)))
        s_error(ld, node, "out of memory");
    else if (!ld->cfg->pseudonym_key_path)
        s_error(ld, node, "database: node.pseudonym_key is required with PostgreSQL (every "
                "node of the cluster opens the same sealed payloads with that secret)");
}

static void s_parse_root(loader_t *ld)
{
    static const char *const keys[] = { "node", "listen", "database", "limits",
        "audit", "signal_types", "emitters", "subscribers", "upstream", NULL };
    sp_yaml_node_t *root = sp_yaml_root(ld->yaml);
    if (!sp_yaml_is_map(root)) {
        s_error(ld, root, "top level: expected a mapping, not %s",
                sp_yaml_kind(root));
        return;
    }
    s_check_keys(ld, root, "", keys);
    s_parse_node(ld, root);
    s_parse_listen(ld, root);
    s_parse_database(ld, root);
    s_parse_limits(ld, root);
    s_parse_audit(ld, root);
    s_parse_types(ld, root);
    s_parse_emitters(ld, root);
    s_parse_subscribers(ld, root);
    s_parse_upstream(ld, root);
}

static config_t *s_load(const char *path, bool public_only, char *err, size_t errlen)
{
    loader_t ld = { .err = err, .errlen = errlen, .public_only = public_only };
    if (err && errlen)
        err[0] = '\0';
    ld.yaml = sp_yaml_load(path, err, errlen);
    if (!ld.yaml)
        return NULL;
    ld.cfg = calloc(1, sizeof *ld.cfg);
    if (!ld.cfg) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto cleanup;
    }
    s_defaults(ld.cfg);
    /*  Absolute, so a reload still finds the file after a chdir.         */
    ld.cfg->path = realpath(path, NULL);
    if (!ld.cfg->path)
        s_error(&ld, sp_yaml_root(ld.yaml), "cannot resolve path: %s",
                strerror(errno));
    s_parse_root(&ld);
    if (ld.errors)
        config_destroy(&ld.cfg);
cleanup:
    sp_yaml_destroy(&ld.yaml);
    return ld.cfg;
}

config_t *config_load(const char *path, char *err, size_t errlen)
{
    return s_load(path, false, err, errlen);
}

config_t *config_load_public(const char *path, char *err, size_t errlen)
{
    return s_load(path, true, err, errlen);
}

static void s_free_strings(char **strings, size_t count)
{
    for (size_t i = 0; strings && i < count; i++)
        free(strings[i]);
    free(strings);
}

static void s_free_subscriber(subscriber_t *sb)
{
    for (size_t i = 0; i < sb->sub_count; i++) {
        subscription_t *sub = &sb->subs[i];
        for (size_t j = 0; j < sub->cond_count; j++) {
            free(sub->conds[j].path);
            s_free_strings(sub->conds[j].values, sub->conds[j].value_count);
        }
        free(sub->conds);
        free(sub->name);
        free(sub->type);
        free(sub->grondslag);
        free(sub->activity);
    }
    free(sb->subs);
    free(sb->name);
    free(sb->endpoint);
    sp_key_destroy(&sb->key);
    s_free_keys(&sb->previous_keys);
    free(sb->curve_public);
}

static void s_free_lists(config_t *cfg)
{
    for (size_t i = 0; i < cfg->type_count; i++) {
        signal_type_t *st = &cfg->types[i];
        for (size_t j = 0; j < st->field_count; j++)
            free(st->fields[j].name);
        free(st->fields);
        free(st->type);
        free(st->subject_id_type);
    }
    free(cfg->types);
    for (size_t i = 0; i < cfg->emitter_count; i++) {
        emitter_t *em = &cfg->emitters[i];
        free(em->name);
        sp_key_destroy(&em->key);
        s_free_keys(&em->previous_keys);
        free(em->curve_public);
        s_free_strings(em->types, em->type_count);
    }
    free(cfg->emitters);
    for (size_t i = 0; i < cfg->subscriber_count; i++)
        s_free_subscriber(&cfg->subscribers[i]);
    free(cfg->subscribers);
    for (size_t i = 0; i < cfg->upstream_count; i++) {
        upstream_t *up = &cfg->upstreams[i];
        free(up->name);
        sp_key_destroy(&up->key);
        free(up->curve_public);
        for (size_t j = 0; j < up->relay_count; j++)
            s_free_strings(up->relay[j].types, up->relay[j].type_count);
        free(up->relay);
    }
    free(cfg->upstreams);
    free(cfg->upstream_listen);
    free(cfg->upstream_subscriber);
}

void config_destroy(config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    config_t *self = *self_p;
    s_free_lists(self);
    free(self->path);
    free(self->node_name);
    free(self->signing_key_path);
    sp_key_destroy(&self->signing_key);
    s_free_keys(&self->previous_keys);
    free(self->curve_secret_path);
    free(self->ingress_endpoint);
    free(self->admin_endpoint);
    free(self->metrics_listen);
    free(self->database);
    free(self->pseudonym_key_path);
    free(self->alert_command);
    free(self);
    *self_p = NULL;
}

const signal_type_t *config_signal_type(const config_t *self, const char *type)
{
    for (size_t i = 0; type && i < self->type_count; i++)
        if (self->types[i].type && strcmp(self->types[i].type, type) == 0)
            return &self->types[i];
    return NULL;
}

const emitter_t *config_emitter_by_key_id(const config_t *self,
                                          const char *key_id)
{
    for (size_t i = 0; key_id && i < self->emitter_count; i++)
        if (self->emitters[i].key
            && strcmp(sp_key_id(self->emitters[i].key), key_id) == 0)
            return &self->emitters[i];
    return NULL;
}

const sp_key_t *config_key_by_id(const sp_key_t *current, const key_list_t *previous,
                                 const char *key_id)
{
    if (!key_id)
        return NULL;
    if (current && strcmp(sp_key_id(current), key_id) == 0)
        return current;
    for (size_t i = 0; previous && i < previous->count; i++)
        if (previous->keys[i] && strcmp(sp_key_id(previous->keys[i]), key_id) == 0)
            return previous->keys[i];
    return NULL;
}

const emitter_t *config_emitter_by_any_key(const config_t *self, const char *key_id,
                                           const sp_key_t **key)
{
    const emitter_t *em = config_emitter_by_key_id(self, key_id);
    *key = em ? em->key : NULL;
    for (size_t i = 0; !em && key_id && i < self->emitter_count; i++)
        if ((*key = config_key_by_id(NULL, &self->emitters[i].previous_keys, key_id)))
            em = &self->emitters[i];
    return em;
}

const emitter_t *config_emitter_by_curve(const config_t *self, const char *z85)
{
    for (size_t i = 0; i < self->emitter_count; i++)
        if (self->emitters[i].curve_public && strcmp(self->emitters[i].curve_public, z85) == 0)
            return &self->emitters[i];
    return NULL;
}

const emitter_t *config_emitter_by_name(const config_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->emitter_count; i++)
        if (self->emitters[i].name && strcmp(self->emitters[i].name, name) == 0)
            return &self->emitters[i];
    return NULL;
}

const subscriber_t *config_subscriber(const config_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->subscriber_count; i++)
        if (self->subscribers[i].name
            && strcmp(self->subscribers[i].name, name) == 0)
            return &self->subscribers[i];
    return NULL;
}

bool config_emitter_may_emit(const emitter_t *emitter, const char *type)
{
    for (size_t i = 0; type && i < emitter->type_count; i++)
        if (emitter->types[i] && strcmp(emitter->types[i], type) == 0)
            return true;
    return false;
}

int config_parse_duration(const char *text, int64_t *ms)
{
    static const struct { const char *suffix; int64_t ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
        { "h", 3600 * 1000 }, { "d", 24 * 3600 * 1000LL }, { "", 1000 } };
    int64_t value = 0;
    const char *p = text;
    if (!text || !isdigit((unsigned char) *p))
        return -1;
    for (; isdigit((unsigned char) *p); p++) {
        if (value > (INT64_MAX - 9) / 10)
            return -1;
        value = value * 10 + (*p - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(p, units[i].suffix) == 0) {
            if (value > INT64_MAX / units[i].ms)
                return -1;
            *ms = value * units[i].ms;
            return 0;
        }
    return -1;
}

const upstream_t *config_upstream(const config_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->upstream_count; i++)
        if (self->upstreams[i].name && strcmp(self->upstreams[i].name, name) == 0)
            return &self->upstreams[i];
    return NULL;
}

bool config_upstream_may_relay(const config_t *self, const upstream_t *upstream,
                               const emitter_t *emitter, const char *type)
{
    for (size_t i = 0; i < upstream->relay_count; i++) {
        const relay_rule_t *rule = &upstream->relay[i];
        if (&self->emitters[rule->emitter] != emitter)
            continue;
        if (rule->type_count == 0)
            return config_emitter_may_emit(emitter, type);
        for (size_t j = 0; j < rule->type_count; j++)
            if (strcmp(rule->types[j], type) == 0)
                return true;
    }
    return false;
}
