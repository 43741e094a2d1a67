/* tide_core.c — luaopen_tide_core: builds the tide.core module table and the tensor
 * metatable, then lets each bindings file add its functions (see lua_tensor.h). */
#include <lauxlib.h>
#include <lua.h>

#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

int luaopen_tide_core(lua_State *L)
{
    lua_newtable(L);                            /* the module */
    int module = lua_gettop(L);
    luaL_newmetatable(L, TIDE_TENSOR_MT);       /* its __name makes errors say tide.tensor */
    int meta = lua_gettop(L);
    lua_newtable(L);                            /* methods, reached through __index */
    int methods = lua_gettop(L);

    for (const tide_opener *open = tide_openers; *open; open++)
        (*open)(L, module, methods, meta);
    tide_guard_storage(L, module, methods, meta);

    lua_pushvalue(L, methods);
    lua_setfield(L, module, "methods");
    lua_pushliteral(L, TIDE_VERSION);
    lua_setfield(L, module, "version");
    lua_settop(L, module);
    return 1;
}
