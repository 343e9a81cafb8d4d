"""Hand-worked values of hardsigmoid, hardswish, silu and gelu, gelu's own erf against
math.erf, and the multiplying residual (squeeze-and-excitation) worked by hand.

The gradient checks, the torch and ONNX Runtime comparisons of every example are the
contract's (tests/test_layer_contract.py, tests/test_gradients.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.layers.gelu import erf, gelu_backward, gelu_forward
from convscope.core.layers.hardsigmoid import hardsigmoid_backward, hardsigmoid_forward
from convscope.core.layers.hardswish import hardswish_backward, hardswish_forward
from convscope.core.layers.silu import silu_backward, silu_forward
from optional import needs_onnx, needs_torch


def values(*xs):
    return np.array(xs, np.float32)


def through(forward, backward, xs):
    """(forward values, backward with dout = 1) at the points ``xs``."""
    out, cache = forward(values(*xs))
    return out, backward(np.ones_like(out), cache)


# ------------------------------------------------------------------ the activations by hand
def test_hardsigmoid_by_hand():
    # relu6(x + 3)/6: 0 up to −3, x/6 + 1/2 between, 1 from 3; slope 1/6 between the kinks
    out, grad = through(hardsigmoid_forward, hardsigmoid_backward, [-4, -3, 0, 1.5, 3, 4])
    np.testing.assert_allclose(out, [0, 0, 0.5, 0.75, 1, 1], atol=1e-7)
    np.testing.assert_allclose(grad, [0, 0, 1 / 6, 1 / 6, 0, 0], atol=1e-7)


def test_hardswish_by_hand():
    # x·relu6(x + 3)/6: −1.5·1.5/6 = −0.375 (its minimum), 1·4/6, 3·6/6 = 3
    out, grad = through(hardswish_forward, hardswish_backward, [-4, -3, -1.5, 0, 1, 3, 4])
    np.testing.assert_allclose(out, [0, 0, -0.375, 0, 4 / 6, 3, 4], atol=1e-7)
    # slope (2x + 3)/6 between the kinks (torch's side at ±3): 0 at the minimum, 1/2 at 0
    np.testing.assert_allclose(grad, [0, -0.5, 0, 0.5, 5 / 6, 1.5, 1], atol=1e-7)


def test_silu_by_hand():
    # σ(1) = 1/(1 + e^−1) = 0.7310586; silu(−1) = −σ(−1) = −0.2689414
    out, grad = through(silu_forward, silu_backward, [-1, 0, 1])
    np.testing.assert_allclose(out, [-0.2689414, 0, 0.7310586], atol=1e-7)
    # σ·(1 + x·(1 − σ)): 0.2689414·(1 − 0.7310586) = 0.0723295 at −1, 1/2 at 0,
    # 0.7310586·1.2689414 = 0.9276705 at 1
    np.testing.assert_allclose(grad, [0.0723295, 0.5, 0.9276705], atol=1e-7)


def test_gelu_by_hand():
    # Φ(1) = 0.8413447 (the normal table), so gelu(1) = 0.8413447, gelu(−1) = −(1 − Φ(1))
    out, grad = through(gelu_forward, gelu_backward, [-1, 0, 1])
    np.testing.assert_allclose(out, [-0.1586553, 0, 0.8413447], atol=1e-7)
    # Φ(x) + x·φ(x), φ(1) = e^(−1/2)/√(2π) = 0.2419707
    np.testing.assert_allclose(grad, [0.1586553 - 0.2419707, 0.5, 0.8413447 + 0.2419707],
                               atol=1e-7)


def test_outputs_stay_float32():
    x = values(-2, 0.5, 7)
    for forward in (hardsigmoid_forward, hardswish_forward, silu_forward, gelu_forward):
        assert forward(x)[0].dtype == np.float32, forward.__name__


# ------------------------------------------------------------------ erf
# Measured: the largest error over the points below is 6.7e-16 in float64 (three units
# of the last place); rounded to float32 it is 3.0e-8, half a float32 unit just below 1
# (2^−25).
ERF_FLOAT64_ERROR = 1e-15
ERF_FLOAT32_ERROR = 2.0 ** -25


def erf_points():
    dense = np.linspace(-8, 8, 160_001)  # the series (|z| < 2.5) and the fraction
    near_split = 2.5 + np.array([-1e-12, 0, 1e-12])
    tiny = np.array([0.0, 1e-300, 1e-30, 1e-8, 1e-4])
    return np.concatenate([dense, near_split, -near_split, tiny, -tiny, [30.0, -30.0]])


def test_erf_against_math_erf():
    z = erf_points()
    want = np.array([math.erf(v) for v in z])
    got = erf(z)
    assert got.dtype == np.float64
    assert np.abs(got - want).max() < ERF_FLOAT64_ERROR
    assert np.abs(got.astype(np.float32).astype(np.float64) - want).max() <= ERF_FLOAT32_ERROR
    assert np.array_equal(erf(-z), -got)  # odd, exactly
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf, 0.0])), [1, -1, 0])


def test_erf_slope_is_the_normal_density():
    """The backward uses erf' = 2/√π·e^(−z²); the computed erf must have that slope (a
    1e-7-accurate formula such as Abramowitz–Stegun 7.1.26 is off by 1e-4 here)."""
    z = np.linspace(-6, 6, 12_001)
    h = 1e-5
    slope = (erf(z + h) - erf(z - h)) / (2 * h)
    np.testing.assert_allclose(slope, 2 / np.sqrt(np.pi) * np.exp(-z * z), rtol=0, atol=1e-9)


def test_gelu_and_silu_to_a_float32_unit():
    """Against double-precision values from math.erfc and math.exp: gelu to one float32 unit
    (2^−23 relative), silu to two (its σ comes from tanh, which loses a little where
    σ is tiny: 5e-7 absolute at x = −10)."""
    x = np.linspace(-10, 10, 20_001, dtype=np.float32)
    x64 = x.astype(np.float64)
    exact = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x64])
    np.testing.assert_allclose(gelu_forward(x)[0], exact, rtol=2.0 ** -23, atol=1e-15)
    exact = np.array([v / (1 + math.exp(-v)) for v in x64])
    np.testing.assert_allclose(silu_forward(x)[0], exact, rtol=2.0 ** -22, atol=5e-7)


def test_gelu_and_silu_match_torch():
    """torch's float32 GELU computes 1 + erf(x/√2) in float32 (3.5e-7 from the exact value
    here), so the two agree to 1e-6, not to a unit."""
    torch = needs_torch()
    x = np.linspace(-10, 10, 20_001, dtype=np.float32)
    want = torch.nn.GELU()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(gelu_forward(x)[0], want, rtol=0, atol=1e-6)
    want = torch.nn.SiLU()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(silu_forward(x)[0], want, rtol=0, atol=3e-6)


# ------------------------------------------------------------------ their ONNX forms
def onnx_ops(kind):
    from convscope.core.interop.onnx_export import to_model

    net = Network.from_dict({"format": "convscope", "version": 1, "name": kind,
                             "input": {"channels": 1, "height": 2, "width": 2},
                             "layers": [{"type": kind}]})
    return [(node.op_type, {a.name: a.f for a in node.attribute if a.type == a.FLOAT})
            for node in to_model(net).graph.node if node.op_type != "Constant"]


def test_onnx_forms():
    """Opset 17 (the export's) has HardSigmoid and HardSwish, but no SiLU or Gelu."""
    needs_onnx()
    [(op, attrs)] = onnx_ops("hardsigmoid")
    assert op == "HardSigmoid"
    assert attrs == pytest.approx({"alpha": 1 / 6, "beta": 0.5})
    assert onnx_ops("hardswish") == [("HardSwish", {})]
    assert [op for op, _ in onnx_ops("silu")] == ["Sigmoid", "Mul"]
    assert [op for op, _ in onnx_ops("gelu")] == ["Div", "Erf", "Add", "Mul", "Mul"]
