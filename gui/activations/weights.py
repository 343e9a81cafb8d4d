"""Weights as undoable edits: the classic filter bank for the first conv, or a weights file.

Why an action and not automatic: the document must stay what its file says. If conv1 were
swapped for the bank behind the user's back, the app's maps would differ from
``convscope run`` on the same file, and saving would write filters nobody chose. So the bank
is one click away (Network ▸ Classic filters for conv1, and a button on the kernel view while
conv1 still has its seeded random weights), and it is an undoable edit like any other.
"""

from __future__ import annotations

from pathlib import Path

from convscope.core import ConvScopeError
from convscope.core.live.weights import classic_weights, first_conv
from convscope.gui.commands import SetWeights


def has_seeded_first_conv(doc) -> bool:
    """True while the first conv still has its seeded random weights (no file, no bank)."""
    info = first_conv(doc.report)
    return (info is not None and not doc.network.weights_file
            and f"{info.name}.weight" not in doc.network.weights)


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
