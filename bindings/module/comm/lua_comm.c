/* lua_comm.c — tide.core's side of the MPI runtime (core/comm/runtime.c), tide.world and
 * communicator objects, and the module's switches (set_timeout, set_debug, abort, ANY).
 *
 * Who owns MPI: a host (the tide executable, an embedding program) initialises MPI before it
 * opens tide.core; it may name the communicator tide.world wraps by setting
 * registry["tide.world_comm"] to the communicator's Fortran handle (MPI_Comm_c2f) before
 * opening tide.core, and the state's closing releases the runtime. Loaded by a plain lua5.4
 * instead, the opener initialises MPI and an exit handler ends it: a rank that exits with a
 * non-zero status (a Lua error in lua.c, os.exit(1), a failed busted run) names itself and
 * aborts the whole job instead of leaving the other ranks waiting in a collective. os.exit is
 * wrapped here, once, for both (runtime.h's tide_runtime_exit).
 *
 *   tide.world                      the communicator of every rank; comm.rank, comm.size
 *   comm:split(color, key = rank)   color nil/false: not a member (returns nil)
 *   comm:split_node(), comm:dup(), comm:free()
 *   tide.ANY                        any source or tag in receives (-1)
 *   tide.set_timeout(s)             the watchdog (TIDE_TIMEOUT); 0 or nil: off
 *   tide.set_debug(on)              the fingerprint check (TIDE_DEBUG)
 *   tide.set_check(on)              the light mismatch check (on unless TIDE_CHECK=0)
 *   tide.abort(code = 1)            ends every rank of the job now
 * set_timeout, set_debug and set_check change how ranks talk (polled non-blocking calls, an extra
 * exchange): call them on every rank with the same value, as with a collective. */
#define _GNU_SOURCE
#include "comm/lua_comm.h"
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"
#include "comm/shared.h"
#include "comm/fingerprint.h"
#include "comm/trace.h"
#include "comm/runtime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int owns_mpi;   /* this module initialised MPI, so it finalises it */

/* ------------------------------------------------------------------ MPI's lifetime
 * (core/comm/runtime.c does the work; this is what ties it to a Lua state and to exit) */

#ifdef __GLIBC__
static void at_exit(int status, void *arg)
{
    (void)arg;
    tide_runtime_at_exit(status);
}
static void register_exit(void) { on_exit(at_exit, NULL); }
#else
static void at_exit_plain(void) { tide_runtime_at_exit(0); }
static void register_exit(void) { atexit(at_exit_plain); }
#endif

/* Lua unloads C modules when the state closes; the exit handler lives in this module, so keep
 * it mapped until the process ends. */
static void pin_module(void)
{
    Dl_info info;
    if (dladdr((void *)pin_module, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void ensure_mpi(lua_State *L)
{
    int owned = 0;
    tide_lua_check(L, tide_runtime_init_mpi(NULL, NULL, &owned));
    if (owned) {
        owns_mpi = 1;
        pin_module();
        register_exit();
    }
}

/* The state closes. Under a host (which owns MPI) this state is done with the runtime: the
 * last one waits for every rank, writes the timeline and frees. A plain lua5.4 leaves that to
 * the exit handler, which knows whether the process is failing. */
static int sentinel_gc(lua_State *L)
{
    (void)L;
    if (!owns_mpi && tide_runtime_mpi_active())
        tide_runtime_release();
    return 0;
}

static void close_state(void *L) { lua_close(L); }

/* os.exit(code, close), the one wrapper: a zero/true code ends this rank cleanly (the state
 * closes, so finalizers run and a timeline is written, then MPI is finalised); any other code in
 * a job of several ranks names this rank and ends the whole job (runtime.h). */
static int l_os_exit(lua_State *L)
{
    int status;
    if (lua_isboolean(L, 1))
        status = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    else
        status = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
    tide_runtime_exit(status, lua_toboolean(L, 2), close_state, L);
}

static void wrap_os_exit(lua_State *L)
{
    lua_getglobal(L, "os");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, l_os_exit);
        lua_setfield(L, -2, "exit");
    }
    lua_pop(L, 1);
}

/* tide.abort([code]): ends every rank of the job now. */
static int l_abort(lua_State *L)
{
    int code = (int)luaL_optinteger(L, 1, 1);
    char what[64];
    snprintf(what, sizeof what, "tide.abort(%d) ends the job", code);
    tide_runtime_fail(code, what);
    tide_runtime_exit(code, 0, NULL, NULL);   /* alone: end as os.exit(code) would */
}

/* ------------------------------------------------------------------ shared helpers */

tide_comm *tide_lua_checkcomm(lua_State *L, int arg)
{
    tide_comm *c = luaL_checkudata(L, arg, TIDE_COMM_MT);
    if (c->comm == MPI_COMM_NULL)
        luaL_error(L, "attempt to use a freed communicator");
    return c;
}

/* "file.lua:40" for the first Lua function at or above stack level `level`. */
static void site_of(void *ctx, int level, char *site, size_t n)
{
    lua_State *L = ctx;
    lua_Debug ar;
    for (; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline < 0)
            continue;   /* a C function (pcall, ...): the call site is further up */
        const char *src = ar.short_src;
        if (ar.source[0] == '@') {
            const char *slash = strrchr(ar.source, '/');
            src = slash ? slash + 1 : ar.source + 1;
        }
        snprintf(site, n, "%s:%d", src, ar.currentline);
        return;
    }
    snprintf(site, n, "?");
}

void tide_lua_site(lua_State *L, int level)
{
    if (!tide_comm_wants_site()) {
        tide_fp_defer_site(site_of, L, level);   /* the mismatch checks ask only on a mismatch */
        return;
    }
    char site[96];
    site_of(L, level, site, sizeof site);
    tide_comm_set_site(site);
    tide_fp_defer_site(NULL, NULL, 0);   /* already there */
}

tide_op tide_lua_checkop(lua_State *L, int arg, const char *op_name)
{
    if (lua_isnoneornil(L, arg))
        return TIDE_OP_SUM;
    if (lua_type(L, arg) != LUA_TSTRING)
        luaL_error(L, "%s: expected an op name (sum, prod, min, max or avg), got %s", op_name,
                   luaL_typename(L, arg));
    tide_op op;
    tide_lua_check(L, tide_op_parse(lua_tostring(L, arg), &op, op_name));
    return op;
}

int tide_lua_optrank(lua_State *L, int arg, int def)
{
    if (lua_isnoneornil(L, arg))
        return def;
    lua_Integer r = luaL_checkinteger(L, arg);
    if (r < -0x7fffffff || r > 0x7fffffff)
        luaL_error(L, "rank %I out of range", r);
    return (int)r;   /* the core checks it against the communicator */
}

const int64_t *tide_lua_counts(lua_State *L, int arg, int size, int64_t *counts, int may_omit,
                               const char *op)
{
    if (may_omit && lua_isnoneornil(L, arg))
        return NULL;
    if (!lua_istable(L, arg))
        luaL_error(L, "%s: expected a table of counts (one per rank), got %s", op,
                   luaL_typename(L, arg));
    lua_Integer n = luaL_len(L, arg);
    if (n != size)
        luaL_error(L, "%s: counts has %d entries, expected one per rank (%d)", op, (int)n, size);
    for (int r = 0; r < size; r++) {
        lua_geti(L, arg, r + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok)
            luaL_error(L, "%s: count %d must be an integer, got %s", op, r + 1,
                       luaL_typename(L, -1));
        counts[r] = v;
        lua_pop(L, 1);
    }
    return counts;
}

void tide_lua_pushcounts(lua_State *L, const int64_t *counts, int size)
{
    lua_createtable(L, size, 0);
    for (int r = 0; r < size; r++) {
        lua_pushinteger(L, counts[r]);
        lua_rawseti(L, -2, r + 1);
    }
}

/* ------------------------------------------------------------------ communicator objects */

static tide_comm *new_comm(lua_State *L)
{
    tide_comm *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    c->comm = MPI_COMM_NULL;
    luaL_setmetatable(L, TIDE_COMM_MT);
    return c;
}

/* __gc and __close; comm:free() refuses the world. */
static int comm_gc(lua_State *L)
{
    tide_comm_free(luaL_checkudata(L, 1, TIDE_COMM_MT));
    return 0;
}

static int m_free(lua_State *L)
{
    tide_lua_checknargs(L, 1, "free");
    tide_comm *c = luaL_checkudata(L, 1, TIDE_COMM_MT);
    if (c->is_world)
        return luaL_error(L, "free: tide.world cannot be freed");
    tide_comm_free(c);
    return 0;
}

static int m_split(lua_State *L)
{
    tide_lua_checknargs(L, 3, "split");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    int color = -1;
    if (!lua_isnoneornil(L, 2) && !(lua_isboolean(L, 2) && !lua_toboolean(L, 2))) {
        lua_Integer v = luaL_checkinteger(L, 2);
        if (v < 0 || v > 0x7fffffff)
            return luaL_error(L, "split: color must be a non-negative integer, or nil to stay "
                                 "out, got %I", v);
        color = (int)v;
    }
    lua_Integer key = luaL_optinteger(L, 3, c->rank);
    tide_lua_site(L, 1);
    tide_comm *out = new_comm(L);
    tide_lua_check(L, tide_comm_split(out, c, color, (int)key));
    if (out->comm == MPI_COMM_NULL)
        lua_pushnil(L);
    return 1;
}

static int m_split_node(lua_State *L)
{
    tide_lua_checknargs(L, 1, "split_node");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_lua_site(L, 1);
    tide_comm *out = new_comm(L);
    tide_lua_check(L, tide_comm_split_node(out, c));
    return 1;
}

static int m_dup(lua_State *L)
{
    tide_lua_checknargs(L, 1, "dup");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_lua_site(L, 1);
    tide_comm *out = new_comm(L);
    tide_lua_check(L, tide_comm_dup(out, c));
    return 1;
}

/* comm:shared_zeros(n, dtype = "f32") -> a 1-D tensor of zeros in memory every rank of this
 * node can read (comm_shared.h): a blocking allreduce "sum"/"avg" of it moves no message.
 * Collective; an error on every rank when the ranks do not share one node. */
static int m_shared_zeros(lua_State *L)
{
    tide_lua_checknargs(L, 3, "shared_zeros");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_lua_site(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    tide_dtype dt = tide_lua_optdtype(L, 3, TIDE_F32);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_comm_shared_zeros(c, t, dt, n));
    return 1;
}

static int comm_tostring(lua_State *L)
{
    tide_comm *c = luaL_checkudata(L, 1, TIDE_COMM_MT);
    if (c->comm == MPI_COMM_NULL)
        lua_pushliteral(L, "tide.comm (freed)");
    else
        lua_pushfstring(L, "tide.comm (rank %d of %d%s)", c->rank, c->size,
                        c->is_world ? ", world" : "");
    return 1;
}

/* Loads scripts/tide/comm.lua (the object collectives, written in Lua over cjson) the first
 * time a method is missing; it adds its methods to the methods table. */
static int load_lua_methods(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "tide.comm");
    lua_call(L, 1, 0);
    return 0;
}

/* comm.rank, comm.size, then the methods. */
static int comm_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    tide_comm *c = luaL_checkudata(L, 1, TIDE_COMM_MT);
    const char *k = lua_tostring(L, 2);
    if (lua_type(L, 2) != LUA_TSTRING)
        k = NULL;
    if (k && strcmp(k, "rank") == 0) {
        lua_pushinteger(L, c->rank);
        return 1;
    }
    if (k && strcmp(k, "size") == 0) {
        lua_pushinteger(L, c->size);
        return 1;
    }
    if (k && !lua_toboolean(L, lua_upvalueindex(2))) {
        lua_pushboolean(L, 1);
        lua_replace(L, lua_upvalueindex(2));
        lua_pushcfunction(L, load_lua_methods);
        if (lua_pcall(L, 0, 0, 0) != LUA_OK)
            return lua_error(L);
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

/* ------------------------------------------------------------------ module switches */

static int l_set_timeout(lua_State *L)
{
    double s = lua_isnoneornil(L, 1) ? 0 : luaL_checknumber(L, 1);
    if (s < 0 || s != s)
        return luaL_error(L, "set_timeout: expected a number of seconds >= 0 (0 or nil: off), "
                             "got %s", lua_tostring(L, 1));
    double old = tide_comm_timeout();
    tide_comm_set_timeout(s);
    lua_pushnumber(L, old);
    return 1;
}

static int l_set_debug(lua_State *L)
{
    int old = tide_comm_debug();
    tide_comm_set_debug(lua_toboolean(L, 1));
    lua_pushboolean(L, old);
    return 1;
}

/* _set_solo(name or nil) -> the previous: while set, collectives fail at once naming it
 * (tide.on runs its function on some ranks only; tide/comm.lua). */
static int l_set_solo(lua_State *L)
{
    static char names[2][32];   /* the core keeps the pointer: two slots, old and new */
    static int slot;
    const char *who = NULL;
    if (!lua_isnoneornil(L, 1)) {
        slot ^= 1;
        snprintf(names[slot], sizeof names[slot], "%s", luaL_checkstring(L, 1));
        who = names[slot];
    }
    const char *old = tide_comm_set_solo(who);
    if (old)
        lua_pushstring(L, old);
    else
        lua_pushnil(L);
    return 1;
}

static int l_set_check(lua_State *L)
{
    int old = tide_fp_light_on();
    tide_fp_set_light(lua_toboolean(L, 1));
    lua_pushboolean(L, old);
    return 1;
}

/* Test hook: the largest element count per MPI call (nil restores INT_MAX). */
static int l_set_max_count(lua_State *L)
{
    int64_t old = tide_comm_max_count();
    tide_comm_set_max_count(lua_isnoneornil(L, 1) ? 0 : luaL_checkinteger(L, 1));
    lua_pushinteger(L, old);
    return 1;
}

/* ------------------------------------------------------------------ the opener */

static const luaL_Reg comm_methods[] = {
    {"split", m_split}, {"split_node", m_split_node}, {"dup", m_dup}, {"free", m_free},
    {"shared_zeros", m_shared_zeros},
    {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"set_timeout", l_set_timeout}, {"set_debug", l_set_debug}, {"set_check", l_set_check},
    {"abort", l_abort}, {"_set_max_count", l_set_max_count}, {"_set_solo", l_set_solo},
    {NULL, NULL}};

/* The base communicator: the host's (registry["tide.world_comm"]) or the world. */
static MPI_Comm base_comm(lua_State *L)
{
    MPI_Comm base = MPI_COMM_WORLD;
    if (lua_getfield(L, LUA_REGISTRYINDEX, "tide.world_comm") == LUA_TNUMBER)
        base = MPI_Comm_f2c((MPI_Fint)lua_tointeger(L, -1));
    lua_pop(L, 1);
    return base;
}

void tide_open_comm(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    ensure_mpi(L);
    MPI_Comm base = base_comm(L);
    tide_lua_check(L, tide_runtime_init(base));

    /* the sentinel: its __gc runs when the state closes */
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, sentinel_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "tide.mpi_sentinel");
    wrap_os_exit(L);

    /* the communicator metatable */
    luaL_newmetatable(L, TIDE_COMM_MT);
    int cmeta = lua_gettop(L);
    lua_newtable(L);
    int cmethods = lua_gettop(L);
    luaL_setfuncs(L, comm_methods, 0);
    tide_lua_comm_collectives(L, cmethods);
    tide_lua_comm_objects(L, cmethods);
    tide_lua_comm_requests(L, module, cmethods);
    lua_pushvalue(L, cmethods);
    lua_pushboolean(L, 0);   /* tide.comm (Lua methods) not loaded yet */
    lua_pushcclosure(L, comm_index, 2);
    lua_setfield(L, cmeta, "__index");
    lua_pushcfunction(L, comm_gc);
    lua_setfield(L, cmeta, "__gc");
    lua_pushcfunction(L, comm_gc);
    lua_setfield(L, cmeta, "__close");
    lua_pushcfunction(L, comm_tostring);
    lua_setfield(L, cmeta, "__tostring");
    lua_pushvalue(L, cmethods);
    lua_setfield(L, module, "comm_methods");   /* where tide/comm.lua adds its methods */
    lua_settop(L, cmeta - 1);

    tide_comm *world = new_comm(L);
    tide_lua_check(L, tide_comm_wrap(world, base, 1));
    lua_setfield(L, module, "world");
    lua_pushinteger(L, TIDE_ANY);
    lua_setfield(L, module, "ANY");
    lua_pushvalue(L, module);
    luaL_setfuncs(L, module_funcs, 0);
    lua_pop(L, 1);
}
