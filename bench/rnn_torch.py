#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/rnn_torch.py - the PyTorch peer of bench/bench_rnn.c: training steps of the chapter-14
recurrent models with PyTorch's own fused recurrent layers, on 1 and 2 threads:

  lstm3   nn.LSTM(28, 150, num_layers=3) over 28 steps, Linear(150, 10) on the top layer's last
          h, cross-entropy, Adam 0.001, batch 150;
  basic   nn.RNN(28, 150) (tanh), the same head, batch 150;
  series  nn.RNN(1, 100, relu) over 20 steps, Linear(100, 1) on every output (the
          OutputProjectionWrapper), MSE, Adam 0.001, batch 50.

One step = zero_grad, forward, backward, Adam step, on a fixed synthetic batch of the real shapes.
Each step is timed alone after a warm-up; prints RESULT lines like bench_rnn:
RESULT torch.t<threads>.<model>.step <ms> ms ...

Usage: rnn_torch.py [steps [warmup [model [threads]]]]  (defaults 40 and 5, every model, 1 and 2
threads; the series runs 5x as many)."""
import math
import sys
import time

import torch
import torch.nn as nn

EPOCH_STEPS = 55000.0 / 150


class Mnist(nn.Module):
    def __init__(self, lstm):
        super().__init__()
        self.rnn = nn.LSTM(28, 150, num_layers=3, batch_first=True) if lstm else \
            nn.RNN(28, 150, batch_first=True)
        self.dense = nn.Linear(150, 10)

    def forward(self, x):
        _, state = self.rnn(x.view(-1, 28, 28))
        h = state[0] if isinstance(state, tuple) else state
        return self.dense(h[-1])


class Series(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 100, nonlinearity="relu", batch_first=True)
        self.proj = nn.Linear(100, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.proj(out)


def series(t):
    return t * math.sin(t) / 3 + 2 * math.sin(t * 5)


def time_model(name, model, x, y, loss_fn, threads, n, warmup, epoch):
    torch.set_num_threads(threads)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    ts = []
    for i in range(-warmup, n):
        t0 = time.perf_counter()
        step()
        if i >= 0:
            ts.append(time.perf_counter() - t0)
    ts.sort()
    med = ts[len(ts) // 2] if len(ts) % 2 else 0.5 * (ts[len(ts) // 2 - 1] + ts[len(ts) // 2])
    q = lambda f: ts[int(f * (len(ts) - 1) + 0.5)]
    print("RESULT torch.t%d.%s.step %.4f ms ms_p10=%.3f ms_p90=%.3f steps=%d"
          % (threads, name, med * 1e3, q(0.1) * 1e3, q(0.9) * 1e3, n))
    if epoch:
        print("RESULT torch.t%d.%s.epoch %.4f s (median step x 55000/150)"
              % (threads, name, med * EPOCH_STEPS))
    sys.stdout.flush()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.manual_seed(42)
    print("INFO torch %s" % torch.__version__)
    xm = torch.rand(150, 784)
    ym = torch.randint(0, 10, (150,))
    t0s = torch.rand(50) * (30.0 - 20 * 0.1)
    xs = torch.tensor([[[series(float(t) + k * 0.1)] for k in range(20)] for t in t0s])
    ys = torch.tensor([[[series(float(t) + (k + 1) * 0.1)] for k in range(20)] for t in t0s])
    xent, mse = nn.CrossEntropyLoss(), nn.MSELoss()
    only = sys.argv[3] if len(sys.argv) > 3 else None
    for threads in (int(sys.argv[4]),) if len(sys.argv) > 4 else (1, 2):
        if only in (None, "lstm3"):
            time_model("lstm3", Mnist(True), xm, ym, xent, threads, n, warmup, True)
        if only in (None, "basic"):
            time_model("basic", Mnist(False), xm, ym, xent, threads, n, warmup, True)
        if only in (None, "series"):
            time_model("series", Series(), xs, ys, mse, threads, n * 5, warmup * 5, False)


if __name__ == "__main__":
    main()
