#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each on its corpus for SECONDS
# (default 25; CI uses that; run long with e.g. `tests/fuzz/run.sh 3600`). Inputs that find
# something are written to BUILD/fuzz/findings/ and the script exits non-zero. The working
# corpus (seeds plus what the runs add) stays in BUILD/fuzz/corpus/ between runs.
# Usage: tests/fuzz/run.sh [SECONDS] [BUILD_DIR] [TARGET...]
set -eu
SECS=${1:-25}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${2:-$SRC/build-fuzz}
[ $# -ge 2 ] && shift 2 || shift $#
CC=clang cmake -S "$SRC" -B "$B" -DDEFT_FUZZ=ON -DDEFT_BUILD_TESTS=OFF -DDEFT_BUILD_EXAMPLES=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$B" -j2 > /dev/null
SEEDS=$B/fuzz/seeds
rm -rf "$SEEDS"
"$SRC/tests/fuzz/make_corpus.sh" "$SEEDS"
mkdir -p "$B/fuzz/findings"
TARGETS=${*:-"fuzz_import fuzz_tensor_proto fuzz_checkpoint fuzz_data fuzz_checkpoint_state"}
status=0
for t in $TARGETS; do
  mkdir -p "$B/fuzz/corpus/$t"
  dict=""
  [ "$t" = fuzz_import ] && dict="-dict=$SRC/tests/fuzz/pbtxt.dict"
  log=$B/fuzz/$t.log
  # -rss_limit_mb: the budgets keep every input far below it; -timeout: a second per input is
  # the bound the issue sets, 10 leaves room for ASan on a loaded machine.
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "$B/fuzz/$t" $dict -max_total_time="$SECS" -timeout=10 -rss_limit_mb=3072 -max_len=65536 \
     -artifact_prefix="$B/fuzz/findings/$t-" -print_final_stats=1 \
     "$B/fuzz/corpus/$t" "$SEEDS/$t" > "$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
    echo "$t: ok, $runs executions in ${SECS}s, $cov, corpus $(ls "$B/fuzz/corpus/$t" | wc -l) files"
  else
    status=1
    echo "$t: FINDING (see $log and $B/fuzz/findings/)"
    grep -E "ERROR|runtime error|SUMMARY" "$log" | head -5 || true
  fi
done
exit $status
