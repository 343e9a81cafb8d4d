"""Translating the ops that move channels about: a Reshape → Transpose → Reshape that
shuffles them (``channel_shuffle``), Transposes to and from (N, H, W, C) around ConvNeXt's
layer norm and linears, and Slice (and Split, made Slices by the graph) along them
(``channel_slice``). A Reshape that flattens is ``flat``'s."""

from __future__ import annotations

import numpy as np

from . import flat

_TO_CHANNELS_LAST, _TO_CHANNELS_FIRST = [0, 2, 3, 1], [0, 3, 1, 2]
_SHUFFLE = [0, 2, 1, 3, 4]


def reshape(w, i, v, allowed):
    """A channel shuffle's first Reshape (to (N, g, k, H, W)), or a flatten."""
    shuffled = _shuffle(w, i, v, allowed)
    if shuffled is not None:
        return shuffled
    return flat.reshape(w, i, v, allowed)


def _shuffle(w, i, v, allowed):
    """Reshape (N, g, k, H, W) → Transpose(0, 2, 1, 3, 4) → Reshape (N, C, H, W): a
    channel_shuffle of g groups, or None when the three are not that."""
    c, h, wd = w.shape[v]
    grid = flat.shape_target(w, i)
    if w.rank[v] != 4 or grid is None or len(grid) != 5 or grid[1] < 1 or c % grid[1]:
        return None
    groups = grid[1]
    if grid[2] not in (-1, c // groups) or list(grid[3:]) not in ([h, wd], [-1, wd], [h, -1]):
        return None
    turn = w.only_taker(w.nodes[i].output[0], allowed, {"Transpose"})
    if turn is None or w.attrs(turn)["perm"] != _SHUFFLE:
        return None
    back = w.only_taker(w.nodes[turn].output[0], allowed, {"Reshape"})
    if back is None:
        return None
    shape = flat.shape_target(w, back)
    if shape is None or len(shape) != 4 or shape[1] not in (-1, c) or list(shape[2:]) not in (
            [h, wd], [-1, wd], [h, -1]):
        return None
    w.take(turn)
    w.take(back)
    layer = w.make(back, "channel_shuffle", groups=groups)
    return w.emit(layer, back, v, w.nodes[back].output[0])


def transpose(w, i, v, allowed):
    """To (N, H, W, C) and back: the data stays ConvScope's (C, H, W) in between, read by
    the ops the table marks channels_last."""
    perm = w.attrs(i)["perm"]
    out = w.nodes[i].output[0]
    last = v in w.channels_last
    if w.rank[v] == 4 and perm == (_TO_CHANNELS_FIRST if last else _TO_CHANNELS_LAST):
        w.passthrough(v, out)
        w.channels_last.symmetric_difference_update({out})
        return [], out
    if perm == list(range(w.rank[v])):
        return w.passthrough(v, out)
    layout = "(N, H, W, C)" if last else "(N, C, H, W)"
    raise w.error(i, f"transposes {layout} data by {perm}; ConvScope reads a Transpose only "
                  "to (N, H, W, C) and back around a layer norm or linear layers, or in a "
                  "channel shuffle")


def _slice_args(w, i):
    """Slice node ``i``'s starts, ends, axes and steps (inputs from opset 10, attributes
    before)."""
    a = w.attrs(i)
    if not w.has_input(i, 1):
        if a["starts"] is None or a["ends"] is None:
            raise w.error(i, "has no starts and ends")
        return a["starts"], a["ends"], a["axes"], None
    parts = [flat.int_list(w, i, k) if w.has_input(i, k) else None for k in (1, 2, 3, 4)]
    for k, part in enumerate(parts, 1):
        if w.has_input(i, k) and part is None:
            w.const(i, k)  # refused by name: computed while running
    return parts


def slice_channels(w, i, v, allowed):
    """Slice along the channels, step 1 → channel_slice."""
    starts, ends, axes, steps = _slice_args(w, i)
    rank, c = w.rank[v], w.shape[v][0]
    axes = list(range(len(starts))) if axes is None else axes
    if v in w.channels_last or [a % rank for a in axes] != [1] or (
            steps is not None and list(steps) != [1]):
        raise w.error(i, f"slices axes {axes}; ConvScope slices only the channels (axis 1), "
                      "step 1")
    start, stop = (int(np.clip(x + c if x < 0 else x, 0, c)) for x in (starts[0], ends[0]))
    if stop <= start:
        raise w.error(i, f"slices channels {starts[0]} to {ends[0]} of {c}: none")
    layer = w.make(i, "channel_slice", start=start, stop=stop)
    return w.emit(layer, i, v, w.nodes[i].output[0], rank)


def split(w, i, v, allowed):
    """A Split the graph could not make Slices of (the channel split is)."""
    raise w.error(i, f"splits along axis {w.attrs(i)['axis']} or into sizes not known before "
                  "running; ConvScope splits only the channels (axis 1) into known pieces")
