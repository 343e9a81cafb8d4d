"""The layer contract: every type in the registry carries every piece the app asks it for.

A new layer type is one module in core/layers/ (and its icon). This file, parametrised
over REGISTRY, names any piece it lacks (``test_piece[<type>-<piece>]``), and runs every
example the type carries through the references: ONNX Runtime on the exported model and,
when torch is installed, the generated PyTorch module (``test_example_*[<example id>]``,
ids begin with the type). The numerical gradient check of every example is
tests/test_gradients.py::test_gradient[<example id>].
"""

from __future__ import annotations

from collections import Counter
from math import prod

import numpy as np
import pytest
from convscope.core import REGISTRY, Network
from convscope.core.layers import CATEGORIES, OPS, Elementwise, Example, Layer
from convscope.core.network import RunContext, iter_layers
from convscope.core.understand.explain import explain
from convscope.core.understand.memory import forward_need
from layer_examples import CASES, build, grid_input, randomise
from netutil import relative_error, traced_peak
from optional import needs_onnx, needs_torch

TOLERANCE = 1e-4  # relative to the output's scale, as the ONNX round trip


def _instance(cls, example=None) -> Layer:
    """The example's layer of type ``cls`` (read as the network reads it), or a default."""
    if example is None:
        return cls()
    return Network.from_dict(example.network(cls.TYPE, "contract")).layers[0]


def _examples(cls):
    return list(cls.EXAMPLES.items())


def _has(cls, piece, ok):
    assert ok, f"layer type '{cls.TYPE or cls.__name__}' lacks its {piece}"


# ------------------------------------------------------------------------- the pieces
def check_title(cls):
    _has(cls, "TITLE (palette label)", cls.TITLE)
    _has(cls, "SUMMARY (tooltip)", cls.SUMMARY)
    _has(cls, "CATEGORY (palette group)", cls.CATEGORY in CATEGORIES)


def check_examples(cls):
    _has(cls, "EXAMPLES (test configurations)", cls.EXAMPLES)
    for case, example in _examples(cls):
        _has(cls, f"example '{case}' named after its type", case.startswith(cls.TYPE))
        _has(cls, f"example '{case}' as an Example", isinstance(example, Example))


def check_label(cls):
    for _, example in _examples(cls) or [(None, None)]:
        layer = _instance(cls, example)
        _has(cls, "card label (LABEL or card_label)", layer.card_label())
        _has(cls, "table label (TABLE_LABEL or table_label)", layer.table_label())
        _has(cls, "card detail (describe() or QUIET)", layer.card_detail())


def check_diagram(cls):
    _has(cls, "diagram thinness (THIN)", cls.THIN is not None)


def check_memory(cls):
    _has(cls, "memory text (NEEDS; \"\" if its backward keeps nothing)", cls.NEEDS is not None)


def check_forward_bytes(cls):
    """Its memory model (``forward_bytes``; element-wise types may keep Layer's one new
    output) against tracemalloc's peak over each example's forward pass, at a batch that
    makes the input about 1 MiB: within 20 %, give or take an eighth of the input (small
    fixed temporaries, such as NumPy's reduction buffers)."""
    _has(cls, "memory model (forward_bytes: its output, cache and scratch)",
         issubclass(cls, Elementwise) or cls.forward_bytes is not Layer.forward_bytes)
    for case, example in _examples(cls):
        batch = -(-(1 << 18) // prod(example.shape))
        net = Network.from_dict(example.network(cls.TYPE, case))
        report = net.analyze(fixes=False)
        need = forward_need(report, batch, example.training)
        estimate = need["total"] - need["weights"] - need["input"]
        peak = _pass_peak(net, report, batch, example.training)
        _has(cls, f"memory model matching example '{case}' (estimated {estimate:,} B, "
             f"measured {peak:,} B)",
             abs(estimate - peak) <= 0.2 * peak + need["input"] / 8)


def _pass_peak(net, report, batch, training) -> int:
    """Bytes tracemalloc sees allocated over one forward pass (weights and input made
    before), in a new thread: without Winograd workspaces from earlier passes."""
    net.ensure_weights(report)
    x = np.random.default_rng(0).standard_normal((batch, *net.input.shape), dtype=np.float32)
    ctx = RunContext(net, report, training, np.random.default_rng(0))
    return traced_peak(lambda: ctx.run(net.layers, x))


def check_icon(cls):
    _has(cls, f"icon ({cls.icon_path().name} in assets/icons)", cls.icon_path().is_file())


def check_explain(cls):
    _has(cls, "EXAMPLES to explain", cls.EXAMPLES)
    for case, example in _examples(cls):
        net = Network.from_dict(example.network(cls.TYPE, case))
        try:
            sections = explain(net, net.layers[0].name)
        except NotImplementedError:
            sections = []
        _has(cls, f"explanation (explain) of example '{case}'",
             len(sections) > 1 and all(s.title and s.text for s in sections))


def check_torch(cls):
    _has(cls, "PyTorch emitter (torch_module) or reason (NO_TORCH)",
         cls.torch_module is not None or cls.NO_TORCH)
    if cls.torch_module is None:
        return
    from convscope.core.interop.torch_source import to_source

    for case, example in _examples(cls):
        net = Network.from_dict(example.network(cls.TYPE, case))
        try:
            compile(to_source(net), case, "exec")
        except NotImplementedError:
            _has(cls, f"PyTorch module for example '{case}'", False)


def check_onnx(cls):
    _has(cls, "ONNX emitter (onnx_nodes) or reason (NO_ONNX)",
         cls.onnx_nodes is not None or cls.NO_ONNX)
    if cls.onnx_nodes is None:
        return
    onnx = needs_onnx()
    from convscope.core.interop.onnx_export import to_model

    for case, example in _examples(cls):
        try:
            onnx.checker.check_model(to_model(Network.from_dict(example.network(cls.TYPE, case))))
        except NotImplementedError:
            _has(cls, f"ONNX nodes for example '{case}'", False)


def check_numbers(cls):
    _has(cls, "forward (its own, not Layer's)", cls.forward is not Layer.forward)
    _has(cls, "backward (its own, not Layer's)", cls.backward is not Layer.backward)
    if issubclass(cls, Elementwise) and cls.forward is Elementwise.forward:
        _has(cls, "FORWARD and BACKWARD ops", cls.FORWARD and cls.BACKWARD)


def check_op_counts(cls):
    """Every type says what work it does beside the MACs, and how it counts it."""
    _has(cls, "op_counts (its own, not Layer's)", cls.op_counts is not Layer.op_counts)
    _has(cls, "op_counts docstring (how each count is derived)", cls.op_counts.__doc__)
    for case, example in _examples(cls):
        info = Network.from_dict(example.network(cls.TYPE, case)).analyze().layers[0]
        counts = info.layer.op_counts(info.in_shape, info.out)
        _has(cls, f"op_counts of example '{case}' with every key of OPS as a count",
             list(counts) == list(OPS)
             and all(isinstance(v, int) and v >= 0 for v in counts.values()))


PIECES = {name[len("check_"):]: f for name, f in globals().items() if name.startswith("check_")}


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.parametrize("kind", REGISTRY)
def test_piece(kind, piece):
    PIECES[piece](REGISTRY[kind])


def test_example_ids_are_unique():
    counts = Counter(case for cls in REGISTRY.values() for case in cls.EXAMPLES)
    assert [case for case, k in counts.items() if k > 1] == []
    assert len(CASES) == sum(counts.values())


@pytest.mark.parametrize("piece", [p for p in PIECES if p not in ("onnx", "torch")])
def test_a_type_without_its_pieces_fails_naming_them(piece):
    """The checks above can fail: a bare type lacks every piece (its emitters too)."""

    class Bare(Layer):
        TYPE = "bare"

    with pytest.raises(AssertionError, match="'bare' lacks"):
        PIECES[piece](Bare)


def test_a_memory_model_that_misses_what_forward_allocates_fails():
    """LRN's forward keeps its scale and runs through float64 window sums: a model that
    counted only the output is caught by the measurement."""
    lrn = REGISTRY["lrn"]

    class OutputOnly(lrn):
        def forward_bytes(self, in_shape, out_shape, batch, training):
            return Layer.forward_bytes(self, in_shape, out_shape, batch, training)

    try:
        REGISTRY["lrn"] = OutputOnly
        with pytest.raises(AssertionError, match="memory model matching example 'lrn_5'"):
            check_forward_bytes(OutputOnly)
    finally:
        REGISTRY["lrn"] = lrn


@pytest.mark.parametrize("piece", ["torch", "onnx"])
def test_a_type_without_an_emitter_or_reason_fails(piece):
    class Bare(Layer):
        TYPE = "bare"

    with pytest.raises(AssertionError, match="'bare' lacks its (PyTorch|ONNX) emitter"):
        PIECES[piece](Bare)


# ------------------------------------------------------------------------- the examples
def _run(case, seed):
    kind, example = CASES[case]
    net = build(case)
    rng = np.random.default_rng(seed + sum(map(ord, case)))
    randomise(net, rng)
    x = grid_input((example.batch, *net.input.shape), rng, np.float32)
    return kind, example, net, x


def _compare(ours, theirs, case, judge):
    names = [name for name in ours if name in theirs]
    assert names, f"{case}: {judge} gave no layer outputs"
    for name in names:
        assert theirs[name].shape == ours[name].shape, f"{case} {name}"
        err = relative_error(ours[name], theirs[name])
        assert err < TOLERANCE, f"{case} {name}: {judge} differs by {err:.2e} of its scale"


@pytest.mark.parametrize("case", CASES)
def test_example_matches_onnx_runtime(case, tmp_path):
    kind, example, net, x = _run(case, 1)
    if REGISTRY[kind].onnx_nodes is None:
        pytest.skip(f"'{kind}' has no ONNX export: {REGISTRY[kind].NO_ONNX}")
    needs_onnx()
    from convscope.core.interop import run_onnx
    from convscope.core.interop.onnx_export import export

    path = tmp_path / f"{case}.onnx"
    export(net, path, all_outputs=True)
    theirs = run_onnx(path, x)
    ours = net.forward(x)  # ONNX models run at inference
    assert net.layers[-1].name in theirs
    _compare(ours, theirs, case, "ONNX Runtime")


@pytest.mark.parametrize("case", CASES)
def test_example_matches_torch(case):
    kind, example, net, x = _run(case, 2)
    if REGISTRY[kind].torch_module is None:
        pytest.skip(f"'{kind}' has no PyTorch module: {REGISTRY[kind].NO_TORCH}")
    if example.random:
        pytest.skip(f"{case} draws random numbers: no reference can match it")
    needs_torch()
    import torch_reference

    theirs = torch_reference.run(net, x, training=example.training)
    ours = net.forward(x, training=example.training)
    assert set(theirs) == {layer.name for layer in iter_layers(net.layers)}
    _compare(ours, theirs, case, "torch")
