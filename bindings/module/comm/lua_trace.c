/* lua_trace.c — tide.trace: the timeline (see core/trace.h).
 *
 *   tide.trace.start(file)        start recording (collective: every rank calls it)
 *   tide.trace.span(name, fn, ...) run fn(...), recorded as a span; returns fn's results
 *   tide.trace.stop() -> file     gather every rank's events; rank 0 writes file (collective)
 *   tide.trace.summary() -> list  {compute = s, comm = s} per rank, list entry r + 1 for rank r
 *   tide.trace.enabled() -> bool
 * TIDE_TRACE=file starts recording when tide loads and writes the file at exit. */
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"
#include "comm/comm.h"
#include "comm/trace.h"
#include "comm/runtime.h"
#include "comm/lua_comm.h"

#include <stdlib.h>

static MPI_Comm trace_comm(lua_State *L)
{
    if (!tide_comm_runtime_ready())
        luaL_error(L, "trace: MPI is not initialised");
    return tide_comm_base();
}

static int l_start(lua_State *L)
{
    tide_lua_checknargs(L, 1, "trace.start");
    const char *path = luaL_checkstring(L, 1);
    trace_comm(L);
    tide_lua_site(L, 1);
    /* collective: a rank that never starts would leave the others waiting in trace.stop */
    tide_lua_check(L, tide_runtime_agree("trace.start"));
    tide_lua_check(L, tide_trace_start(path));
    return 0;
}

static int l_stop(lua_State *L)
{
    tide_lua_checknargs(L, 0, "trace.stop");
    char path[1024];
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_trace_stop(trace_comm(L), path, sizeof path));
    lua_pushstring(L, path);
    return 1;
}

static int l_enabled(lua_State *L)
{
    tide_lua_checknargs(L, 0, "trace.enabled");
    lua_pushboolean(L, tide_trace_on());
    return 1;
}

/* span(name, fn, ...): fn's errors pass through unchanged, after the span is recorded. */
static int l_span(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 2;
    if (!tide_trace_on()) {
        lua_call(L, nargs, LUA_MULTRET);
        return lua_gettop(L) - 1;
    }
    double t0 = tide_trace_now();
    int st = lua_pcall(L, nargs, LUA_MULTRET, 0);
    tide_trace_event(name, TIDE_TRACE_USER, t0, tide_trace_now(), 0);
    if (st != LUA_OK)
        return lua_error(L);
    return lua_gettop(L) - 1;
}

static int l_summary(lua_State *L)
{
    tide_lua_checknargs(L, 0, "trace.summary");
    MPI_Comm comm = trace_comm(L);
    tide_lua_site(L, 1);
    int size = 1;
    MPI_Comm_size(comm, &size);
    double *v = lua_newuserdatauv(L, sizeof(double) * 2 * (size_t)size, 0);
    tide_lua_check(L, tide_trace_summary(comm, v, v + size));
    lua_createtable(L, size, 0);
    for (int r = 0; r < size; r++) {
        lua_createtable(L, 0, 2);
        lua_pushnumber(L, v[r]);
        lua_setfield(L, -2, "compute");
        lua_pushnumber(L, v[size + r]);
        lua_setfield(L, -2, "comm");
        lua_rawseti(L, -2, r + 1);
    }
    return 1;
}

/* tide.now() -> wall-clock seconds, the timeline's clock: the one clock scripts time with. */
static int l_now(lua_State *L)
{
    tide_lua_checknargs(L, 0, "now");
    lua_pushnumber(L, tide_trace_now());
    return 1;
}

static const luaL_Reg trace_funcs[] = {
    {"start", l_start}, {"stop", l_stop}, {"span", l_span}, {"summary", l_summary},
    {"enabled", l_enabled}, {"now", l_now},
    {NULL, NULL}};

void tide_open_trace(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    luaL_newlib(L, trace_funcs);
    lua_setfield(L, module, "trace");
    lua_pushcfunction(L, l_now);
    lua_setfield(L, module, "now");
}
