"""The memory budget: the notes' "computational considerations", in bytes, layer by layer.

Counting follows the spec (section 3): the input and every layer that makes a new tensor
hold activations; element-wise layers and dropout run in place and flatten is a view, so they
add nothing. For training, every one of those activations stays in memory until the backward
pass has used it, and the backward pass makes a gradient of the same size for each of them,
which is where the notes' "~×2 for bwd" comes from. Parameters come with a gradient of the
same size and the optimiser's state: none for SGD, one velocity for momentum, two running
moments for Adam.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConvScopeError
from ..layers import Block, Footprint, tensor_bytes
from ..network import RunContext

OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2}  # copies of the parameters
COLUMNS = ("forward", "kept", "activation_grads", "params", "param_grads", "optimizer",
           "buffers")
COLUMN_TITLES = {
    "forward": "activations (forward)",
    "kept": "kept for backward",
    "activation_grads": "activation gradients",
    "params": "parameters",
    "param_grads": "parameter gradients",
    "optimizer": "optimizer state",
    "buffers": "running statistics",
}

# The notes' VGG16 table: its rows add up to the spec's count, its TOTAL line does not.
VGG16_ACTIVATIONS = 15_237_608
VGG16_REMARK = (
    "The notes' VGG16 table lists these same layers; its rows add up to about 15.2M values "
    "(15,237,608 × 4 bytes = 61 MB per image), although its TOTAL line says 24M (93 MB). "
    "The rows are right and the total is not.")

@dataclass
class MemoryRow:
    """One tensor-producing place of the network (the input, or a layer), in bytes."""

    name: str
    type: str
    path: str
    depth: int
    shape: tuple | None  # (C, H, W) of one image
    values: int  # activation values of the whole batch this row adds (0 in place)
    forward: int
    kept: int
    activation_grads: int
    params: int
    param_grads: int
    optimizer: int
    buffers: int
    needed_by: str = ""  # whose backward reads these activations
    in_place: bool = False
    # inference only: bytes alive while this layer runs (its input, its output and cache,
    # its scratch, what an enclosing block holds), as a pass that frees outputs needs
    step: int = 0

    @property
    def total(self) -> int:
        """Everything this row holds at the peak of a training step (``kept`` is part of
        ``forward``, so it is not added twice)."""
        return (self.forward + self.activation_grads + self.params + self.param_grads
                + self.optimizer + self.buffers)

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


@dataclass
class MemoryBudget:
    batch: int
    dtype_bytes: int
    optimizer: str
    training: bool
    rows: list = field(default_factory=list)  # MemoryRow, the input first
    totals: dict = field(default_factory=dict)  # column → bytes, and "total"
    explain: str = ""

    @property
    def total(self) -> int:
        return self.totals["total"]

    def fits(self, budget_bytes: int) -> bool:
        """Whether one step at this batch size fits in ``budget_bytes``."""
        return self.total <= budget_bytes

    @property
    def fixed(self) -> int:
        """Bytes that do not depend on the batch (parameters, their gradients, state)."""
        t = self.totals
        return t["params"] + t["param_grads"] + t["optimizer"] + t["buffers"]

    @property
    def per_image(self) -> int:
        """Bytes that grow with the batch, per image: in training the activations and
        their gradients; in inference the largest step and the workspaces."""
        return (self.total - self.fixed) // self.batch

    def max_batch(self, budget_bytes: int) -> int:
        """The largest batch that fits in ``budget_bytes`` (0 if not even one image)."""
        if budget_bytes < self.fixed + self.per_image:
            return 0
        return (budget_bytes - self.fixed) // self.per_image

    def largest(self, column: str, count: int = 3) -> list:
        """The ``count`` rows holding most of ``column``: (name, bytes), largest first."""
        ranked = sorted(self.rows, key=lambda r: getattr(r, column), reverse=True)
        return [(r.name, getattr(r, column)) for r in ranked[:count] if getattr(r, column)]

    def to_dict(self) -> dict:
        return {"batch": self.batch, "dtype_bytes": self.dtype_bytes,
                "optimizer": self.optimizer, "training": self.training,
                "rows": [r.to_dict() for r in self.rows], "totals": dict(self.totals),
                "explain": self.explain}


def memory_budget(net, batch: int = 1, dtype_bytes: int = 4, optimizer: str = "sgd",
                  training: bool = True, report=None) -> MemoryBudget:
    """The memory of one training step (or, with ``training=False``, one inference pass)
    of ``net`` at ``batch`` images and ``dtype_bytes`` per value, per layer and in total.

    Rows: the input, then every layer in reading order (nested layers after their block).
    Columns (bytes): forward activations, the part kept for backward, activation
    gradients, parameters, parameter gradients, optimizer state, batchnorm's running
    statistics. Raises ConvScopeError for a bad batch/dtype/optimizer or a network whose
    shapes cannot be computed. ``report``: the network's analysis, if the caller has it.
    """
    _check(batch, dtype_bytes, optimizer)
    report = report or net.analyze(fixes=False)
    d = report.first_error
    if d:
        raise ConvScopeError(f"the network has an error, so its memory cannot be counted: "
                             f"{d.message}", f"{d.path} '{d.layer}'")
    state_copies = OPTIMIZER_STATE[optimizer] if training else 0
    need = _readers(report)
    rows = [_input_row(net, report, batch, dtype_bytes, training, need.get("input", ""))]
    for info in report.layers:
        rows.append(_layer_row(info, batch, dtype_bytes, training, state_copies,
                               need.get(info.name, "")))
    totals = {c: sum(getattr(r, c) for r in rows) for c in COLUMNS}
    totals["total"] = sum(r.total for r in rows)
    if not training:
        _count_steps(rows, report, batch, dtype_bytes, totals)
    budget = MemoryBudget(batch, dtype_bytes, optimizer, training, rows, totals)
    budget.explain = _explain(budget, report)
    return budget


def _count_steps(rows, report, batch, dtype_bytes, totals) -> None:
    """Inference frees each output once the next layer has read it: the total is the
    parameters (and running statistics), the workspaces kept between passes, and the
    largest step. Footprints are float32 bytes, scaled to ``dtype_bytes``.

    This is the steady state, any pass after a thread's first (freeing_pass measures it:
    VGG16 batch 2 to the MiB): the workspaces, grown to their largest request, stay. A
    thread's first pass peaks lower, since its large early steps run before the later
    layers' workspaces exist (VGG16 batch 16: 1.3 GiB against 1.6)."""
    steps = live_steps(report, batch)
    for row in rows[1:]:
        row.step = steps.get(row.name, 0) * dtype_bytes // 4
    largest = max(rows[1:], key=lambda r: r.step, default=rows[0])
    totals["step"] = largest.step
    totals["step_layer"] = largest.name
    totals["workspace"] = held_bytes(footprints(report, batch)) * dtype_bytes // 4
    totals["total"] = (totals["params"] + totals["buffers"] + totals["workspace"]
                       + totals["step"])


def _check(batch, dtype_bytes, optimizer):
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConvScopeError(f"batch must be a whole number ≥ 1, got {batch!r}", "memory")
    if dtype_bytes not in (1, 2, 4, 8):
        raise ConvScopeError(f"dtype_bytes must be 1, 2, 4 or 8, got {dtype_bytes!r}", "memory")
    if optimizer not in OPTIMIZER_STATE:
        raise ConvScopeError(f"unknown optimizer {optimizer!r} (known: "
                             f"{', '.join(OPTIMIZER_STATE)})", "memory")


def _input_row(net, report, batch, nbytes, training, needed_by) -> MemoryRow:
    values = batch * net.input.channels * net.input.height * net.input.width
    forward = values * nbytes
    # Nothing upstream of the data needs dL/d(input) in training, so it has no gradient.
    return MemoryRow("input", "input", "input", 0, report.input_shape, values, forward,
                     forward if training else 0, 0, 0, 0, 0, 0, needed_by)


def _layer_row(info, batch, nbytes, training, state_copies, needed_by) -> MemoryRow:
    layer = info.layer
    in_place = layer.IN_PLACE
    values = 0 if in_place else batch * info.activations
    forward = values * nbytes
    buffers = 0
    if not isinstance(layer, Block) and info.in_shape is not None:
        shapes = layer.param_shapes(info.in_shape)
        buffers = sum(_count(shapes[k]) for k in layer.buffers()) * nbytes
    params = info.params * nbytes
    return MemoryRow(
        info.name, info.type, info.path, info.depth, info.out, values, forward,
        forward if training else 0, forward if training else 0, params,
        params if training else 0, params * state_copies, buffers,
        "runs in place on the tensor before it" if in_place else needed_by, in_place)


def _count(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _readers(report) -> dict:
    """name of a tensor-producing place → which backward passes read it.

    A layer's backward needs its own input (the tensor made by the last non-in-place
    layer before it) or, for in-place layers, its output (which is that same tensor)."""
    readers: dict = {}

    def walk(infos, source):
        for info in infos:
            if info.branches:
                for branch in info.branches:
                    walk(branch, source)
                if not info.layer.IN_PLACE:
                    source = info.name
                continue
            why = info.layer.NEEDS
            if why:
                readers.setdefault(source, []).append(f"{info.name} ({why})")
            if not info.layer.IN_PLACE:
                source = info.name
        return source

    last = walk(report.top, "input")
    readers.setdefault(last, []).append("the loss (its gradient starts from the scores)")
    return {k: "; ".join(v) for k, v in readers.items()}


# ====================================================================== the engine's own peak
def footprints(report, batch: int, training: bool = False) -> dict:
    """layer name → its Footprint (what its forward allocates, as ConvScope runs it)."""
    return {info.name: info.layer.forward_bytes(info.in_shape, info.out, batch, training)
            for info in report.layers if info.out is not None}


def held_bytes(prints) -> int:
    """Buffers kept from pass to pass: the largest request of each name, added up."""
    largest: dict = {}
    for fp in prints.values():
        for name, size in fp.held:
            largest[name] = max(largest.get(name, 0), size)
    return sum(largest.values())


def weight_bytes(report) -> int:
    """Every array of the weights: parameters and running statistics (float32)."""
    total = 0
    for info in report.layers:
        if isinstance(info.layer, Block) or info.in_shape is None:
            continue
        total += 4 * sum(_count(s) for s in info.layer.param_shapes(info.in_shape).values())
    return total


def forward_need(report, batch: int, training: bool = False) -> dict:
    """What ``Network.forward`` needs at its peak, in bytes: it keeps every layer's output
    and cache until it returns, so the peak is reached inside the layer where everything
    before it plus that layer's output and scratch is largest. Keys: weights, input,
    kept (everything the pass returns and caches), scratch (the peak's temporaries),
    held (workspaces kept between passes), total."""
    prints = footprints(report, batch, training)
    alive = tensor_bytes(report.input_shape, batch)
    peaks = [alive]

    def walk(infos):  # in the order the pass runs: a block's slots before its join
        nonlocal alive
        for info in infos:
            for branch in info.branches:
                walk(branch)
            fp = prints.get(info.name, Footprint())
            alive += fp.kept
            peaks.append(alive + fp.scratch)

    walk(report.top)
    final, peak = alive, max(peaks)
    need = {"weights": weight_bytes(report), "input": tensor_bytes(report.input_shape, batch),
            "kept": final - tensor_bytes(report.input_shape, batch), "scratch": peak - final,
            "held": held_bytes(prints)}
    need["total"] = need["weights"] + peak + need["held"]
    return need


def live_steps(report, batch: int) -> dict:
    """Inference that frees each output once the next layer has read it: layer name →
    bytes alive while it runs (its input, its output and cache, its scratch, and what
    an enclosing block holds: the block's input for its other slots and the slots'
    outputs so far). Blocks count the step that joins their slots."""
    prints = footprints(report, batch, False)
    steps: dict = {}

    def walk(infos, current, outer):
        """→ the bytes of the sequence's output (0 if it is the input, counted outside)."""
        for info in infos:
            fp = prints.get(info.name, Footprint())
            if info.branches:
                done = 0
                for branch in info.branches:
                    made = walk(branch, 0, outer + current + done)
                    done += made
                steps[info.name] = outer + current + done + fp.kept + fp.scratch
            else:
                steps[info.name] = outer + current + fp.kept + fp.scratch
            if fp.kept:
                current = tensor_bytes(info.out, batch)
        return current

    walk(report.top, tensor_bytes(report.input_shape, batch), 0)
    return steps


class _Forgetful(dict):
    """A pass's output record that keeps nothing: blocks write their nested layers'
    outputs there, and a pass that frees as it goes must not hold them."""

    def __setitem__(self, key, value):
        pass


def freeing_pass(net, x, report=None):
    """Inference as the budget's inference mode counts it: layer by layer, each output
    replacing its input and each cache dropped at once (``Network.forward`` keeps every
    output, for the views and for backward). x: (N, C, H, W) float32 → the last layer's
    output. Refuses, before allocating, a batch whose inference figure is over the
    network's memory budget (the forward guard counts everything kept, so it would refuse
    passes this one can make)."""
    if x.ndim != 4 or tuple(x.shape[1:]) != net.input.shape or x.shape[0] == 0:
        raise ConvScopeError(f"input has shape {tuple(x.shape)}, the network takes "
                             f"(N ≥ 1, {', '.join(map(str, net.input.shape))})", "input")
    report = report or net.analyze(fixes=False)
    budget = memory_budget(net, int(x.shape[0]), training=False, report=report)
    if budget.total > net.memory_budget:
        raise ConvScopeError(f"not run: inference on batch {x.shape[0]} needs about "
                             f"{fmt_bytes(budget.total)}, over the "
                             f"{fmt_bytes(net.memory_budget)} budget", "memory")
    net.ensure_weights(report)
    ctx = RunContext(net, report, False, np.random.default_rng(net.seed))
    ctx.outputs = _Forgetful()
    x = np.ascontiguousarray(x, dtype=np.float32)
    for layer in net.layers:
        x = layer.forward(x, ctx.params(layer), ctx)[0]
    return x


def fmt_bytes(n: float) -> str:
    """Bytes in binary units: ``93.0 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _explain(b: MemoryBudget, report) -> str:
    t = b.totals
    per_image_values = t["forward"] // b.dtype_bytes // b.batch
    lines = [
        f"Batch {b.batch}, {b.dtype_bytes} bytes per value, "
        f"{'training with ' + b.optimizer if b.training else 'inference only'}.",
        f"Activations: {per_image_values:,} values per image (the input and every layer "
        f"that makes a new tensor; element-wise layers and dropout run in place and flatten "
        f"is a view) = {fmt_bytes(t['forward'])} for the batch.",
    ]
    if per_image_values == VGG16_ACTIVATIONS:
        lines.append(VGG16_REMARK)
    if b.training:
        lines += [
            "Why backward keeps them: each layer's backward pass needs what went into it "
            "(or came out of it). A conv's weight gradient is dout ⋆ its input; an fc's is "
            "dout · inputᵀ; max pooling must know where each maximum was; relu, sigmoid and "
            "tanh read their own output. So no activation can be freed until the backward "
            "pass has come back down to the layer that reads it: all of them are alive at "
            "once, at the start of backward.",
            f"The backward pass makes a gradient for every activation, the same size again "
            f"({fmt_bytes(t['activation_grads'])}; the input needs none) — the notes' "
            "'~×2 for bwd'. This counts them all as kept, as a simple framework does; one "
            "that frees each gradient once the layer below has used it needs less.",
            f"Parameters {fmt_bytes(t['params'])}, their gradients {fmt_bytes(t['param_grads'])}"
            f", optimizer state {fmt_bytes(t['optimizer'])} "
            f"({_state_words(b.optimizer)}).",
            _engine_words(report, b.batch),
        ]
    else:
        lines.append(
            "Inference keeps nothing for a backward pass: each output is freed once the "
            "next layer has read it, so only one step is alive at a time: the running "
            "layer's input, its output and its scratch (padded copies, im2col columns). "
            f"The largest step is {t['step_layer']}: {fmt_bytes(t['step'])}. "
            f"Parameters {fmt_bytes(t['params'])}.")
        if t["workspace"]:
            lines.append(f"Workspaces kept from layer to layer and pass to pass: "
                         f"{fmt_bytes(t['workspace'])} (the fast 3×3 convolutions: "
                         "Winograd's padded input, one band of transformed tiles and each "
                         "layer's transformed weights; the row-shift product's one band of "
                         "shifted rows and of products, and each layer's stacked weights).")
    if t["buffers"]:
        lines.append(f"Batchnorm's running statistics: {fmt_bytes(t['buffers'])}.")
    if b.training:
        lines.append(f"Total: {fmt_bytes(t['total'])}.")
    else:
        lines.append(f"Total: parameters + workspaces + the largest step = "
                     f"{fmt_bytes(t['total'])}.")
    big_acts = b.largest("forward", 2)
    big_params = b.largest("params", 2)
    if big_acts:
        lines.append("Most activations: " + ", ".join(
            f"{n} {fmt_bytes(v)}" for n, v in big_acts) + ".")
    if big_params:
        lines.append("Most parameters: " + ", ".join(
            f"{n} {fmt_bytes(v)}" for n, v in big_params) + ".")
    return "\n".join(lines)


def _engine_words(report, batch) -> str:
    """What ConvScope's own training forward pass keeps, beside the framework count above."""
    need = forward_need(report, batch, training=True)
    return (f"ConvScope's own forward pass (float32) keeps more before its backward: "
            f"{fmt_bytes(need['input'] + need['kept'])} of outputs and caches (its relus "
            "make new arrays; caches hold padded copies, LRN's scale, batchnorm's x̂, "
            f"dropout's mask), {fmt_bytes(need['scratch'])} of scratch at the peak and "
            f"{fmt_bytes(need['held'])} of workspaces: {fmt_bytes(need['total'])} with the "
            "weights, as its memory guard counts.")


def _state_words(optimizer: str) -> str:
    return {"sgd": "plain SGD keeps none",
            "momentum": "momentum keeps one velocity per parameter",
            "adam": "Adam keeps two running moments per parameter"}[optimizer]
