"""Dropout."""

from __future__ import annotations

from .. import ops
from ..fields import number
from .base import Layer, register


@register
class Dropout(Layer):
    TYPE, CATEGORY, TITLE = "dropout", "NORM", "Dropout"
    ORDER = 30  # place in its palette group
    SUMMARY = ("Training: zeroes each value with probability `rate` and scales the rest by "
               "1/(1−rate). Inference: identity.")
    FIELDS = (number("rate", 0.5, "the probability of dropping a value", maximum=0.999),)
    IN_PLACE = True

    def describe(self):
        return f"p={self.values['rate']:g}"

    def forward(self, x, params, ctx):
        return ops.dropout_forward(x, self.values["rate"], ctx.training, ctx.rng)

    def backward(self, dout, cache, ctx):
        return ops.dropout_backward(dout, cache), {}
