"""ONNX models made elsewhere come in whole, or are refused with the op and node named.

The torchvision architectures are built here by hand as torch ``nn.Module``s (torchvision
itself is not installed), exported with ``torch.onnx.export`` and imported; ConvScope's
forward pass must then give PyTorch's numbers. Models that hold an op ConvScope has no layer
for are built with ``onnx.helper``: ``convscope import`` names the op and the node, exits
with status 2 and writes nothing.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.interop import missing_onnx_message, require_onnx
from convscope.core.interop.onnx_export import export
from convscope.core.interop.onnx_import import import_file, import_model
from convscope.core.network import iter_layers
from convscope.core.presets import preset_path
from convscope.gui.cli import main
from netutil import torch_to_onnx
from optional import HAS_TORCH, requires_torch

onnx = pytest.importorskip("onnx", reason="needs the optional extra convscope[onnx]")
TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper

# ============================================================================ torch models
if HAS_TORCH:  # else the torch half of this file is skipped, and says so
    import torch
    from torch import nn
    from torch.nn import functional as F

    class BasicBlock(nn.Module):
        """torchvision's ResNet BasicBlock."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    class SmallResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 8, 1))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class BasicConv2d(nn.Module):
        """torchvision's GoogLeNet conv: conv, batchnorm (eps 0.001), relu."""

        def __init__(self, cin, cout, **kwargs):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)), inplace=True)

    class Inception(nn.Module):
        def __init__(self, cin, c1, c3r, c3, c5r, c5, proj):
            super().__init__()
            self.branch1 = BasicConv2d(cin, c1, kernel_size=1)
            self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, kernel_size=1),
                                         BasicConv2d(c3r, c3, kernel_size=3, padding=1))
            self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, kernel_size=1),
                                         BasicConv2d(c5r, c5, kernel_size=3, padding=1))
            self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                         BasicConv2d(cin, proj, kernel_size=1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                              self.branch4(x)], 1)

    class SmallGoogLeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = BasicConv2d(3, 16, kernel_size=7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2 = BasicConv2d(16, 16, kernel_size=1)
            self.conv3 = BasicConv2d(16, 24, kernel_size=3, padding=1)
            self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.inception3a = Inception(24, 8, 8, 12, 4, 4, 4)
            self.inception3b = Inception(28, 8, 8, 12, 4, 4, 4)
            self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.inception4a = Inception(28, 8, 8, 12, 4, 4, 4)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.dropout = nn.Dropout(0.2)
            self.fc = nn.Linear(28, 10)

        def forward(self, x):
            x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
            x = self.maxpool3(self.inception3b(self.inception3a(x)))
            x = torch.flatten(self.avgpool(self.inception4a(x)), 1)
            return self.fc(self.dropout(x))

    class SmallAlexNet(nn.Module):
        """torchvision's AlexNet, narrower; its AdaptiveAvgPool2d((6, 6)) meets a 6×6 map."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                nn.Conv2d(32, 48, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(48, 32, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(0.5), nn.Linear(32 * 6 * 6, 64), nn.ReLU(inplace=True),
                nn.Dropout(0.5), nn.Linear(64, 64), nn.ReLU(inplace=True), nn.Linear(64, 10))

        def forward(self, x):
            x = self.avgpool(self.features(x))
            return self.classifier(torch.flatten(x, 1))

    class SmallVGG(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], 3
            for v in [8, "M", 16, "M", 32, 32, "M"]:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                    c = v
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Linear(32 * 4 * 4, 64), nn.ReLU(True),
                                            nn.Dropout(), nn.Linear(64, 10))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    class OddsAndEnds(nn.Module):
        """Ops torch writes in other ways: F.pad, view(N, -1), x @ W + b, avg/LP pools."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.avg = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
            self.act = nn.LeakyReLU(0.2)
            self.w = nn.Parameter(torch.randn(4 * 5 * 5, 6) * 0.1)
            self.b = nn.Parameter(torch.randn(6))

        def forward(self, x):
            x = self.act(self.avg(self.bn(self.conv(F.pad(x, (1, 1, 1, 1))))))
            x = torch.tanh(x.view(x.size(0), -1) @ self.w + self.b)
            return torch.softmax(x, 1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def check_same_as_torch(net, x, want):
    got = net.forward(x)[net.layers[-1].name].reshape(len(x), -1)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-4 * scale


def types(layers):
    return [layer.TYPE for layer in layers]


@requires_torch
def test_resnet_basic_blocks_come_in_as_residuals(tmp_path):
    x, want = torch_to_onnx(SmallResNet(), 64, tmp_path / "resnet.onnx")
    net = import_model(tmp_path / "resnet.onnx")
    check_same_as_torch(net, x, want)
    assert types(net.layers) == ["conv", "relu", "pool", "residual", "relu", "residual",
                                 "relu", "residual", "relu", "residual", "relu",
                                 "global_avg_pool", "fc"]
    down = net.layers[7]
    assert down.name == "layer2_0"
    assert types(down.values["body"]) == ["conv", "relu", "conv"]  # batchnorm folded by torch
    assert types(down.values["shortcut"]) == ["conv"]
    assert down.values["shortcut"][0].name == "layer2_0_downsample_0"
    assert net.layers[3].values["shortcut"] == []  # identity
    assert net.input.shape == (3, 64, 64)


@requires_torch
def test_inception_modules_come_in_as_concats(tmp_path):
    x, want = torch_to_onnx(SmallGoogLeNet(), 64, tmp_path / "googlenet.onnx")
    net = import_model(tmp_path / "googlenet.onnx")
    check_same_as_torch(net, x, want)
    concats = [layer for layer in net.layers if layer.TYPE == "concat"]
    assert len(concats) == 3
    branches = concats[0].values["branches"]
    assert [types(b) for b in branches] == [["conv", "relu"], ["conv", "relu", "conv", "relu"],
                                            ["conv", "relu", "conv", "relu"],
                                            ["pool", "conv", "relu"]]
    assert branches[3][0].values["ceil_mode"] is True
    pools = [layer for layer in net.layers if layer.TYPE == "pool"]
    assert all(p.values["ceil_mode"] for p in pools)


@requires_torch
@pytest.mark.parametrize(("model", "size", "kinds"), [
    ("SmallAlexNet", 224, ["conv", "relu", "pool"] * 2 + ["conv", "relu"] * 3 +
     ["pool", "pool", "fc", "relu", "fc", "relu", "fc"]),
    ("SmallVGG", 32, ["conv", "relu", "pool"] * 2 + ["conv", "relu"] * 2 +
     ["pool", "fc", "relu", "fc"]),
])
def test_alexnet_and_vgg_come_in_whole(tmp_path, model, size, kinds):
    x, want = torch_to_onnx(globals()[model](), size, tmp_path / "m.onnx")
    net = import_model(tmp_path / "m.onnx")
    check_same_as_torch(net, x, want)
    assert types(net.layers) == kinds
    assert net.layers[0].name == "features_0"


@requires_torch
def test_pad_view_matmul_and_kept_batchnorm(tmp_path):
    """F.pad folds into the conv's padding, view(N, -1) + x @ W + b is an fc, and a
    batchnorm exported in PRESERVE mode (not folded into the conv) is a batchnorm."""
    x, want = torch_to_onnx(OddsAndEnds(), 8, tmp_path / "odds.onnx", preserve=True)
    net = import_model(tmp_path / "odds.onnx")
    check_same_as_torch(net, x, want)
    assert types(net.layers) == ["conv", "batchnorm", "pool", "leaky_relu", "fc", "tanh",
                                 "softmax"]
    conv, _, pool, act = net.layers[:4]
    assert conv.values["padding"] == 1
    assert pool.to_dict() | {"name": None} == {
        "type": "pool", "name": None, "mode": "avg", "kernel": 3, "stride": 2, "padding": 1,
        "ceil_mode": True, "count_include_pad": False}
    assert act.values["negative_slope"] == 0.2


# ============================================================================ refusals
def tiny_model(nodes, inputs=None, initializers=(), opset=17):
    inputs = inputs or [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                      ["N", 3, 8, 8])]
    out = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "tiny", inputs, [out], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def weight(name, shape):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


EINSUM = tiny_model([
    helper.make_node("Conv", ["input", "w"], ["c"], name="conv_a", kernel_shape=[3, 3]),
    helper.make_node("Einsum", ["c"], ["y"], name="mix_channels", equation="nchw->nhwc")],
    initializers=[weight("w", (4, 3, 3, 3))])
LSTM = tiny_model([
    helper.make_node("Relu", ["input"], ["r"], name="act"),
    helper.make_node("LSTM", ["r", "W", "R"], ["y"], name="lstm_1", hidden_size=2)],
    initializers=[weight("W", (1, 8, 8)), weight("R", (1, 8, 2))])


@pytest.mark.parametrize(("model", "op", "node"), [(EINSUM, "Einsum", "mix_channels"),
                                                   (LSTM, "LSTM", "lstm_1")])
def test_unsupported_op_is_named_and_nothing_is_written(tmp_path, capsys, model, op, node):
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ConvScopeError) as caught:
        import_model(path)
    assert f"'{node}' ({op})" in str(caught.value)
    status = main(["import", str(path), str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert status == 2
    assert f"node '{node}' ({op}) has no ConvScope layer" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out.json").exists()
    assert not (tmp_path / "out.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


BAD_MODELS = {
    "two inputs": (tiny_model(
        [helper.make_node("Add", ["input", "other"], ["y"], name="sum")],
        inputs=[helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8])
                for n in ("input", "other")]), "exactly one input, it has 2"),
    "no fixed height": (tiny_model(
        [helper.make_node("Relu", ["input"], ["y"], name="act")],
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                              ["N", 3, "H", 8])]), "no fixed height ('H')"),
    "join by Div": (tiny_model([
        helper.make_node("Relu", ["input"], ["a"], name="left"),
        helper.make_node("Sigmoid", ["input"], ["b"], name="right"),
        helper.make_node("Div", ["a", "b"], ["y"], name="ratio")]),
        "node 'ratio' (Div) joins the branches"),
    "asymmetric padding": (tiny_model([
        helper.make_node("Conv", ["input", "w"], ["y"], name="shifted", kernel_shape=[3, 3],
                         pads=[2, 0, 0, 0])], initializers=[weight("w", (4, 3, 3, 3))]),
        "node 'shifted' (Conv) pads 2 before and 0 after"),
    "even LRN": (tiny_model([helper.make_node("LRN", ["input"], ["y"], name="norm", size=4)]),
                 "node 'norm' (LRN) has an even size 4"),
    "add a constant over width": (tiny_model(
        [helper.make_node("Add", ["input", "w"], ["y"], name="shift")],
        initializers=[weight("w", (1, 3, 1, 8))]),
        "node 'shift' (Add) takes an offset of shape [1, 3, 1, 8] on data of 3 channels"),
    "sum with a constant": (tiny_model(
        [helper.make_node("Sum", ["input", "w"], ["y"], name="total")],
        initializers=[weight("w", (1, 3, 1, 1))]), "node 'total' (Sum) takes the constant"),
    "transpose height and width": (tiny_model(
        [helper.make_node("Transpose", ["input"], ["y"], name="turn", perm=[0, 1, 3, 2])]),
        "node 'turn' (Transpose) transposes (N, C, H, W) data by [0, 1, 3, 2]"),
    "conv on channels-last data": (tiny_model([
        helper.make_node("Transpose", ["input"], ["t"], name="to_nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Conv", ["t", "w"], ["y"], name="conv_nhwc", kernel_shape=[1, 1])],
        initializers=[weight("w", (3, 8, 1, 1))]),
        "node 'conv_nhwc' (Conv) works on data a Transpose laid out as (N, H, W, C)"),
    "split along height": (tiny_model(
        [helper.make_node("Split", ["input"], ["a", "b"], name="halves", axis=2)], opset=11),
        "node 'halves' (Split) splits along axis 2"),
    "clip to 0..1": (tiny_model(
        [helper.make_node("Clip", ["input"], ["y"], name="clamp", min=0.0, max=1.0)],
        opset=9), "node 'clamp' (Clip) clips to [0, 1]"),
    "softmax over width": (tiny_model(
        [helper.make_node("Softmax", ["input"], ["y"], name="sm")]),
        "node 'sm' (Softmax) is over axis 3"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_models_convscope_cannot_say_are_refused_plainly(tmp_path, capsys, case):
    model, message = BAD_MODELS[case]
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    assert main(["import", str(path), str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith(f"convscope: {path}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_unreadable_and_missing_files(tmp_path, capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    assert main(["import", str(junk), str(tmp_path / "out.json")]) == 2
    assert "not a readable ONNX model" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "none.onnx"), str(tmp_path / "out.json")]) == 2
    assert "none.onnx: no such file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.onnx"]


def test_cli_import_writes_the_architecture_and_its_weights(tmp_path):
    net = Network.load(preset_path("lenet5"))
    export(net, tmp_path / "lenet.onnx")
    assert main(["import", str(tmp_path / "lenet.onnx"), str(tmp_path / "copy.json")]) == 0
    back = Network.load(tmp_path / "copy.json")
    assert back.weights_file == "copy.npz"
    assert back.name == "LeNet-5" and back.input.mean == [0.5]
    assert [x.name for x in iter_layers(back.layers)] == [x.name for x in iter_layers(net.layers)]
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
    last = net.layers[-1].name
    np.testing.assert_array_equal(back.forward(x)[last], net.forward(x)[last])


def test_missing_onnx_is_told_plainly(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    message = missing_onnx_message()
    assert "pip install 'convscope[onnx]'" in message
    with pytest.raises(ConvScopeError, match=r"pip install 'convscope\[onnx\]'"):
        require_onnx()
    with pytest.raises(ConvScopeError, match=r"pip install 'convscope\[onnx\]'"):
        import_file(tmp_path / "m.onnx", tmp_path / "m.json")
    out = tmp_path / "lenet.onnx"
    assert main(["export", str(preset_path("lenet5")), str(out)]) == 2
    assert "pip install 'convscope[onnx]'" in capsys.readouterr().err
    assert not out.exists()


# ============================================================================ model zoo
def _light_model(name):
    """One of the model-zoo graphs the onnx package ships (opset 9, weights made by
    ConstantOfShape), its weights drawn at random (the stored ones are one number each,
    which makes every class score equal), the logits before the softmax an output too."""
    import os

    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        f"light_{name}.onnx")
    if not os.path.exists(path):
        pytest.skip(f"this onnx package has no {path}")
    model = onnx.load(path)
    graph, rng = model.graph, np.random.default_rng(0)
    shapes = {t.name: numpy_helper.to_array(t).tolist() for t in graph.initializer}
    kept = []
    for n in graph.node:
        if n.op_type != "ConstantOfShape" or n.input[0] not in shapes:
            kept.append(n)
            continue
        shape = shapes[n.input[0]]
        value = float(numpy_helper.to_array(n.attribute[0].t).reshape(-1)[0])
        if len(shape) >= 2:  # conv and fc weights, He-scaled so activations stay near 1
            array = rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))
        elif value == 0:  # biases and means
            array = 0.1 * rng.standard_normal(shape)
        else:  # scales and variances
            array = abs(value) * rng.uniform(0.5, 1.5, shape)
        graph.initializer.append(numpy_helper.from_array(array.astype(np.float32),
                                                         n.output[0]))
    del graph.node[:]
    graph.node.extend(kept)
    softmax = next((n for n in graph.node if n.op_type == "Softmax"), None)
    if softmax is None:  # densenet121 ends at its logits
        return model, graph.output[0].name
    graph.output.append(helper.make_empty_tensor_value_info(softmax.input[0]))
    return model, softmax.input[0]


def test_model_zoo_resnet50_with_sum_joins_comes_in():
    """ResNet-50 as the ONNX model zoo has it: its residual joins are Sum of two."""
    from convscope.core.interop import run_onnx
    from convscope.core.interop.onnx_import import from_model

    model, logits = _light_model("resnet50")
    net = from_model(model)
    residuals = [layer for layer in net.layers if layer.TYPE == "residual"]
    assert len(residuals) == 16
    assert sum(bool(r.values["shortcut"]) for r in residuals) == 4  # the downsampling ones
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = run_onnx(model, x, [logits])[logits].reshape(1, -1)
    got = net.forward(x)[net.layers[-2].name].reshape(1, -1)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


# the model zoo's graphs as Caffe and Caffe2 wrote them, and the layer each needs read
LIGHT = {"densenet121": "concat",  # its Concats of everything so far, BN → Mul → Add
         "inception_v1": "global_avg_pool",  # a 7×7 pool padded (0, 0, 1, 1) on 6×6
         "inception_v2": "batchnorm",  # BN → Mul → Add folded into one
         "shufflenet": "channel_shuffle",  # Reshape → Transpose → Reshape
         "squeezenet": "concat"}


@pytest.mark.parametrize("name", list(LIGHT))
def test_model_zoo_graphs_come_in_and_give_onnx_runtimes_logits(name):
    from convscope.core.interop import run_onnx
    from convscope.core.interop.onnx_import import from_model

    model, logits = _light_model(name)
    net = from_model(model)
    assert LIGHT[name] in {layer.TYPE for layer in iter_layers(net.layers)}
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = run_onnx(model, x, [logits])[logits].reshape(1, -1)
    last = net.layers[-2 if net.layers[-1].TYPE == "softmax" else -1]
    got = net.forward(x)[last.name].reshape(1, -1)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
