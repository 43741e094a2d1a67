/* dtype.c — names, sizes and promotion of the element types. */
#include "tensor/dtype.h"

#include <string.h>

size_t tide_dtype_size(tide_dtype dt)
{
    switch (dt) {
#define SIZE_CASE(E, n, T) case E: return sizeof(T);
        TIDE_FOREACH_DTYPE(SIZE_CASE)
#undef SIZE_CASE
    }
    return 0;
}

const char *tide_dtype_name(tide_dtype dt)
{
    switch (dt) {
#define NAME_CASE(E, n, T) case E: return #n;
        TIDE_FOREACH_DTYPE(NAME_CASE)
#undef NAME_CASE
    }
    return "?";
}

int tide_dtype_is_float(tide_dtype dt)
{
    return dt == TIDE_F32 || dt == TIDE_F64;
}

int tide_dtype_valid(int dt)
{
    return dt >= 0 && dt < TIDE_NDTYPES;
}

tide_status tide_dtype_parse(const char *name, tide_dtype *out)
{
    static const struct { const char *name; tide_dtype dt; } names[] = {
        {"f32", TIDE_F32}, {"f64", TIDE_F64}, {"i32", TIDE_I32}, {"i64", TIDE_I64}, {"u8", TIDE_U8},
        {"float", TIDE_F32}, {"double", TIDE_F64}, {"int", TIDE_I32}, {"long", TIDE_I64},
        {"byte", TIDE_U8}, {"float32", TIDE_F32}, {"float64", TIDE_F64}, {"int32", TIDE_I32},
        {"int64", TIDE_I64}, {"uint8", TIDE_U8},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].dt;
            return TIDE_OK;
        }
    return tide_fail("unknown dtype '%s' (expected f32, f64, i32, i64 or u8)", name);
}

/* Rank of each dtype in the promotion order u8 < i32 < i64 < f32 < f64. */
static int promotion_rank(tide_dtype dt)
{
    switch (dt) {
    case TIDE_U8: return 0;
    case TIDE_I32: return 1;
    case TIDE_I64: return 2;
    case TIDE_F32: return 3;
    case TIDE_F64: return 4;
    }
    return 0;
}

tide_dtype tide_dtype_promote(tide_dtype a, tide_dtype b)
{
    return promotion_rank(a) >= promotion_rank(b) ? a : b;
}
