"""Explain one layer: its arithmetic worked through with its own numbers, as a student would
do it with pencil and paper from the notes.

``explain(net, "conv1")`` returns a list of ``Section(title, text)``: what the layer does, its
output size per axis, parameters, multiply–accumulates, the im2col matrix product, the
receptive field, what a 1×1 conv mixes, what dilation does, each pooling mode, and how the
backward pass works. Numbers are plugged in: counts with thousands separators (``34,944``),
shapes with ``×`` and no separators (``96×363``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import geometry as geo
from ..errors import ConvScopeError
from ..layers import fmt_shape

BYTES = 4  # float32


@dataclass
class Section:
    title: str
    text: str

    def to_dict(self) -> dict:
        return {"title": self.title, "text": self.text}


def explain(net, layer_name: str, report=None) -> list[Section]:
    """The worked arithmetic of layer ``layer_name`` of ``net``, for one image.

    ``report`` (``net.analyze()``) may be passed in to save analysing again.
    Raises ConvScopeError if there is no such layer."""
    report = report or net.analyze()
    try:
        info = report.by_name(layer_name)
    except KeyError:
        raise ConvScopeError(f"no layer named '{layer_name}'", "explain") from None
    head = Section(f"{info.name}: {info.layer.TITLE or info.type}",
                   info.layer.SUMMARY + _settings(info))
    if info.out is None:
        return [head, _cannot(info)]
    writer = WRITERS.get(info.type, _elementwise)
    return [head] + writer(info)


def as_text(sections) -> str:
    """The sections as one plain text, titles underlined."""
    return "\n\n".join(f"{s.title}\n{'-' * len(s.title)}\n{s.text}" for s in sections)


# ============================================================================ helpers
def n(value) -> str:
    """A count with thousands separators: 34944 → ``34,944``."""
    return f"{value:,}"


def mib(values: int) -> str:
    size = values * BYTES
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 2**20:.1f} MiB"


def _settings(info) -> str:
    text = info.layer.describe()
    return f"\nSettings: {text}." if text else ""


def _cannot(info) -> Section:
    if info.blocked_by:
        text = f"Its input cannot be computed: an earlier layer has an error ({info.blocked_by})."
    else:
        text = "; ".join(d.message for d in info.diagnostics if d.severity == "error")
    return Section("Shape", f"This layer's output cannot be computed. {text}")


def vol(shape) -> str:
    """(C, H, W) as the notes write it, H×W×C."""
    return fmt_shape(shape).replace("x", "×")


def _shape_words(shape) -> str:
    c, h, w = shape
    return f"{vol(shape)} ({n(c * h * w)} values, {mib(c * h * w)})"


def _axes(info, kernels, strides, paddings, ceil_mode=False):
    """Per axis: the worked output-size formula, merged when height and width agree."""
    c, h, w = info.in_shape
    results = [geo.axis_output(size, k, p, s, ceil_mode)
               for size, k, s, p in zip((h, w), kernels, strides, paddings)]
    lines = []
    if results[0] == results[1] or (h, kernels[0], strides[0], paddings[0]) == (
            w, kernels[1], strides[1], paddings[1]):
        lines.append(f"Height and width: {_formula(results[0])}")
    else:
        lines += [f"Height: {_formula(results[0])}", f"Width: {_formula(results[1])}"]
    return lines


def _formula(r) -> str:
    text = r.formula()
    if not r.whole:
        kept = "rounded up" if r.ceil_mode else "rounded down"
        text += f", not whole: {kept} to {r.out}"
    return text


def _receptive(info) -> Section:
    (rf_h, rf_w), (j_h, j_w) = info.receptive_field, info.jump
    lines = []
    if info.window:
        (kh, sh, _), (kw, sw, _) = info.window
        before_jh, before_jw = j_h // sh, j_w // sw
        before_h, before_w = rf_h - (kh - 1) * before_jh, rf_w - (kw - 1) * before_jw
        if (kh, sh, before_jh, before_h) == (kw, sw, before_jw, before_w):
            lines.append(f"Each output value sees the {kh}×{kw} window under it on this "
                         f"layer's input. On the image: rf = rf before + (F' − 1)·jump "
                         f"before = {before_h} + {kh - 1}·{before_jh} = {rf_h}, so "
                         f"{rf_h}×{rf_w} input pixels.")
            lines.append(f"Jump (image pixels between neighbouring outputs) = jump before · "
                         f"stride = {before_jh}·{sh} = {j_h}.")
        else:
            lines.append(f"Height: rf = {before_h} + {kh - 1}·{before_jh} = {rf_h}, jump "
                         f"{before_jh}·{sh} = {j_h}. Width: rf = {before_w} + {kw - 1}·"
                         f"{before_jw} = {rf_w}, jump {before_jw}·{sw} = {j_w}.")
    else:
        lines.append(f"Receptive field {rf_h}×{rf_w} input pixels, jump {j_h}×{j_w}.")
    return Section("Receptive field", " ".join(lines))


# ============================================================================ conv
def _conv(info) -> list[Section]:
    layer = info.layer
    c, h, w = info.in_shape
    k_out, ho, wo = info.out
    (fh, fw), (sh, sw), (ph, pw), (dh, dw) = (layer.pair("kernel"), layer.pair("stride"),
                                                layer.pair_padding(), layer.pair("dilation"))
    groups = layer.get("groups")
    eff = (geo.effective_kernel(fh, dh), geo.effective_kernel(fw, dw))
    cg = c // groups
    per_filter = fh * fw * cg
    sections = [_conv_size(info, eff, (sh, sw), (ph, pw), (dh, dw))]
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
    sections.append(_receptive(info))
    sections.append(_conv_backward(info, per_filter, groups, (sh, sw), eff))
    return sections


def _conv_size(info, eff, stride, padding, dilation) -> Section:
    c, h, w = info.in_shape
    lines = ["O = (W − F + 2P)/S + 1 per axis, with W the input size, F the kernel"
             + (" (its effective size D·(F−1)+1 when dilated)" if dilation != (1, 1) else "")
             + ", P the padding and S the stride:"]
    lines += _axes(info, eff, stride, padding)
    lines.append(f"Output volume: {_shape_words(info.out)} from an input of "
                 f"{_shape_words(info.in_shape)}. The depth {info.out[0]} is the number of "
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


# ============================================================================ pooling
POOL_MODES = {
    "max": ("keeps the largest of the {k} values in each window",
            "routes each window's dout to the one position that held the maximum (the "
            "'switch' remembered from the forward pass); every other position gets 0"),
    "avg": ("takes the mean of the {k} values in each window",
            "spreads each window's dout evenly: every position of the window gets dout/{k}"),
    "l2": ("takes the L2 norm sqrt(Σx²) of the {k} values in each window",
           "gives each position x/out · dout, its share of the norm"),
}


def _pool(info) -> list[Section]:
    layer = info.layer
    mode = layer.get("mode")
    (fh, fw), (sh, sw), (ph, pw) = layer.pair("kernel"), layer.stride_pair(), layer.pair("padding")
    c, h, w = info.in_shape
    _, ho, wo = info.out
    k = fh * fw
    what, back = (s.format(k=k) for s in POOL_MODES[mode])
    lines = ["O = (W − F + 2P)/S + 1 per axis:"]
    lines += _axes(info, (fh, fw), (sh, sw), (ph, pw), layer.get("ceil_mode"))
    lines.append(f"Output volume: {_shape_words(info.out)}. Each of the {c} channels is "
                 f"pooled on its own, so the depth stays {c}.")
    sections = [Section("Output size", "\n".join(lines))]
    text = (f"{mode} pooling {what}: {fh}×{fw} windows, {sh} apart. It has no parameters. "
            f"Work: {n(c * ho * wo)} windows × {k} values = {n(c * ho * wo * k)} "
            f"values {'compared' if mode == 'max' else 'added up'} per image.")
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
    sections.append(_receptive(info))
    sections.append(Section("Backward pass", f"Backward {back}. Nothing is learned here; "
                            f"dx has the input's shape {vol(info.in_shape)}."))
    return sections


def _global_avg_pool(info) -> list[Section]:
    c, h, w = info.in_shape
    return [
        Section("Output size", f"Every channel is averaged over all its {h}·{w} = {h * w} "
                f"positions: {vol(info.in_shape)} → 1×1×{c}. No parameters; "
                f"{n(c * h * w)} additions."),
        Section("Why", "It replaces the big fc layer after the conv stack (GoogLeNet, "
                "ResNet): no weights, and the network accepts any input size."),
        Section("Backward pass", f"Each of the {h * w} positions gets dout/{h * w} of its "
                "channel."),
    ]


# ============================================================================ fc
def _fc(info) -> list[Section]:
    c, h, w = info.in_shape
    d = c * h * w
    units = info.out[0]
    bias = units if info.layer.get("bias") else 0
    flat = (f"The {vol(info.in_shape)} input is first flattened C-major into a vector "
            f"of {c}·{h}·{w} = {n(d)} values. " if (h, w) != (1, 1) else "")
    sections = [
        Section("Output", f"{flat}Each of the {n(units)} units is the dot product of the "
                f"whole input vector with its own row of weights (plus a bias): output "
                f"1×1×{units}."),
        Section("Parameters", f"Weights: inputs × units = {n(d)} × {n(units)} = "
                f"{n(info.weights)}" + (f", plus {n(units)} biases = {n(info.params)} "
                                        "parameters." if bias else
                                        f", no biases = {n(info.params)} parameters.")),
        Section("Multiply–accumulates", f"One MAC per weight: {n(info.macs)} MACs per image. "
                "Compared with a conv, an fc has few MACs for its many weights: every weight "
                "is used once."),
        Section("As a convolution", f"This fc is exactly a conv of {n(units)} filters of "
                f"{h}×{w}×{c} with no padding, which fits the input once: the weight matrix "
                f"({units}, {d}) read C-major is the conv weight ({units}, {c}, {h}, {w}). "
                "Converted so, the network can slide over a larger image (FC→CONV)."),
        Section("Backward pass", f"dx = Wᵀ · dout: ({d}×{units})·({units}×1) = {d}×1, "
                f"reshaped to {vol(info.in_shape)}. dW = dout · xᵀ: ({units}×1)·"
                f"(1×{d}) = {units}×{d}, summed over the batch" + (
                    "; db = dout." if bias else ".")),
    ]
    return sections


def _flatten(info) -> list[Section]:
    c, h, w = info.in_shape
    return [Section("What it does", (
        f"{vol(info.in_shape)} becomes a vector of {c}·{h}·{w} = {n(c * h * w)} values "
        f"(1×1×{c * h * w}), channel-major as PyTorch: value (c, y, x) goes to index "
        f"c·{h * w} + y·{w} + x. Nothing is computed or copied (a view), so it adds no "
        "memory. Backward reshapes dout back."))]


# ============================================================================ normalisation
def _lrn(info) -> list[Section]:
    v = info.layer.values
    size, alpha, beta, k = v["size"], v["alpha"], v["beta"], v["k"]
    front, back = size // 2, (size - 1) // 2
    c = info.in_shape[0]
    return [
        Section("What it computes", (
            f"b_c = a_c / (k + α/n · Σ a²)^β = a_c / ({k:g} + {alpha:g}/{size} · Σ a²)^{beta:g}"
            f", the sum over the n = {size} channels c − {front} … c + {back} at the same "
            f"pixel (clipped at 0 and {c - 1}). A value shrinks when its neighbouring "
            "channels are strong: the channels compete ('lateral inhibition'). No parameters."
        )),
        Section("Cost", f"About {size} multiply-adds per value: {n(size * info.activations)} "
                "per image. The notes: its effect is small and it has fallen out of use."),
        Section("Backward pass", "Each a_c reaches the loss directly (through b_c) and "
                "through the sums of the n channels whose windows contain it, so dx adds "
                "those two paths."),
    ]


def _batchnorm(info) -> list[Section]:
    c, h, w = info.in_shape
    eps = info.layer.get("eps")
    return [
        Section("What it computes", (
            f"For each of the {c} channels: x̂ = (x − mean)/sqrt(var + {eps:g}) over the "
            f"batch's N·{h}·{w} values of that channel (training), then y = γ·x̂ + β. At "
            "inference the running mean and variance, averaged during training, replace "
            "the batch's.")),
        Section("Parameters", f"γ and β per channel: 2·{c} = {n(info.params)} learned "
                f"parameters, plus 2·{c} running statistics that are state, not learned."),
        Section("Backward pass", "dβ = Σ dout, dγ = Σ dout·x̂ (per channel); dx goes "
                "through x̂ and also through the batch mean and variance, since every value "
                "of the batch moved them."),
    ]


def _dropout(info) -> list[Section]:
    rate = info.layer.get("rate")
    return [Section("What it does", (
        f"Training: each value is zeroed with probability {rate:g} and the survivors are "
        f"scaled by 1/(1 − {rate:g}) = {1 / (1 - rate):.3g}, so the expected value is "
        "unchanged ('inverted dropout'). Inference: the identity. No parameters; it runs "
        "in place. Backward multiplies dout by the same mask."))]


# ============================================================================ element-wise
ELEMENTWISE = {
    "relu": ("max(0, x)", "dout where x > 0, else 0"),
    "leaky_relu": ("x if x > 0, else {s}·x", "dout where x > 0, else {s}·dout"),
    "sigmoid": ("1/(1 + e^−x)", "dout·σ·(1 − σ), from the output σ"),
    "tanh": ("tanh(x)", "dout·(1 − tanh²), from the output"),
}


def _elementwise(info) -> list[Section]:
    f, back = ELEMENTWISE.get(info.type, ("f(x)", "dout·f′(x)"))
    slope = info.layer.values.get("negative_slope", 0.01)
    f, back = f.format(s=f"{slope:g}"), back.format(s=f"{slope:g}")
    return [Section("What it computes", (
        f"{f} on each of the {n(info.activations)} values on its own: the shape "
        f"{vol(info.out)} is unchanged, no parameters, no mixing. It runs in place, "
        f"so it adds no memory. Backward: {back}."))]


def _softmax(info) -> list[Section]:
    c = info.out[0]
    return [Section("What it computes", (
        f"At every position p_i = e^(s_i) / Σ_j e^(s_j) over the {c} channels: the scores "
        "become probabilities that add up to 1. Backward: dx = p·(dout − Σ p·dout); with "
        "the cross-entropy loss this becomes simply p − onehot(label)."))]


# ============================================================================ blocks
def _residual(info) -> list[Section]:
    body, shortcut = info.branches
    params = sum(i.params for b in info.branches for i in _flat(b))
    kind = "the identity (no layers)" if not shortcut else \
        f"{len(shortcut)} layer{'s' if len(shortcut) > 1 else ''} (a projection)"
    return [
        Section("What it computes", (
            f"output = body(x) + shortcut(x): the body's {len(body)} layers and {kind}, "
            f"both {vol(info.out)}, added value by value. Parameters inside: "
            f"{n(params)}.")),
        Section("Backward pass", (
            "The + hands dout unchanged to both sides, and the two gradients are added where "
            "they fork at x. Through an identity shortcut the gradient reaches earlier "
            "layers without passing any weights, which is why very deep ResNets still "
            "train.")),
    ]


def _concat(info) -> list[Section]:
    outs = [(b[-1].out if b else info.in_shape) for b in info.branches]
    depths = " + ".join(str(o[0]) for o in outs if o)
    return [
        Section("What it computes", (
            f"{len(info.branches)} branches see the same input {vol(info.in_shape)}; "
            f"their outputs are stacked along the channels: {depths} = {info.out[0]} "
            f"channels, {vol(info.out)}.")),
        Section("Backward pass", "dout is cut along the channels into one piece per branch; "
                "each branch's dx is added up at the shared input."),
    ]


def _flat(infos):
    for i in infos:
        yield i
        for b in i.branches:
            yield from _flat(b)


WRITERS = {
    "conv": _conv, "pool": _pool, "global_avg_pool": _global_avg_pool, "fc": _fc,
    "flatten": _flatten, "lrn": _lrn, "batchnorm": _batchnorm, "dropout": _dropout,
    "softmax": _softmax, "residual": _residual, "concat": _concat,
}
