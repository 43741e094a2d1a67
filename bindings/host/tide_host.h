/* tide_host.h — embed the tide host (a Lua 5.4 state with tide loaded) in a C program.
 *
 * A host lives on an MPI communicator the program already has: inside it `tide.world` is that
 * communicator and `tide.on(r, fn)` runs fn on rank r of it. The program runs Lua files and
 * strings, calls Lua functions with numbers, strings and tensors (shared, never copied) and
 * reads their results. Every call returns a tide_status; on failure the message (with a Lua
 * traceback when Lua raised it) is in tide_host_error() and tide_error(). Nothing here prints,
 * aborts or exits, except what Lua code does itself (os.exit finalises MPI, then exits).
 *
 * MPI must be initialised before tide_host_new. tide_host_new and tide_host_free are collective
 * over the communicator (they duplicate and free a private communicator for the host's own
 * messages), and so is anything the Lua code does collectively. One thread per host. */
#ifndef TIDE_HOST_H
#define TIDE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "tensor/tensor.h"

typedef struct tide_host tide_host;
struct lua_State;

/* A value passed to or returned by a Lua function. */
typedef enum {
    TIDE_VALUE_NIL,
    TIDE_VALUE_BOOLEAN,
    TIDE_VALUE_INTEGER,
    TIDE_VALUE_NUMBER,
    TIDE_VALUE_STRING,
    TIDE_VALUE_TENSOR,
} tide_value_type;

typedef struct tide_value {
    tide_value_type type;
    int boolean;
    int64_t integer;
    double number;
    /* Arguments: borrowed from the caller for the duration of the call. Results: owned by the
     * value (tide_value_clear frees it); NUL-terminated, length excludes the NUL. */
    const char *string;
    size_t length;
    /* Arguments: the caller's tensor; Lua receives a view of the same storage (no copy), so
     * writes from Lua are seen by the caller, and the storage stays alive while Lua holds the
     * view. Results: a view holding its own reference to the storage Lua returned. */
    tide_tensor tensor;
    int owned;   /* set on results: tide_value_clear frees the string / drops the reference */
} tide_value;

/* Argument constructors. tide_value_tensor copies the descriptor only (no data, no reference):
 * the caller keeps t alive for the duration of the call. */
tide_value tide_value_nil(void);
tide_value tide_value_boolean(int b);
tide_value tide_value_integer(int64_t i);
tide_value tide_value_number(double x);
tide_value tide_value_string(const char *s);
tide_value tide_value_tensor(const tide_tensor *t);
/* Releases what a result holds (its string, its tensor reference) and makes it nil; on an
 * argument (owned == 0) it only makes it nil. */
void tide_value_clear(tide_value *v);

/* A new host on comm (collective). On failure returns NULL and writes the reason into err. */
tide_host *tide_host_new(MPI_Comm comm, char *err, size_t errlen);
/* Closes the Lua state and frees the host (collective). NULL is ignored. The last host of the
 * process also waits (under the watchdog) until every rank of its communicator got here, writes
 * a TIDE_TRACE timeline and frees tide's MPI resources: call it before MPI_Finalize. */
void tide_host_free(tide_host *h);

/* Runs a Lua file / a string of Lua code on this rank. */
tide_status tide_host_run_file(tide_host *h, const char *path);
tide_status tide_host_run_string(tide_host *h, const char *code);
/* The same with a chunk name for messages and arguments the chunk sees as `...`. */
tide_status tide_host_run_file_args(tide_host *h, const char *path, int argc,
                                    const char *const *argv);
tide_status tide_host_run_buffer(tide_host *h, const char *code, size_t len, const char *chunkname,
                                 int argc, const char *const *argv);

/* Calls the Lua function named fn (a global, or a dotted path such as "policy.assign") with
 * nargs arguments and stores exactly nresults results (missing ones are nil). Results that are
 * not nil, booleans, numbers, strings or tensors are an error. Clear each result with
 * tide_value_clear, also after a failed call. */
tide_status tide_host_call(tide_host *h, const char *fn, const tide_value *args, int nargs,
                           tide_value *results, int nresults);

/* The message of the host's last failure ("" when none); valid until the next call. */
const char *tide_host_error(const tide_host *h);

/* Calls the function below nargs arguments on the host's Lua stack (lua_pcall with a
 * traceback handler). On failure the error is popped into tide_host_error. */
tide_status tide_host_pcall(tide_host *h, int nargs, int nresults);

/* The host's Lua state, communicator, rank and size, for programs that go further. */
struct lua_State *tide_host_lua(tide_host *h);
MPI_Comm tide_host_comm(const tide_host *h);
int tide_host_rank(const tide_host *h);
int tide_host_size(const tide_host *h);

/* The REPL. Rank 0 calls read(ctx, prompt) for each line (a malloc'd string without its
 * newline, freed by the host; NULL at end of input; the prompt is "> " or ">> "); it completes
 * multi-line statements as lua.c does and sends each chunk to every rank; every rank runs it;
 * rank 0 prints its results on stdout and every failing rank's error as "[rank R] message" on
 * stderr; the session goes on. save, when given, is called on rank 0 with each complete chunk
 * (for a line history). Returns TIDE_OK at end of input. Collective over the host's
 * communicator; other ranks never call read. */
typedef char *(*tide_host_reader)(void *ctx, const char *prompt);
typedef void (*tide_host_saver)(void *ctx, const char *chunk);
tide_status tide_host_repl(tide_host *h, tide_host_reader read, tide_host_saver save, void *ctx);

#endif
