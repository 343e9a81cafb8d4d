"""Many small maps as one image: every channel a tile, one pixel of gap (NaN) between tiles.

One ImageItem draws the whole mosaic, so 512 maps cost one texture, not 512 items. A mosaic
larger than ``max_pixels`` is shown at 1/step of its resolution (block means), which keeps
the GUI thread's drawing short; the values under the cursor still come from the full maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import ceil, sqrt

import numpy as np

from .tensors import wished_tensor

DEFAULT_MAX_PIXELS = 500_000  # about 10–15 ms to draw with a colour map (benchmarks/live.py)
SHADES = 255  # colour-map shades an 8-bit coded picture uses: codes 0..254
GAP_CODE = 255  # the code of a gap (a NaN value)


def value_codes(values: np.ndarray, levels: tuple) -> np.ndarray:
    """Float values → uint8 colour-map codes: levels (lo, hi) → 0 .. SHADES − 1, rounded to
    the nearest shade and clipped (lo → 0, hi → 254); NaN → GAP_CODE.

    The screen draws these as an 8-bit indexed picture. Coded here, with NumPy (in the worker
    for the feature maps, with the tiling), because pyqtgraph colouring a float picture with
    NaN gaps at paint time took 40–80 ms of the GUI thread for a 500 000-pixel mosaic."""
    lo, hi = float(levels[0]), float(levels[1])
    scale = (SHADES - 1) / (hi - lo) if hi > lo else 0.0
    shade = np.subtract(values, lo, dtype=np.float32)
    shade *= np.float32(scale)
    gaps = np.isnan(shade)
    shade[gaps] = 0.0
    np.clip(shade, 0, SHADES - 1, out=shade)
    np.rint(shade, out=shade)
    codes = shade.astype(np.uint8)
    codes[gaps] = GAP_CODE
    return codes


@dataclass
class Mosaic:
    image: np.ndarray  # (rows·(th+gap)−gap, cols·(tw+gap)−gap) float32, NaN in the gaps
    channels: int
    height: int  # one map's size before downsampling
    width: int
    rows: int
    cols: int
    step: int = 1  # the downsampling factor
    gap: int = 1
    levels: tuple = (0.0, 1.0)

    @property
    def tile(self) -> tuple[int, int]:
        """A tile's size on screen (after downsampling)."""
        return -(-self.height // self.step), -(-self.width // self.step)

    def origin(self, channel: int) -> tuple[int, int]:
        """(top, left) of a channel's tile, in mosaic pixels."""
        th, tw = self.tile
        r, c = divmod(channel, self.cols)
        return r * (th + self.gap), c * (tw + self.gap)

    def locate(self, px: float, py: float):
        """Mosaic coordinates (x, y) → (channel, y, x) in the full map, or None on a gap."""
        if px < 0 or py < 0:
            return None
        th, tw = self.tile
        col, dx = divmod(px, tw + self.gap)
        row, dy = divmod(py, th + self.gap)
        col, row, channel = int(col), int(row), int(row) * self.cols + int(col)
        if dx >= tw or dy >= th or col >= self.cols or channel >= self.channels:
            return None
        y, x = int(dy * self.step), int(dx * self.step)
        if y >= self.height or x >= self.width:
            return None
        return channel, y, x

    @cached_property
    def codes(self) -> np.ndarray:
        """The image as colour-map codes over its levels (value_codes); made once, by the
        first caller (the worker, for a premade mosaic)."""
        return value_codes(self.image, self.levels)

    def to_mosaic(self, channel: int, y: float, x: float) -> tuple[float, float]:
        """A point of a full map (y, x may be fractional) → mosaic (x, y)."""
        top, left = self.origin(channel)
        return left + x / self.step, top + y / self.step


def grid(channels: int, height: int, width: int) -> tuple[int, int]:
    """(rows, cols) that make the mosaic about square."""
    cols = max(1, min(channels, ceil(sqrt(channels * height / max(width, 1)))))
    return ceil(channels / cols), cols


def downsample_step(channels, height, width, max_pixels, gap=1) -> int:
    rows, cols = grid(channels, height, width)
    step = 1
    while (rows * (ceil(height / step) + gap) * cols * (ceil(width / step) + gap)
           > max_pixels and step < max(height, width)):
        step += 1
    return step


def block_mean(maps: np.ndarray, step: int) -> np.ndarray:
    """(C, H, W) → (C, ⌈H/s⌉, ⌈W/s⌉): the mean of each s×s block (edge blocks padded by
    repeating the last row/column). Summed tap by tap over strided views: a mean over the
    two inner axes of a 5-D view is several times slower."""
    if step == 1:
        return maps
    c, h, w = maps.shape
    hh, ww = -(-h // step) * step, -(-w // step) * step
    if (hh, ww) != (h, w):
        maps = np.pad(maps, ((0, 0), (0, hh - h), (0, ww - w)), mode="edge")
    blocks = maps.reshape(c, hh // step, step, ww // step, step)
    out = blocks[:, :, 0, :, 0].astype(np.float32)
    for i in range(step):
        for j in range(step):
            if i or j:
                out += blocks[:, :, i, :, j]
    out *= np.float32(1.0 / (step * step))
    return out


def normalise_channels(maps: np.ndarray) -> np.ndarray:
    """Each channel to [0, 1] by its own min and max (a flat channel becomes 0)."""
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    out = maps - lo
    np.divide(out, span, out=out, where=span > 0)
    out[np.broadcast_to(span <= 0, out.shape)] = 0.0
    return out


def shared_levels(maps: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.nanmin(maps)), float(np.nanmax(maps))
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 1.0
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    return lo, hi


def tile(maps: np.ndarray, per_channel: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
         gap: int = 1) -> Mosaic:
    """(C, H, W) maps → a Mosaic. Shared scaling keeps the values as they are (the levels
    are the global min and max); per-channel scaling stretches each map to [0, 1]."""
    maps = np.asarray(maps, np.float32)
    c, h, w = maps.shape
    rows, cols = grid(c, h, w)
    step = downsample_step(c, h, w, max_pixels, gap)
    small = block_mean(maps, step).astype(np.float32, copy=False)
    if per_channel:
        small = normalise_channels(small)
        levels = (0.0, 1.0)
    else:
        levels = shared_levels(maps)
    th, tw = small.shape[1:]
    canvas = np.full((rows, th + gap, cols, tw + gap), np.nan, np.float32)
    tiles = np.full((rows * cols, th, tw), np.nan, np.float32)
    tiles[:c] = small
    canvas[:, :th, :, :tw] = tiles.reshape(rows, cols, th, tw).transpose(0, 2, 1, 3)
    image = canvas.reshape(rows * (th + gap), cols * (tw + gap))
    if gap:
        image = image[:-gap, :-gap]
    return Mosaic(np.ascontiguousarray(image), c, h, w, rows, cols, step, gap, levels)


def tile_rgb(filters: np.ndarray, gap: int = 1) -> tuple[np.ndarray, Mosaic]:
    """(F, 3, kh, kw) RGB filters → (H, W, 3) image in [0, 1], each filter scaled by its own
    largest |weight| around mid-grey (0 weight = grey), as the notes' conv1 pictures."""
    f, _, kh, kw = filters.shape
    scale = np.abs(filters).max(axis=(1, 2, 3), keepdims=True)
    scaled = 0.5 + 0.5 * filters / np.where(scale > 0, scale, 1.0)
    layout = tile(np.zeros((f, kh, kw), np.float32), gap=gap, max_pixels=1 << 40)
    rgb = np.stack([tile(scaled[:, k], gap=gap, max_pixels=1 << 40).image for k in range(3)],
                   axis=-1)
    return np.nan_to_num(rgb, nan=0.12), layout


def premade(report, activations: dict, wish: tuple):
    """The feature map view's next mosaic, tiled in the worker thread with the pass:
    ((tensor, channel or -1, per_channel, max_pixels), Mosaic), or None."""
    selected, hint, per_channel, channel, max_pixels = wish
    name = wished_tensor(report, activations, selected, hint)
    maps = activations.get(name)
    if maps is None or maps.shape[1:] == (1, 1):
        return None
    if 0 <= channel < maps.shape[0] and name == hint:
        chosen = maps[channel:channel + 1]
    else:
        chosen, channel = maps, -1
    mosaic = tile(chosen, per_channel, max_pixels)
    mosaic.codes  # noqa: B018  (coded here, in the worker, not on the GUI thread)
    return (name, channel, per_channel, max_pixels), mosaic
