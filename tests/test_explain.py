"""The explain panel's worked arithmetic, checked against numbers done by hand."""

import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.network import iter_layers
from convscope.core.presets import preset_path
from convscope.core.understand.explain import as_text, explain


@pytest.fixture(scope="module")
def alexnet():
    return Network.load(preset_path("alexnet"))


def sections(net, name):
    return {s.title: s.text for s in explain(net, name)}


def test_alexnet_conv1_by_hand(alexnet):
    s = sections(alexnet, "conv1")
    # (227 − 11 + 2·0)/4 + 1 = 216/4 + 1 = 55
    assert "Height and width: (227 − 11 + 2·0)/4 + 1 = 55" in s["Output size"]
    assert "55×55×96 (290,400 values" in s["Output size"]
    # (11·11·3)·96 + 96 = 34,848 + 96 = 34,944
    assert "(11·11·3)·96 = 34,848 weights, plus 96 biases" in s["Parameters"]
    assert "= 34,944 parameters" in s["Parameters"]
    # 55·55·96 = 290,400 outputs, each 11·11·3 = 363 MACs: 105,415,200
    assert "290,400 × 363 = 105,415,200 MACs" in s["Multiply–accumulates"]
    # im2col: 55·55 = 3025 windows of 363 values; weights 96×363
    im2col = s["As one matrix product (im2col)"]
    assert "X_col of 363×3025" in im2col and "W_row 96×363" in im2col
    assert "gives 96×3025" in im2col
    # receptive field 1 + (11 − 1)·1 = 11, jump 1·4 = 4
    assert "1 + 10·1 = 11" in s["Receptive field"] and "1·4 = 4" in s["Receptive field"]
    backward = s["Backward pass"]
    assert "(96×3025)·(3025×363) = 96×363" in backward
    assert "(363×96)·(96×3025) = 363×3025" in backward
    assert "flipped 180°" in backward and "3 zeros between" in backward


def test_alexnet_pool1_and_fc6(alexnet):
    pool = sections(alexnet, "pool1")
    # (55 − 3 + 0)/2 + 1 = 27, overlapping since stride 2 < window 3
    assert "(55 − 3 + 2·0)/2 + 1 = 27" in pool["Output size"]
    assert "windows overlap" in pool["What max pooling computes"]
    assert "11 + 2·4 = 19" in pool["Receptive field"]  # rf 11 + (3 − 1)·4
    fc = sections(alexnet, "fc6")
    # 6·6·256 = 9,216 inputs; 9,216·4,096 = 37,748,736 weights, + 4,096 = 37,752,832
    assert "9,216 × 4,096 = 37,748,736, plus 4,096 biases = 37,752,832" in fc["Parameters"]
    assert "conv weight (4096, 256, 6, 6)" in fc["As a convolution"]


def test_one_by_one_and_dilated_convs():
    net = Network.from_dict({
        "format": "convscope", "version": 1,
        "input": {"channels": 256, "height": 28, "width": 28},
        "layers": [{"type": "conv", "name": "reduce", "filters": 64, "kernel": 1},
                   {"type": "conv", "name": "dilated", "filters": 64, "kernel": 3,
                    "dilation": 2, "padding": 2}]})
    reduce = sections(net, "reduce")
    text = reduce["What a 1×1 convolution mixes"]
    assert "weighted sum of the 256 values at the same position" in text
    assert "reduces the depth from 256 to 64" in text
    # 1·1·256·64 = 16,384 weights, 28·28 = 784 positions: 12,845,056 MACs
    assert "12,845,056 MACs" in text
    dilated = sections(net, "dilated")
    # effective kernel 2·(3 − 1) + 1 = 5; output (28 − 5 + 2·2)/1 + 1 = 28
    assert "D·(F − 1) + 1 = 2·(3 − 1) + 1 = 5" in dilated["Dilation"]
    assert "(28 − 5 + 2·2)/1 + 1 = 28" in dilated["Output size"]
    # receptive field: 1 (the 1×1 conv) + (5 − 1)·1 = 5
    assert "1 + 4·1 = 5" in dilated["Receptive field"]


def test_every_layer_of_every_preset_has_an_explanation():
    for name in ("lenet5", "alexnet", "googlenet", "resnet50"):
        net = Network.load(preset_path(name))
        report = net.analyze()
        for layer in iter_layers(net.layers):
            found = explain(net, layer.name, report)
            assert len(found) >= 2, layer.name
            assert all(s.title and s.text for s in found)
    text = as_text(explain(Network.load(preset_path("resnet18")), "layer1_0"))
    assert "output = body(x) + shortcut(x)" in text and "identity" in text


def test_unknown_layer_is_a_clear_error(alexnet):
    with pytest.raises(ConvScopeError, match="no layer named 'conv9'"):
        explain(alexnet, "conv9")
