/* lua_bindings.h — the list of bindings files that make up tide.core.
 *
 * Each adds its functions, methods and metamethods in a tide_open_X (see lua_tensor.h). To add
 * a bindings file: declare its opener here and list it in tide_openers (lua_openers.c). */
#ifndef TIDE_LUA_BINDINGS_H
#define TIDE_LUA_BINDINGS_H

#include <lua.h>

typedef void (*tide_opener)(lua_State *L, int module, int methods, int meta);

extern const tide_opener tide_openers[];   /* NULL-terminated */

int luaopen_tide_core(lua_State *L);

/* Run after every opener: keeps storage dtypes (f16, bf16) out of the kernels (lua_storage.c). */
void tide_guard_storage(lua_State *L, int module, int methods, int meta);

void tide_open_tensor(lua_State *L, int module, int methods, int meta);
void tide_open_ops(lua_State *L, int module, int methods, int meta);
void tide_open_linalg(lua_State *L, int module, int methods, int meta);
void tide_open_shape(lua_State *L, int module, int methods, int meta);
void tide_open_index(lua_State *L, int module, int methods, int meta);
void tide_open_random(lua_State *L, int module, int methods, int meta);
void tide_open_io(lua_State *L, int module, int methods, int meta);
void tide_open_format(lua_State *L, int module, int methods, int meta);
void tide_open_comm(lua_State *L, int module, int methods, int meta);
void tide_open_trace(lua_State *L, int module, int methods, int meta);
void tide_open_diag(lua_State *L, int module, int methods, int meta);
void tide_open_nn(lua_State *L, int module, int methods, int meta);
void tide_open_layers(lua_State *L, int module, int methods, int meta);
void tide_open_dtensor(lua_State *L, int module, int methods, int meta);
void tide_open_dmatrix(lua_State *L, int module, int methods, int meta);
void tide_open_cluster(lua_State *L, int module, int methods, int meta);
void tide_open_bayes(lua_State *L, int module, int methods, int meta);
void tide_open_als(lua_State *L, int module, int methods, int meta);
void tide_open_linear(lua_State *L, int module, int methods, int meta);
void tide_open_sparse(lua_State *L, int module, int methods, int meta);
void tide_open_secure(lua_State *L, int module, int methods, int meta);

#endif
