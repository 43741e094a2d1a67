/* lua_format.c — tostring(t): the core's Torch7-style text (format.h) in a Lua string. */
#include "tensor/format.h"
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

/* The core writes in pieces straight into a luaL_Buffer; it holds nothing a memory error
 * raised from here could leak. */
static void add_to_buffer(void *ctx, const char *s, size_t n)
{
    luaL_addlstring((luaL_Buffer *)ctx, s, n);
}

static int meta_tostring(lua_State *L)
{
    tide_tensor *t = luaL_checkudata(L, 1, TIDE_TENSOR_MT);
    if (!t->storage) {
        lua_pushliteral(L, "[closed tensor]");
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    tide_format(t, add_to_buffer, &b);
    luaL_pushresult(&b);
    return 1;
}

void tide_open_format(lua_State *L, int module, int methods, int meta)
{
    (void)module;
    (void)methods;
    lua_pushcfunction(L, meta_tostring);
    lua_setfield(L, meta, "__tostring");
}
