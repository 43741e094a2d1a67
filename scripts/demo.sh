#!/usr/bin/env bash
# The demo: installs what is missing and builds (scripts/setup.sh), then runs the main job on
# 2 ranks with `tide run`. Until the training job lands the main job is examples/hello.lua:
# every rank reports itself and the ranks check that they agree on an allreduce.
#   TIDE_BUILD_DIR   build directory (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TIDE_BUILD_DIR:-$root/build}

bash "$root/scripts/setup.sh"
cd "$root"
exec "$build/tide" run -n 2 examples/hello.lua
