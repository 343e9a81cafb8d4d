"""Tanh."""

from __future__ import annotations

from math import prod

from .. import ops
from .base import Elementwise, Example, op_dict, register


@register
class Tanh(Elementwise):
    TYPE, TITLE = "tanh", "Tanh"
    ORDER = 30  # place in its palette group
    SUMMARY = "tanh(x) on every element: squashes to (−1, 1), as LeNet-5 used."
    FORWARD, BACKWARD = ops.tanh_forward, ops.tanh_backward
    LABEL, NEEDS = "TANH", "tanh's backward (1 − tanh² from its output)"
    FORMULA, GRADIENT = "tanh(x)", "dout·(1 − tanh²), from the output"
    TORCH, ONNX_OP = "nn.Tanh()", "Tanh"
    EXAMPLES = {"tanh": Example((3, 4, 4))}

    def op_counts(self, shape, out):
        """(e^2x − 1)/(e^2x + 1) per element: 1 multiplication (2x), 1 exponential,
        2 additions, 1 division."""
        n = prod(out)
        return op_dict(muls=n, exps=n, adds=2 * n, divs=n)
