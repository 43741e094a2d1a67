/* lua_safetensors.c — tide.io.st_save / st_encode / st_load: the safetensors file as Lua tables (the
 * format is io/safetensors.h's; tide.save and tide.load build any Lua value on top of them). */
#include <string.h>

#include "io/safetensors.h"
#include "lua_io.h"
#include "tensor/lua_tensor.h"

#define ST_FILE_MT "tide.st_file"

/* The arguments names, tensors [, meta] at index at (and on), as C arrays. */
typedef struct {
    int n, nmeta;
    const char **names, **keys, **values;
    const tide_tensor **tensors;
} st_args;

static st_args check_args(lua_State *L, const char *op, int at)
{
    st_args a;
    luaL_checktype(L, at, LUA_TTABLE);
    luaL_checktype(L, at + 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, at);
    if (luaL_len(L, at + 1) != n)
        luaL_error(L, "%s: %d names but %d tensors", op, (int)n, (int)luaL_len(L, at + 1));
    if (n > 1 << 24)
        luaL_error(L, "%s: too many tensors (%d)", op, (int)n);
    int nmeta = 0, meta = at + 2;
    if (!lua_isnoneornil(L, meta)) {
        luaL_checktype(L, meta, LUA_TTABLE);
        for (lua_pushnil(L); lua_next(L, meta); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "%s: metadata must map strings to strings, got %s = %s", op,
                           luaL_typename(L, -2), luaL_typename(L, -1));
            nmeta++;
        }
    }
    /* scratch arrays in a userdata left on the stack: the GC frees them whatever happens */
    size_t slots = (size_t)n + (size_t)nmeta + 1;
    a.names = lua_newuserdatauv(L, slots * 2 * sizeof(char *) +
                                       ((size_t)n + 1) * sizeof(tide_tensor *), 0);
    a.values = a.names + (size_t)n;
    a.keys = a.values + (size_t)nmeta + 1;
    a.tensors = (const tide_tensor **)(a.keys + slots);
    a.n = (int)n;
    a.nmeta = nmeta;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, at, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: name %d is a %s, not a string", op, (int)i, luaL_typename(L, -1));
        a.names[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);   /* still anchored in the names table */
        lua_geti(L, at + 1, i);
        a.tensors[i - 1] = tide_lua_totensor(L, -1);
        if (!a.tensors[i - 1])
            luaL_error(L, "%s: tensor %d ('%s') is a %s, not an open tensor", op, (int)i,
                       a.names[i - 1], luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    int k = 0;
    if (nmeta > 0)
        for (lua_pushnil(L); lua_next(L, meta); lua_pop(L, 1)) {
            a.keys[k] = lua_tostring(L, -2);
            a.values[k++] = lua_tostring(L, -1);
        }
    return a;
}

/* tide.io.st_save(path, names, tensors [, meta]) -> crc32, bytes
 * names and tensors: arrays of the same length; meta: a table of string keys and values. */
static int l_st_save(lua_State *L)
{
    tide_lua_checknargs(L, 4, "st_save");
    const char *path = luaL_checkstring(L, 1);
    st_args a = check_args(L, "st_save", 2);
    uint32_t crc = 0;
    int64_t size = 0;
    tide_lua_check(L, tide_st_save(path, a.n, a.names, a.tensors, a.nmeta, a.keys, a.values, &crc,
                                   &size));
    lua_pushinteger(L, crc);
    lua_pushinteger(L, size);
    return 2;
}

/* tide.io.st_encode(what, names, tensors [, meta]) -> the file's bytes (a u8 tensor) */
static int l_st_encode(lua_State *L)
{
    const char *what = luaL_checkstring(L, 1);
    st_args a = check_args(L, "st_encode", 2);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_st_encode(out, what, a.n, a.names, a.tensors, a.nmeta, a.keys,
                                     a.values));
    tide_lua_gc_pressure(L);
    return 1;
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

static const luaL_Reg st_funcs[] = {
    {"st_save", l_st_save}, {"st_encode", l_st_encode}, {"st_load", l_st_load}, {NULL, NULL}};

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
