/* lua_layers.c — the kernels of tide.nn's layers (core/nn), added to tide's kernels table:
 *
 *   conv2d(x, w, bias|nil, p[, out]) -> out
 *   conv2d_backward(grad_out, x, w, p, {grad_input = t|true, grad_weight = t, grad_bias = t})
 *     -> grad_input|nil
 *
 * p is the table {stride = {sh, sw}, padding = {ph, pw}, dilation = {dh, dw}, groups = g,
 * algo = "auto" | "im2col" | "direct" (a benchmark's choice; auto when absent)} the Lua layer
 * has already checked (nn/conv.lua); the core checks shapes again. grad_weight and grad_bias
 * are added to; grad_input = true allocates it.
 *
 *   conv2d_grad_sample(grad_out, x, w, p, bias) -> grad_w (N x <w's shape>), grad_b (N x O) or
 *     nil when bias is false: every sample's own gradients (core/nn/conv_sample.h, for DP-SGD)
 *
 *   gelu(x[, out]), gelu_backward(g, x[, out]), leaky_relu(x, slope[, out]),
 *   leaky_relu_backward(g, x, slope[, out])
 *   max_pool2d(x, p[, out, argmax]) -> out, argmax; max_pool2d_backward(g, argmax, x[, out])
 *   avg_pool2d(x, p[, out]), avg_pool2d_backward(g, x, p[, out])
 *   adaptive_avg_pool2d(x, oh, ow[, out]), adaptive_avg_pool2d_backward(g, x[, out])
 *
 * with p = {kernel = {kh, kw}, stride = {sh, sw}, padding = {ph, pw}} for the pools.
 *
 *   quantize_rows(w) -> q (u8 holding int8), scale (f32): per output channel (core/nn/qgemm.h)
 *   qgemm_pack(q) -> packed (u8): q laid out once for the VNNI path
 *   qlinear(x, q, scale, bias|nil, packed|nil[, path]) -> out: int8 x W^T + bias, path "auto"
 *     (default), "portable", "avx2" or "avx512-vnni"
 *   qgemm_paths() -> {names this CPU runs}, the name "auto" picks */
#include "lua_bindings.h"
#include "nn/activation.h"
#include "nn/conv.h"
#include "nn/conv_sample.h"
#include "nn/pool.h"
#include "nn/qgemm.h"
#include "tensor/lua_args.h"
#include "tensor/lua_tensor.h"

static int64_t pair_at(lua_State *L, int t, const char *key, int i)
{
    lua_getfield(L, t, key);
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_geti(L, -1, i);
    int64_t v = luaL_checkinteger(L, -1);
    lua_pop(L, 2);
    return v;
}

static void conv_params(lua_State *L, int arg, tide_conv2d_params *p)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    for (int d = 0; d < 2; d++) {
        p->stride[d] = pair_at(L, arg, "stride", d + 1);
        p->padding[d] = pair_at(L, arg, "padding", d + 1);
        p->dilation[d] = pair_at(L, arg, "dilation", d + 1);
    }
    lua_getfield(L, arg, "groups");
    p->groups = luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    /* which kernel: chosen by shape unless a benchmark asks for one */
    static const char *const algos[] = {"auto", "im2col", "direct", NULL};
    lua_getfield(L, arg, "algo");
    p->algo = (tide_conv2d_algo)luaL_checkoption(L, -1, "auto", algos);
    lua_pop(L, 1);
}

static int k_conv2d(lua_State *L)
{
    tide_lua_checknargs(L, 5, "conv2d");
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *w = tide_lua_checktensor(L, 2);
    tide_tensor *b = lua_isnil(L, 3) ? NULL : tide_lua_checktensor(L, 3);
    tide_conv2d_params p;
    conv_params(L, 4, &p);
    tide_tensor *out;
    if (lua_isnoneornil(L, 5)) {
        out = tide_lua_newtensor(L);
    } else {
        out = tide_lua_checktensor(L, 5);
        lua_pushvalue(L, 5);
    }
    tide_lua_check(L, tide_conv2d(out, x, w, b, &p));
    tide_lua_gc_pressure(L);
    return 1;
}

/* The tensor under key in the table at arg, or NULL when absent. */
static tide_tensor *opt_field(lua_State *L, int arg, const char *key)
{
    lua_getfield(L, arg, key);
    tide_tensor *t = lua_isnil(L, -1) ? NULL : tide_lua_checktensor(L, -1);
    lua_pop(L, 1);      /* the table keeps it alive */
    return t;
}

static int k_conv2d_backward(lua_State *L)
{
    tide_lua_checknargs(L, 5, "conv2d_backward");
    tide_tensor *go = tide_lua_checktensor(L, 1);
    tide_tensor *x = tide_lua_checktensor(L, 2);
    tide_tensor *w = tide_lua_checktensor(L, 3);
    tide_conv2d_params p;
    conv_params(L, 4, &p);
    luaL_checktype(L, 5, LUA_TTABLE);
    tide_tensor *gw = opt_field(L, 5, "grad_weight");
    tide_tensor *gb = opt_field(L, 5, "grad_bias");
    tide_tensor *gx = NULL;
    lua_getfield(L, 5, "grad_input");
    if (lua_toboolean(L, -1) && !tide_lua_totensor(L, -1)) {
        lua_pop(L, 1);
        gx = tide_lua_newtensor(L);
    } else if (lua_toboolean(L, -1)) {
        gx = tide_lua_checktensor(L, -1);     /* stays on the stack: it is the result */
    }
    tide_lua_check(L, tide_conv2d_backward(gx, gw, gb, go, x, w, &p));
    if (!gx)
        lua_pushnil(L);
    return 1;
}

static int k_conv2d_grad_sample(lua_State *L)
{
    tide_lua_checknargs(L, 5, "conv2d_grad_sample");
    tide_tensor *go = tide_lua_checktensor(L, 1);
    tide_tensor *x = tide_lua_checktensor(L, 2);
    tide_tensor *w = tide_lua_checktensor(L, 3);
    tide_conv2d_params p;
    conv_params(L, 4, &p);
    int with_bias = lua_toboolean(L, 5);
    tide_tensor *gw = tide_lua_newtensor(L);
    tide_tensor *gb = with_bias ? tide_lua_newtensor(L) : NULL;
    tide_lua_check(L, tide_conv2d_grad_sample(gw, gb, go, x, w, &p));
    if (!gb)
        lua_pushnil(L);
    tide_lua_gc_pressure(L);
    return 2;
}

static int k_gelu(lua_State *L)
{
    tide_lua_checknargs(L, 2, "gelu");
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_lua_check(L, tide_gelu(tide_lua_optout(L, 2), x));
    return 1;
}

static int k_gelu_backward(lua_State *L)
{
    tide_lua_checknargs(L, 3, "gelu_backward");
    tide_tensor *g = tide_lua_checktensor(L, 1), *x = tide_lua_checktensor(L, 2);
    tide_lua_check(L, tide_gelu_backward(tide_lua_optout(L, 3), g, x));
    return 1;
}

static int k_leaky_relu(lua_State *L)
{
    tide_lua_checknargs(L, 3, "leaky_relu");
    tide_tensor *x = tide_lua_checktensor(L, 1);
    double slope = luaL_checknumber(L, 2);
    tide_lua_check(L, tide_leaky_relu(tide_lua_optout(L, 3), x, slope));
    return 1;
}

static int k_leaky_relu_backward(lua_State *L)
{
    tide_lua_checknargs(L, 4, "leaky_relu_backward");
    tide_tensor *g = tide_lua_checktensor(L, 1), *x = tide_lua_checktensor(L, 2);
    double slope = luaL_checknumber(L, 3);
    tide_lua_check(L, tide_leaky_relu_backward(tide_lua_optout(L, 4), g, x, slope));
    return 1;
}

static void pool_params(lua_State *L, int arg, tide_pool2d_params *p)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    for (int d = 0; d < 2; d++) {
        p->kernel[d] = pair_at(L, arg, "kernel", d + 1);
        p->stride[d] = pair_at(L, arg, "stride", d + 1);
        p->padding[d] = pair_at(L, arg, "padding", d + 1);
    }
}

static int k_max_pool2d(lua_State *L)
{
    tide_lua_checknargs(L, 4, "max_pool2d");
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_pool2d_params p;
    pool_params(L, 2, &p);
    tide_tensor *out = tide_lua_optout(L, 3);
    tide_tensor *am = tide_lua_optout(L, 4);
    tide_lua_check(L, tide_max_pool2d(out, am, x, &p));
    return 2;
}

static int k_max_pool2d_backward(lua_State *L)
{
    tide_lua_checknargs(L, 4, "max_pool2d_backward");
    tide_tensor *g = tide_lua_checktensor(L, 1), *am = tide_lua_checktensor(L, 2);
    tide_tensor *x = tide_lua_checktensor(L, 3);
    tide_lua_check(L, tide_max_pool2d_backward(tide_lua_optout(L, 4), g, am, x));
    return 1;
}

static int k_avg_pool2d(lua_State *L)
{
    tide_lua_checknargs(L, 3, "avg_pool2d");
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_pool2d_params p;
    pool_params(L, 2, &p);
    tide_lua_check(L, tide_avg_pool2d(tide_lua_optout(L, 3), x, &p));
    return 1;
}

static int k_avg_pool2d_backward(lua_State *L)
{
    tide_lua_checknargs(L, 4, "avg_pool2d_backward");
    tide_tensor *g = tide_lua_checktensor(L, 1), *x = tide_lua_checktensor(L, 2);
    tide_pool2d_params p;
    pool_params(L, 3, &p);
    tide_lua_check(L, tide_avg_pool2d_backward(tide_lua_optout(L, 4), g, x, &p));
    return 1;
}

static int k_adaptive_avg_pool2d(lua_State *L)
{
    tide_lua_checknargs(L, 4, "adaptive_avg_pool2d");
    tide_tensor *x = tide_lua_checktensor(L, 1);
    int64_t oh = luaL_checkinteger(L, 2), ow = luaL_checkinteger(L, 3);
    tide_lua_check(L, tide_adaptive_avg_pool2d(tide_lua_optout(L, 4), x, oh, ow));
    return 1;
}

static int k_adaptive_avg_pool2d_backward(lua_State *L)
{
    tide_lua_checknargs(L, 3, "adaptive_avg_pool2d_backward");
    tide_tensor *g = tide_lua_checktensor(L, 1), *x = tide_lua_checktensor(L, 2);
    tide_lua_check(L, tide_adaptive_avg_pool2d_backward(tide_lua_optout(L, 3), g, x));
    return 1;
}

static int k_quantize_rows(lua_State *L)
{
    tide_tensor *w = tide_lua_checktensor(L, 1);
    tide_tensor *q = tide_lua_newtensor(L);
    tide_tensor *scale = tide_lua_newtensor(L);
    tide_lua_check(L, tide_quantize_rows(q, scale, w));
    return 2;
}

static const char *const QGEMM_PATHS[] = {"auto", "portable", "avx2", "avx512-vnni", NULL};

static int k_qlinear(lua_State *L)
{
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *q = tide_lua_checktensor(L, 2);
    tide_tensor *scale = tide_lua_checktensor(L, 3);
    tide_tensor *bias = lua_isnil(L, 4) ? NULL : tide_lua_checktensor(L, 4);
    tide_tensor *packed = lua_isnoneornil(L, 5) ? NULL : tide_lua_checktensor(L, 5);
    tide_qgemm_path path = (tide_qgemm_path)luaL_checkoption(L, 6, "auto", QGEMM_PATHS);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_qlinear(out, x, q, scale, bias, packed, path));
    tide_lua_gc_pressure(L);
    return 1;
}

static int k_qgemm_pack(lua_State *L)
{
    tide_tensor *q = tide_lua_checktensor(L, 1);
    tide_tensor *packed = tide_lua_newtensor(L);
    tide_lua_check(L, tide_qgemm_pack(packed, q));
    return 1;
}

static int k_qgemm_paths(lua_State *L)
{
    lua_newtable(L);
    int n = 0;
    for (int p = TIDE_QGEMM_PORTABLE; p <= TIDE_QGEMM_VNNI; p++)
        if (tide_qgemm_available((tide_qgemm_path)p)) {
            lua_pushstring(L, QGEMM_PATHS[p]);
            lua_rawseti(L, -2, ++n);
        }
    lua_pushstring(L, QGEMM_PATHS[tide_qgemm_best()]);
    return 2;
}

static const luaL_Reg kernels[] = {
    {"conv2d", k_conv2d}, {"conv2d_backward", k_conv2d_backward},
    {"conv2d_grad_sample", k_conv2d_grad_sample}, {"gelu", k_gelu},
    {"gelu_backward", k_gelu_backward}, {"leaky_relu", k_leaky_relu},
    {"leaky_relu_backward", k_leaky_relu_backward}, {"max_pool2d", k_max_pool2d},
    {"max_pool2d_backward", k_max_pool2d_backward}, {"avg_pool2d", k_avg_pool2d},
    {"avg_pool2d_backward", k_avg_pool2d_backward},
    {"adaptive_avg_pool2d", k_adaptive_avg_pool2d},
    {"adaptive_avg_pool2d_backward", k_adaptive_avg_pool2d_backward},
    {"quantize_rows", k_quantize_rows}, {"qlinear", k_qlinear}, {"qgemm_paths", k_qgemm_paths},
    {"qgemm_pack", k_qgemm_pack},
    {NULL, NULL}};

void tide_open_layers(lua_State *L, int module, int methods, int meta)
{
    (void)methods, (void)meta;
    lua_getfield(L, module, "kernels");     /* made by tide_open_nn, which runs first */
    luaL_setfuncs(L, kernels, 0);
    lua_pop(L, 1);
}
