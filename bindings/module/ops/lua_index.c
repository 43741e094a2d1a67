/* lua_index.c — indexing and ordering from Lua: index_select, gather, scatter_add_,
 * index_add_, masked_select, sort, argsort, topk, searchsorted, unique, bincount, cumsum.
 *
 * Indices are 1-BASED both ways: index tensors (i32 or i64, or a Lua list) hold 1-based
 * indices (negative ones count from the end), converted and range-checked by to_core_index,
 * the one place that happens for tensor-held indices; indices the ops return (sort, argsort,
 * topk, unique's inverse, searchsorted's positions) are 1-based i64 tensors, made so by
 * to_lua_index. Values stay values: bincount counts the values 0..max, not indices. */
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

#include "ops/index.h"
#include "ops/sort.h"

/* ---------------------------------------------------------------- index conversion */

/* The 1-based indices at arg — an i32/i64 tensor of any shape or a Lua list — as a new
 * contiguous i64 tensor of 0-based ones, pushed on the stack. Every entry is range-checked
 * against size (the length of dim, 0-based, named in the message 1-based). */
static tide_tensor *to_core_index(lua_State *L, int arg, int64_t size, int dim, const char *op)
{
    tide_tensor *src = tide_lua_totensor(L, arg);
    tide_tensor *out;
    if (src) {
        if (!tide_dtype_is_index(src->dtype))
            luaL_error(L, "%s: expected an i32 or i64 index tensor, got %s", op,
                       tide_dtype_name(src->dtype));
        out = tide_lua_newtensor(L);
        tide_lua_check(L, tide_cast(out, src, TIDE_I64));
    } else if (lua_istable(L, arg)) {
        int64_t n = (int64_t)luaL_len(L, arg);
        out = tide_lua_newtensor(L);
        tide_lua_check(L, tide_tensor_alloc(out, TIDE_I64, 1, &n));
        int64_t *d = tide_data(out);
        for (int64_t i = 0; i < n; i++) {
            lua_geti(L, arg, i + 1);
            int ok;
            d[i] = lua_tointegerx(L, -1, &ok);
            if (!ok)
                luaL_error(L, "%s: index entry %d must be an integer, got %s", op, (int)i + 1,
                           luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "%s: expected an index tensor or a list of indices, got %s", op,
                   luaL_typename(L, arg));
        return NULL;
    }
    int64_t *d = tide_data(out), n = tide_numel(out);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = d[i], c = v < 0 ? v + size : v - 1;
        if (v == 0 || c < 0 || c >= size)
            luaL_error(L, "%s: index %I out of range for size %I in dim %d", op, (lua_Integer)v,
                       (lua_Integer)size, dim + 1);
        d[i] = c;
    }
    return out;
}

/* 0-based i64 indices the core returned (contiguous, freshly made) become 1-based. */
static void to_lua_index(tide_tensor *t)
{
    int64_t *d = tide_data(t), n = tide_numel(t);
    for (int64_t i = 0; i < n; i++)
        d[i] += 1;
}

/* ---------------------------------------------------------------- options */

static int opt_bool(lua_State *L, int arg, const char *key, int def, const char *op)
{
    if (lua_isnoneornil(L, arg))
        return def;
    lua_getfield(L, arg, key);
    int v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "%s: option '%s' must be a boolean, got %s", op, key,
                       luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* The dim at arg (1-based, negative from the end), or the last dim when arg is 0 or absent. */
static int dim_arg(lua_State *L, int arg, const tide_tensor *t, const char *op)
{
    if (t->ndim == 0)
        luaL_error(L, "%s: expected a tensor of at least 1 dim, got a scalar", op);
    if (arg == 0 || lua_isnoneornil(L, arg))
        return t->ndim - 1;
    return tide_lua_checkdim(L, arg, t->ndim, op);
}

/* ---------------------------------------------------------------- moving by index */

/* t:index_select(dim, idx): a new tensor of the entries idx (1-D) names along dim. */
static int m_index_select(lua_State *L)
{
    tide_lua_checknargs(L, 3, "index_select");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = tide_lua_checkdim(L, 2, t->ndim, "index_select");
    tide_tensor *idx = to_core_index(L, 3, t->shape[dim], dim, "index_select");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_index_select(out, t, dim, idx));
    return 1;
}

/* t:gather(dim, idx): out[i][j] = t[i][idx[i][j]] (dim 2), of idx's shape; a new tensor. */
static int m_gather(lua_State *L)
{
    tide_lua_checknargs(L, 3, "gather");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = tide_lua_checkdim(L, 2, t->ndim, "gather");
    tide_tensor *idx = to_core_index(L, 3, t->shape[dim], dim, "gather");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_gather(out, t, dim, idx));
    return 1;
}

/* t:scatter_add_(dim, idx, src): t[i][idx[i][j]] += src[i][j] (dim 2); returns t. */
static int m_scatter_add_(lua_State *L)
{
    tide_lua_checknargs(L, 4, "scatter_add_");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = tide_lua_checkdim(L, 2, t->ndim, "scatter_add_");
    tide_tensor *src = tide_lua_checktensor(L, 4);
    tide_tensor *idx = to_core_index(L, 3, t->shape[dim], dim, "scatter_add_");
    tide_lua_check(L, tide_scatter_add(t, dim, idx, src));
    lua_settop(L, 1);
    return 1;
}

/* t:index_add_(dim, idx, src): t:select(dim, idx[j]) += src:select(dim, j); returns t. */
static int m_index_add_(lua_State *L)
{
    tide_lua_checknargs(L, 4, "index_add_");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = tide_lua_checkdim(L, 2, t->ndim, "index_add_");
    tide_tensor *src = tide_lua_checktensor(L, 4);
    tide_tensor *idx = to_core_index(L, 3, t->shape[dim], dim, "index_add_");
    tide_lua_check(L, tide_index_add(t, dim, idx, src));
    lua_settop(L, 1);
    return 1;
}

/* t:masked_select(mask): a new 1-D tensor of t's elements where the u8 mask is non-zero. */
static int m_masked_select(lua_State *L)
{
    tide_lua_checknargs(L, 2, "masked_select");
    return tide_lua_apply2(L, tide_masked_select);
}

/* ---------------------------------------------------------------- ordering */

static const char *const sort_opts[] = {"descending", NULL};

/* Arguments of sort/argsort: ([dim], [opts]); the dim defaults to the last. */
static int sort_args(lua_State *L, const tide_tensor *t, int *descending, const char *op)
{
    int opts = lua_istable(L, 2) ? 2 : 3;
    tide_lua_checknargs(L, opts, op);   /* the options table is the last argument */
    int dim = dim_arg(L, opts == 2 ? 0 : 2, t, op);
    tide_lua_checkopts(L, opts, sort_opts, op);
    *descending = opt_bool(L, opts, "descending", 0, op);
    return dim;
}

/* t:sort([dim], {descending = false}) -> values, indices (1-based positions along dim).
 * Stable: equal values keep their order; NaN sorts above everything. */
static int m_sort(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int desc;
    int dim = sort_args(L, t, &desc, "sort");
    tide_tensor *values = tide_lua_newtensor(L);
    tide_tensor *indices = tide_lua_newtensor(L);
    tide_lua_check(L, tide_sort(values, indices, t, dim, desc));
    to_lua_index(indices);
    return 2;
}

/* t:argsort([dim], {descending = false}) -> the 1-based indices of sort. */
static int m_argsort(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int desc;
    int dim = sort_args(L, t, &desc, "argsort");
    tide_tensor *indices = tide_lua_newtensor(L);
    tide_lua_check(L, tide_argsort(indices, t, dim, desc));
    to_lua_index(indices);
    return 1;
}

static const char *const topk_opts[] = {"largest", NULL};

/* t:topk(k, [dim], {largest = true}) -> values, indices: the head of the stable sort. */
static int m_topk(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int opts = lua_istable(L, 3) ? 3 : 4;
    tide_lua_checknargs(L, opts, "topk");
    int dim = dim_arg(L, opts == 3 ? 0 : 3, t, "topk");
    tide_lua_checkopts(L, opts, topk_opts, "topk");
    int largest = opt_bool(L, opts, "largest", 1, "topk");
    tide_tensor *values = tide_lua_newtensor(L);
    tide_tensor *indices = tide_lua_newtensor(L);
    tide_lua_check(L, tide_topk(values, indices, t, (int64_t)k, dim, largest));
    to_lua_index(indices);
    return 2;
}

static const char *const search_opts[] = {"right", NULL};

/* A number searched in an integer tensor: it must be an integer, and one beyond the dtype's
 * range is placed before or after every element (pos, returning 1) rather than wrapped. */
static int scalar_position(lua_State *L, const tide_tensor *sorted, int64_t *pos)
{
    if (tide_dtype_is_float(sorted->dtype) || sorted->ndim != 1)
        return 0;
    int ok;
    lua_Integer v = lua_tointegerx(L, 2, &ok);
    if (!ok)
        luaL_error(L, "searchsorted: expected an integer to search a %s tensor, got %s",
                   tide_dtype_name(sorted->dtype), lua_tostring(L, 2));
    int64_t lo, hi;
    tide_dtype_exact_range(sorted->dtype, &lo, &hi);
    if (v >= lo && v <= hi)
        return 0;
    *pos = v < lo ? 1 : sorted->shape[0] + 1;
    return 1;
}

/* tide.searchsorted(sorted, values, {right = false}), also sorted:searchsorted(values):
 * for each v the 1-based position p where v would be inserted to keep sorted ascending,
 * sorted[p-1] < v <= sorted[p] (right: sorted[p-1] <= v < sorted[p]), in 1..n+1 — the
 * position table.insert(list, p, v) takes; torch's 0-based answer plus one. A number v gives
 * a number, a tensor of values a tensor of positions. */
static int l_searchsorted(lua_State *L)
{
    tide_lua_checknargs(L, 3, "searchsorted");
    tide_tensor *sorted = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 3, search_opts, "searchsorted");
    int right = opt_bool(L, 3, "right", 0, "searchsorted");
    int scalar = lua_type(L, 2) == LUA_TNUMBER;
    tide_tensor *values;
    if (scalar) {
        int64_t pos;
        if (scalar_position(L, sorted, &pos)) {
            lua_pushinteger(L, pos);
            return 1;
        }
        values = tide_lua_newtensor(L);
        tide_lua_check(L, tide_tensor_alloc(values, sorted->dtype, 0, NULL));
        if (tide_dtype_is_float(sorted->dtype))
            tide_set_f64(values, NULL, lua_tonumber(L, 2));
        else
            tide_set_i64(values, NULL, lua_tointeger(L, 2));
    } else {
        values = tide_lua_checktensor(L, 2);
    }
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_searchsorted(out, sorted, values, right));
    to_lua_index(out);
    if (scalar)
        lua_pushinteger(L, *(int64_t *)tide_data(out));
    return 1;
}

static const char *const unique_opts[] = {"counts", "inverse", NULL};

/* tide.unique(t, {inverse = false, counts = false}), also t:unique(): the distinct values of
 * t, ascending, as a 1-D tensor; then, when asked and in this order, inverse (t's shape: the
 * 1-based position of each element's value in the result) and counts (i64). */
static int l_unique(lua_State *L)
{
    tide_lua_checknargs(L, 2, "unique");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 2, unique_opts, "unique");
    int want_inverse = opt_bool(L, 2, "inverse", 0, "unique");
    int want_counts = opt_bool(L, 2, "counts", 0, "unique");
    tide_tensor *values = tide_lua_newtensor(L);
    tide_tensor *inverse = want_inverse ? tide_lua_newtensor(L) : NULL;
    tide_tensor *counts = want_counts ? tide_lua_newtensor(L) : NULL;
    tide_lua_check(L, tide_unique(values, inverse, counts, t));
    if (inverse)
        to_lua_index(inverse);
    return 1 + want_inverse + want_counts;
}

/* ---------------------------------------------------------------- counting */

static const char *const bincount_opts[] = {"minlength", "weights", NULL};

/* tide.bincount(t, {minlength = 0, weights = nil}), also t:bincount(): counts[v + 1] = how
 * many elements equal v, for the VALUES v = 0 .. max(t) (entry 1 counts zeros: values, not
 * indices, are counted, as in torch). With weights, sums of weights instead of counts. */
static int l_bincount(lua_State *L)
{
    tide_lua_checknargs(L, 2, "bincount");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 2, bincount_opts, "bincount");
    lua_Integer minlength = 0;
    tide_tensor *weights = NULL;
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "minlength");
        if (!lua_isnil(L, -1)) {
            if (!lua_isinteger(L, -1))
                luaL_error(L, "bincount: option 'minlength' must be an integer, got %s",
                           luaL_typename(L, -1));
            minlength = lua_tointeger(L, -1);
        }
        lua_getfield(L, 2, "weights");
        if (!lua_isnil(L, -1)) {
            weights = tide_lua_totensor(L, -1);
            if (!weights)
                luaL_error(L, "bincount: option 'weights' must be a tensor, got %s",
                           luaL_typename(L, -1));
        }
    }
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_bincount(out, t, weights, (int64_t)minlength));
    return 1;
}

/* t:cumsum([dim]): running sums along dim (required unless t is 1-D); floats keep their
 * dtype, integers give i64. A new tensor. */
static int m_cumsum(lua_State *L)
{
    tide_lua_checknargs(L, 2, "cumsum");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = 0;
    if (!lua_isnoneornil(L, 2))
        dim = tide_lua_checkdim(L, 2, t->ndim, "cumsum");
    else if (t->ndim != 1)
        return luaL_error(L, "cumsum: expected a dim for a %d-dim tensor", t->ndim);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_cumsum(out, t, dim));
    return 1;
}

static const luaL_Reg module_funcs[] = {
    {"searchsorted", l_searchsorted}, {"unique", l_unique}, {"bincount", l_bincount},
    {NULL, NULL}};

static const luaL_Reg methods[] = {
    {"index_select", m_index_select}, {"gather", m_gather}, {"scatter_add_", m_scatter_add_},
    {"index_add_", m_index_add_}, {"masked_select", m_masked_select}, {"sort", m_sort},
    {"argsort", m_argsort}, {"topk", m_topk}, {"searchsorted", l_searchsorted},
    {"unique", l_unique}, {"bincount", l_bincount}, {"cumsum", m_cumsum},
    {NULL, NULL}};

void tide_open_index(lua_State *L, int module, int methods_idx, int meta)
{
    (void)meta;
    tide_lua_addfuncs(L, module, module_funcs);
    tide_lua_addfuncs(L, methods_idx, methods);
}
