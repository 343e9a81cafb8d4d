"""Every edit as a QUndoCommand that calls Document mutators only (as orange-canvas-core's
document/commands.py): undo replays the inverse mutator, so the document is the one truth."""

from __future__ import annotations

from convscope.core.paths import LayerPath, item_path, split_path
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
            self.doc.remove_layer(item_path(self.container, self.index + n))


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
        if not self.doc.selected:  # the restored layer is where the eye goes
            self.doc.select(self.item["name"])


class MoveLayer(QUndoCommand):
    """Move a layer to ``container[index]`` (index counted before the move)."""

    def __init__(self, doc, path: str, container: str, index: int):
        super().__init__(f"Move {doc.layer(path).name}")
        self.doc, self.src = doc, path
        self.dst_container, self.dst_index = adjust_target(path, container, index)

    def redo(self):
        self._move(self.src, self.dst_container, self.dst_index)

    def undo(self):
        self._move(item_path(self.dst_container, self.dst_index), *split_path(self.src))

    def _move(self, path, container, index):
        selected = self.doc.selected  # the layer keeps its selection through the move
        item, weights = self.doc.remove_layer(path)
        self.doc.insert_layers(container, index, [item], weights)
        if selected and not self.doc.selected:
            self.doc.select(selected)


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


class AddBranch(QUndoCommand):
    """Add a branch to a concat at ``index`` (empty: the identity)."""

    def __init__(self, doc, path: str, index: int, items: list[dict] | None = None):
        super().__init__(f"Add a branch to {doc.layer(path).name}")
        self.doc, self.path, self.index = doc, path, index
        self.items, self.weights = items, None

    def redo(self):
        self.doc.add_branch(self.path, self.index, self.items, self.weights)

    def undo(self):
        self.items, self.weights = self.doc.remove_branch(self.path, self.index)


class RemoveBranch(QUndoCommand):
    def __init__(self, doc, path: str, index: int):
        super().__init__(f"Remove branch {index + 1} of {doc.layer(path).name}")
        self.doc, self.path, self.index = doc, path, index
        self.items, self.weights = None, None

    def redo(self):
        self.items, self.weights = self.doc.remove_branch(self.path, self.index)

    def undo(self):
        self.doc.add_branch(self.path, self.index, self.items, self.weights)


class SetInputValues(QUndoCommand):
    """Several input keys in one step, e.g. height and width: "Change input size 224×224 →
    227×227", or channels with mean/std reset."""

    def __init__(self, doc, values: dict, text: str = ""):
        spec = doc.network.input
        if not text and set(values) == {"height", "width"}:
            text = (f"Change input size {spec.height}×{spec.width} → "
                    f"{values['height']}×{values['width']}")
        elif not text:
            text = "Change input " + ", ".join(
                f"{k} {_shown(getattr(spec, k))} → {_shown(v)}" for k, v in values.items())
        super().__init__(text)
        self.doc, self.values, self.old = doc, dict(values), None

    def redo(self):
        self.old = self.doc.set_input_values(self.values)

    def undo(self):
        self.doc.set_input_values(self.old)


def apply_fix(doc, fix: dict) -> None:
    """Push a diagnostic's fix (one or more changes) as one undoable step."""
    stack = doc.undo_stack
    stack.beginMacro(f"Fix: {fix['label']}")
    inputs = {c["key"]: c["value"] for c in fix["changes"] if c["path"] == "input"}
    if inputs:  # one step, one analysis, for "set the input to 227×227"
        stack.push(SetInputValues(doc, inputs))
    for change in fix["changes"]:
        if change["path"] != "input":
            stack.push(SetValue(doc, change["path"], change["key"], change["value"]))
    stack.endMacro()


def adjust_target(src: str, container: str, index: int) -> tuple[str, int]:
    """Where a moved layer lands once it has left ``src``: indices after it shift by one,
    in its own list and in any path that runs through a later sibling."""
    target = LayerPath.at(container, index).after_removal(LayerPath.parse(src))
    return target.container, target.index


# ============================================================================ weights
class SetWeights(QUndoCommand):
    """Replace the network's weights; undo puts the old ones back."""

    def __init__(self, doc, weights: dict, text: str):
        super().__init__(text)
        self.doc = doc
        self.new = dict(weights)
        self.old = dict(doc.network.weights)

    def redo(self):
        self.doc.set_weights(self.new)

    def undo(self):
        self.doc.set_weights(self.old)


# ============================================================================ Understand
# - ``ConvertFcToConv``: the fc head replaced by its conv form, weights reshaped (one step).
# - ``TrainWeights``: the weights a training run made. A run pushes one as soon as it shows
#   its first preview and merges every later preview and its end into it, so the undo stack
#   gets one "Train …" entry per run (undo: the weights from before the run), never one per
#   step, and the document always matches its undo history.
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
