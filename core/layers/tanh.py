"""Tanh."""

from __future__ import annotations

from .. import ops
from .base import Elementwise, Example, register


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
