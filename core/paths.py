"""How a network names its parts: where a layer sits (its path), what a layer may be called,
and the key of a parameter in a weights file. Every rule here is written once.

A **path** names a layer by the lists that lead to it, as the file, the reports and the
error messages write it: ``layers[3]``, ``layers[3].body[1]``, ``layers[2].branches[1][0]``.
Each step is (slot, index): the top list's slot is ``layers``; a block's slots are the
suffixes its ``slots()`` gives (``body``, ``shortcut``, ``branches[1]``). A **container**
names a list of layers: ``layers``, ``layers[3].body``, ``layers[2].branches[1]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConvScopeError

TOP = "layers"  # the top list's slot


class PathError(ConvScopeError, KeyError):
    """Text that is no layer path (a KeyError too: looking up a bad path finds nothing)."""

    def __str__(self) -> str:  # KeyError's own would quote the message
        return ConvScopeError.__str__(self)


# One step: a slot (a word, perhaps indexed: "branches[1]") and the layer's index in it.
# The slot's own index is optional and the regex backtracks, so "body[1]" is ("body", 1).
_STEP = re.compile(r"(?P<slot>[A-Za-z_]\w*(?:\[\d+\])?)\[(?P<index>\d+)\]")
_SLOT = re.compile(r"[A-Za-z_]\w*(?:\[\d+\])?")


@dataclass(frozen=True)
class LayerPath:
    """A layer's place: ``layers[3].body[1]`` is steps (("layers", 3), ("body", 1))."""

    steps: tuple[tuple[str, int], ...]

    @classmethod
    def parse(cls, text: str) -> LayerPath:
        """``"layers[3].body[1]"`` → its LayerPath; PathError for anything else."""
        if not isinstance(text, str):
            raise PathError(f"a layer path is text, got {text!r}")
        steps = []
        for part in text.split("."):
            m = _STEP.fullmatch(part)
            if m is None:
                raise PathError(f"'{text}' is not a layer path (as layers[3].body[1])")
            steps.append((m.group("slot"), int(m.group("index"))))
        if steps[0][0] != TOP:
            raise PathError(f"'{text}' is not a layer path: it must start at '{TOP}['")
        return cls(tuple(steps))

    @classmethod
    def at(cls, container: str, index: int) -> LayerPath:
        """The path of item ``index`` of the list ``container``."""
        block, slot = split_container(container)
        return (block.child(slot, index) if block is not None
                else cls(((TOP, index),)))

    def __str__(self) -> str:
        return ".".join(f"{slot}[{index}]" for slot, index in self.steps)

    @property
    def index(self) -> int:
        """The layer's index in its list."""
        return self.steps[-1][1]

    @property
    def slot(self) -> str:
        """The slot of the list holding the layer: ``layers``, ``body``, ``branches[1]``."""
        return self.steps[-1][0]

    @property
    def block(self) -> LayerPath | None:
        """The path of the block holding the layer; None at the top."""
        return LayerPath(self.steps[:-1]) if len(self.steps) > 1 else None

    @property
    def container(self) -> str:
        """The list holding the layer: ``layers[3].body`` for ``layers[3].body[1]``."""
        return container_path(self.block, self.slot)

    def child(self, slot: str, index: int) -> LayerPath:
        """Item ``index`` of this block's slot ``slot``."""
        return LayerPath(self.steps + ((slot, index),))

    def sibling(self, index: int) -> LayerPath:
        """Another index in the same list."""
        return LayerPath(self.steps[:-1] + ((self.slot, index),))

    def after_removal(self, removed: LayerPath) -> LayerPath:
        """This path once the layer at ``removed`` is taken out of its list: a later
        sibling of it, and anything inside one, moves up by one."""
        n = len(removed.steps)
        if len(self.steps) < n or self.steps[:n - 1] != removed.steps[:n - 1]:
            return self
        slot, index = self.steps[n - 1]
        if slot != removed.slot or index <= removed.index:
            return self
        return LayerPath(self.steps[:n - 1] + ((slot, index - 1),) + self.steps[n:])

    def within(self, other: LayerPath) -> bool:
        """This layer is ``other`` or inside it."""
        return self.steps[:len(other.steps)] == other.steps


def item_path(container: str, index: int) -> str:
    """The path of item ``index`` of the list ``container``, as text (no parsing: the
    analysis makes one per layer on every edit)."""
    return f"{container}[{index}]"


def split_path(text: str) -> tuple[str, int]:
    """``"layers[3].body[1]"`` → ``("layers[3].body", 1)``."""
    path = LayerPath.parse(text)
    return path.container, path.index


def container_path(block: LayerPath | str | None, slot: str) -> str:
    """The container text of a block's slot (or of the top list: block None)."""
    return TOP if block is None else f"{block}.{slot}"


def split_container(text: str) -> tuple[LayerPath | None, str]:
    """``"layers"`` → (None, "layers"); ``"layers[3].body"`` → (layers[3], "body")."""
    if text == TOP:
        return None, TOP
    head, _, slot = text.rpartition(".") if isinstance(text, str) else ("", "", "")
    if not head or not _SLOT.fullmatch(slot):
        raise PathError(f"'{text}' is not a list of layers (as layers or layers[3].body)")
    return LayerPath.parse(head), slot


# ====================================================================== layer names
NAME_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
# What forward() and the weights file use besides layer names: a layer may not take it.
RESERVED_NAMES = frozenset({"input"})


def name_problem(name) -> str:
    """Why ``name`` cannot name a layer, or "" when it can."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        return f"layer name {name!r} must be letters, digits, _ or - (at most 64)"
    if name in RESERVED_NAMES:
        return f"'{name}' is the network's input; a layer needs another name"
    return ""


def check_name(name, place: str = "") -> str:
    """``name`` if it can name a layer, else ConvScopeError at ``place``."""
    problem = name_problem(name)
    if problem:
        raise ConvScopeError(problem, place)
    return name


# ====================================================================== weight keys
def weight_key(layer: str, param: str) -> str:
    """The weights file's key: ``conv1.weight``."""
    return f"{layer}.{param}"


def split_weight_key(key: str) -> tuple[str, str]:
    """``"conv1.weight"`` → ``("conv1", "weight")`` (a layer name has no dot)."""
    layer, dot, param = key.partition(".")
    if not dot or not layer or not param:
        raise ConvScopeError(f"'{key}' is not a weight key (as conv1.weight)")
    return layer, param


def key_layer(key: str) -> str:
    """The layer a weight key belongs to."""
    return split_weight_key(key)[0]
