/* lua_linalg.c — matrix products (t:matmul, tide.matmul, t:mv, t:dot, t:addmm_, t:addmv_) and
 * the tide.linalg table (solve, cholesky, lstsq, inv).
 *
 * Results: matmul of two 1-D tensors is a 0-dim tensor, as in torch (use :item() for the
 * number); t:dot(u) is a full reduction and returns a Lua number, like t:sum(). */
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

#include "linalg/blas.h"
#include "linalg/linalg.h"

/* tide.matmul(a, b) and a:matmul(b): a new tensor (see blas.h for the 1-D/2-D/batched rules). */
static int l_matmul(lua_State *L) { return tide_lua_apply2(L, tide_matmul); }

/* m:mv(v): matrix (2-D) times vector (1-D), a new 1-D tensor. */
static int m_mv(lua_State *L) { return tide_lua_apply2(L, tide_mv); }

/* u:dot(v): the dot product of two 1-D tensors of the same size, as a Lua number. */
static int m_dot(lua_State *L)
{
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *b = tide_lua_checktensor(L, 2);
    double r = 0;
    tide_lua_check(L, tide_dot(&r, a, b));
    lua_pushnumber(L, r);
    return 1;
}

/* The number option key of the options table at arg, or def. */
static double opt_number(lua_State *L, int arg, const char *key, double def, const char *op)
{
    if (lua_isnoneornil(L, arg))
        return def;
    lua_getfield(L, arg, key);
    double v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: option '%s' must be a number, got %s", op, key,
                       luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static const char *const scale_opts[] = {"beta", "alpha", NULL};

/* C:addmm_(A, B, {beta = 1, alpha = 1}): C = beta*C + alpha*(A @ B) by one gemm written
 * straight into C (contiguous, or the transpose of a contiguous matrix). Returns C. */
static int m_addmm_(lua_State *L)
{
    tide_tensor *c = tide_lua_checktensor(L, 1);
    tide_tensor *a = tide_lua_checktensor(L, 2);
    tide_tensor *b = tide_lua_checktensor(L, 3);
    tide_lua_checkopts(L, 4, scale_opts, "addmm_");
    double beta = opt_number(L, 4, "beta", 1, "addmm_");
    double alpha = opt_number(L, 4, "alpha", 1, "addmm_");
    tide_lua_check(L, tide_addmm(c, a, b, beta, alpha));
    lua_settop(L, 1);
    return 1;
}

/* y:addmv_(A, x, {beta = 1, alpha = 1}): y = beta*y + alpha*(A @ x) by one gemv. Returns y. */
static int m_addmv_(lua_State *L)
{
    tide_tensor *y = tide_lua_checktensor(L, 1);
    tide_tensor *a = tide_lua_checktensor(L, 2);
    tide_tensor *x = tide_lua_checktensor(L, 3);
    tide_lua_checkopts(L, 4, scale_opts, "addmv_");
    double beta = opt_number(L, 4, "beta", 1, "addmv_");
    double alpha = opt_number(L, 4, "alpha", 1, "addmv_");
    tide_lua_check(L, tide_addmv(y, a, x, beta, alpha));
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- tide.linalg */

/* tide.linalg.solve(A, B): X with A X = B (A square; B a vector or a matrix of columns). */
static int l_solve(lua_State *L) { return tide_lua_apply2(L, tide_solve); }

/* tide.linalg.cholesky(A): lower-triangular L with A = L L^T (reads A's lower triangle). */
static int l_cholesky(lua_State *L) { return tide_lua_apply1(L, tide_cholesky); }

/* tide.linalg.lstsq(A, B): X minimising ||A X - B|| (A of full rank), n or n x k. */
static int l_lstsq(lua_State *L) { return tide_lua_apply2(L, tide_lstsq); }

/* tide.linalg.inv(A): the inverse of square A. */
static int l_inv(lua_State *L) { return tide_lua_apply1(L, tide_inv); }

static const luaL_Reg linalg_funcs[] = {
    {"solve", l_solve}, {"cholesky", l_cholesky}, {"lstsq", l_lstsq}, {"inv", l_inv},
    {NULL, NULL}};

static const luaL_Reg methods[] = {
    {"matmul", l_matmul}, {"mv", m_mv}, {"dot", m_dot}, {"addmm_", m_addmm_},
    {"addmv_", m_addmv_},
    {NULL, NULL}};

void tide_open_linalg(lua_State *L, int module, int methods_idx, int meta)
{
    (void)meta;
    lua_pushcfunction(L, l_matmul);
    lua_setfield(L, module, "matmul");
    luaL_newlib(L, linalg_funcs);
    lua_setfield(L, module, "linalg");
    lua_pushvalue(L, methods_idx);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}
