"""What the Understand panels share: snapshots of the document for the worker, the input
image, small widget helpers and rich-text escaping (pictures: core.live.images, gui.plots)."""

from __future__ import annotations

import html

import numpy as np
from convscope.core import Network
from convscope.core.labels import ClassNames, network_class_names
from PySide6 import QtCore
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

HINT_STYLE = "color:#5d6470;"
ERROR_STYLE = "color:#b3261e;"
OK_STYLE = "color:#1b6e2c;"


def snapshot(document, controller=None) -> Network:
    """A copy of the document's network for the worker (weights shared, never written).

    Weights the document does not hold yet (seeded ones) are taken from the live view's
    last pass when it ran this very revision, so the worker need not draw them again
    (VGG16's take two seconds)."""
    net = document.network.copy()
    result = getattr(controller, "result", None) if controller is not None else None
    if result is not None and result.revision == document.revision:
        for key, value in result.network.weights.items():
            net.weights.setdefault(key, value)
    return net


def input_image(document, controller=None) -> np.ndarray | None:
    """The input image as the network takes it (C, H, W), or None when there is none that
    fits (no live view has made one yet)."""
    spec = document.network.input
    image = document.image
    if image is not None and tuple(image.shape) == spec.shape:
        return np.asarray(image, np.float32)
    if controller is not None:
        try:
            return np.asarray(controller.network_image(), np.float32)
        except Exception:  # no picture could be made: the caller says so
            return None
    return None


def class_names(document, count: int) -> ClassNames:
    """The names of the document's network's ``count`` classes (core.labels)."""
    return network_class_names(document.path, document.network.name, count)


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def hint(text: str = "", name: str = "") -> QLabel:
    """A grey, wrapping, selectable explanation."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(HINT_STYLE)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


def status_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def set_status(label: QLabel, text: str, kind: str = "") -> None:
    """Show a status line: kind "error", "ok" or "" (plain)."""
    label.setText(text)
    label.setStyleSheet({"error": ERROR_STYLE, "ok": OK_STYLE}.get(kind, ""))


def line() -> QFrame:
    frame = QFrame()
    frame.setFrameShape(QFrame.Shape.HLine)
    frame.setFrameShadow(QFrame.Shadow.Sunken)
    return frame


def scrolling(widget: QWidget, width: int = 0) -> QScrollArea:
    """``widget`` in a frameless vertical scroll area, so that a short dock never squeezes
    or clips its controls (they scroll instead)."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    if width:
        area.setMinimumWidth(width)
    return area


def controls_beside(panel: QWidget, controls: QWidget, view: QWidget, controls_width: int,
                    sizes: tuple[int, int]) -> None:
    """Lay ``panel`` out as its controls (scrolling, at least ``controls_width`` wide) left
    of a view that takes the rest, in a splitter the user can drag."""
    splitter = QSplitter(QtCore.Qt.Orientation.Horizontal)
    splitter.addWidget(scrolling(controls, controls_width))
    splitter.addWidget(view)
    splitter.setStretchFactor(1, 1)
    splitter.setSizes(list(sizes))
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(splitter)

