"""The notes' general pattern as a network:

    INPUT → [[CONV → RELU]*N → POOL?]*M → [FC → RELU]*K → FC

built with the notes' sizing rules: 3×3 convs at stride 1 with P = (F − 1)/2 = 1 (they keep
the size), 2×2 max pools at stride 2 (they halve it), filters growing by a factor per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConvScopeError
from .fields import MAX_COUNT, MAX_SPATIAL
from .network import FORMAT, VERSION, Network

# The notes: N, M, K are usually small ("N ... 一般大于0小于3"); these bounds only refuse
# what no one means (and what would take long to analyse).
LIMITS = {"n": (1, 8), "m": (1, 10), "k": (0, 8), "growth": (1, 8),
          "filters": (1, MAX_COUNT), "hidden": (1, MAX_COUNT), "classes": (1, MAX_COUNT),
          "channels": (1, MAX_COUNT), "size": (1, MAX_SPATIAL)}


@dataclass
class Pattern:
    """The knobs: N convs per stage, M stages, K hidden fc layers; ``filters`` in the first
    stage, multiplied by ``growth`` at each next stage; a pool after each stage or not;
    ``hidden`` units per hidden fc; ``classes`` scores; a square input of ``size``."""

    n: int = 2
    m: int = 3
    k: int = 2
    filters: int = 16
    growth: int = 2
    pool: bool = True
    hidden: int = 128
    classes: int = 10
    size: int = 32
    channels: int = 3

    def check(self) -> None:
        for key, (low, high) in LIMITS.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConvScopeError(f"{key} must be a whole number from {low} to {high}, "
                                     f"got {value!r}")
        if self.pool and self.size < 2 ** self.m:
            raise ConvScopeError(f"an input of {self.size} cannot be halved {self.m} times "
                                 f"(the pools need at least {2 ** self.m})")
        if self.filters * self.growth ** (self.m - 1) > MAX_COUNT:
            raise ConvScopeError(f"{self.filters}·{self.growth}^{self.m - 1} filters in the "
                                 f"last stage is more than {MAX_COUNT}")

    def title(self) -> str:
        pool = " → POOL" if self.pool else ""
        return (f"[[CONV → RELU]×{self.n}{pool}]×{self.m} → [FC → RELU]×{self.k} → FC "
                f"({self.size}×{self.size})")


def stage_filters(pattern: Pattern) -> list[int]:
    return [pattern.filters * pattern.growth ** stage for stage in range(pattern.m)]


def notes_pattern(pattern: Pattern) -> Network:
    """The pattern as a Network (read through the file reader, so every rule applies)."""
    pattern.check()
    layers = []
    for stage, filters in enumerate(stage_filters(pattern), start=1):
        for j in range(1, pattern.n + 1):
            layers.append({"type": "conv", "name": f"conv{stage}_{j}", "filters": filters,
                           "kernel": 3, "padding": 1})
            layers.append({"type": "relu", "name": f"relu{stage}_{j}"})
        if pattern.pool:
            layers.append({"type": "pool", "name": f"pool{stage}", "mode": "max", "kernel": 2,
                           "stride": 2})
    for i in range(1, pattern.k + 1):
        layers.append({"type": "fc", "name": f"fc{i}", "units": pattern.hidden})
        layers.append({"type": "relu", "name": f"relu_fc{i}"})
    layers.append({"type": "fc", "name": f"fc{pattern.k + 1}", "units": pattern.classes})
    return Network.from_dict({
        "format": FORMAT, "version": VERSION, "name": "notes pattern",
        "description": f"The notes' pattern {pattern.title()}: 3×3 convs with padding 1, "
                       f"2×2 max pools at stride 2.",
        "input": {"channels": pattern.channels, "height": pattern.size,
                  "width": pattern.size},
        "layers": layers})
