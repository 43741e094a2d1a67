/* lua_linear.c — the fused logistic-regression kernel (core/algo/logistic.h) in tide's
 * kernels table, for scripts/tide/linear:
 *
 *   logistic_loss_grad(x, w, b|nil, t[, grad_w, grad_b]) -> loss, grad_w, grad_b|nil
 *
 * loss is the sum over x's rows; grad_w and grad_b are filled when given (buffers reused from
 * call to call) or made. */
#include "algo/logistic.h"
#include "lua_bindings.h"
#include "tensor/lua_args.h"
#include "tensor/lua_tensor.h"

static int k_logistic_loss_grad(lua_State *L)
{
    tide_lua_checknargs(L, 6, "logistic_loss_grad");
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *w = tide_lua_checktensor(L, 2);
    tide_tensor *b = lua_isnil(L, 3) ? NULL : tide_lua_checktensor(L, 3);
    tide_tensor *t = tide_lua_checktensor(L, 4);
    tide_tensor *gw = tide_lua_optout(L, 5);
    int gw_idx = lua_gettop(L);
    tide_tensor *gb = NULL;
    if (b)
        gb = tide_lua_optout(L, 6);
    else
        lua_pushnil(L);
    int gb_idx = lua_gettop(L);
    double loss = 0;
    tide_lua_check(L, tide_logistic_loss_grad(&loss, gw, gb, x, w, b, t));
    lua_pushnumber(L, loss);
    lua_pushvalue(L, gw_idx);
    lua_pushvalue(L, gb_idx);
    return 3;
}

static const luaL_Reg kernels[] = {
    {"logistic_loss_grad", k_logistic_loss_grad}, {NULL, NULL}};

void tide_open_linear(lua_State *L, int module, int methods, int meta)
{
    (void)methods, (void)meta;
    lua_getfield(L, module, "kernels");     /* made by tide_open_nn, which runs first */
    luaL_setfuncs(L, kernels, 0);
    lua_pop(L, 1);
}
