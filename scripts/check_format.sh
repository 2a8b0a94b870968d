#!/usr/bin/env bash
# Checks that every C++ file of the tree (tracked or new) is as clang-format (14, .clang-format) writes it; prints
# the files that are not and exits 1. Fix them with: scripts/check_format.sh --fix
# (docs/development.md, "Formatting").
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is not installed (scripts/setup.sh)"; exit 1; }
# Tracked files and new ones git does not ignore (so a file is checked before its first commit).
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.h' 2>/dev/null ||
                     find src tests bench fuzz -name '*.cpp' -o -name '*.h')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  echo "formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'not clang-formatted: %s\n' "${bad[@]}"
  echo "${#bad[@]} of ${#files[@]} files differ from clang-format; run scripts/check_format.sh --fix"
  exit 1
fi
echo "format: all ${#files[@]} C++ files as clang-format writes them"
