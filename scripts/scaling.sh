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
# (ossl-modules/pkcs11prov.so), each in its own processes. The runs are
# interleaved: round by round, every provider once.
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

# Times in microseconds of one cell (a name), one line per run, in
# $work/times/NAME; a run that fails leaves its exit status in NAME.failed
# (the cell then shows it, a peer that crashes is not skipped).
mkdir -p "$work/times"
timed() { # name command...
  local t0 t1 status=0
  t0=$(date +%s%N)
  "${@:2}" > "$work/out" 2> "$work/err" || status=$?
  t1=$(date +%s%N)
  if ((status)); then
    [[ -f $work/times/$1.failed ]] || {
      echo "error: ${*:2} failed (exit status $status):" >&2
      tail -n 5 "$work/err" >&2
    }
    echo "exit $status" > "$work/times/$1.failed"
  else
    echo $(((t1 - t0) / 1000)) >> "$work/times/$1"
  fi
}
# The cell's median in ms, or the exit status it failed with.
median_of() {
  if [[ -f $work/times/$1.failed ]]; then
    cat "$work/times/$1.failed"
    return
  fi
  sort -n "$work/times/$1" |
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
  echo "$found" > "$work/$1-listed-count"
  [[ $1 != ours && $1 != pkcs11prov ]] || [[ $found == "$3" ]] ||
    { echo "$1 listed $found keys, not $3" >&2; return 1; }
}

# Who is timed: this build, and with PEERS=1 also this build and each peer
# installed, configured alike.
contenders=(ours)
if [[ ${PEERS:-0} == 1 ]]; then
  contenders+=(pkcs11prov)
  [[ ! -f $modules/pkcs11.so ]] || contenders+=(latchset)
  [[ ! -f $modules/pkcs11prov.so ]] || contenders+=(libp11)
fi

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
  # Interleaved: each round runs every contender once, starting with
  # the next one each time, so that the machine's drift (page cache,
  # other load) falls on all of them alike.
  for ((r = 0; r < runs; r++)); do
    for ((c = 0; c < ${#contenders[@]}; c++)); do
      who=${contenders[(r + c) % ${#contenders[@]}]}
      if [[ $who == ours ]]; then
        timed "ours-sign-$n" sign ours "$key?pin-value=$pin"
        timed "ours-list-$n" list ours "$keys" "$n"
      else
        timed "$who-sign-$n" sign "$who" "$key"
        timed "$who-list-$n" list "$who" "pkcs11:token=big$n;type=private" "$n"
      fi
    done
  done
  # Ours must not fail: a peer's failure is shown, ours stops the run.
  for f in "$work/times/ours-"*.failed "$work/times/pkcs11prov-"*.failed; do
    [[ ! -f $f ]] || { echo "error: $(basename "$f" .failed) failed" >&2; exit 1; }
  done
  for who in "${contenders[@]}"; do
    sign_ms[$who,$n]=$(median_of "$who-sign-$n")
    list_ms[$who,$n]=$(median_of "$who-list-$n")
    [[ $who == ours || ! -f $work/$who-listed-count ]] ||
      list_ms[$who,$n]+=" ($(cat "$work/$who-listed-count"))"
  done
  printf '%-6s %10s %10s %10s %10s %14s %14s\n' "$n" "$load" "$raw" \
    "${sign_ms[ours,$n]}" "${list_ms[ours,$n]}" \
    "$(calls sign ours "$key?pin-value=$pin")" "$(calls list ours "$keys" "$n")"
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
