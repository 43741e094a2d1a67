/* lua_secure.c — core/secure (libsodium) as tide._internal.secure_kernels, for
 * scripts/tide/federated/secure.lua. Keys, seeds, shares and tags are Lua strings of bytes.
 *
 *   keypair() -> pk, sk                  agree(sk, pk, other_pk) -> seed
 *   mask_(y, seeds, signs) -> y          y: an i32 ring of Z_2^32 values; seeds: k seeds of
 *                                        32 bytes in one string; signs: a list of k 1 or -1
 *                                        (or one number for all): y += sum of the masks
 *   add_(total, y) -> total              total += y mod 2^32
 *   encode(x, scale) -> i32 ring         decode(y, scale) -> f64 tensor
 *   split(secret, n, t) -> {share_1, ..., share_n}
 *   combine({x_1, ...}, {share_1, ...}) -> secret
 *   auth(key, msg) -> tag                verify(tag, msg, key) -> boolean
 *   random(n) -> n random bytes         digest(tensor) -> 32 bytes (BLAKE2b of its data)
 *   hex(bytes) -> hex digits             unhex(hex digits) -> bytes
 *   seal(key, nonce, msg) -> box         open(key, nonce, box) -> msg, or nil when not genuine
 *   normal_(t, key, block, std) -> t, next block   (ChaCha20 Gaussian noise, for DP-SGD) */
#include "lua_bindings.h"
#include "secure/secagg.h"
#include "tensor/lua_tensor.h"

#include <stdlib.h>
#include <string.h>

/* A string argument of exactly len bytes. */
static const uint8_t *bytes_arg(lua_State *L, int arg, size_t len, const char *what)
{
    size_t got;
    const char *s = luaL_checklstring(L, arg, &got);
    if (got != len)
        luaL_error(L, "secure_sum: %s must be %d bytes, got %d", what, (int)len, (int)got);
    return (const uint8_t *)s;
}

static int k_keypair(lua_State *L)
{
    uint8_t pk[TIDE_SECAGG_KEY], sk[TIDE_SECAGG_KEY];
    tide_lua_check(L, tide_secagg_keypair(pk, sk));
    lua_pushlstring(L, (const char *)pk, sizeof pk);
    lua_pushlstring(L, (const char *)sk, sizeof sk);
    return 2;
}

static int k_agree(lua_State *L)
{
    uint8_t seed[TIDE_SECAGG_KEY];
    tide_lua_check(L, tide_secagg_agree(seed, bytes_arg(L, 1, TIDE_SECAGG_KEY, "a secret key"),
                                        bytes_arg(L, 2, TIDE_SECAGG_KEY, "a public key"),
                                        bytes_arg(L, 3, TIDE_SECAGG_KEY, "a public key")));
    lua_pushlstring(L, (const char *)seed, sizeof seed);
    return 1;
}

static int k_mask(lua_State *L)
{
    tide_tensor *y = tide_lua_checktensor(L, 1);
    size_t len;
    const uint8_t *seeds = (const uint8_t *)luaL_checklstring(L, 2, &len);
    if (len % TIDE_SECAGG_KEY != 0)
        luaL_error(L, "secure_sum: seeds must be a multiple of %d bytes, got %d",
                   TIDE_SECAGG_KEY, (int)len);
    int count = (int)(len / TIDE_SECAGG_KEY);
    /* the signs in a Lua-owned buffer: a raised error leaks nothing */
    int *signs = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *signs, 0);
    for (int j = 0; j < count; j++) {
        lua_Integer sign;
        if (lua_istable(L, 3)) {
            lua_geti(L, 3, j + 1);
            sign = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        } else {
            sign = luaL_checkinteger(L, 3);
        }
        signs[j] = sign >= 0 ? 1 : -1;
    }
    tide_lua_check(L, tide_secagg_mask(y, seeds, signs, count));
    lua_settop(L, 1);
    return 1;
}

static int k_add(lua_State *L)
{
    tide_tensor *total = tide_lua_checktensor(L, 1);
    tide_lua_check(L, tide_secagg_ring_add(total, tide_lua_checktensor(L, 2)));
    lua_settop(L, 1);
    return 1;
}

/* encode and decode: fn(out, tensor, scale) into a new tensor */
static int scaled(lua_State *L, tide_status (*fn)(tide_tensor *, const tide_tensor *, double))
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    double scale = luaL_checknumber(L, 2);
    tide_tensor *out = tide_lua_newtensor(L);
    tide_lua_check(L, fn(out, t, scale));
    return 1;
}

static int k_encode(lua_State *L) { return scaled(L, tide_secagg_encode); }
static int k_decode(lua_State *L) { return scaled(L, tide_secagg_decode); }

static int k_split(lua_State *L)
{
    const uint8_t *secret = bytes_arg(L, 1, TIDE_SECAGG_KEY, "a secret");
    int n = (int)luaL_checkinteger(L, 2), t = (int)luaL_checkinteger(L, 3);
    if (n < 1 || n > 65535) return luaL_error(L, "secure_sum: %d shares is not 1..65535", n);
    uint8_t *shares = lua_newuserdatauv(L, (size_t)n * TIDE_SECAGG_SHARE, 0);  /* GC owns it */
    tide_lua_check(L, tide_secagg_split(shares, secret, n, t));
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushlstring(L, (const char *)shares + (size_t)i * TIDE_SECAGG_SHARE,
                        TIDE_SECAGG_SHARE);
        lua_rawseti(L, -2, i + 1);
    }
    memset(shares, 0, (size_t)n * TIDE_SECAGG_SHARE);
    return 1;
}

static int k_combine(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    int k = (int)luaL_len(L, 1);
    if (k < 1 || k != (int)luaL_len(L, 2))
        return luaL_error(L, "secure_sum: combine needs as many x's as shares, at least one");
    int *xs = lua_newuserdatauv(L, (size_t)k * sizeof *xs, 0);
    uint8_t *shares = lua_newuserdatauv(L, (size_t)k * TIDE_SECAGG_SHARE, 0);
    for (int i = 0; i < k; i++) {
        lua_geti(L, 1, i + 1);
        xs[i] = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        lua_geti(L, 2, i + 1);
        memcpy(shares + (size_t)i * TIDE_SECAGG_SHARE,
               bytes_arg(L, -1, TIDE_SECAGG_SHARE, "a share"), TIDE_SECAGG_SHARE);
        lua_pop(L, 1);
    }
    uint8_t secret[TIDE_SECAGG_KEY];
    tide_lua_check(L, tide_secagg_combine(secret, xs, shares, k));
    lua_pushlstring(L, (const char *)secret, sizeof secret);
    return 1;
}

static int k_auth(lua_State *L)
{
    size_t len;
    const uint8_t *key = bytes_arg(L, 1, TIDE_SECAGG_KEY, "a key");
    const char *msg = luaL_checklstring(L, 2, &len);
    uint8_t tag[TIDE_SECAGG_TAG];
    tide_secagg_auth(tag, (const uint8_t *)msg, len, key);
    lua_pushlstring(L, (const char *)tag, sizeof tag);
    return 1;
}

static int k_verify(lua_State *L)
{
    size_t len, tlen;
    const char *tag = luaL_checklstring(L, 1, &tlen);
    const char *msg = luaL_checklstring(L, 2, &len);
    const uint8_t *key = bytes_arg(L, 3, TIDE_SECAGG_KEY, "a key");
    lua_pushboolean(L, tlen == TIDE_SECAGG_TAG &&
                           tide_secagg_verify((const uint8_t *)tag, (const uint8_t *)msg, len, key));
    return 1;
}

static int k_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= 1 << 20, 1, "expected 0 to 2^20 bytes");
    luaL_Buffer b;
    uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)n);
    tide_secagg_random(p, (size_t)n);
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

static int k_hex(lua_State *L)
{
    size_t len;
    const uint8_t *bin = (const uint8_t *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, 2 * len + 1);
    tide_secagg_to_hex(p, bin, len);
    luaL_pushresultsize(&b, 2 * len);
    return 1;
}

static int k_unhex(lua_State *L)
{
    size_t len;
    const char *hex = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, len / 2 + 1);
    tide_lua_check(L, tide_secagg_from_hex(p, hex, len));
    luaL_pushresultsize(&b, len / 2);
    return 1;
}

static int k_digest(lua_State *L)
{
    uint8_t d[TIDE_SECAGG_KEY];
    tide_lua_check(L, tide_secagg_digest(d, tide_lua_checktensor(L, 1)));
    lua_pushlstring(L, (const char *)d, sizeof d);
    return 1;
}

static int k_seal(lua_State *L)
{
    size_t len;
    const uint8_t *key = bytes_arg(L, 1, TIDE_SECAGG_KEY, "a key");
    const uint8_t *nonce = bytes_arg(L, 2, TIDE_SECAGG_NONCE, "a nonce");
    const char *msg = luaL_checklstring(L, 3, &len);
    luaL_Buffer b;
    uint8_t *box = (uint8_t *)luaL_buffinitsize(L, &b, len + TIDE_SECAGG_BOX_EXTRA);
    tide_secagg_seal(box, (const uint8_t *)msg, len, nonce, key);
    luaL_pushresultsize(&b, len + TIDE_SECAGG_BOX_EXTRA);
    return 1;
}

static int k_open(lua_State *L)
{
    size_t len;
    const uint8_t *key = bytes_arg(L, 1, TIDE_SECAGG_KEY, "a key");
    const uint8_t *nonce = bytes_arg(L, 2, TIDE_SECAGG_NONCE, "a nonce");
    const char *box = luaL_checklstring(L, 3, &len);
    if (len < TIDE_SECAGG_BOX_EXTRA) {
        lua_pushnil(L);
        return 1;
    }
    luaL_Buffer b;
    uint8_t *msg = (uint8_t *)luaL_buffinitsize(L, &b, len - TIDE_SECAGG_BOX_EXTRA + 1);
    if (tide_secagg_open(msg, (const uint8_t *)box, len, nonce, key) != 0) {
        luaL_pushresultsize(&b, 0);
        lua_pop(L, 1);
        lua_pushnil(L);
        return 1;
    }
    luaL_pushresultsize(&b, len - TIDE_SECAGG_BOX_EXTRA);
    return 1;
}

static int k_normal(lua_State *L)
{
    tide_tensor *t = tide_lua_checktensor(L, 1);
    const uint8_t *key = bytes_arg(L, 2, TIDE_SECAGG_KEY, "a key");
    uint64_t block = (uint64_t)luaL_checkinteger(L, 3);
    tide_lua_check(L, tide_secure_normal(t, key, &block, luaL_checknumber(L, 4)));
    lua_settop(L, 1);
    lua_pushinteger(L, (lua_Integer)block);
    return 2;
}

static const luaL_Reg kernels[] = {
    {"keypair", k_keypair}, {"agree", k_agree},     {"mask_", k_mask}, {"add_", k_add},
    {"encode", k_encode},   {"decode", k_decode},   {"split", k_split},
    {"combine", k_combine}, {"auth", k_auth},       {"verify", k_verify},
    {"random", k_random},   {"digest", k_digest},   {"seal", k_seal},
    {"open", k_open},       {"normal_", k_normal},
    {"hex", k_hex},         {"unhex", k_unhex},  {NULL, NULL}};

void tide_open_secure(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    luaL_newlib(L, kernels);
    lua_setfield(L, module, "secure_kernels");
}
