"""prelu, layernorm, channel_shuffle and channel_slice with numbers worked by hand.

The contract (tests/test_layer_contract.py, tests/test_gradients.py) runs every example of
these types through the numerical gradient check, ONNX Runtime and torch; here are the
values a person can check on paper, the error texts, the figures and the weights file."""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from optional import needs_torch


def net_of(layers, c=3, h=1, w=1, name="hand") -> Network:
    return Network.from_dict({"format": "convscope", "version": 1, "name": name,
                              "input": {"channels": c, "height": h, "width": w},
                              "layers": layers})


def channels(values):
    """A (1, C, 1, 1) input holding ``values`` along its channels."""
    return np.asarray(values, np.float32).reshape(1, -1, 1, 1)


def only_output(net, x):
    return net.forward(x)[net.layers[-1].name]


# ---------------------------------------------------------------------- channel_shuffle
@pytest.mark.parametrize(("groups", "order"), [(2, [0, 3, 1, 4, 2, 5]),
                                               (3, [0, 2, 4, 1, 3, 5]),
                                               (1, [0, 1, 2, 3, 4, 5]),
                                               (6, [0, 1, 2, 3, 4, 5])])
def test_channel_shuffle_of_six_channels(groups, order):
    """(g, k) → (k, g): with g = 2 the rows 0 1 2 / 3 4 5 are read down the columns."""
    net = net_of([{"type": "channel_shuffle", "groups": groups}], c=6, h=2, w=1)
    x = np.arange(12, dtype=np.float32).reshape(1, 6, 2, 1)
    out = only_output(net, x)
    np.testing.assert_array_equal(out[0, :, 0, 0], [2 * c for c in order])
    np.testing.assert_array_equal(out[0, :, 1, 0], [2 * c + 1 for c in order])


def test_channel_shuffle_backward_is_the_inverse_permutation():
    net = net_of([{"type": "channel_shuffle", "groups": 2}], c=6)
    net.forward(channels(np.zeros(6)))
    dx = net.backward(channels([10, 11, 12, 13, 14, 15]))["input"]
    # output channel j came from input channel [0, 3, 1, 4, 2, 5][j]
    np.testing.assert_array_equal(dx[0, :, 0, 0], [10, 12, 14, 11, 13, 15])


def test_channel_shuffle_needs_channels_divisible_by_groups():
    net = net_of([{"type": "channel_shuffle", "groups": 3}], c=10, h=4, w=4)
    report = net.analyze()
    assert report.first_error.message == "channels 10 are not divisible by groups 3"
    assert report.first_error.severity == "error"
    assert report.layers[0].out is None
    with pytest.raises(ConvScopeError, match="'channel_shuffle' needs 'groups'"):
        net_of([{"type": "channel_shuffle"}])


def test_channel_shuffle_explanation_lists_the_new_order():
    from convscope.core.understand.explain import explain

    net = net_of([{"type": "channel_shuffle", "groups": 2}], c=6, h=2, w=2)
    text = explain(net, "channel_shuffle1")[1].text
    assert "2 groups of 3" in text
    assert "input channels 0, 3, 1, 4, 2, 5)" in text
    assert "24 values copied" in text


# ---------------------------------------------------------------------- channel_slice
@pytest.mark.parametrize(("start", "stop"), [(0, 58), (20, 70), (58, 116)])
def test_channel_slice_keeps_channels_start_to_stop(start, stop):
    net = net_of([{"type": "channel_slice", "start": start, "stop": stop}], c=116, h=2, w=3)
    info = net.analyze().layers[0]
    assert info.out == (stop - start, 2, 3)
    assert info.activations == (stop - start) * 6
    assert (info.params, info.weights, info.macs) == (0, 0, 0)
    assert net.layers[0].card_detail() == f"[{start}:{stop})"
    x = np.arange(116, dtype=np.float32)[None, :, None, None] * np.ones((2, 1, 2, 3),
                                                                        np.float32)
    out = only_output(net, x)
    np.testing.assert_array_equal(out[1, :, 1, 2], np.arange(start, stop))


def test_channel_slice_backward_pads_dout_with_zeros():
    net = net_of([{"type": "channel_slice", "start": 1, "stop": 3}], c=5)
    net.forward(channels(np.zeros(5)))
    dx = net.backward(channels([7, 8]))["input"]
    np.testing.assert_array_equal(dx[0, :, 0, 0], [0, 7, 8, 0, 0])


@pytest.mark.parametrize(("start", "stop", "message"), [
    (0, 70, "stop 70 is past the input's 58 channels (at most 58)"),
    (5, 5, "start 5 is not before stop 5: the slice would be empty"),
    (9, 3, "start 9 is not before stop 3: the slice would be empty"),
])
def test_channel_slice_errors_name_the_numbers(start, stop, message):
    net = net_of([{"type": "channel_slice", "start": start, "stop": stop}], c=58)
    assert net.analyze().first_error.message == message


@pytest.mark.parametrize(("key", "value", "message"), [
    ("start", -1, "start must be at least 0, got -1"),
    ("stop", 0, "stop must be at least 1, got 0"),
    ("stop", -3, "stop must be at least 1, got -3"),
])
def test_channel_slice_refuses_negative_bounds_when_read(key, value, message):
    layer = {"type": "channel_slice", "start": 0, "stop": 2, key: value}
    with pytest.raises(ConvScopeError, match=message):
        net_of([layer])


# ---------------------------------------------------------------------- prelu
def test_prelu_at_its_initial_slope():
    net = net_of([{"type": "prelu"}], c=2)
    net.ensure_weights()
    np.testing.assert_array_equal(net.weights["prelu1.weight"], [0.25, 0.25])
    np.testing.assert_array_equal(only_output(net, channels([-4, 2]))[0, :, 0, 0], [-1, 2])


def test_prelu_backward_by_hand():
    net = net_of([{"type": "prelu"}], c=2, w=2)
    net.set_weights({"prelu1.weight": np.array([0.5, 3.0], np.float32)})
    x = np.array([[[[-2, 4]], [[1, -3]]]], np.float32)  # (1, 2, 1, 2)
    np.testing.assert_array_equal(only_output(net, x), [[[[-1, 4]], [[1, -9]]]])
    grads = net.backward(np.array([[[[10, 20]], [[30, 40]]]], np.float32))
    # dx = dout where x > 0, else a·dout; d(a) = Σ dout·min(0, x) per channel
    np.testing.assert_array_equal(grads["input"], [[[[5, 20]], [[30, 120]]]])
    np.testing.assert_array_equal(grads["prelu1.weight"], [10 * -2, 40 * -3])


def test_prelu_matches_torch_functional_prelu():
    torch = needs_torch()
    rng = np.random.default_rng(7)
    net = net_of([{"type": "prelu"}], c=4, h=3, w=3)
    slopes = rng.uniform(-0.5, 1.5, 4).astype(np.float32)
    net.set_weights({"prelu1.weight": slopes})
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    want = torch.nn.functional.prelu(torch.tensor(x), torch.tensor(slopes)).numpy()
    np.testing.assert_allclose(only_output(net, x), want, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- layernorm
def test_layernorm_of_one_position_by_hand():
    """[1, 2, 3]: mean 2, biased variance 2/3, so (x − 2)/sqrt(2/3) = −1.2247, 0, 1.2247."""
    net = net_of([{"type": "layernorm", "eps": 0.0}], c=3)
    net.ensure_weights()
    out = only_output(net, channels([1, 2, 3]))[0, :, 0, 0]
    np.testing.assert_allclose(out, [-1.2247449, 0, 1.2247449], rtol=1e-6)
    net.set_weights({"layernorm1.weight": np.array([2, 1, 1], np.float32),
                     "layernorm1.bias": np.array([0.5, 0, -1], np.float32)})
    out = only_output(net, channels([1, 2, 3]))[0, :, 0, 0]
    np.testing.assert_allclose(out, [-1.9494897, 0, 0.2247449], rtol=1e-6)


def test_layernorm_normalises_each_position_on_its_own():
    """Positions with different scales come out the same: no mixing across H, W or N."""
    net = net_of([{"type": "layernorm"}], c=3, h=1, w=2)
    x = np.array([[[[1, 10]], [[2, 20]], [[3, 30]]]], np.float32)  # (1, 3, 1, 2)
    out = only_output(net, np.concatenate([x, 5 * x + 7]))
    np.testing.assert_allclose(out[:, :, 0, 0], out[:, :, 0, 1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4, atol=1e-5)


def test_layernorm_matches_torch_layernorm_over_channels_last():
    """An independent reference: torch.nn.LayerNorm(C) on the input with channels last."""
    torch = needs_torch()
    rng = np.random.default_rng(11)
    net = net_of([{"type": "layernorm", "eps": 1e-3}], c=5, h=3, w=4)
    weight, bias = rng.uniform(0.5, 1.5, 5), rng.normal(size=5)
    net.set_weights({"layernorm1.weight": weight.astype(np.float32),
                     "layernorm1.bias": bias.astype(np.float32)})
    x = rng.standard_normal((2, 5, 3, 4)).astype(np.float32)
    ln = torch.nn.LayerNorm(5, eps=1e-3)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor(weight))
        ln.bias.copy_(torch.tensor(bias))
        want = ln(torch.tensor(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2).numpy()
    np.testing.assert_allclose(only_output(net, x), want, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------- figures and files
def test_figures_of_prelu_and_layernorm():
    net = net_of([{"type": "prelu"}, {"type": "layernorm"}], c=8, h=5, w=5)
    prelu, ln = net.analyze().layers
    assert (prelu.params, prelu.weights, prelu.macs, prelu.activations) == (8, 0, 0, 200)
    assert (ln.params, ln.weights, ln.macs, ln.activations) == (16, 0, 0, 200)
    assert prelu.layer.IN_PLACE and not ln.layer.IN_PLACE
    assert net.param_shapes() == {"prelu1.weight": (8,), "layernorm1.weight": (8,),
                                  "layernorm1.bias": (8,)}
    assert ln.layer.card_detail() == "ε=1e-06"


def test_weights_file_keys_and_shapes_round_trip(tmp_path):
    net = net_of([{"type": "conv", "filters": 4, "kernel": 1}, {"type": "prelu"},
                  {"type": "layernorm"}], c=3, h=4, w=4, name="keys")
    net.ensure_weights()
    np.testing.assert_array_equal(net.weights["layernorm1.weight"], np.ones(4))
    np.testing.assert_array_equal(net.weights["layernorm1.bias"], np.zeros(4))
    rng = np.random.default_rng(2)
    mine = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in net.weights.items()}
    net.set_weights(mine)
    net.save(tmp_path / "keys.json")
    with np.load(tmp_path / "keys.npz") as arrays:
        assert {k: arrays[k].shape for k in arrays.files} == {
            "conv1.weight": (4, 3, 1, 1), "conv1.bias": (4,), "prelu1.weight": (4,),
            "layernorm1.weight": (4,), "layernorm1.bias": (4,)}
    back = Network.load(tmp_path / "keys.json")
    for key, value in mine.items():
        np.testing.assert_array_equal(back.weights[key], value, err_msg=key)
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(only_output(back, x), only_output(net, x))


def test_a_prelu_weight_of_the_wrong_shape_is_refused():
    net = net_of([{"type": "prelu"}], c=4)
    with pytest.raises(ConvScopeError, match=r"prelu1\.weight.*\(3,\).*\(4,\)"):
        net.set_weights({"prelu1.weight": np.zeros(3, np.float32)})
