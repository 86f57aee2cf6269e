#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything, runs
# ctest and prints its summary. Exits non-zero if any test fails.
#   KEYHOLD_SANITIZE=1 bash tests/run.sh   runs it under ASan + UBSan
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/cmake/scripts/install-deps.sh"
"$root/cmake/scripts/build.sh"

build_dir="${KEYHOLD_BUILD_DIR:-$root/build}"
[[ "${KEYHOLD_SANITIZE:-0}" == 1 ]] && build_dir="${KEYHOLD_BUILD_DIR:-$root/build-asan}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}"
cd "$build_dir"
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 600
