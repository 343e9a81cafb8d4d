"""ReLU6: a ReLU capped at 6 (spec: added in version 1)."""

from __future__ import annotations

from math import prod

import numpy as np

from .base import Elementwise, Example, op_dict, register


def relu6_forward(x):
    """x: (N, C, H, W) → min(max(x, 0), 6), and x for the backward pass."""
    return np.clip(x, np.float32(0), np.float32(6)), x


def relu6_backward(dout, x):
    """dout where 0 < x < 6 (the slope there is 1), else 0."""
    return np.where((x > 0) & (x < 6), dout, 0).astype(np.float32)


@register
class ReLU6(Elementwise):
    TYPE, TITLE = "relu6", "ReLU6"
    ORDER = 15  # place in its palette group: after ReLU
    SUMMARY = ("min(max(x, 0), 6) on every element: a ReLU capped at 6 (MobileNet), as "
               "torch.nn.ReLU6; shape unchanged, no parameters.")
    FORWARD, BACKWARD = relu6_forward, relu6_backward
    LABEL, NEEDS = "RELU6", "relu6's backward (which inputs lie between 0 and 6)"
    FORMULA, GRADIENT = "min(max(0, x), 6)", "dout where 0 < x < 6, else 0"
    TORCH = "nn.ReLU6()"
    # inputs on a 0.02 grid from −8 to 8: both kinks (0 and 6) are crossed
    EXAMPLES = {"relu6": Example((4, 10, 10))}

    def onnx_nodes(self, info, graph, x, out):
        low = graph.constant(f"{out}/min", np.array(0, np.float32))
        high = graph.constant(f"{out}/max", np.array(6, np.float32))
        return graph.node("Clip", [x, low, high], out)

    def op_counts(self, shape, out):
        """min(max(0, x), 6): 2 comparisons per element."""
        return op_dict(compares=2 * prod(out))
