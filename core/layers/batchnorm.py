"""Batch normalisation."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..fields import number
from .base import Layer, register


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

    def describe(self):
        return f"ε={self.values['eps']:g}"

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
