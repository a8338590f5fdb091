#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/dist_cost_model.py - the cost of data-parallel training at scale (bench/README.md,
"Data-parallel training"): allreduce bytes per step, ring-allreduce time at 10, 25 and 100 Gb/s
for 2-64 machines, and the projected scaling efficiency of the chapter's models and of a
25M-parameter model.

  bench/dist_cost_model.py STEP_SECONDS   # the BN model's measured step (1 process, batch 200)

Model (stated in the README too):
  S       = 4 * parameters                 bytes of float32 gradients allreduced per step
  groups  = ceil(S / 64 MiB)               fusion groups (DeftAllreduce ops) per step
  T_ring  = groups * 2 (p - 1) * alpha + 2 (p - 1) / p * S / beta
            (ring allreduce: reduce-scatter then allgather, each p - 1 steps of S / p bytes;
            alpha = per-message latency, beta = link bandwidth in bytes/s)
  t_c     = STEP_SECONDS * parameters / 267,430   compute per step at batch 200 per machine
            (weak scaling; dense layers: FLOPs per step proportional to parameters)
  E_seq   = t_c / (t_c + T_ring)           deft today: the allreduce blocks its step
  E_ovl   = t_c / (t_c + max(0, T_ring - 2/3 t_c))
            communication overlapping the backward pass (about 2/3 of a step), as Horovod's
            background thread does; deft's sequential executor does not do this yet
"""
import math
import sys

MODELS = [
    # name, parameters
    ("ch11 BN net 784-300-100-10 + BN", 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10 +
     2 * (300 + 100 + 10)),
    ("ch11 clipping net 784-300-50x4-10",
     784 * 300 + 300 + 300 * 50 + 50 + 3 * (50 * 50 + 50) + 50 * 10 + 10),
    ("25M-parameter model", 25_000_000),
]
BN_PARAMS = MODELS[0][1]
ALPHA = 25e-6  # s per message: TCP over Ethernet, one switch hop
FUSION = 64 << 20
LINKS = [10, 25, 100]  # Gb/s
MACHINES = [2, 4, 8, 16, 32, 64]


def ring_seconds(nbytes, p, gbps):
    groups = max(1, math.ceil(nbytes / FUSION))
    beta = gbps * 1e9 / 8
    return groups * 2 * (p - 1) * ALPHA + 2 * (p - 1) / p * nbytes / beta


def main():
    step = float(sys.argv[1]) if len(sys.argv) > 1 else 0.016
    print(f"Compute per step t_c = {step * 1e3:.1f} ms x parameters / {BN_PARAMS:,} "
          f"(the BN model's measured step); alpha = {ALPHA * 1e6:.0f} us; fusion 64 MiB.\n")
    print("| model | parameters | allreduce MB/step | t_c ms |")
    print("|---|---:|---:|---:|")
    for name, n in MODELS:
        print(f"| {name} | {n:,} | {4 * n / 1e6:.2f} | {step * n / BN_PARAMS * 1e3:.1f} |")
    print()
    hdr = " | ".join(f"{p}" for p in MACHINES)
    for name, n in MODELS:
        s = 4 * n
        tc = step * n / BN_PARAMS
        print(f"**{name}** ({s / 1e6:.2f} MB/step): ring allreduce ms, then efficiency "
              "sequential / overlapped\n")
        print(f"| link | {hdr} |")
        print("|---|" + "---:|" * len(MACHINES))
        for g in LINKS:
            cells = []
            for p in MACHINES:
                t = ring_seconds(s, p, g)
                ovl = tc / (tc + max(0.0, t - 2 / 3 * tc))
                cells.append(f"{t * 1e3:.2f} ms, {tc / (tc + t):.0%} / {ovl:.0%}")
            print(f"| {g} Gb/s | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
