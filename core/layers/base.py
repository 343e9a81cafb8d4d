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

# The work a layer does for one image beside its MACs (``Layer.op_counts``' keys, in order):
# comparisons, additions (subtractions too), multiplications outside the MACs, divisions,
# exponentials (every transcendental: exp, log, erf; a power x^β = exp(β·ln x) is 2 and a
# multiplication) and square roots.
OPS = ("compares", "adds", "muls", "divs", "exps", "sqrts")


_NO_OPS = dict.fromkeys(OPS, 0)


def op_dict(**counts) -> dict:
    """A full ``OPS`` dict from the counts given (the others 0): ``op_dict(compares=12)``.
    (A copy of a zero dict, filled: every layer's analysis makes two.)"""
    out = _NO_OPS.copy()
    for key, value in counts.items():
        if key not in out:
            raise ValueError(f"unknown operation count {key!r} (counts: {OPS})")
        out[key] = int(value)
    return out


def register(cls):
    REGISTRY[cls.TYPE] = cls
    return cls


@dataclass
class Diagnostic:
    """A warning (the layer runs, rounded), an error (the shape cannot be computed) or an
    info (a note: an accepted floor, ceil mode, one of the notes' design rules)."""

    severity: str
    message: str
    fixes: list = field(default_factory=list)  # [{"label", "changes": [{"path","key","value"}]}]
    axis: str = ""  # "height", "width" or "" — for finding input sizes that fix it
    path: str = ""
    layer: str = ""
    rule: str = ""  # which rule made it: "floor" (a size that floors), "lint:<name>" (rules.py)

    def to_dict(self) -> dict:
        out = {"severity": self.severity, "path": self.path, "layer": self.layer,
               "message": self.message}
        if self.rule:
            out["rule"] = self.rule
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
    # Per axis (height, width): the worked (W − F + 2P)/S + 1 (geometry.AxisResult), for the
    # layers whose size comes from that rule; the inspector and explain show these.
    axes: tuple = ()


@dataclass(frozen=True)
class Example:
    """A small test configuration of a layer type, used by the parametrised tests: the
    input (C, H, W), the layer's key values, and the layers after it (if any)."""

    shape: tuple
    values: dict = field(default_factory=dict)
    then: tuple = ()  # layer dicts after this one (e.g. an fc after a flatten)
    batch: int = 2
    training: bool = False
    random: bool = False  # the output depends on the random stream: no reference compares it

    def layers(self, kind: str) -> list[dict]:
        return [{"type": kind, **self.values}, *self.then]

    def network(self, kind: str, name: str) -> dict:
        """The example as an architecture-format dict (``Network.from_dict`` reads it)."""
        c, h, w = self.shape
        return {"format": "convscope", "version": 1, "name": name,
                "input": {"channels": c, "height": h, "width": w},
                "layers": self.layers(kind)}


@dataclass(frozen=True)
class Footprint:
    """Bytes one layer's forward pass allocates for a batch (float32, as the engine runs).

    kept: what outlives the call: the output and whatever the cache holds beyond the input
    (the previous layer's output, counted there): pooling's padded copy, LRN's scale,
    batchnorm's x̂. scratch: what lives only while the layer runs, above ``kept`` (im2col
    columns, padded copies, temporaries). held: buffers that stay from pass to pass,
    ((name, bytes), ...): a name is one buffer, reused by every layer naming it, so a pass
    holds the largest request of each name (Winograd's per-thread workspaces)."""

    kept: int = 0
    scratch: int = 0
    held: tuple = ()


def weight_grads(dw, db) -> dict:
    """A weighted layer's parameter gradients: ``weight``, and ``bias`` when it has one."""
    return {"weight": dw} if db is None else {"weight": dw, "bias": db}


def tensor_bytes(shape, batch: int) -> int:
    """Bytes of a float32 (N, C, H, W) tensor of ``batch`` images of ``shape`` (C, H, W)."""
    return 4 * batch * prod(shape)


def fmt_shape(shape) -> str:
    """(C, H, W) in the notes' notation H×W×C, e.g. ``55x55x96``."""
    c, h, w = shape
    return f"{h}x{w}x{c}"


class Layer:
    """One layer type. A new type is a module in this package with a ``@register``-ed
    subclass (and its icon, assets/icons/<TYPE>.svg). It sets TYPE, CATEGORY, TITLE, SUMMARY,
    ORDER and FIELDS; LABEL (or ``card_label``), TABLE_LABEL (or ``table_label``), THIN,
    NEEDS and EXAMPLES; QUIET if ``describe`` says nothing; ``explain``; ``torch_module`` or
    NO_TORCH and ``onnx_nodes`` or NO_ONNX; ``forward`` and ``backward``; and, unless it
    keeps the shape, ``shaped`` and the figures (``param_shapes``, ``weight_count``,
    ``macs``, ``weights_text``); and, every type, ``op_counts``. ``Elementwise`` writes
    most of these from a few constants. tests/test_layer_contract.py names any piece that
    is missing."""

    TYPE = ""
    CATEGORY = ""
    TITLE = ""  # palette label
    SUMMARY = ""  # tooltip: what the layer does
    ORDER = 0  # place in its palette group (CATEGORY)
    FIELDS: tuple[Field, ...] = ()
    IN_PLACE = False  # adds no activation memory (element-wise, dropout, flatten)
    BLOCK_KEYS: tuple[str, ...] = ()  # keys holding nested layers

    # ---- how the type is shown (None: missing, which the contract test reports)
    LABEL: str | None = None  # on its card: "CONV" (``card_label`` may work it out)
    TABLE_LABEL: str | None = None  # the notes' row label: "FC", "NORM" (``table_label``)
    QUIET = ""  # the card's detail when ``describe()`` says nothing: "element-wise"
    THIN: bool | None = None  # drawn as a thin slab in the diagram (it keeps the shape)
    # What its backward pass reads from the forward's tensors, for the memory budget;
    # "" if it keeps nothing.
    NEEDS: str | None = None
    # ---- interop: an emitter, or the reason there is none
    NO_TORCH = ""  # why there is no PyTorch module for this type
    NO_ONNX = ""  # why there is no ONNX export for this type
    # ---- small configurations the parametrised tests run (id → Example)
    EXAMPLES: dict[str, Example] = {}

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

    # -------------------------------------------------------------- words
    def card_label(self) -> str | None:
        """The type as its card names it: ``CONV``, ``MAX POOL``."""
        return self.LABEL

    def table_label(self) -> str | None:
        """The notes' row label: ``CONV3-64``, ``POOL2``, ``FC``."""
        return self.TABLE_LABEL

    def card_detail(self) -> str:
        return self.describe() or self.QUIET

    def weights_text(self, shape, weights: int) -> str:
        """How the notes write the layer's weights: ``(3*3*64)*128 = 73,728``."""
        return f"{weights:,}"

    def explain(self, info) -> list:
        """The worked arithmetic with this layer's numbers (core.understand.explain): a list
        of ``text.Section`` after the heading, for a layer whose output is computed."""
        raise NotImplementedError(f"'{self.TYPE}' has no explanation")

    @classmethod
    def icon_path(cls):
        from ..presets import ASSETS

        return ASSETS / "icons" / f"{cls.TYPE}.svg"

    # -------------------------------------------------------------- interop
    # torch_module(self, info, code) -> str: the constructor expression of the layer's
    #     nn.Module; ``code`` (core.interop.torch_source's writer) offers ``use(source)`` to
    #     put a helper class in the file, and ``sequential(layers, suffix)`` and
    #     ``call(class, info, arguments)`` for blocks.
    # onnx_nodes(self, info, graph, x, out) -> str: adds the layer's nodes through ``graph``
    #     (core.interop.onnx_export's builder: ``node``, ``weight``, ``constant``,
    #     ``sequence``) and returns the value holding its output.
    torch_module = None
    onnx_nodes = None

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

    def op_counts(self, shape, out) -> dict:
        """The operations for one image beside the MACs, input (C, H, W) → output ``out``:
        a dict with every key of ``OPS`` (``op_dict(...)`` makes one). Each type says
        how its counts are derived; there is no default, so a new type cannot show zeros
        it never worked out (the contract test names a type that lacks it)."""
        raise NotImplementedError(f"'{self.TYPE}' has no op_counts")

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

    def forward_bytes(self, in_shape, out_shape, batch: int, training: bool) -> Footprint:
        """What ``forward`` allocates for ``batch`` images of ``in_shape`` (C, H, W)
        (core.understand.memory adds these up). Default, right for element-wise layers: one
        new output array; the cache is the input or the output, counted already."""
        return Footprint(tensor_bytes(out_shape, batch))


class Elementwise(Layer):
    """f(x) on every element on its own: a subclass gives FORWARD/BACKWARD (ops), LABEL,
    NEEDS, EXAMPLES, FORMULA and GRADIENT (its explanation; ``{key}`` takes a value), TORCH
    (the nn.Module expression, formatted the same way) and ONNX_OP (a node without
    attributes; else it overrides ``onnx_nodes``)."""

    CATEGORY = "activation"
    IN_PLACE = True
    QUIET, THIN = "element-wise", True
    FORWARD = BACKWARD = None
    FORMULA: str | None = None  # "max(0, x)"
    GRADIENT: str | None = None  # "dout where x > 0, else 0"
    TORCH: str | None = None  # "nn.ReLU()"
    ONNX_OP: str | None = None  # "Relu"

    def table_label(self):
        return self.TABLE_LABEL or self.TYPE.upper()

    def explain(self, info):
        from .text import Section, n, vol

        if self.FORMULA is None or self.GRADIENT is None:
            raise NotImplementedError(f"'{self.TYPE}' has no FORMULA or GRADIENT")
        f, back = self.FORMULA.format(**self.values), self.GRADIENT.format(**self.values)
        return [Section("What it computes", (
            f"{f} on each of the {n(info.activations)} values on its own: the shape "
            f"{vol(info.out)} is unchanged, no parameters, no mixing. It runs in place, "
            f"so it adds no memory. Backward: {back}."))]

    def torch_module(self, info, code):
        if self.TORCH is None:
            raise NotImplementedError(f"'{self.TYPE}' has no TORCH module")
        return self.TORCH.format(**self.values)

    def onnx_nodes(self, info, graph, x, out):
        if self.ONNX_OP is None:
            raise NotImplementedError(f"'{self.TYPE}' has no ONNX_OP")
        return graph.node(self.ONNX_OP, [x], out)

    def forward(self, x, params, ctx):
        return type(self).FORWARD(x)

    def backward(self, dout, cache, ctx):
        return type(self).BACKWARD(dout, cache), {}
