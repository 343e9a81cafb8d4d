"""Channel slice: channels [start, stop) of the input, ShuffleNet V2's split (spec: added in
version 1)."""

from __future__ import annotations

import numpy as np

from ..fields import MAX_COUNT, Field
from .base import Diagnostic, Example, Layer, Shaped, register
from .text import Section, vol

_TORCH_SLICE = '''
class ChannelSlice(nn.Module):
    """Channels [start, stop) of the input: ShuffleNet V2's split, one per branch."""

    def __init__(self, start, stop):
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x):
        return x[:, self.start:self.stop]

    def extra_repr(self):
        return f"start={self.start}, stop={self.stop}"
'''


def channel_slice_forward(x, start, stop):
    """x: (N, C, H, W) → out (N, stop − start, H, W): channels start … stop − 1; the cache
    is (C, start, stop)."""
    return np.ascontiguousarray(x[:, start:stop]), (x.shape[1], start, stop)


def channel_slice_backward(dout, cache):
    """dout: (N, stop − start, H, W) → dx (N, C, H, W): dout in channels [start, stop),
    zero in the channels the slice left out."""
    c, start, stop = cache
    n, _, h, w = dout.shape
    dx = np.zeros((n, c, h, w), dout.dtype)
    dx[:, start:stop] = dout
    return dx


@register
class ChannelSlice(Layer):
    TYPE, CATEGORY, TITLE = "channel_slice", "blocks", "Channel slice"
    ORDER = 30  # place in its palette group: after concat, whose branches it starts
    SUMMARY = ("Channels [start, stop) of the input: ShuffleNet V2's split, one slice at the "
               "start of each branch of a concat. H and W unchanged; no parameters.")
    FIELDS = (
        Field("start", "count", 0, "the first channel kept (counting from 0)", minimum=0,
              maximum=MAX_COUNT, required=True),
        Field("stop", "count", 1, "the channel after the last one kept", maximum=MAX_COUNT,
              required=True),
    )
    LABEL, TABLE_LABEL, THIN = "SLICE", "SLICE", False
    NEEDS = ""  # the backward needs only the numbers: it keeps no tensor
    EXAMPLES = {
        "channel_slice_start": Example((5, 3, 3), {"start": 0, "stop": 2}),
        "channel_slice_middle": Example((5, 3, 3), {"start": 1, "stop": 4}, then=(
            {"type": "conv", "filters": 2, "kernel": 1},)),
        "channel_slice_end": Example((5, 2, 3), {"start": 3, "stop": 5}),
    }

    def describe(self):
        return f"[{self.values['start']}:{self.values['stop']})"

    def shaped(self, shape):
        c, h, w = shape
        start, stop = self.values["start"], self.values["stop"]
        problem = None
        if start >= stop:
            problem = f"start {start} is not before stop {stop}: the slice would be empty"
        elif stop > c:
            problem = f"stop {stop} is past the input's {c} channels (at most {c})"
        if problem:
            return Shaped(None, [Diagnostic("error", problem)])
        return Shaped((stop - start, h, w), window=((1, 1, 0), (1, 1, 0)))

    def explain(self, info):
        c = info.in_shape[0]
        start, stop = self.values["start"], self.values["stop"]
        return [
            Section("What it computes", (
                f"Channels {start} to {stop - 1} of the {c}, as they are: {vol(info.in_shape)}"
                f" → {vol(info.out)}. No parameters, no arithmetic. ShuffleNet V2 splits a "
                "block's input this way: each branch of a concat starts with its slice.")),
            Section("Backward pass", f"dx is dout in channels {start}…{stop - 1} and zero "
                    f"in the other {c - (stop - start)}, which did not reach the output."),
        ]

    def torch_module(self, info, code):
        code.use(_TORCH_SLICE)
        return f"ChannelSlice({self.values['start']}, {self.values['stop']})"

    def onnx_nodes(self, info, graph, x, out):
        v = self.values
        bounds = [graph.constant(f"{out}/{name}", np.array([value], np.int64))
                  for name, value in (("starts", v["start"]), ("ends", v["stop"]),
                                      ("axes", 1))]
        return graph.node("Slice", [x, *bounds], out)

    def forward(self, x, params, ctx):
        return channel_slice_forward(x, self.values["start"], self.values["stop"])

    def backward(self, dout, cache, ctx):
        return channel_slice_backward(dout, cache), {}
