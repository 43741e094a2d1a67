/* lua_als.c — the ALS kernel as tide._internal.als_kernels, for scripts/tide/recommend.
 *
 * normal_equations(Y, offsets, cols, weights, values, ridge [, base]) -> A, b: the batch of
 * regularised normal equations of als.h; cols count Y's rows from 1 (Lua's), offsets from 0
 * (offsets[u] .. offsets[u + 1] are row u's entries, as CSR's row pointer). */
#include "algo/als.h"
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

static int k_normal_equations(lua_State *L)
{
    tide_lua_checknargs(L, 7, "als_normal_equations");
    tide_tensor *y = tide_lua_checktensor(L, 1);
    tide_als_entries e = {
        .offsets = tide_lua_checktensor(L, 2),
        .cols = tide_lua_checktensor(L, 3),
        .index_base = 1,
        .weights = tide_lua_checktensor(L, 4),
        .values = tide_lua_checktensor(L, 5),
        .ridge = tide_lua_checktensor(L, 6),
        .base = lua_isnoneornil(L, 7) ? NULL : tide_lua_checktensor(L, 7),
    };
    tide_tensor *a = tide_lua_newtensor(L);
    tide_tensor *b = tide_lua_newtensor(L);
    tide_lua_check(L, tide_als_normal_equations(a, b, y, &e));
    tide_lua_gc_pressure(L);
    return 2;
}

static const luaL_Reg kernels[] = {{"normal_equations", k_normal_equations}, {NULL, NULL}};

void tide_open_als(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    luaL_newlib(L, kernels);
    lua_setfield(L, module, "als_kernels");
}
