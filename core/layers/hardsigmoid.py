"""Hard sigmoid: relu6(x + 3)/6, a sigmoid made of three straight pieces (spec: added in
version 1)."""

from __future__ import annotations

import numpy as np

from .base import Elementwise, Example, register


def hardsigmoid_forward(x):
    """x: (N, C, H, W) → relu6(x + 3)/6 (0 below −3, 1 above 3), and x for the backward."""
    return np.clip(x + np.float32(3), np.float32(0), np.float32(6)) / np.float32(6), x


def hardsigmoid_backward(dout, x):
    """dout/6 where −3 < x < 3 (the middle piece's slope), else 0."""
    return np.where((x > -3) & (x < 3), dout / np.float32(6), 0).astype(np.float32)


@register
class HardSigmoid(Elementwise):
    TYPE, TITLE = "hardsigmoid", "Hard sigmoid"
    ORDER = 16  # place in its palette group: after relu6
    SUMMARY = ("relu6(x + 3)/6 on every element: a sigmoid of three straight pieces, cheap "
               "(MobileNetV3's gates), as torch.nn.Hardsigmoid; shape unchanged, no "
               "parameters.")
    FORWARD, BACKWARD = hardsigmoid_forward, hardsigmoid_backward
    LABEL, NEEDS = "HARD SIGMOID", "hard sigmoid's backward (which inputs lie between −3 and 3)"
    FORMULA = "relu6(x + 3)/6 (0 below −3, x/6 + 1/2 between, 1 above 3)"
    GRADIENT = "dout/6 where −3 < x < 3, else 0"
    TORCH = "nn.Hardsigmoid()"
    # inputs on a 0.02 grid from −4 to 4: both kinks (−3 and 3) are crossed
    EXAMPLES = {"hardsigmoid": Example((2, 10, 10))}

    def onnx_nodes(self, info, graph, x, out):
        return graph.node("HardSigmoid", [x], out, alpha=1 / 6, beta=0.5)
