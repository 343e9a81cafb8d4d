"""Every layer type of the architecture format, one small class each, in one registry.

A layer knows its hyperparameters (``FIELDS``), its output shape and diagnostics for a
given input shape, its parameter shapes, its forward and backward pass, and how it reads
and writes itself. Shapes are (C, H, W) for one image; arrays are (N, C, H, W) float32.
Blocks (``residual``, ``concat``) hold lists of layers; the network walks into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np

from . import geometry as geo
from . import ops
from .errors import ConvScopeError
from .fields import Field, choice, count, flag, number, pair, size

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
            if f.required or value != f.default:
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


# ============================================================================ CONV
def _size_diagnostics(layer, results, fix_keys=("padding",)) -> list[Diagnostic]:
    """A warning for every axis whose (W − F + 2P)/S + 1 is not whole, with fixes."""
    bad = [(axis, r) for axis, r in zip(geo.AXES, results) if not r.whole]
    if not bad:
        return []
    same = len(bad) == 2 and bad[0][1] == bad[1][1]
    groups = [("height and width", bad[0][1], "")] if same else [(a, r, a) for a, r in bad]
    out = []
    for label, r, axis in groups:
        fixes, words = [], []
        for p in geo.whole_paddings(r.size, r.kernel, r.padding, r.stride):
            fixes.append(_set_fix(layer, "padding", p, axis))
            words.append(f"padding {p}")
        for s in geo.whole_strides(r.size, r.kernel, r.padding, r.stride)[:1]:
            fixes.append(_set_fix(layer, "stride", s, axis))
            words.append(f"stride {s}")
        if not any(k == "padding" for k in fix_keys):
            fixes = [f for f in fixes if f["changes"][0]["key"] != "padding"]
        hint = (f"; make it whole with {' or '.join(words)}" if words else "")
        if "padding" in fix_keys and not geo.whole_paddings(r.size, r.kernel, r.padding, r.stride):
            hint += f" (no padding can: {r.size} − {r.kernel} is odd and the stride even)"
        out.append(Diagnostic("warning", f"{label}: {geo.describe_fraction(r)}{hint}",
                              fixes, axis=axis))
    return out


def _set_fix(layer, key, value, axis):
    """A fix that sets one key, on one axis only if the key is already per-axis."""
    current = layer.values[key]
    if axis and (isinstance(current, list) or current == "same"):
        h, w = pair(current) if current != "same" else layer.pair_padding()
        value = [value, w] if axis == "height" else [h, value]
    shown = value if not isinstance(value, list) else f"[{value[0]}, {value[1]}]"
    return {"label": f"set {key} to {shown}",
            "changes": [{"path": "", "key": key, "value": value}]}


def _kernel_error(results) -> Diagnostic | None:
    for axis, r in zip(geo.AXES, results):
        if r.size + 2 * r.padding < r.kernel or r.out <= 0:
            return Diagnostic(
                "error",
                f"{axis}: kernel {r.kernel} is larger than the padded input "
                f"{r.size} + 2·{r.padding} = {r.size + 2 * r.padding} ({r.formula()})",
                axis=axis)
    return None


@register
class Conv(Layer):
    TYPE, CATEGORY, TITLE = "conv", "CONV", "Convolution"
    SUMMARY = ("CONV: slides `filters` kernels of F×F×C over the input; each output pixel is "
               "the dot product of a kernel with the window under it. Output size "
               "(W − F + 2P)/S + 1.")
    FIELDS = (
        count("filters", 64, "how many kernels: the output depth", required=True),
        size("kernel", 3, "F: the kernel's height and width"),
        size("stride", 1, "S: the step between windows"),
        Field("padding", "padding", 0, "P: zeros around the input; \"same\" keeps the size",
              minimum=0),
        size("dilation", 1, "D: the gap between kernel taps; widens the window to D·(F−1)+1"),
        count("groups", 1, "split channels into groups that do not see each other"),
        flag("bias", True, "add one learned number per filter"),
    )

    def pair_padding(self) -> tuple[int, int]:
        padding = self.values["padding"]
        if padding == "same":
            (kh, kw), (dh, dw) = self.pair("kernel"), self.pair("dilation")
            return dh * (kh - 1) // 2, dw * (kw - 1) // 2
        return pair(padding)

    def geometry(self):
        """Per axis: (kernel, stride, padding, dilation)."""
        return tuple(zip(self.pair("kernel"), self.pair("stride"), self.pair_padding(),
                         self.pair("dilation")))

    def describe(self):
        kh, kw = self.pair("kernel")
        text = f"{self.values['filters']} {kh}×{kw}"
        sh, sw = self.pair("stride")
        if (sh, sw) != (1, 1):
            text += f" /{sh}" if sh == sw else f" /{sh}×{sw}"
        if self.values["padding"] == "same":
            text += " same"
        elif self.pair_padding() != (0, 0):
            ph, pw = self.pair_padding()
            text += f" p{ph}" if ph == pw else f" p{ph}×{pw}"
        dh, dw = self.pair("dilation")
        if (dh, dw) != (1, 1):
            text += f" d{dh}"
        if self.values["groups"] != 1:
            text += f" g{self.values['groups']}"
        return text

    def shaped(self, shape):
        c, h, w = shape
        f, g = self.values["filters"], self.values["groups"]
        if self.values["padding"] == "same":
            for (k, _, _, d), axis in zip(self.geometry(), geo.AXES):
                if d * (k - 1) % 2:
                    return Shaped(None, [Diagnostic(
                        "error", f"padding \"same\" needs D·(F−1)/2 whole, but on the {axis} "
                        f"{d}·({k}−1)/2 = {d * (k - 1) / 2:g}; use an odd kernel", axis=axis)])
        if c % g or f % g:
            which = f"input channels {c}" if c % g else f"filters {f}"
            return Shaped(None, [Diagnostic(
                "error", f"{which} are not divisible by groups {g}")])
        results = [geo.axis_output(n, geo.effective_kernel(k, d), p, s)
                   for n, (k, s, p, d) in zip((h, w), self.geometry())]
        window = tuple((r.kernel, r.stride, r.padding) for r in results)
        error = _kernel_error(results)
        if error:
            return Shaped(None, [error], window)
        return Shaped((f, results[0].out, results[1].out), _size_diagnostics(self, results),
                      window)

    def param_shapes(self, shape):
        kh, kw = self.pair("kernel")
        f, g = self.values["filters"], self.values["groups"]
        shapes = {"weight": (f, shape[0] // g, kh, kw)}
        if self.values["bias"]:
            shapes["bias"] = (f,)
        return shapes

    def weight_count(self, shape):
        return prod(self.param_shapes(shape)["weight"])

    def macs(self, shape, out):
        return self.weight_count(shape) * out[1] * out[2]

    def extra(self, shape, out):
        c, h, w = shape
        kh, kw = self.pair("kernel")
        return {"im2col": ops.im2col_shapes(
            c, h, w, self.values["filters"], kh, kw, self.pair("stride"), self.pair_padding(),
            self.pair("dilation"), self.values["groups"])}

    def forward(self, x, params, ctx):
        return ops.conv_forward(x, params["weight"], params.get("bias"), self.pair("stride"),
                                self.pair_padding(), self.pair("dilation"),
                                self.values["groups"])

    def backward(self, dout, cache, ctx):
        dx, dw, db = ops.conv_backward(dout, cache)
        grads = {"weight": dw}
        if db is not None:
            grads["bias"] = db
        return dx, grads


# ============================================================================ POOL
@register
class Pool(Layer):
    TYPE, CATEGORY, TITLE = "pool", "POOL", "Pooling"
    SUMMARY = ("POOL: downsamples each channel on its own: the max, mean or L2 norm of every "
               "F×F window. Depth is kept; no parameters.")
    FIELDS = (
        choice("mode", "max", ("max", "avg", "l2"), "what a window reduces to"),
        size("kernel", 2, "F: the window's height and width"),
        Field("stride", "size", None, "S: the step between windows (default: the kernel)"),
        size("padding", 0, "P: padding around the input (−∞ for max, 0 for avg/l2)", minimum=0),
        flag("ceil_mode", False, "round the output size up, as PyTorch's ceil_mode"),
        flag("count_include_pad", True, "avg only: count padding in the divisor"),
    )

    def set(self, key, value):
        if key == "stride" and value is None:
            self.values["stride"] = None
            return
        super().set(key, value)

    def stride_pair(self):
        stride = self.values["stride"]
        return self.pair("kernel") if stride is None else pair(stride)

    def geometry(self):
        return tuple((k, s, p, 1) for k, s, p in zip(self.pair("kernel"), self.stride_pair(),
                                                      self.pair("padding")))

    def describe(self):
        kh, kw = self.pair("kernel")
        sh, sw = self.stride_pair()
        text = f"{self.values['mode']} {kh}×{kw} /{sh}"
        ph, pw = self.pair("padding")
        if ph or pw:
            text += f" p{ph}"
        if self.values["ceil_mode"]:
            text += " ceil"
        return text

    def shaped(self, shape):
        c, h, w = shape
        results = [geo.axis_output(n, k, p, s, self.values["ceil_mode"])
                   for n, (k, s, p, _) in zip((h, w), self.geometry())]
        window = tuple((r.kernel, r.stride, r.padding) for r in results)
        for axis, r in zip(geo.AXES, results):
            if 2 * r.padding > r.kernel:
                return Shaped(None, [Diagnostic(
                    "error", f"{axis}: padding {r.padding} is more than half the kernel "
                    f"{r.kernel}; a window could see only padding (PyTorch refuses it)",
                    axis=axis)], window)
        error = _kernel_error(results)
        if error:
            return Shaped(None, [error], window)
        diagnostics = [] if self.values["ceil_mode"] else _size_diagnostics(
            self, results, ("padding", "stride"))
        if self.values["ceil_mode"]:
            for axis, r in zip(geo.AXES, results):
                if not r.whole:
                    diagnostics.append(Diagnostic(
                        "info", f"{axis}: {r.formula()}, rounded up to {r.out} (ceil mode)"))
        return Shaped((c, results[0].out, results[1].out), diagnostics, window)

    def forward(self, x, params, ctx):
        out_hw = ctx.out_shape(self)[1:]
        return ops.pool_forward(x, self.values["mode"], self.pair("kernel"), self.stride_pair(),
                                self.pair("padding"), out_hw, self.values["count_include_pad"])

    def backward(self, dout, cache, ctx):
        return ops.pool_backward(dout, cache), {}

    def to_dict(self):
        out = super().to_dict()
        if self.values["stride"] is None:
            out.pop("stride", None)
        return out


@register
class GlobalAvgPool(Layer):
    TYPE, CATEGORY, TITLE = "global_avg_pool", "POOL", "Global average pool"
    SUMMARY = "Averages each channel over all of H and W: H×W×C becomes 1×1×C (GoogLeNet, ResNet)."

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((c, 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def describe(self):
        return "mean over H, W"

    def forward(self, x, params, ctx):
        return ops.global_avg_pool_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.global_avg_pool_backward(dout, cache), {}


# ============================================================================ activations
class _Elementwise(Layer):
    CATEGORY = "activation"
    IN_PLACE = True
    FORWARD = BACKWARD = None

    def forward(self, x, params, ctx):
        return type(self).FORWARD(x)

    def backward(self, dout, cache, ctx):
        return type(self).BACKWARD(dout, cache), {}


@register
class ReLU(_Elementwise):
    TYPE, TITLE = "relu", "ReLU"
    SUMMARY = "RELU: max(0, x) on every element; shape unchanged, no parameters."
    FORWARD, BACKWARD = ops.relu_forward, ops.relu_backward


@register
class Sigmoid(_Elementwise):
    TYPE, TITLE = "sigmoid", "Sigmoid"
    SUMMARY = "1 / (1 + e^−x) on every element: squashes to (0, 1)."
    FORWARD, BACKWARD = ops.sigmoid_forward, ops.sigmoid_backward


@register
class Tanh(_Elementwise):
    TYPE, TITLE = "tanh", "Tanh"
    SUMMARY = "tanh(x) on every element: squashes to (−1, 1), as LeNet-5 used."
    FORWARD, BACKWARD = ops.tanh_forward, ops.tanh_backward


@register
class LeakyReLU(_Elementwise):
    TYPE, TITLE = "leaky_relu", "Leaky ReLU"
    SUMMARY = "x for x > 0, slope·x otherwise: a ReLU that lets a little gradient through."
    FIELDS = (number("negative_slope", 0.01, "the slope for x < 0", maximum=1e6),)

    def describe(self):
        return f"slope {self.values['negative_slope']:g}"

    def forward(self, x, params, ctx):
        return ops.leaky_relu_forward(x, self.values["negative_slope"])

    def backward(self, dout, cache, ctx):
        return ops.leaky_relu_backward(dout, cache), {}


@register
class Softmax(Layer):
    TYPE, CATEGORY, TITLE = "softmax", "activation", "Softmax"
    SUMMARY = "Turns the scores at every position into probabilities over the channels."

    def forward(self, x, params, ctx):
        return ops.softmax_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.softmax_backward(dout, cache), {}


# ============================================================================ NORM
@register
class LRN(Layer):
    TYPE, CATEGORY, TITLE = "lrn", "NORM", "Local response norm"
    SUMMARY = ("NORM (AlexNet's LRN): divides each value by (k + α/n·Σa²)^β over n "
               "neighbouring channels. The notes: little effect, out of use.")
    FIELDS = (
        count("size", 5, "n: how many neighbouring channels", maximum=4096),
        number("alpha", 1e-4, "α"),
        number("beta", 0.75, "β"),
        number("k", 2.0, "k"),
    )

    def describe(self):
        return f"n={self.values['size']} α={self.values['alpha']:g} β={self.values['beta']:g}"

    def forward(self, x, params, ctx):
        v = self.values
        return ops.lrn_forward(x, v["size"], v["alpha"], v["beta"], v["k"])

    def backward(self, dout, cache, ctx):
        return ops.lrn_backward(dout, cache), {}


@register
class BatchNorm(Layer):
    TYPE, CATEGORY, TITLE = "batchnorm", "NORM", "Batch norm"
    SUMMARY = ("Normalises each channel to zero mean, unit variance (batch statistics when "
               "training, running ones at inference), then scales by γ and shifts by β.")
    FIELDS = (
        number("eps", 1e-5, "added to the variance", maximum=1.0),
        number("momentum", 0.1, "how fast the running statistics follow", maximum=1.0),
    )

    def describe(self):
        return f"ε={self.values['eps']:g}"

    def param_shapes(self, shape):
        c = shape[0]
        return {"weight": (c,), "bias": (c,), "running_mean": (c,), "running_var": (c,)}

    def buffers(self):
        return ("running_mean", "running_var")

    def init_param(self, name, shape, rng):
        value = 1.0 if name in ("weight", "running_var") else 0.0
        return np.full(shape, value, np.float32)

    def forward(self, x, params, ctx):
        return ops.batchnorm_forward(x, params["weight"], params["bias"], params["running_mean"],
                                     params["running_var"], self.values["eps"],
                                     self.values["momentum"], ctx.training)

    def backward(self, dout, cache, ctx):
        dx, dgamma, dbeta = ops.batchnorm_backward(dout, cache)
        return dx, {"weight": dgamma, "bias": dbeta}


@register
class Dropout(Layer):
    TYPE, CATEGORY, TITLE = "dropout", "NORM", "Dropout"
    SUMMARY = ("Training: zeroes each value with probability `rate` and scales the rest by "
               "1/(1−rate). Inference: identity.")
    FIELDS = (number("rate", 0.5, "the probability of dropping a value", maximum=0.999),)
    IN_PLACE = True

    def describe(self):
        return f"p={self.values['rate']:g}"

    def forward(self, x, params, ctx):
        return ops.dropout_forward(x, self.values["rate"], ctx.training, ctx.rng)

    def backward(self, dout, cache, ctx):
        return ops.dropout_backward(dout, cache), {}


# ============================================================================ FC
@register
class Flatten(Layer):
    TYPE, CATEGORY, TITLE = "flatten", "FC", "Flatten"
    SUMMARY = "C×H×W becomes a (C·H·W)×1×1 vector, channel-major as PyTorch: a view, no copy."
    IN_PLACE = True

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((c * h * w, 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def forward(self, x, params, ctx):
        return ops.flatten_forward(x)

    def backward(self, dout, cache, ctx):
        return ops.flatten_backward(dout, cache), {}


@register
class FC(Layer):
    TYPE, CATEGORY, TITLE = "fc", "FC", "Fully connected"
    SUMMARY = ("FC: every output is connected to every input value; a spatial input is "
               "flattened first. Weights: inputs × units.")
    FIELDS = (
        count("units", 1000, "how many outputs", required=True),
        flag("bias", True, "add one learned number per unit"),
    )

    def describe(self):
        return f"{self.values['units']} units"

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((self.values["units"], 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def param_shapes(self, shape):
        shapes = {"weight": (self.values["units"], prod(shape))}
        if self.values["bias"]:
            shapes["bias"] = (self.values["units"],)
        return shapes

    def weight_count(self, shape):
        return self.values["units"] * prod(shape)

    def macs(self, shape, out):
        return self.weight_count(shape)

    def forward(self, x, params, ctx):
        return ops.fc_forward(x, params["weight"], params.get("bias"))

    def backward(self, dout, cache, ctx):
        dx, dw, db = ops.fc_backward(dout, cache)
        grads = {"weight": dw}
        if db is not None:
            grads["bias"] = db
        return dx, grads


# ============================================================================ blocks
class Block(Layer):
    CATEGORY = "blocks"

    def sequences(self) -> list[tuple[str, list]]:
        """(place suffix, list of layers) for every nested sequence, in reading order."""
        raise NotImplementedError

    def combine(self, shapes: list) -> Shaped:
        raise NotImplementedError


@register
class Residual(Block):
    TYPE, TITLE = "residual", "Residual block"
    SUMMARY = ("ResNet's skip connection: output = body(x) + shortcut(x). An empty shortcut "
               "is the identity; the two shapes must match.")
    FIELDS = (Field("body", "layers", None), Field("shortcut", "layers", None))
    BLOCK_KEYS = ("body", "shortcut")

    def __init__(self, name=None, body=None, shortcut=None):
        super().__init__(name)
        self.values["body"] = list(body or [])
        self.values["shortcut"] = list(shortcut or [])

    def sequences(self):
        return [("body", self.values["body"]), ("shortcut", self.values["shortcut"])]

    def describe(self):
        kind = "identity" if not self.values["shortcut"] else "projection"
        return f"body + {kind} shortcut"

    def combine(self, shapes):
        body, shortcut = shapes
        if body != shortcut:
            return Shaped(None, [Diagnostic(
                "error", f"body gives {fmt_shape(body)} but shortcut gives "
                f"{fmt_shape(shortcut)}; they are added, so they must match"
                + _projection_hint(body, shortcut))])
        return Shaped(body)

    def forward(self, x, params, ctx):
        a, cache_a = ctx.run(self.values["body"], x)
        b, cache_b = ctx.run(self.values["shortcut"], x)
        return a + b, (cache_a, cache_b)

    def backward(self, dout, cache, ctx):
        da = ctx.back(self.values["body"], dout, cache[0])
        db = ctx.back(self.values["shortcut"], dout, cache[1])
        return da + db, {}


def _projection_hint(body, shortcut):
    (cb, hb, wb), (_, hs, ws) = body, shortcut
    if hs % hb == 0 and ws % wb == 0 and hs // hb == ws // wb:
        return (f" (a 1×1 conv with {cb} filters and stride {hs // hb} in the shortcut "
                "would match them)")
    return ""


@register
class Concat(Block):
    TYPE, TITLE = "concat", "Concat (inception)"
    SUMMARY = ("Inception's parallel branches: each branch sees the same input and their "
               "outputs are stacked along channels. H and W must match.")
    FIELDS = (Field("branches", "branches", None),)
    BLOCK_KEYS = ("branches",)

    def __init__(self, name=None, branches=None):
        super().__init__(name)
        self.values["branches"] = [list(b) for b in (branches or [[], []])]

    def sequences(self):
        return [(f"branches[{i}]", b) for i, b in enumerate(self.values["branches"])]

    def describe(self):
        return f"{len(self.values['branches'])} branches"

    def combine(self, shapes):
        sizes = {s[1:] for s in shapes}
        if len(sizes) > 1:
            listed = ", ".join(fmt_shape(s) for s in shapes)
            return Shaped(None, [Diagnostic(
                "error", f"branches differ in H or W ({listed}); they are stacked along "
                "channels, so their H and W must match")])
        if not shapes:
            return Shaped(None, [Diagnostic("error", "a concat needs at least one branch")])
        return Shaped((sum(s[0] for s in shapes),) + shapes[0][1:])

    def forward(self, x, params, ctx):
        outs, caches = zip(*(ctx.run(b, x) for b in self.values["branches"]))
        return np.concatenate(outs, axis=1), (caches, [o.shape[1] for o in outs])

    def backward(self, dout, cache, ctx):
        caches, widths = cache
        splits = np.split(dout, np.cumsum(widths)[:-1], axis=1)
        dx = 0
        for branch, d, c in zip(self.values["branches"], splits, caches):
            dx = dx + ctx.back(branch, np.ascontiguousarray(d), c)
        return dx, {}
