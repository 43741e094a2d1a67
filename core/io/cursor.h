/* cursor.h — a cursor over header text, shared by the .npy and safetensors header parsers:
 * p moves from start towards end; what names the file for messages (NULL when unused). */
#ifndef TIDE_IO_CURSOR_H
#define TIDE_IO_CURSOR_H

typedef struct {
    const char *p, *start, *end;
    const char *what;
} tide_cursor;

static inline void tide_cursor_skip_ws(tide_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Skips white space, then consumes ch if it comes next; says whether it did. */
static inline int tide_cursor_eat(tide_cursor *c, char ch)
{
    tide_cursor_skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

#endif
