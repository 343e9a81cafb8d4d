"""Every preset out to ONNX and back, with ONNX Runtime as the judge.

For each preset: export it (weights included), run the file in ONNX Runtime and the network
in ConvScope on the same input, and compare every layer's output (within 1e-4 of its scale);
then import the file back and get the same architecture, weights and figures.

The large presets run on a smaller input to keep the suite quick (the layers, and so every
op, stay the same; fc weights shrink with the input). Set CONVSCOPE_FULL_PRESETS=1 to run
them all at their own input size.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.interop import run_onnx
from convscope.core.interop.onnx_export import export, pool_plan, to_model, value_name
from convscope.core.interop.onnx_import import from_model, import_file
from convscope.core.network import iter_layers
from convscope.core.presets import preset_paths
from layer_examples import CASES, build, comes_back
from netutil import randomise_norms, relative_error

onnx = pytest.importorskip("onnx", reason="needs the optional extra convscope[onnx]")
pytest.importorskip("onnxruntime", reason="needs the optional extra convscope[onnx]")

TOLERANCE = 1e-4
# input height = width for the test run (None: the preset's own); every one analyses cleanly
SMALLER = {"alexnet": 67, "zfnet": 67, "vgg16": 32, "googlenet": 96, "resnet18": 64,
           "resnet34": 64, "resnet50": 64}
FULL = os.environ.get("CONVSCOPE_FULL_PRESETS") == "1"
PRESETS = {p.stem: p for p in preset_paths()}
MAX_ERRORS: dict = {}  # preset → worst relative error, printed at the end of the module


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """preset name → (network, .onnx path, ONNX Runtime's outputs, ConvScope's outputs)."""
    cache = {}

    def make(name):
        if name not in cache:
            net = Network.load(PRESETS[name])
            if not FULL and name in SMALLER:
                net.input.height = net.input.width = SMALLER[name]
            assert not net.analyze().has_error
            randomise_norms(net)
            path = tmp_path_factory.mktemp(name) / f"{name}.onnx"
            export(net, path, all_outputs=True)
            x = np.random.default_rng(0).standard_normal((1, *net.input.shape))
            x = x.astype(np.float32)
            cache[name] = (net, path, run_onnx(path, x), net.forward(x))
        return cache[name]

    yield make
    if MAX_ERRORS:
        print("\nworst relative error per preset (ONNX Runtime vs ConvScope):")
        for name, err in MAX_ERRORS.items():
            print(f"  {name:10s} {err:.2e}")


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_runs_the_same_in_onnx_runtime(exported, name):
    net, path, theirs, ours = exported(name)
    onnx.checker.check_model(str(path))
    model = onnx.load(str(path), load_external_data=False)
    assert model.opset_import[0].version >= 17
    assert model.graph.input[0].name == "input"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    layers = list(iter_layers(net.layers))
    names = [o.name for o in model.graph.output]
    assert sorted(names) == sorted(value_name(x) for x in layers)
    assert names[-1] == value_name(net.layers[-1])  # the network's output comes last
    worst = 0.0
    for layer in layers:
        got, want = theirs[value_name(layer)], ours[layer.name]
        assert got.shape == want.shape, layer.name
        err = relative_error(got, want)
        assert err < TOLERANCE, f"{layer.name}: relative error {err:.2e}"
        worst = max(worst, err)
    MAX_ERRORS[name] = worst


def without_floor(data):
    """The file dict without "floor": "intended" (a ConvScope note on a layer, not math)."""
    if isinstance(data, dict):
        return {k: without_floor(v) for k, v in data.items() if k != "floor"}
    if isinstance(data, list):
        return [without_floor(v) for v in data]
    return data


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_comes_back_whole(exported, name, tmp_path):
    net, path, _, _ = exported(name)
    out = import_file(path, tmp_path / f"{name}.json")
    back = Network.load(out)
    assert (tmp_path / f"{name}.npz").exists()
    expected = without_floor(net.to_dict())  # ONNX has no word for an accepted floor
    got = back.to_dict()
    assert got.pop("weights") == f"{name}.npz"
    expected.pop("weights", None)
    assert got == expected
    assert set(back.weights) == set(net.weights)
    for key, value in net.weights.items():
        np.testing.assert_array_equal(back.weights[key], value, err_msg=key)
    # the same figures and diagnostics as the preset read without its accepted floors
    plain = Network.from_dict(expected)
    assert back.analyze().to_dict() == plain.analyze().to_dict()


@pytest.mark.parametrize("case", CASES)
def test_every_example_comes_back_from_onnx(case):
    """Every layer type's examples, exported and imported: the same figures and weights."""
    net = build(case)
    net.ensure_weights()
    back = comes_back(net)
    if back is None:
        pytest.xfail(f"the ONNX importer does not read '{CASES[case][0]}' yet")
    figures = [(i.type, i.out, i.weights, i.params, i.macs) for i in net.analyze().layers]
    assert [(i.type, i.out, i.weights, i.params, i.macs) for i in back.analyze().layers] \
        == figures
    assert set(back.weights) == set(net.weights)


def test_export_writes_a_file_onnx_runtime_runs_with_any_batch(tmp_path):
    net = Network.load(PRESETS["lenet5"])
    path = tmp_path / "lenet.onnx"
    export(net, path)
    x = np.random.default_rng(3).standard_normal((5, 1, 32, 32)).astype(np.float32)
    (only,) = run_onnx(path, x).values()
    np.testing.assert_allclose(only, net.forward(x)[net.layers[-1].name], rtol=1e-5,
                               atol=1e-5)
    assert only.shape == (5, 10, 1, 1)


def test_export_of_a_network_with_an_error_is_refused(tmp_path):
    net = Network.from_dict({"format": "convscope", "version": 1,
                             "input": {"channels": 3, "height": 8, "width": 8},
                             "layers": [{"type": "conv", "filters": 4, "kernel": 11}]})
    with pytest.raises(Exception, match="kernel 11 is larger"):
        export(net, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


# ============================================================================ the mismatches
def single_layer(layer, c=3, h=7, w=7):
    return Network.from_dict({"format": "convscope", "version": 1, "name": "one",
                              "input": {"channels": c, "height": h, "width": w},
                              "layers": [layer]})


# Each pool is one of the cases where ONNX's own ceil-mode rule or ORT's LpPool would differ
# from PyTorch's (= ConvScope's), with the way the export spells it.
POOL_CASES = [
    # the ceil window fits: ceil_mode=1 as is
    ({"type": "pool", "mode": "max", "kernel": 3, "stride": 2, "ceil_mode": True}, 8, 8, "ceil"),
    ({"type": "pool", "mode": "avg", "kernel": 3, "stride": 2, "ceil_mode": True}, 8, 8, "ceil"),
    # PyTorch drops a last window that would start in the right padding; ONNX keeps it
    ({"type": "pool", "mode": "max", "kernel": 2, "stride": 2, "padding": 1,
      "ceil_mode": True}, 5, 5, "floor"),
    # ceil on one axis (3×… kernel), dropped on the other: extra end padding, not ceil_mode
    ({"type": "pool", "mode": "max", "kernel": [3, 2], "stride": 2, "padding": 1,
      "ceil_mode": True}, 6, 5, "pads"),
    ({"type": "pool", "mode": "avg", "kernel": [3, 2], "stride": 2, "padding": 1,
      "ceil_mode": True, "count_include_pad": False}, 6, 5, "pads"),
    # ... and an average that counts padding: explicit Pad, mean, divisor correction
    ({"type": "pool", "mode": "avg", "kernel": [3, 2], "stride": 2, "padding": 1,
      "ceil_mode": True}, 6, 5, "divisor"),
    # L2 pools in ceil mode: ONNX Runtime's LpPool gets partial windows wrong
    ({"type": "pool", "mode": "l2", "kernel": 3, "stride": 2, "ceil_mode": True}, 8, 8, "pads"),
    ({"type": "pool", "mode": "l2", "kernel": 3, "stride": 2, "padding": 1}, 8, 8, "floor"),
]


@pytest.mark.parametrize(("layer", "h", "w", "kind"), POOL_CASES)
def test_pools_where_onnx_and_pytorch_differ(layer, h, w, kind):
    net = single_layer(layer, 2, h, w)
    info = net.analyze().layers[0]
    assert pool_plan(info.layer, info.in_shape, info.out).kind == kind
    x = np.random.default_rng(4).standard_normal((2, 2, h, w)).astype(np.float32)
    (got,) = run_onnx(to_model(net), x).values()
    want = net.forward(x)[info.name]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    back = from_model(to_model(net))
    assert back.analyze().layers[0].out == info.out
    np.testing.assert_array_equal(back.forward(x)[info.name], want)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
def test_lrn_of_every_size_including_even_ones(size):
    """ONNX centres an even LRN window the other way (and ONNX Runtime refuses it): even
    sizes are exported as PyTorch's formula, op by op, and read back as one lrn."""
    layer = {"type": "lrn", "size": size, "alpha": 0.5, "beta": 0.75, "k": 1.0}
    net = single_layer(layer, c=7, h=3, w=3)
    model = to_model(net)
    ops = {n.op_type for n in model.graph.node}
    assert ("LRN" in ops) == (size % 2 == 1)
    x = np.random.default_rng(5).standard_normal((2, 7, 3, 3)).astype(np.float32)
    (got,) = run_onnx(model, x).values()
    np.testing.assert_allclose(got, net.forward(x)[net.layers[0].name], rtol=1e-5, atol=1e-6)
    back = from_model(model)
    assert back.to_dict()["layers"] == net.to_dict()["layers"]


def test_batchnorm_momentum_and_small_numbers_survive_float32_attributes():
    net = Network.from_dict({"format": "convscope", "version": 1, "name": "n",
                             "input": {"channels": 2, "height": 4, "width": 4},
                             "layers": [{"type": "batchnorm", "eps": 1e-3, "momentum": 0.3},
                                        {"type": "leaky_relu", "negative_slope": 0.15},
                                        {"type": "dropout", "rate": 0.35}]})
    assert from_model(to_model(net)).to_dict()["layers"] == net.to_dict()["layers"]
