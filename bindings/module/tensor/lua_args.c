/* lua_args.c — Lua arguments into what the core takes: indices, shapes, dtypes, options and
 * the scalars stored into tensors (see lua_args.h for the rules). */
#include "tensor/half.h"
#include "tensor/lua_args.h"
#include "tensor/lua_tensor.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ indices */

int64_t tide_lua_index(lua_State *L, lua_Integer i, int64_t size, const char *op, const char *what)
{
    int64_t c = i < 0 ? (int64_t)i + size : (int64_t)i - 1;
    if (i == 0 || c < 0 || c >= size)
        luaL_error(L, "%s: %s %I out of range (expected 1..%I or -%I..-1)", op, what, i,
                   (lua_Integer)size, (lua_Integer)size);
    return c;
}

int64_t tide_lua_checkindex(lua_State *L, int arg, int64_t size, const char *op)
{
    return tide_lua_index(L, luaL_checkinteger(L, arg), size, op, "index");
}

int tide_lua_checkdim(lua_State *L, int arg, int ndim, const char *op)
{
    return (int)tide_lua_index(L, luaL_checkinteger(L, arg), ndim, op, "dim");
}

void tide_lua_checkindices(lua_State *L, const tide_tensor *t, int arg, int last, int64_t *idx,
                           const char *op)
{
    int n;
    lua_Integer raw[TIDE_MAX_DIMS];
    if (lua_istable(L, arg)) {
        n = (int)luaL_len(L, arg);
        if (n > TIDE_MAX_DIMS) n = TIDE_MAX_DIMS + 1;
        for (int i = 0; i < n && i < TIDE_MAX_DIMS; i++) {
            lua_geti(L, arg, i + 1);
            raw[i] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    } else {
        n = last - arg + 1;
        for (int i = 0; i < n && i < TIDE_MAX_DIMS; i++)
            raw[i] = luaL_checkinteger(L, arg + i);
    }
    if (n != t->ndim)
        luaL_error(L, "%s: expected %d indices for a %d-dim tensor, got %d", op, t->ndim, t->ndim, n);
    for (int d = 0; d < n; d++)
        idx[d] = tide_lua_index(L, raw[d], t->shape[d], op, "index");
}

/* ------------------------------------------------------------------ shapes, dtypes, options */

int tide_lua_checkshape(lua_State *L, int arg, int64_t *shape, const char *op)
{
    int n = 0;
    if (lua_istable(L, arg)) {
        n = (int)luaL_len(L, arg);
        if (n > TIDE_MAX_DIMS)
            luaL_error(L, "%s: %d dims given, at most %d supported", op, n, TIDE_MAX_DIMS);
        for (int i = 0; i < n; i++) {
            lua_geti(L, arg, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok)
                luaL_error(L, "%s: shape entry %d must be an integer, got %s", op, i + 1,
                           luaL_typename(L, -1));
            shape[i] = v;
            lua_pop(L, 1);
        }
        return n;
    }
    if (lua_type(L, arg) != LUA_TNUMBER)
        luaL_error(L, "%s: expected a shape (a table of sizes or sizes as arguments), got %s", op,
                   luaL_typename(L, arg));
    while (lua_type(L, arg + n) == LUA_TNUMBER) {
        if (n == TIDE_MAX_DIMS)
            luaL_error(L, "%s: more than %d dims given", op, TIDE_MAX_DIMS);
        int ok;
        shape[n] = lua_tointegerx(L, arg + n, &ok);
        if (!ok)
            luaL_error(L, "%s: size %d must be an integer, got %s", op, n + 1,
                       lua_tostring(L, arg + n));
        n++;
    }
    return n;
}

tide_dtype tide_lua_optdtype(lua_State *L, int arg, tide_dtype def)
{
    if (lua_isnoneornil(L, arg))
        return def;
    const char *name = luaL_checkstring(L, arg);
    tide_dtype dt;
    tide_lua_check(L, tide_dtype_parse(name, &dt));
    return dt;
}

tide_tensor *tide_lua_optout(lua_State *L, int arg)
{
    if (lua_isnoneornil(L, arg))
        return tide_lua_newtensor(L);
    tide_tensor *out = tide_lua_checktensor(L, arg);
    lua_pushvalue(L, arg);
    return out;
}

void tide_lua_checknargs(lua_State *L, int max, const char *op)
{
    int n = lua_gettop(L);
    if (n > max)
        luaL_error(L, "%s: too many arguments (expected at most %d, got %d)", op, max, n);
}

void tide_lua_checkopts(lua_State *L, int arg, const char *const *known, const char *op)
{
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        int found = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = known; *k && !found; k++)
                found = strcmp(*k, lua_tostring(L, -1)) == 0;
        if (!found) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *const *k = known; *k; k++) {
                luaL_addstring(&b, k == known ? "" : ", ");
                luaL_addstring(&b, *k);
            }
            luaL_pushresult(&b);
            const char *names = lua_tostring(L, -1);
            const char *key = luaL_tolstring(L, -2, NULL);
            luaL_error(L, "%s: unknown option '%s' (expected one of: %s)", op, key, names);
        }
    }
}

/* ------------------------------------------------------------------ scalars */

/* Does integer v keep its value in integer dtype dt's ctype? (Converting to a signed type out
 * of its range is implementation-defined, not undefined, and what wraps reads back as another
 * value.) Called for integer dtypes only: the float cases are there for the X-macro. */
#define FITS_CASE(E, n, T) \
    case E: return (int64_t)(T)v == v;

static int int_fits(int64_t v, tide_dtype dt)
{
    switch (dt) {
        TIDE_FOREACH_DTYPE(FITS_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
    }
    return 0;
}
#undef FITS_CASE

/* How a number reads in messages: Lua prints 0/0 as "-nan", which says nothing useful. */
static const char *number_str(lua_State *L, int arg)
{
    double v = lua_tonumber(L, arg);
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "inf" : "-inf";
    return luaL_tolstring(L, arg, NULL);
}

void tide_lua_checkscalar(lua_State *L, int arg, tide_dtype dt, const char *op)
{
    if (lua_type(L, arg) != LUA_TNUMBER)
        luaL_error(L, "%s: expected a number, got %s", op, luaL_typename(L, arg));
    const char *name = tide_dtype_name(dt);
    if (lua_isinteger(L, arg)) {
        if (!tide_dtype_is_float(dt) && !int_fits(lua_tointeger(L, arg), dt))
            luaL_error(L, "%s: %I is out of range for %s", op, lua_tointeger(L, arg), name);
        return;
    }
    double v = lua_tonumber(L, arg);
    if (dt == TIDE_F64 || tide_dtype_is_storage(dt))   /* f16 and bf16 overflow to inf, as numpy */
        return;
    if (dt == TIDE_F32) {
        if (isfinite(v) && fabs(v) > FLT_MAX)
            luaL_error(L, "%s: %s is out of range for f32 (finite values up to 3.4028235e38)", op,
                       number_str(L, arg));
        return;
    }
    if (!isfinite(v))
        luaL_error(L, "%s: %s cannot be stored in an %s tensor (integers have no NaN or "
                   "infinity)", op, number_str(L, arg), name);
    /* 2^63 is the first double past int64's range; the cast below is defined only under it */
    double t = trunc(v);
    if (!(t >= -9223372036854775808.0 && t < 9223372036854775808.0) || !int_fits((int64_t)t, dt))
        luaL_error(L, "%s: %s is out of range for %s", op, number_str(L, arg), name);
}

void tide_lua_storeelem(lua_State *L, tide_tensor *t, const int64_t *idx, int arg, const char *op)
{
    tide_lua_checkscalar(L, arg, t->dtype, op);
    if (lua_isinteger(L, arg))
        tide_set_i64(t, idx, lua_tointeger(L, arg));
    else
        tide_set_f64(t, idx, lua_tonumber(L, arg));
}

tide_status tide_lua_fill(lua_State *L, tide_tensor *t, int arg, const char *op)
{
    tide_lua_checkscalar(L, arg, t->dtype, op);
    if (!lua_isinteger(L, arg) || tide_dtype_is_float(t->dtype))
        return tide_fill(t, lua_tonumber(L, arg));
    /* an integer past 2^53 has no exact double: copy it from a one-element i64 instead */
    int64_t v = lua_tointeger(L, arg);
    tide_tensor one = TIDE_TENSOR_EMPTY;
    tide_status st = tide_tensor_wrap(&one, &v, TIDE_I64, 0, NULL, NULL, NULL);
    if (st == TIDE_OK)
        st = tide_copy(t, &one);
    tide_tensor_release(&one);
    return st;
}

void tide_lua_pushelem(lua_State *L, const tide_tensor *t, const int64_t *idx)
{
    if (tide_dtype_is_float(t->dtype))
        lua_pushnumber(L, tide_get_f64(t, idx));
    else
        lua_pushinteger(L, tide_get_i64(t, idx));
}

/* ------------------------------------------------------------------ deprecated names */

#define DEPRECATED_KEY "tide.deprecated"

void tide_lua_deprecated(lua_State *L, const char *old, const char *use)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, DEPRECATED_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, DEPRECATED_KEY);
    }
    int seen = lua_getfield(L, -1, old) != LUA_TNIL;
    lua_pop(L, 1);
    if (!seen) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, old);
        lua_writestringerror("%s\n", lua_pushfstring(L, "tide: %s is deprecated, use %s (this "
                             "warning is shown once)", old, use));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void tide_lua_addfuncs(lua_State *L, int table, const luaL_Reg *funcs)
{
    lua_pushvalue(L, table);
    luaL_setfuncs(L, funcs, 0);
    lua_pop(L, 1);
}
