"""Translating one ONNX node (and the nodes that fold into it) to a ConvScope layer:
activations, conv, pools, Pad, norms. Each handler is ``(walker, i, v, allowed) →
(layers, value)``; its attributes and inputs were checked against the op table already.
"""

from __future__ import annotations

from math import ceil

import numpy as np

from ... import geometry as geo
from ..onnx_export import pool_plan

# ONNX float attributes are float32: keep the digits a person wrote (1e-5, not 9.9999997e-06)
_DIGITS = 7


# ------------------------------------------------------------------ element-wise
def simple(w, i, v, allowed, **values):
    """A layer of the table's type on the node's one output, same rank."""
    layer = w.make(i, w.row(i).layer, **values)
    return w.emit(layer, i, v, w.nodes[i].output[0], w.rank[v])


def identity(w, i, v, allowed):
    """Identity, or a Sum of the data alone."""
    others = [x for x in w.nodes[i].input if x and x != v]
    if others:
        raise w.error(i, f"takes the constant '{others[0]}'; ConvScope joins only branches "
                      "that fork from the data")
    return w.passthrough(v, w.nodes[i].output[0])


def clip(w, i, v, allowed):
    """Clip(0, 6) → relu6; Clip(0, ∞) → relu (opset 11 gives min and max as inputs)."""
    a = w.attrs(i)
    low, high = a["min"], a["max"]
    if w.opset >= 11:
        low = w.scalar(i, 1) if w.has_input(i, 1) else None
        high = w.scalar(i, 2) if w.has_input(i, 2) else None
    if low == 0 and high == 6:
        return simple(w, i, v, allowed)
    if low == 0 and (high is None or high == float("inf")):
        return w.emit(w.make(i, "relu"), i, v, w.nodes[i].output[0], w.rank[v])
    raise w.error(i, f"clips to [{_bound(low, '−∞')}, {_bound(high, '∞')}]; ConvScope maps "
                  "[0, 6] (relu6) and [0, ∞) (relu)")


def _bound(value, unbounded):
    return unbounded if value is None else f"{plain_float(value):g}"


def hard_sigmoid(w, i, v, allowed):
    a = w.attrs(i)
    if abs(a["alpha"] - 1 / 6) > 1e-6 or abs(a["beta"] - 0.5) > 1e-6:
        raise w.error(i, f"has alpha {plain_float(a['alpha']):g} and beta "
                      f"{plain_float(a['beta']):g}; ConvScope's hardsigmoid is relu6(x + 3)/6 "
                      "(alpha 1/6, beta 0.5, as PyTorch)")
    return simple(w, i, v, allowed)


def gelu(w, i, v, allowed):
    if w.attrs(i)["approximate"] != "none":
        raise w.error(i, f"approximates with '{w.attrs(i)['approximate']}'; ConvScope's gelu "
                      "is the exact one (erf)")
    return simple(w, i, v, allowed)


def prelu(w, i, v, allowed):
    slope = per_channel(w, i, v, w.const(i, 1), "a slope")
    return w.emit(w.make(i, "prelu"), i, v, w.nodes[i].output[0], w.rank[v],
                  {"weight": slope})


# ------------------------------------------------------------------ scale and shift
def per_channel(w, i, v, array, what) -> np.ndarray:
    """A constant that broadcasts over the data one number per channel → (C,)."""
    array = np.asarray(array, np.float32)
    c, rank = w.shape[v][0], w.rank[v]
    channel_axis = rank - 1 if v in w.channels_last else 1
    shape = (1,) * (rank - array.ndim) + array.shape
    if array.ndim > rank or shape[channel_axis] not in (1, c) or any(
            n != 1 for k, n in enumerate(shape) if k != channel_axis):
        raise w.error(i, f"takes {what} of shape {list(array.shape)} on data of {c} channels; "
                      "ConvScope takes one number per channel (or one for all)")
    return np.broadcast_to(array.reshape(-1), (c,)).astype(np.float32)


def _constant_side(w, i, v):
    other = [x for x in w.nodes[i].input if x != v]
    return w.const_named(i, other[0], "constant")


def _folds_into(w, v, kinds):
    """The layer ending at ``v`` if it is of ``kinds`` and nothing else reads ``v``."""
    layer = w.made.get(v)
    if layer is not None and layer.TYPE in kinds and len(w.consumers.get(v, [])) == 1:
        return layer
    return None


def _refold(w, layer, v, out):
    """``layer`` now ends at ``out``: a scale or shift after it was folded into it."""
    w.passthrough(v, out)
    w.made[out] = layer
    return [], out


def scale(w, i, v, allowed):
    """Mul or Div by a per-channel constant: into the batchnorm before it (Caffe's
    BatchNormalization → Mul → Add), else a depthwise 1×1 conv (ConvNeXt's layer scale)."""
    node = w.nodes[i]
    factor = per_channel(w, i, v, _constant_side(w, i, v), "a factor")
    if node.op_type == "Div":
        if not np.all(factor):
            raise w.error(i, "divides by zero")
        factor = np.float32(1) / factor
    out = node.output[0]
    norm = _folds_into(w, v, {"batchnorm"})
    if norm is not None:
        params = w.params[id(norm)]
        params["weight"] = params["weight"] * factor
        params["bias"] = params["bias"] * factor
        return _refold(w, norm, v, out)
    c = len(factor)
    layer = w.make(i, "conv", filters=c, kernel=1, groups=c, bias=False)
    return w.emit(layer, i, v, out, w.rank[v], {"weight": factor.reshape(c, 1, 1, 1)})


def shift(w, i, v, allowed):
    """Add or Sub of a per-channel constant: into the bias of the batchnorm, conv or fc
    before it, else a depthwise 1×1 conv of weight 1 and that bias."""
    node = w.nodes[i]
    offset = per_channel(w, i, v, _constant_side(w, i, v), "an offset")
    if node.op_type == "Sub":
        offset = -offset
    out = node.output[0]
    layer = _folds_into(w, v, {"batchnorm", "conv", "fc"})
    if layer is not None:
        params = w.params.setdefault(id(layer), {})
        if layer.TYPE != "batchnorm" and not layer.values["bias"]:
            layer.set("bias", True)
            params["bias"] = np.zeros_like(offset)
        params["bias"] = params["bias"] + offset
        return _refold(w, layer, v, out)
    c = len(offset)
    layer = w.make(i, "conv", filters=c, kernel=1, groups=c, bias=True)
    return w.emit(layer, i, v, out, w.rank[v], {"weight": np.ones((c, 1, 1, 1), np.float32),
                                                  "bias": offset})


def leaky_relu(w, i, v, allowed):
    slope = plain_float(w.attrs(i)["alpha"])
    if slope < 0:
        raise w.error(i, f"has a negative slope {slope}; ConvScope's leaky_relu takes 0 or "
                      "more")
    return simple(w, i, v, allowed, negative_slope=slope)


def softmax(w, i, v, allowed):
    rank = w.rank[v]
    axis = w.attrs(i)["axis"]
    axis = (1 if w.opset < 13 else -1) if axis is None else axis
    axis = axis + rank if axis < 0 else axis
    if axis != 1:
        raise w.error(i, f"is over axis {axis}; ConvScope's softmax is over the channels "
                      "(axis 1)")
    if w.opset < 13 and rank == 4 and w.shape[v][1:] != (1, 1):
        raise w.error(i, "(before opset 13) runs over C·H·W together; ConvScope's softmax is "
                      "over the channels at each position")
    return simple(w, i, v, allowed)


def dropout(w, i, v, allowed):
    rate = w.attrs(i)["ratio"]
    if w.has_input(i, 1):
        rate = w.scalar(i, 1)
    if w.has_input(i, 2) and w.scalar(i, 2):
        raise w.error(i, "is in training mode")
    if not 0 <= rate < 1:
        raise w.error(i, f"drops a share {plain_float(rate)}; a dropout rate is from 0 to 1")
    return simple(w, i, v, allowed, rate=min(plain_float(rate), 0.999))


# ------------------------------------------------------------------ conv
def conv(w, i, v, allowed, pads=None):
    """Conv (a Pad before it folded in as ``pads``) → conv layer."""
    node, a = w.nodes[i], w.attrs(i)
    weight = w.const(i, 1)
    if weight.ndim != 4:
        raise w.error(i, f"is a {weight.ndim - 2}-D convolution; ConvScope's are 2-D")
    f, cg, kh, kw = (int(n) for n in weight.shape)
    kernel = tuple(a["kernel_shape"] or (kh, kw))
    if kernel != (kh, kw):
        raise w.error(i, f"has kernel_shape {list(kernel)} but weights of {kh}×{kw}")
    stride, dilation, groups = tuple(a["strides"]), tuple(a["dilations"]), a["group"]
    n_in = w.shape[v][1:]
    own = own_pads(w, i, a, kernel, stride, dilation, n_in)
    begin, end = add_pads(own, pads)
    padding = _fold_pads(w, i, n_in, begin, end, kernel, stride, dilation)
    params = {"weight": weight}
    bias = w.has_input(i, 2)
    if bias:
        params["bias"] = w.const(i, 2)
    if w.shape[v][0] != cg * groups:
        raise w.error(i, f"takes {cg * groups} channels but gets {w.shape[v][0]}")
    layer = w.make(i, "conv", filters=f, kernel=size_value(kernel), stride=size_value(stride),
                   padding=size_value(padding), dilation=size_value(dilation), groups=groups,
                   bias=bias)
    return w.emit(layer, i, v, node.output[0], params=params)


def own_pads(w, i, a, kernel, stride, dilation, n_in):
    """The node's pads as ((top, left), (bottom, right)), auto_pad worked out."""
    auto = a["auto_pad"]
    if auto in ("NOTSET", ""):
        p = a["pads"] or [0, 0, 0, 0]
        return (p[0], p[1]), (p[2], p[3])
    if auto == "VALID":
        return (0, 0), (0, 0)
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise w.error(i, f"has auto_pad '{auto}'; ONNX knows NOTSET, VALID, SAME_UPPER and "
                      "SAME_LOWER")
    begin, end = [], []
    for n, k, s, d in zip(n_in, kernel, stride, dilation):
        total = max((ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
        small = total // 2
        begin.append(small if auto == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return tuple(begin), tuple(end)


def _fold_pads(w, i, n_in, begin, end, kernel, stride, dilation):
    """Symmetric padding that gives the same result, or ConvScopeError."""
    padding = []
    for n, b, e, k, s, d in zip(n_in, begin, end, kernel, stride, dilation):
        kk = d * (k - 1) + 1
        if b == e:
            padding.append(b)
            continue
        # extra padding at the end that no window reaches changes nothing
        same = (n + b + e - kk) // s == (n + 2 * b - kk) // s and e > b
        if not same:
            raise w.error(i, f"pads {b} before and {e} after; ConvScope pads both sides alike")
        padding.append(b)
    return tuple(padding)


# ------------------------------------------------------------------ pools
def max_pool(w, i, v, allowed, pads=None):
    return _pool(w, i, v, "max", pads)


def average_pool(w, i, v, allowed, pads=None):
    return _pool(w, i, v, "avg", pads)


def lp_pool(w, i, v, allowed, pads=None):
    p = w.attrs(i)["p"]
    if p != 2:
        raise w.error(i, f"is an L{p} pool; ConvScope's l2 pool is p = 2")
    return _pool(w, i, v, "l2", pads)


def _pool_padding(w, i, mode, a, pads, include, begin_end):
    """Check a folded Pad ``pads`` against the pool → whether it counts padding."""
    own_begin, own_end = begin_end
    if mode == "max" and pads[1] > -1e38:
        raise w.error(i, f"follows a Pad with value {pads[1]:g}; a max pool pads with −∞")
    if mode != "max" and pads[1] != 0:
        raise w.error(i, f"follows a Pad with value {pads[1]:g}; ConvScope pads with zeros")
    if mode == "avg":
        if any(own_begin + own_end) and not include:
            raise w.error(i, "follows a Pad but does not count its own padding")
        if a["ceil_mode"]:
            raise w.error(i, "in ceil mode follows a Pad; ConvScope cannot say it")
        include = True
    return include


def _pool(w, i, v, mode, pads):
    """A pool node (a Pad before it folded in as ``pads`` = (pad pairs, value)) → pool."""
    node, a = w.nodes[i], w.attrs(i)
    kernel, stride = tuple(a["kernel_shape"]), tuple(a["strides"])
    if tuple(a["dilations"]) != (1, 1):
        raise w.error(i, "has dilations; ConvScope's pools have none")
    ceil_mode = bool(a["ceil_mode"])
    include = bool(a["count_include_pad"])
    n_in = w.shape[v][1:]
    own = own_pads(w, i, a, kernel, stride, (1, 1), n_in)
    if pads is not None:
        include = _pool_padding(w, i, mode, a, pads, include, own)
    begin, end = add_pads(own, pads[0] if pads else None)
    values = {"mode": mode, "kernel": size_value(kernel), "stride": size_value(stride)}
    if mode == "avg":
        values["count_include_pad"] = include
    if begin == end:
        values.update(padding=size_value(begin), ceil_mode=ceil_mode)
    elif mode == "avg" and not include and _one_window(n_in, kernel, stride, begin, end,
                                                       ceil_mode):
        # uneven pads ConvScope cannot say, but the one window averages the whole input
        return w.emit(w.make(i, "global_avg_pool"), i, v, node.output[0])
    else:
        values.update(_pool_ceil_from_pads(w, i, mode, include, n_in, kernel, stride, begin,
                                           end, ceil_mode))
    layer = w.make(i, "pool", **values)
    # the size ONNX Runtime gives (a folded Pad widens the input it rounds against)
    pre = pads[0] if pads else ((0, 0), (0, 0))
    expected = tuple(onnx_pool_size(n + pb + pe, k, s, b - pb, e - pe, ceil_mode)
                     for n, k, s, b, e, pb, pe in zip(n_in, kernel, stride, begin, end, *pre))
    got = layer.shaped(w.shape[v]).out
    if got is not None and got[1:] != expected:
        raise w.error(i, f"gives {expected[0]}×{expected[1]} where ConvScope's pool would "
                      f"give {got[1]}×{got[2]} (ceil mode after a Pad)")
    return w.emit(layer, i, v, node.output[0])


def _one_window(n_in, kernel, stride, begin, end, ceil_mode) -> bool:
    """Whether the pool has one window, over all of the input (Caffe's global pools)."""
    return all(k - b >= n for n, k, b in zip(n_in, kernel, begin)) and all(
        onnx_pool_size(n, k, s, b, e, ceil_mode) == 1
        for n, k, s, b, e in zip(n_in, kernel, stride, begin, end))


def _pool_ceil_from_pads(w, i, mode, include, n_in, kernel, stride, begin, end, ceil_mode):
    """Extra end padding (ConvScope's own export of PyTorch's ceil mode): the symmetric
    padding and ceil mode that give the same windows."""
    if mode == "avg" and include:
        raise w.error(i, f"pads {begin} before and {end} after and counts padding; "
                      "ConvScope pads both sides alike")
    if any(e < b for b, e in zip(begin, end)):
        raise w.error(i, f"pads more before {begin} than after {end}")
    onnx_out = [onnx_pool_size(n, k, s, b, e, ceil_mode)
                for n, k, s, b, e in zip(n_in, kernel, stride, begin, end)]
    for ceil_flag in (False, True):
        sizes = [geo.axis_output(n, k, b, s, ceil_flag).out
                 for n, k, s, b in zip(n_in, kernel, stride, begin)]
        if sizes == onnx_out:
            return {"padding": size_value(begin), "ceil_mode": ceil_flag}
    raise w.error(i, f"pads {begin} before and {end} after; no symmetric padding gives the "
                  "same windows")


def _pad_amounts(w, i):
    """A Pad node's pads (8 numbers) and value, from its attributes or its inputs."""
    a = w.attrs(i)
    if a["mode"] != "constant":
        raise w.error(i, f"pads in mode '{a['mode']}'; ConvScope pads with a constant")
    if w.opset >= 11:
        p = w.const(i, 1).reshape(-1).astype(np.int64).tolist()
        value = w.scalar(i, 2) if w.has_input(i, 2) else 0.0
        if w.has_input(i, 3):
            raise w.error(i, "pads chosen axes; ConvScope pads height and width")
    else:
        if a["pads"] is None:
            raise w.error(i, "has no attribute 'pads', which it needs")
        p, value = a["pads"], a["value"]
    if len(p) != 8 or any(p[k] for k in (0, 1, 4, 5)) or min(p) < 0:
        raise w.error(i, f"pads {p}; ConvScope pads only height and width, outward")
    return p, value


_PADDED = {"Conv": conv, "MaxPool": max_pool, "AveragePool": average_pool, "LpPool": lp_pool}


def pad(w, i, v, allowed):
    """A Pad folds into the conv or pool that alone takes its result."""
    node = w.nodes[i]
    p, value = _pad_amounts(w, i)
    nxt = w.only_taker(node.output[0], allowed, set(_PADDED))
    if nxt is None:
        raise w.error(i, "is not followed by a conv or pool alone; ConvScope pads only inside "
                      "those")
    op = w.nodes[nxt].op_type
    if op == "AveragePool":
        folded = _avg_with_divisor(w, nxt, v, allowed, (p[2], p[3]), (p[6], p[7]))
        if folded is not None:
            return folded
    if op == "Conv" and value != 0:
        raise w.error(i, f"pads with {value:g}; a conv pads with zeros")
    w.take(nxt)
    w.shape[node.output[0]] = w.shape[v]
    pairs = ((p[2], p[3]), (p[6], p[7]))
    return _PADDED[op](w, nxt, v, allowed, pairs if op == "Conv" else (pairs, value))


def _avg_with_divisor(w, pool, v, allowed, begin, end):
    """ConvScope's export of an average pool that counts padding in ceil mode:
    Pad → AveragePool → Mul by a constant divisor correction."""
    mul = w.only_taker(w.nodes[pool].output[0], allowed, {"Mul"})
    if mul is None:
        return None
    scale_name = [x for x in w.nodes[mul].input if x != w.nodes[pool].output[0]]
    if not scale_name or scale_name[0] not in w.consts:
        return None
    a = w.attrs(pool)
    kernel, stride = tuple(a["kernel_shape"]), tuple(a["strides"])
    layer = w.make(pool, "pool", mode="avg", kernel=size_value(kernel),
                   stride=size_value(stride), padding=size_value(begin), ceil_mode=True)
    shaped = layer.shaped(w.shape[v])
    if shaped.out is None:
        return None
    plan = pool_plan(layer, w.shape[v], shaped.out)
    scale = w.const_named(mul, scale_name[0], "scale")
    if (plan.kind != "divisor" or list(plan.pads) != [*begin, *end]
            or plan.scale.shape != scale.shape or not np.allclose(plan.scale, scale)):
        return None
    w.take(pool)
    w.take(mul)
    return w.emit(layer, mul, v, w.nodes[mul].output[0])


def reduce_mean(w, i, v, allowed):
    node, a = w.nodes[i], w.attrs(i)
    axes = a["axes"]
    if axes is None and w.has_input(i, 1):
        axes = w.const(i, 1).reshape(-1).tolist()
    if w.rank[v] != 4 or sorted(x % 4 for x in (axes or [])) != [2, 3]:
        raise w.error(i, f"averages over axes {axes}; ConvScope maps only the mean over height "
                      "and width (global_avg_pool)")
    rank = 4 if a["keepdims"] else 2
    return w.emit(w.make(i, "global_avg_pool"), i, v, node.output[0], rank)


# ------------------------------------------------------------------ norms
def lrn(w, i, v, allowed):
    a = w.attrs(i)
    size = a["size"]
    if size % 2 == 0:
        raise w.error(i, f"has an even size {size}: ONNX centres an even window differently "
                      "from ConvScope (PyTorch)")
    return simple(w, i, v, allowed, size=size, alpha=plain_float(a["alpha"]),
                  beta=plain_float(a["beta"]), k=plain_float(a["bias"]))


def batchnorm(w, i, v, allowed):
    node, a = w.nodes[i], w.attrs(i)
    if a["training_mode"]:
        raise w.error(i, "is in training mode")
    if any(w.consumers.get(o) for o in node.output[1:] if o):
        raise w.error(i, "has its running statistics used; ConvScope reads inference models")
    names = ("weight", "bias", "running_mean", "running_var")
    params = {k: w.const(i, n) for n, k in enumerate(names, 1)}
    momentum = 1.0 - float(np.float32(a["momentum"]))
    layer = w.make(i, "batchnorm", eps=plain_float(a["epsilon"]),
                   momentum=plain_float(min(max(momentum, 0.0), 1.0)))
    return w.emit(layer, i, v, node.output[0], w.rank[v], params)


def layernorm(w, i, v, allowed):
    """LayerNormalization over the channels: ConvNeXt's, between a Transpose to (N, H, W, C)
    and one back (or on C×1×1 data)."""
    a, rank = w.attrs(i), w.rank[v]
    axis = a["axis"] % rank
    over_channels = (axis == rank - 1 if v in w.channels_last
                     else axis == 1 and w.shape[v][1:] == (1, 1))
    if not over_channels:
        raise w.error(i, f"normalises from axis {a['axis']}; ConvScope's layernorm is over the "
                      "channels alone (after a Transpose to (N, H, W, C), axis −1)")
    c = w.shape[v][0]
    params = {"weight": per_channel(w, i, v, w.const(i, 1), "a scale")}
    params["bias"] = (per_channel(w, i, v, w.const(i, 2), "a bias") if w.has_input(i, 2)
                      else np.zeros(c, np.float32))
    layer = w.make(i, "layernorm", eps=plain_float(a["epsilon"]))
    return w.emit(layer, i, v, w.nodes[i].output[0], rank, params)


def lrn_spelled_out(w, v, takers, allowed):
    """ConvScope's export of an even-size LRN (PyTorch's formula, op by op), or None."""
    nodes = w.nodes
    by_op = {nodes[t].op_type: t for t in takers}
    if len(takers) != 2 or set(by_op) != {"Mul", "Div"}:
        return None
    square, div = by_op["Mul"], by_op["Div"]
    if list(nodes[square].input) != [v, v] or nodes[div].input[0] != v:
        return None
    chain, value = [square], nodes[square].output[0]
    for op in ("Unsqueeze", "AveragePool", "Squeeze", "Mul", "Add", "Pow"):
        nxt = w.only_taker(value, allowed, {op})
        if nxt is None:
            return None
        chain.append(nxt)
        value = nodes[nxt].output[0]
    if list(nodes[div].input) != [v, value]:
        return None
    kernel = w.raw_attribute(chain[2], "kernel_shape", "ints", [])
    pads = w.raw_attribute(chain[2], "pads", "ints", [])
    size = kernel[0] if kernel else 0
    if (kernel != [size, 1, 1] or pads != [size // 2, 0, 0, (size - 1) // 2, 0, 0]
            or not w.raw_attribute(chain[2], "count_include_pad", "int", 0)):
        return None
    numbers = []
    for t in chain[4:]:
        other = [x for x in nodes[t].input if x in w.consts]
        if len(other) != 1 or np.size(w.consts[other[0]]) != 1:
            return None
        numbers.append(plain_float(w.const_named(t, other[0]).reshape(-1)[0]))
    alpha, k, beta = numbers
    for t in [*chain, div]:
        w.take(t)
    layer = w.make(div, "lrn", size=size, alpha=alpha, beta=beta, k=k)
    return w.emit(layer, div, v, nodes[div].output[0])


# ------------------------------------------------------------------ small helpers
def add_pads(own, extra):
    """((top, left), (bottom, right)) plus a folded Pad's, or ``own`` alone."""
    (b, e) = own
    if extra is None:
        return tuple(b), tuple(e)
    (xb, xe) = extra
    return (b[0] + xb[0], b[1] + xb[1]), (e[0] + xe[0], e[1] + xe[1])


def onnx_pool_size(n, k, s, b, e, ceil_mode):
    """The size ONNX Runtime gives a pool (it drops a ceil window that would start in the
    end padding, as PyTorch does)."""
    span = n + b + e - k
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= n + b:
        out -= 1
    return out


def size_value(pair):
    """(h, w) as the file writes it: one number when both are the same."""
    h, w = (int(x) for x in pair)
    return h if h == w else [h, w]


def plain_float(value) -> float:
    """A float32 attribute as the number a person wrote (7 significant digits)."""
    return float(f"{float(value):.{_DIGITS}g}")
