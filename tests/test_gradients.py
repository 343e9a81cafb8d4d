"""Numerical gradient checks of every layer type and both blocks, through the public API.

Each case is one of the small configurations every layer class carries (``EXAMPLES``), built
as a tiny network with ``Network.from_dict``; the case id names the example (and so the
type). The loss is a random linear
function of the last output, L = Σ out · G, so ``Network.backward(G)`` must equal the
central difference (L(θ + ε) − L(θ − ε)) / 2ε for the input and for every element of
every learned parameter.

The ops compute in float32 (they create their outputs as ``np.float32``), where a central
difference is only good to about 1e-3. So every case runs twice:

* ``float64``: the very same core code with its ``np.float32`` swapped for ``np.float64``
  (the ``float64_core`` fixture), checked to 1e-6 relative: tight enough to catch a wrong
  factor such as n versus n − 1 or a missing term;
* ``float32``: the shipping precision, ε = 3e-3, checked to 1e-2 relative.

Inputs are distinct values on a 0.02 grid (no max-pool ties, nothing within 0.01 of a ReLU
kink), and ε stays well inside that grid.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from convscope import core
from convscope.core import ConvScopeError, Network
from layer_examples import CASES, build, grid_input, randomise
from optional import needs_torch


class _Float64NumPy:
    """NumPy, except that ``float32`` means float64: every ``np.float32`` the core names
    (dtypes of new arrays, ``astype``, scalars) becomes double precision."""

    float32 = np.float64

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.fixture(params=["float64", "float32"])
def precision(request, monkeypatch):
    """(dtype, ε, relative tolerance); for float64 the core runs in double precision."""
    if request.param == "float64":
        layer_modules = [m for name, m in sys.modules.items()
                         if name.startswith("convscope.core.layers.") and hasattr(m, "np")]
        for module in (core.ops, core.network, *layer_modules):
            monkeypatch.setattr(module, "np", _Float64NumPy())
        return np.float64, 1e-6, 1e-6
    return np.float32, 3e-3, 1e-2


# --------------------------------------------------------------------------- the cases
# Every layer class's EXAMPLES (tests/layer_examples.py): a new type is checked by adding it.


def learned_keys(net: Network) -> set:
    buffers = {f"{layer.name}.{b}" for layer in core.network.iter_layers(net.layers)
               for b in layer.buffers()}
    return set(net.param_shapes()) - buffers


# --------------------------------------------------------------------------- the check
def relative_error(numeric, analytic) -> float:
    scale = max(np.abs(numeric).max(), np.abs(analytic).max())
    assert scale > 1e-6, "a gradient that is zero everywhere checks nothing"
    return float(np.abs(numeric - analytic).max() / scale)


def numeric_gradient(loss, array, eps):
    """Central differences of ``loss()`` for every element of ``array``, perturbed in place."""
    grad = np.zeros(array.shape, np.float64)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        plus = loss()
        array[index] = saved - eps
        minus = loss()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient(case, precision):
    dtype, eps, tolerance = precision
    rng = np.random.default_rng(sum(map(ord, case)))
    net = build(case)
    batch, training = CASES[case][1].batch, CASES[case][1].training
    randomise(net, rng)
    x = grid_input((batch, *net.input.shape), rng, dtype)
    last = net.layers[-1].name
    out = net.forward(x, training=training)[last]
    assert out.dtype == dtype  # the check runs at the precision it claims
    g = rng.normal(size=out.shape).astype(dtype)

    def loss():
        return float((net.forward(x, training=training)[last].astype(np.float64) * g).sum())

    net.forward(x, training=training)
    grads = net.backward(g)
    assert set(grads) == {"input"} | learned_keys(net)
    assert grads["input"].shape == x.shape
    errors = {"input": relative_error(numeric_gradient(loss, x, eps), grads["input"])}
    for key in sorted(learned_keys(net)):
        assert grads[key].shape == net.weights[key].shape, key
        errors[key] = relative_error(numeric_gradient(loss, net.weights[key], eps), grads[key])
    assert max(errors.values()) < tolerance, errors


# --------------------------------------------------------------------------- modes
def test_dropout_training_mask_and_inference_identity():
    net = build("dropout_training")
    x = np.arange(1, 2 * 3 * 4 * 4 + 1, dtype=np.float32).reshape(2, 3, 4, 4)
    out = net.forward(x, training=True)[net.layers[-1].name]
    kept = out != 0
    assert 0.2 < kept.mean() < 0.8  # about half kept at rate 0.5
    np.testing.assert_array_equal(out[kept], 2 * x[kept])  # inverted dropout: scaled by 1/0.5
    again = net.forward(x, training=True)[net.layers[-1].name]
    np.testing.assert_array_equal(again, out)  # the same seed draws the same mask
    other = net.forward(x, training=True, rng=np.random.default_rng(1))[net.layers[-1].name]
    assert (other != out).any()
    np.testing.assert_array_equal(net.forward(x)[net.layers[-1].name], x)


def test_batchnorm_training_uses_batch_statistics_and_updates_running_ones():
    net = build("batchnorm_training")
    rng = np.random.default_rng(3)
    randomise(net, rng)
    name = net.layers[0].name
    mean0 = net.weights[f"{name}.running_mean"].copy()
    var0 = net.weights[f"{name}.running_var"].copy()
    gamma, beta = net.weights[f"{name}.weight"], net.weights[f"{name}.bias"]
    x = rng.normal(2.0, 3.0, (3, *net.input.shape)).astype(np.float32)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(0, 2, 3)), x64.var(axis=(0, 2, 3))
    out = net.forward(x, training=True)[name]
    expected = ((x64 - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
                * gamma[:, None, None] + beta[:, None, None])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    m = x.size // x.shape[1]  # values per channel; the running variance is unbiased
    np.testing.assert_allclose(net.weights[f"{name}.running_mean"], 0.9 * mean0 + 0.1 * mean,
                               rtol=1e-5)
    np.testing.assert_allclose(net.weights[f"{name}.running_var"],
                               0.9 * var0 + 0.1 * var * m / (m - 1), rtol=1e-5)
    # inference: the running statistics, not the batch's
    rm, rv = net.weights[f"{name}.running_mean"], net.weights[f"{name}.running_var"]
    out = net.forward(x)[name]
    expected = ((x64 - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
                * gamma[:, None, None] + beta[:, None, None])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- forward values
# Every example's output against torch and ONNX Runtime: tests/test_layer_contract.py.
def test_l2_pool_in_ceil_mode_is_the_plain_window_norm():
    """The spec's L2 pool is sqrt(Σx²) over the window, also where a ceil-mode window hangs
    over the edge (where torch's own LPPool2d would scale it up)."""
    needs_torch()
    rng = np.random.default_rng(5)
    net = build("pool_l2_ceil_pad")
    x = grid_input((2, *net.input.shape), rng, np.float32)
    want = l2_pool_sum_of_squares(net.layers[0], x)
    np.testing.assert_allclose(net.forward(x)[net.layers[0].name], want, rtol=0, atol=1e-5)


def l2_pool_sum_of_squares(layer, x):
    """sqrt(Σx²) over each window, computed by torch as a sum pool of x².

    ``torch.nn.LPPool2d`` is avg_pool2d(x²)·(kh·kw), so a ceil-mode window that hangs over
    the edge is scaled up by kh·kw / (its clipped size); the spec defines L2 pooling as the
    plain sqrt(Σx²) over the window, which this computes (``divisor_override=1``).
    """
    import torch

    F = torch.nn.functional
    (ph, pw), v = layer.pair("padding"), layer.values
    xp = F.pad(torch.tensor(x) ** 2, (pw, pw, ph, ph))
    total = F.avg_pool2d(xp, layer.pair("kernel"), layer.stride_pair(),
                         ceil_mode=v["ceil_mode"], divisor_override=1)
    return total.sqrt().numpy()


def test_backward_needs_a_forward_of_the_right_shape():
    net, batch = build("conv"), 2
    with pytest.raises(ConvScopeError, match="forward pass first"):
        net.backward(np.zeros((batch, 3, 5, 5), np.float32))
    net.forward(np.zeros((batch, *net.input.shape), np.float32))
    with pytest.raises(ConvScopeError, match="grad_out has shape"):
        net.backward(np.zeros((batch, 3, 4, 4), np.float32))
    with pytest.raises(ConvScopeError, match="the network takes"):
        net.forward(np.zeros((batch, 2, 4, 4), np.float32))
