/*  test_event.c - CloudEvents parsing and the NL GOV profile checks.

    Every rejection test feeds an event whose subject and data carry the
    test BSN 999993653 and checks that the reason never repeats it.
    Run from the repository root: fixtures live in tests/data/events/.   */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "sp_event.h"

#define BSN "999993653"
#define FIXTURES "tests/data/events/"

/*  A valid event, carrying the BSN in subject and data, that the tests
    change one attribute at a time.                                      */
static const char *const s_base =
    "{\"specversion\":\"1.0\","
    "\"id\":\"0193a8e2-5c1e-7d3a-9f10-2b6f4e1c8a01\","
    "\"source\":\"urn:nld:oin:00000001001234567000:systeem:burgerzaken\","
    "\"type\":\"nl.gemeente.burgerzaken.geen-dubbele-bewoning\","
    "\"time\":\"2026-11-23T09:15:00Z\","
    "\"subject\":\"" BSN "\","
    "\"datacontenttype\":\"application/json\","
    "\"data\":{\"gemeentecode\":\"0855\",\"bewonerBsn\":\"" BSN "\"}}";

static char *s_read_file(const char *path, size_t *len)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf = malloc(65536);
    if (buf)
        *len = fread(buf, 1, 65536, f);
    fclose(f);
    return buf;
}

/*  Parses text and returns the code; checks that a failure explains
    itself without quoting the BSN, and that success leaves no reason.  */
static sp_code_t s_code_len(const char *bytes, size_t len,
                            const sp_event_limits_t *limits)
{
    char reason[256];
    sp_code_t code = SP_E_INTERNAL;
    memset(reason, 'x', sizeof reason);
    sp_event_t *event = sp_event_parse(bytes, len, limits, &code,
                                       reason, sizeof reason);
    CHECK(memchr(reason, '\0', sizeof reason) != NULL);
    CHECK(strstr(reason, BSN) == NULL);
    if (event) {
        CHECK(code == SP_OK);
        CHECK(reason[0] == '\0');
    }
    else {
        CHECK(code != SP_OK);
        CHECK(reason[0] != '\0');
    }
    if (code != SP_OK && reason[0] && getenv("SP_TEST_VERBOSE"))
        fprintf(stderr, "    %s: %s\n", sp_code_name(code), reason);
    sp_event_destroy(&event);
    CHECK(event == NULL);
    return code;
}

static sp_code_t s_code(const char *text)
{
    return s_code_len(text, strlen(text), NULL);
}

/*  The base event with member name set to the JSON text value, or
    removed when value is NULL.                                          */
static sp_code_t s_code_with(const char *name, const char *value)
{
    json_t *root = json_loads(s_base, 0, NULL);
    if (value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
        CHECK(v != NULL);
        json_object_set_new(root, name, v);
    }
    else
        json_object_del(root, name);
    char *text = json_dumps(root, JSON_COMPACT);
    sp_code_t code = s_code(text);
    free(text);
    json_decref(root);
    return code;
}

/*  The base event with raw text spliced in as an extra first member.   */
static sp_code_t s_code_member(const char *member)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "{%s,%s", member, s_base + 1);
    return s_code(buf);
}

TEST(code_names)
{
    for (int i = 0; i < SP_CODE_COUNT; i++) {
        const char *name = sp_code_name((sp_code_t) i);
        CHECK(name != NULL && name[0] != '\0');
        CHECK(sp_code_from_name(name) == (sp_code_t) i);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(name, sp_code_name((sp_code_t) j)) != 0);
        for (const char *p = name; *p; p++)
            CHECK((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
                  || *p == '_');
    }
    CHECK_STR(sp_code_name(SP_OK), "OK");
    CHECK_STR(sp_code_name(SP_DUPLICATE), "DUPLICATE");
    CHECK_STR(sp_code_name(SP_E_SIGNATURE), "SIGNATURE_INVALID");
    CHECK_STR(sp_code_name(SP_E_ATTR_MISSING), "ATTRIBUTE_MISSING");
    CHECK_STR(sp_code_name(SP_E_TYPE_UNKNOWN), "TYPE_UNKNOWN");
    CHECK_STR(sp_code_name(SP_E_NOT_ALLOWED), "TYPE_NOT_ALLOWED");
    CHECK_STR(sp_code_name(SP_E_JSON), "JSON_INVALID");
    CHECK_STR(sp_code_name(SP_E_DATA_MISSING), "DATA_FIELD_MISSING");
    CHECK_STR(sp_code_name(SP_CODE_COUNT), "INTERNAL");
    CHECK_STR(sp_code_name((sp_code_t) -1), "INTERNAL");
    CHECK(sp_code_from_name("NO_SUCH_CODE") == SP_E_INTERNAL);
    CHECK(sp_code_from_name("ok") == SP_E_INTERNAL);
    CHECK(sp_code_from_name(NULL) == SP_E_INTERNAL);
}

TEST(examples_parse)
{
    static const char *const files[] = {
        FIXTURES "geen-dubbele-bewoning.json",
        FIXTURES "adresonderzoek-gestart.json",
        FIXTURES "verblijft-niet-op-adres.json",
    };
    static const int64_t times[] = {
        1795425300000, 1795425600000, 1795425900000
    };
    for (size_t i = 0; i < 3; i++) {
        size_t len = 0;
        char *bytes = s_read_file(files[i], &len);
        CHECK(bytes != NULL);
        if (!bytes)
            continue;
        sp_code_t code = SP_E_INTERNAL;
        sp_event_t *event = sp_event_parse(bytes, len, NULL, &code, NULL, 0);
        CHECK(event != NULL);
        CHECK(code == SP_OK);
        if (event) {
            CHECK_STR(event->specversion, "1.0");
            CHECK_STR(event->oin, "00000001001234567000");
            CHECK_STR(event->datacontenttype, "application/json");
            CHECK(strncmp(event->type, "nl.gemeente.burgerzaken.", 24) == 0);
            CHECK(event->time_ms == times[i]);
            CHECK(cJSON_IsObject(event->data));
            CHECK(event->subject != NULL);
            CHECK((event->dataref != NULL) == (i == 2));
        }
        sp_event_destroy(&event);
        free(bytes);
    }
}

TEST(valid_variants)
{
    CHECK(s_code(s_base) == SP_OK);
    CHECK(s_code_with("data", NULL) == SP_OK);
    CHECK(s_code_with("data", "null") == SP_OK);
    CHECK(s_code_with("data", "[1,2,3]") == SP_OK);
    CHECK(s_code_with("subject", NULL) == SP_OK);
    CHECK(s_code_with("datacontenttype", NULL) == SP_OK);
    CHECK(s_code_with("datacontenttype",
                      "\"application/json; charset=utf-8\"") == SP_OK);
    CHECK(s_code_with("datacontenttype", "\"Application/JSON\"") == SP_OK);
    CHECK(s_code_with("datacontenttype",
                      "\"application/cloudevents+json\"") == SP_OK);
    CHECK(s_code_with("type", "\"nl.brp.verhuizing.v2\"") == SP_OK);
    CHECK(s_code_with("type", "\"nl.brp\"") == SP_OK);
    CHECK(s_code_with("source", "\"urn:nld:oin:00000001001234567000\"")
          == SP_OK);
    CHECK(s_code_with("time", "\"2026-11-23T10:15:00.5+01:00\"") == SP_OK);
    CHECK(s_code_with("dataschema", "\"https://example.invalid/s.json\"")
          == SP_OK);
    CHECK(s_code_with("traceparent", "\"00-abc-def-01\"") == SP_OK);
    CHECK(s_code_with("priority", "3") == SP_OK);
    CHECK(s_code_with("weight", "1.5") == SP_OK);
    CHECK(s_code_with("urgent", "true") == SP_OK);
    CHECK(s_code_with("empty", "\"\"") == SP_OK);
    CHECK(s_code_with("sequence", "\"1\"") == SP_OK);
    CHECK(s_code_with("sequence", "\"2147483647\"") == SP_OK);
    CHECK(s_code_member("\"sequencetype\":\"Integer\",\"sequence\":\"42\"")
          == SP_OK);
    CHECK(s_code("  \n" "{\"specversion\":\"1.0\",\"id\":\"1\","
                 "\"source\":\"urn:nld:oin:00000001001234567000\","
                 "\"type\":\"nl.x\",\"time\":\"2026-01-01T00:00:00Z\"}\n")
          == SP_OK);
}

TEST(too_large)
{
    sp_event_limits_t limits;
    sp_event_limits_default(&limits);
    CHECK(limits.max_bytes == 65536);
    CHECK(limits.max_depth == 32);
    limits.max_bytes = strlen(s_base) - 1;
    CHECK(s_code_len(s_base, strlen(s_base), &limits) == SP_E_TOO_LARGE);
    limits.max_bytes = strlen(s_base);
    CHECK(s_code_len(s_base, strlen(s_base), &limits) == SP_OK);
}

TEST(utf8)
{
    /*  Valid: 2-, 3- and 4-byte forms, including U+10FFFF and U+FFFD. */
    CHECK(s_code_with("note", "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"
                      " \xF4\x8F\xBF\xBF \xEF\xBF\xBD\"") == SP_OK);
    static const char *const bad[] = {
        "\xC0\xAF",             /* overlong '/' */
        "\xC1\xBF",             /* overlong */
        "\xE0\x80\xAF",         /* overlong 3-byte */
        "\xE0\x9F\xBF",         /* overlong 3-byte, top */
        "\xF0\x80\x80\xAF",     /* overlong 4-byte */
        "\xF0\x8F\xBF\xBF",     /* overlong 4-byte, top */
        "\xED\xA0\x80",         /* U+D800, high surrogate */
        "\xED\xBF\xBF",         /* U+DFFF, low surrogate */
        "\xF4\x90\x80\x80",     /* U+110000 */
        "\xF5\x80\x80\x80",     /* beyond any plane */
        "\xFF",
        "\x80",                 /* stray continuation */
        "\xC3",                 /* truncated */
        "\xE2\x82",             /* truncated */
        "\xE2\x28\xA1",         /* bad continuation */
        "\xF0\x9F\x98",         /* truncated 4-byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[1024];
        snprintf(buf, sizeof buf,
                 "{\"subject\":\"" BSN "\",\"note\":\"a%sb\"}", bad[i]);
        CHECK(s_code(buf) == SP_E_UTF8);
        /*  Also at the very end of the input, where truncation bites. */
        snprintf(buf, sizeof buf, "{\"a\":1}%s", bad[i]);
        CHECK(s_code(buf) == SP_E_UTF8);
    }
    static const char nul[] = "{\"subject\":\"" BSN "\",\"x\":\"a\0b\"}";
    CHECK(s_code_len(nul, sizeof nul - 1, NULL) == SP_E_UTF8);
    /*  An escaped NUL is valid JSON, but refused all the same.           */
    CHECK(s_code_member("\"note\":\"a\\u0000b\"") == SP_E_JSON);
    /*  Escaped surrogate pairs are fine; a lone one is not JSON text.    */
    CHECK(s_code_with("note", "\"\\ud83d\\ude00\"") == SP_OK);
    CHECK(s_code_member("\"note\":\"\\ud800\"") == SP_E_JSON);
}

TEST(json_syntax)
{
    CHECK(s_code("") == SP_E_JSON);
    CHECK(s_code_len(NULL, 0, NULL) == SP_E_JSON);
    CHECK(s_code("{\"subject\":\"" BSN "\"") == SP_E_JSON);
    CHECK(s_code("{\"subject\":\"" BSN "\"} {}") == SP_E_JSON);
    CHECK(s_code("{\"subject\":" BSN "x}") == SP_E_JSON);
    CHECK(s_code("{'subject':'" BSN "'}") == SP_E_JSON);
    CHECK(s_code("{\"a\":NaN}") == SP_E_JSON);
    CHECK(s_code("{\"a\":Infinity}") == SP_E_JSON);
    CHECK(s_code("\xEF\xBB\xBF{}") == SP_E_JSON);       /* BOM */
}

TEST(not_object)
{
    CHECK(s_code("[\"" BSN "\"]") == SP_E_NOT_OBJECT);
    CHECK(s_code("\"" BSN "\"") == SP_E_NOT_OBJECT);
    CHECK(s_code(BSN) == SP_E_NOT_OBJECT);
    CHECK(s_code("null") == SP_E_NOT_OBJECT);
    CHECK(s_code("true") == SP_E_NOT_OBJECT);
}

static char *s_nested(size_t depth, const char *open, const char *close)
{
    size_t olen = strlen(open), clen = strlen(close);
    char *buf = malloc(depth * (olen + clen) + 1);
    char *p = buf;
    if (!buf)
        return NULL;
    for (size_t i = 0; i < depth; i++, p += olen)
        memcpy(p, open, olen);
    for (size_t i = 0; i < depth; i++, p += clen)
        memcpy(p, close, clen);
    *p = '\0';
    return buf;
}

TEST(depth)
{
    /*  A bomb: jansson's own limit stops it before it costs memory.     */
    char *bomb = s_nested(100000, "[", "");
    CHECK(bomb != NULL);
    sp_event_limits_t limits;
    sp_event_limits_default(&limits);
    limits.max_bytes = 200000;
    CHECK(s_code_len(bomb, strlen(bomb), &limits) == SP_E_JSON_DEPTH);
    free(bomb);
    char *objects = s_nested(5000, "{\"a\":", "}");
    CHECK(s_code_len(objects, strlen(objects), &limits) == SP_E_JSON_DEPTH);
    free(objects);

    /*  Our limit: the root is depth 1 and data depth 2, so 31 nested
        arrays in data reach the default limit of 32 exactly.           */
    json_t *root = json_loads(s_base, 0, NULL);
    for (size_t levels = 31; levels <= 32; levels++) {
        char *inner = s_nested(levels, "[", "]");
        json_object_set_new(root, "data", json_loads(inner, 0, NULL));
        char *text = json_dumps(root, JSON_COMPACT);
        CHECK(s_code(text) == (levels == 31 ? SP_OK : SP_E_JSON_DEPTH));
        free(text);
        free(inner);
    }
    json_decref(root);
}

TEST(numbers)
{
    CHECK(s_code_with("data", "{\"n\":12,\"r\":-1.5e300,\"z\":1e-999999}")
          == SP_OK);
    CHECK(s_code_member("\"n\":1e999999") == SP_E_JSON_NUMBER);
    CHECK(s_code_member("\"n\":-1e999999") == SP_E_JSON_NUMBER);
    CHECK(s_code_member("\"n\":99999999999999999999999") == SP_E_JSON_NUMBER);
    CHECK(s_code_member("\"n\":-99999999999999999999999")
          == SP_E_JSON_NUMBER);
    CHECK(s_code("{\"data\":{\"bsn\":" BSN ",\"n\":1e999999}}")
          == SP_E_JSON_NUMBER);
}

/*  The base event with data replaced by the JSON text data, parsed
    under limits.                                                        */
static sp_code_t s_code_data(const char *data, const sp_event_limits_t *limits)
{
    json_t *root = json_loads(s_base, 0, NULL);
    json_object_set_new(root, "data", json_loads(data, 0, NULL));
    char *text = json_dumps(root, JSON_COMPACT);
    sp_code_t code = s_code_len(text, strlen(text), limits);
    free(text);
    json_decref(root);
    return code;
}

TEST(string_limits)
{
    /*  Above every string of the base event, so only data trips it.     */
    sp_event_limits_t limits;
    sp_event_limits_default(&limits);
    limits.max_string = 64;
    char text[64 + 1 + 1], json[128];
    memset(text, '9', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    static const char *const forms[] = {
        "{\"a\":\"%s\"}", "{\"%s\":1}", "[[\"%s\"]]"
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(json, sizeof json, forms[i], text);
        CHECK(s_code_data(json, &limits) == SP_E_JSON_LIMIT);
        snprintf(json, sizeof json, forms[i], text + 1);
        CHECK(s_code_data(json, &limits) == SP_OK);
    }
}

TEST(duplicate_keys)
{
    CHECK(s_code_member("\"subject\":\"" BSN "\"") == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_code("{\"data\":{\"bsn\":\"" BSN "\",\"bsn\":\"" BSN "\"}}")
          == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_code("{\"a\":1,\"b\":2,\"a\":3}") == SP_E_JSON_DUPLICATE_KEY);
}

TEST(attr_missing)
{
    CHECK(s_code_with("specversion", NULL) == SP_E_ATTR_MISSING);
    CHECK(s_code_with("id", NULL) == SP_E_ATTR_MISSING);
    CHECK(s_code_with("source", NULL) == SP_E_ATTR_MISSING);
    CHECK(s_code_with("type", NULL) == SP_E_ATTR_MISSING);
    CHECK(s_code_with("time", NULL) == SP_E_ATTR_MISSING);
    CHECK(s_code("{}") == SP_E_ATTR_MISSING);
    CHECK(s_code_member("\"sequencetype\":\"Integer\"") == SP_E_ATTR_MISSING);
}

TEST(attr_type)
{
    CHECK(s_code_with("specversion", "1.0") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("id", "42") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("source", "null") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("type", "[\"nl.x\"]") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("time", "1795425300") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("subject", BSN) == SP_E_ATTR_TYPE);
    CHECK(s_code_with("datacontenttype", "true") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("dataref", "{}") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("sequence", "1") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("bsn", "{\"v\":\"" BSN "\"}") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("bsn", "[\"" BSN "\"]") == SP_E_ATTR_TYPE);
    CHECK(s_code_with("bsn", "null") == SP_E_ATTR_TYPE);
}

TEST(attr_name)
{
    CHECK(s_code_member("\"Subject2\":\"" BSN "\"") == SP_E_ATTR_NAME);
    CHECK(s_code_member("\"bsn_" BSN "\":\"x\"") == SP_E_ATTR_NAME);
    CHECK(s_code_member("\"" BSN "-x\":1") == SP_E_ATTR_NAME);
    CHECK(s_code_member("\"\":1") == SP_E_ATTR_NAME);
    CHECK(s_code_member("\"abcdefghij0123456789x\":1") == SP_E_ATTR_NAME);
    CHECK(s_code_member("\"abcdefghij0123456789\":1") == SP_OK);
    CHECK(s_code_member("\"caf\xC3\xA9\":1") == SP_E_ATTR_NAME);
    /*  seinpost carries JSON only: data_base64 is refused by name.       */
    CHECK(s_code_member("\"data_base64\":\"" BSN "\"") == SP_E_ATTR_NAME);
}

TEST(attr_invalid)
{
    char buf[4096];
    CHECK(s_code_with("id", "\"\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("subject", "\"\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("subject", "\"" BSN "\\n\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("subject", "\"" BSN "\\u0085\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("note", "\"" BSN "\\u001b\"") == SP_E_ATTR_INVALID);
    memset(buf, 0, sizeof buf);
    buf[0] = '"';
    memset(buf + 1, '9', 1025);
    buf[1026] = '"';
    CHECK(s_code_with("id", buf) == SP_E_ATTR_INVALID);
    CHECK(s_code_with("subject", buf) == SP_E_ATTR_INVALID);
    buf[1025] = '"';
    buf[1026] = '\0';
    CHECK(s_code_with("id", buf) == SP_OK);

    CHECK(s_code_with("datacontenttype", "\"text/plain\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("datacontenttype", "\"application/xml\"")
          == SP_E_ATTR_INVALID);
    CHECK(s_code_with("datacontenttype", "\"application/jsonx\"")
          == SP_E_ATTR_INVALID);
    CHECK(s_code_with("datacontenttype", "\"application/+json\"")
          == SP_E_ATTR_INVALID);
    CHECK(s_code_with("datacontenttype", "\"json\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("datacontenttype", "\"/json\"") == SP_E_ATTR_INVALID);

    CHECK(s_code_with("sequence", "\"0\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("sequence", "\"-1\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("sequence", "\"01\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("sequence", "\"1.5\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("sequence", "\"" BSN "x\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("sequence", "\"2147483648\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_with("sequence", "\"99999999999\"") == SP_E_ATTR_INVALID);
    CHECK(s_code_member("\"sequencetype\":\"Lexical\",\"sequence\":\"1\"")
          == SP_E_ATTR_INVALID);
}

TEST(type_rules)
{
    static const char *const bad[] = {
        "\"nl\"", "\"nl.v1\"", "\"NL.gemeente.x\"", "\"nl..x\"",
        "\"nl.x.\"", "\".nl.x\"", "\"nl.x.v1.y\"", "\"nl.-x\"", "\"nl.x-\"",
        "\"nl_x.y\"", "\"nl.x.v1.v2\"", "\"nl.x y\"", "\"nl/x.y\"",
        "\"nl.gemeente.bsn-" BSN ".x_\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(s_code_with("type", bad[i]) == SP_E_ATTR_INVALID);
    CHECK(s_code_with("type", "\"nl.x.v\"") == SP_OK);     /* 'v' is a label */
    CHECK(s_code_with("type", "\"nl.x-2.v10\"") == SP_OK);
    /*  DNS labels hold at most 63 characters.                          */
    char label[80] = "\"nl.";
    memset(label + 4, 'a', 63);
    strcpy(label + 67, "\"");
    CHECK(s_code_with("type", label) == SP_OK);
    memset(label + 4, 'a', 64);
    strcpy(label + 68, "\"");
    CHECK(s_code_with("type", label) == SP_E_ATTR_INVALID);
}

TEST(specversion)
{
    CHECK(s_code_with("specversion", "\"0.3\"") == SP_E_SPECVERSION);
    CHECK(s_code_with("specversion", "\"1.0.2\"") == SP_E_SPECVERSION);
    CHECK(s_code_with("specversion", "\"" BSN "\"") == SP_E_SPECVERSION);
}

TEST(source_rules)
{
    CHECK(s_code_with("source", "\"https://burgerzaken.example.invalid\"")
          == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"urn:nld:kvk:12345678\"") == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"URN:NLD:OIN:00000001001234567000\"")
          == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"/burgerzaken/" BSN "\"") == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"urn:nld:oin:00000001001234567000:\"")
          == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"urn:nld:oin:00000001001234567000:a b\"")
          == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"urn:nld:oin:00000001001234567000:a?b\"")
          == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"urn:nld:oin:00000001001234567000:%zz\"")
          == SP_E_SOURCE);
    CHECK(s_code_with("source", "\"urn:nld:oin:00000001001234567000:a%2Fb\"")
          == SP_OK);

    CHECK(s_code_with("source", "\"urn:nld:oin:\"") == SP_E_OIN);
    CHECK(s_code_with("source", "\"urn:nld:oin:0000000100123456700\"")
          == SP_E_OIN);
    CHECK(s_code_with("source", "\"urn:nld:oin:000000010012345670001\"")
          == SP_E_OIN);
    CHECK(s_code_with("source", "\"urn:nld:oin:0000000100123456700a:x\"")
          == SP_E_OIN);
    CHECK(s_code_with("source", "\"urn:nld:oin:" BSN ":bsn\"") == SP_E_OIN);
    CHECK(s_code_with("source",
                      "\"urn:nld:oin:\xD9\xA0\xD9\xA0\xD9\xA0\xD9\xA0"
                      "\xD9\xA0\xD9\xA0\xD9\xA0\xD9\xA0\xD9\xA0\xD9\xA0\"")
          == SP_E_OIN);   /* Arabic-Indic digits are not ASCII digits */
}

TEST(time_attr)
{
    CHECK(s_code_with("time", "\"" BSN "\"") == SP_E_TIME);
    CHECK(s_code_with("time", "\"2026-02-29T00:00:00Z\"") == SP_E_TIME);
    CHECK(s_code_with("time", "\"2026-11-23 09:15:00Z\"") == SP_E_TIME);
    CHECK(s_code_with("time", "\"2026-11-23T09:15:00\"") == SP_E_TIME);
    CHECK(s_code_with("time", "\"2026-11-23\"") == SP_E_TIME);
}

TEST(rfc3339)
{
    CHECK(sp_time_parse_rfc3339("1970-01-01T00:00:00Z") == 0);
    CHECK(sp_time_parse_rfc3339("2026-11-23T09:15:00Z") == 1795425300000);
    CHECK(sp_time_parse_rfc3339("2026-11-23T10:15:00+01:00") == 1795425300000);
    CHECK(sp_time_parse_rfc3339("2026-11-23T04:45:00-04:30") == 1795425300000);
    CHECK(sp_time_parse_rfc3339("2026-11-23T09:15:00-00:00") == 1795425300000);
    CHECK(sp_time_parse_rfc3339("2026-11-23t09:15:00z") == 1795425300000);
    CHECK(sp_time_parse_rfc3339("2026-11-23T09:15:00.1Z") == 1795425300100);
    CHECK(sp_time_parse_rfc3339("2026-11-23T09:15:00.12Z") == 1795425300120);
    CHECK(sp_time_parse_rfc3339("2026-11-23T09:15:00.123Z") == 1795425300123);
    CHECK(sp_time_parse_rfc3339("2026-11-23T09:15:00.123999999Z")
          == 1795425300123);
    CHECK(sp_time_parse_rfc3339("2024-02-29T12:00:00Z") == 1709208000000);
    CHECK(sp_time_parse_rfc3339("2000-02-29T00:00:00Z") == 951782400000);
    CHECK(sp_time_parse_rfc3339("0001-01-01T00:00:00Z") == -62135596800000);
    CHECK(sp_time_parse_rfc3339("9999-12-31T23:59:59Z") == 253402300799000);
    CHECK(sp_time_parse_rfc3339("2024-01-01T00:30:00+01:00")
          == sp_time_parse_rfc3339("2023-12-31T23:30:00Z"));
    /*  A leap second folds into the next minute, as POSIX time does.    */
    CHECK(sp_time_parse_rfc3339("2016-12-31T23:59:60Z") == 1483228800000);

    static const char *const bad[] = {
        "", "2026", "2026-11-23", "2026-11-23T09:15Z", "2026-11-23T09:15:00",
        "2026-11-23T09:15:00ZZ", "2026-11-23T09:15:00Z ", " 2026-11-23T09:15:00Z",
        "2026-11-23 09:15:00Z", "2026-11-23_09:15:00Z", "2026/11/23T09:15:00Z",
        "26-11-23T09:15:00Z", "2026-1-23T09:15:00Z", "2026-11-23T9:15:00Z",
        "2026-00-10T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z", "2026-04-31T00:00:00Z", "2026-06-31T00:00:00Z",
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-02-30T00:00:00Z",
        "2026-11-23T24:00:00Z", "2026-11-23T23:60:00Z", "2026-11-23T23:59:61Z",
        "2026-11-23T09:15:00.Z", "2026-11-23T09:15:00,5Z",
        "2026-11-23T09:15:00+24:00", "2026-11-23T09:15:00+01:60",
        "2026-11-23T09:15:00+0100", "2026-11-23T09:15:00+01",
        "2026-11-23T09:15:00+01:00:00", "2026-11-23T09:15:00 +01:00",
        "+2026-11-23T09:15:00Z", "-2026-11-23T09:15:00Z",
        "2026-11-23T09:15:00.123", "2026-11-23T09:15:00UTC",
        ("\xD9\xA2" "026-11-23T09:15:00Z"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sp_time_parse_rfc3339(bad[i]) != -1)
            fprintf(stderr, "  accepted: '%s'\n", bad[i]);
        CHECK(sp_time_parse_rfc3339(bad[i]) == -1);
    }
    CHECK(sp_time_parse_rfc3339(NULL) == -1);
}

TEST(time_format)
{
    char buf[32];
    sp_time_format(1795425300123, buf, sizeof buf);
    CHECK_STR(buf, "2026-11-23T09:15:00.123Z");
    sp_time_format(0, buf, sizeof buf);
    CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
    sp_time_format(-1, buf, sizeof buf);
    CHECK_STR(buf, "1969-12-31T23:59:59.999Z");
    /*  Valid, and indistinguishable from failure: the API's -1 is also
        a time. sp_event_parse() does not share this ambiguity.          */
    CHECK(sp_time_parse_rfc3339("1969-12-31T23:59:59.999Z") == -1);
    sp_time_format(1709208000000, buf, sizeof buf);
    CHECK(sp_time_parse_rfc3339(buf) == 1709208000000);
    char small[5];
    sp_time_format(0, small, sizeof small);
    CHECK_STR(small, "1970");
    sp_time_format(0, NULL, 0);

    int64_t now = sp_time_now_ms();
    CHECK(now > 1735689600000);     /* after 2025-01-01 */
    sp_time_format(now, buf, sizeof buf);
    int64_t back = sp_time_parse_rfc3339(buf);
    CHECK(back == now);
}

TEST(lookup)
{
    static const char text[] =
        "{\"specversion\":\"1.0\",\"id\":\"1\","
        "\"source\":\"urn:nld:oin:00000001001234567000\","
        "\"type\":\"nl.x\",\"time\":\"2026-01-01T00:00:00Z\","
        "\"subject\":\"s\",\"data\":{\"a\":{\"b\":{\"c\":7}},\"d\":\"e\","
        "\"x.y\":1}}";
    sp_code_t code;
    sp_event_t *event = sp_event_parse(text, sizeof text - 1, NULL, &code,
                                       NULL, 0);
    CHECK(event != NULL);
    if (!event)
        return;
    CHECK_STR(cJSON_GetStringValue(sp_event_lookup(event, "subject")), "s");
    CHECK_STR(cJSON_GetStringValue(sp_event_lookup(event, "type")), "nl.x");
    CHECK_STR(cJSON_GetStringValue(sp_event_lookup(event, "id")), "1");
    CHECK_STR(cJSON_GetStringValue(sp_event_lookup(event, "source")),
              "urn:nld:oin:00000001001234567000");
    CHECK_STR(cJSON_GetStringValue(sp_event_lookup(event, "data.d")), "e");
    CHECK(sp_json_integer(sp_event_lookup(event, "data.a.b.c")) == 7);
    CHECK(cJSON_IsObject(sp_event_lookup(event, "data.a.b")));
    CHECK(sp_event_lookup(event, "data.a.b.c.d") == NULL);
    CHECK(sp_event_lookup(event, "data.a.x") == NULL);
    CHECK(sp_event_lookup(event, "data.") == NULL);
    CHECK(sp_event_lookup(event, "data..d") == NULL);
    CHECK(sp_event_lookup(event, "data.d.") == NULL);
    CHECK(sp_event_lookup(event, "data.x.y") == NULL);
    CHECK(sp_event_lookup(event, "dataref") == NULL);
    CHECK(sp_event_lookup(event, "nothing") == NULL);
    CHECK(sp_event_lookup(event, NULL) == NULL);
    CHECK(sp_event_lookup(NULL, "subject") == NULL);
    sp_event_destroy(&event);
    sp_event_destroy(&event);
    sp_event_destroy(NULL);
}

/*  ---------------------------------------------------------------------
    The gates around cJSON: what jansson refused stays refused.          */

/*  The base event with data replaced by raw JSON text, under limits.    */
static sp_code_t s_code_raw_data(const char *data,
                                 const sp_event_limits_t *limits)
{
    const char *at = strstr(s_base, "\"data\":");
    size_t head = (size_t) (at - s_base) + 7, n = strlen(data);
    char *text = malloc(head + n + 2);
    CHECK(text != NULL);
    if (!text)
        return SP_E_INTERNAL;
    memcpy(text, s_base, head);
    memcpy(text + head, data, n);
    memcpy(text + head + n, "}", 2);
    sp_code_t code = s_code_len(text, head + n + 1, limits);
    free(text);
    return code;
}

TEST(duplicate_keys_at_depth)
{
    CHECK(s_code_raw_data("{\"a\":{\"b\":[{\"c\":1,\"d\":2,\"c\":3}]}}", NULL)
          == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_code_raw_data("[[[{\"x\":\"" BSN "\",\"x\":\"" BSN "\"}]]]", NULL)
          == SP_E_JSON_DUPLICATE_KEY);
    /*  The same name in sibling or nested objects is no repeat.         */
    CHECK(s_code_raw_data("{\"a\":{\"a\":1},\"b\":{\"a\":{\"a\":2}}}", NULL)
          == SP_OK);
    /*  A repeat beats a limit met earlier, as it did with jansson.      */
    sp_event_limits_t limits;
    sp_event_limits_default(&limits);
    limits.max_string = 64;
    char data[256];
    snprintf(data, sizeof data, "{\"s\":\"%070d\",\"k\":1,\"k\":2}", 0);
    CHECK(s_code_raw_data(data, &limits) == SP_E_JSON_DUPLICATE_KEY);
}

/*  A data object of count names k0..; repeat_at > 0 names the last one
    like the one at that index. Returns the code and the CPU seconds.   */
static sp_code_t s_code_many_names(size_t count, size_t repeat_at,
                                   double *seconds)
{
    char *data = malloc(count * 16 + 2);
    CHECK(data != NULL);
    if (!data)
        return SP_E_INTERNAL;
    size_t n = 0;
    data[n++] = '{';
    for (size_t i = 0; i < count; i++) {
        size_t name = repeat_at && i == count - 1 ? repeat_at : i;
        n += (size_t) sprintf(data + n, "%s\"k%zu\":%zu", i ? "," : "",
                              name, i);
    }
    data[n++] = '}';
    data[n] = '\0';
    sp_event_limits_t limits;
    sp_event_limits_default(&limits);
    limits.max_bytes = 1 << 20;
    clock_t start = clock();
    sp_code_t code = s_code_raw_data(data, &limits);
    *seconds = (double) (clock() - start) / CLOCKS_PER_SEC;
    free(data);
    return code;
}

TEST(duplicate_keys_many)
{
    double seconds;
    CHECK(s_code_many_names(20000, 0, &seconds) == SP_OK);
    CHECK(seconds < 1.0);
    /*  Pairwise that would be 2*10^8 comparisons: seconds, not this.   */
    CHECK(s_code_many_names(20000, 7, &seconds) == SP_E_JSON_DUPLICATE_KEY);
    CHECK(seconds < 1.0);
    CHECK(s_code_many_names(17, 3, &seconds) == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_code_many_names(16, 1, &seconds) == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_code_many_names(17, 0, &seconds) == SP_OK);
}

TEST(escaped_nul)
{
    /*  cJSON would cut the string at the NUL; jansson refused it.       */
    CHECK(s_code_raw_data("{\"a\":\"" BSN "\\u0000\"}", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("[\"\\u0000\"]", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("{\"a\\u0000b\":1}", NULL) == SP_E_JSON);
    CHECK(s_code_member("\"note\":\"\\u0000\"") == SP_E_JSON);
    /*  An escaped backslash and then the text u0000: a valid string.   */
    CHECK(s_code_raw_data("{\"a\":\"x\\\\u0000\"}", NULL) == SP_OK);
    CHECK(s_code_raw_data("{\"a\\\\u0000\":\"\\\\\\\\u0000\"}", NULL) == SP_OK);
    static const char text[] =
        "{\"specversion\":\"1.0\",\"id\":\"1\","
        "\"source\":\"urn:nld:oin:00000001001234567000\","
        "\"type\":\"nl.x\",\"time\":\"2026-01-01T00:00:00Z\","
        "\"data\":{\"a\":\"x\\\\u0000y\"}}";
    sp_code_t code;
    sp_event_t *event = sp_event_parse(text, sizeof text - 1, NULL, &code,
                                       NULL, 0);
    CHECK(event != NULL);
    CHECK_STR(cJSON_GetStringValue(sp_event_lookup(event, "data.a")),
              "x\\u0000y");
    sp_event_destroy(&event);
}

TEST(escapes)
{
    static const char *const bad[] = {
        "\"\\ud800\"", "\"\\udc00\"", "\"\\udfff\"", "\"\\ud800x\"",
        "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"", "\"\\udc00\\ud800\"",
        "\"\\uzzzz\"", "\"\\u12\"", "\"\\u00e\"", "\"\\x41\"", "\"\\a\"",
        "\"\\U0041\"", "\"\\\"",
    };
    char data[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(data, sizeof data, "[%s]", bad[i]);
        CHECK(s_code_raw_data(data, NULL) == SP_E_JSON);
        snprintf(data, sizeof data, "{%s:1}", bad[i]);
        CHECK(s_code_raw_data(data, NULL) == SP_E_JSON);
    }
    static const char *const good[] = {
        "\"\\ud83d\\ude00\"", "\"\\udbff\\udfff\"", "\"\\u00E9\\u20ac\"",
        "\"\\b\\f\\n\\r\\t\\/\\\\\\\"\"", "\"\\u0001\"",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(data, sizeof data, "[%s]", good[i]);
        CHECK(s_code_raw_data(data, NULL) == SP_OK);
    }
}

TEST(utf8_in_names)
{
    static const char *const bad[] = {
        "\xC0\xAF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xED\xA0\x80",
        "\xF4\x90\x80\x80", "\xFF", "\x80", "\xC3",
    };
    char data[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(data, sizeof data, "{\"a%sb\":1}", bad[i]);
        CHECK(s_code_raw_data(data, NULL) == SP_E_UTF8);
        snprintf(data, sizeof data, "{\"a\":\"%s\"}", bad[i]);
        CHECK(s_code_raw_data(data, NULL) == SP_E_UTF8);
    }
    CHECK(s_code_raw_data("{\"caf\xC3\xA9\":\"\xE2\x82\xAC\"}", NULL) == SP_OK);
}

TEST(control_characters)
{
    /*  Raw in a string: not JSON (cJSON would take it).                 */
    CHECK(s_code_raw_data("[\"a\tb\"]", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("[\"a\nb\"]", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("{\"a\x1f\":1}", NULL) == SP_E_JSON);
    /*  Outside strings only space, tab, CR and LF are white space; cJSON
        would skip every byte up to 0x20.                                */
    CHECK(s_code_raw_data("[1,\f2]", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("[1,\v2]", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("[1,\x01" "2]", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("[1,\t\r\n 2]", NULL) == SP_OK);
}

TEST(trailing)
{
    char buf[1024];
    static const char *const bad[] = { " x", "}", "]", " {}", ",", "\f",
                                       "\v", "\x01", "0", "null", "\"\"" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", s_base, bad[i]);
        CHECK(s_code(buf) == SP_E_JSON);
    }
    snprintf(buf, sizeof buf, "%s \t\r\n", s_base);
    CHECK(s_code(buf) == SP_OK);
    CHECK(s_code("{} x") == SP_E_JSON);
    CHECK(s_code("\"x\" 1") == SP_E_JSON);
    CHECK(s_code("1 1") == SP_E_JSON);
    CHECK(s_code("nullx") == SP_E_JSON);
}

TEST(number_grammar)
{
    static const char *const bad[] = {
        "01", "-01", "00", "1.", "-.5", ".5", "+1", "1e", "1e+", "1.e5",
        "-", "--1", "1-", "1.5.5", "1e5.5", "0x10", "1E+-5", "- 1",
    };
    char data[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(data, sizeof data, "[%s]", bad[i]);
        CHECK(s_code_raw_data(data, NULL) == SP_E_JSON);
    }
    CHECK(s_code_raw_data("[0,-0,1.5e3,1E-5,1e+5,-0.0,10,0.5]", NULL)
          == SP_OK);
    /*  Integers are 64-bit, as jansson's were.                          */
    CHECK(s_code_raw_data("[9223372036854775807,-9223372036854775808]", NULL)
          == SP_OK);
    CHECK(s_code_raw_data("[9223372036854775808]", NULL) == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("[-9223372036854775809]", NULL) == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("[18446744073709551616]", NULL) == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("[1e309]", NULL) == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("[1e-400]", NULL) == SP_OK);
    /*  cJSON reads 63 characters of a number: a longer one is refused
        (jansson took a real that long).                                 */
    char longer[80];
    snprintf(longer, sizeof longer, "[0.%062d]", 1);
    CHECK(s_code_raw_data(longer, NULL) == SP_E_JSON_NUMBER);
    snprintf(longer, sizeof longer, "[0.%061d]", 1);
    CHECK(s_code_raw_data(longer, NULL) == SP_OK);
}

/*  jansson met errors in the order of the text, a token's own before
    the parser's about where the token stands.                          */
TEST(error_order)
{
    /*  An out-of-range number where no value may stand: jansson's lexer
        refused the number before its parser the place.                 */
    CHECK(s_code_raw_data("{\"a\":1 99999999999999999999}", NULL)
          == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("{99999999999999999999:1}", NULL)
          == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("{\"a\":1,-1e400:1}", NULL) == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("[1,2-1e400]", NULL) == SP_E_JSON_NUMBER);
    CHECK(s_code_raw_data("[1e400.5]", NULL) == SP_E_JSON_NUMBER);
    /*  ... but not one after the syntax error.                          */
    CHECK(s_code_raw_data("{y99999999999999999999:1}", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("{\"a\":1,}99999999999999999999", NULL)
          == SP_E_JSON);
    CHECK(s_code_raw_data("[{}x,1e400]", NULL) == SP_E_JSON);
    CHECK(s_code_raw_data("[1 x,\"\\u0000\"]", NULL) == SP_E_JSON);
    /*  And in otherwise valid JSON, of course.                          */
    CHECK(s_code_raw_data("{\"a\":1,\"b\":1e400}", NULL) == SP_E_JSON_NUMBER);
}

TEST(integers)
{
    static const char text[] =
        "{\"specversion\":\"1.0\",\"id\":\"1\","
        "\"source\":\"urn:nld:oin:00000001001234567000\","
        "\"type\":\"nl.x\",\"time\":\"2026-01-01T00:00:00Z\","
        "\"data\":{\"i\":2,\"r\":2.0,\"e\":1e2,\"n\":-0,"
        "\"big\":9007199254740993,\"max\":9223372036854775807,"
        "\"min\":-9223372036854775808,\"s\":\"2\"}}";
    sp_code_t code;
    sp_event_t *event = sp_event_parse(text, sizeof text - 1, NULL, &code,
                                       NULL, 0);
    CHECK(event != NULL);
    if (!event)
        return;
    CHECK(sp_json_is_integer(sp_event_lookup(event, "data.i")));
    CHECK(sp_json_integer(sp_event_lookup(event, "data.i")) == 2);
    CHECK(!sp_json_is_integer(sp_event_lookup(event, "data.r")));
    CHECK(cJSON_IsNumber(sp_event_lookup(event, "data.r")));
    CHECK(!sp_json_is_integer(sp_event_lookup(event, "data.e")));
    CHECK(sp_json_is_integer(sp_event_lookup(event, "data.n")));
    CHECK(sp_json_integer(sp_event_lookup(event, "data.n")) == 0);
    CHECK(sp_json_integer(sp_event_lookup(event, "data.big"))
          == 9007199254740993LL);
    CHECK(sp_json_integer(sp_event_lookup(event, "data.max")) == INT64_MAX);
    CHECK(sp_json_integer(sp_event_lookup(event, "data.min")) == INT64_MIN);
    CHECK(!sp_json_is_integer(sp_event_lookup(event, "data.s")));
    CHECK(!sp_json_is_integer(NULL));
    CHECK(sp_json_integer(sp_event_lookup(event, "data.r")) == 0);
    sp_event_destroy(&event);
}

TEST(nesting_limit)
{
    /*  cJSON stops at 1000 levels; the configuration allows up to 1024,
        so between the two an event is refused as too deep.              */
    sp_event_limits_t limits;
    sp_event_limits_default(&limits);
    limits.max_depth = 1024;
    for (size_t levels = 999; levels <= 1000; levels++) {
        char *inner = s_nested(levels, "[", "]");   /* data is depth 2 */
        CHECK(inner != NULL);
        CHECK(s_code_raw_data(inner, &limits)
              == (levels == 999 ? SP_OK : SP_E_JSON_DEPTH));
        free(inner);
    }
    /*  Refused as too deep also when it does not close.                 */
    char *open = s_nested(1200, "{\"a\":", "");
    CHECK(s_code_raw_data(open, &limits) == SP_E_JSON_DEPTH);
    free(open);
}

/*  sp_json_parse: the code of a document, limits 32 levels, 64 bytes.  */
static sp_code_t s_json_code(const char *text)
{
    sp_code_t code = SP_OK;
    char reason[256];
    cJSON *root = sp_json_parse(text, strlen(text), 32, 64, &code, reason,
                                sizeof reason);
    CHECK((root != NULL) == (code == SP_OK));
    CHECK(root != NULL || reason[0] != '\0');
    cJSON_Delete(root);
    return code;
}

TEST(json_parse)
{
    /*  Any root, not only a CloudEvent.                                 */
    CHECK(s_json_code("{\"v\":2,\"entries\":[{\"seq\":1}]}") == SP_OK);
    CHECK(s_json_code("[1,\"a\",null,true]") == SP_OK);
    CHECK(s_json_code("2") == SP_OK);
    CHECK(sp_json_parse("", 0, 32, 64, NULL, NULL, 0) == NULL);
    CHECK(sp_json_parse(NULL, 3, 32, 64, NULL, NULL, 0) == NULL);
    /*  Duplicates at every depth; siblings may share a name.            */
    CHECK(s_json_code("{\"a\":1,\"a\":1}") == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_json_code("{\"e\":[{\"s\":1},{\"s\":1,\"t\":2,\"s\":3}]}")
          == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_json_code("[[[{\"x\":{\"y\":1,\"y\":2}}]]]") == SP_E_JSON_DUPLICATE_KEY);
    CHECK(s_json_code("{\"e\":[{\"s\":1},{\"s\":1}],\"s\":{\"s\":1}}") == SP_OK);
    /*  Escaped NUL, NUL and bad UTF-8.                                  */
    CHECK(s_json_code("{\"a\":\"x\\u0000\"}") == SP_E_JSON);
    CHECK(s_json_code("{\"a\\u0000\":1}") == SP_E_JSON);
    CHECK(s_json_code("{\"a\":\"x\\\\u0000\"}") == SP_OK);
    CHECK(sp_json_parse("{\"a\":\"\0\"}", 8, 32, 64, NULL, NULL, 0) == NULL);
    sp_code_t code = SP_OK;
    CHECK(sp_json_parse("{\"a\":\"\0\"}", 8, 32, 64, &code, NULL, 0) == NULL
          && code == SP_E_UTF8);
    CHECK(s_json_code("{\"a\":\"\xC0\xAF\"}") == SP_E_UTF8);
    CHECK(s_json_code("{\"a\":\"\xED\xA0\x80\"}") == SP_E_UTF8);
    CHECK(s_json_code("{\"a\":\"\xC3\xA9\"}") == SP_OK);
    /*  Trailing data; white space after the value is fine.              */
    CHECK(s_json_code("{\"a\":1} x") == SP_E_JSON);
    CHECK(s_json_code("{\"a\":1}{}") == SP_E_JSON);
    CHECK(s_json_code("{\"a\":1} \n") == SP_OK);
    /*  Numbers and limits.                                              */
    CHECK(s_json_code("{\"a\":01}") == SP_E_JSON);
    CHECK(s_json_code("{\"a\":1.}") == SP_E_JSON);
    CHECK(s_json_code("{\"a\":9223372036854775808}") == SP_E_JSON_NUMBER);
    CHECK(s_json_code("{\"a\":1e400}") == SP_E_JSON_NUMBER);
    char text[128];
    snprintf(text, sizeof text, "{\"a\":\"%065d\"}", 0);
    CHECK(s_json_code(text) == SP_E_JSON_LIMIT);
    snprintf(text, sizeof text, "{\"a\":\"%064d\"}", 0);
    CHECK(s_json_code(text) == SP_OK);
    char *deep = s_nested(33, "[", "]");
    CHECK(deep && s_json_code(deep) == SP_E_JSON_DEPTH);
    free(deep);
    deep = s_nested(32, "[", "]");
    CHECK(deep && s_json_code(deep) == SP_OK);
    free(deep);
}

TEST(json_parse_integers)
{
    static const char text[] =
        "{\"seq\":7,\"r\":7.0,\"e\":7e0,\"big\":9007199254740993,"
        "\"max\":9223372036854775807,\"min\":-9223372036854775808,"
        "\"s\":\"7\",\"in\":[{\"prev\":6}]}";
    sp_code_t code;
    cJSON *root = sp_json_parse(text, sizeof text - 1, 32, 1024, &code, NULL, 0);
    CHECK(root != NULL && code == SP_OK);
    if (!root)
        return;
    CHECK(sp_json_is_integer(cJSON_GetObjectItemCaseSensitive(root, "seq")));
    CHECK(sp_json_integer(cJSON_GetObjectItemCaseSensitive(root, "seq")) == 7);
    CHECK(!sp_json_is_integer(cJSON_GetObjectItemCaseSensitive(root, "r")));
    CHECK(sp_json_integer(cJSON_GetObjectItemCaseSensitive(root, "r")) == 0);
    CHECK(!sp_json_is_integer(cJSON_GetObjectItemCaseSensitive(root, "e")));
    CHECK(sp_json_integer(cJSON_GetObjectItemCaseSensitive(root, "big"))
          == 9007199254740993LL);
    CHECK(sp_json_integer(cJSON_GetObjectItemCaseSensitive(root, "max")) == INT64_MAX);
    CHECK(sp_json_integer(cJSON_GetObjectItemCaseSensitive(root, "min")) == INT64_MIN);
    CHECK(!sp_json_is_integer(cJSON_GetObjectItemCaseSensitive(root, "s")));
    /*  Integers are marked inside arrays and nested objects too.       */
    cJSON *in = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "in"), 0);
    CHECK(sp_json_integer(cJSON_GetObjectItemCaseSensitive(in, "prev")) == 6);
    cJSON_Delete(root);
}

int main(void)
{
    RUN(code_names);
    RUN(examples_parse);
    RUN(valid_variants);
    RUN(too_large);
    RUN(utf8);
    RUN(json_syntax);
    RUN(not_object);
    RUN(depth);
    RUN(numbers);
    RUN(string_limits);
    RUN(duplicate_keys);
    RUN(attr_missing);
    RUN(attr_type);
    RUN(attr_name);
    RUN(attr_invalid);
    RUN(type_rules);
    RUN(specversion);
    RUN(source_rules);
    RUN(time_attr);
    RUN(rfc3339);
    RUN(time_format);
    RUN(lookup);
    RUN(duplicate_keys_at_depth);
    RUN(duplicate_keys_many);
    RUN(escaped_nul);
    RUN(escapes);
    RUN(utf8_in_names);
    RUN(control_characters);
    RUN(trailing);
    RUN(number_grammar);
    RUN(error_order);
    RUN(integers);
    RUN(nesting_limit);
    RUN(json_parse);
    RUN(json_parse_integers);
    TEST_EXIT();
}
