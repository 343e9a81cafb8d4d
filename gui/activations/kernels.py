"""A conv layer's filters as one tiled image: the first layer's RGB filters in colour, any
other layer's filters one input channel at a time; or one filter's slices, one per input
channel (double-click a filter, or pick "one filter")."""

from __future__ import annotations

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.live.mosaic import tile, tile_rgb
from convscope.core.live.tensors import producer, shown_layer
from convscope.core.live.weights import first_conv
from convscope.gui.dockpanel import TitleLabel
from convscope.gui.lazy import Follow
from convscope.gui.plots import (
    WEIGHT_COLOURS,
    colour_map,
    image_box,
    mosaic_at,
    pg,
    rect_item,
    show_values,
)
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .controller import message_header
from .export import ask_and_save, coloured, enlarge, rgb_image
from .weights import apply_classic_filters, has_seeded_first_conv

ALL, ONE = 0, 1
NO_LIMIT = 1 << 40


class KernelView(QWidget):
    displayed = Signal(str)  # the conv layer whose filters are on screen

    def __init__(self, document, controller, parent=None):
        super().__init__(parent)
        self.setObjectName("kernelView")
        self.doc, self.live = document, controller
        self.layer = ""
        self.weights = None  # (F, C/g, kh, kw) of the shown layer
        self.layout_mosaic = None  # tile geometry of what is shown
        self.rgb = False
        self._framed = None  # the grid size the view was last fitted to
        self._build()
        # a pass came in or another layer was selected: redrawn while on screen (gui.lazy)
        self._follow = Follow(self, [controller.resultReady, document.selectionChanged],
                              self.refresh, later=False)
        controller.failed.connect(lambda text: self.show_message(text))
        controller.probeChanged.connect(self._mark_probe)
        document.changed.connect(self._update_banner)

    def _build(self):
        self.title = TitleLabel(objectName="kernelTitle")
        self.mode = QComboBox(objectName="kernelMode")
        self.mode.addItems(["all filters", "one filter's slices"])
        self.mode.currentIndexChanged.connect(lambda _index: self._redraw())
        self.filter = QSpinBox(objectName="filterSpin", minimum=0, maximum=0)
        self.filter.setToolTip("The filter whose slices are shown (one per input channel)")
        self.filter.valueChanged.connect(lambda _value: self._redraw())
        self.slice = QSpinBox(objectName="sliceSpin", minimum=-1, maximum=0, value=-1)
        self.slice.setSpecialValueText("RGB")
        self.slice.setToolTip("Which input channel of every filter to show (RGB: all three "
                              "as colour, for a layer that reads an RGB image)")
        self.slice.valueChanged.connect(lambda _value: self._redraw())
        export = QToolButton(text="PNG", toolTip="Export the kernels as PNG")
        export.clicked.connect(self.export_dialog)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)  # the free room, however long its text
        for label, widget in (("show", self.mode), ("filter", self.filter),
                              ("input channel", self.slice)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addWidget(export)

        self.banner = QWidget()
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(0, 0, 0, 0)
        self.banner_text = QLabel(wordWrap=True)
        self.classic = QPushButton("Use classic filters", objectName="classicButton")
        self.classic.setToolTip("Oriented edges, Gabors and colour blobs, as trained conv1 "
                                "filters look (an undoable edit)")
        self.classic.clicked.connect(lambda: apply_classic_filters(self.doc))
        row.addWidget(self.banner_text, 1)
        row.addWidget(self.classic)
        self.banner.setVisible(False)

        self.graphics = pg.GraphicsLayoutWidget()
        self.viewbox, self.image = image_box(self.graphics, menu=True)
        self.marker = rect_item((255, 210, 0), 2)
        self.viewbox.addItem(self.marker)
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=colour_map(WEIGHT_COLOURS),
                                        interactive=False, rounding=1e-9, width=18)
        self.graphics.addItem(self.colorbar, row=0, col=1)
        self.viewbox.menu.addAction("Export kernels as PNG…", self.export_dialog)
        self.graphics.scene().sigMouseMoved.connect(self._hover)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        self.message = QLabel(objectName="kernelMessage", wordWrap=True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.graphics)
        self.stack.addWidget(self.message)
        self.value_label = QLabel(objectName="kernelValue")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.value_label)
        self.show_message("The filters of the selected conv layer show here.")

    # ------------------------------------------------------------------ content
    def _set_title(self, text: str):
        self.title.set_title(text)

    def refresh(self, *_):
        self._update_banner()
        result = self.live.result
        if result is None:
            self.show_message(self.live.message or "Waiting for the first forward pass…")
            return
        name = shown_layer(result.report, self.doc.selected)
        info = result.report.by_name(name) if name and name != "input" else None
        if info is None or info.type != "conv":
            self.show_message("Select a conv layer to see its filters." if name else
                              "The network has no layers yet.")
            return
        weights = result.network.weights.get(f"{name}.weight")
        if weights is None:
            self.show_message(f"{name} has no weights yet (it is not computed).")
            return
        f, c, kh, kw = weights.shape
        groups = info.layer.values["groups"]
        self._set_title(f"<b>{name}</b> · {f} filters of {kh}×{kw}×{c}"
                           + (f" (groups {groups})" if groups > 1 else ""))
        # "RGB" (all three as colour) only for filters that read a colour image
        rgb = c == 3 and producer(result.report, name) == "input"
        for spin in (self.filter, self.slice):
            spin.blockSignals(True)
        self.filter.setMaximum(f - 1)
        self.slice.setSpecialValueText("RGB" if rgb else "")
        self.slice.setRange(-1 if rgb else 0, c - 1)
        if name != self.layer:
            self.slice.setValue(-1 if rgb else 0)
        for spin in (self.filter, self.slice):
            spin.blockSignals(False)
        self.layer, self.weights = name, weights
        self._redraw()
        self.displayed.emit(name)

    def show_message(self, text: str):
        self.layer, self.weights, self.layout_mosaic = "", None, None
        self._framed = None  # what comes next (maybe another network's) is fitted anew
        self._set_title(message_header(self.doc))
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def _update_banner(self):
        """The offer of classic filters, while the conv shown is the first one and still
        has its seeded random weights (a later conv's filters are not the bank's)."""
        first = first_conv(self.doc.report)
        show = (has_seeded_first_conv(self.doc) and first is not None
                and first.name == shown_layer(self.doc.report, self.doc.selected))
        if show:
            self.banner_text.setText(
                f"{first.name} has seeded random (He) weights, so its maps show little. "
                "Trained first layers look like edges, Gabors and colour blobs:")
        self.banner.setVisible(show)

    def _redraw(self):
        w = self.weights
        if w is None:
            return
        one = self.mode.currentIndex() == ONE
        self.filter.setEnabled(one)
        self.slice.setEnabled(not one)
        self.rgb = not one and self.slice.value() == -1 and w.shape[1] == 3
        if self.rgb:
            picture, self.layout_mosaic = tile_rgb(w)
            self.image.setImage(picture, levels=(0.0, 1.0), autoLevels=False)
            self.image.setLookupTable(None)
            self.colorbar.setVisible(False)
        else:
            maps = w[self.filter.value()] if one else w[:, max(self.slice.value(), 0)]
            self.layout_mosaic = tile(maps, max_pixels=NO_LIMIT)
            m = float(np.abs(maps).max()) or 1.0
            self.layout_mosaic.levels = (-m, m)  # symmetric: white is zero
            self.colorbar.setVisible(True)
            show_values(self.image, self.layout_mosaic.image, (-m, m), WEIGHT_COLOURS)
            self.colorbar.setLevels((-m, m))
        self.stack.setCurrentWidget(self.graphics)
        shape = self.image.image.shape[:2]
        if shape != self._framed:  # keep the user's zoom while the grid stays the same
            self._framed = shape
            self.viewbox.autoRange(padding=0.01)
        self._mark_probe(self.live.probe)

    # ------------------------------------------------------------------ pointer
    def hit(self, scene_pos):
        """Scene position → (filter, input channel, i, j), or None."""
        if self.stack.currentWidget() is not self.graphics:
            return None
        found = mosaic_at(self.viewbox, self.image, self.layout_mosaic, scene_pos)
        if found is None:
            return None
        k, i, j = found
        if self.mode.currentIndex() == ONE:
            return self.filter.value(), k, i, j
        return k, max(self.slice.value(), 0), i, j

    def scene_pos(self, tile_index: int, i: int = 0, j: int = 0) -> QPointF:
        self.viewbox.updateMatrix()
        x, y = self.layout_mosaic.to_mosaic(tile_index, i + 0.5, j + 0.5)
        return self.image.mapToScene(QPointF(x, y))

    def _hover(self, scene_pos):
        found = self.hit(scene_pos)
        if found is None:
            self.value_label.clear()
            return
        f, c, i, j = found
        text = f"{self.layer} · filter {f} · "
        if self.rgb:
            rgb = ", ".join(f"{v:.4g}" for v in self.weights[f, :, i, j])
            text += f"tap ({i}, {j}) · R, G, B = {rgb}"
        else:
            text += f"input channel {c} · tap ({i}, {j}) · w = {self.weights[f, c, i, j]:.5g}"
        self.value_label.setText(text)

    def _clicked(self, event):
        if event.double() and self.click_at(event.scenePos(), double=True):
            event.accept()

    def click_at(self, scene_pos, double: bool = True) -> bool:
        """Double-click a filter: its slices; double-click a slice: all filters again."""
        found = self.hit(scene_pos)
        if found is None or not double:
            return False
        if self.mode.currentIndex() == ONE:
            self.mode.setCurrentIndex(ALL)
        else:
            self.filter.setValue(found[0])
            self.mode.setCurrentIndex(ONE)
        return True

    def _mark_probe(self, probe):
        if (probe is None or probe.layer != self.layer or self.layout_mosaic is None
                or self.mode.currentIndex() == ONE):
            self.marker.setVisible(False)
            return
        top, left = self.layout_mosaic.origin(probe.channel)
        th, tw = self.layout_mosaic.tile
        self.marker.setRect(left, top, tw, th)
        self.marker.setVisible(True)

    # ------------------------------------------------------------------ export
    def export_image(self):
        if self.layout_mosaic is None:
            raise ConvScopeError("no kernels are shown")
        if self.rgb:
            return enlarge(rgb_image(self.image.image))
        return enlarge(coloured(self.layout_mosaic.codes, WEIGHT_COLOURS))

    def export_dialog(self):
        return ask_and_save(self, "Export kernels as PNG", f"{self.layer or 'kernels'}.png",
                            self.export_image)
