"""Numerical gradient checks of every layer type and both blocks, through the public API.

Each case is a tiny network built with ``Network.from_dict``. The loss is a random linear
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
from math import prod

import numpy as np
import pytest
from optional import needs_torch

import core.layers
import core.network
import core.ops
from core import REGISTRY, ConvScopeError, Network

SPACING = 0.02  # the grid the inputs sit on


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
                         if name.startswith("core.layers.") and hasattr(m, "np")]
        for module in (core.ops, core.network, *layer_modules):
            monkeypatch.setattr(module, "np", _Float64NumPy())
        return np.float64, 1e-6, 1e-6
    return np.float32, 3e-3, 1e-2


# --------------------------------------------------------------------------- the cases
def conv(filters, kernel=3, **keys):
    return {"type": "conv", "filters": filters, "kernel": kernel, **keys}


def pool(mode, kernel, **keys):
    return {"type": "pool", "mode": mode, "kernel": kernel, **keys}


# id: (input (C, H, W), layers, batch, training)
CASES = {
    "conv": ((2, 5, 5), [conv(3, padding=1)], 2, False),
    "conv_stride_floor": ((2, 8, 8), [conv(3, stride=2)], 2, False),  # 3.5 → 3: rows unused
    "conv_rect_stride_padding": ((2, 7, 6), [conv(3, [3, 2], stride=[2, 1], padding=[1, 2])],
                                 2, False),
    "conv_dilation": ((2, 7, 7), [conv(2, dilation=2, padding=1)], 2, False),
    "conv_same_dilated": ((2, 6, 6), [conv(2, padding="same", dilation=[2, 1])], 1, False),
    "conv_groups": ((4, 5, 5), [conv(6, groups=2, padding=1, stride=2)], 2, False),
    "conv_depthwise_no_bias": ((3, 5, 5), [conv(3, groups=3, bias=False)], 2, False),
    "pool_max": ((2, 6, 6), [pool("max", 2)], 2, False),
    "pool_max_overlap_ceil_pad": ((2, 8, 8), [pool("max", 3, stride=2, padding=1,
                                                   ceil_mode=True)], 2, False),
    "pool_max_ceil": ((2, 6, 6), [pool("max", 3, stride=2, ceil_mode=True)], 2, False),
    "pool_avg": ((2, 6, 6), [pool("avg", 2)], 2, False),
    "pool_avg_pad": ((2, 7, 7), [pool("avg", 3, stride=2, padding=1)], 2, False),
    "pool_avg_pad_exclude_ceil": ((2, 6, 6), [pool("avg", 3, stride=2, padding=1,
                                                   ceil_mode=True,
                                                   count_include_pad=False)], 2, False),
    "pool_l2": ((2, 6, 6), [pool("l2", 2)], 2, False),
    "pool_l2_ceil_pad": ((2, 6, 6), [pool("l2", 3, stride=2, padding=1, ceil_mode=True)],
                         2, False),
    "global_avg_pool": ((3, 4, 5), [{"type": "global_avg_pool"}], 2, False),
    "lrn_5": ((7, 3, 3), [{"type": "lrn", "size": 5, "alpha": 0.5, "beta": 0.75, "k": 2.0}],
              2, False),
    "lrn_even_size": ((6, 3, 3), [{"type": "lrn", "size": 4, "alpha": 0.3, "beta": 0.6,
                                   "k": 1.0}], 2, False),
    "batchnorm_training": ((3, 3, 4), [{"type": "batchnorm"}], 3, True),
    "batchnorm_inference": ((3, 3, 4), [{"type": "batchnorm", "eps": 1e-3}], 3, False),
    "dropout_training": ((3, 4, 4), [{"type": "dropout", "rate": 0.5}], 2, True),
    "dropout_inference": ((3, 4, 4), [{"type": "dropout", "rate": 0.5}], 2, False),
    "flatten_fc": ((2, 3, 3), [{"type": "flatten"}, {"type": "fc", "units": 4}], 2, False),
    "fc_spatial": ((2, 3, 3), [{"type": "fc", "units": 5}], 2, False),
    "fc_no_bias": ((6, 1, 1), [{"type": "fc", "units": 3, "bias": False}], 2, False),
    "softmax": ((5, 2, 3), [{"type": "softmax"}], 2, False),
    "relu": ((3, 4, 4), [{"type": "relu"}], 2, False),
    "leaky_relu": ((3, 4, 4), [{"type": "leaky_relu", "negative_slope": 0.2}], 2, False),
    "sigmoid": ((3, 4, 4), [{"type": "sigmoid"}], 2, False),
    "tanh": ((3, 4, 4), [{"type": "tanh"}], 2, False),
    "residual_projection": ((2, 5, 5), [{
        "type": "residual",
        "body": [conv(3, stride=2, padding=1, bias=False), {"type": "batchnorm"},
                 {"type": "tanh"}, conv(3, padding=1)],
        # no bias before a training-mode batchnorm: its gradient is exactly zero there
        "shortcut": [conv(3, 1, stride=2, bias=False), {"type": "batchnorm"}],
    }, {"type": "tanh"}], 2, True),
    "residual_identity_inference": ((3, 5, 5), [{
        "type": "residual",
        "body": [conv(3, padding=1), {"type": "batchnorm"}, {"type": "sigmoid"}],
    }], 2, False),
    "concat_identity_branch": ((2, 5, 5), [{
        "type": "concat",
        "branches": [[], [conv(3, 1)], [conv(2, padding=1), {"type": "tanh"}],
                     [pool("avg", 3, stride=1, padding=1), conv(2, 1)]],
    }, conv(2, 1)], 2, False),
    "concat_in_residual": ((2, 5, 5), [{
        "type": "residual",
        "body": [{"type": "concat", "branches": [[conv(1, padding=1)], [conv(1, 1)]]}],
        "shortcut": [],
    }], 2, False),
}


def build(case) -> tuple[Network, int, bool]:
    (c, h, w), layers, batch, training = CASES[case]
    net = Network.from_dict({"format": "convscope", "version": 1, "name": case,
                             "input": {"channels": c, "height": h, "width": w},
                             "layers": layers})
    assert not net.analyze().has_error
    return net, batch, training


def randomise(net: Network, rng) -> None:
    """Non-trivial values for every parameter and buffer (biases not zero, running
    statistics not 0 and 1), so every term of every backward formula is exercised."""
    arrays = {}
    for key, shape in net.param_shapes().items():
        if key.endswith("running_var"):
            arrays[key] = rng.uniform(0.5, 2.0, shape)
        elif key.endswith("running_mean"):
            arrays[key] = rng.normal(0, 0.5, shape)
        elif key.endswith(".weight") and len(shape) == 1:  # batchnorm γ
            arrays[key] = rng.uniform(0.5, 1.5, shape)
        else:
            fan_in = prod(shape[1:]) if len(shape) > 1 else 4
            arrays[key] = rng.normal(0, 1 / np.sqrt(fan_in), shape)
    net.set_weights(arrays)


def grid_input(shape, rng, dtype):
    """Distinct values k·SPACING ± SPACING/2: no ties, nothing near 0."""
    n = prod(shape)
    return ((rng.permutation(n) - n / 2 + 0.5) * SPACING).reshape(shape).astype(dtype)


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
    net, batch, training = build(case)
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


def test_every_layer_type_is_checked():
    """A new layer type fails here until it has a gradient case above."""
    used = set()

    def walk(layers):
        for layer in layers:
            used.add(layer["type"])
            walk(layer.get("body", []) + layer.get("shortcut", []))
            for branch in layer.get("branches", []):
                walk(branch)

    for _, layers, _, _ in CASES.values():
        walk(layers)
    assert used == set(REGISTRY)


# --------------------------------------------------------------------------- modes
def test_dropout_training_mask_and_inference_identity():
    net, _, _ = build("dropout_training")
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
    net, _, _ = build("batchnorm_training")
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
@pytest.mark.parametrize("case", sorted(set(CASES) - {"dropout_training"}))
def test_forward_matches_torch(case):
    """The values the gradients are checked against are themselves right: every layer's
    output of every case equals an independent torch computation."""
    needs_torch()
    import torch_reference

    rng = np.random.default_rng(sum(map(ord, case)) + 1)
    net, batch, training = build(case)
    randomise(net, rng)
    x = grid_input((batch, *net.input.shape), rng, np.float32)
    expected = torch_reference.run(net, x, training=training)
    if case == "pool_l2_ceil_pad":
        expected = {net.layers[0].name: l2_pool_sum_of_squares(net.layers[0], x)}
    ours = net.forward(x, training=training)
    assert set(expected) <= set(ours)
    for name, want in expected.items():
        scale = max(1.0, np.abs(want).max())
        np.testing.assert_allclose(ours[name], want, rtol=0, atol=1e-5 * scale, err_msg=name)


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
    net, batch, _ = build("conv")
    with pytest.raises(ConvScopeError, match="forward pass first"):
        net.backward(np.zeros((batch, 3, 5, 5), np.float32))
    net.forward(np.zeros((batch, *net.input.shape), np.float32))
    with pytest.raises(ConvScopeError, match="grad_out has shape"):
        net.backward(np.zeros((batch, 3, 4, 4), np.float32))
    with pytest.raises(ConvScopeError, match="the network takes"):
        net.forward(np.zeros((batch, 2, 4, 4), np.float32))
