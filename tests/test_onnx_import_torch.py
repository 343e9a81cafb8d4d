"""Today's CNNs, as torch modules written the way torchvision writes them (narrow and
shallow, with random weights), exported with torch.onnx.export (opset 17, the TorchScript
exporter) and imported: each counts the parameters the ONNX file holds and gives ONNX
Runtime's (and PyTorch's) numbers on the last layer within 1e-4 of the output's scale.

The blocks: MobileNetV2's inverted residual (ReLU6 as Clip), MobileNetV3's (Hardswish and
squeeze-and-excitation with Hardsigmoid), EfficientNet's MBConv (SiLU; SE with SiLU and
Sigmoid), ShuffleNetV2's unit (chunk as Split, the channel shuffle as view/transpose/view),
DenseNet's dense block (torch.cat of every feature so far), Inception-v3's InceptionE
(branches that fork again) and ConvNeXt's block (permute, LayerNorm, Linear, GELU, Linear,
permute, layer scale).
"""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core.interop.onnx_import import import_model
from netutil import torch_to_onnx
from optional import HAS_TORCH, requires_torch

onnx = pytest.importorskip("onnx", reason="needs the optional extra convscope[onnx]")
pytest.importorskip("onnxruntime", reason="needs the optional extra convscope[onnx]")
pytestmark = [requires_torch, pytest.mark.usefixtures("one_torch_thread")]

if HAS_TORCH:
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv_bn(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU6):
        layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)

    class SqueezeExcitation(nn.Module):
        """torchvision.ops.SqueezeExcitation."""

        def __init__(self, c, squeeze, act=nn.ReLU, scale=nn.Sigmoid):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
            self.activation, self.scale_activation = act(), scale()

        def forward(self, x):
            s = self.fc2(self.activation(self.fc1(self.avgpool(x))))
            return self.scale_activation(s) * x

    class InvertedResidual(nn.Module):
        """MobileNetV2's block; with ``se`` and ``act`` also MobileNetV3's and
        EfficientNet's MBConv."""

        def __init__(self, cin, cout, stride, expand, act=nn.ReLU6, se=None):
            super().__init__()
            hidden = cin * expand
            layers = [conv_bn(cin, hidden, 1, act=act),
                      conv_bn(hidden, hidden, 3, stride, groups=hidden, act=act)]
            if se:
                layers.append(se(hidden))
            layers.append(conv_bn(hidden, cout, 1, act=None))
            self.block = nn.Sequential(*layers)
            self.use_res = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.block(x) if self.use_res else self.block(x)

    class Classifier(nn.Module):
        def __init__(self, c, act=None):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            layers = [nn.Linear(c, 16), act(), nn.Dropout(0.2), nn.Linear(16, 10)] if act \
                else [nn.Dropout(0.2), nn.Linear(c, 10)]
            self.classifier = nn.Sequential(*layers)

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(x), 1))

    def mobilenet_v2():
        return nn.Sequential(conv_bn(3, 8, stride=2), InvertedResidual(8, 8, 1, 1),
                             InvertedResidual(8, 12, 2, 6), InvertedResidual(12, 12, 1, 6),
                             conv_bn(12, 32, 1), Classifier(32))

    def mobilenet_v3():
        se = lambda c: SqueezeExcitation(c, max(c // 4, 8), scale=nn.Hardsigmoid)  # noqa: E731
        return nn.Sequential(conv_bn(3, 8, stride=2, act=nn.Hardswish),
                             InvertedResidual(8, 8, 2, 1, nn.ReLU, se),
                             InvertedResidual(8, 12, 2, 4, nn.Hardswish, se),
                             InvertedResidual(12, 12, 1, 3, nn.Hardswish, se),
                             conv_bn(12, 24, 1, act=nn.Hardswish), Classifier(24, nn.Hardswish))

    def efficientnet():
        se = lambda c: SqueezeExcitation(c, max(c // 4, 2), act=nn.SiLU)  # noqa: E731
        return nn.Sequential(conv_bn(3, 8, stride=2, act=nn.SiLU),
                             InvertedResidual(8, 8, 1, 1, nn.SiLU, se),
                             InvertedResidual(8, 12, 2, 6, nn.SiLU, se),
                             InvertedResidual(12, 12, 1, 6, nn.SiLU, se),
                             conv_bn(12, 32, 1, act=nn.SiLU), Classifier(32))

    def channel_shuffle(x, groups):
        n, c, h, w = x.size()
        x = x.view(n, groups, c // groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(n, c, h, w)

    class ShuffleUnit(nn.Module):
        """torchvision's ShuffleNetV2 InvertedResidual."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.stride, half = stride, cout // 2
            if stride > 1:
                self.branch1 = nn.Sequential(conv_bn(cin, cin, 3, stride, cin, None),
                                             conv_bn(cin, half, 1, act=nn.ReLU))
            self.branch2 = nn.Sequential(conv_bn(cin if stride > 1 else half, half, 1,
                                                 act=nn.ReLU),
                                         conv_bn(half, half, 3, stride, half, None),
                                         conv_bn(half, half, 1, act=nn.ReLU))

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    def shufflenet_v2():
        return nn.Sequential(conv_bn(3, 8, stride=2, act=nn.ReLU), nn.MaxPool2d(3, 2, 1),
                             ShuffleUnit(8, 16, 2), ShuffleUnit(16, 16, 1),
                             ShuffleUnit(16, 16, 1), conv_bn(16, 32, 1, act=nn.ReLU),
                             Classifier(32))

    class DenseLayer(nn.Module):
        """torchvision's _DenseLayer: reads the concatenation of every feature so far."""

        def __init__(self, cin, growth):
            super().__init__()
            self.norm1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, 2 * growth, 1,
                                                                    bias=False)
            self.norm2 = nn.BatchNorm2d(2 * growth)
            self.conv2 = nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False)

        def forward(self, features):
            x = torch.cat(features, 1)
            x = self.conv1(F.relu(self.norm1(x)))
            return self.conv2(F.relu(self.norm2(x)))

    class DenseBlock(nn.ModuleDict):
        def __init__(self, layers, cin, growth):
            super().__init__({f"denselayer{k + 1}": DenseLayer(cin + k * growth, growth)
                              for k in range(layers)})

        def forward(self, x):
            features = [x]
            for layer in self.values():
                features.append(layer(features))
            return torch.cat(features, 1)

    def densenet():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            DenseBlock(3, 8, 4),
            nn.BatchNorm2d(20), nn.ReLU(), nn.Conv2d(20, 10, 1, bias=False), nn.AvgPool2d(2),
            DenseBlock(2, 10, 4), nn.BatchNorm2d(18), nn.ReLU(), Classifier(18))

    class InceptionE(nn.Module):
        """torchvision's Inception-v3 InceptionE: two branches fork again after a conv."""

        def __init__(self, cin):
            super().__init__()
            self.branch1x1 = conv_bn(cin, 8, 1, act=nn.ReLU)
            self.branch3x3_1 = conv_bn(cin, 8, 1, act=nn.ReLU)
            self.branch3x3_2a = nn.Sequential(nn.Conv2d(8, 8, (1, 3), padding=(0, 1)),
                                              nn.ReLU())
            self.branch3x3_2b = nn.Sequential(nn.Conv2d(8, 8, (3, 1), padding=(1, 0)),
                                              nn.ReLU())
            self.branch3x3dbl_1 = conv_bn(cin, 8, 1, act=nn.ReLU)
            self.branch3x3dbl_2 = conv_bn(8, 8, 3, act=nn.ReLU)
            self.branch3x3dbl_3a = nn.Conv2d(8, 4, (1, 3), padding=(0, 1))
            self.branch3x3dbl_3b = nn.Conv2d(8, 4, (3, 1), padding=(1, 0))
            self.branch_pool = conv_bn(cin, 4, 1, act=nn.ReLU)

        def forward(self, x):
            b1 = self.branch1x1(x)
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
            bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
            return torch.cat([b1, b3, bd, bp], 1)

    def inception_v3():
        return nn.Sequential(conv_bn(3, 8, stride=2, act=nn.ReLU), InceptionE(8),
                             InceptionE(36), Classifier(36))

    class LayerNorm2d(nn.LayerNorm):
        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)

    class CNBlock(nn.Module):
        """torchvision's ConvNeXt block (stochastic depth is the identity in eval)."""

        def __init__(self, dim):
            super().__init__()
            self.layer_scale = nn.Parameter(torch.rand(dim, 1, 1))
            self.block = nn.Sequential(
                nn.Conv2d(dim, dim, 7, padding=3, groups=dim),
                Permute([0, 2, 3, 1]), nn.LayerNorm(dim, eps=1e-6),
                nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim),
                Permute([0, 3, 1, 2]))

        def forward(self, x):
            return self.layer_scale * self.block(x) + x

    class Permute(nn.Module):
        def __init__(self, dims):
            super().__init__()
            self.dims = dims

        def forward(self, x):
            return torch.permute(x, self.dims)

    def convnext():
        return nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 4, 4), LayerNorm2d(8, eps=1e-6)),
            CNBlock(8), nn.Sequential(LayerNorm2d(8, eps=1e-6), nn.Conv2d(8, 16, 2, 2)),
            CNBlock(16),
            nn.Sequential(nn.AdaptiveAvgPool2d(1), LayerNorm2d(16, eps=1e-6), nn.Flatten(1),
                          nn.Linear(16, 10)))

    MODELS = {"mobilenet_v2": mobilenet_v2, "mobilenet_v3": mobilenet_v3,
              "efficientnet": efficientnet, "shufflenet_v2": shufflenet_v2,
              "densenet": densenet, "inception_v3": inception_v3, "convnext": convnext}
else:
    MODELS = dict.fromkeys(["mobilenet_v2", "mobilenet_v3", "efficientnet", "shufflenet_v2",
                            "densenet", "inception_v3", "convnext"])

# the ops whose constant inputs are parameters (BatchNormalization: γ and β only)
_PARAM_INPUTS = {"Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,), "PRelu": (1,),
                 "LayerNormalization": (1, 2), "BatchNormalization": (1, 2), "Mul": (0, 1),
                 "Add": (0, 1)}


def onnx_params(model) -> int:
    """The parameters an ONNX file holds, as ConvScope counts them: the constant inputs of
    the ops above that are not single numbers; a tensor shared through Identity counts once
    per use."""
    sizes = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Identity" and n.input[0] in sizes:
            sizes[n.output[0]] = sizes[n.input[0]]
        if n.op_type == "Constant":
            t = n.attribute[0].t
            sizes[n.output[0]] = int(np.prod(t.dims)) if t.dims else 1
    total = 0
    for n in model.graph.node:
        for k in _PARAM_INPUTS.get(n.op_type, ()):
            if k < len(n.input) and sizes.get(n.input[k], 1) > 1:
                total += sizes[n.input[k]]
    return total


def kinds(layers) -> set:
    """Every layer type in ``layers``, blocks' insides too."""
    from convscope.core.network import iter_layers

    return {layer.TYPE for layer in iter_layers(layers)}


EXPECTED = {  # layer types each must come in with (the new ones it exercises)
    "mobilenet_v2": {"relu6", "residual"},
    "mobilenet_v3": {"hardswish", "hardsigmoid", "residual"},
    "efficientnet": {"silu", "residual", "sigmoid"},
    "shufflenet_v2": {"channel_slice", "channel_shuffle", "concat"},
    "densenet": {"concat", "batchnorm"},
    "inception_v3": {"concat"},
    "convnext": {"layernorm", "gelu", "residual"},
}


@pytest.mark.parametrize("name", list(MODELS))
def test_todays_cnn_blocks_come_in_whole(tmp_path, name):
    from convscope.core.interop import run_onnx

    path = tmp_path / f"{name}.onnx"
    x, want_torch = torch_to_onnx(MODELS[name](), 32, path)
    net = import_model(path)
    model = onnx.load(str(path))
    (want,) = run_onnx(model, x).values()
    got = net.forward(x)[net.layers[-1].name].reshape(want.shape)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-4 * scale
    assert np.abs(got - want_torch).max() <= 1e-4 * scale
    assert net.analyze().totals()["params"] == onnx_params(model)
    assert EXPECTED[name] <= kinds(net.layers)
    if name in ("mobilenet_v3", "efficientnet"):
        joins = {layer.values["join"] for layer in _all(net.layers, "residual")}
        assert joins == {"add", "mul"}  # the skip connections and squeeze-and-excitation
    if name == "inception_v3":  # the concats of the branches that fork again, inside
        assert len(_all(net.layers, "concat")) == 6


def _all(layers, type_name):
    from convscope.core.network import iter_layers

    return [layer for layer in iter_layers(layers) if type_name == layer.TYPE]
