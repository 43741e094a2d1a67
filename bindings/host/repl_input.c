/* repl_input.c — what the person types at the launcher of `tide run` (see repl_input.h). */
#define _GNU_SOURCE
#include "repl_input.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TIDE_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

static tide_repl_input I;
#ifdef TIDE_HAVE_READLINE
static int editing;      /* readline: stdin and stdout are a terminal */
static char *history;    /* ~/.tide_history */
#endif

/* Waits for stdin; a Ctrl-C cancels, the end of the job ends. */
static int wait_input(void)
{
    for (;;) {
        struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {I.sigfd, POLLIN, 0}};
        int n = poll(fds, 2, 200);
        if (I.ended())
            return TIDE_GOT_EOF;
        if (n <= 0)
            continue;
        if (fds[1].revents) {
            char c;
            if (read(I.sigfd, &c, 1) == 1 && c == SIGINT)
                return TIDE_GOT_CANCEL;
            continue;
        }
        return TIDE_GOT_LINE;   /* stdin is readable (or at its end) */
    }
}

/* Without readline: a line from stdin (bytes kept between calls), the prompt when a person
 * types. */
static int plain_line(const char *prompt, char **line)
{
    static char *buf;
    static size_t len, cap;
    if (I.interactive) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    for (;;) {
        char *nl = len ? memchr(buf, '\n', len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - buf);
            *line = strndup(buf, n);
            memmove(buf, nl + 1, len - n - 1);
            len -= n + 1;
            return TIDE_GOT_LINE;
        }
        int got = wait_input();
        if (got == TIDE_GOT_CANCEL) {
            len = 0;
            putchar('\n');
            return TIDE_GOT_CANCEL;
        }
        if (got == TIDE_GOT_EOF)
            return TIDE_GOT_EOF;
        if (cap - len < 4096) {
            char *grown = realloc(buf, cap + 65536);
            if (!grown)
                return TIDE_GOT_EOF;
            buf = grown;
            cap += 65536;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {   /* end of input: a last line without its newline still counts */
            if (len == 0)
                return TIDE_GOT_EOF;
            *line = strndup(buf, len);
            len = 0;
            return TIDE_GOT_LINE;
        }
        len += (size_t)n;
    }
}

#ifdef TIDE_HAVE_READLINE
static char *typed;
static int typed_done;

static void on_line(char *line)
{
    typed = line;
    typed_done = 1;
    rl_callback_handler_remove();
}

/* readline's callback interface, so that Ctrl-C (which we catch) can clear the line. */
static int edited_line(const char *prompt, char **line)
{
    typed = NULL;
    typed_done = 0;
    rl_callback_handler_install(prompt, on_line);
    while (!typed_done) {
        int got = wait_input();
        if (got == TIDE_GOT_LINE) {
            rl_callback_read_char();
            continue;
        }
        /* Ctrl-C leaves the line on the screen and drops it, as bash does; the end of the
         * job ends reading */
        rl_point = rl_end;
        rl_redisplay();
        rl_crlf();
        fflush(rl_outstream ? rl_outstream : stdout);
        rl_replace_line("", 0);
        rl_free_line_state();
        rl_callback_sigcleanup();
        rl_callback_handler_remove();
        return got;
    }
    if (!typed) {
        putchar('\n');
        return TIDE_GOT_EOF;
    }
    *line = typed;
    if (*typed) {
        add_history(typed);
        if (history)
            append_history(1, history);
    }
    return TIDE_GOT_LINE;
}

/* Completion candidates for text (the launcher asks rank 0). */
static char **candidates;
static size_t next_candidate;

static char *candidate(const char *text, int state)
{
    (void)text;
    if (state == 0)
        next_candidate = 0;
    if (!candidates || !candidates[next_candidate])
        return NULL;
    return strdup(candidates[next_candidate++]);
}

static char **complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1;   /* names only, never file names */
    rl_completion_append_character = '\0';   /* `tide.world` then `.rank`: no space (reset
                                                  by readline before every completion) */
    if (candidates) {
        for (size_t i = 0; candidates[i]; i++)
            free(candidates[i]);
        free(candidates);
        candidates = NULL;
    }
    char *reply = I.complete(text);
    if (!reply)
        return NULL;
    size_t n = 1;
    for (size_t i = 0; reply[i]; i++)
        n += reply[i] == '\n';
    candidates = calloc(n + 1, sizeof *candidates);
    size_t k = 0;
    for (char *p = reply, *save = NULL, *tok; candidates && (tok = strtok_r(p, "\n", &save));
         p = NULL)
        candidates[k++] = strdup(tok);
    free(reply);
    return rl_completion_matches(text, candidate);
}

static void start_editing(void)
{
    rl_readline_name = "tide";
    rl_catch_signals = 0;   /* our Ctrl-C: clear the line, or stop the ranks */
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " \t\n\"'`@$><=;|&{}()[],+-*/%^~#";
    const char *home = getenv("HOME");
    if (home && *home && asprintf(&history, "%s/.tide_history", home) > 0) {
        int fd = open(history, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        read_history(history);
    }
}

static void stop_editing(void)
{
    if (history) {
        history_truncate_file(history, 1000);
        free(history);
        history = NULL;
    }
}
#endif

int tide_repl_read_line(const char *prompt, char **line)
{
#ifdef TIDE_HAVE_READLINE
    if (editing)
        return edited_line(prompt, line);
#endif
    return plain_line(prompt, line);
}

void tide_repl_input_start(const tide_repl_input *in)
{
    I = *in;
#ifdef TIDE_HAVE_READLINE
    editing = I.interactive && isatty(STDOUT_FILENO);
    if (editing)
        start_editing();
#else
    if (I.interactive)
        fprintf(stderr, "tide: built without readline: no line editing, history or completion\n");
#endif
}

void tide_repl_input_stop(void)
{
#ifdef TIDE_HAVE_READLINE
    if (editing)
        stop_editing();
    editing = 0;
#endif
}

