"""Residual block: body(x) + shortcut(x)."""

from __future__ import annotations

from ..fields import Field
from .base import Diagnostic, Shaped, fmt_shape, register
from .block import Block


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

    def sequences(self):
        return [("body", self.values["body"]), ("shortcut", self.values["shortcut"])]

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


def _projection_hint(body, shortcut):
    (cb, hb, wb), (_, hs, ws) = body, shortcut
    if hs % hb == 0 and ws % wb == 0 and hs // hb == ws // wb:
        return (f" (a 1×1 conv with {cb} filters and stride {hs // hb} in the shortcut "
                "would match them)")
    return ""
