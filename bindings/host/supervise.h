/* supervise.h — `tide run ... --restarts K [--elastic MIN]`: relaunching a job that lost a rank.
 *
 * tide_supervise looks at the options of `tide run` (argv[0] is "run"). Without --restarts and
 * --elastic it returns 0 and `tide run` goes on as before. With them it runs the same `tide run`
 * (without those two options) as a child, relays its stderr, and when the job ended because a
 * rank was lost it runs it again with TIDE_RESTART=<restarts so far>, up to K times; it then
 * returns 1 with the job's exit status in *status.
 *
 * Lost (relaunched): mpirun's status is 128 + a signal (a rank, or mpirun, was killed: SIGKILL,
 * a segfault, SIGABRT) or 75 (EX_TEMPFAIL: a rank reported itself lost, as TIDE_FAULT's exit
 * does). Anything else is the script's own ending and is not relaunched: 0, and 1 (a Lua error
 * on any rank aborts the job with status 1), and any os.exit(code) but 75. With --elastic MIN
 * each relaunch drops the slots of the ranks mpirun reported dead, down to MIN ranks (one
 * machine has no host to lose: a dead rank stands for its lost slot); without --restarts,
 * --elastic allows N - MIN relaunches. */
#ifndef TIDE_SUPERVISE_H
#define TIDE_SUPERVISE_H

#include <stddef.h>

int tide_supervise(int argc, char **argv, int *status);

/* This executable's own path (from /proc/self/exe) into self, cap bytes. Returns 1, or prints
 * "tide: run: cannot find this executable's path: ..." to stderr and returns 0. */
int tide_self_path(char *self, size_t cap);

#endif
