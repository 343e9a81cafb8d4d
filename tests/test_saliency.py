"""Saliency against a central-difference numerical gradient; feature visualisation raises
its objective."""

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.understand.featureviz import (
    blur,
    channel_objective,
    start_images,
    visualize_channels,
)
from convscope.core.understand.saliency import saliency


def tiny_net():
    # smooth everywhere (tanh, average pooling), so finite differences are exact enough
    return Network.from_dict({
        "format": "convscope", "version": 1, "name": "tiny", "seed": 2,
        "input": {"channels": 2, "height": 6, "width": 6},
        "layers": [{"type": "conv", "name": "conv", "filters": 3, "kernel": 3, "padding": 1},
                   {"type": "tanh", "name": "act"},
                   {"type": "pool", "name": "pool", "mode": "avg", "kernel": 2},
                   {"type": "fc", "name": "scores", "units": 4}]})


def numerical_gradient(net, layer, x, unit, h=1e-2):
    """Central differences of one unit of ``layer``, one input value at a time."""
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        f_plus = net.forward(plus[None])[layer][(0,) + unit]
        f_minus = net.forward(minus[None])[layer][(0,) + unit]
        grad[index] = (float(f_plus) - float(f_minus)) / (2 * h)
    return grad


def test_class_score_saliency_matches_numerical_gradient():
    net = tiny_net()
    x = np.random.default_rng(1).standard_normal((2, 6, 6)).astype(np.float32)
    result = saliency(net, x, "scores", channel=2)
    assert result["position"] == (0, 0)
    assert result["score"] == pytest.approx(float(net.forward(x[None])["scores"][0, 2, 0, 0]))
    numeric = numerical_gradient(net, "scores", x, (2, 0, 0))
    np.testing.assert_allclose(result["gradient"], numeric, rtol=2e-2, atol=2e-4)
    np.testing.assert_array_equal(result["map"], np.abs(result["gradient"]).max(axis=0))


def test_feature_map_unit_saliency_matches_numerical_gradient_inside_its_window():
    net = tiny_net()
    x = np.random.default_rng(2).standard_normal((2, 6, 6)).astype(np.float32)
    result = saliency(net, x, "act", channel=1, y=1, x_pos=4)
    numeric = numerical_gradient(net, "act", x, (1, 1, 4))
    np.testing.assert_allclose(result["gradient"], numeric, rtol=2e-2, atol=2e-4)
    # a 3×3 conv unit at (1, 4) sees rows 0..2 and columns 3..5, nothing else
    assert result["window"] == ((0, 2), (3, 5))
    outside = np.ones((6, 6), bool)
    outside[0:3, 3:6] = False
    assert np.all(result["gradient"][:, outside] == 0)
    assert np.all(np.abs(result["gradient"][:, 0:3, 3:6]).sum(axis=0) > 0)


def test_saliency_defaults_to_the_strongest_unit_and_refuses_bad_choices():
    net = tiny_net()
    x = np.random.default_rng(3).standard_normal((1, 2, 6, 6)).astype(np.float32)
    result = saliency(net, x, "pool", channel=0)
    pool = net.forward(x)["pool"][0, 0]
    assert result["position"] == np.unravel_index(np.argmax(pool), pool.shape)
    with pytest.raises(ConvScopeError, match="channel must be from 0 to 3"):
        saliency(net, x, "scores", channel=4)
    with pytest.raises(ConvScopeError, match="no layer named 'nope'"):
        saliency(net, x, "nope")
    with pytest.raises(ConvScopeError, match="outside the 3×3 map"):
        saliency(net, x, "pool", 0, y=3, x_pos=0)


def test_feature_visualisation_raises_each_channels_objective():
    net = tiny_net()
    channels = [0, 1, 2]
    start = start_images(net, 3, seed=5)
    before = channel_objective(net, "conv", channels, start)
    steps = []
    images = visualize_channels(net, "conv", channels, steps=60, seed=5, lr=0.05,
                                callback=lambda step, x, objective: steps.append(objective))
    after = channel_objective(net, "conv", channels, images)
    assert images.shape == (3, 2, 6, 6) and len(steps) == 60
    assert np.all(np.abs(before) < 0.05)  # faint noise starts near zero
    assert np.all(after > before + 0.2)
    # the callback can stop it early by returning False
    seen = []

    def stop_at_5(step, x, objective):
        seen.append(step)
        return step < 5

    visualize_channels(net, "conv", [0], steps=60, callback=stop_at_5)
    assert seen == [1, 2, 3, 4, 5]


def test_blur_keeps_the_mean_of_a_flat_image_and_smooths_a_spike():
    flat = np.full((1, 1, 5, 5), 0.3, np.float32)
    np.testing.assert_allclose(blur(flat, 0.8), flat, rtol=1e-6)
    spike = np.zeros((1, 1, 9, 9), np.float32)
    spike[0, 0, 4, 4] = 1
    out = blur(spike, 1.0)
    assert out.sum() == pytest.approx(1.0, rel=1e-5) and out[0, 0, 4, 4] < 0.5
