"""Weights as undoable edits: the classic filter bank for the first conv, or a weights file.

Why an action and not automatic: the document must stay what its file says. If conv1 were
swapped for the bank behind the user's back, the app's maps would differ from
``convscope run`` on the same file, and saving would write filters nobody chose. So the bank
is one click away (Network ▸ Classic filters for conv1, and a button on the kernel view while
conv1 still has its seeded random weights), and it is an undoable edit like any other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QUndoCommand

from core import ConvScopeError
from core.filterbank import classic_filters

from .tensors import producer


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


def first_conv(report):
    """The LayerInfo of the first conv that reads the input image, or None."""
    for info in report.layers:
        if info.type == "conv" and info.out is not None and producer(report, info.name) == "input":
            return info
    return None


def has_seeded_first_conv(doc) -> bool:
    """True while the first conv still has its seeded random weights (no file, no bank)."""
    info = first_conv(doc.report)
    return (info is not None and not doc.network.weights_file
            and f"{info.name}.weight" not in doc.network.weights)


def classic_weights(network, report) -> tuple[str, dict]:
    """(conv name, the network's weights with that conv's filters from the classic bank)."""
    info = first_conv(report)
    if info is None:
        raise ConvScopeError("the network has no conv layer reading the input")
    shapes = info.layer.param_shapes(info.in_shape)
    n, channels, kh, kw = shapes["weight"]
    weights = dict(network.weights)
    weights[f"{info.name}.weight"] = classic_filters(n, channels, kh, kw, seed=network.seed)
    if "bias" in shapes:
        weights[f"{info.name}.bias"] = np.zeros(shapes["bias"], np.float32)
    return info.name, weights


def apply_classic_filters(doc) -> str:
    """Push the edit; returns "" or the reason it cannot be done."""
    try:
        name, weights = classic_weights(doc.network, doc.report)
    except ConvScopeError as err:
        return str(err)
    doc.undo_stack.push(SetWeights(doc, weights, f"Classic filters for {name}"))
    return ""


def load_weights(doc, path) -> str:
    """Read a weights file into the network as one undoable edit; "" or the reason not."""
    trial = doc.network.copy()
    try:
        trial.load_weights(path)
    except ConvScopeError as err:
        return str(err)
    doc.undo_stack.push(SetWeights(doc, trial.weights, f"Load weights {Path(path).name}"))
    return ""
