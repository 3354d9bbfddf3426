/*  cmd_conf.c - client configuration for `seinpost emit` and `listen`.    */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "sp_yaml.h"

static const char *const s_keys[] = {
    "endpoint", "listen", "signing_key", "source", "curve_secret_key",
    "server_curve_public_key", "router_public_key", "emitter_public_keys", "subscriber",
    "subscriptions", "router_curve_public_key", "state_db", "dedup_max_age", "http_sink",
    NULL };
static const char *const s_sink_keys[] = {
    "url", "bearer_token_file", "signing_key", "origin", "timeout", "insecure_http", NULL };

static char *s_text(sp_yaml_t *yaml, sp_yaml_node_t *root, const char *key,
                    bool resolve)
{
    const char *text = sp_yaml_scalar(sp_yaml_get(yaml, root, key));
    if (!text)
        return NULL;
    return resolve ? sp_yaml_resolve(yaml, text) : strdup(text);
}

static int s_emitter_keys(cli_conf_t *self, sp_yaml_t *yaml, sp_yaml_node_t *root,
                          char *err, size_t errlen)
{
    sp_yaml_node_t *list = sp_yaml_get(yaml, root, "emitter_public_keys");
    if (!list)
        return 0;
    if (!sp_yaml_is_seq(list))
        return sp_yaml_error(yaml, list, err, errlen, "emitter_public_keys must be a list");
    self->emitter_keys = calloc(sp_yaml_size(list) + 1, sizeof *self->emitter_keys);
    for (size_t i = 0; self->emitter_keys && i < sp_yaml_size(list); i++) {
        sp_yaml_node_t *item = sp_yaml_item(yaml, list, i);
        sp_key_t *key = sp_key_from_text(sp_yaml_scalar(item));
        if (!key)
            return sp_yaml_error(yaml, item, err, errlen, "not an ed25519:<base64> key");
        self->emitter_keys[self->emitter_key_count++] = key;
    }
    return 0;
}

/*  router_public_key: one key, or a list of them during a key rotation
    (the first is the router's key; a batch signed by any is accepted).  */
static int s_router_keys(cli_conf_t *self, sp_yaml_t *yaml, sp_yaml_node_t *root,
                         char *err, size_t errlen)
{
    sp_yaml_node_t *node = sp_yaml_get(yaml, root, "router_public_key");
    size_t count = node && sp_yaml_is_seq(node) ? sp_yaml_size(node) : 1;
    if (!node)
        return 0;
    if (count < 1 || count > 4)
        return sp_yaml_error(yaml, node, err, errlen, "router_public_key: 1 to 4 keys");
    self->router_other_keys = calloc(count, sizeof *self->router_other_keys);
    if (!self->router_other_keys)
        return sp_yaml_error(yaml, node, err, errlen, "out of memory");
    for (size_t i = 0; i < count; i++) {
        sp_yaml_node_t *item = sp_yaml_is_seq(node) ? sp_yaml_item(yaml, node, i) : node;
        sp_key_t *key = sp_key_from_text(sp_yaml_scalar(item));
        if (!key)
            return sp_yaml_error(yaml, item, err, errlen, "not an ed25519:<base64> key");
        if (i == 0)
            self->router_key = key;
        else
            self->router_other_keys[self->router_other_count++] = key;
    }
    return 0;
}

/*  key: one string or a list of at most max; a NULL-ended array.       */
static int s_strings(sp_yaml_t *yaml, sp_yaml_node_t *root, const char *key, size_t max,
                     char ***out, size_t *count, char *err, size_t errlen)
{
    sp_yaml_node_t *node = sp_yaml_get(yaml, root, key);
    size_t n = node && sp_yaml_is_seq(node) ? sp_yaml_size(node) : 1;
    if (!node)
        return 0;
    if (n < 1 || n > max)
        return sp_yaml_error(yaml, node, err, errlen, "1 to %zu values", max);
    *out = calloc(n + 1, sizeof **out);
    for (size_t i = 0; *out && i < n; i++) {
        sp_yaml_node_t *item = sp_yaml_is_seq(node) ? sp_yaml_item(yaml, node, i) : node;
        const char *text = sp_yaml_scalar(item);
        if (!text || !text[0])
            return sp_yaml_error(yaml, item, err, errlen, "expected a non-empty string");
        if (!((*out)[(*count)++] = strdup(text)))
            break;
    }
    if (!*out || *count != n)
        return sp_yaml_error(yaml, node, err, errlen, "out of memory");
    return 0;
}

/*  The partner's own keys: who it is for the router, and its state.   */
static int s_partner(cli_conf_t *self, sp_yaml_t *yaml, sp_yaml_node_t *root,
                     char *err, size_t errlen)
{
    sp_yaml_node_t *age = sp_yaml_get(yaml, root, "dedup_max_age");
    self->subscriber = s_text(yaml, root, "subscriber", false);
    self->state_db = s_text(yaml, root, "state_db", true);
    if (age && (config_parse_duration(sp_yaml_scalar(age), &self->dedup_max_age_ms) != 0
                || self->dedup_max_age_ms < 60000))
        return sp_yaml_error(yaml, age, err, errlen, "a duration of at least 1m, like 8d");
    if (s_strings(yaml, root, "subscriptions", 1000, &self->subscriptions,
                  &self->subscription_count, err, errlen) != 0)
        return -1;
    return s_strings(yaml, root, "router_curve_public_key", 4, &self->router_curve,
                     &self->router_curve_count, err, errlen);
}

/*  http_sink: where `listen` hands signals on over HTTP (protocol.md
    15.1). The files are read, and their modes checked, by sp_http_sink. */
static int s_http_sink(cli_conf_t *self, sp_yaml_t *yaml, sp_yaml_node_t *root,
                       char *err, size_t errlen)
{
    sp_yaml_node_t *map = sp_yaml_get(yaml, root, "http_sink"), *node;
    size_t index = 0;
    if (!map)
        return 0;
    if (!sp_yaml_is_map(map))
        return sp_yaml_error(yaml, map, err, errlen, "http_sink must be a mapping");
    if ((node = sp_yaml_next_unknown(yaml, map, s_sink_keys, &index)) != NULL)
        return sp_yaml_error(yaml, node, err, errlen, "unknown key in http_sink");
    self->sink_url = s_text(yaml, map, "url", false);
    self->sink_origin = s_text(yaml, map, "origin", false);
    self->sink_token_file = s_text(yaml, map, "bearer_token_file", true);
    self->sink_key_path = s_text(yaml, map, "signing_key", true);
    if (!self->sink_url || !self->sink_origin)
        return sp_yaml_error(yaml, map, err, errlen, "http_sink needs url and origin");
    node = sp_yaml_get(yaml, map, "timeout");
    if (node && (config_parse_duration(sp_yaml_scalar(node), &self->sink_timeout_ms) != 0
                 || self->sink_timeout_ms < 100 || self->sink_timeout_ms > 600000))
        return sp_yaml_error(yaml, node, err, errlen, "a duration from 100ms to 10m");
    node = sp_yaml_get(yaml, map, "insecure_http");
    if (node && sp_yaml_bool(node, &self->sink_insecure_http) != 0)
        return sp_yaml_error(yaml, node, err, errlen, "true or false");
    return 0;
}

static int s_parse(cli_conf_t *self, sp_yaml_t *yaml, char *err, size_t errlen)
{
    sp_yaml_node_t *root = sp_yaml_root(yaml);
    size_t index = 0;
    if (!sp_yaml_is_map(root))
        return sp_yaml_error(yaml, root, err, errlen, "expected a mapping");
    sp_yaml_node_t *unknown = sp_yaml_next_unknown(yaml, root, s_keys, &index);
    if (unknown)
        return sp_yaml_error(yaml, unknown, err, errlen, "unknown key");
    self->endpoint = s_text(yaml, root, "endpoint", false);
    self->listen = s_text(yaml, root, "listen", false);
    self->signing_key_path = s_text(yaml, root, "signing_key", true);
    self->source = s_text(yaml, root, "source", false);
    self->curve_secret_path = s_text(yaml, root, "curve_secret_key", true);
    self->server_curve_public = s_text(yaml, root, "server_curve_public_key", false);
    if (s_router_keys(self, yaml, root, err, errlen) != 0
        || s_partner(self, yaml, root, err, errlen) != 0
        || s_http_sink(self, yaml, root, err, errlen) != 0)
        return -1;
    if (self->signing_key_path) {
        self->signing_key = sp_key_load(self->signing_key_path, true, err, errlen);
        if (!self->signing_key)
            return -1;
    }
    return s_emitter_keys(self, yaml, root, err, errlen);
}

cli_conf_t *cli_conf_load(const char *path, char *err, size_t errlen)
{
    cli_conf_t *self = calloc(1, sizeof *self);
    sp_yaml_t *yaml = sp_yaml_load(path, err, errlen);
    if (!self || !yaml || (self->path = strdup(path)) == NULL
        || s_parse(self, yaml, err, errlen) != 0) {
        cli_conf_destroy(&self);
        sp_yaml_destroy(&yaml);
        return NULL;
    }
    sp_yaml_destroy(&yaml);
    return self;
}

void cli_conf_destroy(cli_conf_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_conf_t *self = *self_p;
    free(self->path);
    free(self->endpoint);
    free(self->listen);
    free(self->signing_key_path);
    free(self->source);
    free(self->curve_secret_path);
    free(self->server_curve_public);
    free(self->subscriber);
    free(self->state_db);
    free(self->sink_url);
    free(self->sink_token_file);
    free(self->sink_key_path);
    free(self->sink_origin);
    for (size_t i = 0; i < self->subscription_count; i++)
        free(self->subscriptions[i]);
    free(self->subscriptions);
    for (size_t i = 0; i < self->router_curve_count; i++)
        free(self->router_curve[i]);
    free(self->router_curve);
    sp_key_destroy(&self->signing_key);
    sp_key_destroy(&self->router_key);
    for (size_t i = 0; i < self->router_other_count; i++)
        sp_key_destroy(&self->router_other_keys[i]);
    free(self->router_other_keys);
    for (size_t i = 0; i < self->emitter_key_count; i++)
        sp_key_destroy(&self->emitter_keys[i]);
    free(self->emitter_keys);
    free(self);
    *self_p = NULL;
}

char *cli_conf_state_path(const cli_conf_t *conf)
{
    if (conf->state_db)
        return strdup(conf->state_db);
    size_t len = strlen(conf->path);
    const char *dot = strrchr(conf->path, '.'), *slash = strrchr(conf->path, '/');
    if (dot && (!slash || dot > slash))
        len = (size_t) (dot - conf->path);
    char *path = malloc(len + sizeof ".state.db");
    if (path)
        snprintf(path, len + sizeof ".state.db", "%.*s.state.db", (int) len, conf->path);
    return path;
}
