"""The pipeline: the input and every layer as a card, top to bottom, as data flows.

Blocks are frames: a header card, then their sides next to each other (a residual's body
and shortcut, a concat's branches), joined at the bottom by ⊕ or a concat bar. Blocks
collapse to their header. Every card shows its type, hyperparameters, output shape in the
notes' notation (55x55x96) and name; a warning is amber with its worked arithmetic, an
error red, and the layers after an error grey ("cannot be computed").

It is a QGraphicsView whose items (gui/cards.py) are kept between edits (keyed by layer
name) and cached as pixmaps, so a 175-layer ResNet-50 scrolls without repainting text; where
they go is worked out in gui/pipelinelayout.py. Layers dropped from
the palette go to the slot nearest the pointer in the innermost side under it; cards
dragged inside the view are moved (MoveLayer), or copied with Ctrl.
"""

from __future__ import annotations

from convscope.core.layers import Block
from convscope.core.network import write_layers
from convscope.core.paths import TOP, LayerPath, split_path
from convscope.gui import editing
from convscope.gui.cards import ACCENT, CARD_H, CARD_W, GAP, MARGIN, Card, Frame
from convscope.gui.document import INPUT
from convscope.gui.layermime import json_files, layers_mime, read_items, read_source
from convscope.gui.pipelinelayout import Lane, Layout, Slot
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QDrag, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

# How many layers make a network big enough to open with its blocks collapsed.
COLLAPSE_ABOVE = 80


class PipelineView(QGraphicsView):
    """Shows ``document``'s network; selection, drops and drags all go through it."""

    editRequested = Signal()  # Enter or double-click on a card: edit it in the inspector
    fileDropped = Signal(str)  # a .json file dropped on the pipeline
    menuRequested = Signal(QPoint)  # right-click on a card (now selected), global position

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setObjectName("pipelineView")
        self.setAccessibleName("Pipeline")
        self.doc = document
        self.setScene(QGraphicsScene(self))
        self.scene().setBackgroundBrush(QColor("#f4f5f8"))
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.cards: dict[str, Card] = {}
        self.frames: dict[str, Frame] = {}
        self.lanes: list[Lane] = []
        self.order: list[str] = []  # visible cards in reading order
        self.collapsed: set[str] = set()
        self._network = None
        self._press = None
        self._lines = self._path_item(QPen(QColor("#8a93a3"), 1.3), Qt.BrushStyle.NoBrush)
        self._arrows = self._path_item(QPen(Qt.PenStyle.NoPen), QColor("#8a93a3"))
        self._indicator = QGraphicsRectItem()
        self._indicator.setBrush(ACCENT)
        self._indicator.setPen(QPen(Qt.PenStyle.NoPen))
        self._indicator.setZValue(10)
        self._indicator.hide()
        self.scene().addItem(self._indicator)
        self._hint = QGraphicsSimpleTextItem(
            "Drag layers here from the Layers palette (or double-click one there).")
        self._hint.setBrush(QColor("#6b7380"))
        self.scene().addItem(self._hint)
        document.changed.connect(self.rebuild)
        document.selectionChanged.connect(self._show_selection)
        self.rebuild()

    def _path_item(self, pen, brush) -> QGraphicsPathItem:
        item = QGraphicsPathItem()
        item.setPen(pen)
        item.setBrush(QBrush(brush))
        item.setZValue(1)
        self.scene().addItem(item)
        return item

    # -------------------------------------------------------------- building
    def rebuild(self) -> None:
        """Lay the network out again; cards whose look is unchanged keep their cache."""
        doc = self.doc
        fresh = doc.network is not self._network
        if fresh:  # a new document: pick a sensible overview, start at the top
            self._network = doc.network
            self.collapsed = set()
            if len(doc.report.layers) > COLLAPSE_ABOVE:
                self.collapsed = {i.name for i in doc.report.layers if isinstance(i.layer, Block)}
        names = {i.name for i in doc.report.layers}
        self.collapsed &= names
        layout = Layout(self.collapsed, doc.report)
        infos = {info.name: info for info in doc.report.layers}
        bounds = layout.run(doc.report, doc.network.input)
        self._sync(self.cards, {c[0] for c in layout.cards}, Card)
        self._sync(self.frames, {f[0] for f in layout.frames}, Frame)
        for key, x, y, look in layout.cards:
            card = self.cards[key]
            card.set_look(look)
            card.setPos(x, y)
            card.set_selected(key == doc.selected)
            info = infos.get(key)
            tip = _tooltip(info, look) if info is not None else INPUT_TIP
            if tip != card.toolTip():
                card.setToolTip(tip)
        for key, kind, status, box, sides, join, sign in layout.frames:
            self.frames[key].set_shape(kind, status, box, sides, join, sign)
        self._lines.setPath(layout.lines)
        self._arrows.setPath(layout.arrows)
        self.lanes = layout.lanes
        self.order = [c[0] for c in layout.cards]
        self._hint.setVisible(not doc.network.layers)
        if not doc.network.layers:
            self._hint.setPos(bounds.center().x() - self._hint.boundingRect().width() / 2,
                              MARGIN + CARD_H + GAP + 8)
            bounds = bounds.united(self._hint.sceneBoundingRect().adjusted(-MARGIN, 0,
                                                                          MARGIN, MARGIN))
        self.scene().setSceneRect(bounds)
        if fresh:
            self.verticalScrollBar().setValue(self.verticalScrollBar().minimum())
            self.centerOn(bounds.center().x(), self.mapToScene(0, 0).y())

    def _sync(self, items: dict, keys: set, cls) -> None:
        for key in list(items):
            if key not in keys:
                self.scene().removeItem(items.pop(key))
        for key in keys - set(items):
            items[key] = cls(key)
            self.scene().addItem(items[key])

    # -------------------------------------------------------------- selection
    def _show_selection(self, name: str) -> None:
        for key, card in self.cards.items():
            card.set_selected(key == name)
        if name and name not in self.cards:
            self._reveal(name)
        card = self.cards.get(name)
        if card is not None:
            self.ensureVisible(card, 30, 30)

    def _reveal(self, name: str) -> None:
        """Expand the blocks around a layer that is hidden inside a collapsed one."""
        try:
            path = self.doc.path_of(name)
        except KeyError:
            return
        here = LayerPath.parse(path)
        opened = {i.name for i in self.doc.report.layers
                  if isinstance(i.layer, Block) and i.path != path
                  and here.within(LayerPath.parse(i.path))}
        if opened & self.collapsed:
            self.collapsed -= opened
            self.rebuild()
            self._fit_expanded()
            self.cards[name].set_selected(True)

    def toggle(self, name: str) -> None:
        self.set_collapsed(name, name not in self.collapsed)

    def set_collapsed(self, name: str, collapsed: bool) -> None:
        if collapsed:
            self.collapsed.add(name)
        else:
            self.collapsed.discard(name)
        self.rebuild()
        if not collapsed:
            self._fit_expanded()
            self.ensureVisible(self.cards[name], 30, 30)

    def set_all_collapsed(self, collapsed: bool) -> None:
        self.collapsed = ({i.name for i in self.doc.report.layers if isinstance(i.layer, Block)}
                          if collapsed else set())
        self.rebuild()
        if not collapsed:
            self._fit_expanded()
        if self.doc.selected in self.cards:
            self.ensureVisible(self.cards[self.doc.selected], 30, 30)

    # -------------------------------------------------------------- zoom
    def zoom(self, factor: float | None) -> None:
        """Scale the view by ``factor`` (within 40%–250%); None: back to 100%."""
        scale = self.transform().m11()
        target = 1.0 if factor is None else max(0.4, min(2.5, scale * factor))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.scale(target / scale, target / scale)

    def fit_width(self) -> None:
        """Zoom so the widest block fits the view's width (never above 100%)."""
        width = self.sceneRect().width()
        room = self.viewport().width() - 4
        self.zoom(None)
        if width > room:
            self.zoom(room / width)

    def _fit_expanded(self) -> None:
        """After a block opens: zoom out as Fit Width does if it is now wider than the
        view, so its header and every side (an inception module's fourth branch) are in
        view, not cut off at the edge; and repaint the whole view, so nothing of the
        collapsed card is left on screen."""
        if self.sceneRect().width() * self.transform().m11() > self.viewport().width() - 4:
            self.fit_width()
        self.viewport().update()

    def wheelEvent(self, event):
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)
            event.accept()
            return
        super().wheelEvent(event)

    # -------------------------------------------------------------- geometry for tests
    def card(self, name: str) -> Card:
        return self.cards[name]

    def card_point(self, name: str, fy: float = 0.5):
        """The viewport point at a card's middle (fy: 0 top, 1 bottom), scrolled into view."""
        card = self.cards[name]
        self.ensureVisible(card, 10, 60)
        rect = card.sceneBoundingRect()
        return self.mapFromScene(QPointF(rect.center().x(), rect.top() + fy * rect.height()))

    def side_point(self, block: str, side: int, fy: float = 0.5):
        """The viewport point in a block's side (0 body / first branch, 1 shortcut ...)."""
        rect = self.frames[block].sides[side].rect
        self.ensureVisible(rect, 10, 60)
        return self.mapFromScene(QPointF(rect.center().x(), rect.top() + fy * rect.height()))

    # -------------------------------------------------------------- mouse
    def _card_at(self, pos) -> Card | None:
        for item in self.items(pos.toPoint() if hasattr(pos, "toPoint") else pos):
            if isinstance(item, Card):
                return item
        for item in self.items(pos.toPoint() if hasattr(pos, "toPoint") else pos):
            if isinstance(item, Frame):
                return self.cards.get(item.key)
        return None

    def mousePressEvent(self, event):
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        card = self._card_at(event.position())
        if card is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        local = card.mapFromScene(self.mapToScene(event.position().toPoint()))
        if card.look.collapsed is not None and card.toggle_rect().contains(local):
            self.toggle(card.key)
        else:
            self.doc.select(card.key)
            self._press = (event.position(), card.key)
        event.accept()

    def mouseMoveEvent(self, event):
        if self._press and event.buttons() & Qt.MouseButton.LeftButton:
            start, key = self._press
            if (event.position() - start).manhattanLength() >= \
                    QApplication.startDragDistance() and key != INPUT:
                self._press = None
                self.start_drag(key)
                return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        self._press = None
        super().mouseReleaseEvent(event)

    def contextMenuEvent(self, event):
        card = self._card_at(event.pos())
        if card is not None:
            self.doc.select(card.key)
        self.menuRequested.emit(event.globalPos())
        event.accept()

    def mouseDoubleClickEvent(self, event):
        card = self._card_at(event.position())
        if card is None:
            return
        if card.look.collapsed is not None:
            self.toggle(card.key)
        else:
            self.editRequested.emit()

    # -------------------------------------------------------------- keyboard
    def keyPressEvent(self, event):
        key, mods = event.key(), event.modifiers()
        if mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            super().keyPressEvent(event)
            return
        step = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1}.get(key)
        if step is not None:
            self._step(step)
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_End) and self.order:
            self.doc.select(self.order[0 if key == Qt.Key.Key_Home else -1])
        elif key == Qt.Key.Key_Left:
            self._left()
        elif key == Qt.Key.Key_Right:
            self._right()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.editRequested.emit()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _step(self, step: int) -> None:
        if not self.order:
            return
        here = self.order.index(self.doc.selected) if self.doc.selected in self.order else -1
        there = max(0, min(len(self.order) - 1, here + step)) if here >= 0 else 0
        self.doc.select(self.order[there])

    def _left(self):
        """Collapse the selected block, or go up to the block holding the selection."""
        name = self.doc.selected
        card = self.cards.get(name)
        if card is not None and card.look.collapsed is False:
            self.set_collapsed(name, True)
            return
        path = editing.selected_path(self.doc)
        block = LayerPath.parse(path).block if path else None
        if block is not None:
            self.doc.select(self.doc.layer(str(block)).name)

    def _right(self):
        """Expand the selected block, or step into it."""
        name = self.doc.selected
        card = self.cards.get(name)
        if card is None or card.look.collapsed is None:
            return
        if card.look.collapsed:
            self.set_collapsed(name, False)
        else:
            self._step(1)

    # -------------------------------------------------------------- dragging cards out
    def drag_mime(self, name: str):
        """What dragging a card carries: its layer's dict, and where it comes from."""
        path = self.doc.path_of(name)
        return layers_mime(write_layers([self.doc.layer(path)]),
                           {"document": id(self.doc), "path": path})

    def start_drag(self, name: str) -> None:
        drag = QDrag(self)
        drag.setMimeData(self.drag_mime(name))
        drag.setPixmap(self._card_pixmap(name))
        self._exec_drag(drag)

    def _card_pixmap(self, name: str) -> QPixmap:
        card = self.cards[name]
        rect = card.rect()
        pix = QPixmap(int(rect.width()), int(rect.height()))
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        card.paint(painter, None)
        painter.end()
        return pix

    def _exec_drag(self, drag: QDrag):  # pragma: no cover - runs a native drag loop
        return drag.exec(Qt.DropAction.MoveAction | Qt.DropAction.CopyAction,
                         Qt.DropAction.MoveAction)

    # -------------------------------------------------------------- drops
    def slot_at(self, pos) -> Slot | None:
        """The drop slot for a viewport position: in the innermost side under the pointer,
        the slot nearest in height."""
        p = self.mapToScene(pos.toPoint() if hasattr(pos, "toPoint") else pos)
        inside = [lane for lane in self.lanes if lane.rect.contains(p) or lane.depth == 0]
        if not inside:
            return None
        lane = max(inside, key=lambda lane: lane.depth)
        return min(lane.slots, key=lambda s: abs(s.y - p.y()))

    def _lane_of(self, slot: Slot) -> Lane:
        return next(lane for lane in self.lanes if lane.container == slot.container)

    def _moving(self, event) -> str | None:
        """The path of the layer a drag moves (from this document, without Ctrl)."""
        source = read_source(event.mimeData())
        if source is None or source.get("document") != id(self.doc):
            return None
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return None
        return source["path"]

    def dragEnterEvent(self, event):
        mime = event.mimeData()
        if json_files(mime) or read_items(mime):
            event.setDropAction(Qt.DropAction.MoveAction if self._moving(event)
                                else Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        mime = event.mimeData()
        if json_files(mime):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            return
        slot = self.slot_at(event.position())
        moving = self._moving(event)
        if slot is None or not read_items(mime) or (
                moving and not editing.can_move(moving, slot.container, slot.index)
                and not _same_place(moving, slot)):
            self._indicator.hide()
            event.ignore()
            return
        self._show_indicator(slot)
        event.setDropAction(Qt.DropAction.MoveAction if moving else Qt.DropAction.CopyAction)
        event.accept()

    def dragLeaveEvent(self, event):
        self._indicator.hide()
        event.accept()

    def dropEvent(self, event):
        self._indicator.hide()
        mime = event.mimeData()
        files = json_files(mime)
        if files:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self.fileDropped.emit(files[0])
            return
        items = read_items(mime)
        slot = self.slot_at(event.position())
        if not items or slot is None:
            event.ignore()
            return
        moving = self._moving(event)
        if moving:
            editing.move_layer(self.doc, moving, slot.container, slot.index)
            event.setDropAction(Qt.DropAction.MoveAction)
        else:
            editing.add_layers(self.doc, items, slot.container, slot.index)
            event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def _show_indicator(self, slot: Slot) -> None:
        rect = self._lane_of(slot).rect
        if slot.container == TOP:
            rect = self.sceneRect()
            x0, x1 = rect.center().x() - CARD_W / 2 - 12, rect.center().x() + CARD_W / 2 + 12
        else:
            x0, x1 = rect.left() + 4, rect.right() - 4
        self._indicator.setRect(QRectF(x0, slot.y - 2, x1 - x0, 4))
        self._indicator.show()

    def indicator_visible(self) -> bool:
        return self._indicator.isVisible()


INPUT_TIP = "The network's input: select it to change its size and channels."


def _tooltip(info, look) -> str:
    """The card's text in full (a card elides what does not fit: a long name, its
    hyperparameters, its note), then what is wrong in full."""
    note = f"Cannot be computed: it comes {look.note} ({info.blocked_by})." \
        if info.blocked_by else look.note  # the note names the culprit; add its place
    lines = [f"{info.name} ({info.layer.TITLE}) — {info.path}", look.detail, note]
    lines = [line for line in lines if line]
    lines += [f"{d.severity}: {d.message}" for d in info.diagnostics]
    return "\n".join(lines)


def _same_place(src: str, slot: Slot) -> bool:
    """Dropping a card right where it is: allowed (nothing happens), unlike into itself."""
    container, index = split_path(src)
    return slot.container == container and slot.index in (index, index + 1)
