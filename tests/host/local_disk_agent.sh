#!/bin/sh
# A launch agent over the test bed's (scripts/hosts.sh) that gives every host a node-local disk,
# as hosts_spec's lost-host case needs: $TIDE_DISKS/<host> is mounted at $TIDE_LOCAL in the
# host's daemon's own mount namespace (ip netns exec makes one per daemon, whose mounts do not
# reach the others), and $TIDE_DISKS is then hidden under an empty tmpfs, so each host sees its
# own disk at $TIDE_LOCAL and no other host's. A disk outlives its host's processes, as a real
# one does; deleting $TIDE_DISKS/<host> is that host's disk lost.
#   OMPI_MCA_plm_rsh_agent=local_disk_agent.sh TIDE_BED_AGENT=<the bed's agent> TIDE_DISKS=...
#   TIDE_LOCAL=... mpirun --hostfile ...
set -e
while [ "${1#-}" != "$1" ]; do shift; done   # ssh-style options Open MPI may pass
host=$1
shift
mkdir -p "$TIDE_DISKS/$host"
exec "$TIDE_BED_AGENT" "$host" "mount --bind '$TIDE_DISKS/$host' '$TIDE_LOCAL' &&" \
  "mount -t tmpfs none '$TIDE_DISKS' &&" "$@"
