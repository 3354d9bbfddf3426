/*  test_batch.c - the DELIVER header written member by member (batch.c,
    jsonw.c) is byte for byte what jansson writes for the same object with
    JSON_COMPACT | JSON_SORT_KEYS, the layout docs/protocol.md 6.2 names. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "deliver.h"
#include "jsonw.h"
#include "test.h"

static subscription_t s_subs[2] = {
    { .name = "huurtoeslag-bewoning", .type = "nl.example.t",
      .grondslag = "Awir art. 9 en 10: \"toetsing\" huishouden \xc3\xa9\xc3\xa9n/twee\n\t\\",
      .activity = "https://verwerkingsregister.example/toeslagen/bewoning?x=\"1\"" },
    { .name = "plain", .type = "nl.example.t", .grondslag = "g", .activity = "urn:a:b" },
};
static subscriber_t s_conf = { .name = "toeslagen", .subs = s_subs, .sub_count = 2 };
static const int64_t s_prev[4] = { 0, 0, 1, 2 };
static const uint8_t s_anchor[32] = { 0xde, 0xad, 0xbe, 0xef, [31] = 0x01 };
static const char s_anchor_hex[] =
    "deadbeef00000000000000000000000000000000000000000000000000000001";

static void s_row(store_pending_t *row, const char *subscription, int64_t seq,
                  const char *source, const char *id)
{
    memset(row, 0, sizeof *row);
    snprintf(row->subscription, sizeof row->subscription, "%s", subscription);
    row->seq = seq;
    /* borrowed: these rows are never passed to store_pending_clear() */
    row->source = (char *) source;
    row->ce_id = (char *) id;
    row->type = (char *) "nl.example.t";
    snprintf(row->key_id, sizeof row->key_id, "0011223344556677");
    snprintf(row->trace_id, sizeof row->trace_id, "%032d", (int) seq);
    for (size_t i = 0; i < sizeof row->signature; i++)
        row->signature[i] = (uint8_t) (i * 7 + (size_t) seq);
    for (size_t i = 0; i < sizeof row->event_sha256; i++)
        row->event_sha256[i] = (uint8_t) (255 - i);
}

/*  The header as batch.c built it before: a jansson object, dumped.      */
static char *s_oracle(const store_pending_t *rows, int count, int64_t batch_no)
{
    json_t *entries = json_array();
    for (int i = 0; i < count; i++) {
        char sha[65], sig[129];
        const subscription_t *sub = deliver_subscription(&s_conf, rows[i].subscription);
        sp_hex(rows[i].event_sha256, 32, sha);
        sp_hex(rows[i].signature, 64, sig);
        json_t *entry = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
            "subscription", rows[i].subscription, "seq", (json_int_t) rows[i].seq,
            "prev", (json_int_t) s_prev[i],
            "source", rows[i].source, "id", rows[i].ce_id, "type", rows[i].type,
            "sha256", sha, "emitter_key", rows[i].key_id, "emitter_sig", sig,
            "grondslag", sub->grondslag, "activity", sub->activity,
            "trace_id", rows[i].trace_id);
        if (!entry) {
            json_decref(entries);
            return NULL;
        }
        json_array_append_new(entries, entry);
    }
    json_t *header = json_pack("{s:{s:I, s:s}, s:i, s:s, s:s, s:s, s:s, s:I, s:s, s:o}",
                               "anchor", "seq", (json_int_t) 42, "sha256", s_anchor_hex,
                               "v", 2,
                               "partner_key", sp_key_id(s_conf.key),
                               "router", "seinpost-\"node\"", "router_key", "a1b2c3d4e5f60718",
                               "subscriber", "toeslagen", "batch", (json_int_t) batch_no,
                               "sent_at", "2026-11-23T16:00:00.000Z", "entries", entries);
    char *text = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(header);
    return text;
}

static char *s_written(const store_pending_t *rows, int count, int64_t batch_no)
{
    deliver_header_t h = { .router = "seinpost-\"node\"", .router_key = "a1b2c3d4e5f60718",
                           .sent_at = "2026-11-23T16:00:00.000Z", .batch_no = batch_no,
                           .anchor_seq = 42, .anchor_sha256 = s_anchor };
    return deliver_batch_header(&h, &s_conf, rows, s_prev, count);
}

TEST(header_matches_jansson)
{
    store_pending_t rows[4];
    s_row(&rows[0], "huurtoeslag-bewoning", 1,
          "urn:nld:oin:00000001001234567000:systeem:burgerzaken", "plain-id-1");
    s_row(&rows[1], "plain", 2, "urn:x:\"quoted\"/slash\\back", "ctl\x01\x1f\n\r\b\f\t");
    s_row(&rows[2], "huurtoeslag-bewoning", 3, "urn:x:utf8",
          "\xe2\x82\xac \xf0\x9f\x98\x80 caf\xc3\xa9 \x7f");
    s_row(&rows[3], "plain", 4, "", "");
    for (int count = 1; count <= 4; count++) {
        char *want = s_oracle(rows, count, 1795437028210LL + count);
        char *got = s_written(rows, count, 1795437028210LL + count);
        CHECK(want != NULL && got != NULL);
        CHECK_STR(got, want);
        free(want);
        free(got);
    }
}

TEST(header_refuses_what_jansson_refuses)
{
    store_pending_t row;
    /* a subscription no longer configured: no legal basis to name */
    s_row(&row, "gone", 1, "urn:x", "id");
    char *text = s_written(&row, 1, 1);
    CHECK(text == NULL);
    free(text);
    /* bytes that are not UTF-8 */
    s_row(&row, "plain", 1, "urn:x", "bad \xc3\x28 utf8");
    CHECK(s_oracle(&row, 1, 1) == NULL);
    text = s_written(&row, 1, 1);
    CHECK(text == NULL);
    free(text);
}

/*  source and id as long as ingress may accept them reach the header
    whole (they were once cut to 511 bytes on the way).                 */
TEST(header_carries_long_ids)
{
    static char source[3000], id[5000];
    store_pending_t row;
    memcpy(source, "urn:x:", 6);
    memset(source + 6, 's', sizeof source - 7);
    memset(id, 'i', sizeof id - 1);
    s_row(&row, "plain", 1, source, id);
    char *text = s_written(&row, 1, 1);
    json_t *header = text ? json_loads(text, 0, NULL) : NULL;
    json_t *entry = json_array_get(json_object_get(header, "entries"), 0);
    CHECK_STR(json_string_value(json_object_get(entry, "source")), source);
    CHECK_STR(json_string_value(json_object_get(entry, "id")), id);
    json_decref(header);
    free(text);
}

TEST(jsonw_ascii_mode)
{
    jsonw_t w;
    jsonw_init(&w, JSON_ENSURE_ASCII);
    jsonw_raw(&w, "{\"a\":");
    jsonw_string(&w, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"");
    jsonw_raw(&w, ",\"n\":");
    jsonw_int(&w, -42);
    jsonw_raw(&w, "}");
    char *text = jsonw_finish(&w);
    CHECK_STR(text, "{\"a\":\"caf\\u00E9 \\uD83D\\uDE00 \\\"q\\\"\",\"n\":-42}");
    free(text);
    /* a long string grows the buffer past its first size */
    char big[5000];
    memset(big, '\x01', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jsonw_init(&w, 0);
    jsonw_string(&w, big);
    text = jsonw_finish(&w);
    CHECK(text && strlen(text) == 6 * (sizeof big - 1) + 2);
    free(text);
}

/*  Every string, plain or not, comes out as jansson writes it, in each
    mode: the plain-ASCII shortcut must not differ from the encoder.   */
TEST(jsonw_strings_as_jansson)
{
    static const char *const texts[] = {
        "", "abc", "urn:nld:oin:00000001001234567000:systeem:burgerzaken",
        "https://example.nl/a/b?c=d&e", "a\"b", "a\\b", "tab\there", "\x01\x1f", "\x7f",
        "caf\xc3\xa9", "\xe2\x82\xac 5", " !#$%&'()*+,-./:;<=>?@[]^_`{|}~",
    };
    static const size_t modes[] = { 0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                                     JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH };
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            jsonw_t w;
            jsonw_init(&w, modes[m]);
            jsonw_string(&w, texts[i]);
            char *ours = jsonw_finish(&w);
            json_t *string = json_string(texts[i]);
            char *theirs = json_dumps(string, modes[m] | JSON_ENCODE_ANY);
            CHECK(ours && theirs && strcmp(ours, theirs) == 0);
            free(ours);
            free(theirs);
            json_decref(string);
        }
}

/*  The audit details (route.c) are written in JSON_ENSURE_ASCII mode with
    members in insertion order: the delivery.routed shape against jansson,
    with a grondslag that needs every kind of escape.                    */
TEST(audit_detail_matches_jansson)
{
    static const char *const texts[] = {
        "Awir art. 9 en 10",
        "\"quoted\" \\ back/slash \x01\x1f\n\t caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *object = json_pack("{s:s, s:I, s:s, s:s}", "subscription", "huurtoeslag",
                                   "seq", (json_int_t) (1000000000000LL + (long long) i),
                                   "grondslag", texts[i],
                                   "processing_activity_id", "urn:a:\"b\"");
        char *want = json_dumps(object, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(object);
        jsonw_t w;
        jsonw_init(&w, JSON_ENSURE_ASCII);
        jsonw_member(&w, "{\"subscription\":", "huurtoeslag");
        jsonw_member_int(&w, ",\"seq\":", 1000000000000LL + (long long) i);
        jsonw_member(&w, ",\"grondslag\":", texts[i]);
        jsonw_member(&w, ",\"processing_activity_id\":", "urn:a:\"b\"");
        jsonw_raw(&w, "}");
        char *got = jsonw_finish(&w);
        CHECK(want != NULL && got != NULL);
        CHECK_STR(got, want);
        free(want);
        free(got);
    }
}

int main(void)
{
    sp_key_t *partner = sp_key_generate();
    s_conf.key = partner;
    RUN(header_matches_jansson);
    RUN(header_refuses_what_jansson_refuses);
    RUN(header_carries_long_ids);
    RUN(jsonw_ascii_mode);
    RUN(jsonw_strings_as_jansson);
    RUN(audit_detail_matches_jansson);
    sp_key_destroy(&partner);
    TEST_EXIT();
}
