/* lua_tensor.h — the tensor as a Lua value, shared by every bindings file.
 *
 * A tensor is a full userdata holding a tide_tensor, with the one metatable "tide.tensor".
 * A box is allocated before the storage it will own (as liolib.c does with files), so Lua's
 * GC owns the storage from the first moment; a box whose storage is NULL is closed.
 *
 * Each bindings file exports `void tide_open_X(lua_State *L, int module, int methods, int meta)`
 * which adds its functions to the module table, its methods to the tensor methods table and
 * its metamethods to the metatable (absolute stack indices); tide_core.c calls them all. */
#ifndef TIDE_LUA_TENSOR_H
#define TIDE_LUA_TENSOR_H

#include <lauxlib.h>
#include <lua.h>

#include "tensor/lua_args.h"
#include "tensor/tensor.h"

#define TIDE_TENSOR_MT "tide.tensor"

/* Pushes a new box holding an empty tensor and returns it: pass it as a core op's out. */
tide_tensor *tide_lua_newtensor(lua_State *L);
/* Pushes a new box that takes over t (t is left empty). */
tide_tensor *tide_lua_pushtensor(lua_State *L, tide_tensor *t);
/* The tensor at arg; raises "bad argument" for a non-tensor and "attempt to use a closed
 * tensor" for a closed one. */
tide_tensor *tide_lua_checktensor(lua_State *L, int arg);
/* The tensor at idx, or NULL when the value is not an open tensor. */
tide_tensor *tide_lua_totensor(lua_State *L, int idx);

/* The shape most bindings have: the tensors at 1 (and 2) in, one new tensor out, made by a
 * core op following the out convention. Returns 1 (the result is on the stack). */
typedef tide_status (*tide_lua_op1)(tide_tensor *out, const tide_tensor *a);
typedef tide_status (*tide_lua_op2)(tide_tensor *out, const tide_tensor *a, const tide_tensor *b);
int tide_lua_apply1(lua_State *L, tide_lua_op1 op);
int tide_lua_apply2(lua_State *L, tide_lua_op2 op);

/* Raises the core's message when st is a failure. Free what you hold before calling. */
void tide_lua_check(lua_State *L, tide_status st);

/* After large allocations the core's byte count may far exceed what Lua's GC sees; this asks
 * Lua for a collection when the count has doubled since the last one. */
void tide_lua_gc_pressure(lua_State *L);

#endif
