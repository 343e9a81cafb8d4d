"""Which tensor is which, from a Report alone (no Qt: the worker thread uses it too)."""

from __future__ import annotations

from convscope.core.paths import LayerPath


def producer(report, name: str) -> str:
    """The tensor a layer reads: "input", or the name of the layer whose output it takes.

    The first layer of a block's branch reads what the block reads; any other layer reads
    its previous sibling's output."""
    path = LayerPath.parse(report.by_name(name).path)
    if path.index > 0:
        return report.by_path(str(path.sibling(path.index - 1))).name
    if path.block is None:
        return "input"
    return producer(report, report.by_path(str(path.block)).name)


def shown_layer(report, selected: str) -> str:
    """The layer the views show: the selected one (or "input"), or (none selected) the
    first conv, so that there is something to see; "" for an empty network."""
    names = {info.name for info in report.layers}
    if selected in names or selected == "input":  # "input": the document's name for it
        return selected
    first_conv = next((i.name for i in report.layers if i.type == "conv"), None)
    return first_conv or (report.layers[-1].name if report.layers else "")


def branch_tensors(report, name: str) -> list[tuple[str, str]]:
    """For a block: (label, tensor) of its output and of each branch's end (an empty
    branch is the identity: the block's input); [] for any other layer."""
    info = report.by_name(name) if name != "input" else None
    if info is None or not info.branches:
        return []
    items = [(f"{name} (block output)", name)]
    for (suffix, _), branch in zip(info.layer.slots(), info.branches):
        if branch:
            items.append((f"{suffix} → {branch[-1].name}", branch[-1].name))
        else:
            items.append((f"{suffix}: identity (the block's input)", producer(report, name)))
    return items


def wished_tensor(report, activations, selected: str, hint: str) -> str:
    """The tensor the feature map view will show: the hint if it is the selected layer or
    one of its branches, else the shown layer."""
    name = shown_layer(report, selected)
    if hint == name or hint in {t for _, t in branch_tensors(report, name)}:
        return hint if hint in activations else name
    return name
