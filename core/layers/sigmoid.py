"""Sigmoid."""

from __future__ import annotations

from .. import ops
from .base import Elementwise, register


@register
class Sigmoid(Elementwise):
    TYPE, TITLE = "sigmoid", "Sigmoid"
    ORDER = 20  # place in its palette group
    SUMMARY = "1 / (1 + e^−x) on every element: squashes to (0, 1)."
    FORWARD, BACKWARD = ops.sigmoid_forward, ops.sigmoid_backward
