/* repl_launcher.h — the REPL of `tide run -n N [-i] [script]`: the launcher stays mpirun's
 * parent and owns the terminal (readline with a history in ~/.tide_history, multi-line chunks
 * as lua.c reads them, completion asked of rank 0), hands each chunk to the ranks, shows their
 * output in rank order before the next prompt (`[R] ` before the lines of rank R > 0; `:ranks
 * all|0` chooses whose show), and turns Ctrl-C into SIGUSR2, which mpirun forwards to every
 * rank and which stops the statement there (repl_client.c). Ctrl-D ends the session. */
#ifndef TIDE_REPL_LAUNCHER_H
#define TIDE_REPL_LAUNCHER_H

/* Runs cmd (mpirun's command line, for `tide -i [script args]`) for a job of np ranks and the
 * session with it; returns the exit status for the shell (mpirun's). */
int tide_repl_launch(char *const *cmd, int np);

#endif
