"""Concat (inception): branches stacked along channels."""

from __future__ import annotations

import numpy as np

from ..errors import ConvScopeError
from ..fields import Field
from .base import Diagnostic, Example, Footprint, Shaped, fmt_shape, op_dict, register, tensor_bytes
from .block import Block
from .text import Section, cost, n, percent, steps, vol

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

    def op_counts(self, shape, out):
        """Stacks its branches' outputs: nothing beyond them (their layers count their own)."""
        return op_dict()



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    outs = [(b[-1].out if b else info.in_shape) for b in info.branches]
    depths = " + ".join(str(o[0]) for o in outs if o)
    return [
        Section("What it computes", (
            f"{len(info.branches)} branches see the same input {vol(info.in_shape)}; "
            f"their outputs are stacked along the channels: {depths} = {info.out[0]} "
            f"channels, {vol(info.out)}.")),
        _branches(info, outs),
        *_reductions(info, outs),
        Section("Backward pass", "dout is cut along the channels into one piece per branch; "
                "each branch's dx is added up at the shared input."),
    ]


def _branches(info, outs) -> Section:
    lines = []
    for k, (branch, out) in enumerate(zip(info.branches, outs), 1):
        params, macs = cost(branch)
        lines.append(f"• branch {k}: {steps(branch)} → {vol(out)}: {n(params)} params, "
                     f"{n(macs)} MACs")
    params, macs = cost([i for b in info.branches for i in b])
    lines.append(f"Together: {n(params)} params and {n(macs)} MACs. Stacking the maps adds "
                 "none: a concatenation has no weights.")
    return Section("Each branch", "\n".join(lines))


def _reductions(info, outs) -> list[Section]:
    """What each 1×1 conv that narrows the depth saves: the branch as built against the
    same branch without it (the larger conv straight on the block's input)."""
    lines, savings = [], []
    for k, branch in enumerate(info.branches, 1):
        found = _reduction(branch)
        if found:
            text, saved = _saving(k, branch, *found)
            lines.append(text)
            savings.append(saved)
            continue
        projection = _projection(branch)
        if projection is not None:
            depth = info.out[0] - projection.out[0] + projection.in_shape[0]
            lines.append(
                f"• branch {k}: the 1×1 conv after the pool projects {projection.in_shape[0]} "
                f"channels to {projection.out[0]} ({n(projection.params)} params); without "
                f"it the pool would pass all {projection.in_shape[0]} on and the block would "
                f"be {depth} channels deep instead of {info.out[0]}, making every layer that "
                "reads it larger.")
    if not lines:
        return []
    if savings:
        lines.append(_block_saving(info, savings))
    return [Section("What the 1×1 reductions save", "\n".join(lines))]


def _block_saving(info, savings) -> str:
    params, macs = cost([i for b in info.branches for i in b])
    without_p = params + sum(p for p, _ in savings)
    without_m = macs + sum(m for _, m in savings)
    return (f"The whole block: {n(params)} params and {n(macs)} MACs as built; with each "
            f"larger conv straight on the {info.in_shape[0]} input channels {n(without_p)} "
            f"params and {n(without_m)} MACs. The reductions save "
            f"{percent(without_p - params, without_p)} of the params and "
            f"{percent(without_m - macs, without_m)} of the MACs.")


def _weighted(branch):
    """The branch's layers that shape or weigh, with the element-wise ones between them."""
    return [i for i in branch if not (i.layer.THIN and not i.params)]


def _reduction(branch):
    """(reduce, big) when the branch opens with a 1×1 conv that narrows the depth right
    before a larger conv (element-wise layers between them allowed), else None."""
    work = _weighted(branch)
    if len(work) < 2:
        return None
    reduce, big = work[0], work[1]
    if reduce.type != "conv" or big.type != "conv" or reduce.out is None or big.out is None:
        return None
    one = reduce.layer.pair("kernel") == (1, 1) and reduce.layer.pair("stride") == (1, 1)
    larger = big.layer.pair("kernel") != (1, 1)
    plain = reduce.layer.values["groups"] == 1 and big.layer.values["groups"] == 1
    if one and larger and plain and reduce.out[0] < reduce.in_shape[0]:
        return reduce, big
    return None


def _projection(branch):
    """The 1×1 conv right after a branch's opening pool (inception's pool projection)."""
    work = _weighted(branch)
    if len(work) >= 2 and work[0].type == "pool" and work[1].type == "conv" and \
            work[1].layer.pair("kernel") == (1, 1) and work[1].out is not None and \
            work[1].out[0] < work[1].in_shape[0]:
        return work[1]
    return None


def _conv_params(i, cin=None) -> tuple[str, int, int]:
    """A conv's parameters worked out ("(5·5·16)·32 + 32"), its weights and parameters,
    on ``cin`` input channels (its own by default)."""
    kh, kw = i.layer.pair("kernel")
    cin = i.in_shape[0] if cin is None else cin
    f = i.out[0]
    weights = kh * kw * cin * f
    biases = i.params - i.weights
    text = f"({kh}·{kw}·{cin})·{f}" + (f" + {biases}" if biases else "")
    return text, weights, weights + biases


def _saving(k, branch, reduce, big):
    """The sentence for branch ``k`` and what the reduction saves (params, MACs)."""
    cin, r = reduce.in_shape[0], reduce.out[0]
    kh, kw = big.layer.pair("kernel")
    (_, h1, w1), (_, h2, w2) = reduce.out, big.out
    r_text, _, r_params = _conv_params(reduce)
    b_text, _, b_params = _conv_params(big)
    d_text, d_weights, d_params = _conv_params(big, cin)
    d_macs = d_weights * h2 * w2
    params, macs = cost(branch)
    between = sum(i.params for i in branch[branch.index(reduce) + 1:branch.index(big)])
    without_p = params - r_params - between - b_params + d_params
    without_m = macs - reduce.macs - big.macs + d_macs
    text = (f"• branch {k}: the 1×1 conv takes {cin} channels to {r} before the {kh}×{kw} "
            f"conv. As built: {r_text} = {n(r_params)} and {b_text} = {n(b_params)} params; "
            f"{h1}·{w1}·{n(reduce.weights)} + {h2}·{w2}·{n(big.weights)} = "
            f"{n(reduce.macs + big.macs)} MACs. The {kh}×{kw} conv straight on the {cin} "
            f"channels: {d_text} = {n(d_params)} params, {h2}·{w2}·{n(d_weights)} = "
            f"{n(d_macs)} MACs. The branch: {n(params)} params and {n(macs)} MACs against "
            f"{n(without_p)} and {n(without_m)}; the reduction saves "
            f"{n(without_p - params)} params ({percent(without_p - params, without_p)}) "
            f"and {n(without_m - macs)} MACs ({percent(without_m - macs, without_m)}).")
    return text, (without_p - params, without_m - macs)
