"""Saliency: which input pixels a chosen score or feature-map unit is most sensitive to.

The gradient of one output value (a class score, or one unit of a feature map) with respect
to every input value, found by one forward pass and one backward pass whose starting
gradient is one-hot at that unit (Simonyan et al. 2014, "Deep inside convolutional networks").
For a unit inside the network, the network is cut after its layer, so the backward pass
starts there.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConvScopeError
from ..network import Network


def truncated_at(net: Network, layer_name: str, place: str = "saliency") -> Network:
    """A copy of ``net`` that ends with top-level layer ``layer_name`` (weights shared).

    Raises ConvScopeError if there is no such top-level layer (a layer inside a block
    cannot be cut at: choose the block)."""
    names = [layer.name for layer in net.layers]
    if layer_name not in names:
        if layer_name in net.layer_names():
            raise ConvScopeError(f"'{layer_name}' is inside a block; choose the block or a "
                                 "top-level layer", place)
        raise ConvScopeError(f"no layer named '{layer_name}'", place)
    net.ensure_weights()
    cut = net.copy()
    cut.layers = cut.layers[:names.index(layer_name) + 1]
    return cut


def _as_batch(net: Network, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1 or tuple(x.shape[1:]) != net.input.shape:
        c, h, w = net.input.shape
        raise ConvScopeError(f"the image has shape {tuple(x.shape)}; saliency takes one image "
                             f"({c}, {h}, {w})", "saliency")
    return x


def saliency(net: Network, x, target_layer: str | None = None, channel: int = 0,
             y: int | None = None, x_pos: int | None = None) -> dict:
    """The gradient of one unit of ``target_layer`` (default: the last layer) with respect
    to the input image ``x`` ((C, H, W) or (1, C, H, W), as the network takes it).

    The unit is ``channel`` at row ``y``, column ``x_pos`` of the layer's output; for a
    class score (a 1×1 output) the position is (0, 0); if the position is not given on a
    larger map, the unit where that channel is strongest is used.

    Returns {"gradient": (C, H, W) dScore/dx, "map": (H, W) the largest |gradient| over the
    channels (what is drawn over the image), "score": the unit's value, "layer",
    "channel", "position": (y, x), "window": the unit's receptive field on the input,
    ((top, bottom), (left, right)), inclusive and unclipped}.
    """
    x = _as_batch(net, x)
    target_layer = target_layer or net.layers[-1].name
    cut = truncated_at(net, target_layer)
    out = cut.forward(x)[target_layer]
    _, channels, height, width = out.shape
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not (
            0 <= channel < channels):
        raise ConvScopeError(f"channel must be from 0 to {channels - 1}, got {channel!r}",
                             f"saliency of '{target_layer}'")
    row, col = _position(out[0, channel], y, x_pos, target_layer)
    grad_out = np.zeros_like(out)
    grad_out[0, channel, row, col] = 1.0
    gradient = cut.backward(grad_out)["input"][0]
    return {"gradient": gradient, "map": np.abs(gradient).max(axis=0),
            "score": float(out[0, channel, row, col]), "layer": target_layer,
            "channel": int(channel), "position": (row, col),
            "window": net.input_window(target_layer, row, col)}


def _position(feature_map, y, x_pos, layer):
    height, width = feature_map.shape
    if y is None and x_pos is None:
        if (height, width) == (1, 1):
            return 0, 0
        row, col = np.unravel_index(int(np.argmax(feature_map)), feature_map.shape)
        return int(row), int(col)
    if y is None or x_pos is None:
        raise ConvScopeError("give both y and x_pos, or neither", f"saliency of '{layer}'")
    if not (0 <= y < height and 0 <= x_pos < width):
        raise ConvScopeError(f"position ({y}, {x_pos}) is outside the {height}×{width} map",
                             f"saliency of '{layer}'")
    return int(y), int(x_pos)
