"""The kernel's footprint, drawn over a map: the window of the clicked output pixel (F×F with
stride, padding and dilation: drawn where it really is, partly in the padding if it is), the
whole receptive field on the input (clipped to the image for drawing, its numbers unclipped
in the text), and the kernel's weights painted on the taps they multiply.
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
WEIGHT_ALPHA = 190


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


class WindowOverlay:
    """The rectangles and the weight picture on one ViewBox."""

    def __init__(self, viewbox):
        self.field_rect = rect_item(FIELD_COLOUR, 2, dashed=True)
        self.window_rect = rect_item(WINDOW_COLOUR, 2)
        self.weights = pg.ImageItem()
        self.weights.setZValue(5)
        self.weights.setVisible(False)
        for item in (self.field_rect, self.window_rect, self.weights):
            viewbox.addItem(item)

    def clear(self):
        for item in (self.field_rect, self.window_rect, self.weights):
            item.setVisible(False)

    def show(self, window=None, field=None, picture=None, size=None):
        """``window`` drawn unclipped; ``field`` clipped to ``size`` (h, w) for drawing."""
        set_box(self.window_rect, window)
        set_box(self.field_rect, clip_box(field, *size) if field is not None else None)
        if picture is None or window is None:
            self.weights.setVisible(False)
            return
        (top, _), (left, _) = window
        self.weights.setImage(picture, levels=(0, 255), autoLevels=False)
        self.weights.setRect(QRectF(left, top, picture.shape[1], picture.shape[0]))
        self.weights.setVisible(True)

    def rects(self) -> dict:
        """What is drawn, as inclusive boxes in map pixels (for tests and exports)."""
        out = {}
        for key, item in (("window", self.window_rect), ("field", self.field_rect)):
            if item.isVisible():
                r = item.rect()
                out[key] = ((round(r.top()), round(r.bottom()) - 1),
                            (round(r.left()), round(r.right()) - 1))
        return out


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
