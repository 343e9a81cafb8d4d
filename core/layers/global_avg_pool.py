"""Global average pooling: H×W×C → 1×1×C."""

from __future__ import annotations

from .. import ops
from .base import Example, Footprint, Layer, Shaped, register, tensor_bytes
from .text import Section, n, vol


@register
class GlobalAvgPool(Layer):
    TYPE, CATEGORY, TITLE = "global_avg_pool", "POOL", "Global average pool"
    ORDER = 20  # place in its palette group
    SUMMARY = "Averages each channel over all of H and W: H×W×C becomes 1×1×C (GoogLeNet, ResNet)."
    LABEL, TABLE_LABEL, THIN = "GLOBAL AVG POOL", "GAP", False
    NEEDS = ""  # its backward needs the input's shape only
    EXAMPLES = {"global_avg_pool": Example((3, 4, 5))}

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((c, 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def describe(self):
        return "mean over H, W"

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        return "nn.AdaptiveAvgPool2d(1)"

    def onnx_nodes(self, info, graph, x, out):
        return graph.node("GlobalAveragePool", [x], out)

    def forward(self, x, params, ctx):
        return ops.global_avg_pool_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.global_avg_pool_backward(dout, cache), {}

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The C×1×1 means; the cache is the input's shape only."""
        return Footprint(tensor_bytes(out_shape, batch))



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    c, h, w = info.in_shape
    return [
        Section("Output size", f"Every channel is averaged over all its {h}·{w} = {h * w} "
                f"positions: {vol(info.in_shape)} → 1×1×{c}. No parameters; "
                f"{n(c * h * w)} additions."),
        Section("Why", "It replaces the big fc layer after the conv stack (GoogLeNet, "
                "ResNet): no weights, and the network accepts any input size."),
        Section("Backward pass", f"Each of the {h * w} positions gets dout/{h * w} of its "
                "channel."),
    ]
