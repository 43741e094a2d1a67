/* lua_als.c — the ALS kernels as tide._internal.als_kernels, for scripts/tide/recommend.
 *
 *   solve(Y, offsets, cols, weights, values, ridge [, base]) -> X   (B x k)
 *   normal_equations(same arguments) -> A, b                         (B x k x k, B x k)
 *   sse(X, Y, offsets, cols, weights, values, ridge) -> sum of (x_u . y_col - value)^2
 *
 * The batch of regularised normal equations of als.h, solved or returned; cols count Y's rows
 * from 1 (Lua's), offsets from 0 (offsets[u] .. offsets[u + 1] are row u's entries, as CSR's
 * row pointer). */
#include "algo/als.h"
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

static tide_als_entries check_entries(lua_State *L, const char *op)
{
    tide_lua_checknargs(L, 7, op);
    tide_als_entries e = {
        .offsets = tide_lua_checktensor(L, 2),
        .cols = tide_lua_checktensor(L, 3),
        .index_base = 1,
        .weights = tide_lua_checktensor(L, 4),
        .values = tide_lua_checktensor(L, 5),
        .ridge = tide_lua_checktensor(L, 6),
        .base = lua_isnoneornil(L, 7) ? NULL : tide_lua_checktensor(L, 7),
    };
    return e;
}

static int k_solve(lua_State *L)
{
    tide_tensor *y = tide_lua_checktensor(L, 1);
    tide_als_entries e = check_entries(L, "als_solve");
    tide_tensor *x = tide_lua_newtensor(L);
    tide_lua_check(L, tide_als_solve(x, y, &e));
    tide_lua_gc_pressure(L);
    return 1;
}

static int k_normal_equations(lua_State *L)
{
    tide_tensor *y = tide_lua_checktensor(L, 1);
    tide_als_entries e = check_entries(L, "als_normal_equations");
    tide_tensor *a = tide_lua_newtensor(L);
    tide_tensor *b = tide_lua_newtensor(L);
    tide_lua_check(L, tide_als_normal_equations(a, b, y, &e));
    tide_lua_gc_pressure(L);
    return 2;
}

/* X's rows are the batch's; the entries' arguments move one place right */
static int k_sse(lua_State *L)
{
    tide_tensor *x = tide_lua_checktensor(L, 1);
    lua_remove(L, 1);
    tide_tensor *y = tide_lua_checktensor(L, 1);
    tide_als_entries e = check_entries(L, "als_sse");
    double sse;
    tide_lua_check(L, tide_als_sse(&sse, x, y, &e));
    lua_pushnumber(L, sse);
    return 1;
}

static const luaL_Reg kernels[] = {{"solve", k_solve},
                                   {"normal_equations", k_normal_equations},
                                   {"sse", k_sse},
                                   {NULL, NULL}};

void tide_open_als(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    luaL_newlib(L, kernels);
    lua_setfield(L, module, "als_kernels");
}
