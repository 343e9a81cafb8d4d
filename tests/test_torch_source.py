"""The generated PyTorch source: it compiles for every preset, needs nothing but torch and
NumPy, and (with torch installed) gives ConvScope's numbers for every layer."""

from __future__ import annotations

import ast
import runpy

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.interop.torch_source import class_name, export, to_source
from convscope.core.network import iter_layers
from convscope.core.presets import preset_paths
from netutil import randomise_norms
from optional import requires_torch

PRESETS = {p.stem: p for p in preset_paths()}
# smaller inputs keep the suite quick; the layers stay the same (fc weights shrink)
SMALLER = {"alexnet": 67, "zfnet": 67, "vgg16": 32, "googlenet": 96, "resnet18": 64,
           "resnet34": 64, "resnet50": 64}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Odd names, blocks nested two deep, most types (every type's own examples run through the
# generated module in tests/test_layer_contract.py).
ODD = {"format": "convscope", "version": 1, "name": "odd names",
       "input": {"channels": 3, "height": 13, "width": 11},
       "layers": [
           {"type": "conv", "name": "forward", "filters": 6, "kernel": 3, "padding": "same",
            "dilation": 2},
           {"type": "batchnorm", "name": "1x1"},
           {"type": "leaky_relu", "name": "a-b", "negative_slope": 0.1},
           {"type": "residual", "name": "class", "body": [
               {"type": "conv", "name": "a_b", "filters": 6, "kernel": [3, 1],
                "padding": [1, 0], "groups": 3, "bias": False},
               {"type": "concat", "name": "training", "branches": [
                   [{"type": "conv", "name": "to", "filters": 2, "kernel": 1}],
                   [],
                   [{"type": "pool", "name": "p-avg", "mode": "avg", "kernel": 3, "stride": 1,
                     "padding": 1, "count_include_pad": False}]]},
               {"type": "conv", "filters": 6, "kernel": 1}],
            "shortcut": []},
           {"type": "lrn", "size": 4, "alpha": 0.1},
           {"type": "pool", "mode": "l2", "kernel": 3, "stride": 2, "padding": 1,
            "ceil_mode": True},
           {"type": "pool", "mode": "max", "kernel": 2, "stride": 2, "ceil_mode": True},
           {"type": "sigmoid"}, {"type": "tanh"}, {"type": "dropout", "rate": 0.3},
           {"type": "flatten"},
           {"type": "fc", "units": 5, "bias": False}, {"type": "relu"},
           {"type": "softmax"}]}


def imported_modules(source):
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("name", [*PRESETS, "odd"])
def test_generated_source_compiles_and_needs_only_torch(name):
    net = Network.from_dict(ODD) if name == "odd" else Network.load(PRESETS[name])
    source = to_source(net)
    compile(source, f"{name}.py", "exec")
    assert imported_modules(source) <= {"collections", "numpy", "torch"}
    assert f"class {class_name(net.name)}(nn.Module):" in source
    assert "def load_convscope_weights(model, npz_path):" in source
    if name == "odd":
        assert "class Residual(nn.Module):" in source and "class Concat(nn.Module):" in source


def run_generated(net, tmp_path, x):
    """Write the source and weights, run the module in torch: layer name → output."""
    path = tmp_path / "model.py"
    export(net, path, with_weights=True)
    namespace = runpy.run_path(str(path))
    model = namespace[class_name(net.name)]()
    namespace["load_convscope_weights"](model, tmp_path / "model.npz")
    model.eval()
    outputs = {}
    for layer, module_path in namespace["MODULES"].items():
        module = model.get_submodule(module_path)
        module.register_forward_hook(
            lambda _m, _i, out, layer=layer: outputs.__setitem__(layer, out.numpy()))
    import torch

    with torch.no_grad():
        model(torch.from_numpy(x))
    return outputs, namespace, model


@requires_torch
@pytest.mark.parametrize("name", [*PRESETS, "odd"])
def test_generated_module_gives_convscope_numbers(name, tmp_path):
    net = Network.from_dict(ODD) if name == "odd" else Network.load(PRESETS[name])
    if name in SMALLER:
        net.input.height = net.input.width = SMALLER[name]
    randomise_norms(net)
    x = np.random.default_rng(1).standard_normal((1, *net.input.shape)).astype(np.float32)
    ours = net.forward(x)
    theirs, _, _ = run_generated(net, tmp_path, x)
    names = [layer.name for layer in iter_layers(net.layers)]
    assert sorted(theirs) == sorted(names)
    for layer in names:
        want = ours[layer]
        assert theirs[layer].shape == want.shape, layer
        err = np.abs(theirs[layer] - want).max() / max(np.abs(want).max(), 1e-3)
        assert err < 1e-4, f"{layer}: relative error {err:.2e}"


@requires_torch
def test_weights_loader_refuses_a_wrong_file(tmp_path):
    net = Network.from_dict(ODD)
    x = np.zeros((1, 3, 13, 11), np.float32)
    _, namespace, model = run_generated(net, tmp_path, x)
    load = namespace["load_convscope_weights"]
    arrays = dict(np.load(tmp_path / "model.npz"))
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in arrays.items()
                                          if k != "forward.weight"})
    with pytest.raises(KeyError, match="forward.weight"):
        load(model, tmp_path / "missing.npz")
    np.savez(tmp_path / "shape.npz", **{**arrays, "a_b.weight": np.zeros((6, 2, 1, 1))})
    with pytest.raises(ValueError, match="'a_b.weight' has shape"):
        load(model, tmp_path / "shape.npz")
    np.savez(tmp_path / "extra.npz", **{**arrays, "nothere.weight": np.zeros(3)})
    with pytest.raises(KeyError, match="nothere.weight"):
        load(model, tmp_path / "extra.npz")


def test_export_of_a_network_with_an_error_writes_nothing(tmp_path):
    net = Network.from_dict({**ODD, "layers": [{"type": "conv", "filters": 4, "kernel": 20}]})
    with pytest.raises(Exception, match="kernel 20 is larger"):
        export(net, tmp_path / "bad.py")
    assert list(tmp_path.iterdir()) == []
