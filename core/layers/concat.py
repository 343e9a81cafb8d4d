"""Concat (inception): branches stacked along channels."""

from __future__ import annotations

import numpy as np

from ..fields import Field
from .base import Diagnostic, Shaped, fmt_shape, register
from .block import Block


@register
class Concat(Block):
    TYPE, TITLE = "concat", "Concat (inception)"
    ORDER = 20  # place in its palette group
    SUMMARY = ("Inception's parallel branches: each branch sees the same input and their "
               "outputs are stacked along channels. H and W must match.")
    FIELDS = (Field("branches", "branches", None),)
    BLOCK_KEYS = ("branches",)

    def __init__(self, name=None, branches=None):
        super().__init__(name)
        self.values["branches"] = [list(b) for b in (branches or [[], []])]

    def sequences(self):
        return [(f"branches[{i}]", b) for i, b in enumerate(self.values["branches"])]

    def describe(self):
        return f"{len(self.values['branches'])} branches"

    def combine(self, shapes):
        sizes = {s[1:] for s in shapes}
        if len(sizes) > 1:
            listed = ", ".join(fmt_shape(s) for s in shapes)
            return Shaped(None, [Diagnostic(
                "error", f"branches differ in H or W ({listed}); they are stacked along "
                "channels, so their H and W must match")])
        if not shapes:
            return Shaped(None, [Diagnostic("error", "a concat needs at least one branch")])
        return Shaped((sum(s[0] for s in shapes),) + shapes[0][1:])

    def forward(self, x, params, ctx):
        outs, caches = zip(*(ctx.run(b, x) for b in self.values["branches"]))
        return np.concatenate(outs, axis=1), (caches, [o.shape[1] for o in outs])

    def backward(self, dout, cache, ctx):
        caches, widths = cache
        splits = np.split(dout, np.cumsum(widths)[:-1], axis=1)
        dx = 0
        for branch, d, c in zip(self.values["branches"], splits, caches):
            dx = dx + ctx.back(branch, np.ascontiguousarray(d), c)
        return dx, {}
