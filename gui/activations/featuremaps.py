"""The selected layer's output: every channel as one mosaic (one ImageItem) with a colour
bar; the value under the cursor; click a pixel to see where it looks, double-click a map to
enlarge it. A block lets you pick its output or a branch's; a vector is a bar chart, and a
softmax output or the network's last layer (its class scores) lists its top classes by name
and number ("circle (0)", names from core.labels)."""

from __future__ import annotations

import numpy as np
from convscope.core import ConvScopeError, fmt_shape
from convscope.core.labels import ClassNames, network_class_names
from convscope.core.live.mosaic import DEFAULT_MAX_PIXELS, tile
from convscope.core.live.tensors import branch_tensors, shown_layer
from convscope.core.ops import softmax_forward
from convscope.gui.dockpanel import TitleLabel
from convscope.gui.lazy import PaintTurns
from convscope.gui.plots import (
    MAP_COLOURS,
    colour_map,
    image_box,
    indexed_lut,
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
    QListWidget,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .controller import Probe, message_header
from .export import ask_and_save, coloured, enlarge

TOP_CLASSES = 5
NAMED_BARS = 12  # up to this many classes, each bar is labelled with its class name


class FeatureMapView(QWidget):
    displayed = Signal(int)  # the id of the result whose maps are now on screen

    def __init__(self, document, controller, parent=None):
        super().__init__(parent)
        self.setObjectName("featureMapView")
        self.doc, self.live = document, controller
        self.max_pixels = DEFAULT_MAX_PIXELS
        self.mosaic = None  # what the image shows
        self.maps = None  # (C, H, W) of the shown tensor, full resolution
        self.tensor = ""  # the name of the shown tensor (a layer, or "input")
        self.shown: list[int] = []  # the channel of each tile
        self.shown_id = None  # the result id on screen
        self._branch_layer = None
        self._build()
        controller.resultReady.connect(self.refresh)
        controller.partialReady.connect(self._partial)
        controller.failed.connect(self.show_message)
        controller.busyChanged.connect(self._busy)
        controller.probeChanged.connect(self._mark_probe)
        document.selectionChanged.connect(self._selection_changed)
        controller.mosaic_wish = self.mosaic_wish

    # ------------------------------------------------------------------ widgets
    def _build(self):
        self.title = TitleLabel(objectName="mapTitle")
        self.branch = QComboBox(objectName="branchChooser")
        self.branch.setToolTip("A block: its output, or the last layer of one branch")
        self.branch.setVisible(False)
        self.branch.activated.connect(lambda _index: self.refresh())
        self.scaling = QComboBox(objectName="scaling")
        self.scaling.addItems(["per channel", "shared"])
        self.scaling.setToolTip("Per channel: each map stretched to its own min..max. "
                                "Shared: one scale for all maps, so they can be compared.")
        self.scaling.currentIndexChanged.connect(lambda _index: self._redraw())
        self.colours = QComboBox(objectName="colourMap")
        self.colours.addItems(MAP_COLOURS)
        self.colours.setToolTip("The colour map of the feature maps")
        self.colours.currentTextChanged.connect(self._set_colours)
        self.channel = QSpinBox(objectName="channelSpin", minimum=-1, maximum=0, value=-1)
        self.channel.setSpecialValueText("all")
        self.channel.setToolTip("Enlarge one channel (double-click a map does it too)")
        self.channel.valueChanged.connect(lambda _value: self._redraw())
        export = QToolButton(text="PNG", toolTip="Export the feature maps as PNG")
        export.clicked.connect(self.export_dialog)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)  # the free room, however long its text
        bar.addWidget(self.branch)
        # the scale and colour boxes read for themselves ("per channel", "viridis"; their
        # tooltips say more): without their words the title has room for the shape
        bar.addWidget(self.scaling)
        bar.addWidget(self.colours)
        bar.addWidget(QLabel("channel"))
        bar.addWidget(self.channel)
        bar.addWidget(export)

        self.graphics = pg.GraphicsLayoutWidget()
        self.viewbox, self.image = image_box(self.graphics, menu=True)
        self.marker = rect_item((255, 60, 60), 2)
        self.viewbox.addItem(self.marker)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=colour_map(MAP_COLOURS[0]),
                                        interactive=False, rounding=1e-9, width=18)
        # the bar only shows the scale: the image is coded to the colour map beforehand
        # (plots.show_values), so the bar does not recolour it at paint time
        self.graphics.addItem(self.colorbar, row=0, col=1)
        self.viewbox.menu.addAction("Export feature maps as PNG…", self.export_dialog)
        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._hover)
        scene.sigMouseClicked.connect(self._clicked)

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "unit")
        self.plot.setLabel("left", "value")
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, brush=(80, 140, 220))
        self.plot.addItem(self.bars)
        self.plot.scene().sigMouseMoved.connect(self._hover_bars)
        self.top = QListWidget(objectName="topClasses")
        self.top.setMaximumWidth(220)
        vector = QWidget()
        row = QHBoxLayout(vector)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.plot, 1)
        row.addWidget(self.top)

        self.message = QLabel(objectName="mapMessage", wordWrap=True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stack = QStackedWidget()
        self.paint_turns = PaintTurns(self)
        for page in (self.graphics, vector, self.message):
            self.stack.addWidget(page)
        self.vector_page = vector
        self.value_label = QLabel(objectName="valueLabel")
        self.value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel(objectName="mapStatus")
        # a fixed size: "computing…" coming and going on every pass must not ask the main
        # window to lay itself out again (which repaints all of it, about 30 ms)
        metrics = self.status.fontMetrics()
        self.status.setFixedSize(metrics.horizontalAdvance("computing…") + 4, metrics.height())
        bottom = QHBoxLayout()
        bottom.addWidget(self.value_label, 1)
        bottom.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        layout.addLayout(bottom)
        self.show_message(self.live.message or "Waiting for the first forward pass…")

    # ------------------------------------------------------------------ what to show
    def _set_title(self, text: str):
        self.title.set_title(text)

    def layer_name(self, report) -> str:
        return shown_layer(report, self.doc.selected)

    def _update_branches(self, report, name) -> str:
        items = branch_tensors(report, name)
        if name != self._branch_layer or [self.branch.itemData(k) for k in
                                          range(self.branch.count())] != [t for _, t in items]:
            self._branch_layer = name
            self.branch.clear()
            for label, tensor in items:
                self.branch.addItem(label, tensor)
        self.branch.setVisible(bool(items))
        return self.branch.currentData() if items else name

    def select_branch(self, tensor: str) -> None:
        index = self.branch.findData(tensor)
        if index >= 0:
            self.branch.setCurrentIndex(index)
            self.refresh()

    def _selection_changed(self, _name):
        self.channel.blockSignals(True)
        self.channel.setValue(-1)
        self.channel.blockSignals(False)
        self.shown_id = None  # drawn anew, with all channels
        self.refresh()

    def _partial(self, result):
        """A pass in flight published the layers done so far: show the maps as soon as
        the shown tensor is among them (until then the last maps stay, "computing…")."""
        name = self.layer_name(result.report)
        items = branch_tensors(result.report, name) if name else []
        tensor = self.branch.currentData() if items and name == self._branch_layer else name
        if tensor in result.activations:
            self.refresh()

    def refresh(self, *_):
        result = self.live.result
        if result is None:
            self.show_message(self.live.message or "Waiting for the first forward pass…")
            return
        name = self.layer_name(result.report)
        if not name:
            self.show_message("The network has no layers yet: add one from the palette.")
            return
        tensor = self._update_branches(result.report, name)
        maps = result.activations.get(tensor)
        if (result.id == self.shown_id and tensor == self.tensor and maps is self.maps
                and maps is not None):
            return  # on screen already (from the partial result of the same pass)
        if maps is None and not result.complete:
            return  # not computed yet: the last maps stay until it is
        if maps is None:
            info = result.report.by_name(name)
            why = f" (blocked by {info.blocked_by})" if info.blocked_by else ""
            self.show_message(f"{name} was not computed{why}.")
            return
        # new maps paint in a later turn of the event loop, once: painted at once they
        # painted two or three times in the batch that brought them (a first open's maps,
        # 266×477: 18 + 7 + 6 ms in one 44-76 ms stall)
        self.paint_turns.hold([self.stack])
        self.tensor, self.maps = tensor, maps
        kind = "input" if tensor == "input" else result.report.by_name(tensor).type
        # the shape before the type: a narrow title drops its last parts first
        self._set_title(f"<b>{tensor}</b> · {fmt_shape(maps.shape)} · {kind}")
        self.channel.blockSignals(True)
        self.channel.setMaximum(maps.shape[0] - 1)
        self.channel.blockSignals(False)
        if maps.shape[1:] == (1, 1):
            layers = self.doc.network.layers
            last = bool(layers) and tensor == layers[-1].name
            self._show_vector(maps[:, 0, 0], kind == "softmax", last)
        else:
            self._show_maps()
        self.shown_id = result.id
        self.displayed.emit(result.id)

    def show_message(self, text: str):
        self.mosaic, self.maps, self.shown = None, None, []
        self._set_title(message_header(self.doc))
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)
        self.value_label.clear()

    def _busy(self, busy: bool):
        self.status.setText("computing…" if busy else "")

    def mosaic_wish(self) -> tuple:
        """What the next result should come tiled as (plain values: read by the worker)."""
        return (self.doc.selected, self.tensor, self.scaling.currentIndex() == 0,
                self.channel.value(), self.max_pixels)

    # ------------------------------------------------------------------ maps
    def _redraw(self):
        if self.maps is not None and self.maps.shape[1:] != (1, 1):
            self._show_maps()

    def _show_maps(self):
        maps = self.maps
        channel = self.channel.value()
        if 0 <= channel < maps.shape[0]:
            chosen, self.shown = maps[channel:channel + 1], [channel]
        else:
            chosen, self.shown = maps, list(range(maps.shape[0]))
        per_channel = self.scaling.currentIndex() == 0
        key = (self.tensor, self.shown[0] if len(self.shown) == 1 else -1, per_channel,
               self.max_pixels)
        result = self.live.result
        premade = result.extra.get("mosaic") if result is not None else None
        if premade and premade[0] == key and result.activations.get(self.tensor) is maps:
            mosaic = premade[1]  # tiled by the worker with the pass: nothing to do here
        else:
            mosaic = tile(chosen, per_channel=per_channel, max_pixels=self.max_pixels)
        relayout = self.mosaic is None or self.mosaic.image.shape != mosaic.image.shape
        self.mosaic = mosaic
        show_values(self.image, mosaic.image, mosaic.levels, self.colours.currentText(),
                    mosaic.codes)
        self.colorbar.setLevels(mosaic.levels)
        self.colorbar.getAxis("right").setLabel(
            "each map: min → 0, max → 1" if per_channel else "value")
        self.stack.setCurrentWidget(self.graphics)
        if relayout:
            self.viewbox.autoRange(padding=0.01)
        self._mark_probe(self.live.probe)

    def _set_colours(self, name: str):
        self.colorbar.setColorMap(colour_map(name))
        self.image.setLookupTable(indexed_lut(name))

    def hit(self, scene_pos):
        """Scene position → (channel, y, x) of the full map under it, or None."""
        if self.stack.currentWidget() is not self.graphics:
            return None
        found = mosaic_at(self.viewbox, self.image, self.mosaic, scene_pos)
        if found is None:
            return None
        k, y, x = found
        return self.shown[k], y, x

    def scene_pos(self, channel: int, y: int, x: int) -> QPointF:
        """The scene position of the centre of map pixel (y, x) of ``channel``."""
        self.viewbox.updateMatrix()
        k = self.shown.index(channel)
        mx, my = self.mosaic.to_mosaic(k, y + 0.5, x + 0.5)
        return self.image.mapToScene(QPointF(mx, my))

    def _hover(self, scene_pos):
        found = self.hit(scene_pos)
        if found is None:
            self.value_label.clear()
            return
        c, y, x = found
        self.value_label.setText(f"{self.tensor} · channel {c} · y {y}, x {x} · "
                                 f"{self.maps[c, y, x]:.5g}")

    def _clicked(self, event):
        if event.button() == Qt.MouseButton.LeftButton and self.click_at(
                event.scenePos(), event.double()) is not None:
            event.accept()

    def click_at(self, scene_pos, double: bool = False):
        """A click on a map pixel probes it; a double-click enlarges (or un-enlarges) it."""
        found = self.hit(scene_pos)
        if found is None:
            return None
        c, y, x = found
        if double:
            self.channel.setValue(-1 if len(self.shown) == 1 else c)
            return found
        if self.tensor == "input":
            return None
        probe = Probe(self.tensor, c, y, x)
        self.live.set_probe(probe)
        return probe

    def _mark_probe(self, probe):
        if (probe is None or self.mosaic is None or probe.layer != self.tensor
                or probe.channel not in self.shown):
            self.marker.setVisible(False)
            return
        k = self.shown.index(probe.channel)
        mx, my = self.mosaic.to_mosaic(k, probe.y, probe.x)
        size = 1.0 / self.mosaic.step
        self.marker.setRect(mx, my, size, size)
        self.marker.setVisible(True)

    # ------------------------------------------------------------------ vectors
    def _show_vector(self, values: np.ndarray, softmax: bool, last: bool = False):
        """Bars; a softmax's probabilities, or the last layer's scores (as the softmax of
        them would make them), listed by class."""
        self.mosaic, self.shown = None, list(range(len(values)))
        self.bars.setOpts(x=np.arange(len(values)), height=values, width=0.8)
        self.plot.setLabel("left", "probability" if softmax else "value")
        self.plot.autoRange()
        listed = softmax or last
        self.top.setVisible(listed)
        self.top.clear()
        names = self.class_names(len(values)) if listed else ClassNames()
        # a few classes are named under their bars; otherwise the axis numbers them
        few = names.names and len(values) <= NAMED_BARS
        self.plot.getAxis("bottom").setTicks(
            [list(enumerate(names.names))] if few else None)
        self.plot.setLabel("bottom", "class" if listed else "unit")
        if not listed:
            return self.stack.setCurrentWidget(self.vector_page)
        p = values if softmax else softmax_forward(values[None])[0][0]
        order = np.argsort(p)[::-1][:TOP_CLASSES]
        self.top.addItem(f"top {len(order)} classes" + ("" if softmax else " (softmax)"))
        for k in order:
            self.top.addItem(f"{names.label(k)}: {p[k]:.1%}")
        if names.problem:
            self.top.addItem(names.problem)
            self.top.item(self.top.count() - 1).setToolTip(names.problem)
        self.stack.setCurrentWidget(self.vector_page)

    def class_names(self, count: int) -> ClassNames:
        return network_class_names(self.doc.path, self.doc.network.name, count)

    def top_classes(self) -> list[tuple[int, float]]:
        """(class, value) of the top classes listed: the softmax's, or the scores'."""
        if not self.top.isVisibleTo(self) or self.maps is None:
            return []
        values = self.maps[:, 0, 0]
        return [(int(k), float(values[k])) for k in np.argsort(values)[::-1][:TOP_CLASSES]]

    def _hover_bars(self, scene_pos):
        if self.stack.currentWidget() is not self.vector_page or self.maps is None:
            return
        k = int(round(self.plot.getViewBox().mapSceneToView(scene_pos).x()))
        if 0 <= k < self.maps.shape[0]:
            unit = (self.class_names(self.maps.shape[0]).label(k) if self.top.isVisibleTo(self)
                    else f"unit {k}")
            self.value_label.setText(f"{self.tensor} · {unit} · {self.maps[k, 0, 0]:.5g}")

    # ------------------------------------------------------------------ export
    def export_image(self):
        if self.stack.currentWidget() is self.vector_page:
            return self.plot.grab().toImage()
        if self.mosaic is None:
            raise ConvScopeError("no feature maps are shown")
        return enlarge(coloured(self.mosaic.codes, self.colours.currentText()))

    def export_dialog(self):
        return ask_and_save(self, "Export feature maps as PNG", f"{self.tensor or 'maps'}.png",
                            self.export_image)
