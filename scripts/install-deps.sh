#!/usr/bin/env bash
# Installs, with apt, what building and testing pkcs11prov needs, on
# Debian 12, Debian 13 or sid. Does nothing when everything is already
# there. Package names that differ between releases are chosen by what the
# archive offers, not by the release's name.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  build-essential cmake pkg-config clang libclang-rt-dev
  libssl-dev libssl-doc openssl libp11-kit-dev p11-kit
  softhsm2 opensc gnutls-bin
  libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-tools swtpm swtpm-tools
  tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon
  curl libcurl4-openssl-dev python3-pytest git ca-certificates
  debootstrap valgrind
)
# The swtpm TCTI: renamed for the 64-bit time_t transition (Debian 13 on);
# the old name is then a virtual package dpkg never reports as installed.
swtpm_tcti=(libtss2-tcti-swtpm0t64 libtss2-tcti-swtpm0)
# clang-format 19 for scripts/check-format.sh (its output differs between
# versions): Debian 12 has it as clang-format-19 beside its own 14, Debian
# 13's clang-format is 19. A release without clang-format-19 gets its own
# clang-format (the chroot tiers, which do not run the check).
clang_format=(clang-format-19 clang-format)

installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}
# A package the archive has a real (not only virtual) candidate for.
available() {
  local candidate
  candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [[ -n $candidate && $candidate != "(none)" ]]
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
tcti_ok=0
for p in "${swtpm_tcti[@]}"; do installed "$p" && tcti_ok=1; done
((tcti_ok)) || missing+=(swtpm-tcti)
format_ok=0
installed clang-format-19 && format_ok=1
installed clang-format && ! available clang-format-19 && format_ok=1
((format_ok)) || missing+=(clang-format-any)

((${#missing[@]})) || exit 0
echo "== installing: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "error: run as root (apt-get install needs it) or install: ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
if ((!tcti_ok)); then
  missing=("${missing[@]/swtpm-tcti/}")
  for p in "${swtpm_tcti[@]}"; do
    if available "$p"; then missing+=("$p"); break; fi
  done
fi
if ((!format_ok)); then
  missing=("${missing[@]/clang-format-any/}")
  for p in "${clang_format[@]}"; do
    if available "$p"; then missing+=("$p"); break; fi
  done
fi
apt-get install -y -qq --no-install-recommends ${missing[*]} > /dev/null
