"""The memory model against what really happens: the estimate of ``Network.memory_needed``
(what the forward pass keeps: every output and cache, the largest scratch, the workspaces
kept between passes, the weights) within 20 % of the peak tracemalloc measures over
``net.forward(x)`` (NumPy reports its arrays to tracemalloc); and the memory budget's
inference figure within 20 % of the peak of a pass that keeps only the current tensor.

Each measurement runs in a new thread (Winograd's workspaces are per thread, so it starts
without them, as a first pass does) with the transformed-weight cache emptied, and counts
everything the pass needs: the input, the weights made on first use, every allocation."""

import tracemalloc

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.network import RunContext
from convscope.core.presets import preset_path
from convscope.core.understand.memory import forward_need, memory_budget
from netutil import traced_peak

TOLERANCE = 0.20


measured = traced_peak  # the peak bytes tracemalloc sees while work() runs


def image_batch(net, batch):
    rng = np.random.default_rng(0)
    return lambda: rng.standard_normal((batch, *net.input.shape), dtype=np.float32)


def forward_peak(net, batch) -> int:
    """The pass with every weight drawn first: the guard's figure (weights + the pass's
    peak) is then the peak itself. Drawn on first use, as forward does, a layer's weights
    come after the earlier layers' peak, so a pass needs at most this."""
    make = image_batch(net, batch)
    return measured(lambda: (net.ensure_weights(), net.forward(make())))


def inference_loop_peak(net, batch) -> int:
    """A pass that keeps only the current tensor: layer by layer, each output replacing
    its input, each cache dropped (what the budget's inference mode counts)."""
    make = image_batch(net, batch)
    report = net.analyze(fixes=False)

    def work():
        net.ensure_weights(report)
        ctx = RunContext(net, report, False, np.random.default_rng(0))
        x = make()
        for layer in net.layers:
            x = layer.forward(x, ctx.params(layer), ctx)[0]  # the cache goes at once
        return x

    return measured(work)


def preset(name, size=None) -> Network:
    net = Network.load(preset_path(name))
    if size:
        net.input.height = net.input.width = size
    return net


def lrn_avg_net() -> Network:
    """A small net with LRN, padded max and average pools, l2 pooling and a 5×5 conv."""
    return Network.from_dict({
        "format": "convscope", "version": 1, "name": "lrn-avg",
        "input": {"channels": 3, "height": 96, "width": 96},
        "layers": [
            {"type": "conv", "name": "conv1", "filters": 32, "kernel": 5, "stride": 2,
             "padding": 2},
            {"type": "relu"}, {"type": "lrn", "size": 5},
            {"type": "pool", "mode": "max", "kernel": 3, "stride": 2, "padding": 1},
            {"type": "conv", "name": "conv2", "filters": 48, "kernel": 3, "padding": 1},
            {"type": "relu"}, {"type": "lrn", "size": 5},
            {"type": "pool", "mode": "avg", "kernel": 3, "stride": 2, "padding": 1},
            {"type": "pool", "mode": "l2", "kernel": 2},
            {"type": "global_avg_pool"}, {"type": "flatten"},
            {"type": "fc", "name": "fc", "units": 10}]})


NETWORKS = {
    "lenet5 batch 64": (lambda: preset("lenet5"), 64),
    "alexnet batch 2": (lambda: preset("alexnet"), 2),
    "resnet18 112x112 batch 2": (lambda: preset("resnet18", 112), 2),
    "lrn and avg pools batch 8": (lrn_avg_net, 8),
}


@pytest.mark.parametrize("case", NETWORKS)
def test_memory_needed_matches_the_measured_forward_peak(case):
    make, batch = NETWORKS[case]
    net = make()
    need = forward_need(net.analyze(fixes=False), batch)
    estimate = net.memory_needed(batch, net.analyze(fixes=False))
    assert estimate == need["total"]
    peak = forward_peak(net, batch)
    print(f"{case}: estimate {estimate / 2**20:.1f} MiB, measured {peak / 2**20:.1f} MiB "
          f"(without the weights: {(estimate - need['weights']) / 2**20:.1f} vs "
          f"{(peak - need['weights']) / 2**20:.1f} MiB)")
    assert abs(estimate - peak) <= TOLERANCE * peak
    # the weights must not hide the activations: what the pass adds is right on its own
    assert abs((estimate - need["weights"]) - (peak - need["weights"])) <= \
        TOLERANCE * (peak - need["weights"])


def small_vgg() -> Network:
    """VGG's pattern on a 56×56 image: 3×3 convs (32 and 64 channels take Winograd's
    path, with its workspaces), relus, 2×2 pools, an fc."""
    conv = lambda f: {"type": "conv", "filters": f, "kernel": 3, "padding": 1}  # noqa: E731
    relu, pool = {"type": "relu"}, {"type": "pool", "kernel": 2}
    return Network.from_dict({
        "format": "convscope", "version": 1, "name": "small-vgg",
        "input": {"channels": 3, "height": 56, "width": 56},
        "layers": [conv(32), relu, conv(32), relu, pool, conv(64), relu, conv(64), relu,
                   pool, {"type": "flatten"}, {"type": "fc", "units": 10}]})


INFERENCE = {
    "small vgg batch 8": (small_vgg, 8),
    "lrn and avg pools batch 8": (lrn_avg_net, 8),
    "lenet5 batch 64": (lambda: preset("lenet5"), 64),
}


@pytest.mark.parametrize("case", INFERENCE)
def test_inference_budget_matches_a_pass_that_frees_outputs(case):
    make, batch = INFERENCE[case]
    net = make()
    budget = memory_budget(net, batch, training=False)
    peak = inference_loop_peak(net, batch)
    print(f"{case}: inference budget {budget.total / 2**20:.2f} MiB, measured "
          f"{peak / 2**20:.2f} MiB; keeping every output "
          f"{net.memory_needed(batch, net.analyze(fixes=False)) / 2**20:.2f} MiB")
    assert abs(budget.total - peak) <= TOLERANCE * peak


def test_the_guard_refuses_vgg16_batch_64_before_allocating_with_its_figures():
    """The issue's case: estimated 4.9 GiB, used 7.8 GiB and died. Now the estimate counts
    what the pass keeps (6.9 GiB of outputs and caches beside the input) and the convs'
    workspaces (1.8 GiB), over the 6 GiB budget: refused before a weight is made."""
    net = Network.load(preset_path("vgg16"))
    x = np.zeros((64, *net.input.shape), np.float32)
    tracemalloc.start()
    try:
        with pytest.raises(ConvScopeError) as refused:
            net.forward(x)
        allocated = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert allocated < 16 << 20 and net.weights == {}  # not one layer's output, no weights
    need = forward_need(net.analyze(fixes=False), 64)
    assert str(refused.value) == (
        f"not run: one pass of batch 64 needs about {need['total'] / 2**30:.1f} GiB "
        f"(outputs and caches {(need['input'] + need['kept']) / 2**30:.1f} GiB, scratch "
        f"{need['scratch'] / 2**30:.1f} GiB, workspaces {need['held'] / 2**30:.1f} GiB, "
        f"weights {need['weights'] / 2**30:.2f} GiB), over the 6 GiB budget; make the "
        "input smaller")
    # every output of the notes' table is kept (15,237,608 values an image, the input in)
    # and so is relu's own output: VGG16's relus add 13 outputs of 64…512 channels
    assert need["input"] + need["kept"] >= 64 * 4 * 15_237_608
    assert round(need["total"] / 2**30, 1) == 9.2
