"""Hyperparameter fields: what each layer key accepts, and one-line messages for the rest.

The same definitions drive file loading, the inspector's widgets and its validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from .errors import ConvScopeError

# Refused before anything is allocated: no real network comes near these.
MAX_SPATIAL = 16384  # kernel, stride, padding, dilation, input height/width
MAX_COUNT = 1 << 20  # filters, units, channels, groups


@dataclass(frozen=True)
class Field:
    """One hyperparameter. ``kind`` is one of:

    ``count`` whole number ≥ 1; ``size`` whole number or [h, w], ≥ ``minimum``;
    ``padding`` like size (≥ 0) or ``"same"``; ``number`` a float in [minimum, maximum];
    ``flag`` true/false; ``choice`` one of ``choices``; ``layers`` a list of layers;
    ``branches`` a list of lists of layers.
    """

    key: str
    kind: str
    default: Any
    help: str = ""
    minimum: float = 1
    maximum: float = MAX_SPATIAL
    choices: tuple = dc_field(default=())
    required: bool = False

    def check(self, value: Any) -> Any:
        """``value`` as this field stores it, or ConvScopeError saying what is wrong."""
        checker = getattr(self, f"_check_{self.kind}")
        return checker(value)

    # -- one checker per kind
    def _whole(self, value, what):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConvScopeError(f"{self.key} must be a whole number, got {value!r}")
        if value < self.minimum:
            raise ConvScopeError(f"{self.key} must be at least {int(self.minimum)}, got {value}")
        if value > self.maximum:
            raise ConvScopeError(
                f"{self.key} {value} is absurdly large (at most {int(self.maximum)} {what})")
        return value

    def _check_count(self, value):
        return self._whole(value, "allowed")

    def _check_size(self, value):
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ConvScopeError(f"{self.key} must be a number or [h, w], got {list(value)!r}")
            return [self._whole(v, "pixels") for v in value]
        return self._whole(value, "pixels")

    def _check_padding(self, value):
        if value == "same":
            return value
        if isinstance(value, str):
            raise ConvScopeError(f"{self.key} must be a number, [h, w] or \"same\", got {value!r}")
        return self._check_size(value)

    def _check_number(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConvScopeError(f"{self.key} must be a number, got {value!r}")
        if not self.minimum <= value <= self.maximum or value != value:
            raise ConvScopeError(
                f"{self.key} must be between {self.minimum:g} and {self.maximum:g}, got {value!r}")
        return float(value)

    def _check_flag(self, value):
        if not isinstance(value, bool):
            raise ConvScopeError(f"{self.key} must be true or false, got {value!r}")
        return value

    def _check_choice(self, value):
        if value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise ConvScopeError(f"{self.key} must be one of {options}, got {value!r}")
        return value

    def _check_layers(self, value):
        if not isinstance(value, list):
            raise ConvScopeError(f"{self.key} must be a list of layers, got {type(value).__name__}")
        return value

    def _check_branches(self, value):
        if not isinstance(value, list) or not all(isinstance(b, list) for b in value):
            raise ConvScopeError(f"{self.key} must be a list of lists of layers")
        return value


def pair(value) -> tuple[int, int]:
    """An int or [h, w] as (h, w)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def count(key, default=None, help="", required=False, maximum=MAX_COUNT):
    return Field(key, "count", default, help, maximum=maximum, required=required)


def size(key, default, help="", minimum=1):
    return Field(key, "size", default, help, minimum=minimum)


def number(key, default, help="", minimum=0.0, maximum=1e9):
    return Field(key, "number", default, help, minimum=minimum, maximum=maximum)


def flag(key, default, help=""):
    return Field(key, "flag", default, help)


def choice(key, default, choices, help=""):
    return Field(key, "choice", default, help, choices=tuple(choices))
