/* lua_bayes.c — the sampling kernel of tide.bayes as tide._internal.bayes_kernels.weighted, for
 * scripts/tide/bayes/sampling.lua.
 *
 * weighted(plan, query, n, rejection, generator, sums): plan is a table of contiguous 1-D
 * tensors (nstates i32, parent_start i64, parents i32, strides i64, cpt_start i64, cpt f64,
 * evidence i32) describing the network in topological order; query is 1-based; sums (f64,
 * 2 + 2 * states of the query) gains the round's sums and the generator advances past the
 * counters the samples used (bayes.h). The
 * plan is checked whole here, so no table reaching this function can make the kernel read
 * outside its arrays. */
#include "algo/bayes.h"
#include "lua_bindings.h"
#include "ops/random.h"
#include "tensor/lua_tensor.h"

#include <lauxlib.h>

/* The contiguous 1-D tensor plan[key] of dtype want, and its length. */
static const void *plan_array(lua_State *L, const char *key, tide_dtype want, int64_t *len)
{
    lua_getfield(L, 1, key);
    tide_tensor *t = tide_lua_totensor(L, -1);
    if (!t || t->dtype != want || t->ndim != 1 || !tide_is_contiguous(t))
        luaL_error(L, "bayes_weighted: plan.%s must be a contiguous 1-D %s tensor", key,
                   tide_dtype_name(want));
    lua_pop(L, 1);   /* the plan table keeps it alive */
    *len = t->shape[0];
    return tide_data(t);
}

static void check_plan(lua_State *L, const tide_bn *net, int64_t nparents, int64_t ncpt)
{
    for (int32_t v = 0; v < net->nvars; v++) {
        int32_t k = net->nstates[v];
        int64_t a = net->parent_start[v], b = net->parent_start[v + 1];
        if (k < 1 || a < 0 || b < a || b > nparents)
            luaL_error(L, "bayes_weighted: variable %d has a bad state count or parent range",
                       (int)v + 1);
        int64_t last_row = 0;
        for (int64_t j = a; j < b; j++) {
            int32_t p = net->parents[j];
            if (p < 0 || p >= v || net->strides[j] < 0)
                luaL_error(L, "bayes_weighted: variable %d has parent %d, not an earlier one",
                           (int)v + 1, (int)p + 1);
            last_row += (int64_t)(net->nstates[p] - 1) * net->strides[j];
        }
        if (net->cpt_start[v] < 0 || net->cpt_start[v] + (last_row + 1) * k > ncpt)
            luaL_error(L, "bayes_weighted: variable %d's CPT runs past the table", (int)v + 1);
        if (net->evidence[v] < -1 || net->evidence[v] >= k)
            luaL_error(L, "bayes_weighted: variable %d's evidence is not one of its states",
                       (int)v + 1);
    }
}

static int k_weighted(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    tide_bn net;
    int64_t nv, nstart, np, nstrides, ncstart, ncpt, nev;
    net.nstates = plan_array(L, "nstates", TIDE_I32, &nv);
    net.parent_start = plan_array(L, "parent_start", TIDE_I64, &nstart);
    net.parents = plan_array(L, "parents", TIDE_I32, &np);
    net.strides = plan_array(L, "strides", TIDE_I64, &nstrides);
    net.cpt_start = plan_array(L, "cpt_start", TIDE_I64, &ncstart);
    net.cpt = plan_array(L, "cpt", TIDE_F64, &ncpt);
    net.evidence = plan_array(L, "evidence", TIDE_I32, &nev);
    if (nv < 1 || nv > INT32_MAX || nstart != nv + 1 || ncstart != nv || nev != nv ||
        nstrides != np)
        luaL_error(L, "bayes_weighted: plan arrays of inconsistent lengths");
    net.nvars = (int32_t)nv;
    check_plan(L, &net, np, ncpt);
    lua_Integer query = luaL_checkinteger(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    int rejection = lua_toboolean(L, 4);
    tide_rng *g = luaL_checkudata(L, 5, "tide.rng");
    tide_tensor *sums = tide_lua_checktensor(L, 6);
    if (query < 1 || query > nv || n < 0)
        luaL_error(L, "bayes_weighted: query %d of %d variables, %d samples", (int)query,
                   (int)nv, (int)n);
    int64_t want = 2 + 2 * (int64_t)net.nstates[query - 1];
    if (sums->dtype != TIDE_F64 || sums->ndim != 1 || sums->shape[0] != want ||
        !tide_is_contiguous(sums))
        luaL_error(L, "bayes_weighted: sums must be a contiguous f64 tensor of %d", (int)want);
    tide_lua_check(L, tide_bn_weighted(&net, (int32_t)(query - 1), n, rejection, g->key,
                                       g->counter, tide_data(sums)));
    tide_rng_advance(g, tide_bn_counters(n));
    return 0;
}

static const luaL_Reg kernels[] = {
    {"weighted", k_weighted},
    {NULL, NULL},
};

void tide_open_bayes(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    luaL_newlib(L, kernels);
    lua_setfield(L, module, "bayes_kernels");
}
