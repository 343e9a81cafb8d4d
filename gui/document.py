"""The document every view shows: one network, its file, its undo stack, its clean state.

Views never hold their own copy of the network: they read ``document.network`` and
``document.report`` when ``changed`` fires. Every edit is a QUndoCommand (gui/commands.py)
that calls the mutators below, so editing, undo and loading take one path.
"""

from __future__ import annotations

from pathlib import Path

from convscope.core import Network
from convscope.core.analysis import Report
from convscope.core.network import assign_names, iter_layers, locate, read_layer, write_layers
from convscope.core.paths import container_path, item_path, key_layer, split_weight_key, weight_key
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

INPUT = "input"  # the selection name of the network's input (the spec's forward key)


class Document(QObject):
    changed = Signal()  # the network changed (structure, hyperparameters, input or weights)
    pathChanged = Signal(str)
    # the selected layer's name, "" for none, INPUT ("input") for the network's input
    selectionChanged = Signal(str)
    imageChanged = Signal()  # the input image changed
    replacing = Signal()  # a whole network is about to replace this one (a load)
    selecting = Signal(str)  # about to select this name (before selectionChanged)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.network = Network(name="untitled")
        self.report: Report = self.network.analyze()
        self.path: Path | None = None
        self.revision = 0  # bumps on every change: results of older revisions are stale
        self.selected = ""
        self.undo_stack = QUndoStack(self)
        self.image = None  # the input image as the network takes it, (C, H, W) float32
        self.image_source = ""

    # ------------------------------------------------------------------ state
    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def layer(self, path: str):
        return self.network.find(path)

    def path_of(self, name: str) -> str:
        return self.report.by_name(name).path

    def select(self, name: str) -> None:
        if name != self.selected:
            self.selecting.emit(name)
            self.selected = name
            self.selectionChanged.emit(name)

    def _touch(self) -> None:
        self.revision += 1
        self.report = self.network.analyze()
        if self.selected not in ("", INPUT) and self.selected not in self.network.layer_names():
            self.selected = ""
            self.selectionChanged.emit("")
        self.changed.emit()

    # ------------------------------------------------------------------ whole documents
    def replace_network(self, network: Network, path: Path | None) -> None:
        """Load: the new network, no undo history, clean."""
        self.replacing.emit()
        self.network = network
        self.path = Path(path) if path else None
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.selected = ""
        self._touch()
        self.selectionChanged.emit("")
        self.pathChanged.emit(str(self.path or ""))

    def mark_recovered(self) -> None:
        """A recovered document is unsaved work: no clean state until it is saved."""
        self.undo_stack.resetClean()

    def saved_as(self, path: Path) -> None:
        self.path = Path(path)
        self.undo_stack.setClean()
        self.pathChanged.emit(str(self.path))

    def set_image(self, image, source: str) -> None:
        self.image, self.image_source = image, source
        self.imageChanged.emit()

    # ------------------------------------------------------------------ mutators (commands only)
    def insert_layers(self, container: str, index: int, items: list[dict],
                      weights: dict | None = None) -> list[str]:
        """Insert layers (dicts as in the file) at ``container[index]``; names that are
        taken are dropped and given fresh ones. Returns the inserted top layers' names."""
        taken = self.network.layer_names()
        layers = []
        for n, item in enumerate(items):
            layer = read_layer(item, item_path(container, index + n))
            for inner in iter_layers([layer]):
                if inner.name in taken:
                    inner.name = None
                else:
                    taken.add(inner.name)
            layers.append(layer)
        seq = self.network.sequence(container)
        seq[index:index] = layers
        assign_names(self.network.layers)
        if weights:
            self.network.weights.update(weights)
        self._touch()
        return [layer.name for layer in layers]

    def remove_layer(self, path: str) -> tuple[dict, dict]:
        """Remove the layer at ``path``; returns its dict and its weights (for undo)."""
        seq, index = locate(self.network, path)
        layer = seq.pop(index)
        names = {inner.name for inner in iter_layers([layer])}
        weights = {k: v for k, v in self.network.weights.items()
                   if key_layer(k) in names}
        self._touch()
        return write_layers([layer])[0], weights

    def set_value(self, path: str, key: str, value):
        """Set one hyperparameter; returns the old value. Raises ConvScopeError if invalid."""
        layer = self.network.find(path)
        old = layer.values[key]
        layer.set(key, value)
        self._touch()
        return old

    def rename_layer(self, path: str, name: str) -> str:
        layer = self.network.find(path)
        old = layer.name
        layer.name = name
        for key in [k for k in self.network.weights if key_layer(k) == old]:
            self.network.weights[weight_key(name, split_weight_key(key)[1])] = \
                self.network.weights.pop(key)
        renamed = self.selected == old
        if renamed:
            self.selected = name
        self._touch()
        if renamed:
            self.selectionChanged.emit(name)
        return old

    def set_input_values(self, values: dict) -> dict:
        """Set several input keys at once (one analysis); returns their old values."""
        old = {key: getattr(self.network.input, key) for key in values}
        for key, value in values.items():
            setattr(self.network.input, key, value)
        self._touch()
        return old

    def set_weights(self, weights: dict) -> dict:
        """Replace all weights (load, train); returns the old ones."""
        old = self.network.weights
        self.network.weights = dict(weights)
        self.network.own_weights = True  # File ▸ Save writes them beside the architecture
        self._touch()
        return old

    def add_branch(self, path: str, index: int, items: list[dict] | None = None,
                   weights: dict | None = None) -> None:
        """Insert a branch (empty = identity, or the given layer dicts) into a concat."""
        block = self.network.find(path)
        slot = block.add_slot(index)
        if items:
            self.insert_layers(container_path(path, slot), 0, items, weights)
            return
        self._touch()

    def remove_branch(self, path: str, index: int) -> tuple[list[dict], dict]:
        """Remove a concat branch; returns its layers' dicts and weights (for undo)."""
        block = self.network.find(path)
        branch = block.remove_slot(index)
        names = {inner.name for inner in iter_layers(branch)}
        weights = {k: v for k, v in self.network.weights.items()
                   if key_layer(k) in names}
        self._touch()
        return write_layers(branch), weights
