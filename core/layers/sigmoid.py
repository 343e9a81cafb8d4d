"""Sigmoid."""

from __future__ import annotations

from .. import ops
from .base import Elementwise, Example, Footprint, register, tensor_bytes


@register
class Sigmoid(Elementwise):
    TYPE, TITLE = "sigmoid", "Sigmoid"
    ORDER = 20  # place in its palette group
    SUMMARY = "1 / (1 + e^−x) on every element: squashes to (0, 1)."
    FORWARD, BACKWARD = ops.sigmoid_forward, ops.sigmoid_backward
    LABEL, NEEDS = "SIGMOID", "sigmoid's backward (σ(x)·(1 − σ(x)) from its output)"
    FORMULA, GRADIENT = "1/(1 + e^−x)", "dout·σ·(1 − σ), from the output σ"
    TORCH, ONNX_OP = "nn.Sigmoid()", "Sigmoid"
    EXAMPLES = {"sigmoid": Example((3, 4, 4))}

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The output (also the cache); 0.5·(1 + tanh(x/2)) passes through temporaries."""
        one = tensor_bytes(out_shape, batch)
        return Footprint(one, one)
