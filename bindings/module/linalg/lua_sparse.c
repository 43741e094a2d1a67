/* lua_sparse.c — the CSR kernels (core/linalg/sparse.h), added to tide's kernels table for
 * scripts/tide/sparse/init.lua:
 *
 *   csr_from_coo(rows, cols, values, n, m) -> S     (rows and cols 1-based)
 *   csr_row_indices(S) -> i64 1-based row of every entry
 *   csr_to_dense(S), csr_degree(S) -> tensor;  csr_t(S), csr_normalize_gcn(S) -> S
 *   csr_rows(S, a, b) -> S   rows a..b (1-based, inclusive)
 *   csr_spmm(S, X), csr_spmm_t(S, X) -> S @ X, S^T @ X;  csr_spmv(S, x) -> S @ x
 *
 * S is a table {rowptr = i64, col = i64 (0-based), val = f32|f64, n = rows, m = cols}; the
 * kernels check and read those fields and make new tables of that shape (the Lua side adds
 * methods). */
#include "linalg/sparse.h"
#include "lua_bindings.h"
#include "tensor/lua_args.h"
#include "tensor/lua_tensor.h"

static const tide_tensor *field_tensor(lua_State *L, int arg, const char *key)
{
    lua_getfield(L, arg, key);
    const tide_tensor *t = tide_lua_totensor(L, -1);
    if (!t)
        luaL_error(L, "sparse: field '%s' of the matrix must be a tensor, got %s", key,
                   luaL_typename(L, -1));
    lua_pop(L, 1);   /* the table still holds it */
    return t;
}

static int64_t field_size(lua_State *L, int arg, const char *key)
{
    lua_getfield(L, arg, key);
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok)
        luaL_error(L, "sparse: field '%s' of the matrix must be an integer, got %s", key,
                   luaL_typename(L, -1));
    lua_pop(L, 1);
    return (int64_t)v;
}

/* A borrowed view of the matrix table at arg: its tensors are shallow copies that hold no
 * reference (the table keeps them alive), so it is never released. Every invariant is
 * checked on every call (one pass over rowptr and col): the table and its tensors are
 * ordinary Lua values a script can change, and a column out of range must be an error, not
 * a read outside the dense operand. */
static tide_csr check_csr(lua_State *L, int arg)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    tide_csr s;
    s.rowptr = *field_tensor(L, arg, "rowptr");
    s.col = *field_tensor(L, arg, "col");
    s.val = *field_tensor(L, arg, "val");
    s.nrows = field_size(L, arg, "n");
    s.ncols = field_size(L, arg, "m");
    tide_lua_check(L, tide_csr_check(&s, 1, "sparse"));
    return s;
}

/* The boxes of a new matrix table, pushed before the core allocates (so nothing can leak). */
typedef struct {
    tide_tensor *rowptr, *col, *val;
} csr_boxes;

static csr_boxes push_boxes(lua_State *L)
{
    lua_createtable(L, 0, 5);
    csr_boxes b;
    b.rowptr = tide_lua_newtensor(L);
    lua_setfield(L, -2, "rowptr");
    b.col = tide_lua_newtensor(L);
    lua_setfield(L, -2, "col");
    b.val = tide_lua_newtensor(L);
    lua_setfield(L, -2, "val");
    return b;
}

/* Moves the core's result into the boxes and sets the sizes: the table is the result. */
static int fill_boxes(lua_State *L, csr_boxes b, tide_csr *s, tide_status st)
{
    tide_lua_check(L, st);
    *b.rowptr = s->rowptr;
    *b.col = s->col;
    *b.val = s->val;
    lua_pushinteger(L, s->nrows);
    lua_setfield(L, -2, "n");
    lua_pushinteger(L, s->ncols);
    lua_setfield(L, -2, "m");
    tide_lua_gc_pressure(L);
    return 1;
}

static int k_from_coo(lua_State *L)
{
    tide_tensor *rows = tide_lua_checktensor(L, 1), *cols = tide_lua_checktensor(L, 2);
    tide_tensor *vals = tide_lua_checktensor(L, 3);
    int64_t n = luaL_checkinteger(L, 4), m = luaL_checkinteger(L, 5);
    csr_boxes b = push_boxes(L);
    tide_csr s = {0};
    return fill_boxes(L, b, &s, tide_csr_from_coo(&s, rows, cols, vals, n, m, 1));
}

static int k_row_indices(lua_State *L)
{
    tide_csr s = check_csr(L, 1);
    tide_lua_check(L, tide_csr_row_indices(tide_lua_newtensor(L), &s, 1));
    return 1;
}

static int k_to_dense(lua_State *L)
{
    tide_csr s = check_csr(L, 1);
    tide_lua_check(L, tide_csr_to_dense(tide_lua_newtensor(L), &s));
    tide_lua_gc_pressure(L);
    return 1;
}

static int k_degree(lua_State *L)
{
    tide_csr s = check_csr(L, 1);
    tide_lua_check(L, tide_csr_degree(tide_lua_newtensor(L), &s));
    return 1;
}

static int k_transpose(lua_State *L)
{
    tide_csr s = check_csr(L, 1);
    csr_boxes b = push_boxes(L);
    tide_csr t = {0};
    return fill_boxes(L, b, &t, tide_csr_transpose(&t, &s));
}

static int k_normalize_gcn(lua_State *L)
{
    tide_csr s = check_csr(L, 1);
    csr_boxes b = push_boxes(L);
    tide_csr t = {0};
    return fill_boxes(L, b, &t, tide_csr_normalize_gcn(&t, &s));
}

/* rows(S, a, b): 1-based inclusive, as t:narrow counts; a > b gives zero rows. */
static int k_rows(lua_State *L)
{
    tide_csr s = check_csr(L, 1);
    lua_Integer a = luaL_checkinteger(L, 2), last = luaL_checkinteger(L, 3);
    if (a < 1 || last > s.nrows || last < a - 1)
        return luaL_error(L, "sparse.rows: rows %I..%I outside 1..%I", (lua_Integer)a,
                          (lua_Integer)last, (lua_Integer)s.nrows);
    csr_boxes b = push_boxes(L);
    tide_csr t = {0};
    return fill_boxes(L, b, &t, tide_csr_rows(&t, &s, a - 1, last - a + 1));
}

typedef tide_status (*sparse_product)(tide_tensor *out, const tide_csr *s, const tide_tensor *x);

static int apply_product(lua_State *L, sparse_product product)
{
    tide_csr s = check_csr(L, 1);
    tide_tensor *x = tide_lua_checktensor(L, 2);
    tide_lua_check(L, product(tide_lua_optout(L, 3), &s, x));
    tide_lua_gc_pressure(L);
    return 1;
}

static int k_spmm(lua_State *L) { return apply_product(L, tide_spmm); }
static int k_spmm_t(lua_State *L) { return apply_product(L, tide_spmm_t); }
static int k_spmv(lua_State *L) { return apply_product(L, tide_spmv); }

static const luaL_Reg kernels[] = {
    {"csr_from_coo", k_from_coo},
    {"csr_row_indices", k_row_indices}, {"csr_to_dense", k_to_dense},
    {"csr_degree", k_degree}, {"csr_t", k_transpose},
    {"csr_normalize_gcn", k_normalize_gcn}, {"csr_rows", k_rows},
    {"csr_spmm", k_spmm}, {"csr_spmm_t", k_spmm_t}, {"csr_spmv", k_spmv},
    {NULL, NULL}};

void tide_open_sparse(lua_State *L, int module, int methods, int meta)
{
    (void)methods, (void)meta;
    lua_getfield(L, module, "kernels");     /* made by tide_open_nn, which runs first */
    luaL_setfuncs(L, kernels, 0);
    lua_pop(L, 1);
}
