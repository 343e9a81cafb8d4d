"""Softmax over channels."""

from __future__ import annotations

from .. import ops
from .base import Example, Footprint, Layer, register, tensor_bytes
from .text import Section


@register
class Softmax(Layer):
    TYPE, CATEGORY, TITLE = "softmax", "activation", "Softmax"
    ORDER = 90  # place in its palette group
    SUMMARY = "Turns the scores at every position into probabilities over the channels."
    LABEL, TABLE_LABEL, QUIET, THIN = "SOFTMAX", "SOFTMAX", "over channels", True
    NEEDS = "softmax's backward (its output)"
    EXAMPLES = {"softmax": Example((5, 2, 3))}

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        return "nn.Softmax(dim=1)"

    def onnx_nodes(self, info, graph, x, out):
        return graph.node("Softmax", [x], out, axis=1)

    def forward(self, x, params, ctx):
        return ops.softmax_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.softmax_backward(dout, cache), {}

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The probabilities (also the cache); the exponentials are a temporary."""
        one = tensor_bytes(out_shape, batch)
        return Footprint(one, one)



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    c = info.out[0]
    return [Section("What it computes", (
        f"At every position p_i = e^(s_i) / Σ_j e^(s_j) over the {c} channels: the scores "
        "become probabilities that add up to 1. Backward: dx = p·(dout − Σ p·dout); with "
        "the cross-entropy loss this becomes simply p − onehot(label)."))]
