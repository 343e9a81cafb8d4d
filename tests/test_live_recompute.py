"""Live at the speed of thought, in the core: seeded weights drawn per layer as the pass
reaches them (the same values as drawing them all first), every top-level output published
as soon as it is computed, and a pass resumed from the first changed layer (the same
activations as a full pass, the layers before it neither run nor copied)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.layers import REGISTRY
from convscope.core.live.forward import ForwardRequest, LiveCache, run_forward
from convscope.core.network import Cancelled, iter_layers
from convscope.core.presets import preset_path
from convscope.core.understand.memory import forward_need


def small_net() -> Network:
    """Every kind of parameter (conv, batchnorm, prelu, layernorm, fc) and a residual block."""
    return Network.from_dict({
        "format": "convscope", "version": 1, "name": "small", "seed": 5,
        "input": {"channels": 3, "height": 12, "width": 12},
        "layers": [
            {"type": "conv", "name": "conv1", "filters": 6, "kernel": 3, "padding": 1},
            {"type": "batchnorm", "name": "bn1"}, {"type": "prelu", "name": "act1"},
            {"type": "residual", "name": "res", "body": [
                {"type": "conv", "name": "conv2", "filters": 6, "kernel": 3, "padding": 1},
                {"type": "relu", "name": "relu2"}]},
            {"type": "layernorm", "name": "ln"},
            {"type": "pool", "name": "pool", "mode": "max", "kernel": 2},
            {"type": "conv", "name": "conv3", "filters": 8, "kernel": 3},
            {"type": "relu", "name": "relu3"},
            {"type": "fc", "name": "fc", "units": 5}]})


def image(net, batch=1):
    return np.random.default_rng(1).standard_normal((batch, *net.input.shape), np.float32)


class Calls:
    """Counts each layer's forward calls by name (wrapping every registered type)."""

    def __init__(self, monkeypatch):
        self.names: list[str] = []
        for cls in set(REGISTRY.values()):
            original = cls.forward

            def forward(layer, x, params, ctx, original=original):
                self.names.append(layer.name)
                return original(layer, x, params, ctx)

            monkeypatch.setattr(cls, "forward", forward)


# ============================================================================ lazy weights
@pytest.mark.parametrize("make", [small_net, lambda: Network.load(preset_path("alexnet"))],
                         ids=["small", "alexnet"])
def test_weights_drawn_per_layer_equal_the_eager_ones(make):
    eager, lazy = make(), make()
    eager.ensure_weights()
    assert lazy.weights == {}
    x = image(lazy)
    got, expected = lazy.forward(x), eager.forward(x)
    assert sorted(lazy.weights) == sorted(eager.weights)
    for key, value in eager.weights.items():
        assert lazy.weights[key].dtype == np.float32
        np.testing.assert_array_equal(lazy.weights[key], value, err_msg=key)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_the_first_layers_run_before_the_last_layers_weights_are_drawn():
    net = Network.load(preset_path("alexnet"))
    seen = {}
    net.forward(image(net), on_output=lambda name, outputs: seen.setdefault(
        name, (set(net.weights), set(outputs))))
    drawn, outputs = seen["conv1"]
    assert drawn == {"conv1.weight", "conv1.bias"} and outputs == {"conv1"}
    assert "fc6.weight" not in seen["pool5"][0] and "fc6.weight" in seen["fc6"][0]
    assert list(seen) == [layer.name for layer in net.layers]  # every top-level layer, in order


def test_a_stopped_pass_stops_drawing_ahead():
    """AlexNet's weights are drawn ahead on a second thread; a pass stopped after conv1
    leaves no thread behind and only the weights of the layers it ran."""
    net = Network.load(preset_path("alexnet"))
    done = []
    with pytest.raises(Cancelled):
        net.forward(image(net), should_stop=lambda: bool(done),
                    on_output=lambda name, _outputs: done.append(name))
    assert done == ["conv1"] and set(net.weights) == {"conv1.weight", "conv1.bias"}
    assert not [t for t in threading.enumerate() if t.name.startswith("convscope-weights")]


def test_weights_over_the_budget_are_refused_before_any_is_drawn():
    net = small_net()
    net.memory_budget = 4 * 100  # conv1 alone has 162 weights
    with pytest.raises(ConvScopeError, match="weights not made: they need"):
        net.ensure_weights()
    assert net.weights == {}


def test_weights_no_layer_has_any_more_are_dropped_by_the_pass():
    net = small_net()
    net.forward(image(net))
    net.layers[0].name = "first"
    net.forward(image(net))
    assert "conv1.weight" not in net.weights and "first.weight" in net.weights


# ============================================================================ resuming a pass
@pytest.mark.parametrize("edit, start", [
    (lambda net: net.layers[6].set("filters", 4), 6),  # conv3: and fc after it
    (lambda net: net.layers[3].values["body"][0].set("kernel", 1) or
     net.layers[3].values["body"][0].set("padding", 0), 3),  # a conv inside the block
    (lambda net: net.layers[8].set("units", 7), 8)])  # the last layer
def test_a_resumed_pass_equals_a_full_pass(monkeypatch, edit, start):
    net = small_net()
    x = image(net, batch=2)
    before = net.forward(x)
    tape = net.tape
    edited = net.copy()  # shares every weight array
    edit(edited)
    for layer in edited.layers[start:]:  # their weights no longer fit (or are redrawn)
        for key in [k for k in edited.weights if k.startswith(layer.name + ".")]:
            del edited.weights[key]
    full = edited.copy().forward(x)
    calls = Calls(monkeypatch)
    resumed = edited.forward(x, start=start, kept=tape)
    monkeypatch.undo()
    assert sorted(resumed) == sorted(full)
    for name, value in full.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
    kept = {layer.name for layer in iter_layers(net.layers[:start])}  # nested ones too
    for name in kept:
        assert resumed[name] is before[name]  # taken, not recomputed nor copied
    assert not kept & set(calls.names)
    assert calls.names[0] == edited.layers[start].name
    # backward runs through the kept layers' caches as through a full pass's
    grad = np.ones_like(full["fc"])
    other = edited.copy()
    other.forward(x)
    expected, got = other.backward(grad), edited.backward(grad)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_a_resume_that_does_not_fit_is_refused():
    net = small_net()
    net.forward(image(net))
    with pytest.raises(ValueError):
        net.forward(image(net, batch=2), start=3, kept=net.tape)


# ============================================================================ the live pass
def request(net, image_array, revision=1, wish=None):
    return ForwardRequest(revision, net.to_dict(), dict(net.weights), net.memory_budget,
                          image_array, wish)


def test_an_edit_runs_the_live_pass_from_the_first_changed_layer(monkeypatch):
    net = Network.load(preset_path("alexnet"))
    picture = image(net)[0]
    cache = LiveCache()
    first = run_forward(request(net, picture), cache)
    net.find(first.report.by_name("conv5").path).set("filters", 128)
    partials = []
    calls = Calls(monkeypatch)
    second = run_forward(request(net, picture, 2), cache, progress=partials.append)
    monkeypatch.undo()
    assert calls.names[0] == "conv5" and "conv1" not in calls.names
    for name in ("input", "conv1", "pool2", "relu4"):
        assert second.activations[name] is first.activations[name]
    # the first partial result holds every kept layer at once, before conv5 runs
    assert set(partials[0].activations) == {"input"} | {
        layer.name for layer in net.layers[:net.layers.index(net.find(
            first.report.by_name("conv5").path))]}
    assert not partials[0].complete and second.complete
    fresh = run_forward(request(net, picture, 2), LiveCache())
    for name, value in fresh.activations.items():
        np.testing.assert_allclose(second.activations[name], value, rtol=1e-6, atol=1e-6,
                                   err_msg=name)
    # the same weights: drawn once, kept by the cache (conv5's and conv6's... redrawn)
    assert second.network.weights["conv1.weight"] is first.network.weights["conv1.weight"]
    assert second.network.weights["conv5.weight"].shape == (128, 384, 3, 3)


def test_partial_results_come_layer_by_layer_with_the_wished_mosaic():
    net = Network.load(preset_path("lenet5"))
    picture = image(net)[0]
    partials = []
    wish = ("c3", "", True, -1, 500_000)
    final = run_forward(request(net, picture, wish=wish), LiveCache(),
                        progress=partials.append)
    names = [layer.name for layer in net.layers]
    assert len(partials) == len(names)
    for k, partial in enumerate(partials):  # each one layer more, in the pass's order
        assert list(partial.activations) == ["input", *names[:k + 1]]
        for name, value in partial.activations.items():
            assert value is final.activations[name]
    c3 = names.index("c3")
    assert "mosaic" not in partials[c3 - 1].extra
    assert partials[c3].extra["mosaic"] is final.extra["mosaic"]  # tiled once, on the worker
    assert final.extra["mosaic"][0] == ("c3", -1, True, 500_000)


def test_a_new_image_or_seed_runs_the_whole_pass(monkeypatch):
    net = small_net()
    picture = image(net)[0]
    cache = LiveCache()
    run_forward(request(net, picture), cache)
    calls = Calls(monkeypatch)
    run_forward(request(net, picture.copy()), cache)  # equal values, another image
    assert calls.names[0] == "conv1"
    calls.names.clear()
    run_forward(request(net, picture), cache)
    run_forward(request(net, picture), cache)  # nothing changed: nothing runs
    assert calls.names[0] == "conv1" and calls.names.count("conv1") == 1
    net.seed = 6
    calls.names.clear()
    run_forward(request(net, picture), cache)
    assert calls.names[0] == "conv1"


def test_the_kept_pass_is_let_go_when_both_would_exceed_the_budget(monkeypatch):
    net = small_net()
    picture = image(net)[0]
    need = forward_need(net.analyze(fixes=False), 1)
    cache = LiveCache()
    run_forward(request(net, picture), cache)
    net.layers[8].set("units", 7)
    net.memory_budget = need["total"] + (need["input"] + need["kept"]) // 2
    calls = Calls(monkeypatch)
    result = run_forward(request(net, picture), cache)  # one pass fits, two do not
    assert calls.names[0] == "conv1"  # run whole: the last pass was not kept beside it
    assert result.activations["fc"].shape == (7, 1, 1)
