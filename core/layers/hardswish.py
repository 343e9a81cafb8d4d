"""Hard swish: x·relu6(x + 3)/6, swish with a hard sigmoid (spec: added in version 1)."""

from __future__ import annotations

import numpy as np

from .base import Elementwise, Example, register
from .hardsigmoid import hardsigmoid_forward


def hardswish_forward(x):
    """x: (N, C, H, W) → x·relu6(x + 3)/6 (0 below −3, x above 3), and x for the backward."""
    gate, _ = hardsigmoid_forward(x)
    return x * gate, x


def hardswish_backward(dout, x):
    """dout·(2x + 3)/6 where −3 ≤ x ≤ 3 (torch's choice at the kinks), 0 below, dout above."""
    slope = np.where(x < -3, 0, np.where(x > 3, 1, (2 * x + 3) / np.float32(6)))
    return (dout * slope).astype(np.float32)


@register
class HardSwish(Elementwise):
    TYPE, TITLE = "hardswish", "Hard swish"
    ORDER = 17  # place in its palette group: after relu6 and hard sigmoid
    SUMMARY = ("x·relu6(x + 3)/6 on every element: swish made cheap with a hard sigmoid "
               "(MobileNetV3), as torch.nn.Hardswish; shape unchanged, no parameters.")
    FORWARD, BACKWARD = hardswish_forward, hardswish_backward
    LABEL, NEEDS = "HARD SWISH", "hard swish's backward (its input x)"
    FORMULA = "x·relu6(x + 3)/6 (0 below −3, x above 3)"
    GRADIENT = "dout·(2x + 3)/6 where −3 ≤ x ≤ 3, 0 below, dout above"
    TORCH, ONNX_OP = "nn.Hardswish()", "HardSwish"  # HardSwish: ONNX opset 14 and later
    # inputs on a 0.02 grid from −4 to 4: both kinks (−3 and 3) are crossed
    EXAMPLES = {"hardswish": Example((2, 10, 10))}
