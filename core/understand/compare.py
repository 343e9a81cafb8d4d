"""Two architectures side by side: layer by layer and in total.

The notes argue for a stack of small filters over one large one: three 3×3 convs see the
same 7×7 window as one 7×7 conv, with 27C² weights instead of 49C², and two more
non-linearities, at the price of keeping more activations for backward. ``compare`` lays
out such figures for any two networks; ``example_7x7_vs_3x3`` builds that very pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest

from ..errors import ConvScopeError
from ..layers import REGISTRY
from ..network import InputSpec, Network, assign_names
from .memory import memory_budget

TOTAL_KEYS = ("params", "weights", "activations", "forward_bytes", "macs")


@dataclass
class CompareRow:
    """Row k: the k-th layer of each network (in reading order), or None past its end."""

    index: int
    a: dict | None
    b: dict | None


@dataclass
class Comparison:
    name_a: str
    name_b: str
    rows: list = field(default_factory=list)  # CompareRow
    totals: dict = field(default_factory=dict)  # key → {"a", "b", "ratio" (b / a)}

    def to_dict(self) -> dict:
        return {"name_a": self.name_a, "name_b": self.name_b,
                "rows": [{"index": r.index, "a": r.a, "b": r.b} for r in self.rows],
                "totals": self.totals}


def compare(net_a: Network, net_b: Network) -> Comparison:
    """Per-layer figures of both networks side by side, and their totals.

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
    rows = [CompareRow(k, _side(a), _side(b))
            for k, (a, b) in enumerate(zip_longest(report_a.layers, report_b.layers))]
    ta, tb = report_a.totals(), report_b.totals()
    totals = {key: _pair(ta[key], tb[key]) for key in TOTAL_KEYS}
    totals["receptive_field"] = {"a": _final_rf(report_a), "b": _final_rf(report_b),
                                 "ratio": None}
    totals["depth"] = _pair(_depth(report_a), _depth(report_b))
    # one training step of one image with plain SGD: activations kept plus their gradients
    totals["training_bytes"] = _pair(memory_budget(net_a, 1, report=report_a).total,
                                     memory_budget(net_b, 1, report=report_b).total)
    return Comparison(net_a.name, net_b.name, rows, totals)


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
