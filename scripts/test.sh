#!/usr/bin/env bash
# Runs every test: setup (packages and build, warnings as errors), then ctest over the C,
# single-process Lua, host and MPI suites, then the C and Lua suites again under
# AddressSanitizer and UndefinedBehaviorSanitizer. Ends with ctest's summary line.
#   TIDE_SKIP_SANITIZE=1  skip the sanitizer pass
#   CTEST_ARGS            extra ctest arguments (e.g. -R tensor)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

status=0
if [ -z "${TIDE_SKIP_SANITIZE:-}" ]; then
  echo "== sanitizer build (ASan + UBSan): C and single-process Lua suites"
  TIDE_BUILD_DIR="$root/build-sanitize" TIDE_CMAKE_ARGS="-DTIDE_SANITIZE=ON -DTIDE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo" \
    bash "$root/scripts/setup.sh"
  (cd "$root/build-sanitize" && ctest -L '^(c|lua)$' --output-on-failure -j 2 ${CTEST_ARGS:-}) \
    || status=1
fi

echo "== main build: every suite"
TIDE_CMAKE_ARGS="-DTIDE_WERROR=ON" bash "$root/scripts/setup.sh"
cd "$root/build"
# MPI tests claim both cores (PROCESSORS 2), so ctest runs them one at a time.
ctest --output-on-failure -j 2 ${CTEST_ARGS:-} || status=1
exit $status
