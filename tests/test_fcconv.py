"""FC→CONV: the converted network gives the same scores on the original input, slides over a
larger one to give a grid of scores, and that grid is what sliding the original would give."""

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.presets import preset_path
from convscope.core.understand.fcconv import (
    check_crop,
    check_equivalence,
    class_scores,
    compare_cells,
    conv_stack_stride,
    convert_fc_to_conv,
    crop_grid,
    head_window,
    interleave,
    larger_size,
    padded_layers,
    score_grid,
    shift_offsets,
    shifted_scores,
    sliding_cost,
)


def _net(layers, c=1, h=12, w=12, name="tiny"):
    return Network.from_dict({"format": "convscope", "version": 1, "name": name,
                              "input": {"channels": c, "height": h, "width": w},
                              "seed": 3, "layers": layers})


def _random_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal((1,) + shape).astype(np.float32)


# ---------------------------------------------------------------------------- VGG16
@pytest.fixture(scope="module")
def vgg():
    net = Network.load(preset_path("vgg16"))
    converted, notes = convert_fc_to_conv(net)  # creates the 138M random weights (~3 s)
    return net, converted, notes


def test_vgg16_fc6_becomes_4096_filters_of_7x7x512(vgg):
    net, converted, notes = vgg
    fc6 = converted.find("layers[31]")
    assert (fc6.name, fc6.TYPE, fc6.get("filters"), fc6.pair("kernel")) == (
        "fc6", "conv", 4096, (7, 7))
    assert converted.weights["fc6.weight"].shape == (4096, 512, 7, 7)
    assert converted.weights["fc7.weight"].shape == (4096, 4096, 1, 1)
    assert converted.weights["fc8.weight"].shape == (1000, 4096, 1, 1)
    # row u of the fc matrix, read C-major, is filter u
    np.testing.assert_array_equal(converted.weights["fc6.weight"][5, 2, 3, 4],
                                  net.weights["fc6.weight"][5, 2 * 49 + 3 * 7 + 4])
    assert notes.notes[0].startswith("fc6: fc over 7×7×512 → conv of 4,096 filters 7×7×512")
    assert net.find("layers[31]").TYPE == "fc"  # the original is untouched


def test_vgg16_same_scores_on_the_original_input(vgg):
    net, converted, _ = vgg
    result = check_equivalence(net, converted, _random_input((3, 224, 224)))
    assert result["output_shape"] == (1, 1000, 1, 1)
    assert result["scale"] > 0
    assert result["max_rel"] <= 1e-4


def test_vgg16_score_grid_at_384_is_6x6(vgg):
    _, converted, _ = vgg
    big, grid = score_grid(converted, 384)
    # pool5 at 384: 384/32 = 12, so 12×12×512; fc6 as a 7×7 conv: 12 − 7 + 1 = 6
    assert grid == (6, 6, 1000)
    assert (big.input.height, big.input.width) == (384, 384)
    assert big.analyze().by_name("pool5").out == (512, 12, 12)


def test_vgg16_sliding_cost_by_hand():
    net = Network.load(preset_path("vgg16"))
    cost = sliding_cost(net, 384)
    # crops 32 px apart: (384 − 224)/32 + 1 = 6 per axis, 36 in all
    assert cost["stride"] == (32, 32) and cost["crops"] == (6, 6) and cost["crop_count"] == 36
    assert cost["macs_per_crop"] == 15_470_264_320  # the spec's VGG16 total
    assert cost["sliding_macs"] == 36 * 15_470_264_320
    # One converted pass: the convs' 15,470,264,320 − (102,760,448 + 16,777,216 + 4,096,000)
    # = 15,346,630,656 MACs scale with the area, (384/224)² = 144/49 (every stage divides
    # exactly): 15,346,630,656 / 49 · 144 = 45,100,302,336. The fc convs run at 6·6 = 36
    # positions: (102,760,448 + 16,777,216 + 4,096,000)·36 = 4,450,811,904.
    assert cost["converted_macs"] == 45_100_302_336 + 4_450_811_904
    assert cost["grid"] == (6, 6, 1000) and cost["whole"]


# ---------------------------------------------------------------------------- AlexNet
def test_alexnet_same_scores_and_a_6x6_grid_at_387():
    net = Network.load(preset_path("alexnet"))
    converted, notes = convert_fc_to_conv(net)
    assert converted.find("layers[16]").pair("kernel") == (6, 6)  # fc6 over pool5's 6×6×256
    x = _random_input((3, 227, 227), seed=1)
    result = check_equivalence(net, converted, x)
    assert result["max_rel"] <= 1e-4
    # and by hand, not through check_equivalence: the last layers' outputs agree
    want = net.forward(x)["fc8"]
    got = converted.forward(x)["fc8"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
    # total stride 4·2·2·2 = 32; 227 + 5·32 = 387 gives pool5 11×11 and a 6×6 grid
    assert conv_stack_stride(net) == (32, 32)
    assert larger_size(net) == (387, 387)
    big, grid = score_grid(converted, 387)
    assert grid == (6, 6, 1000)
    scores = class_scores(big, _random_input((3, 387, 387), seed=2))
    assert scores.shape == (1, 6, 6, 1000) and np.isfinite(scores).all()


# ---------------------------------------------------------------------------- exactness
def test_grid_cells_are_the_original_on_each_crop_without_padding():
    # no padding anywhere, so a cell of the grid sees exactly the pixels of one crop
    net = _net([{"type": "conv", "filters": 4, "kernel": 3},   # 12 → 10
                {"type": "relu"},
                {"type": "pool", "kernel": 2},                # 10 → 5, total stride 2
                {"type": "flatten"},
                {"type": "fc", "units": 6}, {"type": "tanh"},
                {"type": "fc", "units": 3}])
    converted, notes = convert_fc_to_conv(net)
    assert notes.dropped == ["flatten1"]
    assert [layer.TYPE for layer in converted.layers] == ["conv", "relu", "pool", "conv",
                                                          "tanh", "conv"]
    big, grid = score_grid(converted, 16)  # (16 − 12)/2 + 1 = 3 crops per axis
    assert grid == (3, 3, 3)
    image = _random_input((1, 16, 16), seed=4)
    scores = class_scores(big, image)[0]
    for i in range(3):
        for j in range(3):
            crop = image[:, :, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
            expected = net.forward(crop)["fc2"][0, :, 0, 0]
            np.testing.assert_allclose(scores[i, j], expected, rtol=1e-5, atol=1e-6)
    assert sliding_cost(net, 16)["crop_count"] == 9


def test_conversion_refuses_what_it_cannot_convert():
    with pytest.raises(ConvScopeError, match="no top-level fc layer"):
        convert_fc_to_conv(_net([{"type": "conv", "filters": 2, "kernel": 3}]))
    with pytest.raises(ConvScopeError, match="no conv equivalent"):
        convert_fc_to_conv(_net([{"type": "flatten"}, {"type": "softmax"},
                                 {"type": "fc", "units": 2}]))
    net = _net([{"type": "conv", "filters": 2, "kernel": 3}, {"type": "fc", "units": 2}])
    converted, _ = convert_fc_to_conv(net)
    with pytest.raises(ConvScopeError, match="cannot take 8×8"):
        score_grid(converted, 8)
    with pytest.raises(ConvScopeError, match="smaller than"):
        sliding_cost(net, 8)


# ---------------------------------------------------------------------------- seeing it
def test_vgg16_at_384_by_analysis_pool5_12x12_fc6_window_and_crop_boxes():
    net = Network.load(preset_path("vgg16"), weights=False)
    head = head_window(net, 384)
    # pool5 at 384: five 2×2 pools, 384/32 = 12; fc6 is a 7×7 conv (pool5 at 224 is 7×7)
    assert (head.layer, head.shape, head.fc) == ("pool5", (512, 12, 12), "fc6")
    assert (head.kernel, head.stride, head.padding, head.cells) == ((7, 7), (1, 1), (0, 0),
                                                                    (6, 6))
    assert head.formula() == "(12 − 7 + 2·0)/1 + 1 = 6"
    assert head.box(2, 5) == (2, 5, 7, 7)  # cell (2, 5) reads pool5 rows 2..8, cols 5..11
    crops = crop_grid(net, (6, 6))
    for i, j in ((0, 0), (2, 3), (5, 5)):
        assert crops.box(i, j) == (32 * i, 32 * j, 224, 224)
    # the last cell's crop ends at the image's last pixel: 5·32 + 224 = 384
    assert crops.box(5, 5)[0] + 224 == 384
    with pytest.raises(ConvScopeError, match="no cell"):
        crops.box(6, 0)
    # pixel (100, 300): rows k with 32k ≤ 100 ≤ 32k + 223 → 0..3; columns 32k ≤ 300 ≤ 32k
    # + 223 → k ≥ 77/32, so 3..5; the nearest crop centre 32k + 111.5 to 300: k = 5.9 → 5
    assert crops.covering(100, 300) == ((0, 3), (3, 5))
    assert crops.nearest(100, 300) == (0, 5)
    assert crops.covering(-1, 0) is None
    assert padded_layers(net.analyze()) == [f"conv{s}_{k}" for s, n in
                                            ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
                                            for k in range(1, n + 1)]


def test_vgg16_shifted_passes_by_analysis_interleave_into_11x11():
    net = Network.load(preset_path("vgg16"), weights=False)
    offsets = shift_offsets(net, 2)
    assert offsets == [(0, 0), (0, 16), (16, 0), (16, 16)]
    converted, _ = convert_fc_to_conv(net, with_weights=False)
    # 368 = 384 − 16: pool5 floor(368/32) = 11, fc6: 11 − 7 + 1 = 5
    shapes = {o: score_grid(converted, (384 - o[0], 384 - o[1]))[1] for o in offsets}
    assert shapes == {(0, 0): (6, 6, 1000), (0, 16): (6, 5, 1000), (16, 0): (5, 6, 1000),
                      (16, 16): (5, 5, 1000)}
    # each pass's cells carry their own crop corner; the interleaved grid puts corner
    # (16·a, 16·b) at fine cell (a, b)
    grids = {}
    for (dy, dx), (rows, cols, _) in shapes.items():
        ii, jj = np.mgrid[0:rows, 0:cols]
        grids[(dy, dx)] = np.stack([dy + 32 * ii, dx + 32 * jj], axis=-1)
    fine = interleave(grids, 2)
    assert fine.shape == (11, 11, 2)
    aa, bb = np.mgrid[0:11, 0:11]
    np.testing.assert_array_equal(fine, np.stack([16 * aa, 16 * bb], axis=-1))
    assert crop_grid(net, fine.shape, 2).box(10, 3) == (160, 48, 224, 224)
    with pytest.raises(ConvScopeError, match="cannot be split"):
        shift_offsets(net, 3)


def _stride4(padding=0, size=12):
    """A conv stack of total stride 4 and an fc head: VGG's structure, tiny. Without
    padding: 12 → conv 3: 10 → pool: 5 → conv 2: 4 → pool: 2×2×5 → fc 6 → fc 3."""
    k2 = 3 if padding else 2
    return _net([{"type": "conv", "filters": 4, "kernel": 3, "padding": padding},
                 {"type": "relu"}, {"type": "pool", "kernel": 2},
                 {"type": "conv", "filters": 5, "kernel": k2, "padding": padding},
                 {"type": "relu"}, {"type": "pool", "name": "last", "kernel": 2},
                 {"type": "flatten"}, {"type": "fc", "units": 6}, {"type": "relu"},
                 {"type": "fc", "units": 3}], c=2, h=size, w=size)


def test_every_cell_and_shifted_cell_is_the_original_on_its_crop_without_padding():
    net = _stride4()
    net.ensure_weights()
    converted, _ = convert_fc_to_conv(net)
    assert larger_size(net) == (32, 32)  # 12 + 5·4
    big, _ = score_grid(converted, 32)
    image = _random_input((2, 32, 32), seed=5)[0]
    acts = big.forward(image[None])
    grid = np.moveaxis(acts["fc2"][0], 0, -1)
    head = head_window(net, 32)
    assert (head.layer, head.shape, head.formula()) == ("last", (5, 7, 7),
                                                        "(7 − 2 + 2·0)/1 + 1 = 6")
    crops = crop_grid(net, grid.shape)
    found = compare_cells(net, image, grid, crops)
    assert len(found["cells"]) == 36 and found["worst"] <= 1e-4 * found["scale"]
    # one cell by hand: the crop 4·2, 4·3 pixels in, through the original network
    want = net.forward(image[None, :, 8:20, 12:24])["fc2"].reshape(-1)
    np.testing.assert_allclose(grid[2, 3], want, atol=1e-5)
    one = check_crop(net, image, crops.box(2, 3), grid[2, 3], head, acts["last"][0], (2, 3))
    assert one["max_abs"] <= 1e-5 and np.abs(one["map_diff"]).max() <= 1e-6
    # shifted by 0 and 2 pixels: 6 + 5 cells per axis, crops 2 pixels apart
    shifted = shifted_scores(net, converted, image, 2, known=grid)
    fine = shifted["fine"]
    assert fine.shape == (11, 11, 3) and shifted["crops"].step == (2, 2)
    np.testing.assert_array_equal(fine[::2, ::2], grid)
    for a, b in np.ndindex(11, 11):
        crop = image[None, :, 2 * a:2 * a + 12, 2 * b:2 * b + 12]
        np.testing.assert_allclose(fine[a, b], net.forward(crop)["fc2"].reshape(-1),
                                   atol=1e-5)


def test_with_padding_a_cell_differs_from_its_crop_where_the_crop_pads():
    net = _stride4(padding=1, size=8)  # 8 → 8 → 4 → 4 → 2: fc over 2×2×5
    net.ensure_weights()
    converted, _ = convert_fc_to_conv(net)
    big, _ = score_grid(converted, 28)
    image = _random_input((2, 28, 28), seed=6)[0]
    acts = big.forward(image[None])
    grid = np.moveaxis(acts["fc2"][0], 0, -1)
    head = head_window(net, 28)
    crop = image[None, :, 8:16, 12:20]
    own = net.forward(crop)
    found = check_crop(net, image, crop_grid(net, grid.shape).box(2, 3), grid[2, 3], head,
                       acts["last"][0], (2, 3))
    # the figure is the real difference, by hand: the big pass sees real pixels where the
    # crop alone sees its own zero padding
    want = float(np.abs(own["fc2"].reshape(-1) - grid[2, 3]).max())
    assert found["max_abs"] == pytest.approx(want) and want > 1e-3
    np.testing.assert_allclose(found["map_diff"], np.abs(
        own["last"][0] - acts["last"][0][:, 2:4, 3:5]).max(axis=0), rtol=1e-6)
    assert padded_layers(net.analyze()) == ["conv1", "conv2"]
