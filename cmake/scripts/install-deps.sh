#!/usr/bin/env bash
# Installs the Debian 12 packages keyhold builds and tests with. Idempotent:
# installs only what is missing (apt-get update first, then
# --no-upgrade), so a second run touches nothing.
set -euo pipefail

packages=(
  cmake g++ make pkg-config ccache
  openssl libssl-dev
  libp11-dev libp11-kit-dev softhsm2
  libabsl-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libsystemd-dev
  libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  gnutls-bin python3-cryptography sqlite3 clang libclang-rt-14-dev
  nginx curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
  echo "keyhold: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-upgrade --no-install-recommends "${missing[@]}" >/dev/null
fi
