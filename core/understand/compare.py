"""Two architectures side by side: layer by layer and in total.

The notes argue for a stack of small filters over one large one: three 3×3 convs see the
same 7×7 window as one 7×7 conv, with 27C² weights instead of 49C², and two more
non-linearities, at the price of keeping more activations for backward. ``compare`` lays
out such figures for any two networks; ``example_7x7_vs_3x3`` builds that very pair.

Rows pair the layers by structure, not by reading order: the two layer sequences are aligned
(difflib's longest matching runs) on what makes a layer what it is, (depth, type, kernel,
stride, dilation, filters or units), so a layer inserted in one network is one row with a
gap on the other side, and everything after it still meets its counterpart. Where runs
differ, they are aligned again on (depth, type) alone, so a conv whose filter count changed
still meets its counterpart and its differing figures are listed with their deltas, and
then on (depth, palette group), so a tanh where the other network has a relu pairs too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from ..errors import ConvScopeError
from ..layers import REGISTRY
from ..network import InputSpec, Network, assign_names
from .memory import memory_budget

TOTAL_KEYS = ("params", "weights", "activations", "forward_bytes", "macs")
# a side's figures that are compared, cell by cell, on a row where both sides have a layer
COMPARED = ("type", "describe", "output", "params", "weights", "activations", "macs",
            "receptive_field")


@dataclass
class CompareRow:
    """Row k of the aligned table: a layer of each network that correspond, or a layer on
    one side and None on the other (a gap: the layer has no counterpart).

    ``diffs``: for a row with both sides, each figure of COMPARED that differs → its delta
    b − a (a number, a per-axis tuple for shapes and fields, None for words)."""

    index: int
    a: dict | None
    b: dict | None
    diffs: dict = field(default_factory=dict)

    @property
    def gap(self) -> bool:
        return self.a is None or self.b is None


@dataclass
class Comparison:
    name_a: str
    name_b: str
    rows: list = field(default_factory=list)  # CompareRow
    totals: dict = field(default_factory=dict)  # key → {"a", "b", "ratio" (b / a)}

    def to_dict(self) -> dict:
        return {"name_a": self.name_a, "name_b": self.name_b,
                "rows": [{"index": r.index, "a": r.a, "b": r.b, "diffs": r.diffs}
                         for r in self.rows],
                "totals": self.totals}

    @property
    def gaps(self) -> list:
        return [r for r in self.rows if r.gap]


def compare(net_a: Network, net_b: Network) -> Comparison:
    """Per-layer figures of both networks side by side, aligned by structure, and their
    totals.

    Each side of a row: name, type, path, output (C, H, W), params, weights, activations,
    macs, receptive_field (h, w). Totals: params, weights, activations, forward_bytes,
    macs, receptive_field (of the last layer), depth (layers with weights),
    training_bytes (one SGD training step of one image, see ``memory``), each as
    {"a", "b", "ratio"} with ratio = b / a (None when a is 0).
    """
    report_a, report_b = net_a.analyze(fixes=False), net_b.analyze(fixes=False)
    for net, report in ((net_a, report_a), (net_b, report_b)):
        d = report.first_error
        if d:
            raise ConvScopeError(f"'{net.name}' has an error: {d.message}",
                                 f"{d.path} '{d.layer}'")
    pairs = align(report_a.layers, report_b.layers)
    rows = []
    for k, (i, j) in enumerate(pairs):
        a = _side(report_a.layers[i]) if i is not None else None
        b = _side(report_b.layers[j]) if j is not None else None
        rows.append(CompareRow(k, a, b, differences(a, b)))
    ta, tb = report_a.totals(), report_b.totals()
    totals = {key: _pair(ta[key], tb[key]) for key in TOTAL_KEYS}
    totals["receptive_field"] = {"a": _final_rf(report_a), "b": _final_rf(report_b),
                                 "ratio": None}
    totals["depth"] = _pair(_depth(report_a), _depth(report_b))
    # one training step of one image with plain SGD: activations kept plus their gradients
    totals["training_bytes"] = _pair(memory_budget(net_a, 1, report=report_a).total,
                                     memory_budget(net_b, 1, report=report_b).total)
    return Comparison(net_a.name, net_b.name, rows, totals)


# What makes two layers counterparts, finest first: the next key is tried inside runs that
# the one before could not match; what neither matches stays unpaired (gap rows).
def _structure(info) -> tuple:
    values = info.layer.values
    return (info.depth, info.type) + tuple(
        repr(values.get(key)) for key in ("kernel", "stride", "dilation", "filters", "units"))


def _kind(info) -> tuple:
    return info.depth, info.type


def _family(info) -> tuple:
    """The palette group: a tanh where the other has a relu is the same place changed."""
    return info.depth, info.layer.CATEGORY


KEYS = (_structure, _kind, _family)


def align(infos_a: list, infos_b: list) -> list[tuple]:
    """The rows of two layer sequences: (index in a, index in b), None on the side that has
    no counterpart, in an order that keeps both sequences' reading order."""
    return _align(range(len(infos_a)), range(len(infos_b)), infos_a, infos_b, 0)


def _align(ia, ib, infos_a, infos_b, level):
    if level == len(KEYS):  # nothing alike: every layer is its own row
        return [(i, None) for i in ia] + [(None, j) for j in ib]
    key = KEYS[level]
    matcher = SequenceMatcher(None, [key(infos_a[i]) for i in ia],
                              [key(infos_b[j]) for j in ib], autojunk=False)
    pairs = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            pairs += zip(ia[a0:a1], ib[b0:b1])
        else:  # replace, delete, insert: try the coarser key on what is left
            pairs += _align(ia[a0:a1], ib[b0:b1], infos_a, infos_b, level + 1)
    return pairs


def differences(a: dict | None, b: dict | None) -> dict:
    """The figures of COMPARED that differ between two sides → b − a (see CompareRow)."""
    if a is None or b is None:
        return {}
    out = {}
    for key in COMPARED:
        x, y = a[key], b[key]
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            out[key] = y - x
        elif isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y):
            out[key] = tuple(v - u for u, v in zip(x, y))
        else:
            out[key] = None
    return out


def _side(info) -> dict | None:
    if info is None:
        return None
    return {"name": info.name, "type": info.type, "path": info.path, "depth": info.depth,
            "output": info.out, "params": info.params, "weights": info.weights,
            "activations": 0 if info.layer.IN_PLACE else info.activations,
            "macs": info.macs, "receptive_field": info.receptive_field,
            "describe": info.layer.describe()}


def _pair(a, b) -> dict:
    return {"a": a, "b": b, "ratio": (b / a) if a else None}


def _final_rf(report):
    for info in reversed(report.top):
        if info.receptive_field is not None:
            return info.receptive_field
    return (1, 1)


def _depth(report) -> int:
    return sum(1 for info in report.layers if info.weights)


def example_7x7_vs_3x3(channels: int = 64, size: int = 224, bias: bool = True):
    """The notes' example: one 7×7 conv (padding 3) against three 3×3 convs (padding 1)
    with ReLUs between, all with ``channels`` filters on a size×size×channels input.
    Returns (net_a, net_b)."""
    def build(name, layers):
        net = Network(name=name, input=InputSpec(channels, size, size))
        net.layers = [REGISTRY[t](**v) for t, v in layers]
        assign_names(net.layers)
        return net

    conv = {"filters": channels, "bias": bias}
    one = build("one 7×7 conv", [("conv", {**conv, "kernel": 7, "padding": 3}),
                                 ("relu", {})])
    three = build("three 3×3 convs", [("conv", {**conv, "kernel": 3, "padding": 1}),
                                      ("relu", {})] * 3)
    return one, three
