#!/usr/bin/env bash
# Runs the suite in a chroot of another Debian release, made here with
# debootstrap from Debian's own archive:
#   scripts/tier.sh debian13   Debian 13 (trixie): OpenSSL 3.5, curl 8.14
#   scripts/tier.sh openssl4   Debian sid with OpenSSL 4.0 from experimental,
#                              libp11's engine package (which installs its
#                              own ossl-modules/pkcs11prov.so) and
#                              latchset's pkcs11-provider (pkcs11.so)
#   scripts/tier.sh NAME PYTEST-ARGS...
#                              only the gcc build and those integration
#                              tests (e.g. tests/integration/test_tls.py -x)
#   scripts/tier.sh bench-sid|bench-debian13 --run COMMAND...
#                              COMMAND in a chroot for benchmarks against
#                              the peers as Debian packages them: sid with
#                              its own OpenSSL 3 (one libcrypto per
#                              process), latchset's pkcs11-provider and
#                              libp11's provider; Debian 13 with
#                              pkcs11-provider (scripts/peers.sh)
# Inside: scripts/install-deps.sh, gcc and clang builds (-Werror), ctest on
# both, and the integration tests on real tokens with the gcc build. The
# sanitizer, TSan and fuzz runs stay on the host (scripts/test.sh).
#
# The chroot is kept in $PKCS11PROV_TIER_DIR (default
# /var/tmp/pkcs11prov-tiers/NAME) and reused while its recipe is unchanged;
# the source is copied in afresh each run. /proc, /sys and /dev are mounted
# only for the run and unmounted on every exit path; processes still
# running inside the chroot afterwards are killed by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

tier=${1:-}
shift || true
case "$tier" in
  debian13 | bench-debian13) suite=trixie ;;
  openssl4 | bench-sid) suite=sid ;;
  *) echo "usage: $0 debian13|openssl4|bench-sid|bench-debian13" >&2; exit 2 ;;
esac
[[ $(id -u) -eq 0 ]] || { echo "error: $0 needs root (debootstrap, chroot, mount)" >&2; exit 1; }

root=${PKCS11PROV_TIER_DIR:-/var/tmp/pkcs11prov-tiers}/$tier
mkdir -p "$(dirname "$root")"
# One run per chroot at a time: a second would replace /src under the
# first, and its clean-up would kill the first one's processes.
exec 9> "$root.lock"
flock 9
# The host's own Debian mirror (deb822 or one-line sources), else Debian's.
mirror=$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
           /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
         grep -oE 'https?://[^[:space:]]+' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

# What makes a chroot reusable: change any of it and the chroot is remade.
recipe="suite=$suite mirror=$mirror v=1"

step() { printf '\n== [%s] %s\n' "$tier" "$*"; }

write_apt_config() {
  local sources="deb $mirror $suite main"
  if [[ $tier == openssl4 ]]; then
    sources+=$'\n'"deb $mirror experimental main"
  fi
  if [[ $suite == sid ]]; then
    # sid's Release can look expired against a clock ahead of the mirror
    # snapshot: accepted in this chroot only, never on the host.
    echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99pkcs11prov-valid-until"
  fi
  printf '%s\n' "$sources" > "$root/etc/apt/sources.list"
  # No services start inside the chroot when packages install.
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
}

make_chroot() {
  if ! command -v debootstrap > /dev/null; then
    step "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
  fi
  if [[ -f $root/.pkcs11prov-recipe && $(cat "$root/.pkcs11prov-recipe") == "$recipe" ]]; then
    step "reusing the chroot in $root"
    return
  fi
  step "debootstrap $suite into $root"
  rm -rf "$root"
  mkdir -p "$root"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$root.debootstrap.log" 2>&1 || {
    tail -n 30 "$root.debootstrap.log" >&2
    echo "error: debootstrap $suite failed (log: $root.debootstrap.log)" >&2
    exit 1
  }
  write_apt_config
  echo "$recipe" > "$root/.pkcs11prov-recipe"
}

mounted=()
mount_all() {
  local fs
  for fs in proc sys dev dev/pts; do
    mkdir -p "$root/$fs"
    case $fs in
      proc) mount -t proc proc "$root/proc" ;;
      sys) mount -t sysfs sysfs "$root/sys" ;;
      dev) mount --bind /dev "$root/dev" ;;
      dev/pts) mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" ;;
    esac
    mounted+=("$root/$fs")
  done
}

# Every process whose root directory is the chroot: started by this run.
kill_chroot_processes() {
  local pid link pids=()
  for link in /proc/[0-9]*/root; do
    pid=${link#/proc/}; pid=${pid%/root}
    [[ $(readlink "$link" 2>/dev/null) == "$root" ]] && pids+=("$pid")
  done
  ((${#pids[@]})) || return 0
  echo "== [$tier] stopping processes left in the chroot: ${pids[*]}" >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  sleep 1
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

cleanup() {
  local i
  kill_chroot_processes
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
  done
}
trap cleanup EXIT

copy_source() {
  rm -rf "$root/src"
  mkdir -p "$root/src"
  if git -C "$repo" rev-parse --git-dir > /dev/null 2>&1; then
    git -C "$repo" ls-files -z --cached --others --exclude-standard |
      (cd "$repo" && xargs -0 tar --no-recursion -cf - 2>/dev/null) | tar -xf - -C "$root/src"
  else
    tar -C "$repo" --exclude='./build*' -cf - . | tar -xf - -C "$root/src"
  fi
}

in_chroot() {
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive TERM=dumb CI="${CI:-}" "$@"
}

make_chroot
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount_all
copy_source

step "packages"
in_chroot /src/scripts/install-deps.sh
if [[ $tier == openssl4 ]]; then
  # OpenSSL 4.0 from experimental over sid's 3.x, and the two packages
  # whose providers share our file names (libp11's pkcs11prov.so,
  # latchset's pkcs11.so): what users have installed beside us.
  in_chroot apt-get install -y -qq -t experimental openssl libssl-dev libssl4 > /dev/null
  in_chroot apt-get install -y -qq --no-install-recommends libengine-pkcs11-openssl \
    pkcs11-provider > /dev/null
fi
if [[ $tier == bench-* ]]; then
  # The peers, as Debian packages them (libp11's provider is in sid's
  # libengine-pkcs11-openssl >= 0.4.14; Debian 13's 0.4.13 has none).
  peers=(pkcs11-provider)
  [[ $suite == sid ]] && peers+=(libengine-pkcs11-openssl)
  in_chroot apt-get install -y -qq --no-install-recommends "${peers[@]}" > /dev/null
fi
in_chroot sh -c '. /etc/os-release; echo "$PRETTY_NAME"; openssl version; curl --version | head -n1; gcc --version | head -n1; clang --version | head -n1'

if [[ ${1:-} == --run ]]; then
  shift
  step "running $*"
  in_chroot "$@"
  exit
fi
step "suite"
in_chroot /src/scripts/test.sh --in-tier "$@"
