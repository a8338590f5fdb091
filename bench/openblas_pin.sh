# SPDX-License-Identifier: Apache-2.0
# bench/openblas_pin.sh - sourced by bench/run and bench/run_cnn.
#
# OpenBLAS 0.3.21 does not know CPUs newer than it (Sapphire and Emerald Rapids among them) and
# falls back to its Prescott (SSE3) kernels there: 21-27 GFLOP/s where its Cooperlake kernels
# run 139 (bench/README.md). The GEMM floor and the peers are then to be the best OpenBLAS of
# the machine, not its fallback: with OPENBLAS_CORETYPE unset and a detected kernel family
# narrower than the CPU's, openblas_pin exports OPENBLAS_CORETYPE as the widest family this CPU
# runs (for both sides of every comparison). It sets AUTO_CORE (what OpenBLAS detects) and
# PINNED (the family exported, or empty).
openblas_pin() {
  AUTO_CORE=$(/usr/bin/python3 -c 'import ctypes; l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())' 2>/dev/null || echo "?")
  PINNED=""
  if [ -n "${OPENBLAS_CORETYPE:-}" ]; then return 0; fi
  case "$AUTO_CORE" in
    Haswell|Zen|SkylakeX|Cooperlake|SapphireRapids|\?) return 0 ;;
  esac
  local flags
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  if [[ $flags == *" avx512f "* && $flags == *" avx512_bf16 "* ]]; then PINNED=Cooperlake
  elif [[ $flags == *" avx512f "* ]]; then PINNED=SkylakeX
  elif [[ $flags == *" avx2 "* && $flags == *" fma "* ]]; then PINNED=Haswell
  fi
  if [ -n "$PINNED" ]; then export OPENBLAS_CORETYPE=$PINNED; fi
}
