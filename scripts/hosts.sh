#!/usr/bin/env bash
# A multi-host test bed on one machine: H network namespaces act as hosts, each with its own
# loopback, UTS name and a veth link to a bridge in the root namespace; Open MPI starts its
# daemons in them through a launch agent (plm_rsh_agent) instead of ssh, so `mpirun --hostfile`
# spreads ranks over "hosts" exactly as it would over a cluster, with TCP between them.
#
#   scripts/hosts.sh up [--hosts H] [--rate RATE]   make the bed (default 2 hosts, no shaping)
#   scripts/hosts.sh down                           remove everything `up` made
#   scripts/hosts.sh status                         what is up
#   scripts/hosts.sh run [-n N] [--hosts H] [--rate RATE] script.lua [args]
#       a tide job with N ranks (default 2 per host) spread evenly over the hosts; makes the bed
#       first and removes it on exit when it was not already up.
#   scripts/hosts.sh mpirun [-n N] [--hosts H] -- cmd args
#       the same for any command (a busted spec, hostname, ...).
#
# Hosts are h1..hH at 10.77.0.11.. on bridge tide-br0 (10.77.0.1/24); --rate shapes each host's
# link both ways with tc tbf (e.g. 1gbit). Needs root (network namespaces); says so otherwise.
# TIDE_BED=K (1-9) makes a separate bed beside the default one (bridge tide-brK, 10.77.K.0/24,
# namespaces tideK-h1.., state /run/tide-hostsK), so two jobs can each have their own.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BED=${TIDE_BED:-0}
case $BED in [0-9]) ;; *) echo "hosts.sh: TIDE_BED: expected a digit 0-9, got '$BED'" >&2; exit 2 ;; esac
if [ "$BED" = 0 ]; then
  STATE=${TIDE_HOSTS_STATE:-/run/tide-hosts}
  PREFIX=tide-
else
  STATE=${TIDE_HOSTS_STATE:-/run/tide-hosts$BED}
  PREFIX=tide$BED-
fi
BRIDGE=tide-br$BED
NET=10.77.$BED

die() { echo "hosts.sh: $*" >&2; exit 2; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root to create network namespaces (run as root, or skip)"
  command -v ip > /dev/null || die "needs the ip command (iproute2)"
}

is_up() { [ -f "$STATE/hostfile" ]; }

hosts_of_state() { awk '{print $1}' "$STATE/hostfile"; }

up() {
  local hosts=$1 rate=$2
  need_root
  if is_up; then die "the bed is already up ($STATE): run 'scripts/hosts.sh down' first"; fi
  mkdir -p "$STATE"
  : > "$STATE/created"
  ip link add "$BRIDGE" type bridge
  echo "link $BRIDGE" >> "$STATE/created"
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  : > "$STATE/hostfile.tmp"
  for i in $(seq 1 "$hosts"); do
    local h=h$i
    local ns=$PREFIX$h veth=${PREFIX}v$i
    ip netns add "$ns"
    echo "netns $ns" >> "$STATE/created"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    echo "link $veth" >> "$STATE/created"
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$NET.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [ -n "$rate" ]; then
      tc qdisc add dev "$veth" root tbf rate "$rate" burst 256kb latency 50ms
      ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
    fi
    echo "$h slots=2 addr=$NET.$((10 + i))" >> "$STATE/hostfile.tmp"
  done
  awk '{print $1, $2}' "$STATE/hostfile.tmp" > "$STATE/hostfile"
  awk '{sub("addr=", "", $3); print $3, $1}' "$STATE/hostfile.tmp" > "$STATE/addresses"
  rm -f "$STATE/hostfile.tmp"
  # each host resolves every host's name, as on a cluster (ip netns exec mounts these files
  # over /etc/hosts inside the namespace)
  for i in $(seq 1 "$hosts"); do
    mkdir -p "/etc/netns/${PREFIX}h$i"
    echo "dir /etc/netns/${PREFIX}h$i" >> "$STATE/created"
    { echo "127.0.0.1 localhost"; cat "$STATE/addresses"; } > "/etc/netns/${PREFIX}h$i/hosts"
  done
  # the launch agent: Open MPI calls it as `agent [ssh options] host command...`
  cat > "$STATE/agent" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done   # ssh-style options Open MPI may pass
host=\$1; shift
exec ip netns exec "$PREFIX\$host" unshare --uts sh -c "hostname \$host; \$*"
AGENT
  chmod +x "$STATE/agent"
  echo "up: $hosts hosts on $BRIDGE ($NET.0/24)${rate:+, links shaped to $rate}"
}

down() {
  [ -f "$STATE/created" ] || { rm -rf "$STATE"; return 0; }
  # processes still in a namespace (a killed job's orted, say) go first
  tac "$STATE/created" | while read -r kind name; do
    case $kind in
      netns)
        for pid in $(ip netns pids "$name" 2> /dev/null); do kill -9 "$pid" 2> /dev/null || true; done
        ip netns del "$name" 2> /dev/null || true ;;
      link) ip link del "$name" 2> /dev/null || true ;;
      dir) rm -rf "$name" ;;
    esac
  done
  rm -rf "$STATE"
  rmdir /etc/netns 2> /dev/null || true   # only when empty: other beds' files stay
  echo "down"
}

# mpirun over the bed: N ranks spread evenly (--map-by node), TCP between hosts.
# mpi_yield_when_idle: the bed's "hosts" share this machine's cores, but each hostfile line
# says 2 slots, so Open MPI believes every rank has a core of its own and lets a waiting rank
# spin at full speed, starving the ranks that have work (and the kernel moving the bytes): a
# 1 MiB allreduce at 4 ranks took 65-130 ms that way, 5-15 ms yielding (AMD EPYC, 2 cores,
# under load). On a real cluster with a core per rank the spin is the faster choice.
bed_mpirun() {
  local n=$1; shift
  local nhosts
  nhosts=$(wc -l < "$STATE/hostfile")
  [ -n "$n" ] || n=$((2 * nhosts))
  local per=$(( (n + nhosts - 1) / nhosts ))
  awk -v s="$per" '{print $1, "slots=" s}' "$STATE/hostfile" > "$STATE/hostfile.run"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  OMPI_MCA_plm_rsh_agent="$STATE/agent" \
    mpirun --hostfile "$STATE/hostfile.run" -np "$n" --map-by node \
      --mca btl tcp,vader,self --mca btl_tcp_if_include "$NET.0/24" --mca mpi_yield_when_idle 1 \
      --mca oob_tcp_if_include "$NET.0/24" "$@"
}

parse_common() {
  N= HOSTS=2 RATE=
  while [ $# -gt 0 ]; do
    case $1 in
      -n) N=$2; shift 2 ;;
      --hosts) HOSTS=$2; shift 2 ;;
      --rate) RATE=$2; shift 2 ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  REST=("$@")
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  up) parse_common "$@"; up "$HOSTS" "$RATE" ;;
  down) need_root; down ;;
  status)
    if is_up; then echo "up:"; cat "$STATE/addresses"; else echo "down"; fi ;;
  run|mpirun)
    parse_common "$@"
    [ ${#REST[@]} -gt 0 ] || die "$cmd: expected a script (or -- command) to run"
    need_root
    made=0
    if ! is_up; then
      trap 'down > /dev/null' EXIT INT TERM
      up "$HOSTS" "$RATE" > /dev/null
      made=1
    fi
    if [ "$cmd" = run ]; then
      bed_mpirun "$N" "${TIDE_EXE:-$root/build/tide}" "${REST[@]}"
    else
      bed_mpirun "$N" "${REST[@]}"
    fi ;;
  *) die "usage: hosts.sh up|down|status|run|mpirun (see the header of scripts/hosts.sh)" ;;
esac
