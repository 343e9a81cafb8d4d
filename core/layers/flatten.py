"""Flatten: C×H×W → (C·H·W)×1×1."""

from __future__ import annotations

from .. import ops
from .base import Example, Footprint, Layer, Shaped, register
from .emit import to_vector
from .text import Section, n, vol

_FLATTEN = '''
class Flatten(nn.Module):
    """C×H×W → (C·H·W)×1×1, channel-major: ConvScope keeps a vector as C×1×1."""

    def forward(self, x):
        return x.flatten(1)[:, :, None, None]
'''


@register
class Flatten(Layer):
    TYPE, CATEGORY, TITLE = "flatten", "FC", "Flatten"
    ORDER = 10  # place in its palette group
    SUMMARY = "C×H×W becomes a (C·H·W)×1×1 vector, channel-major as PyTorch: a view, no copy."
    IN_PLACE = True
    LABEL, TABLE_LABEL, QUIET, THIN = "FLATTEN", "FLATTEN", "a view, no copy", False
    NEEDS = ""  # a view: its backward reshapes
    EXAMPLES = {"flatten_fc": Example((2, 3, 3), then=({"type": "fc", "units": 4},))}

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((c * h * w, 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        code.use(_FLATTEN)
        return "Flatten()"

    def onnx_nodes(self, info, graph, x, out):
        flat = graph.node("Flatten", [x], f"{out}/flatten", axis=1)
        return to_vector(graph, flat, out)

    def forward(self, x, params, ctx):
        return ops.flatten_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.flatten_backward(dout, cache), {}

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """A view of its input: nothing new."""
        return Footprint()



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    c, h, w = info.in_shape
    return [Section("What it does", (
        f"{vol(info.in_shape)} becomes a vector of {c}·{h}·{w} = {n(c * h * w)} values "
        f"(1×1×{c * h * w}), channel-major as PyTorch: value (c, y, x) goes to index "
        f"c·{h * w} + y·{w} + x. Nothing is computed or copied (a view), so it adds no "
        "memory. Backward reshapes dout back."))]
