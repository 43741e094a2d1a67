/* objects.h — collectives on serialised Lua values (byte strings), for tide/comm.lua's
 * bcast_obj, allgather_obj, gather_obj and tide.on. Collective over c, watched and numbered as
 * every collective is. */
#ifndef TIDE_OBJECTS_H
#define TIDE_OBJECTS_H

#include "comm/comm.h"

/* The object collectives move serialised values. ok == 0 marks a rank whose value could not
 * be serialised: its bytes are then the error message, every rank learns of it, and every
 * rank fails with "<name>: rank R could not serialise its value: <message>". Results are
 * malloc'd; free them with free(). name is the operation reported ("bcast_obj"). */
/* On root, buf holds the value (ok says whether it could be serialised); on return every rank
 * holds a malloc'd copy of root's bytes in *out. */
tide_status tide_comm_bcast_bytes(tide_comm *c, const char *name, const char *buf, int64_t len,
                                  int ok, int root, tide_bytes *out);
/* out: c->size entries (rank order), one malloc'd block holding all of them in out[0].data.
 * gather: only root gets them (out[*].data NULL elsewhere). */
tide_status tide_comm_allgather_bytes(tide_comm *c, const char *name, const char *buf,
                                      int64_t len, int ok, tide_bytes *out);
tide_status tide_comm_gather_bytes(tide_comm *c, const char *name, const char *buf, int64_t len,
                                   int ok, int root, tide_bytes *out);

#endif
