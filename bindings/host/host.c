/* host.c — the tide host: a Lua state with tide loaded on an MPI communicator, and the calls
 * that run Lua code in it and read results back (the REPL is in host_repl.c; os.exit, tide.on
 * and MPI's lifetime belong to tide.core and core/comm/runtime.c).
 * The tide executable (tide_main.c) and embedding programs both build on it (tide_host.h). */
#define _GNU_SOURCE
#include "host_impl.h"

#include <cblas.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"

#ifndef TIDE_LUA_PATH
#error "TIDE_LUA_PATH must name where the tide Lua library lives (CMakeLists.txt defines it)"
#endif



/* ------------------------------------------------------------------ errors */

tide_status tide_host_fail(tide_host *h, const char *msg)
{
    free(h->error);
    h->error = strdup(msg ? msg : "(no message)");
    return tide_fail("%s", msg ? msg : "(no message)");
}

/* Takes the error at the top of the stack (and pops it). */
static tide_status host_fail_top(tide_host *h)
{
    tide_status st = tide_host_fail(h, lua_tostring(h->L, -1));
    lua_pop(h->L, 1);
    return st;
}

const char *tide_host_error(const tide_host *h)
{
    return h && h->error ? h->error : "";
}

/* lua.c's msghandler: the message (or a description of a non-string error) plus a traceback. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below nargs arguments under msghandler; leaves the error on top. */
int tide_host_docall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

/* tide.blas_threads(): how many threads OpenBLAS uses in this process. */
static int l_blas_threads(lua_State *L)
{
    lua_pushinteger(L, openblas_get_num_threads());
    return 1;
}

/* ------------------------------------------------------------------ the state */

/* the library this host was built with comes first, LUA_PATH's entries after */
void tide_host_set_path(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s;%s", TIDE_LUA_PATH, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

/* Runs in protected mode: libraries, the in-process tide.core, the search path, os.exit,
 * then `tide` (required and global) with the host's helpers. */
static int setup(lua_State *L)
{
    tide_host *h = lua_touserdata(L, 1);
    luaL_openlibs(L);

    /* tide.core makes tide.world of the communicator named here */
    lua_pushinteger(L, (lua_Integer)MPI_Comm_c2f(h->comm));
    lua_setfield(L, LUA_REGISTRYINDEX, "tide.world_comm");

    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_tide_core);
    lua_setfield(L, -2, "tide.core");
    lua_pop(L, 1);

    tide_host_set_path(L);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "tide");
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "require \"tide\" returned a %s, expected a table", luaL_typename(L, -1));
    lua_pushcfunction(L, l_blas_threads);
    lua_setfield(L, -2, "blas_threads");
    lua_setglobal(L, "tide");
    return 0;
}

tide_host *tide_host_new(MPI_Comm comm, char *err, size_t errlen)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized) {
        snprintf(err, errlen, "tide_host_new: MPI is %s (the program initialises it before "
                 "creating a host)", finalized ? "already finalised" : "not initialised");
        return NULL;
    }
    if (comm == MPI_COMM_NULL) {
        snprintf(err, errlen, "tide_host_new: expected a communicator, got MPI_COMM_NULL");
        return NULL;
    }
    tide_host *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "tide_host_new: out of memory");
        return NULL;
    }
    h->comm = comm;
    h->ctl = MPI_COMM_NULL;
    if (MPI_Comm_dup(comm, &h->ctl) != MPI_SUCCESS) {
        snprintf(err, errlen, "tide_host_new: MPI_Comm_dup failed");
        free(h);
        return NULL;
    }
    MPI_Comm_set_errhandler(h->ctl, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm, &h->rank);
    MPI_Comm_size(comm, &h->size);
    h->L = luaL_newstate();
    if (!h->L) {
        snprintf(err, errlen, "tide_host_new: cannot create a Lua state (out of memory)");
        tide_host_free(h);
        return NULL;
    }
    /* Generational collection: a loop of short-lived objects with finalisers (a request per
     * iallreduce(t):wait()) keeps the heap flat, where the incremental collector let it grow
     * by hundreds of MB. */
    lua_gc(h->L, LUA_GCGEN, 0, 0);
    lua_pushcfunction(h->L, setup);
    lua_pushlightuserdata(h->L, h);
    if (tide_host_docall(h->L, 1, 0) != LUA_OK) {
        snprintf(err, errlen, "tide_host_new: %s", lua_tostring(h->L, -1));
        tide_host_free(h);
        return NULL;
    }
    return h;
}

void tide_host_free(tide_host *h)
{
    if (!h)
        return;
    if (h->L)
        lua_close(h->L);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && h->ctl != MPI_COMM_NULL)
        MPI_Comm_free(&h->ctl);
    free(h->error);
    free(h);
}

struct lua_State *tide_host_lua(tide_host *h) { return h->L; }
MPI_Comm tide_host_comm(const tide_host *h) { return h->comm; }
int tide_host_rank(const tide_host *h) { return h->rank; }
int tide_host_size(const tide_host *h) { return h->size; }

/* ------------------------------------------------------------------ running code */

tide_status tide_host_pcall(tide_host *h, int nargs, int nresults)
{
    if (tide_host_docall(h->L, nargs, nresults) != LUA_OK)
        return host_fail_top(h);
    return TIDE_OK;
}

/* The chunk on top of the stack (or the load error), run with argv as `...`. */
static tide_status run_loaded(tide_host *h, int status, int argc, const char *const *argv)
{
    lua_State *L = h->L;
    if (status != LUA_OK)
        return host_fail_top(h);
    if (!lua_checkstack(L, argc + 2)) {
        lua_pop(L, 1);
        return tide_host_fail(h, "too many arguments for a chunk");
    }
    for (int i = 0; i < argc; i++)
        lua_pushstring(L, argv[i]);
    return tide_host_pcall(h, argc, 0);
}

tide_status tide_host_run_file_args(tide_host *h, const char *path, int argc,
                                    const char *const *argv)
{
    return run_loaded(h, luaL_loadfile(h->L, path), argc, argv);
}

tide_status tide_host_run_buffer(tide_host *h, const char *code, size_t len, const char *chunkname,
                                 int argc, const char *const *argv)
{
    return run_loaded(h, luaL_loadbuffer(h->L, code, len, chunkname), argc, argv);
}

tide_status tide_host_run_file(tide_host *h, const char *path)
{
    return tide_host_run_file_args(h, path, 0, NULL);
}

tide_status tide_host_run_string(tide_host *h, const char *code)
{
    return tide_host_run_buffer(h, code, strlen(code), code, 0, NULL);
}

/* ------------------------------------------------------------------ calling a function */

tide_value tide_value_nil(void)
{
    tide_value v;
    memset(&v, 0, sizeof v);
    return v;
}

tide_value tide_value_boolean(int b)
{
    tide_value v = tide_value_nil();
    v.type = TIDE_VALUE_BOOLEAN;
    v.boolean = b != 0;
    return v;
}

tide_value tide_value_integer(int64_t i)
{
    tide_value v = tide_value_nil();
    v.type = TIDE_VALUE_INTEGER;
    v.integer = i;
    v.number = (double)i;
    return v;
}

tide_value tide_value_number(double x)
{
    tide_value v = tide_value_nil();
    v.type = TIDE_VALUE_NUMBER;
    v.number = x;
    return v;
}

tide_value tide_value_string(const char *s)
{
    tide_value v = tide_value_nil();
    v.type = TIDE_VALUE_STRING;
    v.string = s;
    v.length = s ? strlen(s) : 0;
    return v;
}

tide_value tide_value_tensor(const tide_tensor *t)
{
    tide_value v = tide_value_nil();
    v.type = TIDE_VALUE_TENSOR;
    v.tensor = *t;
    return v;
}

void tide_value_clear(tide_value *v)
{
    if (v->owned) {
        if (v->type == TIDE_VALUE_STRING)
            free((char *)v->string);
        if (v->type == TIDE_VALUE_TENSOR)
            tide_tensor_release(&v->tensor);
    }
    *v = tide_value_nil();
}

struct call {
    const char *fn;
    const tide_value *args;
    int nargs;
};

/* Protected: pushes the function the dotted name names, then the arguments. */
static int push_call(lua_State *L)
{
    const struct call *c = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_pushglobaltable(L);
    const char *name = c->fn, *dot;
    while ((dot = strchr(name, '.')) != NULL) {
        if (!lua_istable(L, -1))
            return luaL_error(L, "call: '%s' is not a function (its part before '%s' is not a table)",
                              c->fn, name);
        lua_pushlstring(L, name, (size_t)(dot - name));
        lua_gettable(L, -2);
        lua_remove(L, -2);
        name = dot + 1;
    }
    if (!lua_istable(L, -1))
        return luaL_error(L, "call: '%s' is not a function (its part before '%s' is not a table)",
                          c->fn, name);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1))
        return luaL_error(L, "call: '%s' is not a function (got %s)", c->fn, luaL_typename(L, -1));
    luaL_checkstack(L, c->nargs, "call: too many arguments");
    for (int i = 0; i < c->nargs; i++) {
        const tide_value *a = &c->args[i];
        switch (a->type) {
        case TIDE_VALUE_NIL: lua_pushnil(L); break;
        case TIDE_VALUE_BOOLEAN: lua_pushboolean(L, a->boolean); break;
        case TIDE_VALUE_INTEGER: lua_pushinteger(L, (lua_Integer)a->integer); break;
        case TIDE_VALUE_NUMBER: lua_pushnumber(L, a->number); break;
        case TIDE_VALUE_STRING:
            if (!a->string)
                return luaL_error(L, "call: argument %d of '%s' is a NULL string", i + 1, c->fn);
            lua_pushlstring(L, a->string, a->length);
            break;
        case TIDE_VALUE_TENSOR: {
            if (!a->tensor.storage)
                return luaL_error(L, "call: argument %d of '%s' is an empty tensor", i + 1, c->fn);
            tide_tensor *box = tide_lua_newtensor(L);
            tide_tensor_share(box, &a->tensor);
            break;
        }
        default:
            return luaL_error(L, "call: argument %d of '%s' has an unknown type %d", i + 1, c->fn,
                              (int)a->type);
        }
    }
    return c->nargs + 1;
}

/* Stores the Lua value at idx into v; on a value C cannot hold, returns its type name. */
static const char *to_value(lua_State *L, int idx, tide_value *v)
{
    *v = tide_value_nil();
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return NULL;
    case LUA_TBOOLEAN:
        *v = tide_value_boolean(lua_toboolean(L, idx));
        return NULL;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            *v = tide_value_integer(lua_tointeger(L, idx));
        else
            *v = tide_value_number(lua_tonumber(L, idx));
        return NULL;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        char *copy = malloc(len + 1);
        if (!copy)
            return "string too large to copy";
        memcpy(copy, s, len + 1);
        v->type = TIDE_VALUE_STRING;
        v->string = copy;
        v->length = len;
        v->owned = 1;
        return NULL;
    }
    default: {
        tide_tensor *t = tide_lua_totensor(L, idx);
        if (!t)
            return luaL_testudata(L, idx, TIDE_TENSOR_MT) ? "closed tensor" : luaL_typename(L, idx);
        v->type = TIDE_VALUE_TENSOR;
        tide_tensor_share(&v->tensor, t);
        v->owned = 1;
        return NULL;
    }
    }
}

tide_status tide_host_call(tide_host *h, const char *fn, const tide_value *args, int nargs,
                           tide_value *results, int nresults)
{
    lua_State *L = h->L;
    for (int i = 0; i < nresults; i++)
        results[i] = tide_value_nil();
    if (!fn || nargs < 0 || nresults < 0 || (nargs > 0 && !args) || (nresults > 0 && !results))
        return tide_host_fail(h, "call: expected a function name, nargs >= 0 arguments and room for "
                            "nresults >= 0 results");
    int base = lua_gettop(L);
    struct call c = {fn, args, nargs};
    lua_pushcfunction(L, push_call);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK)
        return host_fail_top(h);
    if (tide_host_pcall(h, nargs, nresults) != TIDE_OK)
        return TIDE_FAIL;
    for (int i = 0; i < nresults; i++) {
        const char *bad = to_value(L, base + 1 + i, &results[i]);
        if (bad) {
            char msg[256];
            snprintf(msg, sizeof msg, "call: result %d of '%s' is a %s (expected nil, boolean, "
                     "number, string or tensor)", i + 1, fn, bad);
            lua_settop(L, base);
            for (int j = 0; j < i; j++)
                tide_value_clear(&results[j]);
            return tide_host_fail(h, msg);
        }
    }
    lua_settop(L, base);
    return TIDE_OK;
}
