"""Flatten: C×H×W → (C·H·W)×1×1."""

from __future__ import annotations

from .. import ops
from .base import Layer, Shaped, register


@register
class Flatten(Layer):
    TYPE, CATEGORY, TITLE = "flatten", "FC", "Flatten"
    ORDER = 10  # place in its palette group
    SUMMARY = "C×H×W becomes a (C·H·W)×1×1 vector, channel-major as PyTorch: a view, no copy."
    IN_PLACE = True

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((c * h * w, 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def forward(self, x, params, ctx):
        return ops.flatten_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.flatten_backward(dout, cache), {}
