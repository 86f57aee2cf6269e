#!/usr/bin/env bash
# Configures and builds keyhold. Usage: cmake/scripts/build.sh [target...]
#   KEYHOLD_BUILD_DIR   build directory (default: build, or build-asan)
#   KEYHOLD_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer build
#   KEYHOLD_BUILD_TESTS=0 / =1  skip / build tests and benchmarks (unset: keep
#                       the build directory's setting, ON for a new one)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

sanitize="${KEYHOLD_SANITIZE:-0}"
default_dir="$root/build"
[[ "$sanitize" == 1 ]] && default_dir="$root/build-asan"
build_dir="${KEYHOLD_BUILD_DIR:-$default_dir}"

args=(-S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo)
# Unset: whatever the build directory has (ON for a new one).
if [[ -n "${KEYHOLD_BUILD_TESTS:-}" ]]; then
  args+=(-DKEYHOLD_BUILD_TESTS="$([[ "$KEYHOLD_BUILD_TESTS" == 0 ]] && echo OFF || echo ON)")
fi
[[ "$sanitize" == 1 ]] && args+=(-DKEYHOLD_SANITIZE=ON)
if command -v ccache >/dev/null; then
  # Paths under the checkout hash as relative ones, so another clone of the
  # same sources (CI, a fresh clone) reuses the cache.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
  args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

cmake "${args[@]}" >/dev/null
jobs="$(nproc 2>/dev/null || echo 2)"
if (($# > 0)); then
  targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$build_dir" -j"$jobs" "${targets[@]}"
else
  cmake --build "$build_dir" -j"$jobs"
fi
