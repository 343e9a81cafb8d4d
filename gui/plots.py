"""What every pyqtgraph view shares (the live activations and the Understand panels):
pyqtgraph's setup, colour maps, a picture box, and rectangles drawn on it.

The arithmetic behind the pictures (which pixels, which values) is in core.live."""

from __future__ import annotations

from functools import cache

import numpy as np
from convscope.core.live.mosaic import GAP_CODE, SHADES, value_codes
from PySide6 import QtCore  # noqa: F401  (PySide6 before pyqtgraph, so pyqtgraph binds to it)

import pyqtgraph as pg  # isort: skip

pg.setConfigOptions(imageAxisOrder="row-major")

MAP_COLOURS = ("viridis", "inferno", "magma", "CET-L1")  # CET-L1: plain grey ramp
WEIGHT_COLOURS = "CET-D1"  # diverging blue–white–red: the sign of a weight matters
GAP_COLOUR = (40, 40, 40)


def colour_map(name: str) -> pg.ColorMap:
    return pg.colormap.get(name)


@cache
def indexed_lut(name: str) -> np.ndarray:
    """(256, 4) uint8 RGBA: the colour map's SHADES shades (code k at position k/254) and a
    transparent gap (GAP_CODE), as a NaN gap of a float picture is drawn."""
    lut = np.zeros((GAP_CODE + 1, 4), np.uint8)
    lut[:SHADES] = colour_map(name).getLookupTable(0.0, 1.0, SHADES, alpha=True)
    lut.flags.writeable = False  # shared by every view (cached)
    return lut


def show_values(item, values, levels, colours: str, codes=None) -> None:
    """Draw float ``values`` (NaN: a gap) with the colour map ``colours`` over ``levels``
    as an 8-bit indexed picture, which pyqtgraph hands to Qt as it is (about 2 ms for a
    500 000-pixel mosaic, against 40–80 ms when it colours a float picture at paint time,
    on the GUI thread). ``codes``: the values already coded (a premade mosaic's)."""
    if codes is None:
        codes = value_codes(values, levels)
    item.setImage(codes, levels=None, lut=indexed_lut(colours), autoLevels=False)


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
              menu: bool = False, row: int = 0, colspan: int = 1):
    """A ViewBox for a picture (y down, square pixels) with an ImageItem in it, at ``row``
    and ``col`` of a layout widget (``colspan`` columns wide), under ``title`` if given
    (the title takes the row, the picture the one below). Returns (viewbox, image item)."""
    if title:
        widget.addLabel(title, row=row, col=col, colspan=colspan)
    box = widget.addViewBox(row=row + 1 if title else row, col=col, colspan=colspan)
    box.setAspectLocked(True)
    box.invertY(True)
    box.setMenuEnabled(menu)
    item = pg.ImageItem()
    box.addItem(item)
    return box, item


def mosaic_at(viewbox, image, mosaic, scene_pos):
    """The (tile, y, x) of ``mosaic`` (a core.live Mosaic drawn by ``image`` in ``viewbox``)
    under a scene position, or None."""
    if mosaic is None:
        return None
    viewbox.updateMatrix()  # a range set since the last paint is applied lazily
    point = image.mapFromScene(scene_pos)
    return mosaic.locate(point.x(), point.y())
