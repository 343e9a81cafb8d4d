"""The kernel window on the layer's own input, and a step-through of the convolution.

Left: the map the clicked layer reads (the previous layer's output, or the input image),
the kernel's window on it and the weights painted on their taps. Right: the numbers of that
one output value: window, weights, products, the sums and the bias, and the value the
forward pass stored. Next / previous / play slide the kernel one output pixel at a time,
in reading order, as the notes' animated demo does (keys: → ← and space).
"""

from __future__ import annotations

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.live.images import box_text, display_image
from convscope.core.live.tensors import shown_layer
from convscope.gui.plots import image_box, pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .controller import Probe
from .export import ask_and_save
from .overlay import WindowOverlay, footprint, weight_picture

PLAY_INTERVAL_MS = 150
CROP = 2048  # the most of a map drawn at once under the kernel window
PAD_COLOUR = QColor(200, 200, 200)
MODES = ("inputs x", "weights w", "products w·x")
PICK_ANOTHER = ("<i>Click a pixel in the Feature maps panel to pick another output pixel (◀ ▶ "
                "step through them).</i>")


class KernelWindowView(QWidget):
    def __init__(self, document, controller, parent=None):
        super().__init__(parent)
        self.setObjectName("kernelWindowView")
        self.doc, self.live = document, controller
        self.foot = None  # the Footprint shown
        self._source_key = None  # (result id, source, channel, colour) drawn last
        self._build()
        self.player = QTimer(self, interval=PLAY_INTERVAL_MS)
        self.player.timeout.connect(self._play_tick)
        controller.probeChanged.connect(self.show_probe)
        controller.resultReady.connect(lambda _r: self.show_probe(self.live.probe))
        controller.failed.connect(lambda _text: self.show_probe(None))

    def _build(self):
        self.info = QLabel(objectName="windowInfo", wordWrap=True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.channel = QSpinBox(objectName="windowChannel", minimum=0, maximum=0)
        self.channel.setToolTip("The input channel shown under the window (and in the table)")
        self.channel.valueChanged.connect(lambda _v: self._draw())
        self.colour = QCheckBox("colour picture", objectName="windowColour", checked=True)
        self.colour.setToolTip("Show the RGB input and the RGB weights, not one channel")
        self.colour.toggled.connect(lambda _on: self._draw())
        self.show_weights = QCheckBox("weights", objectName="windowWeights", checked=True)
        self.show_weights.toggled.connect(lambda _on: self._draw())
        self.follow = QCheckBox("follow", objectName="windowFollow", checked=True)
        self.follow.setToolTip("Keep the view on the window as it moves")
        self.follow.toggled.connect(lambda _on: self._draw(reframe=True))
        export = QToolButton(text="PNG", toolTip="Export the kernel window view as PNG")
        export.clicked.connect(self.export_dialog)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("input channel"))
        controls.addWidget(self.channel)
        controls.addWidget(self.colour)
        controls.addWidget(self.show_weights)
        controls.addWidget(self.follow)
        controls.addStretch(1)
        controls.addWidget(export)

        self.graphics = pg.GraphicsLayoutWidget()
        self.viewbox, self.image = image_box(self.graphics, menu=True)
        self.overlay = WindowOverlay(self.viewbox)
        self.viewbox.menu.addAction("Export kernel window as PNG…", self.export_dialog)
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(controls)
        column.addWidget(self.graphics, 1)

        self.previous = QPushButton("◀", objectName="stepPrevious", toolTip="Previous (←)")
        self.next = QPushButton("▶", objectName="stepNext", toolTip="Next output pixel (→)")
        self.play = QPushButton("play", objectName="stepPlay", checkable=True,
                                toolTip="Slide the kernel over the whole map (space)")
        self.previous.clicked.connect(lambda: self.step_by(-1))
        self.next.clicked.connect(lambda: self.step_by(1))
        self.play.toggled.connect(self._play_toggled)
        self.mode = QComboBox(objectName="stepMode")
        self.mode.addItems(MODES)
        self.mode.setCurrentIndex(2)
        self.mode.currentIndexChanged.connect(lambda _i: self._fill_table())
        buttons = QHBoxLayout()
        for widget in (self.previous, self.next, self.play, self.mode):
            buttons.addWidget(widget)
        self.table = QTableWidget(objectName="stepTable")
        self.table.horizontalHeader().setDefaultSectionSize(66)
        self.sums = QLabel(objectName="stepSum", wordWrap=True)
        self.sums.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(buttons)
        column.addWidget(self.table, 1)
        column.addWidget(self.sums)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.info)
        layout.addWidget(split, 1)
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for key, slot in ((Qt.Key.Key_Right, lambda: self.step_by(1)),
                          (Qt.Key.Key_Left, lambda: self.step_by(-1)),
                          (Qt.Key.Key_Space, self.play.toggle)):
            QShortcut(QKeySequence(key), self, activated=slot, context=context)
        self.show_probe(None)

    # ------------------------------------------------------------------ following the probe
    def show_probe(self, probe):
        result = self.live.result
        foot = footprint(result, probe) if probe is not None and result is not None else None
        if foot is None:
            self.foot = None
            self.overlay.clear()
            self.image.clear()
            self._source_key = None
            self.info.setText("Select a layer with feature maps, then click a pixel in the "
                              "Feature maps panel to see the window its kernel reads, or press "
                              "▶ to slide the kernel over the map.")
            self.table.clear()
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self.sums.clear()
            return
        new_layer = self.foot is None or (self.foot.layer, self.foot.step and
                                          self.foot.step.channel) != (foot.layer, foot.step and
                                                                      foot.step.channel)
        self.foot = foot
        source = result.activations[foot.source]
        self.channel.blockSignals(True)
        self.channel.setMaximum(source.shape[0] - 1)
        if new_layer:
            self.channel.setValue(self._best_channel(foot, probe))
        self.channel.blockSignals(False)
        self.colour.setEnabled(foot.source == "input" and source.shape[0] == 3)
        self._draw()

    @staticmethod
    def _best_channel(foot, probe) -> int:
        """The input channel worth looking at first: the one that adds most to the sum."""
        step = foot.step
        if step is None:
            return 0
        if step.per_channel is None:
            return step.channels[0]
        return step.channels[int(np.argmax(np.abs(step.per_channel)))]

    def _draw(self, reframe: bool = False):
        foot, result = self.foot, self.live.result
        if foot is None or result is None:
            return
        source = result.activations[foot.source]
        channel = min(self.channel.value(), source.shape[0] - 1)
        colour = self.colour.isEnabled() and self.colour.isChecked()
        top, left = crop_origin(foot.window, source.shape[1:], self._source_key)
        key = (result.id, foot.source, channel, colour, top, left)
        if key != self._source_key:  # the picture under the window changes rarely
            self._source_key = key
            region = source[:, top:top + CROP, left:left + CROP]
            if colour:
                picture = display_image(region, self.doc.network.input)
                levels = (0.0, 1.0)
            else:
                picture = region[channel]
                lo, hi = float(picture.min()), float(picture.max())
                levels = (lo, hi if hi > lo else lo + 1.0)
            self.image.setImage(picture, levels=levels, autoLevels=False)
            self.image.setRect(QRectF(left, top, picture.shape[1], picture.shape[0]))
            reframe = True
        step = foot.step
        weights = None
        if self.show_weights.isChecked() and step is not None and step.weights is not None:
            if colour:
                weights = weight_picture(step, None)
            elif channel in step.channels:
                weights = weight_picture(step, step.channels.index(channel))
        field = foot.field if foot.source == "input" else None
        self.overlay.show(foot.window, field, weights, source.shape[1:])
        if self.follow.isChecked():
            (t, b), (l, r) = foot.window
            margin = max(b - t + 1, r - l + 1, 4)
            self.viewbox.setRange(QRectF(l - margin, t - margin, r - l + 1 + 2 * margin,
                                         b - t + 1 + 2 * margin), padding=0)
        elif reframe:
            self.viewbox.autoRange(padding=0.05)
        self._describe(foot, source.shape)
        self._fill_table()

    def _describe(self, foot, source_shape):
        step, info = foot.step, foot.info
        probe = self.live.probe
        where = "the input image" if foot.source == "input" else f"{foot.source}'s maps"
        text = (f"<b>{foot.layer}</b> channel {probe.channel} at (y {probe.y}, x {probe.x}) "
                f"reads {where}, {box_text(foot.window)}")
        if info.window:
            (kh, sh, ph), (kw, sw, pw) = info.window
            text += (f" — window {kh}×{kw} (dilation included), stride {sh}×{sw}, "
                     f"padding {ph}×{pw}")
        (t, b), (l, r) = foot.window
        if t < 0 or l < 0 or b >= source_shape[1] or r >= source_shape[2]:
            text += "; the part outside the map is zero padding"
        text += f". Receptive field on the input: {box_text(foot.field)}. {PICK_ANOTHER}"
        self.info.setText(text)
        self.sums.setText(self._sum_text(step, foot))

    @staticmethod
    def _sum_text(step, foot) -> str:
        if step is None:
            return (f"A {foot.info.type} block: its output adds or stacks its branches; pick a "
                    "branch's layer to see one kernel's arithmetic.")
        check = ("✓ the same" if step.agrees else "✗ differs")
        if step.kind == "conv":
            parts = [f"channel {c}: {s:+.5g}" for c, s in zip(step.channels, step.per_channel)]
            if len(parts) > 6:
                order = np.argsort(-np.abs(step.per_channel))[:4]
                parts = [f"channel {step.channels[k]}: {step.per_channel[k]:+.5g}"
                         for k in order] + [f"… and {len(parts) - 4} more channels"]
            return (f"Σ w·x per input channel: {', '.join(parts)}<br>"
                    f"sum {step.per_channel.sum():.6g} + bias {step.bias:.6g} = "
                    f"<b>{step.total:.6g}</b><br>"
                    f"forward pass: {step.forward:.6g} {check}")
        if step.kind == "pool":
            return (f"{step.rule} = <b>{step.total:.6g}</b><br>"
                    f"forward pass: {step.forward:.6g} {check}")
        return (f"{step.rule}: in {step.window.ravel()[0]:.6g} → out "
                f"<b>{step.forward:.6g}</b>")

    def _fill_table(self):
        step = self.foot.step if self.foot is not None else None
        if step is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            return
        channel = self.channel.value()
        k = step.channels.index(channel) if channel in step.channels else 0
        mode = self.mode.currentIndex() if step.weights is not None else 0
        grids = [step.window, step.weights, step.products]
        values = grids[mode][k]
        rows, cols = values.shape
        if (self.table.rowCount(), self.table.columnCount()) != (rows, cols):
            self.table.clear()
            self.table.setRowCount(rows)
            self.table.setColumnCount(cols)
        self.table.setHorizontalHeaderLabels([str(int(v)) for v in step.taps_x])
        self.table.setVerticalHeaderLabels([str(int(v)) for v in step.taps_y])
        scale = float(np.abs(values[np.isfinite(values)]).max(initial=0.0)) or 1.0
        h, w = self.live.result.activations[self.foot.source].shape[1:]
        inside = (((step.taps_y >= 0) & (step.taps_y < h))[:, None]
                  & ((step.taps_x >= 0) & (step.taps_x < w))[None, :])
        for i in range(rows):
            for j in range(cols):
                v = values[i, j]
                item = self.table.item(i, j)
                if item is None:  # cells are made once and reused while stepping
                    item = QTableWidgetItem()
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.table.setItem(i, j, item)
                item.setText(_number(v))
                item.setToolTip("")
                if mode != 1 and not inside[i, j]:
                    item.setBackground(PAD_COLOUR)
                    item.setToolTip("padding: the kernel reads "
                                    + ("−∞ (max pool)" if not np.isfinite(v) else "0") + " here")
                elif np.isfinite(v) and v:
                    strength = int(90 * min(abs(v) / scale, 1.0))
                    item.setBackground(QColor(255, 255 - strength, 255 - strength) if v > 0
                                       else QColor(255 - strength, 255 - strength, 255))
                else:
                    item.setBackground(QColor(255, 255, 255))

    # ------------------------------------------------------------------ stepping
    def step_by(self, delta: int) -> Probe | None:
        """Move the probe ``delta`` output pixels in reading order (wrapping round)."""
        result = self.live.result
        if result is None:
            return None
        probe = self.live.probe
        if probe is None:
            name = shown_layer(result.report, self.doc.selected)
            if name == "input" or result.activations.get(name) is None:
                return None  # the input has no kernel: nothing to step through
            probe = Probe(name, 0, 0, 0)
            delta = 0
        h, w = result.activations[probe.layer].shape[1:]
        index = (probe.y * w + probe.x + delta) % (h * w)
        moved = Probe(probe.layer, probe.channel, index // w, index % w)
        self.live.set_probe(moved)
        return moved

    def _play_toggled(self, on: bool):
        self.play.setText("pause" if on else "play")
        if on:
            self.player.start()
        else:
            self.player.stop()

    def _play_tick(self):
        probe = self.live.probe
        moved = self.step_by(1)
        if moved is None or (probe is not None and (moved.y, moved.x) < (probe.y, probe.x)):
            self.play.setChecked(False)  # came round to the start: the whole map is done

    # ------------------------------------------------------------------ export
    def export_image(self):
        if self.foot is None:
            raise ConvScopeError("no kernel window is shown: click a feature map pixel first")
        return self.graphics.grab().toImage()

    def export_dialog(self):
        name = self.foot.layer if self.foot else "window"
        return ask_and_save(self, "Export kernel window as PNG", f"{name}-window.png",
                            self.export_image)


def crop_origin(window, size, shown_key) -> tuple[int, int]:
    """(top, left) of the CROP×CROP part of a map drawn under the window: (0, 0) for a map
    that fits (all of it is drawn); for a larger one (a 10000×10000 input: seconds to draw)
    the part around the window, kept while the window stays inside it."""
    h, w = size
    (t, b), (l, r) = window
    if shown_key is not None:  # the part drawn now, if the window is still inside it
        top, left = shown_key[-2:]
        if top <= max(t, 0) and b < top + CROP and left <= max(l, 0) and r < left + CROP:
            return top, left

    def start(lo, hi, length):
        return int(min(max((lo + hi) // 2 - CROP // 2, 0), max(length - CROP, 0)))

    return start(t, b, h), start(l, r, w)


def _number(v: float) -> str:
    """A table cell: short, no "-0", small values in e-notation so they fit."""
    if not np.isfinite(v):
        return "−∞" if v < 0 else "∞"
    if v == 0:
        return "0"
    if abs(v) < 0.01 or abs(v) >= 1e4:
        return f"{v:.1e}"
    return f"{v:.3g}"
