#!/usr/bin/env bash
# A long fuzzing campaign: each libFuzzer target for SECONDS, on a corpus
# that persists from run to run (CI runs only tests/fuzz/run-fuzz.sh's
# short smoke run).
#
#   scripts/fuzz-campaign.sh [options] SECONDS
#     -b BUILD_DIR   a build with -DPKCS11PROV_FUZZ=ON (default build-fuzz,
#                    as scripts/build.sh fuzz makes it)
#     -c DIR         where corpora, artifacts and logs live (default
#                    ${XDG_CACHE_HOME:-~/.cache}/pkcs11prov-fuzz: outside
#                    the repository)
#     -j JOBS        targets fuzzed at the same time (default 1)
#     -w WORKERS     processes fuzzing each target (libFuzzer's fork mode,
#                    on the one corpus; default 1: no fork mode)
#     -t TARGET      only this target (fuzz_uri, ...); repeatable
#     -k             keep going after a crash (libFuzzer's fork mode with
#                    -ignore_crashes): every distinct failure is collected
#
# Each target's corpus (DIR/corpus/TARGET) starts from, and is always read
# with, the checked-in seeds (tests/fuzz/corpus/NAME); new inputs go to DIR
# only. At the end, one line per target: seconds, executions, exec/s,
# corpus entries, and failures (crashes, leaks, failed invariants,
# timeouts, out-of-memory), whose inputs are kept in
# DIR/artifacts/TARGET/RUN/ and whose reports are in DIR/logs/. Exits 1
# when any target failed, 2 on a usage or setup error.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

usage() {
  sed -n '6,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  echo "usage: $0 [-b BUILD_DIR] [-c DIR] [-j JOBS] [-w WORKERS] [-t TARGET]... [-k] SECONDS" >&2
  exit 2
}

build=$repo/build-fuzz
store=${XDG_CACHE_HOME:-$HOME/.cache}/pkcs11prov-fuzz
jobs=1
workers=1
keep_going=0
only=()
while getopts "b:c:j:w:t:kh" opt; do
  case $opt in
    b) build=$(cd "$OPTARG" && pwd) ;;
    c) mkdir -p "$OPTARG" && store=$(cd "$OPTARG" && pwd) ;;
    j) jobs=$OPTARG ;;
    w) workers=$OPTARG ;;
    t) only+=("$OPTARG") ;;
    k) keep_going=1 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
(($# == 1)) || usage
seconds=$1
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || usage
[[ $jobs =~ ^[0-9]+$ && $jobs -gt 0 ]] || usage
[[ $workers =~ ^[0-9]+$ && $workers -gt 0 ]] || usage
case $store/ in
  "$repo"/*) echo "error: keep the campaign's corpus outside the repository ($store)" >&2; exit 2 ;;
esac

# Targets: every fuzz_NAME built, with its seeds in tests/fuzz/corpus/NAME.
targets=()
for fuzzer in "$build"/tests/fuzz/fuzz_*; do
  [[ -x $fuzzer && -f $fuzzer ]] || continue
  name=$(basename "$fuzzer")
  [[ -d $repo/tests/fuzz/corpus/${name#fuzz_} ]] || continue
  if ((${#only[@]})); then
    [[ " ${only[*]} " == *" $name "* ]] || continue
  fi
  targets+=("$name")
done
if ((${#targets[@]} == 0)); then
  echo "error: no fuzz targets under $build/tests/fuzz (scripts/build.sh fuzz)" >&2
  exit 2
fi
for name in "${only[@]}"; do
  [[ " ${targets[*]} " == *" $name "* ]] || { echo "error: no target $name in $build" >&2; exit 2; }
done

run=$(date +%Y%m%d-%H%M%S)
mkdir -p "$store/logs"

# One target: fuzz, then write its result line to $store/logs/NAME-RUN.result
# (seconds executions exec/s corpus failures).
fuzz_target() {
  local name=$1 seeds=$repo/tests/fuzz/corpus/${1#fuzz_}
  local corpus=$store/corpus/$name artifacts=$store/artifacts/$name/$run
  local log=$store/logs/$name-$run.log dict=$repo/tests/fuzz/${1#fuzz_}.dict
  local args=() started=$SECONDS status=0
  mkdir -p "$corpus" "$artifacts"
  [[ -f $dict ]] && args+=(-dict="$dict")
  # A unit slower than 25 s is a hang: reported as a failure.
  args+=(-max_total_time="$seconds" -timeout=25 -print_final_stats=1
         -artifact_prefix="$artifacts/")
  if ((keep_going)); then
    args+=(-fork="$workers" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  elif ((workers > 1)); then
    args+=(-fork="$workers")
  fi
  # New inputs go to the first directory; the seeds are read every time.
  "$build/tests/fuzz/$name" "${args[@]}" "$corpus" "$seeds" > "$log" 2>&1 || status=$?
  local elapsed=$((SECONDS - started)) execs
  # Fork mode counts in its progress lines ("#N: cov: ..."), all
  # processes together (a child's stat:: lines, copied into the log when
  # it fails, are that child's alone); plain runs print
  # stat::number_of_executed_units.
  execs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -n 1)
  [[ -n $execs ]] || execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [[ -n $execs ]] || execs=0
  local rate failures
  rate=$((execs / (elapsed > 0 ? elapsed : 1)))
  failures=$(find "$artifacts" -type f | wc -l)
  # A fuzzer that stopped on an error without an input to show (it could
  # not start, or died in its initialisation) is a failure too.
  if ((status != 0 && failures == 0)); then failures=1; fi
  echo "$elapsed $execs $rate $(find "$corpus" -type f | wc -l) $failures" \
    > "$store/logs/$name-$run.result"
}

echo "campaign $run: ${targets[*]}, ${seconds}s each, $jobs at a time, $workers process(es) each, in $store"
running=0
for name in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  echo "  $name: started (log: $store/logs/$name-$run.log)"
  fuzz_target "$name" &
  running=$((running + 1))
done
wait

failed=0
printf '\n%-22s %8s %12s %9s %8s %9s\n' target seconds executions exec/s corpus failures
for name in "${targets[@]}"; do
  read -r elapsed execs rate corpus failures < "$store/logs/$name-$run.result"
  printf '%-22s %8s %12s %9s %8s %9s\n' "$name" "$elapsed" "$execs" "$rate" "$corpus" "$failures"
  ((failures == 0)) || failed=1
done
# What an input makes the fuzzer report, in one line: the failed invariant,
# or the sanitizer's verdict and the first frame in our sources.
signature() {
  local out frame
  out=$(timeout 60 "$1" "$2" 2>&1) || true
  frame=$(grep -m1 -oE " in [A-Za-z0-9_]+ $repo/(provider|uri|tests)/[^ ]+" <<< "$out" |
          sed -e "s|^ in | |" -e "s| $repo/| |")
  if grep -q "invariant failed" <<< "$out"; then
    grep -m1 "invariant failed" <<< "$out" | cut -c1-160
  elif grep -q "ERROR: " <<< "$out"; then
    echo "$(grep -m1 -oE "ERROR: [A-Za-z]+: [a-z-]+( [a-z-]+)*" <<< "$out")${frame:+ at$frame}"
  elif grep -q "runtime error" <<< "$out"; then
    grep -m1 -oE "[^ ]+: runtime error: .*" <<< "$out" | cut -c1-160
  else
    echo "no longer fails (exit status of a rerun: 0)"
  fi
}

for name in "${targets[@]}"; do
  read -r _ _ _ _ failures < "$store/logs/$name-$run.result"
  ((failures > 0)) || continue
  dir=$store/artifacts/$name/$run
  echo
  echo "$name: $failures failing inputs in $dir/ (report: $store/logs/$name-$run.log)"
  # One line per kind of failure: how many inputs, an example, the verdict.
  find "$dir" -type f | head -n 200 | while read -r input; do
    printf '%s\t%s\n' "$(signature "$build/tests/fuzz/$name" "$input")" "$input"
  done | sort | awk -F '\t' '{ n[$1]++; if (!($1 in ex)) ex[$1] = $2 }
    END { for (s in n) printf "  %4d  %s\n        e.g. %s\n", n[s], s, ex[s] }'
done
exit "$failed"
