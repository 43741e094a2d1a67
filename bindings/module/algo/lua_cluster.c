/* lua_cluster.c — the k-means kernels as tide.cluster_kernels, for scripts/tide/cluster.lua.
 *
 * Rows handed to or returned from Lua count from 1. Each function works on one rank's rows;
 * cluster.lua does the communication. */
#include "algo/kmeans.h"
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"
#include "tensor/size.h"

#include <stdlib.h>

/* An optional tensor field of the options table at idx (nil or absent: NULL). */
static tide_tensor *opt_tensor(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    tide_tensor *t = NULL;
    if (!lua_isnil(L, -1)) {
        t = tide_lua_totensor(L, -1);
        if (!t)
            luaL_error(L, "kmeans_assign: option %s must be a tensor, got %s", key,
                       luaL_typename(L, -1));
    }
    lua_pop(L, 1);   /* the options table still holds it */
    return t;
}

static tide_tensor *opt_arg_tensor(lua_State *L, int arg)
{
    return lua_isnoneornil(L, arg) ? NULL : tide_lua_checktensor(L, arg);
}

/* assign(x, c, {weight=, labels=, label_base=1, count_changes=, sums=, counts=, mind=,
 * mind_update=}) -> {inertia, changed, first_bad (1-based or nil), gemm_seconds,
 * assign_seconds} */
static int k_assign(lua_State *L)
{
    static const char *const known[] = {"weight", "labels", "label_base", "count_changes", "sums",
                                        "counts", "mind", "mind_update", NULL};
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *c = tide_lua_checktensor(L, 2);
    tide_lua_checkopts(L, 3, known, "kmeans_assign");
    tide_kmeans_io io = {.label_base = 1};
    if (lua_istable(L, 3)) {
        io.weight = opt_tensor(L, 3, "weight");
        io.labels = opt_tensor(L, 3, "labels");
        io.sums = opt_tensor(L, 3, "sums");
        io.counts = opt_tensor(L, 3, "counts");
        io.mind = opt_tensor(L, 3, "mind");
        lua_getfield(L, 3, "label_base");
        io.label_base = (int32_t)luaL_optinteger(L, -1, 1);
        lua_getfield(L, 3, "count_changes");
        io.count_changes = lua_toboolean(L, -1);
        lua_getfield(L, 3, "mind_update");
        io.mind_update = lua_toboolean(L, -1);
        lua_pop(L, 3);
    }
    tide_kmeans_stats st;
    tide_lua_check(L, tide_kmeans_assign(x, c, &io, &st));
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, st.inertia);
    lua_setfield(L, -2, "inertia");
    lua_pushinteger(L, st.changed);
    lua_setfield(L, -2, "changed");
    if (st.first_bad >= 0) {
        lua_pushinteger(L, st.first_bad + 1);
        lua_setfield(L, -2, "first_bad");
    }
    lua_pushnumber(L, st.gemm_seconds);
    lua_setfield(L, -2, "gemm_seconds");
    lua_pushnumber(L, st.assign_seconds);
    lua_setfield(L, -2, "assign_seconds");
    return 1;
}

/* distances(x, c) -> n×k Euclidean distances */
static int k_distances(lua_State *L) { return tide_lua_apply2(L, tide_kmeans_distances); }

/* nonfinite(x) -> nil, or the first bad row (1-based) and "NaN" or "infinity" */
static int k_nonfinite(lua_State *L)
{
    tide_tensor *x = tide_lua_checktensor(L, 1);
    int64_t row;
    int is_nan;
    tide_lua_check(L, tide_kmeans_nonfinite(x, &row, &is_nan));
    if (row < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, row + 1);
    lua_pushstring(L, is_nan ? "NaN" : "infinity");
    return 2;
}

/* update(c_old, sums, counts [, prior]) -> c_new, shift2, norm2, n_empty (prior, the
 * mini-batch's per-centre weight so far, is updated in place) */
static int k_update(lua_State *L)
{
    tide_tensor *c_old = tide_lua_checktensor(L, 1);
    tide_tensor *sums = tide_lua_checktensor(L, 2);
    tide_tensor *counts = tide_lua_checktensor(L, 3);
    tide_tensor *prior = opt_arg_tensor(L, 4);
    tide_tensor *c_new = tide_lua_newtensor(L);
    double shift2, norm2;
    int64_t empty;
    tide_lua_check(L, tide_kmeans_update(c_new, sums, counts, prior, c_old, &shift2, &norm2,
                                         &empty));
    lua_pushnumber(L, shift2);
    lua_pushnumber(L, norm2);
    lua_pushinteger(L, empty);
    return 4;
}

/* trials(x, cands, mind, weight|nil) -> f64 tensor of the L trial potentials */
static int k_trials(lua_State *L)
{
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *cands = tide_lua_checktensor(L, 2);
    tide_tensor *mind = tide_lua_checktensor(L, 3);
    tide_tensor *w = opt_arg_tensor(L, 4);
    tide_tensor *out = tide_lua_newtensor(L);
    int64_t shape[1] = {cands->ndim == 2 ? cands->shape[0] : 0};
    tide_lua_check(L, tide_tensor_alloc(out, TIDE_F64, 1, shape));
    tide_lua_check(L, tide_kmeans_trials(x, cands, mind, w, tide_data(out)));
    return 1;
}

/* potential(v|nil, weight|nil) -> Σ v·w */
static int k_potential(lua_State *L)
{
    double sum;
    tide_lua_check(L, tide_kmeans_potential(opt_arg_tensor(L, 1), opt_arg_tensor(L, 2), &sum));
    lua_pushnumber(L, sum);
    return 1;
}

/* random_rows(n, count, seed, stream, first) -> i64 tensor of count 1-based rows in 1..n */
static int k_random_rows(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1), count = luaL_checkinteger(L, 2);
    uint64_t seed = (uint64_t)luaL_checkinteger(L, 3), stream = (uint64_t)luaL_checkinteger(L, 4);
    uint64_t first = (uint64_t)luaL_checkinteger(L, 5);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_kmeans_random_rows(out, n, count, seed, stream, first));
    int64_t *r = tide_data(out);
    for (lua_Integer i = 0; i < count; i++)
        r[i] += 1;
    return 1;
}

/* bad_weight(w) -> nil, or the first 1-based entry that is negative or not finite */
static int k_bad_weight(lua_State *L)
{
    int64_t row;
    tide_lua_check(L, tide_kmeans_bad_weight(tide_lua_checktensor(L, 1), &row));
    if (row < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, row + 1);
    return 1;
}

/* Pushes an i64 tensor holding rows[0..n) + 1. */
static void push_rows(lua_State *L, const int64_t *rows, int64_t n)
{
    tide_tensor *t = tide_lua_newtensor(L);
    int64_t shape[1] = {n};
    tide_lua_check(L, tide_tensor_alloc(t, TIDE_I64, 1, shape));
    int64_t *p = tide_data(t);
    for (int64_t i = 0; i < n; i++)
        p[i] = rows[i] + 1;
}

/* A scratch buffer of n elements owned by a userdata on the stack, so an error frees it
 * through the GC. n comes from the caller: its byte count is checked, not wrapped. */
static void *scratch(lua_State *L, int64_t n, size_t elem)
{
    size_t bytes = 0;
    tide_lua_check(L, tide_array_bytes(n, elem, "kmeans", &bytes));
    if (!tide_bytes_possible(bytes))
        luaL_error(L, "kmeans: out of memory allocating %I bytes", (lua_Integer)bytes);
    return lua_newuserdatauv(L, bytes ? bytes : 1, 0);
}

/* farthest(x, c, labels, m) -> rows (i64, 1-based), d2 (f64): up to m rows farthest from
 * their own centre, farthest first */
static int k_farthest(lua_State *L)
{
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *c = tide_lua_checktensor(L, 2);
    tide_tensor *labels = tide_lua_checktensor(L, 3);
    lua_Integer m = luaL_checkinteger(L, 4);
    luaL_argcheck(L, m >= 0, 4, "expected a count >= 0");
    int64_t *rows = scratch(L, m, sizeof(int64_t));
    double *d2 = scratch(L, m, sizeof(double));
    int64_t found;
    tide_lua_check(L, tide_kmeans_farthest(x, c, labels, 1, m, rows, d2, &found));
    push_rows(L, rows, found);
    tide_tensor *dt = tide_lua_newtensor(L);
    int64_t shape[1] = {found};
    tide_lua_check(L, tide_tensor_alloc(dt, TIDE_F64, 1, shape));
    for (int64_t i = 0; i < found; i++)
        ((double *)tide_data(dt))[i] = d2[i];
    return 2;
}

static uint64_t check_seed(lua_State *L, int arg)
{
    return (uint64_t)luaL_checkinteger(L, arg);
}

/* uniform(seed, stream, counter) -> a number in [0, 1) */
static int k_uniform(lua_State *L)
{
    lua_pushnumber(L, tide_kmeans_uniform(check_seed(L, 1), check_seed(L, 2), check_seed(L, 3)));
    return 1;
}

/* sample(mind, weight|nil, scale, seed, stream, row_offset) -> i64 tensor of 1-based rows */
static int k_sample(lua_State *L)
{
    tide_tensor *mind = tide_lua_checktensor(L, 1);
    tide_tensor *w = opt_arg_tensor(L, 2);
    double scale = luaL_checknumber(L, 3);
    uint64_t seed = check_seed(L, 4), stream = check_seed(L, 5);
    int64_t off = luaL_checkinteger(L, 6);
    int64_t count;
    tide_lua_check(L, tide_kmeans_sample(mind, w, scale, seed, stream, off, NULL, &count));
    int64_t *rows = scratch(L, count, sizeof(int64_t));
    tide_lua_check(L, tide_kmeans_sample(mind, w, scale, seed, stream, off, rows, &count));
    push_rows(L, rows, count);
    return 1;
}

/* pick(v|nil, weight|nil, target) -> 1-based row, or nil when every term is 0 */
static int k_pick(lua_State *L)
{
    tide_tensor *v = opt_arg_tensor(L, 1);
    tide_tensor *w = opt_arg_tensor(L, 2);
    double target = luaL_checknumber(L, 3);
    int64_t row;
    tide_lua_check(L, tide_kmeans_pick(v, w, target, &row));
    if (row < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, row + 1);
    return 1;
}

/* plusplus(x, weight|nil, k, seed [, trials]) -> i64 tensor of k 1-based rows */
static int k_plusplus(lua_State *L)
{
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *w = opt_arg_tensor(L, 2);
    lua_Integer k = luaL_checkinteger(L, 3);
    uint64_t seed = check_seed(L, 4);
    int trials = (int)luaL_optinteger(L, 5, 0);
    luaL_argcheck(L, k >= 1, 3, "expected k >= 1");
    int64_t *rows = scratch(L, k, sizeof(int64_t));
    tide_lua_check(L, tide_kmeans_plusplus(x, w, k, trials, seed, rows));
    push_rows(L, rows, k);
    return 1;
}

static const luaL_Reg kernels[] = {
    {"assign", k_assign}, {"distances", k_distances}, {"nonfinite", k_nonfinite},
    {"update", k_update}, {"farthest", k_farthest}, {"uniform", k_uniform},
    {"sample", k_sample}, {"pick", k_pick}, {"plusplus", k_plusplus},
    {"potential", k_potential}, {"random_rows", k_random_rows}, {"bad_weight", k_bad_weight},
    {"trials", k_trials}, {NULL, NULL}};

void tide_open_cluster(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    luaL_newlib(L, kernels);
    lua_setfield(L, module, "cluster_kernels");
}
