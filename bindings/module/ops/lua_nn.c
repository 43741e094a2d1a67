/* lua_nn.c — the kernels under tide.nn and tide.optim: t:softmax(), t:log_softmax(), and the
 * tide.kernels table (cross-entropy, activation backwards, optimizer steps, small helpers).
 *
 * Kernels that produce a tensor take an optional `out` (a contiguous tensor of the result's
 * shape and dtype, which they fill and return) so that nn modules reuse their buffers from
 * step to step; without it they allocate. */
#include "lua_bindings.h"
#include "tensor/lua_args.h"
#include "tensor/lua_tensor.h"
#include "ops/elementwise.h"
#include "ops/nn.h"
#include "ops/optim.h"

#include <string.h>

/* tide_lua_apply1 with an optional out at 2 */
static int unary(lua_State *L, tide_lua_op1 fn, const char *name)
{
    tide_lua_checknargs(L, 2, name);
    tide_tensor *x = tide_lua_checktensor(L, 1);
    tide_tensor *out = tide_lua_optout(L, 2);
    tide_lua_check(L, fn(out, x));
    return 1;
}

/* fn over dim (0-based) of any-rank x: the kernel works on the last dim of a 1-D or 2-D
 * tensor, so another dim is moved last and the rest flattened into rows, then moved back. */
static tide_status along_dim(tide_tensor *out, const tide_tensor *x, int dim, tide_lua_op1 fn,
                             const char *name)
{
    if (x->ndim <= 2 && dim == x->ndim - 1)
        return fn(out, x);
    int last = x->ndim - 1;
    tide_tensor tr = {0}, c = {0}, flat = {0}, r = {0}, rv = {0}, back = {0};
    tide_status st = tide_transpose(&tr, x, dim, last);
    if (!st)
        st = tide_contiguous(&c, &tr);
    int64_t n = x->shape[dim];
    int64_t rows = n ? tide_numel(x) / n : 0, shape2[2] = {rows, n};
    if (!st)
        st = tide_view(&flat, &c, 2, shape2);
    if (!st)
        st = fn(&r, &flat);
    if (!st)
        st = tide_view(&rv, &r, c.ndim, c.shape);
    if (!st)
        st = tide_transpose(&back, &rv, dim, last);
    if (!st)
        st = tide_prepare_out(out, x->dtype, x->ndim, x->shape, name);
    if (!st)
        st = tide_copy(out, &back);
    tide_tensor_release(&tr), tide_tensor_release(&c), tide_tensor_release(&flat);
    tide_tensor_release(&r), tide_tensor_release(&rv), tide_tensor_release(&back);
    return st;
}

/* x:softmax([dim][, {out = t}]): over dim (1-based, negative from the end, the last when
 * omitted), as torch.softmax(x, dim). The output tensor is an option; a tensor in the dim's
 * place is the old signature, still taken with a deprecation notice. */
static int softmax_method(lua_State *L, tide_lua_op1 fn, const char *name)
{
    static const char *const known[] = {"out", NULL};
    tide_tensor *x = tide_lua_checktensor(L, 1);
    int nd = x->ndim, opts = 3;
    lua_Integer dim = nd;
    if (tide_lua_totensor(L, 2)) {
        tide_lua_deprecated(L, lua_pushfstring(L, "%s(out)", name),
                            lua_pushfstring(L, "%s(dim, {out = t})", name));
        lua_pop(L, 2);
        opts = 2;
    } else if (lua_istable(L, 2)) {
        opts = 2;
    } else if (!lua_isnoneornil(L, 2)) {
        if (!lua_isinteger(L, 2))
            return luaL_error(L, "%s: dim must be an integer, got %s", name,
                              luaL_typename(L, 2));
        dim = lua_tointeger(L, 2);
        if (dim < 0)
            dim += nd + 1;
        if (dim < 1 || dim > (nd ? nd : 1))
            return luaL_error(L, "%s: dim must be in [%d, %d] for a %d-D tensor, got %d", name,
                              nd ? -nd : -1, nd ? nd : 1, nd, (int)lua_tointeger(L, 2));
    }
    tide_lua_checknargs(L, opts, name);
    tide_tensor *out;
    if (opts == 2 && tide_lua_totensor(L, 2)) {
        out = tide_lua_checktensor(L, 2);
        lua_pushvalue(L, 2);
    } else {
        tide_lua_checkopts(L, opts, known, name);
        int given = 0;
        if (lua_istable(L, opts)) {
            lua_getfield(L, opts, "out");
            given = !lua_isnil(L, -1);
            if (!given)
                lua_pop(L, 1);
        }
        out = given ? tide_lua_checktensor(L, -1) : tide_lua_newtensor(L);
    }
    if (nd == 0)
        tide_lua_check(L, fn(out, x));      /* the kernel's message names the rank */
    else
        tide_lua_check(L, along_dim(out, x, (int)dim - 1, fn, name));
    return 1;
}

static int m_softmax(lua_State *L) { return softmax_method(L, tide_softmax, "softmax"); }
static int m_log_softmax(lua_State *L)
{
    return softmax_method(L, tide_log_softmax, "log_softmax");
}

/* kernel(grad_out, saved[, out]) -> grad_in */
static int backward(lua_State *L, tide_lua_op2 fn, const char *name)
{
    tide_lua_checknargs(L, 3, name);
    tide_tensor *go = tide_lua_checktensor(L, 1);
    tide_tensor *saved = tide_lua_checktensor(L, 2);
    tide_tensor *gi = tide_lua_optout(L, 3);
    tide_lua_check(L, fn(gi, go, saved));
    return 1;
}

static int k_relu_backward(lua_State *L)
{
    return backward(L, tide_relu_backward, "relu_backward");
}
static int k_tanh_backward(lua_State *L)
{
    return backward(L, tide_tanh_backward, "tanh_backward");
}
static int k_sigmoid_backward(lua_State *L)
{
    return backward(L, tide_sigmoid_backward, "sigmoid_backward");
}
static int k_log_softmax_backward(lua_State *L)
{
    return backward(L, tide_log_softmax_backward, "log_softmax_backward");
}

/* cross_entropy(logits, labels, {reduction = "mean"|"sum", grad = true, out = t})
 *   -> loss[, grad]
 * labels are 1-based classes, as everywhere in Lua; out (implies grad) receives the gradient. */
static int k_cross_entropy(lua_State *L)
{
    tide_lua_checknargs(L, 3, "cross_entropy");
    static const char *const known[] = {"reduction", "grad", "out", NULL};
    tide_tensor *logits = tide_lua_checktensor(L, 1);
    tide_tensor *labels = tide_lua_checktensor(L, 2);
    tide_lua_checkopts(L, 3, known, "cross_entropy");
    int mean = 1, want_grad = 0;
    tide_tensor *given = NULL;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "reduction");
        const char *r = luaL_optstring(L, -1, "mean");
        if (strcmp(r, "mean") != 0 && strcmp(r, "sum") != 0)
            luaL_error(L, "cross_entropy: reduction must be \"mean\" or \"sum\", got \"%s\"", r);
        mean = strcmp(r, "mean") == 0;
        lua_getfield(L, 3, "grad");
        want_grad = lua_toboolean(L, -1);
        lua_pop(L, 2);
        lua_getfield(L, 3, "out");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
        } else {
            given = tide_lua_checktensor(L, -1);    /* stays on the stack: it is the result */
            want_grad = 1;
        }
    }
    double loss = 0;
    tide_tensor *grad = given ? given : want_grad ? tide_lua_newtensor(L) : NULL;
    tide_lua_check(L, tide_cross_entropy(&loss, grad, logits, labels, 1, mean));
    lua_pushnumber(L, loss);
    if (grad)
        lua_insert(L, -2);
    return grad ? 2 : 1;
}

static double opt_number(lua_State *L, int idx, const char *key, double def)
{
    lua_getfield(L, idx, key);
    double v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok)
            luaL_error(L, "optimizer: %s must be a number, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* sgd_step(param, grad, buf_or_nil, {lr, momentum, dampening, weight_decay, nesterov}, first) */
static int k_sgd_step(lua_State *L)
{
    tide_lua_checknargs(L, 5, "sgd_step");
    tide_tensor *p = tide_lua_checktensor(L, 1);
    tide_tensor *g = tide_lua_checktensor(L, 2);
    tide_tensor *buf = lua_isnil(L, 3) ? NULL : tide_lua_checktensor(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    tide_sgd_config cfg = {
        .lr = opt_number(L, 4, "lr", 0), .momentum = opt_number(L, 4, "momentum", 0),
        .dampening = opt_number(L, 4, "dampening", 0),
        .weight_decay = opt_number(L, 4, "weight_decay", 0),
    };
    lua_getfield(L, 4, "nesterov");
    cfg.nesterov = lua_toboolean(L, -1);
    lua_pop(L, 1);
    tide_lua_check(L, tide_sgd_step(p, g, buf, &cfg, lua_toboolean(L, 5)));
    return 0;
}

/* adam_step(param, grad, m, v, {lr, beta1, beta2, eps, weight_decay, decoupled}, step) */
static int k_adam_step(lua_State *L)
{
    tide_lua_checknargs(L, 6, "adam_step");
    tide_tensor *p = tide_lua_checktensor(L, 1);
    tide_tensor *g = tide_lua_checktensor(L, 2);
    tide_tensor *m = tide_lua_checktensor(L, 3);
    tide_tensor *v = tide_lua_checktensor(L, 4);
    luaL_checktype(L, 5, LUA_TTABLE);
    tide_adam_config cfg = {
        .lr = opt_number(L, 5, "lr", 1e-3), .beta1 = opt_number(L, 5, "beta1", 0.9),
        .beta2 = opt_number(L, 5, "beta2", 0.999), .eps = opt_number(L, 5, "eps", 1e-8),
        .weight_decay = opt_number(L, 5, "weight_decay", 0),
    };
    lua_getfield(L, 5, "decoupled");
    cfg.decoupled = lua_toboolean(L, -1);
    lua_pop(L, 1);
    tide_lua_check(L, tide_adam_step(p, g, m, v, &cfg, (long)luaL_checkinteger(L, 6)));
    return 0;
}

/* rmsprop_step(param, grad, square_avg, grad_avg_or_nil, buf_or_nil,
 *              {lr, alpha, eps, momentum, weight_decay, centered}) */
static int k_rmsprop_step(lua_State *L)
{
    tide_tensor *p = tide_lua_checktensor(L, 1);
    tide_tensor *g = tide_lua_checktensor(L, 2);
    tide_tensor *sq = tide_lua_checktensor(L, 3);
    tide_tensor *ga = lua_isnil(L, 4) ? NULL : tide_lua_checktensor(L, 4);
    tide_tensor *buf = lua_isnil(L, 5) ? NULL : tide_lua_checktensor(L, 5);
    luaL_checktype(L, 6, LUA_TTABLE);
    tide_rmsprop_config cfg = {
        .lr = opt_number(L, 6, "lr", 1e-2), .alpha = opt_number(L, 6, "alpha", 0.99),
        .eps = opt_number(L, 6, "eps", 1e-8), .momentum = opt_number(L, 6, "momentum", 0),
        .weight_decay = opt_number(L, 6, "weight_decay", 0),
    };
    lua_getfield(L, 6, "centered");
    cfg.centered = lua_toboolean(L, -1);
    lua_pop(L, 1);
    tide_lua_check(L, tide_rmsprop_step(p, g, sq, ga, buf, &cfg));
    return 0;
}

/* adagrad_step(param, grad, sum, {lr, lr_decay, eps, weight_decay}, step) */
static int k_adagrad_step(lua_State *L)
{
    tide_tensor *p = tide_lua_checktensor(L, 1);
    tide_tensor *g = tide_lua_checktensor(L, 2);
    tide_tensor *sum = tide_lua_checktensor(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    tide_adagrad_config cfg = {
        .lr = opt_number(L, 4, "lr", 1e-2), .lr_decay = opt_number(L, 4, "lr_decay", 0),
        .eps = opt_number(L, 4, "eps", 1e-10),
        .weight_decay = opt_number(L, 4, "weight_decay", 0),
    };
    tide_lua_check(L, tide_adagrad_step(p, g, sum, &cfg, (long)luaL_checkinteger(L, 5)));
    return 0;
}

/* relu(x[, out]), tanh(x[, out]), sigmoid(x[, out]): the activations, into out when given
 * (the elementwise kernels of ops_elementwise.h; the nn modules reuse their outputs). */
static int k_relu(lua_State *L) { return unary(L, tide_relu, "relu"); }
static int k_tanh(lua_State *L) { return unary(L, tide_tanh, "tanh"); }
static int k_sigmoid(lua_State *L) { return unary(L, tide_sigmoid, "sigmoid"); }

/* mul(a, b[, out]) -> a * b elementwise (dropout's mask). */
static int k_mul(lua_State *L)
{
    tide_lua_checknargs(L, 3, "mul");
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *b = tide_lua_checktensor(L, 2);
    tide_tensor *out = tide_lua_optout(L, 3);
    tide_lua_check(L, tide_mul(out, a, b));
    return 1;
}

/* add_colsum_(acc, x[, overwrite]): acc += the sum of x's rows (acc = that sum when
 * overwrite is true); returns acc. */
static int k_add_colsum_(lua_State *L)
{
    tide_lua_checknargs(L, 3, "add_colsum_");
    tide_tensor *acc = tide_lua_checktensor(L, 1);
    tide_tensor *x = tide_lua_checktensor(L, 2);
    tide_lua_check(L, tide_add_colsum(acc, x, !lua_toboolean(L, 3)));
    lua_settop(L, 1);
    return 1;
}

/* take_rows(src, idx[, out]): the rows of src that the 1-based indices idx name, copied into
 * out (or a new tensor). */
static int k_take_rows(lua_State *L)
{
    tide_lua_checknargs(L, 3, "take_rows");
    tide_tensor *src = tide_lua_checktensor(L, 1);
    tide_tensor *idx = tide_lua_checktensor(L, 2);
    tide_tensor *out = tide_lua_optout(L, 3);
    tide_lua_check(L, tide_take_rows(out, src, idx, 1));
    return 1;
}

/* dropout_mask_(u, p): uniform noise -> inverted-dropout mask, in place; returns u. */
static int k_dropout_mask_(lua_State *L)
{
    tide_lua_checknargs(L, 2, "dropout_mask_");
    tide_tensor *u = tide_lua_checktensor(L, 1);
    tide_lua_check(L, tide_dropout_mask(u, luaL_checknumber(L, 2)));
    lua_settop(L, 1);
    return 1;
}

/* sq_dist(a, b) -> sum of squared differences (a number). */
static int k_sq_dist(lua_State *L)
{
    tide_lua_checknargs(L, 2, "sq_dist");
    double r = 0;
    tide_lua_check(L, tide_sq_dist(&r, tide_lua_checktensor(L, 1), tide_lua_checktensor(L, 2)));
    lua_pushnumber(L, r);
    return 1;
}

/* scaled_diff(a, b, scale[, out]) -> scale * (a - b) */
static int k_scaled_diff(lua_State *L)
{
    tide_lua_checknargs(L, 4, "scaled_diff");
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *b = tide_lua_checktensor(L, 2);
    double scale = luaL_checknumber(L, 3);
    tide_tensor *out = tide_lua_optout(L, 4);
    tide_lua_check(L, tide_scaled_diff(out, a, b, scale));
    return 1;
}

static const luaL_Reg kernels[] = {
    {"cross_entropy", k_cross_entropy}, {"relu_backward", k_relu_backward},
    {"tanh_backward", k_tanh_backward}, {"sigmoid_backward", k_sigmoid_backward},
    {"log_softmax_backward", k_log_softmax_backward}, {"sgd_step", k_sgd_step},
    {"adam_step", k_adam_step}, {"rmsprop_step", k_rmsprop_step},
    {"adagrad_step", k_adagrad_step}, {"add_colsum_", k_add_colsum_},
    {"dropout_mask_", k_dropout_mask_}, {"sq_dist", k_sq_dist}, {"scaled_diff", k_scaled_diff},
    {"take_rows", k_take_rows}, {"relu", k_relu}, {"tanh", k_tanh}, {"sigmoid", k_sigmoid}, {"mul", k_mul},
    {NULL, NULL}};

static const luaL_Reg methods_list[] = {
    {"softmax", m_softmax}, {"log_softmax", m_log_softmax}, {NULL, NULL}};

void tide_open_nn(lua_State *L, int module, int methods, int meta)
{
    (void)meta;
    luaL_newlib(L, kernels);
    lua_setfield(L, module, "kernels");
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, methods_list, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, module);
    luaL_setfuncs(L, methods_list, 0);      /* tide.softmax(x) as well as x:softmax() */
    lua_pop(L, 1);
}
