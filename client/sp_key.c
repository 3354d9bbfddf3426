/*  sp_key.c - Ed25519 keys: libsodium signs and verifies (about twice as
    fast as OpenSSL 3.0's EVP here), OpenSSL reads and writes the PEM files
    so that `openssl pkey` can inspect them, and computes SHA-256.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "seinpost.h"
#include "sp_util.h"

#define SP_KEY_TEXT_PREFIX "ed25519:"

struct sp_key {
    uint8_t pub[crypto_sign_PUBLICKEYBYTES];
    uint8_t sec[crypto_sign_SECRETKEYBYTES];     /* seed || public */
    bool has_secret;
    char id[SP_KEY_ID_SIZE + 1];
};

static sp_key_t *s_key_alloc(void)
{
    if (sodium_init() < 0)
        return NULL;
    return calloc(1, sizeof(sp_key_t));
}

static void s_key_set_id(sp_key_t *self)
{
    uint8_t digest[SP_SHA256_SIZE];
    sp_sha256(self->pub, sizeof self->pub, digest);
    sp_hex(digest, SP_KEY_ID_SIZE / 2, self->id);
}

sp_key_t *sp_key_generate(void)
{
    sp_key_t *self = s_key_alloc();
    if (!self)
        return NULL;
    crypto_sign_keypair(self->pub, self->sec);
    self->has_secret = true;
    s_key_set_id(self);
    return self;
}

sp_key_t *sp_key_from_raw_public(const uint8_t pub[SP_PUBLIC_KEY_SIZE])
{
    sp_key_t *self = s_key_alloc();
    if (!self)
        return NULL;
    memcpy(self->pub, pub, sizeof self->pub);
    s_key_set_id(self);
    return self;
}

sp_key_t *sp_key_from_text(const char *text)
{
    size_t prefix = strlen(SP_KEY_TEXT_PREFIX);
    uint8_t pub[SP_PUBLIC_KEY_SIZE];
    size_t bin_len = 0;
    const char *end = NULL;

    if (!text || strncmp(text, SP_KEY_TEXT_PREFIX, prefix) != 0)
        return NULL;
    if (sodium_init() < 0)
        return NULL;
    text += prefix;
    if (sodium_base642bin(pub, sizeof pub, text, strlen(text), NULL, &bin_len,
                          &end, sodium_base64_VARIANT_ORIGINAL) != 0
        || bin_len != sizeof pub || *end != '\0')
        return NULL;
    return sp_key_from_raw_public(pub);
}

static int s_check_mode(const char *path, int fd, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "%s: secret key is accessible by group or others "
                 "(mode %03o); chmod 600 it", path, (unsigned) (st.st_mode & 0777));
        return -1;
    }
    return 0;
}

static EVP_PKEY *s_read_pem(const char *path, bool refuse_open_mode,
                            char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (refuse_open_mode && s_check_mode(path, fd, err, errlen) != 0) {
        close(fd);
        return NULL;
    }
    FILE *file = fdopen(fd, "r");
    if (!file) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_PrivateKey(file, NULL, NULL, NULL);
    fclose(file);
    if (!pkey)
        snprintf(err, errlen, "%s: not a PEM private key", path);
    return pkey;
}

sp_key_t *sp_key_load(const char *path, bool refuse_open_mode,
                      char *err, size_t errlen)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    size_t seed_len = sizeof seed;
    sp_key_t *self = NULL;
    EVP_PKEY *pkey = s_read_pem(path, refuse_open_mode, err, errlen);
    if (!pkey)
        return NULL;
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519
        || EVP_PKEY_get_raw_private_key(pkey, seed, &seed_len) != 1
        || seed_len != sizeof seed) {
        snprintf(err, errlen, "%s: not an Ed25519 private key", path);
        goto cleanup;
    }
    self = s_key_alloc();
    if (!self) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto cleanup;
    }
    crypto_sign_seed_keypair(self->pub, self->sec, seed);
    self->has_secret = true;
    s_key_set_id(self);
cleanup:
    sodium_memzero(seed, sizeof seed);
    EVP_PKEY_free(pkey);
    return self;
}

void sp_key_destroy(sp_key_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sodium_memzero(*self_p, sizeof(sp_key_t));
    free(*self_p);
    *self_p = NULL;
}

static int s_pem_to_file(EVP_PKEY *pkey, bool secret, const char *path)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    int rc = -1;
    if (!bio)
        return -1;
    if (secret ? !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
               : !PEM_write_bio_PUBKEY(bio, pkey))
        goto cleanup;
    long len = BIO_get_mem_data(bio, &pem);
    rc = sp_file_write_atomic(path, pem, (size_t) len, secret ? 0600 : 0644);
cleanup:
    BIO_free(bio);
    return rc;
}

int sp_key_save(const sp_key_t *self, const char *path, const char *pub_path)
{
    if (!self || !self->has_secret)
        return -1;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
                                                  self->sec, crypto_sign_SEEDBYTES);
    if (!pkey)
        return -1;
    int rc = s_pem_to_file(pkey, true, path);
    if (rc == 0 && pub_path)
        rc = s_pem_to_file(pkey, false, pub_path);
    EVP_PKEY_free(pkey);
    return rc;
}

int sp_key_public_text(const sp_key_t *self, char *buf, size_t len)
{
    size_t prefix = strlen(SP_KEY_TEXT_PREFIX);
    size_t need = prefix + sodium_base64_ENCODED_LEN(SP_PUBLIC_KEY_SIZE,
                                                    sodium_base64_VARIANT_ORIGINAL);
    if (!self || len < need)
        return -1;
    memcpy(buf, SP_KEY_TEXT_PREFIX, prefix);
    sodium_bin2base64(buf + prefix, len - prefix, self->pub, sizeof self->pub,
                      sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

const uint8_t *sp_key_public(const sp_key_t *self) { return self->pub; }
const char *sp_key_id(const sp_key_t *self) { return self->id; }
bool sp_key_has_secret(const sp_key_t *self) { return self && self->has_secret; }

/*  Domain-separated message: domain, NUL, message. Small messages use the
    stack so the hot path does not allocate.                               */
typedef struct {
    uint8_t stack[4096];
    uint8_t *bytes;
    size_t len;
} s_signed_bytes_t;

static int s_signed_bytes(s_signed_bytes_t *sb, const char *domain,
                          const void *msg, size_t len)
{
    size_t dlen = strlen(domain) + 1;
    sb->len = dlen + len;
    sb->bytes = sb->len <= sizeof sb->stack ? sb->stack : malloc(sb->len);
    if (!sb->bytes)
        return -1;
    memcpy(sb->bytes, domain, dlen);
    if (len)
        memcpy(sb->bytes + dlen, msg, len);
    return 0;
}

static void s_signed_bytes_free(s_signed_bytes_t *sb)
{
    if (sb->bytes != sb->stack)
        free(sb->bytes);
}

int sp_key_sign(const sp_key_t *self, const char *domain,
                const void *msg, size_t len, uint8_t sig[SP_SIGNATURE_SIZE])
{
    s_signed_bytes_t sb;
    if (!self || !self->has_secret || s_signed_bytes(&sb, domain, msg, len) != 0)
        return -1;
    int rc = crypto_sign_detached(sig, NULL, sb.bytes, sb.len, self->sec);
    s_signed_bytes_free(&sb);
    return rc == 0 ? 0 : -1;
}

int sp_key_verify(const sp_key_t *self, const char *domain,
                  const void *msg, size_t len,
                  const uint8_t sig[SP_SIGNATURE_SIZE])
{
    s_signed_bytes_t sb;
    if (!self || s_signed_bytes(&sb, domain, msg, len) != 0)
        return -1;
    int rc = crypto_sign_verify_detached(sig, sb.bytes, sb.len, self->pub);
    s_signed_bytes_free(&sb);
    return rc == 0 ? 0 : -1;
}

/*  SEINPOST2 signs a batch header's SHA-256, not the header: the partner
    hashes the header anyway (its receipt and NACK name the batch by it),
    and Ed25519 then hashes 32 bytes instead of kilobytes of JSON.       */
int sp_batch_sign_digest(const sp_key_t *key, const uint8_t digest[SP_SHA256_SIZE],
                         uint8_t sig[SP_SIGNATURE_SIZE])
{
    return sp_key_sign(key, SP_DOMAIN_BATCH, digest, SP_SHA256_SIZE, sig);
}

int sp_batch_verify_digest(const sp_key_t *key, const uint8_t digest[SP_SHA256_SIZE],
                           const uint8_t sig[SP_SIGNATURE_SIZE])
{
    return sp_key_verify(key, SP_DOMAIN_BATCH, digest, SP_SHA256_SIZE, sig);
}

int sp_batch_sign(const sp_key_t *key, const void *header, size_t len,
                  uint8_t sig[SP_SIGNATURE_SIZE])
{
    uint8_t digest[SP_SHA256_SIZE];
    sp_sha256(header, len, digest);
    return sp_batch_sign_digest(key, digest, sig);
}

int sp_batch_verify(const sp_key_t *key, const void *header, size_t len,
                    const uint8_t sig[SP_SIGNATURE_SIZE])
{
    uint8_t digest[SP_SHA256_SIZE];
    sp_sha256(header, len, digest);
    return sp_batch_verify_digest(key, digest, sig);
}

/*  Fetched once: OpenSSL 3's one-shot SHA256() looks the algorithm up
    in its provider store at every call, which cost more than hashing a
    short audit row (measured: 2.7 % of the router's CPU at ingress).   */
static EVP_MD *s_sha256_md;
static pthread_once_t s_sha256_once = PTHREAD_ONCE_INIT;

static void s_sha256_fetch(void)
{
    s_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *sp_sha256_md(void)
{
    pthread_once(&s_sha256_once, s_sha256_fetch);
    return s_sha256_md ? s_sha256_md : EVP_sha256();
}

void sp_sha256(const void *data, size_t len, uint8_t out[SP_SHA256_SIZE])
{
    if (EVP_Digest(data, len, out, NULL, sp_sha256_md(), NULL) != 1)
        SHA256(data, len, out);
}

void sp_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int sp_unhex(const char *hex, uint8_t *out, size_t outlen)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (!hex || strlen(hex) != 2 * outlen)
        return -1;
    if (sodium_hex2bin(out, outlen, hex, 2 * outlen, NULL, &bin_len, &end) != 0
        || bin_len != outlen)
        return -1;
    return 0;
}
