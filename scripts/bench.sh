#!/usr/bin/env bash
# Benchmarks pkcs11prov against raw Cryptoki (bench/): builds, creates a
# temporary SoftHSM token and a tpm2-pkcs11 token on a private swtpm, runs
# p11bench on them and on the null token (tests/nulltoken, for the
# provider's own overhead per operation), measures key load times, prints
# one table per token, the load-time table and the targets, and cleans up.
#   scripts/bench.sh
# Environment: BENCH_SECONDS (per measurement, default 1), BENCH_RUNS
# (default 3), BENCH_CASES (default: every case), BENCH_TPM=0 (skip the
# TPM), BENCH_TPM_SECONDS (default 0.5: the TPM does ~300 signatures/s),
# BENCH_SERVED=0 (skip the token served by p11-kit server),
# BENCH_SCALING=0 (skip the token-size table), BENCH_SCALING_SIZES
# (default "10 100 1000"; add 5000 for the largest, ~2 min more).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
seconds=${BENCH_SECONDS:-1}
runs=${BENCH_RUNS:-3}
all_cases="ecdsa-p256 ecdsa-p384 rsa2048-pkcs1 rsa2048-pss ed25519 ecdh-p256 rsa2048-oaep"
cases=${BENCH_CASES:-$all_cases}
# tpm2-pkcs11 1.9.0 has no EdDSA and no ECDH; its keys here are P-256 and
# RSA-2048.
tpm_capable="ecdsa-p256 rsa2048-pkcs1 rsa2048-pss rsa2048-oaep"
use_tpm=${BENCH_TPM:-1}
tpm_seconds=${BENCH_TPM_SECONDS:-0.5}
load_runs=5     # fresh processes per load-time cell
warm_loads=20   # loads after the first, in each of them

for c in $cases; do
  if [[ " $all_cases " != *" $c "* ]]; then
    echo "unknown case $c in BENCH_CASES (cases: $all_cases)" >&2
    exit 2
  fi
done

build=$(scripts/build.sh normal)
bench=$repo/$build/bench/p11bench
provider_dir=$repo/$build/provider
null_module=$repo/$build/tests/nulltoken/libp11null.so
softhsm=/usr/lib/softhsm/libsofthsm2.so
tpm2=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
pin=1234
so_pin=12345678

work=$(mktemp -d /tmp/pkcs11prov-bench.XXXXXX)
swtpm_pid_file=$work/tpm/swtpm.pid
p11kit_server_pid=
cleanup() {
  # p11-kit server and the p11-kit-remote it forked: its process group.
  if [[ -n $p11kit_server_pid ]]; then
    kill -- "-$p11kit_server_pid" 2> /dev/null || true
  fi
  # swtpm by its PID, after checking that the PID is still swtpm's.
  if [[ -f $swtpm_pid_file ]]; then
    local pid
    pid=$(cat "$swtpm_pid_file")
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == swtpm ]]; then
      kill "$pid"
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
out=$work/out.txt       # everything printed, for the targets at the end
loads=$work/loads.txt   # load-time rows, printed together at the end
: > "$loads"
say() { printf '%s\n' "$*" | tee -a "$out"; }
# Runs a setup command; its output is shown only when it fails.
quietly() {
  "$@" > "$work/setup.log" 2>&1 || { cat "$work/setup.log" >&2; return 1; }
}

# p11bench --load-time for one key; its row goes to $loads.
load_time() { # module uri [pin]
  local header=--no-header
  [[ -s $loads ]] || header=
  "$bench" --load-time $header --provider-dir "$provider_dir" --module "$1" \
    --uri "$2" ${3:+--pin "$3"} --load-runs "$load_runs" \
    --warm-loads "$warm_loads" >> "$loads"
}

key_for_case() { # case -> "label id key-type usages"
  case "$1" in
    ecdsa-p256|ecdh-p256) echo "p256 01 EC:prime256v1 --usage-sign,--usage-derive" ;;
    ecdsa-p384) echo "p384 02 EC:secp384r1 --usage-sign" ;;
    rsa2048-*) echo "rsa2048 03 rsa:2048 --usage-sign,--usage-decrypt" ;;
    ed25519) echo "ed25519 04 EC:edwards25519 --usage-sign" ;;
  esac
}

# Runs the cases on one token: makes each key on first use (keygen
# label id key-type usages), runs p11bench, then the load time of each key.
bench_token() { # module token-label seconds threads after-each case...
  local module=$1 token=$2 secs=$3 threads=$4 after=$5 made=" " header=
  local c label id type usages key
  shift 5
  for c in "$@"; do
    read -r label id type usages <<< "$(key_for_case "$c")"
    if [[ $made != *" $label:"* ]]; then
      keygen "$label" "$id" "$type" "${usages//,/ }"
      $after
      made+="$label:$id "
    fi
    "$bench" --provider-dir "$provider_dir" --module "$module" --pin "$pin" \
      --uri "pkcs11:token=$token;object=$label;id=%$id;type=private" \
      --case "$c" --seconds "$secs" --runs "$runs" --threads "$threads" \
      $header | tee -a "$out"
    $after
    header=--no-header
  done
  for key in $made; do
    load_time "$module" \
      "pkcs11:token=$token;object=${key%:*};id=%${key#*:};type=private" "$pin"
    $after
  done
}
nothing() { :; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mem=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
# shellcheck source=/dev/null
os=$(. /etc/os-release && echo "$PRETTY_NAME")
load=$(cut -d' ' -f1 /proc/loadavg)
say "machine: $(uname -m), $(nproc) CPUs ($cpu), $mem GiB RAM; $os; $(openssl version | cut -d' ' -f1-2); load average $load before the run"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  say "warning: the machine is busy (load average $load): other processes take CPU from the benchmark; its numbers are noisy"
fi
say "each cell: median (min-max) of $runs runs, provider and raw interleaved; prov/raw = ratio of the medians; xprov, xraw = N threads / 1 thread; CPUs p/r = CPUs the threads of each side kept busy"

# ---- SoftHSM ----------------------------------------------------------------
token=$(scripts/softhsm-token.sh "$work" bench "$pin" "$so_pin")
eval "$token"
export SOFTHSM2_CONF
# No configuration file of the system's: the providers are loaded by path.
export OPENSSL_CONF=/dev/null
keygen() { # label id key-type usages
  # shellcheck disable=SC2086 # $4: several options
  quietly pkcs11-tool --module "$softhsm" --token-label bench --login \
    --pin "$pin" --keypairgen --key-type "$3" --label "$1" --id "$2" $4
}
say
say "== SoftHSM $(softhsm2-util --version), token objects, ${seconds}s per measurement"
# shellcheck disable=SC2086 # $cases: a list
bench_token "$softhsm" bench "$seconds" 1,2,4 nothing $cases

# ---- the SoftHSM token served by p11-kit server -------------------------------
# Provider and raw Cryptoki both through p11-kit-client.so over a unix
# socket (BENCH_SERVED=0 skips it), on the SoftHSM token's P-256 key.
p11kit_client=$(pkg-config --variable=p11_module_path p11-kit-1)/p11-kit-client.so
if [[ ${BENCH_SERVED:-1} != 0 && " $cases " == *" ecdsa-p256 "* ]]; then
  socket=$work/p11kit.sock
  setsid p11-kit server -f -n "$socket" --provider "$softhsm" \
    "pkcs11:token=bench" > "$work/p11kit.log" 2>&1 &
  p11kit_server_pid=$!
  for _ in $(seq 100); do [[ -S $socket ]] && break; sleep 0.05; done
  say
  say "== SoftHSM served by p11-kit server $(pkg-config --modversion p11-kit-1) (p11-kit-client.so over a unix socket), ${seconds}s per measurement"
  P11_KIT_SERVER_ADDRESS=unix:path=$socket "$bench" \
    --provider-dir "$provider_dir" --module "$p11kit_client" --pin "$pin" \
    --uri "pkcs11:token=bench;object=p256;id=%01;type=private" \
    --case ecdsa-p256 --seconds "$seconds" --runs "$runs" --threads 1,2 |
    tee -a "$out"
  kill -- "-$p11kit_server_pid"
  p11kit_server_pid=
fi

# ---- null token ---------------------------------------------------------------
say
say "== null token (tests/nulltoken: answers at once; overhead = (1/provider - 1/raw) x threads), ${seconds}s per measurement"
"$bench" --provider-dir "$provider_dir" --module "$null_module" \
  --uri "pkcs11:token=null-token;object=null-p256;id=%01;type=private" \
  --case ecdsa-p256 --seconds "$seconds" --runs "$runs" --overhead \
  | tee -a "$out"
load_time "$null_module" "pkcs11:token=null-token;object=null-p256;id=%01;type=private"

# ---- tpm2-pkcs11 on swtpm --------------------------------------------------------
tpm_cases=""
for c in $cases; do
  [[ " $tpm_capable " == *" $c "* ]] && tpm_cases+="$c "
done
if [[ $use_tpm != 0 && -n $tpm_cases ]]; then
  mkdir -p "$work/tpm/state" "$work/tpm/store"
  # Ports P and P+1, tried again elsewhere when one is taken (swtpm then
  # exits with "Address already in use").
  started=0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    if swtpm socket --tpm2 --tpmstate dir="$work/tpm/state" \
         --server type=tcp,port=$port,bindaddr=127.0.0.1 \
         --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
         --flags not-need-init,startup-clear \
         --pid file="$swtpm_pid_file" --daemon 2> "$work/swtpm.err"; then
      started=1
      break
    fi
    grep -q "Address already in use" "$work/swtpm.err" || break
  done
  if [[ $started != 1 ]]; then
    cat "$work/swtpm.err" >&2
    echo "error: swtpm did not start" >&2
    exit 1
  fi
  export TPM2_PKCS11_TCTI="swtpm:host=127.0.0.1,port=$port"
  export TPM2TOOLS_TCTI=$TPM2_PKCS11_TCTI
  export TPM2_PKCS11_STORE=$work/tpm/store TPM2_PKCS11_LOG_LEVEL=0
  # No resource manager: the TPM holds 3 transient objects and 3 sessions,
  # so every step is followed by a flush (see /work/shared/TOKENS.md).
  flush_tpm() {
    quietly tpm2_flushcontext -t && quietly tpm2_flushcontext -l \
      && quietly tpm2_flushcontext -s
  }
  tpm_tool=(pkcs11-tool --module "$tpm2" --slot-index 0)
  quietly /usr/bin/python3 "$(command -v tpm2_ptool)" init \
    --path "$TPM2_PKCS11_STORE"
  flush_tpm
  quietly "${tpm_tool[@]}" --init-token --label bench-tpm --so-pin "$so_pin"
  flush_tpm
  quietly "${tpm_tool[@]}" --login --login-type so --so-pin "$so_pin" \
    --init-pin --new-pin "$pin"
  flush_tpm
  keygen() { # label id key-type usages
    # shellcheck disable=SC2086 # $4: several options
    quietly "${tpm_tool[@]}" --login --pin "$pin" --keypairgen \
      --key-type "$3" --label "$1" --id "$2" $4
  }
  say
  say "== tpm2-pkcs11 $(dpkg-query -W -f '${Version}' libtpm2-pkcs11-1 | cut -d- -f1) on swtpm $(swtpm --version | grep -o '[0-9][0-9.]*' | head -1) (calls serialized on both sides: not thread-safe), ${tpm_seconds}s per measurement"
  # shellcheck disable=SC2086 # $tpm_cases: a list
  bench_token "$tpm2" bench-tpm "$tpm_seconds" 1,2 flush_tpm $tpm_cases
fi

# ---- cost against the token's size ---------------------------------------------
if [[ ${BENCH_SCALING:-1} != 0 ]]; then
  say
  say "== cost against the token's size (scripts/scaling.sh): SoftHSM tokens of EC P-256 pairs; calls = searches/C_GetAttributeValue"
  SIZES=${BENCH_SCALING_SIZES:-10 100 1000} RUNS=$load_runs scripts/scaling.sh |
    tail -n +2 | tee -a "$out"
fi

# ---- key load times and the targets -------------------------------------------
say
say "== key load by URI (ms): cold = OSSL_STORE open+load in a fresh process; raw = C_Initialize+C_OpenSession+C_Login+C_FindObjects in a fresh process; warm = the same URI again, median of $warm_loads; $load_runs processes each"
tee -a "$out" < "$loads"

echo
echo "== targets (medians)"
targets=$(cat <<'AWK'
/^== SoftHSM served/ { section = "served"; next }
/^== SoftHSM/ { section = "softhsm"; next }
/^== null token/ { section = "null"; next }
/^== tpm2-pkcs11/ { section = "tpm"; next }
/^== key load/ { section = "load"; next }
/^== cost/ { section = "scaling"; next }
section == "scaling" && $1 ~ /^[0-9]+$/ && NF == 7 {
  split($6, sign_calls, "/"); split($7, list_calls, "/")
  sizes = sizes " " $1 ":" sign_calls[1] "/" list_calls[1]
  if (first_sign == "") { first_sign = sign_calls[1]; first_list = list_calls[1] }
  if (sign_calls[1] != first_sign || list_calls[1] != first_list) grows = 1
  next
}
/^== / || /^case / || /^token / || NF < 9 { next }
section == "softhsm" {
  rows++
  if (worst == "" || $7 + 0 < worst + 0) { worst = $7; worst_at = $1 " " $2 "thr" }
  if ($7 + 0 < 0.97) missed_ratio = missed_ratio " " $1 "/" $2 "thr=" $7
  if ($1 ~ /^ecdsa/ && $2 == 2) { scaling = scaling " " $1 "=" $8; if ($8 + 0 < 1.8) scale_missed = 1 }
}
section == "null" && $2 == 1 { overhead = $11 }
section == "served" {
  served = served " " $2 "thr=" $7
  if ($7 + 0 < 0.95) served_missed = 1
}
section == "load" && $1 != "null-token" {
  loads = loads " " $1 "/" $2 "=" $7 "x," $8 "ms"
  if ($7 + 0 > 1.5) cold_missed = 1
  if ($8 + 0 > 0.3) warm_missed = 1
}
function verdict(missed) { return missed ? "MISSED" : "met" }
END {
  if (rows) printf "provider >= 0.97 x raw on SoftHSM, every case and thread count: worst %s (%s) -> %s%s\n", worst, worst_at, verdict(missed_ratio != ""), missed_ratio == "" ? "" : ":" missed_ratio
  if (served != "") printf "provider >= 0.95 x raw on the token served by p11-kit server:%s -> %s\n", served, verdict(served_missed)
  if (overhead != "") printf "null-token overhead <= 2 us/signature (1 thread): %s us -> %s\n", overhead, verdict(overhead + 0 > 2)
  if (loads != "") printf "cold load <= 1.5 x raw baseline, warm load <= 0.3 ms (token/key=cold/raw,warm):%s -> cold %s, warm %s\n", loads, verdict(cold_missed), verdict(warm_missed)
  if (scaling != "") printf "2 threads >= 1.8 x 1 thread, provider, SoftHSM ECDSA:%s -> %s\n", scaling, verdict(scale_missed)
  if (sizes != "") printf "searches of sign/list the same at every token size (pairs:sign/list):%s -> %s\n", sizes, verdict(grows)
}
AWK
)
awk "$targets" "$out"
