#!/usr/bin/env bash
# keyhold's main job, end to end, on an embedded default: a SoftHSM2 token in
# ./.keyhold (override with KEYHOLD_STATE_DIR). Installs what is missing,
# builds what it needs, then:
#   1. the token layer on its own: one key of each type made on the token,
#      each signing through OpenSSL and verified (keyhold-token-demo);
#   2. the agent on that token: keyholdd on a socket under the state dir,
#      keys generated, listed and shown through the keyhold CLI, a file
#      signed by the agent and verified with plain `openssl dgst`;
#   3. a CA on the token: a root CA (key demo-ca), then a server certificate
#      for localhost and client certificates for `client` and `client2`,
#      each key made on the token, its CSR signed by the key itself and
#      issued by the CA; every chain checked with `openssl verify`;
#   4. mTLS with the token key: nginx on loopback requiring client
#      certificates from that CA (its own server key, as a partner's would
#      be, certified by the CA); `keyhold request` calls it as `client` and
#      `client2` (the agent handshakes, the token signs), and curl without a
#      client certificate is refused;
#   5. the agent stopped with SIGTERM (it removes its socket).
# Safe to run again: it reuses the token and its keys.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state_dir="$(mkdir -p "${KEYHOLD_STATE_DIR:-$PWD/.keyhold}" && cd "${KEYHOLD_STATE_DIR:-$PWD/.keyhold}" && pwd)"

"$root/cmake/scripts/install-deps.sh"
echo "keyhold: building (first run takes a few minutes)..." >&2
build_dir="${KEYHOLD_BUILD_DIR:-$root/build}"
# A new build directory skips the tests (faster); an existing one keeps its
# setting, so the demo never turns off the tests of a developer's build.
tests_default=""
[[ -f "$build_dir/CMakeCache.txt" ]] || tests_default=0
KEYHOLD_BUILD_TESTS="${KEYHOLD_BUILD_TESTS:-$tests_default}" \
  "$root/cmake/scripts/build.sh" keyhold-token-demo keyholdd keyhold >/dev/null
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

say "3. a CA on the token: root, server and client certificates"
pki="$state_dir/pki"
mkdir -p "$pki"
subject_base="/C=BR/ST=SP/O=Example"
if "$keyhold" cert show demo-ca >"$pki/root-ca.pem" 2>/dev/null; then
  echo "(the root CA exists already: $pki/root-ca.pem)"
else
  echo "\$ keyhold ca init demo-ca --subject \"$subject_base/CN=Example Root CA\" --days 3650"
  "$keyhold" ca init demo-ca --subject "$subject_base/CN=Example Root CA" --days 3650 \
    --out "$pki/root-ca.pem"
fi
issue() {  # label purpose profile common-name [san]
  local label="$1" purpose="$2" profile="$3" cn="$4" san="${5:-}"
  if ! "$keyhold" key show "$label" >/dev/null 2>&1; then
    "$keyhold" key generate "$label" --type ec-p256 --purpose "$purpose" >/dev/null
  fi
  local san_args=()
  [[ -n "$san" ]] && san_args=(--san "$san")
  echo "\$ keyhold csr create $label --subject \"$subject_base/CN=$cn\"${san:+ --san $san} --out $label.csr"
  "$keyhold" csr create "$label" --subject "$subject_base/CN=$cn" "${san_args[@]}" \
    --out "$pki/$label.csr" >/dev/null
  echo "\$ keyhold ca sign demo-ca --profile $profile --csr $label.csr --out $label.pem"
  "$keyhold" ca sign demo-ca --profile "$profile" --csr "$pki/$label.csr" --out "$pki/$label.pem" \
    >/dev/null
  "$keyhold" cert import "$label" "$pki/$label.pem" >/dev/null
}
issue server sign server localhost "DNS:localhost,IP:127.0.0.1"
issue client tls-client client client
issue client2 tls-client client client2
echo "\$ openssl verify -x509_strict -purpose ... -CAfile root-ca.pem"
openssl verify -x509_strict -purpose sslserver -CAfile "$pki/root-ca.pem" "$pki/server.pem"
openssl verify -x509_strict -purpose sslclient -CAfile "$pki/root-ca.pem" \
  "$pki/client.pem" "$pki/client2.pem"
echo "\$ keyhold ca list demo-ca"
"$keyhold" ca list demo-ca | tail -n 5
echo "The PKI is in $pki: root-ca.pem, server.pem, client.pem, client2.pem (their keys stay on"
echo "the token: labels server, client, client2; see keyhold key list)."

say "4. mTLS to a real server with the token key"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
web="$state_dir/nginx"
mkdir -p "$web/logs"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$web/partner.key" \
  -subj "$subject_base/CN=localhost" -out "$web/partner.csr" 2>/dev/null
"$keyhold" ca sign demo-ca --profile server --csr "$web/partner.csr" --san DNS:localhost,IP:127.0.0.1 \
  --out "$web/partner.pem" >/dev/null
port="$(free_port)"
cat >"$web/nginx.conf" <<NGINX
$([[ "$(id -u)" == 0 ]] && echo "user root;")
worker_processes 1;
error_log $web/logs/error.log;
events { worker_connections 64; }
http {
  access_log $web/logs/access.log;
  client_body_temp_path $web/logs; proxy_temp_path $web/logs; fastcgi_temp_path $web/logs;
  uwsgi_temp_path $web/logs; scgi_temp_path $web/logs;
  server {
    listen 127.0.0.1:$port ssl;
    server_name localhost;
    ssl_certificate $web/partner.pem;
    ssl_certificate_key $web/partner.key;
    ssl_client_certificate $pki/root-ca.pem;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type text/plain; return 200 "hello \$ssl_client_s_dn, you came with \$ssl_protocol\n"; }
  }
}
NGINX
nginx -p "$web" -c "$web/nginx.conf" -g "daemon off; pid $web/nginx.pid;" 2>"$web/logs/stderr.log" &
nginx_pid=$!
stop_all() { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; stop_agent; }
trap stop_all EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "(nginx on 127.0.0.1:$port: ssl_verify_client on, client certificates from the demo CA)"
echo "\$ keyhold request https://localhost:$port/ --key client --cacert root-ca.pem -v"
"$keyhold" request "https://localhost:$port/" --key client --cacert "$pki/root-ca.pem" -v
echo "\$ keyhold request https://localhost:$port/ --key client2 --cacert root-ca.pem --tls-max 1.2"
"$keyhold" request "https://localhost:$port/" --key client2 --cacert "$pki/root-ca.pem" --tls-max 1.2
echo "\$ curl --cacert root-ca.pem https://localhost:$port/   (no client certificate)"
curl -sS --cacert "$pki/root-ca.pem" "https://localhost:$port/" | grep -o -m1 "<title>.*</title>" \
  | grep "No required SSL certificate was sent" || { echo "keyhold: nginx did not refuse a call without a client certificate" >&2; exit 1; }
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
trap stop_agent EXIT

say "5. stopping the agent"
stop_agent
trap - EXIT
[[ -e "$socket" ]] && { echo "keyhold: socket left behind" >&2; exit 1; }
echo "keyholdd drained and removed its socket; audit trail: $state_dir/agent/audit.log"
echo "Done. Run again to reuse the token; remove $state_dir to start over."
