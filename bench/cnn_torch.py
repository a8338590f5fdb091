#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/cnn_torch.py - the PyTorch peer of bench/bench_cnn.c.

  cnn_torch.py [--samples N] [--steps N]   time PyTorch (RESULT lines like bench_cnn's)
  cnn_torch.py --export DIR                write DIR/ch13_cnn.onnx and DIR/mobilenet.onnx

(1) The chapter-13 CNN trained as examples/ch13_cnn trains it (TF's SAME padding: 1 on each
    side for the stride-1 conv, 0 before / 1 after for the stride-2 one; Adam 0.001; batch 100 of
    MNIST's 55,000 training images, uint8 gathered and scaled per batch), STEPS steps per sample
    after 10 warm-up steps, median x 550 = the epoch; in NCHW and channels_last (oneDNN's faster
    layout for these shapes), 1 and 2 threads (torch.set_num_threads and OpenBLAS, which the
    dense layers call, pinned to the same count).
(2) Inference under torch.inference_mode(): MobileNet v1 0.25/128 with TF-slim's architecture
    (3x3/2 conv 8, 13 depthwise-separable blocks, batch norm in eval mode, ReLU6, 4x4 average
    pool, 1x1 conv to 1001 logits, random weights) at batch 1 and 32, and the ch13 CNN at batch 1
    and 200, NCHW and channels_last, 1 and 2 threads.
The ONNX files take deft's layouts (NHWC images, [b,784] rows) and transpose inside, so
bench_cnn feeds ONNX Runtime the same bytes it feeds deft."""
import ctypes
import gzip
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def result(name, value, unit, extra=""):
    print(f"RESULT {name} {value:.6g} {unit}{' ' + extra if extra else ''}", flush=True)


def mnist_dir():
    env = os.environ.get("DEFT_MNIST_DIR")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.path.join(here, "..", "..", "shared", "data", "mnist"),
              "../shared/data/mnist", "/work/shared/data/mnist"):
        if os.path.isdir(d):
            return d
    return "../shared/data/mnist"


def read_idx(path):
    for p in (path + ".gz", path):
        if os.path.exists(p):
            break
    opener = gzip.open if p.endswith(".gz") else open
    with opener(p, "rb") as f:
        magic, = struct.unpack(">I", f.read(4))
        dims = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def openblas():
    torch.ones(4, 4) @ torch.ones(4, 4)
    with open("/proc/self/maps") as f:
        libs = [line.split()[-1] for line in f if "libopenblas" in line]
    return ctypes.CDLL(libs[0]) if libs else None


def set_threads(t):
    torch.set_num_threads(t)
    lib = openblas()
    if lib is not None:
        lib.openblas_set_num_threads(t)


class Ch13(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 64)
        self.out = nn.Linear(64, 10)
        self.mf = torch.contiguous_format

    def forward(self, x):  # x [b, 784] in [0, 1]
        x = x.reshape(-1, 1, 28, 28).contiguous(memory_format=self.mf)
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(F.pad(x, (0, 1, 0, 1))))
        x = F.max_pool2d(x, 2, 2)
        # TF flattens NHWC: the same order here, so the model is the same function.
        x = x.permute(0, 2, 3, 1).reshape(-1, 64 * 7 * 7)
        return self.out(F.relu(self.fc1(x)))


def conv_bn(cin, cout, k, stride, groups=1):
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=0, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU6()]


class TFPad(nn.Module):
    """TF's SAME for a 3x3 window: stride 1 pads 1 each side; stride 2 on an even size pads 0
    before and 1 after."""
    def __init__(self, stride):
        super().__init__()
        self.p = (1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1)

    def forward(self, x):
        return F.pad(x, self.p)


class MobileNet(nn.Module):
    def __init__(self, nhwc_input=False):
        super().__init__()
        d = lambda c: int(c * 0.25)
        layers = [TFPad(2)] + conv_bn(3, d(32), 3, 2)
        cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
              [(1024, 2), (1024, 1)]
        cin = d(32)
        for cout, s in cfg:
            layers += [TFPad(s)] + conv_bn(cin, cin, 3, s, groups=cin)
            layers += conv_bn(cin, d(cout), 1, 1)
            cin = d(cout)
        self.features = nn.Sequential(*layers)
        self.logits = nn.Conv2d(cin, 1001, 1)
        self.nhwc_input = nhwc_input
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        if self.nhwc_input:
            x = x.permute(0, 3, 1, 2)
        x = F.avg_pool2d(self.features(x), 4)
        return self.logits(x).squeeze(3).squeeze(2)


def timeit(fn, samples, warm=0.3, sample_s=0.1):
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


def train(threads, layout, steps, samples, x_train, y_train):
    set_threads(threads)
    torch.manual_seed(42)
    model = Ch13()
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        model.mf = torch.channels_last
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    gen = torch.Generator().manual_seed(42)
    n = x_train.shape[0]
    perm = torch.randperm(n, generator=gen)
    pos = 0
    wall, cpu = [], []
    for sample in range(-1, samples):
        k = 10 if sample < 0 else steps
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(k):
            if pos + 100 > n:
                perm, pos = torch.randperm(n, generator=gen), 0
            idx = perm[pos:pos + 100]
            pos += 100
            xb = x_train[idx].float().div_(255.0)
            yb = y_train[idx]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        if sample >= 0:
            wall.append((time.perf_counter() - t0) / k)
            cpu.append((time.process_time() - c0) / k)
    w, c = statistics.median(wall), statistics.median(cpu)
    tag = f"torch.cnn.train.t{threads}.{layout}"
    result(tag + ".step", w * 1e3, "ms", f"min={min(wall) * 1e3:.2f} max={max(wall) * 1e3:.2f} "
           f"steps_per_sample={steps} samples={samples}")
    result(tag + ".step_cpu", c * 1e3, "ms", "(process CPU time, all threads)")
    result(tag + ".epoch", w * 550, "s", "(median step x 550)")
    result(tag + ".epoch_cpu", c * 550, "s", "(median step CPU x 550)")


def infer(samples):
    torch.manual_seed(0)
    models = {"mobilenet": (MobileNet().eval(), (1, 32), lambda b: torch.rand(b, 3, 128, 128) * 2 - 1),
              "cnn": (Ch13().eval(), (1, 200), lambda b: torch.rand(b, 784))}
    for threads in (1, 2):
        set_threads(threads)
        for tag, (model, batches, make) in models.items():
            for b in batches:
                for layout in ("nchw", "channels_last"):
                    x = make(b)
                    m = model
                    if layout == "channels_last":
                        m = model.to(memory_format=torch.channels_last)
                        if tag == "cnn":
                            m.mf = torch.channels_last
                        else:
                            x = x.contiguous(memory_format=torch.channels_last)
                    else:
                        m = model.to(memory_format=torch.contiguous_format)
                        if tag == "cnn":
                            m.mf = torch.contiguous_format
                    def run():
                        with torch.inference_mode():
                            m(x)
                    t, p10, p90 = timeit(run, samples, sample_s=0.02 if b == 1 else 0.1)
                    result(f"torch.{tag}.infer.b{b}.t{threads}.{layout}", t * 1e3, "ms",
                           f"p10={p10 * 1e3:.4g} p90={p90 * 1e3:.4g}")


def export(d):
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    cnn = Ch13().eval()
    torch.onnx.export(cnn, torch.rand(2, 784), os.path.join(d, "ch13_cnn.onnx"),
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    mb = MobileNet(nhwc_input=True).eval()
    torch.onnx.export(mb, torch.rand(2, 128, 128, 3), os.path.join(d, "mobilenet.onnx"),
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    print(f"INFO onnx_export torch={torch.__version__} opset=13 dir={d}")


def main():
    args = sys.argv[1:]
    samples, steps = 7, 20
    if args[:1] == ["--export"]:
        export(args[1])
        return
    while args:
        if args[0] == "--samples":
            samples = int(args[1])
        elif args[0] == "--steps":
            steps = int(args[1])
        args = args[2:]
    print(f"INFO torch {torch.__version__}", flush=True)
    d = mnist_dir()
    xs = read_idx(os.path.join(d, "train-images-idx3-ubyte")).reshape(-1, 784)
    ys = read_idx(os.path.join(d, "train-labels-idx1-ubyte")).astype(np.int64)
    x_train, y_train = torch.from_numpy(xs[5000:].copy()), torch.from_numpy(ys[5000:].copy())
    for threads in (1, 2):
        for layout in ("nchw", "channels_last"):
            train(threads, layout, steps, samples, x_train, y_train)
    infer(samples)


if __name__ == "__main__":
    main()
