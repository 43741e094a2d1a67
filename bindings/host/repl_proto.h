/* repl_proto.h — what the launcher of `tide run` (repl_launcher.c) and the ranks
 * (repl_client.c) say to each other in the multi-rank REPL.
 *
 * The launcher listens on a Unix socket named by TIDE_REPL in the ranks' environment. Each rank
 * connects once for its output ("out R\n" first), and makes that connection its stdout and
 * stderr, so whatever it writes reaches the launcher in the order it was written; before each
 * chunk is read, a rank writes TIDE_REPL_NONCE framed by RS bytes (the end of the previous
 * chunk's output), and the launcher shows every rank's output in rank order once each has
 * ended it. Rank 0 connects a second time ("ctl\n") for frames: the launcher sends chunks
 * ('C'), completion requests ('T', answered by a 'T' frame of candidates, one a line) and the
 * end of the session ('E'). A frame is its type byte, its length in decimal, '\n', then the
 * bytes. */
#ifndef TIDE_REPL_PROTO_H
#define TIDE_REPL_PROTO_H

#include <stddef.h>

#define TIDE_REPL_ENV "TIDE_REPL"
#define TIDE_REPL_NONCE_ENV "TIDE_REPL_NONCE"
#define TIDE_REPL_RS '\036'
/* The end-of-chunk mark: RS, the nonce (at most this long), RS. */
#define TIDE_REPL_NONCE_MAX 32

/* Writes a whole frame; returns 0, or -1 when the peer is gone. */
int tide_repl_send(int fd, char type, const char *data, size_t len);
/* Reads one frame: its type in *type, its bytes (malloc'd, NUL-terminated) returned, their
 * length in *len. NULL when the peer closed or broke the protocol. */
char *tide_repl_recv(int fd, char *type, size_t *len);
/* write(2) of all len bytes, through EINTR; 0 or -1. */
int tide_repl_write_all(int fd, const char *p, size_t len);

#endif
