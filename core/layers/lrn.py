"""NORM: AlexNet's local response normalisation."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..fields import count, number
from .base import Example, Footprint, Layer, register, tensor_bytes
from .text import Section, n


@register
class LRN(Layer):
    TYPE, CATEGORY, TITLE = "lrn", "NORM", "Local response norm"
    ORDER = 10  # place in its palette group
    SUMMARY = ("NORM (AlexNet's LRN): divides each value by (k + α/n·Σa²)^β over n "
               "neighbouring channels. The notes: little effect, out of use.")
    FIELDS = (
        count("size", 5, "n: how many neighbouring channels", maximum=4096),
        number("alpha", 1e-4, "α"),
        number("beta", 0.75, "β"),
        number("k", 2.0, "k"),
    )
    LABEL, TABLE_LABEL, THIN = "NORM (LRN)", "NORM", True
    NEEDS = "lrn's backward (the input and its channel sums)"
    EXAMPLES = {
        "lrn_5": Example((7, 3, 3), {"size": 5, "alpha": 0.5, "beta": 0.75, "k": 2.0}),
        "lrn_even_size": Example((6, 3, 3), {"size": 4, "alpha": 0.3, "beta": 0.6, "k": 1.0}),
    }

    def describe(self):
        return f"n={self.values['size']} α={self.values['alpha']:g} β={self.values['beta']:g}"

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        v = self.values
        return (f"nn.LocalResponseNorm({v['size']}, alpha={v['alpha']!r}, "
                f"beta={v['beta']!r}, k={v['k']!r})")

    def onnx_nodes(self, info, graph, x, out):
        v = self.values
        if v["size"] % 2:
            return graph.node("LRN", [x], out, size=v["size"], alpha=v["alpha"],
                              beta=v["beta"], bias=v["k"])
        # ONNX centres an even window the other way (and ONNX Runtime refuses even sizes)
        return _spelled_out(graph, x, out, v["size"], v["alpha"], v["beta"], v["k"])

    def forward(self, x, params, ctx):
        v = self.values
        return ops.lrn_forward(x, v["size"], v["alpha"], v["beta"], v["k"])

    def backward(self, dout, cache, ctx):
        return ops.lrn_backward(dout, cache), {}

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """ops.lrn_forward keeps the output and the scale (k + α/n·Σa²) for the backward;
        the window sums run in float64 (the cumulative sum and the two gathered windows,
        twice the input's size each) beside the squares and the scale's temporaries:
        7 input sizes above what it keeps, measured with tracemalloc."""
        one = tensor_bytes(in_shape, batch)
        return Footprint(2 * one, 7 * one)


def _spelled_out(graph, x, out, size, alpha, beta, k):
    """PyTorch's local_response_norm, op by op: b = a / (k + α·mean_window(a²))^β with
    the window c − ⌊n/2⌋ … c + ⌊(n−1)/2⌋ (ONNX's LRN mirrors it for even n)."""
    sq = graph.node("Mul", [x, x], f"{out}/square")
    axes = graph.constant(f"{out}/axes", np.array([1], np.int64))
    sq5 = graph.node("Unsqueeze", [sq, axes], f"{out}/unsqueeze")
    mean = graph.node("AveragePool", [sq5], f"{out}/window_mean", kernel_shape=[size, 1, 1],
                      strides=[1, 1, 1], pads=[size // 2, 0, 0, (size - 1) // 2, 0, 0],
                      count_include_pad=1)
    mean = graph.node("Squeeze", [mean, axes], f"{out}/squeeze")
    scaled = graph.node("Mul", [mean, graph.constant(f"{out}/alpha", np.float32(alpha))],
                        f"{out}/times_alpha")
    shifted = graph.node("Add", [scaled, graph.constant(f"{out}/k", np.float32(k))],
                         f"{out}/plus_k")
    denom = graph.node("Pow", [shifted, graph.constant(f"{out}/beta", np.float32(beta))],
                       f"{out}/power")
    return graph.node("Div", [x, denom], out)


# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    v = info.layer.values
    size, alpha, beta, k = v["size"], v["alpha"], v["beta"], v["k"]
    front, back = size // 2, (size - 1) // 2
    c = info.in_shape[0]
    return [
        Section("What it computes", (
            f"b_c = a_c / (k + α/n · Σ a²)^β = a_c / ({k:g} + {alpha:g}/{size} · Σ a²)^{beta:g}"
            f", the sum over the n = {size} channels c − {front} … c + {back} at the same "
            f"pixel (clipped at 0 and {c - 1}). A value shrinks when its neighbouring "
            "channels are strong: the channels compete ('lateral inhibition'). No parameters."
        )),
        Section("Cost", f"About {size} multiply-adds per value: {n(size * info.activations)} "
                "per image. The notes: its effect is small and it has fallen out of use."),
        Section("Backward pass", "Each a_c reaches the loss directly (through b_c) and "
                "through the sums of the n channels whose windows contain it, so dx adds "
                "those two paths."),
    ]
