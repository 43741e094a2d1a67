/* lua_dmatrix.c — the kernels behind tide.dmatrix (scripts/tide/dmatrix/init.lua).
 *
 * tide.core._dmatrix holds (a layout is a table {m =, n =, mb =, nb =, pr =, pc =}; grid
 * positions are 0-based):
 *   pack(global, layout, prow, pcol)            -> the local matrix of that grid position
 *   unpack_(global, local, layout, prow, pcol)  writes local into global, returns global
 *   summa(a, b, layout_a, layout_b, row, col)   -> this rank's block of A @ B (collective)
 *   local_count(n, nb, p, np)                   -> rows (columns) position p of np holds */
#include "lua_bindings.h"
#include "comm/lua_comm.h"
#include "tensor/lua_tensor.h"

#include "dist/dmatrix.h"

static int64_t field(lua_State *L, int arg, const char *name)
{
    lua_getfield(L, arg, name);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok)
        return luaL_error(L, "dmatrix: layout field '%s' must be an integer", name);
    return (int64_t)v;
}

static void check_layout(lua_State *L, int arg, tide_dmatrix_layout *lay)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lay->m = field(L, arg, "m");
    lay->n = field(L, arg, "n");
    lay->mb = field(L, arg, "mb");
    lay->nb = field(L, arg, "nb");
    lay->pr = (int)field(L, arg, "pr");
    lay->pc = (int)field(L, arg, "pc");
}

static int l_pack(lua_State *L)
{
    tide_tensor *g = tide_lua_checktensor(L, 1);
    tide_dmatrix_layout lay;
    check_layout(L, 2, &lay);
    int prow = (int)luaL_checkinteger(L, 3), pcol = (int)luaL_checkinteger(L, 4);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_dmatrix_pack(out, g, &lay, prow, pcol));
    return 1;
}

static int l_unpack(lua_State *L)
{
    tide_tensor *g = tide_lua_checktensor(L, 1);
    tide_tensor *local = tide_lua_checktensor(L, 2);
    tide_dmatrix_layout lay;
    check_layout(L, 3, &lay);
    int prow = (int)luaL_checkinteger(L, 4), pcol = (int)luaL_checkinteger(L, 5);
    tide_lua_check(L, tide_dmatrix_unpack(g, local, &lay, prow, pcol));
    lua_settop(L, 1);
    return 1;
}

static int l_summa(lua_State *L)
{
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *b = tide_lua_checktensor(L, 2);
    tide_dmatrix_layout la, lb;
    check_layout(L, 3, &la);
    check_layout(L, 4, &lb);
    tide_comm *row = tide_lua_checkcomm(L, 5);
    tide_comm *col = tide_lua_checkcomm(L, 6);
    tide_lua_site(L, 1);
    tide_tensor *c = tide_lua_newtensor(L);
    tide_lua_check(L, tide_dmatrix_summa(c, a, b, &la, &lb, row, col));
    tide_lua_gc_pressure(L);
    return 1;
}

static int l_local_count(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1), nb = luaL_checkinteger(L, 2);
    lua_Integer p = luaL_checkinteger(L, 3), np = luaL_checkinteger(L, 4);
    if (nb < 1 || np < 1 || p < 0 || p >= np || n < 0)
        return luaL_error(L, "dmatrix.local_count: bad arguments (%I, %I, %I, %I)", n, nb, p, np);
    lua_pushinteger(L, (lua_Integer)tide_dmatrix_local_count(n, nb, (int)p, (int)np));
    return 1;
}

void tide_open_dmatrix(lua_State *L, int module, int methods, int meta)
{
    (void)methods, (void)meta;
    static const luaL_Reg fns[] = {
        {"pack", l_pack}, {"unpack_", l_unpack}, {"summa", l_summa},
        {"local_count", l_local_count}, {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_setfield(L, module, "_dmatrix");
}
