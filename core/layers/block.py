"""Blocks: layers that hold lists of layers (their *slots*) and join what the slots make.

A block owns its slots' plumbing, so the network, the analysis and the GUI walk every
block the same way and never ask its type:

- ``slots()``: (slot, list of layers) in reading order. The slot is the path suffix of the
  list (``layers[3].body``) and its key in ``slot_list``.
- ``read_slots(data, read)`` / ``write_slots(out, write)``: the file's nested keys.
- ``slot_label(slot)``: the title a person sees above a slot.
- ``GROWS``: slots can be added and removed (``add_slot`` / ``remove_slot``); ``MIN_SLOTS``.
- ``join_label()``: the sign the pipeline draws where the slots meet; ``block_detail``.
- ``mends(ends)``: layers that would make the slots' outputs fit together.
"""

from __future__ import annotations

from .base import Layer, Shaped


class Block(Layer):
    CATEGORY = "blocks"
    GROWS = False  # a person can add and remove slots (a concat's branches)
    MIN_SLOTS = 1  # the fewest slots a block that grows keeps

    # -------------------------------------------------------------- the tree
    def slots(self) -> list[tuple[str, list]]:
        """(slot, list of layers) for every nested list, in reading order."""
        raise NotImplementedError

    def slot_list(self, slot: str) -> list:
        """The list of layers in ``slot``; KeyError if the block has no such slot."""
        for name, layers in self.slots():
            if name == slot:
                return layers
        raise KeyError(slot)

    def slot_index(self, slot: str) -> int:
        """The place of ``slot`` among the block's slots; KeyError if it has none such."""
        names = [name for name, _ in self.slots()]
        if slot not in names:
            raise KeyError(slot)
        return names.index(slot)

    # -------------------------------------------------------------- files
    def read_slots(self, data: dict, read) -> None:
        """Fill the slots from the file's dict; ``read(items, slot)`` reads one list of
        layers (and names its place); a malformed key raises ConvScopeError."""
        raise NotImplementedError

    def write_slots(self, out: dict, write) -> None:
        """Put the slots' keys in ``out``; ``write(layers)`` writes one list of layers."""
        raise NotImplementedError

    # -------------------------------------------------------------- for people
    def slot_label(self, slot: str) -> str:
        """The title of a slot where the pipeline shows it."""
        return slot

    def block_detail(self, inside: list[str]) -> list[str]:
        """The parts of the block's card line, given what it holds ("10 layers",
        "215K params"): most telling first."""
        return [self.describe(), *inside]

    def join_label(self) -> str:
        """How the slots' outputs meet: a sign ("+") or a word ("concat")."""
        raise NotImplementedError

    def mends(self, ends: list) -> list[tuple[str, dict, str]]:
        """For the output shapes ``ends`` of the slots (in order), layers that would make
        them fit: (slot, layer dict to append to it, what it does); none by default."""
        return []

    # -------------------------------------------------------------- growing
    def slot_name(self, index: int) -> str:
        """The slot a new slot at ``index`` gets (blocks that grow)."""
        raise NotImplementedError

    def add_slot(self, index: int) -> str:
        """Insert an empty slot at ``index``; returns its name (blocks that grow)."""
        raise NotImplementedError

    def remove_slot(self, index: int) -> list:
        """Take out slot ``index``; returns its layers (blocks that grow)."""
        raise NotImplementedError

    def can_remove_slot(self) -> bool:
        return self.GROWS and len(self.slots()) > self.MIN_SLOTS

    # -------------------------------------------------------------- shapes
    def combine(self, shapes: list) -> Shaped:
        """The block's output from its slots' outputs (in ``slots()`` order)."""
        raise NotImplementedError
