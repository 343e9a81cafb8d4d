"""The Understand panels' edits, as QUndoCommands calling Document mutators only.

- ``ConvertFcToConv``: the fc head replaced by its conv form, weights reshaped (one step).
- ``TrainWeights``: the weights a training run made. A run pushes one as soon as it shows
  its first preview and merges every later preview and its end into it, so the undo stack
  gets one "Train …" entry per run (undo: the weights from before the run), never one per
  step, and the document always matches its undo history.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

TRAIN_COMMAND_ID = 0x7261  # commands with the same id may merge (QUndoCommand.id)


class ReplaceHead(QUndoCommand):
    """Replace the top-level layers from ``start`` on by ``new_items`` and set all weights
    (``new_weights``); undo puts the old layers and weights back."""

    def __init__(self, doc, start: int, new_items: list[dict], new_weights: dict, text: str):
        super().__init__(text)
        self.doc, self.start = doc, start
        self.new_items, self.new_weights = new_items, dict(new_weights)
        self.old_items: list[dict] = []
        self.old_weights: dict = dict(doc.network.weights)
        self.selected = doc.selected

    def _swap(self, items: list[dict], weights: dict) -> list[dict]:
        removed = []
        count = len(self.doc.network.layers)
        for index in reversed(range(self.start, count)):
            item, _ = self.doc.remove_layer(f"layers[{index}]")
            removed.insert(0, item)
        self.doc.insert_layers("layers", self.start, items)
        self.doc.set_weights(weights)
        if self.selected and self.selected in self.doc.network.layer_names():
            self.doc.select(self.selected)  # the same name survives the swap (fc6 → fc6)
        return removed

    def redo(self):
        self.old_items = self._swap(self.new_items, self.new_weights)

    def undo(self):
        self._swap(self.old_items, self.old_weights)


class ConvertFcToConv(ReplaceHead):
    def __init__(self, doc, start, new_items, new_weights, count: int):
        super().__init__(doc, start, new_items, new_weights,
                         f"Convert {count} fc layer{'s' * (count != 1)} to conv")


class TrainWeights(QUndoCommand):
    """Set the weights a training run made; merges with the same run's earlier entry."""

    def __init__(self, doc, run_id: int, old_weights: dict, new_weights: dict, text: str):
        super().__init__(text)
        self.doc, self.run_id = doc, run_id
        self.old, self.new = old_weights, new_weights

    def id(self) -> int:
        return TRAIN_COMMAND_ID

    def mergeWith(self, other) -> bool:
        if not isinstance(other, TrainWeights) or other.run_id != self.run_id:
            return False
        self.new = other.new
        self.setText(other.text())
        return True

    def redo(self):
        self.doc.set_weights(self.new)

    def undo(self):
        self.doc.set_weights(self.old)
