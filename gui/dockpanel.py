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

import html
import re

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


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


def set_text_only_growing(label: QLabel, text: str) -> None:
    """Set a label's text; the room it asks for only ever grows. A label that shrinks and
    grows back with its text makes the widgets beside it resize and redraw: the input view's
    caption rewrapping relaid its picture's plot (10 ms, on every selection), and the status
    bar's figures relaid and repainted the whole window on every edit.

    A word-wrapped label keeps its height (its lines rewrap in the width it has); a one-line
    label gets a fixed size, widened (or heightened) only when its text needs more."""
    label.setText(text)
    if label.wordWrap():
        needed = label.heightForWidth(max(1, label.width()))
        if needed > label.minimumHeight():
            label.setMinimumHeight(needed)
        return
    hint = label.sizeHint()
    if hint.width() > label.minimumWidth() or hint.height() > label.minimumHeight():
        label.setFixedSize(max(hint.width(), label.minimumWidth()),
                           max(hint.height(), label.minimumHeight()))


class TitleLabel(QLabel):
    """A panel's one-line rich-text title (``<b>conv1</b> conv · 224x224x64``) that never
    widens its dock and, short of room, shows the " · " parts that fit and the next one cut
    with an ellipsis: cut bare, at the edge, a shape read "224x2". The whole title (``title``)
    is its tooltip."""

    SEPARATOR = " · "

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # a longer title must not widen the dock column (the layout would jump)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title = ""

    def set_title(self, text: str) -> None:
        self.title = text
        self.setToolTip(text)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Measured in bold throughout (an upper bound): the leading parts that fit whole,
        then the next one elided into the room left, if it is plain text."""
        bold = QFont(self.font())
        bold.setBold(True)
        metrics, room = QFontMetrics(bold), self.contentsRect().width()
        parts = self.title.split(self.SEPARATOR)
        shown = parts[0]
        for part in parts[1:]:
            longer = shown + self.SEPARATOR + part
            if metrics.horizontalAdvance(_plain(longer)) <= room:
                shown = longer
                continue
            left = room - metrics.horizontalAdvance(_plain(shown + self.SEPARATOR))
            cut = metrics.elidedText(part, Qt.TextElideMode.ElideRight, left)
            if part == _plain(part) and len(cut) > 1:  # more than the ellipsis alone
                shown += self.SEPARATOR + html.escape(cut, quote=False)
            break
        if shown != self.text():
            self.setText(shown)


def _plain(rich: str) -> str:
    """The text of simple rich text (tags dropped, entities read)."""
    return html.unescape(re.sub("<[^>]*>", "", rich))
