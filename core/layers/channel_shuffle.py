"""Channel shuffle: ShuffleNet's reordering of the channels so that grouped convolutions
after it see every group (spec: added in version 1)."""

from __future__ import annotations

import numpy as np

from ..fields import count
from .base import Diagnostic, Example, Layer, Shaped, register
from .text import Section, n, vol


def channel_shuffle_forward(x, groups):
    """x: (N, C, H, W) with C = g·k → out (N, C, H, W): the channels read as a (g, k) grid
    and transposed to (k, g), so out channel i·g + j is input channel j·k + i."""
    n_, c, h, w = x.shape
    out = x.reshape(n_, groups, c // groups, h, w).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(out.reshape(n_, c, h, w)), groups


def channel_shuffle_backward(dout, groups):
    """dout: (N, C, H, W) → dx (N, C, H, W): the inverse permutation, a shuffle with the
    grid's other side (k groups) as the groups."""
    return channel_shuffle_forward(dout, dout.shape[1] // groups)[0]


@register
class ChannelShuffle(Layer):
    TYPE, CATEGORY, TITLE = "channel_shuffle", "blocks", "Channel shuffle"
    ORDER = 40  # place in its palette group: after concat, with which ShuffleNet units end
    SUMMARY = ("ShuffleNet's shuffle: C = g·k channels read as g groups of k and interleaved "
               "(the (g, k) grid transposed to (k, g)), so the next grouped convolution "
               "mixes the groups. Shape unchanged, no parameters.")
    FIELDS = (count("groups", 2, "g: the groups the channels come in", required=True),)
    LABEL, TABLE_LABEL, THIN = "SHUFFLE", "SHUFFLE", True
    NEEDS = ""  # the backward is the inverse permutation: it keeps no tensor
    EXAMPLES = {
        "channel_shuffle_g2": Example((6, 3, 3), {"groups": 2}),
        "channel_shuffle_g3": Example((6, 2, 3), {"groups": 3}, then=(
            {"type": "conv", "filters": 3, "kernel": 1, "groups": 3},)),
        # a ShuffleNet V2 unit: split in two, one half through convolutions, concatenated
        # and shuffled (tanh, not ReLU: no kinks for the gradient check to straddle)
        "channel_shuffle_shufflenet_v2_unit": Example((4, 4, 4), {"groups": 2}, then=(
            {"type": "concat", "branches": [
                [{"type": "channel_slice", "start": 0, "stop": 2}],
                [{"type": "channel_slice", "start": 2, "stop": 4},
                 {"type": "conv", "filters": 2, "kernel": 1},
                 {"type": "conv", "filters": 2, "kernel": 3, "padding": 1, "groups": 2},
                 {"type": "tanh"}]]},
            {"type": "channel_shuffle", "groups": 2})),
    }

    def describe(self):
        return f"g={self.values['groups']}"

    def shaped(self, shape):
        c, g = shape[0], self.values["groups"]
        if c % g:
            return Shaped(None, [Diagnostic(
                "error", f"channels {c} are not divisible by groups {g}")])
        return super().shaped(shape)

    def explain(self, info):
        c = info.in_shape[0]
        g = self.values["groups"]
        k = c // g
        order = channel_shuffle_forward(np.arange(c).reshape(1, c, 1, 1), g)[0].ravel()
        shown = ", ".join(str(i) for i in order[:8]) + (", …" if c > 8 else "")
        return [
            Section("What it computes", (
                f"The {c} channels are read as {g} groups of {k} (a {g}×{k} grid) and "
                f"transposed to {k}×{g}: the output takes channel 0 of every group, then "
                f"channel 1 of every group, … (the output's channels are input channels "
                f"{shown}). The shape {vol(info.out)} is unchanged; no parameters, no "
                f"arithmetic, {n(info.activations)} values copied.")),
            Section("Why", "A grouped convolution sees only its own group's channels; "
                    "after a shuffle each group of the next one holds a channel of every "
                    "group, so information crosses the groups (ShuffleNet)."),
            Section("Backward pass", "dout goes back through the inverse permutation (a "
                    f"{k}×{g} grid transposed to {g}×{k}); nothing is kept from the forward."),
        ]

    def torch_module(self, info, code):
        return f"nn.ChannelShuffle({self.values['groups']})"

    def onnx_nodes(self, info, graph, x, out):
        c, h, w = info.in_shape
        g = self.values["groups"]
        grid = graph.constant(f"{out}/grid_shape", np.array([0, g, c // g, h, w], np.int64))
        back = graph.constant(f"{out}/shape", np.array([0, c, h, w], np.int64))
        x = graph.node("Reshape", [x, grid], f"{out}/grid")
        x = graph.node("Transpose", [x], f"{out}/transposed", perm=[0, 2, 1, 3, 4])
        return graph.node("Reshape", [x, back], out)

    def forward(self, x, params, ctx):
        return channel_shuffle_forward(x, self.values["groups"])

    def backward(self, dout, cache, ctx):
        return channel_shuffle_backward(dout, cache), {}
