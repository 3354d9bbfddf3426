/*  test_vault.c - sealing binds the event to its row's whole source and
    id, however long ingress lets them be; what earlier versions sealed
    with the associated data cut to 1099 bytes still opens.              */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "vault.h"
#include "test.h"

static const char s_event[] = "{\"specversion\":\"1.0\",\"id\":\"x\"}";
#define EVENT_LEN (sizeof s_event - 1)

typedef struct {
    char path[64];
    vault_t *vault;
    char source[3000];
    char id[5000];
    uint8_t sealed[EVENT_LEN + VAULT_OVERHEAD];
    char plain[EVENT_LEN];
} fixture_t;

static int s_setup(fixture_t *f)
{
    char err[256];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/test_vault.%ld.secret", (long) getpid());
    unlink(f->path);
    f->vault = vault_new(f->path, 1, err, sizeof err);
    memcpy(f->source, "urn:x:", 6);
    memset(f->source + 6, 's', sizeof f->source - 7);
    memset(f->id, 'i', sizeof f->id - 1);
    return f->vault ? 0 : -1;
}

static void s_teardown(fixture_t *f)
{
    vault_destroy(&f->vault);
    unlink(f->path);
}

static long s_open(fixture_t *f, const char *source, const char *id)
{
    return vault_open(f->vault, f->sealed, sizeof f->sealed, source, id, f->plain);
}

TEST(long_source_and_id_round_trip)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(vault_seal(f.vault, s_event, EVENT_LEN, f.source, f.id, f.sealed) == 0);
    CHECK(s_open(&f, f.source, f.id) == (long) EVENT_LEN);
    CHECK(memcmp(f.plain, s_event, EVENT_LEN) == 0);
    s_teardown(&f);
}

TEST(every_byte_of_the_id_is_bound)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(vault_seal(f.vault, s_event, EVENT_LEN, f.source, f.id, f.sealed) == 0);
    /* its last byte, far past any fixed buffer, and its length */
    f.id[sizeof f.id - 2] = 'j';
    CHECK(s_open(&f, f.source, f.id) == -1);
    f.id[sizeof f.id - 2] = '\0';
    CHECK(s_open(&f, f.source, f.id) == -1);
    CHECK(s_open(&f, "urn:x:", f.id) == -1);
    s_teardown(&f);
}

TEST(short_ad_is_bound)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(vault_seal(f.vault, s_event, EVENT_LEN, "urn:x:a", "e1", f.sealed) == 0);
    CHECK(s_open(&f, "urn:x:a", "e1") == (long) EVENT_LEN);
    CHECK(s_open(&f, "urn:x:a", "e2") == -1);
    CHECK(s_open(&f, "urn:x:b", "e1") == -1);
    s_teardown(&f);
}

TEST(legacy_cut_ad_still_opens)
{
    fixture_t f;
    char cut[1100];
    CHECK(s_setup(&f) == 0);
    /* source "\n" id was cut to its first 1099 bytes: a 600-byte source
       and the first 498 bytes of the id                                 */
    f.source[600] = '\0';
    memcpy(cut, f.id, 498);
    cut[498] = '\0';
    CHECK(vault_seal(f.vault, s_event, EVENT_LEN, f.source, cut, f.sealed) == 0);
    CHECK(s_open(&f, f.source, f.id) == (long) EVENT_LEN);
    CHECK(memcmp(f.plain, s_event, EVENT_LEN) == 0);
    /* only a cut at exactly that length */
    cut[497] = '\0';
    CHECK(vault_seal(f.vault, s_event, EVENT_LEN, f.source, cut, f.sealed) == 0);
    CHECK(s_open(&f, f.source, f.id) == -1);
    s_teardown(&f);
}

/*  A pseudonym is hex(HMAC-SHA256(HMAC-SHA256(secret, "seinpost/1
    pseudonym"), "BSN:" value)) (protocol.md 13.4), computed here with
    OpenSSL's one-shot HMAC(): stored pseudonyms must keep matching.    */
TEST(pseudonym_is_the_documented_hmac)
{
    fixture_t f;
    uint8_t secret[32], key[32], mac[32];
    unsigned int len = sizeof key;
    char want[65], got[VAULT_PSEUDONYM_HEX + 1];
    CHECK(s_setup(&f) == 0);
    FILE *file = fopen(f.path, "rb");
    CHECK(file && fread(secret, 1, sizeof secret, file) == sizeof secret);
    if (file)
        fclose(file);
    const char *label = "seinpost/1 pseudonym", *msg = "BSN:999993653";
    HMAC(EVP_sha256(), secret, sizeof secret, (const uint8_t *) label, strlen(label), key,
         &len);
    HMAC(EVP_sha256(), key, sizeof key, (const uint8_t *) msg, strlen(msg), mac, &len);
    for (size_t i = 0; i < sizeof mac; i++)
        snprintf(want + 2 * i, 3, "%02x", mac[i]);
    CHECK(vault_pseudonym(f.vault, "BSN", "999993653", got) == 0);
    CHECK_STR(got, want);
    CHECK(vault_pseudonym(f.vault, "BSN", "999990019", got) == 0);
    CHECK(strcmp(got, want) != 0 && strlen(got) == 64);
    s_teardown(&f);
}

int main(void)
{
    RUN(long_source_and_id_round_trip);
    RUN(every_byte_of_the_id_is_bound);
    RUN(short_ad_is_bound);
    RUN(legacy_cut_ad_still_opens);
    RUN(pseudonym_is_the_documented_hmac);
    TEST_EXIT();
}
