"""One output value worked out by hand, as the notes' convolution demo does: the window of
the input under the kernel, the weights, their products, the sums and the bias.

Pure NumPy on the arrays of a forward pass, so a test can check that the shown sum is the
value the pass computed. Coordinates on the input may fall in the zero padding (below 0 or
past the edge): those taps read 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Step:
    layer: str
    kind: str  # "conv", "pool" or "pixel"
    channel: int  # output channel (conv: the filter)
    y: int
    x: int
    channels: list  # the input channels the value reads
    taps_y: np.ndarray  # (kh,) row on the input map of each kernel row (dilation included)
    taps_x: np.ndarray  # (kw,)
    window: np.ndarray  # (len(channels), kh, kw) input values under the taps, 0 in padding
    weights: np.ndarray | None = None  # conv: (len(channels), kh, kw)
    products: np.ndarray | None = None  # conv: weights · window
    per_channel: np.ndarray | None = None  # conv: Σ of products per input channel
    bias: float = 0.0
    total: float = 0.0  # what the arithmetic gives
    forward: float = 0.0  # what the forward pass stored
    rule: str = ""  # how the total is made, in words

    @property
    def agrees(self) -> bool:
        return bool(np.isclose(self.total, self.forward, rtol=1e-4, atol=1e-5))


def taps(out_index: int, kernel: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """Input coordinates of the kernel taps for output ``out_index`` on one axis."""
    return out_index * stride - padding + np.arange(kernel) * dilation


def gather(maps: np.ndarray, channels, rows: np.ndarray, cols: np.ndarray,
           fill: float = 0.0) -> np.ndarray:
    """maps (C, H, W) at channels × rows × cols, ``fill`` where a tap is in the padding."""
    _, h, w = maps.shape
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
    picked = maps[np.ix_(list(channels), np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1))]
    return np.where(inside[None], picked, fill).astype(np.float64)


def conv_step(layer, weights: dict, x_in: np.ndarray, out: np.ndarray,
              f: int, y: int, x: int) -> Step:
    """Output (f, y, x) of conv ``layer``: x_in (C, H, W) its input, out (F, Ho, Wo)."""
    (kh, sh, ph, dh), (kw, sw, pw, dw) = layer.geometry()
    groups = layer.values["groups"]
    c_in, n_filters = x_in.shape[0], out.shape[0]
    per_group, filters_per_group = c_in // groups, n_filters // groups
    first = (f // filters_per_group) * per_group
    channels = list(range(first, first + per_group))
    rows, cols = taps(y, kh, sh, ph, dh), taps(x, kw, sw, pw, dw)
    window = gather(x_in, channels, rows, cols)
    w = np.asarray(weights[f"{layer.name}.weight"][f], np.float64)
    bias_array = weights.get(f"{layer.name}.bias")
    bias = float(bias_array[f]) if bias_array is not None else 0.0
    products = w * window
    per_channel = products.sum(axis=(1, 2))
    total = float(per_channel.sum() + bias)
    return Step(layer.name, "conv", f, y, x, channels, rows, cols, window, w, products,
                per_channel, bias, total, float(out[f, y, x]),
                f"Σ w·x over {len(channels)}×{kh}×{kw} taps + bias")


def pool_step(layer, x_in: np.ndarray, out: np.ndarray, c: int, y: int, x: int) -> Step:
    """Output (c, y, x) of pool ``layer``: the window of channel c and its max/mean/L2."""
    (kh, sh, ph, _), (kw, sw, pw, _) = layer.geometry()
    mode = layer.values["mode"]
    rows, cols = taps(y, kh, sh, ph, 1), taps(x, kw, sw, pw, 1)
    fill = -np.inf if mode == "max" else 0.0
    window = gather(x_in, [c], rows, cols, fill)
    if mode == "max":
        total, rule = float(window.max()), "the largest value of the window"
    elif mode == "l2":
        total, rule = float(np.sqrt((window ** 2).sum())), "√(Σ x²) over the window"
    else:
        h, w = x_in.shape[1:]
        inside = ((rows >= 0) & (rows < h)).sum() * ((cols >= 0) & (cols < w)).sum()
        padded = (((rows >= -ph) & (rows < h + ph)).sum()
                  * ((cols >= -pw) & (cols < w + pw)).sum())
        count = padded if layer.values["count_include_pad"] else inside
        total, rule = float(window.sum() / max(count, 1)), f"Σ x / {count}"
    return Step(layer.name, "pool", c, y, x, [c], rows, cols, window, total=total,
                forward=float(out[c, y, x]), rule=rule)


def pixel_step(layer, x_in: np.ndarray, out: np.ndarray, c: int, y: int, x: int) -> Step:
    """An element-wise layer: the output pixel reads the same pixel of its input."""
    rows, cols = np.array([y]), np.array([x])
    window = gather(x_in, [c], rows, cols)
    return Step(layer.name, "pixel", c, y, x, [c], rows, cols, window,
                total=float(out[c, y, x]), forward=float(out[c, y, x]),
                rule=f"{layer.TYPE} of the same pixel")


def step_for(layer, weights: dict, x_in, out, channel: int, y: int, x: int) -> Step | None:
    """The step of any layer whose output pixel reads a window of one input tensor."""
    if layer.TYPE == "conv":
        return conv_step(layer, weights, x_in, out, channel, y, x)
    if layer.TYPE == "pool":
        return pool_step(layer, x_in, out, channel, y, x)
    if x_in is not None and x_in.shape == out.shape and layer.TYPE != "softmax":
        return pixel_step(layer, x_in, out, channel, y, x)
    return None
