/* lua_comm.h — what the communicator bindings files share (lua_comm.c, lua_comm_coll.c,
 * lua_comm_request.c, lua_objects.c); nothing else includes it.
 *
 * A communicator is a full userdata whose block starts with a tide_comm, with the metatable
 * "tide.comm" (other bindings, e.g. dtensors, read the tide_comm through luaL_checkudata).
 * A request is a userdata holding a tide_request, metatable "tide.request". */
#ifndef TIDE_LUA_COMM_H
#define TIDE_LUA_COMM_H

#include <lauxlib.h>
#include <lua.h>

#include "comm/comm.h"

#define TIDE_COMM_MT "tide.comm"
#define TIDE_REQUEST_MT "tide.request"

/* The open communicator at arg (raises "attempt to use a freed communicator"). */
tide_comm *tide_lua_checkcomm(lua_State *L, int arg);
/* Tells the core where the collective is called from (the first Lua function at or above
 * stack level `level`): at once when debug or the watchdog will report it, else only when a
 * mismatch check asks. */
void tide_lua_site(lua_State *L, int level);
/* An op name at arg ("sum" when absent). */
tide_op tide_lua_checkop(lua_State *L, int arg, const char *op_name);
/* A 0-based rank at arg (def when absent; TIDE_ANY allowed where the core allows it). */
int tide_lua_optrank(lua_State *L, int arg, int def);
/* A table of one integer per rank (Lua index r + 1 for rank r) into counts (size entries), or
 * NULL when the argument is absent and may_omit. */
const int64_t *tide_lua_counts(lua_State *L, int arg, int size, int64_t *counts, int may_omit,
                               const char *op);
/* Pushes counts (size entries) as a Lua list. */
void tide_lua_pushcounts(lua_State *L, const int64_t *counts, int size);

/* A tag at arg (def when absent), and a receive's source and tag pushed (returns 2). */
int tide_lua_opttag(lua_State *L, int arg, int def);
int tide_lua_pushinfo(lua_State *L, const tide_recv_info *info);

/* The collective and point-to-point methods (lua_comm_coll.c). */
void tide_lua_comm_collectives(lua_State *L, int methods);
/* The byte transfers behind the object collectives (lua_objects.c). */
void tide_lua_comm_objects(lua_State *L, int methods);
/* The non-blocking methods, the request metatable and tide.wait_all (lua_comm_request.c). */
void tide_lua_comm_requests(lua_State *L, int module, int methods);

#endif
