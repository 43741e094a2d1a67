/* lua_random.c — seeded random tensors, generators, and ranges (arange, linspace, eye).
 *
 * Generators are userdata of metatable "tide.rng" holding a tide_rng (random.h). The default
 * generator is an upvalue of every function here (module state, not a global). Unseeded, it
 * behaves as after tide.manual_seed(0): key from (0, rank), taken at its first use.
 *
 * Streams: manual_seed(s) and {seed = s} derive the key from (s, rank), rank being this
 * process's rank in the host's communicator (tide.world: MPI_COMM_WORLD, or the communicator a
 * program embeds tide on; runtime.h), so ranks draw different numbers and an embedded host on a
 * sub-communicator draws what a job of that size would;
 * {same_on_all_ranks = true} uses stream 0 on every rank, which is what one process would
 * draw (so a distributed fill can reproduce a single-process run); {stream = k} names the
 * stream directly. Each element drawn advances a generator by one counter (randperm(n): n).
 *
 * State: g:state() / g:load_state(s) (also torch's g:get_state() / g:set_state(s)) and, for
 * the default generator, tide.get_rng_state() / tide.set_rng_state(s), as torch's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_bindings.h"
#include "tensor/half.h"
#include "tensor/lua_tensor.h"
#include "ops/random.h"
#include "comm/runtime.h"

#define RNG_MT "tide.rng"

static tide_rng *check_rng(lua_State *L, int arg)
{
    return luaL_checkudata(L, arg, RNG_MT);
}

static uint64_t world_rank(void)
{
    return (uint64_t)tide_runtime_rank();
}

/* A new generator box (user value 1 set: it is seeded). */
static tide_rng *new_rng(lua_State *L)
{
    tide_rng *g = lua_newuserdatauv(L, sizeof *g, 1);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, RNG_MT);
    lua_pushboolean(L, 1);
    lua_setiuservalue(L, -2, 1);
    return g;
}

/* The default generator, seeded on first use (its user value stays nil until then). */
static tide_rng *default_rng(lua_State *L)
{
    int up = lua_upvalueindex(1);
    tide_rng *g = lua_touserdata(L, up);
    if (lua_getiuservalue(L, up, 1) == LUA_TNIL) {
        tide_rng_seed(g, TIDE_DEFAULT_SEED, world_rank());
        lua_pushboolean(L, 1);
        lua_setiuservalue(L, up, 1);
    }
    lua_pop(L, 1);
    return g;
}

/* ------------------------------------------------------------------ options */

/* Pushes opts[key], or nil when opts is not a table. */
static int get_opt(lua_State *L, int opts, const char *key)
{
    if (!lua_istable(L, opts)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, opts, key);
}

/* The stream {same_on_all_ranks=, stream=} at opts ask for: this rank's by default. Returns
 * 1 when either was given. */
static int opt_stream(lua_State *L, int opts, uint64_t *stream, const char *op)
{
    int given = 0, same = 0;
    if (get_opt(L, opts, "same_on_all_ranks") != LUA_TNIL) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "%s: same_on_all_ranks must be a boolean, got %s", op,
                       luaL_typename(L, -1));
        same = lua_toboolean(L, -1);
        given = 1;
    }
    lua_pop(L, 1);
    *stream = same ? 0 : world_rank();
    if (get_opt(L, opts, "stream") != LUA_TNIL) {
        int ok;
        lua_Integer s = lua_tointegerx(L, -1, &ok);
        if (!ok || s < 0)
            luaL_error(L, "%s: stream must be an integer >= 0, got %s", op,
                       luaL_tolstring(L, -1, NULL));
        if (given)
            luaL_error(L, "%s: give stream or same_on_all_ranks, not both", op);
        *stream = (uint64_t)s;
        given = 1;
    }
    lua_pop(L, 1);
    return given;
}

/* The generator a draw uses, from the options at opts: {generator = g}, a generator of its
 * own from {seed = s} (held in *own, the default untouched), or the default generator. */
static tide_rng *pick_rng(lua_State *L, int opts, tide_rng *own, const char *op)
{
    uint64_t stream;
    int streamed = opt_stream(L, opts, &stream, op);
    int has_seed = get_opt(L, opts, "seed") != LUA_TNIL;
    lua_Integer seed = 0;
    if (has_seed) {
        int ok;
        seed = lua_tointegerx(L, -1, &ok);
        if (!ok)
            luaL_error(L, "%s: seed must be an integer, got %s", op, luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
    tide_rng *g = NULL;
    if (get_opt(L, opts, "generator") != LUA_TNIL) {
        g = luaL_testudata(L, -1, RNG_MT);
        if (!g)
            luaL_error(L, "%s: generator must be a tide.rng, got %s", op, luaL_typename(L, -1));
        if (has_seed)
            luaL_error(L, "%s: give seed or generator, not both", op);
    }
    lua_pop(L, 1);   /* the options table keeps the generator alive */
    if (streamed && !has_seed)
        luaL_error(L, "%s: same_on_all_ranks and stream apply only with seed", op);
    if (g)
        return g;
    if (has_seed) {
        tide_rng_seed(own, (uint64_t)seed, stream);
        return own;
    }
    return default_rng(L);
}

/* A dtype given at arg as a name, or as {dtype = name} among the options known. */
static tide_dtype opt_dtype(lua_State *L, int arg, tide_dtype def, const char *const *known,
                            const char *op)
{
    tide_dtype dt;
    if (lua_type(L, arg) == LUA_TSTRING) {
        dt = tide_lua_optdtype(L, arg, def);
    } else {
        tide_lua_checkopts(L, arg, known, op);
        get_opt(L, arg, "dtype");
        dt = tide_lua_optdtype(L, lua_gettop(L), def);
        lua_pop(L, 1);
    }
    tide_lua_check(L, tide_dtype_computes(dt, op));    /* draw in f32, then :to('f16') */
    return dt;
}

static const char *const draw_opts[] = {"dtype", "seed", "generator", "same_on_all_ranks",
                                        "stream", NULL};
static const char *const fill_opts[] = {"seed", "generator", "same_on_all_ranks", "stream",
                                        NULL};

static void need_float_dtype(lua_State *L, tide_dtype dt, const char *op)
{
    if (!tide_dtype_is_float(dt))
        luaL_error(L, "%s: expected a float dtype (f32 or f64), got %s", op, tide_dtype_name(dt));
}

/* A shape at arg (table, or sizes as arguments); *opts gets the index just after it. */
static int check_shape_at(lua_State *L, int arg, int64_t *shape, int *opts, const char *op)
{
    int n = tide_lua_checkshape(L, arg, shape, op);
    *opts = lua_istable(L, arg) ? arg + 1 : arg + n;
    return n;
}

/* ------------------------------------------------------------------ seeding and generators */

/* tide.manual_seed(s [, {same_on_all_ranks=, stream=}]): reseeds the default generator. */
static int l_manual_seed(lua_State *L)
{
    static const char *const known[] = {"same_on_all_ranks", "stream", NULL};
    lua_Integer seed = luaL_checkinteger(L, 1);
    tide_lua_checkopts(L, 2, known, "manual_seed");
    uint64_t stream;
    opt_stream(L, 2, &stream, "manual_seed");
    tide_rng *g = default_rng(L);
    tide_rng_seed(g, (uint64_t)seed, stream);
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

/* tide.rng(s [, opts]): a generator of its own, seeded as manual_seed would. */
static int l_rng(lua_State *L)
{
    static const char *const known[] = {"same_on_all_ranks", "stream", NULL};
    lua_Integer seed = luaL_checkinteger(L, 1);
    tide_lua_checkopts(L, 2, known, "rng");
    uint64_t stream;
    opt_stream(L, 2, &stream, "rng");
    tide_rng *g = new_rng(L);
    tide_rng_seed(g, (uint64_t)seed, stream);
    return 1;
}

static int l_default_generator(lua_State *L)
{
    default_rng(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

static int rng_seed(lua_State *L)
{
    static const char *const known[] = {"same_on_all_ranks", "stream", NULL};
    tide_rng *g = check_rng(L, 1);
    lua_Integer seed = luaL_checkinteger(L, 2);
    tide_lua_checkopts(L, 3, known, "seed");
    uint64_t stream;
    opt_stream(L, 3, &stream, "seed");
    tide_rng_seed(g, (uint64_t)seed, stream);
    lua_pushboolean(L, 1);
    lua_setiuservalue(L, 1, 1);   /* the default generator, reseeded, is seeded too */
    lua_settop(L, 1);
    return 1;
}

static int rng_key(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_rng(L, 1)->key);
    return 1;
}

static int rng_counter(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_rng(L, 1)->counter);
    return 1;
}

static int rng_set_counter(lua_State *L)
{
    tide_rng *g = check_rng(L, 1);
    lua_Integer c = luaL_checkinteger(L, 2);
    if (c < 0)
        luaL_error(L, "set_counter: expected a counter >= 0, got %I", c);
    g->counter = (uint64_t)c;
    lua_settop(L, 1);
    return 1;
}

static int rng_advance(lua_State *L)
{
    tide_rng *g = check_rng(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    if (n < 0)
        luaL_error(L, "advance: expected a count >= 0, got %I", n);
    tide_rng_advance(g, (uint64_t)n);
    lua_settop(L, 1);
    return 1;
}

static int rng_clone(lua_State *L)
{
    tide_rng *g = check_rng(L, 1);
    tide_rng *c = new_rng(L);
    *c = *g;
    return 1;
}

static int rng_tostring(lua_State *L)
{
    tide_rng *g = check_rng(L, 1);
    lua_pushfstring(L, "tide.rng (key %I, counter %I)", (lua_Integer)g->key,
                    (lua_Integer)g->counter);
    return 1;
}

/* ------------------------------------------------------------------ state
 *
 * A generator's state is {kind = "tide.rng", key = "<16 hex digits>", counter = n}: Philox is
 * counter-based, so the key and the next counter are the whole stream position, and a restored
 * generator draws bit-identically what the saved one would have drawn next. The key is a hex
 * string rather than an integer because it uses all 64 bits: a JSON round trip would round it
 * to a double without a word, while a damaged string is refused. */

static void push_state(lua_State *L, const tide_rng *g)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)g->key);
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "tide.rng");
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, hex);
    lua_setfield(L, -2, "key");
    lua_pushinteger(L, (lua_Integer)g->counter);
    lua_setfield(L, -2, "counter");
}

/* Reads the state table at arg into *out, naming op and the field in every error. */
static void read_state(lua_State *L, int arg, tide_rng *out, const char *op)
{
    if (!lua_istable(L, arg))
        luaL_error(L, "%s: expected a generator state (a table from g:state()), got %s", op,
                   luaL_typename(L, arg));
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (!k || (strcmp(k, "kind") && strcmp(k, "key") && strcmp(k, "counter")))
            luaL_error(L, "%s: unexpected field '%s' (expected kind, key, counter)", op,
                       luaL_tolstring(L, -1, NULL));
    }
    if (lua_getfield(L, arg, "kind") != LUA_TSTRING || strcmp(lua_tostring(L, -1), "tide.rng"))
        luaL_error(L, "%s: kind expected \"tide.rng\", got %s", op, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    const char *hex = lua_getfield(L, arg, "key") == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    size_t n = hex ? strspn(hex, "0123456789abcdefABCDEF") : 0;
    if (!hex || n != 16 || hex[16] != '\0')
        luaL_error(L, "%s: key expected 16 hex digits, got %s", op, luaL_tolstring(L, -1, NULL));
    out->key = (uint64_t)strtoull(hex, NULL, 16);
    lua_pop(L, 1);
    lua_getfield(L, arg, "counter");
    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1))
        luaL_error(L, "%s: counter expected an integer, got the float %s (a JSON round trip "
                   "turns integers into floats: keep states with tide.save/tide.load, or "
                   "convert with math.tointeger)", op, luaL_tolstring(L, -1, NULL));
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        luaL_error(L, "%s: counter expected an integer >= 0, got %s", op,
                   luaL_tolstring(L, -1, NULL));
    out->counter = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
}

/* g:state() -> a fresh table; g:load_state(s) -> g, continuing exactly where s was taken. */
static int rng_state(lua_State *L)
{
    push_state(L, check_rng(L, 1));
    return 1;
}

static int rng_load_state(lua_State *L)
{
    tide_rng *g = check_rng(L, 1);
    tide_rng s;
    read_state(L, 2, &s, "tide.rng.load_state");
    *g = s;
    lua_pushboolean(L, 1);
    lua_setiuservalue(L, 1, 1);   /* a default generator given a state counts as seeded */
    lua_settop(L, 1);
    return 1;
}

/* tide.get_rng_state() / tide.set_rng_state(s): the default generator's, as torch's. */
static int l_get_rng_state(lua_State *L)
{
    push_state(L, default_rng(L));
    return 1;
}

static int l_set_rng_state(lua_State *L)
{
    tide_rng s;
    read_state(L, 1, &s, "set_rng_state");
    tide_rng *g = default_rng(L);
    *g = s;
    lua_pushvalue(L, lua_upvalueindex(1));
    return 1;
}

/* ------------------------------------------------------------------ random tensors */

/* tide.rand(shape [, opts]) / tide.randn: uniform [0, 1) / standard normal; f32 default. */
static int draw_float(lua_State *L, int normal, const char *op)
{
    int64_t shape[TIDE_MAX_DIMS];
    int opts;
    int n = check_shape_at(L, 1, shape, &opts, op);
    tide_dtype dt = opt_dtype(L, opts, TIDE_F32, draw_opts, op);
    need_float_dtype(L, dt, op);
    tide_rng own;
    tide_rng *g = pick_rng(L, opts, &own, op);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_tensor_alloc(t, dt, n, shape));
    tide_lua_check(L, normal ? tide_rng_normal(g, t, 0, 1) : tide_rng_uniform(g, t, 0, 1));
    return 1;
}

static int l_rand(lua_State *L) { return draw_float(L, 0, "rand"); }
static int l_randn(lua_State *L) { return draw_float(L, 1, "randn"); }

/* tide.randint(low, high, shape [, opts]): integers in [low, high) (high exclusive, as in
 * torch); i64 by default. */
static int l_randint(lua_State *L)
{
    lua_Integer low = luaL_checkinteger(L, 1);
    lua_Integer high = luaL_checkinteger(L, 2);
    int64_t shape[TIDE_MAX_DIMS];
    int opts;
    int n = check_shape_at(L, 3, shape, &opts, "randint");
    tide_dtype dt = opt_dtype(L, opts, TIDE_I64, draw_opts, "randint");
    if (low >= high)
        luaL_error(L, "randint: expected low < high (high is exclusive), got low %I, high %I",
                   low, high);
    tide_rng own;
    tide_rng *g = pick_rng(L, opts, &own, "randint");
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_tensor_alloc(t, dt, n, shape));
    tide_lua_check(L, tide_rng_int(g, t, low, high));
    return 1;
}

/* tide.randperm(n [, opts]): a random permutation of 1..n, i64 by default. */
static int l_randperm(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    tide_dtype dt = opt_dtype(L, 2, TIDE_I64, draw_opts, "randperm");
    if (n < 0)
        luaL_error(L, "randperm: expected n >= 0, got %I", n);
    tide_rng own;
    tide_rng *g = pick_rng(L, 2, &own, "randperm");
    tide_tensor *t = tide_lua_newtensor(L);
    int64_t len = n;
    tide_lua_check(L, tide_tensor_alloc(t, dt, 1, &len));
    tide_lua_check(L, tide_rng_perm(g, t, 1));
    return 1;
}

static tide_tensor *check_float_tensor(lua_State *L, const char *op)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    if (!tide_dtype_is_float(t->dtype))
        luaL_error(L, "%s: expected a float tensor (f32 or f64), got %s", op,
                   tide_dtype_name(t->dtype));
    return t;
}

/* t:uniform_([a [, b [, opts]]]): fills t in place, uniform in [a, b) (default [0, 1)). */
static int m_uniform_(lua_State *L)
{
    tide_tensor *t = check_float_tensor(L, "uniform_");
    double a = luaL_optnumber(L, 2, 0), b = luaL_optnumber(L, 3, 1);
    tide_lua_checkopts(L, 4, fill_opts, "uniform_");
    if (!(a <= b) || !isfinite(a) || !isfinite(b))
        luaL_error(L, "uniform_: expected finite a <= b, got a = %f, b = %f", a, b);
    tide_rng own;
    tide_rng *g = pick_rng(L, 4, &own, "uniform_");
    tide_lua_check(L, tide_rng_uniform(g, t, a, b));
    lua_settop(L, 1);
    return 1;
}

/* t:normal_([mean [, std [, opts]]]): fills t in place from N(mean, std^2) (default N(0, 1)). */
static int m_normal_(lua_State *L)
{
    tide_tensor *t = check_float_tensor(L, "normal_");
    double mean = luaL_optnumber(L, 2, 0), std = luaL_optnumber(L, 3, 1);
    tide_lua_checkopts(L, 4, fill_opts, "normal_");
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        luaL_error(L, "normal_: expected a finite mean and std >= 0, got mean = %f, std = %f",
                   mean, std);
    tide_rng own;
    tide_rng *g = pick_rng(L, 4, &own, "normal_");
    tide_lua_check(L, tide_rng_normal(g, t, mean, std));
    lua_settop(L, 1);
    return 1;
}

/* ------------------------------------------------------------------ ranges */

static const char *const dtype_only[] = {"dtype", NULL};

/* tide.arange(stop) / arange(start, stop [, step]) [, dtype or {dtype=}]: start, start+step,
 * ... up to stop exclusive (start 0, step 1 by default, as torch.arange). All-integer
 * arguments give i64, any float one gives f32. */
static int l_arange(lua_State *L)
{
    int nnum = 0;
    while (nnum < 3 && lua_type(L, nnum + 1) == LUA_TNUMBER)
        nnum++;
    if (nnum == 0)
        luaL_error(L, "arange: expected numbers (stop, or start, stop [, step]), got %s",
                   luaL_typename(L, 1));
    int integral = 1;
    for (int i = 1; i <= nnum; i++)
        integral = integral && lua_isinteger(L, i);
    tide_dtype dt = opt_dtype(L, nnum + 1, integral ? TIDE_I64 : TIDE_F32, dtype_only, "arange");
    tide_tensor *t = tide_lua_newtensor(L);
    if (integral) {
        lua_Integer start = nnum == 1 ? 0 : lua_tointeger(L, 1);
        lua_Integer stop = nnum == 1 ? lua_tointeger(L, 1) : lua_tointeger(L, 2);
        lua_Integer step = nnum == 3 ? lua_tointeger(L, 3) : 1;
        tide_lua_check(L, tide_arange_int(t, dt, start, stop, step));
    } else {
        double start = nnum == 1 ? 0 : lua_tonumber(L, 1);
        double stop = nnum == 1 ? lua_tonumber(L, 1) : lua_tonumber(L, 2);
        double step = nnum == 3 ? lua_tonumber(L, 3) : 1;
        tide_lua_check(L, tide_arange(t, dt, start, stop, step));
    }
    return 1;
}

/* tide.linspace(a, b, n [, dtype]): n evenly spaced points from a to b inclusive; f32. */
static int l_linspace(lua_State *L)
{
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    tide_dtype dt = opt_dtype(L, 4, TIDE_F32, dtype_only, "linspace");
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_linspace(t, dt, a, b, n));
    return 1;
}

/* tide.eye(n [, m] [, dtype]): the n x m (default n x n) identity; f32. */
static int l_eye(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    int darg = 2;
    lua_Integer m = n;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        m = luaL_checkinteger(L, 2);
        darg = 3;
    }
    tide_dtype dt = opt_dtype(L, darg, TIDE_F32, dtype_only, "eye");
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_eye(t, dt, n, m));
    return 1;
}

static void open_sampling(lua_State *L, int methods, int def);

/* ------------------------------------------------------------------ registration */

static const luaL_Reg module_funcs[] = {
    {"manual_seed", l_manual_seed}, {"default_generator", l_default_generator},
    {"get_rng_state", l_get_rng_state}, {"set_rng_state", l_set_rng_state},
    {"rand", l_rand}, {"randn", l_randn}, {"randint", l_randint}, {"randperm", l_randperm},
    {NULL, NULL}};

static const luaL_Reg plain_funcs[] = {
    {"rng", l_rng}, {"arange", l_arange}, {"linspace", l_linspace}, {"eye", l_eye},
    {NULL, NULL}};

static const luaL_Reg tensor_methods[] = {
    {"uniform_", m_uniform_}, {"normal_", m_normal_},
    {NULL, NULL}};

static const luaL_Reg rng_methods[] = {
    {"seed", rng_seed}, {"key", rng_key}, {"counter", rng_counter},
    {"set_counter", rng_set_counter}, {"advance", rng_advance}, {"clone", rng_clone},
    {"state", rng_state}, {"load_state", rng_load_state},
    {"get_state", rng_state}, {"set_state", rng_load_state},   /* torch.Generator's names */
    {NULL, NULL}};

void tide_open_random(lua_State *L, int module, int methods, int meta)
{
    (void)meta;
    luaL_newmetatable(L, RNG_MT);
    lua_newtable(L);
    luaL_setfuncs(L, rng_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, rng_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    /* the default generator: unseeded (user value nil) until first used */
    tide_rng *g = lua_newuserdatauv(L, sizeof *g, 1);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, RNG_MT);
    int def = lua_gettop(L);

    lua_pushvalue(L, module);
    lua_pushvalue(L, def);
    luaL_setfuncs(L, module_funcs, 1);
    luaL_setfuncs(L, plain_funcs, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, methods);
    lua_pushvalue(L, def);
    luaL_setfuncs(L, tensor_methods, 1);
    lua_pop(L, 1);
    open_sampling(L, methods, def);
    lua_pop(L, 1);
}

/* ------------------------------------------------------------------ sampling */

static const char *const sample_opts[] = {"seed", "generator", "same_on_all_ranks", "stream",
                                          NULL};

/* p:bernoulli([opts]): 1 with probability p[i], else 0, in p's dtype (p float in [0, 1]). */
static int m_bernoulli(lua_State *L)
{
    tide_lua_checknargs(L, 2, "bernoulli");
    tide_tensor *p = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 2, sample_opts, "bernoulli");
    tide_rng own;
    tide_rng *g = pick_rng(L, 2, &own, "bernoulli");
    tide_lua_check(L, tide_rng_bernoulli(g, tide_lua_newtensor(L), p));
    return 1;
}

/* w:multinomial(n, [{replacement = false, seed =, generator = ...}]): n 1-based category
 * indices per row of the weights w (1-D: n; 2-D: rows x n), i64. */
static int m_multinomial(lua_State *L)
{
    static const char *const known[] = {"replacement", "seed", "generator",
                                        "same_on_all_ranks", "stream", NULL};
    tide_lua_checknargs(L, 3, "multinomial");
    tide_tensor *w = tide_lua_checktensor(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    tide_lua_checkopts(L, 3, known, "multinomial");
    int replacement = 0;
    if (get_opt(L, 3, "replacement") != LUA_TNIL) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "multinomial: replacement must be a boolean, got %s",
                       luaL_typename(L, -1));
        replacement = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    tide_rng own;
    tide_rng *g = pick_rng(L, 3, &own, "multinomial");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_rng_multinomial(g, out, w, n, replacement));
    int64_t *d = tide_data(out);
    for (int64_t i = 0, m = tide_numel(out); i < m; i++)
        d[i]++;
    return 1;
}

/* w:categorical([opts]): one 1-based category per row of the weights w, an i64 tensor of w's
 * leading shape (a 0-dim tensor for 1-D w); multinomial(1) without its last dim. */
static int m_categorical(lua_State *L)
{
    tide_lua_checknargs(L, 2, "categorical");
    tide_tensor *w = tide_lua_checktensor(L, 1);
    tide_lua_checkopts(L, 2, sample_opts, "categorical");
    tide_rng own;
    tide_rng *g = pick_rng(L, 2, &own, "categorical");
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, tide_rng_multinomial(g, out, w, 1, 1));
    int64_t *d = tide_data(out);
    for (int64_t i = 0, m = tide_numel(out); i < m; i++)
        d[i]++;
    /* drop the sample dim: rows x 1 -> rows, 1 -> 0-dim */
    out->ndim--;
    return 1;
}

static const luaL_Reg sampling_methods[] = {
    {"bernoulli", m_bernoulli}, {"multinomial", m_multinomial}, {"categorical", m_categorical},
    {NULL, NULL}};

/* Called at the end of tide_open_random with the default generator at def. */
static void open_sampling(lua_State *L, int methods, int def)
{
    lua_pushvalue(L, methods);
    lua_pushvalue(L, def);
    luaL_setfuncs(L, sampling_methods, 1);
    lua_pop(L, 1);
}
