/* tide_error.h — how the core reports failure.
 *
 * Every core function that can fail returns a tide_status: 0 on success, -1 on failure with a
 * message in a per-thread buffer. The core never prints, exits, aborts or longjmps; the caller
 * (bindings, the host, a C program) decides what a failure means. */
#ifndef TIDE_ERROR_H
#define TIDE_ERROR_H

typedef int tide_status;

#define TIDE_OK 0
#define TIDE_FAIL (-1)

/* Formats the message into this thread's buffer and returns TIDE_FAIL, so a check reads
 * `if (bad) return tide_fail("matmul: size mismatch, %s @ %s", a, b);`. */
tide_status tide_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The message of this thread's last failure ("" when none). Valid until the next tide_fail. */
const char *tide_error(void);

/* Propagate a failure: `TIDE_TRY(tide_foo(...));` returns from the caller on failure. */
#define TIDE_TRY(expr) do { if ((expr) != TIDE_OK) return TIDE_FAIL; } while (0)

#endif
