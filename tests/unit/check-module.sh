#!/usr/bin/env bash
# The built provider module exports exactly OSSL_provider_init, and
# `cmake --install` puts it into OpenSSL's modules directory.
#   check-module.sh BUILD_DIR MODULE INSTALL_DIR
set -euo pipefail
build=$1 module=$2 install_dir=$3

exports=$(nm -D --defined-only "$module" | awk '{print $3}' | sort)
if [[ "$exports" != "OSSL_provider_init" ]]; then
  echo "FAIL: $module exports more than OSSL_provider_init:" >&2
  echo "$exports" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage cmake --install "$build" >/dev/null
if [[ ! -f "$stage$install_dir/pkcs11prov.so" ]]; then
  echo "FAIL: cmake --install did not put pkcs11prov.so in $install_dir" >&2
  find "$stage" -type f >&2
  exit 1
fi
echo "ok: exports only OSSL_provider_init; installs to $install_dir"
