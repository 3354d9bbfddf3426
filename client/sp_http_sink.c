/*  sp_http_sink.c - NL GOV CloudEvents webhooks with Standard Webhooks
    signatures, over libcurl (docs/protocol.md 15.1).

    The token and the signing key are secrets like the partner's own key:
    files group or others may access are refused, and neither ever reaches
    an error message (the token is only in the Authorization header, whose
    copies are wiped when freed). libcurl verifies the peer by default; we
    set it anyway, follow no redirect (a 3xx is not a success: the event
    would not have been taken), and speak only http and https.        */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "seinpost.h"
#include "sp_http_sink.h"
#include "sp_util.h"

#define SINK_TOKEN_MAX 4096
#define SINK_TIMEOUT_DEFAULT_MS 10000
#define SINK_RETRY_AFTER_MAX_S 86400       /* bounds a sink's wish, and the sum */
#define SINK_CONTENT_TYPE "Content-Type: application/cloudevents+json; charset=utf-8"
#define SINK_AUTH_PREFIX "Authorization: Bearer "

struct sp_http_sink {
    CURL *curl;
    char *origin;
    char *auth;                 /* the whole Authorization header, or NULL */
    bool has_key;
    uint8_t pub[crypto_sign_PUBLICKEYBYTES];
    uint8_t sec[crypto_sign_SECRETKEYBYTES];
    int64_t not_before_ms;      /* monotonic; set by a 429's Retry-After */
    bool gone;                  /* the sink answered 410 */
    char curl_err[CURL_ERROR_SIZE];
    char error[512];
};

/*  Visible ASCII only: what goes into a header can neither end it nor
    be trimmed differently by the receiver before it checks a signature. */
static bool s_visible(const char *text)
{
    if (!text || !*text)
        return false;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return true;
}

static bool s_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcasecmp(host, "localhost") == 0
           || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0;
}

/*  https://, or http:// to this host only: a bearer token and personal
    data must not cross a network in the clear unless the operator says
    so. Credentials belong in bearer_token_file, not in the URL.        */
static int s_check_url(const char *url, bool insecure, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        snprintf(err, errlen, "http_sink.url: not an absolute http:// or https:// URL");
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
        snprintf(err, errlen, "http_sink.url: holds credentials; put a token in "
                 "http_sink.bearer_token_file instead");
    else if (strcasecmp(scheme, "https") == 0
             || (strcasecmp(scheme, "http") == 0 && (insecure || s_loopback(host))))
        rc = 0;
    else if (strcasecmp(scheme, "http") == 0)
        snprintf(err, errlen, "http_sink.url: http:// only to 127.0.0.1, localhost or "
                 "::1; use https://, or set http_sink.insecure_http: true");
    else
        snprintf(err, errlen, "http_sink.url: only http:// and https:// are spoken");
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/*  Opens a secret file for reading, refusing what group or others may
    access, as sp_key_load() does for keys. The fd, or -1.             */
static int s_open_secret(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "%s: %s is accessible by group or others (mode %03o); "
                 "chmod 600 it", path, what, (unsigned) (st.st_mode & 0777));
        close(fd);
        return -1;
    }
    return fd;
}

static ssize_t s_read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t) n;
    }
    return (ssize_t) len;
}

static int s_load_token(sp_http_sink_t *self, const char *path, char *err, size_t errlen)
{
    char buf[SINK_TOKEN_MAX + 2];
    int fd = s_open_secret(path, "bearer token file", err, errlen);
    if (fd < 0)
        return -1;
    ssize_t n = s_read_all(fd, buf, sizeof buf - 1);
    close(fd);
    size_t len = n > 0 ? (size_t) n : 0;
    while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
        len--;              /* a file written by echo ends in a newline */
    buf[len] = '\0';
    int rc = -1;
    if (n < 0)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    else if (len == 0 || len > SINK_TOKEN_MAX || !s_visible(buf))
        snprintf(err, errlen, "%s: the bearer token must be one line of 1 to %d visible "
                 "ASCII characters", path, SINK_TOKEN_MAX);
    else if ((self->auth = malloc(strlen(SINK_AUTH_PREFIX) + len + 1)) == NULL)
        snprintf(err, errlen, "out of memory");
    else {
        memcpy(self->auth, SINK_AUTH_PREFIX, strlen(SINK_AUTH_PREFIX));
        memcpy(self->auth + strlen(SINK_AUTH_PREFIX), buf, len + 1);
        rc = 0;
    }
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/*  An encrypted PEM would otherwise make OpenSSL prompt on the tty.    */
static int s_no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf, (void) size, (void) rwflag, (void) u;
    return -1;
}

/*  The Standard Webhooks key (Ed25519, PKCS#8 PEM as `seinpost keygen`
    writes it). libsodium signs, as for every other signature here.    */
static int s_load_key(sp_http_sink_t *self, const char *path, char *err, size_t errlen)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    size_t seed_len = sizeof seed;
    int fd = s_open_secret(path, "secret key", err, errlen);
    FILE *file = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!file) {
        if (fd >= 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
        }
        return -1;
    }
    EVP_PKEY *pkey = PEM_read_PrivateKey(file, NULL, s_no_password, NULL);
    fclose(file);
    int rc = -1;
    if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519
        || EVP_PKEY_get_raw_private_key(pkey, seed, &seed_len) != 1
        || seed_len != sizeof seed)
        snprintf(err, errlen, "%s: not an Ed25519 private key (PEM)", path);
    else {
        crypto_sign_seed_keypair(self->pub, self->sec, seed);
        self->has_key = true;
        rc = 0;
    }
    sodium_memzero(seed, sizeof seed);
    EVP_PKEY_free(pkey);
    return rc;
}

static size_t s_discard(char *data, size_t size, size_t count, void *arg)
{
    (void) data, (void) arg;
    return size * count;        /* the sink's answer is its status line */
}

static int s_curl_setup(sp_http_sink_t *self, const sp_http_sink_conf_t *conf)
{
    CURL *c = self->curl = curl_easy_init();
    long timeout = (long) (conf->timeout_ms > 0 ? conf->timeout_ms : SINK_TIMEOUT_DEFAULT_MS);
    if (!c)
        return -1;
    bool ok = curl_easy_setopt(c, CURLOPT_URL, conf->url) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_ERRORBUFFER, self->curl_err) == CURLE_OK
        && curl_easy_setopt(c, CURLOPT_USERAGENT, "seinpost/" SP_VERSION_STRING) == CURLE_OK;
    return ok ? 0 : -1;
}

sp_http_sink_t *sp_http_sink_new(const sp_http_sink_conf_t *conf, char *err, size_t errlen)
{
    sp_http_sink_t *self = NULL;
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libsodium or libcurl");
        return NULL;
    }
    if (!conf->url || s_check_url(conf->url, conf->insecure_http, err, errlen) != 0)
        goto fail;
    if (!s_visible(conf->origin)) {
        snprintf(err, errlen, "http_sink.origin: required, visible ASCII (the "
                 "WebHook-Request-Origin this partner announces, e.g. its host name)");
        goto fail;
    }
    self = calloc(1, sizeof *self);
    if (!self || !(self->origin = strdup(conf->origin))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((conf->bearer_token_file && s_load_token(self, conf->bearer_token_file, err, errlen) != 0)
        || (conf->signing_key && s_load_key(self, conf->signing_key, err, errlen) != 0))
        goto fail;
    if (s_curl_setup(self, conf) != 0) {
        snprintf(err, errlen, "cannot set up libcurl for http_sink.url");
        goto fail;
    }
    return self;
fail:
    if (self)
        sp_http_sink_destroy(&self);
    else
        curl_global_cleanup();
    return NULL;
}

void sp_http_sink_destroy(sp_http_sink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_http_sink_t *self = *self_p;
    if (self->curl)
        curl_easy_cleanup(self->curl);
    if (self->auth) {
        sodium_memzero(self->auth, strlen(self->auth));
        free(self->auth);
    }
    free(self->origin);
    sodium_memzero(self->sec, sizeof self->sec);
    free(self);
    curl_global_cleanup();
    *self_p = NULL;
}

/*  Appends a formatted header; the temporary copy is wiped, as it may
    be the Authorization header.                                         */
__attribute__((format(printf, 2, 3)))
static bool s_append(struct curl_slist **list, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    struct curl_slist *next = curl_slist_append(*list, line);
    sodium_memzero(line, (size_t) n);
    free(line);
    if (!next)
        return false;
    *list = next;
    return true;
}

static void s_headers_free(struct curl_slist *list)
{
    for (struct curl_slist *item = list; item; item = item->next)
        sodium_memzero(item->data, strlen(item->data));
    curl_slist_free_all(list);
}

static CURLcode s_perform(sp_http_sink_t *self, struct curl_slist *headers, long *status)
{
    self->curl_err[0] = '\0';
    *status = 0;
    curl_easy_setopt(self->curl, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(self->curl);
    curl_easy_setopt(self->curl, CURLOPT_HTTPHEADER, NULL);
    if (rc == CURLE_OK)
        curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, status);
    return rc;
}

static const char *s_curl_reason(const sp_http_sink_t *self, CURLcode rc)
{
    return self->curl_err[0] ? self->curl_err : curl_easy_strerror(rc);
}

/*  The allowed origin must be ours or "*". What the sink sent is quoted
    only as far as it is visible ASCII: it came from outside.           */
static int s_check_allowed(sp_http_sink_t *self, char *err, size_t errlen)
{
    struct curl_header *header = NULL;
    char shown[65];
    size_t i;
    if (curl_easy_header(self->curl, "WebHook-Allowed-Origin", 0, CURLH_HEADER, -1,
                         &header) != CURLHE_OK) {
        snprintf(err, errlen, "http_sink: the sink's answer to the OPTIONS handshake has "
                 "no WebHook-Allowed-Origin: it does not accept webhooks from us");
        return -1;
    }
    if (strcmp(header->value, "*") == 0 || strcmp(header->value, self->origin) == 0)
        return 0;
    for (i = 0; i + 1 < sizeof shown && header->value[i]; i++) {
        unsigned char c = (unsigned char) header->value[i];
        shown[i] = c >= 0x20 && c <= 0x7e ? (char) c : '?';
    }
    shown[i] = '\0';
    snprintf(err, errlen, "http_sink: the sink allows origin \"%s\", not this partner's "
             "origin \"%s\" (WebHook-Allowed-Origin)", shown, self->origin);
    return -1;
}

int sp_http_sink_handshake(sp_http_sink_t *self, char *err, size_t errlen)
{
    struct curl_slist *headers = NULL;
    long status = 0;
    int rc = -1;
    if (!s_append(&headers, "WebHook-Request-Origin: %s", self->origin)
        || (self->auth && !s_append(&headers, "%s", self->auth))) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    curl_easy_setopt(self->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(self->curl, CURLOPT_CUSTOMREQUEST, "OPTIONS");
    CURLcode code = s_perform(self, headers, &status);
    curl_easy_setopt(self->curl, CURLOPT_CUSTOMREQUEST, NULL);
    if (code != CURLE_OK)
        snprintf(err, errlen, "http_sink: OPTIONS handshake: %s", s_curl_reason(self, code));
    else if (status != 200 && status != 204)
        snprintf(err, errlen, "http_sink: the sink answered the OPTIONS handshake with "
                 "HTTP %ld", status);
    else
        rc = s_check_allowed(self, err, errlen);
cleanup:
    s_headers_free(headers);
    return rc;
}

/*  Standard Webhooks: Ed25519 over "{id}.{timestamp}.{body}", base64.  */
static int s_sign(const sp_http_sink_t *self, const char *id, const char *stamp,
                  const void *body, size_t len, char *out, size_t outlen)
{
    size_t id_len = strlen(id), stamp_len = strlen(stamp);
    uint8_t sig[crypto_sign_BYTES];
    uint8_t *msg = malloc(id_len + stamp_len + 2 + len);
    if (!msg)
        return -1;
    memcpy(msg, id, id_len);
    msg[id_len] = '.';
    memcpy(msg + id_len + 1, stamp, stamp_len);
    msg[id_len + 1 + stamp_len] = '.';
    if (len)
        memcpy(msg + id_len + stamp_len + 2, body, len);
    crypto_sign_detached(sig, NULL, msg, id_len + stamp_len + 2 + len, self->sec);
    free(msg);
    sodium_bin2base64(out, outlen, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

static struct curl_slist *s_post_headers(const sp_http_sink_t *self, const char *id,
                                         const void *body, size_t len)
{
    char stamp[24], sig[sodium_base64_ENCODED_LEN(crypto_sign_BYTES,
                                                  sodium_base64_VARIANT_ORIGINAL)];
    struct curl_slist *headers = NULL;
    snprintf(stamp, sizeof stamp, "%lld", (long long) time(NULL));
    bool ok = s_append(&headers, "%s", SINK_CONTENT_TYPE)
        && (!self->auth || s_append(&headers, "%s", self->auth))
        && s_append(&headers, "Expect:")     /* no 100-continue round trip */
        && s_append(&headers, "webhook-id: %s", id)
        && s_append(&headers, "webhook-timestamp: %s", stamp)
        && (!self->has_key
            || (s_sign(self, id, stamp, body, len, sig, sizeof sig) == 0
                && s_append(&headers, "webhook-signature: v1a,%s", sig)));
    if (!ok) {
        s_headers_free(headers);
        return NULL;
    }
    return headers;
}

/*  What the sink's status means (NL GOV CloudEvents webhooks).         */
static sp_http_sink_result_t s_judge(sp_http_sink_t *self, const char *id, long status)
{
    curl_off_t wait_s = 0;
    switch (status) {
    case 200: case 201: case 202: case 204:
        return SP_HTTP_SINK_OK;
    case 410:
        self->gone = true;
        snprintf(self->error, sizeof self->error, "signal %s: the sink answered 410 Gone",
                 id);
        return SP_HTTP_SINK_GONE;
    case 429:
        /* seconds or an HTTP date, as libcurl reads it; none: one second */
        curl_easy_getinfo(self->curl, CURLINFO_RETRY_AFTER, &wait_s);
        if (wait_s < 1)
            wait_s = 1;
        if (wait_s > SINK_RETRY_AFTER_MAX_S)
            wait_s = SINK_RETRY_AFTER_MAX_S;
        self->not_before_ms = sp_clock_ms() + (int64_t) wait_s * 1000;
        snprintf(self->error, sizeof self->error, "signal %s: the sink answered 429 Too "
                 "Many Requests; sending nothing for %lld s (Retry-After)", id,
                 (long long) wait_s);
        return SP_HTTP_SINK_FAILED;
    case 415:
        snprintf(self->error, sizeof self->error, "signal %s: the sink answered 415: it "
                 "does not take application/cloudevents+json", id);
        return SP_HTTP_SINK_FAILED;
    default:
        snprintf(self->error, sizeof self->error, "signal %s: the sink answered HTTP %ld",
                 id, status);
        return SP_HTTP_SINK_FAILED;
    }
}

/*  Before anything goes out: stopped by a 410, or asked to wait.       */
static bool s_may_send(sp_http_sink_t *self, const char *id)
{
    int64_t wait_ms = self->not_before_ms - sp_clock_ms();
    if (self->gone)
        snprintf(self->error, sizeof self->error, "signal %s: not sent, the sink "
                 "answered 410 Gone before", id);
    else if (wait_ms > 0)
        snprintf(self->error, sizeof self->error, "signal %s: not sent, the sink asked "
                 "to wait %lld ms more (Retry-After)", id, (long long) wait_ms);
    return !self->gone && wait_ms <= 0;
}

sp_http_sink_result_t sp_http_sink_post(sp_http_sink_t *self, const char *id,
                                        const void *body, size_t len)
{
    long status = 0;
    if (!s_may_send(self, id))
        return self->gone ? SP_HTTP_SINK_GONE : SP_HTTP_SINK_FAILED;
    if (!s_visible(id)) {
        snprintf(self->error, sizeof self->error, "a signal whose id is not visible ASCII "
                 "cannot be a webhook-id");
        return SP_HTTP_SINK_FAILED;
    }
    struct curl_slist *headers = s_post_headers(self, id, body, len);
    if (!headers) {
        snprintf(self->error, sizeof self->error, "signal %s: out of memory", id);
        return SP_HTTP_SINK_FAILED;
    }
    curl_easy_setopt(self->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDS, body);
    CURLcode code = s_perform(self, headers, &status);
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDS, NULL);
    s_headers_free(headers);
    if (code != CURLE_OK) {
        snprintf(self->error, sizeof self->error, "signal %s: %s", id,
                 s_curl_reason(self, code));
        return SP_HTTP_SINK_FAILED;
    }
    return s_judge(self, id, status);
}

const char *sp_http_sink_error(const sp_http_sink_t *self)
{
    return self->error;
}

int sp_http_sink_public_text(const sp_http_sink_t *self, char *buf, size_t len)
{
    size_t need = 5 + sodium_base64_ENCODED_LEN(sizeof self->pub,
                                                sodium_base64_VARIANT_ORIGINAL);
    if (!self->has_key || len < need)
        return -1;
    memcpy(buf, "whpk_", 5);
    sodium_bin2base64(buf + 5, len - 5, self->pub, sizeof self->pub,
                      sodium_base64_VARIANT_ORIGINAL);
    return 0;
}
