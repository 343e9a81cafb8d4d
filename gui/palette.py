"""The layer palette: every layer type, grouped as the notes group them, ready to drag."""

from __future__ import annotations

import html

from convscope.core import CATEGORIES, REGISTRY
from convscope.gui.icons import icon, pixmap
from convscope.gui.layermime import MIME_LAYERS, default_item, layers_mime
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem

CATEGORY_TITLES = {
    "CONV": "CONV — convolution",
    "POOL": "POOL — pooling",
    "activation": "Activations",
    "NORM": "NORM — normalisation",
    "FC": "FC — fully connected",
    "blocks": "Blocks",
}
TYPE_ROLE = Qt.ItemDataRole.UserRole


def tooltip(cls) -> str:
    """The layer's SUMMARY as rich text, so Qt wraps it."""
    return (f"<qt><b>{html.escape(cls.TITLE)}</b> ({cls.TYPE})<br>"
            f"{html.escape(cls.SUMMARY, quote=False)}</qt>")


class LayerPalette(QTreeWidget):
    """Drag an entry onto the pipeline, or double-click / press Enter to add it after the
    selected layer."""

    addRequested = Signal(str)  # a layer type

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("layerPalette")
        self.setAccessibleName("Layers palette")
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(16, 16))
        self.setIndentation(12)
        self.setUniformRowHeights(True)
        self._items: dict[str, QTreeWidgetItem] = {}
        for category in CATEGORIES:
            group = QTreeWidgetItem([CATEGORY_TITLES.get(category, category)])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            self.addTopLevelItem(group)
            for cls in REGISTRY.values():
                if category == cls.CATEGORY:
                    group.addChild(self._entry(cls))
        self.expandAll()
        self.itemActivated.connect(self._activated)

    def _entry(self, cls) -> QTreeWidgetItem:
        item = QTreeWidgetItem([cls.TITLE])
        item.setIcon(0, icon(cls.TYPE))
        item.setToolTip(0, tooltip(cls))
        item.setStatusTip(0, cls.SUMMARY)
        item.setData(0, TYPE_ROLE, cls.TYPE)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                      | Qt.ItemFlag.ItemIsDragEnabled)
        self._items[cls.TYPE] = item
        return item

    def item_for(self, kind: str) -> QTreeWidgetItem:
        return self._items[kind]

    # -------------------------------------------------------------- drag
    def mimeTypes(self):
        return [MIME_LAYERS]

    def mimeData(self, items):
        kinds = [item.data(0, TYPE_ROLE) for item in items if item.data(0, TYPE_ROLE)]
        return layers_mime([default_item(kind) for kind in kinds])

    def supportedDragActions(self):
        return Qt.DropAction.CopyAction

    def startDrag(self, actions):
        items = [item for item in self.selectedItems() if item.data(0, TYPE_ROLE)]
        if not items:
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData(items))
        drag.setPixmap(pixmap(items[0].data(0, TYPE_ROLE), 24, self.devicePixelRatioF()))
        self._exec_drag(drag)

    def _exec_drag(self, drag: QDrag):  # pragma: no cover - runs a native drag loop
        drag.exec(Qt.DropAction.CopyAction)

    def _activated(self, item, column):
        kind = item.data(0, TYPE_ROLE)
        if kind:
            self.addRequested.emit(kind)
