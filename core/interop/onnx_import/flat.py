"""Translating the ops around a fully connected layer: Flatten, Reshape, Squeeze, Unsqueeze
and Gemm/MatMul (+ Add), which fold into ``fc`` and ``flatten`` layers or disappear."""

from __future__ import annotations

from math import prod

import numpy as np

from .values import plain


def flatten(w, i, v, allowed):
    axis = w.attrs(i)["axis"]
    if axis not in (1, 1 - w.rank[v]):
        raise w.error(i, f"flattens from axis {axis}; ConvScope flattens from the channels "
                      "(axis 1)")
    return _flattened(w, i, v, allowed)


def _flattened(w, i, v, allowed):
    """A flatten to (N, D): folded into the fc that follows, or a flatten layer."""
    out = w.nodes[i].output[0]
    nxt = w.only_taker(out, allowed, {"Gemm", "MatMul"})
    if nxt is not None:
        w.take(nxt)
        w.rank[out] = 2
        return _fc(w, nxt, v, out, allowed)
    if w.rank[v] == 2:
        return w.passthrough(v, out)
    end, _ = _vector_back(w, out, allowed, i)
    return w.emit(w.make(i, "flatten"), i, v, end, 4 if end != out else 2)


def _vector_back(w, value, allowed, i):
    """Fold a following reshape of (N, D) back to (N, D, 1, 1): → (value, node)."""
    nxt = w.only_taker(value, allowed, {"Reshape", "Unsqueeze"})
    if nxt is not None and _is_to_vector4(w, nxt):
        w.take(nxt)
        return w.nodes[nxt].output[0], nxt
    return value, i


def int_list(w, i, k):
    """Input ``k`` of node ``i`` as a list of ints if it is a constant (or can be worked out
    from the shapes known so far), else None."""
    if not w.has_input(i, k) or not w.known(w.nodes[i].input[k]):
        return None
    return w.const(i, k).reshape(-1).astype(np.int64).tolist()


def _is_to_vector4(w, i) -> bool:
    node = w.nodes[i]
    if node.op_type == "Unsqueeze":
        axes = w.attrs(i)["axes"]
        if axes is None:
            axes = int_list(w, i, 1)
        return sorted(axes or []) == [2, 3]
    target = shape_target(w, i)
    return target is not None and len(target) == 4 and list(target[2:]) == [1, 1]


def shape_target(w, i):
    """The shape Reshape node ``i`` gives: its stored target, else ONNX's shape inference."""
    target = int_list(w, i, 1)
    return w.inferred_shape(w.nodes[i].output[0]) if target is None else target


def reshape(w, i, v, allowed):
    node = w.nodes[i]
    target = shape_target(w, i)
    c, h, wd = w.shape[v]
    if target is None:
        if w.only_taker(node.output[0], allowed, {"Gemm", "MatMul"}) is not None:
            return _flattened(w, i, v, allowed)  # before a Gemm it can only flatten
        raise w.error(i, "reshapes to a shape that is not known before running")
    if len(target) == 2 and target[1] in (-1, c * h * wd):
        return _flattened(w, i, v, allowed)
    if len(target) == 4 and list(target[2:]) == [1, 1] and target[1] in (-1, c * h * wd):
        if w.rank[v] == 2 or (h, wd) == (1, 1):
            return w.passthrough(v, node.output[0])
        return w.emit(w.make(i, "flatten"), i, v, node.output[0])
    raise w.error(i, f"reshapes ({c}, {h}, {wd}) to {plain(target)}; ConvScope reshapes only "
                  "to flatten")


def squeeze(w, i, v, allowed):
    axes = w.attrs(i)["axes"]
    if axes is None and w.has_input(i, 1):
        axes = w.const(i, 1).reshape(-1).astype(np.int64).tolist()
    if w.rank[v] == 4 and w.shape[v][1:] == (1, 1) and sorted(
            a % 4 for a in axes or [2, 3]) == [2, 3]:
        out = w.nodes[i].output[0]
        w.passthrough(v, out)
        w.rank[out] = 2
        return [], out
    raise w.error(i, f"squeezes axes {axes}; ConvScope only drops 1×1 height and width")


def unsqueeze(w, i, v, allowed):
    if w.rank[v] == 2 and _is_to_vector4(w, i):
        out = w.nodes[i].output[0]
        w.passthrough(v, out)
        w.rank[out] = 4
        return [], out
    raise w.error(i, "adds axes other than height and width to a vector")


def gemm(w, i, v, allowed):
    """Gemm or MatMul on data already flat; a MatMul on (N, H, W, C) data is a 1×1 conv."""
    if v in w.channels_last:
        return _pointwise(w, i, v)
    if w.rank[v] != 2:
        raise w.error(i, "takes a tensor that is not flat")
    return _fc(w, i, v, v, allowed)


def _pointwise(w, i, v):
    """MatMul by a (C, D) constant on (N, H, W, C) data: a linear layer at every position,
    ConvNeXt's, which is a 1×1 conv (an Add of a bias after it folds into it)."""
    node = w.nodes[i]
    if node.input[0] != v:
        raise w.error(i, "multiplies the data from the right; ConvScope's 1×1 conv is x·Wᵀ")
    b = w.const(i, 1)
    if b.ndim != 2 or b.shape[0] != w.shape[v][0]:
        raise w.error(i, f"multiplies {w.shape[v][0]} channels by weights of shape "
                      f"{list(b.shape)}")
    units = int(b.shape[1])
    layer = w.make(i, "conv", filters=units, kernel=1, bias=False)
    return w.emit(layer, i, v, node.output[0], w.rank[v],
                  {"weight": b.T.reshape(units, -1, 1, 1)})


def _bias_of(w, i, bias, units):
    """The bias as (units,), or ConvScopeError when its shape does not broadcast to it."""
    bias = np.asarray(bias, np.float32)
    if bias.size == units:
        return bias.reshape(-1)
    if bias.size == 1:
        return np.broadcast_to(bias.reshape(-1), (units,))
    raise w.error(i, f"adds a bias of shape {list(bias.shape)} to {units} outputs")


def _fc(w, i, v, flat, allowed):
    """Gemm or MatMul (+ Add) on the flattened ``flat`` → fc layer on ``v``."""
    node, a = w.nodes[i], w.attrs(i)
    if node.input[0] != flat:
        raise w.error(i, "multiplies the data from the right; ConvScope's fc is x·Wᵀ")
    b = w.const(i, 1)
    if b.ndim != 2:
        raise w.error(i, f"has {b.ndim}-D weights")
    last = node.output[0]
    bias = None
    if node.op_type == "Gemm":
        if a["transA"]:
            raise w.error(i, "transposes its input")
        weight = (b if a["transB"] else b.T) * np.float32(a["alpha"])
        if w.has_input(i, 2):
            bias = w.const(i, 2) * np.float32(a["beta"])
    else:
        weight = b.T
        add = w.only_taker(last, allowed, {"Add"})
        if add is not None:
            other = [x for x in w.nodes[add].input if x != last]
            if len(other) == 1 and other[0] in w.consts:
                w.take(add)
                bias, last, i = w.const_named(add, other[0]), w.nodes[add].output[0], add
    units, d = weight.shape
    if d != prod(w.shape[v]):
        raise w.error(i, f"takes {d} inputs but gets {prod(w.shape[v])}")
    params = {"weight": weight}
    if bias is not None:
        params["bias"] = _bias_of(w, i, bias, units)
    out, _ = _vector_back(w, last, allowed, i)
    layer = w.make(i, "fc", units=int(units), bias=bias is not None)
    return w.emit(layer, i, v, out, 4 if out != last else 2, params)
