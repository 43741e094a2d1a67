/* lua_io.h — the files that fill tide.io besides lua_io.c; tide_open_io calls them with the
 * absolute stack index of the tide.io table. */
#ifndef TIDE_LUA_IO_H
#define TIDE_LUA_IO_H

#include <lua.h>

void tide_open_safetensors(lua_State *L, int io);
void tide_open_files(lua_State *L, int io);
void tide_open_ckpt(lua_State *L, int io);

#endif
