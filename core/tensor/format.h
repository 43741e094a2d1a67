/* format.h — a tensor as text, in Torch7's style.
 *
 *   1-D: one value per line.         2-D: one row per line, Torch7's "Columns a to b" blocks
 *   beyond 80 characters.            >2-D: each trailing matrix under a "(i,j,.,.) = " line.
 *   Then a last line "[f32 tensor of size 3x4]" (a 0-dim tensor: "[f32 scalar tensor]").
 *
 * One format serves every printed value. Integer dtypes print exactly, right-aligned with one
 * leading space. Floats follow Torch7: integral values as integers (%e past 9 digits); else
 * with expMin/expMax the decimal exponents of the smallest and largest magnitudes: %.4e when
 * they span more than 4 decades, a common scale "1e-03 *" line when the largest is below 0.1
 * or at least 1e5, else %.4f; nan and inf print as such.
 *
 * Past TIDE_FORMAT_THRESHOLD elements only the first and last TIDE_FORMAT_EDGE entries of
 * each longer dim print, with "..." where the rest would be. No allocation: the text goes to
 * write() in pieces, so the caller decides where it lands. */
#ifndef TIDE_FORMAT_H
#define TIDE_FORMAT_H

#include <stddef.h>

#include "tensor/tensor.h"

#define TIDE_FORMAT_THRESHOLD 1000
#define TIDE_FORMAT_EDGE 3
#define TIDE_FORMAT_WIDTH 80

typedef void (*tide_write_fn)(void *ctx, const char *s, size_t n);

void tide_format(const tide_tensor *t, tide_write_fn write, void *ctx);

/* The same text in a malloc'ed string (NULL when out of memory); the caller frees it. */
char *tide_format_string(const tide_tensor *t);

#endif
