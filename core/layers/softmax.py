"""Softmax over channels."""

from __future__ import annotations

from .. import ops
from .base import Layer, register


@register
class Softmax(Layer):
    TYPE, CATEGORY, TITLE = "softmax", "activation", "Softmax"
    ORDER = 90  # place in its palette group
    SUMMARY = "Turns the scores at every position into probabilities over the channels."

    def forward(self, x, params, ctx):
        return ops.softmax_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.softmax_backward(dout, cache), {}
