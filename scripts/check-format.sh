#!/usr/bin/env bash
# Checks that the C sources and headers are formatted as .clang-format says.
#
#   scripts/check-format.sh         lists the files clang-format would
#                                   change; exits 1 if there are any
#   scripts/check-format.sh --fix   rewrites those files in place
#
# The files: the *.c and *.h git tracks under provider/, uri/, examples/,
# bench/ and tests/ (so build directories and generated files never count).
# None of them is third-party code.
#
# clang-format's output changes between major versions, so one version is
# the reference: 19, Debian 13's clang-format, which Debian 12 has as
# clang-format-19 (its own clang-format is 14). scripts/install-deps.sh
# installs it. CLANG_FORMAT=/path/to/clang-format overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/.."

want_major=19
dirs=(provider uri examples bench tests)

fix=0
case "${1:-}" in
  "") ;;
  --fix) fix=1 ;;
  *) echo "usage: $0 [--fix]" >&2; exit 2 ;;
esac
(($# <= 1)) || { echo "usage: $0 [--fix]" >&2; exit 2; }

major() { "$1" --version 2>/dev/null | sed -nE 's/.*clang-format version ([0-9]+)\..*/\1/p'; }

cf=${CLANG_FORMAT:-}
if [[ -z $cf ]]; then
  for candidate in "clang-format-$want_major" clang-format; do
    if command -v "$candidate" > /dev/null && [[ $(major "$candidate") == "$want_major" ]]; then
      cf=$candidate
      break
    fi
  done
  if [[ -z $cf ]]; then
    echo "error: needs clang-format $want_major (scripts/install-deps.sh, or apt-get install clang-format-$want_major)" >&2
    exit 2
  fi
elif ! command -v "$cf" > /dev/null; then
  echo "error: CLANG_FORMAT=$cf: not found" >&2
  exit 2
elif [[ $(major "$cf") != "$want_major" ]]; then
  echo "warning: $cf is clang-format $(major "$cf"), not $want_major: its output may differ" >&2
fi

git rev-parse --is-inside-work-tree > /dev/null 2>&1 || {
  echo "error: not a git checkout: the files to check are the tracked ones" >&2
  exit 2
}
pathspecs=()
for d in "${dirs[@]}"; do pathspecs+=("$d/*.c" "$d/*.h"); done
files=()
while IFS= read -r -d '' f; do
  [[ -f $f ]] && files+=("$f")
done < <(git ls-files -z -- "${pathspecs[@]}")
((${#files[@]})) || { echo "error: no C files found under ${dirs[*]}" >&2; exit 2; }

bad=()
for f in "${files[@]}"; do
  "$cf" --style=file --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f")
done

if ((${#bad[@]} == 0)); then
  echo "format: ${#files[@]} files checked with $cf ($(major "$cf")), all formatted"
  exit 0
fi
if ((fix)); then
  "$cf" --style=file -i "${bad[@]}"
  printf 'reformatted: %s\n' "${bad[@]}"
  echo "format: ${#bad[@]} of ${#files[@]} files reformatted with $cf"
  exit 0
fi
printf 'needs formatting: %s\n' "${bad[@]}"
echo "format: ${#bad[@]} of ${#files[@]} files differ from .clang-format ($cf); scripts/check-format.sh --fix rewrites them" >&2
exit 1
