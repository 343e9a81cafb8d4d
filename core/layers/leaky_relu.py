"""Leaky ReLU."""

from __future__ import annotations

from .. import ops
from ..fields import number
from .base import Elementwise, Example, Footprint, register, tensor_bytes


@register
class LeakyReLU(Elementwise):
    TYPE, TITLE = "leaky_relu", "Leaky ReLU"
    ORDER = 40  # place in its palette group
    SUMMARY = "x for x > 0, slope·x otherwise: a ReLU that lets a little gradient through."
    FIELDS = (number("negative_slope", 0.01, "the slope for x < 0", maximum=1e6),)
    LABEL, NEEDS = "LEAKY RELU", "leaky relu's backward (the sign of each value)"
    FORMULA = "x if x > 0, else {negative_slope:g}·x"
    GRADIENT = "dout where x > 0, else {negative_slope:g}·dout"
    TORCH = "nn.LeakyReLU({negative_slope!r})"
    EXAMPLES = {"leaky_relu": Example((3, 4, 4), {"negative_slope": 0.2})}

    def describe(self):
        return f"slope {self.values['negative_slope']:g}"

    def forward(self, x, params, ctx):
        return ops.leaky_relu_forward(x, self.values["negative_slope"])

    def backward(self, dout, cache, ctx):
        return ops.leaky_relu_backward(dout, cache), {}

    def onnx_nodes(self, info, graph, x, out):
        return graph.node("LeakyRelu", [x], out, alpha=self.values["negative_slope"])

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The output; slope·x and the mask x > 0 (a byte a value) are temporaries."""
        one = tensor_bytes(out_shape, batch)
        return Footprint(one, one + one // 4)
