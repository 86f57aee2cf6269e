#!/bin/bash
# What loading keyhold-provider.so (unused) costs each certificate parse in
# an application: cert_parse_bench with the default provider alone, then
# with an openssl.cnf that also loads the module, alternating 3 rounds of
# CPU time, then once each under callgrind (instructions per parse, which
# do not drift with the machine's speed). No agent is needed: the module
# connects only when a key is used.
#
# Usage: tests/bench/cert_parse_bench.sh [BUILD_DIR] [parses per round]
set -euo pipefail

build=$(realpath "${1:-build}")
n=${2:-20000}
bench=$build/tests/bench/cert_parse_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=bench -days 1 2>/dev/null
source "$(dirname "$0")/provider_cnf.sh"
write_provider_cnf "$work/openssl.cnf" "$build/client/provider/keyhold-provider.so" \
  "$work/no-agent.sock"

echo "CPU per P-256 certificate parse (d2i_X509), $n parses per round:"
for round in 1 2 3; do
  plain=$(OPENSSL_CONF=/dev/null "$bench" "$work/cert.pem" "$n")
  loaded=$(OPENSSL_CONF="$work/openssl.cnf" "$bench" "$work/cert.pem" "$n")
  echo "  round $round: default provider only: $plain | with keyhold-provider.so: $loaded"
done

if command -v valgrind >/dev/null; then
  # Instructions per parse: the difference between runs of 200 and 400
  # parses, so that start-up (loading the configuration) cancels out.
  instructions() {
    OPENSSL_CONF=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
      "$bench" "$work/cert.pem" "$2" 2>&1 | sed -n 's/.*Collected : //p'
  }
  per_parse() {
    local a b
    a=$(instructions "$1" 200); b=$(instructions "$1" 400)
    echo $(( (b - a) / 200 ))
  }
  plain=$(per_parse /dev/null)
  loaded=$(per_parse "$work/openssl.cnf")
  python3 -c "p, l = $plain, $loaded; print(f'instructions per parse (callgrind): default provider only {p}, with keyhold-provider.so {l} (+{(l - p) / p * 100:.1f} %)')"
fi
