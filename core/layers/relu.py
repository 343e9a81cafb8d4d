"""RELU."""

from __future__ import annotations

from .. import ops
from .base import Elementwise, register


@register
class ReLU(Elementwise):
    TYPE, TITLE = "relu", "ReLU"
    ORDER = 10  # place in its palette group
    SUMMARY = "RELU: max(0, x) on every element; shape unchanged, no parameters."
    FORWARD, BACKWARD = ops.relu_forward, ops.relu_backward
