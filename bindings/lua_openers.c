/* lua_openers.c — every bindings file's opener, in the order tide.core runs them. */
#include "lua_bindings.h"

const tide_opener tide_openers[] = {
    tide_open_tensor,
    NULL,
};
