#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/conv_torch.py - the PyTorch peer of bench/bench_conv.c: the chapter-13 CNN's two
convolution layers at batch 100, forward and backward (gradients of sum(gy * conv2) for both
filters; the input needs no gradient), and the depthwise 3x3 layer forward, on 1 and 2 threads.
PyTorch runs in both its layouts, NCHW and channels_last (its oneDNN path is much faster with
channels_last for these shapes, notably the 1-channel conv1), with its own convolutions.

Prints RESULT lines like bench_conv: RESULT torch.t<threads>.<name> <value> <unit>."""
import sys
import time

import torch
import torch.nn.functional as F


def timeit(fn, samples, warm=0.3, sample_s=0.2):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warm:
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    k = max(1, int(sample_s / one))
    ts = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        ts.append((time.perf_counter() - t0) / k)
    ts.sort()
    return ts[len(ts) // 2], ts[len(ts) // 10], ts[(9 * len(ts)) // 10]


def main():
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    torch.manual_seed(0)
    B = 100
    steps = {}
    for layout, mf in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        x = (torch.rand(B, 1, 28, 28) * 2 - 1).to(memory_format=mf)
        w1 = (torch.rand(32, 1, 3, 3) * 2 - 1).to(memory_format=mf).requires_grad_()
        w2 = (torch.rand(64, 32, 3, 3) * 2 - 1).to(memory_format=mf).requires_grad_()
        gy = (torch.rand(B, 64, 14, 14) * 2 - 1).to(memory_format=mf)
        # TF's SAME for the stride-2 3x3 conv on 28x28: 0 before, 1 after.
        def step(x=x, w1=w1, w2=w2, gy=gy):
            c1 = F.conv2d(x, w1, padding=1)
            c2 = F.conv2d(F.pad(c1, (0, 1, 0, 1)), w2, stride=2)
            return torch.autograd.grad(c2, (w1, w2), gy)
        steps[layout] = step
    dx = torch.rand(32, 64, 32, 32).to(memory_format=torch.channels_last)
    dwf = torch.rand(64, 1, 3, 3)
    def dw():
        with torch.no_grad():
            F.conv2d(dx, dwf, padding=1, groups=64)
    flops = 2 * (2.0 * B * 28 * 28 * 32 * 9) + 3 * (2.0 * B * 14 * 14 * 64 * 288)
    print("INFO torch %s" % torch.__version__)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for layout, step in steps.items():
            t, p10, p90 = timeit(step, samples)
            print("RESULT torch.t%d.ch13_fwd_bwd.%s %.4f ms ms_p10=%.3f ms_p90=%.3f gflops=%.2f"
                  % (threads, layout, t * 1e3, p10 * 1e3, p90 * 1e3, flops / t * 1e-9))
        t, _, _ = timeit(dw, samples)
        print("RESULT torch.t%d.depthwise_fwd %.3f GFLOP/s ms=%.3f"
              % (threads, 2.0 * 32 * 32 * 32 * 64 * 9 / t * 1e-9, t * 1e3))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
