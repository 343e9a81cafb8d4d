"""Dropout."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..fields import number
from .base import Example, Footprint, Layer, register, tensor_bytes
from .text import Section


@register
class Dropout(Layer):
    TYPE, CATEGORY, TITLE = "dropout", "NORM", "Dropout"
    ORDER = 30  # place in its palette group
    SUMMARY = ("Training: zeroes each value with probability `rate` and scales the rest by "
               "1/(1−rate). Inference: identity.")
    FIELDS = (number("rate", 0.5, "the probability of dropping a value", maximum=0.999),)
    IN_PLACE = True
    LABEL, TABLE_LABEL, THIN = "DROPOUT", "DROPOUT", True
    NEEDS = "dropout's backward (its mask)"
    EXAMPLES = {
        "dropout_training": Example((3, 4, 4), {"rate": 0.5}, training=True, random=True),
        "dropout_inference": Example((3, 4, 4), {"rate": 0.5}),
    }

    def describe(self):
        return f"p={self.values['rate']:g}"

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        return f"nn.Dropout(p={self.values['rate']!r})"

    def onnx_nodes(self, info, graph, x, out):
        ratio = graph.constant(f"{out}/ratio", np.array(self.values["rate"], np.float32))
        return graph.node("Dropout", [x, ratio], out)

    def forward(self, x, params, ctx):
        return ops.dropout_forward(x, self.values["rate"], ctx.training, ctx.rng)

    def backward(self, dout, cache, ctx):
        return ops.dropout_backward(dout, cache), {}

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """Nothing at inference (the input goes through); training keeps the mask and the
        masked output."""
        return Footprint(2 * tensor_bytes(out_shape, batch) if training else 0)



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    rate = info.layer.get("rate")
    return [Section("What it does", (
        f"Training: each value is zeroed with probability {rate:g} and the survivors are "
        f"scaled by 1/(1 − {rate:g}) = {1 / (1 - rate):.3g}, so the expected value is "
        "unchanged ('inverted dropout'). Inference: the identity. No parameters; it runs "
        "in place. Backward multiplies dout by the same mask."))]
