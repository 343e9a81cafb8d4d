"""Forward and backward passes of every operation, written as in CS231n's ``layers.py``.

Each op is a pair ``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache)``.
Tensors are float32, laid out (N, C, H, W). No Python loop runs over pixels or channels:
convolution is a matrix product over im2col columns; pooling reduces over the F×F strided
slices of the padded input, or for max pooling of the input itself (loops run over kernel
taps and row bands only).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import fastconv
from . import geometry as geo

# A band of im2col columns is built and multiplied while it is in cache (see
# shared/notes/numpy-conv-performance.md: ~2 MB bands run at 72–79 % of the BLAS peak).
_BAND_BYTES = 2 << 20
# Up to this size the whole matrix is built at once: one wide product beats several thin
# ones on small maps (AlexNet's convs ran 10–45 % faster than in 2 MB bands).
_WHOLE_BYTES = 8 << 20


# ----------------------------------------------------------------------------- helpers
def _pad(x, ph, pw, value=0.0, extra_h=0, extra_w=0):
    """Pad H by (ph, ph + extra_h) and W by (pw, pw + extra_w) with ``value``."""
    if ph == pw == extra_h == extra_w == 0:
        return x
    n, c, h, w = x.shape
    out = np.empty((n, c, h + 2 * ph + extra_h, w + 2 * pw + extra_w), dtype=x.dtype)
    # only the border is filled: one pass over the data instead of two
    out[:, :, :ph] = value
    out[:, :, ph + h:] = value
    out[:, :, ph:ph + h, :pw] = value
    out[:, :, ph:ph + h, pw + w:] = value
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _windows(xp, kh, kw, sh, sw, dh, dw, ho, wo):
    """A read-only view (N, C, kh, kw, Ho, Wo) of every kernel window of padded ``xp``."""
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, (n, c, kh, kw, ho, wo),
                      (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw), writeable=False)


def _tap(xp, i, j, sh, sw, ho, wo):
    """The strided slice of ``xp`` that kernel tap (i, j) sees for every output pixel."""
    return xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]


def conv_output_size(h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    """(Ho, Wo) by the one size rule, ``geometry.axis_output``."""
    return tuple(geo.axis_output(n, geo.effective_kernel(k, d), p, s).out
                 for n, k, s, p, d in ((h, kh, sh, ph, dh), (w, kw, sw, pw, dw)))


# ----------------------------------------------------------------------------- conv
def conv_forward(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """2-D cross-correlation with zero padding, as ``torch.nn.Conv2d``.

    x: (N, C, H, W); w: (F, C/groups, kh, kw); b: (F,) or None.
    Returns out (N, F, Ho, Wo) and the cache for ``conv_backward``.
    The im2col matrix (per group: (C/g·kh·kw) × (Ho·Wo)) is built whole when small, else
    one band of output rows at a time, and multiplied straight into the output; a strided
    conv with a large kernel builds it from the input's stride phases (contiguous reads,
    ``fastconv.by_phases``). 3×3 stride-1
    convs on large enough maps take Winograd's shortcut instead (``fastconv``; the same
    result up to rounding).
    """
    cache = (x, w, b is not None, stride, padding, dilation, groups)
    m = fastconv.plan(x, w, stride, padding, dilation, groups)
    if m == fastconv.ROWS:
        return fastconv.rows_conv(x, w, b, padding), cache
    if m:
        return fastconv.winograd_conv(x, w, b, padding, m), cache
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ho, wo = conv_output_size(h, wd, kh, kw, sh, sw, ph, pw, dh, dw)
    g, og, k = groups, f // groups, cg * kh * kw
    wmat = w.reshape(g, og, k)
    out = np.empty((n, g, og, ho * wo), dtype=np.float32)
    band = _band_rows(ho, 4 * n * g * k * wo)
    if fastconv.by_phases((kh, kw), stride, dilation):
        sources = _phase_windows(x, kh, kw, sh, sw, ph, pw, ho, wo)
        for r0 in range(0, ho, band):
            r1 = min(ho, r0 + band)
            cols = np.empty((n, c, kh, kw, r1 - r0, wo), dtype=x.dtype)
            for (i, j), view in sources:
                cols[:, :, i::sh, j::sw] = view[..., r0:r1, :]
            np.matmul(wmat, cols.reshape(n, g, k, (r1 - r0) * wo),
                      out=out[:, :, :, r0 * wo:r1 * wo])
    else:
        win = _windows(_pad(x, ph, pw), kh, kw, sh, sw, dh, dw, ho, wo)
        for r0 in range(0, ho, band):
            r1 = min(ho, r0 + band)
            cols = win[:, :, :, :, r0:r1, :].reshape(n, g, k, (r1 - r0) * wo)
            np.matmul(wmat, cols, out=out[:, :, :, r0 * wo:r1 * wo])
    out = out.reshape(n, f, ho, wo)
    if b is not None:
        out += b.reshape(1, f, 1, 1)
    return out, cache


def _phase_windows(x, kh, kw, sh, sw, ph, pw, ho, wo):
    """The zero-padded input split into its sh·sw stride phases, phase (a, b) holding the
    padded rows a, a + sh, … and columns b, b + sw, …, each contiguous; and for each phase
    the read-only view (N, C, taps down, taps across, Ho, Wo) of the kernel taps
    (a + sh·q, b + sw·r) it serves. A strided window read from the padded input copies
    with strided reads; from a phase every tap is a run of Wo contiguous values.
    Returns [((a, b), view)]."""
    n, c, h, w = x.shape
    rows, cols = -(-(h + 2 * ph) // sh), -(-(w + 2 * pw) // sw)
    phases = np.zeros((sh, sw, n, c, rows, cols), dtype=x.dtype)
    sources = []
    for a in range(sh):
        i0 = -(-(ph - a) // sh)  # first phase row that falls on a row of x
        for b in range(sw):
            j0 = -(-(pw - b) // sw)
            part = x[:, :, sh * i0 + a - ph::sh, sw * j0 + b - pw::sw]
            phase = phases[a, b]
            phase[:, :, i0:i0 + part.shape[2], j0:j0 + part.shape[3]] = part
            s_n, s_c, s_h, s_w = phase.strides
            taps = (len(range(a, kh, sh)), len(range(b, kw, sw)))
            sources.append(((a, b), as_strided(phase, (n, c, *taps, ho, wo),
                                               (s_n, s_c, s_h, s_w, s_h, s_w),
                                               writeable=False)))
    return sources


def _band_rows(ho, row_bytes):
    """Output rows per band of im2col columns: all of them when the whole matrix is small
    (one larger product beats several thin ones), else bands of about _BAND_BYTES, made
    equal so that no thin last band is left over."""
    if ho * row_bytes <= _WHOLE_BYTES:
        return ho
    bands = -(-ho // max(1, _BAND_BYTES // max(1, row_bytes)))
    return -(-ho // bands)


def im2col_shapes(c, h, w, f, kh, kw, stride, padding, dilation, groups=1):
    """The notes' matrix shapes: weights (F × C·kh·kw), columns, output (F × Ho·Wo)."""
    ho, wo = conv_output_size(h, w, kh, kw, *stride, *padding, *dilation)
    k = (c // groups) * kh * kw
    return {"weights": (f // groups, k), "columns": (k, ho * wo), "output": (f // groups, ho * wo),
            "groups": groups}


def conv_backward(dout, cache):
    """dout: (N, F, Ho, Wo) → dx (N, C, H, W), dw (F, C/g, kh, kw), db (F,) or None.

    The gradient for the data is a convolution of dout with the spatially flipped filters;
    here it is the transpose of the im2col product, scattered back tap by tap (col2im).
    """
    x, w, has_bias, (sh, sw), (ph, pw), (dh, dw), g = cache
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    ho, wo = dout.shape[2:]
    og, k = f // g, cg * kh * kw
    xp = _pad(x, ph, pw)
    cols = _windows(xp, kh, kw, sh, sw, dh, dw, ho, wo).reshape(n, g, k, ho * wo)
    dmat = dout.reshape(n, g, og, ho * wo)
    dw_ = np.einsum("ngol,ngkl->gok", dmat, cols, optimize=True).reshape(w.shape)
    dcols = np.matmul(w.reshape(g, og, k).transpose(0, 2, 1), dmat)  # (N, G, K, L)
    dcols = dcols.reshape(n, c, kh, kw, ho, wo)
    dxp = np.zeros(xp.shape, dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            _tap(dxp, i * dh, j * dw, sh, sw, ho, wo)[...] += dcols[:, :, i, j]
    dx = dxp[:, :, ph:ph + h, pw:pw + wd]
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return np.ascontiguousarray(dx), dw_.astype(np.float32), db


# ----------------------------------------------------------------------------- pooling
def pool_forward(x, mode, kernel, stride, padding, out_size, count_include_pad=True):
    """Max, average or L2 pooling over F×F windows.

    x: (N, C, H, W) → out (N, C, Ho, Wo); ``out_size`` = (Ho, Wo) from the shape rules
    (it already applies ceil mode). Windows that hang over the right or bottom edge in
    ceil mode see only the input and its padding, as in PyTorch.
    """
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_size
    h, w = x.shape[2:]
    extra_h = max(0, (ho - 1) * sh + kh - (h + 2 * ph))
    extra_w = max(0, (wo - 1) * sw + kw - (w + 2 * pw))
    fill = -np.inf if mode == "max" else 0.0
    if mode == "max" and kh * kw > kh + kw:
        # straight from x: no padded copy made, none kept (the backward pass pads)
        out, xp = _separable_max(x, kernel, stride, padding, (ho, wo)), None
    else:
        src = x * x if mode == "l2" else x
        xp = _pad(src, ph, pw, fill, extra_h, extra_w)
        taps = [_tap(xp, i, j, sh, sw, ho, wo) for i in range(kh) for j in range(kw)]
        out = taps[0].copy()
        combine = np.maximum if mode == "max" else np.add
        for t in taps[1:]:
            combine(out, t, out=out)
    divisor = None
    if mode == "avg":
        divisor = _avg_divisor(h, w, kernel, stride, padding, (ho, wo), extra_h, extra_w,
                               count_include_pad)
        out /= divisor
    elif mode == "l2":
        np.sqrt(out, out=out)
    return out, (x, xp, out, mode, kernel, stride, padding, (ho, wo), divisor)


def _separable_max(x, kernel, stride, padding, out_size):
    """Max over kh×kw windows of x (padding and windows past the edge count as −∞, which
    never wins) as a max over kh rows, then over kw columns: kh + kw strided passes instead
    of kh·kw (exact: max is associative), read straight from x rather than from a padded
    copy: a tap is taken only over the outputs whose window it finds inside x.

    Rows first: a row tap reads whole contiguous rows, a column tap every sw-th value,
    about 5× slower per value at stride 2; after the rows' pass the columns' runs on an
    sh times smaller array."""
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_size
    down = _clipped_max(x, 2, kh, sh, ph, ho)
    return _clipped_max(down, 3, kw, sw, pw, wo)


def _clipped_max(src, axis, k, s, p, size):
    """Along ``axis``: out[o] = max over taps t < k of src[o·s + t − p], the taps outside
    src skipped (every window has one inside: padding < k, windows start inside the
    input or its padding). A new array; the taps that every output sees go first, where
    two do, straight into it (no copy or fill pass)."""
    length = src.shape[axis]
    spans = []  # (tap, first output, end) of the outputs whose tap t falls inside src
    for t in range(k):
        lo, hi = max(0, -(-(p - t) // s)), min(size, (length - 1 - t + p) // s + 1)
        if lo < hi:
            spans.append((t, lo, hi))
    spans.sort(key=lambda span: span[2] - span[1] != size)  # those covering all first
    whole = sum(hi - lo == size for _, lo, hi in spans)

    # Along the last axis a tap reads every s-th value: np.maximum runs about 5× slower on
    # such strided runs than on contiguous ones, while a strided copy does not. So there
    # the s phases of src are copied out first; tap t then reads one phase contiguously.
    phases = [src[..., q::s].copy() for q in range(s)] if axis == src.ndim - 1 and s > 1 \
        else None

    def part(a, t, lo, hi):
        index = [slice(None)] * a.ndim
        if t is None:
            index[axis] = slice(lo, hi)
        elif phases is not None:
            a, first = phases[(t - p) % s], lo + (t - p) // s
            index[axis] = slice(first, first + hi - lo)
        else:
            index[axis] = slice(lo * s + t - p, (hi - 1) * s + t - p + 1, s)
        return a[tuple(index)]

    if whole >= 2:
        out = np.maximum(part(src, *spans[0]), part(src, *spans[1]))
    elif whole:
        out = part(src, *spans[0]).copy()
    else:
        shape = list(src.shape)
        shape[axis] = size
        out = np.full(shape, -np.inf, dtype=src.dtype)
    for t, lo, hi in spans[min(whole, 2):]:
        dest = part(out, None, lo, hi)
        np.maximum(dest, part(src, t, lo, hi), out=dest)
    return out


def _avg_divisor(h, w, kernel, stride, padding, out_size, extra_h, extra_w, include_pad):
    """How many positions each average window counts, as PyTorch does: (1, 1, Ho, Wo)."""
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_size
    mask = np.zeros((1, 1, h + 2 * ph + extra_h, w + 2 * pw + extra_w), dtype=np.float32)
    if include_pad:
        mask[:, :, :h + 2 * ph, :w + 2 * pw] = 1
    else:
        mask[:, :, ph:ph + h, pw:pw + w] = 1
    count = sum(_tap(mask, i, j, sh, sw, ho, wo) for i in range(kh) for j in range(kw))
    return np.maximum(count, 1)


def pool_backward(dout, cache):
    """dout: (N, C, Ho, Wo) → dx (N, C, H, W). Max routes to the first maximum of a window."""
    x, xp, out, mode, (kh, kw), (sh, sw), (ph, pw), (ho, wo), divisor = cache
    h, w = x.shape[2:]
    if xp is None:  # separable max pooling read x itself: pad it as the taps below need
        xp = _pad(x, ph, pw, -np.inf, max(0, (ho - 1) * sh + kh - (h + 2 * ph)),
                  max(0, (wo - 1) * sw + kw - (w + 2 * pw)))
    dxp = np.zeros(xp.shape, dtype=np.float32)
    if mode == "avg":
        grad = dout / divisor
    elif mode == "l2":
        grad = np.divide(dout, out, out=np.zeros_like(dout), where=out > 0)
    else:
        unclaimed = np.ones(out.shape, dtype=bool)
    for i in range(kh):
        for j in range(kw):
            target = _tap(dxp, i, j, sh, sw, ho, wo)
            if mode == "max":
                hit = unclaimed & (_tap(xp, i, j, sh, sw, ho, wo) == out)
                target += np.where(hit, dout, 0)
                unclaimed &= ~hit
            else:
                target += grad
    dx = dxp[:, :, ph:ph + h, pw:pw + w]
    if mode == "l2":
        dx = dx * x  # d sqrt(Σx²)/dx = x / out, the 1/out already in ``grad``
    return np.ascontiguousarray(dx, dtype=np.float32)


def global_avg_pool_forward(x):
    """x: (N, C, H, W) → (N, C, 1, 1)."""
    return x.mean(axis=(2, 3), keepdims=True), x.shape


def global_avg_pool_backward(dout, cache):
    n, c, h, w = cache
    return np.broadcast_to(dout / (h * w), cache).astype(np.float32)


# ----------------------------------------------------------------------------- element-wise
_RUN = 8192  # values per row of relu's zeros (32 KB)
_ZEROS = np.zeros(_RUN, np.float32)


def relu_forward(x):
    """max(0, x). A contiguous x runs in rows of _RUN values against a row of zeros: there
    np.maximum takes its contiguous fast path, 2-3.5x faster than against a broadcast
    scalar on large maps (the few values past the last whole row go the slow way)."""
    if not x.flags.c_contiguous or x.size < _RUN:
        return np.maximum(x, _ZEROS[:1]), x
    flat = x.reshape(-1)
    whole = flat.size - flat.size % _RUN
    out = np.empty_like(flat, dtype=np.result_type(x, _ZEROS))
    np.maximum(flat[:whole].reshape(-1, _RUN), _ZEROS, out=out[:whole].reshape(-1, _RUN))
    np.maximum(flat[whole:], _ZEROS[:1], out=out[whole:])
    return out.reshape(x.shape), x


def relu_backward(dout, x):
    return np.where(x > 0, dout, 0).astype(np.float32)


def leaky_relu_forward(x, slope):
    return np.where(x > 0, x, x * np.float32(slope)), (x, slope)


def leaky_relu_backward(dout, cache):
    x, slope = cache
    return np.where(x > 0, dout, dout * np.float32(slope)).astype(np.float32)


def sigmoid_forward(x):
    out = (0.5 * (1 + np.tanh(0.5 * x))).astype(np.float32)  # stable for large |x|
    return out, out


def sigmoid_backward(dout, out):
    return dout * out * (1 - out)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, out):
    return dout * (1 - out * out)


def softmax_forward(x):
    """Softmax over channels (axis 1) at every position."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out = e / e.sum(axis=1, keepdims=True)
    return out, out


def softmax_backward(dout, out):
    return out * (dout - (dout * out).sum(axis=1, keepdims=True))


def dropout_forward(x, rate, training, rng):
    """Inverted dropout: identity at inference; in training keep with p = 1 − rate, scale 1/p."""
    if not training or rate == 0:
        return x, None
    keep = 1.0 - rate
    mask = (rng.random(x.shape, dtype=np.float32) < keep).astype(np.float32) / np.float32(keep)
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout if mask is None else dout * mask


# ----------------------------------------------------------------------------- normalisation
def _channel_window_sum(a, front, back):
    """Sum of ``a`` over channels c−front … c+back (clipped), for every c: same shape."""
    n, c = a.shape[:2]
    cs = np.zeros((n, c + 1) + a.shape[2:], dtype=np.float64)
    np.cumsum(a, axis=1, out=cs[:, 1:])
    hi = np.minimum(np.arange(c) + back + 1, c)
    lo = np.maximum(np.arange(c) - front, 0)
    return (cs[:, hi] - cs[:, lo]).astype(np.float32)


def lrn_forward(x, size, alpha, beta, k):
    """Local response normalisation across channels, as ``torch.nn.LocalResponseNorm``.

    b_c = a_c / (k + α/n · Σ_{c'} a_c'²)^β over the n channels c − ⌊n/2⌋ … c + ⌊(n−1)/2⌋.
    """
    front, back = size // 2, (size - 1) // 2
    scale = k + (alpha / size) * _channel_window_sum(x * x, front, back)
    out = x * scale ** -beta
    return out.astype(np.float32), (x, scale, size, alpha, beta, front, back)


def lrn_backward(dout, cache):
    x, scale, size, alpha, beta, front, back = cache
    direct = dout * scale ** -beta
    # Channel c appears in the windows of c' = c − back … c + front (the window, mirrored).
    spread = _channel_window_sum(dout * x * scale ** (-beta - 1), back, front)
    return (direct - (2 * alpha * beta / size) * x * spread).astype(np.float32)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, eps, momentum, training):
    """Per-channel batch normalisation. x: (N, C, H, W).

    Training normalises with the batch statistics and updates the running ones in place
    (unbiased variance, as PyTorch); inference uses the running statistics.
    """
    shape = (1, -1, 1, 1)
    if training:
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        count = x.size // x.shape[1]
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * count / max(1, count - 1)
    else:
        # inference is one affine map per channel: two passes over the data, and x̂ is
        # made only if a backward pass asks for it. The per-channel figures take as few
        # NumPy calls as they can (no copies where they are float32 already): right after
        # a conv each small call costs several µs (caches cold), 0.1 ms a layer in all
        inv_std = np.asarray(1.0 / np.sqrt(running_var + eps), np.float32)
        scale = np.asarray(gamma * inv_std, np.float32)
        shift = np.asarray(beta - running_mean * scale, np.float32)
        out = x * scale.reshape(shape)
        out += shift.reshape(shape)
        return out, (x, running_mean.copy(), gamma, inv_std, False)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    # in place where possible: the same arithmetic in the same order, 4 passes instead of 5
    xhat = x - mean.reshape(shape)
    xhat *= inv_std.reshape(shape)
    out = gamma.reshape(shape) * xhat
    out += beta.reshape(shape)
    return out.astype(np.float32, copy=False), (xhat, None, gamma, inv_std, True)


def batchnorm_backward(dout, cache):
    """→ dx, dgamma, dbeta."""
    xhat, mean, gamma, inv_std, training = cache
    shape = (1, -1, 1, 1)
    if mean is not None:  # inference: the cache holds x and the running mean
        xhat = (xhat - mean.reshape(shape)) * inv_std.reshape(shape)
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dxhat = dout * gamma.reshape(shape)
    if not training:
        return (dxhat * inv_std.reshape(shape)).astype(np.float32), dgamma, dbeta
    m = dout.size // dout.shape[1]
    dx = (inv_std.reshape(shape) / m) * (
        m * dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True)
        - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True))
    return dx.astype(np.float32), dgamma, dbeta


# ----------------------------------------------------------------------------- fc, reshape
def fc_forward(x, w, b):
    """x: (N, C, H, W) flattened C-major to (N, D); w: (U, D); b: (U,) → (N, U, 1, 1)."""
    n = x.shape[0]
    out = x.reshape(n, -1) @ w.T
    if b is not None:
        out += b
    return out.reshape(n, -1, 1, 1), (x, w, b is not None)


def fc_backward(dout, cache):
    x, w, has_bias = cache
    n = x.shape[0]
    d2 = dout.reshape(n, -1)
    dx = (d2 @ w).reshape(x.shape)
    dw = d2.T @ x.reshape(n, -1)
    return dx, dw, (d2.sum(axis=0) if has_bias else None)


def flatten_forward(x):
    return x.reshape(x.shape[0], -1, 1, 1), x.shape


def flatten_backward(dout, shape):
    return dout.reshape(shape)
