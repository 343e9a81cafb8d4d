"""Residual block: body(x) + shortcut(x)."""

from __future__ import annotations

from ..fields import Field
from .base import Diagnostic, Example, Shaped, fmt_shape, register
from .block import Block
from .text import Section, flat, n, vol

_TORCH_RESIDUAL = '''
class Residual(nn.Module):
    """ResNet's block: body(x) + shortcut(x); an empty shortcut is the identity."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)
'''


@register
class Residual(Block):
    TYPE, TITLE = "residual", "Residual block"
    ORDER = 10  # place in its palette group
    SUMMARY = ("ResNet's skip connection: output = body(x) + shortcut(x). An empty shortcut "
               "is the identity; the two shapes must match.")
    FIELDS = (Field("body", "layers", None), Field("shortcut", "layers", None))
    BLOCK_KEYS = ("body", "shortcut")

    def __init__(self, name=None, body=None, shortcut=None):
        super().__init__(name)
        self.values["body"] = list(body or [])
        self.values["shortcut"] = list(shortcut or [])

    def slots(self):
        return [("body", self.values["body"]), ("shortcut", self.values["shortcut"])]

    def read_slots(self, data, read):
        for key in self.BLOCK_KEYS:
            self.values[key] = read(data.get(key, []), key)

    def write_slots(self, out, write):
        for key in self.BLOCK_KEYS:
            out[key] = write(self.values[key])

    def slot_label(self, slot):
        if slot == "shortcut" and not self.values["shortcut"]:
            return "shortcut (identity)"
        return slot

    def block_detail(self, inside):
        return [*inside, "projection" if self.values["shortcut"] else "identity"]

    def join_label(self):
        return "+"

    def mends(self, ends):
        """The notes' 1×1 projection in the shortcut, when the sides differ by a stride
        (a whole one, the same on both axes) and perhaps a depth."""
        stride = _projection_stride(*ends)
        if not stride or ends[0] == ends[1]:
            return []
        filters = ends[0][0]
        item = {"type": "conv", "filters": filters, "kernel": 1, "stride": stride,
                "bias": False}
        return [("shortcut", item, f"a 1×1 conv ({filters} filters, stride {stride})")]

    def describe(self):
        kind = "identity" if not self.values["shortcut"] else "projection"
        return f"body + {kind} shortcut"

    def combine(self, shapes):
        body, shortcut = shapes
        if body != shortcut:
            return Shaped(None, [Diagnostic(
                "error", f"body gives {fmt_shape(body)} but shortcut gives "
                f"{fmt_shape(shortcut)}; they are added, so they must match"
                + _projection_hint(body, shortcut))])
        return Shaped(body)

    def forward(self, x, params, ctx):
        a, cache_a = ctx.run(self.values["body"], x)
        b, cache_b = ctx.run(self.values["shortcut"], x)
        return a + b, (cache_a, cache_b)

    def backward(self, dout, cache, ctx):
        da = ctx.back(self.values["body"], dout, cache[0])
        db = ctx.back(self.values["shortcut"], dout, cache[1])
        return da + db, {}

    # -------------------------------------------------------------- words, interop, examples
    LABEL, TABLE_LABEL, THIN, NEEDS = "RESIDUAL", "RESIDUAL", False, ""
    EXAMPLES = {
        "residual_projection": Example((2, 5, 5), {
            "body": [{"type": "conv", "filters": 3, "kernel": 3, "stride": 2, "padding": 1,
                      "bias": False},
                     {"type": "batchnorm"}, {"type": "tanh"},
                     {"type": "conv", "filters": 3, "kernel": 3, "padding": 1}],
            # no bias before a training-mode batchnorm: its gradient is exactly zero there
            "shortcut": [{"type": "conv", "filters": 3, "kernel": 1, "stride": 2, "bias": False},
                         {"type": "batchnorm"}],
        }, then=({"type": "tanh"},), training=True),
        "residual_identity_inference": Example((3, 5, 5), {"body": [
            {"type": "conv", "filters": 3, "kernel": 3, "padding": 1}, {"type": "batchnorm"},
            {"type": "sigmoid"}]}),
        "residual_holding_concat": Example((2, 5, 5), {"body": [{"type": "concat", "branches": [
            [{"type": "conv", "filters": 1, "kernel": 3, "padding": 1}],
            [{"type": "conv", "filters": 1, "kernel": 1}]]}]}),
    }

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        code.use(_TORCH_RESIDUAL)
        return code.call("Residual", info, [
            f"body={code.sequential(self.values['body'], 'body')}",
            f"shortcut={code.sequential(self.values['shortcut'], 'shortcut')}"])

    def onnx_nodes(self, info, graph, x, out):
        body = graph.sequence(self.values["body"], x)
        shortcut = graph.sequence(self.values["shortcut"], x)
        return graph.node("Add", [body, shortcut], out)


def _projection_stride(body, shortcut) -> int:
    """The stride of a 1×1 conv on the shortcut that gives the body's H and W, or 0."""
    if body is None or shortcut is None:
        return 0
    (_, hb, wb), (_, hs, ws) = body, shortcut
    if hs % hb == 0 and ws % wb == 0 and hs // hb == ws // wb:
        return hs // hb
    return 0


def _projection_hint(body, shortcut):
    stride = _projection_stride(body, shortcut)
    if stride:
        return (f" (a 1×1 conv with {body[0]} filters and stride {stride} in the shortcut "
                "would match them)")
    return ""



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    body, shortcut = info.branches
    params = sum(i.params for b in info.branches for i in flat(b))
    kind = "the identity (no layers)" if not shortcut else \
        f"{len(shortcut)} layer{'s' if len(shortcut) > 1 else ''} (a projection)"
    return [
        Section("What it computes", (
            f"output = body(x) + shortcut(x): the body's {len(body)} layers and {kind}, "
            f"both {vol(info.out)}, added value by value. Parameters inside: "
            f"{n(params)}.")),
        Section("Backward pass", (
            "The + hands dout unchanged to both sides, and the two gradients are added where "
            "they fork at x. Through an identity shortcut the gradient reaches earlier "
            "layers without passing any weights, which is why very deep ResNets still "
            "train.")),
    ]
