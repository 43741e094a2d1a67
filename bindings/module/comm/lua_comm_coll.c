/* lua_comm_coll.c — the communicator's collectives and point-to-point methods on tensors (the
 * byte transfers behind the object collectives are in lua_objects.c).
 *
 * Ranks are 0-based (comm.rank, roots, sources, destinations); counts tables are Lua lists
 * whose entry r + 1 is rank r's; row counts are along dim 1. Every rank calls a collective
 * with the same dtype and shape (the v-forms: the same dtype and dims after the first), op and
 * root; ranks that do not raise on every rank, naming each side's call and call site, when the
 * mismatch checks see it (each kind of call's first calls and every 128th collective by
 * default, every call under TIDE_DEBUG=1: core/comm/fingerprint.h).
 *
 *   comm:barrier()
 *   comm:broadcast(t, root = 0) -> t             root's values everywhere, in place
 *   comm:allreduce(t, op = "sum") -> t           in place; op: sum prod min max avg
 *   comm:allreduce(x, op) -> number              a Lua number: stays an integer when every
 *                                                rank passed one; avg gives a float
 *   comm:reduce(t, op = "sum", root = 0) -> t    the result on root only
 *   comm:allgather(t) -> tensor                  rows of every rank stacked in rank order
 *   comm:gather(t, root = 0) -> tensor | nil
 *   comm:scatter(t, root = 0, counts) -> tensor  root's rows split evenly (the first
 *                                                rows % size ranks get one more) or by counts;
 *                                                t and counts are read on root only
 *   comm:reduce_scatter(t, op = "sum", counts) -> this rank's block of reduced rows
 *   comm:alltoall(t) -> tensor                   block r of t's rows to rank r
 *   comm:alltoallv(t, send_counts) -> tensor, recv_counts
 *   comm:send(t, dst, tag = 0)
 *   comm:recv(t, src = tide.ANY, tag = tide.ANY) -> t, source, tag
 *   comm:recv_new(src = tide.ANY, tag = tide.ANY) -> tensor, source, tag
 *
 * avg divides the sum by the size; on integer dtypes it sums in 64 bits and truncates toward
 * zero, as C's division does. Non-contiguous tensors are copied (and in-place results copied
 * back); an expanded tensor (a stride-0 dim) cannot receive a result. recv accepts another
 * shape with the same dtype and element count. Collectives over more elements than one MPI
 * call carries are split into several calls (allreduce, reduce, broadcast) or refused. */
#include "comm/lua_comm.h"
#include "tensor/lua_tensor.h"

#include <string.h>

/* Counts for up to this many ranks live on the C stack; more go to a Lua-owned buffer. */
#define STACK_RANKS 64

static int64_t *counts_buf(lua_State *L, int size, int64_t *stack)
{
    if (size <= STACK_RANKS)
        return stack;
    return lua_newuserdatauv(L, sizeof(int64_t) * (size_t)size, 0);
}

/* ------------------------------------------------------------------ collectives */

static int m_barrier(lua_State *L)
{
    tide_lua_checknargs(L, 1, "barrier");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_comm_barrier(c));
    return 0;
}

/* comm:broadcast(t, root = 0) -> t, root's values on every rank */
static int m_broadcast(lua_State *L)
{
    tide_lua_checknargs(L, 3, "broadcast");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int root = tide_lua_optrank(L, 3, 0);
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_comm_broadcast(c, t, root));
    lua_settop(L, 2);
    return 1;
}

/* allreduce of a Lua number: an integer stays an integer when every rank passed one */
static int allreduce_number(lua_State *L, tide_comm *c, tide_op op)
{
    tide_scalar v;
    if (lua_isinteger(L, 2)) {
        v.i = lua_tointeger(L, 2);
        v.f = (double)v.i;
        v.is_float = 0;
    } else {
        v.f = lua_tonumber(L, 2);
        v.i = 0;
        v.is_float = 1;
    }
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_comm_allreduce_scalar(c, &v, op));
    if (v.is_float)
        lua_pushnumber(L, v.f);
    else
        lua_pushinteger(L, v.i);
    return 1;
}

/* comm:allreduce(t, op = "sum") -> t (in place), or a number for a number */
static int m_allreduce(lua_State *L)
{
    tide_lua_checknargs(L, 3, "allreduce");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_op op = tide_lua_checkop(L, 3, "allreduce");
    if (lua_type(L, 2) == LUA_TNUMBER)
        return allreduce_number(L, c, op);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_comm_allreduce(c, t, op));
    lua_settop(L, 2);
    return 1;
}

/* comm:reduce(t, op = "sum", root = 0) -> t (the result on root) */
static int m_reduce(lua_State *L)
{
    tide_lua_checknargs(L, 4, "reduce");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_op op = tide_lua_checkop(L, 3, "reduce");
    int root = tide_lua_optrank(L, 4, 0);
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_comm_reduce(c, t, op, root));
    lua_settop(L, 2);
    return 1;
}

/* comm:allgather(t) -> every rank's rows stacked along dim 1 */
static int m_allgather(lua_State *L)
{
    tide_lua_checknargs(L, 2, "allgather");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_lua_site(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_comm_allgather(c, out, t));
    return 1;
}

/* comm:gather(t, root = 0) -> the stacked rows on root, nil elsewhere */
static int m_gather(lua_State *L)
{
    tide_lua_checknargs(L, 3, "gather");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int root = tide_lua_optrank(L, 3, 0);
    tide_lua_site(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_comm_gather(c, out, t, root));
    if (!out->storage)
        lua_pushnil(L);
    return 1;
}

/* comm:scatter(t, root = 0, counts) -> this rank's rows of root's t (t: nil off root) */
static int m_scatter(lua_State *L)
{
    tide_lua_checknargs(L, 4, "scatter");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    int root = tide_lua_optrank(L, 3, 0);
    const tide_tensor *t = NULL;
    if (c->rank == root)
        t = tide_lua_checktensor(L, 2);
    int64_t stack[STACK_RANKS];
    const int64_t *counts = NULL;
    if (c->rank == root)
        counts = tide_lua_counts(L, 4, c->size, counts_buf(L, c->size, stack), 1, "scatter");
    tide_lua_site(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_comm_scatter(c, out, t, root, counts));
    return 1;
}

/* comm:reduce_scatter(t, op = "sum", counts) -> this rank's rows of the reduced t */
static int m_reduce_scatter(lua_State *L)
{
    tide_lua_checknargs(L, 4, "reduce_scatter");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_op op = tide_lua_checkop(L, 3, "reduce_scatter");
    int64_t stack[STACK_RANKS];
    const int64_t *counts =
        tide_lua_counts(L, 4, c->size, counts_buf(L, c->size, stack), 1, "reduce_scatter");
    tide_lua_site(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_comm_reduce_scatter(c, out, t, op, counts));
    return 1;
}

/* comm:alltoall(t) -> block r of every rank's t, stacked in rank order */
static int m_alltoall(lua_State *L)
{
    tide_lua_checknargs(L, 2, "alltoall");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    tide_lua_site(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_comm_alltoall(c, out, t));
    return 1;
}

/* comm:alltoallv(t, send_counts) -> received rows, received counts (per rank) */
static int m_alltoallv(lua_State *L)
{
    tide_lua_checknargs(L, 3, "alltoallv");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int64_t sstack[STACK_RANKS], rstack[STACK_RANKS];
    const int64_t *send = tide_lua_counts(L, 3, c->size, counts_buf(L, c->size, sstack), 0,
                                          "alltoallv");
    int64_t *recv = counts_buf(L, c->size, rstack);
    tide_lua_site(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_comm_alltoallv(c, out, t, send, recv));
    tide_lua_pushcounts(L, recv, c->size);
    return 2;
}

/* ------------------------------------------------------------------ point to point */

int tide_lua_opttag(lua_State *L, int arg, int def)
{
    if (lua_isnoneornil(L, arg))
        return def;
    lua_Integer t = luaL_checkinteger(L, arg);
    if (t < -0x7fffffff || t > 0x7fffffff)
        luaL_error(L, "tag %I out of range", t);
    return (int)t;   /* the core checks it against MPI's upper bound */
}

/* comm:send(t, dst, tag = 0) */
static int m_send(lua_State *L)
{
    tide_lua_checknargs(L, 4, "send");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int dst = tide_lua_optrank(L, 3, -2);
    if (lua_isnoneornil(L, 3))
        return luaL_error(L, "send: expected a destination rank");
    int tag = tide_lua_opttag(L, 4, 0);
    tide_lua_site(L, 1);
    tide_lua_check(L, tide_comm_send(c, t, dst, tag));
    return 0;
}

int tide_lua_pushinfo(lua_State *L, const tide_recv_info *info)
{
    lua_pushinteger(L, info->source);
    lua_pushinteger(L, info->tag);
    return 2;
}

/* comm:recv(t, src = tide.ANY, tag = tide.ANY) -> t, source, tag */
static int m_recv(lua_State *L)
{
    tide_lua_checknargs(L, 4, "recv");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    int src = tide_lua_optrank(L, 3, TIDE_ANY);
    int tag = tide_lua_opttag(L, 4, TIDE_ANY);
    tide_lua_site(L, 1);
    tide_recv_info info;
    tide_lua_check(L, tide_comm_recv(c, t, src, tag, &info));
    lua_settop(L, 2);
    return 1 + tide_lua_pushinfo(L, &info);
}

/* comm:recv_new(src = tide.ANY, tag = tide.ANY) -> a new tensor, source, tag */
static int m_recv_new(lua_State *L)
{
    tide_lua_checknargs(L, 3, "recv_new");
    tide_comm *c = tide_lua_checkcomm(L, 1);
    int src = tide_lua_optrank(L, 2, TIDE_ANY);
    int tag = tide_lua_opttag(L, 3, TIDE_ANY);
    tide_lua_site(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_recv_info info;
    tide_lua_check(L, tide_comm_recv_new(c, out, src, tag, &info));
    return 1 + tide_lua_pushinfo(L, &info);
}

static const luaL_Reg methods[] = {
    {"barrier", m_barrier}, {"broadcast", m_broadcast}, {"allreduce", m_allreduce},
    {"reduce", m_reduce}, {"allgather", m_allgather}, {"gather", m_gather},
    {"scatter", m_scatter}, {"reduce_scatter", m_reduce_scatter}, {"alltoall", m_alltoall},
    {"alltoallv", m_alltoallv}, {"send", m_send}, {"recv", m_recv}, {"recv_new", m_recv_new},
    {NULL, NULL}};

void tide_lua_comm_collectives(lua_State *L, int methods_idx)
{
    lua_pushvalue(L, methods_idx);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}
