"""PNG export of what the views show: colour-mapped arrays at their own resolution (scaled
up by whole pixels so small maps stay crisp), or a view's rendering; written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.fileio import atomic_write_bytes
from convscope.core.live.mosaic import GAP_CODE
from convscope.gui.plots import GAP_COLOUR, indexed_lut
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox

MIN_EXPORT_SIDE = 512  # small maps are scaled up by a whole factor to at least this


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise ConvScopeError("the image could not be encoded as PNG")
    buffer.close()
    return bytes(data.data())


def save_png(image: QImage, path) -> None:
    """Write ``image`` to ``path`` as PNG, atomically (a failure leaves no half file)."""
    if image.isNull() or image.width() == 0:
        raise ConvScopeError("nothing to export", source=str(path))
    atomic_write_bytes(path, png_bytes(image))


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """(H, W, 4) uint8 → a QImage owning a copy of the pixels."""
    rgba = np.ascontiguousarray(rgba, np.uint8)
    h, w, _ = rgba.shape
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def coloured(codes: np.ndarray, colours: str) -> QImage:
    """The picture as the screen draws it: 8-bit colour-map codes (core.live.mosaic's
    ``value_codes``: a Mosaic's ``codes``) through the colour map's table
    (``plots.indexed_lut``); the gaps, see-through on screen, dark grey."""
    lut = indexed_lut(colours).copy()
    lut[GAP_CODE] = (*GAP_COLOUR, 255)
    return rgba_to_qimage(lut[codes])


def rgb_image(rgb: np.ndarray) -> QImage:
    """(H, W, 3) floats in [0, 1] → QImage."""
    rgb = np.clip(np.nan_to_num(rgb), 0.0, 1.0)
    alpha = np.ones(rgb.shape[:2] + (1,))
    return rgba_to_qimage((np.concatenate([rgb, alpha], axis=2) * 255).round())


def enlarge(image: QImage, minimum: int = MIN_EXPORT_SIDE) -> QImage:
    """Scale up by a whole factor (nearest pixel) until the long side reaches ``minimum``."""
    side = max(image.width(), image.height(), 1)
    factor = max(1, -(-minimum // side))
    if factor == 1:
        return image
    return image.scaled(image.width() * factor, image.height() * factor,
                        Qt.AspectRatioMode.IgnoreAspectRatio,
                        Qt.TransformationMode.FastTransformation)


def ask_and_save(parent, title: str, suggested: str, make_image) -> str | None:
    """Ask for a file name, then write ``make_image()`` there; a failure is one message."""
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, "PNG image (*.png)")
    if not path:
        return None
    if Path(path).suffix.lower() != ".png":
        path += ".png"
    try:
        save_png(make_image(), path)
    except ConvScopeError as err:
        QMessageBox.warning(parent, title, str(err))
        return None
    return path
