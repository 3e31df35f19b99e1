#!/bin/sh
# Runs the URI fuzzer for a while on a scratch copy of the seed corpus.
#   tests/fuzz/run-fuzz.sh BUILD_DIR SECONDS
# BUILD_DIR is a build configured with -DPKCS11PROV_FUZZ=ON (clang).
# Exits non-zero on any crash, leak or failed invariant; the crashing
# input is kept in BUILD_DIR/fuzz-artifacts/. The checked-in corpus is
# never modified.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
seconds=$2
case $seconds in
    ''|*[!0-9]*) echo "$0: SECONDS must be a number" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
fuzzer=$build/tests/fuzz/fuzz_uri
if [ ! -x "$fuzzer" ]; then
    # a build tree with another layout
    fuzzer=$(find "$build" -type f -name fuzz_uri -perm -u+x 2>/dev/null | head -n 1)
fi
if [ -z "$fuzzer" ] || [ ! -x "$fuzzer" ]; then
    echo "$0: no fuzz_uri under $build (configure with -DPKCS11PROV_FUZZ=ON and build)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz_uri.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cp -R "$here/corpus/uri" "$work/corpus"
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

echo "fuzzing with $fuzzer for ${seconds}s (corpus copy in $work)"
status=0
"$fuzzer" -max_total_time="$seconds" -dict="$here/uri.dict" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
    echo "$0: fuzz_uri failed (exit $status); inputs kept in $artifacts/" >&2
    exit 1
fi
echo "fuzz_uri: no crash in ${seconds}s ($(ls "$work/corpus" | wc -l) corpus entries at the end)"
