/* lua_shape.c — tide.cat, tide.stack, t:split, t:chunk, t:flip, t:tile, t:tril, t:triu,
 * t:nonzero and t:one_hot (torch semantics; dims, indices and classes 1-based).
 *
 * split and chunk return a Lua list of views (narrows sharing t's storage); every other
 * function returns a new tensor. */
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"
#include "tensor/shape.h"

/* The list of tensors at arg (a Lua table), into a scratch array the GC owns. */
static const tide_tensor **check_list(lua_State *L, int arg, int *n, const char *op)
{
    if (!lua_istable(L, arg))
        luaL_error(L, "%s: expected a list of tensors, got %s", op, luaL_typename(L, arg));
    lua_Integer len = luaL_len(L, arg);
    if (len < 1 || len > 1 << 20)
        luaL_error(L, "%s: expected a list of 1 to %d tensors, got %I", op, 1 << 20, len);
    const tide_tensor **ts = lua_newuserdatauv(L, (size_t)len * sizeof *ts, 0);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, arg, i);
        ts[i - 1] = tide_lua_totensor(L, -1);
        if (!ts[i - 1])
            luaL_error(L, "%s: element %I of the list is a %s, expected a tensor", op, i,
                       luaL_typename(L, -1));
        lua_pop(L, 1);   /* the list still holds it */
    }
    *n = (int)len;
    return ts;
}

/* tide.cat(tensors, [dim = 1]): joined along dim (dtypes promoted). */
static int l_cat(lua_State *L)
{
    tide_lua_checknargs(L, 2, "cat");
    lua_settop(L, 2);   /* the scratch list goes above the dim */
    int n;
    const tide_tensor **ts = check_list(L, 1, &n, "cat");
    int nd = ts[0]->ndim;
    int dim = lua_isnoneornil(L, 2) ? 0 : tide_lua_checkdim(L, 2, nd > 0 ? nd : 1, "cat");
    tide_lua_check(L, tide_cat(tide_lua_newtensor(L), ts, n, dim));
    return 1;
}

/* tide.stack(tensors, [dim = 1]): along a new dim (1..ndim+1; negative counts from the end). */
static int l_stack(lua_State *L)
{
    tide_lua_checknargs(L, 2, "stack");
    lua_settop(L, 2);
    int n;
    const tide_tensor **ts = check_list(L, 1, &n, "stack");
    int dim = lua_isnoneornil(L, 2) ? 0
                                    : tide_lua_checkdim(L, 2, ts[0]->ndim + 1, "stack");
    tide_lua_check(L, tide_stack(tide_lua_newtensor(L), ts, n, dim));
    return 1;
}

/* Pushes a list of narrows of t along dim, of the sizes in sizes[0..n). */
static int push_parts(lua_State *L, const tide_tensor *t, int dim, const int64_t *sizes,
                      int64_t n)
{
    lua_createtable(L, (int)n, 0);
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        tide_tensor *part = tide_lua_newtensor(L);
        tide_lua_check(L, tide_narrow(part, t, dim, at, sizes[i]));
        lua_seti(L, -2, i + 1);
        at += sizes[i];
    }
    return 1;
}

/* Pushes the pieces of length size (the last shorter) of t's dim. */
static int split_by_size(lua_State *L, const tide_tensor *t, int dim, int64_t size,
                         const char *op)
{
    if (size < 1)
        return luaL_error(L, "%s: size %d must be positive", op, (int)size);
    int64_t len = t->shape[dim], n = len == 0 ? 1 : (len + size - 1) / size;
    int64_t *sizes = lua_newuserdatauv(L, (size_t)n * sizeof *sizes, 0);
    for (int64_t i = 0; i < n; i++)
        sizes[i] = len - i * size < size ? len - i * size : size;
    return push_parts(L, t, dim, sizes, n);
}

/* The optional dim at arg (default 1) of t. */
static int opt_dim(lua_State *L, int arg, const tide_tensor *t, const char *op)
{
    if (t->ndim == 0)
        luaL_error(L, "%s: cannot split a 0-dim tensor", op);
    return lua_isnoneornil(L, arg) ? 0 : tide_lua_checkdim(L, arg, t->ndim, op);
}

/* t:split(size, [dim = 1]) or t:split({sizes...}, [dim]): a list of views along dim. */
static int m_split(lua_State *L)
{
    tide_lua_checknargs(L, 3, "split");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dim = opt_dim(L, 3, t, "split");
    if (!lua_istable(L, 2))
        return split_by_size(L, t, dim, luaL_checkinteger(L, 2), "split");
    int64_t n = (int64_t)luaL_len(L, 2), total = 0;
    int64_t *sizes = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *sizes, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        int ok;
        sizes[i] = lua_tointegerx(L, -1, &ok);
        if (!ok || sizes[i] < 0)
            return luaL_error(L, "split: section %d must be a size >= 0, got %s", (int)i + 1,
                              luaL_tolstring(L, -1, NULL));
        lua_pop(L, 1);
        total += sizes[i];
    }
    if (total != t->shape[dim])
        return luaL_error(L, "split: sections sum to %d, dim %d has size %d", (int)total,
                          dim + 1, (int)t->shape[dim]);
    return push_parts(L, t, dim, sizes, n);
}

/* t:chunk(chunks, [dim = 1]): at most chunks views of ceil(size / chunks) (torch.chunk). */
static int m_chunk(lua_State *L)
{
    tide_lua_checknargs(L, 3, "chunk");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    lua_Integer chunks = luaL_checkinteger(L, 2);
    int dim = opt_dim(L, 3, t, "chunk");
    if (chunks < 1)
        return luaL_error(L, "chunk: chunks must be positive, got %I", chunks);
    int64_t len = t->shape[dim];
    return split_by_size(L, t, dim, len == 0 ? 1 : (len + chunks - 1) / chunks, "chunk");
}

/* The dims at arg (a number, numbers or a table), 1-based in, 0-based out. */
static int check_dims(lua_State *L, int arg, const tide_tensor *t, int *dims, const char *op)
{
    int64_t raw[TIDE_MAX_DIMS];
    int n = tide_lua_checkshape(L, arg, raw, op);
    for (int i = 0; i < n; i++)
        dims[i] = (int)tide_lua_index(L, raw[i], t->ndim, op, "dim");
    return n;
}

/* t:flip(dims): reversed along each dim (a number or a table of dims). */
static int m_flip(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int dims[TIDE_MAX_DIMS];
    int n = check_dims(L, 2, t, dims, "flip");
    tide_lua_checknargs(L, lua_istable(L, 2) ? 2 : 1 + n, "flip");
    tide_lua_check(L, tide_flip(tide_lua_newtensor(L), t, n, dims));
    return 1;
}

/* t:tile(reps): torch.tile (reps a table or numbers). */
static int m_tile(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    int64_t reps[TIDE_MAX_DIMS];
    int n = tide_lua_checkshape(L, 2, reps, "tile");
    tide_lua_checknargs(L, lua_istable(L, 2) ? 2 : 1 + n, "tile");
    tide_lua_check(L, tide_tile(tide_lua_newtensor(L), t, n, reps));
    return 1;
}

static int tril_triu(lua_State *L, int upper)
{
    const char *op = upper ? "triu" : "tril";
    tide_lua_checknargs(L, 2, op);
    tide_tensor *t = tide_lua_checktensor(L, 1);
    lua_Integer diagonal = luaL_optinteger(L, 2, 0);
    tide_lua_check(L, tide_tril_triu(tide_lua_newtensor(L), t, diagonal, upper));
    return 1;
}

/* t:tril([diagonal = 0]) and t:triu([diagonal = 0]), over the last two dims. */
static int m_tril(lua_State *L) { return tril_triu(L, 0); }
static int m_triu(lua_State *L) { return tril_triu(L, 1); }

/* t:nonzero(): the 1-based indices of t's nonzero elements, an i64 tensor nnz x ndim. */
static int m_nonzero(lua_State *L)
{
    tide_lua_checknargs(L, 1, "nonzero");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_nonzero(out, t));
    int64_t *d = tide_data(out);
    for (int64_t i = 0, n = tide_numel(out); i < n; i++)
        d[i]++;
    return 1;
}

/* labels:one_hot([classes]): i64, labels' shape plus a last dim of classes, 1 at each label
 * (labels are 1-based classes, 1..classes; classes defaults to the largest label). */
static int m_one_hot(lua_State *L)
{
    tide_lua_checknargs(L, 2, "one_hot");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    lua_Integer classes = -1;
    if (!lua_isnoneornil(L, 2)) {
        classes = luaL_checkinteger(L, 2);
        if (classes < 0)
            return luaL_error(L, "one_hot: classes must be >= 0, got %I", classes);
    }
    tide_lua_check(L, tide_one_hot(tide_lua_newtensor(L), t, classes, 1));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"cat", l_cat}, {"stack", l_stack}, {"one_hot", m_one_hot},
    {NULL, NULL}};

static const luaL_Reg methods[] = {
    {"split", m_split}, {"chunk", m_chunk}, {"flip", m_flip}, {"tile", m_tile},
    {"tril", m_tril}, {"triu", m_triu}, {"nonzero", m_nonzero}, {"one_hot", m_one_hot},
    {NULL, NULL}};

void tide_open_shape(lua_State *L, int module, int methods_idx, int meta)
{
    (void)meta;
    lua_pushvalue(L, module);
    luaL_setfuncs(L, funcs, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, methods_idx);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}
