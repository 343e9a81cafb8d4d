"""Images in and out through Qt's image codecs (no extra dependency)."""

from __future__ import annotations

import numpy as np
from convscope.core import ConvScopeError
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter, QTransform


def read_qimage(path) -> QImage:
    image = QImage(str(path))
    if image.isNull():
        raise ConvScopeError("not an image that can be read (PNG, JPEG, BMP, ...)",
                             source=str(path))
    return image


def qimage_to_array(image: QImage, channels: int) -> np.ndarray:
    """(H, W, C) uint8 with C = 1 (greyscale) or 3 (RGB)."""
    fmt = QImage.Format.Format_Grayscale8 if channels == 1 else QImage.Format.Format_RGB888
    image = image.convertToFormat(fmt)
    h, w, depth = image.height(), image.width(), 1 if channels == 1 else 3
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return rows[:, :w * depth].reshape(h, w, depth).copy()


def fit(image: QImage, width: int, height: int) -> QImage:
    """Centre-crop to the target's aspect ratio, then scale smoothly to width × height."""
    w, h = image.width(), image.height()
    if w * height > h * width:
        cw = max(1, round(h * width / height))
        image = image.copy((w - cw) // 2, 0, cw, h)
    elif w * height < h * width:
        ch = max(1, round(w * height / width))
        image = image.copy(0, (h - ch) // 2, w, ch)
    if width >= image.width() and height >= image.height():
        return _enlarged(image, width, height)
    return image.scaled(width, height, Qt.AspectRatioMode.IgnoreAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


# Output pixels drawn per step of an enlargement (a few ms each).
BAND_PIXELS = 1 << 20


def _enlarged(image: QImage, width: int, height: int) -> QImage:
    """``image`` scaled up smoothly to width × height: the very pixels of QImage.scaled
    (the same bilinear transform), drawn a band of rows at a time. Qt's calls hold Python's
    lock: scaling to 10000×10000 in one call froze the window for half a second even on a
    worker thread; between bands the window gets its turn."""
    out = QImage(width, height, image.format())
    scale = QTransform.fromScale(width / image.width(), height / image.height())
    rows = max(1, BAND_PIXELS // width)
    for top in range(0, height, rows):
        painter = QPainter(out)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setClipRect(0, top, width, min(rows, height - top))
        painter.setTransform(scale)
        painter.drawImage(0, 0, image)
        painter.end()
    return out


def normalise(pixels: np.ndarray, spec) -> np.ndarray:
    """(H, W, C) uint8 → (C, H, W) float32 in [0, 1], then the architecture's mean/std."""
    h, w, c = pixels.shape
    # one pass into a contiguous (C, H, W) array: a float copy in (H, W, C) order and a
    # division through its transposed view made the mean and std steps stride across it
    x = np.empty((c, h, w), np.float32)
    np.divide(pixels.transpose(2, 0, 1), np.float32(255), out=x)
    if spec.mean is not None:
        x -= np.asarray(spec.mean, np.float32).reshape(c, 1, 1)
    if spec.std is not None:
        x /= np.asarray(spec.std, np.float32).reshape(c, 1, 1)
    return x


def load_image(path, spec) -> np.ndarray:
    """An image file as the network's input (C, H, W): fitted, greyscale for one channel."""
    if spec.channels not in (1, 3):
        raise ConvScopeError(f"an image gives 1 or 3 channels; the network takes "
                             f"{spec.channels} (use --input with a .npy array)", source=str(path))
    return image_for(read_qimage(path), spec)


def image_for(picture, spec) -> np.ndarray:
    """A QImage as the network's input (C, H, W): fitted, greyscale for one channel; a
    network of another channel count gets the grey picture in every channel.

    The picture is put in its final pixel format before it is scaled: Qt's calls hold
    Python's lock, and converting a 10000×10000 result would freeze the window (the live
    views make this on a worker thread) for a second more."""
    rgb = spec.channels == 3
    picture = picture.convertToFormat(QImage.Format.Format_RGB888 if rgb
                                      else QImage.Format.Format_Grayscale8)
    pixels = qimage_to_array(fit(picture, spec.width, spec.height), 3 if rgb else 1)
    if not rgb and spec.channels != 1:
        pixels = np.repeat(pixels, spec.channels, axis=2)
    return normalise(pixels, spec)
