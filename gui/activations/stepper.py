"""The kernel window on the layer's own input, and a step-through of the convolution.

Left: the map the clicked layer reads (the previous layer's output, or the input image),
the kernel's window on it and the weights painted on their taps. Right: the numbers of that
one output value: window, weights, products, the sums and the bias, and the value the
forward pass stored. Next / previous / play slide the kernel one output pixel at a time,
in reading order, as the notes' animated demo does (keys: → ← and space).

Backward (the "pass" combo): the same for the layer's gradients in one backward pass of a
class score (gui.activations.gradients runs it off the GUI thread): dx at one input pixel
(conv: the dout values the flipped kernel meets there; pool: what each covering window
routes back), dW at one kernel tap, db of one filter; each checked against the pass's value.
The stepping then moves the input pixel (dx), the tap (dW) or the filter (db).
"""

from __future__ import annotations

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.live.images import box_text, display_image
from convscope.core.live.steps import back_kinds, back_step_for
from convscope.core.live.tensors import shown_layer
from convscope.gui.lazy import Follow
from convscope.gui.plots import WEIGHT_COLOURS, colour_map, image_box, pg
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
from .gradients import GradientPasses, symmetric_levels
from .overlay import WindowOverlay, footprint, weight_picture

PLAY_INTERVAL_MS = 150
CROP = 2048  # the most of a map drawn at once under the kernel window
PAD_COLOUR = QColor(200, 200, 200)
MODES = ("inputs x", "weights w", "products w·x")
FORWARD = "forward"
BACK_LABELS = {"dx": "backward: dx", "dW": "backward: dW", "db": "backward: db",
               "pool dx": "backward: dx"}
MAX_SIDE = 24  # the most rows or columns of a backward grid shown (around its largest term)
PICK_ANOTHER = ("<i>Click a pixel in the Feature maps panel to pick another output pixel (◀ ▶ "
                "step through them).</i>")


class KernelWindowView(QWidget):
    def __init__(self, document, controller, parent=None, passes=None):
        super().__init__(parent)
        self.setObjectName("kernelWindowView")
        self.doc, self.live = document, controller
        self.passes = passes or GradientPasses(document, controller)
        self.foot = None  # the Footprint shown
        self.back = None  # the BackStep shown (backward mode)
        self.back_at = None  # (layer, kind, index) of the backward step
        self._source_key = None  # (result id, source, channel, colour) drawn last
        self._build()
        self.player = QTimer(self, interval=PLAY_INTERVAL_MS)
        self.player.timeout.connect(self._play_tick)
        # the probe moved or a pass came in: redrawn while on screen (gui.lazy)
        self._follow = Follow(self, [controller.probeChanged, controller.resultReady],
                              lambda: self.show_probe(self.live.probe), later=False)
        controller.failed.connect(lambda _text: self.show_probe(None))
        self.passes.ready.connect(lambda _g: self.backward_kind() and self._draw())
        self._classes = Follow(self, self.passes.classesChanged, self._fill_classes,
                               later=False)

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
        self.direction = QComboBox(objectName="stepPass")
        self.direction.setMinimumContentsLength(len(BACK_LABELS["dx"]))
        self.direction.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.direction.setToolTip("Forward: one output value. Backward: the layer's gradients "
                                  "in one backward pass of a class score")
        self.direction.addItem(FORWARD, FORWARD)
        self.direction.currentIndexChanged.connect(lambda _i: self._direction_changed())
        self.back_class = QComboBox(objectName="stepClass")
        self.back_class.setToolTip("The class score the backward pass starts from (a one-hot "
                                   "at the last layer's output)")
        self.back_class.activated.connect(self.passes.set_class)
        self.part = QSpinBox(objectName="stepPart", minimum=0, maximum=0)
        self.part.setToolTip("dx: the filter whose dout and flipped kernel the table shows")
        self.part.valueChanged.connect(lambda _v: self._draw())
        buttons = QHBoxLayout()
        for widget in (self.direction, self.previous, self.next, self.play, self.mode):
            buttons.addWidget(widget)
        self.back_bar = QWidget()
        row = QHBoxLayout(self.back_bar)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (QLabel("score of"), self.back_class, QLabel("filter"), self.part):
            row.addWidget(widget)
        self.back_bar.setVisible(False)
        controls.insertWidget(controls.indexOf(self.follow) + 1, self.back_bar)
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
            self.foot, self.back = None, None
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
        self._fill_directions(foot)
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
        if self.backward_kind():
            self._show_back()
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
            self.image.setImage(picture, levels=levels, autoLevels=False, lut=None)
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
        if self.backward_kind():
            self._fill_back_table()
            return
        step = self.foot.step if self.foot is not None else None
        if step is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            return
        channel = self.channel.value()
        k = step.channels.index(channel) if channel in step.channels else 0
        mode = self.mode.currentIndex() if step.weights is not None else 0
        grids = [step.window, step.weights, step.products]
        h, w = self.live.result.activations[self.foot.source].shape[1:]
        inside = (((step.taps_y >= 0) & (step.taps_y < h))[:, None]
                  & ((step.taps_x >= 0) & (step.taps_x < w))[None, :])
        self._paint_table(grids[mode][k], [str(int(v)) for v in step.taps_y],
                          [str(int(v)) for v in step.taps_x],
                          inside if mode != 1 else np.ones_like(inside), None)

    def _paint_table(self, values, row_labels, col_labels, inside, hole_tip):
        """The grid of numbers, coloured by sign; cells where ``inside`` is False grey (the
        padding, or with ``hole_tip``, where a backward grid reads nothing)."""
        rows, cols = values.shape
        if (self.table.rowCount(), self.table.columnCount()) != (rows, cols):
            self.table.clear()
            self.table.setRowCount(rows)
            self.table.setColumnCount(cols)
        self.table.setHorizontalHeaderLabels(col_labels)
        self.table.setVerticalHeaderLabels(row_labels)
        scale = float(np.abs(values[np.isfinite(values)]).max(initial=0.0)) or 1.0
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
                if not inside[i, j]:
                    item.setBackground(PAD_COLOUR)
                    item.setToolTip(hole_tip or "padding: the kernel reads "
                                    + ("−∞ (max pool)" if not np.isfinite(v) else "0") + " here")
                elif np.isfinite(v) and v:
                    strength = int(90 * min(abs(v) / scale, 1.0))
                    item.setBackground(QColor(255, 255 - strength, 255 - strength) if v > 0
                                       else QColor(255 - strength, 255 - strength, 255))
                else:
                    item.setBackground(QColor(255, 255, 255))

    # ------------------------------------------------------------------ backward
    def backward_kind(self) -> str:
        """The backward step shown ("dx", "dW", "db", "pool dx"), or "" going forward."""
        kind = self.direction.currentData()
        return "" if kind in (None, FORWARD) else kind

    def set_backward(self, kind: str) -> None:
        """Choose the pass as the combo does ("" or "forward": forward)."""
        self.direction.setCurrentIndex(max(self.direction.findData(kind or FORWARD), 0))

    def _fill_directions(self, foot):
        """The passes the layer has: forward, and its backward steps (conv, pool)."""
        kinds = back_kinds(foot.info.layer) if foot.step is not None else ()
        wanted = [FORWARD, *kinds]
        if [self.direction.itemData(k) for k in range(self.direction.count())] == wanted:
            return
        current = self.backward_kind()
        alike = {"dx": "pool dx", "pool dx": "dx"}.get(current)  # dx on the next layer too
        pick = current if current in kinds else alike if alike in kinds else FORWARD
        self.direction.blockSignals(True)
        self.direction.clear()
        for kind in wanted:
            self.direction.addItem(BACK_LABELS.get(kind, kind), kind)
        self.direction.setCurrentIndex(wanted.index(pick))
        self.direction.blockSignals(False)
        if pick != (current or FORWARD):
            self._direction_changed(redraw=False)

    def _direction_changed(self, redraw: bool = True):
        kind = self.backward_kind()
        self.play.setChecked(False)
        self.back_bar.setVisible(bool(kind))
        for forward_only in (self.colour, self.show_weights):  # no weights drawn backward
            forward_only.setVisible(not kind)
        self.back = None
        if not kind:
            self._set_modes(MODES, 2)
        self.passes.want(self, bool(kind))
        if redraw:
            self._source_key = None  # the forward picture must be drawn again
            self._draw(reframe=True)

    def _set_modes(self, names, index):
        if [self.mode.itemText(k) for k in range(self.mode.count())] == list(names):
            return
        self.mode.blockSignals(True)
        self.mode.clear()
        self.mode.addItems(list(names))
        self.mode.setCurrentIndex(index)
        self.mode.blockSignals(False)

    def _fill_classes(self):
        labels = self.passes.class_labels()
        self.back_class.blockSignals(True)
        if [self.back_class.itemText(k) for k in range(self.back_class.count())] != labels:
            self.back_class.clear()
            self.back_class.addItems(labels)
        if labels:
            self.back_class.setCurrentIndex(self.passes.current_class())
        self.back_class.blockSignals(False)

    def _show_back(self):
        result, foot, kind = self.live.result, self.foot, self.backward_kind()
        grads = self.passes.current()
        if grads is None:
            self.back = None
            self.info.setText(f"<b>{foot.layer}</b>: running the backward pass of the chosen "
                              "class score…")
            self.sums.clear()
            self._fill_back_table()
            self.passes.request()
            return
        layer = foot.info.layer
        x_in, out = result.activations[foot.source], result.activations[foot.layer]
        index = self._back_index(kind, layer, x_in, out)
        step = back_step_for(layer, kind, grads, result.network.weights, x_in, out, index)
        moved = self.back is None or (self.back.layer, self.back.kind, self.back.index) != (
            step.layer, step.kind, step.index)
        self.back_at, self.back = (foot.layer, kind, index), step
        self._set_modes(step.grids, len(step.grids) - 1)
        self.part.blockSignals(True)
        self.part.setMaximum(len(step.parts) - 1)
        if moved:  # the filter that adds most, as the forward step picks its channel
            self.part.setValue(int(np.argmax(np.abs(step.per_part))))
        self.part.setEnabled(len(step.parts) > 1)
        self.part.blockSignals(False)
        self._draw_back_picture(step, grads)
        self.info.setText(self._back_description(step, grads))
        self.sums.setText(self._back_sum_text(step))
        self._fill_back_table()

    def _back_index(self, kind, layer, x_in, out) -> tuple:
        """Where the backward step is: kept while stepping, else from the probe."""
        at, probe = self.back_at, self.live.probe
        index = at[2] if at is not None and at[:2] == (layer.name, kind) else None
        c_in, h, w = x_in.shape
        if kind in ("dx", "pool dx"):
            c = min(self.channel.value(), c_in - 1)
            if index is None:  # the top left of the probe's window, inside the map
                (top, _), (left, _) = self.foot.window
                return c, min(max(top, 0), h - 1), min(max(left, 0), w - 1)
            return c, min(index[1], h - 1), min(index[2], w - 1)
        f = min(probe.channel, out.shape[0] - 1)
        if kind == "db":
            return (min(index[0], out.shape[0] - 1),) if index is not None else (f,)
        per_group = c_in // layer.values["groups"]
        first = (f // (out.shape[0] // layer.values["groups"])) * per_group
        k = self.channel.value() - first
        u, v = index[2:] if index is not None else (0, 0)
        return f, k if 0 <= k < per_group else 0, u, v

    def _back_step_by(self, delta: int):
        if self.back_at is None or self.foot is None or self.live.result is None:
            return None
        name, kind, index = self.back_at
        if kind in ("dx", "pool dx"):
            _, h, w = self.live.result.activations[self.foot.source].shape
            c, i, j = index
            flat = (i * w + j + delta) % (h * w)
            moved = (c, flat // w, flat % w)
        elif kind == "dW":
            f, k, u, v = index
            kh, kw = self.live.result.network.weights[f"{name}.weight"].shape[2:]
            flat = (u * kw + v + delta) % (kh * kw)
            moved = (f, k, flat // kw, flat % kw)
        else:
            moved = ((index[0] + delta) % self.live.result.activations[name].shape[0],)
        self.back_at = (name, kind, moved)
        self._show_back()
        return moved

    def _draw_back_picture(self, step, grads):
        """The map the step's first factor comes from, with the part the step reads boxed:
        dout (dx, db, pool) or the layer's input (dW)."""
        result, foot = self.live.result, self.foot
        if step.kind == "dW":
            maps, channel = result.activations[foot.source], step.parts[0]
            box = ((int(step.rows.min()), int(step.rows.max())),
                   (int(step.cols.min()), int(step.cols.max())))
        else:
            maps = grads.douts[foot.layer]
            channel = (step.parts[min(self.part.value(), len(step.parts) - 1)]
                       if step.kind == "dx" else step.parts[0])
            if step.kind == "dx":  # the dout positions the flipped kernel covers
                box = ((int(np.ceil(step.rows.min())), int(np.floor(step.rows.max()))),
                       (int(np.ceil(step.cols.min())), int(np.floor(step.cols.max()))))
            else:
                box = ((int(step.rows.min()), int(step.rows.max())),
                       (int(step.cols.min()), int(step.cols.max())))
        top, left = crop_origin(box, maps.shape[1:], None)
        picture = maps[channel, top:top + CROP, left:left + CROP]
        if step.kind == "dW":  # the input, as the forward step shows it
            lo, hi = float(picture.min()), float(picture.max())
            levels, lut = (lo, hi if hi > lo else lo + 1.0), None
        else:  # a gradient: white is 0, red positive, blue negative
            levels, lut = symmetric_levels(picture), _gradient_lut()
        self.image.setImage(picture, levels=levels, autoLevels=False, lut=lut)
        self.image.setRect(QRectF(left, top, picture.shape[1], picture.shape[0]))
        self._source_key = None  # the forward picture must be drawn again
        self.overlay.show(box, None, None, maps.shape[1:])
        (t, b), (l, r) = box
        margin = max(b - t + 1, r - l + 1, 4)
        self.viewbox.setRange(QRectF(l - margin, t - margin, r - l + 1 + 2 * margin,
                                     b - t + 1 + 2 * margin), padding=0)

    def _back_description(self, step, grads) -> str:
        label = self.back_class.currentText() or f"class {grads.channel}"
        head = f"<b>{step.layer}</b> backward from the score of {label} = {grads.score:.4g}. "
        if step.kind == "dx":
            c, i, j = step.index
            return head + (f"dx at input pixel (channel {c}, y {i}, x {j}) = Σ over the filters "
                           "of the dout values the flipped kernel meets there × its taps: a "
                           "full convolution of dout with the flipped kernel (grey: a stride "
                           "hole or past dout's edge). Left: the filter's dout. ◀ ▶ move the "
                           "pixel.")
        if step.kind == "dW":
            f, k, u, v = step.index
            return head + (f"dW of filter {f}, input channel {step.parts[0]}, tap (row {u}, col "
                           f"{v}) = Σ over output positions of the input under the tap × dout: "
                           "a correlation of the input with dout. Left: the input, the tap's "
                           "positions boxed. ◀ ▶ move the tap.")
        if step.kind == "db":
            return head + (f"db of filter {step.index[0]} = Σ of the filter's dout. ◀ ▶ move "
                           "the filter.")
        c, i, j = step.index
        mode = self.foot.info.layer.values["mode"]
        how = {"max": "all of its dout to its switch (its first largest value; share 1 "
                      "where that is this pixel)",
               "avg": "dout / k to each of its k values",
               "l2": "dout · x / out to each value x"}[mode]
        return head + (f"dx at input pixel (channel {c}, y {i}, x {j}): each {mode} window "
                       f"covering it (rows, columns: the window's output position) routes "
                       f"{how}. Left: dout, the windows boxed. ◀ ▶ move the pixel.")

    @staticmethod
    def _back_sum_text(step) -> str:
        check = "✓ the same" if step.agrees else "✗ differs"
        tail = f"<br>backward pass: {step.backward:.6g} {check}"
        if step.kind == "dx":
            parts = [f"filter {f}: {s:+.5g}" for f, s in zip(step.parts, step.per_part)]
            if len(parts) > 6:
                order = np.argsort(-np.abs(step.per_part))[:4]
                parts = [f"filter {step.parts[k]}: {step.per_part[k]:+.5g}" for k in order] \
                    + [f"… and {len(parts) - 4} more filters"]
            return (f"Σ dout · flipped w per filter: {', '.join(parts)}<br>"
                    f"dx = <b>{step.total:.6g}</b>" + tail)
        name = {"dW": "dW", "db": "db", "pool dx": "dx"}[step.kind]
        return f"{step.rule}: {name} = <b>{step.total:.6g}</b>" + tail

    def _fill_back_table(self):
        step = self.back
        if step is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            return
        name = self.mode.currentText()
        grid = step.grids[name if name in step.grids else list(step.grids)[-1]]
        part = min(self.part.value(), grid.shape[0] - 1)
        focus = step.grids.get("products", step.grids["dout"])[min(part, grid.shape[0] - 1)]
        rows, cols = _around(np.abs(focus))
        tip = ("no dout here: a stride hole, or past the edge of dout" if step.kind == "dx"
               else "padding: the input is 0 here")
        self._paint_table(grid[part][rows][:, cols], [_axis_label(v) for v in step.rows[rows]],
                          [_axis_label(v) for v in step.cols[cols]],
                          step.inside[rows][:, cols], tip)

    # ------------------------------------------------------------------ stepping
    def step_by(self, delta: int):
        """Move the probe ``delta`` output pixels in reading order (wrapping round); in
        backward mode, the backward step instead (returns its new index)."""
        if self.backward_kind():
            return self._back_step_by(delta)
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
        if self.backward_kind():
            before = self.back_at[2] if self.back_at else None
            moved = self.step_by(1)
            if moved is None or (before is not None and moved < before):
                self.play.setChecked(False)  # came round: every value is done
            return
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


def _gradient_lut():
    """Blue–white–red: a gradient's sign matters, as a weight's does."""
    return colour_map(WEIGHT_COLOURS).getLookupTable(nPts=256)


def _around(weights: np.ndarray) -> tuple[slice, slice]:
    """At most MAX_SIDE rows and columns of a grid, around its largest value."""
    centre = np.unravel_index(int(np.argmax(weights)), weights.shape)

    def span(n, at):
        start = min(max(at - MAX_SIDE // 2, 0), max(n - MAX_SIDE, 0))
        return slice(start, start + MAX_SIDE)

    return span(weights.shape[0], centre[0]), span(weights.shape[1], centre[1])


def _axis_label(v) -> str:
    """A grid row or column: its position, or (a stride hole) the fraction it falls at."""
    return str(int(v)) if float(v).is_integer() else f"({float(v):g})"


def _number(v: float) -> str:
    """A table cell: short, no "-0", small values in e-notation so they fit."""
    if not np.isfinite(v):
        return "−∞" if v < 0 else "∞"
    if v == 0:
        return "0"
    if abs(v) < 0.01 or abs(v) >= 1e4:
        return f"{v:.1e}"
    return f"{v:.3g}"
