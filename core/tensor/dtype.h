/* dtype.h — the element types: one table row per dtype, and the X-macro lists kernels expand.
 *
 * Every fact about a dtype (its C type, name, .npy descriptor, MPI datatype, exact integer range,
 * precision, smallest normal, float or not, promotion rank, accepted aliases) is written once, in
 * its TIDE_DT_<name> row below; dtype.c, io/npy.c and comm/comm.c derive what they need from the
 * rows, and a kernel reads a column at compile time with TIDE_DTYPE_COL. A kernel written once
 * as a macro over (ENUM, name, ctype) is instantiated for every dtype by TIDE_FOREACH_DTYPE (or
 * for the float, integer or index ones only), as Torch7's generic/ files do, instead of
 * hand-copied loops. Adding a dtype: a row, its place in TIDE_DTYPE_TABLE (which orders the
 * enum), and the lists below it belongs to. */
#ifndef TIDE_DTYPE_H
#define TIDE_DTYPE_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/tide_error.h"

/* A row: ENUM, name, ctype, is_float, rank, digits, tmin, lo, hi, npy, MPI, alias, alias.
 * - rank: the promotion order (the higher rank wins; spaced so a new dtype fits between).
 * - digits: bits of precision (a float's mantissa with its hidden bit; an integer's value bits).
 * - tmin: a float's smallest normal (kernels flush values below it to zero); 0 for integers.
 * - lo..hi: the integers the dtype holds exactly (every one of them, for a float).
 * - npy: the numpy descriptor written to .npy files.
 * - MPI: a token that only comm/ (which includes mpi.h) ever expands; tensor/ never touches it.
 * - aliases: other names tide_dtype_parse accepts. */
#define TIDE_DT_f32 TIDE_F32, f32, float, 1, 40, 24, FLT_MIN, -(INT64_C(1) << 24), \
    INT64_C(1) << 24, "<f4", MPI_FLOAT, "float", "float32"
#define TIDE_DT_f64 TIDE_F64, f64, double, 1, 50, 53, DBL_MIN, -(INT64_C(1) << 53), \
    INT64_C(1) << 53, "<f8", MPI_DOUBLE, "double", "float64"
#define TIDE_DT_i32 TIDE_I32, i32, int32_t, 0, 20, 31, 0, INT32_MIN, INT32_MAX, \
    "<i4", MPI_INT32_T, "int", "int32"
#define TIDE_DT_i64 TIDE_I64, i64, int64_t, 0, 30, 63, 0, INT64_MIN, INT64_MAX, \
    "<i8", MPI_INT64_T, "long", "int64"
#define TIDE_DT_u8 TIDE_U8, u8, uint8_t, 0, 10, 8, 0, 0, UINT8_MAX, \
    "|u1", MPI_UINT8_T, "byte", "uint8"
/* The storage dtypes: 16-bit floats kept as their bit patterns (uint16_t) and converted by
 * tensor/half.h. Kernels do not compute on them (they are in no TIDE_FOREACH_*_DTYPE list);
 * copy, casts, get/set, files and collectives move them. bf16 has no numpy dtype: its npy
 * column is empty and .npy refuses it. */
#define TIDE_DT_f16 TIDE_F16, f16, uint16_t, 1, 34, 11, 0x1p-14, -(INT64_C(1) << 11), \
    INT64_C(1) << 11, "<f2", MPI_UINT16_T, "half", "float16"
#define TIDE_DT_bf16 TIDE_BF16, bf16, uint16_t, 1, 32, 8, FLT_MIN, -(INT64_C(1) << 8), \
    INT64_C(1) << 8, "", MPI_UINT16_T, "bfloat16", "bfloat16"

/* X(ENUM, name, ctype, is_float, rank, digits, tmin, lo, hi, npy, mpi, alias1, alias2) for every
 * dtype, in enum order (the computing floats first, the storage dtypes last). */
#define TIDE_DTYPE_TABLE(X) \
    TIDE_DT_ALL(X, TIDE_DT_f32) TIDE_DT_ALL(X, TIDE_DT_f64) TIDE_DT_ALL(X, TIDE_DT_i32) \
    TIDE_DT_ALL(X, TIDE_DT_i64) TIDE_DT_ALL(X, TIDE_DT_u8) TIDE_DT_ALL(X, TIDE_DT_f16) \
    TIDE_DT_ALL(X, TIDE_DT_bf16)

/* X(ENUM, name, ctype) for each dtype the kernels compute on, floating types first. */
#define TIDE_FOREACH_DTYPE(X) \
    TIDE_DT_3(X, TIDE_DT_f32) TIDE_DT_3(X, TIDE_DT_f64) TIDE_DT_3(X, TIDE_DT_i32) \
    TIDE_DT_3(X, TIDE_DT_i64) TIDE_DT_3(X, TIDE_DT_u8)

/* The same list again, for a dispatch nested inside another (the preprocessor will not expand
 * a macro inside its own expansion). */
#define TIDE_FOREACH_DTYPE2(X) \
    TIDE_DT_3B(X, TIDE_DT_f32) TIDE_DT_3B(X, TIDE_DT_f64) TIDE_DT_3B(X, TIDE_DT_i32) \
    TIDE_DT_3B(X, TIDE_DT_i64) TIDE_DT_3B(X, TIDE_DT_u8)

/* The case labels of the storage dtypes, for a kernel's switch over the lists above: kernels
 * never see them (the bindings refuse a storage dtype before any kernel, and comm/ refuses to
 * reduce one), the labels only keep -Wswitch honest about it. */
#define TIDE_STORAGE_DTYPE_CASES case TIDE_F16: case TIDE_BF16:

/* X(ENUM, name, ctype) for the floating and for the integer dtypes the kernels compute on. */
#define TIDE_FOREACH_FLOAT_DTYPE(X) TIDE_DT_3(X, TIDE_DT_f32) TIDE_DT_3(X, TIDE_DT_f64)
#define TIDE_FOREACH_INT_DTYPE(X) \
    TIDE_DT_3(X, TIDE_DT_i32) TIDE_DT_3(X, TIDE_DT_i64) TIDE_DT_3(X, TIDE_DT_u8)

/* X(ENUM, name, ctype) for the dtypes an index tensor may have. Expanded by machinery of its
 * own, so it nests inside or around any of the lists above. */
#define TIDE_FOREACH_INDEX_DTYPE(X) TIDE_DT_3C(X, TIDE_DT_i32) TIDE_DT_3C(X, TIDE_DT_i64)

/* One column of a dtype's row at compile time, for a kernel generated over (E, name, T):
 * TIDE_DTYPE_COL(name, digits) is 24 for f32. col: is_float, rank, digits, tmin, lo, hi. */
#define TIDE_DTYPE_COL(name, col) TIDE_DT_COL_(TIDE_DT_PICK_##col, TIDE_DT_##name)
#define TIDE_DT_COL_(pick, row) TIDE_DT_COL2_(pick, row)
#define TIDE_DT_COL2_(pick, ...) pick(__VA_ARGS__)
#define TIDE_DT_PICK_is_float(E, n, T, is_float, ...) is_float
#define TIDE_DT_PICK_rank(E, n, T, f, rank, ...) rank
#define TIDE_DT_PICK_digits(E, n, T, f, r, digits, ...) digits
#define TIDE_DT_PICK_tmin(E, n, T, f, r, d, tmin, ...) tmin
#define TIDE_DT_PICK_lo(E, n, T, f, r, d, t, lo, ...) lo
#define TIDE_DT_PICK_hi(E, n, T, f, r, d, t, lo, hi, ...) hi

/* The machinery: a row is a plain comma list, expanded as an argument before the call. */
#define TIDE_DT_ALL(X, row) TIDE_DT_CALL_(X, row)
#define TIDE_DT_CALL_(X, ...) X(__VA_ARGS__)
#define TIDE_DT_3(X, row) TIDE_DT_3_(X, row)
#define TIDE_DT_3_(X, E, name, T, ...) X(E, name, T)
#define TIDE_DT_3B(X, row) TIDE_DT_3B_(X, row)
#define TIDE_DT_3B_(X, E, name, T, ...) X(E, name, T)
#define TIDE_DT_3C(X, row) TIDE_DT_3C_(X, row)
#define TIDE_DT_3C_(X, E, name, T, ...) X(E, name, T)

#define TIDE_DT_ENUM_(E, ...) E,
#define TIDE_DT_COUNT_(...) +1
typedef enum { TIDE_DTYPE_TABLE(TIDE_DT_ENUM_) } tide_dtype;
enum { TIDE_NDTYPES = 0 TIDE_DTYPE_TABLE(TIDE_DT_COUNT_) };
#undef TIDE_DT_ENUM_
#undef TIDE_DT_COUNT_

size_t tide_dtype_size(tide_dtype dt);
const char *tide_dtype_name(tide_dtype dt);       /* "f32" ... */
int tide_dtype_is_float(tide_dtype dt);
int tide_dtype_valid(int dt);
/* May dt index another tensor (TIDE_FOREACH_INDEX_DTYPE: i32 or i64)? */
int tide_dtype_is_index(tide_dtype dt);
/* Bits of precision: 24 for f32, 53 for f64, 31 for i32, 63 for i64, 8 for u8. */
int tide_dtype_digits(tide_dtype dt);
/* The integers dt holds exactly, every one of them: [*lo, *hi] (±2^24 for f32 ...). */
void tide_dtype_exact_range(tide_dtype dt, int64_t *lo, int64_t *hi);
/* The numpy descriptor: "<f4", "<f8", "<i4", "<i8", "|u1". */
const char *tide_dtype_npy(tide_dtype dt);

/* Parses "f32", "f64", "i32", "i64", "u8" (also "float", "double", "int", "long", "byte", and
 * numpy's "float32" ... "uint8"). */
tide_status tide_dtype_parse(const char *name, tide_dtype *out);

/* The dtype of a binary arithmetic result: the wider float, else the wider integer. */
tide_dtype tide_dtype_promote(tide_dtype a, tide_dtype b);

#endif
