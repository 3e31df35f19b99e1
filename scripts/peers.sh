#!/usr/bin/env bash
# pkcs11prov against the peers as Debian packages them, on SoftHSM tokens
# of growing size (scripts/scaling.sh with PEERS=1), each in a chroot the
# project makes (scripts/tier.sh):
#   bench-sid       Debian sid with its own OpenSSL 3: latchset's
#                   pkcs11-provider and libp11's provider
#                   (libengine-pkcs11-openssl)
#   bench-debian13  Debian 13: pkcs11-provider
#   scripts/peers.sh [bench-sid|bench-debian13]...
# Environment: SIZES, RUNS (see scaling.sh). Needs root (debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
((${#targets[@]})) || targets=(bench-sid bench-debian13)
for target in "${targets[@]}"; do
  scripts/tier.sh "$target" --run /usr/bin/env PEERS=1 \
    SIZES="${SIZES:-10 1000}" RUNS="${RUNS:-5}" /src/scripts/scaling.sh
done
