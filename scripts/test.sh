#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 or 13 machine, as root.
#
#   scripts/test.sh                  every tier below
#   scripts/test.sh --tier host      this machine only
#   scripts/test.sh --tier debian13  a Debian 13 chroot (OpenSSL 3.5)
#   scripts/test.sh --tier openssl4  a Debian sid chroot with OpenSSL 4.0
#
# host: installs what is missing, checks the C sources' formatting
# (scripts/check-format.sh), builds with gcc, clang, ASan+UBSan,
# ThreadSanitizer and libFuzzer, then runs the unit tests (ctest), a fuzz
# run, the integration tests against real tokens (SoftHSM, tpm2-pkcs11 on
# swtpm, p11-kit) with the normal and the ASan build, and the thread and
# fork tests with the TSan build, and a subset of the integration tests
# under valgrind memcheck. The chroot tiers (scripts/tier.sh) build
# with gcc and clang and run ctest and the integration tests inside a
# system this script makes with debootstrap. Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

step() { printf '\n== %s\n' "$*"; }
# The integration tests with the build in $1; pytest arguments follow.
integration() {
  PKCS11PROV_BUILD_DIR="$PWD/$1" /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider "${@:2}"
}

# Inside a chroot tier: gcc and clang builds, ctest, integration tests;
# with pytest arguments after --in-tier, the gcc build and those only.
if [[ ${1:-} == --in-tier ]]; then
  shift
  step "dependencies"
  scripts/install-deps.sh
  if (($#)); then
    scripts/build.sh normal
    integration build "$@"
    exit
  fi
  for flavour in normal clang; do
    step "build: $flavour"
    scripts/build.sh "$flavour"
  done
  for dir in build build-clang; do
    step "unit tests: $dir"
    ctest --test-dir "$dir" --output-on-failure -j2
  done
  step "integration tests: normal build"
  # The host tier runs the many-clients test 20 times (normal and ASan);
  # here a few rounds show the same on this system's p11-kit and OpenSSL.
  PKCS11PROV_CLIENT_ROUNDS=${PKCS11PROV_CLIENT_ROUNDS:-3} \
    integration build tests/integration
  exit 0
fi

tiers=()
while (($#)); do
  case "$1" in
    --tier) tiers+=("${2:?--tier needs a name}"); shift 2 ;;
    *) echo "usage: $0 [--tier host|debian13|openssl4]..." >&2; exit 2 ;;
  esac
done
if ((${#tiers[@]} == 0)); then
  tiers=(host debian13 openssl4)
  # On Debian 13 itself the host tier is the Debian 13 tier.
  [[ $(. /etc/os-release; echo "${VERSION_CODENAME:-}") == trixie ]] && tiers=(host openssl4)
fi
for tier in "${tiers[@]}"; do
  case "$tier" in
    host | debian13 | openssl4) ;;
    *) echo "error: unknown tier '$tier' (host, debian13, openssl4)" >&2; exit 2 ;;
  esac
done

host_tier() {
  step "dependencies"
  scripts/install-deps.sh

  # Before the builds: it takes seconds. Host tier only: it needs the one
  # clang-format version the tree is formatted with (19).
  step "source formatting: clang-format 19 (scripts/check-format.sh)"
  scripts/check-format.sh

  for flavour in normal clang asan tsan fuzz; do
    step "build: $flavour"
    scripts/build.sh "$flavour"
  done

  for dir in build build-clang build-asan; do
    step "unit tests: $dir"
    ctest --test-dir "$dir" --output-on-failure -j2
  done

  step "fuzzing the URI parser, the URI key file decoder and key building (${FUZZ_SECONDS}s in all)"
  tests/fuzz/run-fuzz.sh build-fuzz "$FUZZ_SECONDS"

  step "integration tests: normal build"
  integration build tests/integration

  step "integration tests: ASan+UBSan build"
  # openssl and the modules are not instrumented: the sanitizer runtimes are
  # preloaded into every process the tests start (not into pytest itself).
  PKCS11PROV_TEST_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86" \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    integration build-asan tests/integration

  step "integration tests under valgrind memcheck: normal build (a subset, ~1 min)"
  # One test each of sign, decrypt, derive (ECDH), keygen, store (storeutl
  # listing) and TLS on SoftHSM, with the openssl CLI and with a C program:
  # every process that loads the provider runs under memcheck (helpers.run,
  # PKCS11PROV_TEST_VALGRIND), its report in a file the test reads. An
  # error, or a definite leak, fails the test with the report.
  # tests/valgrind.supp silences third-party code only (one entry each,
  # with the reason). --keep-debuginfo: OpenSSL unloads the provider before
  # the leak check, and its frames would otherwise read "???".
  PKCS11PROV_TEST_VALGRIND="valgrind --tool=memcheck --error-exitcode=97 \
--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
--keep-debuginfo=yes --num-callers=40 --suppressions=$PWD/tests/valgrind.supp" \
    integration build \
      "tests/integration/test_sign.py::test_dgst_sign[cli-rsa2048-sha256]" \
      "tests/integration/test_c_programs.py::test_store_sign[ec-p256]" \
      "tests/integration/test_decrypt.py::test_decrypt_round_trip[cli-rsa2048-oaep-sha256]" \
      "tests/integration/test_ecdh.py::test_derive_equals_software[cli-ec-p256]" \
      "tests/integration/test_ecdh.py::test_c_ecdh_derive[ec-p256]" \
      "tests/integration/test_keygen.py::test_genpkey_on_softhsm[cli-ec-p256]" \
      "tests/integration/test_keygen.py::test_c_token_keygen[ec-p256]" \
      "tests/integration/test_keys.py::test_storeutl_everything_in_order[cli-softhsm]" \
      "tests/integration/test_tls.py::test_tls_token_key[ec-p256-tls1.3-ecdsa_secp256r1_sha256-client]" \
      "tests/integration/test_tls_c.py::test_sequential_handshakes_one_login[ec-p256-1.3-client]"

  step "thread and fork tests: ThreadSanitizer build"
  # Only what runs threads or forks (~40 s): test_load.py (concurrent
  # signing and loading, fork while signing), store_sign's thread and fork
  # tests, the concurrent TLS handshakes, the threads waiting for sessions,
  # threads on connections of their own to a key server and its restart
  # under them (lanes). The provider and the test programs
  # are instrumented, openssl and the modules are not: the runtime is
  # preloaded into every process that loads our code. tests/tsan.supp
  # silences reports inside third-party code only (one entry each, with the
  # reason); a report that involves our code fails the test (exit status 66).
  # A report printed in a process before it forks also fails its children
  # (they inherit TSan's report count): read the first report.
  # second_deadlock_stack: both stacks of a lock-order inversion.
  # ignore_noninstrumented_modules: libc calls (memcmp, mutexes) made by
  # uninstrumented libraries are not checked as if they were ours; their
  # synchronisation still counts. Needed from OpenSSL 3.5 (lock-free reads
  # TSan cannot see) and p11-kit 0.25 (its own mutexes across fork); our
  # code, instrumented, is checked as before.
  # die_after_fork stays at its default (1): the children the fork tests
  # start create no threads; a child that did would be unsupported by TSan
  # and should fail loudly rather than hang.
  # The session pool's and the runner's unit tests first: instrumented
  # whole, they check the lock-free pool directly (8 threads borrowing).
  TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:second_deadlock_stack=1" \
    ctest --test-dir build-tsan -R "^(sessions|runner)_" --output-on-failure -j2
  PKCS11PROV_TEST_PRELOAD="$(gcc -print-file-name=libtsan.so)" \
  TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:second_deadlock_stack=1:ignore_noninstrumented_modules=1" \
    integration build-tsan \
      tests/integration/test_load.py tests/integration/test_c_programs.py \
      tests/integration/test_tls_c.py tests/integration/test_reuse.py \
      tests/integration/test_remote.py \
      -k "test_load or threads_share or fork or concurrent_handshakes or threads_wait or connections_of_their_own or restarts"

}

for tier in "${tiers[@]}"; do
  started=$SECONDS
  if [[ $tier == host ]]; then
    step "tier host: $(. /etc/os-release; echo "$PRETTY_NAME"), $(openssl version 2>/dev/null || echo 'openssl not yet installed')"
    host_tier
  else
    scripts/tier.sh "$tier"
  fi
  step "tier $tier passed in $((SECONDS - started)) s"
done
step "all tests passed (tiers: ${tiers[*]})"
