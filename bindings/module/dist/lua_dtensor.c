/* lua_dtensor.c — distributed tensors and the placement kernels.
 *
 * A dtensor is a full userdata of metatable "tide.dtensor" holding a tide_dtensor; user value 1
 * is the communicator object it lives on (kept alive while the dtensor is), user value 2 the
 * tensor box of its local rows (what dt.shard returns). The box is made before the core fills
 * the dtensor, so the GC owns it from the first moment. The Lua face (scripts/tide/dtensor.lua)
 * adds its methods to tide._dtensor.methods.
 *
 * Kernels (ranks are 0-based, as MPI's; Lua indices stay 1-based):
 *   tide.hash64(keys [, seed])            i64 hashes (tide_hash64_mix of each key)
 *   tide.hash_unit(keys [, seed])         f64 in [0, 1) from the same hashes
 *   tide.hash_bucket(keys, n [, seed])    i32 hash mod n, in 0..n-1
 *   tide.ring_bounded(start, owners, quota)  the bounded-load walk of consistent hashing:
 *       start holds 1-based ring positions (1..V+1, as tide.searchsorted gives them), owners
 *       the i32 rank of each of the V ring points, quota (i64, one per rank) is used up in
 *       place; returns the i32 rank of each key. */
#include "lua_bindings.h"
#include "comm/lua_comm.h"
#include "tensor/lua_tensor.h"

#include <stdlib.h>
#include <string.h>

#include "dist/dtensor.h"
#include "ops/hash.h"

#define DTENSOR_MT "tide.dtensor"

/* A seed: any Lua integer, read as its 64-bit pattern; absent means 0. */
static uint64_t opt_seed(lua_State *L, int arg)
{
    return (uint64_t)luaL_optinteger(L, arg, 0);
}

static int l_hash64(lua_State *L)
{
    tide_lua_checknargs(L, 2, "hash64");
    tide_tensor *keys = tide_lua_checktensor(L, 1);
    uint64_t seed = opt_seed(L, 2);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_hash64(out, keys, seed));
    return 1;
}

static int l_hash_unit(lua_State *L)
{
    tide_lua_checknargs(L, 2, "hash_unit");
    tide_tensor *keys = tide_lua_checktensor(L, 1);
    uint64_t seed = opt_seed(L, 2);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_hash_unit(out, keys, seed));
    return 1;
}

static int l_hash_bucket(lua_State *L)
{
    tide_lua_checknargs(L, 3, "hash_bucket");
    tide_tensor *keys = tide_lua_checktensor(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    uint64_t seed = opt_seed(L, 3);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_hash_bucket(out, keys, seed, (int64_t)n));
    return 1;
}

static int l_ring_bounded(lua_State *L)
{
    tide_lua_checknargs(L, 3, "ring_bounded");
    tide_tensor *start = tide_lua_checktensor(L, 1);
    tide_tensor *owners = tide_lua_checktensor(L, 2);
    tide_tensor *quota = tide_lua_checktensor(L, 3);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_ring_bounded(out, start, 1, owners, quota));
    return 1;
}

/* ------------------------------------------------------------------ dtensors */

/* The communicator object at arg (tide.world, a split, ...); the call site is noted for the
 * watchdog and debug reports, as the comm methods do. */
static tide_comm *check_comm(lua_State *L, int arg)
{
    tide_comm *c = tide_lua_checkcomm(L, arg);
    tide_lua_site(L, 1);
    return c;
}

/* Pushes a new, empty dtensor box that will live on the communicator object at comm_arg. */
static tide_dtensor *new_dtensor(lua_State *L, int comm_arg)
{
    tide_lua_gc_pressure(L);
    tide_dtensor *dt = lua_newuserdatauv(L, sizeof *dt, 2);
    memset(dt, 0, sizeof *dt);
    luaL_setmetatable(L, DTENSOR_MT);
    lua_pushvalue(L, comm_arg);
    lua_setiuservalue(L, -2, 1);
    return dt;
}

/* Once the core filled the dtensor at idx: its local block as a tensor box (user value 2). */
static void bind_local(lua_State *L, int idx, tide_dtensor *dt)
{
    idx = lua_absindex(L, idx);
    tide_tensor view = TIDE_TENSOR_EMPTY;
    tide_tensor_share(&view, &dt->local);
    tide_lua_pushtensor(L, &view);
    lua_setiuservalue(L, idx, 2);
}

static tide_dtensor *check_dtensor(lua_State *L, int arg)
{
    tide_dtensor *dt = luaL_checkudata(L, arg, DTENSOR_MT);
    if (!dt->comm)
        luaL_error(L, "attempt to use a closed dtensor");
    lua_getiuservalue(L, arg, 1);
    tide_comm *c = luaL_testudata(L, -1, TIDE_COMM_MT);
    lua_pop(L, 1);
    if (!c || c->comm == MPI_COMM_NULL)
        luaL_error(L, "attempt to use a dtensor whose communicator was freed");
    tide_lua_site(L, 1);
    return dt;
}

static int dtensor_close(lua_State *L)
{
    tide_dtensor *dt = luaL_checkudata(L, 1, DTENSOR_MT);
    tide_dtensor_release(dt);
    return 0;
}

/* A 0-based rank at arg (default def), checked against the communicator's size. */
static int check_root(lua_State *L, int arg, int def, int nranks, const char *op)
{
    lua_Integer r = luaL_optinteger(L, arg, def);
    if (r < 0 || r >= nranks)
        luaL_error(L, "%s: root %I is not a rank (expected 0..%d)", op, r, nranks - 1);
    return (int)r;
}

/* _dtensor.from_local(t, comm) */
static int l_from_local(lua_State *L)
{
    tide_lua_checknargs(L, 2, "dtensor.from_local");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_comm *c = check_comm(L, 2);
    tide_dtensor *dt = new_dtensor(L, 2);
    tide_lua_check(L, tide_dtensor_from_local(dt, c, t));
    bind_local(L, -1, dt);
    return 1;
}

/* _dtensor.replicated(t, comm) */
static int l_replicated(lua_State *L)
{
    tide_lua_checknargs(L, 2, "dtensor.replicated");
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_comm *c = check_comm(L, 2);
    tide_dtensor *dt = new_dtensor(L, 2);
    tide_lua_check(L, tide_dtensor_replicated(dt, c, t));
    bind_local(L, -1, dt);
    return 1;
}

/* _dtensor.scatter(t or nil, root, comm): t is read on root only. */
static int l_scatter(lua_State *L)
{
    tide_lua_checknargs(L, 3, "dtensor.scatter");
    tide_tensor *t = lua_isnoneornil(L, 1) ? NULL : tide_lua_checktensor(L, 1);
    tide_comm *c = check_comm(L, 3);
    int root = check_root(L, 2, 0, c->size, "dtensor.scatter");
    tide_dtensor *dt = new_dtensor(L, 3);
    tide_lua_check(L, tide_dtensor_scatter(dt, c, t, root));
    bind_local(L, -1, dt);
    return 1;
}

/* _dtensor.fill(comm, shape, dtype, kind, key, first, a, b): kind "zeros", "uniform" or
 * "normal"; element k of the global tensor uses counter first + k of key. */
static int l_fill(lua_State *L)
{
    static const char *const kinds[] = {"zeros", "uniform", "normal", NULL};
    static const tide_dt_fill kind_of[] = {TIDE_DT_ZEROS, TIDE_DT_UNIFORM, TIDE_DT_NORMAL};
    tide_comm *c = check_comm(L, 1);
    int64_t shape[TIDE_MAX_DIMS];
    luaL_checktype(L, 2, LUA_TTABLE);
    int ndim = tide_lua_checkshape(L, 2, shape, "dtensor.fill");
    tide_dtype dtype = tide_lua_optdtype(L, 3, TIDE_F32);
    int kind = luaL_checkoption(L, 4, NULL, kinds);
    uint64_t key = (uint64_t)luaL_optinteger(L, 5, 0);
    uint64_t first = (uint64_t)luaL_optinteger(L, 6, 0);
    double a = luaL_optnumber(L, 7, 0), b = luaL_optnumber(L, 8, 1);
    tide_dtensor *dt = new_dtensor(L, 1);
    tide_lua_check(L, tide_dtensor_fill(dt, c, ndim, shape, dtype, kind_of[kind], key, first, a, b));
    bind_local(L, -1, dt);
    return 1;
}

/* _dtensor.like(dt, t): t (this rank's rows of a result computed row by row from dt, as a
 * matmul or a reduction over another dim) sharded with dt's layout. Not collective: every rank
 * checks its own rows. */
static int l_like(lua_State *L)
{
    tide_dtensor *dt = check_dtensor(L, 1);
    tide_tensor *t = tide_lua_checktensor(L, 2);
    if (dt->replicated)
        luaL_error(L, "dtensor.like: expected a sharded dtensor, got a replicated one");
    if (t->ndim < 1)
        luaL_error(L, "dtensor.like: expected %I local rows, got a scalar",
                   (lua_Integer)dt->local.shape[0]);
    if (t->shape[0] != dt->local.shape[0])
        luaL_error(L, "dtensor.like: expected %I local rows, got %I",
                   (lua_Integer)dt->local.shape[0], (lua_Integer)t->shape[0]);
    lua_getiuservalue(L, 1, 1);
    tide_dtensor *out = new_dtensor(L, lua_gettop(L));
    out->counts = malloc(sizeof(int64_t) * (size_t)dt->nranks);
    if (!out->counts)
        luaL_error(L, "dtensor.like: out of memory");
    memcpy(out->counts, dt->counts, sizeof(int64_t) * (size_t)dt->nranks);
    out->comm = dt->comm;
    out->rank = dt->rank;
    out->nranks = dt->nranks;
    out->offset = dt->offset;
    out->global_rows = dt->global_rows;
    tide_tensor_share(&out->local, t);
    bind_local(L, -1, out);
    return 1;
}

/* _dtensor.redistribute({x1, x2, ...}, dest [, comm]) -> {new1, new2, ...}: every entry (a
 * dtensor, or a tensor of this rank's rows aligned with them) moves in one alltoallv. The
 * communicator is comm, else the first dtensor's. Tensor entries come back as dtensors too. */
static int l_redistribute(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    tide_tensor *dest = tide_lua_checktensor(L, 2);
    int n = (int)luaL_len(L, 1);
    if (n < 1)
        luaL_error(L, "redistribute: expected at least one tensor to move");
    for (int k = 1; k <= n; k++) {
        lua_geti(L, 1, k);
        if (!luaL_testudata(L, -1, DTENSOR_MT) && !tide_lua_totensor(L, -1))
            luaL_error(L, "redistribute: entry %d is a %s, expected a dtensor or a tensor", k,
                       luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    int comm_arg = 0;
    if (!lua_isnoneornil(L, 3)) {
        check_comm(L, 3);
        comm_arg = 3;
    }
    /* the communicator object: comm, or the first dtensor's */
    for (int k = 1; k <= n && !comm_arg; k++) {
        lua_geti(L, 1, k);
        if (luaL_testudata(L, -1, DTENSOR_MT)) {
            check_dtensor(L, lua_gettop(L));
            lua_getiuservalue(L, -1, 1);
            comm_arg = lua_gettop(L);
        }
    }
    if (!comm_arg)
        luaL_error(L, "redistribute: expected a dtensor among the tensors to move, or a comm");
    tide_comm *c = check_comm(L, comm_arg);
    /* tensors ride as dtensors of their own rows; their structs borrow the tensor (it stays on
     * the stack through the call), so nothing here needs releasing */
    const tide_dtensor **in = lua_newuserdatauv(L, sizeof *in * (size_t)n, 0);
    tide_dtensor *wrap = lua_newuserdatauv(L, sizeof *wrap * (size_t)n, 0);
    memset(wrap, 0, sizeof *wrap * (size_t)n);
    for (int k = 0; k < n; k++) {
        lua_geti(L, 1, k + 1);
        tide_tensor *t = tide_lua_totensor(L, -1);
        if (luaL_testudata(L, -1, DTENSOR_MT)) {
            in[k] = check_dtensor(L, lua_gettop(L));
        } else {
            if (t->ndim < 1)
                luaL_error(L, "redistribute: entry %d is a scalar, expected rows", k + 1);
            wrap[k].local = *t;
            wrap[k].comm = c;
            wrap[k].rank = c->rank;
            wrap[k].nranks = c->size;
            in[k] = &wrap[k];
        }
        lua_pop(L, 1);
    }
    lua_createtable(L, n, 0);
    int result = lua_gettop(L);
    /* the boxes first; the core writes into a contiguous array that is then moved into them */
    tide_dtensor *outs = lua_newuserdatauv(L, sizeof *outs * (size_t)n, 0);
    memset(outs, 0, sizeof *outs * (size_t)n);
    for (int k = 0; k < n; k++) {
        new_dtensor(L, comm_arg);
        lua_rawseti(L, result, k + 1);
    }
    tide_lua_check(L, tide_dtensor_redistribute(outs, in, n, dest));
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, result, k + 1);
        tide_dtensor *out = lua_touserdata(L, -1);
        *out = outs[k];
        memset(&outs[k], 0, sizeof outs[k]);
        bind_local(L, -1, out);
        lua_pop(L, 1);
    }
    lua_pushvalue(L, result);
    return 1;
}

static int m_gather(lua_State *L)
{
    tide_lua_checknargs(L, 2, "gather");
    tide_dtensor *dt = check_dtensor(L, 1);
    int root = check_root(L, 2, 0, dt->nranks, "gather");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_dtensor_gather(out, dt, root));
    if (dt->rank != root)
        lua_pushnil(L);
    return 1;
}

static int m_full(lua_State *L)
{
    tide_lua_checknargs(L, 1, "full");
    tide_dtensor *dt = check_dtensor(L, 1);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_dtensor_allgather(out, dt));
    return 1;
}

static int m_global_shape(lua_State *L)
{
    tide_lua_checknargs(L, 1, "global_shape");
    tide_dtensor *dt = check_dtensor(L, 1);
    lua_createtable(L, dt->local.ndim, 0);
    for (int d = 0; d < dt->local.ndim; d++) {
        lua_pushinteger(L, d ? dt->local.shape[d] : dt->global_rows);
        lua_rawseti(L, -2, d + 1);
    }
    return 1;
}

/* {rows of rank 0, rows of rank 1, ...} (a Lua array: rank r at index r + 1). */
static int m_row_counts(lua_State *L)
{
    tide_lua_checknargs(L, 1, "row_counts");
    tide_dtensor *dt = check_dtensor(L, 1);
    lua_createtable(L, dt->nranks, 0);
    for (int r = 0; r < dt->nranks; r++) {
        lua_pushinteger(L, dt->counts[r]);
        lua_rawseti(L, -2, r + 1);
    }
    return 1;
}

/* Rows held by lower ranks: local row i is global row row_offset() + i (both 1-based). */
static int m_row_offset(lua_State *L)
{
    tide_lua_checknargs(L, 1, "row_offset");
    lua_pushinteger(L, check_dtensor(L, 1)->offset);
    return 1;
}

static int m_is_replicated(lua_State *L)
{
    tide_lua_checknargs(L, 1, "is_replicated");
    lua_pushboolean(L, check_dtensor(L, 1)->replicated);
    return 1;
}

static int m_comm(lua_State *L)
{
    tide_lua_checknargs(L, 1, "comm");
    check_dtensor(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/* Rows and bytes the redistribute that made this dtensor moved between ranks (all ranks
 * together; 0, 0 for a dtensor made otherwise). */
static int m_moved(lua_State *L)
{
    tide_lua_checknargs(L, 1, "moved");
    tide_dtensor *dt = check_dtensor(L, 1);
    lua_pushinteger(L, dt->moved_rows);
    lua_pushinteger(L, dt->moved_bytes);
    return 2;
}

static int m_dtype(lua_State *L)
{
    tide_lua_checknargs(L, 1, "dtype");
    lua_pushstring(L, tide_dtype_name(check_dtensor(L, 1)->local.dtype));
    return 1;
}

static int dtensor_tostring(lua_State *L)
{
    tide_dtensor *dt = luaL_checkudata(L, 1, DTENSOR_MT);
    if (!dt->comm) {
        lua_pushliteral(L, "tide.dtensor (closed)");
        return 1;
    }
    int64_t shape[TIDE_MAX_DIMS];
    memcpy(shape, dt->local.shape, sizeof shape);
    shape[0] = dt->global_rows;
    char s[TIDE_SHAPE_BUF];
    tide_shape_str_n(dt->local.ndim, shape, s, sizeof s);
    if (dt->replicated)
        lua_pushfstring(L, "tide.dtensor %s %s, replicated on %d ranks", s,
                        tide_dtype_name(dt->local.dtype), dt->nranks);
    else
        lua_pushfstring(L, "tide.dtensor %s %s over %d ranks (rank %d: %I rows from row %I)", s,
                        tide_dtype_name(dt->local.dtype), dt->nranks, dt->rank,
                        (lua_Integer)dt->local.shape[0], (lua_Integer)dt->offset + 1);
    return 1;
}

/* dt.shard is the local block (dt.local_ its deprecated name: it read as a mutating method);
 * any other name is a method. */
static int dtensor_index(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    if (k && (strcmp(k, "shard") == 0 || strcmp(k, "local_") == 0)) {
        check_dtensor(L, 1);
        if (k[0] == 'l')
            tide_lua_deprecated(L, "dt.local_", "dt.shard");
        lua_getiuservalue(L, 1, 2);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static int dtensor_newindex(lua_State *L)
{
    return luaL_error(L, "dtensor: cannot set field '%s' (a dtensor's layout is fixed: make a new "
                      "one with dtensor.from_local)", luaL_tolstring(L, 2, NULL));
}

static int l_is_dtensor(lua_State *L)
{
    tide_lua_checknargs(L, 1, "is_dtensor");
    lua_pushboolean(L, luaL_testudata(L, 1, DTENSOR_MT) != NULL);
    return 1;
}

static const luaL_Reg dtensor_funcs[] = {
    {"from_local", l_from_local}, {"replicated", l_replicated}, {"scatter", l_scatter},
    {"fill", l_fill}, {"redistribute", l_redistribute}, {"like", l_like},
    {"is_dtensor", l_is_dtensor},
    {NULL, NULL}};

static const luaL_Reg dtensor_methods[] = {
    {"gather", m_gather}, {"full", m_full}, {"global_shape", m_global_shape},
    {"row_counts", m_row_counts}, {"row_offset", m_row_offset},
    {"is_replicated", m_is_replicated}, {"comm", m_comm}, {"moved", m_moved},
    {"dtype", m_dtype}, {"close", dtensor_close},
    {NULL, NULL}};

/* tide._dtensor: the functions above and the methods table the Lua face extends. */
static void open_dtensor_type(lua_State *L, int module)
{
    luaL_newmetatable(L, DTENSOR_MT);
    int meta = lua_gettop(L);
    lua_newtable(L);
    int methods = lua_gettop(L);
    luaL_setfuncs(L, dtensor_methods, 0);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, dtensor_index, 1);
    lua_setfield(L, meta, "__index");
    lua_pushcfunction(L, dtensor_newindex);
    lua_setfield(L, meta, "__newindex");
    lua_pushcfunction(L, dtensor_close);
    lua_setfield(L, meta, "__gc");
    lua_pushcfunction(L, dtensor_close);
    lua_setfield(L, meta, "__close");
    lua_pushcfunction(L, dtensor_tostring);
    lua_setfield(L, meta, "__tostring");
    luaL_newlib(L, dtensor_funcs);
    lua_pushvalue(L, methods);
    lua_setfield(L, -2, "methods");
    lua_setfield(L, module, "_dtensor");
    lua_pop(L, 2);
}

static const luaL_Reg module_funcs[] = {
    {"hash64", l_hash64}, {"hash_unit", l_hash_unit}, {"hash_bucket", l_hash_bucket},
    {"ring_bounded", l_ring_bounded},
    {NULL, NULL}};

void tide_open_dtensor(lua_State *L, int module, int methods, int meta)
{
    (void)methods; (void)meta;
    lua_pushvalue(L, module);
    luaL_setfuncs(L, module_funcs, 0);
    lua_pop(L, 1);
    open_dtensor_type(L, module);
}
