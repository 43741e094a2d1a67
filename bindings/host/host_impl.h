/* host_impl.h — the tide host's state and the helpers host.c and host_repl.c share. */
#ifndef TIDE_HOST_IMPL_H
#define TIDE_HOST_IMPL_H

#include <lua.h>
#include <signal.h>

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

/* sigaction(sig) with handler, SA_RESTART and an empty mask; the old action into old (may be
 * NULL). */
void tide_host_catch(int sig, void (*handler)(int), struct sigaction *old);

/* lua.c's reading of a chunk: `return text;` when that compiles, else text as statements
 * ("=expr" is "return expr"). Returns the chunk to run (malloc'd), or NULL with the message on
 * L's stack and *more set when the text only lacks its end (the error is at <eof>). */
char *tide_repl_compile(lua_State *L, const char *text, int *more);

/* A REPL session (tide_host_repl is one with lua.c's defaults). ready, when given, is called
 * on every rank before each chunk is read: the previous chunk's output and errors are all
 * written (the launcher of `tide run` shows them then). stop_signal interrupts a running chunk
 * on this rank: SIGINT as lua.c, or the signal the launcher sends every rank (caught for the
 * whole session). */
typedef struct tide_repl_session {
    tide_host_reader read;
    tide_host_saver save;
    void (*ready)(void *ctx);
    void *ctx;
    int stop_signal;
} tide_repl_session;
tide_status tide_host_repl_session(tide_host *h, const tide_repl_session *s);

#endif
