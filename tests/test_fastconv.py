"""The fast convolution paths (core/fastconv.py) against the direct computation.

Winograd F(2×2, 3×3) and F(4×4, 3×3) must give the direct im2col result (and torch's) to
1e-4 of the output's scale on odd sizes, every padding, batches and with or without bias;
``ops.conv_forward`` must really route eligible convs there (a spy sees the call), and the
transformed-weight cache must never hand back weights that were changed or replaced.
"""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import Network, fastconv, ops
from optional import needs_torch

TOL = 1e-4  # relative to the largest output magnitude


def rel_diff(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def direct(x, w, b, padding):
    with fastconv.fast_paths(False):
        return ops.conv_forward(x, w, b, (1, 1), padding)[0]


def random_conv(rng, n, c, f, h, w, bias=True):
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((f, c, 3, 3), dtype=np.float32) / np.float32(3 * np.sqrt(c))
    b = rng.standard_normal(f, dtype=np.float32) if bias else None
    return x, wt, b


# (N, C, F, H, W, padding, bias): odd and even sizes, sizes that leave partial tiles,
# paddings 0/1/2 and rectangular, a single-row output, batch > 1.
CASES = [
    (1, 16, 16, 8, 8, (1, 1), True),
    (2, 17, 19, 9, 11, (1, 1), True),
    (3, 16, 32, 30, 29, (0, 2), False),
    (1, 32, 16, 5, 5, (2, 2), True),
    (2, 20, 24, 13, 7, (1, 0), True),
    (1, 16, 16, 3, 17, (0, 1), False),
    (4, 24, 16, 31, 33, (1, 1), True),
]


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"p{c[5]}")
def test_winograd_matches_direct(m, case):
    n, c, f, h, w, padding, bias = case
    x, wt, b = random_conv(np.random.default_rng(hash(case) % 2**32), n, c, f, h, w, bias)
    want = direct(x, wt, b, padding)
    got = fastconv.winograd_conv(x, wt, b, padding, m)
    assert got.shape == want.shape
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert rel_diff(got, want) < TOL


# the row-shift path keeps the width (pw = (kw − 1)/2); a 5-row kernel needs 5 rows
ROW_CASES = [(kernel, case) for kernel in [(3, 3), (5, 3), (2, 3), (3, 5), (3, 1)]
             for case in CASES
             if 2 * case[5][1] == kernel[1] - 1 and case[3] + 2 * case[5][0] >= kernel[0]]


@pytest.mark.parametrize("kernel, case", ROW_CASES,
                         ids=lambda c: "x".join(map(str, c)) if len(c) == 2 else
                         "x".join(map(str, c[:5])) + f"p{c[5]}")
def test_row_shift_conv_matches_direct(monkeypatch, kernel, case):
    """Whole, and in bands of a few output rows (which the column sums see flat too)."""
    n, c, f, h, w, padding, bias = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((f, c, *kernel), dtype=np.float32) / np.float32(3 * np.sqrt(c))
    b = rng.standard_normal(f, dtype=np.float32) if bias else None
    with fastconv.fast_paths(False):
        want = ops.conv_forward(x, wt, b, (1, 1), padding)[0]
    got = fastconv.rows_conv(x, wt, b, padding)
    assert got.shape == want.shape and got.dtype == np.float32 and got.flags.c_contiguous
    assert rel_diff(got, want) < TOL
    monkeypatch.setattr(fastconv, "_BAND_BYTES", 4 * n * c * kernel[0] * w * 5)  # 5 rows
    assert fastconv.rows_band(n, c, kernel[0], want.shape[2], w) < want.shape[2] or \
        want.shape[2] <= 5
    assert rel_diff(fastconv.rows_conv(x, wt, b, padding), want) < TOL


@pytest.mark.parametrize("path", [fastconv.ROWS, 4])
def test_fast_paths_on_a_large_map_match_torch(monkeypatch, path):
    torch = needs_torch()
    if path != fastconv.ROWS:
        monkeypatch.setattr(fastconv, "ROWS_MAX_MACS", 0)
        monkeypatch.setattr(fastconv, "ROWS_ANY_SIZE_CHANNELS", 0)
    x, wt, b = random_conv(np.random.default_rng(7), 2, 64, 48, 57, 60)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt),
                                      torch.from_numpy(b), padding=1).numpy()
    got, _ = ops.conv_forward(x, wt, b, (1, 1), (1, 1))
    assert fastconv.plan(x, wt, (1, 1), (1, 1), (1, 1), 1) == path
    assert rel_diff(got, want) < TOL


def test_direct_reference_is_the_plain_sum():
    """The reference itself, checked by a plain sum over the kernel taps on a tiny case."""
    x, wt, b = random_conv(np.random.default_rng(3), 1, 2, 2, 4, 5)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((1, 2, 4, 5), np.float64) + b.reshape(1, 2, 1, 1)
    for i in range(3):
        for j in range(3):
            want += np.einsum("fc,nchw->nfhw", wt[:, :, i, j], xp[:, :, i:i + 4, j:j + 5])
    assert rel_diff(direct(x, wt, b, (1, 1)), want) < 1e-6


# --------------------------------------------------------------------------- routing
@pytest.fixture
def spy(monkeypatch):
    """Every call of a fast path: (x shape, w shape, Winograd's m or ROWS)."""
    calls = []
    winograd, rows = fastconv.winograd_conv, fastconv.rows_conv

    def recording_winograd(x, w, b, padding, m):
        calls.append((x.shape, w.shape, m))
        return winograd(x, w, b, padding, m)

    def recording_rows(x, w, b, padding):
        calls.append((x.shape, w.shape, fastconv.ROWS))
        return rows(x, w, b, padding)

    monkeypatch.setattr(fastconv, "winograd_conv", recording_winograd)
    monkeypatch.setattr(fastconv, "rows_conv", recording_rows)
    return calls


@pytest.mark.parametrize("shape, m", [
    ((1, 128, 112, 112), 4),  # VGG conv2_2
    ((1, 64, 224, 224), fastconv.ROWS),  # VGG conv1_2: 1.85 GMACs, but 64 channels
    ((1, 64, 56, 56), fastconv.ROWS),   # ResNet layer1
    ((1, 128, 28, 28), fastconv.ROWS),  # ResNet layer2
    ((2, 32, 28, 28), fastconv.ROWS),
    ((1, 256, 56, 56), 4),    # VGG conv3: 1.85 GMACs
    ((1, 512, 14, 14), 2),    # VGG conv5
])
def test_eligible_convs_take_a_fast_path(spy, shape, m):
    n, c, h, w = shape
    x, wt, b = random_conv(np.random.default_rng(0), n, c, c, h, w)
    out, cache = ops.conv_forward(x, wt, b, (1, 1), (1, 1), (1, 1), 1)
    assert spy == [(x.shape, wt.shape, m)]
    assert out.shape == (n, c, h, w)
    assert cache[0] is x and cache[1] is wt  # conv_backward reads the same cache


@pytest.mark.parametrize("shape, kernel, stride, dilation, groups, dtype", [
    ((1, 256, 14, 14), 3, 1, 1, 1, np.float32),  # ResNet layer3: too small for either
    ((1, 512, 7, 7), 3, 1, 1, 1, np.float32),    # ResNet layer4
    ((1, 256, 13, 13), 3, 1, 1, 1, np.float32),  # AlexNet conv3-5
    ((1, 64, 56, 56), 3, 2, 1, 1, np.float32),   # strided
    ((1, 64, 56, 56), 5, 1, 1, 1, np.float32),   # not 3×3
    ((1, 64, 56, 56), 3, 1, 2, 1, np.float32),   # dilated
    ((1, 64, 56, 56), 3, 1, 1, 2, np.float32),   # grouped
    ((1, 3, 224, 224), 3, 1, 1, 1, np.float32),  # too few channels (VGG conv1_1)
    ((1, 16, 56, 56), 3, 1, 1, 1, np.float32),   # too few channels for F(4×4)
    ((1, 256, 7, 7), 3, 1, 1, 1, np.float32),    # map too small
    ((1, 32, 32, 32), 3, 1, 1, 1, np.float64),   # float64 runs stay exact
])
def test_other_convs_stay_direct(spy, shape, kernel, stride, dilation, groups, dtype):
    n, c, h, w = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    wt = rng.standard_normal((c, c // groups, kernel, kernel)).astype(dtype)
    ops.conv_forward(x, wt, None, (stride, stride), (1, 1), (dilation, dilation), groups)
    assert spy == []


def test_fast_paths_switch_turns_routing_off(spy):
    x, wt, b = random_conv(np.random.default_rng(2), 1, 32, 32, 32, 32)
    with fastconv.fast_paths(False):
        ops.conv_forward(x, wt, b, (1, 1), (1, 1))
    assert spy == []
    ops.conv_forward(x, wt, b, (1, 1), (1, 1))
    assert len(spy) == 1


# --------------------------------------------------------------------------- networks
def small_vgg():
    conv = {"type": "conv", "kernel": 3, "padding": 1}
    return Network.from_dict({
        "format": "convscope", "version": 1, "name": "tiny-vgg",
        "input": {"channels": 3, "height": 32, "width": 32},
        "layers": [{**conv, "filters": 32}, {"type": "relu"}, {**conv, "filters": 32},
                   {"type": "relu"}, {"type": "pool", "mode": "max", "kernel": 2},
                   {**conv, "filters": 24}, {"type": "relu"},
                   {"type": "fc", "units": 5}]})


@pytest.mark.parametrize("path", [fastconv.ROWS, 4])
def test_network_forward_and_backward_agree_with_the_direct_path(monkeypatch, spy, path):
    if path != fastconv.ROWS:
        monkeypatch.setattr(fastconv, "ROWS_MAX_MACS", 0)
        monkeypatch.setattr(fastconv, "ROWS_ANY_SIZE_CHANNELS", 0)
    net = small_vgg()
    x = np.random.default_rng(4).standard_normal((2, 3, 32, 32), dtype=np.float32)
    grad = np.random.default_rng(5).standard_normal((2, 5, 1, 1), dtype=np.float32)
    with fastconv.fast_paths(False):
        want = net.forward(x)
        want_grads = net.backward(grad)
    assert spy == []
    got = net.forward(x)
    got_grads = net.backward(grad)
    # conv2 (32→32 at 32×32); conv1 has 3 channels, conv3 24 filters
    assert [call[2] for call in spy] == [path]
    for name in want:
        assert rel_diff(got[name], want[name]) < TOL, name
    for name in want_grads:
        assert rel_diff(got_grads[name], want_grads[name]) < TOL, name


# --------------------------------------------------------------------------- weight cache
def test_weight_cache_reuses_and_never_goes_stale():
    rng = np.random.default_rng(6)
    x, wt, b = random_conv(rng, 1, 32, 32, 28, 28)
    fastconv.clear_weight_cache()
    first = fastconv._weights(wt, 4)
    assert fastconv._weights(wt, 4) is first  # unchanged weights: the cached transform

    wt -= np.float32(0.1) * rng.standard_normal(wt.shape, dtype=np.float32)  # training step
    assert fastconv._weights(wt, 4) is not first
    out, _ = ops.conv_forward(x, wt, b, (1, 1), (1, 1))
    assert rel_diff(out, direct(x, wt, b, (1, 1))) < TOL

    wt[3, 2, 1, 1] += 1.0  # one element changed in place
    out, _ = ops.conv_forward(x, wt, b, (1, 1), (1, 1))
    assert rel_diff(out, direct(x, wt, b, (1, 1))) < TOL

    replaced = wt * np.float32(-2)  # a new array (maybe at a recycled id)
    out, _ = ops.conv_forward(x, replaced, b, (1, 1), (1, 1))
    assert rel_diff(out, direct(x, replaced, b, (1, 1))) < TOL


def test_weight_cache_can_be_turned_off_and_forgets_dead_arrays():
    x, wt, b = random_conv(np.random.default_rng(8), 1, 32, 32, 28, 28)
    fastconv.clear_weight_cache()
    with fastconv.weight_cache(False):
        out = ops.conv_forward(x, wt, b, (1, 1), (1, 1))[0]
        assert not fastconv._cache
    assert rel_diff(out, direct(x, wt, b, (1, 1))) < TOL
    ops.conv_forward(x, wt, b, (1, 1), (1, 1))
    assert len(fastconv._cache) == 1
    del wt  # the conv's own cache tuple, which also held it, is gone already
    assert not fastconv._cache  # the entry died with its weight array


# Lavin & Gray 2015, "Fast algorithms for convolutional neural networks": G of F(2,3)
# and F(4,3), written out here, not read from the code.
LAVIN_GRAY_G = {
    2: [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
    4: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
}


def test_transform_weights_is_g_g_gt():
    w = np.random.default_rng(9).standard_normal((3, 2, 3, 3)).astype(np.float32)
    for m in (2, 4):
        g = np.asarray(LAVIN_GRAY_G[m])
        want = np.einsum("ik,fckl,jl->ijfc", g, w.astype(np.float64), g)
        got = fastconv.transform_weights(w, m).reshape(want.shape)
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- max pooling
def brute_max_pool(x, kernel, stride, padding, out_size):
    """Window by window, the plain definition (−∞ padding; windows clipped at the edge)."""
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_size
    n, c, h, w = x.shape
    out = np.empty((n, c, ho, wo), np.float32)
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * sh - ph, j * sw - pw
            win = x[:, :, max(r0, 0):min(r0 + kh, h), max(c0, 0):min(c0 + kw, w)]
            out[:, :, i, j] = win.max(axis=(2, 3))
    return out


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil", [
    ((2, 3, 11, 11), (3, 3), (2, 2), (1, 1), False),   # ResNet's stem pool
    ((1, 4, 13, 13), (3, 3), (2, 2), (0, 0), False),   # AlexNet's
    ((2, 2, 10, 9), (3, 3), (2, 2), (1, 1), True),     # ceil mode, windows off the edge
    ((1, 3, 9, 12), (3, 4), (1, 3), (1, 2), True),     # rectangular
    ((1, 2, 8, 8), (2, 2), (2, 2), (0, 0), False),     # 2×2: tap by tap
    ((3, 2, 12, 7), (5, 5), (3, 2), (2, 2), True),     # batch 3, odd sizes, stride 3
    ((2, 3, 9, 10), (3, 2), (3, 3), (1, 1), False),    # no tap sees every output
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_matches_the_definition(monkeypatch, shape, kernel, stride, padding, ceil,
                                         dtype):
    x = np.random.default_rng(10).standard_normal(shape).astype(dtype)
    size = []
    for n, k, s, p in zip(shape[2:], kernel, stride, padding):
        span = n + 2 * p - k
        out = (-(-span // s) if ceil else span // s) + 1
        if ceil and (out - 1) * s >= n + p:  # PyTorch: the last window must start inside
            out -= 1
        size.append(out)
    calls = []
    real = ops._separable_max
    monkeypatch.setattr(ops, "_separable_max", lambda *a: calls.append(a) or real(*a))
    got, cache = ops.pool_forward(x, "max", kernel, stride, padding, tuple(size))
    assert got.dtype == dtype
    # (the definition gives float32: rounding is monotonic, so max and rounding commute)
    assert np.array_equal(got.astype(np.float32),
                          brute_max_pool(x, kernel, stride, padding, size))
    assert bool(calls) == (kernel[0] * kernel[1] > kernel[0] + kernel[1])
    # separable pooling reads x itself and keeps no padded copy; its backward pads x as
    # the forward once did, and routes every gradient to the window's first maximum
    assert (cache[1] is None) == bool(calls)
    dout = np.random.default_rng(11).standard_normal(got.shape).astype(dtype)
    assert np.allclose(ops.pool_backward(dout, cache),  # sums of two or three douts
                       brute_max_pool_backward(x, dout, kernel, stride, padding),
                       rtol=1e-6, atol=1e-6)


def brute_max_pool_backward(x, dout, kernel, stride, padding):
    """dx of max pooling by the definition: each window's gradient to its first maximum
    (row-major order in the window)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    dx = np.zeros(x.shape, np.float64)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            r0, c0 = max(i * sh - ph, 0), max(j * sw - pw, 0)
            win = x[:, :, r0:min(i * sh - ph + kh, h), c0:min(j * sw - pw + kw, w)]
            flat = win.reshape(n, c, -1).argmax(axis=2)
            for b in range(n):
                for ch in range(c):
                    y, z = divmod(int(flat[b, ch]), win.shape[3])
                    dx[b, ch, r0 + y, c0 + z] += dout[b, ch, i, j]
    return dx.astype(np.float32)


# --------------------------------------------------------------------------- direct bands
def test_band_rows_whole_when_small_else_equal_bands():
    assert ops._band_rows(55, 1000) == 55                      # 55 kB: whole
    rows = ops._band_rows(224, 4 * 576 * 224)                  # VGG conv1_2: 115 MB
    assert rows * 4 * 576 * 224 <= 1.1 * ops._BAND_BYTES and -(-224 // rows) * rows - 224 < 8


@pytest.mark.parametrize("stride", [1, 2])
def test_direct_conv_in_bands_equals_the_whole_product(monkeypatch, stride):
    x, wt, b = random_conv(np.random.default_rng(11), 2, 5, 7, 23, 21)
    with fastconv.fast_paths(False):
        whole = ops.conv_forward(x, wt, b, (stride, stride), (1, 1))[0]
        n, _, ho, wo = whole.shape
        monkeypatch.setattr(ops, "_WHOLE_BYTES", 0)
        monkeypatch.setattr(ops, "_BAND_BYTES", 4 * n * 5 * 9 * wo * 5)  # 5 rows a band
        assert 1 < ops._band_rows(ho, 4 * n * 5 * 9 * wo) < ho
        banded = ops.conv_forward(x, wt, b, (stride, stride), (1, 1))[0]
    assert rel_diff(banded, whole) < 1e-6


# --------------------------------------------------------------------------- stride phases
def plain_conv(x, w, stride, padding, groups):
    """The definition in float64: a sum over kernel taps of strided input slices."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, f, ho, wo))
    og = f // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                part = xp[:, g * cg:(g + 1) * cg, i:i + sh * (ho - 1) + 1:sh,
                          j:j + sw * (wo - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum(
                    "fc,nchw->nfhw", w[g * og:(g + 1) * og, :, i, j], part)
    return out


# (N, C, F, H, W, kernel, stride, padding, groups): ResNet's conv1 on an odd map, AlexNet's
# 11×11/4 unpadded, a grouped rectangular kernel, unequal strides, padding past a stride.
PHASE_CASES = [
    (1, 3, 8, 17, 19, (7, 7), (2, 2), (3, 3), 1),
    (1, 3, 5, 27, 25, (11, 11), (4, 4), (0, 2), 1),
    (2, 4, 6, 23, 20, (5, 4), (2, 2), (2, 1), 2),
    (3, 2, 4, 13, 16, (6, 4), (3, 2), (1, 0), 1),
    (1, 2, 3, 9, 10, (7, 7), (2, 2), (5, 4), 1),
]


@pytest.mark.parametrize("case", PHASE_CASES, ids=lambda c: f"k{c[5]}s{c[6]}p{c[7]}g{c[8]}")
def test_conv_from_stride_phases_is_the_plain_sum(monkeypatch, case):
    n, c, f, h, w, kernel, stride, padding, groups = case
    rng = np.random.default_rng(sum(map(hash, case)) % 2**32)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((f, c // groups, *kernel), dtype=np.float32)
    b = rng.standard_normal(f, dtype=np.float32)
    calls = []
    real = ops._phase_windows
    monkeypatch.setattr(ops, "_phase_windows", lambda *a: calls.append(a) or real(*a))
    got = ops.conv_forward(x, wt, b, stride, padding, (1, 1), groups)[0]
    assert len(calls) == 1  # the phases path really ran
    want = plain_conv(x, wt, stride, padding, groups) + b.reshape(1, f, 1, 1)
    assert got.shape == want.shape and got.dtype == np.float32
    assert rel_diff(got, want) < 1e-5
    with fastconv.fast_paths(False):
        assert rel_diff(ops.conv_forward(x, wt, b, stride, padding, (1, 1), groups)[0],
                        got) < 1e-5
    assert len(calls) == 1  # …and fast_paths(False) took the strided windows instead


@pytest.mark.parametrize("kernel, stride, dilation, phases", [
    ((7, 7), (2, 2), (1, 1), True),     # ResNet conv1: 49 taps over 4 phases
    ((11, 11), (4, 4), (1, 1), True),   # AlexNet conv1
    ((3, 3), (2, 2), (1, 1), False),    # 9 taps over 4 phases: the extra copy does not pay
    ((1, 1), (2, 2), (1, 1), False),    # a projection reads one phase of four
    ((7, 7), (1, 1), (1, 1), False),    # no stride, no phases
    ((7, 7), (2, 2), (2, 2), False),    # dilated taps
])
def test_stride_phases_route(kernel, stride, dilation, phases):
    assert fastconv.by_phases(kernel, stride, dilation) is phases
    with fastconv.fast_paths(False):
        assert not fastconv.by_phases(kernel, stride, dilation)


# --------------------------------------------------------------------------- element-wise
@pytest.mark.parametrize("layout", ["map", "fc column", "strided view", "float64", "odd"])
def test_relu_fast_path_is_max_zero_for_every_layout(layout):
    """relu runs np.maximum against a zeros row as long as the data's merged trailing axes:
    the same values, shape and dtype as max(x, 0) element by element, whatever the layout."""
    rng = np.random.default_rng(12)
    x = {"map": lambda: rng.standard_normal((2, 5, 33, 40), dtype=np.float32),
         "fc column": lambda: rng.standard_normal((3, 4096, 1, 1), dtype=np.float32),
         "strided view": lambda: rng.standard_normal((2, 6, 9, 7),
                                                     dtype=np.float32)[:, ::2, :, ::-1],
         "float64": lambda: rng.standard_normal((1, 3, 5, 5)),
         "odd": lambda: rng.standard_normal((1, 7, 3, 1), dtype=np.float32)}[layout]()
    out, cache = ops.relu_forward(x)
    expected = np.where(x > 0, x, 0).astype(x.dtype)
    assert out.shape == x.shape and out.dtype == x.dtype and cache is x
    assert np.array_equal(out, expected) and (out == 0).any() and (out > 0).any()


def test_a_conv_pass_tunes_glibc_malloc_to_keep_freed_memory(monkeypatch):
    """The first conv forward asks glibc's malloc (once) to serve arrays up to 32 MB from
    its heap and keep freed memory: mallopt really accepts both settings on glibc, and a
    platform without glibc's mallopt is left alone (False, nothing called)."""
    import platform

    calls = []
    real = fastconv._mallopt
    monkeypatch.setattr(fastconv, "_mallopt", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setitem(fastconv._allocator, "tuned", None)
    net = Network.from_dict({"format": "convscope", "version": 1, "name": "one-conv",
                             "input": {"channels": 1, "height": 5, "width": 5},
                             "layers": [{"type": "conv", "filters": 2, "kernel": 3}]})
    net.forward(np.ones((1, 1, 5, 5), np.float32))
    net.forward(np.ones((1, 1, 5, 5), np.float32))
    glibc = platform.libc_ver()[0] == "glibc"
    assert fastconv._allocator["tuned"] is glibc
    assert calls[:2] == [(fastconv._M_MMAP_THRESHOLD, 32 << 20),
                         (fastconv._M_TRIM_THRESHOLD, fastconv.TRIM_BYTES)][:len(calls)]
    assert 1 <= len(calls) <= 2  # once per process, not once per pass
