"""The notes' "layer sizing patterns" (section 五, ConvNet Architectures) as lints.

``lint(report)`` adds one "info" Diagnostic (``rule`` "lint:<name>") to the layer a rule is
about. Lints are notes: they never change a warning or an error, a layer's status or the
summary's exit status. Each quotes its sentence from the notes, with an English rendering.
"""

from __future__ import annotations

from math import ceil

from .layers import Diagnostic

# The notes' sentences (Chinese as written, then in English).
NOTES = {
    "padding": ("假设步长S=1,如果想保持原来尺寸大小,那么P = (F - 1)/2",
                "with stride S = 1, keeping the size takes P = (F − 1)/2"),
    "input": ("输入尺寸一般是 32, 64, 96, 224, 384, 512",
              "input sizes are usually 32, 64, 96, 224, 384, 512 (numbers that divide by 2 "
              "many times)"),
    "pool": ("从开始到结束只执行3x3的卷积和2x2的池",
             "(VGGNet) only 3×3 convolutions and 2×2 pooling from beginning to end"),
    "large-filter": ("更喜欢用几个小的卷积核层而不是一个大的卷积核层来达成相同大小的尺寸",
                     "prefer a stack of small-filter conv layers to one large-filter layer "
                     "that sees the same region (more non-linearities, fewer parameters)"),
    "fc-heavy": ("在ConvNet的顶部使用平均池而不是完全连接的层,从而消除了大量似乎不太重要的参数",
                 "(GoogLeNet) average pooling at the top of the ConvNet instead of fully "
                 "connected layers removes a large number of parameters that seem not to "
                 "matter much"),
}

GOOD_POOLS = {(2, 2), (3, 2)}  # (kernel, stride): the common 2×2/2 and AlexNet's 3×3/2
FC_SHARE = 0.5  # fc parameters above this share of the network's make it "FC-heavy"


def lint(report) -> None:
    """Add the notes' design-rule notes to ``report``'s layers (computed layers only)."""
    infos = [i for i in report.layers if i.out is not None and i.in_shape is not None]
    for info in infos:
        for check in (_padding, _pool, _large_filter):
            d = check(info)
            if d:
                _attach(info, d)
    _input(report, infos)
    _fc_heavy(report, infos)


def _attach(info, d: Diagnostic) -> None:
    d.path, d.layer = info.path, info.name
    for fix in d.fixes:
        for change in fix["changes"]:
            change["path"] = change["path"] or info.path
    info.diagnostics.append(d)


def _note(name: str, message: str, fixes=None) -> Diagnostic:
    chinese, english = NOTES[name]
    return Diagnostic("info", f"{message}. The notes: “{chinese}” ({english}).", fixes or [],
                      rule=f"lint:{name}")


def _spatial(shape) -> tuple[int, int]:
    return shape[1], shape[2]


def _is_fc_as_conv(info) -> bool:
    """A conv whose output is 1×1 is an fc layer written as a conv (FC→CONV): it shrinks on
    purpose."""
    return _spatial(info.out) == (1, 1)


# ---------------------------------------------------------------- P = (F − 1)/2 at stride 1
def _padding(info):
    layer = info.layer
    if layer.TYPE != "conv" or layer.pair("stride") != (1, 1) or _is_fc_as_conv(info):
        return None
    (h, w), (ho, wo) = _spatial(info.in_shape), _spatial(info.out)
    if (ho, wo) == (h, w):
        return None
    kernels = [k for k, _, _ in info.window]  # effective (dilated) kernel per axis
    message = (f"this stride-1 conv shrinks the map from {h}×{w} to {ho}×{wo} (padding "
               f"{_shown(layer.pair_padding())})")
    if any(k % 2 == 0 for k in kernels):
        return _note("padding", message + f"; its even kernel {kernels[0]}×{kernels[1]} "
                     "cannot keep the size with the same padding on both sides")
    keep = [(k - 1) // 2 for k in kernels]
    value = keep[0] if keep[0] == keep[1] else keep
    message += (f"; P = (F − 1)/2 = ({kernels[0]} − 1)/2 = {keep[0]} keeps it"
                if keep[0] == keep[1] else f"; P = (F − 1)/2 per axis = {_shown(keep)} keeps it")
    return _note("padding", message, [{"label": f"set padding to {_shown(value)}",
                                       "changes": [{"path": "", "key": "padding",
                                                    "value": value}]}])


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value[0] == value[1] else f"[{value[0]}, {value[1]}]"
    return str(value)


# ---------------------------------------------------------------- pools: 2×2/2 (or 3×3/2)
def _pool(info):
    layer = info.layer
    if layer.TYPE != "pool" or _spatial(info.out) == (1, 1):
        return None  # a 1×1 output is a global pool: the notes' average pooling at the top
    pairs = list(zip(layer.pair("kernel"), layer.stride_pair()))
    if all(p in GOOD_POOLS for p in pairs):
        return None
    if all(s == 1 for _, s in pairs) and _spatial(info.out) == _spatial(info.in_shape):
        return None  # a size-keeping pool (an inception branch): it does not downsample
    (kh, kw), (sh, sw) = layer.pair("kernel"), layer.stride_pair()
    changes = [{"path": "", "key": "kernel", "value": 2}, {"path": "", "key": "stride",
                                                          "value": 2}]
    if layer.pair("padding") != (0, 0):
        changes.append({"path": "", "key": "padding", "value": 0})
    return _note("pool", f"a {kh}×{kw} pool at stride {_shown((sh, sw))}: the common pools "
                 "are 2×2 at stride 2 (each output sees its own 2×2, the map halves) or "
                 "AlexNet's overlapping 3×3 at stride 2",
                 [{"label": "make it 2×2 at stride 2", "changes": changes}])


# ---------------------------------------------------------------- one large filter vs 3×3s
def stack_weights(kernel: int, channels: int, filters: int, groups: int = 1) -> tuple[int, int]:
    """(weights of one kernel×kernel conv, weights of the stack of 3×3 convs with the same
    receptive field): n = ⌈(F − 1)/2⌉ convs, the first channels → filters, the rest
    filters → filters, all with the layer's groups."""
    n = ceil((kernel - 1) / 2)
    single = kernel * kernel * (channels // groups) * filters
    stack = 9 * (channels // groups) * filters + (n - 1) * 9 * (filters // groups) * filters
    return single, stack


def _large_filter(info):
    layer = info.layer
    if layer.TYPE != "conv" or info.depth > 0 or _is_fc_as_conv(info):
        return None  # inside a block a large filter is one scale of several (inception)
    (kh, kw) = layer.pair("kernel")
    if kh != kw or kh < 5 or layer.pair("stride") != (1, 1) or layer.pair("dilation") != (1, 1):
        return None
    c, k, g = info.in_shape[0], info.out[0], layer.get("groups")
    single, stack = stack_weights(kh, c, k, g)
    if stack >= single:
        return None  # the notes' "fewer weights" does not hold for these depths
    n = ceil((kh - 1) / 2)
    cg = c // g
    rest = f" + {n - 1}·9·{k // g}·{k}" if n > 2 else f" + 9·{k // g}·{k}"
    return _note("large-filter",
                 f"one {kh}×{kh} conv sees what {n} stacked 3×3 convs see "
                 f"({2 * n + 1}×{2 * n + 1}): {kh}·{kh}·{cg}·{k} = {single:,} weights "
                 f"against 9·{cg}·{k}{rest} = {stack:,} for the stack, with a ReLU between "
                 f"each; replace it by {n} 3×3 convs of {k} filters, padding 1")


# ---------------------------------------------------------------- input divisible by 2
def _halving_pools(infos) -> list:
    """The 2×2 stride-2 pools, in reading order: each needs an even input."""
    return [i for i in infos if i.layer.TYPE == "pool" and i.layer.pair("kernel") == (2, 2)
            and i.layer.stride_pair() == (2, 2)]


def times_divisible(size: int) -> int:
    """How many times ``size`` divides by 2."""
    times = 0
    while size > 0 and size % 2 == 0:
        size, times = size // 2, times + 1
    return times


def _input(report, infos) -> None:
    pools = _halving_pools(infos)
    need = len(pools)
    sizes = _spatial(report.input_shape)
    times = min(times_divisible(s) for s in sizes)
    if times >= need:
        return
    step = 2 ** need
    words = []
    for size in dict.fromkeys(sizes):  # one line for a square input
        lower = size // step * step
        near = [s for s in (lower, lower + step) if s > 0]
        words.append(f"{size} divides by 2 {times_divisible(size)} time"
                     f"{'s' * (times_divisible(size) != 1)}; "
                     f"{' and '.join(str(s) for s in near)} divide by 2^{need} = {step}")
    _attach(pools[times], _note(
        "input", f"the input size should divide by 2 as often as the network's {need} "
        f"2×2 stride-2 pools halve it: {'; '.join(words)}"))


# ---------------------------------------------------------------- FC-heavy networks
def _fc_heavy(report, infos) -> None:
    fcs = [i for i in infos if i.layer.TYPE == "fc"]
    total = sum(i.params for i in report.layers)
    fc_params = sum(i.params for i in fcs)
    if not fcs or not total or fc_params <= FC_SHARE * total:
        return
    largest = max(fcs, key=lambda i: i.params)
    _attach(largest, _note(
        "fc-heavy",
        f"the fc layers hold {fc_params:,} of the network's {total:,} parameters "
        f"({100 * fc_params / total:.1f} %), {largest.name} alone {largest.params:,}; global "
        f"average pooling before one fc to the classes removes most of them, and FC→CONV "
        f"(Understand) runs the same weights as convs on any input size"))
