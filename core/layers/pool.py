"""POOL: max, average or L2 over each F×F window."""

from __future__ import annotations

from math import ceil, prod

import numpy as np

from .. import geometry as geo
from .. import ops
from ..fields import Field, choice, flag, pair, size
from .base import Diagnostic, Example, Footprint, Layer, Shaped, op_dict, register, tensor_bytes
from .emit import torch_keywords, torch_pair
from .sizes import FLOOR, _kernel_error, _size_diagnostics
from .text import Section, axes_lines, n, receptive, shape_words, vol

_L2_POOL = '''
class L2Pool2d(nn.Module):
    """sqrt(Σx²) over each window, zero padding, as ConvScope's l2 pool (PyTorch's
    LPPool2d has no padding)."""

    def __init__(self, kernel_size, stride, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.padding, self.ceil_mode = padding, ceil_mode

    def forward(self, x):
        # a window sum: avg_pool2d with divisor 1 (PyTorch's own size rules, padding 0)
        sums = nn.functional.avg_pool2d(x * x, self.kernel_size, self.stride, self.padding,
                                        self.ceil_mode, True, divisor_override=1)
        return sums.sqrt()
'''


@register
class Pool(Layer):
    TYPE, CATEGORY, TITLE = "pool", "POOL", "Pooling"
    ORDER = 10  # place in its palette group
    SUMMARY = ("POOL: downsamples each channel on its own: the max, mean or L2 norm of every "
               "F×F window. Depth is kept; no parameters.")
    FIELDS = (
        choice("mode", "max", ("max", "avg", "l2"), "what a window reduces to", always=True),
        size("kernel", 2, "F: the window's height and width", always=True),
        Field("stride", "size", None, "S: the step between windows (default: the kernel)"),
        size("padding", 0, "P: padding around the input (−∞ for max, 0 for avg/l2)", minimum=0),
        flag("ceil_mode", False, "round the output size up, as PyTorch's ceil_mode"),
        flag("count_include_pad", True, "avg only: count padding in the divisor"),
        FLOOR,
    )
    THIN = False
    NEEDS = "pool's backward (max: where each window's maximum was; l2: the input)"
    EXAMPLES = {
        "pool_max": Example((2, 6, 6), {"mode": "max", "kernel": 2}),
        "pool_max_overlap_ceil_pad": Example((2, 8, 8), {"mode": "max", "kernel": 3, "stride": 2,
                                                         "padding": 1, "ceil_mode": True}),
        "pool_max_ceil": Example((2, 6, 6), {"mode": "max", "kernel": 3, "stride": 2,
                                             "ceil_mode": True}),
        "pool_avg": Example((2, 6, 6), {"mode": "avg", "kernel": 2}),
        "pool_avg_pad": Example((2, 7, 7), {"mode": "avg", "kernel": 3, "stride": 2,
                                            "padding": 1}),
        "pool_avg_pad_exclude_ceil": Example((2, 6, 6), {
            "mode": "avg", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True,
            "count_include_pad": False}),
        "pool_l2": Example((2, 6, 6), {"mode": "l2", "kernel": 2}),
        "pool_l2_ceil_pad": Example((2, 6, 6), {"mode": "l2", "kernel": 3, "stride": 2,
                                                "padding": 1, "ceil_mode": True}),
    }

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
        results = tuple(geo.axis_output(size, k, p, s, self.values["ceil_mode"])
                        for size, (k, s, p, _) in zip((h, w), self.geometry()))
        window = tuple((r.kernel, r.stride, r.padding) for r in results)
        for axis, r in zip(geo.AXES, results):
            if 2 * r.padding > r.kernel:
                return Shaped(None, [Diagnostic(
                    "error", f"{axis}: padding {r.padding} is more than half the kernel "
                    f"{r.kernel}; a window could see only padding (PyTorch refuses it)",
                    axis=axis)], window, results)
        error = _kernel_error(results)
        if error:
            return Shaped(None, [error], window, results)
        diagnostics = [] if self.values["ceil_mode"] else _size_diagnostics(
            self, results, ("padding", "stride"))
        if self.values["ceil_mode"]:
            for axis, r in zip(geo.AXES, results):
                if not r.whole:
                    diagnostics.append(Diagnostic(
                        "info", f"{axis}: {r.formula()}, rounded up to {r.out} (ceil mode)"))
        return Shaped((c, results[0].out, results[1].out), diagnostics, window, results)

    # -------------------------------------------------------------- words
    def card_label(self):
        return f"{self.values['mode'].upper()} POOL"

    def table_label(self):
        kh, kw = self.pair("kernel")
        prefix = {"max": "POOL", "avg": "AVGPOOL", "l2": "L2POOL"}[self.values["mode"]]
        return f"{prefix}{kh if kh == kw else f'{kh}x{kw}'}"

    def explain(self, info):
        return _explain(info)

    # -------------------------------------------------------------- interop
    def torch_module(self, info, code):
        v = self.values
        args = [torch_pair(self.pair("kernel")), f"stride={torch_pair(self.stride_pair())}"]
        args += torch_keywords(padding=(self.pair("padding"), 0))
        if v["ceil_mode"]:
            args.append("ceil_mode=True")
        if v["mode"] == "max":
            return f"nn.MaxPool2d({', '.join(args)})"
        if v["mode"] == "avg":
            if not v["count_include_pad"]:
                args.append("count_include_pad=False")
            return f"nn.AvgPool2d({', '.join(args)})"
        code.use(_L2_POOL)
        return f"L2Pool2d({', '.join(args)})"

    def onnx_nodes(self, info, graph, x, out):
        plan = pool_plan(self, info.in_shape, info.out)
        mode = self.values["mode"]
        kernel, stride = list(self.pair("kernel")), list(self.stride_pair())
        common = {"kernel_shape": kernel, "strides": stride}
        if plan.kind == "divisor":
            return _avg_with_divisor(graph, x, out, plan, kernel, stride)
        pads = plan.pads
        if mode == "l2":
            return graph.node("LpPool", [x], out, p=2, pads=pads, **common)
        extra = {"ceil_mode": int(plan.kind == "ceil")}
        if mode == "avg":
            extra["count_include_pad"] = int(self.values["count_include_pad"])
        return graph.node("MaxPool" if mode == "max" else "AveragePool", [x], out, pads=pads,
                          **common, **extra)

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

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """ops.pool_forward: the output, and the padded input (or l2's squares) that the
        cache keeps for the backward pass; separable max pooling, read straight from the
        input, keeps no padded copy, only its row maxima meanwhile (and, at a stride
        across, their phases: as many values again)."""
        (c, h, w), (_, ho, wo) = in_shape, out_shape
        (kh, kw), (sh, sw), (ph, pw) = self.pair("kernel"), self.stride_pair(), self.pair("padding")
        rows = max(h + 2 * ph, (ho - 1) * sh + kh)
        cols = max(w + 2 * pw, (wo - 1) * sw + kw)
        padded = (rows, cols) != (h, w)
        mode = self.values["mode"]
        kept = tensor_bytes(out_shape, batch)
        separable = mode == "max" and kh * kw > kh + kw
        if (padded and not separable) or mode == "l2":
            kept += tensor_bytes((c, rows, cols), batch)
        scratch = 0
        if separable:
            scratch = tensor_bytes((c, ho, w), batch) * (2 if sw > 1 else 1)
        if mode == "l2" and padded:
            scratch += tensor_bytes(in_shape, batch)  # the squares before padding
        return Footprint(kept, scratch)

    def op_counts(self, shape, out):
        """Per output value, over its F_h×F_w window (k = F_h·F_w values, padding included):
        max: k − 1 comparisons; avg: k − 1 additions and 1 division; l2: k multiplications
        (the squares), k − 1 additions and 1 square root."""
        k, outputs = prod(self.pair("kernel")), prod(out)
        mode = self.values["mode"]
        if mode == "max":
            return op_dict(compares=(k - 1) * outputs)
        if mode == "avg":
            return op_dict(adds=(k - 1) * outputs, divs=outputs)
        return op_dict(muls=k * outputs, adds=(k - 1) * outputs, sqrts=outputs)


# ---------------------------------------------------------------- ONNX
def _avg_with_divisor(graph, x, out, plan, kernel, stride):
    """Average pool counting padding, in ceil mode where ONNX and PyTorch disagree:
    zero-pad explicitly (symmetric padding plus the ceil overhang), take the plain window
    mean, then rescale each output by (kernel area)/(PyTorch's divisor there)."""
    pads = graph.constant(f"{out}/pads", np.array([0, 0, *plan.pads[:2], 0, 0,
                                                   *plan.pads[2:]], np.int64))
    padded = graph.node("Pad", [x, pads], f"{out}/pad", mode="constant")
    mean = graph.node("AveragePool", [padded], f"{out}/mean", kernel_shape=kernel,
                      strides=stride)
    scale = graph.constant(f"{out}/divisor_scale", plan.scale)
    return graph.node("Mul", [mean, scale], out)


class PoolPlan:
    """How one ConvScope pool is written in ONNX.

    kind: "floor" (plain pads, ceil_mode 0), "ceil" (plain pads, ceil_mode 1), "pads"
    (extra end padding that yields PyTorch's ceil size, ceil_mode 0) or "divisor" (explicit
    Pad + mean + scale). pads: ONNX order [top, left, bottom, right].
    """

    def __init__(self, kind, pads, scale=None):
        self.kind, self.pads, self.scale = kind, pads, scale


def pool_plan(layer, in_shape, out_shape) -> PoolPlan:
    (kh, kw), (sh, sw) = layer.pair("kernel"), layer.stride_pair()
    (ph, pw) = layer.pair("padding")
    axes = list(zip(in_shape[1:], (kh, kw), (sh, sw), (ph, pw), out_shape[1:]))
    floor_sizes = [(n + 2 * p - k) // s + 1 for n, k, s, p, _ in axes]
    onnx_ceil = [ceil((n + 2 * p - k) / s) + 1 for n, k, s, p, _ in axes]
    wanted = [o for *_, o in axes]
    symmetric = [ph, pw, ph, pw]
    mode = layer.values["mode"]
    if layer.values["ceil_mode"] and wanted == onnx_ceil and mode != "l2":
        return PoolPlan("ceil", symmetric)
    if wanted == floor_sizes:
        return PoolPlan("floor", symmetric)
    # PyTorch's ceil size differs from both of ONNX's: pad the end so floor gives it
    ends = [max(p, (o - 1) * s + k - n - p) for n, k, s, p, o in axes]
    pads = [ph, pw, *ends]
    if mode == "avg" and layer.values["count_include_pad"]:
        counts = [_window_counts(n, k, s, p, o) for n, k, s, p, o in axes]
        scale = (kh * kw) / np.outer(counts[0], counts[1])
        return PoolPlan("divisor", pads, scale.astype(np.float32)[None, None])
    return PoolPlan("pads", pads)


def _window_counts(n, k, s, p, o):
    """PyTorch's divisor per output position on one axis when padding counts: the window
    clipped to the padded input (the ceil overhang does not count)."""
    starts = np.arange(o) * s
    return np.minimum(starts + k, n + 2 * p) - starts


# ---------------------------------------------------------------- explanation
POOL_MODES = {
    "max": ("keeps the largest of the {k} values in each window",
            "routes each window's dout to the one position that held the maximum (the "
            "'switch' remembered from the forward pass); every other position gets 0"),
    "avg": ("takes the mean of the {k} values in each window",
            "spreads each window's dout evenly: every position of the window gets dout/{k}"),
    "l2": ("takes the L2 norm sqrt(Σx²) of the {k} values in each window",
           "gives each position x/out · dout, its share of the norm"),
}


def _work_words(layer, info) -> str:
    """The window work in words, from the one count the table's ops column shows:
    "559,872 comparisons" (max), "… additions and … divisions" (avg)."""
    from ..summary import ops_lines  # summary reads the layer registry: imported late

    words = ops_lines(layer.op_counts(info.in_shape, info.out))
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def _explain(info) -> list[Section]:
    layer = info.layer
    mode = layer.get("mode")
    (fh, fw), (sh, sw), (ph, pw) = layer.pair("kernel"), layer.stride_pair(), layer.pair("padding")
    c, h, w = info.in_shape
    _, ho, wo = info.out
    k = fh * fw
    what, back = (s.format(k=k) for s in POOL_MODES[mode])
    lines = ["O = (W − F + 2P)/S + 1 per axis:"]
    lines += axes_lines(layer.shaped(info.in_shape).axes)
    lines.append(f"Output volume: {shape_words(info.out)}. Each of the {c} channels is "
                 f"pooled on its own, so the depth stays {c}.")
    sections = [Section("Output size", "\n".join(lines))]
    text = (f"{mode} pooling {what}: {fh}×{fw} windows, {sh} apart. It has no parameters. "
            f"Work: {n(c * ho * wo)} windows × {k} values = {n(c * ho * wo * k)} "
            f"values read per image, costing {_work_words(layer, info)}.")
    if (sh, sw) < (fh, fw):
        text += (f" The stride {sh} is smaller than the window {fh}, so windows overlap "
                 "(AlexNet's 'overlapping pooling').")
    if ph or pw:
        fill = "−∞ (never the maximum)" if mode == "max" else "0"
        text += f" Padding {ph} is filled with {fill}."
        if mode == "avg":
            text += (" The divisor counts the padding." if layer.get("count_include_pad")
                     else " The divisor counts only real input values.")
    others = "; ".join(f"{m} {POOL_MODES[m][0].format(k=k)}" for m in POOL_MODES if m != mode)
    text += f" The other modes: {others}."
    sections.append(Section(f"What {mode} pooling computes", text))
    sections.append(receptive(info))
    sections.append(Section("Backward pass", f"Backward {back}. Nothing is learned here; "
                            f"dx has the input's shape {vol(info.in_shape)}."))
    return sections
