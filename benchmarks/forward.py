"""Forward-pass benchmark: ConvScope's NumPy core against PyTorch CPU, same weights, same run.

    python benchmarks/forward.py [--threads 2] [--repeats 7] [--nets alexnet vgg16 resnet18]
                                 [--cpu-time] [--no-torch]

For each network (batch 1, weights initialised once and shared with torch) it prints the
NumPy seconds and the PyTorch seconds (medians of interleaved runs), their ratio, the fraction
of the machine's NumPy float32 matrix-product GFLOP/s the NumPy pass reaches (2·MACs / time),
and the largest difference from torch over every layer's output, relative to that output's
scale. "kept" is the ratio against torch keeping every layer's output as ConvScope's pass does
(the app shows them all); the goal is on the plain ratio, against torch keeping none. Without
torch only the NumPy figures are printed. The fraction counts 2·MACs of the direct
convolution, so Winograd's shortcut (fewer multiplies) can take it past 100%.

Threads are set before NumPy loads its BLAS (threadpoolctl if installed, else the
OPENBLAS/OMP/MKL environment variables); torch gets ``torch.set_num_threads`` with the same
count. OPENBLAS_CORETYPE, if the machine sets it, is left alone. Between switching from one
library to the other the run pauses briefly, because OpenBLAS's idle threads keep spinning for
about 0.1 s and would otherwise steal a core from the next library's first run.

Run it on an idle machine: when another program holds a core, OpenBLAS's threads wait on each
other and the NumPy figures at 2 threads collapse (2-3x slower) far more than torch's, so the
script warns when the CPUs were busy in the second before it starts. ``--cpu-time --threads 1``
gives steadier ratios on a busy machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

NETS = ("alexnet", "vgg16", "resnet18")
GOALS = {"alexnet": 1.0, "vgg16": 1.0, "resnet18": 1.0}  # issue 14: NumPy / torch at most
TOLERANCE = 1e-4  # issue 2: every layer's output within this of torch's, relative to scale
SETTLE_S = 0.25  # pause between libraries (spinning BLAS threads, see above)
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="BLAS and torch threads (default 2)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per library (default 7)")
    p.add_argument("--nets", nargs="+", default=list(NETS), help="preset names")
    p.add_argument("--no-torch", action="store_true", help="time NumPy only")
    p.add_argument("--cpu-time", action="store_true",
                   help="time with the process's CPU time instead of the wall clock: steadier "
                        "when other programs load the machine, but meaningful at 1 thread only")
    return p.parse_args(argv)


def limit_threads(n):
    """Set the BLAS thread count; must run before NumPy is imported. Returns a context or None."""
    if importlib.util.find_spec("threadpoolctl") is not None:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=n)
    if "numpy" in sys.modules:
        print("warning: numpy already imported; thread env vars may not apply", file=sys.stderr)
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    return None


# ------------------------------------------------------------------------------- timing
def median_interleaved(runners, repeats, warmup=1, clock=time.perf_counter):
    """Run each callable in turn, ``repeats`` rounds, → {name: median seconds}."""
    times = {name: [] for name in runners}
    for round_ in range(warmup + repeats):
        for name, run in runners.items():
            time.sleep(SETTLE_S)
            t0 = clock()
            run()
            elapsed = clock() - t0
            if round_ >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(ts) for name, ts in times.items()}


def others_busy(seconds=1.0):
    """Fraction of CPU time used (by anything) over ``seconds`` while this script waits;
    None where /proc/stat is not readable."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def matmul_gflops(np, size=2048, repeats=15, clock=time.perf_counter):
    """The machine's float32 matrix-product speed: best of ``repeats`` size³ products."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        np.matmul(a, b, out=out)
        best = min(best, clock() - t0)
    return 2 * size ** 3 / best / 1e9


# ------------------------------------------------------------------------------- torch
def torch_runner(net, torch):
    """A torch forward of ``net`` with its very weights (shared memory, not copied).

    Returns ``run(x, keep=None)``; ``keep`` (a dict) collects every layer's output by name.
    """
    F = torch.nn.functional
    w = {k: torch.from_numpy(v) for k, v in net.weights.items()}

    def conv(layer, h):
        n, v = layer.name, layer.values
        return F.conv2d(h, w[f"{n}.weight"], w.get(f"{n}.bias"), layer.pair("stride"),
                        layer.pair_padding(), layer.pair("dilation"), v["groups"])

    def pool(layer, h):
        v, k, s, p = layer.values, layer.pair("kernel"), layer.stride_pair(), layer.pair("padding")
        if v["mode"] == "max":
            return F.max_pool2d(h, k, s, p, ceil_mode=v["ceil_mode"])
        if v["mode"] == "avg":
            return F.avg_pool2d(h, k, s, p, ceil_mode=v["ceil_mode"],
                                count_include_pad=v["count_include_pad"])
        return F.lp_pool2d(F.pad(h, (p[1], p[1], p[0], p[0])), 2, k, s, ceil_mode=v["ceil_mode"])

    def batchnorm(layer, h):
        n, v = layer.name, layer.values
        return F.batch_norm(h, w[f"{n}.running_mean"], w[f"{n}.running_var"], w[f"{n}.weight"],
                            w[f"{n}.bias"], False, v["momentum"], v["eps"])

    def fc(layer, h):
        n = layer.name
        out = F.linear(h.reshape(h.shape[0], -1), w[f"{n}.weight"], w.get(f"{n}.bias"))
        return out.reshape(out.shape[0], -1, 1, 1)

    def lrn(layer, h):
        v = layer.values
        return F.local_response_norm(h, v["size"], v["alpha"], v["beta"], v["k"])

    simple = {
        "conv": conv, "pool": pool, "batchnorm": batchnorm, "fc": fc, "lrn": lrn,
        "relu": lambda _, h: F.relu(h),
        "leaky_relu": lambda layer, h: F.leaky_relu(h, layer.values["negative_slope"]),
        "sigmoid": lambda _, h: torch.sigmoid(h),
        "tanh": lambda _, h: torch.tanh(h),
        "softmax": lambda _, h: torch.softmax(h, 1),
        "global_avg_pool": lambda _, h: h.mean((2, 3), keepdim=True),
        "dropout": lambda _, h: h,
        "flatten": lambda _, h: h.reshape(h.shape[0], -1, 1, 1),
    }

    def seq(layers, h, keep):
        for layer in layers:
            kind = layer.TYPE
            if kind == "residual":
                h = seq(layer.values["body"], h, keep) + seq(layer.values["shortcut"], h, keep)
            elif kind == "concat":
                h = torch.cat([seq(b, h, keep) for b in layer.values["branches"]], 1)
            else:
                h = simple[kind](layer, h)
            if keep is not None:
                keep[layer.name] = h.numpy()
        return h

    def run(x, keep=None):
        with torch.inference_mode():
            return seq(net.layers, torch.from_numpy(x), keep)

    return run


def max_relative_difference(np, ours, theirs):
    """max over layers of max|a − b| / max|b|: (value, layer name)."""
    worst, where = 0.0, None
    for name, ref in theirs.items():
        scale = float(np.abs(ref).max()) or 1.0
        diff = float(np.abs(ours[name] - ref).max()) / scale
        if diff > worst:
            worst, where = diff, name
    return worst, where


# ------------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    limiter = limit_threads(args.threads)  # noqa: F841  (kept alive for the whole run)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import numpy as np
    from convscope.core import presets
    from convscope.core.network import Network

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("torch is not installed: NumPy figures only")
        else:
            torch.set_num_threads(args.threads)

    clock = time.process_time if args.cpu_time else time.perf_counter
    peak = matmul_gflops(np, clock=clock)
    print(f"threads {args.threads}; NumPy float32 matmul peak {peak:.1f} GFLOP/s; "
          f"median of {args.repeats} interleaved runs, batch 1"
          + ("; CPU time" if args.cpu_time else ""))
    busy = others_busy()
    if busy is not None and busy > 0.1:
        print(f"warning: the CPUs were {100 * busy:.0f}% busy just before the run: other "
              "programs are running, so the wall-clock figures (2 threads above all) are "
              "unreliable")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set (left as is); "
              "it can slow NumPy's matrix products")
    head = f"{'network':<10} {'GMACs':>6} {'NumPy s':>9} {'% peak':>7}"
    if torch is not None:
        head += (f" {'torch s':>9} {'ratio':>6} {'goal':>6} {'kept':>8} {'max rel diff':>13}"
                 "  (layer)")
    print(head)
    for name in args.nets:
        bench_one(np, torch, Network, presets, name, args.repeats, peak, clock)


def bench_one(np, torch, Network, presets, name, repeats, peak, clock):
    net = Network.load(presets.ARCHITECTURES / f"{name}.json")
    net.ensure_weights()
    macs = net.analyze().totals()["macs"]
    # the analysis is made once, as the app's worker does (it passes its document's report):
    # the pass is what is timed, not the per-layer figures
    report = net.analyze(fixes=False)
    x = np.random.default_rng(1).standard_normal((1, *net.input.shape), dtype=np.float32)
    runners = {"numpy": lambda: net.forward(x, report=report)}
    if torch is not None:
        run_torch = torch_runner(net, torch)
        runners["torch"] = lambda: run_torch(x)
        # like for like: ConvScope's pass keeps every layer's output (the app shows them)
        runners["torch keeping"] = lambda: run_torch(x, {})
    times = median_interleaved(runners, repeats, clock=clock)
    t_np = times["numpy"]
    line = f"{name:<10} {macs / 1e9:6.2f} {t_np:9.4f} {100 * 2 * macs / t_np / 1e9 / peak:6.1f}%"
    if torch is not None:
        keep = {}
        run_torch(x, keep)
        diff, where = max_relative_difference(np, net.forward(x), keep)
        ratio, goal = t_np / times["torch"], GOALS.get(name)
        mark = "" if goal is None else ("ok" if ratio <= goal else "over")
        kept_ratio = t_np / times["torch keeping"]
        line += (f" {times['torch']:9.4f} {ratio:5.2f}x {mark:>6} {kept_ratio:7.2f}x "
                 f"{diff:13.2e}  ({where})" + ("" if diff <= TOLERANCE else "  OVER 1e-4"))
    print(line, flush=True)


if __name__ == "__main__":
    main()
