"""Batch normalisation."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..fields import number
from .base import Example, Footprint, Layer, register, tensor_bytes
from .text import Section, n


@register
class BatchNorm(Layer):
    TYPE, CATEGORY, TITLE = "batchnorm", "NORM", "Batch norm"
    ORDER = 20  # place in its palette group
    SUMMARY = ("Normalises each channel to zero mean, unit variance (batch statistics when "
               "training, running ones at inference), then scales by γ and shifts by β.")
    FIELDS = (
        number("eps", 1e-5, "added to the variance", maximum=1.0),
        number("momentum", 0.1, "how fast the running statistics follow", maximum=1.0),
    )
    LABEL, TABLE_LABEL, THIN = "BATCHNORM", "BN", True
    NEEDS = "batchnorm's backward (the normalised input x̂)"
    EXAMPLES = {
        "batchnorm_training": Example((3, 3, 4), batch=3, training=True),
        "batchnorm_inference": Example((3, 3, 4), {"eps": 1e-3}, batch=3),
    }

    def describe(self):
        return f"ε={self.values['eps']:g}"

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        v = self.values
        return f"nn.BatchNorm2d({info.in_shape[0]}, eps={v['eps']!r}, momentum={v['momentum']!r})"

    def onnx_nodes(self, info, graph, x, out):
        params = [graph.weight(self, p) for p in ("weight", "bias", "running_mean",
                                                   "running_var")]
        # ONNX's momentum weighs the old running value: PyTorch's 0.1 is ONNX's 0.9
        return graph.node("BatchNormalization", [x, *params], out,
                          epsilon=self.values["eps"], momentum=1.0 - self.values["momentum"])

    def param_shapes(self, shape):
        c = shape[0]
        return {"weight": (c,), "bias": (c,), "running_mean": (c,), "running_var": (c,)}

    def buffers(self):
        return ("running_mean", "running_var")

    def init_param(self, name, shape, rng):
        value = 1.0 if name in ("weight", "running_var") else 0.0
        return np.full(shape, value, np.float32)

    def forward(self, x, params, ctx):
        return ops.batchnorm_forward(x, params["weight"], params["bias"], params["running_mean"],
                                     params["running_var"], self.values["eps"],
                                     self.values["momentum"], ctx.training)

    def backward(self, dout, cache, ctx):
        dx, dgamma, dbeta = ops.batchnorm_backward(dout, cache)
        return dx, {"weight": dgamma, "bias": dbeta}

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The output; training also keeps x̂ for the backward pass."""
        one = tensor_bytes(out_shape, batch)
        return Footprint(2 * one if training else one)



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    c, h, w = info.in_shape
    eps = info.layer.get("eps")
    return [
        Section("What it computes", (
            f"For each of the {c} channels: x̂ = (x − mean)/sqrt(var + {eps:g}) over the "
            f"batch's N·{h}·{w} values of that channel (training), then y = γ·x̂ + β. At "
            "inference the running mean and variance, averaged during training, replace "
            "the batch's.")),
        Section("Parameters", f"γ and β per channel: 2·{c} = {n(info.params)} learned "
                f"parameters, plus 2·{c} running statistics that are state, not learned."),
        Section("Backward pass", "dβ = Σ dout, dγ = Σ dout·x̂ (per channel); dx goes "
                "through x̂ and also through the batch mean and variance, since every value "
                "of the batch moved them."),
    ]
