"""Concat (inception): branches stacked along channels."""

from __future__ import annotations

import numpy as np

from ..errors import ConvScopeError
from ..fields import Field
from .base import Diagnostic, Example, Footprint, Shaped, fmt_shape, register, tensor_bytes
from .block import Block
from .text import Section, vol

_TORCH_CONCAT = '''
class Concat(nn.Module):
    """Inception's block: every branch sees x; their outputs are stacked along channels."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)
'''


@register
class Concat(Block):
    TYPE, TITLE = "concat", "Concat (inception)"
    ORDER = 20  # place in its palette group
    SUMMARY = ("Inception's parallel branches: each branch sees the same input and their "
               "outputs are stacked along channels. H and W must match.")
    FIELDS = (Field("branches", "branches", None),)
    BLOCK_KEYS = ("branches",)
    GROWS = True

    def __init__(self, name=None, branches=None):
        super().__init__(name)
        self.values["branches"] = [list(b) for b in (branches or [[], []])]

    def slots(self):
        return [(self.slot_name(i), b) for i, b in enumerate(self.values["branches"])]

    def read_slots(self, data, read):
        value = data.get("branches", [[], []])
        if not isinstance(value, list) or not value:
            raise ConvScopeError("'branches' must be a non-empty list of lists of layers")
        self.values["branches"] = [read(b, self.slot_name(i)) for i, b in enumerate(value)]

    def write_slots(self, out, write):
        out["branches"] = [write(b) for b in self.values["branches"]]

    def slot_label(self, slot):
        return f"branch {self.slot_index(slot) + 1}"

    def join_label(self):
        return "concat"

    def slot_name(self, index):
        return f"branches[{index}]"

    def add_slot(self, index):
        self.values["branches"].insert(index, [])
        return self.slot_name(index)

    def remove_slot(self, index):
        return self.values["branches"].pop(index)

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

    # -------------------------------------------------------------- words, interop, examples
    LABEL, TABLE_LABEL, THIN, NEEDS = "CONCAT", "CONCAT", False, ""
    EXAMPLES = {
        "concat_identity_branch": Example((2, 5, 5), {"branches": [
            [], [{"type": "conv", "filters": 3, "kernel": 1}],
            [{"type": "conv", "filters": 2, "kernel": 3, "padding": 1}, {"type": "tanh"}],
            [{"type": "pool", "mode": "avg", "kernel": 3, "stride": 1, "padding": 1},
             {"type": "conv", "filters": 2, "kernel": 1}]]},
            then=({"type": "conv", "filters": 2, "kernel": 1},)),
    }

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        code.use(_TORCH_CONCAT)
        return code.call("Concat", info, [code.sequential(b, f"branches.{k}")
                                          for k, b in enumerate(self.values["branches"])])

    def onnx_nodes(self, info, graph, x, out):
        branches = [graph.sequence(b, x) for b in self.values["branches"]]
        return graph.node("Concat", branches, out, axis=1)

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The concatenated output; the branches are counted by their own layers."""
        return Footprint(tensor_bytes(out_shape, batch))



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    outs = [(b[-1].out if b else info.in_shape) for b in info.branches]
    depths = " + ".join(str(o[0]) for o in outs if o)
    return [
        Section("What it computes", (
            f"{len(info.branches)} branches see the same input {vol(info.in_shape)}; "
            f"their outputs are stacked along the channels: {depths} = {info.out[0]} "
            f"channels, {vol(info.out)}.")),
        Section("Backward pass", "dout is cut along the channels into one piece per branch; "
                "each branch's dx is added up at the shared input."),
    ]
