/* lua_tensor.c — the tensor box, creation, views and element access (lua_args.c reads the
 * arguments). */
#include "tensor/lua_tensor.h"
#include "lua_bindings.h"

#include <string.h>

/* ------------------------------------------------------------------ the box */

/* Lua's collector sees a tensor as a ~150-byte box, whatever its storage weighs. So that
 * garbage tensors are freed as fast as a loop makes them, every GC_STEP_BYTES of storage
 * growth is reported to the collector as that much allocation (an incremental step of that
 * size), which on a small Lua heap completes a cycle. Freed big blocks then return to the
 * core's cache and are reused warm. */
#define GC_STEP_BYTES ((size_t)32 << 20)

static size_t live_at_last_step;

void tide_lua_gc_pressure(lua_State *L)
{
    size_t live = tide_memory_live();
    if (live < live_at_last_step) {
        live_at_last_step = live;
    } else if (live - live_at_last_step > GC_STEP_BYTES) {
        lua_gc(L, LUA_GCSTEP, (int)((live - live_at_last_step) >> 10));
        live_at_last_step = tide_memory_live();
    }
}

tide_tensor *tide_lua_newtensor(lua_State *L)
{
    tide_lua_gc_pressure(L);
    tide_tensor *t = lua_newuserdatauv(L, sizeof *t, 0);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, TIDE_TENSOR_MT);
    return t;
}

tide_tensor *tide_lua_pushtensor(lua_State *L, tide_tensor *src)
{
    tide_tensor *t = lua_newuserdatauv(L, sizeof *t, 0);
    *t = *src;
    memset(src, 0, sizeof *src);
    luaL_setmetatable(L, TIDE_TENSOR_MT);
    return t;
}

tide_tensor *tide_lua_totensor(lua_State *L, int idx)
{
    tide_tensor *t = luaL_testudata(L, idx, TIDE_TENSOR_MT);
    return t && t->storage ? t : NULL;
}

tide_tensor *tide_lua_checktensor(lua_State *L, int arg)
{
    tide_tensor *t = luaL_checkudata(L, arg, TIDE_TENSOR_MT);
    if (!t->storage)
        luaL_error(L, "attempt to use a closed tensor");
    return t;
}

void tide_lua_check(lua_State *L, tide_status st)
{
    if (st != TIDE_OK)
        luaL_error(L, "%s", tide_error());
}

int tide_lua_apply1(lua_State *L, tide_lua_op1 op)
{
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, op(out, a));
    return 1;
}

int tide_lua_apply2(lua_State *L, tide_lua_op2 op)
{
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *b = tide_lua_checktensor(L, 2);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, op(out, a, b));
    return 1;
}

/* __gc, __close and t:close() share this; idempotent. */
static int tensor_close(lua_State *L)
{
    tide_tensor *t = luaL_checkudata(L, 1, TIDE_TENSOR_MT);
    tide_tensor_release(t);
    return 0;
}

/* ------------------------------------------------------------------ creation */

/* Shared by zeros/ones/empty/full: shape at 1, then for full the value, then dtype. */
static tide_tensor *create(lua_State *L, int dtype_arg, const char *op)
{
    int64_t shape[TIDE_MAX_DIMS];
    int n = tide_lua_checkshape(L, 1, shape, op);
    int darg = lua_istable(L, 1) ? dtype_arg : dtype_arg + n - 1;
    tide_lua_checknargs(L, darg, op);
    tide_dtype dt = tide_lua_optdtype(L, darg, TIDE_F32);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_tensor_alloc(t, dt, n, shape));
    return t;
}

static int l_empty(lua_State *L) { create(L, 2, "empty"); return 1; }

static int l_zeros(lua_State *L)
{
    tide_fill(create(L, 2, "zeros"), 0);
    return 1;
}

static int l_ones(lua_State *L)
{
    tide_fill(create(L, 2, "ones"), 1);
    return 1;
}

static int l_full(lua_State *L)
{
    /* full(shape, value, dtype): the shape must be a table here */
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checknumber(L, 2);
    tide_tensor *t = create(L, 3, "full");
    tide_lua_check(L, tide_lua_fill(L, t, 2, "full"));
    return 1;
}

/* Walks the first elements of a nested table to find its shape. */
static int nested_shape(lua_State *L, int idx, int64_t *shape)
{
    int n = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        if (n == TIDE_MAX_DIMS)
            luaL_error(L, "tensor: nested table deeper than %d", TIDE_MAX_DIMS);
        shape[n++] = (int64_t)luaL_len(L, -1);
        if (shape[n - 1] == 0)
            break;
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return n;
}

/* Copies a nested table into t, checking every sub-table has the same shape. */
static void fill_nested(lua_State *L, tide_tensor *t, int64_t *idx, int dim)
{
    int64_t len = (int64_t)luaL_len(L, -1);
    if (len != t->shape[dim])
        luaL_error(L, "tensor: ragged nested table (dim %d has %d entries here, %d at its first)",
                   dim + 1, (int)len, (int)t->shape[dim]);
    for (int64_t i = 0; i < len; i++) {
        idx[dim] = i;
        lua_geti(L, -1, i + 1);
        if (dim + 1 < t->ndim) {
            if (!lua_istable(L, -1))
                luaL_error(L, "tensor: expected a table at depth %d, got %s", dim + 2,
                           luaL_typename(L, -1));
            fill_nested(L, t, idx, dim + 1);
        } else {
            if (lua_type(L, -1) != LUA_TNUMBER && !lua_isboolean(L, -1))
                luaL_error(L, "tensor: expected a number at depth %d, got %s", dim + 1,
                           luaL_typename(L, -1));
            if (lua_isboolean(L, -1))
                tide_set_i64(t, idx, lua_toboolean(L, -1));
            else
                tide_lua_storeelem(L, t, idx, lua_gettop(L), "tensor");
        }
        lua_pop(L, 1);
    }
}

static int l_tensor(lua_State *L)
{
    tide_lua_checknargs(L, 2, "tensor");
    tide_dtype dt = tide_lua_optdtype(L, 2, TIDE_F32);
    if (lua_type(L, 1) == LUA_TNUMBER) {
        tide_tensor *t = tide_lua_newtensor(L);
        tide_lua_check(L, tide_tensor_alloc(t, dt, 0, NULL));
        tide_lua_storeelem(L, t, NULL, 1, "tensor");
        return 1;
    }
    if (tide_lua_totensor(L, 1)) {
        tide_tensor *src = tide_lua_totensor(L, 1);
        tide_tensor *t = tide_lua_newtensor(L);
        tide_lua_check(L, tide_cast(t, src, lua_isnoneornil(L, 2) ? src->dtype : dt));
        return 1;
    }
    luaL_argexpected(L, lua_istable(L, 1), 1, "table or number");
    int64_t shape[TIDE_MAX_DIMS], idx[TIDE_MAX_DIMS] = {0};
    int n = nested_shape(L, 1, shape);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_tensor_alloc(t, dt, n, shape));
    if (tide_numel(t) > 0) {
        lua_pushvalue(L, 1);
        fill_nested(L, t, idx, 0);
        lua_pop(L, 1);
    }
    return 1;
}

static int l_memory(lua_State *L)
{
    tide_lua_checknargs(L, 0, "memory");
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)tide_memory_live());
    lua_setfield(L, -2, "live");
    lua_pushinteger(L, (lua_Integer)tide_memory_peak());
    lua_setfield(L, -2, "peak");
    return 1;
}

/* tide._internal.deprecated(old, use): the Lua library's deprecated names warn as the C ones do */
static int l_deprecated(lua_State *L)
{
    tide_lua_deprecated(L, luaL_checkstring(L, 1), luaL_checkstring(L, 2));
    return 0;
}

static int l_is_tensor(lua_State *L)
{
    tide_lua_checknargs(L, 1, "is_tensor");
    lua_pushboolean(L, luaL_testudata(L, 1, TIDE_TENSOR_MT) != NULL);
    return 1;
}

/* ------------------------------------------------------------------ shape queries */

static int m_shape(lua_State *L)
{
    tide_lua_checknargs(L, 1, "shape");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
        lua_pushinteger(L, t->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
    return 1;
}

static int m_size(lua_State *L)
{
    tide_lua_checknargs(L, 2, "size");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    if (lua_isnoneornil(L, 2))
        return m_shape(L);
    lua_pushinteger(L, t->shape[tide_lua_checkdim(L, 2, t->ndim, "size")]);
    return 1;
}

static int m_dim(lua_State *L)
{
    tide_lua_checknargs(L, 1, "dim");
    lua_pushinteger(L, tide_lua_checktensor(L, 1)->ndim);
    return 1;
}

static int m_numel(lua_State *L)
{
    tide_lua_checknargs(L, 1, "numel");
    lua_pushinteger(L, tide_numel(tide_lua_checktensor(L, 1)));
    return 1;
}

static int m_dtype(lua_State *L)
{
    tide_lua_checknargs(L, 1, "dtype");
    lua_pushstring(L, tide_dtype_name(tide_lua_checktensor(L, 1)->dtype));
    return 1;
}

static int m_is_contiguous(lua_State *L)
{
    tide_lua_checknargs(L, 1, "is_contiguous");
    lua_pushboolean(L, tide_is_contiguous(tide_lua_checktensor(L, 1)));
    return 1;
}

/* True when another tensor shares this one's storage. */
static int m_is_view(lua_State *L)
{
    tide_lua_checknargs(L, 1, "is_view");
    lua_pushboolean(L, tide_lua_checktensor(L, 1)->storage->refcount > 1);
    return 1;
}

static int m_len(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
    return 1;
}

/* ------------------------------------------------------------------ views */

static int m_narrow(lua_State *L)
{
    tide_lua_checknargs(L, 4, "narrow");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = tide_lua_checkdim(L, 2, t->ndim, "narrow");
    lua_Integer start = luaL_checkinteger(L, 3);
    lua_Integer len = luaL_checkinteger(L, 4);
    int64_t s0 = start < 0 ? start + t->shape[dim] : start - 1;
    if (start == 0 || s0 < 0)
        luaL_error(L, "narrow: start %I out of range for size %I in dim %d", start,
                   (lua_Integer)t->shape[dim], dim + 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_narrow(out, t, dim, s0, len));
    return 1;
}

static int m_select(lua_State *L)
{
    tide_lua_checknargs(L, 3, "select");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = tide_lua_checkdim(L, 2, t->ndim, "select");
    int64_t i = tide_lua_checkindex(L, 3, t->shape[dim], "select");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_select(out, t, dim, i));
    return 1;
}

static int m_transpose(lua_State *L)
{
    tide_lua_checknargs(L, 3, "transpose");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int d1 = tide_lua_checkdim(L, 2, t->ndim, "transpose");
    int d2 = tide_lua_checkdim(L, 3, t->ndim, "transpose");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_transpose(out, t, d1, d2));
    return 1;
}

static int m_t(lua_State *L)
{
    tide_lua_checknargs(L, 1, "t");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    if (t->ndim > 2)
        luaL_error(L, "t: expected a tensor of at most 2 dims, got %d dims (use transpose)", t->ndim);
    tide_tensor *out = tide_lua_newtensor(L);
    if (t->ndim < 2)
        tide_tensor_share(out, t);
    else
        tide_lua_check(L, tide_transpose(out, t, 0, 1));
    return 1;
}

static int m_permute(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int64_t dims[TIDE_MAX_DIMS];
    int n = tide_lua_checkshape(L, 2, dims, "permute");
    tide_lua_checknargs(L, lua_istable(L, 2) ? 2 : 1 + n, "permute");
    if (n != t->ndim)
        luaL_error(L, "permute: expected %d dims, got %d", t->ndim, n);
    int perm[TIDE_MAX_DIMS];
    for (int d = 0; d < n; d++)
        perm[d] = (int)tide_lua_index(L, dims[d], t->ndim, "permute", "dim");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_permute(out, t, perm));
    return 1;
}

static int reshape_like(lua_State *L, tide_status (*fn)(tide_tensor *, const tide_tensor *, int,
                                                       const int64_t *), const char *op)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int64_t shape[TIDE_MAX_DIMS];
    int n = tide_lua_checkshape(L, 2, shape, op);
    tide_lua_checknargs(L, lua_istable(L, 2) ? 2 : 1 + n, op);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, fn(out, t, n, shape));
    return 1;
}

static int m_view(lua_State *L) { return reshape_like(L, tide_view, "view"); }
static int m_reshape(lua_State *L) { return reshape_like(L, tide_reshape, "reshape"); }
static int m_expand(lua_State *L) { return reshape_like(L, tide_expand, "expand"); }

static int m_unsqueeze(lua_State *L)
{
    tide_lua_checknargs(L, 2, "unsqueeze");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = (int)tide_lua_index(L, luaL_checkinteger(L, 2), t->ndim + 1, "unsqueeze", "dim");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_unsqueeze(out, t, dim));
    return 1;
}

static int m_squeeze(lua_State *L)
{
    tide_lua_checknargs(L, 2, "squeeze");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = lua_isnoneornil(L, 2) ? -1 : tide_lua_checkdim(L, 2, t->ndim, "squeeze");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_squeeze(out, t, dim));
    return 1;
}

static int m_contiguous(lua_State *L)
{
    tide_lua_checknargs(L, 1, "contiguous");
    return tide_lua_apply1(L, tide_contiguous);
}

static int m_clone(lua_State *L)
{
    tide_lua_checknargs(L, 1, "clone");
    return tide_lua_apply1(L, tide_clone);
}

/* t:to(dtype): a converted copy with NumPy's astype semantics, so unlike a scalar stored into a
 * tensor (lua_args.h) it never raises for values: floats truncate toward zero, integers out
 * of the target's range wrap around, NaN and infinities give what the core's cast gives. */
static int m_to(lua_State *L)
{
    tide_lua_checknargs(L, 2, "to");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_dtype dt = tide_lua_optdtype(L, 2, t->dtype);
    luaL_argcheck(L, !lua_isnoneornil(L, 2), 2, "expected a dtype name");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_cast(out, t, dt));
    return 1;
}

static int m_copy_(lua_State *L)
{
    tide_lua_checknargs(L, 2, "copy_");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_tensor *src = tide_lua_checktensor(L, 2);
    tide_lua_check(L, tide_copy(t, src));
    lua_settop(L, 1);
    return 1;
}

static int m_fill_(lua_State *L)
{
    tide_lua_checknargs(L, 2, "fill_");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_lua_check(L, tide_lua_fill(L, t, 2, "fill_"));
    lua_settop(L, 1);
    return 1;
}

static int m_zero_(lua_State *L)
{
    tide_lua_checknargs(L, 1, "zero_");
    tide_fill(tide_lua_checktensor(L, 1), 0);
    lua_settop(L, 1);
    return 1;
}

/* ------------------------------------------------------------------ elements */

static int m_get(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int64_t idx[TIDE_MAX_DIMS];
    tide_lua_checkindices(L, t, 2, lua_gettop(L), idx, "get");
    tide_lua_pushelem(L, t, idx);
    return 1;
}

static int m_set_(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int top = lua_gettop(L);
    int64_t idx[TIDE_MAX_DIMS];
    tide_lua_checkindices(L, t, 2, top - 1, idx, "set_");
    luaL_checknumber(L, top);
    tide_lua_storeelem(L, t, idx, top, "set_");
    lua_settop(L, 1);
    return 1;
}

/* t:set, the name before the mutation rule (a method that changes its receiver ends in _) */
static int m_set(lua_State *L)
{
    tide_lua_deprecated(L, "t:set", "t:set_");
    return m_set_(L);
}

static void push_table(lua_State *L, const tide_tensor *t, int64_t *idx, int dim)
{
    if (dim == t->ndim) {
        tide_lua_pushelem(L, t, idx);
        return;
    }
    lua_createtable(L, (int)t->shape[dim], 0);
    for (int64_t i = 0; i < t->shape[dim]; i++) {
        idx[dim] = i;
        push_table(L, t, idx, dim + 1);
        lua_rawseti(L, -2, i + 1);
    }
}

static int m_totable(lua_State *L)
{
    tide_lua_checknargs(L, 1, "totable");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int64_t idx[TIDE_MAX_DIMS];
    push_table(L, t, idx, 0);
    return 1;
}

static int m_item(lua_State *L)
{
    tide_lua_checknargs(L, 1, "item");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    if (tide_numel(t) != 1) {
        char s[TIDE_SHAPE_BUF];
        luaL_error(L, "item: expected a tensor of one element, got %s", tide_shape_str(t, s, sizeof s));
    }
    int64_t idx[TIDE_MAX_DIMS] = {0};
    tide_lua_pushelem(L, t, idx);
    return 1;
}

/* t[i]: a number for a 1-D tensor, else the view select(1, i); t.name: a method. */
static int meta_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    tide_tensor *t = tide_lua_checktensor(L, 1);
    if (!lua_isinteger(L, 2))
        luaL_error(L, "tensor index: expected an integer or a method name, got %s",
                   luaL_typename(L, 2));
    if (t->ndim == 0)
        luaL_error(L, "tensor index: cannot index a scalar (0-dim) tensor");
    int64_t i = tide_lua_checkindex(L, 2, t->shape[0], "tensor index");
    if (t->ndim == 1) {
        tide_lua_pushelem(L, t, &i);
        return 1;
    }
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_select(out, t, 0, i));
    return 1;
}

/* t[i] = v: sets an element of a 1-D tensor, or fills/copies into row i. */
static int meta_newindex(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    if (!lua_isinteger(L, 2))
        luaL_error(L, "tensor index: expected an integer, got %s", luaL_typename(L, 2));
    if (t->ndim == 0)
        luaL_error(L, "tensor index: cannot index a scalar (0-dim) tensor");
    int64_t i = tide_lua_checkindex(L, 2, t->shape[0], "tensor index");
    if (t->ndim == 1 && lua_type(L, 3) == LUA_TNUMBER) {
        tide_lua_storeelem(L, t, &i, 3, "tensor index");
        return 0;
    }
    tide_tensor *src = tide_lua_totensor(L, 3);
    if (!src && lua_type(L, 3) == LUA_TNUMBER)
        tide_lua_checkscalar(L, 3, t->dtype, "tensor index");   /* before row is held */
    tide_tensor row = TIDE_TENSOR_EMPTY;
    tide_lua_check(L, tide_select(&row, t, 0, i));
    tide_status st;
    if (src) {
        st = tide_copy(&row, src);
    } else if (lua_type(L, 3) == LUA_TNUMBER) {
        st = tide_lua_fill(L, &row, 3, "tensor index");
    } else {
        tide_tensor_release(&row);
        return luaL_error(L, "tensor index: expected a number or a tensor to assign, got %s",
                          luaL_typename(L, 3));
    }
    tide_tensor_release(&row);
    tide_lua_check(L, st);
    return 0;
}

static const luaL_Reg module_funcs[] = {
    {"empty", l_empty}, {"zeros", l_zeros}, {"ones", l_ones}, {"full", l_full},
    {"tensor", l_tensor}, {"memory", l_memory}, {"is_tensor", l_is_tensor},
    {"deprecated", l_deprecated},
    {NULL, NULL}};

static const luaL_Reg methods[] = {
    {"shape", m_shape}, {"size", m_size}, {"dim", m_dim}, {"numel", m_numel},
    {"dtype", m_dtype}, {"is_contiguous", m_is_contiguous}, {"is_view", m_is_view},
    {"narrow", m_narrow}, {"select", m_select}, {"transpose", m_transpose}, {"t", m_t},
    {"permute", m_permute}, {"view", m_view}, {"reshape", m_reshape}, {"expand", m_expand},
    {"unsqueeze", m_unsqueeze}, {"squeeze", m_squeeze}, {"contiguous", m_contiguous},
    {"clone", m_clone}, {"to", m_to}, {"copy_", m_copy_}, {"fill_", m_fill_},
    {"zero_", m_zero_}, {"get", m_get}, {"set_", m_set_}, {"set", m_set}, {"totable", m_totable},
    {"item", m_item}, {"close", tensor_close},
    {NULL, NULL}};

void tide_open_tensor(lua_State *L, int module, int methods_idx, int meta)
{
    tide_lua_addfuncs(L, module, module_funcs);
    tide_lua_addfuncs(L, methods_idx, methods);

    lua_pushvalue(L, methods_idx);
    lua_pushcclosure(L, meta_index, 1);
    lua_setfield(L, meta, "__index");
    lua_pushcfunction(L, meta_newindex);
    lua_setfield(L, meta, "__newindex");
    lua_pushcfunction(L, m_len);
    lua_setfield(L, meta, "__len");
    lua_pushcfunction(L, tensor_close);
    lua_setfield(L, meta, "__gc");
    lua_pushcfunction(L, tensor_close);
    lua_setfield(L, meta, "__close");
}
