/* test_dtype.c — the dtype table in dtype.h against facts computed another way: sizeof, the
 * C type's own arithmetic (its range, its mantissa, its smallest normal), the promotion order
 * README.md states, and the names and aliases tide_dtype_parse promises. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "tensor/dtype.h"
#include "tensor/half.h"

/* Bits of precision by experiment: 2^n + 1 is held exactly up to n = digits - 1. */
#define FLOAT_DIGITS(T, out)                                        \
    do {                                                            \
        int n_ = 0;                                                 \
        volatile T p_ = 1;                                          \
        while ((T)(p_ + 1) - p_ == 1) {                             \
            p_ *= 2;                                                \
            n_++;                                                   \
        }                                                           \
        (out) = n_;                                                 \
    } while (0)

/* The smallest normal by halving 1 until the next half is subnormal. */
#define FLOAT_TMIN(T, out)                                          \
    do {                                                            \
        volatile T x_ = 1;                                          \
        while (fpclassify((T)(x_ / 2)) == FP_NORMAL)                \
            x_ /= 2;                                                \
        (out) = (double)x_;                                         \
    } while (0)

static void test_columns(void)
{
#define ROW(E, n, T, is_float, rank, digits, tmin, lo, hi, npy, mpi, a1, a2)                  \
    do {                                                                                      \
        tide_dtype dt = E;                                                                    \
        CHECK(tide_dtype_valid((int)dt));                                                     \
        CHECK(tide_dtype_size(dt) == sizeof(T));                                              \
        CHECK(strcmp(tide_dtype_name(dt), #n) == 0);                                          \
        /* only a float holds a half; a storage float keeps bits in an integer ctype */       \
        CHECK(tide_dtype_is_float(dt) == ((T)0.5 != 0 || tide_dtype_is_storage(dt)));         \
        const char *d = tide_dtype_npy(dt);                                                   \
        CHECK(!*d || (d[2] - '0' == (int)sizeof(T) && d[3] == 0));                            \
        tide_dtype got;                                                                       \
        CHECK_OK(tide_dtype_parse(#n, &got));                                                 \
        CHECK(got == dt);                                                                     \
        CHECK_OK(tide_dtype_parse(a1, &got));                                                 \
        CHECK(got == dt);                                                                     \
        CHECK_OK(tide_dtype_parse(a2, &got));                                                 \
        CHECK(got == dt);                                                                     \
    } while (0);
    TIDE_DTYPE_TABLE(ROW)
#undef ROW
#define FLOAT_ROW(E, n, T)                                                                    \
    do {                                                                                      \
        int bits = 0;                                                                         \
        double small = 0;                                                                     \
        int64_t l = 0, h = 0;                                                                 \
        FLOAT_DIGITS(T, bits);                                                                \
        FLOAT_TMIN(T, small);                                                                 \
        tide_dtype_exact_range(E, &l, &h);                                                    \
        CHECK(tide_dtype_digits(E) == bits && TIDE_DTYPE_COL(n, digits) == bits);             \
        CHECK(l == -h && (double)h == ldexp(1.0, bits));                                      \
        CHECK((double)TIDE_DTYPE_COL(n, tmin) == small);                                      \
        CHECK(tide_dtype_npy(E)[1] == 'f');                                                   \
    } while (0);
    TIDE_FOREACH_FLOAT_DTYPE(FLOAT_ROW)
#undef FLOAT_ROW
#define INT_ROW(E, n, T)                                                                      \
    do {                                                                                      \
        int64_t l = 0, h = 0;                                                                 \
        tide_dtype_exact_range(E, &l, &h);                                                    \
        int is_signed = (T)-1 < (T)0;                                                         \
        /* every value bit set is the largest value; the bottom is -h - 1 or 0 */             \
        CHECK(tide_dtype_digits(E) == (int)(8 * sizeof(T)) - is_signed);                      \
        CHECK(h == (int64_t)(T)(~(uint64_t)0 >> (64 - tide_dtype_digits(E))));                \
        CHECK(l == (is_signed ? -h - 1 : 0));                                                 \
        CHECK(TIDE_DTYPE_COL(n, tmin) == 0 && TIDE_DTYPE_COL(n, lo) == l);                    \
        CHECK(tide_dtype_npy(E)[1] == (is_signed ? 'i' : 'u'));                               \
    } while (0);
    TIDE_FOREACH_INT_DTYPE(INT_ROW)
#undef INT_ROW
    int rows = 0;
#define COUNT(E, n, T) rows++;
    TIDE_FOREACH_DTYPE(COUNT)
#undef COUNT
    CHECK(rows + 2 == TIDE_NDTYPES);            /* and the two storage dtypes, f16 and bf16 */
    CHECK(tide_dtype_is_storage(TIDE_F16) && tide_dtype_is_storage(TIDE_BF16));
    CHECK(!tide_dtype_is_storage(TIDE_F32) && tide_dtype_digits(TIDE_F16) == 11);
    CHECK(strcmp(tide_dtype_npy(TIDE_F16), "<f2") == 0 && !*tide_dtype_npy(TIDE_BF16));
    CHECK(!tide_dtype_valid(TIDE_NDTYPES) && !tide_dtype_valid(-1));
    CHECK(strcmp(tide_dtype_name((tide_dtype)TIDE_NDTYPES), "?") == 0);
}

static void test_names(void)
{
    /* the aliases README.md and dtype.h promise */
    static const struct { const char *name; tide_dtype dt; } names[] = {
        {"float", TIDE_F32}, {"double", TIDE_F64}, {"int", TIDE_I32}, {"long", TIDE_I64},
        {"byte", TIDE_U8}, {"float32", TIDE_F32}, {"float64", TIDE_F64}, {"int32", TIDE_I32},
        {"int64", TIDE_I64}, {"uint8", TIDE_U8},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tide_dtype got;
        CHECK_OK(tide_dtype_parse(names[i].name, &got));
        CHECK(got == names[i].dt);
    }
    tide_dtype got;
    CHECK_FAILS(tide_dtype_parse("f8", &got),
                "unknown dtype 'f8' (expected f32, f64, i32, i64, u8, f16 or bf16)");
    CHECK_FAILS(tide_dtype_parse("", &got), "unknown dtype ''");
    CHECK(strcmp(tide_dtype_npy(TIDE_F32), "<f4") == 0);
    CHECK(strcmp(tide_dtype_npy(TIDE_U8), "|u1") == 0);
}

static void test_promotion(void)
{
    /* README.md's order, low to high: u8 < i32 < i64 < f32 < f64 */
    static const tide_dtype order[] = {TIDE_U8, TIDE_I32, TIDE_I64, TIDE_F32, TIDE_F64};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            CHECK(tide_dtype_promote(order[i], order[j]) == order[i > j ? i : j]);
}

static void test_index_dtypes(void)
{
    /* an index is an integer wide enough to count rows: 32 bits or more */
#define IDX(E, n, T) \
    CHECK(tide_dtype_is_index(E) == (!tide_dtype_is_float(E) && sizeof(T) >= 4));
    TIDE_FOREACH_DTYPE(IDX)
#undef IDX
}

int main(void)
{
    test_columns();
    test_names();
    test_promotion();
    test_index_dtypes();
    return check_report("test_dtype");
}
