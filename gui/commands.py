"""Every edit as a QUndoCommand that calls Document mutators only (as orange-canvas-core's
document/commands.py): undo replays the inverse mutator, so the document is the one truth."""

from __future__ import annotations

import re

from PySide6.QtGui import QUndoCommand


def _shown(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class InsertLayers(QUndoCommand):
    """Insert layers (file dicts) at ``container[index]``."""

    def __init__(self, doc, container: str, index: int, items: list[dict], text: str = "",
                 weights: dict | None = None):
        kinds = ", ".join(item.get("name") or item["type"] for item in items)
        super().__init__(text or f"Add {kinds}")
        self.doc, self.container, self.index, self.items = doc, container, index, items
        self.weights = weights
        self.names: list[str] = []

    def redo(self):
        self.names = self.doc.insert_layers(self.container, self.index, self.items,
                                            self.weights)
        # redo after undo must give the same names back
        self.items = [dict(item, name=name) for item, name in zip(self.items, self.names)]

    def undo(self):
        for n in reversed(range(len(self.items))):
            self.doc.remove_layer(f"{self.container}[{self.index + n}]")


class RemoveLayer(QUndoCommand):
    def __init__(self, doc, path: str, text: str = ""):
        super().__init__(text or f"Delete {doc.layer(path).name}")
        self.doc, self.path = doc, path
        self.item, self.weights = None, None

    def redo(self):
        self.item, self.weights = self.doc.remove_layer(self.path)

    def undo(self):
        container, index = split_path(self.path)
        self.doc.insert_layers(container, index, [self.item], self.weights)


class MoveLayer(QUndoCommand):
    """Move a layer to ``container[index]`` (index counted before the move)."""

    def __init__(self, doc, path: str, container: str, index: int):
        super().__init__(f"Move {doc.layer(path).name}")
        self.doc, self.src = doc, path
        self.dst_container, self.dst_index = adjust_target(path, container, index)

    def redo(self):
        item, weights = self.doc.remove_layer(self.src)
        self.doc.insert_layers(self.dst_container, self.dst_index, [item], weights)

    def undo(self):
        item, weights = self.doc.remove_layer(f"{self.dst_container}[{self.dst_index}]")
        container, index = split_path(self.src)
        self.doc.insert_layers(container, index, [item], weights)


class SetValue(QUndoCommand):
    """Change one hyperparameter: "Change conv2 padding 0 → 1"."""

    def __init__(self, doc, path: str, key: str, value):
        layer = doc.layer(path)
        old = layer.values[key]
        super().__init__(f"Change {layer.name} {key} {_shown(old)} → {_shown(value)}")
        self.doc, self.path, self.key, self.value, self.old = doc, path, key, value, old

    def redo(self):
        self.doc.set_value(self.path, self.key, self.value)

    def undo(self):
        self.doc.set_value(self.path, self.key, self.old)


class RenameLayer(QUndoCommand):
    def __init__(self, doc, path: str, name: str):
        old = doc.layer(path).name
        super().__init__(f"Rename {old} → {name}")
        self.doc, self.path, self.name, self.old = doc, path, name, old

    def redo(self):
        self.doc.rename_layer(self.path, self.name)

    def undo(self):
        self.doc.rename_layer(self.path, self.old)


class SetInput(QUndoCommand):
    def __init__(self, doc, key: str, value):
        old = getattr(doc.network.input, key)
        super().__init__(f"Change input {key} {_shown(old)} → {_shown(value)}")
        self.doc, self.key, self.value, self.old = doc, key, value, old

    def redo(self):
        self.doc.set_input(self.key, self.value)

    def undo(self):
        self.doc.set_input(self.key, self.old)


def apply_fix(doc, fix: dict) -> None:
    """Push a diagnostic's fix (one or more changes) as one undoable step."""
    stack = doc.undo_stack
    stack.beginMacro(f"Fix: {fix['label']}")
    for change in fix["changes"]:
        if change["path"] == "input":
            stack.push(SetInput(doc, change["key"], change["value"]))
        else:
            stack.push(SetValue(doc, change["path"], change["key"], change["value"]))
    stack.endMacro()


def split_path(path: str) -> tuple[str, int]:
    """"layers[3].body[1]" → ("layers[3].body", 1)."""
    m = re.fullmatch(r"(.*)\[(\d+)\]", path)
    return m.group(1), int(m.group(2))


def adjust_target(src: str, container: str, index: int) -> tuple[str, int]:
    """Where a moved layer lands once it has left ``src``: indices after it shift by one,
    in its own list and in any path that runs through a later sibling."""
    src_container, src_index = split_path(src)
    if container == src_container and index > src_index:
        return container, index - 1
    prefix = f"{src_container}["
    if container.startswith(prefix):
        rest = container[len(prefix):]
        m = re.match(r"(\d+)\](.*)", rest)
        if m and int(m.group(1)) > src_index:
            container = f"{prefix}{int(m.group(1)) - 1}]{m.group(2)}"
    return container, index
