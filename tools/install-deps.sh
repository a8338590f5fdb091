#!/bin/sh
# Installs what deft needs on Debian 12: the build tools and libraries, Python's NumPy and
# PyTorch (independent references in the tests; PyTorch is also the benchmark peer), Google's
# protobuf for Python and protoc (the independent text-format reference of
# tests/test_text_format.c) and
# Fashion-MNIST (the main job's default dataset), and clang with its libFuzzer runtime (the fuzz
# targets of tests/fuzz). Skips the install when everything is present.
# Uses sudo when not root.
set -eu
PKGS="build-essential cmake pkg-config libopenblas-dev libprotobuf-c-dev protobuf-c-compiler \
check libsubunit-dev zlib1g-dev libsnappy-dev libpcre2-dev python3 python3-numpy python3-torch \
python3-protobuf protobuf-compiler dataset-fashion-mnist clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
