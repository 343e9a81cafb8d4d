"""Where everything goes in the pipeline: cards top to bottom, a block's sides next to each
other between its header and its join, the connectors, and the slots a drop can land in.

Pure geometry from the analysis report: the view turns the result into scene items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convscope.core.layers import Block
from convscope.core.paths import TOP, container_path
from convscope.gui.cards import (
    CARD_W,
    EMPTY_H,
    EMPTY_W,
    GAP,
    JOIN_D,
    LANE_GAP,
    MARGIN,
    NARROW_W,
    PAD,
    TITLE_H,
    Look,
    Side,
    input_look,
    look_of,
    with_changes,
)
from convscope.gui.document import INPUT
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath


@dataclass
class Slot:
    """A place a layer can be dropped: ``container[index]``, drawn at height ``y``."""

    container: str
    index: int
    y: float


@dataclass
class Lane:
    """A list of layers as laid out: where it is and where a drop can go in it."""

    container: str
    rect: QRectF
    depth: int
    slots: list = field(default_factory=list)


class Layout:
    """Sizes and places every visible card, frame, connector and drop slot."""

    def __init__(self, collapsed: set, report):
        self.collapsed = collapsed
        self.names = {info.path: info.name for info in report.layers}
        self.cards: list = []  # (key, x, y, Look)
        self.frames: list = []  # (key, kind, status, box, sides, join)
        self.lanes: list[Lane] = []
        self.lines = QPainterPath()
        self.arrows = QPainterPath()
        self._sizes: dict = {}
        self._looks: dict = {}

    # -------------------------------------------------------------- sizes
    def expanded(self, info) -> bool:
        return isinstance(info.layer, Block) and info.name not in self.collapsed

    def look(self, info, parent: str, cw: float) -> Look:
        key = (id(info), cw)
        if key not in self._looks:
            look = look_of(info, self.names, parent, cw)
            if isinstance(info.layer, Block):
                look = with_changes(look, collapsed=not self.expanded(info))
            self._looks[key] = look
        return self._looks[key]

    @staticmethod
    def inner_width(info, cw: float) -> float:
        """Cards in a block with three or more sides are narrower, so an inception module
        fits beside the panels."""
        return min(cw, NARROW_W) if len(info.branches) >= 3 else cw

    def size(self, info, parent: str, cw: float) -> tuple[float, float]:
        key = (id(info), cw)
        if key not in self._sizes:
            if self.expanded(info):
                inner = self.inner_width(info, cw)
                sides = [self.seq_size(b, info.name, inner) for b in info.branches]
                width = 2 * PAD + sum(w for w, _ in sides) + LANE_GAP * (len(sides) - 1)
                height = (2 * PAD + self.look(info, parent, cw).height + GAP + TITLE_H
                          + max(h for _, h in sides) + GAP + JOIN_D)
                self._sizes[key] = (max(width, cw + 2 * PAD), height)
            else:
                self._sizes[key] = (cw, self.look(info, parent, cw).height)
        return self._sizes[key]

    def seq_size(self, infos, parent: str, cw: float) -> tuple[float, float]:
        if not infos:
            return EMPTY_W + 10, EMPTY_H
        sizes = [self.size(i, parent, cw) for i in infos]
        return (max(cw, *(w for w, _ in sizes)),
                sum(h for _, h in sizes) + GAP * (len(sizes) - 1))

    # -------------------------------------------------------------- placing
    def run(self, report, spec) -> QRectF:
        width = max(CARD_W, self.seq_size(report.top, "", CARD_W)[0]) + 2 * MARGIN
        cx = width / 2
        look = input_look(spec)
        self.cards.append((INPUT, cx - CARD_W / 2, MARGIN, look))
        top = Lane(TOP, QRectF(), 0)
        self.lanes.append(top)
        y = MARGIN + look.height + GAP
        self.arrow(cx, MARGIN + look.height, y)
        bottom = self.place_seq(report.top, TOP, top, cx, y, "", CARD_W)
        height = max(bottom, y) + GAP + MARGIN
        top.rect = QRectF(0, 0, width, height + 400)
        return QRectF(0, 0, width, height)

    def place_seq(self, infos, container, lane, cx, y, parent, cw) -> float:
        """Place a list of layers centred on ``cx`` from ``y``; returns the last bottom."""
        prev_bottom = None
        lane.slots.append(Slot(container, 0, y - GAP / 2 if lane.depth == 0 else y - 5))
        for index, info in enumerate(infos):
            w, h = self.size(info, parent, cw)
            if prev_bottom is not None:
                self.arrow(cx, prev_bottom, y)
                lane.slots.append(Slot(container, index, (prev_bottom + y) / 2))
            if self.expanded(info):
                prev_bottom = self.place_block(info, cx - w / 2, y, w, h, lane.depth, parent,
                                               cw)
            else:
                self.cards.append((info.name, cx - w / 2, y, self.look(info, parent, cw)))
                prev_bottom = y + h
            y += h + GAP
        end = prev_bottom if prev_bottom is not None else y
        lane.slots.append(Slot(container, len(infos), end + GAP / 2))
        return end

    def place_block(self, info, x, y, w, h, depth, parent, cw) -> float:
        """An expanded block in the box (x, y, w, h); returns its bottom anchor (the join)."""
        look = with_changes(self.look(info, parent, cw), width=w - 2 * PAD)
        self.cards.append((info.name, x + PAD, y + PAD, look))
        inner = self.inner_width(info, cw)
        sizes = [self.seq_size(b, info.name, inner) for b in info.branches]
        header_bottom = y + PAD + look.height
        sides_top = header_bottom + GAP
        sides_h = max(sh for _, sh in sizes)
        join_y = sides_top + TITLE_H + sides_h + GAP + JOIN_D / 2
        cx = x + w / 2
        sides, sx = [], x + PAD
        spare = (w - 2 * PAD - sum(sw for sw, _ in sizes)
                 - LANE_GAP * (len(sizes) - 1)) / len(sizes)
        for (slot, _), branch, (sw, _) in zip(info.layer.slots(), info.branches, sizes):
            sw += spare
            rect = QRectF(sx, sides_top, sw, TITLE_H + sides_h)
            sides.append(Side(info.layer.slot_label(slot), rect, not branch))
            container = container_path(info.path, slot)
            # a drop anywhere in the side's column, down to the join, goes into the side
            area = QRectF(sx - LANE_GAP / 2, sides_top - GAP / 2, sw + LANE_GAP,
                          join_y - JOIN_D / 2 - sides_top + GAP / 2)
            lane = Lane(container, area, depth + 1)
            self.lanes.append(lane)
            scx = sx + sw / 2
            top = sides_top + TITLE_H
            elbow = header_bottom + GAP / 2 - 4
            self.lines.moveTo(cx, header_bottom)
            self.lines.lineTo(cx, elbow)
            self.lines.lineTo(scx, elbow)
            self.arrow(scx, elbow, top)
            if branch:
                end = self.place_seq(branch, container, lane, scx, top, info.name, inner)
            else:
                lane.slots.append(Slot(container, 0, top + EMPTY_H / 2))
                end = top + EMPTY_H
            self.lines.moveTo(scx, end)
            self.lines.lineTo(scx, join_y - JOIN_D / 2 - 6)
            self.lines.lineTo(cx, join_y - JOIN_D / 2 - 6)
            self.lines.lineTo(cx, join_y - JOIN_D / 2)
            sx += sw + LANE_GAP
        self.frames.append((info.name, info.layer.TYPE, info.status, QRectF(x, y, w, h), sides,
                            QPointF(cx, join_y), info.layer.join_label()))
        return join_y + JOIN_D / 2

    def arrow(self, x, y0, y1):
        """A connector down to a card, with its arrowhead."""
        self.lines.moveTo(x, y0)
        self.lines.lineTo(x, y1 - 5)
        head = QPainterPath()
        head.moveTo(x - 4, y1 - 6)
        head.lineTo(x + 4, y1 - 6)
        head.lineTo(x, y1 - 0.5)
        head.closeSubpath()
        self.arrows.addPath(head)
