"""Edits a person makes on the selected layer: add, delete, duplicate, cut, copy, paste,
move, wrap. Each is one undoable step built from gui/commands.py; the menus, the keyboard,
the pipeline's drops and the tests all call these functions."""

from __future__ import annotations

from core.layers import Block
from core.network import iter_layers, write_layers
from gui import commands
from gui.commands import InsertLayers, MoveLayer, RemoveLayer, split_path
from gui.document import INPUT
from gui.layermime import layers_mime, read_items


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
        return ("layers", 0) if doc.selected == INPUT else ("layers", len(doc.network.layers))
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
    if seq:
        doc.select(seq[min(index, len(seq) - 1)].name)
    elif container != "layers":
        doc.select(doc.layer(container.rsplit(".", 1)[0]).name)


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
    items = read_items(clipboard.mimeData())
    if not items:
        return []
    kinds = ", ".join(item.get("name") or item["type"] for item in items)
    return add_layers(doc, items, text=f"Paste {kinds}")


def can_move(src: str, container: str, index: int) -> bool:
    """A layer cannot go inside itself, and dropping it where it is changes nothing."""
    if container == src or container.startswith(src + "."):
        return False
    src_container, src_index = split_path(src)
    return not (container == src_container and index in (src_index, src_index + 1))


def move_layer(doc, src: str, container: str, index: int) -> bool:
    """Move the layer at ``src`` to ``container[index]`` (index counted before the move)."""
    if not can_move(src, container, index):
        return False
    doc.undo_stack.push(MoveLayer(doc, src, container, index))
    return True


def move_target(doc, path: str, direction: str) -> tuple[str, int] | None:
    """Where Alt+arrow sends a layer. Up/down step past a neighbour, enter a neighbouring
    block (its first side) or leave the block at its ends; left/right change sides."""
    container, index = split_path(path)
    seq = doc.network.sequence(container)
    block_path = container.rsplit(".", 1)[0] if container != "layers" else None
    if direction in ("up", "down"):
        step = -1 if direction == "up" else 1
        other = index + step
        if 0 <= other < len(seq):
            neighbour = seq[other]
            if isinstance(neighbour, Block):
                suffix, inner = neighbour.sequences()[0]
                at = len(inner) if step < 0 else 0
                return f"{container}[{other}].{suffix}", at
            return container, index + (2 if step > 0 else -1)
        if block_path is None:
            return None
        outer, block_index = split_path(block_path)
        return outer, block_index + (0 if step < 0 else 1)
    if block_path is None:
        return None
    block = doc.layer(block_path)
    suffixes = [suffix for suffix, _ in block.sequences()]
    side = suffixes.index(container.rsplit(".", 1)[1])
    side += -1 if direction == "left" else 1
    if not 0 <= side < len(suffixes):
        return None
    target = block.sequences()[side][1]
    return f"{block_path}.{suffixes[side]}", min(index, len(target))


def move_selected(doc, direction: str) -> bool:
    path = selected_path(doc)
    if path is None:
        return False
    target = move_target(doc, path, direction)
    return target is not None and move_layer(doc, path, *target)


def wrap_selected(doc, kind: str = "residual") -> bool:
    """Put the selected layer inside a new residual body (or a concat's first branch)."""
    path = selected_path(doc)
    if path is None:
        return False
    container, index = split_path(path)
    layer = doc.layer(path)
    item = write_layers([layer])[0]
    names = {inner.name for inner in iter_layers([layer])}
    weights = {k: v for k, v in doc.network.weights.items() if k.rsplit(".", 1)[0] in names}
    block = ({"type": "residual", "body": [item], "shortcut": []} if kind == "residual"
             else {"type": "concat", "branches": [[item], []]})
    stack = doc.undo_stack
    stack.beginMacro(f"Wrap {layer.name} in a {kind} block")
    stack.push(RemoveLayer(doc, path))
    stack.push(InsertLayers(doc, container, index, [block], weights=weights))
    stack.endMacro()
    doc.select(layer.name)
    return True


def concat_of_selection(doc) -> tuple[str, int] | None:
    """(concat path, branch index) for a selected concat (its last branch) or a layer
    inside one of its branches."""
    path = selected_path(doc)
    while path:
        layer = doc.layer(path)
        if layer.TYPE == "concat":
            return path, len(layer.values["branches"]) - 1
        container, _ = split_path(path)
        block_path, _, tail = container.rpartition(".")
        if tail.startswith("branches["):
            return block_path, int(tail[len("branches["):-1])
        path = block_path or None
    return None


def add_branch(doc) -> bool:
    found = concat_of_selection(doc)
    if found is None:
        return False
    path, branch = found
    doc.undo_stack.push(commands.AddBranch(doc, path, branch + 1))
    return True


def remove_branch(doc) -> bool:
    """Remove the branch holding the selection (a concat keeps at least one)."""
    found = concat_of_selection(doc)
    if found is None or len(doc.layer(found[0]).values["branches"]) < 2:
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
