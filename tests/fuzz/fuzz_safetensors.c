/* fuzz_safetensors.c — libFuzzer harness for the safetensors reader (io/safetensors.h): any
 * bytes must give a file or a message, never a crash, a leak or undefined behaviour. A parsed
 * file is checked against the reader's promises: the tensors tile the data they came from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tide_st_file f;
    if (tide_st_parse(&f, "fuzz", data, size) != TIDE_OK) {
        if (strncmp(tide_error(), "load: ", 6) != 0)
            abort();   /* every failure is a load message */
        return 0;
    }
    size_t bytes = 0;
    for (int i = 0; i < f.ntensors; i++)
        bytes += (size_t)tide_numel(&f.tensors[i]) * tide_dtype_size(f.tensors[i].dtype);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | data[i];
    if (bytes != size - 8 - hlen)
        abort();
    tide_st_free(&f);
    return 0;
}
