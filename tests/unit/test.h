/*  test.h - a minimal unit-test harness.

    Each test file defines TEST(name) functions and lists them in main()
    with RUN(name). CHECK() records a failure with file and line and goes
    on; the program prints one line per test and exits non-zero when any
    failed. tests/run counts the "ok"/"FAIL" lines.
*/
#ifndef TEST_H_INCLUDED
#define TEST_H_INCLUDED

#include <stdio.h>
#include <string.h>

static int test_failures_total;
static int test_failures_current;

#define TEST(name) static void test_##name(void)

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        test_failures_current++; \
    } \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *check_a_ = (a), *check_b_ = (b); \
    if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) { \
        fprintf(stderr, "  %s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", \
                __FILE__, __LINE__, check_a_ ? check_a_ : "(null)", \
                check_b_ ? check_b_ : "(null)"); \
        test_failures_current++; \
    } \
} while (0)

#define RUN(name) do { \
    test_failures_current = 0; \
    test_##name(); \
    printf("%s %s\n", test_failures_current ? "FAIL" : "ok", #name); \
    fflush(stdout); \
    if (test_failures_current) test_failures_total++; \
} while (0)

#define TEST_EXIT() return test_failures_total ? 1 : 0

#endif
