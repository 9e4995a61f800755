/* A minimal test harness for the C suite: CHECK counts assertions, each test runs
 * under a name, and the run ends with "N passed, M failed". */
#ifndef SOCHDB_CHECK_H
#define SOCHDB_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sochdb.h"

static atomic_int check_passed;
static atomic_int check_failed;
static const char *check_test = "?";

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            atomic_fetch_add(&check_passed, 1);                                      \
        } else {                                                                     \
            atomic_fetch_add(&check_failed, 1);                                      \
            fprintf(stderr, "FAIL %s (%s:%d): %s\n", check_test, __FILE__, __LINE__, \
                    #cond);                                                          \
        }                                                                            \
    } while (0)

/* Checks a status; on mismatch prints both names and the error message. */
#define CHECK_ST(expr, want)                                                         \
    do {                                                                             \
        sochdb_status check_got_ = (expr);                                           \
        if (check_got_ == (want)) {                                                  \
            atomic_fetch_add(&check_passed, 1);                                      \
        } else {                                                                     \
            atomic_fetch_add(&check_failed, 1);                                      \
            fprintf(stderr, "FAIL %s (%s:%d): %s -> %s, want %s (%s)\n", check_test, \
                    __FILE__, __LINE__, #expr, sochdb_status_str(check_got_),        \
                    sochdb_status_str(want), sochdb_last_error_message());           \
        }                                                                            \
    } while (0)

#define RUN(fn)                          \
    do {                                 \
        check_test = #fn;                \
        int before_ = check_failed;      \
        fn();                            \
        if (check_failed != before_)     \
            fprintf(stderr, "  in %s\n", #fn); \
    } while (0)

static int check_report(void) {
    printf("%d passed, %d failed\n", (int)check_passed, (int)check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif
