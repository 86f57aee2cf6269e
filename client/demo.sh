#!/usr/bin/env bash
# keyhold's main job, end to end, on an embedded default: a SoftHSM2 token
# in ./.keyhold (override with KEYHOLD_STATE_DIR). Installs what is missing,
# builds what it needs, runs. Safe to run again: it reuses the token.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state_dir="${KEYHOLD_STATE_DIR:-$PWD/.keyhold}"

"$root/cmake/scripts/install-deps.sh"
KEYHOLD_BUILD_TESTS="${KEYHOLD_BUILD_TESTS:-0}" \
  "$root/cmake/scripts/build.sh" keyhold-token-demo >/dev/null

build_dir="${KEYHOLD_BUILD_DIR:-$root/build}"
exec "$build_dir/tokens/keyhold-token-demo" --state-dir "$state_dir"
