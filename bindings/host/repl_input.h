/* repl_input.h — what the person types at the launcher of `tide run` (repl_launcher.c): lines
 * from GNU readline when stdin and stdout are a terminal (editing, the history in
 * ~/.tide_history, Tab completion), else plain lines from stdin (prompts only for a terminal).
 * A Ctrl-C drops the line being typed, as bash does. */
#ifndef TIDE_REPL_INPUT_H
#define TIDE_REPL_INPUT_H

enum { TIDE_GOT_LINE, TIDE_GOT_EOF, TIDE_GOT_CANCEL };   /* what reading a line got */

typedef struct tide_repl_input {
    int interactive;                      /* stdin is a terminal: prompts */
    int sigfd;                            /* a byte SIGINT here is a Ctrl-C */
    int (*ended)(void);                   /* the job ended: reading ends as at end of input */
    char *(*complete)(const char *text);  /* candidates for text, one a line (malloc'd), or NULL */
} tide_repl_input;

void tide_repl_input_start(const tide_repl_input *in);
void tide_repl_input_stop(void);
/* The next line (malloc'd, without its newline) in *line: TIDE_GOT_LINE; TIDE_GOT_EOF at the end
 * of input (Ctrl-D) or of the job; TIDE_GOT_CANCEL after a Ctrl-C. */
int tide_repl_read_line(const char *prompt, char **line);

#endif
