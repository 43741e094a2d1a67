/* lua_io.c — tide.save / tide.load (.npy, see io_npy.h) and tide.io.read_idx (io_idx.h).
 *
 * tide.io holds read_idx, save and load; other bindings files may add to the same table. */
#include "io_idx.h"
#include "io_npy.h"
#include "lua_bindings.h"
#include "lua_tensor.h"

/* tide.save(path, t): writes t as .npy under a temporary name, then renames it into place. */
static int l_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_lua_check(L, tide_npy_save(path, t));
    return 0;
}

/* tide.load(path): a new contiguous tensor from a .npy file. */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_npy_load(t, path));
    tide_lua_gc_pressure(L);
    return 1;
}

/* tide.io.read_idx(path): a tensor from an IDX file, gzipped or not (u8 data -> u8). */
static int l_read_idx(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_idx_read(t, path));
    tide_lua_gc_pressure(L);
    return 1;
}

static const luaL_Reg io_funcs[] = {
    {"read_idx", l_read_idx}, {"save", l_save}, {"load", l_load},
    {NULL, NULL}};

void tide_open_io(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    lua_pushcfunction(L, l_save);
    lua_setfield(L, module, "save");
    lua_pushcfunction(L, l_load);
    lua_setfield(L, module, "load");
    if (lua_getfield(L, module, "io") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, module, "io");
    }
    luaL_setfuncs(L, io_funcs, 0);
    lua_pop(L, 1);
}
