#!/usr/bin/env bash
# Configures and builds one flavour of pkcs11prov; prints the build dir.
#   scripts/build.sh normal|clang|asan|tsan|fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-normal}
case "$flavour" in
  normal) dir=build;       args=(-DCMAKE_C_COMPILER=gcc) ;;
  clang)  dir=build-clang; args=(-DCMAKE_C_COMPILER=clang) ;;
  asan)   dir=build-asan;  args=(-DCMAKE_C_COMPILER=gcc -DPKCS11PROV_SANITIZE=ON
                                 -DCMAKE_BUILD_TYPE=Debug) ;;
  # ThreadSanitizer: the provider and the test programs (not the examples,
  # which the TSan run does not use).
  tsan)   dir=build-tsan;  args=(-DCMAKE_C_COMPILER=gcc -DPKCS11PROV_TSAN=ON
                                 -DPKCS11PROV_EXAMPLES=OFF) ;;
  fuzz)   dir=build-fuzz;  args=(-DCMAKE_C_COMPILER=clang -DPKCS11PROV_FUZZ=ON) ;;
  *) echo "usage: $0 normal|clang|asan|tsan|fuzz" >&2; exit 2 ;;
esac
mkdir -p "$dir"
if ! { cmake -S . -B "$dir" "${args[@]}" && cmake --build "$dir" -j"$(nproc)"; } \
     > "$dir/build.log" 2>&1; then
  cat "$dir/build.log" >&2
  echo "error: the $flavour build failed" >&2
  exit 1
fi
echo "$dir"
