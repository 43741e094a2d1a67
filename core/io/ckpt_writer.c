/* ckpt_writer.c — one rank's files of a checkpoint step, its manifest part and, on rank 0, the
 * step's completion (see ckpt_writer.h). */
#define _POSIX_C_SOURCE 200809L
#include "io/ckpt_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "io/files.h"
#include "io/safetensors.h"

struct tide_ckpt_writer {
    tide_ckpt_job job;
    pthread_t thread;
    int running;        /* a thread to join */
    tide_status status;
    char message[1024]; /* the thread's failure, handed to the caller's thread by wait */
};

void tide_ckpt_job_clear(tide_ckpt_job *job)
{
    for (int i = 0; i < job->nfiles; i++) {
        tide_ckpt_file *f = &job->files[i];
        for (int k = 0; k < f->n; k++) {
            if (f->names)   /* (a raw file has bytes, no names) */
                free(f->names[k]);
            tide_tensor_release(&f->tensors[k]);
        }
        for (int k = 0; k < f->nmeta; k++) {
            free(f->meta_keys[k]);
            free(f->meta_values[k]);
        }
        free(f->names);
        free(f->tensors);
        free(f->meta_keys);
        free(f->meta_values);
        free(f->path);
        free(f->label);
    }
    free(job->files);
    for (int i = 0; i < job->nparts; i++)
        free(job->parts[i]);
    free(job->parts);
    free(job->part_path);
    free(job->manifest_path);
    free(job->manifest_prefix);
    free(job->manifest_suffix);
    free(job->tmp_dir);
    free(job->final_dir);
    free(job->latest_path);
    free(job->latest_text);
    memset(job, 0, sizeof *job);
}

/* Fault injection: one flipped byte in the middle of the file, written in place. */
static tide_status corrupt_file(const char *path)
{
    int fd = open(path, O_RDWR);
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0 || info.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return tide_fail("checkpoint: cannot corrupt '%s' (TIDE_FAULT)", path);
    }
    off_t at = info.st_size / 2;
    unsigned char b;
    int ok = pread(fd, &b, 1, at) == 1;
    b ^= 0x5a;
    ok = ok && pwrite(fd, &b, 1, at) == 1 && fsync(fd) == 0;
    close(fd);
    return ok ? TIDE_OK : tide_fail("checkpoint: cannot corrupt '%s' (TIDE_FAULT)", path);
}

static tide_status write_files(tide_ckpt_job *job)
{
    size_t cap = 64, len = 0;
    char *part = malloc(cap);
    if (!part)
        return tide_fail("checkpoint: out of memory");
    part[0] = '\0';
    tide_status st = TIDE_OK;
    for (int i = 0; i < job->nfiles && st == TIDE_OK; i++) {
        tide_ckpt_file *f = &job->files[i];
        if (f->raw) {
            st = tide_write_tensor_file(f->path, &f->tensors[0]);
            if (st == TIDE_OK && job->corrupt && i == 0)
                st = corrupt_file(f->path);
            continue;
        }
        const tide_tensor **ts = malloc(((size_t)f->n + 1) * sizeof *ts);
        if (!ts) {
            st = tide_fail("checkpoint: out of memory");
            break;
        }
        for (int k = 0; k < f->n; k++)
            ts[k] = &f->tensors[k];
        uint32_t crc = 0;
        int64_t size = 0;
        st = tide_st_save(f->path, f->n, (const char *const *)f->names, ts, f->nmeta,
                          (const char *const *)f->meta_keys, (const char *const *)f->meta_values,
                          &crc, &size);
        free(ts);
        if (st == TIDE_OK && job->corrupt && i == 0)
            st = corrupt_file(f->path);
        size_t need = len + strlen(f->label) + 80;
        if (st == TIDE_OK && need > cap) {
            char *p = realloc(part, need * 2);
            if (!p)
                st = tide_fail("checkpoint: out of memory");
            else {
                part = p;
                cap = need * 2;
            }
        }
        if (st == TIDE_OK)   /* labels are plain file names: no JSON escaping needed */
            len += (size_t)snprintf(part + len, cap - len, "%s\"%s\":{\"crc32\":%u,\"size\":%lld}",
                                    len ? "," : "", f->label, (unsigned)crc, (long long)size);
    }
    if (st == TIDE_OK && job->part_path)
        st = tide_write_atomic(job->part_path, part, len);
    free(part);
    return st;
}

static char *read_small(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 256, n = 0;
    char *s = malloc(cap);
    size_t got;
    while (s && (got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *p = realloc(s, cap * 2);
            if (!p) {
                free(s);
                s = NULL;
            } else {
                s = p;
                cap *= 2;
            }
        }
    }
    fclose(f);
    if (s) {
        s[n] = '\0';
        *len = n;
    }
    return s;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Rank 0: every part, then the manifest, the rename and `latest`. */
static tide_status finalize(tide_ckpt_job *job)
{
    double start = now();
    struct timespec nap = {0, 1000000};
    for (int i = 0; i < job->nparts; i++) {
        struct stat info;
        while (stat(job->parts[i], &info) != 0) {
            if (now() - start > job->timeout)
                return tide_fail("checkpoint: rank %d's part '%s' did not appear within %g s; the"
                                 " step stays incomplete in '%s'", i, job->parts[i], job->timeout,
                                 job->tmp_dir);
            nanosleep(&nap, NULL);
            if (nap.tv_nsec < 50000000)
                nap.tv_nsec *= 2;
        }
    }
    size_t total = strlen(job->manifest_prefix) + strlen(job->manifest_suffix) + 32;
    char **texts = calloc((size_t)job->nparts + 1, sizeof *texts);
    size_t *lens = calloc((size_t)job->nparts + 1, sizeof *lens);
    tide_status st = texts && lens ? TIDE_OK : tide_fail("checkpoint: out of memory");
    for (int i = 0; i < job->nparts && st == TIDE_OK; i++) {
        texts[i] = read_small(job->parts[i], &lens[i]);
        if (!texts[i])
            st = tide_fail("checkpoint: cannot read '%s': %s", job->parts[i], strerror(errno));
        total += lens[i] + 1;
    }
    char *manifest = st == TIDE_OK ? malloc(total) : NULL;
    if (st == TIDE_OK && !manifest)
        st = tide_fail("checkpoint: out of memory");
    if (st == TIDE_OK) {
        size_t n = strlen(job->manifest_prefix);
        memcpy(manifest, job->manifest_prefix, n);
        int first = 1;
        for (int i = 0; i < job->nparts; i++) {
            if (lens[i] == 0)
                continue;
            if (!first)
                manifest[n++] = ',';
            first = 0;
            memcpy(manifest + n, texts[i], lens[i]);
            n += lens[i];
        }
        size_t sl = strlen(job->manifest_suffix);
        memcpy(manifest + n, job->manifest_suffix, sl);
        n += sl;
        /* the manifest's own crc32, of every byte before it, as its last member */
        uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)manifest, (uInt)n);
        n += (size_t)snprintf(manifest + n, 32, ",\"crc32\":\"%08lx\"}", crc);
        st = tide_write_atomic(job->manifest_path, manifest, n);
    }
    for (int i = 0; i < job->nparts && texts && lens; i++) {
        free(texts[i]);
        if (st == TIDE_OK)
            remove(job->parts[i]);
    }
    free(texts);
    free(lens);
    free(manifest);
    if (st == TIDE_OK)
        st = tide_sync_dir(job->tmp_dir);
    if (st == TIDE_OK)
        st = tide_remove_tree(job->final_dir);
    if (st == TIDE_OK)
        st = tide_rename_durable(job->tmp_dir, job->final_dir);
    if (st == TIDE_OK)
        st = tide_write_atomic(job->latest_path, job->latest_text, strlen(job->latest_text));
    return st;
}

static tide_status run_job(tide_ckpt_job *job)
{
    TIDE_TRY(write_files(job));
    if (job->finalize)
        TIDE_TRY(finalize(job));
    return TIDE_OK;
}

static void *thread_main(void *arg)
{
    tide_ckpt_writer *w = arg;
    w->status = run_job(&w->job);
    if (w->status != TIDE_OK)
        snprintf(w->message, sizeof w->message, "%s", tide_error());
    tide_ckpt_job_clear(&w->job);
    return NULL;
}

tide_ckpt_writer *tide_ckpt_writer_new(void)
{
    return calloc(1, sizeof(tide_ckpt_writer));
}

int tide_ckpt_writer_busy(const tide_ckpt_writer *w)
{
    return w->running;
}

tide_status tide_ckpt_writer_wait(tide_ckpt_writer *w)
{
    if (w->running) {
        pthread_join(w->thread, NULL);
        w->running = 0;
    }
    tide_status st = w->status;
    w->status = TIDE_OK;
    return st == TIDE_OK ? TIDE_OK : tide_fail("%s", w->message);
}

/* Each tensor of the job becomes a private contiguous copy, so the thread shares nothing with
 * the caller (storage reference counts are not atomic). */
static tide_status copy_tensors(tide_ckpt_job *job)
{
    for (int i = 0; i < job->nfiles; i++)
        for (int k = 0; k < job->files[i].n; k++) {
            tide_tensor *t = &job->files[i].tensors[k], c = TIDE_TENSOR_EMPTY;
            if (t->storage->refcount == 1)   /* nobody else's: nothing to race with */
                continue;
            TIDE_TRY(tide_clone(&c, t));
            tide_tensor_release(t);
            *t = c;
        }
    return TIDE_OK;
}

tide_status tide_ckpt_writer_start(tide_ckpt_writer *w, tide_ckpt_job *job, int async)
{
    tide_status prev = tide_ckpt_writer_wait(w);
    if (prev != TIDE_OK) {
        tide_ckpt_job_clear(job);
        return TIDE_FAIL;
    }
    w->job = *job;
    memset(job, 0, sizeof *job);
    if (!async) {
        tide_status st = run_job(&w->job);
        tide_ckpt_job_clear(&w->job);
        return st;
    }
    if (copy_tensors(&w->job) != TIDE_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", tide_error());
        tide_ckpt_job_clear(&w->job);
        return tide_fail("checkpoint: cannot copy the state for an asynchronous save: %s", why);
    }
    int err = pthread_create(&w->thread, NULL, thread_main, w);
    if (err != 0) {
        tide_ckpt_job_clear(&w->job);
        return tide_fail("checkpoint: cannot start the writer thread: %s", strerror(err));
    }
    w->running = 1;
    return TIDE_OK;
}

void tide_ckpt_writer_free(tide_ckpt_writer *w)
{
    if (!w)
        return;
    (void)tide_ckpt_writer_wait(w);
    free(w);
}
