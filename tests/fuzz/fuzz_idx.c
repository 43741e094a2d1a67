/* fuzz_idx.c — libFuzzer harness for the IDX reader (io/idx.h), plain or gzipped bytes, through
 * one memory file (memfd) of this process (the reader takes a path). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/idx.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;   /* a memory file: no file system in the loop */
    if (fd < 0) {
        fd = memfd_create("tide-fuzz-idx", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    tide_tensor t = TIDE_TENSOR_EMPTY;
    if (tide_idx_read(&t, path) == TIDE_OK)
        tide_tensor_release(&t);
    else if (t.storage)
        abort();
    return 0;
}
