#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/peer_torch.py - the PyTorch 1.13 peer of deft's benchmarks (bench/bench_*.c).

Same models, hyperparameters and data as the C programs, printing the same kind of lines:
    RESULT <name> <value> <unit> [key=value ...]
    INFO <key> <value>

    peer_torch.py info                       versions, BLAS library and OPENBLAS_* settings
    peer_torch.py overhead [SAMPLES]         eager a + b
    peer_torch.py infer [SAMPLES]            batch-1 and batch-200 inference, 1 and 2 threads
    peer_torch.py train THREADS EPOCHS [pinned|default]
                                             one training run (run it as its own process, so its
                                             peak RSS is the training run's)
    peer_torch.py all [SAMPLES [EPOCHS]]     all of the above, training in subprocesses

Thread settings. torch.set_num_threads(t) sets PyTorch's intra-op (OpenMP) threads but not
OpenBLAS's, which PyTorch calls for its matrix products and which defaults to one thread per core.
"pinned" also sets OpenBLAS's count to t (through openblas_set_num_threads), so "1 thread" really
is one; "default" leaves OpenBLAS at its default, as a user who only calls torch.set_num_threads
gets. Each training line reports the process's CPU time / wall time so the threads actually used
show. The OPENBLAS_* environment is left as the caller set it and reported.
"""
import ctypes
import gzip
import os
import resource
import statistics
import struct
import subprocess
import sys
import time
import timeit

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCH = 200
N_TRAIN = 55000


def result(name, value, unit, extra=""):
    print(f"RESULT {name} {value:.6g} {unit}{' ' + extra if extra else ''}", flush=True)


def info(key, value):
    print(f"INFO {key} {value}", flush=True)


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
    """An IDX file (gzipped or raw) as a uint8 NumPy array, read straight into the array."""
    for p in (path + ".gz", path):
        if os.path.exists(p):
            break
    opener = gzip.open if p.endswith(".gz") else open
    with opener(p, "rb") as f:
        magic, = struct.unpack(">I", f.read(4))
        ndim = magic & 0xFF
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        a = np.empty(dims, dtype=np.uint8)
        view = memoryview(a.reshape(-1))
        got = 0
        while got < a.size:
            n = f.readinto(view[got:])
            if not n:
                raise EOFError(f"{p}: truncated")
            got += n
    return a


def openblas():
    """The OpenBLAS library PyTorch loaded (ctypes handle), or None."""
    torch.ones(4, 4) @ torch.ones(4, 4)  # make sure BLAS is loaded
    with open("/proc/self/maps") as f:
        libs = [line.split()[-1] for line in f if "libopenblas" in line]
    if not libs:
        return None
    lib = ctypes.CDLL(libs[0])
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    return lib


def set_threads(t, mode):
    torch.set_num_threads(t)
    lib = openblas()
    if lib is not None and mode == "pinned":
        lib.openblas_set_num_threads(t)
    return lib


def he_trunc_normal_(w):
    """tf.variance_scaling_initializer() defaults: truncated normal, scale 1, fan_in."""
    fan_in = w.shape[1]
    std = (1.0 / fan_in) ** 0.5 / 0.87962566103423978
    nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)


def dense_net():
    layers = [nn.Linear(784, 300), nn.ELU(), nn.Linear(300, 100), nn.ELU(), nn.Linear(100, 10)]
    return init(nn.Sequential(*layers))


def bn_net():
    # TF momentum 0.9 = PyTorch momentum 0.1; TF's epsilon 0.001.
    def bn(n):
        return nn.BatchNorm1d(n, eps=1e-3, momentum=0.1)
    layers = [nn.Linear(784, 300), bn(300), nn.ELU(), nn.Linear(300, 100), bn(100), nn.ELU(),
              nn.Linear(100, 10), bn(10)]
    return init(nn.Sequential(*layers))


def init(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            he_trunc_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def time_stmt(stmt, env, warm_s, sample_s, nsamples):
    """Median seconds per execution of stmt over nsamples samples (timeit loops, k calls each)."""
    t = timeit.Timer(stmt, globals=env)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < warm_s or n < 3:
        t.timeit(1)
        n += 1
    per = (time.perf_counter() - start) / n
    k = max(1, int(sample_s / per))
    v = sorted(t.timeit(k) / k for _ in range(nsamples))
    return statistics.median(v), v[int(0.1 * (len(v) - 1) + 0.5)], v[int(0.9 * (len(v) - 1) + 0.5)]


def bench_overhead(nsamples):
    set_threads(1, "pinned")
    a = torch.tensor(3.0)
    b = torch.tensor(4.0)
    assert float(a + b) == 7.0
    med, p10, p90 = time_stmt("a + b", {"a": a, "b": b}, 0.2, 0.01, nsamples)
    result("torch.overhead.eager", med * 1e6, "us",
           f"threads=1 p10={p10 * 1e6:.4g} p90={p90 * 1e6:.4g} samples={nsamples}")
    with torch.inference_mode():
        a = torch.tensor(3.0)
        b = torch.tensor(4.0)
        med, p10, p90 = time_stmt("a + b", {"a": a, "b": b}, 0.2, 0.01, nsamples)
    result("torch.overhead.eager_inference_mode", med * 1e6, "us",
           f"threads=1 p10={p10 * 1e6:.4g} p90={p90 * 1e6:.4g} samples={nsamples}")


def bench_infer(nsamples):
    test = read_idx(os.path.join(mnist_dir(), "t10k-images-idx3-ubyte"))
    x_all = torch.from_numpy(test[:200].reshape(-1, 784).astype(np.float32) / 255.0)
    torch.manual_seed(42)
    for name, model in (("dense", dense_net()), ("bn", bn_net())):
        model.eval()
        for bs in (1, 200):
            x = x_all[:bs].contiguous()
            for t in (1, 2):
                set_threads(t, "pinned")
                with torch.inference_mode():
                    med, p10, p90 = time_stmt("model(x)", {"model": model, "x": x}, 0.3,
                                              0.01 if bs == 1 else 0.05, nsamples)
                result(f"torch.infer.{name}.b{bs}.t{t}", med * 1e6, "us",
                       f"p10={p10 * 1e6:.4g} p90={p90 * 1e6:.4g} samples={nsamples}")


def evaluate(model, x8, y):
    model.eval()
    correct = 0
    with torch.inference_mode():
        for r in range(0, len(x8), 1000):
            xb = x8[r:r + 1000].float().div_(255.0)
            correct += int((model(xb).argmax(1) == y[r:r + 1000]).sum())
    model.train()
    return correct / len(x8)


def train(threads, epochs, mode):
    lib = set_threads(threads, mode)
    d = mnist_dir()
    t_load = time.perf_counter()
    xs = read_idx(os.path.join(d, "train-images-idx3-ubyte")).reshape(-1, 784)
    ys = read_idx(os.path.join(d, "train-labels-idx1-ubyte")).astype(np.int64)
    # Row slices of a C-contiguous array are views: no copies. uint8, scaled per batch.
    x_train = torch.from_numpy(xs[5000:])
    y_train = torch.from_numpy(ys[5000:])
    x_valid = torch.from_numpy(xs[:5000])
    y_valid = torch.from_numpy(ys[:5000])
    t_load = time.perf_counter() - t_load
    tag = f"t{threads}" if mode == "pinned" else f"t{threads}_blasdefault"
    info(f"torch.train.{tag}.rss_after_load",
         f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.1f} MiB")
    torch.manual_seed(42)
    model = bn_net()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(42)
    n = x_train.shape[0]
    steps = n // BATCH
    assert n == N_TRAIN and steps == 275
    times, cpus = [], []
    for e in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n, generator=gen)
        for i in range(steps):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            xb = x_train[idx].float().div_(255.0)
            yb = y_train[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        print(f"epoch {e}: {steps} steps, {times[-1]:.4f} s (cpu {cpus[-1]:.4f} s)", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    blas_threads = lib.openblas_get_num_threads() if lib is not None else -1
    result(f"torch.train.{tag}.epoch", statistics.median(times), "s",
           f"epochs={epochs} first={times[0]:.4g} min={min(times):.4g} max={max(times):.4g} "
           f"steps={steps} cpu_per_wall={sum(cpus) / sum(times):.3g} "
           f"torch_threads={torch.get_num_threads()} openblas_threads={blas_threads}")
    result(f"torch.train.{tag}.epoch_cpu", statistics.median(cpus), "s",
           "(process CPU time, all threads)")
    t_test = read_idx(os.path.join(d, "t10k-images-idx3-ubyte")).reshape(-1, 784)
    l_test = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte")).astype(np.int64)
    result(f"torch.train.{tag}.valid_acc", evaluate(model, x_valid, y_valid), "frac")
    result(f"torch.train.{tag}.test_acc",
           evaluate(model, torch.from_numpy(t_test), torch.from_numpy(l_test)),
           "frac")
    result(f"torch.train.{tag}.rss", rss, "MiB", f"source=getrusage load_s={t_load:.3g}")


def info_all():
    info("torch_version", torch.__version__)
    info("numpy_version", np.__version__)
    info("torch_default_threads", torch.get_num_threads())
    info("torch_mkldnn", torch.backends.mkldnn.is_available())
    lib = openblas()
    if lib is not None:
        info("torch_openblas_core", lib.openblas_get_corename().decode())
        info("torch_openblas_config", lib.openblas_get_config().decode())
        info("torch_openblas_default_threads", lib.openblas_get_num_threads())
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        info("env_" + k, os.environ.get(k, "(unset)"))


def main():
    args = sys.argv[1:]
    cmd = args[0] if args else "all"
    if cmd == "info":
        info_all()
    elif cmd == "overhead":
        bench_overhead(int(args[1]) if len(args) > 1 else 101)
    elif cmd == "infer":
        bench_infer(int(args[1]) if len(args) > 1 else 31)
    elif cmd == "train":
        train(int(args[1]), int(args[2]), args[3] if len(args) > 3 else "pinned")
    elif cmd == "all":
        nsamples = int(args[1]) if len(args) > 1 else 31
        epochs = int(args[2]) if len(args) > 2 else 4
        info_all()
        bench_overhead(max(nsamples, 101))
        bench_infer(nsamples)
        for t, mode in ((1, "pinned"), (2, "pinned"), (1, "default")):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "train", str(t),
                                  str(epochs), mode], stdout=subprocess.PIPE, text=True,
                                 check=True)
            sys.stdout.write(out.stdout)
            sys.stdout.flush()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
