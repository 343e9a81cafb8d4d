"""Blocks: layers that hold sequences of layers."""

from __future__ import annotations

from .base import Layer, Shaped


class Block(Layer):
    CATEGORY = "blocks"

    def sequences(self) -> list[tuple[str, list]]:
        """(place suffix, list of layers) for every nested sequence, in reading order."""
        raise NotImplementedError

    def combine(self, shapes: list) -> Shaped:
        raise NotImplementedError
