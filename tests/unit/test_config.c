/*  test_config.c - the YAML configuration loader and its sp_yaml helper.

    Fixtures live in tests/data/config/. Each bad-*.yaml names the errors
    it must cause in "# expect: LINE: text" comments, so a fixture and its
    expectations are edited together. Fixtures are copied into a temporary
    directory next to freshly generated signing keys: git cannot keep a
    key file at mode 0600, and the loader refuses any other mode.
    Run from the top of the source tree.
*/
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "sp_util.h"
#include "sp_yaml.h"
#include "test.h"

#define FIXTURES "tests/data/config"

static char s_tmp[512];

static int s_remove(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove(path);
}

static int s_write(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    if (!file)
        return -1;
    int rc = fputs(text, file) < 0 ? -1 : 0;
    return fclose(file) != 0 ? -1 : rc;
}

static int s_copy(const char *from, const char *to)
{
    char *text = sp_file_read(from, 1 << 20, NULL);
    if (!text)
        return -1;
    int rc = s_write(to, text);
    free(text);
    return rc;
}

static int s_new_key(const char *path, mode_t mode)
{
    sp_key_t *key = sp_key_generate();
    int rc = key ? sp_key_save(key, path, NULL) : -1;
    sp_key_destroy(&key);
    return rc == 0 ? chmod(path, mode) : -1;
}

static void s_tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", s_tmp, name);
}

static int s_setup(void)
{
    char path[PATH_MAX], *real;
    snprintf(path, sizeof path, "%s/seinpost-test-config-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(path) || !(real = realpath(path, NULL)))
        return -1;
    /*  Resolved, because the loader reports resolved paths.               */
    snprintf(s_tmp, sizeof s_tmp, "%s", real);
    free(real);
    s_tmp_path(path, sizeof path, "node.key");
    if (s_new_key(path, 0600) != 0)
        return -1;
    s_tmp_path(path, sizeof path, "open.key");
    return s_new_key(path, 0644);
}

/*  Copies fixture name into the temporary directory and loads it there.  */
static config_t *s_load_fixture(const char *name, char *path, size_t pathlen,
                                char *err, size_t errlen)
{
    char from[PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", FIXTURES, name);
    s_tmp_path(path, pathlen, name);
    if (s_copy(from, path) != 0) {
        fprintf(stderr, "  cannot copy fixture %s\n", from);
        snprintf(err, errlen, "fixture missing");
        return NULL;
    }
    return config_load(path, err, errlen);
}

/*  True when err has a line "path:line: ..." that contains fragment.      */
static bool s_err_has(const char *err, const char *path, int line,
                      const char *fragment)
{
    char prefix[PATH_MAX + 32];
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    for (const char *p = err; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        char *copy = strndup(p, len);
        bool hit = copy && strncmp(copy, prefix, strlen(prefix)) == 0
                   && strstr(copy, fragment);
        free(copy);
        if (hit)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/*  Every line of err starts with "path:<digits>: ".                       */
static bool s_err_well_formed(const char *err, const char *path)
{
    size_t plen = strlen(path);
    for (const char *p = err; p && *p;) {
        if (strncmp(p, path, plen) != 0 || p[plen] != ':')
            return false;
        const char *q = p + plen + 1;
        if (*q < '1' || *q > '9')
            return false;
        q += strspn(q, "0123456789");
        if (q[0] != ':' || q[1] != ' ')
            return false;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return true;
}

/*  --------------------------------------------------------------------  */

TEST(duration)
{
    int64_t ms = -1;
    CHECK(config_parse_duration("250ms", &ms) == 0 && ms == 250);
    CHECK(config_parse_duration("10s", &ms) == 0 && ms == 10000);
    CHECK(config_parse_duration("5m", &ms) == 0 && ms == 300000);
    CHECK(config_parse_duration("2h", &ms) == 0 && ms == 7200000);
    CHECK(config_parse_duration("3d", &ms) == 0 && ms == 259200000);
    CHECK(config_parse_duration("90", &ms) == 0 && ms == 90000);
    CHECK(config_parse_duration("0", &ms) == 0 && ms == 0);
    CHECK(config_parse_duration("", &ms) == -1);
    CHECK(config_parse_duration("s", &ms) == -1);
    CHECK(config_parse_duration("-1s", &ms) == -1);
    CHECK(config_parse_duration("1.5h", &ms) == -1);
    CHECK(config_parse_duration("10 s", &ms) == -1);
    CHECK(config_parse_duration(" 10s", &ms) == -1);
    CHECK(config_parse_duration("10sec", &ms) == -1);
    CHECK(config_parse_duration("1w", &ms) == -1);
    CHECK(config_parse_duration("99999999999999999999", &ms) == -1);
    CHECK(config_parse_duration("9999999999999999d", &ms) == -1);
    CHECK(config_parse_duration(NULL, &ms) == -1);
}

TEST(yaml_helper)
{
    char path[PATH_MAX], err[512];
    s_tmp_path(path, sizeof path, "helper.yaml");
    CHECK(s_write(path, "# comment\nname: value\nitems:\n  - one\n  - 2\n"
                  "nested: { a: true, b: ~ }\nnam: typo\n") == 0);
    sp_yaml_t *yaml = sp_yaml_load(path, err, sizeof err);
    CHECK(yaml != NULL);
    if (!yaml)
        return;
    sp_yaml_node_t *root = sp_yaml_root(yaml);
    CHECK(sp_yaml_is_map(root) && sp_yaml_size(root) == 4);
    CHECK_STR(sp_yaml_scalar(sp_yaml_get(yaml, root, "name")), "value");
    CHECK(sp_yaml_line(sp_yaml_get(yaml, root, "name")) == 2);
    sp_yaml_node_t *items = sp_yaml_get(yaml, root, "items");
    CHECK(sp_yaml_is_seq(items) && sp_yaml_size(items) == 2);
    CHECK(sp_yaml_line(sp_yaml_item(yaml, items, 1)) == 5);
    CHECK(sp_yaml_item(yaml, items, 2) == NULL);
    long long number = 0;
    CHECK(sp_yaml_int(sp_yaml_item(yaml, items, 1), 0, 10, &number) == 0
          && number == 2);
    CHECK(sp_yaml_int(sp_yaml_item(yaml, items, 1), 3, 10, &number) == -1);
    CHECK(sp_yaml_int(sp_yaml_item(yaml, items, 0), 0, 10, &number) == -1);
    sp_yaml_node_t *nested = sp_yaml_get(yaml, root, "nested");
    bool flag = false;
    CHECK(sp_yaml_bool(sp_yaml_get(yaml, nested, "a"), &flag) == 0 && flag);
    CHECK(sp_yaml_is_null(sp_yaml_get(yaml, nested, "b")));
    CHECK(sp_yaml_get(yaml, nested, "c") == NULL);
    CHECK_STR(sp_yaml_scalar(sp_yaml_pair_key(yaml, nested, 1)), "b");
    sp_yaml_destroy(&yaml);
    CHECK(yaml == NULL);
    sp_yaml_destroy(&yaml);
}

TEST(yaml_keys_and_paths)
{
    static const char *const keys[] = { "name", "items", "nested", NULL };
    char path[PATH_MAX], err[512], *resolved;
    s_tmp_path(path, sizeof path, "helper.yaml");
    sp_yaml_t *yaml = sp_yaml_load(path, err, sizeof err);
    CHECK(yaml != NULL);
    if (!yaml)
        return;
    sp_yaml_node_t *root = sp_yaml_root(yaml);
    size_t index = 0;
    sp_yaml_node_t *unknown = sp_yaml_next_unknown(yaml, root, keys, &index);
    CHECK_STR(sp_yaml_scalar(unknown), "nam");
    CHECK(sp_yaml_next_unknown(yaml, root, keys, &index) == NULL);
    CHECK_STR(sp_yaml_closest("nam", keys), "name");
    CHECK(sp_yaml_closest("zzzzzz", keys) == NULL);
    resolved = sp_yaml_resolve(yaml, "x/y");
    CHECK(resolved && strncmp(resolved, s_tmp, strlen(s_tmp)) == 0
          && strcmp(resolved + strlen(s_tmp), "/x/y") == 0);
    free(resolved);
    resolved = sp_yaml_resolve(yaml, "/abs");
    CHECK_STR(resolved, "/abs");
    free(resolved);
    sp_yaml_destroy(&yaml);
}

/*  What libyaml lets through but a configuration file must not contain. */
TEST(yaml_rejects)
{
    static const struct { const char *text; const char *expect; } cases[] = {
        { "a: 1\nb: 2\na: 3\n", ":3: duplicate key 'a' (first at line 1)" },
        { "a: \"x\\0y\"\n", ":1: NUL character" },
        { "a: 1\n---\nb: 2\n", ":3: more than one YAML document" },
        { "# nothing\n", ":1: empty document" },
        { "a: [1, 2\nb: 3\n", "YAML syntax error" },
        { "a: 1\n\tb: 2\n", ":2: YAML syntax error" },
        { "a: \xff\xfe\n", ":1: YAML syntax error" },
        { "? [a, b]\n: 1\n", ":1: mapping keys must be plain strings" },
    };
    char path[PATH_MAX], err[512];
    s_tmp_path(path, sizeof path, "reject.yaml");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(s_write(path, cases[i].text) == 0);
        err[0] = '\0';
        sp_yaml_t *yaml = sp_yaml_load(path, err, sizeof err);
        CHECK(yaml == NULL);
        sp_yaml_destroy(&yaml);
        if (!strstr(err, cases[i].expect) || strncmp(err, path, strlen(path))) {
            fprintf(stderr, "  case %zu: got \"%s\"\n", i, err);
            CHECK(!"error names file, line and problem");
        }
    }
    CHECK(sp_yaml_load("/nonexistent/seinpost.yaml", err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/seinpost.yaml: cannot read") != NULL);
}

static void s_check_example_types(const config_t *cfg)
{
    CHECK(cfg->type_count == 3);
    const signal_type_t *st = config_signal_type(cfg,
        "nl.gemeente.burgerzaken.geen-dubbele-bewoning");
    CHECK(st != NULL);
    if (!st)
        return;
    CHECK_STR(st->subject_id_type, "BSN");
    CHECK(st->retention_ms == 30LL * 24 * 3600 * 1000);
    CHECK(st->field_count == 7);
    for (size_t i = 0; i < st->field_count; i++) {
        CHECK(st->fields[i].type == FIELD_STRING);
        CHECK(st->fields[i].subject_id
              == (strcmp(st->fields[i].name, "bewonerBsn") == 0));
    }
    st = config_signal_type(cfg, "nl.gemeente.burgerzaken.adresonderzoek-gestart");
    CHECK(st && st->subject_id_type == NULL && st->field_count == 4);
    CHECK(config_signal_type(cfg, "nl.gemeente.burgerzaken") == NULL);
}

static void s_check_example_emitter(const config_t *cfg)
{
    CHECK(cfg->emitter_count == 1);
    const emitter_t *em = config_emitter_by_name(cfg, "burgerzaken-tilburg");
    CHECK(em != NULL);
    if (!em)
        return;
    CHECK_STR(em->oin, "00000001001234567000");
    CHECK(em->key && !sp_key_has_secret(em->key));
    CHECK(em->key && config_emitter_by_key_id(cfg, sp_key_id(em->key)) == em);
    CHECK(config_emitter_by_key_id(cfg, "0000000000000000") == NULL);
    CHECK(em->curve_public && strlen(em->curve_public) == 40);
    CHECK(em->max_in_flight == 1000);
    CHECK(em->type_count == 3);
    CHECK(config_emitter_may_emit(em, "nl.gemeente.burgerzaken.verblijft-niet-op-adres"));
    CHECK(!config_emitter_may_emit(em, "nl.gemeente.burgerzaken.other"));
}

static void s_check_example_subscribers(const config_t *cfg)
{
    CHECK(cfg->subscriber_count == 2);
    const subscriber_t *sb = config_subscriber(cfg, "toeslagen");
    CHECK(sb && sb->sub_count == 2 && sb->key && sb->curve_public);
    if (sb && sb->sub_count == 2) {
        const subscription_t *sub = &sb->subs[0];
        CHECK_STR(sb->endpoint, "tcp://127.0.0.1:7501");
        CHECK_STR(sub->type, "nl.gemeente.burgerzaken.geen-dubbele-bewoning");
        CHECK(sub->cond_count == 1 && sub->conds[0].op == FILTER_ANY_OF);
        CHECK_STR(sub->conds[0].path, "data.gemeentecode");
        CHECK(sub->conds[0].value_count == 1);
        CHECK_STR(sub->conds[0].values[0], "0855");
        CHECK(sub->grondslag && sub->activity);
        CHECK_STR(sb->subs[1].type, "nl.gemeente.burgerzaken.verblijft-niet-op-adres");
    }
    sb = config_subscriber(cfg, "belastingdienst");
    CHECK(sb && sb->sub_count == 1);
    if (sb && sb->sub_count == 1) {
        const subscription_t *sub = &sb->subs[0];
        CHECK(sub->cond_count == 1 && sub->conds[0].op == FILTER_PREFIX);
        CHECK_STR(sub->conds[0].path, "source");
        CHECK_STR(sub->conds[0].values[0], "urn:nld:oin:00000001001234567000");
        /*  Not set in the file: the documented defaults.                 */
        CHECK(sb->window == 64 && sb->receipt_timeout_ms == 10000);
        CHECK(sb->batch_linger_ms == CONFIG_BATCH_LINGER_DEFAULT_MS);
        CHECK(sb->retry.initial_ms == 1000 && sb->retry.multiplier == 2.0);
        CHECK(sb->retry.max_age_ms == 72LL * 3600 * 1000);
    }
    CHECK(config_subscriber(cfg, "nobody") == NULL);
}

TEST(example_loads)
{
    char dir[1024], path[PATH_MAX], key[PATH_MAX], want[PATH_MAX + 64];
    char err[4096] = "";
    s_tmp_path(dir, sizeof dir, "example");
    snprintf(path, sizeof path, "%s/seinpost.yaml", dir);
    snprintf(key, sizeof key, "%s/keys", dir);
    CHECK(mkdir(dir, 0700) == 0 && mkdir(key, 0700) == 0);
    strncat(key, "/node.key", sizeof key - strlen(key) - 1);
    CHECK(s_new_key(key, 0600) == 0);
    CHECK(s_copy("conf/seinpost.yaml", path) == 0);
    config_t *cfg = config_load(path, err, sizeof err);
    if (!cfg)
        fprintf(stderr, "  %s\n", err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_STR(cfg->path, path);
    CHECK_STR(cfg->node_name, "seinpost-demo");
    CHECK_STR(cfg->signing_key_path, key);
    CHECK(cfg->signing_key && sp_key_has_secret(cfg->signing_key));
    snprintf(want, sizeof want, "%s/keys/node.curve", dir);
    CHECK_STR(cfg->curve_secret_path, want);
    CHECK_STR(cfg->ingress_endpoint, "tcp://127.0.0.1:7400");
    snprintf(want, sizeof want, "ipc://%s/run/admin.sock", dir);
    CHECK_STR(cfg->admin_endpoint, want);
    snprintf(want, sizeof want, "%s/seinpost.db", dir);
    CHECK_STR(cfg->database, want);
    CHECK(!cfg->allow_plaintext_tcp);
    CHECK(cfg->limits.max_bytes == 65536 && cfg->limits.max_depth == 32);
    CHECK(cfg->limits.max_string == 16384 && cfg->limits.max_attr_string == 1024);
    CHECK(cfg->clock_skew_ms == 24LL * 3600 * 1000);
    CHECK(cfg->checkpoint_interval_ms == 60000);
    CHECK_STR(cfg->alert_command, "/usr/local/bin/page-oncall");
    CHECK(cfg->alert_interval_ms == 3600000);
    s_check_example_types(cfg);
    s_check_example_emitter(cfg);
    s_check_example_subscribers(cfg);
    config_destroy(&cfg);
    CHECK(cfg == NULL);
    config_destroy(&cfg);
}

TEST(minimal_defaults)
{
    char path[PATH_MAX], want[PATH_MAX + 64], err[4096] = "";
    sp_event_limits_t limits;
    config_t *cfg = s_load_fixture("good-minimal.yaml", path, sizeof path,
                                   err, sizeof err);
    if (!cfg)
        fprintf(stderr, "  %s\n", err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    sp_event_limits_default(&limits);
    CHECK(cfg->limits.max_bytes == limits.max_bytes);
    CHECK(cfg->limits.max_depth == limits.max_depth);
    CHECK(cfg->limits.max_string == limits.max_string);
    CHECK(cfg->limits.max_attr_string == limits.max_attr_string);
    CHECK(cfg->clock_skew_ms == 24LL * 3600 * 1000);
    CHECK(cfg->checkpoint_interval_ms == 60000);
    CHECK(cfg->alert_command == NULL && cfg->alert_interval_ms == 3600000);
    CHECK(cfg->curve_secret_path == NULL && cfg->pseudonym_key_path == NULL);
    /*  Absolute ipc paths stay as written, relative ones resolve.        */
    CHECK_STR(cfg->admin_endpoint, "ipc:///tmp/seinpost-test-admin.sock");
    snprintf(want, sizeof want, "ipc://%s/ingress.sock", s_tmp);
    CHECK_STR(cfg->ingress_endpoint, want);
    CHECK(cfg->types[1].field_count == 0 && cfg->types[1].retention_ms == 0);
    CHECK(cfg->emitters[0].curve_public == NULL);
    CHECK(cfg->emitters[0].max_in_flight == 1000);
    CHECK(cfg->subscribers[0].curve_public == NULL);
    CHECK(cfg->subscribers[0].retry.jitter == 0.2);
    CHECK(cfg->subscribers[0].retry.max_delay_ms == 3600000);
    CHECK(cfg->subscribers[0].batch_linger_ms == CONFIG_BATCH_LINGER_DEFAULT_MS);
    CHECK(cfg->subscribers[0].subs[0].conds[0].value_count == 2);
    config_destroy(&cfg);
}

TEST(plaintext_switch)
{
    char path[PATH_MAX], err[4096] = "";
    config_t *cfg = s_load_fixture("good-plaintext.yaml", path, sizeof path,
                                   err, sizeof err);
    if (!cfg)
        fprintf(stderr, "  %s\n", err);
    CHECK(cfg && cfg->allow_plaintext_tcp);
    config_destroy(&cfg);
}

/*  Checks one bad fixture against its "# expect: LINE: text" comments.   */
static void s_check_bad(const char *name)
{
    char path[PATH_MAX], from[PATH_MAX], err[8192] = "";
    int expects = 0;
    config_t *cfg = s_load_fixture(name, path, sizeof path, err, sizeof err);
    CHECK(cfg == NULL);
    config_destroy(&cfg);
    snprintf(from, sizeof from, "%s/%s", FIXTURES, name);
    char *text = sp_file_read(from, 1 << 20, NULL);
    for (char *p = text; p && (p = strstr(p, "# expect: ")); p++) {
        int line = atoi(p + 10);
        char *fragment = strchr(p + 10, ':');
        char *end = fragment ? strchr(fragment, '\n') : NULL;
        if (!fragment || !end || fragment[1] != ' ')
            break;
        *end = '\0';
        expects++;
        if (!s_err_has(err, path, line, fragment + 2)) {
            fprintf(stderr, "  %s: no error at line %d with \"%s\"\n", name,
                    line, fragment + 2);
            CHECK(!"expected error reported");
        }
        p = end;
    }
    free(text);
    CHECK(expects > 0);
    if (!s_err_well_formed(err, path)) {
        fprintf(stderr, "  %s: malformed errors:\n%s\n", name, err);
        CHECK(!"every error line is file:line: message");
    }
}

TEST(bad_fixtures)
{
    static const char *const names[] = {
        "bad-missing-key.yaml", "bad-unknown-key.yaml", "bad-unknown-top.yaml",
        "bad-scalar-type.yaml", "bad-duration.yaml", "bad-oin.yaml",
        "bad-oin-letters.yaml", "bad-public-key.yaml", "bad-dup-emitter.yaml",
        "bad-dup-key-id.yaml", "bad-dup-subscriber.yaml",
        "bad-dup-subscription.yaml", "bad-no-grondslag.yaml",
        "bad-no-activity.yaml", "bad-subscription-type.yaml",
        "bad-emitter-type.yaml", "bad-filter-op.yaml", "bad-field-type.yaml",
        "bad-signal-type.yaml", "bad-endpoint.yaml", "bad-tcp-plaintext.yaml",
        "bad-yaml-duplicate.yaml", "bad-syntax.yaml", "bad-key-missing.yaml",
        "bad-key-open.yaml", "bad-not-mapping.yaml", "bad-admin-abstract.yaml",
        "bad-upstream.yaml", "bad-pg-upstream.yaml",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        s_check_bad(names[i]);
}

/*  Keys have no place in logs: not even a malformed public key is quoted. */
TEST(errors_hide_keys)
{
    char path[PATH_MAX], err[8192] = "";
    config_t *cfg = s_load_fixture("bad-public-key.yaml", path, sizeof path,
                                   err, sizeof err);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "c2hvcnQ") == NULL);
    CHECK(strstr(err, "3hdFPwYt") == NULL);
    cfg = s_load_fixture("bad-key-open.yaml", path, sizeof path, err, sizeof err);
    CHECK(cfg == NULL && strstr(err, "BEGIN") == NULL);
}

TEST(small_error_buffer)
{
    char path[PATH_MAX], err[24];
    memset(err, 'x', sizeof err);
    config_t *cfg = s_load_fixture("bad-filter-op.yaml", path, sizeof path,
                                   err, sizeof err);
    CHECK(cfg == NULL);
    CHECK(memchr(err, '\0', sizeof err) != NULL);
    CHECK(config_load("/nonexistent/seinpost.yaml", err, sizeof err) == NULL);
    CHECK(memchr(err, '\0', sizeof err) != NULL);
    CHECK(config_load("/nonexistent/seinpost.yaml", NULL, 0) == NULL);
}

int main(void)
{
    if (s_setup() != 0) {
        fprintf(stderr, "test_config: cannot set up a temporary directory\n");
        return 1;
    }
    RUN(duration);
    RUN(yaml_helper);
    RUN(yaml_keys_and_paths);
    RUN(yaml_rejects);
    RUN(example_loads);
    RUN(minimal_defaults);
    RUN(plaintext_switch);
    RUN(bad_fixtures);
    RUN(errors_hide_keys);
    RUN(small_error_buffer);
    nftw(s_tmp, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
