"""Edits a person makes on the selected layer: add, delete, duplicate, cut, copy, paste,
move, wrap. Each is one undoable step built from gui/commands.py; the menus, the keyboard,
the pipeline's drops and the tests all call these functions."""

from __future__ import annotations

from convscope.core.layers import REGISTRY, Block
from convscope.core.network import iter_layers, write_layers
from convscope.core.paths import (
    TOP,
    LayerPath,
    container_path,
    key_layer,
    split_container,
    split_path,
)
from convscope.gui import commands
from convscope.gui.commands import InsertLayers, MoveLayer, RemoveLayer
from convscope.gui.document import INPUT
from convscope.gui.layermime import layer_items, layers_mime


def selected_path(doc) -> str | None:
    """The selected layer's path, or None (nothing, or the input, is selected)."""
    if doc.selected in ("", INPUT):
        return None
    try:
        return doc.path_of(doc.selected)
    except KeyError:
        return None


def insert_point(doc) -> tuple[str, int]:
    """Where a new layer goes: after the selected one, in its list; first when the input is
    selected; at the end when nothing is."""
    path = selected_path(doc)
    if path is None:
        return (TOP, 0) if doc.selected == INPUT else (TOP, len(doc.network.layers))
    container, index = split_path(path)
    return container, index + 1


def add_layers(doc, items: list[dict], container: str | None = None,
               index: int | None = None, text: str = "") -> list[str]:
    """Insert layer dicts (at the insert point unless given) and select the first."""
    if container is None:
        container, index = insert_point(doc)
    command = InsertLayers(doc, container, index, items, text)
    doc.undo_stack.push(command)
    if command.names:
        doc.select(command.names[0])
    return command.names


def delete_selected(doc) -> bool:
    path = selected_path(doc)
    if path is None:
        return False
    container, index = split_path(path)
    doc.undo_stack.push(RemoveLayer(doc, path))
    _select_near(doc, container, index)
    return True


def _select_near(doc, container: str, index: int) -> None:
    """After a delete, select what took the deleted layer's place (or the one before)."""
    try:
        seq = doc.network.sequence(container)
    except KeyError:
        return
    block, _ = split_container(container)
    if seq:
        doc.select(seq[min(index, len(seq) - 1)].name)
    elif block is not None:
        doc.select(doc.layer(str(block)).name)


def selected_items(doc) -> list[dict]:
    path = selected_path(doc)
    return [] if path is None else write_layers([doc.layer(path)])


def duplicate_selected(doc) -> list[str]:
    path = selected_path(doc)
    if path is None:
        return []
    container, index = split_path(path)
    name = doc.layer(path).name
    return add_layers(doc, selected_items(doc), container, index + 1, f"Duplicate {name}")


def copy_selected(doc, clipboard) -> bool:
    items = selected_items(doc)
    if items:
        clipboard.setMimeData(layers_mime(items))
    return bool(items)


def cut_selected(doc, clipboard) -> bool:
    path = selected_path(doc)
    if path is None:
        return False
    copy_selected(doc, clipboard)
    container, index = split_path(path)
    doc.undo_stack.push(RemoveLayer(doc, path, f"Cut {doc.layer(path).name}"))
    _select_near(doc, container, index)
    return True


def paste(doc, clipboard) -> list[str]:
    """Insert the clipboard's layers; ConvScopeError if they cannot be used (nothing is
    inserted)."""
    items = layer_items(clipboard.mimeData())
    if not items:
        return []
    kinds = ", ".join(item.get("name") or item["type"] for item in items)
    return add_layers(doc, items, text=f"Paste {kinds}")


def can_move(src: str, container: str, index: int) -> bool:
    """A layer cannot go inside itself, and dropping it where it is changes nothing."""
    moved = LayerPath.parse(src)
    if LayerPath.at(container, index).within(moved):
        return False
    return not (container == moved.container and index in (moved.index, moved.index + 1))


def move_layer(doc, src: str, container: str, index: int) -> bool:
    """Move the layer at ``src`` to ``container[index]`` (index counted before the move)."""
    if not can_move(src, container, index):
        return False
    doc.undo_stack.push(MoveLayer(doc, src, container, index))
    return True


def move_target(doc, path: str, direction: str) -> tuple[str, int] | None:
    """Where Alt+arrow sends a layer. Up/down step past a neighbour, enter a neighbouring
    block (its first side) or leave the block at its ends; left/right change sides."""
    here = LayerPath.parse(path)
    container, index, block_path = here.container, here.index, here.block
    seq = doc.network.sequence(container)
    if direction in ("up", "down"):
        step = -1 if direction == "up" else 1
        other = index + step
        if 0 <= other < len(seq):
            neighbour = seq[other]
            if isinstance(neighbour, Block):
                slot, inner = neighbour.slots()[0]
                at = len(inner) if step < 0 else 0
                return container_path(here.sibling(other), slot), at
            return container, index + (2 if step > 0 else -1)
        if block_path is None:
            return None
        return block_path.container, block_path.index + (0 if step < 0 else 1)
    if block_path is None:
        return None
    slots = doc.layer(str(block_path)).slots()
    side = [slot for slot, _ in slots].index(here.slot)
    side += -1 if direction == "left" else 1
    if not 0 <= side < len(slots):
        return None
    slot, target = slots[side]
    return container_path(block_path, slot), min(index, len(target))


def move_selected(doc, direction: str) -> bool:
    path = selected_path(doc)
    if path is None:
        return False
    target = move_target(doc, path, direction)
    return target is not None and move_layer(doc, path, *target)


def wrap_selected(doc, kind: str = "residual") -> bool:
    """Put the selected layer in the first slot of a new block of type ``kind`` (a residual's
    body, a concat's first branch)."""
    path = selected_path(doc)
    if path is None:
        return False
    container, index = split_path(path)
    layer = doc.layer(path)
    names = {inner.name for inner in iter_layers([layer])}
    weights = {k: v for k, v in doc.network.weights.items() if key_layer(k) in names}
    wrapper = REGISTRY[kind]()
    wrapper.slots()[0][1].append(layer)  # only to write it: the network keeps its own
    block = write_layers([wrapper])[0]
    stack = doc.undo_stack
    stack.beginMacro(f"Wrap {layer.name} in a {kind} block")
    stack.push(RemoveLayer(doc, path))
    stack.push(InsertLayers(doc, container, index, [block], weights=weights))
    stack.endMacro()
    doc.select(layer.name)
    return True


def concat_of_selection(doc) -> tuple[str, int] | None:
    """(block path, slot index) for the nearest block around the selection whose slots can
    be added and removed (a concat): a selected one (its last slot), or the one holding the
    selected layer in a slot."""
    path = selected_path(doc)
    here = LayerPath.parse(path) if path else None
    while here is not None:
        layer = doc.layer(str(here))
        if isinstance(layer, Block) and layer.GROWS:
            return str(here), len(layer.slots()) - 1
        block = here.block
        if block is not None and doc.layer(str(block)).GROWS:
            return str(block), doc.layer(str(block)).slot_index(here.slot)
        here = block
    return None


def add_branch(doc) -> bool:
    found = concat_of_selection(doc)
    if found is None:
        return False
    path, branch = found
    doc.undo_stack.push(commands.AddBranch(doc, path, branch + 1))
    return True


def remove_branch(doc) -> bool:
    """Remove the slot holding the selection (a concat keeps at least one branch)."""
    found = concat_of_selection(doc)
    if found is None or not doc.layer(found[0]).can_remove_slot():
        return False
    name = doc.layer(found[0]).name
    doc.undo_stack.push(commands.RemoveBranch(doc, *found))
    doc.select(name)
    return True


def problems(doc) -> list:
    """LayerInfos with a warning or an error, in reading order."""
    return [info for info in doc.report.layers if info.status in ("warning", "error")]


def next_problem(doc) -> str:
    """Select the next layer with a warning or an error after the selection (wrapping)."""
    found = problems(doc)
    if not found:
        return ""
    names = [info.name for info in doc.report.layers]
    here = names.index(doc.selected) if doc.selected in names else -1
    after = [i for i in found if names.index(i.name) > here]
    name = (after or found)[0].name
    doc.select(name)
    return name
