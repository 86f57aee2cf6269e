#!/bin/bash
# Handshakes per second of `openssl s_time -new` (client authentication on)
# with the client key held by keyholdd through keyhold-provider.so, against
# the same key type as a software key file. Goal: provider >= 0.70 x file.
# The file key also runs with the provider loaded (OPENSSL_CONF) but
# unused, which shows what OpenSSL itself pays for a second provider.
# The three clients alternate in rounds (3, or 5 s each for long runs), so
# a machine that slows down or speeds up during the run affects all alike.
#
# Usage: tests/bench/provider_s_time_bench.sh [BUILD_DIR] [SECONDS per client]
# Starts its own SoftHSM2 token, keyholdd and openssl s_server on loopback
# (a free port), in a temporary directory; stops them by PID on exit.
set -euo pipefail

build=$(realpath "${1:-build}")
seconds=${2:-10}
softhsm_module=/usr/lib/softhsm/libsofthsm2.so
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export SOFTHSM2_CONF=$work/softhsm2.conf
mkdir -p "$work/tokens" "$work/run" "$work/state"
chmod 0700 "$work/state"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$work/tokens" > "$SOFTHSM2_CONF"
echo 1234 > "$work/pin"; chmod 600 "$work/pin"
softhsm2-util --init-token --free --label bench --so-pin 5678 --pin 1234 >/dev/null
socket=$work/run/agent.sock
cat > "$work/agent.toml" <<TOML
socket = "$socket"
state_dir = "$work/state"
admins = [$(id -u)]
audit_journald = false
[token]
module = "$softhsm_module"
uri = "pkcs11:token=bench"
pin_file = "$work/pin"
[[key]]
label = "bench-ec"
purpose = "tls-client"
allow_raw_sign = true
[[key]]
label = "bench-rsa"
purpose = "tls-client"
allow_raw_sign = true
TOML
"$build/agent/keyholdd" --config "$work/agent.toml" 2> "$work/agent.log" &
pids+=($!)
for _ in $(seq 200); do "$build/client/keyhold" --socket "$socket" status >/dev/null 2>&1 && break; sleep 0.1; done
"$build/client/keyhold" --socket "$socket" status >/dev/null || { cat "$work/agent.log"; exit 1; }
keyhold() { "$build/client/keyhold" --socket "$socket" "$@"; }

source "$(dirname "$0")/provider_cnf.sh"
write_provider_cnf "$work/openssl.cnf" "$build/client/provider/keyhold-provider.so" "$socket" \
  "alg_section = algorithm_sect"
printf '[algorithm_sect]\ndefault_properties = ?provider=default\n' >> "$work/openssl.cnf"

cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
  -out ca.pem -subj /CN=bench-ca -days 1 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
  -out server.csr -subj /CN=localhost 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
  -out server.pem 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl s_server -quiet -accept "127.0.0.1:$port" -cert server.pem -key server.key \
  -CAfile ca.pem -Verify 1 -verify_return_error -www > s_server.log 2>&1 &
pids+=($!)
sleep 0.5

# At least 3 rounds; long runs use 5-second rounds, so the three clients
# interleave finely enough that the VM's drift hits them alike.
rounds=$(( seconds >= 15 ? seconds / 5 : 3 ))
round_seconds=$(( seconds / rounds > 0 ? seconds / rounds : 1 ))
# connections KEYFILE CERTFILE [env...]: "CONNECTIONS SECONDS" of one s_time run
connections() {
  local key=$1 cert=$2; shift 2
  env "$@" openssl s_time -connect "127.0.0.1:$port" -new -time "$round_seconds" \
    -cert "$cert" -key "$key" -CAfile ca.pem 2>&1 |
    sed -n 's/^\([0-9]*\) connections in \([0-9]*\) real seconds.*/\1 \2/p' | head -1
}
rate() {  # rate "C1 S1" "C2 S2" ...: wall-clock rate (the agent's CPU counts too)
  printf '%s\n' "$@" | awk '{ c += $1; s += $2 } END { printf "%.1f", c / s }'
}

for kind in ec rsa; do
  if [ "$kind" = ec ]; then type=ec-p256; newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  else type=rsa-2048; newkey=(-newkey rsa:2048); fi
  keyhold key generate "bench-$kind" --type "$type" --purpose tls-client >/dev/null
  keyhold key show "bench-$kind" --reference > "bench-$kind.ref.pem"
  OPENSSL_CONF=$work/openssl.cnf openssl req -new -key "keyhold:bench-$kind" \
    -subj "/CN=bench-$kind" -out agent.csr
  openssl x509 -req -in agent.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -out "agent-$kind.pem" 2>/dev/null
  openssl req -new "${newkey[@]}" -nodes -keyout "file-$kind.key" -out file.csr \
    -subj "/CN=file-$kind" 2>/dev/null
  openssl x509 -req -in file.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -out "file-$kind.pem" 2>/dev/null

  file=(); loaded=(); agent=()
  for _ in $(seq "$rounds"); do
    file+=("$(connections "file-$kind.key" "file-$kind.pem")")
    loaded+=("$(connections "file-$kind.key" "file-$kind.pem" OPENSSL_CONF="$work/openssl.cnf")")
    agent+=("$(connections "bench-$kind.ref.pem" "agent-$kind.pem" OPENSSL_CONF="$work/openssl.cnf")")
  done
  file_rate=$(rate "${file[@]}")
  loaded_rate=$(rate "${loaded[@]}")
  agent_rate=$(rate "${agent[@]}")
  ratios=$(python3 -c "a, f, l = $agent_rate, $file_rate, $loaded_rate; print(f'{a / f:.2f} ({a / l:.2f} vs the file key with the provider loaded)')")
  printf '%-4s file key: %7s/s   file key, provider loaded: %7s/s   agent key (provider): %7s/s   ratio %s (goal >= 0.70)\n' \
    "$kind" "$file_rate" "$loaded_rate" "$agent_rate" "$ratios"
done
