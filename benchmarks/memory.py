"""Memory benchmark: the memory budget's inference figure against a measured peak.

    python benchmarks/memory.py [--net vgg16] [--batches 16 64]

For each batch it runs ``freeing_pass`` (inference that frees each output once the next
layer has read it, the pass the budget's inference mode counts) twice in a fresh thread under
tracemalloc (NumPy reports its arrays to it), with the convs' cached weights dropped first
so the weights and workspaces are made inside the measured run, and prints the model's
figure, the peaks of the first and of the second pass, the model over the second's, and the
seconds a pass took. The model counts the steady state, a pass after the first: the convs'
workspaces grow to the largest request and stay (per thread, pass to pass), so from the
second pass on they are all alive while the largest step runs; a first pass peaks lower,
since the big early steps run before the later layers' workspaces exist. The issue's case is
VGG16 at batch 64: about 3.9 GiB, so it needs that much free memory (and minutes on a busy
machine). ``Network.forward`` itself keeps every layer's output (the views and backward read
them) and is what the memory guard counts; its figure is printed beside for contrast.

Measured (2 shared cores): VGG16 batch 64, model 3,975 MiB, steady-state peak 4,012 MiB
(model/measured 0.991), first pass 3,012 MiB (1.320); Network.forward would need 9.2 GiB.
Batch 16: model 1,555 MiB, steady state 1,564 MiB (0.994), first pass 1,184 MiB.
"""

from __future__ import annotations

import argparse
import threading
import time
import tracemalloc

import numpy as np
from convscope.core import Network, fastconv
from convscope.core.understand.memory import fmt_bytes, freeing_pass, memory_budget


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", default="vgg16", help="preset name (default vgg16)")
    p.add_argument("--batches", type=int, nargs="+", default=[64], help="default 64")
    return p.parse_args(argv)


def measured_peaks(net, batch, passes=2, report=print) -> list:
    """[(peak bytes tracemalloc saw, seconds)] of each freeing pass, run one after the
    other in a new thread: the Winograd workspaces are per thread, so the first pass starts
    without them. Each peak counts everything alive then, what earlier passes left too."""
    result = []

    def run():
        rng = np.random.default_rng(0)
        fastconv.clear_weight_cache()
        net.weights = {}  # made inside the first pass, as the budget counts them
        tracemalloc.start()
        try:
            for n in range(passes):
                tracemalloc.reset_peak()
                start = time.perf_counter()
                x = rng.standard_normal((batch, *net.input.shape), dtype=np.float32)
                freeing_pass(net, x)
                del x
                result.append((tracemalloc.get_traced_memory()[1],
                               time.perf_counter() - start))
                report(f"  pass {n + 1}: peak {fmt_bytes(result[-1][0])}, "
                       f"{result[-1][1]:.0f} s")
        finally:
            tracemalloc.stop()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result


def main(argv=None):
    args = parse_args(argv)
    net = Network.preset(args.net)
    report = net.analyze(fixes=False)
    for batch in args.batches:
        budget = memory_budget(net, batch, training=False, report=report)
        print(f"{args.net} batch {batch}: inference model {fmt_bytes(budget.total)} "
              f"(largest step {budget.totals['step_layer']})", flush=True)
        (first, _), (steady, _) = measured_peaks(
            net, batch, report=lambda line: print(line, flush=True))
        keep_all = net.memory_needed(batch, report)
        print(f"{args.net} batch {batch}: model {budget.total / 2**20:.0f} MiB, steady-state "
              f"peak {steady / 2**20:.0f} MiB, model/measured {budget.total / steady:.3f}; "
              f"first pass {first / 2**20:.0f} MiB (model/first {budget.total / first:.3f}); "
              f"Network.forward, keeping every output, would need {fmt_bytes(keep_all)}",
              flush=True)


if __name__ == "__main__":
    main()
