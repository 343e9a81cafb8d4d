"""The first conv's weights: which conv reads the image, and the classic filter bank for it
(the GUI pushes the result as one undoable edit)."""

from __future__ import annotations

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.filterbank import classic_filters

from .tensors import producer


def first_conv(report):
    """The LayerInfo of the first conv that reads the input image, or None."""
    for info in report.layers:
        if info.type == "conv" and info.out is not None and producer(report, info.name) == "input":
            return info
    return None


def classic_weights(network, report) -> tuple[str, dict]:
    """(conv name, the network's weights with that conv's filters from the classic bank)."""
    info = first_conv(report)
    if info is None:
        raise ConvScopeError("the network has no conv layer reading the input")
    shapes = info.layer.param_shapes(info.in_shape)
    n, channels, kh, kw = shapes["weight"]
    weights = dict(network.weights)
    weights[f"{info.name}.weight"] = classic_filters(n, channels, kh, kw, seed=network.seed)
    if "bias" in shapes:
        weights[f"{info.name}.bias"] = np.zeros(shapes["bias"], np.float32)
    return info.name, weights
