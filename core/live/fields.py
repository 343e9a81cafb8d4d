"""Where one output pixel reads on the input image.

Two answers, both from the analysis (no forward pass):

- ``on_image``: the receptive-field box (``Network.input_window``) against the image: the
  part that lies on it (what is drawn) and how much falls in the padding, with a sentence
  that says so ("receptive field 404×404 is larger than the 224×224 input: ...").
- ``reach``: the exact set of input pixels that reach the output pixel, found by walking a
  boolean footprint back through every layer (each layer ORs one shifted copy per kernel
  tap). A dilated conv reads its taps D pixels apart, so its field has holes: one 3×3 conv
  with dilation 2 reads 9 pixels of a 5×5 span; a 1×7 branch beside a 7×1 one reaches a
  cross. Padding positions of a tensor are zeros that no earlier pixel reaches, so the
  footprint is cut to every tensor it passes through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network import _chain_to
from .images import clip_box

# A footprint is one bool per input pixel of its bounding box: refuse absurd ones (a
# 16384×16384 input's full field) rather than walk them; the box is drawn instead.
REACH_LIMIT = 1 << 23


@dataclass(frozen=True)
class FieldOnImage:
    """A receptive-field box (inclusive ((top, bottom), (left, right)), unclipped) against
    an image of ``size`` (h, w)."""

    box: tuple
    size: tuple

    @property
    def span(self) -> tuple:
        (t, b), (l, r) = self.box
        return b - t + 1, r - l + 1

    @property
    def shown(self):
        """The part on the image, inclusive, or None if the box misses it."""
        return clip_box(self.box, *self.size)

    @property
    def outside(self) -> tuple:
        """(rows, columns) of the box that lie beyond the image's edges (in the padding)."""
        return tuple(max(0, -lo) + max(0, hi - (n - 1))
                     for (lo, hi), n in zip(self.box, self.size))

    @property
    def larger(self) -> bool:
        return any(s > n for s, n in zip(self.span, self.size))

    @property
    def clipped(self) -> bool:
        return any(self.outside)

    @property
    def padding_pixels(self) -> int:
        """Pixels of the box (area) that are not on the image."""
        shown = self.shown
        inside = 0 if shown is None else \
            (shown[0][1] - shown[0][0] + 1) * (shown[1][1] - shown[1][0] + 1)
        return self.span[0] * self.span[1] - inside

    def text(self) -> str:
        """One sentence when the field is clipped ("" when it lies on the image)."""
        if not self.clipped:
            return ""
        (sh, sw), (h, w) = self.span, self.size
        rows, cols = self.outside
        where = (f"larger than the {h}×{w} input" if self.larger
                 else f"past the edge of the {h}×{w} input")
        if rows == cols:
            part = f"{rows} px of it on each axis"
        else:
            part = f"{rows} of its rows and {cols} of its columns"
        area = sh * sw
        return (f"receptive field {sh}×{sw} is {where}: drawn clipped; {part} fall in the "
                f"padding ({self.padding_pixels:,} of its {area:,} pixels, "
                f"{100 * self.padding_pixels / area:.0f} %)")


def on_image(box, size) -> FieldOnImage:
    return FieldOnImage(tuple(tuple(a) for a in box), tuple(size))


@dataclass(frozen=True)
class Reach:
    """The input pixels that reach one output pixel: ``mask[i, j]`` is input pixel
    (top + i, left + j); the mask is cut to its bounding box."""

    top: int
    left: int
    mask: np.ndarray

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    @property
    def span(self) -> tuple:
        return self.mask.shape

    @property
    def holes(self) -> bool:
        """Some pixels inside its bounding box do not reach it (a dilated field)."""
        return self.count < self.mask.size

    def pixels(self) -> set:
        """The reaching pixels as a set of (row, col) input coordinates (for tests)."""
        rows, cols = np.nonzero(self.mask)
        return {(int(r) + self.top, int(c) + self.left) for r, c in zip(rows, cols)}

    def text(self) -> str:
        sh, sw = self.span
        return (f"{self.count:,} of the {sh * sw:,} pixels in its {sh}×{sw} span reach it "
                "(drawn filled); no path leads from the others")


def reach(report, name: str, y: int, x: int) -> Reach | None:
    """The input pixels that output pixel (y, x) of layer ``name`` depends on, or None when
    the footprint would be absurdly large. KeyError if there is no such layer."""
    chain = _chain_to(report.top, name)
    if chain is None:
        raise KeyError(name)
    foot = _chain_back(chain, (y, x, np.ones((1, 1), bool)))
    return None if foot is None else _trimmed(foot)


def _chain_back(chain, foot):
    for item in reversed(chain):
        if foot is None:
            return None
        if isinstance(item, tuple):  # (block, branch index, the chain inside that branch)
            foot = _chain_back(item[2], foot)
        else:
            foot = _layer_back(item, foot)
    return foot


def _layer_back(info, foot):
    """A footprint on a layer's output → the footprint on its input."""
    if info.branches:  # a block: every branch reads the same input; their reads add up
        return _union([_chain_back(branch, foot) for branch in info.branches])
    if info.window is None:
        return foot
    if info.in_shape is None:
        return None
    top, left, mask = foot
    (kh, sh, ph, dh), (kw, sw, pw, dw) = _taps(info)
    h_in = (mask.shape[0] - 1) * sh + (kh - 1) * dh + 1
    w_in = (mask.shape[1] - 1) * sw + (kw - 1) * dw + 1
    if h_in * w_in > REACH_LIMIT:
        return None
    rows = np.zeros((h_in, mask.shape[1]), bool)
    for t in range(kh):  # one shifted copy per kernel row: output i reads t·D + i·S
        rows[t * dh:t * dh + (mask.shape[0] - 1) * sh + 1:sh] |= mask
    out = np.zeros((h_in, w_in), bool)
    for t in range(kw):
        out[:, t * dw:t * dw + (mask.shape[1] - 1) * sw + 1:sw] |= rows
    return _cut((top * sh - ph, left * sw - pw, out), info.in_shape[1:])


def _taps(info):
    """Per axis (taps, stride, padding, dilation) from the analysis' (effective kernel,
    stride, padding) and the layer's own dilation (conv; 1 for everything else)."""
    geometry = getattr(info.layer, "geometry", None)
    dilations = [g[3] for g in geometry()] if geometry else [1, 1]
    return [((k - 1) // d + 1, s, p, d) for (k, s, p), d in zip(info.window, dilations)]


def _cut(foot, size):
    """Cut a footprint to a tensor of ``size`` (h, w): its padding reaches nothing further."""
    top, left, mask = foot
    h, w = size
    t, l = max(top, 0), max(left, 0)
    b, r = min(top + mask.shape[0], h), min(left + mask.shape[1], w)
    if t >= b or l >= r:
        return t, l, np.zeros((0, 0), bool)
    return t, l, mask[t - top:b - top, l - left:r - left]


def _union(foots):
    if any(f is None for f in foots):
        return None
    foots = [f for f in foots if f[2].size]
    if not foots:
        return 0, 0, np.zeros((0, 0), bool)
    top = min(f[0] for f in foots)
    left = min(f[1] for f in foots)
    bottom = max(f[0] + f[2].shape[0] for f in foots)
    right = max(f[1] + f[2].shape[1] for f in foots)
    out = np.zeros((bottom - top, right - left), bool)
    for t, l, mask in foots:
        out[t - top:t - top + mask.shape[0], l - left:l - left + mask.shape[1]] |= mask
    return top, left, out


def _trimmed(foot) -> Reach:
    top, left, mask = foot
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(rows):
        return Reach(top, left, np.zeros((0, 0), bool))
    mask = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return Reach(top + int(rows[0]), left + int(cols[0]), mask)
