"""The notes' arithmetic for a whole network: shapes, figures, receptive fields, diagnostics.

``analyze(layers, input_shape)`` walks the layer tree once (blocks included) and returns a
``Report``; it only does integer arithmetic, so it runs on every edit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from math import prod

from .layers import Block, Diagnostic, Layer, fmt_shape
from .paths import TOP, container_path, item_path
from .rules import lint


@dataclass
class LayerInfo:
    """Everything the notes say about one layer, for one image."""

    layer: Layer
    path: str
    depth: int
    in_shape: tuple | None
    out: tuple | None = None
    activations: int = 0
    weights: int = 0
    params: int = 0
    macs: int = 0
    receptive_field: tuple | None = None
    jump: tuple | None = None
    window: tuple | None = None  # per axis (effective kernel, stride, padding)
    diagnostics: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    branches: list = field(default_factory=list)  # blocks: [[LayerInfo, ...], ...]
    blocked_by: str = ""  # path of the error that keeps this layer from being computed

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def type(self) -> str:
        return self.layer.TYPE

    def inside(self):
        """Every LayerInfo inside this block, in reading order (none for other layers)."""
        for branch in self.branches:
            yield from _all(branch)

    @property
    def status(self) -> str:
        if self.blocked_by:
            return "blocked"
        severities = {d.severity for d in self.diagnostics}
        for s in ("error", "warning"):
            if s in severities:
                return s
        return "ok"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "type": self.type, "path": self.path,
            "output": list(self.out) if self.out else None,
            "activations": self.activations, "weights": self.weights, "params": self.params,
            "macs": self.macs,
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
            "jump": list(self.jump) if self.jump else None,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            **({"im2col": self.extra["im2col"]} if "im2col" in self.extra else {}),
            **({"blocked_by": self.blocked_by} if self.blocked_by else {}),
        }


@dataclass
class Report:
    """The per-layer figures in order (nested layers after their block) and the totals."""

    name: str
    input_shape: tuple
    layers: list  # flat, reading order
    top: list  # top-level LayerInfos

    @property
    def diagnostics(self) -> list:
        return [d for info in self.layers for d in info.diagnostics]

    @property
    def has_error(self) -> bool:
        return self.first_error is not None

    @property
    def first_error(self):
        """The first error diagnostic in reading order, or None."""
        return next((d for d in self.diagnostics if d.severity == "error"), None)

    def by_name(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        raise KeyError(name)

    def by_path(self, path: str) -> LayerInfo:
        for info in self.layers:
            if info.path == path:
                return info
        raise KeyError(path)

    @property
    def output(self) -> tuple | None:
        return self.top[-1].out if self.top else self.input_shape

    def totals(self) -> dict:
        """The notes' totals; activations count the input and every layer that makes a new
        tensor (element-wise layers and dropout run in place, flatten is a view)."""
        computed = [i for i in self.layers if i.out is not None]
        activations = prod(self.input_shape) + sum(
            i.activations for i in computed if not i.layer.IN_PLACE)
        return {
            "params": sum(i.params for i in self.layers),
            "weights": sum(i.weights for i in self.layers),
            "activations": activations,
            "macs": sum(i.macs for i in self.layers),
            "forward_bytes": 4 * activations,
        }

    def to_dict(self) -> dict:
        return {"name": self.name, "input": list(self.input_shape),
                "layers": [i.to_dict() for i in self.layers], "totals": self.totals(),
                "diagnostics": [d.to_dict() for d in self.diagnostics]}


def analyze(layers: list, input_shape: tuple, name: str = "") -> Report:
    flat: list = []
    top = _walk(layers, tuple(input_shape), TOP, 0, flat, ((1, 1), (1, 1)), "")
    report = Report(name, tuple(input_shape), flat, top)
    lint(report)  # the notes' design rules: notes only, never a warning
    return report


def _walk(layers, shape, prefix, depth, flat, field_state, blocked):
    """Analyse one sequence starting from ``shape`` with receptive field state
    ((rf_h, rf_w), (jump_h, jump_w)); returns its LayerInfos (also appended to ``flat``)."""
    infos = []
    rf, jump = field_state
    for index, layer in enumerate(layers):
        info = LayerInfo(layer, item_path(prefix, index), depth, shape)
        flat.append(info)
        infos.append(info)
        if blocked or shape is None:
            info.blocked_by = blocked
            if isinstance(layer, Block):  # still list the nested layers, blocked too
                for slot, seq in layer.slots():
                    info.branches.append(_walk(seq, None, container_path(info.path, slot),
                                               depth + 1, flat, (rf, jump), blocked))
            continue
        if isinstance(layer, Block):
            shaped, rf, jump = _block(layer, info, flat, (rf, jump))
        else:
            shaped = layer.shaped(shape)
            info.window = shaped.window
            if shaped.window:
                rf = tuple(r + (k - 1) * j for r, j, (k, _, _) in zip(rf, jump, shaped.window))
                jump = tuple(j * s for j, (_, s, _) in zip(jump, shaped.window))
        for d in shaped.diagnostics:
            d.path, d.layer = info.path, layer.name
            for fix in d.fixes:
                for change in fix["changes"]:
                    change["path"] = change["path"] or info.path
        info.diagnostics = shaped.diagnostics
        info.out = shaped.out
        if shaped.out is None:
            blocked = info.path
            shape = None
            continue
        info.receptive_field, info.jump = rf, jump
        _figures(info, layer, shape, shaped.out)
        shape = shaped.out
    return infos


def _block(layer, info, flat, field_state):
    shapes, best = [], None
    inner_blocked = ""
    for slot, seq in layer.slots():
        branch = _walk(seq, info.in_shape, container_path(info.path, slot), info.depth + 1, flat,
                       field_state, "")
        info.branches.append(branch)
        end = branch[-1] if branch else None
        out = end.out if end else info.in_shape
        if out is None:
            inner_blocked = inner_blocked or next(
                (b.path for b in _all(branch) if b.diagnostics and b.out is None), info.path)
        shapes.append(out)
        state = (end.receptive_field, end.jump) if end else field_state
        if state[0] is not None and (best is None or state[0] > best[0]):
            best = state
    if inner_blocked:
        return _blocked_block(inner_blocked), field_state[0], field_state[1]
    rf, jump = best or field_state
    return layer.combine(shapes), rf, jump


def _all(infos):
    for i in infos:
        yield i
        for b in i.branches:
            yield from _all(b)


def _blocked_block(path):
    from .layers import Shaped
    return Shaped(None, [Diagnostic("error", f"cannot be computed: a layer inside fails "
                                             f"({path})")])


def _figures(info, layer, shape, out):
    info.activations = prod(out)
    if isinstance(layer, Block):
        return
    shapes = layer.param_shapes(shape)
    buffers = layer.buffers()
    info.weights = layer.weight_count(shape)
    info.params = sum(prod(s) for k, s in shapes.items() if k not in buffers)
    info.macs = layer.macs(shape, out)
    info.extra = layer.extra(shape, out)


def shape_text(shape) -> str:
    return fmt_shape(shape) if shape else "—"




class _Fatal(Exception):
    """A layer whose shape cannot be computed: nothing after it can be."""


def first_problem(layers: list, input_shape: tuple) -> int:
    """The reading-order index (as in ``Report.layers``) of the first layer with a warning or
    an error for this input, or the number of layers if there is none. Shapes only (no
    figures), and it stops at the first error: what the search for input sizes that fix a
    warning needs, many times per edit."""
    count, first = 0, None

    def note(index):
        nonlocal first
        first = index if first is None else min(first, index)

    def walk(seq, shape):
        nonlocal count
        for layer in seq:
            index, count = count, count + 1
            if isinstance(layer, Block):
                try:
                    outs = [walk(sub, shape) for _, sub in layer.slots()]
                except _Fatal:  # a layer inside fails: so does the block, listed first
                    note(index)
                    raise
                shaped = layer.combine(outs)
            else:
                shaped = layer.shaped(shape)
            if shaped.out is None or any(d.severity in ("warning", "error")
                                         for d in shaped.diagnostics):
                note(index)
            if shaped.out is None:
                raise _Fatal
            shape = shaped.out
        return shape

    with contextlib.suppress(_Fatal):  # the first problem is noted before it is raised
        walk(layers, tuple(input_shape))
    return count if first is None else first
