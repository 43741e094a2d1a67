/* lua_ckpt.c — tide.io.ckpt_writer(): a checkpoint writer (io/ckpt_writer.h) for
 * tide.checkpoint, which builds the job table:
 *   {files = {{path =, label =, names = {...}, tensors = {...}, meta = {k = v}}
 *             or {path =, label =, bytes = u8 tensor (the whole file; handed over)}, ...},
 *    part = path, corrupt = bool,
 *    finalize = nil or {parts = {...}, manifest =, prefix =, suffix =, tmp =, final =,
 *                       latest =, latest_text =, timeout =}}
 * w:start(job, async) raises on failure (sync: the write's own); w:wait() raises the
 * background write's failure; w:busy(). The writer's __gc waits, so a Lua state that closes
 * (the end of a script, os.exit(code, true)) finishes an asynchronous save first. */
#include <stdlib.h>
#include <string.h>

#include "io/ckpt_writer.h"
#include "lua_io.h"
#include "tensor/lua_tensor.h"

#define WRITER_MT "tide.ckpt_writer"
#define JOB_MT "tide.ckpt_job"

static tide_ckpt_writer **checkwriter(lua_State *L)
{
    tide_ckpt_writer **w = luaL_checkudata(L, 1, WRITER_MT);
    if (!*w)
        luaL_error(L, "attempt to use a closed checkpoint writer");
    return w;
}

static int writer_gc(lua_State *L)
{
    tide_ckpt_writer **w = luaL_checkudata(L, 1, WRITER_MT);
    tide_ckpt_writer_free(*w);
    *w = NULL;
    return 0;
}

static int job_gc(lua_State *L)
{
    tide_ckpt_job_clear(luaL_checkudata(L, 1, JOB_MT));
    return 0;
}

/* A copy of field k of the table at t (a string), or NULL when absent and optional. */
static char *dupfield(lua_State *L, int t, const char *k, int optional)
{
    int type = lua_getfield(L, t, k);
    if (type == LUA_TNIL && optional) {
        lua_pop(L, 1);
        return NULL;
    }
    if (type != LUA_TSTRING)
        luaL_error(L, "ckpt_writer: field '%s' must be a string, got %s", k, lua_typename(L, type));
    char *s = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if (!s)
        luaL_error(L, "ckpt_writer: out of memory");
    return s;
}

static void *alloc0(lua_State *L, size_t n, size_t size)
{
    void *p = calloc(n + 1, size);
    if (!p)
        luaL_error(L, "ckpt_writer: out of memory");
    return p;
}

/* {bytes = u8 tensor}: the whole file, handed over to the job (the Lua tensor is closed) when
 * no other tensor shares its storage, so the background write needs no copy of it. */
static void read_bytes(lua_State *L, tide_ckpt_file *f)
{
    tide_tensor *src = tide_lua_totensor(L, -1);
    if (!src || !src->storage || src->dtype != TIDE_U8 || !tide_is_contiguous(src))
        luaL_error(L, "ckpt_writer: the bytes of '%s' must be an open contiguous u8 tensor",
                   f->path);
    f->tensors = alloc0(L, 1, sizeof *f->tensors);
    if (src->storage->refcount == 1) {
        f->tensors[0] = *src;
        memset(src, 0, sizeof *src);
    } else {
        tide_tensor_share(&f->tensors[0], src);
    }
    f->n = 1;
    f->raw = 1;
}

/* {path=, label=, names=, tensors=, meta=} or {path=, label=, bytes=} at t into f (which the
 * job box owns already). */
static void read_file(lua_State *L, int t, tide_ckpt_file *f)
{
    f->path = dupfield(L, t, "path", 0);
    f->label = dupfield(L, t, "label", 0);
    if (lua_getfield(L, t, "bytes") != LUA_TNIL) {
        read_bytes(L, f);
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "names");
    lua_getfield(L, t, "tensors");
    luaL_checktype(L, -2, LUA_TTABLE);
    luaL_checktype(L, -1, LUA_TTABLE);
    int names = lua_gettop(L) - 1, tensors = names + 1;
    int n = (int)luaL_len(L, names);
    f->names = alloc0(L, (size_t)n, sizeof *f->names);
    f->tensors = alloc0(L, (size_t)n, sizeof *f->tensors);
    for (int k = 0; k < n; k++) {
        lua_geti(L, names, k + 1);
        lua_geti(L, tensors, k + 1);
        tide_tensor *src = tide_lua_totensor(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING || !src)
            luaL_error(L, "ckpt_writer: entry %d of '%s' is not a name and an open tensor", k + 1,
                       f->path);
        f->names[k] = strdup(lua_tostring(L, -2));
        if (!f->names[k])
            luaL_error(L, "ckpt_writer: out of memory");
        tide_tensor_share(&f->tensors[k], src);
        f->n = k + 1;
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    if (lua_getfield(L, t, "meta") == LUA_TTABLE) {
        int meta = lua_gettop(L), count = 0;
        for (lua_pushnil(L); lua_next(L, meta); lua_pop(L, 1))
            count++;
        f->meta_keys = alloc0(L, (size_t)count, sizeof *f->meta_keys);
        f->meta_values = alloc0(L, (size_t)count, sizeof *f->meta_values);
        for (lua_pushnil(L); lua_next(L, meta); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "ckpt_writer: metadata must map strings to strings");
            f->meta_keys[f->nmeta] = strdup(lua_tostring(L, -2));
            f->meta_values[f->nmeta] = strdup(lua_tostring(L, -1));
            f->nmeta++;
            if (!f->meta_keys[f->nmeta - 1] || !f->meta_values[f->nmeta - 1])
                luaL_error(L, "ckpt_writer: out of memory");
        }
    }
    lua_pop(L, 1);
}

static void read_finalize(lua_State *L, int t, tide_ckpt_job *job)
{
    lua_getfield(L, t, "parts");
    luaL_checktype(L, -1, LUA_TTABLE);
    int n = (int)luaL_len(L, -1);
    job->parts = alloc0(L, (size_t)n, sizeof *job->parts);
    for (int i = 0; i < n; i++) {
        if (lua_geti(L, -1, i + 1) != LUA_TSTRING)
            luaL_error(L, "ckpt_writer: part %d is not a path", i + 1);
        job->parts[i] = strdup(lua_tostring(L, -1));
        job->nparts = i + 1;
        lua_pop(L, 1);
        if (!job->parts[i])
            luaL_error(L, "ckpt_writer: out of memory");
    }
    lua_pop(L, 1);
    job->manifest_path = dupfield(L, t, "manifest", 0);
    job->manifest_prefix = dupfield(L, t, "prefix", 0);
    job->manifest_suffix = dupfield(L, t, "suffix", 0);
    job->tmp_dir = dupfield(L, t, "tmp", 0);
    job->final_dir = dupfield(L, t, "final", 0);
    job->latest_path = dupfield(L, t, "latest", 0);
    job->latest_text = dupfield(L, t, "latest_text", 0);
    lua_getfield(L, t, "timeout");
    job->timeout = luaL_optnumber(L, -1, 600);
    lua_pop(L, 1);
    job->finalize = 1;
}

/* w:start(job, async) */
static int writer_start(lua_State *L)
{
    tide_ckpt_writer **w = checkwriter(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    int async = lua_toboolean(L, 3);
    tide_ckpt_job *job = lua_newuserdatauv(L, sizeof *job, 0);   /* owns the job until start */
    memset(job, 0, sizeof *job);
    luaL_setmetatable(L, JOB_MT);
    lua_getfield(L, 2, "files");
    luaL_checktype(L, -1, LUA_TTABLE);
    int files = lua_gettop(L);
    int n = (int)luaL_len(L, files);
    job->files = alloc0(L, (size_t)n, sizeof *job->files);
    for (int i = 0; i < n; i++) {
        lua_geti(L, files, i + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        job->nfiles = i + 1;
        read_file(L, lua_gettop(L), &job->files[i]);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    job->part_path = dupfield(L, 2, "part", 1);
    lua_getfield(L, 2, "corrupt");
    job->corrupt = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "finalize") == LUA_TTABLE)
        read_finalize(L, lua_gettop(L), job);
    lua_pop(L, 1);
    tide_lua_check(L, tide_ckpt_writer_start(*w, job, async));
    return 0;
}

static int writer_wait(lua_State *L)
{
    tide_lua_check(L, tide_ckpt_writer_wait(*checkwriter(L)));
    return 0;
}

static int writer_busy(lua_State *L)
{
    lua_pushboolean(L, tide_ckpt_writer_busy(*checkwriter(L)));
    return 1;
}

/* tide.io.ckpt_writer() */
static int l_ckpt_writer(lua_State *L)
{
    tide_ckpt_writer **w = lua_newuserdatauv(L, sizeof *w, 0);
    *w = NULL;
    luaL_setmetatable(L, WRITER_MT);
    *w = tide_ckpt_writer_new();
    if (!*w)
        return luaL_error(L, "ckpt_writer: out of memory");
    return 1;
}

void tide_open_ckpt(lua_State *L, int io)
{
    static const luaL_Reg methods[] = {
        {"start", writer_start}, {"wait", writer_wait}, {"busy", writer_busy}, {NULL, NULL}};
    if (luaL_newmetatable(L, WRITER_MT)) {
        lua_pushcfunction(L, writer_gc);
        lua_setfield(L, -2, "__gc");
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, JOB_MT)) {
        lua_pushcfunction(L, job_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_ckpt_writer);
    lua_setfield(L, io, "ckpt_writer");
}
