/* dtype.h — the five element types and the one X-macro list every kernel expands.
 *
 * A kernel written once as a macro over (ENUM, name, ctype) is instantiated for every dtype by
 * TIDE_FOREACH_DTYPE, as Torch7's generic/ files do, instead of five hand-copied loops. */
#ifndef TIDE_DTYPE_H
#define TIDE_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tide_error.h"

typedef enum { TIDE_F32, TIDE_F64, TIDE_I32, TIDE_I64, TIDE_U8 } tide_dtype;

#define TIDE_NDTYPES 5

/* X(ENUM, name, ctype) for each dtype, floating types first. */
#define TIDE_FOREACH_DTYPE(X) \
    X(TIDE_F32, f32, float)   \
    X(TIDE_F64, f64, double)  \
    X(TIDE_I32, i32, int32_t) \
    X(TIDE_I64, i64, int64_t) \
    X(TIDE_U8, u8, uint8_t)

/* The same list again, for a dispatch nested inside another (the preprocessor will not expand
 * a macro inside its own expansion). */
#define TIDE_FOREACH_DTYPE2(X) \
    X(TIDE_F32, f32, float)   \
    X(TIDE_F64, f64, double)  \
    X(TIDE_I32, i32, int32_t) \
    X(TIDE_I64, i64, int64_t) \
    X(TIDE_U8, u8, uint8_t)

size_t tide_dtype_size(tide_dtype dt);
const char *tide_dtype_name(tide_dtype dt);       /* "f32" ... */
int tide_dtype_is_float(tide_dtype dt);
int tide_dtype_valid(int dt);

/* Parses "f32", "f64", "i32", "i64", "u8" (also "float", "double", "int", "long", "byte"). */
tide_status tide_dtype_parse(const char *name, tide_dtype *out);

/* The dtype of a binary arithmetic result: the wider float, else the wider integer. */
tide_dtype tide_dtype_promote(tide_dtype a, tide_dtype b);

#endif
