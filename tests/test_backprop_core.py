"""The backward step-through's arithmetic (core.live.steps' backward steps, and the one
recorded backward pass of core.live.gradients): hand-worked values on a tiny network,
every value of conv and pool layers of many geometries against Network.backward, and
against torch autograd where torch is installed."""

import numpy as np
import pytest
from convscope.core.live.gradients import backward_all, class_gradients, statistics
from convscope.core.live.steps import back_kinds, back_step_for
from convscope.core.network import Network
from optional import needs_torch

# 1-channel 4×4 input, one 2×2 conv filter, 2×2 max pool at stride 1, fc to two classes.
X = np.array([[1, 2, 0, 1], [0, 1, 3, 0], [2, 0, 1, 1], [1, 1, 0, 2]], np.float32)
TINY_WEIGHTS = {"conv1.weight": np.array([[[[1, 0], [0, -1]]]], np.float32),
                "conv1.bias": np.array([0.5], np.float32),
                "fc1.weight": np.array([[1, 0, 0, 1], [0, 1, -1, 0]], np.float32),
                "fc1.bias": np.zeros(2, np.float32)}


def tiny_network():
    net = Network.from_dict({
        "format": "convscope", "version": 1,
        "input": {"channels": 1, "height": 4, "width": 4},
        "layers": [{"type": "conv", "filters": 1, "kernel": 2},
                   {"type": "pool", "mode": "max", "kernel": 2, "stride": 1},
                   {"type": "fc", "units": 2}]})
    net.set_weights(TINY_WEIGHTS)
    return net


def test_tiny_network_by_hand():
    # conv: out = x[y, x] − x[y+1, x+1] + 0.5 = [[.5, −.5, .5], [.5, .5, 2.5], [1.5, .5, −.5]];
    # pool: [[.5, 2.5], [1.5, 2.5]] (the first window ties: its switch is its first .5);
    # scores: .5 + 2.5 = 3 and 2.5 − 1.5 = 1, so the top class is 0.
    net = tiny_network()
    acts = net.forward(X[None, None])
    np.testing.assert_array_equal(acts["pool1"][0, 0], [[0.5, 2.5], [1.5, 2.5]])
    grads = class_gradients(net)
    assert (grads.channel, grads.score) == (0, 3.0)
    np.testing.assert_array_equal(grads.douts["pool1"][0], [[1, 0], [0, 1]])
    # the switches route window (0,0)'s 1 to conv (0,0), window (1,1)'s 1 to (1,2)
    np.testing.assert_array_equal(grads.douts["conv1"][0], [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    # dW[u, v] = x[u, v]·1 + x[1+u, 2+v]·1
    np.testing.assert_array_equal(grads.params["conv1.weight"][0, 0], [[4, 2], [1, 2]])
    assert grads.params["conv1.bias"][0] == 2
    # dx[i, j] = dconv[i, j]·1 + dconv[i−1, j−1]·(−1)
    np.testing.assert_array_equal(grads.input[0], [[1, 0, 0, 0], [0, -1, 1, 0],
                                                   [0, 0, 0, -1], [0, 0, 0, 0]])
    conv, pool = net.layers[0], net.layers[1]
    x_in, out = acts["input"][0], acts["conv1"][0]
    step = back_step_for(conv, "dx", grads, net.weights, x_in, out, (0, 1, 1))
    np.testing.assert_array_equal(step.grids["dout"][0], [[1, 0], [0, 0]])
    np.testing.assert_array_equal(step.grids["flipped w"][0], [[-1, 0], [0, 1]])
    np.testing.assert_array_equal(step.rows, [0, 1])
    assert (step.total, step.backward, step.agrees) == (-1, -1, True)
    step = back_step_for(conv, "dW", grads, net.weights, x_in, out, (0, 0, 1, 0))
    np.testing.assert_array_equal(step.grids["x"][0], [[0, 1, 3], [2, 0, 1], [1, 1, 0]])
    assert (step.total, step.backward) == (1, 1)
    step = back_step_for(conv, "db", grads, net.weights, x_in, out, (0,))
    assert (step.total, step.backward) == (2, 2)
    step = back_step_for(pool, "pool dx", grads, net.weights, out, acts["pool1"][0], (0, 1, 2))
    # conv (1, 2) lies in windows (0, 1) and (1, 1), the switch of both; douts 0 and 1
    np.testing.assert_array_equal(step.rows, [0, 1])
    np.testing.assert_array_equal(step.cols, [1])
    np.testing.assert_array_equal(step.grids["share"][0], [[1], [1]])
    np.testing.assert_array_equal(step.grids["dout"][0], [[0], [1]])
    assert (step.total, step.backward) == (1, 1)
    step = back_step_for(pool, "pool dx", grads, net.weights, out, acts["pool1"][0], (0, 0, 2))
    assert (step.grids["share"][0].tolist(), step.total) == ([[0]], 0)  # .5 is not its max


def test_other_class_by_hand():
    net = tiny_network()
    net.forward(X[None, None])
    grads = class_gradients(net, 1)
    # dpool = [[0, 1], [−1, 0]] → conv (1,2) gets 1, conv (2,0) gets −1
    np.testing.assert_array_equal(grads.douts["conv1"][0], [[0, 0, 0], [0, 0, 1], [-1, 0, 0]])
    np.testing.assert_array_equal(grads.params["conv1.weight"][0, 0], [[1, 0], [0, 0]])
    np.testing.assert_array_equal(grads.input[0], [[0, 0, 0, 0], [0, 0, 1, 0],
                                                   [-1, 0, 0, -1], [0, 1, 0, 0]])
    assert statistics(grads.input) == {"min": -1.0, "max": 1.0, "mean_abs": 4 / 16}


GEOMETRIES = [
    {"filters": 4, "kernel": 3, "stride": 2, "padding": 2, "dilation": 2, "groups": 2},
    {"filters": 3, "kernel": [2, 3], "stride": [1, 3], "padding": [1, 0]},
    {"filters": 2, "kernel": 1, "stride": 2, "bias": False},
    {"filters": 4, "kernel": 3, "padding": "same", "dilation": 3},
]
POOLS = [
    {"mode": "max", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"mode": "avg", "kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False,
     "ceil_mode": True},
    {"mode": "avg", "kernel": 2, "stride": 1, "padding": 1},
    {"mode": "l2", "kernel": 2},
]


def run_network(conv, pool, seed=0):
    net = Network.from_dict({
        "format": "convscope", "version": 1, "seed": seed,
        "input": {"channels": 2, "height": 9, "width": 8},
        "layers": [{"type": "conv", "name": "c", **conv}, {"type": "tanh"},
                   {"type": "pool", "name": "p", **pool}, {"type": "fc", "units": 5}]})
    x = np.random.default_rng(seed).normal(size=(1, 2, 9, 8)).astype(np.float32)
    acts = net.forward(x)
    return net, {k: v[0] for k, v in acts.items()}


def every_index(kind, layer, shapes):
    """Every index a step of ``kind`` takes."""
    (c_in, h, w), weight = shapes
    if kind in ("dx", "pool dx"):
        return list(np.ndindex(c_in, h, w))
    if kind == "dW":
        return list(np.ndindex(*weight))
    return [(f,) for f in range(weight[0])]


@pytest.mark.parametrize("conv, pool", list(zip(GEOMETRIES, POOLS)))
def test_every_step_agrees_with_network_backward(conv, pool):
    net, acts = run_network(conv, pool)
    grads = class_gradients(net, 2)
    # the recorded pass is Network.backward's, value for value
    grad_out = np.zeros((1, 5, 1, 1), np.float32)
    grad_out[0, 2] = 1
    reference = net.backward(grad_out)
    np.testing.assert_array_equal(grads.input, reference["input"][0])
    assert grads.params.keys() == reference.keys() - {"input"}
    for key, value in grads.params.items():
        np.testing.assert_array_equal(value, reference[key])
    checked = 0
    for layer, source in ((net.layers[0], "input"), (net.layers[2], "tanh1")):
        weight = net.weights.get(f"{layer.name}.weight")
        shapes = (acts[source].shape, weight.shape if weight is not None else None)
        for kind in back_kinds(layer):
            for index in every_index(kind, layer, shapes):
                step = back_step_for(layer, kind, grads, net.weights, acts[source],
                                     acts[layer.name], index)
                assert abs(step.total - step.backward) <= 1e-5, (kind, index)
                checked += 1
    assert checked > 150
    # dx of the conv is what reached the input; db a plain sum of its dout
    np.testing.assert_array_equal(grads.dins["c"], grads.input)


def test_a_nested_layer_gets_its_dout():
    net = Network.from_dict({
        "format": "convscope", "version": 1,
        "input": {"channels": 2, "height": 6, "width": 6},
        "layers": [{"type": "residual", "name": "r",
                    "body": [{"type": "conv", "name": "inner", "filters": 2, "kernel": 3,
                              "padding": 1}, {"type": "relu"}]},
                   {"type": "global_avg_pool"}, {"type": "fc", "units": 3}]})
    x = np.random.default_rng(1).normal(size=(1, 2, 6, 6)).astype(np.float32)
    acts = net.forward(x)
    grads = class_gradients(net, 1)
    # the residual hands its dout to the body unchanged: the relu gets the block's dout
    np.testing.assert_array_equal(grads.douts["relu1"], grads.douts["r"])
    step = back_step_for(net.find("layers[0].body[0]"), "dx", grads, net.weights,
                         acts["input"][0], acts["inner"][0], (1, 0, 5))
    assert step.agrees and step.backward == grads.dins["inner"][1, 0, 5]


def test_backward_all_needs_a_forward_pass():
    from convscope.core import ConvScopeError

    with pytest.raises(ConvScopeError, match="forward pass first"):
        backward_all(tiny_network(), np.zeros((1, 2, 1, 1)))


@pytest.mark.parametrize("conv, pool", list(zip(GEOMETRIES, POOLS)))
def test_steps_agree_with_torch_autograd(conv, pool):
    torch = needs_torch()
    f = torch.nn.functional
    net, acts = run_network(conv, pool, seed=3)
    grads = class_gradients(net)
    layer = net.layers[0]
    (kh, sh, ph, dh), (kw, sw, pw, dw) = layer.geometry()
    x = torch.tensor(acts["input"][None], requires_grad=True)
    weight = torch.tensor(net.weights["c.weight"], requires_grad=True)
    out = f.conv2d(x, weight, None, (sh, sw), (ph, pw), (dh, dw), layer.values["groups"])
    out.backward(torch.tensor(grads.douts["c"][None]))
    dx_steps = np.array([back_step_for(layer, "dx", grads, net.weights, acts["input"],
                                       acts["c"], index).total
                         for index in np.ndindex(*acts["input"].shape)])
    np.testing.assert_allclose(dx_steps, x.grad.numpy().ravel(), atol=1e-5)
    dw_steps = np.array([back_step_for(layer, "dW", grads, net.weights, acts["input"],
                                       acts["c"], index).total
                         for index in np.ndindex(*weight.shape)])
    np.testing.assert_allclose(dw_steps, weight.grad.numpy().ravel(), atol=1e-5)
    # the pool: torch's own pooling of the tanh output, fed the pool's dout
    p = net.layers[2]
    (kh, sh, ph, _), (kw, sw, pw, _) = p.geometry()
    t = torch.tensor(acts["tanh1"][None], requires_grad=True)
    mode, ceil = p.values["mode"], p.values["ceil_mode"]
    if mode == "max":
        pooled = f.max_pool2d(t, (kh, kw), (sh, sw), (ph, pw), ceil_mode=ceil)
    elif mode == "avg":
        pooled = f.avg_pool2d(t, (kh, kw), (sh, sw), (ph, pw), ceil,
                              p.values["count_include_pad"])
    else:
        pooled = f.lp_pool2d(t, 2, (kh, kw), (sh, sw), ceil)
    pooled.backward(torch.tensor(grads.douts["p"][None]))
    pool_steps = np.array([back_step_for(p, "pool dx", grads, net.weights, acts["tanh1"],
                                         acts["p"], index).total
                           for index in np.ndindex(*acts["tanh1"].shape)])
    np.testing.assert_allclose(pool_steps, t.grad.numpy().ravel(), atol=1e-5)


def test_the_backward_variants_share_one_walk_and_stop_when_told():
    """Network.backward is not stopped by the forward pass's should_stop (that answered
    for the forward only), a recorded pass stops between layers when its own says so, and
    after either the tape gives Network.backward's gradients unchanged."""
    from convscope.core.network import Cancelled

    net = Network.from_dict({"format": "convscope", "version": 1, "name": "t",
                             "input": {"channels": 1, "height": 6, "width": 6},
                             "layers": [{"type": "conv", "filters": 2, "kernel": 3},
                                        {"type": "relu"}, {"type": "fc", "units": 3}]})
    x = np.random.default_rng(1).standard_normal((1, 1, 6, 6), dtype=np.float32)
    stop = []
    net.forward(x, should_stop=lambda: bool(stop))
    stop.append(True)  # the forward's job went stale after it finished
    grad_out = np.ones((1, 3, 1, 1), np.float32)
    plain = net.backward(grad_out)
    with pytest.raises(Cancelled, match="relu"):  # fc is done first, then asked before relu
        calls = iter([False, True])
        backward_all(net, grad_out, should_stop=lambda: next(calls))
    again = net.backward(grad_out)
    for key in plain:
        np.testing.assert_array_equal(plain[key], again[key])
    recorded = backward_all(net, grad_out)
    np.testing.assert_array_equal(recorded.input, plain["input"])
    np.testing.assert_array_equal(recorded.params["conv1.weight"], plain["conv1.weight"])
