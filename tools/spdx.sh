#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Puts the licence tag "SPDX-License-Identifier: Apache-2.0" (see LICENSE) at the top of every
# source file git tracks: C, C++, protobuf, JavaScript, CSS, CMake, shell and Python files.
#
#   tools/spdx.sh           add the tag where it is missing (first line; after a "#!" line)
#   tools/spdx.sh --check   list the files without it and exit 1 if there are any (CI)
#
# Generated files (the build trees) and third-party packages (node_modules) are not tracked, so
# they are never touched.
set -eu
cd "$(dirname "$0")/.."
TAG="SPDX-License-Identifier: Apache-2.0"
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: tools/spdx.sh [--check]" >&2; exit 2 ;;
esac

# The comment syntax of a file, by name (or by "#!" line for extensionless scripts); empty for
# files that are not source (data, JSON, Markdown).
style() {
  case "${1##*/}" in
    *.c|*.h|*.cc|*.css|*.map) echo c ;;
    *.proto|*.js) echo cpp ;;
    *.sh|*.py|*.cmake|CMakeLists.txt) echo hash ;;
    *.*) echo "" ;;
    *) if head -n 1 "$1" | grep -q '^#!'; then echo hash; else echo ""; fi ;;
  esac
}

missing=0
for f in $(git ls-files); do
  [ -f "$f" ] || continue
  s=$(style "$f")
  [ -n "$s" ] || continue
  head -n 3 "$f" | grep -q "$TAG" && continue
  if [ "$check" = 1 ]; then
    echo "no SPDX tag: $f"
    missing=$((missing + 1))
    continue
  fi
  case "$s" in
    c) line="/* $TAG */" ;;
    cpp) line="// $TAG" ;;
    hash) line="# $TAG" ;;
  esac
  tmp="$f.spdx.$$"
  if head -n 1 "$f" | grep -q '^#!'; then
    { head -n 1 "$f"; echo "$line"; tail -n +2 "$f"; } > "$tmp"
  else
    { echo "$line"; cat "$f"; } > "$tmp"
  fi
  cat "$tmp" > "$f" # keeps the file's mode
  rm -f "$tmp"
  echo "tagged: $f"
done
if [ "$check" = 1 ] && [ "$missing" -gt 0 ]; then
  echo "$missing file(s) lack the SPDX tag: run tools/spdx.sh" >&2
  exit 1
fi
exit 0
