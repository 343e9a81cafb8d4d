"""Layer normalisation over the channels at every position: ConvNeXt's LayerNorm2d (spec:
added in version 1)."""

from __future__ import annotations

import numpy as np

from ..fields import number
from .base import Example, Layer, register
from .text import Section, n

_TORCH_LAYERNORM2D = '''
class LayerNorm2d(nn.Module):
    """ConvNeXt's LayerNorm2d: the C values at every position normalised (mean and biased
    variance over the channels), then a per-channel weight and bias. nn.LayerNorm
    normalises the last axes, so the channels are moved last and back."""

    def __init__(self, channels, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
'''


def layernorm_forward(x, weight, bias, eps):
    """x: (N, C, H, W), weight and bias: (C,) → out (N, C, H, W), and the cache (x̂, 1/σ
    (N, 1, H, W), weight). Each position's C values become x̂ = (x − mean)/sqrt(var + eps)
    (biased variance, over the channels), then out = weight·x̂ + bias per channel."""
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    xhat = ((x - mean) * inv_std).astype(np.float32)
    out = weight.reshape(1, -1, 1, 1) * xhat + bias.reshape(1, -1, 1, 1)
    return out.astype(np.float32), (xhat, inv_std, weight)


def layernorm_backward(dout, cache):
    """dout: (N, C, H, W) → dx (N, C, H, W), d(weight) and d(bias) (C,).

    With g = dout·weight, at each position over its C channels:
    dx = (g − mean(g) − x̂·mean(g·x̂)) / σ; the two means are the paths through the
    position's mean and variance, which every one of its channels moved."""
    xhat, inv_std, weight = cache
    dbias = dout.sum(axis=(0, 2, 3))
    dweight = (dout * xhat).sum(axis=(0, 2, 3))
    g = dout * weight.reshape(1, -1, 1, 1)
    dx = (g - g.mean(axis=1, keepdims=True)
          - xhat * (g * xhat).mean(axis=1, keepdims=True)) * inv_std
    return dx.astype(np.float32), dweight.astype(np.float32), dbias.astype(np.float32)


@register
class LayerNorm(Layer):
    TYPE, CATEGORY, TITLE = "layernorm", "NORM", "Layer norm"
    ORDER = 25  # place in its palette group: after batch norm
    SUMMARY = ("Normalises the C values at every position (mean and variance over the "
               "channels, so no batch statistics), then scales by γ and shifts by β per "
               "channel: ConvNeXt's LayerNorm2d.")
    FIELDS = (number("eps", 1e-6, "added to the variance", maximum=1.0),)
    LABEL, TABLE_LABEL, THIN = "LAYERNORM", "LN", True
    NEEDS = "layernorm's backward (the normalised input x̂ and 1/σ at each position)"
    EXAMPLES = {
        # randomise() gives γ and β random values
        "layernorm": Example((4, 3, 3)),
        "layernorm_eps": Example((3, 2, 4), {"eps": 0.1}, batch=3),
    }

    def describe(self):
        return f"ε={self.values['eps']:g}"

    def explain(self, info):
        c, h, w = info.in_shape
        eps = self.values["eps"]
        return [
            Section("What it computes", (
                f"At each of the {h}·{w} positions of each image: x̂ = (x − mean)/sqrt(var + "
                f"{eps:g}) over that position's {c} channel values, then y = γ·x̂ + β per "
                "channel. Unlike batch norm it uses no batch statistics: training and "
                "inference compute the same, for any batch size.")),
            Section("Parameters", f"γ and β per channel: 2·{c} = {n(info.params)} learned "
                    "parameters (.weight and .bias), no running statistics."),
            Section("Backward pass", "dβ = Σ dout, dγ = Σ dout·x̂ (per channel); dx goes "
                    "through x̂ and through the position's mean and variance, which all "
                    f"{c} of its channels moved."),
        ]

    def torch_module(self, info, code):
        code.use(_TORCH_LAYERNORM2D)
        return f"LayerNorm2d({info.in_shape[0]}, eps={self.values['eps']!r})"

    def onnx_nodes(self, info, graph, x, out):
        # LayerNormalization normalises the last axes: channels last, normalise, and back
        nhwc = graph.node("Transpose", [x], f"{out}/to_nhwc", perm=[0, 2, 3, 1])
        params = [graph.weight(self, p) for p in ("weight", "bias")]
        normed = graph.node("LayerNormalization", [nhwc, *params], f"{out}/normalised",
                            axis=-1, epsilon=self.values["eps"])
        return graph.node("Transpose", [normed], out, perm=[0, 3, 1, 2])

    def param_shapes(self, shape):
        return {"weight": (shape[0],), "bias": (shape[0],)}

    def init_param(self, name, shape, rng):
        return np.full(shape, 1.0 if name == "weight" else 0.0, np.float32)

    def forward(self, x, params, ctx):
        return layernorm_forward(x, params["weight"], params["bias"], self.values["eps"])

    def backward(self, dout, cache, ctx):
        dx, dweight, dbias = layernorm_backward(dout, cache)
        return dx, {"weight": dweight, "bias": dbias}
