/* repl_proto.c — frames between the REPL's launcher and rank 0 (see repl_proto.h). */
#include "repl_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Moves all len bytes through read(2) or write(2), through EINTR; 0, or -1 at the end or an
 * error. */
static int transfer(int fd, char *p, size_t len, int writing)
{
    while (len > 0) {
        ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tide_repl_write_all(int fd, const char *p, size_t len)
{
    return transfer(fd, (char *)p, len, 1);
}

static int read_all(int fd, char *p, size_t len)
{
    return transfer(fd, p, len, 0);
}

int tide_repl_send(int fd, char type, const char *data, size_t len)
{
    char head[32];
    int n = snprintf(head, sizeof head, "%c%zu\n", type, len);
    if (tide_repl_write_all(fd, head, (size_t)n) != 0)
        return -1;
    return tide_repl_write_all(fd, data, len);
}

char *tide_repl_recv(int fd, char *type, size_t *len)
{
    char head[32];
    size_t n = 0;
    for (;;) {   /* the header, a byte at a time: frames are few and short */
        if (n + 1 == sizeof head || read_all(fd, head + n, 1) != 0)
            return NULL;
        if (head[n] == '\n')
            break;
        n++;
    }
    head[n] = '\0';
    char *end;
    unsigned long long size = strtoull(head + 1, &end, 10);
    if (n < 2 || *end || size > ((size_t)1 << 30))
        return NULL;
    char *data = malloc((size_t)size + 1);
    if (!data)
        return NULL;
    if (read_all(fd, data, (size_t)size) != 0) {
        free(data);
        return NULL;
    }
    data[size] = '\0';
    *type = head[0];
    *len = (size_t)size;
    return data;
}
