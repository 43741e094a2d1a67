/* lua_objects.c — the byte transfers scripts/tide/comm.lua builds the object collectives
 * (bcast_obj, allgather_obj, gather_obj, tide.on) and send_obj/recv_obj on (core/comm/objects.h,
 * and p2p.c for the messages).
 *
 *   comm:_bcast_bytes(name, ok, s, root) -> root's string
 *   comm:_allgather_bytes(name, ok, s) -> list of every rank's string
 *   comm:_gather_bytes(name, ok, s, root) -> that list on root, nil elsewhere
 *   comm:_send_bytes(s, dst, tag), comm:_recv_bytes(src, tag) -> string, source, tag */
#include "comm/lua_comm.h"
#include "comm/objects.h"
#include "tensor/lua_tensor.h"

#include <stdlib.h>
#include <string.h>

/* Called from Lua wrappers, so the user's call site is one level further up. Each takes the
 * operation's name (for messages and fingerprints), whether the value serialised (ok) and the
 * string: the serialised value, or the serialiser's error message. */

/* Raises the core's message after freeing data. */
static void check_free(lua_State *L, tide_status st, void *data)
{
    if (st != TIDE_OK) {
        free(data);
        tide_lua_check(L, st);
    }
}

/* comm:_bcast_bytes(name, ok, s, root) -> root's string */
static int m_bcast_bytes(lua_State *L)
{
    tide_comm *c = tide_lua_checkcomm(L, 1);
    const char *name = luaL_checkstring(L, 2);
    int ok = lua_toboolean(L, 3);
    size_t len = 0;
    const char *s = lua_isnoneornil(L, 4) ? "" : luaL_checklstring(L, 4, &len);
    int root = tide_lua_optrank(L, 5, 0);
    tide_lua_site(L, 2);
    tide_bytes out = {0};
    tide_status st = tide_comm_bcast_bytes(c, name, s, (int64_t)len, ok, root, &out);
    check_free(L, st, out.data);
    lua_pushlstring(L, out.data, (size_t)out.len);
    free(out.data);
    return 1;
}

/* Pushes the per-rank strings as a list and frees their block. */
static int push_strings(lua_State *L, tide_bytes *all, int size)
{
    if (!all[0].data && size > 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, size, 0);
    for (int r = 0; r < size; r++) {
        lua_pushlstring(L, all[r].data, (size_t)all[r].len);
        lua_rawseti(L, -2, r + 1);
    }
    free(all[0].data);
    return 1;
}

/* comm:_allgather_bytes(name, ok, s) -> list of every rank's string;
 * comm:_gather_bytes(name, ok, s, root) -> that list on root, nil elsewhere */
static int gather_bytes(lua_State *L, int all_ranks)
{
    tide_comm *c = tide_lua_checkcomm(L, 1);
    const char *name = luaL_checkstring(L, 2);
    int ok = lua_toboolean(L, 3);
    size_t len = 0;
    const char *s = luaL_checklstring(L, 4, &len);
    int root = all_ranks ? -1 : tide_lua_optrank(L, 5, 0);
    tide_lua_site(L, 2);
    tide_bytes *out = lua_newuserdatauv(L, sizeof(tide_bytes) * (size_t)c->size, 0);
    memset(out, 0, sizeof(tide_bytes) * (size_t)c->size);
    tide_status st = all_ranks ? tide_comm_allgather_bytes(c, name, s, (int64_t)len, ok, out)
                               : tide_comm_gather_bytes(c, name, s, (int64_t)len, ok, root, out);
    tide_lua_check(L, st);
    return push_strings(L, out, c->size);
}

static int m_allgather_bytes(lua_State *L) { return gather_bytes(L, 1); }
static int m_gather_bytes(lua_State *L) { return gather_bytes(L, 0); }

/* comm:_send_bytes(s, dst, tag) */
static int m_send_bytes(lua_State *L)
{
    tide_comm *c = tide_lua_checkcomm(L, 1);
    size_t len = 0;
    const char *s = luaL_checklstring(L, 2, &len);
    if (lua_isnoneornil(L, 3))
        return luaL_error(L, "send_obj: expected a destination rank");
    int dst = tide_lua_optrank(L, 3, -2);
    int tag = tide_lua_opttag(L, 4, 0);
    tide_lua_site(L, 2);
    tide_lua_check(L, tide_comm_send_bytes(c, s, (int64_t)len, dst, tag));
    return 0;
}

/* comm:_recv_bytes(src, tag) -> string, source, tag */
static int m_recv_bytes(lua_State *L)
{
    tide_comm *c = tide_lua_checkcomm(L, 1);
    int src = tide_lua_optrank(L, 2, TIDE_ANY);
    int tag = tide_lua_opttag(L, 3, TIDE_ANY);
    tide_lua_site(L, 2);
    tide_bytes out = {0};
    tide_recv_info info;
    tide_status st = tide_comm_recv_bytes(c, src, tag, &out, &info);
    check_free(L, st, out.data);
    lua_pushlstring(L, out.data, (size_t)out.len);
    free(out.data);
    return 1 + tide_lua_pushinfo(L, &info);
}

static const luaL_Reg methods[] = {
    {"_bcast_bytes", m_bcast_bytes}, {"_allgather_bytes", m_allgather_bytes},
    {"_gather_bytes", m_gather_bytes}, {"_send_bytes", m_send_bytes},
    {"_recv_bytes", m_recv_bytes},
    {NULL, NULL}};

void tide_lua_comm_objects(lua_State *L, int methods_idx)
{
    lua_pushvalue(L, methods_idx);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}
