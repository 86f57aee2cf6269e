#!/usr/bin/env bash
# keyhold's main job, end to end, on an embedded default: a SoftHSM2 token in
# ./.keyhold (override with KEYHOLD_STATE_DIR). Installs what is missing,
# builds what it needs, then:
#   1. the token layer on its own: one key of each type made on the token,
#      each signing through OpenSSL and verified (keyhold-token-demo);
#   2. the agent on that token: keyholdd on a socket under the state dir,
#      keys generated, listed and shown through the keyhold CLI, a file
#      signed by the agent and verified with plain `openssl dgst`;
#   3. the agent stopped with SIGTERM (it removes its socket).
# Safe to run again: it reuses the token and its keys.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state_dir="$(mkdir -p "${KEYHOLD_STATE_DIR:-$PWD/.keyhold}" && cd "${KEYHOLD_STATE_DIR:-$PWD/.keyhold}" && pwd)"

"$root/cmake/scripts/install-deps.sh"
echo "keyhold: building (first run takes a few minutes)..." >&2
KEYHOLD_BUILD_TESTS="${KEYHOLD_BUILD_TESTS:-0}" \
  "$root/cmake/scripts/build.sh" keyhold-token-demo keyholdd keyhold >/dev/null
build_dir="${KEYHOLD_BUILD_DIR:-$root/build}"
keyholdd="$build_dir/agent/keyholdd"
keyhold="$build_dir/client/keyhold"

say() { printf '\n== %s\n' "$*"; }

say "1. the token layer: keys made on the token, signing through OpenSSL"
"$build_dir/tokens/keyhold-token-demo" --state-dir "$state_dir"

say "2. the agent on the same token"
export SOFTHSM2_CONF="$state_dir/softhsm2.conf"
mkdir -p "$state_dir/run" "$state_dir/agent"
chmod 0700 "$state_dir/agent"
config="$state_dir/keyhold.toml"
socket="$state_dir/run/agent.sock"
cat >"$config" <<TOML
# Written by client/demo.sh; see docs/configuration.md.
socket = "$socket"
state_dir = "$state_dir/agent"
admins = [$(id -u)]
audit_journald = false
[token]
module = "/usr/lib/softhsm/libsofthsm2.so"
uri = "pkcs11:token=keyhold-demo"
pin_file = "$state_dir/user.pin"
[[key]]
label = "demo-signer"
purpose = "sign"
TOML
chmod 0600 "$config"
"$keyholdd" --config "$config" 2>"$state_dir/keyholdd.log" &
agent_pid=$!
stop_agent() {
  if kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid"
    wait "$agent_pid" || true
  fi
}
trap stop_agent EXIT
for _ in $(seq 100); do
  "$keyhold" --socket "$socket" status >/dev/null 2>&1 && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$state_dir/keyholdd.log" >&2; exit 1; }
  sleep 0.1
done
export KEYHOLD_SOCKET="$socket"
echo "\$ keyhold status"
"$keyhold" status

if ! "$keyhold" key show demo-signer >/dev/null 2>&1; then
  echo "\$ keyhold key generate demo-signer --type ec-p256 --purpose sign"
  "$keyhold" key generate demo-signer --type ec-p256 --purpose sign
fi
if ! "$keyhold" key show demo-ca >/dev/null 2>&1; then
  echo "\$ keyhold key generate demo-ca --type ec-p384 --purpose ca"
  "$keyhold" key generate demo-ca --type ec-p384 --purpose ca
fi
echo "\$ keyhold key list"
"$keyhold" key list

work="$state_dir/demo-files"
mkdir -p "$work"
echo "keyhold demo document, $(date -u +%FT%TZ)" >"$work/document.txt"
"$keyhold" key show demo-signer | sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' \
  >"$work/demo-signer.pub.pem"
echo "\$ keyhold sign demo-signer --digest sha256 --in document.txt --out document.sig"
"$keyhold" sign demo-signer --digest sha256 --in "$work/document.txt" --out "$work/document.sig"
echo "\$ openssl dgst -sha256 -verify demo-signer.pub.pem -signature document.sig document.txt"
openssl dgst -sha256 -verify "$work/demo-signer.pub.pem" -signature "$work/document.sig" "$work/document.txt"
echo "\$ keyhold sign demo-ca ...   (a CA key never signs raw digests)"
if "$keyhold" sign demo-ca --digest sha256 --in "$work/document.txt" --out "$work/ca.sig"; then
  echo "keyhold: the agent signed a raw digest with a CA key" >&2
  exit 1
fi

say "3. stopping the agent"
stop_agent
trap - EXIT
[[ -e "$socket" ]] && { echo "keyhold: socket left behind" >&2; exit 1; }
echo "keyholdd drained and removed its socket; audit trail: $state_dir/agent/audit.log"
echo "Done. Run again to reuse the token; remove $state_dir to start over."
