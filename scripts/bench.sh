#!/usr/bin/env bash
# Runs every benchmark under tests/bench/ (or those named: scripts/bench.sh tensor allreduce).
# Each prints medians and its ratio to a C twin measured in the same run; none asserts a time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh" > /dev/null
export LUA_PATH="$root/scripts/?.lua;$root/scripts/?/init.lua;$root/tests/?.lua;;"
export LUA_CPATH="$root/build/lua/?.so;;"
export TIDE_BUILD_DIR="$root/build" TIDE_SOURCE_DIR="$root"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$root"/tests/bench/*.lua; do names+=("$(basename "$f" .lua)"); done
fi
for name in "${names[@]}"; do
  echo "== $name"
  lua5.4 "$root/tests/bench/$name.lua"
done
