#!/usr/bin/env bash
# The demo: installs what is missing and builds (scripts/setup.sh), then runs the main job:
# data-parallel training of an MLP on Fashion-MNIST on 2 ranks (examples/train_mnist.lua,
# 5 epochs; it prints the test accuracy after each epoch and writes metrics.jsonl).
#   TIDE_BUILD_DIR   build directory (default: build)
#   extra arguments go to the job, e.g. scripts/demo.sh --epochs 15
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TIDE_BUILD_DIR:-$root/build}

bash "$root/scripts/setup.sh"
cd "$root"
exec "$build/tide" run -n 2 examples/train_mnist.lua "$@"
