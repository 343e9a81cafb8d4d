"""Fast, exact paths for the forward convolution: Winograd minimal filtering, and a
row-shift product (``rows_conv``, at the end) for mid-sized 3×3 convs.

``ops.conv_forward`` routes here; the result equals the direct im2col product up to float
rounding (relative error about 1e-5, well inside 1e-4), and ``conv_backward`` is untouched
because the cache it reads is built the same way on every path.

Winograd F(m×m, 3×3) (Lavin & Gray 2015) computes an m×m block of outputs from an
(m+2)×(m+2) tile of input with (m+2)² multiplies instead of 9·m²: 2.25× fewer for m = 2,
4× fewer for m = 4. Per tile, Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A. Summed over input channels, the
element-wise product becomes (m+2)² independent matrix products, one per tile position ξ:

    U[ξ] (F × C) @ V[ξ] (C × tiles) = M[ξ] (F × tiles)

Everything else is a matrix product too, so BLAS does all the arithmetic: the input transform
is kron(Bᵀ, Bᵀ) ((m+2)² × (m+2)²) times the tiles laid out as columns, the output transform
kron(Aᵀ, Aᵀ) (m² × (m+2)²) times M. The work runs over bands of tile rows so the tiles, V and
M of a band stay in cache.

Transformed weights U are cached (4× the weight memory for m = 4). An entry is keyed on the
weight array's identity and holds a copy of the weights it was made from; every lookup checks
the array is still the same object with equal contents (``np.array_equal`` reads the weights
once, cheap beside the convolution), so an array replaced or changed in place (training's
``w -= lr * g``) gets a fresh transform, never a stale one. ``weight_cache(False)`` turns the
cache off; entries die with their weight array (weakref) and the whole cache is bounded.
``fast_paths(False)`` routes every conv to the direct product (for comparisons).
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
from numpy.lib.stride_tricks import as_strided

# ----------------------------------------------------------------------------- transforms
# Lavin & Gray's matrices, interpolation points 0, ±1 (m = 2) and 0, ±1, ±2 (m = 4), plus ∞.
_BT = {
    2: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    4: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
}
_G = {
    2: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
    4: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
}
_AT = {
    2: [[1, 1, 1, 0], [0, 1, -1, -1]],
    4: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
}


def _kron(table, m):
    a = np.asarray(table[m], dtype=np.float64)
    return np.ascontiguousarray(np.kron(a, a), dtype=np.float32)


# kron(Bᵀ, Bᵀ): (a², a²) on tiles flattened row-major; kron(Aᵀ, Aᵀ): (m², a²);
# kron(G, G): (a², 9) on 3×3 kernels flattened row-major. Bᵀ and Aᵀ hold small integers, so
# the first two are exact in float32.
_K_IN = {m: _kron(_BT, m) for m in _BT}
_K_OUT = {m: _kron(_AT, m) for m in _AT}
_K_W = {m: _kron(_G, m) for m in _G}

# Bytes of one band's transformed tiles V (a² × C × band tiles): a few MB keeps a band's
# tiles, V and M in the last-level cache while BLAS works on them.
_BAND_BYTES = 4 << 20
# Winograd's band of one image may be larger: its (a²) products are F × C by C × (band's
# tiles), too thin for BLAS at 4 MB on VGG16's 112×112 and 56×56 maps. With 16 MB, inside
# the pass (2 threads, interleaved): conv2_1 26.1 → 23.8 ms, conv2_2 40.9 → 38.4, conv3_2
# 27.2 → 23.2, conv3_3 28.4 → 23.7, the others even. A batch shares the 16 MB, down to
# _BAND_BYTES an image, so that a large batch's workspaces do not grow with it.
_WINOGRAD_BAND_BYTES = 16 << 20

# ----------------------------------------------------------------------------- routing
# Smallest output side for each tile size, and the fewest channels (in and out) worth it.
# With few channels the transforms (about a⁴·C + m²a²·F multiply-adds per tile) outweigh
# the a²·C·F saved, and the (a²) products are too thin for BLAS. Measured per layer on the
# presets' shapes: F(4×4) pays from 28×28 with 32+ channels (1.5–2× faster than direct
# from 128 channels, even at 64); on 14×14 maps only F(2×2) with 384+ channels gains a
# little; at 7×7 and on the small ResNet/AlexNet maps the direct product is as fast.
MIN_SIDE = {4: 28, 2: 14}
MIN_CHANNELS = {4: 32, 2: 384}


# The row-shift product (``rows_conv``) instead, for 3×3 stride-1 convs on maps of
# ROWS_MIN_SIDE and more with ROWS_MIN_CHANNELS and more, of at most ROWS_MAX_MACS
# multiply-adds per image or at most ROWS_ANY_SIZE_CHANNELS channels in and out: ResNet's
# 64×56 and 128×28 convs, VGG's 64×224. Measured at 2 threads, interleaved medians:
# 64×56→64 1.15-1.35× faster than F(4×4) and the direct product; 128×28→128 1.1-1.2×
# faster than direct, beside F(4×4) (ahead in 3 runs of 4); up to 64 channels on larger
# maps, where F(4×4)'s copies are large beside its few products, as fast or faster
# (64×224→64 49-54 against 61-62 ms, 32×224→32 17 against 26 ms, 64×112→64 even; VGG16's
# conv1_2 inside the pass 61 → 47 ms, ahead in 10 runs of 10). Not taken: 14×14 maps (256
# channels: as fast as direct), 7×7 maps, AlexNet's 13×13 maps, and VGG's larger convs
# with more channels (64→128 on 112×112 and on), where F(4×4)'s four times fewer
# multiplies outweigh its copies.
ROWS = "rows"
ROWS_MAX_MACS = 1 << 27
ROWS_MIN_SIDE, ROWS_MIN_CHANNELS = 28, 32
ROWS_ANY_SIZE_CHANNELS = 64

_routing = {"enabled": True}


@contextmanager
def fast_paths(enabled: bool):
    """Inside the block, ``conv_forward`` takes (or, with False, never takes) the fast paths:
    for comparing them with the direct computation."""
    before = _routing["enabled"]
    _routing["enabled"] = enabled
    try:
        yield
    finally:
        _routing["enabled"] = before


def plan(x, w, stride, padding, dilation, groups):
    """The fast path ``conv_forward`` takes for arrays x and w: a Winograd tile size (4 or
    2), ROWS, or None (the direct product).

    Only float32 data takes a fast path: they compute in float32, and a caller running the
    core in float64 (the gradient checks) must get the direct float64 computation."""
    if x.dtype != np.float32 or w.dtype != np.float32:
        return None
    return route(x.shape, w.shape, stride, padding, dilation, groups)


def route(x_shape, w_shape, stride, padding, dilation, groups):
    """The fast path for this conv's shapes: 4 or 2 (Winograd's tile), ROWS, or None.

    Eligible: 3×3 kernels, stride 1, dilation 1, one group, enough channels and filters.
    """
    if not _routing["enabled"]:
        return None
    f, cg, kh, kw = w_shape
    if (kh, kw) != (3, 3) or tuple(stride) != (1, 1) or tuple(dilation) != (1, 1):
        return None
    if groups != 1:
        return None
    h, w = x_shape[2:]
    ho, wo = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    side = min(ho, wo)
    if side >= ROWS_MIN_SIDE and min(cg, f) >= ROWS_MIN_CHANNELS and padding[1] == 1 \
            and (f * cg * 9 * ho * wo <= ROWS_MAX_MACS or max(cg, f) <= ROWS_ANY_SIZE_CHANNELS):
        return ROWS
    for m in (4, 2):
        if side >= MIN_SIDE[m] and min(cg, f) >= MIN_CHANNELS[m]:
            return m
    return None


def winograd_tile(x_shape, w_shape, stride, padding, dilation, groups):
    """The Winograd tile size m (4 or 2) ``conv_forward`` uses for this conv, or None."""
    m = route(x_shape, w_shape, stride, padding, dilation, groups)
    return None if m == ROWS else m


def by_phases(kernel, stride, dilation) -> bool:
    """Whether the direct product builds its im2col columns from the input's stride phases
    (``ops._phase_windows``) rather than from strided windows of the padded input.

    A strided window copies with strided reads, slow in NumPy; from the phases every tap is
    a contiguous run, at the price of one more copy of the input. That pays where each input
    value lands in the columns many times: kh·kw ≥ 4·sh·sw (ResNet's 7×7/2 conv1, 1.2 ×
    faster at 2 threads; AlexNet's 11×11/4 a little), not for 3×3/2 (a little slower).
    Dilated taps are not one phase apart, so dilation must be 1."""
    (kh, kw), (sh, sw) = kernel, stride
    return (_routing["enabled"] and (sh, sw) != (1, 1) and tuple(dilation) == (1, 1)
            and kh * kw >= 4 * sh * sw and kh >= sh and kw >= sw)


# ----------------------------------------------------------------------------- weights
_cache_lock = threading.RLock()  # re-entrant: a weakref callback may fire inside
_cache: OrderedDict = OrderedDict()  # (id(w), m) -> (weakref(w), copy of w, U)
_cache_state = {"enabled": True, "bytes": 0}
CACHE_LIMIT_BYTES = 1 << 30  # transforms + copies kept at most (VGG16 needs ~0.23 GB)


@contextmanager
def weight_cache(enabled: bool):
    """Turn the transformed-weight cache on or off inside a ``with`` block."""
    before = _cache_state["enabled"]
    _cache_state["enabled"] = enabled
    try:
        yield
    finally:
        _cache_state["enabled"] = before


def clear_weight_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _cache_state["bytes"] = 0


def transform_weights(w, m):
    """w: (F, C, 3, 3) → U: (a², F, C) float32, U[ξ] = (G g Gᵀ)[ξ] for every (f, c);
    with m = ROWS, the row-shift path's matrix (kw·F, C·kh): row (j, f), column (c, i)
    holds w[f, c, i, j]."""
    f, c, kh, kw = w.shape
    if m == ROWS:
        return np.ascontiguousarray(w.transpose(3, 0, 1, 2), np.float32).reshape(kw * f, c * kh)
    flat = np.ascontiguousarray(w, dtype=np.float32).reshape(f * c, 9)
    return np.matmul(_K_W[m], flat.T).reshape(-1, f, c)


def _weights(w, m):
    """``transform_weights(w, m)``, from the cache when ``w`` is the very array, unchanged,
    it was made from."""
    if not _cache_state["enabled"]:
        return transform_weights(w, m)
    key = (id(w), m)
    with _cache_lock:
        entry = _cache.get(key)
    if entry is not None:
        ref, saved, u = entry
        if ref() is w and saved.shape == w.shape and np.array_equal(saved, w):
            with _cache_lock:
                if key in _cache:
                    _cache.move_to_end(key)
            return u
    u = transform_weights(w, m)
    _remember(key, w, u)
    return u


def _remember(key, w, u):
    try:
        ref = weakref.ref(w, lambda _r, key=key: _forget(key))
    except TypeError:  # not weak-referenceable: do not cache
        return
    saved = np.array(w, dtype=w.dtype, copy=True)
    with _cache_lock:
        _drop(key)
        _cache[key] = (ref, saved, u)
        _cache_state["bytes"] += u.nbytes + saved.nbytes
        while _cache_state["bytes"] > CACHE_LIMIT_BYTES and len(_cache) > 1:
            _drop(next(iter(_cache)))


def _forget(key):
    if _cache_lock is None:  # a weight dying while the interpreter clears this module
        return
    with _cache_lock:
        _drop(key)


def _drop(key):
    entry = _cache.pop(key, None)
    if entry is not None:
        _cache_state["bytes"] -= entry[1].nbytes + entry[2].nbytes


# ----------------------------------------------------------------------------- memory
# glibc's malloc gives arrays above its mmap threshold fresh pages, and returns freed memory
# at the top of its heap to the system once more than the trim threshold is free. A forward
# pass keeps every layer's output, and all of them are freed together when the next pass
# starts: by default the next pass gets every page back from the system again, one page
# fault (and the kernel zeroing it) at a time. VGG16 spent about 60 ms of a 540 ms pass at
# one thread so (its ReLUs alone 44 ms instead of 11), on the calling thread even when BLAS
# runs on two. Keeping freed memory (up to TRIM_BYTES) and serving arrays up to 32 MB (the
# most glibc allows) from the heap removes that; larger arrays still come and go by mmap.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
TRIM_BYTES = 256 << 20
_allocator = {"tuned": None}


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above, once per process; False where it is not glibc (macOS,
    Windows, musl: nothing is changed)."""
    if _allocator["tuned"] is None:
        _allocator["tuned"] = _mallopt(_M_MMAP_THRESHOLD, 32 << 20) and \
            _mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)
    return _allocator["tuned"]


def _mallopt(option, value) -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(option, value) == 1


# ----------------------------------------------------------------------------- the conv
_workspaces = threading.local()  # per thread: role -> flat float32 buffer, reused across calls


def _workspace(role, size):
    """A float32 buffer of at least ``size`` elements, reused across calls in this thread
    (fresh large arrays cost page faults on every call)."""
    pool = _workspaces.__dict__.setdefault("pool", {})
    buf = pool.get(role)
    if buf is None or buf.size < size:
        buf = pool[role] = np.empty(size, dtype=np.float32)
    return buf[:size]


def _column_phases(x, ph, pw, rows, m, width):
    """x zero-padded by (ph, pw) at the top-left to ``rows`` rows and m·``width`` columns,
    split into its m column phases, in a workspace: (m, N, C, rows, width), phase q
    holding the padded columns q, q + m, q + 2m, … one after another.

    A tile's m + 2 columns start m apart: read from the padded input, each of its columns
    is a run with a stride of m values, which NumPy copies slowly; from the phases it is a
    contiguous run (VGG16's 512×28 tiles: 3.8 → 1.7 ms a band)."""
    n, c, h, w = x.shape
    xq = _workspace("padded", m * n * c * rows * width).reshape(m, n, c, rows, width)
    for q in range(m):
        first = max(0, -(-(pw - q) // m))  # the phase's first column inside x
        start = q + m * first - pw  # that column in x
        count = min(len(range(start, w, m)), width - first)
        phase = xq[q]
        phase[:, :, :ph] = 0
        phase[:, :, ph + h:] = 0
        phase[:, :, ph:ph + h, :first] = 0
        phase[:, :, ph:ph + h, first + count:] = 0
        phase[:, :, ph:ph + h, first:first + count] = x[:, :, :, start:start + m * count:m]
    return xq


def winograd_conv(x, w, b, padding, m):
    """3×3, stride-1 convolution by Winograd F(m×m, 3×3); same result as the direct one.

    x: (N, C, H, W) float32; w: (F, C, 3, 3); b: (F,) or None; padding: (ph, pw).
    Returns out (N, F, Ho, Wo), Ho = H + 2·ph − 2, Wo = W + 2·pw − 2, contiguous.
    """
    n, c, h, wd = x.shape
    f = w.shape[0]
    ph, pw = padding
    ho, wo = h + 2 * ph - 2, wd + 2 * pw - 2
    a = m + 2
    th, tw = -(-ho // m), -(-wo // m)
    # Zero-padded input covering every tile, the last ones partly past the output's edge,
    # in column phases: tile column s's m + 2 columns are phase v mod m's s + v // m.
    xq = _column_phases(x, ph, pw, m * th + 2, m, tw + 1)
    u = _weights(w, m)
    out = np.empty((n, f, m * th, m * tw), dtype=np.float32)
    blocks = out.reshape(n, f, th, m, tw, m)
    bias = None if b is None else np.asarray(b, np.float32).reshape(1, f, 1, 1)
    k_in, k_out = _K_IN[m], _K_OUT[m]
    band = winograd_band(n, c, m, th, tw)
    cols_ws = _workspace("tiles", n * a * a * c * band * tw)
    v_ws = _workspace("transformed", n * a * a * c * band * tw)
    prod_ws = _workspace("products", n * a * a * f * band * tw)
    y_ws = _workspace("outputs", n * m * m * f * band * tw)
    s_q, s_n, s_c, s_h, s_w = xq.strides
    for t0 in range(0, th, band):
        t1 = min(th, t0 + band)
        count = (t1 - t0) * tw  # tiles in this band
        cols = cols_ws[:n * a * a * c * count].reshape(n, a, a, c, t1 - t0, tw)
        # one column per (c, tile): the tiles' columns 0 … m − 1 from phases 0 … m − 1,
        # their last two (m, m + 1) from phases 0 and 1 one place on
        shape, strides = (n, a, m, c, t1 - t0, tw), (s_n, s_h, s_q, s_c, m * s_h, s_w)
        first = xq[:, :, :, m * t0:]
        np.copyto(cols[:, :, :m], as_strided(first, shape, strides, writeable=False))
        np.copyto(cols[:, :, m:], as_strided(first[..., 1:], (n, a, 2, c, t1 - t0, tw),
                                             strides, writeable=False))
        v = v_ws[:cols.size].reshape(n, a * a, c * count)
        np.matmul(k_in, cols.reshape(v.shape), out=v)         # Bᵀ d B for every tile
        prod = prod_ws[:n * a * a * f * count].reshape(n, a * a, f, count)
        np.matmul(u, v.reshape(n, a * a, c, count), out=prod)  # the (a²) products
        y = y_ws[:n * m * m * f * count].reshape(n, m * m, f * count)
        np.matmul(k_out, prod.reshape(n, a * a, f * count), out=y)  # Aᵀ M A
        _scatter(y.reshape(n, m, m, f, t1 - t0, tw), blocks[:, :, t0:t1], bias)
    if (m * th, m * tw) != (ho, wo):
        out = np.ascontiguousarray(out[:, :, :ho, :wo])
    return out


def winograd_band(n, c, m, th, tw) -> int:
    """Tile rows per band of ``winograd_conv``: the transformed tiles of one band of an
    image (a² × C × band · tw values) in _WINOGRAD_BAND_BYTES shared by the batch, at least
    _BAND_BYTES an image (and one tile row)."""
    a = m + 2
    per_image = max(_BAND_BYTES, _WINOGRAD_BAND_BYTES // max(1, n))
    return max(1, min(th, per_image // max(1, 4 * a * a * c * tw)))


def _scatter(y, dest, bias):
    """Output tiles y (N, m, m, F, rows, tw) into dest (N, F, rows, m, tw, m), plus the bias.

    One copy per position (u, v) in the tile: each reads a contiguous block, about twice as
    fast as one copy through a transposed view (whose innermost runs are m long)."""
    m = y.shape[1]
    for u in range(m):
        for v in range(m):
            if bias is None:
                np.copyto(dest[:, :, :, u, :, v], y[:, u, v])
            else:
                np.add(y[:, u, v], bias, out=dest[:, :, :, u, :, v])


# ----------------------------------------------------------------------------- row shifts
def rows_band(n, c, kh, ho, wd):
    """Output rows per band of ``rows_conv``: all of them when the kh row-shifted copies of
    the input (N·C·kh·rows·W values) fit in _BAND_BYTES, else equal bands that do."""
    rows = max(1, min(ho, _BAND_BYTES // max(1, 4 * n * c * kh * wd)))
    bands = -(-ho // rows)
    return -(-ho // bands)


def rows_conv(x, w, b, padding):
    """Stride-1 convolution as one matrix product per band of output rows; the same result
    as the direct one up to rounding.

    x: (N, C, H, W) float32; w: (F, C, kh, kw), kw odd; b: (F,) or None; padding
    (ph, pw) with pw = (kw − 1)/2 (the width is kept). Returns out (N, F, Ho, W),
    contiguous.

    im2col copies every input value kh·kw times, mostly in short runs. Here the input is
    copied kh times, shifted down by whole rows: S (C·kh × rows·W), S[(c, i), (y, x)] =
    the input at row y + i − ph (zero past the edges), each channel's rows one contiguous
    block, copied at memory speed. One product P = Wstack (kw·F × C·kh) @ S gives, for
    every kernel column j, that column's contribution at every input column; the output
    at column x is the sum over j of P[j] at column x + j − pw: kw − 1 additions of
    shifted slices. The product does exactly the direct one's multiply-adds.
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ph, pw = padding
    if 2 * pw != kw - 1:
        raise ValueError(f"rows_conv keeps the width: padding {pw} across for a kernel "
                         f"{kw} wide")
    ho = h + 2 * ph - kh + 1
    wstack = _weights(w, ROWS)
    out = np.empty((n, f, ho, wd), dtype=np.float32)
    band = rows_band(n, c, kh, ho, wd)
    for r0 in range(0, ho, band):
        r1 = min(ho, r0 + band)
        shifted = _row_shifts(x, kh, ph, r0, r1)
        prod = _workspace("row products", n * kw * f * (r1 - r0) * wd)
        prod = prod.reshape(n, kw * f, (r1 - r0) * wd)
        np.matmul(wstack, shifted.reshape(n, c * kh, (r1 - r0) * wd), out=prod)
        _join_columns(prod.reshape(n, kw, f, r1 - r0, wd), out[:, :, r0:r1], pw)
    if b is not None:
        out += np.asarray(b, np.float32).reshape(1, f, 1, 1)
    return out


def _row_shifts(x, kh, ph, r0, r1):
    """S (N, C, kh, r1 − r0, W) in a workspace: S[n, c, i, y − r0] = x[n, c, y + i − ph],
    zero where that row is outside x."""
    n, c, h, wd = x.shape
    s = _workspace("row shifts", n * c * kh * (r1 - r0) * wd).reshape(n, c, kh, r1 - r0, wd)
    for i in range(kh):
        a = min(r1, max(r0, ph - i))  # output rows from ``a`` to ``z`` read rows of x
        z = max(a, min(r1, h + ph - i))
        s[:, :, i, :a - r0] = 0
        s[:, :, i, z - r0:] = 0
        s[:, :, i, a - r0:z - r0] = x[:, :, a + i - ph:z + i - ph]
    return s


def _join_columns(prod, out, pw):
    """out (N, F, rows, W) = the sum over kernel columns j of prod[:, j] (N, F, rows, W)
    shifted left by j − pw (columns past the edges add nothing); the centre tap, j = pw,
    covers every column.

    Each addition runs over whole maps seen flat (rows·W values in one run; shifted 2-D
    slices, in runs of W − 1, took twice as long), over all of an image's maps in one run
    when out is the whole output (2.5× faster than map by map on 28×28 maps). A flat
    shift by s carries each row's |s| edge columns of the tap onto the neighbouring row's
    (or map's) far edge: columns the tap never reaches, which no output reads, so they
    are zeroed in prod first and add nothing there (instead of saving and restoring the
    edges: with the single run, ResNet-18's rows_conv calls went from 20.0 to 18.4 ms a
    pass at 2 threads)."""
    n, kw, f, rows, wd = prod.shape
    if out.flags.c_contiguous:  # the whole output: each image's maps follow each other
        f, rows = 1, f * rows
        flat = out.reshape(n, 1, rows * wd)
    else:  # a band: its rows follow each other within each map
        s_n, s_f, _, s_w = out.strides
        flat = as_strided(out, (n, f, rows * wd), (s_n, s_f, s_w))
    size = rows * wd
    prod = prod.reshape(n, kw, f, rows, wd)
    centre = prod[:, pw].reshape(n, f, size)
    started = False
    for j in range(kw):
        if j == pw:
            continue
        shift = j - pw
        if shift < 0:
            prod[:, j, :, :, wd + shift:] = 0  # output column x reads column x + shift
        else:
            prod[:, j, :, :, :shift] = 0
        lo, hi = max(0, -shift), size - max(0, shift)  # the flat run the tap adds to
        tap = prod[:, j].reshape(n, f, size)[..., lo + shift:hi + shift]
        if started:
            flat[..., lo:hi] += tap
        else:
            np.add(centre[..., lo:hi], tap, out=flat[..., lo:hi])
            flat[..., :lo], flat[..., hi:] = centre[..., :lo], centre[..., hi:]
            started = True
    if not started:
        flat[...] = centre
