/*  fuzz_config.c - libFuzzer harness for the YAML configuration loaders:
    seinpostd's config_load() (daemon/config.c over client/sp_yaml.c and
    libyaml) and the CLI's cli_conf_load() (client/cmd_conf.c).

    Both take a path, so each input is written to seinpost.yaml in a temp
    directory made once by LLVMFuzzerInitialize(); relative paths in the
    file resolve there. The directory holds what the corpus refers to:
    node.key and keys/{node,burgerzaken,toeslagen}.key (Ed25519 PEM, 0600),
    open.key (0644, refused), keys/{node,burgerzaken,toeslagen}.curve (CURVE). Nothing else
    is opened by the loaders: endpoints are only checked, not bound.

    Oracles beyond ASan/UBSan/LSan (every error path must free what it
    built): a failed load leaves a non-empty message within the buffer,
    for config_load() one that starts with the file's path ("file:line:
    message"); a successful
    daemon config has every required member, its lookups find what it
    holds, and every reference it checked (emitter types, subscription
    types) resolves. SEINPOST_FUZZ_VERBOSE=1 prints each loader's verdict.
*/
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "sp_proto.h"
#include "sp_util.h"

#define FZ_ERRLEN 2048

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char s_dir[PATH_MAX];
static char s_path[PATH_MAX];

static void s_cleanup(void);

/*  libFuzzer leaves a crashing process without running atexit().        */
static void s_die(const char *what)
{
    fprintf(stderr, "fuzz harness: %s\n", what);
    s_cleanup();
    abort();
}

static void s_key(const char *name, mode_t mode)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    sp_key_t *key = sp_key_generate();
    if (!key || sp_key_save(key, path, NULL) != 0 || chmod(path, mode) != 0)
        s_die("cannot write a key");
    sp_key_destroy(&key);
}

static void s_curve(const char *name)
{
    char path[PATH_MAX], pub[41];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    if (sp_curve_generate(path, pub) != 0)
        s_die("cannot write a CURVE key");
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove(path);
}

static void s_cleanup(void)
{
    if (s_dir[0])
        nftw(s_dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    s_dir[0] = '\0';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[PATH_MAX];
    (void) argc; (void) argv;
    const char *base = getenv("SEINPOST_FUZZ_TMPDIR");
    if (!base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
             : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/seinpost-fuzz-config-XXXXXX", base);
    char *real = mkdtemp(path) ? realpath(path, NULL) : NULL;
    if (!real)
        s_die("cannot make a temp directory");
    snprintf(s_dir, sizeof s_dir, "%s", real);
    free(real);
    atexit(s_cleanup);
    snprintf(path, sizeof path, "%s/keys", s_dir);
    if (mkdir(path, 0700) != 0)
        s_die("cannot make keys/");
    s_key("node.key", 0600);
    s_key("open.key", 0644);
    s_key("keys/node.key", 0600);
    s_key("keys/burgerzaken.key", 0600);
    s_key("keys/toeslagen.key", 0600);
    s_curve("keys/node.curve");
    s_curve("keys/burgerzaken.curve");
    s_curve("keys/toeslagen.curve");
    snprintf(s_path, sizeof s_path, "%s/seinpost.yaml", s_dir);
    return 0;
}

static void s_check_error(const char *err, const char *loader, bool located)
{
    char what[128];
    if (!memchr(err, '\0', FZ_ERRLEN)) {
        snprintf(what, sizeof what, "%s: error message not terminated", loader);
        s_die(what);
    }
    if (err[0] == '\0' || (located && strncmp(err, s_path, strlen(s_path)) != 0)) {
        snprintf(what, sizeof what, "%s failed without a \"file:line: message\"",
                 loader);
        fprintf(stderr, "error text: \"%s\"\n", err);
        s_die(what);
    }
}

static void s_check_subscriber(const config_t *cfg, const subscriber_t *sb)
{
    if (!sb->name || !sb->endpoint || !sb->key || sb->window < 1
        || config_subscriber(cfg, sb->name) != sb)
        s_die("loaded subscriber incomplete or not found by name");
    for (size_t j = 0; j < sb->sub_count; j++) {
        const subscription_t *sub = &sb->subs[j];
        if (!sub->name || !sub->type || !sub->grondslag || !sub->activity
            || !config_signal_type(cfg, sub->type))
            s_die("loaded subscription incomplete");
        for (size_t k = 0; k < sub->cond_count; k++)
            if (!sub->conds[k].path || sub->conds[k].value_count == 0
                || !sub->conds[k].values)
                s_die("loaded filter condition incomplete");
    }
}

static void s_check_config(const config_t *cfg)
{
    if (!cfg->path || !cfg->node_name || !cfg->signing_key || !cfg->ingress_endpoint
        || !cfg->admin_endpoint || !cfg->database || !sp_key_has_secret(cfg->signing_key))
        s_die("loaded config lacks a required member");
    for (size_t i = 0; i < cfg->type_count; i++)
        if (!cfg->types[i].type || config_signal_type(cfg, cfg->types[i].type)
                                   != &cfg->types[i])
            s_die("loaded signal type incomplete or not found");
    for (size_t i = 0; i < cfg->emitter_count; i++) {
        const emitter_t *em = &cfg->emitters[i];
        if (!em->name || !em->key || strlen(em->oin) != 20
            || config_emitter_by_key_id(cfg, sp_key_id(em->key)) != em
            || config_emitter_by_name(cfg, em->name) != em)
            s_die("loaded emitter incomplete or not found");
        for (size_t j = 0; j < em->type_count; j++)
            if (!config_emitter_may_emit(em, em->types[j])
                || !config_signal_type(cfg, em->types[j]))
                s_die("loaded emitter type does not resolve");
    }
    for (size_t i = 0; i < cfg->subscriber_count; i++)
        s_check_subscriber(cfg, &cfg->subscribers[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[FZ_ERRLEN];
    FILE *file = fopen(s_path, "w");
    if (!file || fwrite(data, 1, size, file) != size || fclose(file) != 0)
        s_die("cannot write the input file");
    memset(err, 'x', sizeof err);
    config_t *cfg = config_load(s_path, err, sizeof err);
    if (getenv("SEINPOST_FUZZ_VERBOSE"))
        fprintf(stderr, "config_load: %s\n", cfg ? "loaded" : err);
    if (cfg) {
        s_check_config(cfg);
        config_destroy(&cfg);
    } else
        s_check_error(err, "config_load", true);
    memset(err, 'x', sizeof err);
    cli_conf_t *conf = cli_conf_load(s_path, err, sizeof err);
    if (getenv("SEINPOST_FUZZ_VERBOSE"))
        fprintf(stderr, "cli_conf_load: %s\n", conf ? "loaded" : err);
    if (conf)
        cli_conf_destroy(&conf);
    else
        /*  A key that fails to load is reported by its own path.        */
        s_check_error(err, "cli_conf_load", false);
    return 0;
}
