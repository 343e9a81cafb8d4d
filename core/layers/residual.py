"""Residual block: body(x) + shortcut(x), or body(x) · shortcut(x) (join "mul":
squeeze-and-excitation and gates)."""

from __future__ import annotations

from math import prod

from ..fields import Field, choice
from .base import Diagnostic, Example, Footprint, Shaped, fmt_shape, op_dict, register, tensor_bytes
from .block import Block
from .text import Section, cost, flat, n, percent, steps, vol

_TORCH_RESIDUAL = '''
class Residual(nn.Module):
    """ResNet's block: body(x) + shortcut(x); an empty shortcut is the identity."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)
'''

_TORCH_GATE = '''
class ResidualMul(nn.Module):
    """body(x) * shortcut(x), a C×1×1 side broadcast over H and W (squeeze-and-excitation:
    the body is the 1×1 side; an empty shortcut is the identity)."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) * self.shortcut(x)
'''

JOINS = {"add": "+", "mul": "×"}  # join → the sign the pipeline draws


@register
class Residual(Block):
    TYPE, TITLE = "residual", "Residual block"
    ORDER = 10  # place in its palette group
    SUMMARY = ("ResNet's skip connection: output = body(x) + shortcut(x). An empty shortcut "
               "is the identity; the two shapes must match. With join \"mul\" the sides are "
               "multiplied, a C×1×1 side spread over H and W: squeeze-and-excitation.")
    FIELDS = (Field("body", "layers", None), Field("shortcut", "layers", None),
              choice("join", "add", JOINS, "how the two sides meet: added, or multiplied "
                     "(a C×1×1 side is spread over H and W)"))
    BLOCK_KEYS = ("body", "shortcut")

    def __init__(self, name=None, body=None, shortcut=None, join="add"):
        super().__init__(name, join=join)
        self.values["body"] = list(body or [])
        self.values["shortcut"] = list(shortcut or [])

    def slots(self):
        return [("body", self.values["body"]), ("shortcut", self.values["shortcut"])]

    def read_slots(self, data, read):
        for key in self.BLOCK_KEYS:
            self.values[key] = read(data.get(key, []), key)

    def write_slots(self, out, write):
        for key in self.BLOCK_KEYS:
            out[key] = write(self.values[key])

    def slot_label(self, slot):
        if slot == "shortcut" and not self.values["shortcut"]:
            return "shortcut (identity)"
        return slot

    def block_detail(self, inside):
        kind = "projection" if self.values["shortcut"] else "identity"
        return [*inside, f"× {kind}" if self.multiplies else kind]

    def join_label(self):
        return JOINS[self.values["join"]]

    @property
    def multiplies(self) -> bool:
        return self.values["join"] == "mul"

    def mends(self, ends):
        """The notes' 1×1 projection in the shortcut, when the sides differ by a stride
        (a whole one, the same on both axes) and perhaps a depth; none for a C×1×1 side
        that is multiplied (its channels are the body's to fix)."""
        if self.multiplies and _one_by_one(*ends):
            return []
        stride = _projection_stride(*ends)
        if not stride or ends[0] == ends[1]:
            return []
        filters = ends[0][0]
        item = {"type": "conv", "filters": filters, "kernel": 1, "stride": stride,
                "bias": False}
        return [("shortcut", item, f"a 1×1 conv ({filters} filters, stride {stride})")]

    def describe(self):
        kind = "identity" if not self.values["shortcut"] else "projection"
        return f"body {self.join_label()} {kind} shortcut"

    def combine(self, shapes):
        body, shortcut = shapes
        if self.multiplies:
            return _multiplied(body, shortcut)
        if body != shortcut:
            return Shaped(None, [Diagnostic(
                "error", f"body gives {fmt_shape(body)} but shortcut gives "
                f"{fmt_shape(shortcut)}; they are added, so they must match"
                + _projection_hint(body, shortcut))])
        return Shaped(body)

    def forward(self, x, params, ctx):
        """x: (N, C, H, W) → body(x) + shortcut(x), or body(x) · shortcut(x) with a
        (N, C, 1, 1) side broadcast; the cache is both sides' caches (and, to multiply,
        both sides' outputs)."""
        a, cache_a = ctx.run(self.values["body"], x)
        b, cache_b = ctx.run(self.values["shortcut"], x)
        if self.multiplies:
            return a * b, (cache_a, cache_b, a, b)
        return a + b, (cache_a, cache_b)

    def backward(self, dout, cache, ctx):
        """dout: the output's shape → dx. A + hands dout to both sides; a · hands each side
        dout times the other side, summed over H and W for a side that was broadcast."""
        if self.multiplies:
            cache_a, cache_b, a, b = cache
            dout_a, dout_b = _unbroadcast(dout * b, a.shape), _unbroadcast(dout * a, b.shape)
        else:
            (cache_a, cache_b), dout_a, dout_b = cache, dout, dout
        da = ctx.back(self.values["body"], dout_a, cache_a)
        db = ctx.back(self.values["shortcut"], dout_b, cache_b)
        return da + db, {}

    # -------------------------------------------------------------- words, interop, examples
    # NEEDS: its own backward reads nothing more than its sides' outputs (to multiply),
    # which are tensors the forward pass keeps anyway
    LABEL, TABLE_LABEL, THIN, NEEDS = "RESIDUAL", "RESIDUAL", False, ""
    EXAMPLES = {
        "residual_projection": Example((2, 5, 5), {
            "body": [{"type": "conv", "filters": 3, "kernel": 3, "stride": 2, "padding": 1,
                      "bias": False},
                     {"type": "batchnorm"}, {"type": "tanh"},
                     {"type": "conv", "filters": 3, "kernel": 3, "padding": 1}],
            # no bias before a training-mode batchnorm: its gradient is exactly zero there
            "shortcut": [{"type": "conv", "filters": 3, "kernel": 1, "stride": 2, "bias": False},
                         {"type": "batchnorm"}],
        }, then=({"type": "tanh"},), training=True),
        # squeeze-and-excitation: the body squeezes to 4×1×1, excites, gates the input's maps
        "residual_squeeze_excitation": Example((4, 5, 5), {"join": "mul", "body": [
            {"type": "global_avg_pool"}, {"type": "conv", "filters": 2, "kernel": 1},
            {"type": "relu"}, {"type": "conv", "filters": 4, "kernel": 1},
            {"type": "sigmoid"}]}),
        # a gate with both sides full size: a sigmoid mask times a projection
        "residual_gate": Example((2, 5, 5), {"join": "mul", "body": [
            {"type": "conv", "filters": 3, "kernel": 3, "padding": 1}, {"type": "sigmoid"}],
            "shortcut": [{"type": "conv", "filters": 3, "kernel": 1}]}),
        "residual_identity_inference": Example((3, 5, 5), {"body": [
            {"type": "conv", "filters": 3, "kernel": 3, "padding": 1}, {"type": "batchnorm"},
            {"type": "sigmoid"}]}),
        "residual_holding_concat": Example((2, 5, 5), {"body": [{"type": "concat", "branches": [
            [{"type": "conv", "filters": 1, "kernel": 3, "padding": 1}],
            [{"type": "conv", "filters": 1, "kernel": 1}]]}]}),
    }

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        helper, name = (_TORCH_GATE, "ResidualMul") if self.multiplies else \
            (_TORCH_RESIDUAL, "Residual")
        code.use(helper)
        return code.call(name, info, [
            f"body={code.sequential(self.values['body'], 'body')}",
            f"shortcut={code.sequential(self.values['shortcut'], 'shortcut')}"])

    def onnx_nodes(self, info, graph, x, out):
        body = graph.sequence(self.values["body"], x)
        shortcut = graph.sequence(self.values["shortcut"], x)
        return graph.node("Mul" if self.multiplies else "Add", [body, shortcut], out)

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The joined output; the sides are counted by their own layers (an empty side is
        the input itself)."""
        return Footprint(tensor_bytes(out_shape, batch))

    def op_counts(self, shape, out):
        """The join only (the layers inside count their own): 1 addition per output value
        for "add", 1 multiplication per output value for "mul"."""
        joined = prod(out)
        return op_dict(muls=joined) if self.multiplies else op_dict(adds=joined)


def _projection_stride(body, shortcut) -> int:
    """The stride of a 1×1 conv on the shortcut that gives the body's H and W, or 0."""
    if body is None or shortcut is None:
        return 0
    (_, hb, wb), (_, hs, ws) = body, shortcut
    if hs % hb == 0 and ws % wb == 0 and hs // hb == ws // wb:
        return hs // hb
    return 0


def _one_by_one(body, shortcut) -> bool:
    """Whether either side is C×1×1."""
    return (1, 1) in (body[1:], shortcut[1:])


def _multiplied(body, shortcut) -> Shaped:
    """The shape of body · shortcut: the same channels, and the same H and W unless one side
    is C×1×1 (spread over the other's H and W); the full-size side's shape."""
    if body[0] == shortcut[0] and (body[1:] == shortcut[1:] or _one_by_one(body, shortcut)):
        return Shaped(max(body, shortcut, key=lambda s: s[1] * s[2]))
    what = [f"channels ({body[0]} and {shortcut[0]})"] if body[0] != shortcut[0] else []
    if body[1:] != shortcut[1:] and not _one_by_one(body, shortcut):
        what.append(f"H and W ({body[1]}×{body[2]} and {shortcut[1]}×{shortcut[2]}; one "
                    "side may be 1×1)")
    return Shaped(None, [Diagnostic(
        "error", f"body gives {fmt_shape(body)} but shortcut gives {fmt_shape(shortcut)}; "
        f"they are multiplied, so they must agree in {' and in '.join(what)}"
        + ("" if _one_by_one(body, shortcut) else _projection_hint(body, shortcut)))])


def _unbroadcast(grad, shape):
    """``grad`` summed over H and W where the side of ``shape`` was C×1×1 (broadcast)."""
    if grad.shape[2:] != tuple(shape[2:]):
        return grad.sum(axis=(2, 3), keepdims=True)
    return grad


def _projection_hint(body, shortcut):
    stride = _projection_stride(body, shortcut)
    if stride:
        return (f" (a 1×1 conv with {body[0]} filters and stride {stride} in the shortcut "
                "would match them)")
    return ""



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    body, shortcut = info.branches
    params = sum(i.params for b in info.branches for i in flat(b))
    kind = "the identity (no layers)" if not shortcut else \
        f"{len(shortcut)} layer{'s' if len(shortcut) > 1 else ''} (a projection)"
    if info.layer.multiplies:
        return _explain_mul(info, kind, params)
    return [
        Section("What it computes", (
            f"output = body(x) + shortcut(x): the body's {len(body)} layers and {kind}, "
            f"both {vol(info.out)}, added value by value. Parameters inside: "
            f"{n(params)}.")),
        _sides(info),
        Section("Backward pass", (
            "The + hands dout unchanged to both sides, and the two gradients are added where "
            "they fork at x. Through an identity shortcut the gradient reaches earlier "
            "layers without passing any weights, which is why very deep ResNets still "
            "train.")),
    ]


def _sides(info) -> Section:
    """The shapes that meet at the join, what each side costs, and the join's own work."""
    body, shortcut = info.branches
    sign = info.layer.join_label()
    b_params, b_macs = cost(body)
    lines = [f"• body: {steps(body)}: {vol(info.in_shape)} → {vol(_end(info, body))}; "
             f"{n(b_params)} params, {n(b_macs)} MACs"]
    if not shortcut:
        lines.append(
            f"• shortcut: the identity, x itself, {vol(info.in_shape)}: 0 params and 0 MACs. "
            "It has nothing to learn and nothing to compute: the input is read a second "
            "time and joined as it is. That is why it is free"
            + (", and why it needs the body to keep the input's shape." if sign == "+"
               else "."))
    else:
        s_params, s_macs = cost(shortcut)
        convs = [i for i in flat(shortcut) if i.type == "conv"]
        worked = "; ".join(_conv_weights(i) for i in convs)
        share = f", {percent(s_macs, b_macs)} of the body's MACs" if b_macs else ""
        lines.append(
            f"• shortcut: {steps(shortcut)}, a projection: {vol(info.in_shape)} → "
            f"{vol(_end(info, shortcut))}; {n(s_params)} params, {n(s_macs)} MACs{share}"
            + (f" ({worked})" if worked else "") + ". It is there because the body changes "
            "the shape; an identity would cost nothing.")
    c, h, w = info.out
    work = "additions" if sign == "+" else "multiplications"
    lines.append(f"The join: {h}·{w}·{c} = {n(c * h * w)} {work}, no parameters.")
    return Section("The two sides", "\n".join(lines))


def _end(info, side):
    return side[-1].out if side else info.in_shape


def _conv_weights(i) -> str:
    kh, kw = i.layer.pair("kernel")
    cin = i.in_shape[0] // i.layer.values["groups"]
    return f"{i.name}: ({kh}·{kw}·{cin})·{i.out[0]} = {n(i.weights)} weights"


def _explain_mul(info, kind, params) -> list[Section]:
    ends = [branch[-1].out if branch else info.in_shape for branch in info.branches]
    c, h, w = info.out
    if ends[0] == ends[1]:
        how = (f"both {vol(info.out)}, multiplied value by value: a gate (a side that "
               "ends in a sigmoid lets each value of the other through by a factor between "
               "0 and 1)")
        spread = "The two gradients"
    else:
        small = 0 if ends[0][1:] == (1, 1) else 1
        side = ("body", "shortcut")[small]
        how = (f"the {side} gives {vol(ends[small])}: each of its {n(c)} values scales a "
               f"whole {h}×{w} map of the other side, giving {vol(info.out)}. With a body of "
               "global average pool, 1×1 conv, relu, 1×1 conv, sigmoid this is "
               "squeeze-and-excitation: the image itself decides how much each channel "
               "counts")
        spread = (f"For the {side}, the products are summed over the {n(h * w)} positions "
                  "its values were spread over (each touched them all); the two gradients")
    return [
        Section("What it computes", (
            f"output = body(x) × shortcut(x): the body's {len(info.branches[0])} layers and "
            f"{kind}; {how}. Parameters inside: {n(params)}.")),
        _sides(info),
        Section("Backward pass", (
            "The × hands each side dout times the other side's output (the product rule). "
            f"{spread} are added where they fork at x.")),
    ]
