/* lua_storage.c — keeps the storage dtypes (f16, bf16) away from the kernels.
 *
 * The kernels compute on f32, f64, i32, i64 and u8 only. Rather than a check in each of some
 * two hundred bindings, tide_guard_storage wraps every function of the module, the tensor
 * methods and the arithmetic metamethods, except those that only move or convert elements, in
 * a closure that refuses a storage-dtype tensor argument with the op's name. It runs after
 * every opener, so it sees every function they registered. The price is one closure call per
 * wrapped call (about 0.08 us on a 16-element add, measured once under load); checks inside the
 * kernels' own dtype dispatch would be free, and are the better end state. */
#include <string.h>

#include "lua_bindings.h"
#include "tensor/half.h"
#include "tensor/lua_tensor.h"

/* What handles a storage dtype: shape and view methods, copies and casts, element access,
 * printing, files and the functions that take no tensor to compute on. */
static const char *const moves[] = {
    "shape", "size", "dim", "numel", "dtype", "is_contiguous", "is_view", "narrow", "select",
    "transpose", "t", "permute", "view", "reshape", "expand", "unsqueeze", "squeeze",
    "contiguous", "clone", "to", "copy_", "fill_", "zero_", "get", "set_", "set", "totable",
    "item", "close", "split", "chunk", "flip", "tile", "cat", "stack", "empty", "zeros", "ones",
    "full", "tensor", "memory", "is_tensor", "deprecated", "save", "load", "save_npy",
    "load_npy", "save_safetensors", "load_safetensors", "__index", "__newindex", "__len", "__gc",
    "__close", "__tostring", "__name", "methods", "version",
    /* diagnosis: their frames must read as themselves in the tracebacks a dump records */
    "dump", "recorder", "set_recorder", "set_timeout", "breakpoint", "now", "abort", NULL};

static int moves_storage(const char *name)
{
    for (const char *const *m = moves; *m; m++)
        if (strcmp(*m, name) == 0)
            return 1;
    return 0;
}

static int guarded(lua_State *L)
{
    for (int i = 1, n = lua_gettop(L); i <= n; i++) {
        tide_tensor *t = tide_lua_totensor(L, i);
        if (t && tide_dtype_is_storage(t->dtype)) {
            const char *op = lua_tostring(L, lua_upvalueindex(2));
            tide_lua_check(L, tide_dtype_computes(t->dtype, op));
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Wraps the C functions of the table at idx that do not handle storage dtypes. */
static void guard_table(lua_State *L, int idx)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (name && lua_iscfunction(L, -1) && !moves_storage(name)) {
            const char *shown = strncmp(name, "__", 2) == 0 ? name + 2 : name;
            lua_pushstring(L, shown);               /* f, name */
            lua_pushcclosure(L, guarded, 2);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, idx);                     /* replacing a present key is allowed */
        } else {
            lua_pop(L, 1);
        }
    }
}

void tide_guard_storage(lua_State *L, int module, int methods, int meta)
{
    guard_table(L, module);
    guard_table(L, methods);
    guard_table(L, meta);
}
