#!/bin/sh
# Runs each fuzz target for a while on a scratch copy of its seed corpus.
#   tests/fuzz/run-fuzz.sh BUILD_DIR SECONDS
# BUILD_DIR is a build configured with -DPKCS11PROV_FUZZ=ON (clang).
# SECONDS is the whole budget, split evenly between the targets:
#   fuzz_uri             the URI library        (corpus/uri, uri.dict)
#   fuzz_uri_file        URI key files, DER/PEM (corpus/uri_file, uri_file.dict)
#   fuzz_key_attributes  keys and certificates from a token's attributes
#                        (corpus/key_attributes, key_attributes.dict)
# Longer runs with a corpus that grows from run to run:
# scripts/fuzz-campaign.sh.
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
targets="fuzz_uri:uri fuzz_uri_file:uri_file fuzz_key_attributes:key_attributes"
count=3
each=$((seconds / count))
[ "$each" -ge 1 ] || each=1

find_fuzzer() {
    if [ -x "$build/tests/fuzz/$1" ]; then
        echo "$build/tests/fuzz/$1"
    else
        # a build tree with another layout
        find "$build" -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1
    fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

for entry in $targets; do
    name=${entry%%:*}
    seeds=${entry#*:}
    fuzzer=$(find_fuzzer "$name")
    if [ -z "$fuzzer" ] || [ ! -x "$fuzzer" ]; then
        echo "$0: no $name under $build (configure with -DPKCS11PROV_FUZZ=ON and build)" >&2
        exit 2
    fi
    cp -R "$here/corpus/$seeds" "$work/$seeds"
    echo "fuzzing with $fuzzer for ${each}s (corpus copy in $work/$seeds)"
    status=0
    "$fuzzer" -max_total_time="$each" -dict="$here/$seeds.dict" \
        -artifact_prefix="$artifacts/$name-" -print_final_stats=1 \
        "$work/$seeds" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$0: $name failed (exit $status); inputs kept in $artifacts/" >&2
        exit 1
    fi
    echo "$name: no crash in ${each}s ($(ls "$work/$seeds" | wc -l) corpus entries at the end)"
done
