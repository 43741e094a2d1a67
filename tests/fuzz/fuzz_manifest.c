/* fuzz_manifest.c — libFuzzer harness for the checkpoint manifest's checks
 * (scripts/tide/checkpoint/manifest.lua, run in an embedded Lua with lua-cjson). Any text must
 * be accepted or refused with a "manifest: fuzz: " message: another Lua error (indexing a nil,
 * comparing a string with a number ...) is a check that was missed, and aborts. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TIDE_SOURCE_DIR
#error "build with -DTIDE_SOURCE_DIR=\"...\""
#endif

static lua_State *L;

static void setup(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    const char *code = "package.path = '" TIDE_SOURCE_DIR "/scripts/?.lua;" TIDE_SOURCE_DIR
                       "/scripts/?/init.lua;' .. package.path\n"
                       "local m = require 'tide.checkpoint.manifest'\n"
                       "local function crc(s) return #s end\n"   /* any function: the check */
                       "return function(text, sealed)\n"
                       "  return m.parse(text, 'fuzz', sealed and crc or nil)\n"
                       "end\n";
    if (luaL_dostring(L, code) != LUA_OK) {
        fprintf(stderr, "fuzz_manifest: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "tide_fuzz_parse");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L)
        setup();
    for (int sealed = 0; sealed < 2; sealed++) {
        lua_getfield(L, LUA_REGISTRYINDEX, "tide_fuzz_parse");
        lua_pushlstring(L, (const char *)data, size);
        lua_pushboolean(L, sealed);
        if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
            const char *msg = lua_tostring(L, -1);
            if (!msg || strncmp(msg, "manifest: fuzz: ", 16) != 0) {
                fprintf(stderr, "fuzz_manifest: an unchecked failure: %s\n", msg ? msg : "?");
                abort();
            }
        }
        lua_pop(L, 1);
    }
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
