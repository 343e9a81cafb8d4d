"""Cards: how one layer (or the input, or a block's frame) is drawn in the pipeline.

A card paints from a small ``Look`` (type, hyperparameters, output shape in the notes'
notation 55x55x96, name, status); equal looks paint the same pixels, so each card is cached
as a pixmap and only redrawn when its look changes. Warnings are amber with their worked
arithmetic, errors red, and layers after an error grey ("cannot be computed").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convscope.core.layers import Block, fmt_shape
from convscope.core.summary import short
from convscope.gui.document import INPUT
from convscope.gui.icons import category_color, pixmap
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem

CARD_W, CARD_H, NOTE_H = 264, 50, 17  # a card; NOTE_H more for a warning/error line
NARROW_W = 214  # cards inside a block of three or more sides (inception)
GAP = 26  # between items in a side: room for the arrow and the drop indicator
LANE_GAP = 14  # between sides of a block
PAD = 10  # inside a block frame
TITLE_H = 18  # a side's title ("body", "shortcut", "branch 2")
JOIN_D = 22  # the ⊕ at the bottom of a block
EMPTY_W, EMPTY_H = 120, 32  # an empty side (identity)
MARGIN = 20
TOGGLE_W = 22  # the collapse triangle on a block's header

ACCENT = QColor("#2f7de1")
STATUS_FILL = {"ok": QColor("#ffffff"), "warning": QColor("#fff3d1"),
               "error": QColor("#fde1e1"), "blocked": QColor("#eeeeee")}
STATUS_BORDER = {"ok": QColor("#c3c9d3"), "warning": QColor("#d99a00"),
                 "error": QColor("#d23a3a"), "blocked": QColor("#c8c8c8")}
STATUS_TEXT = {"warning": QColor("#9a6400"), "error": QColor("#c02020"),
               "blocked": QColor("#777777")}
FRAME_FILL = {"residual": QColor("#eaeef6"), "concat": QColor("#efeaf6")}



def type_label(layer) -> str:
    return layer.card_label()


@dataclass(frozen=True)
class Look:
    """Everything a card paints: equal looks paint the same pixels (the cache stays)."""

    kind: str  # layer type, or "input"
    category: str
    name: str
    label: str
    detail: str
    shape: str
    status: str = "ok"
    note: str = ""  # the warning's arithmetic, the error, or why it is not computed
    width: float = CARD_W
    collapsed: bool | None = None  # None: not a block

    @property
    def height(self) -> float:
        return CARD_H + (NOTE_H if self.note else 0)


def look_of(info, names: dict | None = None, parent: str = "",
            width: float = CARD_W) -> Look:
    """A layer's card. ``names``: path → name, to name the error a layer waits on;
    ``parent``: the enclosing block's name, left out of the shown name ("…conv1")."""
    layer = info.layer
    if isinstance(layer, Block):
        detail = _block_detail(info)
    else:
        detail = layer.card_detail()
        if info.params:
            detail = " · ".join(filter(None, (detail, f"{short(info.params)} params")))
    if info.blocked_by:
        culprit = (names or {}).get(info.blocked_by, info.blocked_by)
        shape, note = "cannot be computed", f"after the error at {culprit}"
    else:
        shape = fmt_shape(info.out) if info.out else "cannot be computed"
        note = ""
        for d in info.diagnostics:
            if d.severity == info.status:
                note = ("⚠ " if d.severity == "warning" else "✖ ") + _note_text(d.message)
                break
    shown = layer.name
    if parent and shown.startswith(parent + "_") and len(shown) > len(parent) + 1:
        shown = "…" + shown[len(parent) + 1:]
    return Look(layer.TYPE, layer.CATEGORY, shown, type_label(layer), detail, shape,
                info.status, note, width)


def _block_detail(info) -> str:
    """What a block holds, most telling first: "10 layers · 215K params · projection"."""
    inner = list(info.inside())
    params = sum(i.params for i in inner)
    parts = [f"{len(inner)} layer{'s' * (len(inner) != 1)}"]
    if params:
        parts.append(f"{short(params)} params")
    return " · ".join(filter(None, info.layer.block_detail(parts)))


def _note_text(message: str) -> str:
    """A card's short line: a size warning's worked arithmetic and what the layer keeps
    ("(224 − 11 + 2·0)/4 + 1 = 54.25 → 54"), or an error's first clause."""
    match = re.match(r"(height and width|height|width): (.*) is not whole; the layer keeps "
                     r"(\d+)", message)
    if match:
        axis = {"height and width": "", "height": "H: ", "width": "W: "}[match.group(1)]
        return f"{axis}{match.group(2)} → {match.group(3)}"
    return message.split("; ")[0]


def input_look(spec) -> Look:
    channels = "1 channel" if spec.channels == 1 else f"{spec.channels} channels"
    return Look("input", "input", "input", "INPUT", f"{channels}, {spec.height}×{spec.width}",
                fmt_shape(spec.shape))


# ============================================================================ items
class Card(QGraphicsItem):
    """One layer, a block's header, or the input. Painted from its Look, cached."""

    def __init__(self, key: str):
        super().__init__()
        self.key = key
        self.look: Look | None = None
        self.selected = False
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(2)
        if key != INPUT:  # layers can be dragged
            self.setCursor(Qt.CursorShape.OpenHandCursor)

    def set_look(self, look: Look) -> None:
        if look == self.look:
            return
        if self.look is None or (look.width, look.height) != (self.look.width,
                                                              self.look.height):
            self.prepareGeometryChange()
        self.look = look
        self.update()

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.update()

    def rect(self) -> QRectF:
        return QRectF(0, 0, self.look.width, self.look.height)

    def boundingRect(self) -> QRectF:
        return self.rect().adjusted(-3, -3, 3, 3)

    def toggle_rect(self) -> QRectF:
        return QRectF(0, 0, TOGGLE_W + 6, CARD_H)

    def paint(self, painter: QPainter, option, widget=None):
        look = self.look
        rect = self.rect().adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(ACCENT if self.selected else STATUS_BORDER[look.status],
                            2.4 if self.selected else 1.2))
        painter.setBrush(STATUS_FILL[look.status])
        painter.drawRoundedRect(rect, 6, 6)
        strip = QPainterPath()
        strip.addRoundedRect(QRectF(rect.left() + 1.5, rect.top() + 1.5, 5, rect.height() - 3),
                             2, 2)
        painter.fillPath(strip, category_color(look.category))
        x = 12.0
        if look.collapsed is not None:
            painter.setPen(QColor("#555"))
            painter.setFont(_fonts().name)
            painter.drawText(QRectF(x - 2, 4, TOGGLE_W, 22), Qt.AlignmentFlag.AlignCenter,
                             "▸" if look.collapsed else "▾")
            x += TOGGLE_W - 2
        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        painter.drawPixmap(QPointF(x, 6), pixmap(look.kind, 20, max(1.0, ratio)))
        self._paint_text(painter, look, x + 28)

    def _paint_text(self, painter, look, left):
        fonts = _fonts()
        right = look.width - 10
        grey, dark = QColor("#5d6470"), QColor("#1d2330")
        # line 1: name and type on the left, the output shape on the right
        shape_font = fonts.small_italic if look.shape == "cannot be computed" else fonts.shape
        shape_w = QFontMetricsF(shape_font).horizontalAdvance(look.shape) + 2
        painter.setFont(shape_font)
        painter.setPen(STATUS_TEXT.get(look.status, dark) if look.status != "ok" else dark)
        painter.drawText(QRectF(right - shape_w, 5, shape_w, 20),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, look.shape)
        room = right - shape_w - left - 6
        name_fm = QFontMetricsF(fonts.name)
        name = name_fm.elidedText(look.name, Qt.TextElideMode.ElideRight, room)
        painter.setFont(fonts.name)
        painter.setPen(dark)
        painter.drawText(QRectF(left, 5, room, 20), Qt.AlignmentFlag.AlignVCenter, name)
        label_x = left + name_fm.horizontalAdvance(name) + 7
        small_fm = QFontMetricsF(fonts.small)
        if label_x + small_fm.horizontalAdvance(look.label) <= left + room:  # whole or not at all
            painter.setFont(fonts.small)
            painter.setPen(grey)
            painter.drawText(QRectF(label_x, 6, left + room - label_x, 20),
                             Qt.AlignmentFlag.AlignVCenter, look.label)
        # line 2: the hyperparameters
        painter.setFont(fonts.detail)
        painter.setPen(grey)
        detail = QFontMetricsF(fonts.detail).elidedText(look.detail, Qt.TextElideMode.ElideRight,
                                                        right - left)
        painter.drawText(QRectF(left, 25, right - left, 20), Qt.AlignmentFlag.AlignVCenter, detail)
        # line 3: the warning's arithmetic, the error, or why it is not computed
        if look.note:
            painter.setFont(fonts.small)
            painter.setPen(STATUS_TEXT.get(look.status, grey))
            note = QFontMetricsF(fonts.small).elidedText(look.note, Qt.TextElideMode.ElideRight,
                                                         look.width - 24)
            painter.drawText(QRectF(12, CARD_H - 4, look.width - 24, NOTE_H),
                             Qt.AlignmentFlag.AlignVCenter, note)


@dataclass
class Side:
    """A block's side as laid out: its title, its area, and whether it is empty."""

    title: str
    rect: QRectF
    empty: bool


class Frame(QGraphicsItem):
    """An expanded block: the frame around its header and sides, the sides' titles, the
    empty sides' "identity" boxes and the join at the bottom (⊕ or concat)."""

    def __init__(self, key: str):
        super().__init__()
        self.key = key
        self.kind, self.status = "residual", "ok"
        self.box = QRectF()
        self.sides: list[Side] = []
        self.join = QPointF()
        self.sign = "+"  # the block's join_label(): a sign in a circle, or a word in a box
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(0)

    def set_shape(self, kind, status, box, sides, join, sign):
        state = (kind, status, box, [(s.title, s.rect, s.empty) for s in sides], join, sign)
        if state == (self.kind, self.status, self.box,
                     [(s.title, s.rect, s.empty) for s in self.sides], self.join, self.sign):
            return
        self.prepareGeometryChange()
        self.kind, self.status, self.box, self.sides, self.join = kind, status, box, sides, join
        self.sign = sign
        self.update()

    def boundingRect(self) -> QRectF:
        return self.box.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option, widget=None):
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = STATUS_BORDER["error"] if self.status == "error" else QColor("#aeb6c4")
        painter.setPen(QPen(border, 1.2))
        painter.setBrush(FRAME_FILL.get(self.kind, QColor("#eeeeee")))
        painter.drawRoundedRect(self.box.adjusted(0.5, 0.5, -0.5, -0.5), 9, 9)
        fonts = _fonts()
        for side in self.sides:
            painter.setFont(fonts.small)
            painter.setPen(QColor("#5d6470"))
            painter.drawText(QRectF(side.rect.left() + 2, side.rect.top(), side.rect.width(),
                                    TITLE_H), Qt.AlignmentFlag.AlignVCenter, side.title)
            if side.empty:
                box = QRectF(side.rect.center().x() - EMPTY_W / 2, side.rect.top() + TITLE_H,
                             EMPTY_W, EMPTY_H)
                painter.setPen(QPen(QColor("#9aa3b2"), 1, Qt.PenStyle.DashLine))
                painter.setBrush(QColor(255, 255, 255, 120))
                painter.drawRoundedRect(box, 5, 5)
                painter.setPen(QColor("#5d6470"))
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "identity")
        r = JOIN_D / 2
        painter.setPen(QPen(QColor("#4a4a4a"), 1.4))
        painter.setBrush(QColor("#ffffff"))
        if self.sign == "+":  # drawn, not typed: a crisp ⊕ at any zoom
            painter.drawEllipse(self.join, r, r)
            painter.drawLine(QPointF(self.join.x() - r + 5, self.join.y()),
                             QPointF(self.join.x() + r - 5, self.join.y()))
            painter.drawLine(QPointF(self.join.x(), self.join.y() - r + 5),
                             QPointF(self.join.x(), self.join.y() + r - 5))
        elif len(self.sign) == 1:
            painter.drawEllipse(self.join, r, r)
            painter.setFont(fonts.small)
            painter.drawText(QRectF(self.join.x() - r, self.join.y() - r, JOIN_D, JOIN_D),
                             Qt.AlignmentFlag.AlignCenter, self.sign)
        else:
            box = QRectF(self.join.x() - 34, self.join.y() - r, 68, JOIN_D)
            painter.drawRoundedRect(box, 5, 5)
            painter.setFont(fonts.small)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.sign)


@dataclass
class _Fonts:
    name: QFont
    shape: QFont
    detail: QFont
    small: QFont
    small_italic: QFont


_FONTS: list = []


def _fonts() -> _Fonts:
    if not _FONTS:
        base = QApplication.font()
        size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
        name = QFont(base)
        name.setBold(True)
        shape = QFont(name)
        detail = QFont(base)
        small = QFont(base)
        small.setPointSizeF(size * 0.88)
        small_italic = QFont(small)
        small_italic.setItalic(True)
        _FONTS.append(_Fonts(name, shape, detail, small, small_italic))
    return _FONTS[0]


def with_changes(look: Look, **changes) -> Look:
    values = {k: getattr(look, k) for k in look.__dataclass_fields__}
    values.update(changes)
    return Look(**values)
