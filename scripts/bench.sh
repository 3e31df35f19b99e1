#!/usr/bin/env bash
# Benchmarks pkcs11prov against raw Cryptoki (bench/p11bench.c): builds,
# creates a temporary SoftHSM token with one key per case, runs p11bench on
# it and on the null token (tests/nulltoken, for the provider's own
# overhead per signature), prints the tables and cleans up.
#   scripts/bench.sh
# Environment: BENCH_SECONDS (per measurement, default 2), BENCH_RUNS
# (default 3), BENCH_CASES (default: every case).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
seconds=${BENCH_SECONDS:-2}
runs=${BENCH_RUNS:-3}
cases=${BENCH_CASES:-ecdsa-p256 ecdsa-p384 rsa2048-pkcs1 rsa2048-pss ed25519}

build=$(scripts/build.sh normal)
bench=$repo/$build/bench/p11bench
provider_dir=$repo/$build/provider
null_module=$repo/$build/tests/nulltoken/libp11null.so
softhsm=/usr/lib/softhsm/libsofthsm2.so
pin=1234

work=$(mktemp -d /tmp/pkcs11prov-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tokens"
cat > "$work/softhsm2.conf" <<CONF
directories.tokendir = $work/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$work/softhsm2.conf
# No configuration file of the system's: the providers are loaded by path.
export OPENSSL_CONF=/dev/null
softhsm2-util --init-token --free --label bench --pin "$pin" \
  --so-pin 12345678 > /dev/null

keygen() { # label id key-type
  pkcs11-tool --module "$softhsm" --token-label bench --login --pin "$pin" \
    --keypairgen --key-type "$3" --label "$1" --id "$2" > /dev/null
}
key_for_case() { # case -> "label id key-type"
  case "$1" in
    ecdsa-p256) echo "b-p256 01 EC:prime256v1" ;;
    ecdsa-p384) echo "b-p384 02 EC:secp384r1" ;;
    rsa2048-pkcs1|rsa2048-pss) echo "b-rsa2048 03 rsa:2048" ;;
    ed25519) echo "b-ed25519 04 EC:edwards25519" ;;
    *) echo "unknown case $1" >&2; exit 2 ;;
  esac
}

echo "machine: $(uname -m), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo \
  | cut -d: -f2 | sed 's/^ *//'); $(openssl version)"
echo "each cell: $runs runs of ${seconds}s, provider and raw interleaved"

echo
echo "== SoftHSM $(softhsm2-util --version)"
made=" "    # the labels of the keys generated so far
header=1    # print p11bench's header line once, for the first case
for c in $cases; do
  read -r label id type <<< "$(key_for_case "$c")"
  if [[ $made != *" $label "* ]]; then
    keygen "$label" "$id" "$type"
    made+="$label "
  fi
  "$bench" --provider-dir "$provider_dir" --module "$softhsm" --pin "$pin" \
    --uri "pkcs11:token=bench;object=$label;id=%$id;type=private" \
    --case "$c" --seconds "$seconds" --runs "$runs" | tail -n +$((2 - header))
  header=0
done

echo
echo "== null token (tests/nulltoken: C_Sign costs nothing; overhead = 1/provider - 1/raw per thread)"
"$bench" --provider-dir "$provider_dir" --module "$null_module" \
  --uri "pkcs11:token=null-token;object=null-p256;id=%01;type=private" \
  --case ecdsa-p256 --seconds "$seconds" --runs "$runs" --overhead
