/*  test_filter.c - subscription filters. Subscriptions are built by hand
    so that these tests do not depend on the YAML loader.                */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "filter.h"

#define TYPE "nl.gemeente.burgerzaken.geen-dubbele-bewoning"
#define SOURCE "urn:nld:oin:00000001001234567000:systeem:burgerzaken"

static const char s_event_text[] =
    "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"" SOURCE "\","
    "\"type\":\"" TYPE "\",\"time\":\"2026-11-23T09:15:00Z\","
    "\"subject\":\"999993653\",\"priority\":3,"
    "\"data\":{\"gemeentecode\":\"0855\","
    "\"nummeraanduidingIdentificatie\":\"0855200000123456\","
    "\"adres\":{\"postcode\":\"1234AB\",\"huisnummer\":12},"
    "\"n\":42,\"neg\":-7,\"r\":1.5,\"tenth\":0.1,\"two\":2.0,"
    "\"big\":1e300,\"small\":1.5e-7,\"hundred\":100.0,"
    "\"yes\":true,\"no\":false,\"none\":null,\"list\":[\"0855\"],"
    "\"obj\":{},\"empty\":\"\"}}";

static sp_event_t *s_event(void)
{
    sp_code_t code;
    char reason[256];
    sp_event_t *event = sp_event_parse(s_event_text, sizeof s_event_text - 1,
                                       NULL, &code, reason, sizeof reason);
    if (!event)
        fprintf(stderr, "  fixture rejected: %s\n", reason);
    return event;
}

/*  One subscription on TYPE with one condition. */
static bool s_match1(const sp_event_t *event, const char *path,
                     filter_op_t op, const char *const *values, size_t count)
{
    filter_cond_t cond = {
        .path = (char *) path, .op = op,
        .values = (char **) values, .value_count = count, .line = 1
    };
    subscription_t sub = {
        .name = (char *) "s", .type = (char *) TYPE,
        .conds = &cond, .cond_count = 1
    };
    return filter_match(&sub, event);
}

static bool s_exact(const sp_event_t *event, const char *path,
                    const char *value)
{
    const char *values[] = { value };
    return s_match1(event, path, FILTER_EXACT, values, 1);
}

static bool s_prefix(const sp_event_t *event, const char *path,
                     const char *value)
{
    const char *values[] = { value };
    return s_match1(event, path, FILTER_PREFIX, values, 1);
}

TEST(type_only)
{
    sp_event_t *event = s_event();
    CHECK(event != NULL);
    subscription_t sub = { .name = (char *) "s", .type = (char *) TYPE };
    CHECK(filter_match(&sub, event));
    sub.type = (char *) "nl.gemeente.burgerzaken.adresonderzoek-gestart";
    CHECK(!filter_match(&sub, event));
    sub.type = (char *) "nl.gemeente.burgerzaken";
    CHECK(!filter_match(&sub, event));
    sub.type = NULL;
    CHECK(!filter_match(&sub, event));
    sub.type = (char *) TYPE;
    CHECK(!filter_match(NULL, event));
    CHECK(!filter_match(&sub, NULL));
    sub.cond_count = 1;             /* count without conditions */
    CHECK(!filter_match(&sub, event));
    sp_event_destroy(&event);
}

TEST(exact)
{
    sp_event_t *event = s_event();
    CHECK(event != NULL);
    CHECK(s_exact(event, "data.gemeentecode", "0855"));
    CHECK(!s_exact(event, "data.gemeentecode", "0856"));
    CHECK(!s_exact(event, "data.gemeentecode", "085"));
    CHECK(!s_exact(event, "data.gemeentecode", "08555"));
    CHECK(!s_exact(event, "data.gemeentecode", "855"));
    CHECK(s_exact(event, "source", SOURCE));
    CHECK(!s_exact(event, "source", "urn:nld:oin:00000001001234567000"));
    CHECK(s_exact(event, "subject", "999993653"));
    CHECK(s_exact(event, "type", TYPE));
    CHECK(s_exact(event, "id", "e1"));
    CHECK(s_exact(event, "data.adres.postcode", "1234AB"));
    CHECK(!s_exact(event, "data.adres.postcode", "1234ab"));
    CHECK(s_exact(event, "data.empty", ""));
    CHECK(!s_exact(event, "data.gemeentecode", ""));
    CHECK(!s_exact(event, "data.gemeentecode", NULL));
    sp_event_destroy(&event);
}

TEST(prefix)
{
    sp_event_t *event = s_event();
    CHECK(event != NULL);
    CHECK(s_prefix(event, "data.nummeraanduidingIdentificatie", "0855"));
    CHECK(s_prefix(event, "data.nummeraanduidingIdentificatie",
                   "0855200000123456"));
    CHECK(!s_prefix(event, "data.nummeraanduidingIdentificatie",
                    "08552000001234567"));
    CHECK(!s_prefix(event, "data.nummeraanduidingIdentificatie", "0363"));
    CHECK(!s_prefix(event, "data.nummeraanduidingIdentificatie", "855"));
    CHECK(s_prefix(event, "source", "urn:nld:oin:00000001001234567000"));
    CHECK(!s_prefix(event, "source", "urn:nld:oin:00000001009999999000"));
    CHECK(s_prefix(event, "data.gemeentecode", ""));
    CHECK(!s_prefix(event, "data.missing", ""));
    CHECK(s_prefix(event, "data.n", "4"));
    CHECK(!s_prefix(event, "data.n", "5"));
    sp_event_destroy(&event);
}

TEST(any_of)
{
    sp_event_t *event = s_event();
    CHECK(event != NULL);
    const char *codes[] = { "0363", "0855", "0518" };
    CHECK(s_match1(event, "data.gemeentecode", FILTER_ANY_OF, codes, 3));
    CHECK(s_match1(event, "data.gemeentecode", FILTER_ANY_OF, codes + 1, 1));
    CHECK(!s_match1(event, "data.gemeentecode", FILTER_ANY_OF, codes, 1));
    CHECK(!s_match1(event, "data.gemeentecode", FILTER_ANY_OF, codes, 0));
    const char *others[] = { "0363", "0518", "085" };
    CHECK(!s_match1(event, "data.gemeentecode", FILTER_ANY_OF, others, 3));
    const char *with_null[] = { NULL, "0855" };
    CHECK(s_match1(event, "data.gemeentecode", FILTER_ANY_OF, with_null, 2));
    const char *bools[] = { "false", "true" };
    CHECK(s_match1(event, "data.yes", FILTER_ANY_OF, bools, 2));
    CHECK(s_match1(event, "data.no", FILTER_ANY_OF, bools, 2));
    const char *nums[] = { "41", "42", "43" };
    CHECK(s_match1(event, "data.n", FILTER_ANY_OF, nums, 3));
    CHECK(!s_match1(event, "data.neg", FILTER_ANY_OF, nums, 3));
    sp_event_destroy(&event);
}

TEST(numbers_and_booleans)
{
    sp_event_t *event = s_event();
    CHECK(event != NULL);
    CHECK(s_exact(event, "data.n", "42"));
    CHECK(!s_exact(event, "data.n", "42.0"));
    CHECK(!s_exact(event, "data.n", "\"42\""));
    CHECK(s_exact(event, "data.neg", "-7"));
    CHECK(s_exact(event, "data.adres.huisnummer", "12"));
    CHECK(s_exact(event, "data.r", "1.5"));
    CHECK(s_exact(event, "data.tenth", "0.1"));
    CHECK(!s_exact(event, "data.tenth", "0.10000000000000001"));
    CHECK(s_exact(event, "data.two", "2.0"));
    CHECK(!s_exact(event, "data.two", "2"));
    CHECK(s_exact(event, "data.big", "1e300"));
    CHECK(s_exact(event, "data.small", "1.5e-7"));
    CHECK(s_exact(event, "data.hundred", "100.0"));
    CHECK(s_exact(event, "priority", "3"));
    CHECK(s_exact(event, "data.yes", "true"));
    CHECK(!s_exact(event, "data.yes", "false"));
    CHECK(!s_exact(event, "data.yes", "1"));
    CHECK(s_exact(event, "data.no", "false"));
    CHECK(!s_exact(event, "data.no", "true"));
    CHECK(!s_exact(event, "data.no", ""));
    sp_event_destroy(&event);
}

/*  cJSON keeps numbers as doubles; integers of the JSON text still
    compare as the exact 64-bit integer, reals as reals.                 */
TEST(integers_exact)
{
    static const char text[] =
        "{\"specversion\":\"1.0\",\"id\":\"e2\",\"source\":\"" SOURCE "\","
        "\"type\":\"" TYPE "\",\"time\":\"2026-11-23T09:15:00Z\","
        "\"data\":{\"p53\":9007199254740993,\"n53\":-9007199254740993,"
        "\"max\":9223372036854775807,\"min\":-9223372036854775808,"
        "\"zero\":-0,\"e\":1e2,\"E\":1E2,\"frac\":100.50,"
        "\"r53\":9007199254740993.0}}";
    sp_code_t code;
    sp_event_t *event = sp_event_parse(text, sizeof text - 1, NULL, &code,
                                       NULL, 0);
    CHECK(event != NULL);
    if (!event)
        return;
    CHECK(s_exact(event, "data.p53", "9007199254740993"));
    CHECK(!s_exact(event, "data.p53", "9007199254740992"));
    CHECK(s_exact(event, "data.n53", "-9007199254740993"));
    CHECK(s_exact(event, "data.max", "9223372036854775807"));
    CHECK(s_exact(event, "data.min", "-9223372036854775808"));
    CHECK(s_prefix(event, "data.max", "922337203685477580"));
    CHECK(s_exact(event, "data.zero", "0"));
    CHECK(s_exact(event, "data.e", "100.0"));
    CHECK(!s_exact(event, "data.e", "100"));
    CHECK(s_exact(event, "data.E", "100.0"));
    CHECK(s_exact(event, "data.frac", "100.5"));
    /*  A real is a double: the nearest one to 2^53 + 1 is 2^53.         */
    CHECK(s_exact(event, "data.r53", "9007199254740992.0"));
    sp_event_destroy(&event);
}

TEST(never_matches)
{
    sp_event_t *event = s_event();
    CHECK(event != NULL);
    CHECK(!s_exact(event, "data.none", "null"));
    CHECK(!s_prefix(event, "data.none", ""));
    CHECK(!s_exact(event, "data.list", "[\"0855\"]"));
    CHECK(!s_prefix(event, "data.list", ""));
    CHECK(!s_exact(event, "data.obj", "{}"));
    CHECK(!s_prefix(event, "data.adres", ""));
    CHECK(!s_exact(event, "data", "{}"));
    CHECK(!s_exact(event, "data.missing", "0855"));
    CHECK(!s_exact(event, "data.gemeentecode.x", "0855"));
    CHECK(!s_exact(event, "dataref", ""));
    CHECK(!s_exact(event, NULL, "0855"));
    const char *values[] = { "0855" };
    CHECK(!s_match1(event, "data.gemeentecode", FILTER_EXACT, values, 0));
    CHECK(!s_match1(event, "data.gemeentecode", FILTER_EXACT, NULL, 1));
    CHECK(!s_match1(event, "data.gemeentecode", (filter_op_t) 99, values, 1));
    sp_event_destroy(&event);
}

TEST(all_conditions)
{
    sp_event_t *event = s_event();
    CHECK(event != NULL);
    char *gemeente[] = { (char *) "0855" };
    char *sources[] = { (char *) "urn:nld:oin:00000001001234567000" };
    char *yes[] = { (char *) "true" };
    filter_cond_t conds[] = {
        { .path = (char *) "data.gemeentecode", .op = FILTER_EXACT,
          .values = gemeente, .value_count = 1 },
        { .path = (char *) "source", .op = FILTER_PREFIX,
          .values = sources, .value_count = 1 },
        { .path = (char *) "data.yes", .op = FILTER_ANY_OF,
          .values = yes, .value_count = 1 },
    };
    subscription_t sub = { .name = (char *) "s", .type = (char *) TYPE,
                           .conds = conds, .cond_count = 3 };
    CHECK(filter_match(&sub, event));
    yes[0] = (char *) "false";
    CHECK(!filter_match(&sub, event));
    sub.cond_count = 2;
    CHECK(filter_match(&sub, event));
    gemeente[0] = (char *) "0363";
    CHECK(!filter_match(&sub, event));
    sp_event_destroy(&event);
}

TEST(op_names)
{
    CHECK_STR(filter_op_name(FILTER_EXACT), "exact");
    CHECK_STR(filter_op_name(FILTER_PREFIX), "prefix");
    CHECK_STR(filter_op_name(FILTER_ANY_OF), "any_of");
    CHECK_STR(filter_op_name((filter_op_t) 42), "unknown");
}

int main(void)
{
    RUN(type_only);
    RUN(exact);
    RUN(prefix);
    RUN(any_of);
    RUN(numbers_and_booleans);
    RUN(integers_exact);
    RUN(never_matches);
    RUN(all_conditions);
    RUN(op_names);
    TEST_EXIT();
}
