"""RELU."""

from __future__ import annotations

from math import prod

from .. import ops
from .base import Elementwise, Example, op_dict, register


@register
class ReLU(Elementwise):
    TYPE, TITLE = "relu", "ReLU"
    ORDER = 10  # place in its palette group
    SUMMARY = "RELU: max(0, x) on every element; shape unchanged, no parameters."
    FORWARD, BACKWARD = ops.relu_forward, ops.relu_backward
    LABEL, NEEDS = "RELU", "relu's backward (which outputs are > 0)"
    FORMULA, GRADIENT = "max(0, x)", "dout where x > 0, else 0"
    TORCH, ONNX_OP = "nn.ReLU()", "Relu"
    EXAMPLES = {"relu": Example((3, 4, 4))}

    def op_counts(self, shape, out):
        """max(0, x): 1 comparison per element."""
        return op_dict(compares=prod(out))
