/* trace.h — the timeline: per-rank events written as one Chrome trace-event JSON file.
 *
 * While tracing is on, each rank records collectives ("comm" events: name, bytes, start,
 * duration) and user spans ("user" events). tide_trace_stop gathers every rank's events to
 * rank 0, which writes one JSON file (a process per rank, loadable in Perfetto or
 * chrome://tracing) through a temporary file renamed into place. Nothing is allocated or
 * recorded while tracing is off. start, stop and summary are collective over the communicator
 * they are given (the same on every rank). */
#ifndef TIDE_TRACE_H
#define TIDE_TRACE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/tide_error.h"

typedef enum { TIDE_TRACE_COMM, TIDE_TRACE_USER } tide_trace_cat;

int tide_trace_on(void);
/* Wall-clock seconds (the same clock on every rank of a node). */
double tide_trace_now(void);
/* Starts recording; fails when already tracing. */
tide_status tide_trace_start(const char *path);
/* Events longer than the name buffer are truncated; past a cap of events per rank only the
 * totals are kept (the file says how many were dropped). */
void tide_trace_event(const char *name, tide_trace_cat cat, double t0, double t1, int64_t bytes);
/* Stops recording, gathers and writes the file (rank 0). path_out (may be NULL) receives the
 * file's name. Collective over comm. */
tide_status tide_trace_stop(MPI_Comm comm, char *path_out, size_t n);
/* The job is failing and the ranks cannot gather: writes what this rank recorded, alone, to the
 * trace's file name with ".rank<R>" before its extension (run.json -> run.rank1.json), says so
 * on stderr, and stops recording. Not collective. */
tide_status tide_trace_write_rank(int rank);
/* Per-rank seconds since the start: communication (time inside collectives) and compute (the
 * rest). compute and comm have one entry per rank of comm. Collective over comm. */
tide_status tide_trace_summary(MPI_Comm comm, double *compute, double *comm_s);

#endif
