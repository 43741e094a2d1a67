/* shared.h — tensors in memory that every rank of a node can read, and the allreduce
 * over them that moves no message.
 *
 * tide_comm_shared_zeros gives each rank of a communicator whose ranks share one node a
 * tensor of n elements in one MPI shared-memory window (MPI_Win_allocate_shared): each rank's
 * tensor is its own segment of the window, and every rank can read the others'. A blocking
 * allreduce "sum" or "avg" of such a tensor (whole, float) then needs no copy: after a barrier
 * each rank adds up its slice of every segment and writes the result into every segment, and a
 * second barrier ends it. For the 940 KB of an MLP's gradients at 2 ranks this takes about
 * 20 us where MPI_Allreduce takes about 95 (the gradients are already where the other rank can
 * read them; MPI copies them through its own buffers twice).
 *
 * Every rank must pass its segment of the same window with the same op: the allreduce starts
 * with a small allgather of (window id, op) in place of a barrier, and fails on every rank when
 * they differ, naming each rank's tensor. A blocking allreduce of an ordinary tensor runs the
 * same allgather (id -1) on a communicator that has shared tensors, so a rank passing an
 * ordinary tensor where the others pass a shared one fails too instead of waiting.
 *
 * Windows live until tide's runtime shuts down: MPI_Win_free is collective, so it cannot follow
 * Lua's garbage collector, whose timing differs between ranks. Their tensors must not be used
 * after that. Freeing the communicator retires its windows: their tensors stay readable as
 * ordinary memory, and no later communicator (which may get the same MPI handle) matches them. */
#ifndef TIDE_COMM_SHARED_H
#define TIDE_COMM_SHARED_H

#include "comm/comm.h"

/* Collective. Fails (on every rank alike) when c's ranks do not all share one node. */
tide_status tide_comm_shared_zeros(tide_comm *c, tide_tensor *out, tide_dtype dt, int64_t n);

/* Is t one of c's shared tensors, whole (its segment, every element)? Returns the window's
 * slot, or -1. A local check: SPMD code passes the same kind of tensor on every rank. */
int tide_comm_shared_slot(const tide_comm *c, const tide_tensor *t);

/* The id of t's window (the same on every rank of c, distinct per window), or -1 when
 * tide_comm_shared_slot finds none. */
int tide_comm_shared_id(const tide_comm *c, const tide_tensor *t);

/* c is being freed: its windows match no communicator from now on. Local. */
void tide_comm_shared_forget(const tide_comm *c);

/* Frees every window (collective over each window's communicator); at runtime shutdown. */
void tide_comm_shared_shutdown(void);

#endif
