#!/usr/bin/env bash
# How cost grows with the token: SoftHSM tokens of 10, 100 and 1,000 EC
# P-256 key pairs (each made once for the run, in a temporary directory),
# and for each, in fresh processes (medians):
#   load    p11bench --load-time: the key loaded by URI (OSSL_STORE), and
#           raw = C_Initialize + C_OpenSession + C_Login + C_FindObjects
#   sign    openssl dgst -sha256 -sign with the key's URI (by label)
#   list    openssl storeutl -keys of every private key
#   calls   searches (C_FindObjectsInit) and C_GetAttributeValue calls of
#           sign and list, counted through tests/faultmod (no fault)
# With PEERS=1, sign and list also through the peers installed as Debian
# packages: latchset's pkcs11-provider (pkcs11.so) and libp11's provider
# (ossl-modules/pkcs11prov.so), each in its own processes.
#   scripts/scaling.sh
# Environment: SIZES (default "10 100 1000"; 5000 takes ~2 min to make),
# RUNS (fresh processes per cell, default 5), PEERS=1,
# PKCS11PROV_BUILD_DIR (a build to use instead of building build/).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
sizes=${SIZES:-10 100 1000}
runs=${RUNS:-5}
build=${PKCS11PROV_BUILD_DIR:-$repo/$(scripts/build.sh normal)}
provider_dir=$build/provider
fault=$build/tests/faultmod/libp11fault.so
softhsm=/usr/lib/softhsm/libsofthsm2.so
modules=$(openssl version -m | sed -E 's/^MODULESDIR: "(.*)"$/\1/')
pin=1234

work=$(mktemp -d /tmp/pkcs11prov-scaling.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OPENSSL_CONF=/dev/null
echo hello > "$work/data"

# Median wall time in ms of `runs` runs of the command (which must succeed).
median_ms() {
  local i t0 t1 times=()
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N)
    local status=0
    "$@" > "$work/out" 2> "$work/err" || status=$?
    if ((status)); then
      echo "error: $* failed (exit status $status):" >&2
      tail -n 5 "$work/err" >&2
      echo "exit $status"
      return 1
    fi
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n |
    awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 1000 }'
}

# Our rows: the provider and module given on the command line, the PIN in
# the URI.
ours() { PKCS11PROV_MODULE=${MODULE:-$softhsm} openssl "$1" \
  -provider-path "$provider_dir" -provider pkcs11prov -provider default "${@:2}"; }

# The comparison: each provider from an openssl.cnf of its own, with the
# module and the PIN there (each provider's own keys), the same URIs
# without a PIN, and no terminal to prompt on.
peer_cnf() { # name module-file section-lines...
  {
    printf 'openssl_conf = init\n[init]\nproviders = providers\n'
    printf '[providers]\ndefault = default_sect\ntoken = token_sect\n'
    printf '[default_sect]\nactivate = 1\n[token_sect]\nmodule = %s\n' "$2"
    printf '%s\n' "${@:3}" activate=1
  } > "$work/$1.cnf"
}
peer_cnf pkcs11prov "$provider_dir/pkcs11prov.so" \
  "pkcs11-module-path = $softhsm" "pkcs11-module-token-pin = $pin"
peer_cnf latchset "$modules/pkcs11.so" \
  "pkcs11-module-path = $softhsm" "pkcs11-module-token-pin = $pin"
peer_cnf libp11 "$modules/pkcs11prov.so" identity=pkcs11prov \
  "pkcs11_module = $softhsm" "pin = $pin"
configured() { OPENSSL_CONF=$work/$1.cnf openssl "$2" "${@:3}" < /dev/null; }
pkcs11prov() { configured pkcs11prov "$@"; }
latchset() { configured latchset "$@"; }
libp11() { configured libp11 "$@"; }

sign() { "$1" dgst -sha256 -sign "$2" -out "$work/sig" "$work/data"; }
# Lists the keys; ours must list all n of them. A peer's count is kept
# for the table (libp11's store gives one object per URI).
list() {
  "$1" storeutl -keys "$2" > "$work/listed"
  local found
  found=$(grep -cE '^[0-9]+: ' "$work/listed" || true)
  echo "$found" > "$work/listed-count"
  [[ $1 != ours && $1 != pkcs11prov ]] || [[ $found == "$3" ]] ||
    { echo "$1 listed $found keys, not $3" >&2; return 1; }
}

# Searches and attribute calls of one command of ours, through the fault
# module (no fault).
calls() {
  rm -f "$work/calls"
  MODULE=$fault P11FAULT_MODULE=$softhsm P11FAULT_LOG=$work/calls "$@" > /dev/null
  printf '%s/%s' "$(grep -c '^C_FindObjectsInit$' "$work/calls")" \
    "$(grep -c '^C_GetAttributeValue$' "$work/calls")"
}

printf '%s; %s; SoftHSM %s; %d fresh processes per cell, medians\n' \
  "$(. /etc/os-release; echo "$PRETTY_NAME")" "$(openssl version | cut -d' ' -f1-2)" \
  "$(softhsm2-util --version)" "$runs"
printf '%-6s %10s %10s %10s %10s %14s %14s\n' pairs "load ms" "raw ms" \
  "sign ms" "list ms" "sign calls" "list calls"
declare -A sign_ms list_ms
for n in $sizes; do
  dir=$work/t$n
  mkdir -p "$dir"
  eval "$(scripts/softhsm-token.sh "$dir" "big$n" "$pin" 12345678)"
  export SOFTHSM2_CONF
  /usr/bin/python3 tests/integration/tokens.py keypairs "$softhsm" \
    "$SOFTHSM_SLOT" "$pin" EC:prime256v1 k 01 "$n" --usage-sign
  half=$((n / 2))
  key="pkcs11:token=big$n;object=k$half;type=private"
  keys="pkcs11:token=big$n;type=private?pin-value=$pin"
  id=$(printf '%%01%%%02X%%%02X' $((half >> 8)) $((half & 255)))
  "$build/bench/p11bench" --load-time --provider-dir "$provider_dir" \
    --module "$softhsm" --uri "pkcs11:token=big$n;object=k$half;id=$id;type=private" \
    --pin "$pin" --load-runs "$runs" --warm-loads 1 --no-header > "$work/load"
  read -r _ _ load _ raw _ < "$work/load"
  sign_ms[ours,$n]=$(median_ms sign ours "$key?pin-value=$pin")
  list_ms[ours,$n]=$(median_ms list ours "$keys" "$n")
  printf '%-6s %10s %10s %10s %10s %14s %14s\n' "$n" "$load" "$raw" \
    "${sign_ms[ours,$n]}" "${list_ms[ours,$n]}" \
    "$(calls sign ours "$key?pin-value=$pin")" "$(calls list ours "$keys" "$n")"
  if [[ ${PEERS:-0} == 1 ]]; then
    for peer in pkcs11prov latchset libp11; do
      case $peer in
        latchset) [[ -f $modules/pkcs11.so ]] || continue ;;
        libp11) [[ -f $modules/pkcs11prov.so ]] || continue ;;
      esac
      # A peer that fails is shown failing (its exit status), not skipped.
      sign_ms[$peer,$n]=$(median_ms sign "$peer" "$key") || true
      if list_ms[$peer,$n]=$(median_ms list "$peer" \
        "pkcs11:token=big$n;type=private" "$n"); then
        list_ms[$peer,$n]+=" ($(cat "$work/listed-count"))"
      fi
    done
  fi
done
if [[ ${PEERS:-0} == 1 ]]; then
  echo
  printf '%-6s %-34s %10s %16s\n' pairs provider "sign ms" "list ms (keys)"
  for n in $sizes; do
    for peer in pkcs11prov latchset libp11; do
      [[ -n ${sign_ms[$peer,$n]:-} ]] || continue
      case $peer in
        pkcs11prov) name="pkcs11prov (this build)" ;;
        latchset) name="pkcs11-provider $(dpkg-query -W -f '${Version}' pkcs11-provider)" ;;
        libp11) name="libp11 $(dpkg-query -W -f '${Version}' libengine-pkcs11-openssl)" ;;
      esac
      printf '%-6s %-34s %10s %16s\n' "$n" "$name" "${sign_ms[$peer,$n]}" \
        "${list_ms[$peer,$n]}"
    done
  done
fi
