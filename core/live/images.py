"""Pictures for the screen, from network tensors: the input with its mean/std undone, boxes
cut to an image, nearest-neighbour resizing and many small pictures in one grid."""

from __future__ import annotations

import numpy as np


def display_image(image: np.ndarray, spec) -> np.ndarray:
    """(C, H, W) network input → (H, W) grey or (H, W, 3) RGB in [0, 1] for the screen."""
    x = np.asarray(image, np.float32)
    c = x.shape[0]
    if spec.std is not None and len(spec.std) == c:
        x = x * np.asarray(spec.std, np.float32).reshape(c, 1, 1)
    if spec.mean is not None and len(spec.mean) == c:
        x = x + np.asarray(spec.mean, np.float32).reshape(c, 1, 1)
    x = np.clip(x, 0.0, 1.0)
    return x.transpose(1, 2, 0) if c == 3 else x[0]


SCREEN_PIXELS = 2048  # a screen shows no more than this many pixels across


def screen_picture(image: np.ndarray, spec) -> np.ndarray:
    """(C, H, W) network input → what the input view draws: every step-th pixel (step =
    ⌈max(H, W)/SCREEN_PIXELS⌉, so a 10000×10000 input is drawn from every 5th), mean/std
    undone, as uint8 (H', W') grey or (H', W', 3) RGB that Qt draws as it is. Made on the
    worker with the image: colouring 2000×2000 floats at paint time took pyqtgraph 0.5 s
    of the GUI thread."""
    step = max(1, -(-max(image.shape[1:]) // SCREEN_PIXELS))
    shown = display_image(image[:, ::step, ::step], spec)
    return np.rint(shown * np.float32(255)).astype(np.uint8)


def clip_box(box, height: int, width: int):
    """An inclusive ((top, bottom), (left, right)) box cut to the image; None if outside."""
    (t, b), (l, r) = box
    t, b, l, r = max(t, 0), min(b, height - 1), max(l, 0), min(r, width - 1)
    if t > b or l > r:
        return None
    return (t, b), (l, r)


def box_text(box) -> str:
    (t, b), (l, r) = box
    return f"rows {t}..{b}, cols {l}..{r} ({b - t + 1}×{r - l + 1})"


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(C, H, W) → (C, height, width) by nearest neighbour."""
    c, h, w = image.shape
    rows = np.minimum((np.arange(height) * h) // height, h - 1)
    cols = np.minimum((np.arange(width) * w) // width, w - 1)
    return np.ascontiguousarray(image[:, rows][:, :, cols])


def grid_picture(images: np.ndarray, gap: int = 2, fill: float = np.nan
                 ) -> tuple[np.ndarray, int]:
    """(K, H, W) or (K, H, W, 3) → one picture of K tiles in a near-square grid, ``gap``
    pixels of ``fill`` between them. Returns (picture, columns)."""
    images = np.asarray(images, np.float32)
    k, h, w = images.shape[:3]
    cols = int(np.ceil(np.sqrt(k)))
    rows = -(-k // cols)
    shape = (rows * (h + gap) - gap, cols * (w + gap) - gap) + images.shape[3:]
    out = np.full(shape, fill, np.float32)
    for index in range(k):
        r, c = divmod(index, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = images[index]
    return out, cols


def to_display(images: np.ndarray) -> np.ndarray:
    """(K, C, H, W) in [0, 1] → (K, H, W) grey or (K, H, W, 3) colour (other channel counts:
    the mean over channels)."""
    if images.shape[1] == 3:
        return images.transpose(0, 2, 3, 1)
    if images.shape[1] == 1:
        return images[:, 0]
    return images.mean(axis=1)
