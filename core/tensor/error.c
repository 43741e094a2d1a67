/* error.c — the per-thread failure message behind tide_fail/tide_error. */
#include "tensor/tide_error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char message[1024];

tide_status tide_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return TIDE_FAIL;
}

const char *tide_error(void)
{
    return message;
}
