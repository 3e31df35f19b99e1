#!/usr/bin/env bash
# A SoftHSM token in a directory of its own: the one way the scripts and
# the integration tests (tests/integration/tokens.py) make one.
#
#   scripts/softhsm-token.sh DIR LABEL PIN [SO_PIN]
#
# Writes DIR/softhsm2.conf (tokens in DIR/tokens; never the system's
# configuration) unless it is there already, so several tokens can share
# DIR; initialises a free slot as token LABEL with user PIN PIN and SO PIN
# SO_PIN (default 12345678). Prints, for eval in a shell or parsing:
#   SOFTHSM2_CONF=DIR/softhsm2.conf
#   SOFTHSM_SLOT=N                    (the new token's slot id)
# softhsm2-util's own output goes to stderr only when it fails.
set -euo pipefail
if (($# < 3 || $# > 4)); then
  echo "usage: $0 DIR LABEL PIN [SO_PIN]" >&2
  exit 2
fi
dir=$1 label=$2 pin=$3 so_pin=${4:-12345678}

[[ $dir == /* ]] || dir=$PWD/$dir
mkdir -p "$dir/tokens"
conf=$dir/softhsm2.conf
if [[ ! -e $conf ]]; then
  cat > "$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
fi
if ! out=$(SOFTHSM2_CONF=$conf softhsm2-util --init-token --free \
             --label "$label" --pin "$pin" --so-pin "$so_pin" 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
# "The token has been initialized and is reassigned to slot N"
if [[ ! $out =~ reassigned\ to\ slot\ ([0-9]+) ]]; then
  printf 'no slot number from softhsm2-util:\n%s\n' "$out" >&2
  exit 1
fi
printf 'SOFTHSM2_CONF=%q\nSOFTHSM_SLOT=%s\n' "$conf" "${BASH_REMATCH[1]}"
