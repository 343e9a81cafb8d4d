"""The base of every layer type: hyperparameters, files, shapes, figures, numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from ..errors import ConvScopeError
from ..fields import Field, pair

REGISTRY: dict[str, type[Layer]] = {}

# The palette groups, in the order the notes introduce them.
CATEGORIES = ("CONV", "POOL", "activation", "NORM", "FC", "blocks")


def register(cls):
    REGISTRY[cls.TYPE] = cls
    return cls


@dataclass
class Diagnostic:
    """A warning (the layer runs, rounded) or an error (the shape cannot be computed)."""

    severity: str
    message: str
    fixes: list = field(default_factory=list)  # [{"label", "changes": [{"path","key","value"}]}]
    axis: str = ""  # "height", "width" or "" — for finding input sizes that fix it
    path: str = ""
    layer: str = ""

    def to_dict(self) -> dict:
        out = {"severity": self.severity, "path": self.path, "layer": self.layer,
               "message": self.message}
        if self.fixes:
            out["fixes"] = self.fixes
        return out


@dataclass
class Shaped:
    """What a layer makes of an input shape."""

    out: tuple | None
    diagnostics: list = field(default_factory=list)
    # Per axis (effective kernel, stride, padding): how an output pixel maps to its input window.
    window: tuple | None = None


def fmt_shape(shape) -> str:
    """(C, H, W) in the notes' notation H×W×C, e.g. ``55x55x96``."""
    c, h, w = shape
    return f"{h}x{w}x{c}"


class Layer:
    TYPE = ""
    CATEGORY = ""
    TITLE = ""  # palette label
    SUMMARY = ""  # tooltip: what the layer does
    ORDER = 0  # place in its palette group (CATEGORY)
    FIELDS: tuple[Field, ...] = ()
    IN_PLACE = False  # adds no activation memory (element-wise, dropout, flatten)
    BLOCK_KEYS: tuple[str, ...] = ()  # keys holding nested layers

    def __init__(self, name: str | None = None, **values):
        self.name = name
        self.values = {f.key: f.default for f in self.FIELDS}
        for key, value in values.items():
            self.set(key, value)

    # -------------------------------------------------------------- hyperparameters
    @classmethod
    def field(cls, key: str) -> Field:
        for f in cls.FIELDS:
            if f.key == key:
                return f
        raise ConvScopeError(f"'{cls.TYPE}' has no key '{key}'")

    def get(self, key: str):
        return self.values[key]

    def set(self, key: str, value) -> None:
        """Set a hyperparameter after checking it; ConvScopeError names what is wrong."""
        self.values[key] = self.field(key).check(value)

    def pair(self, key: str) -> tuple[int, int]:
        return pair(self.values[key])

    def describe(self) -> str:
        """The hyperparameters in a line, as a card shows them: ``96 11×11 /4``."""
        return ""

    # -------------------------------------------------------------- files
    def to_dict(self) -> dict:
        out = {"type": self.TYPE}
        if self.name:
            out["name"] = self.name
        for f in self.FIELDS:
            value = self.values[f.key]
            if f.kind in ("layers", "branches"):
                continue
            if f.always_written or value != f.default:
                out[f.key] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict, place: str) -> Layer:
        """A layer from its dict; nested layers are read by the network's reader."""
        unknown = set(data) - {"type", "name"} - {f.key for f in cls.FIELDS}
        if unknown:
            allowed = ", ".join(f.key for f in cls.FIELDS) or "none"
            raise ConvScopeError(
                f"unknown key '{sorted(unknown)[0]}' for a '{cls.TYPE}' layer (keys: {allowed})",
                place)
        layer = cls(name=data.get("name"))
        for f in cls.FIELDS:
            if f.key in data:
                try:
                    layer.set(f.key, data[f.key])
                except ConvScopeError as err:
                    raise err.located(place=place) from None
            elif f.required:
                raise ConvScopeError(f"'{cls.TYPE}' needs '{f.key}'", place)
        return layer

    # -------------------------------------------------------------- shapes and figures
    def shaped(self, shape: tuple) -> Shaped:
        """Output shape for input (C, H, W); default: same shape, element-wise."""
        return Shaped(shape, window=((1, 1, 0), (1, 1, 0)))

    def param_shapes(self, shape: tuple) -> dict[str, tuple]:
        """Parameter name → shape for input (C, H, W) (PyTorch state_dict names)."""
        return {}

    def buffers(self) -> tuple[str, ...]:
        """Parameters that are state, not learned (batchnorm's running statistics)."""
        return ()

    def weight_count(self, shape) -> int:
        return 0

    def macs(self, shape, out) -> int:
        return 0

    def extra(self, shape, out) -> dict:
        """Anything more the notes explain for this layer (conv: the im2col shapes)."""
        return {}

    # -------------------------------------------------------------- numbers
    def forward(self, x, params: dict, ctx):
        """x: (N, C, H, W) → (out, cache)."""
        raise NotImplementedError

    def backward(self, dout, cache, ctx):
        """→ (dx, {param: gradient})."""
        raise NotImplementedError

    def init_param(self, name: str, shape: tuple, rng) -> np.ndarray:
        """The spec's deterministic initialisation: He-normal weights, zero biases."""
        if name == "weight" and len(shape) > 1:
            fan_in = prod(shape[1:])
            scale = np.float32(np.sqrt(2.0 / fan_in))
            return rng.standard_normal(shape, dtype=np.float32) * scale
        return np.zeros(shape, np.float32)


class Elementwise(Layer):
    CATEGORY = "activation"
    IN_PLACE = True
    FORWARD = BACKWARD = None

    def forward(self, x, params, ctx):
        return type(self).FORWARD(x)

    def backward(self, dout, cache, ctx):
        return type(self).BACKWARD(dout, cache), {}
