#!/usr/bin/env bash
# Installs what tide needs from Debian's archive (only what is missing), then configures and
# builds into build/. Safe to run any number of times.
#   TIDE_BUILD_DIR   build directory (default: build)
#   TIDE_CMAKE_ARGS  extra arguments for cmake's configure step
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TIDE_BUILD_DIR:-$root/build}

packages=(build-essential cmake pkg-config lua5.4 liblua5.4-dev libopenmpi-dev openmpi-bin
          libopenblas-dev liblapacke-dev lua-cjson lua-busted zlib1g-dev libreadline-dev
          libsodium-dev   # secure aggregation (core/secure)
          dataset-fashion-mnist tmux   # tmux: the REPL's terminal tests (tests/lua/repl_tty_spec.lua)
          python3-numpy clang libclang-rt-14-dev)   # numpy interop tests; fuzzing (tests/fuzz)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release ${TIDE_CMAKE_ARGS:-} > "$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)"
