/* lua_ops.c — elementwise arithmetic, unary math, comparisons and reductions as tensor methods,
 * the + - * / ^ and unary - metamethods, and tide.where.
 *
 * Mutation rule: a method ending in `_` writes into its receiver and returns it; the others
 * return a new tensor. A number operand is a scalar (Lua integers stay exact; a Lua float with
 * an integer tensor gives f32, see ops_elementwise.h). Dims are 1-based, negative from the end;
 * indices returned by max/min/argmax/argmin are 1-based. There is no __eq/__lt/__le: Lua would
 * turn their result into a boolean, so `a == b` stays identity and masks come from a:eq(b).
 *
 * Every function here carries the tensor metatable as upvalue 1, so that telling a tensor from
 * another value is one pointer comparison: `a + b` on small tensors is dominated by the cost of
 * the Lua call and one allocation, not by the checks. */
#include <string.h>

#include "lua_bindings.h"
#include "tensor/lua_tensor.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

#define META lua_upvalueindex(1)

/* ---------------------------------------------------------------- operands */

/* The tensor at idx, or NULL for any other value; a closed tensor raises. */
static tide_tensor *opt_tensor(lua_State *L, int idx)
{
    tide_tensor *t = lua_touserdata(L, idx);
    if (!t || !lua_getmetatable(L, idx))
        return NULL;
    int ours = lua_rawequal(L, -1, META);
    lua_pop(L, 1);
    if (!ours)
        return NULL;
    if (!t->storage)
        luaL_error(L, "attempt to use a closed tensor");
    return t;
}

/* A new empty box for a result. tide_lua_newtensor's twin, with the metatable taken from the
 * upvalue rather than looked up by name in the registry (this is on every operator's path). */
static tide_tensor *new_box(lua_State *L)
{
    tide_lua_gc_pressure(L);
    tide_tensor *t = lua_newuserdatauv(L, sizeof *t, 0);
    memset(t, 0, sizeof *t);
    lua_pushvalue(L, META);
    lua_setmetatable(L, -2);
    return t;
}

static int get_scalar(lua_State *L, int idx, tide_number *s)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    if (lua_isinteger(L, idx))
        *s = tide_number_int(lua_tointeger(L, idx));
    else
        *s = tide_number_float(lua_tonumber(L, idx));
    return 1;
}

/* An integer scalar next to an integer tensor is taken in the tensor's dtype: one outside its
 * range is an error, as in NumPy 2 and as for a scalar stored into a tensor (lua_args.h),
 * not a value that silently wraps (u8 + 300 once gave 44). */
static void check_int_scalar(lua_State *L, int idx, const tide_tensor *t, const char *op)
{
    if (lua_isinteger(L, idx) && !tide_dtype_is_float(t->dtype))
        tide_lua_checkscalar(L, idx, t->dtype, op);
}

static void push_scalar(lua_State *L, tide_number s)
{
    if (s.is_float)
        lua_pushnumber(L, s.f);
    else
        lua_pushinteger(L, s.i);
}

static int bad_operand(lua_State *L, const char *op, int idx)
{
    return luaL_error(L, "%s: expected a tensor or a number, got %s", op, luaL_typename(L, idx));
}

/* s * alpha, exact (wrapping) for two integers. */
static tide_number scalar_mul(tide_number s, tide_number alpha)
{
    if (!s.is_float && !alpha.is_float)
        return tide_number_int((int64_t)((uint64_t)s.i * (uint64_t)alpha.i));
    return tide_number_float(s.f * alpha.f);
}

/* ---------------------------------------------------------------- binary arithmetic */

static const char *const inplace_names[] = {"add_", "sub_", "mul_", "div_", "pow_",
                                            "maximum_", "minimum_", "remainder_",
                                            "floor_divide_", "fmod_"};

/* a op b with a or b a number (metamethods), into a new box. */
static int arith_meta(lua_State *L, tide_binop op)
{
    tide_tensor *a = opt_tensor(L, 1), *b = opt_tensor(L, 2);
    tide_number s;
    if (a && b) {
        tide_tensor *out = new_box(L);
        tide_lua_check(L, tide_binary(out, op, a, b));
    } else if (a) {
        if (!get_scalar(L, 2, &s))
            return bad_operand(L, tide_binop_name(op), 2);
        check_int_scalar(L, 2, a, tide_binop_name(op));
        tide_lua_check(L, tide_binary_scalar(new_box(L), op, a, s));
    } else if (b) {
        if (!get_scalar(L, 1, &s))
            return bad_operand(L, tide_binop_name(op), 1);
        check_int_scalar(L, 1, b, tide_binop_name(op));
        tide_lua_check(L, tide_scalar_binary(new_box(L), op, s, b));
    } else {
        return bad_operand(L, tide_binop_name(op), 1);
    }
    return 1;
}

/* t:op(u [, alpha]) and t:op_(u [, alpha]); alpha (add and sub only) scales u. */
static int arith_method(lua_State *L, tide_binop op, int inplace)
{
    const char *name = inplace ? inplace_names[op] : tide_binop_name(op);
    tide_lua_checknargs(L, 3, name);
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *b = opt_tensor(L, 2);
    tide_number s, alpha = tide_number_int(1);
    int has_alpha = !lua_isnoneornil(L, 3);
    if (has_alpha) {
        if (op != TIDE_OP_ADD && op != TIDE_OP_SUB)
            return luaL_error(L, "%s: too many arguments (alpha is for add and sub only)", name);
        if (!get_scalar(L, 3, &alpha))
            return luaL_error(L, "%s: alpha must be a number, got %s", name, luaL_typename(L, 3));
    }
    if (!b && !get_scalar(L, 2, &s))
        return bad_operand(L, name, 2);
    if (!b)
        check_int_scalar(L, 2, a, name);
    tide_tensor *out = inplace ? a : new_box(L);
    tide_status st;
    if (b && has_alpha)
        st = op == TIDE_OP_ADD ? tide_add_scaled(out, a, b, alpha)
                               : tide_sub_scaled(out, a, b, alpha);
    else if (b)
        st = tide_binary(out, op, a, b);
    else
        st = tide_binary_scalar(out, op, a, has_alpha ? scalar_mul(s, alpha) : s);
    tide_lua_check(L, st);
    if (inplace)
        lua_settop(L, 1);
    return 1;
}

#define ARITH(NAME, OP)                                                                   \
    static int m_##NAME(lua_State *L) { return arith_method(L, OP, 0); }                 \
    static int m_##NAME##_(lua_State *L) { return arith_method(L, OP, 1); }
ARITH(add, TIDE_OP_ADD)
ARITH(sub, TIDE_OP_SUB)
ARITH(mul, TIDE_OP_MUL)
ARITH(div, TIDE_OP_DIV)
ARITH(pow, TIDE_OP_POW)
ARITH(maximum, TIDE_OP_MAXIMUM)
ARITH(minimum, TIDE_OP_MINIMUM)
ARITH(remainder, TIDE_OP_REMAINDER)
ARITH(floor_divide, TIDE_OP_FLOOR_DIVIDE)
ARITH(fmod, TIDE_OP_FMOD)
#undef ARITH

static int meta_add(lua_State *L) { return arith_meta(L, TIDE_OP_ADD); }
static int meta_sub(lua_State *L) { return arith_meta(L, TIDE_OP_SUB); }
static int meta_mul(lua_State *L) { return arith_meta(L, TIDE_OP_MUL); }
static int meta_div(lua_State *L) { return arith_meta(L, TIDE_OP_DIV); }
static int meta_pow(lua_State *L) { return arith_meta(L, TIDE_OP_POW); }
/* a % b and a // b are Lua's (floored) operators: remainder and floor_divide, not fmod */
static int meta_mod(lua_State *L) { return arith_meta(L, TIDE_OP_REMAINDER); }
static int meta_idiv(lua_State *L) { return arith_meta(L, TIDE_OP_FLOOR_DIVIDE); }

/* ---------------------------------------------------------------- unary math */

static int unary(lua_State *L, tide_unop op, int inplace)
{
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *out = inplace ? a : new_box(L);
    tide_lua_check(L, tide_unary(out, op, a));
    if (inplace)
        lua_settop(L, 1);
    return 1;
}

/* (__unm receives its operand twice, so the argument count is checked here, not in unary) */
#define UNARY(NAME, OP)                                                                   \
    static int m_##NAME(lua_State *L)                                                    \
    {                                                                                     \
        tide_lua_checknargs(L, 1, #NAME);                                                 \
        return unary(L, OP, 0);                                                           \
    }                                                                                     \
    static int m_##NAME##_(lua_State *L)                                                 \
    {                                                                                     \
        tide_lua_checknargs(L, 1, #NAME "_");                                             \
        return unary(L, OP, 1);                                                           \
    }
UNARY(neg, TIDE_UN_NEG)
UNARY(abs, TIDE_UN_ABS)
UNARY(relu, TIDE_UN_RELU)
UNARY(floor, TIDE_UN_FLOOR)
UNARY(ceil, TIDE_UN_CEIL)
UNARY(round, TIDE_UN_ROUND)
UNARY(sqrt, TIDE_UN_SQRT)
UNARY(exp, TIDE_UN_EXP)
UNARY(log, TIDE_UN_LOG)
UNARY(tanh, TIDE_UN_TANH)
UNARY(sigmoid, TIDE_UN_SIGMOID)
UNARY(sin, TIDE_UN_SIN)
UNARY(cos, TIDE_UN_COS)
#undef UNARY

/* __unm receives the operand twice */
static int meta_unm(lua_State *L) { return unary(L, TIDE_UN_NEG, 0); }

/* t:clamp(min, max), either bound nil for none */
static int clamp(lua_State *L, int inplace)
{
    const char *name = inplace ? "clamp_" : "clamp";
    tide_lua_checknargs(L, 3, name);
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_number lo = tide_number_int(0), hi = tide_number_int(0);
    int has_lo = !lua_isnoneornil(L, 2), has_hi = !lua_isnoneornil(L, 3);
    if (has_lo && !get_scalar(L, 2, &lo))
        return luaL_error(L, "%s: min must be a number or nil, got %s", name, luaL_typename(L, 2));
    if (has_hi && !get_scalar(L, 3, &hi))
        return luaL_error(L, "%s: max must be a number or nil, got %s", name, luaL_typename(L, 3));
    if (!has_lo && !has_hi)
        return luaL_error(L, "%s: expected a min, a max or both, got neither", name);
    tide_tensor *out = inplace ? a : new_box(L);
    tide_lua_check(L, tide_clamp(out, a, has_lo, lo, has_hi, hi));
    if (inplace)
        lua_settop(L, 1);
    return 1;
}

static int m_clamp(lua_State *L) { return clamp(L, 0); }
static int m_clamp_(lua_State *L) { return clamp(L, 1); }

/* ---------------------------------------------------------------- comparisons */

static int compare(lua_State *L, tide_cmpop op)
{
    tide_lua_checknargs(L, 2, tide_cmpop_name(op));
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_tensor *b = opt_tensor(L, 2);
    tide_number s;
    if (!b && !get_scalar(L, 2, &s))
        return bad_operand(L, tide_cmpop_name(op), 2);
    tide_tensor *out = new_box(L);
    tide_lua_check(L, b ? tide_compare(out, op, a, b) : tide_compare_scalar(out, op, a, s));
    return 1;
}

static int m_eq(lua_State *L) { return compare(L, TIDE_CMP_EQ); }
static int m_ne(lua_State *L) { return compare(L, TIDE_CMP_NE); }
static int m_lt(lua_State *L) { return compare(L, TIDE_CMP_LT); }
static int m_le(lua_State *L) { return compare(L, TIDE_CMP_LE); }
static int m_gt(lua_State *L) { return compare(L, TIDE_CMP_GT); }
static int m_ge(lua_State *L) { return compare(L, TIDE_CMP_GE); }

/* A 0-dim tensor holding s in dtype dt, pushed as a box (so the GC owns it). */
static tide_tensor *scalar_tensor(lua_State *L, tide_number s, tide_dtype dt)
{
    tide_tensor *t = new_box(L);
    tide_lua_check(L, tide_tensor_alloc(t, dt, 0, NULL));
    if (tide_dtype_is_float(dt) || s.is_float)
        tide_set_f64(t, NULL, s.f);
    else
        tide_set_i64(t, NULL, s.i);
    return t;
}

/* tide.where(mask, a, b): a and b tensors or numbers; a number takes the other side's dtype
 * (f32 when it is a float and that side is an integer tensor; two numbers give i64 or f32). */
static int l_where(lua_State *L)
{
    tide_lua_checknargs(L, 3, "where");
    tide_tensor *mask = opt_tensor(L, 1);
    if (!mask)
        return luaL_error(L, "where: expected a u8 mask tensor, got %s", luaL_typename(L, 1));
    tide_tensor *a = opt_tensor(L, 2), *b = opt_tensor(L, 3);
    tide_number sa = tide_number_int(0), sb = tide_number_int(0);
    if (!a && !get_scalar(L, 2, &sa))
        return bad_operand(L, "where", 2);
    if (!b && !get_scalar(L, 3, &sb))
        return bad_operand(L, "where", 3);
    if (!a && !b) {
        tide_dtype dt = sa.is_float || sb.is_float ? TIDE_F32 : TIDE_I64;
        a = scalar_tensor(L, sa, dt);
        b = scalar_tensor(L, sb, dt);
    } else if (!a) {
        check_int_scalar(L, 2, b, "where");
        a = scalar_tensor(L, sa, sa.is_float && !tide_dtype_is_float(b->dtype) ? TIDE_F32
                                                                                : b->dtype);
    } else if (!b) {
        check_int_scalar(L, 3, a, "where");
        b = scalar_tensor(L, sb, sb.is_float && !tide_dtype_is_float(a->dtype) ? TIDE_F32
                                                                                : a->dtype);
    }
    tide_lua_check(L, tide_where(new_box(L), mask, a, b));
    return 1;
}

/* t:masked_fill_(mask, v) in place; t:masked_fill(mask, v) on a copy */
static int masked_fill(lua_State *L, int inplace)
{
    const char *name = inplace ? "masked_fill_" : "masked_fill";
    tide_lua_checknargs(L, 3, name);
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_tensor *mask = opt_tensor(L, 2);
    tide_number v;
    if (!mask)
        return luaL_error(L, "%s: expected a u8 mask tensor, got %s", name, luaL_typename(L, 2));
    if (!get_scalar(L, 3, &v))
        return luaL_error(L, "%s: expected a number to fill with, got %s", name,
                          luaL_typename(L, 3));
    tide_tensor *out = t;
    if (!inplace) {
        out = new_box(L);
        tide_lua_check(L, tide_clone(out, t));
    }
    tide_lua_check(L, tide_masked_fill(out, mask, v));
    if (inplace)
        lua_settop(L, 1);
    return 1;
}

static int m_masked_fill_(lua_State *L) { return masked_fill(L, 1); }
static int m_masked_fill(lua_State *L) { return masked_fill(L, 0); }

/* ---------------------------------------------------------------- reductions */

typedef struct reduce_args {
    int has_dim;
    int dim;          /* 0-based */
    int keepdim;
    int unbiased;
} reduce_args;

static int opt_bool(lua_State *L, int tbl, const char *key, int def, const char *op)
{
    lua_getfield(L, tbl, key);
    int v = def;
    if (lua_isboolean(L, -1))
        v = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1))
        luaL_error(L, "%s: option %s must be a boolean, got %s", op, key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

/* ([dim], [options]) from arg on: t:sum(), t:sum(2), t:sum(2, {keepdim = true}),
 * t:var({unbiased = false}). */
static void reduce_parse(lua_State *L, int arg, const tide_tensor *t, const char *op,
                         int with_unbiased, reduce_args *r)
{
    static const char *const keys[] = {"keepdim", NULL};
    static const char *const var_keys[] = {"keepdim", "unbiased", NULL};
    tide_lua_checknargs(L, arg + 1, op);
    r->has_dim = 0;
    r->dim = 0;
    int opts = arg;
    if (!lua_istable(L, arg)) {
        if (!lua_isnoneornil(L, arg)) {
            r->has_dim = 1;
            r->dim = tide_lua_checkdim(L, arg, t->ndim, op);
        }
        opts = arg + 1;
    }
    tide_lua_checkopts(L, opts, with_unbiased ? var_keys : keys, op);
    int has_opts = lua_istable(L, opts);
    r->keepdim = has_opts ? opt_bool(L, opts, "keepdim", 0, op) : 0;
    r->unbiased = has_opts ? opt_bool(L, opts, "unbiased", 1, op) : 1;
    if (r->keepdim && !r->has_dim)
        luaL_error(L, "%s: keepdim needs a dim", op);
}

/* t:sum() / t:prod() -> a number (exact for integer dtypes); with a dim, a tensor. */
static int sum_prod(lua_State *L, int prod)
{
    const char *op = prod ? "prod" : "sum";
    tide_tensor *t = tide_lua_checktensor(L, 1);
    reduce_args r;
    reduce_parse(L, 2, t, op, 0, &r);
    if (!r.has_dim) {
        tide_number s;
        tide_lua_check(L, (prod ? tide_prod_all : tide_sum_all)(t, &s));
        push_scalar(L, s);
        return 1;
    }
    tide_lua_check(L, (prod ? tide_prod_dim : tide_sum_dim)(new_box(L), t, r.dim, r.keepdim));
    return 1;
}

static int m_sum(lua_State *L) { return sum_prod(L, 0); }
static int m_prod(lua_State *L) { return sum_prod(L, 1); }

static int m_mean(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    reduce_args r;
    reduce_parse(L, 2, t, "mean", 0, &r);
    if (!r.has_dim) {
        double v;
        tide_lua_check(L, tide_mean_all(t, &v));
        lua_pushnumber(L, v);
        return 1;
    }
    tide_lua_check(L, tide_mean_dim(new_box(L), t, r.dim, r.keepdim));
    return 1;
}

/* t:norm([p = 2], [dim], [options]); p may be math.huge */
static int m_norm(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    double p = lua_isnoneornil(L, 2) ? 2.0 : luaL_checknumber(L, 2);
    reduce_args r;
    reduce_parse(L, 3, t, "norm", 0, &r);
    if (!r.has_dim) {
        double v;
        tide_lua_check(L, tide_norm_all(t, p, &v));
        lua_pushnumber(L, v);
        return 1;
    }
    tide_lua_check(L, tide_norm_dim(new_box(L), t, p, r.dim, r.keepdim));
    return 1;
}

static int var_std(lua_State *L, int std)
{
    const char *op = std ? "std" : "var";
    tide_tensor *t = tide_lua_checktensor(L, 1);
    reduce_args r;
    reduce_parse(L, 2, t, op, 1, &r);
    if (!r.has_dim) {
        double v;
        tide_lua_check(L, (std ? tide_std_all : tide_var_all)(t, r.unbiased, &v));
        lua_pushnumber(L, v);
        return 1;
    }
    tide_lua_check(L, (std ? tide_std_dim : tide_var_dim)(new_box(L), t, r.dim, r.unbiased,
                                                          r.keepdim));
    return 1;
}

static int m_var(lua_State *L) { return var_std(L, 0); }
static int m_std(lua_State *L) { return var_std(L, 1); }

/* The core's 0-based indices, in a tensor the core just allocated (contiguous), made 1-based. */
static void one_based(tide_tensor *idx)
{
    int64_t *d = tide_data(idx);
    for (int64_t i = 0, n = tide_numel(idx); i < n; i++)
        d[i]++;
}

/* t:max() -> number; t:max(dim [, options]) -> values, indices; t:max(u) -> maximum(t, u) */
static int minmax(lua_State *L, int want_max)
{
    const char *op = want_max ? "max" : "min";
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_tensor *u = opt_tensor(L, 2);
    if (u) {
        tide_lua_check(L, tide_binary(new_box(L), want_max ? TIDE_OP_MAXIMUM : TIDE_OP_MINIMUM,
                                      t, u));
        return 1;
    }
    reduce_args r;
    reduce_parse(L, 2, t, op, 0, &r);
    if (!r.has_dim) {
        tide_number v;
        tide_lua_check(L, (want_max ? tide_max_all : tide_min_all)(t, &v, NULL));
        push_scalar(L, v);
        return 1;
    }
    tide_tensor *values = new_box(L), *indices = new_box(L);
    tide_lua_check(L, (want_max ? tide_max_dim : tide_min_dim)(values, indices, t, r.dim,
                                                               r.keepdim));
    one_based(indices);
    return 2;
}

static int m_max(lua_State *L) { return minmax(L, 1); }
static int m_min(lua_State *L) { return minmax(L, 0); }

/* t:argmax() -> 1-based flat index; t:argmax(dim [, options]) -> i64 tensor of indices */
static int argminmax(lua_State *L, int want_max)
{
    const char *op = want_max ? "argmax" : "argmin";
    tide_tensor *t = tide_lua_checktensor(L, 1);
    reduce_args r;
    reduce_parse(L, 2, t, op, 0, &r);
    if (!r.has_dim) {
        int64_t i;
        tide_status st = (want_max ? tide_max_all : tide_min_all)(t, NULL, &i);
        if (st != TIDE_OK) {
            char sh[TIDE_SHAPE_BUF];
            return luaL_error(L, "%s: cannot reduce an empty tensor (shape %s)", op,
                              tide_shape_str(t, sh, sizeof sh));
        }
        lua_pushinteger(L, i + 1);
        return 1;
    }
    tide_tensor *indices = new_box(L);
    tide_lua_check(L, (want_max ? tide_argmax_dim : tide_argmin_dim)(indices, t, r.dim,
                                                                     r.keepdim));
    one_based(indices);
    return 1;
}

static int m_argmax(lua_State *L) { return argminmax(L, 1); }
static int m_argmin(lua_State *L) { return argminmax(L, 0); }

/* ---------------------------------------------------------------- NaN, infinities, any/all */

static int classify(lua_State *L, tide_classop op, const char *name)
{
    tide_lua_checknargs(L, 1, name);
    tide_tensor *a = tide_lua_checktensor(L, 1);
    tide_lua_check(L, tide_classify(new_box(L), op, a));
    return 1;
}

/* t:isnan(), t:isinf(), t:isfinite(): u8 masks of t's shape */
static int m_isnan(lua_State *L) { return classify(L, TIDE_IS_NAN, "isnan"); }
static int m_isinf(lua_State *L) { return classify(L, TIDE_IS_INF, "isinf"); }
static int m_isfinite(lua_State *L) { return classify(L, TIDE_IS_FINITE, "isfinite"); }

/* An optional number at arg (nil: absent). */
static const double *opt_double(lua_State *L, int arg, double *v, const char *op,
                                const char *what)
{
    if (lua_isnoneornil(L, arg))
        return NULL;
    if (lua_type(L, arg) != LUA_TNUMBER)
        luaL_error(L, "%s: %s must be a number or nil, got %s", op, what, luaL_typename(L, arg));
    *v = lua_tonumber(L, arg);
    return v;
}

/* t:nan_to_num([nan = 0], [posinf], [neginf]): a copy with NaN and infinities replaced; the
 * infinities default to the dtype's largest and lowest finite values (as torch). */
static int m_nan_to_num(lua_State *L)
{
    tide_lua_checknargs(L, 4, "nan_to_num");
    tide_tensor *a = tide_lua_checktensor(L, 1);
    double nan = 0, pos, neg;
    opt_double(L, 2, &nan, "nan_to_num", "nan");
    const double *pp = opt_double(L, 3, &pos, "nan_to_num", "posinf");
    const double *pn = opt_double(L, 4, &neg, "nan_to_num", "neginf");
    tide_lua_check(L, tide_nan_to_num(new_box(L), a, nan, pp, pn));
    return 1;
}

/* t:any() / t:all() -> boolean; t:any(dim [, {keepdim}]) -> u8 tensor */
static int any_all(lua_State *L, int all)
{
    const char *op = all ? "all" : "any";
    tide_lua_checknargs(L, 3, op);
    tide_tensor *t = tide_lua_checktensor(L, 1);
    reduce_args r;
    reduce_parse(L, 2, t, op, 0, &r);
    if (!r.has_dim) {
        int v;
        tide_lua_check(L, tide_any_all(t, all, &v));
        lua_pushboolean(L, v);
        return 1;
    }
    tide_lua_check(L, tide_any_all_dim(new_box(L), t, all, r.dim, r.keepdim));
    return 1;
}

static int m_any(lua_State *L) { return any_all(L, 0); }
static int m_all(lua_State *L) { return any_all(L, 1); }

/* ---------------------------------------------------------------- registration */

static const luaL_Reg module_funcs[] = {
    {"where", l_where},
    {NULL, NULL}};

static const luaL_Reg methods[] = {
    {"add", m_add}, {"add_", m_add_}, {"sub", m_sub}, {"sub_", m_sub_},
    {"mul", m_mul}, {"mul_", m_mul_}, {"div", m_div}, {"div_", m_div_},
    {"pow", m_pow}, {"pow_", m_pow_}, {"maximum", m_maximum}, {"maximum_", m_maximum_},
    {"minimum", m_minimum}, {"minimum_", m_minimum_},
    {"neg", m_neg}, {"neg_", m_neg_}, {"abs", m_abs}, {"abs_", m_abs_},
    {"relu", m_relu}, {"relu_", m_relu_}, {"floor", m_floor}, {"floor_", m_floor_},
    {"ceil", m_ceil}, {"ceil_", m_ceil_}, {"round", m_round}, {"round_", m_round_},
    {"sqrt", m_sqrt}, {"sqrt_", m_sqrt_}, {"exp", m_exp}, {"exp_", m_exp_},
    {"log", m_log}, {"log_", m_log_}, {"tanh", m_tanh}, {"tanh_", m_tanh_},
    {"sigmoid", m_sigmoid}, {"sigmoid_", m_sigmoid_}, {"clamp", m_clamp}, {"clamp_", m_clamp_},
    {"eq", m_eq}, {"ne", m_ne}, {"lt", m_lt}, {"le", m_le}, {"gt", m_gt}, {"ge", m_ge},
    {"masked_fill", m_masked_fill}, {"masked_fill_", m_masked_fill_},
    {"sum", m_sum}, {"prod", m_prod}, {"mean", m_mean}, {"norm", m_norm},
    {"var", m_var}, {"std", m_std}, {"max", m_max}, {"min", m_min},
    {"argmax", m_argmax}, {"argmin", m_argmin},
    {"remainder", m_remainder}, {"remainder_", m_remainder_},
    {"floor_divide", m_floor_divide}, {"floor_divide_", m_floor_divide_},
    {"fmod", m_fmod}, {"fmod_", m_fmod_}, {"sin", m_sin}, {"sin_", m_sin_},
    {"cos", m_cos}, {"cos_", m_cos_}, {"isnan", m_isnan}, {"isinf", m_isinf},
    {"isfinite", m_isfinite}, {"nan_to_num", m_nan_to_num}, {"any", m_any}, {"all", m_all},
    {NULL, NULL}};

static const luaL_Reg metamethods[] = {
    {"__add", meta_add}, {"__sub", meta_sub}, {"__mul", meta_mul}, {"__div", meta_div},
    {"__pow", meta_pow}, {"__unm", meta_unm}, {"__mod", meta_mod}, {"__idiv", meta_idiv},
    {NULL, NULL}};

static void set_with_meta(lua_State *L, int table, const luaL_Reg *funcs, int meta)
{
    lua_pushvalue(L, table);
    lua_pushvalue(L, meta);
    luaL_setfuncs(L, funcs, 1);
    lua_pop(L, 1);
}

void tide_open_ops(lua_State *L, int module, int methods_idx, int meta)
{
    set_with_meta(L, module, module_funcs, meta);
    set_with_meta(L, methods_idx, methods, meta);
    set_with_meta(L, meta, metamethods, meta);
}
