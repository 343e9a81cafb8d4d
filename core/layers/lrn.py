"""NORM: AlexNet's local response normalisation."""

from __future__ import annotations

from .. import ops
from ..fields import count, number
from .base import Layer, register


@register
class LRN(Layer):
    TYPE, CATEGORY, TITLE = "lrn", "NORM", "Local response norm"
    ORDER = 10  # place in its palette group
    SUMMARY = ("NORM (AlexNet's LRN): divides each value by (k + α/n·Σa²)^β over n "
               "neighbouring channels. The notes: little effect, out of use.")
    FIELDS = (
        count("size", 5, "n: how many neighbouring channels", maximum=4096),
        number("alpha", 1e-4, "α"),
        number("beta", 0.75, "β"),
        number("k", 2.0, "k"),
    )

    def describe(self):
        return f"n={self.values['size']} α={self.values['alpha']:g} β={self.values['beta']:g}"

    def forward(self, x, params, ctx):
        v = self.values
        return ops.lrn_forward(x, v["size"], v["alpha"], v["beta"], v["k"])

    def backward(self, dout, cache, ctx):
        return ops.lrn_backward(dout, cache), {}
