"""CONV: 2-D cross-correlation, as torch.nn.Conv2d."""

from __future__ import annotations

from math import prod

from .. import fastconv, ops
from .. import geometry as geo
from ..fields import Field, count, flag, pair, size
from .base import (
    Diagnostic,
    Example,
    Footprint,
    Layer,
    Shaped,
    op_dict,
    register,
    tensor_bytes,
    weight_grads,
)
from .emit import torch_keywords, torch_pair
from .sizes import FLOOR, _kernel_error, _size_diagnostics
from .text import Section, axes_lines, mib, n, receptive, shape_words, vol


@register
class Conv(Layer):
    TYPE, CATEGORY, TITLE = "conv", "CONV", "Convolution"
    ORDER = 10  # place in its palette group
    SUMMARY = ("CONV: slides `filters` kernels of F×F×C over the input; each output pixel is "
               "the dot product of a kernel with the window under it. Output size "
               "(W − F + 2P)/S + 1.")
    FIELDS = (
        count("filters", 64, "how many kernels: the output depth", required=True),
        size("kernel", 3, "F: the kernel's height and width", always=True),
        size("stride", 1, "S: the step between windows"),
        Field("padding", "padding", 0, "P: zeros around the input; \"same\" keeps the size",
              minimum=0),
        size("dilation", 1, "D: the gap between kernel taps; widens the window to D·(F−1)+1"),
        count("groups", 1, "split channels into groups that do not see each other"),
        flag("bias", True, "add one learned number per filter"),
        FLOOR,
    )
    LABEL, THIN, NEEDS = "CONV", False, "conv's dW = dout ⋆ its input"
    EXAMPLES = {
        "conv": Example((2, 5, 5), {"filters": 3, "kernel": 3, "padding": 1}),
        # 3.5 → 3: rows unused
        "conv_stride_floor": Example((2, 8, 8), {"filters": 3, "kernel": 3, "stride": 2}),
        "conv_rect_stride_padding": Example((2, 7, 6), {"filters": 3, "kernel": [3, 2],
                                                        "stride": [2, 1], "padding": [1, 2]}),
        "conv_dilation": Example((2, 7, 7), {"filters": 2, "kernel": 3, "dilation": 2,
                                             "padding": 1}),
        "conv_same_dilated": Example((2, 6, 6), {"filters": 2, "kernel": 3, "padding": "same",
                                                 "dilation": [2, 1]}, batch=1),
        "conv_groups": Example((4, 5, 5), {"filters": 6, "kernel": 3, "groups": 2,
                                           "padding": 1, "stride": 2}),
        "conv_depthwise_no_bias": Example((3, 5, 5), {"filters": 3, "kernel": 3, "groups": 3,
                                                      "bias": False}),
        "conv_1x1": Example((4, 3, 3), {"filters": 2, "kernel": 1}),
    }

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
        results = tuple(geo.axis_output(size, geo.effective_kernel(k, d), p, s)
                        for size, (k, s, p, d) in zip((h, w), self.geometry()))
        window = tuple((r.kernel, r.stride, r.padding) for r in results)
        error = _kernel_error(results)
        if error:
            return Shaped(None, [error], window, results)
        return Shaped((f, results[0].out, results[1].out), _size_diagnostics(self, results),
                      window, results)

    def table_label(self):
        kh, kw = self.pair("kernel")
        return f"CONV{kh if kh == kw else f'{kh}x{kw}'}-{self.values['filters']}"

    def weights_text(self, shape, weights):
        kh, kw = self.pair("kernel")
        cin = shape[0] // self.values["groups"]
        return f"({kh}*{kw}*{cin})*{self.values['filters']} = {weights:,}"

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        v = self.values
        args = [str(info.in_shape[0]), str(v["filters"]),
                f"kernel_size={torch_pair(self.pair('kernel'))}"]
        args += torch_keywords(stride=(self.pair("stride"), 1),
                               padding=(self.pair_padding(), 0),
                               dilation=(self.pair("dilation"), 1), groups=(v["groups"], 1))
        if not v["bias"]:
            args.append("bias=False")
        return f"nn.Conv2d({', '.join(args)})"

    def onnx_nodes(self, info, graph, x, out):
        inputs = [x, graph.weight(self, "weight")]
        if self.values["bias"]:
            inputs.append(graph.weight(self, "bias"))
        (ph, pw) = self.pair_padding()
        return graph.node("Conv", inputs, out, kernel_shape=list(self.pair("kernel")),
                          strides=list(self.pair("stride")), pads=[ph, pw, ph, pw],
                          dilations=list(self.pair("dilation")), group=self.values["groups"])

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
        fastconv.keep_freed_memory()  # a pass's outputs come back as reused memory
        return ops.conv_forward(x, params["weight"], params.get("bias"), self.pair("stride"),
                                self.pair_padding(), self.pair("dilation"),
                                self.values["groups"])

    def backward(self, dout, cache, ctx):
        dx, dw, db = ops.conv_backward(dout, cache)
        return dx, weight_grads(dw, db)

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """ops.conv_forward: the output; while it runs, the zero-padded copy of the input
        (for a conv built from stride phases, the phases: the padded input rounded up to
        whole strides) and the im2col columns (whole when small, else bands of about 2 MB;
        a 1×1 stride-1 conv reads its input as they are). Winograd's path instead fills per-thread
        workspaces that stay for the next pass, and a cache of transformed weights."""
        c, h, w = in_shape
        f, (kh, kw), g = self.values["filters"], self.pair("kernel"), self.values["groups"]
        stride, padding, dilation = self.pair("stride"), self.pair_padding(), self.pair("dilation")
        out = tensor_bytes(out_shape, batch)
        m = fastconv.route((batch, c, h, w), (f, c // g, kh, kw), stride, padding,
                           dilation, g)
        if m == fastconv.ROWS:
            return _rows_bytes(in_shape, out_shape, batch, (kh, kw), self.name)
        if m:
            return _winograd_bytes(m, in_shape, out_shape, batch, padding, self.name)
        (ph, pw), (sh, sw), (_, ho, wo) = padding, stride, out_shape
        padded = tensor_bytes((c, h + 2 * ph, w + 2 * pw), batch) if ph or pw else 0
        if fastconv.by_phases((kh, kw), stride, dilation):  # the padded input's phases
            padded = tensor_bytes((c, sh * -(-(h + 2 * ph) // sh),
                                   sw * -(-(w + 2 * pw) // sw)), batch)
        k = (c // g) * kh * kw
        row_bytes = 4 * batch * g * k * wo
        view = (kh, kw) == (1, 1) and stride == (1, 1)
        rows = ops._band_rows(ho, row_bytes)
        # in bands, the next band's columns are built before the last ones are let go
        columns = 0 if view else row_bytes * rows * (1 if rows == ho else 2)
        return Footprint(out, padded + columns)

    def op_counts(self, shape, out):
        """Beside the MACs (one per weight per output position): the bias, 1 addition per
        output value when the layer has one."""
        return op_dict(adds=prod(out) if self.values["bias"] else 0)


# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    layer = info.layer
    c, h, w = info.in_shape
    k_out, ho, wo = info.out
    (fh, fw), (sh, sw) = layer.pair("kernel"), layer.pair("stride")
    dh, dw = layer.pair("dilation")
    groups = layer.get("groups")
    eff = (geo.effective_kernel(fh, dh), geo.effective_kernel(fw, dw))
    cg = c // groups
    per_filter = fh * fw * cg
    sections = [_conv_size(info, (dh, dw))]
    sections.append(_conv_params(info, fh, fw, cg, per_filter, groups))
    sections.append(Section("Multiply–accumulates", (
        f"Every output value is one dot product of the {fh}×{fw}×{cg} filter with the window "
        f"under it: {per_filter} multiplies and adds. There are {ho}·{wo}·{k_out} = "
        f"{n(ho * wo * k_out)} output values, so {n(ho * wo * k_out)} × {per_filter} = "
        f"{n(info.macs)} MACs per image (about {2 * info.macs / 1e9:.2f} GFLOPs, counting "
        f"the multiply and the add).")))
    sections.append(_im2col(info, per_filter, groups))
    if (fh, fw) == (1, 1):
        sections.append(_one_by_one(info, groups))
    if (dh, dw) != (1, 1):
        sections.append(_dilation(info, (fh, fw), (dh, dw), eff))
    sections.append(receptive(info))
    sections.append(_conv_backward(info, per_filter, groups, (sh, sw), eff))
    return sections


def _conv_size(info, dilation) -> Section:
    lines = ["O = (W − F + 2P)/S + 1 per axis, with W the input size, F the kernel"
             + (" (its effective size D·(F−1)+1 when dilated)" if dilation != (1, 1) else "")
             + ", P the padding and S the stride:"]
    lines += axes_lines(info.layer.shaped(info.in_shape).axes)
    lines.append(f"Output volume: {shape_words(info.out)} from an input of "
                 f"{shape_words(info.in_shape)}. The depth {info.out[0]} is the number of "
                 f"filters.")
    return Section("Output size", "\n".join(lines))


def _conv_params(info, fh, fw, cg, per_filter, groups) -> Section:
    k_out = info.out[0]
    bias = k_out if info.layer.get("bias") else 0
    depth = (f"C = {cg} input channels per group ({info.in_shape[0]} split into {groups} "
             f"groups)" if groups > 1 else f"C = {cg}, the input depth")
    text = (f"Each filter is F×F×C = {fh}×{fw}×{cg} = {per_filter} weights ({depth}). "
            f"With {k_out} filters: ({fh}·{fw}·{cg})·{k_out} = {n(info.weights)} weights")
    if bias:
        text += (f", plus {k_out} biases (one per filter) = {n(info.params)} parameters. "
                 f"Formula: (F·F·C)·K + K.")
    else:
        text += f" and no biases = {n(info.params)} parameters."
    text += (f" The same {per_filter} weights are used at all {n(info.out[1] * info.out[2])} "
             f"positions (parameter sharing); a layer without sharing would need "
             f"{n(info.weights * info.out[1] * info.out[2])}.")
    return Section("Parameters", text)


def _im2col(info, per_filter, groups) -> Section:
    shapes = info.extra.get("im2col", {})
    k_out, ho, wo = info.out
    rows_w, cols_w = shapes.get("weights", (k_out // groups, per_filter))
    rows_x, cols_x = shapes.get("columns", (per_filter, ho * wo))
    in_values = info.in_shape[0] * info.in_shape[1] * info.in_shape[2]
    col_values = rows_x * cols_x * groups
    text = (f"Stretch every window into a column of {per_filter} numbers. There are "
            f"{ho}·{wo} = {ho * wo} windows, so the columns make a matrix X_col of "
            f"{rows_x}×{cols_x}. Each filter, stretched into a row, makes W_row "
            f"{rows_w}×{cols_w}. One matrix product W_row · X_col gives "
            f"{rows_w}×{cols_x}, which is reshaped to {vol(info.out)}.")
    if groups > 1:
        text += (f" With {groups} groups this is done once per group, each with its own "
                 f"{per_filter // (info.layer.pair('kernel')[0] * info.layer.pair('kernel')[1])}"
                 f" input channels and {rows_w} filters.")
    ratio = col_values / in_values if in_values else 0
    text += (f" X_col holds {n(col_values)} numbers ({mib(col_values)}) where the input "
             f"holds {n(in_values)}: ")
    if ratio > 1.05:
        text += (f"overlapping windows copy each input value about {ratio:.1f} times, the "
                 "memory price of turning a convolution into one fast matrix product.")
    elif ratio < 0.95:
        text += "the stride is larger than the window, so some input values are never used."
    else:
        text += "the windows do not overlap, so nothing is copied twice."
    return Section("As one matrix product (im2col)", text)


def _one_by_one(info, groups) -> Section:
    c = info.in_shape[0]
    k_out, ho, wo = info.out
    cg = c // groups
    return Section("What a 1×1 convolution mixes", (
        f"A 1×1 kernel sees one pixel at a time, so it never mixes neighbouring pixels: each "
        f"output value is a weighted sum of the {cg} values at the same position, one from "
        f"each input channel. It is an fc layer from {cg} to {k_out // groups} numbers applied "
        f"at every one of the {ho}·{wo} positions with the same {k_out}×{cg} weights. "
        + _depth_change(c, k_out) + f" It costs {n(info.macs)} MACs."))


def _depth_change(c, k_out) -> str:
    if k_out < c:
        return (f"It reduces the depth from {c} to {k_out}, as GoogLeNet does before its "
                "3×3 and 5×5 convs, so that they cost less.")
    if k_out > c:
        return (f"It expands the depth from {c} to {k_out}, as ResNet's bottleneck does "
                "after its 3×3 conv.")
    return f"It keeps the depth at {c} and only recombines the channels."


def _dilation(info, kernel, dilation, eff) -> Section:
    (fh, fw), (dh, dw), (eh, ew) = kernel, dilation, eff
    text = (f"Dilation D = {dh} puts {dh - 1} gap{'s' if dh > 2 else ''} between the kernel's "
            f"taps: the {fh}×{fw} taps spread over D·(F − 1) + 1 = {dh}·({fh} − 1) + 1 = {eh} "
            f"pixels")
    text += f" (and {dw}·({fw} − 1) + 1 = {ew} across)." if (dh, fh) != (dw, fw) else \
        f" in each direction, an {eh}×{ew} window."
    text += (f" The layer still has only {fh}·{fw} weights per channel and the same MACs as "
             f"an undilated {fh}×{fw} conv, but its receptive field grows by "
             f"({eh} − 1)·jump instead of ({fh} − 1)·jump: a wider view for free, at the "
             "price of skipping the pixels between the taps.")
    return Section("Dilation", text)


def _conv_backward(info, per_filter, groups, stride, eff) -> Section:
    k_out, ho, wo = info.out
    rows = k_out // groups
    l = ho * wo
    sh, sw = stride
    lines = [
        f"The backward pass gets dout, the loss's gradient for every output value "
        f"({vol(info.out)}), and returns three gradients:",
        f"• db: each bias touched all {l} positions of its channel, so db = dout summed over "
        f"the positions: {k_out} numbers." if info.layer.get("bias") else
        "• no bias, so no db.",
        f"• dW = dout ⋆ input: the gradient of a weight is the correlation of its output "
        f"channel's dout with the input values it multiplied. As matrices: dW_row = "
        f"dout_row · X_colᵀ = ({rows}×{l})·({l}×{per_filter}) = {rows}×{per_filter}"
        + (" per group" if groups > 1 else "") + ".",
        "• dx = a 'full' convolution of dout with every filter flipped 180° (top-bottom and "
        "left-right): each input value fed every output whose window covered it, through "
        "the mirrored tap." + (
            f" With stride {sh} dout is first spread out with {sh - 1} zero"
            f"{'s' if sh > 2 else ''} between its values." if (sh, sw) != (1, 1) else "")
        + f" As matrices: dX_col = W_rowᵀ · dout_row = ({per_filter}×{rows})·({rows}×{l}) = "
        f"{per_filter}×{l}, then col2im adds every column back onto the window it came "
        f"from (overlapping windows add up).",
        f"Both products cost as much as the forward, so backward is about 2 × {n(info.macs)} "
        f"MACs, and it needs the input kept from the forward pass (for dW).",
    ]
    return Section("Backward pass", "\n".join(lines))


def _rows_bytes(in_shape, out_shape, batch, kernel, name) -> Footprint:
    """What fastconv.rows_conv allocates: its output, the per-thread workspaces of one band
    (the kh row-shifted copies of the input and the kw·F rows of products, both as wide
    as the input) and this layer's stacked weights with the copy they are checked
    against."""
    (c, _, w), (f, ho, _), (kh, kw) = in_shape, out_shape, kernel
    rows = fastconv.rows_band(batch, c, kh, ho, w)
    held = (("row shifts", 4 * batch * c * kh * rows * w),
            ("row products", 4 * batch * kw * f * rows * w),
            (f"stacked weights of {name}", 2 * 4 * f * c * kh * kw))
    return Footprint(tensor_bytes(out_shape, batch), 0, held)


def _winograd_bytes(m, in_shape, out_shape, batch, padding, name) -> Footprint:
    """What fastconv.winograd_conv allocates with tiles of m×m outputs: its output (and,
    when the tiles overhang it, the larger array it is cut from), the per-thread
    workspaces (padded input, in m column phases of tw + 1 columns; tiles, transforms,
    products and outputs of one band of tile rows) and this layer's transformed weights
    with the copy they are checked against."""
    (c, _, _), (f, ho, wo) = in_shape, out_shape
    a, th, tw = m + 2, -(-ho // m), -(-wo // m)
    band = fastconv.winograd_band(batch, c, m, th, tw)
    tiles = 4 * batch * band * tw
    held = (("winograd padded", tensor_bytes((c, m * th + 2, m * (tw + 1)), batch)),
            ("winograd tiles", tiles * a * a * c), ("winograd transformed", tiles * a * a * c),
            ("winograd products", tiles * a * a * f), ("winograd outputs", tiles * m * m * f),
            (f"winograd weights of {name}", 4 * f * c * (a * a + 9)))
    whole = tensor_bytes((f, m * th, m * tw), batch)
    out = tensor_bytes(out_shape, batch)
    return Footprint(out, whole if whole != out else 0, held)
