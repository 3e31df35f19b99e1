#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds with gcc, clang, ASan+UBSan and libFuzzer, then runs the
# unit tests (ctest), a fuzz run, and the integration tests against real
# tokens (SoftHSM, tpm2-pkcs11 on swtpm, p11-kit) with the normal and the
# sanitizer build. Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

for flavour in normal clang asan fuzz; do
  step "build: $flavour"
  scripts/build.sh "$flavour"
done

for dir in build build-clang build-asan; do
  step "unit tests: $dir"
  ctest --test-dir "$dir" --output-on-failure -j2
done

step "fuzzing the URI parser and the URI key file decoder (${FUZZ_SECONDS}s in all)"
tests/fuzz/run-fuzz.sh build-fuzz "$FUZZ_SECONDS"

step "integration tests: normal build"
PKCS11PROV_BUILD_DIR="$PWD/build" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

step "integration tests: ASan+UBSan build"
# openssl and the modules are not instrumented: the sanitizer runtimes are
# preloaded into every process the tests start (not into pytest itself).
PKCS11PROV_BUILD_DIR="$PWD/build-asan" \
PKCS11PROV_TEST_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86" \
LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

step "all tests passed"
