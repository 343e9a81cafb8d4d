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
        count = int(avg_count(layer, x_in.shape[1:], rows[None], cols[None])[0, 0])
        total, rule = float(window.sum() / count), f"Σ x / {count}"
    return Step(layer.name, "pool", c, y, x, [c], rows, cols, window, total=total,
                forward=float(out[c, y, x]), rule=rule)


def avg_count(layer, size, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """How many values average pooling divides by, for windows whose taps are rows (m, kh)
    × cols (n, kw) on an input of ``size`` (h, w): (m, n), at least 1, as PyTorch counts
    (the padding counts with count_include_pad, what ceil mode hangs past it never)."""
    (_, _, ph, _), (_, _, pw, _) = layer.geometry()
    h, w = size
    if layer.values["count_include_pad"]:
        down = ((rows >= -ph) & (rows < h + ph)).sum(axis=1)
        across = ((cols >= -pw) & (cols < w + pw)).sum(axis=1)
    else:
        down = ((rows >= 0) & (rows < h)).sum(axis=1)
        across = ((cols >= 0) & (cols < w)).sum(axis=1)
    return np.maximum(down[:, None] * across[None, :], 1)


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


# ====================================================================== the backward pass
# One value of a layer's gradients worked out by hand, from the dout a backward pass gave
# the layer: dx at one pixel of its input, dW at one kernel tap, db of one filter. Each is
# checked against the value the backward pass itself computed.

@dataclass
class BackStep:
    layer: str
    kind: str  # "dx" (conv), "dW", "db" or "pool dx"
    index: tuple  # dx: (channel, y, x) on the input; dW: (filter, channel, row, col); db: (f,)
    parts: list  # what the leading axis of the grids counts: filters (dx), or [one label]
    rows: np.ndarray  # (R,) the row each grid row stands for (dout row, output row, window)
    cols: np.ndarray  # (C,)
    inside: np.ndarray  # (R, C) False where the grid reads nothing (a stride hole, an edge)
    grids: dict  # name → (len(parts), R, C): the factors and their "products"
    per_part: np.ndarray  # (len(parts),) Σ of the products per part
    total: float  # what the arithmetic gives
    backward: float  # what Network.backward computed
    rule: str  # how the total is made, in words

    @property
    def agrees(self) -> bool:
        return bool(np.isclose(self.total, self.backward, rtol=1e-4, atol=1e-5))


def _filters_of(layer, c_in: int, n_filters: int, channel: int) -> tuple[list, int]:
    """The filters that read input ``channel`` (its group's), and its index in them."""
    groups = layer.values["groups"]
    per_group, filters_per_group = c_in // groups, n_filters // groups
    group = channel // per_group
    first = group * filters_per_group
    return list(range(first, first + filters_per_group)), channel - group * per_group


def _dout_taps(index: int, kernel: int, stride: int, padding: int, dilation: int):
    """On one axis, the dout position each tap of the flipped kernel meets at input
    ``index``: (positions as fractions, whole-position index or -1 in a stride hole)."""
    spot = index + padding - (kernel - 1 - np.arange(kernel)) * dilation
    whole = np.where(spot % stride == 0, spot // stride, -1)
    return spot / stride, whole


def conv_dx_step(layer, weights: dict, dout: np.ndarray, dx: np.ndarray,
                 c: int, i: int, j: int) -> BackStep:
    """dx at input pixel (c, i, j) of conv ``layer``: the full convolution of dout (F, Ho, Wo)
    with the flipped kernel, read at that pixel; ``dx`` (C, H, W) the backward pass's."""
    (kh, sh, ph, dh), (kw, sw, pw, dw) = layer.geometry()
    filters, local = _filters_of(layer, dx.shape[0], dout.shape[0], c)
    rows, row_at = _dout_taps(i, kh, sh, ph, dh)
    cols, col_at = _dout_taps(j, kw, sw, pw, dw)
    window = gather(dout, filters, row_at, col_at)
    _, ho, wo = dout.shape
    inside = ((row_at >= 0) & (row_at < ho))[:, None] & ((col_at >= 0) & (col_at < wo))[None]
    flipped = np.asarray(weights[f"{layer.name}.weight"][filters, local, ::-1, ::-1],
                         np.float64)
    products = window * flipped
    per_filter = products.sum(axis=(1, 2))
    return BackStep(layer.name, "dx", (c, i, j), filters, rows, cols, inside,
                    {"dout": window, "flipped w": flipped, "products": products}, per_filter,
                    float(per_filter.sum()), float(dx[c, i, j]),
                    f"Σ over {len(filters)} filters of dout × flipped kernel "
                    f"({kh}×{kw} taps; a full convolution)")


def conv_dw_step(layer, x_in: np.ndarray, dout: np.ndarray, dw: np.ndarray,
                 f: int, k: int, u: int, v: int) -> BackStep:
    """dW[f, k, u, v] of conv ``layer``: the input values tap (u, v) reads at every output
    position (a correlation of the input with dout), times dout of filter f, summed.
    x_in (C, H, W) the layer's input; dw (F, C/g, kh, kw) the backward pass's."""
    (_, sh, ph, dh), (_, sw, pw, dw_) = layer.geometry()
    groups = layer.values["groups"]
    c = (f // (dout.shape[0] // groups)) * (x_in.shape[0] // groups) + k
    _, ho, wo = dout.shape
    rows, cols = np.arange(ho) * sh - ph + u * dh, np.arange(wo) * sw - pw + v * dw_
    window = gather(x_in, [c], rows, cols)
    h, w = x_in.shape[1:]
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None]
    d = np.asarray(dout[f:f + 1], np.float64)
    products = window * d
    total = float(products.sum())
    return BackStep(layer.name, "dW", (f, k, u, v), [c], rows, cols, inside,
                    {"x": window, "dout": d, "products": products}, np.array([total]),
                    total, float(dw[f, k, u, v]),
                    f"Σ over {ho}×{wo} output positions of x (tap {u},{v} of input channel "
                    f"{c}) × dout")


def conv_db_step(layer, dout: np.ndarray, db: np.ndarray, f: int) -> BackStep:
    """db[f] of conv ``layer``: every dout value of filter f, summed."""
    _, ho, wo = dout.shape
    d = np.asarray(dout[f:f + 1], np.float64)
    total = float(d.sum())
    return BackStep(layer.name, "db", (f,), [f], np.arange(ho), np.arange(wo),
                    np.ones((ho, wo), bool), {"dout": d}, np.array([total]), total,
                    float(db[f]), f"Σ of dout over the {ho}×{wo} map of filter {f}")


def pool_dx_step(layer, x_in: np.ndarray, out: np.ndarray, dout: np.ndarray,
                 dx: np.ndarray, c: int, i: int, j: int) -> BackStep:
    """dx at input pixel (c, i, j) of pool ``layer``: what each window covering it routes
    back. Max: all of dout to the window's switch (its first largest value, in reading
    order, as the forward pass picked), nothing to the rest; avg: dout / the window's
    count; l2: dout · x / out. x_in (C, H, W), out and dout (C, Ho, Wo), dx the pass's."""
    (kh, sh, ph, _), (kw, sw, pw, _) = layer.geometry()
    mode = layer.values["mode"]
    _, ho, wo = out.shape
    ys = np.arange(max(0, -(-(i + ph - kh + 1) // sh)), min(ho - 1, (i + ph) // sh) + 1)
    xs = np.arange(max(0, -(-(j + pw - kw + 1) // sw)), min(wo - 1, (j + pw) // sw) + 1)
    d = dout[c][np.ix_(ys, xs)].astype(np.float64)
    tap_rows = ys[:, None] * sh - ph + np.arange(kh)  # (m, kh)
    tap_cols = xs[:, None] * sw - pw + np.arange(kw)  # (n, kw)
    if mode == "max":
        h, w = x_in.shape[1:]
        r, q = tap_rows[:, None, :, None], tap_cols[None, :, None, :]
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
        values = np.where(inside, x_in[c][np.clip(r, 0, h - 1), np.clip(q, 0, w - 1)], -np.inf)
        maxima = out[c][np.ix_(ys, xs)][:, :, None, None]
        first = np.argmax((values == maxima).reshape(len(ys), len(xs), -1), axis=-1)
        switch_row = np.take_along_axis(tap_rows, first // kw, axis=1)
        switch_col = np.take_along_axis(tap_cols, (first % kw).T, axis=1).T
        share = ((switch_row == i) & (switch_col == j)).astype(np.float64)
        rule = "dout of every window whose max (switch) is this pixel"
    elif mode == "avg":
        share = 1.0 / avg_count(layer, x_in.shape[1:], tap_rows, tap_cols)
        rule = "Σ dout / k over the windows covering the pixel (k: the window's count)"
    else:
        share = np.divide(x_in[c, i, j], out[c][np.ix_(ys, xs)].astype(np.float64),
                          out=np.zeros(d.shape), where=out[c][np.ix_(ys, xs)] > 0)
        rule = "Σ dout · x / out over the windows covering the pixel"
    share = np.broadcast_to(share, d.shape).astype(np.float64)
    products = d * share
    total = float(products.sum())
    return BackStep(layer.name, "pool dx", (c, i, j), [c], ys, xs, np.ones(d.shape, bool),
                    {"dout": d[None], "share": share[None], "products": products[None]},
                    np.array([total]), total, float(dx[c, i, j]), rule)


BACK_KINDS = {"conv": ("dx", "dW", "db"), "pool": ("pool dx",)}


def back_kinds(layer) -> tuple:
    """The backward steps a layer has (conv: dx, dW, and db if it has a bias)."""
    kinds = BACK_KINDS.get(layer.TYPE, ())
    if layer.TYPE == "conv" and not layer.values["bias"]:
        kinds = kinds[:2]
    return kinds


def back_step_for(layer, kind: str, grads, weights: dict, x_in, out, index) -> BackStep:
    """The backward step ``kind`` of ``layer`` at ``index`` from a class's gradients
    (core.live.gradients.ClassGradients): x_in and out (C, H, W) the forward pass's."""
    name, dout = layer.name, grads.douts[layer.name]
    if kind == "dx":
        return conv_dx_step(layer, weights, dout, grads.dins[name], *index)
    if kind == "dW":
        return conv_dw_step(layer, x_in, dout, grads.params[f"{name}.weight"], *index)
    if kind == "db":
        return conv_db_step(layer, dout, grads.params[f"{name}.bias"], *index)
    return pool_dx_step(layer, x_in, out, dout, grads.dins[name], *index)
