#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds everything, runs
# ctest and prints its summary. Exits non-zero if any test fails.
#   KEYHOLD_SANITIZE=1 bash tests/run.sh   runs it under ASan + UBSan
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/cmake/scripts/install-deps.sh"
KEYHOLD_BUILD_TESTS=1 "$root/cmake/scripts/build.sh"

build_dir="${KEYHOLD_BUILD_DIR:-$root/build}"
[[ "${KEYHOLD_SANITIZE:-0}" == 1 ]] && build_dir="${KEYHOLD_BUILD_DIR:-$root/build-asan}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}"
# The CSR intake fuzzer: libFuzzer needs clang, so it has a build directory
# of its own holding only that target (KEYHOLD_FUZZ=ON).
fuzz_dir="${KEYHOLD_FUZZ_BUILD_DIR:-$root/build-fuzz}"
fuzz_args=(-S "$root" -B "$fuzz_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYHOLD_FUZZ=ON
           -DKEYHOLD_BUILD_TESTS=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
  fuzz_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake "${fuzz_args[@]}" >/dev/null
cmake --build "$fuzz_dir" -j"$(nproc 2>/dev/null || echo 2)" --target csr_fuzz >/dev/null

status=0
cd "$build_dir"
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 600 || status=$?
echo "keyhold: fuzzing the CSR intake for a bounded time (csr_fuzz_bounded)"
(cd "$fuzz_dir" && ctest --output-on-failure -R csr_fuzz_bounded --timeout 300) || status=$?
exit "$status"
