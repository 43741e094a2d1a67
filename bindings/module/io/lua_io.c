/* lua_io.c — tide.save / tide.load (.npy, see io_npy.h) and tide.io.read_idx (io_idx.h).
 *
 * tide.io holds read_idx, save and load; lua_safetensors.c, lua_files.c and lua_ckpt.c add
 * theirs (lua_io.h), and other bindings files may add to the same table. */
#include "io/idx.h"
#include "io/npy.h"
#include "io/lua_io.h"
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

/* tide.save(path, t): writes t as .npy under a temporary name, then renames it into place. */
static int l_save(lua_State *L)
{
    tide_lua_checknargs(L, 2, "save");
    const char *path = luaL_checkstring(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_lua_check(L, tide_npy_save(path, t));
    return 0;
}

/* tide.load(path): a new contiguous tensor from a .npy file. */
static int l_load(lua_State *L)
{
    tide_lua_checknargs(L, 2, "load");
    static const char *const known[] = {"first", "count", NULL};
    const char *path = luaL_checkstring(L, 1);
    tide_lua_checkopts(L, 2, known, "load");
    int ranged = 0;
    lua_Integer first = 1, count = 0;
    if (lua_istable(L, 2)) {
        /* {first = i, count = n}: rows i .. i + n - 1 (1-based) only */
        int has_first = lua_getfield(L, 2, "first") != LUA_TNIL;
        int has_count = lua_getfield(L, 2, "count") != LUA_TNIL;
        if (has_first != has_count)
            luaL_error(L, "load: options first and count go together");
        if (has_first) {
            int ok_first, ok_count;
            first = lua_tointegerx(L, -2, &ok_first);
            count = lua_tointegerx(L, -1, &ok_count);
            if (!ok_first || !ok_count || first < 1 || count < 0) {
                const char *f = luaL_tolstring(L, -2, NULL);    /* pushes: count is at -2 now */
                const char *c = luaL_tolstring(L, -2, NULL);
                luaL_error(L, "load: first must be an integer >= 1 and count one >= 0, got %s"
                           " and %s", f, c);
            }
            ranged = 1;
        }
        lua_pop(L, 2);
    }
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, ranged ? tide_npy_load_rows(t, path, first - 1, count)
                             : tide_npy_load(t, path));
    tide_lua_gc_pressure(L);
    return 1;
}

/* tide.io.npy_shape(path) -> shape table, dtype name, from the file's header alone */
static int l_npy_shape(lua_State *L)
{
    tide_lua_checknargs(L, 1, "npy_shape");
    const char *path = luaL_checkstring(L, 1);
    int ndim;
    int64_t shape[TIDE_MAX_DIMS];
    tide_dtype dt;
    tide_lua_check(L, tide_npy_shape(path, &ndim, shape, &dt));
    lua_createtable(L, ndim, 0);
    for (int d = 0; d < ndim; d++) {
        lua_pushinteger(L, shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
    lua_pushstring(L, tide_dtype_name(dt));
    return 2;
}

/* tide.io.read_idx(path): a tensor from an IDX file, gzipped or not (u8 data -> u8). */
static int l_read_idx(lua_State *L)
{
    tide_lua_checknargs(L, 1, "read_idx");
    const char *path = luaL_checkstring(L, 1);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_idx_read(t, path));
    tide_lua_gc_pressure(L);
    return 1;
}

static const luaL_Reg io_funcs[] = {
    {"read_idx", l_read_idx}, {"save", l_save}, {"load", l_load}, {"npy_shape", l_npy_shape},
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
    tide_open_safetensors(L, lua_gettop(L));
    tide_open_files(L, lua_gettop(L));
    tide_open_ckpt(L, lua_gettop(L));
    lua_pop(L, 1);
}
