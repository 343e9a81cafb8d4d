"""What the activation views share: pyqtgraph's setup, colour maps, the layer a tensor comes
from, and the input image as a person sees it (mean/std undone)."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore  # noqa: F401  (PySide6 before pyqtgraph, so pyqtgraph binds to it)

import pyqtgraph as pg  # isort: skip

pg.setConfigOptions(imageAxisOrder="row-major")

MAP_COLOURS = ("viridis", "inferno", "magma", "CET-L1")  # CET-L1: plain grey ramp
WEIGHT_COLOURS = "CET-D1"  # diverging blue–white–red: the sign of a weight matters
GAP_COLOUR = (40, 40, 40)


def colour_map(name: str) -> pg.ColorMap:
    return pg.colormap.get(name)


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


def rect_item(colour, width=2, dashed=False):
    """A rectangle drawn with a cosmetic pen (same thickness at any zoom)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QGraphicsRectItem

    item = QGraphicsRectItem()
    pen = pg.mkPen(colour, width=width,
                   style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
    pen.setCosmetic(True)
    item.setPen(pen)
    item.setZValue(10)
    item.setVisible(False)
    return item


def set_box(item, box) -> None:
    """Place a rect item on the pixels of an inclusive box (pixel k spans k..k+1)."""
    if box is None:
        item.setVisible(False)
        return
    (t, b), (l, r) = box
    item.setRect(l, t, r - l + 1, b - t + 1)
    item.setVisible(True)


def image_box(widget: pg.GraphicsLayoutWidget, title: str = "", col: int = 0,
              menu: bool = False):
    """A ViewBox for a picture (y down, square pixels) with an ImageItem in it, in column
    ``col`` of a layout widget, under ``title`` if given. Returns (viewbox, image item)."""
    if title:
        widget.addLabel(title, row=0, col=col)
    box = widget.addViewBox(row=1 if title else 0, col=col)
    box.setAspectLocked(True)
    box.invertY(True)
    box.setMenuEnabled(menu)
    item = pg.ImageItem()
    box.addItem(item)
    return box, item
