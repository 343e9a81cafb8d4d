"""The NumPy parts of live activations: the classic filter bank, the mosaic layout, the
hand-worked arithmetic of one output value, the forward pass's stop hook, and the live
views' forward pass (one analysis, seeded weights drawn once)."""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.filterbank import classic_filters
from convscope.core.live.forward import ForwardRequest, LiveCache, run_forward
from convscope.core.live.images import screen_picture
from convscope.core.live.mosaic import (
    GAP_CODE,
    block_mean,
    grid,
    normalise_channels,
    tile,
    tile_rgb,
    value_codes,
)
from convscope.core.live.steps import conv_step, pool_step
from convscope.core.network import Cancelled
from convscope.core.presets import preset_path
from optional import needs_torch

# ============================================================================ filter bank
EDGES = [0, 3, 6, 9, 12, 15, 18, 21]  # the families interleave: edge, Gabor, colour, edge…


def _grid(k):
    ys, xs = np.meshgrid(np.linspace(-1, 1, k), np.linspace(-1, 1, k), indexing="ij")
    return xs, ys


@pytest.mark.parametrize("shape", [(96, 3, 11, 11), (64, 3, 3, 3), (6, 1, 5, 5),
                                   (8, 3, 1, 1), (300, 3, 7, 7), (10, 5, 2, 3), (4, 2, 1, 4)])
def test_any_size_gives_finite_filters_of_he_norm(shape):
    w = classic_filters(*shape, seed=0)
    assert w.shape == shape and w.dtype == np.float32 and np.isfinite(w).all()
    # He-normal weights have E‖w‖² = fan_in · 2/fan_in = 2: the bank keeps that size
    np.testing.assert_allclose((w.astype(np.float64) ** 2).sum(axis=(1, 2, 3)), 2.0, rtol=1e-5)
    np.testing.assert_array_equal(w, classic_filters(*shape, seed=0))


def test_beyond_the_bank_the_seed_makes_the_variants():
    a, b = classic_filters(80, 3, 7, 7, seed=1), classic_filters(80, 3, 7, 7, seed=2)
    np.testing.assert_array_equal(a[:8], b[:8])  # the fixed bank
    assert not np.allclose(a[60:], b[60:])  # seeded variants


def test_edge_filters_answer_most_to_their_own_orientation():
    k = 11
    w = classic_filters(24, 3, k, k)
    u, v = _grid(k)
    for n in range(len(EDGES)):
        theta = 2 * np.pi * n / 8
        step = ((u * np.cos(theta) + v * np.sin(theta)) > 0).astype(float)  # a step edge
        responses = [float((w[e] * step).sum()) for e in EDGES]
        assert int(np.argmax(responses)) == n
        assert responses[(n + 4) % 8] == pytest.approx(-responses[n], rel=1e-5)  # opposite
    flat = np.ones((3, k, k))
    assert abs(float((w[EDGES[0]] * flat).sum())) < 1e-5  # blind to brightness


def test_colour_opponent_blob_tells_red_from_green():
    w = classic_filters(12, 3, 7, 7)
    red_green = w[8]  # the first colour blob: red on, green off
    patch = np.ones((7, 7))
    red = float((red_green * np.stack([patch, 0 * patch, 0 * patch])).sum())
    green = float((red_green * np.stack([0 * patch, patch, 0 * patch])).sum())
    grey = float((red_green * np.stack([patch, patch, patch])).sum())
    assert red > 0.5 and green == pytest.approx(-red) and abs(grey) < 1e-5


# ============================================================================ mosaic
def test_tiles_in_reading_order_with_one_pixel_gaps():
    maps = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    mosaic = tile(maps)
    assert (mosaic.rows, mosaic.cols) == grid(5, 3, 4) == (3, 2)  # about square: 11×9
    assert mosaic.image.shape == (3 * 4 - 1, 2 * 5 - 1)
    np.testing.assert_array_equal(mosaic.image[0:3, 5:9], maps[1])
    np.testing.assert_array_equal(mosaic.image[4:7, 5:9], maps[3])
    np.testing.assert_array_equal(mosaic.image[8:11, 0:4], maps[4])
    assert np.isnan(mosaic.image[8:11, 5:9]).all()  # the sixth tile is empty
    assert np.isnan(mosaic.image[3]).all() and np.isnan(mosaic.image[:, 4]).all()
    assert mosaic.levels == (0.0, 59.0)
    assert mosaic.locate(6.5, 1.2) == (1, 1, 1)
    assert mosaic.locate(4.5, 1.0) is None and mosaic.locate(6, 9) is None
    assert mosaic.to_mosaic(4, 2, 3) == (0 + 3, 8 + 2)


def test_per_channel_scaling_and_flat_channels():
    maps = np.stack([np.full((2, 2), 7.0), np.array([[1.0, 3.0], [5.0, 9.0]])]).astype(
        np.float32)
    out = normalise_channels(maps)
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1], [[0.0, 0.25], [0.5, 1.0]])
    assert tile(maps, per_channel=True).levels == (0.0, 1.0)


def test_codes_spread_the_levels_over_255_shades_and_mark_the_gaps():
    # levels (−2, 3): a shade is 5/254 wide; −2 → 0, 3 → 254, 0.5 → 127 (the middle),
    # 0.52 → 128.016 → 128; past the levels clips; NaN (a gap) → 255
    values = np.array([[-2.0, 3.0, 0.5, 0.52], [-9.0, 7.0, np.nan, -1.99]], np.float32)
    np.testing.assert_array_equal(value_codes(values, (-2.0, 3.0)),
                                  [[0, 254, 127, 128], [0, 254, GAP_CODE, 1]])
    assert value_codes(np.ones((2, 2), np.float32), (1.0, 1.0)).tolist() == [[0, 0], [0, 0]]
    mosaic = tile(np.arange(8, dtype=np.float32).reshape(2, 2, 2))  # shared: levels 0..7
    # one row of two tiles: [0 1 gap 4 5]; 1·254/7 = 36.3, 4·254/7 = 145.1, 5·254/7 = 181.4
    assert mosaic.codes[0].tolist() == [0, 36, GAP_CODE, 145, 181]
    assert mosaic.codes.dtype == np.uint8 and mosaic.codes.shape == mosaic.image.shape


def test_the_screen_picture_of_a_large_input_is_every_step_th_pixel_as_bytes():
    class Spec:  # mean 0.5, std 0.25: a value v is the colour 0.5 + 0.25·v
        mean, std = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
    image = np.zeros((3, 4100, 10), np.float32)  # ⌈4100/2048⌉ = 3: rows 0, 3, 6, …
    image[0, ::3] = 2.0  # red 0.5 + 0.5 = 1 → 255 on the rows drawn
    image[0, 1::3] = 9.0  # never drawn
    image[1] = -1.0  # green 0.25 → 63.75 → 64; blue 0.5 → 127.5 → 128 (rounded to even)
    picture = screen_picture(image, Spec)
    assert picture.dtype == np.uint8 and picture.shape == (1367, 4, 3)  # ⌈4100/3⌉, ⌈10/3⌉
    assert picture[0, 0].tolist() == picture[-1, -1].tolist() == [255, 64, 128]


def test_big_mosaics_are_block_means():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((64, 224, 224)).astype(np.float32)
    mosaic = tile(maps, max_pixels=1_000_000)
    assert mosaic.step == 2 and mosaic.tile == (112, 112)
    assert mosaic.image.size <= 1_000_000
    expected = maps[9].reshape(112, 2, 112, 2).mean(axis=(1, 3))
    top, left = mosaic.origin(9)
    np.testing.assert_allclose(mosaic.image[top:top + 112, left:left + 112], expected,
                               rtol=1e-5, atol=1e-6)
    assert mosaic.locate(left + 10.6, top + 3.2) == (9, 6, 21)  # back to full-map pixels
    odd = block_mean(np.ones((1, 5, 5), np.float32), 2)
    assert odd.shape == (1, 3, 3) and (odd == 1).all()


def test_rgb_filters_centre_zero_on_grey():
    w = np.zeros((2, 3, 2, 2), np.float32)
    w[1, 0, 0, 0], w[1, 2, 1, 1] = 2.0, -1.0
    rgb, layout = tile_rgb(w)
    assert rgb.shape == (2, 2 * 3 - 1, 3)  # two 2×2 filters side by side
    top, left = layout.origin(1)
    np.testing.assert_allclose(rgb[top, left], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(rgb[top + 1, left + 1], [0.5, 0.5, 0.25])
    np.testing.assert_allclose(rgb[0, 0], [0.5, 0.5, 0.5])  # an all-zero filter is grey


# ============================================================================ arithmetic
class _Conv:
    """Just what conv_step reads from a layer."""

    TYPE = "conv"

    def __init__(self, name, kernel, stride, padding, dilation, groups):
        self.name, self.values = name, {"groups": groups}
        self._geometry = tuple(zip(kernel, stride, padding, dilation))

    def geometry(self):
        return self._geometry


@pytest.mark.parametrize("kernel,stride,padding,dilation,groups", [
    ((3, 3), (1, 1), (1, 1), (1, 1), 1), ((5, 3), (2, 1), (2, 0), (1, 2), 2),
    ((11, 11), (4, 4), (0, 0), (1, 1), 1), ((3, 3), (2, 2), (3, 3), (3, 3), 4)])
def test_conv_step_matches_torch_at_every_corner(kernel, stride, padding, dilation, groups):
    torch = needs_torch()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 23, 21)).astype(np.float32)
    w = rng.standard_normal((8, 4 // groups) + kernel).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    out = torch.nn.functional.conv2d(torch.from_numpy(x[None]), torch.from_numpy(w),
                                     torch.from_numpy(b), stride, padding, dilation,
                                     groups).numpy()[0]
    layer = _Conv("c", kernel, stride, padding, dilation, groups)
    _, ho, wo = out.shape
    for f in (0, 7):
        for y, xx in ((0, 0), (0, wo - 1), (ho - 1, 0), (ho - 1, wo - 1), (ho // 2, wo // 2)):
            step = conv_step(layer, {"c.weight": w, "c.bias": b}, x, out, f, y, xx)
            assert step.total == pytest.approx(float(out[f, y, xx]), abs=1e-4)
            assert step.agrees
            assert len(step.channels) == 4 // groups


def test_pool_step_avg_without_padding_counts():
    torch = needs_torch()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 7)).astype(np.float32)

    class Pool:
        TYPE, name = "pool", "p"
        values = {"mode": "avg", "count_include_pad": False}

        def geometry(self):
            return ((3, 2, 1, 1), (3, 2, 1, 1))

    out = torch.nn.functional.avg_pool2d(torch.from_numpy(x[None]), 3, 2, 1,
                                         count_include_pad=False).numpy()[0]
    for y, xx in ((0, 0), (1, 2), (3, 3)):
        step = pool_step(Pool(), x, out, 1, y, xx)
        assert step.total == pytest.approx(float(out[1, y, xx]), abs=1e-6)


# ============================================================================ stop hook
def test_forward_stops_between_layers_when_asked():
    net = Network.from_dict({"format": "convscope", "version": 1, "input": {
        "channels": 1, "height": 8, "width": 8}, "layers": [
        {"type": "conv", "filters": 2, "kernel": 3}, {"type": "relu"},
        {"type": "pool", "kernel": 2}]})
    x = np.ones((1, 1, 8, 8), np.float32)
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(Cancelled, match="before 'pool1'"):
        net.forward(x, should_stop=stop)
    full = net.forward(x)
    never = net.forward(x, should_stop=lambda: False)
    np.testing.assert_array_equal(full["pool1"], never["pool1"])


# ============================================================================ the live pass
def _request(net, **changes):
    image = np.random.default_rng(0).random(net.input.shape, dtype=np.float32)
    return ForwardRequest(3, net.to_dict(), dict(net.weights), net.memory_budget, image,
                          **changes)


def test_the_live_pass_analyses_the_network_once_and_gives_the_core_maps(monkeypatch):
    net = Network.load(preset_path("lenet5"))
    request = _request(net)
    calls = []
    analyze = Network.analyze
    monkeypatch.setattr(Network, "analyze",
                        lambda self, fixes=True: calls.append(fixes) or analyze(self, fixes))
    result = run_forward(request, LiveCache(), request_id=7)
    assert calls == [False]  # one analysis, without the input-size advice search
    assert (result.id, result.revision) == (7, 3)
    assert result.report.by_name("c1").out == (6, 28, 28)
    monkeypatch.undo()
    net.ensure_weights()  # the same seeded weights, drawn independently
    expected = net.forward(request.image[None])
    for name in ("c1", "s2", "f6"):
        np.testing.assert_array_equal(result.activations[name], expected[name][0])


def test_seeded_weights_are_drawn_once_and_follow_the_edits():
    net = Network.load(preset_path("lenet5"))
    seeded = LiveCache()
    first = run_forward(_request(net), seeded).network.weights
    again = run_forward(_request(net), seeded).network.weights
    assert again["c1.weight"] is first["c1.weight"]  # taken from the cache, not drawn again
    net.layers[0].set("filters", 8)  # c1 changes shape: drawn anew, the rest still cached
    edited = run_forward(_request(net), seeded).network.weights
    assert edited["c1.weight"].shape == (8, 1, 5, 5)
    assert edited["f6.weight"] is first["f6.weight"]


def test_the_live_pass_stops_when_it_goes_stale():
    net = Network.load(preset_path("lenet5"))
    asked = []

    def stale():
        asked.append(1)
        return len(asked) > 2  # fresh before the pass and before the first layer

    with pytest.raises(Cancelled):
        run_forward(_request(net), LiveCache(), should_stop=stale)
    assert len(asked) == 3
