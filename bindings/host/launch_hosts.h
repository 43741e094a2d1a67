/* launch_hosts.h — where `tide run` puts its ranks: a hostfile, a host list, or the nodes of a
 * Slurm allocation.
 *
 *   --hostfile F       passed to mpirun as it is (Open MPI's format: "host slots=N" lines)
 *   --host a:2,b:2     passed to mpirun as --host (host:slots)
 *   --launcher srun    inside a Slurm allocation, start the ranks with srun instead of mpirun
 *   (neither)          inside a Slurm allocation (SLURM_JOB_ID set), mpirun gets --host built
 *                      from SLURM_JOB_NODELIST (or SLURM_NODELIST) and SLURM_TASKS_PER_NODE;
 *                      -n defaults to SLURM_NTASKS there.
 * Ranks on several hosts need the same install path of tide on every host (the command names
 * this executable by its absolute path). */
#ifndef TIDE_LAUNCH_HOSTS_H
#define TIDE_LAUNCH_HOSTS_H

typedef struct tide_hosts {
    const char *hostfile;     /* --hostfile, or NULL */
    const char *host;         /* --host, or NULL */
    int srun;                 /* --launcher srun */
    char *slurm_hosts;        /* --host built from Slurm's variables (malloc'd), or NULL */
} tide_hosts;

/* When argv[*i] is one of the options above, consumes it (and its value, advancing *i) and
 * returns 1; returns -1 after printing "tide: run: ..." for a bad value, 0 for another option. */
int tide_hosts_option(tide_hosts *h, int argc, char **argv, int *i);

/* After the options: fills what Slurm's environment says (when in an allocation and no host
 * option was given) and *np from SLURM_NTASKS when it is 0. Returns 0 after printing an error
 * (a node list it cannot read, srun outside an allocation), else 1. */
int tide_hosts_resolve(tide_hosts *h, long *np);

/* Whether the ranks may leave this machine (then its core count says nothing about
 * oversubscription). */
int tide_hosts_remote(const tide_hosts *h);

/* Appends the launcher's placement arguments to cmd at *c (at most 4 entries). */
void tide_hosts_args(const tide_hosts *h, const char **cmd, int *c);

void tide_hosts_free(tide_hosts *h);

/* For a relaunch without the hosts named in lost (n names; bindings/host/supervise.h): when
 * option is --host, *out is its value without them; when it is --hostfile, *out is the path of
 * a new temporary file holding the hostfile without their lines (the caller removes it). Both
 * malloc'd; *gone: the slots the dropped hosts had (1 for an entry that does not say).
 * Returns 0 for another option; 1 for these two, with *out NULL after printing "tide: run:
 * ..." when nothing would be left or the file cannot be read or written. */
int tide_hosts_without(const char *option, const char *value, const char *const *lost, int n,
                       char **out, long *gone);

#endif
