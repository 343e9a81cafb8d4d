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
    required: bool = False  # a file must give it
    # written into every file even at its default: the spec gives it no default (conv's
    # kernel, pool's mode and kernel), though this reader lets a file leave it out
    always: bool = False

    @property
    def always_written(self) -> bool:
        return self.required or self.always

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
                raise ConvScopeError(f"{self.key} must be a whole number, got {shown(value)}")
        if value < self.minimum:
            raise ConvScopeError(f"{self.key} must be at least {int(self.minimum)}, got {value}")
        if value > self.maximum:
            raise ConvScopeError(
                f"{self.key} {shown(value)} is absurdly large (at most {int(self.maximum)} "
                f"{what})")
        return value

    def _check_count(self, value):
        return self._whole(value, "allowed")

    def _check_size(self, value):
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ConvScopeError(
                    f"{self.key} must be a number or [h, w], got {shown(list(value))}")
            return [self._whole(v, "pixels") for v in value]
        return self._whole(value, "pixels")

    def _check_padding(self, value):
        if value == "same":
            return value
        if isinstance(value, str):
            raise ConvScopeError(
                f"{self.key} must be a number, [h, w] or \"same\", got {shown(value)}")
        return self._check_size(value)

    def _check_number(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConvScopeError(f"{self.key} must be a number, got {shown(value)}")
        if not self.minimum <= value <= self.maximum or value != value:
            raise ConvScopeError(
                f"{self.key} must be between {self.minimum:g} and {self.maximum:g}, "
                f"got {shown(value)}")
        return float(value)

    def _check_flag(self, value):
        if not isinstance(value, bool):
            raise ConvScopeError(f"{self.key} must be true or false, got {shown(value)}")
        return value

    def _check_choice(self, value):
        if value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise ConvScopeError(f"{self.key} must be one of {options}, got {shown(value)}")
        return value

    def _check_layers(self, value):
        if not isinstance(value, list):
            raise ConvScopeError(f"{self.key} must be a list of layers, got {type(value).__name__}")
        return value

    def _check_branches(self, value):
        if not isinstance(value, list) or not all(isinstance(b, list) for b in value):
            raise ConvScopeError(f"{self.key} must be a list of lists of layers")
        return value


def shown(value, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters: a file's value may be a
    megabyte of text or an integer too long for Python to print."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a {len(format(value, 'x')) * 4}-bit integer"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def pair(value) -> tuple[int, int]:
    """An int or [h, w] as (h, w)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def count(key, default=None, help="", required=False, maximum=MAX_COUNT):
    return Field(key, "count", default, help, maximum=maximum, required=required)


def size(key, default, help="", minimum=1, always=False):
    return Field(key, "size", default, help, minimum=minimum, always=always)


def number(key, default, help="", minimum=0.0, maximum=1e9):
    return Field(key, "number", default, help, minimum=minimum, maximum=maximum)


def flag(key, default, help=""):
    return Field(key, "flag", default, help)


def choice(key, default, choices, help="", always=False):
    return Field(key, "choice", default, help, choices=tuple(choices), always=always)
