#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs what deft needs on Debian 12: the build tools and libraries, Python's NumPy and
# PyTorch (independent references in the tests; PyTorch is also the benchmark peer), Google's
# protobuf for Python and protoc (the independent text-format reference of
# tests/test_text_format.c) and
# Fashion-MNIST (the main job's default dataset); for the graph explorer page, Node.js with npm
# and Chromium (its browser test), then `npm ci` in tools/explorer (elkjs, embedded into the page
# at build time, and playwright-core, which drives Debian's chromium; no browser download).
# clang with its libFuzzer runtime (the fuzz targets of tests/fuzz); Open MPI (deft/dist.h's
# data-parallel training and its tests); Doxygen (the API reference: the `docs` target) and man-db
# (tests/test_cli.c renders the manual pages).
# Skips what is already present. Uses sudo when not root.
#
#   tools/install-deps.sh               everything (the default: tests, docs, the main job)
#   tools/install-deps.sh --build-only  only what building and linking deft needs
set -eu
build_only=0
case "${1:-}" in
  --build-only) build_only=1 ;;
  "") ;;
  *) echo "usage: tools/install-deps.sh [--build-only]" >&2; exit 2 ;;
esac
BUILD_PKGS="build-essential cmake pkg-config libopenblas-dev libprotobuf-c-dev protobuf-c-compiler \
zlib1g-dev libsnappy-dev libpcre2-dev"
PKGS="$BUILD_PKGS check libsubunit-dev python3 python3-numpy python3-torch \
python3-protobuf protobuf-compiler dataset-fashion-mnist chromium clang libclang-rt-14-dev \
libopenmpi-dev openmpi-bin doxygen man-db"
if [ "$build_only" = 1 ]; then
  PKGS="$BUILD_PKGS"
else
  # Node.js may come from elsewhere (with its own npm); Debian's packages only when it is missing.
  command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
  command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ -n "$missing" ]; then
  echo "installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
[ "$build_only" = 1 ] && exit 0
# The explorer's JavaScript packages, pinned by tools/explorer/package-lock.json.
explorer="$(dirname "$0")/explorer"
if ! (cd "$explorer" && node -e '
  const p = require("./package.json"), d = Object.assign({}, p.dependencies, p.devDependencies);
  for (const n in d) if (require("./node_modules/" + n + "/package.json").version !== d[n]) process.exit(1);
' 2>/dev/null); then
  (cd "$explorer" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
