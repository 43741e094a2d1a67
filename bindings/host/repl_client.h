/* repl_client.h — a rank's side of the REPL of `tide run` (the launcher is repl_launcher.c;
 * repl_proto.h says what they exchange). */
#ifndef TIDE_REPL_CLIENT_H
#define TIDE_REPL_CLIENT_H

#include "tide_host.h"

/* Under the launcher (TIDE_REPL set)? */
int tide_repl_launched(void);
/* Connects this rank to the launcher and makes the connection its stdout and stderr; rank 0
 * also opens the connection chunks come on, and tide.breakpoint's lines
 * (tide._internal.launcher_read). Returns 0, or -1 after printing why. */
int tide_repl_connect(tide_host *h);
/* Runs the REPL of the launcher on every rank: chunks from the launcher, each chunk's output
 * ended for it, SIGUSR2 (the launcher's Ctrl-C) stops a running chunk. */
tide_status tide_repl_run(tide_host *h);

#endif
