"""PReLU: a leaky ReLU whose slope is learned, one per channel (spec: added in version 1)."""

from __future__ import annotations

import numpy as np

from .base import Elementwise, Example, register
from .text import Section, n, vol

INITIAL_SLOPE = 0.25  # torch.nn.PReLU's init, the same for every channel


def prelu_forward(x, weight):
    """x: (N, C, H, W), weight: (C,) → max(0, x) + a·min(0, x) with a = weight[c]:
    out (N, C, H, W), and (x, weight) for the backward pass."""
    slope = weight.reshape(1, -1, 1, 1)
    return np.where(x > 0, x, slope * x).astype(np.float32), (x, weight)


def prelu_backward(dout, cache):
    """dout: (N, C, H, W) → dx (N, C, H, W) and d(weight) (C,): dx is dout where x > 0,
    else a·dout; d(weight) is Σ dout·min(0, x) over N, H and W."""
    x, weight = cache
    slope = weight.reshape(1, -1, 1, 1)
    dx = np.where(x > 0, dout, slope * dout).astype(np.float32)
    dweight = (dout * np.minimum(x, 0)).sum(axis=(0, 2, 3)).astype(np.float32)
    return dx, dweight


@register
class PReLU(Elementwise):
    TYPE, TITLE = "prelu", "PReLU"
    ORDER = 45  # place in its palette group: after leaky ReLU, whose slope it learns
    SUMMARY = ("max(0, x) + a·min(0, x) with one learned slope a per channel, as "
               "torch.nn.PReLU(C); a starts at 0.25. Shape unchanged, C parameters.")
    LABEL, NEEDS = "PRELU", "prelu's backward (each value's sign, and min(0, x) for d(a))"
    TORCH = "nn.PReLU({channels})"
    # randomise() gives the slopes random values; the grid input has negatives and positives
    EXAMPLES = {
        "prelu": Example((3, 4, 4)),
        "prelu_then_conv": Example((2, 3, 3), then=({"type": "conv", "filters": 2,
                                                       "kernel": 3, "padding": 1},)),
    }

    def explain(self, info):
        c = info.in_shape[0]
        return [
            Section("What it computes", (
                f"max(0, x) + a·min(0, x) on each of the {n(info.activations)} values, with "
                f"the slope a of the value's channel: {c} learned slopes (they start at "
                f"{INITIAL_SLOPE:g}). A leaky ReLU whose slope the network learns; the shape "
                f"{vol(info.out)} is unchanged and it runs in place.")),
            Section("Parameters", f"One slope per channel: {n(info.params)} parameters "
                    "(weights file key .weight, shape (C,))."),
            Section("Backward pass", "dx = dout where x > 0, else a·dout; d(a) of a channel "
                    "= Σ dout·min(0, x) over the batch and every position of that channel."),
        ]

    def torch_module(self, info, code):
        return self.TORCH.format(channels=info.in_shape[0])

    def onnx_nodes(self, info, graph, x, out):
        # ONNX broadcasts the slope from the right: (C, 1, 1) lines it up with the channels
        slope = graph.node("Reshape", [graph.weight(self, "weight"),
                                       graph.constant(f"{out}/slope_shape",
                                                      np.array([-1, 1, 1], np.int64))],
                           f"{out}/slope")
        return graph.node("PRelu", [x, slope], out)

    def param_shapes(self, shape):
        return {"weight": (shape[0],)}

    def init_param(self, name, shape, rng):
        return np.full(shape, INITIAL_SLOPE, np.float32)

    def forward(self, x, params, ctx):
        return prelu_forward(x, params["weight"])

    def backward(self, dout, cache, ctx):
        dx, dweight = prelu_backward(dout, cache)
        return dx, {"weight": dweight}
