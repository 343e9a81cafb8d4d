"""The kernel's footprint, drawn over a map: the window of the clicked output pixel (F×F with
stride, padding and dilation: drawn where it really is, partly in the padding if it is), the
whole receptive field on the input (clipped to the image for drawing, its numbers unclipped
in the text, and flagged on the picture when it is clipped), the input pixels that really
reach the output when a dilated field has holes (one picture, a cell per pixel), and the
kernel's weights painted on the taps they multiply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from convscope.core.live.images import clip_box
from convscope.core.live.steps import Step, step_for
from convscope.core.live.tensors import producer
from convscope.gui.plots import WEIGHT_COLOURS, colour_map, pg, rect_item, set_box
from PySide6.QtCore import QRectF

WINDOW_COLOUR = (255, 60, 60)
FIELD_COLOUR = (255, 210, 0)
CLIPPED_COLOUR = (255, 140, 0)  # a field drawn cut to the image
WEIGHT_ALPHA = 190
REACH_COLOUR = (0, 190, 255)  # the pixels that reach the output: apart from the field's box
REACH_ALPHA = 170


@dataclass
class Footprint:
    """Where one output pixel reads: everything the overlays draw and print."""

    layer: str
    source: str  # the tensor the layer reads ("input" or a layer name)
    window: tuple  # inclusive box on ``source``, unclipped
    field: tuple  # inclusive box on the input image, unclipped
    step: Step | None  # the arithmetic, when the layer reads a window of one tensor
    info: object  # the layer's LayerInfo


def weight_picture(step: Step, channel_index: int | None) -> np.ndarray | None:
    """RGBA (kh_eff, kw_eff, 4) of the weights on their taps (transparent between dilated
    taps): one input channel through the diverging map, or all three as colour (None)."""
    if step is None or step.weights is None:
        return None
    w = step.weights
    scale = float(np.abs(w).max()) or 1.0
    ty, tx = step.taps_y, step.taps_x
    dy = int(ty[1] - ty[0]) if len(ty) > 1 else 1
    dx = int(tx[1] - tx[0]) if len(tx) > 1 else 1
    kh, kw = w.shape[1:]
    out = np.zeros((dy * (kh - 1) + 1, dx * (kw - 1) + 1, 4), np.uint8)
    if channel_index is None:
        if w.shape[0] != 3:
            return None
        rgb = (0.5 + 0.5 * w.transpose(1, 2, 0) / scale) * 255
        out[::dy, ::dx, :3] = np.clip(rgb, 0, 255).round()
    else:
        rgba = colour_map(WEIGHT_COLOURS).map(0.5 + 0.5 * w[channel_index] / scale, mode="byte")
        out[::dy, ::dx, :3] = np.asarray(rgba, np.uint8).reshape(kh, kw, 4)[..., :3]
    out[::dy, ::dx, 3] = WEIGHT_ALPHA
    return out


def reach_picture(mask: np.ndarray) -> np.ndarray:
    """RGBA (h, w, 4) of a footprint: a colour on the pixels that reach the output,
    transparent on the holes between them."""
    out = np.zeros(mask.shape + (4,), np.uint8)
    out[mask] = REACH_COLOUR + (REACH_ALPHA,)
    return out


class WindowOverlay:
    """The rectangles, the footprint picture, the clipping flag and the weight picture on one
    ViewBox."""

    def __init__(self, viewbox):
        self.field_rect = rect_item(FIELD_COLOUR, 2, dashed=True)
        self.window_rect = rect_item(WINDOW_COLOUR, 2)
        self.weights = pg.ImageItem()
        self.weights.setZValue(5)
        self.reach = pg.ImageItem()
        self.reach.setZValue(4)
        self.flag = pg.TextItem(color=CLIPPED_COLOUR, fill=(0, 0, 0, 170), anchor=(0, 0))
        self.flag.setZValue(11)
        for item in self._items():
            item.setVisible(False)
            viewbox.addItem(item)

    def _items(self):
        return (self.field_rect, self.window_rect, self.weights, self.reach, self.flag)

    def clear(self):
        for item in self._items():
            item.setVisible(False)

    def show(self, window=None, field=None, picture=None, size=None, reach=None, flag=""):
        """``window`` drawn unclipped; ``field`` clipped to ``size`` (h, w) for drawing, in
        the clipped colour with ``flag`` written at its corner when it does not fit;
        ``reach`` (core.live.fields.Reach) painted when its field has holes."""
        shown = clip_box(field, *size) if field is not None else None
        set_box(self.field_rect, shown)
        clipped = shown is not None and shown != tuple(tuple(a) for a in field)
        pen = self.field_rect.pen()
        pen.setColor(pg.mkColor(CLIPPED_COLOUR if clipped else FIELD_COLOUR))
        self.field_rect.setPen(pen)
        self._show_flag(flag if clipped else "", shown)
        self._show_reach(reach)
        set_box(self.window_rect, window)
        if picture is None or window is None:
            self.weights.setVisible(False)
            return
        (top, _), (left, _) = window
        self.weights.setImage(picture, levels=(0, 255), autoLevels=False)
        self.weights.setRect(QRectF(left, top, picture.shape[1], picture.shape[0]))
        self.weights.setVisible(True)

    def _show_flag(self, text, box):
        if not text:
            self.flag.setVisible(False)
            return
        (top, _), (left, right) = box
        # inside the box and the image: from its left edge when that is the image's, else
        # leftwards from its right edge
        toward_right = left > 0
        self.flag.setAnchor((1, 0) if toward_right else (0, 0))
        self.flag.setText(text)
        self.flag.setPos(right + 1 if toward_right else left, top)
        self.flag.setVisible(True)

    def _show_reach(self, reach):
        if reach is None or not reach.holes:
            self.reach.setVisible(False)
            return
        h, w = reach.mask.shape
        self.reach.setImage(reach_picture(reach.mask), levels=(0, 255), autoLevels=False)
        self.reach.setRect(QRectF(reach.left, reach.top, w, h))
        self.reach.setVisible(True)

    def rects(self) -> dict:
        """What is drawn, as inclusive boxes in map pixels (for tests and exports)."""
        out = {}
        for key, item in (("window", self.window_rect), ("field", self.field_rect)):
            if item.isVisible():
                r = item.rect()
                out[key] = ((round(r.top()), round(r.bottom()) - 1),
                            (round(r.left()), round(r.right()) - 1))
        return out

    def reach_cells(self) -> np.ndarray | None:
        """The drawn footprint as input pixel coordinates (row, col), one per painted cell
        (None when none is drawn): read back from the picture, for tests."""
        if not self.reach.isVisible():
            return None
        r = self.reach.mapRectToParent(self.reach.boundingRect())
        rows, cols = np.nonzero(self.reach.image[..., 3] > 0)
        return np.stack([rows + round(r.top()), cols + round(r.left())], axis=1)


def footprint(result, probe) -> Footprint | None:
    """The footprint of ``probe`` in ``result`` (None if its layer is not in the result)."""

    report, net = result.report, result.network
    try:
        info = report.by_name(probe.layer)
    except KeyError:
        return None
    out = result.activations.get(probe.layer)
    if out is None:
        return None
    source = producer(report, probe.layer)
    window = net.kernel_window(probe.layer, probe.y, probe.x, report=report)
    field = net.input_window(probe.layer, probe.y, probe.x, report=report)
    x_in = result.activations.get(source)
    step = None
    if x_in is not None and not info.branches:
        step = step_for(info.layer, net.weights, x_in, out, probe.channel, probe.y, probe.x)
    return Footprint(probe.layer, source, window, field, step, info)
