/* lua_linalg.c — matrix products (t:matmul, tide.matmul, t:mv, t:dot, t:addmm_, t:addmv_) and
 * the tide.linalg table (solve, cholesky, lstsq, inv, qr, svd, eigh; all but lstsq take a
 * batch of matrices over leading dims).
 *
 * Results: matmul of two 1-D tensors is a 0-dim tensor, as in torch (use :item() for the
 * number); t:dot(u) is a full reduction and returns a Lua number, like t:sum(). */
#include <string.h>

#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

#include "linalg/blas.h"
#include "linalg/decomp.h"
#include "linalg/linalg.h"

/* tide.matmul(a, b) and a:matmul(b): a new tensor (see blas.h for the 1-D/2-D/batched rules). */
static int l_matmul(lua_State *L)
{
    tide_lua_checknargs(L, 2, "matmul");
    return tide_lua_apply2(L, tide_matmul);
}

/* m:mv(v): matrix (2-D) times vector (1-D), a new 1-D tensor. */
static int m_mv(lua_State *L)
{
    tide_lua_checknargs(L, 2, "mv");
    return tide_lua_apply2(L, tide_mv);
}

/* u:dot(v): the dot product of two 1-D tensors of the same size, as a Lua number. */
static int m_dot(lua_State *L)
{
    tide_lua_checknargs(L, 2, "dot");
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

typedef tide_status (*scaled_product)(tide_tensor *out, const tide_tensor *a, const tide_tensor *b,
                                      double beta, double alpha);

/* out:name(A, B, {beta = 1, alpha = 1}): out = beta*out + alpha*product(A, B), written straight
 * into out by one BLAS call. Returns out. */
static int scaled_product_(lua_State *L, scaled_product product, const char *name)
{
    tide_lua_checknargs(L, 4, name);
    tide_tensor *out = tide_lua_checktensor(L, 1);
    tide_tensor *a = tide_lua_checktensor(L, 2);
    tide_tensor *b = tide_lua_checktensor(L, 3);
    tide_lua_checkopts(L, 4, scale_opts, name);
    double beta = opt_number(L, 4, "beta", 1, name);
    double alpha = opt_number(L, 4, "alpha", 1, name);
    tide_lua_check(L, product(out, a, b, beta, alpha));
    lua_settop(L, 1);
    return 1;
}

/* C:addmm_(A, B, opts): C = beta*C + alpha*(A @ B) by one gemm (C contiguous, or the transpose
 * of a contiguous matrix). */
static int m_addmm_(lua_State *L) { return scaled_product_(L, tide_addmm, "addmm_"); }

/* y:addmv_(A, x, opts): y = beta*y + alpha*(A @ x) by one gemv. */
static int m_addmv_(lua_State *L) { return scaled_product_(L, tide_addmv, "addmv_"); }

/* ---------------------------------------------------------------- tide.linalg */

/* tide.linalg.solve(A, B): X with A X = B for A (..., n, n) and B (..., n) or (..., n, k) with
 * A's leading dims; a singular matrix is named by its place in the batch. */
static int l_solve(lua_State *L)
{
    tide_lua_checknargs(L, 2, "solve");
    return tide_lua_apply2(L, tide_solve);
}

/* tide.linalg.cholesky(A): lower-triangular L with A = L L^T (reads A's lower triangle). */
static int l_cholesky(lua_State *L)
{
    tide_lua_checknargs(L, 1, "cholesky");
    return tide_lua_apply1(L, tide_cholesky);
}

/* tide.linalg.lstsq(A, B): X minimising ||A X - B|| (A of full rank), n or n x k. */
static int l_lstsq(lua_State *L)
{
    tide_lua_checknargs(L, 2, "lstsq");
    return tide_lua_apply2(L, tide_lstsq);
}

/* tide.linalg.inv(A): the inverse of square A (or of each matrix of a batch). */
static int l_inv(lua_State *L)
{
    tide_lua_checknargs(L, 1, "inv");
    return tide_lua_apply1(L, tide_inv);
}

/* The string option key of the options table at arg: which of the NULL-terminated choices it
 * is (0 when absent). */
static int opt_choice(lua_State *L, int arg, const char *key, const char *const *choices,
                      const char *op)
{
    if (lua_isnoneornil(L, arg))
        return 0;
    lua_getfield(L, arg, key);
    int which = 0;
    if (!lua_isnil(L, -1)) {
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        for (which = 0; v && choices[which] && strcmp(choices[which], v) != 0; which++)
            ;
        if (!v || !choices[which])
            luaL_error(L, "%s: option '%s' must be \"%s\" or \"%s\", got %s", op, key,
                       choices[0], choices[1], luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
    return which;
}

/* tide.linalg.qr(A, {mode = "reduced" | "complete"}) -> Q, R with A = Q R. */
static int l_qr(lua_State *L)
{
    static const char *const keys[] = {"mode", NULL};
    static const char *const modes[] = {"reduced", "complete", NULL};
    tide_lua_checknargs(L, 2, "qr");
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 2, keys, "qr");
    int complete = opt_choice(L, 2, "mode", modes, "qr");
    tide_tensor *q = tide_lua_newtensor(L), *r = tide_lua_newtensor(L);
    tide_lua_check(L, tide_qr(q, r, a, complete));
    return 2;
}

/* tide.linalg.svd(A, {full_matrices = true}) -> U, S, Vh with A = U diag(S) Vh. */
static int l_svd(lua_State *L)
{
    static const char *const keys[] = {"full_matrices", NULL};
    tide_lua_checknargs(L, 2, "svd");
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 2, keys, "svd");
    int full = 1;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "full_matrices");
        if (lua_isboolean(L, -1))
            full = lua_toboolean(L, -1);
        else if (!lua_isnil(L, -1))
            return luaL_error(L, "svd: option 'full_matrices' must be a boolean, got %s",
                              luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    tide_tensor *u = tide_lua_newtensor(L), *s = tide_lua_newtensor(L);
    tide_tensor *vh = tide_lua_newtensor(L);
    tide_lua_check(L, tide_svd(u, s, vh, a, full));
    return 3;
}

/* tide.linalg.eigh(A, {UPLO = "L" | "U"}) -> w (ascending), V with A = V diag(w) V^T. */
static int l_eigh(lua_State *L)
{
    static const char *const keys[] = {"UPLO", NULL};
    static const char *const uplo[] = {"L", "U", NULL};
    tide_lua_checknargs(L, 2, "eigh");
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 2, keys, "eigh");
    int upper = opt_choice(L, 2, "UPLO", uplo, "eigh");
    tide_tensor *w = tide_lua_newtensor(L), *v = tide_lua_newtensor(L);
    tide_lua_check(L, tide_eigh(w, v, a, upper));
    return 2;
}

static const luaL_Reg linalg_funcs[] = {
    {"solve", l_solve}, {"cholesky", l_cholesky}, {"lstsq", l_lstsq}, {"inv", l_inv},
    {"qr", l_qr}, {"svd", l_svd}, {"eigh", l_eigh},
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
