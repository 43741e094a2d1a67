/* lua_comm_request.c — non-blocking methods (iallreduce, ibroadcast, iallgather, ialltoallv,
 * isend, irecv), the request object they return, and tide.wait_all.
 *
 * A request's user values keep what it needs alive: 1 the communicator, 2 the tensor passed in
 * (the result of the in-place forms and irecv), 3 the result box (iallgather, ialltoallv). The
 * core request also holds its own references to the memory MPI uses, so even a tensor the
 * script closes stays valid until the request completes. A request collected while pending is
 * completed first (a pending receive is cancelled). */
#include "comm/lua_comm.h"
#include "tensor/lua_tensor.h"

#include <string.h>

static tide_request *new_request(lua_State *L, int comm_arg, int tensor_arg)
{
    tide_request *r = lua_newuserdatauv(L, sizeof *r, 3);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, TIDE_REQUEST_MT);
    lua_pushvalue(L, comm_arg);
    lua_setiuservalue(L, -2, 1);
    if (tensor_arg) {
        lua_pushvalue(L, tensor_arg);
        lua_setiuservalue(L, -2, 2);
    }
    return r;
}

/* A result box stored as user value 3 of the request at idx. */
static tide_tensor *result_box(lua_State *L, int idx)
{
    tide_tensor *out = tide_lua_newtensor(L);
    lua_setiuservalue(L, idx, 3);
    return out;
}

static tide_request *check_request(lua_State *L, int arg)
{
    return luaL_checkudata(L, arg, TIDE_REQUEST_MT);
}

/* Pushes what the completed request at idx returns. */
static int push_results(lua_State *L, int idx, tide_request *r)
{
    switch (r->kind) {
    case TIDE_REQ_ALLREDUCE:
    case TIDE_REQ_BROADCAST:
        lua_getiuservalue(L, idx, 2);
        return 1;
    case TIDE_REQ_ALLGATHER:
        lua_getiuservalue(L, idx, 3);
        return 1;
    case TIDE_REQ_ALLTOALLV:
        lua_getiuservalue(L, idx, 3);
        tide_lua_pushcounts(L, r->recv_counts, r->comm->size);
        return 2;
    case TIDE_REQ_RECV:
        lua_getiuservalue(L, idx, 2);
        lua_pushinteger(L, r->info.source);
        lua_pushinteger(L, r->info.tag);
        return 3;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ starting */

/* comm:iallreduce(t, op = "sum") -> request; wait() -> t */
static int m_iallreduce(lua_State *L)
{
    tide_lua_checknargs(L, 3, "iallreduce");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_op op = tide_lua_checkop(L, 3, "iallreduce");
    tide_lua_site(L, 1);
    tide_request *r = new_request(L, 1, 2);
    tide_lua_check(L, tide_comm_iallreduce(c, r, t, op));
    return 1;
}

/* comm:ibroadcast(t, root = 0) -> request; wait() -> t */
static int m_ibroadcast(lua_State *L)
{
    tide_lua_checknargs(L, 3, "ibroadcast");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int root = tide_lua_optrank(L, 3, 0);
    tide_lua_site(L, 1);
    tide_request *r = new_request(L, 1, 2);
    tide_lua_check(L, tide_comm_ibroadcast(c, r, t, root));
    return 1;
}

/* comm:iallgather(t) -> request; wait() -> the stacked rows */
static int m_iallgather(lua_State *L)
{
    tide_lua_checknargs(L, 2, "iallgather");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_lua_site(L, 1);
    tide_request *r = new_request(L, 1, 2);
    int idx = lua_gettop(L);
    tide_tensor *out = result_box(L, idx);
    tide_lua_check(L, tide_comm_iallgather(c, r, out, t));
    return 1;
}

/* comm:ialltoallv(t, send_counts) -> request; wait() -> received rows, received counts */
static int m_ialltoallv(lua_State *L)
{
    tide_lua_checknargs(L, 3, "ialltoallv");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int64_t *send = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)c->size, 0);
    tide_lua_counts(L, 3, c->size, send, 0, "ialltoallv");
    tide_lua_site(L, 1);
    tide_request *r = new_request(L, 1, 2);
    int idx = lua_gettop(L);
    tide_tensor *out = result_box(L, idx);
    tide_lua_check(L, tide_comm_ialltoallv(c, r, out, t, send));
    return 1;
}

/* comm:isend(t, dst, tag = 0) -> request */
static int m_isend(lua_State *L)
{
    tide_lua_checknargs(L, 4, "isend");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    if (lua_isnoneornil(L, 3))
        return luaL_error(L, "isend: expected a destination rank");
    int dst = tide_lua_optrank(L, 3, 0);
    int tag = (int)luaL_optinteger(L, 4, 0);
    tide_lua_site(L, 1);
    tide_request *r = new_request(L, 1, 2);
    tide_lua_check(L, tide_comm_isend(c, r, t, dst, tag));
    return 1;
}

/* comm:irecv(t, src = tide.ANY, tag = tide.ANY) -> request; wait() -> t, source, tag */
static int m_irecv(lua_State *L)
{
    tide_lua_checknargs(L, 4, "irecv");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int src = tide_lua_optrank(L, 3, TIDE_ANY);
    lua_Integer tag = luaL_optinteger(L, 4, TIDE_ANY);
    if (tag < -1 || tag > 0x7fffffff)
        return luaL_error(L, "irecv: tag %I out of range", tag);
    tide_lua_site(L, 1);
    tide_request *r = new_request(L, 1, 2);
    tide_lua_check(L, tide_comm_irecv(c, r, t, src, (int)tag));
    return 1;
}

/* ------------------------------------------------------------------ completing */

/* req:wait() -> the operation's results */
static int r_wait(lua_State *L)
{
    tide_lua_checknargs(L, 1, "wait");
    tide_request *r = check_request(L, 1);
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_request_wait(r));
    return push_results(L, 1, r);
}

/* req:test() -> false, or true and the operation's results */
static int r_test(lua_State *L)
{
    tide_lua_checknargs(L, 1, "test");
    tide_request *r = check_request(L, 1);
    int done = 0;
    tide_lua_check(L, tide_request_test(r, &done));
    lua_pushboolean(L, done);
    return done ? 1 + push_results(L, 1, r) : 1;
}

static int r_gc(lua_State *L)
{
    tide_request_release(check_request(L, 1));
    return 0;
}

static int r_tostring(lua_State *L)
{
    tide_request *r = check_request(L, 1);
    lua_pushfstring(L, "tide.request (%s, %s)", tide_request_name(r),
                    r->active ? "pending" : "complete");
    return 1;
}

/* tide.wait_all(requests) -> a list of each request's first result */
static int l_wait_all(lua_State *L)
{
    tide_lua_checknargs(L, 1, "wait_all");
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        if (!luaL_testudata(L, -1, TIDE_REQUEST_MT))
            return luaL_error(L, "wait_all: entry %I is a %s, expected a request", i,
                              luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    tide_lua_site(L, 1);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        int idx = lua_gettop(L);
        tide_request *r = lua_touserdata(L, idx);
        tide_lua_check(L, tide_request_wait(r));
        int k = push_results(L, idx, r);
        if (k == 0)
            lua_pushboolean(L, 1);
        else if (k > 1)
            lua_pop(L, k - 1);
        lua_rawseti(L, -3, i);
        lua_settop(L, idx - 1);
    }
    return 1;
}

static const luaL_Reg comm_methods[] = {
    {"iallreduce", m_iallreduce}, {"ibroadcast", m_ibroadcast}, {"iallgather", m_iallgather},
    {"ialltoallv", m_ialltoallv}, {"isend", m_isend}, {"irecv", m_irecv},
    {NULL, NULL}};

static const luaL_Reg request_methods[] = {
    {"wait", r_wait}, {"test", r_test},
    {NULL, NULL}};

void tide_lua_comm_requests(lua_State *L, int module, int methods)
{
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, comm_methods, 0);
    lua_pop(L, 1);

    luaL_newmetatable(L, TIDE_REQUEST_MT);
    luaL_newlib(L, request_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, r_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, r_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, r_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    lua_pushcfunction(L, l_wait_all);
    lua_setfield(L, module, "wait_all");
}
