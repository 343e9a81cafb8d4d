"""Gradients of one class score: one backward pass per forward result (core.live.gradients),
run on the live controller's worker thread, and a panel that shows the selected layer's
output gradient (dout, tiled as the feature maps are) and its weight gradient (dW, tiled as
the kernels are), each with its min, max and mean |value|.

The pass runs only while a view wants it (the panel on screen, the kernel window stepping
backward): each forward result then gets one backward job, a stale one is dropped.
"""

from __future__ import annotations

import numpy as np
from convscope.core.labels import network_class_names
from convscope.core.live.gradients import class_gradients, statistics, top_class
from convscope.core.live.mosaic import tile
from convscope.core.live.tensors import shown_layer
from convscope.gui.dockpanel import TitleLabel
from convscope.gui.lazy import Follow, screen_watch
from convscope.gui.plots import WEIGHT_COLOURS, colour_map, image_box, pg, show_values
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .controller import message_header

BACKWARD = "backward"  # the job kind on the live controller's runner


class GradientPasses(QObject):
    """The backward pass of the chosen class score for the result on screen."""

    ready = Signal(object)  # ClassGradients of the result on screen
    failed = Signal(str)
    classesChanged = Signal()  # the class list or the chosen class changed

    def __init__(self, document, controller, parent=None):
        super().__init__(parent or controller)
        self.doc, self.live = document, controller
        self.channel: int | None = None  # the chosen class; None: the top class
        self.grads = None  # ClassGradients of (result id, class) self.key
        self.key = None
        self.pending = None  # the key of the job in flight
        self._wanted: set = set()
        self.runner = controller.runner
        self.runner.finished.connect(lambda kind, out: kind == BACKWARD and self._done(out))
        self.runner.failed.connect(lambda kind, text: kind == BACKWARD and self._failed(text))
        controller.resultReady.connect(lambda _r: self._new_result())
        # an edit or a new image makes the pass in flight stale: it stops between layers
        for signal in (document.changed, document.imageChanged):
            signal.connect(self._cancel)

    # ------------------------------------------------------------------ classes
    def scores(self) -> np.ndarray | None:
        """(K, H, W) the last layer's output in the result on screen."""
        result = self.live.result
        if result is None or not result.report.layers:
            return None
        return result.activations.get(result.report.top[-1].name)

    def class_labels(self) -> list[str]:
        scores = self.scores()
        if scores is None:
            return []
        names = network_class_names(self.doc.path, self.doc.network.name, scores.shape[0])
        return [names.label(k) for k in range(scores.shape[0])]

    def current_class(self) -> int:
        scores = self.scores()
        if scores is None:
            return 0
        if self.channel is not None and self.channel < scores.shape[0]:
            return self.channel
        return top_class(scores)

    def set_class(self, channel: int) -> None:
        self.channel = channel
        self.classesChanged.emit()
        self.request()

    # ------------------------------------------------------------------ jobs
    def want(self, who, on: bool = True) -> None:
        """A view needs the gradients (``on``) or no longer does."""
        (self._wanted.add if on else self._wanted.discard)(who)
        if on:
            self.request()

    def _new_result(self):
        self.classesChanged.emit()
        if self._wanted:
            self.request()

    def request(self) -> int | None:
        """The gradients of the result on screen: at once if they are made, else a job."""
        result = self.live.result
        if result is None or self.scores() is None:
            return None
        key = (result.id, self.current_class())
        if key == self.key:
            self.ready.emit(self.grads)
            return None
        if key == self.pending:
            return None  # on its way
        self.pending = key
        net, channel = result.network, key[1]
        return self.runner.submit(BACKWARD, lambda job: (key, class_gradients(
            net, channel, job.should_stop)))

    def _cancel(self):
        self.pending = None
        self.runner.cancel(BACKWARD)

    def current(self):
        """The gradients of the result on screen and the chosen class, or None."""
        result = self.live.result
        if result is None or self.key != (result.id, self.current_class()):
            return None
        return self.grads

    def _failed(self, text: str):
        self.pending = None
        self.failed.emit(text)

    def _done(self, out):
        key, grads = out
        self.pending = None
        result = self.live.result
        if result is None or key != (result.id, self.current_class()):
            return  # a result or class no longer shown
        self.key, self.grads = key, grads
        self.ready.emit(grads)


def stats_text(name: str, values: np.ndarray) -> str:
    s = statistics(values)
    return (f"{name}: min {s['min']:.4g} · max {s['max']:.4g} · mean |g| "
            f"{s['mean_abs']:.4g}")


def symmetric_levels(values: np.ndarray) -> tuple[float, float]:
    """Levels around 0, so white is no gradient (the sign matters)."""
    top = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    top = top if np.isfinite(top) and top > 0 else 1.0
    return -top, top


class GradientView(QWidget):
    """The selected layer's dout and dW for the chosen class score."""

    def __init__(self, document, controller, passes: GradientPasses, parent=None):
        super().__init__(parent)
        self.setObjectName("gradientView")
        self.doc, self.live, self.passes = document, controller, passes
        self.layer = ""
        self.mosaics = {}  # "dout" / "dW" → Mosaic shown
        self._build()
        # the backward pass runs only while the panel is on screen (not behind a tab)
        self.watch = screen_watch(self, lambda on: self.passes.want(self, on))
        passes.ready.connect(lambda _g: self.refresh())
        passes.failed.connect(self.show_message)
        controller.failed.connect(self.show_message)
        # both only while on screen (gui.lazy, the same watch): behind its tab the panel
        # catches up later
        self._classes = Follow(self, passes.classesChanged, self._fill_classes, later=False)
        self._follow = Follow(self, document.selectionChanged, self.refresh, later=False)

    def _build(self):
        self.title = TitleLabel(objectName="gradientTitle")
        self.classes = QComboBox(objectName="gradientClass")
        self.classes.setToolTip("The class score whose gradient is shown (one backward pass "
                                "of a one-hot at that output)")
        self.classes.activated.connect(self.passes.set_class)
        self.slice = QSpinBox(objectName="gradientSlice", minimum=0, maximum=0)
        self.slice.setToolTip("Which input channel of every filter's dW to show")
        self.slice.valueChanged.connect(lambda _v: self.refresh())
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(QLabel("score of"))
        bar.addWidget(self.classes)
        bar.addWidget(QLabel("dW input channel"))
        bar.addWidget(self.slice)
        self.graphics = pg.GraphicsLayoutWidget()
        self.boxes, self.colorbars = {}, {}
        for col, name in ((0, "dout"), (2, "dW")):  # each with its own scale beside it
            self.boxes[name] = image_box(self.graphics, name, col)
            self.colorbars[name] = pg.ColorBarItem(
                values=(-1, 1), colorMap=colour_map(WEIGHT_COLOURS), interactive=False,
                rounding=1e-12, width=14)
            self.graphics.addItem(self.colorbars[name], row=1, col=col + 1)
        self.message = QLabel(objectName="gradientMessage", wordWrap=True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.graphics)
        self.stack.addWidget(self.message)
        self.stats = QLabel(objectName="gradientStats", wordWrap=True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.stats)
        self.show_message("The gradients of the selected layer show here.")

    def show_message(self, text: str):
        self.mosaics = {}
        self.title.set_title(message_header(self.doc))
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)
        self.stats.clear()

    def _fill_classes(self):
        labels = self.passes.class_labels()
        self.classes.blockSignals(True)
        if [self.classes.itemText(k) for k in range(self.classes.count())] != labels:
            self.classes.clear()
            self.classes.addItems(labels)
        if labels:
            self.classes.setCurrentIndex(self.passes.current_class())
        self.classes.blockSignals(False)

    def refresh(self):
        result, grads = self.live.result, self.passes.current()
        if result is None:
            self.show_message(self.live.message or "Waiting for the first forward pass…")
            return
        if grads is None:
            self.show_message("Computing the backward pass…")
            return
        name = shown_layer(result.report, self.doc.selected)
        dout = grads.douts.get(name) if name != "input" else grads.input
        if dout is None:
            self.show_message(f"{name} was not reached by the backward pass.")
            return
        self.layer = name
        self.title.set_title(f"<b>{name}</b> · gradients of {self.classes.currentText()} "
                             f"(score {grads.score:.4g})")
        parts = {"dout": dout}
        dw = grads.params.get(f"{name}.weight")
        lines = [stats_text("dout", dout)]
        if dw is not None and dw.ndim == 4:
            self.slice.setMaximum(dw.shape[1] - 1)
            parts["dW"] = dw[:, min(self.slice.value(), dw.shape[1] - 1)]
            lines.append(stats_text("dW", dw))
        self.slice.setEnabled("dW" in parts)
        self.mosaics = {}
        for key, (box, image) in self.boxes.items():
            if key in parts:
                self.mosaics[key] = mosaic = tile(parts[key])
                levels = symmetric_levels(parts[key])
                show_values(image, mosaic.image, levels, WEIGHT_COLOURS)
                self.colorbars[key].setLevels(levels)
                box.autoRange(padding=0.02)
            else:
                image.clear()
        self.stats.setText("<br>".join(lines))
        self.stack.setCurrentWidget(self.graphics)
