"""Global average pooling: H×W×C → 1×1×C."""

from __future__ import annotations

from .. import ops
from .base import Layer, Shaped, register


@register
class GlobalAvgPool(Layer):
    TYPE, CATEGORY, TITLE = "global_avg_pool", "POOL", "Global average pool"
    ORDER = 20  # place in its palette group
    SUMMARY = "Averages each channel over all of H and W: H×W×C becomes 1×1×C (GoogLeNet, ResNet)."

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((c, 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def describe(self):
        return "mean over H, W"

    def forward(self, x, params, ctx):
        return ops.global_avg_pool_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.global_avg_pool_backward(dout, cache), {}
