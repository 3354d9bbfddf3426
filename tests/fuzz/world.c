/*  world.c - a throw-away seinpostd for the harnesses, see world.h.       */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "world.h"
#include "sp_util.h"

/*  The temp directory of the running world: fz_die() removes it, since
    libFuzzer leaves a crashing process without running atexit().        */
static char s_world_dir[256];

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw);

void fz_die(const char *fmt, ...)
{
    va_list ap;
    if (s_world_dir[0])
        nftw(s_world_dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    va_start(ap, fmt);
    fprintf(stderr, "fuzz harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

bool fz_tolerate(const char *bug)
{
    const char *list = getenv("SEINPOST_FUZZ_TOLERATE");
    size_t len = strlen(bug);
    for (const char *at = list; at && (at = strstr(at, bug)); at += len)
        if ((at == list || at[-1] == ',') && (at[len] == '\0' || at[len] == ','))
            return true;
    return false;
}

void fz_split(const uint8_t *data, size_t size, fz_frames_t *out)
{
    const uint8_t *at = data, *end = data + size;
    out->count = 0;
    while (out->count < FZ_MAX_FRAMES - 1) {
        const uint8_t *sep = memmem(at, (size_t) (end - at), FZ_SEPARATOR,
                                    FZ_SEPARATOR_LEN);
        if (!sep)
            break;
        out->data[out->count] = at;
        out->size[out->count++] = (size_t) (sep - at);
        at = sep + FZ_SEPARATOR_LEN;
    }
    out->data[out->count] = at;
    out->size[out->count++] = (size_t) (end - at);
}

/*  --------------------------------------------------------------------
    Files.                                                                */

static void s_path(const fz_world_t *self, const char *name, char *buf, size_t len)
{
    if (snprintf(buf, len, "%s/%s", self->dir, name) >= (int) len)
        fz_die("path too long: %s/%s", self->dir, name);
}

static void s_write(const char *path, const char *text, mode_t mode)
{
    FILE *file = fopen(path, "w");
    if (!file || fputs(text, file) < 0 || fclose(file) != 0 || chmod(path, mode) != 0)
        fz_die("cannot write %s: %s", path, strerror(errno));
}

static sp_key_t *s_key(const fz_world_t *self, const char *name)
{
    char path[PATH_MAX];
    sp_key_t *key = sp_key_generate();
    s_path(self, name, path, sizeof path);
    if (!key || sp_key_save(key, path, NULL) != 0)
        fz_die("cannot write key %s", path);
    return key;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove(path);
}

static void s_tempdir(fz_world_t *self, const char *name)
{
    char path[PATH_MAX];
    const char *base = getenv("SEINPOST_FUZZ_TMPDIR");
    if (!base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
             : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/seinpost-fuzz-%s-XXXXXX", base, name);
    if (!mkdtemp(path))
        fz_die("mkdtemp %s: %s", path, strerror(errno));
    char *real = realpath(path, NULL);
    /*  ipc:// paths must fit sockaddr_un (108 bytes).                    */
    if (!real || strlen(real) > 80)
        fz_die("temp directory %s unusable (set SEINPOST_FUZZ_TMPDIR)", path);
    snprintf(self->dir, sizeof self->dir, "%s", real);
    snprintf(s_world_dir, sizeof s_world_dir, "%s", real);
    free(real);
}

/*  --------------------------------------------------------------------
    The configuration: four signal types (one with every field type),
    two emitters (to reach NOT_ALLOWED and SOURCE_MISMATCH), two
    subscribers whose subscriptions use every filter operator.           */

static const char *s_config_fmt =
    "node:\n"
    "  name: fuzz-node\n"
    "  signing_key: node.key\n"
    "listen:\n"
    "  ingress: ipc://ingress.sock\n"
    "  admin: ipc://admin.sock\n"
    "database: seinpost.db\n"
    "limits:\n"
    "  max_message_bytes: 2048\n"
    "  max_json_depth: 16\n"
    "  max_string_bytes: 1024\n"
    "  max_attribute_bytes: 256\n"
    "  clock_skew: 0s\n"
    "audit:\n"
    "  checkpoint_interval: 1h\n"
    "signal_types:\n"
    "  - type: nl.gemeente.burgerzaken.geen-dubbele-bewoning\n"
    "    subject_id_type: BSN\n"
    "    data:\n"
    "      gemeentecode: string\n"
    "      nummeraanduidingIdentificatie: string\n"
    "      bewonerBsn: { type: string, subject_id: true }\n"
    "      vastgesteldOp: string\n"
    "  - type: nl.gemeente.burgerzaken.verblijft-niet-op-adres\n"
    "    subject_id_type: BSN\n"
    "    data:\n"
    "      gemeentecode: string\n"
    "      vastgesteldOp: string\n"
    "  - type: nl.gemeente.burgerzaken.adresonderzoek-gestart\n"
    "    data:\n"
    "      gemeentecode: string\n"
    "      aanleiding: string\n"
    "  - type: nl.example.fuzz.v1\n"
    "    data:\n"
    "      s: string\n"
    "      n: number\n"
    "      i: integer\n"
    "      b: boolean\n"
    "      o: object\n"
    "      a: array\n"
    "      x: any\n"
    "emitters:\n"
    "  - name: burgerzaken-tilburg\n"
    "    oin: \"" FZ_OIN_A "\"\n"
    "    public_key: %s\n"
    "    types:\n"
    "      - nl.gemeente.burgerzaken.geen-dubbele-bewoning\n"
    "      - nl.gemeente.burgerzaken.verblijft-niet-op-adres\n"
    "      - nl.example.fuzz.v1\n"
    "  - name: burgerzaken-breda\n"
    "    oin: \"" FZ_OIN_B "\"\n"
    "    public_key: %s\n"
    "    types: [nl.gemeente.burgerzaken.adresonderzoek-gestart, nl.example.fuzz.v1]\n"
    "subscribers:\n"
    "  - name: toeslagen\n"
    "    endpoint: ipc://toeslagen.sock\n"
    "    public_key: %s\n"
    "    window: 16\n"
    "    receipt_timeout: 1h\n"
    "    batch_linger: 0ms\n"
    "    retry: { initial: 1ms, multiplier: 2, max_delay: 4ms, max_age: 72h, jitter: 0.1 }\n"
    "    subscriptions:\n"
    "      - name: huurtoeslag-bewoning\n"
    "        type: nl.gemeente.burgerzaken.geen-dubbele-bewoning\n"
    "        filter:\n"
    "          - { field: data.gemeentecode, any_of: [\"0855\", \"0796\"] }\n"
    "        grondslag:\n"
    "          text: \"Awir art. 9 en 10\"\n"
    "          activity: \"https://verwerkingsregister.example/toeslagen/bewoning\"\n"
    "      - name: fuzz-nested\n"
    "        type: nl.example.fuzz.v1\n"
    "        filter:\n"
    "          - { field: data.o.k, exact: \"v\" }\n"
    "          - { field: data.n, any_of: [\"42\", \"1.5\", \"true\"] }\n"
    "        grondslag:\n"
    "          text: \"fuzz\"\n"
    "          activity: \"urn:example:fuzz:nested\"\n"
    "  - name: belastingdienst\n"
    "    endpoint: ipc://belastingdienst.sock\n"
    "    public_key: %s\n"
    "    receipt_timeout: 1h\n"
    "    batch_linger: 0ms\n"
    "    retry: { initial: 1ms, multiplier: 2, max_delay: 4ms, max_age: 72h, jitter: 0.1 }\n"
    "    subscriptions:\n"
    "      - name: verblijf-tilburg\n"
    "        type: nl.gemeente.burgerzaken.verblijft-niet-op-adres\n"
    "        filter:\n"
    "          - { field: data.gemeentecode, exact: \"0855\" }\n"
    "        grondslag:\n"
    "          text: \"AWR art. 53\"\n"
    "          activity: \"https://verwerkingsregister.example/belastingdienst/adres\"\n"
    "      - name: bewoning-prefix\n"
    "        type: nl.gemeente.burgerzaken.geen-dubbele-bewoning\n"
    "        filter:\n"
    "          - { field: source, prefix: \"urn:nld:oin:" FZ_OIN_A "\" }\n"
    "          - { field: data.gemeentecode, exact: \"0796\" }\n"
    "        grondslag:\n"
    "          text: \"AWR art. 53\"\n"
    "          activity: \"https://verwerkingsregister.example/belastingdienst/bewoning\"\n"
    "      - name: onderzoek\n"
    "        type: nl.gemeente.burgerzaken.adresonderzoek-gestart\n"
    "        filter:\n"
    "          - { field: subject, prefix: \"0855\" }\n"
    "        grondslag:\n"
    "          text: \"AWR art. 53\"\n"
    "          activity: \"urn:example:onderzoek\"\n"
    "      - name: fuzz-all\n"
    "        type: nl.example.fuzz.v1\n"
    "        filter:\n"
    "          - { field: type, exact: nl.example.fuzz.v1 }\n"
    "        grondslag:\n"
    "          text: \"fuzz\"\n"
    "          activity: \"urn:example:fuzz:all\"\n";

static void s_write_config(fz_world_t *self)
{
    char keys[4][64], text[8192];
    const sp_key_t *which[4] = { self->emitter[0], self->emitter[1],
                                 self->partner[0], self->partner[1] };
    for (int i = 0; i < 4; i++)
        if (sp_key_public_text(which[i], keys[i], sizeof keys[i]) != 0)
            fz_die("sp_key_public_text failed");
    if (snprintf(text, sizeof text, s_config_fmt, keys[0], keys[1], keys[2],
                 keys[3]) >= (int) sizeof text)
        fz_die("config text too long");
    s_path(self, "seinpost.yaml", self->config, sizeof self->config);
    s_write(self->config, text, 0600);
}

/*  --------------------------------------------------------------------
    Sockets and the server.                                               */

static void *s_socket(fz_world_t *self, int type)
{
    int zero = 0;
    void *socket = zmq_socket(self->zmq, type);
    if (!socket)
        fz_die("zmq_socket: %s", zmq_strerror(zmq_errno()));
    zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof zero);
    return socket;
}

static void s_open(fz_world_t *self)
{
    static const char *const partner_names[2] = { "toeslagen.sock",
                                                  "belastingdienst.sock" };
    char err[1024] = "", path[PATH_MAX], endpoint[PATH_MAX + 8];
    self->zmq = zmq_ctx_new();
    if (!self->zmq)
        fz_die("zmq_ctx_new failed");
    /*  Bound before the server starts, so that its subscriber DEALERs
        (ZMQ_IMMEDIATE) find a peer.                                      */
    for (int i = 0; i < 2; i++) {
        s_path(self, partner_names[i], path, sizeof path);
        snprintf(endpoint, sizeof endpoint, "ipc://%s", path);
        self->partner_sock[i] = s_socket(self, ZMQ_DEALER);
        if (zmq_bind(self->partner_sock[i], endpoint) != 0)
            fz_die("bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
    }
    self->server = server_new(self->config, err, sizeof err);
    if (!self->server)
        fz_die("server_new: %s", err);
    /*  Harness-only speed-up: the daemon runs with synchronous=FULL; on a
        throw-away tmpfs store the fsyncs buy nothing. No parsing or
        validation path depends on it.                                   */
    sqlite3_exec(store_db(self->server->store), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    self->emitter_sock = s_socket(self, ZMQ_DEALER);
    if (zmq_connect(self->emitter_sock, self->server->config->ingress_endpoint) != 0)
        fz_die("connect %s: %s", self->server->config->ingress_endpoint,
               zmq_strerror(zmq_errno()));
}

static void s_close(fz_world_t *self)
{
    static const char *const state[] = { "seinpost.db", "seinpost.db-wal",
        "seinpost.db-shm", "seinpost.db-journal", "seinpost.db.secret" };
    char path[PATH_MAX];
    server_destroy(&self->server);
    if (self->emitter_sock)
        zmq_close(self->emitter_sock);
    for (int i = 0; i < 2; i++)
        if (self->partner_sock[i])
            zmq_close(self->partner_sock[i]);
    self->emitter_sock = self->partner_sock[0] = self->partner_sock[1] = NULL;
    if (self->zmq)
        zmq_ctx_term(self->zmq);
    self->zmq = NULL;
    for (size_t i = 0; i < sizeof state / sizeof state[0]; i++) {
        s_path(self, state[i], path, sizeof path);
        unlink(path);
    }
}

void fz_world_start(fz_world_t *self, const char *name)
{
    memset(self, 0, sizeof *self);
    /*  Rejections are logged at INFO and refused receipts at WARNING; a
        million of them would drown libFuzzer's own output.              */
    sp_log_setup("seinpostd-fuzz", SP_LOG_ERROR, 0);
    s_tempdir(self, name);
    self->node = s_key(self, "node.key");
    self->emitter[0] = s_key(self, "burgerzaken.key");
    self->emitter[1] = s_key(self, "breda.key");
    self->partner[0] = s_key(self, "toeslagen.key");
    self->partner[1] = s_key(self, "belastingdienst.key");
    /*  The config names node.key; the others only need their public half. */
    s_write_config(self);
    s_open(self);
}

void fz_world_restart(fz_world_t *self)
{
    s_close(self);
    s_open(self);
}

void fz_world_stop(fz_world_t *self)
{
    if (!self->dir[0])
        return;
    s_close(self);
    for (int i = 0; i < 2; i++) {
        sp_key_destroy(&self->emitter[i]);
        sp_key_destroy(&self->partner[i]);
    }
    sp_key_destroy(&self->node);
    nftw(self->dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    self->dir[0] = s_world_dir[0] = '\0';
}

/*  --------------------------------------------------------------------
    One loop turn through the daemon's own code; a failed transaction is
    a finding.                                                           */

void fz_turn(fz_world_t *self, bool dispatch)
{
    if (server_turn_now(self->server, dispatch) != 0)
        fz_die("a turn failed its transaction: %s", store_errmsg(self->server->store));
}

int fz_wait(void *socket, int timeout_ms)
{
    zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
    int rc;
    do
        rc = zmq_poll(&item, 1, timeout_ms);
    while (rc < 0 && zmq_errno() == EINTR);
    return rc > 0 ? 1 : 0;
}

int fz_drain(void *socket)
{
    int count = 0;
    sp_frames_t frames;
    while (sp_frames_recv(&frames, socket, SP_MAX_FRAMES, SIZE_MAX, ZMQ_DONTWAIT) == 0) {
        sp_frames_close(&frames);
        count++;
    }
    return count;
}

void fz_send(void *socket, const fz_frames_t *frames)
{
    if (sp_send_parts(socket, frames->data, frames->size, frames->count, 0) != 0)
        fz_die("send: %s", zmq_strerror(zmq_errno()));
}

void fz_emit_valid(fz_world_t *self, const char *type, const char *gemeente)
{
    char event[1024], correlation[32];
    uint8_t sig[SP_SIGNATURE_SIZE];
    sp_frames_t reply;
    uint64_t n = ++self->serial;
    int len = snprintf(event, sizeof event,
        "{\"specversion\":\"1.0\",\"id\":\"fuzz-world-%llu\","
        "\"source\":\"urn:nld:oin:" FZ_OIN_A ":systeem:fuzz\",\"type\":\"%s\","
        "\"time\":\"2026-11-23T09:15:00Z\",\"subject\":\"999993653\","
        "\"data\":{\"gemeentecode\":\"%s\",\"nummeraanduidingIdentificatie\":"
        "\"0855200000123456\",\"bewonerBsn\":\"999993653\",\"vastgesteldOp\":"
        "\"2026-11-20\"}}", (unsigned long long) n, type, gemeente);
    snprintf(correlation, sizeof correlation, "world-%llu", (unsigned long long) n);
    const sp_key_t *key = self->emitter[0];
    if (sp_key_sign(key, SP_DOMAIN_SIGNAL, event, (size_t) len, sig) != 0)
        fz_die("sp_key_sign failed");
    fz_frames_t frames = {
        .data = { SP_PROTOCOL, SP_CMD_EMIT, correlation, sp_key_id(key), sig, event },
        .size = { strlen(SP_PROTOCOL), strlen(SP_CMD_EMIT), strlen(correlation),
                  SP_KEY_ID_SIZE, sizeof sig, (size_t) len },
        .count = 6 };
    fz_send(self->emitter_sock, &frames);
    if (!fz_wait(self->server->ingress, FZ_WAIT_MS))
        fz_die("ingress did not receive the generated EMIT");
    fz_turn(self, true);
    if (!fz_wait(self->emitter_sock, FZ_WAIT_MS))
        fz_die("no reply to the generated EMIT");
    if (sp_frames_recv(&reply, self->emitter_sock, SP_MAX_FRAMES, 1 << 20, ZMQ_DONTWAIT) != 0)
        fz_die("recv: %s", zmq_strerror(zmq_errno()));
    if (!sp_frame_is(&reply, 1, SP_CMD_ACCEPTED)) {
        char reason[256] = "";
        sp_frame_string(&reply, 4, reason, sizeof reason);
        fz_die("generated EMIT was not accepted: %s", reason);
    }
    sp_frames_close(&reply);
}
