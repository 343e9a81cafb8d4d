"""Activations that ONNX writes as a product of the data and a function of it, found where
two paths from one value meet in a Mul: x·σ(x) (``silu``), x·hardsigmoid(x) (``hardswish``)
and x·0.5·(1 + erf(x/√2)) (``gelu``, PyTorch's export before opset 20). Other Muls of two
paths are residuals that multiply (the walker's)."""

from __future__ import annotations

import numpy as np

_ROOT2 = float(np.sqrt(2))


def _chain(w, v, m, region):
    """The nodes of ``region`` as one chain from ``v`` to an input of Mul ``m`` that takes
    ``v`` itself as its other input, or None."""
    inputs = w.ins[m]
    if len(inputs) != 2 or v not in inputs or inputs[0] == inputs[1]:
        return None
    chain, value = [], v
    while len(chain) < len(region):
        takers = w.takers(value, region)
        if len(takers) != 1 or len(w.data_inputs(takers[0])) != 1:
            return None
        chain.append(takers[0])
        value = w.outs[takers[0]][0]
    return chain if chain and value in inputs else None


def _number(w, i, v):
    """The one constant that node ``i`` combines with the data ``v``, or None."""
    others = [x for x in w.ins[i] if x != v]
    if len(others) != 1 or others[0] not in w.consts or np.size(w.consts[others[0]]) != 1:
        return None
    return float(np.asarray(w.consts[others[0]]).reshape(-1)[0])


def _gelu_chain(w, chain, v):
    """Div(√2) (or Mul(1/√2)) → Erf → Add(1) [→ Mul(0.5)]: whether it is, and whether the
    half is inside (else it must follow the product)."""
    ops = [w.nodes[i].op_type for i in chain]
    if ops[:3] not in (["Div", "Erf", "Add"], ["Mul", "Erf", "Add"]) or len(chain) > 4:
        return None
    first = chain[0]
    scale = _number(w, first, v)
    if w.nodes[first].input[0] != v or scale is None or not np.isclose(
            scale, _ROOT2 if ops[0] == "Div" else 1 / _ROOT2, rtol=1e-6):
        return None
    if _number(w, chain[2], w.outs[chain[1]][0]) != 1.0:
        return None
    if len(chain) == 4:
        half = _number(w, chain[3], w.outs[chain[2]][0])
        return "inside" if ops[3] == "Mul" and half == 0.5 else None
    return "after"


def product_of(w, v, m, region, allowed):
    """x·f(x) at Mul ``m`` (the paths forking at ``v`` over ``region``) as one activation
    layer → (layers, value), or None when it is not one of the three."""
    chain = _chain(w, v, m, region)
    if chain is None:
        return None
    ops = [w.nodes[i].op_type for i in chain]
    nodes, out, kind = [*chain, m], w.outs[m][0], None
    if ops == ["Sigmoid"]:
        kind = "silu"
    elif ops == ["HardSigmoid"] and all(np.isclose(w.attrs(chain[0])[k], x, atol=1e-6)
                                        for k, x in (("alpha", 1 / 6), ("beta", 0.5))):
        kind = "hardswish"
    else:
        half = _gelu_chain(w, chain, v)
        if half == "after":
            nxt = w.only_taker(out, allowed, {"Mul"})
            if nxt is None or _number(w, nxt, out) != 0.5:
                return None
            nodes.append(nxt)
            out = w.outs[nxt][0]
        kind = "gelu" if half else None
    if kind is None:
        return None
    for i in nodes:
        w.take(i)
    return w.emit(w.make(m, kind), m, v, out, w.rank[v])
