/* host_impl.h — the tide host's state and the helpers host.c and host_repl.c share. */
#ifndef TIDE_HOST_IMPL_H
#define TIDE_HOST_IMPL_H

#include <lua.h>

#include "tide_host.h"

struct tide_host {
    lua_State *L;
    MPI_Comm comm;   /* the caller's, seen by Lua as tide.world; not ours to free */
    MPI_Comm ctl;    /* our duplicate, for the REPL's own messages */
    int rank, size;
    char *error;     /* the last failure's message, or NULL */
};

/* Puts the library this host was built with (TIDE_LUA_PATH) first on package.path, before
 * LUA_PATH's entries; the state's standard libraries must be open. */
void tide_host_set_path(lua_State *L);

/* Records msg as the host's last error and returns TIDE_FAIL. */
tide_status tide_host_fail(tide_host *h, const char *msg);

/* Calls the function below nargs arguments under lua.c's message handler (the message plus a
 * traceback); leaves the error on top on failure. */
int tide_host_docall(lua_State *L, int nargs, int nresults);

#endif
