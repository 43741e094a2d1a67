/* lua_safetensors.c — tide.io.st_save / st_load: the safetensors file as Lua tables (the
 * format is io/safetensors.h's; tide.save and tide.load build any Lua value on top of them). */
#include <string.h>

#include "io/safetensors.h"
#include "lua_io.h"
#include "tensor/lua_tensor.h"

#define ST_FILE_MT "tide.st_file"

/* tide.io.st_save(path, names, tensors [, meta]) -> crc32, bytes
 * names and tensors: arrays of the same length; meta: a table of string keys and values. */
static int l_st_save(lua_State *L)
{
    tide_lua_checknargs(L, 4, "st_save");
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (luaL_len(L, 3) != n)
        return luaL_error(L, "st_save: %d names but %d tensors", (int)n, (int)luaL_len(L, 3));
    if (n > 1 << 24)
        return luaL_error(L, "st_save: too many tensors (%d)", (int)n);
    int nmeta = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        for (lua_pushnil(L); lua_next(L, 4); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "st_save: metadata must map strings to strings, got %s = %s",
                                  luaL_typename(L, -2), luaL_typename(L, -1));
            nmeta++;
        }
    }
    /* scratch arrays in a userdata: the GC frees them whatever happens */
    size_t slots = (size_t)n + (size_t)nmeta + 1;
    const char **names = lua_newuserdatauv(L, slots * 2 * sizeof(char *) +
                                                  ((size_t)n + 1) * sizeof(tide_tensor *), 0);
    const char **values = names + (size_t)n;
    const char **keys = values + (size_t)nmeta + 1;
    const tide_tensor **tensors = (const tide_tensor **)(keys + slots);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "st_save: name %d is a %s, not a string", (int)i,
                              luaL_typename(L, -1));
        names[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);   /* still anchored in the names table */
        lua_geti(L, 3, i);
        tensors[i - 1] = tide_lua_totensor(L, -1);
        if (!tensors[i - 1])
            return luaL_error(L, "st_save: tensor %d ('%s') is a %s, not an open tensor", (int)i,
                              names[i - 1], luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    int k = 0;
    if (nmeta > 0)
        for (lua_pushnil(L); lua_next(L, 4); lua_pop(L, 1)) {
            keys[k] = lua_tostring(L, -2);
            values[k++] = lua_tostring(L, -1);
        }
    uint32_t crc = 0;
    int64_t size = 0;
    tide_lua_check(L, tide_st_save(path, (int)n, names, tensors, nmeta, keys, values, &crc,
                                   &size));
    lua_pushinteger(L, crc);
    lua_pushinteger(L, size);
    return 2;
}

static int st_file_gc(lua_State *L)
{
    tide_st_free(luaL_checkudata(L, 1, ST_FILE_MT));
    return 0;
}

/* tide.io.st_load(path [, map]) -> {name = tensor}, {key = value}, {names in data order} */
static int l_st_load(lua_State *L)
{
    tide_lua_checknargs(L, 2, "st_load");
    const char *path = luaL_checkstring(L, 1);
    int map = lua_toboolean(L, 2);
    tide_st_file *f = lua_newuserdatauv(L, sizeof *f, 0);   /* owns the result until handed out */
    memset(f, 0, sizeof *f);
    luaL_setmetatable(L, ST_FILE_MT);
    tide_lua_check(L, tide_st_load(f, path, map));
    int box = lua_gettop(L);
    lua_createtable(L, 0, f->ntensors);
    lua_createtable(L, 0, f->nmeta);
    lua_createtable(L, f->ntensors, 0);
    for (int i = 0; i < f->ntensors; i++) {
        lua_pushstring(L, f->names[i]);
        lua_rawseti(L, box + 3, i + 1);
        tide_lua_pushtensor(L, &f->tensors[i]);
        lua_setfield(L, box + 1, f->names[i]);
    }
    for (int i = 0; i < f->nmeta; i++) {
        lua_pushstring(L, f->meta_values[i]);
        lua_setfield(L, box + 2, f->meta_keys[i]);
    }
    tide_st_free(f);
    tide_lua_gc_pressure(L);
    return 3;
}

static const luaL_Reg st_funcs[] = {{"st_save", l_st_save}, {"st_load", l_st_load}, {NULL, NULL}};

void tide_open_safetensors(lua_State *L, int io)
{
    if (luaL_newmetatable(L, ST_FILE_MT)) {
        lua_pushcfunction(L, st_file_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushvalue(L, io);
    luaL_setfuncs(L, st_funcs, 0);
    lua_pop(L, 1);
}
