"""The ops ConvScope maps, as data: for each ONNX op its handler, the layer type it becomes,
the attributes it reads (kind, default, whether required, bounds) and the inputs it takes.

The walker checks every node against its row before the handler runs, so handlers read
attributes and inputs that are known to be there and of the right kind. The list of
supported ops in messages is made from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...fields import MAX_SPATIAL
from . import flat, ops, shapes


@dataclass(frozen=True)
class Attr:
    """One attribute: its kind (values.ATTR_KINDS), its default when absent (None: the
    handler decides), and the checks on what a model may give."""

    kind: str
    default: object = None
    required: bool = False
    minimum: int | None = None  # for int(s): every value at least this
    maximum: int | None = None  # and at most this
    length: int | None = None  # for ints: exactly this many values


@dataclass(frozen=True)
class Op:
    """One ONNX op: ``handler(walker, i, v, allowed) → (layers, value)`` for the node on one
    data path (None: it only joins paths, which the walker reads as a block), the layer type
    it makes, its attributes, the names of its inputs in order and how many of them a model
    must give."""

    handler: Callable | None
    layer: str = ""
    attrs: dict = field(default_factory=dict)
    inputs: tuple = ("data",)
    required: int = 1
    join: str = ""  # the block it closes when two data paths meet in it (residual, concat)
    channels_last: bool = False  # reads data laid out (N, H, W, C) between two Transposes
    either_side: bool = False  # the data may come as any input (x·c = c·x)


def _spatial(length, default=None, required=False, minimum=1):
    return Attr("ints", default, required, minimum, MAX_SPATIAL, length)


_PADS = Attr("ints", None, False, 0, MAX_SPATIAL, 4)
_AUTO_PAD = Attr("string", "NOTSET")
_POOL = {"kernel_shape": _spatial(2, required=True), "strides": _spatial(2, [1, 1]),
         "dilations": _spatial(2, [1, 1]), "pads": _PADS, "auto_pad": _AUTO_PAD,
         "ceil_mode": Attr("int", 0), "count_include_pad": Attr("int", 0)}

_ELEMENTWISE = {"channels_last": True}
_ARITH = {"inputs": ("a", "b"), "required": 2, "channels_last": True}

OPS: dict[str, Op] = {
    "Conv": Op(ops.conv, "conv", {
        "kernel_shape": _spatial(2), "strides": _spatial(2, [1, 1]),
        "dilations": _spatial(2, [1, 1]), "group": Attr("int", 1, minimum=1),
        "pads": _PADS, "auto_pad": _AUTO_PAD}, ("data", "weights", "bias"), 2),
    "Gemm": Op(flat.gemm, "fc", {
        "alpha": Attr("float", 1.0), "beta": Attr("float", 1.0), "transA": Attr("int", 0),
        "transB": Attr("int", 0)}, ("data", "weights", "bias"), 2),
    "MatMul": Op(flat.gemm, "fc", {}, ("data", "weights"), 2, channels_last=True),
    "Relu": Op(ops.simple, "relu", **_ELEMENTWISE),
    "Clip": Op(ops.clip, "relu6", {"min": Attr("float"), "max": Attr("float")},
               ("data", "min", "max"), **_ELEMENTWISE),
    "HardSigmoid": Op(ops.hard_sigmoid, "hardsigmoid", {
        "alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)}, **_ELEMENTWISE),
    "HardSwish": Op(ops.simple, "hardswish", **_ELEMENTWISE),
    "Gelu": Op(ops.gelu, "gelu", {"approximate": Attr("string", "none")}, **_ELEMENTWISE),
    "LeakyRelu": Op(ops.leaky_relu, "leaky_relu", {"alpha": Attr("float", 0.01)},
                    **_ELEMENTWISE),
    "PRelu": Op(ops.prelu, "prelu", {}, ("data", "slope"), 2),
    "Sigmoid": Op(ops.simple, "sigmoid", **_ELEMENTWISE),
    "Tanh": Op(ops.simple, "tanh", **_ELEMENTWISE),
    "Softmax": Op(ops.softmax, "softmax", {"axis": Attr("int")}),
    "MaxPool": Op(ops.max_pool, "pool", _POOL),
    "AveragePool": Op(ops.average_pool, "pool", _POOL),
    "LpPool": Op(ops.lp_pool, "pool", {**_POOL, "p": Attr("int", 2)}),
    "GlobalAveragePool": Op(ops.simple, "global_avg_pool"),
    "ReduceMean": Op(ops.reduce_mean, "global_avg_pool", {
        "axes": Attr("ints"), "keepdims": Attr("int", 1)}, ("data", "axes")),
    "LRN": Op(ops.lrn, "lrn", {
        "size": Attr("int", required=True, minimum=1, maximum=MAX_SPATIAL),
        "alpha": Attr("float", 1e-4), "beta": Attr("float", 0.75), "bias": Attr("float", 1.0)}),
    "BatchNormalization": Op(ops.batchnorm, "batchnorm", {
        "epsilon": Attr("float", 1e-5), "momentum": Attr("float", 0.9),
        "training_mode": Attr("int", 0)},
        ("data", "weight", "bias", "running mean", "running var"), 5),
    "LayerNormalization": Op(ops.layernorm, "layernorm", {
        "axis": Attr("int", -1), "epsilon": Attr("float", 1e-5),
        "stash_type": Attr("int", 1)}, ("data", "weight", "bias"), 2, channels_last=True),
    "Dropout": Op(ops.dropout, "dropout", {"ratio": Attr("float", 0.5)},
                  ("data", "ratio", "training mode"), **_ELEMENTWISE),
    "Flatten": Op(flat.flatten, "flatten", {"axis": Attr("int", 1)}),
    "Reshape": Op(shapes.reshape, "flatten", {}, ("data", "shape")),
    "Transpose": Op(shapes.transpose, "", {"perm": Attr("ints")}, channels_last=True),
    "Slice": Op(shapes.slice_channels, "channel_slice", {
        "starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints")},
        ("data", "starts", "ends", "axes", "steps")),
    "Split": Op(shapes.split, "channel_slice", {"axis": Attr("int", 0), "split": Attr("ints")},
                ("data", "split")),
    "Squeeze": Op(flat.squeeze, "", {"axes": Attr("ints")}, ("data", "axes")),
    "Unsqueeze": Op(flat.unsqueeze, "", {"axes": Attr("ints")}, ("data", "axes")),
    "Pad": Op(ops.pad, "", {
        "mode": Attr("string", "constant"), "pads": Attr("ints", None, False, 0, MAX_SPATIAL),
        "value": Attr("float", 0.0)}, ("data", "pads", "pad value", "axes")),
    "Identity": Op(ops.identity, **_ELEMENTWISE),
    # with a constant: a per-channel scale or shift; where two data paths meet: a block
    "Mul": Op(ops.scale, "conv", join="residual", either_side=True, **_ARITH),
    "Div": Op(ops.scale, "conv", **_ARITH),
    "Add": Op(ops.shift, "conv", join="residual", either_side=True, **_ARITH),
    "Sub": Op(ops.shift, "conv", **_ARITH),
    "Sum": Op(ops.identity, "", {}, ("a", "b"), 1, join="residual", channels_last=True),
    "Concat": Op(None, "", {"axis": Attr("int", 1)}, ("a",), 1, join="concat"),
}

JOINS = {op for op, row in OPS.items() if row.join}


def supported() -> str:
    """The mapped ops, for messages: ``Conv, Gemm, …, Add, Sum and Concat``."""
    names = list(OPS)
    return ", ".join(names[:-1]) + " and " + names[-1]
