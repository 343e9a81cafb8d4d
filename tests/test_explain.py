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


@pytest.fixture(scope="module")
def googlenet():
    return Network.load(preset_path("googlenet"), weights=False)


def test_inception_3a_branches_by_hand(googlenet):
    s = sections(googlenet, "inception_3a")
    # input 28×28×192; 28·28 = 784 positions; depth 64 + 128 + 32 + 32 = 256
    assert "64 + 128 + 32 + 32 = 256 channels, 28×28×256" in s["What it computes"]
    branches = s["Each branch"]
    # 1×1: (192)·64 = 12,288 weights + 64 = 12,352; 784·12,288 = 9,633,792 MACs
    assert "• branch 1: conv 64 1×1 → 28×28×64: 12,352 params, 9,633,792 MACs" in branches
    # 3×3: 192·96 + 96 = 18,528 and 9·96·128 + 128 = 110,720: 129,248;
    # 784·(18,432 + 110,592) = 101,154,816
    assert ("• branch 2: conv 96 1×1 → conv 128 3×3 p1 → 28×28×128: 129,248 params, "
            "101,154,816 MACs") in branches
    # 5×5: 192·16 + 16 = 3,088 and 25·16·32 + 32 = 12,832: 15,920; 784·15,872 = 12,443,648
    assert "28×28×32: 15,920 params, 12,443,648 MACs" in branches
    # pool proj: 192·32 + 32 = 6,176; 784·6,144 = 4,816,896
    assert ("• branch 4: pool max 3×3 /1 p1 → conv 32 1×1 → 28×28×32: 6,176 params, "
            "4,816,896 MACs") in branches
    # 12,352 + 129,248 + 15,920 + 6,176 = 163,696;
    # 9,633,792 + 101,154,816 + 12,443,648 + 4,816,896 = 128,049,152
    assert "Together: 163,696 params and 128,049,152 MACs" in branches
    saves = s["What the 1×1 reductions save"]
    # the 5×5 straight on 192 channels: 25·192·32 + 32 = 153,632 params, 784·153,600 =
    # 120,422,400 MACs; saved: 153,632 − 15,920 = 137,712 (90 %),
    # 120,422,400 − 12,443,648 = 107,978,752 (90 %)
    assert "(5·5·192)·32 + 32 = 153,632 params, 28·28·153,600 = 120,422,400 MACs" in saves
    assert "saves 137,712 params (90 %) and 107,978,752 MACs (90 %)" in saves
    assert "(1·1·192)·16 + 16 = 3,088 and (5·5·16)·32 + 32 = 12,832 params" in saves
    # the 3×3 straight on 192: 9·192·128 + 128 = 221,312 and 784·221,184 = 173,408,256;
    # saved 221,312 − 129,248 = 92,064 (42 %), 173,408,256 − 101,154,816 = 72,253,440
    assert "(3·3·192)·128 + 128 = 221,312 params, 28·28·221,184 = 173,408,256 MACs" in saves
    assert "saves 92,064 params (42 %) and 72,253,440 MACs (42 %)" in saves
    # the pool projection keeps the block at 256 deep instead of 64 + 128 + 32 + 192 = 416
    assert "would be 416 channels deep instead of 256" in saves
    # the block: 163,696 + 92,064 + 137,712 = 393,472 params; 128,049,152 + 72,253,440 +
    # 107,978,752 = 308,281,344 MACs; 229,776 / 393,472 = 58 %, 180,232,192 / 308,281,344
    # = 58 %
    assert ("163,696 params and 128,049,152 MACs as built; with each larger conv straight on "
            "the 192 input channels 393,472 params and 308,281,344 MACs") in saves


def test_residual_sides_by_hand():
    net = Network.load(preset_path("resnet18"), weights=False)
    s = sections(net, "layer2_0")
    sides = s["The two sides"]
    # body: 9·64·128 = 73,728 + bn 256 + 9·128·128 = 147,456 + bn 256 = 221,696 params;
    # MACs 28·28·(73,728 + 147,456) = 173,408,256
    assert ("56×56×64 → 28×28×128; 221,696 params, 173,408,256 MACs") in sides
    # projection: 1·1·64·128 = 8,192 weights + bn 256 = 8,448; 28·28·8,192 = 6,422,528 MACs,
    # 6,422,528 / 173,408,256 = 3.7 %
    assert ("• shortcut: conv 128 1×1 /2 → batchnorm, a projection: 56×56×64 → 28×28×128; "
            "8,448 params, 6,422,528 MACs, 4 % of the body's MACs") in sides
    assert "(1·1·64)·128 = 8,192 weights" in sides
    assert "The join: 28·28·128 = 100,352 additions, no parameters." in sides
    identity = sections(net, "layer1_0")["The two sides"]
    assert "• shortcut: the identity, x itself, 56×56×64: 0 params and 0 MACs" in identity
    assert "56·56·64 = 200,704 additions" in identity
