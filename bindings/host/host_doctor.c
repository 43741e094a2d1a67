/* host_doctor.c — `tide doctor [DIR]`: runs require("tide.diag.doctor").main{DIR} in a plain Lua
 * state with the library this executable was built with first on the path. No MPI: the dumps
 * are files, and the job that wrote them may be long gone. */
#include "host_doctor.h"
#include "host_impl.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

static int doctor(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    luaL_openlibs(L);
    tide_host_set_path(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "tide.diag.doctor");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_call(L, 1, 1);
    return 1;
}

int tide_host_doctor(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "tide doctor: out of memory\n");
        return 1;
    }
    lua_pushcfunction(L, doctor);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int code = 1;
    if (lua_pcall(L, 2, 1, 0) != LUA_OK)
        fprintf(stderr, "tide doctor: %s\n", lua_tostring(L, -1));
    else
        code = (int)luaL_optinteger(L, -1, 1);
    lua_close(L);
    return code;
}
