"""Small pieces the layers' PyTorch and ONNX emitters share."""

from __future__ import annotations

import numpy as np


def torch_pair(pair) -> str:
    """(3, 3) → ``3``; (3, 1) → ``(3, 1)``: as nn.Conv2d's arguments are written."""
    h, w = pair
    return str(h) if h == w else f"({h}, {w})"


def torch_keywords(**values) -> list[str]:
    """``key=value`` for every (value, default) whose value is not its default."""
    out = []
    for key, (value, default) in values.items():
        if isinstance(value, tuple):
            if value != (default, default):
                out.append(f"{key}={torch_pair(value)}")
        elif value != default:
            out.append(f"{key}={value}")
    return out


def to_vector(graph, x, out) -> str:
    """ONNX nodes for (N, D) → (N, D, 1, 1): ConvScope keeps a vector as a C×1×1 tensor."""
    shape = graph.constant(f"{out}/shape", np.array([0, -1, 1, 1], np.int64))
    return graph.node("Reshape", [x, shape], out, name=f"{out}/reshape")
