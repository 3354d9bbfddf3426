/*  vault.c - node secret, sealing with libsodium, pseudonyms with OpenSSL. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <sodium.h>

#include "seinpost.h"
#include "sp_util.h"
#include "vault.h"

#define VAULT_SECRET_SIZE 32

struct vault {
    uint8_t seal_key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint8_t pseudonym_key[32];
    /* HMAC keyed with pseudonym_key once; each pseudonym works on a copy
       (HMAC() fetched the algorithms and keyed anew at every call)     */
    EVP_MAC_CTX *pseudonym_mac;
};

static EVP_MAC_CTX *s_pseudonym_mac(const uint8_t key[32])
{
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256", 0),
                            OSSL_PARAM_construct_end() };
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    if (ctx && EVP_MAC_init(ctx, key, 32, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static void s_derive(const uint8_t secret[VAULT_SECRET_SIZE], const char *label,
                     uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), secret, VAULT_SECRET_SIZE, (const uint8_t *) label,
         strlen(label), out, &len);
}

static int s_read_secret(const char *path, uint8_t secret[VAULT_SECRET_SIZE],
                         char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(err, errlen, "%s: node secret is accessible by group or others; "
                 "chmod 600 it", path);
        close(fd);
        errno = EPERM;
        return -1;
    }
    ssize_t n = read(fd, secret, VAULT_SECRET_SIZE);
    close(fd);
    if (n != VAULT_SECRET_SIZE) {
        snprintf(err, errlen, "%s: node secret must be %d bytes", path, VAULT_SECRET_SIZE);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

vault_t *vault_new(const char *path, int create, char *err, size_t errlen)
{
    uint8_t secret[VAULT_SECRET_SIZE];
    vault_t *self = NULL;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    if (s_read_secret(path, secret, err, errlen) != 0) {
        if (errno != ENOENT || !create) {
            if (errno == ENOENT)
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return NULL;
        }
        randombytes_buf(secret, sizeof secret);
        if (sp_file_write_atomic(path, secret, sizeof secret, 0600) != 0) {
            snprintf(err, errlen, "%s: cannot write node secret: %s", path, strerror(errno));
            goto cleanup;
        }
    }
    self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    s_derive(secret, "seinpost/1 seal", self->seal_key);
    s_derive(secret, "seinpost/1 pseudonym", self->pseudonym_key);
    self->pseudonym_mac = s_pseudonym_mac(self->pseudonym_key);
    if (!self->pseudonym_mac) {
        snprintf(err, errlen, "OpenSSL: cannot set up HMAC-SHA256");
        vault_destroy(&self);
    }
cleanup:
    sodium_memzero(secret, sizeof secret);
    return self;
}

void vault_destroy(vault_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    EVP_MAC_CTX_free((*self_p)->pseudonym_mac);
    sodium_memzero(*self_p, sizeof(vault_t));
    free(*self_p);
    *self_p = NULL;
}

/*  Earlier versions cut the associated data to its first 1099 bytes (a
    fixed buffer); what they sealed still opens with that prefix.        */
#define VAULT_LEGACY_AD_MAX 1099

/*  source "\n" id, malloc'ed; *len is its length.                       */
static uint8_t *s_ad_new(const char *source, const char *id, size_t *len)
{
    size_t slen = strlen(source), ilen = strlen(id);
    uint8_t *ad = malloc(slen + 1 + ilen);
    if (!ad)
        return NULL;
    memcpy(ad, source, slen);
    ad[slen] = '\n';
    memcpy(ad + slen + 1, id, ilen);
    *len = slen + 1 + ilen;
    return ad;
}

int vault_seal(const vault_t *self, const void *plain, size_t len,
               const char *source, const char *id, uint8_t *out)
{
    size_t ad_len = 0;
    uint8_t *ad = s_ad_new(source, id, &ad_len);
    uint8_t *nonce = out;
    if (!ad)
        return -1;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    int rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, plain, len,
        ad, ad_len, NULL, nonce, self->seal_key);
    free(ad);
    return rc;
}

static int s_decrypt(const vault_t *self, const uint8_t *sealed, size_t len,
                     const uint8_t *ad, size_t ad_len, void *out,
                     unsigned long long *plain_len)
{
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, plain_len, NULL, sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
        len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, ad_len, sealed,
        self->seal_key);
}

long vault_open(const vault_t *self, const uint8_t *sealed, size_t len,
                const char *source, const char *id, void *out)
{
    unsigned long long plain_len = 0;
    size_t ad_len = 0;
    if (len < VAULT_OVERHEAD)
        return -1;
    uint8_t *ad = s_ad_new(source, id, &ad_len);
    if (!ad)
        return VAULT_NOMEM;
    int rc = s_decrypt(self, sealed, len, ad, ad_len, out, &plain_len);
    if (rc != 0 && ad_len > VAULT_LEGACY_AD_MAX)
        rc = s_decrypt(self, sealed, len, ad, VAULT_LEGACY_AD_MAX, out, &plain_len);
    free(ad);
    return rc == 0 ? (long) plain_len : -1;
}

int vault_pseudonym(const vault_t *self, const char *id_type, const char *value,
                    char out[VAULT_PSEUDONYM_HEX + 1])
{
    uint8_t mac[32];
    size_t len = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(self->pseudonym_mac);
    bool done = ctx && EVP_MAC_update(ctx, (const uint8_t *) id_type, strlen(id_type)) == 1
                && EVP_MAC_update(ctx, (const uint8_t *) ":", 1) == 1
                && EVP_MAC_update(ctx, (const uint8_t *) value, strlen(value)) == 1
                && EVP_MAC_final(ctx, mac, &len, sizeof mac) == 1 && len == sizeof mac;
    EVP_MAC_CTX_free(ctx);
    if (done)
        sp_hex(mac, sizeof mac, out);
    else
        out[0] = '\0';
    return done ? 0 : -1;
}
