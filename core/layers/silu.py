"""SiLU (swish): x·σ(x) (spec: added in version 1)."""

from __future__ import annotations

from .. import ops
from .base import Elementwise, Example, register


def silu_forward(x):
    """x: (N, C, H, W) → x·σ(x), and (x, σ(x)) for the backward pass."""
    sig, _ = ops.sigmoid_forward(x)
    return x * sig, (x, sig)


def silu_backward(dout, cache):
    """dout·(σ + x·σ·(1 − σ)) = dout·σ·(1 + x·(1 − σ))."""
    x, sig = cache
    return dout * sig * (1 + x * (1 - sig))


@register
class SiLU(Elementwise):
    TYPE, TITLE = "silu", "SiLU (swish)"
    ORDER = 18  # place in its palette group: after relu6, hard sigmoid and hard swish
    SUMMARY = ("x·σ(x) on every element: swish (EfficientNet), smooth and not monotonic, as "
               "torch.nn.SiLU; shape unchanged, no parameters.")
    FORWARD, BACKWARD = silu_forward, silu_backward
    LABEL, NEEDS = "SILU", "silu's backward (its input x and σ(x))"
    FORMULA, GRADIENT = "x·σ(x) = x/(1 + e^−x)", "dout·σ·(1 + x·(1 − σ))"
    TORCH = "nn.SiLU()"
    # inputs on a 0.02 grid from −4 to 4: both sides of the minimum near x = −1.28
    EXAMPLES = {"silu": Example((2, 10, 10))}

    def onnx_nodes(self, info, graph, x, out):
        """Opset 17 has no SiLU: Sigmoid, then Mul."""
        sig = graph.node("Sigmoid", [x], f"{out}/sigmoid")
        return graph.node("Mul", [x, sig], out)
