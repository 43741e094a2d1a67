/* fuzz_npy.c — libFuzzer harness for the .npy reader (io/npy.h), whole and by rows. The reader
 * takes a path, so each input goes through one memory file (memfd) of this process. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/npy.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;   /* a memory file: no file system in the loop */
    if (fd < 0) {
        fd = memfd_create("tide-fuzz-npy", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    tide_tensor t = TIDE_TENSOR_EMPTY;
    if (tide_npy_load(&t, path) == TIDE_OK) {
        int64_t rows = t.ndim > 0 ? t.shape[0] : 0;
        tide_tensor_release(&t);
        if (rows > 1 && tide_npy_load_rows(&t, path, 1, rows - 1) == TIDE_OK)
            tide_tensor_release(&t);
    } else if (t.storage) {
        abort();   /* a failed load leaves out empty */
    }
    return 0;
}
