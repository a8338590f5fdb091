#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/package/run.sh [BUILD_DIR]: deft as another project gets it. Installs BUILD_DIR (default
# build/) into a temporary prefix, then moves the tree (so nothing may point at the install-time
# prefix), and builds tests/package/consumer.c against it four ways: CMake's find_package with
# deft::deft and deft::deft_static, and pkg-config (`deft`) shared and static. Each program runs.
# Also checks that libdeft.so exports only the API. Exit 0 iff all pass.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
CC=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { echo "package test: $*"; }

cmake --install "$build" --prefix "$work/staged" >/dev/null
mv "$work/staged" "$work/prefix"
P=$work/prefix
pc=$(dirname "$(find "$P" -name deft.pc | head -n 1)")
libdir=$(cd "$pc/.." && pwd)
export PKG_CONFIG_PATH="$pc"

step "libdeft.so exports only deft_* (and its version node)"
extra=$(nm -D --defined-only "$libdir/libdeft.so" | awk '$3 !~ /^deft_/ && $3 !~ /^DEFT_/')
if [ -n "$extra" ]; then echo "libdeft.so exports non-API symbols:"; echo "$extra"; exit 1; fi
step "libdeft.a keeps internals local"
if nm -g --defined-only "$libdir/libdeft.a" | awk 'NF == 3' | grep -v ' deft_'; then exit 1; fi

step "the manual pages are installed"
for page in deft.1 deft-train.1; do
  test -f "$P/share/man/man1/$page" || { echo "missing share/man/man1/$page"; exit 1; }
done

for kind in shared static; do
  step "CMake find_package(deft 0.2), $kind"
  cmake -S "$src/tests/package" -B "$work/cmake-$kind" -DCMAKE_PREFIX_PATH="$P" \
    -DDEFT_LINK=$kind -DCMAKE_C_COMPILER="$CC" >/dev/null
  cmake --build "$work/cmake-$kind" >/dev/null
  "$work/cmake-$kind/consumer"
done
if ldd "$work/cmake-static/consumer" | grep -q libdeft; then
  echo "the static build links libdeft.so"; exit 1
fi

step "pkg-config deft, shared (version $(pkg-config --modversion deft))"
$CC -std=c11 -Wall -Wextra -Werror "$src/tests/package/consumer.c" -o "$work/pc-shared" \
  $(pkg-config --cflags --libs deft)
LD_LIBRARY_PATH="$libdir" "$work/pc-shared"
step "pkg-config deft, static"
$CC -std=c11 -Wall -Wextra -Werror "$src/tests/package/consumer.c" -o "$work/pc-static" \
  $(pkg-config --cflags deft) $(pkg-config --static --libs deft | sed 's/-ldeft\b/-l:libdeft.a/')
if ldd "$work/pc-static" | grep -q libdeft; then echo "the static build links libdeft.so"; exit 1; fi
"$work/pc-static"
step "all passed"
