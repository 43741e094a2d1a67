/* check.h — the few assertions the C tests need; a failed check prints and counts. */
#ifndef TIDE_TEST_CHECK_H
#define TIDE_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "tensor/tide_error.h"

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                \
    do {                                                                           \
        check_count++;                                                             \
        if (!(cond)) {                                                             \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

#define CHECK_OK(expr)                                                             \
    do {                                                                           \
        check_count++;                                                             \
        if ((expr) != TIDE_OK) {                                                   \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,   \
                    tide_error());                                                 \
        }                                                                          \
    } while (0)

/* expr must fail with a message containing text. */
#define CHECK_FAILS(expr, text)                                                    \
    do {                                                                           \
        check_count++;                                                             \
        if ((expr) == TIDE_OK || !strstr(tide_error(), text)) {                    \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: expected %s to fail with \"%s\", got \"%s\"\n", \
                    __FILE__, __LINE__, #expr, text, tide_error());                \
        }                                                                          \
    } while (0)

static inline int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
