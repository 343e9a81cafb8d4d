"""FC→CONV: the notes' "Converting FC layers to CONV layers", done on the user's network.

An fc layer that sees a C×H×W volume computes, for each of its U units, the dot product of a
U-th weight row with the whole volume. A conv layer with U filters of H×W×C and no padding
computes exactly the same dot products at its one output position. So the first fc after
the conv stack becomes a conv whose kernel covers the whole volume (VGG16's fc6: 4096 filters
of 7×7×512), and every later fc, which sees a 1×1×U' vector, becomes a 1×1 conv. The weights
are only reshaped: an fc weight (U, C·H·W), flattened C-major, is the conv weight (U, C, H, W).

The converted network no longer cares about the input size: on a larger image the "fc"
kernels slide, and the last layer gives a grid of class scores in one pass (VGG16 at 384×384:
6×6×1000), as if the original network had been run on 6×6 = 36 crops 32 pixels apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConvScopeError
from ..layers import Conv
from ..network import Network


@dataclass
class Conversion:
    """What ``convert_fc_to_conv`` changed: per fc layer, its old and new form."""

    converted: list = field(default_factory=list)  # dicts: name, units, kernel, in_shape, ...
    dropped: list = field(default_factory=list)  # names of flatten layers removed
    notes: list = field(default_factory=list)  # sentences for a person

    def __iter__(self):  # so that ``for line in notes`` reads the sentences
        return iter(self.notes)


def convert_fc_to_conv(net: Network, with_weights: bool = True) -> tuple[Network, Conversion]:
    """The network with every top-level fc layer turned into an equivalent conv.

    The first fc (the one after the conv stack) becomes a conv with kernel = its input's
    H×W and filters = units; each later fc a 1×1 conv; ``flatten`` layers in that head are
    dropped (a conv needs the volume, not the vector). Names are kept, so ``fc6.weight`` is
    still ``fc6.weight``, reshaped from (U, C·H·W) to (U, C, H, W).

    With ``with_weights`` the network's weights are created if missing and carried over;
    without, only the architecture is converted (cheap, for figures).
    Raises ConvScopeError if the network has no fc layer or cannot be analysed.
    """
    report = net.check_runnable(1) if with_weights else net.analyze()
    infos = report.top
    start = next((i for i, info in enumerate(infos) if info.type in ("fc", "flatten")), None)
    if start is None or not any(info.type == "fc" for info in infos[start:]):
        raise ConvScopeError("no top-level fc layer to convert", "FC→CONV")
    for info in infos[start:]:
        if info.out is None:
            raise ConvScopeError("the network has an error before its fc layers",
                                 f"{info.path} '{info.name}'")
    if with_weights:
        net.ensure_weights()
    out = net.copy()
    out.name = f"{net.name} (FC→CONV)"
    out.weights = {}
    conversion = Conversion()
    volume = None  # the C×H×W the next fc really sees (before any flatten)
    layers = list(out.layers[:start])
    head = infos[start:]
    for k, (info, layer) in enumerate(zip(head, out.layers[start:])):
        if info.type == "flatten":
            _check_flatten_feeds_fc(head[k:])
            volume = volume or info.in_shape
            conversion.dropped.append(layer.name)
            continue
        if info.type != "fc":
            layers.append(layer)
            if info.out != info.in_shape:
                volume = None
            continue
        shape = volume or info.in_shape
        volume = None
        layers.append(_as_conv(layer, shape))
        conversion.converted.append(_describe(layer, shape, not conversion.converted))
    out.layers = layers
    conversion.notes = _notes(conversion, report, infos[start])
    if with_weights:
        out.set_weights(_reshaped_weights(net.weights, conversion), source="FC→CONV")
    return out, conversion


def _check_flatten_feeds_fc(rest) -> None:
    """A flatten can be dropped only if nothing but element-wise layers lie between it and
    the next fc (anything else would see a C×H×W volume instead of a vector)."""
    flatten = rest[0]
    for info in rest[1:]:
        if info.type == "fc":
            return
        if not info.layer.IN_PLACE:
            raise ConvScopeError(f"'{info.name}' ({info.type}) between a flatten and an fc "
                                 "works on the flattened vector; it has no conv equivalent",
                                 f"{flatten.path} '{flatten.name}'")


def _as_conv(fc_layer, shape) -> Conv:
    c, h, w = shape
    return Conv(name=fc_layer.name, filters=fc_layer.get("units"),
                kernel=h if h == w else [h, w], bias=fc_layer.get("bias"))


def _describe(layer, shape, first) -> dict:
    c, h, w = shape
    units = layer.get("units")
    return {"name": layer.name, "units": units, "in_shape": tuple(shape), "kernel": (h, w),
            "first": first, "weight_from": (units, c * h * w), "weight_to": (units, c, h, w)}


def _reshaped_weights(weights: dict, conversion: Conversion) -> dict:
    """Every weight as it was, fc weights reshaped (U, C·H·W) → (U, C, H, W): flatten is
    C-major, so row u of the fc matrix read C-major is filter u."""
    out = dict(weights)
    for item in conversion.converted:
        key = f"{item['name']}.weight"
        out[key] = np.ascontiguousarray(weights[key].reshape(item["weight_to"]))
    return out


def _notes(conversion: Conversion, report, first_head) -> list:
    notes = []
    for item in conversion.converted:
        c, h, w = item["in_shape"]
        u = item["units"]
        if item["first"] and (h, w) != (1, 1):
            notes.append(f"{item['name']}: fc over {h}×{w}×{c} → conv of {u:,} filters "
                         f"{h}×{w}×{c} (padding 0, stride 1); weight ({u:,}, {c * h * w:,}) "
                         f"reshaped to ({u:,}, {c}, {h}, {w})")
        else:
            notes.append(f"{item['name']}: fc over {c:,} values → 1×1 conv of {u:,} filters "
                         f"(1×1×{c:,}); weight ({u:,}, {c:,}) reshaped to ({u:,}, {c:,}, 1, 1)")
    for name in conversion.dropped:
        notes.append(f"{name}: flatten dropped (the conv reads the volume directly)")
    jump = first_head.in_shape and _stride_before(report, first_head)
    if jump:
        notes.append(f"the conv stack's total stride is {jump[0]}×{jump[1]}: on a larger input "
                     f"each step of the score grid moves the window {jump[0]} pixels")
    if any(i.type == "global_avg_pool" for i in report.top):
        notes.append("the network averages over H×W before its fc layers, so a larger input "
                     "still gives one score vector (the average over positions), not a grid")
    if any(i.type == "conv" and i.layer.pair_padding() != (0, 0) for i in report.layers):
        notes.append("its convs pad with zeros: on a larger image a grid cell sees the real "
                     "neighbouring pixels where a separate crop would see zeros, so the grid "
                     "matches crop-by-crop scores exactly only away from the crop borders")
    return notes


def _stride_before(report, head_info):
    """The jump (total stride) of the layer before the head, (1, 1) at the input."""
    index = report.layers.index(head_info)
    for info in reversed(report.layers[:index]):
        if info.jump is not None and info.depth == 0:
            return info.jump
    return (1, 1)


# ============================================================================ checking it
def check_equivalence(net: Network, converted: Network, x) -> dict:
    """Run both networks on ``x`` (N, C, H, W) at the original input size.

    Returns {"max_abs": largest |difference| of the final outputs, "scale": largest |output|
    of the original, "max_rel": max_abs / scale, "output_shape": (N, K, 1, 1)}.
    """
    a = _final(net, x)
    b = _final(converted, x)
    if a.shape != b.shape:
        raise ConvScopeError(f"the outputs differ in shape: {a.shape} vs {b.shape}", "FC→CONV")
    diff = float(np.abs(a.astype(np.float64) - b).max())
    scale = float(np.abs(a).max())
    return {"max_abs": diff, "scale": scale, "max_rel": diff / scale if scale else diff,
            "output_shape": tuple(a.shape)}


def _final(net, x):
    return net.forward(x)[net.layers[-1].name]


def _size_pair(size) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    try:
        h, w = size
        return int(h), int(w)
    except (TypeError, ValueError):
        raise ConvScopeError(f"size must be a whole number or (height, width), got {size!r}",
                             "FC→CONV") from None


def resized(net: Network, size) -> Network:
    """A copy of ``net`` (weights shared) taking an input of H×W = ``size``."""
    h, w = _size_pair(size)
    out = net.copy()
    out.input.height, out.input.width = h, w
    return out


def score_grid(converted: Network, size) -> tuple[Network, tuple[int, int, int]]:
    """The converted network on an input of H×W = ``size`` (int or (h, w)) and the shape of
    the score grid it gives, (rows, cols, classes): VGG16 at 384 → (6, 6, 1000).

    Found by analysis only (nothing runs); ConvScopeError if the input is too small."""
    big = resized(converted, size)
    report = big.analyze()
    out = report.output
    if out is None:
        d = next((d for d in report.diagnostics if d.severity == "error"), None)
        reason = f": {d.message} ({d.layer})" if d else ""
        raise ConvScopeError(f"the converted network cannot take {big.input.height}×"
                             f"{big.input.width}{reason}", "FC→CONV")
    classes, rows, cols = out
    return big, (rows, cols, classes)


def class_scores(big: Network, x) -> np.ndarray:
    """Run the resized converted network; → scores (N, rows, cols, classes)."""
    return np.moveaxis(_final(big, x), 1, -1)


def larger_size(net: Network, cells: int = 6) -> tuple[int, int]:
    """The input size at which the converted network gives a cells×cells grid: the original
    size plus (cells − 1) strides (VGG16: 224 + 5·32 = 384; AlexNet: 227 + 5·32 = 387)."""
    stride = conv_stack_stride(net)
    return (net.input.height + (cells - 1) * stride[0],
            net.input.width + (cells - 1) * stride[1])


def conv_stack_stride(net: Network) -> tuple[int, int]:
    """The total stride (product of strides) of everything before the first top-level fc."""
    report = net.analyze()
    head = next((i for i in report.top if i.type in ("fc", "flatten")), None)
    if head is None:
        raise ConvScopeError("no top-level fc layer", "FC→CONV")
    return tuple(_stride_before(report, head))


def sliding_cost(net: Network, size) -> dict:
    """What it costs to score every crop of an image of H×W = ``size`` with the original
    network (crops one conv-stack stride apart), against one pass of the converted network.

    Returns {"stride", "crops": (rows, cols), "crop_count", "macs_per_crop",
    "sliding_macs", "converted_macs", "ratio" (sliding / converted), "grid": (rows, cols,
    classes), "whole": whether the crops tile the image exactly}.
    """
    h, w = _size_pair(size)
    h0, w0 = net.input.height, net.input.width
    if h < h0 or w < w0:
        raise ConvScopeError(f"{h}×{w} is smaller than the network's input {h0}×{w0}",
                             "FC→CONV")
    sh, sw = conv_stack_stride(net)
    rows, cols = (h - h0) // sh + 1, (w - w0) // sw + 1
    per_crop = net.analyze().totals()["macs"]
    converted, _ = convert_fc_to_conv(net, with_weights=False)
    big, grid = score_grid(converted, (h, w))
    converted_macs = big.analyze().totals()["macs"]
    sliding = per_crop * rows * cols
    return {"stride": (sh, sw), "crops": (rows, cols), "crop_count": rows * cols,
            "macs_per_crop": per_crop, "sliding_macs": sliding,
            "converted_macs": converted_macs,
            "ratio": sliding / converted_macs if converted_macs else float("inf"),
            "grid": grid, "whole": (h - h0) % sh == 0 and (w - w0) % sw == 0}
