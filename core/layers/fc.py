"""FC: fully connected."""

from __future__ import annotations

from math import prod

from .. import ops
from ..fields import count, flag
from .base import Layer, Shaped, register


@register
class FC(Layer):
    TYPE, CATEGORY, TITLE = "fc", "FC", "Fully connected"
    ORDER = 20  # place in its palette group
    SUMMARY = ("FC: every output is connected to every input value; a spatial input is "
               "flattened first. Weights: inputs × units.")
    FIELDS = (
        count("units", 1000, "how many outputs", required=True),
        flag("bias", True, "add one learned number per unit"),
    )

    def describe(self):
        return f"{self.values['units']} units"

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((self.values["units"], 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def param_shapes(self, shape):
        shapes = {"weight": (self.values["units"], prod(shape))}
        if self.values["bias"]:
            shapes["bias"] = (self.values["units"],)
        return shapes

    def weight_count(self, shape):
        return self.values["units"] * prod(shape)

    def macs(self, shape, out):
        return self.weight_count(shape)

    def forward(self, x, params, ctx):
        return ops.fc_forward(x, params["weight"], params.get("bias"))

    def backward(self, dout, cache, ctx):
        dx, dw, db = ops.fc_backward(dout, cache)
        grads = {"weight": dw}
        if db is not None:
            grads["bias"] = db
        return dx, grads
