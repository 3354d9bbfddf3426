/*  test_flood.c - per-interval admission (daemon/flood.c): the first few
    events of an interval pass, the rest are counted with the first one's
    code and note, the aggregate is owed once the interval is over, and
    every event is in the total. Times are given, not read from a clock. */
#include <string.h>

#include "test.h"
#include "flood.h"

static const flood_policy_t s_policy = { 1000, 3 };

TEST(first_pass_rest_counted)
{
    flood_t f = { 0 };
    int passed = 0;
    for (int i = 0; i < 10; i++)
        passed += flood_admit(&f, &s_policy, 5000 + i, i == 3 ? "CODE3" : "CODE",
                              i == 3 ? "the fourth" : "later");
    CHECK(passed == 3);
    CHECK(f.suppressed == 7);
    CHECK(f.total == 10);
    CHECK_STR(f.first_code, "CODE3");
    CHECK_STR(f.first_note, "the fourth");
}

TEST(owed_only_after_the_interval)
{
    flood_t f = { 0 };
    for (int i = 0; i < 5; i++)
        flood_admit(&f, &s_policy, 5100, "C", "n");
    CHECK(!flood_owed(&f, &s_policy, 5999));
    CHECK(flood_wait_ms(&f, &s_policy, 5100) == 900);
    CHECK(flood_owed(&f, &s_policy, 6000));
    CHECK(flood_wait_ms(&f, &s_policy, 6000) == 0);
    flood_roll(&f, &s_policy, 6000);
    CHECK(!flood_owed(&f, &s_policy, 9000));
    CHECK(flood_wait_ms(&f, &s_policy, 9000) == -1);
    CHECK(f.suppressed == 0 && f.admitted == 0 && f.first_code[0] == '\0');
    CHECK(f.total == 5);
}

TEST(nothing_owed_without_suppression)
{
    flood_t f = { 0 };
    for (int i = 0; i < 3; i++)
        CHECK(flood_admit(&f, &s_policy, 5000, "C", "n"));
    CHECK(!flood_owed(&f, &s_policy, 7000));
    CHECK(flood_wait_ms(&f, &s_policy, 5000) == -1);
    /* a new interval lets the next ones pass again */
    CHECK(flood_admit(&f, &s_policy, 7000, "C", "n"));
    CHECK(f.admitted == 1 && f.total == 4);
}

TEST(long_note_cut)
{
    flood_t f = { 0 };
    char note[FLOOD_NOTE_MAX * 2];
    memset(note, 'x', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    for (int i = 0; i < 4; i++)
        flood_admit(&f, &s_policy, 0, NULL, note);
    CHECK(strlen(f.first_note) == FLOOD_NOTE_MAX - 1);
    CHECK_STR(f.first_code, "");
}

int main(void)
{
    RUN(first_pass_rest_counted);
    RUN(owed_only_after_the_interval);
    RUN(nothing_owed_without_suppression);
    RUN(long_note_cut);
    TEST_EXIT();
}
