/* lua_args.h — reading Lua arguments into what the core takes, shared by every bindings file.
 *
 * Indices, dims, shapes, dtype names, option tables and scalars: each conversion is done here
 * once, range-checked, and raises a Lua error naming the operation and what came. */
#ifndef TIDE_LUA_ARGS_H
#define TIDE_LUA_ARGS_H

#include <lauxlib.h>
#include <lua.h>

#include "tensor/tensor.h"

/* Lua's 1-based (negative: from the end) index or dim -> C's 0-based, range-checked. The one
 * place this conversion happens. what is "index" or "dim", op names the operation. */
int64_t tide_lua_index(lua_State *L, lua_Integer i, int64_t size, const char *op, const char *what);
int64_t tide_lua_checkindex(lua_State *L, int arg, int64_t size, const char *op);
int tide_lua_checkdim(lua_State *L, int arg, int ndim, const char *op);
/* One index per dim of t: numbers at arg..last, or one table at arg, into idx (0-based). */
void tide_lua_checkindices(lua_State *L, const tide_tensor *t, int arg, int last, int64_t *idx,
                           const char *op);

/* A shape given as a table {3, 4} at arg, or as numbers from arg on (stops at the first
 * non-number). Returns the dim count. */
int tide_lua_checkshape(lua_State *L, int arg, int64_t *shape, const char *op);
/* A kernel's optional out: the tensor at arg when one is given (it is pushed again, as the
 * result), else a new box pushed for the kernel to fill. */
tide_tensor *tide_lua_optout(lua_State *L, int arg);
/* A dtype name at arg, or def when absent/nil. */
tide_dtype tide_lua_optdtype(lua_State *L, int arg, tide_dtype def);
/* Raises "op: too many arguments (expected at most max, got n)" when more than max values were
 * passed (a method's receiver counts): an argument a function does not take is an error, not
 * silently ignored. A trailing nil counts too (f(x, nil) passes two). */
void tide_lua_checknargs(lua_State *L, int max, const char *op);
/* Raises when the options table at arg (if any) has a key not in known (NULL-terminated). */
void tide_lua_checkopts(lua_State *L, int arg, const char *const *known, const char *op);

/* Scalars going into a tensor of dtype dt (full, fill_, set_, t[i] = x, tensor{...}). A number
 * with no value in dt is an error, never a silent wrap: NaN and infinities for an integer
 * dtype, an integer or a truncated float outside its range, a finite number beyond f32's
 * largest. A float stored in an integer dtype is truncated toward zero (as C and NumPy cast);
 * an integer stays exact. (Casting a whole tensor, t:to(dtype), keeps NumPy's wrap-around.) */
void tide_lua_checkscalar(lua_State *L, int arg, tide_dtype dt, const char *op);
/* Element idx of t = the number at arg, checked as above. */
void tide_lua_storeelem(lua_State *L, tide_tensor *t, const int64_t *idx, int arg, const char *op);
/* Every element of t = the number at arg, checked as above (integers stay exact). Returns
 * the core's status: the caller frees what it holds before raising. */
tide_status tide_lua_fill(lua_State *L, tide_tensor *t, int arg, const char *op);

/* Pushes element idx of t as a Lua integer (integer dtypes) or number. */
void tide_lua_pushelem(lua_State *L, const tide_tensor *t, const int64_t *idx);

/* Writes "tide: OLD is deprecated, use NEW (...)" to stderr the first time OLD is used in this
 * Lua state; later uses are silent. tide.args.deprecated calls it for the Lua library. */
void tide_lua_deprecated(lua_State *L, const char *old, const char *use);

/* Adds funcs to the table at stack index table (an opener's module or methods table). */
void tide_lua_addfuncs(lua_State *L, int table, const luaL_Reg *funcs);

#endif
