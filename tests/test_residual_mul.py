"""The residual's join "mul" (spec: added in version 1): squeeze-and-excitation and gates
worked by hand, its shapes and errors, its file form and words.

The gradient checks and the torch and ONNX Runtime comparisons of its examples
(residual_squeeze_excitation, residual_gate) are the contract's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from convscope.core import REGISTRY, ConvScopeError, Network
from convscope.core.understand.explain import explain

# a 2-channel 2×2 image: channel means 2.5 and 1
X = np.array([[[[1, 2], [3, 4]], [[0, 0], [2, 2]]]], np.float32)


def network(block, shape=(2, 2, 2)):
    c, h, w = shape
    return Network.from_dict({"format": "convscope", "version": 1, "name": "mul",
                              "input": {"channels": c, "height": h, "width": w},
                              "layers": [{"type": "residual", "name": "block", **block}]})


SE = {"join": "mul", "body": [
    {"type": "global_avg_pool", "name": "squeeze"},
    {"type": "conv", "name": "reduce", "filters": 1, "kernel": 1},
    {"type": "relu", "name": "relu"},
    {"type": "conv", "name": "expand", "filters": 2, "kernel": 1},
    {"type": "sigmoid", "name": "excite"}]}


def test_squeeze_and_excitation_by_hand():
    net = network(SE)
    net.set_weights({
        # means (2.5, 1) → 2.5 − 1 = 1.5 → relu 1.5
        "reduce.weight": np.array([1, -1], np.float32).reshape(1, 2, 1, 1),
        "reduce.bias": np.zeros(1, np.float32),
        # 1.5 → (0, ln 3) → sigmoid (1/2, 3/4): σ(ln 3) = 1/(1 + 1/3)
        "expand.weight": np.array([0, math.log(3) / 1.5], np.float32).reshape(2, 1, 1, 1),
        "expand.bias": np.zeros(2, np.float32),
    })
    outs = net.forward(X)
    np.testing.assert_allclose(outs["excite"].ravel(), [0.5, 0.75], rtol=1e-6)
    np.testing.assert_allclose(outs["block"], [[[[0.5, 1], [1.5, 2]], [[0, 0], [1.5, 1.5]]]],
                               rtol=1e-6)
    report = net.analyze()
    block = report.layers[0]
    assert (block.out, block.activations) == ((2, 2, 2), 8)  # the full-size side's
    assert sum(i.params for i in report.layers) == (2 + 1) + (2 + 2)  # the two 1×1 convs


@pytest.mark.parametrize("side", ["body", "shortcut"])
def test_the_broadcast_side_gradient_is_summed_over_h_and_w(side):
    """out_c = x_c·mean(x_c). With dout = 1 every x_c,ij gets mean(x_c) from the full side
    and Σ x_c/4 = mean(x_c) through the mean: 2·mean(x_c), 5 and 2 here; whichever side
    holds the mean."""
    net = network({"join": "mul", side: [{"type": "global_avg_pool", "name": "mean"}]})
    out = net.forward(X)["block"]
    np.testing.assert_allclose(out, X * np.array([2.5, 1], np.float32).reshape(1, 2, 1, 1))
    grads = net.backward(np.ones_like(out))
    np.testing.assert_allclose(grads["input"][0, 0], np.full((2, 2), 5.0), rtol=1e-6)
    np.testing.assert_allclose(grads["input"][0, 1], np.full((2, 2), 2.0), rtol=1e-6)


def test_a_gate_multiplies_value_by_value():
    # body: x itself (an empty slot is the identity), shortcut: a 1×1 conv scaling by 2 → 2x²
    net = network({"join": "mul", "shortcut": [
        {"type": "conv", "name": "double", "filters": 2, "kernel": 1, "bias": False}]})
    net.set_weights({"double.weight": 2 * np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1)})
    out = net.forward(X)["block"]
    np.testing.assert_allclose(out, 2 * X * X)
    grads = net.backward(np.ones_like(out))
    np.testing.assert_allclose(grads["input"], 4 * X)  # d(2x²)/dx
    # dW of the 1×1 conv: Σ dout·body·x over positions, per (out, in) channel pair
    want = np.einsum("nohw,nihw->oi", X, X).reshape(2, 2, 1, 1)
    np.testing.assert_allclose(grads["double.weight"], want, rtol=1e-6)


# ------------------------------------------------------------------ shapes and errors
def combine(join, body, shortcut):
    return REGISTRY["residual"](join=join).combine([body, shortcut])


@pytest.mark.parametrize("body, shortcut, out", [
    ((8, 1, 1), (8, 5, 7), (8, 5, 7)),  # squeeze-and-excitation
    ((8, 5, 7), (8, 1, 1), (8, 5, 7)),  # the 1×1 side may be either
    ((8, 5, 7), (8, 5, 7), (8, 5, 7)),  # a gate
    ((8, 1, 1), (8, 1, 1), (8, 1, 1)),
])
def test_the_output_is_the_full_size_side(body, shortcut, out):
    assert combine("mul", body, shortcut).out == out


@pytest.mark.parametrize("body, shortcut, words", [
    ((4, 1, 1), (8, 5, 5), "must agree in channels (4 and 8)"),
    ((8, 5, 5), (8, 3, 3), "in H and W (5×5 and 3×3; one side may be 1×1)"),
    ((4, 5, 5), (8, 3, 3), "in channels (4 and 8) and in H and W (5×5 and 3×3"),
])
def test_sides_that_do_not_fit_are_an_error_with_the_numbers(body, shortcut, words):
    shaped = combine("mul", body, shortcut)
    assert shaped.out is None
    [d] = shaped.diagnostics
    assert d.severity == "error"
    assert "they are multiplied" in d.message and words in d.message, d.message


def test_adding_still_needs_equal_shapes():
    assert combine("add", (8, 1, 1), (8, 5, 5)).out is None
    assert "they are added" in combine("add", (8, 1, 1), (8, 5, 5)).diagnostics[0].message


def test_an_se_block_with_the_wrong_channels_is_an_error_in_the_report():
    block = {**SE, "body": [dict(layer) for layer in SE["body"]]}
    block["body"][3]["filters"] = 3  # excites 3 channels of a 2-channel input
    report = network(block).analyze()
    assert report.has_error
    d = report.first_error
    assert d.path == "layers[0]" and "1x1x3" in d.message and "2x2x2" in d.message


def test_no_projection_is_offered_for_a_multiplied_1x1_side():
    residual = REGISTRY["residual"]
    assert residual(join="mul").mends([(4, 1, 1), (8, 4, 4)]) == []
    assert residual().mends([(8, 2, 2), (4, 4, 4)])  # adding: the notes' projection


# ------------------------------------------------------------------ file, words
def test_join_is_written_only_when_it_multiplies():
    assert network(SE).to_dict()["layers"][0]["join"] == "mul"
    assert "join" not in network({"body": [{"type": "relu"}]}).to_dict()["layers"][0]
    assert network(SE).copy().layers[0].values["join"] == "mul"
    with pytest.raises(ConvScopeError, match="join must be one of 'add', 'mul', got 'max'"):
        network({"join": "max"})


def test_sign_and_words():
    add, mul = network({}).layers[0], network(SE).layers[0]
    assert (add.join_label(), mul.join_label()) == ("+", "×")
    assert mul.describe() == "body × identity shortcut"
    assert mul.block_detail(["5 layers"]) == ["5 layers", "× identity"]
    assert add.block_detail(["0 layers"]) == ["0 layers", "identity"]


def test_explanations_of_both_joins():
    net = network(SE)
    text = " ".join(s.text for s in explain(net, "block"))
    assert "output = body(x) × shortcut(x)" in text
    assert "the body gives 1×1×2: each of its 2 values scales a whole 2×2 map" in text
    assert "summed over the 4 positions" in text
    net = network({"join": "mul", "body": [{"type": "sigmoid"}]})
    assert "both 2×2×2, multiplied value by value: a gate" in \
        " ".join(s.text for s in explain(net, "block"))
    net = network({"body": [{"type": "sigmoid"}]})
    assert "output = body(x) + shortcut(x)" in " ".join(s.text for s in explain(net, "block"))
