"""A dock's content that keeps its panel's layout changes inside the dock.

Qt passes every size-hint change up the widget tree: a label whose text changes asks its
layout, its panel, its dock and at last the main window to lay out again, and the main
window then repaints all of itself (1600×959 on a ResNet-18 edit: the summary table, the
pipeline and every panel, 30–40 ms of the GUI thread, twice per edit). The panels' own
layouts must follow their contents, but the window's docks are sized by the user, not by
what a panel's labels say. ``PanelHolder`` sits between a dock and its panel: it lays the
panel over its whole area itself and passes a change up only when the panel's minimum size
changed, the one thing the window's layout needs from it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize
from PySide6.QtWidgets import QLabel, QWidget


def smallest_size(widget: QWidget) -> QSize:
    """The size a layout would give ``widget`` at the least: its own minimum where set, else
    its minimum size hint (as Qt's layouts do)."""
    hint, own = widget.minimumSizeHint(), widget.minimumSize()
    return QSize(own.width() or max(hint.width(), 0), own.height() or max(hint.height(), 0))


class PanelHolder(QWidget):
    """Holds ``panel`` over its whole area; see the module's doc."""

    def __init__(self, panel: QWidget, parent=None):
        super().__init__(parent)
        self.panel = panel
        self.setObjectName(f"{panel.objectName() or type(panel).__name__}Holder")
        self.setSizePolicy(panel.sizePolicy())
        panel.setParent(self)
        self._minimum = smallest_size(panel)

    def sizeHint(self) -> QSize:
        return self.panel.sizeHint()

    def minimumSizeHint(self) -> QSize:
        return smallest_size(self.panel)

    def resizeEvent(self, event) -> None:
        self.panel.setGeometry(self.rect())
        super().resizeEvent(event)

    def event(self, event) -> bool:
        # The panel's size hints changed (it has laid itself out already): the window
        # hears of it only if its minimum did.
        if event.type() == QEvent.Type.LayoutRequest:
            minimum = smallest_size(self.panel)
            if minimum != self._minimum:
                self._minimum = minimum
                self.updateGeometry()
            return True
        return super().event(event)


def set_text_keeping_height(label: QLabel, text: str) -> None:
    """Set a word-wrapped label's text; its height only ever grows. When its lines rewrap
    to fewer, the views beside it would otherwise be resized and redrawn (the input view's
    picture relaid its plot, 10 ms, on every selection)."""
    label.setText(text)
    needed = label.heightForWidth(max(1, label.width()))
    if needed > label.minimumHeight():
        label.setMinimumHeight(needed)
