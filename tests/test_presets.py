"""Every bundled preset: exact totals, shapes, a save/load round trip, a description, and
forward values compared with an independent torch computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.presets import ARCHITECTURES, preset_path, preset_paths
from optional import needs_torch

# (params, weights or None) as the table gives them
TOTALS = {
    "lenet5": (61_706, None),
    "alexnet": (62_378_344, None),
    "alexnet_two_tower": (60_965_224, None),
    "zfnet": (62_357_608, None),
    "vgg16": (138_357_544, 138_344_128),
    "googlenet": (6_998_552, 6_990_272),
    "resnet18": (11_689_512, None),
    "resnet34": (21_797_672, None),
    "resnet50": (25_557_032, None),
}
INPUTS = {"lenet5": (1, 32, 32), "alexnet": (3, 227, 227), "alexnet_two_tower": (3, 227, 227)}


def test_the_presets_are_the_ones_listed():
    # and the trained shapes network, whose own tests are in test_trained_network.py
    assert sorted(p.stem for p in preset_paths()) == sorted([*TOTALS, "shapes_cnn"])
    assert [p.stem for p in preset_paths()][:5] == ["lenet5", "alexnet", "alexnet_two_tower",
                                                    "zfnet", "vgg16"]
    assert all(p.parent == ARCHITECTURES for p in preset_paths())


@pytest.mark.parametrize("name", sorted(TOTALS))
def test_totals(name):
    net = Network.load(preset_path(name))
    report = net.analyze()
    assert not report.has_error
    params, weights = TOTALS[name]
    totals = report.totals()
    assert totals["params"] == params
    if weights is not None:
        assert totals["weights"] == weights
    assert net.input.shape == INPUTS.get(name, (3, 224, 224))
    # the spec's params: weights + biases + batchnorm γ/β, never the running statistics
    learned = sum(int(np.prod(s)) for k, s in net.param_shapes().items()
                  if not k.endswith(("running_mean", "running_var")))
    assert learned == params
    assert report.output == ((10, 1, 1) if name == "lenet5" else (1000, 1, 1))


def test_lenet5_figures_by_hand():
    """C1 6@5×5: 156 params; C3 16@5×5 over all 6 maps: 2,416; C5 120: 48,120;
    F6 84: 10,164; output 10: 850. Sum 61,706."""
    report = Network.load(preset_path("lenet5")).analyze()
    params = {i.name: i.params for i in report.layers if i.params}
    assert params == {"c1": 156, "c3": 2_416, "c5": 48_120, "f6": 10_164, "output": 850}
    assert [i.out for i in report.layers if i.type in ("conv", "pool")] == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]


def test_two_tower_alexnet_by_hand():
    """The paper's towers: conv2 sees its own tower's 48 of pool1's 96 maps, 256·48·5·5 +
    256 = 307,456 (the single tower's 614,656); conv4 384·192·3·3 + 384 = 663,936; conv5
    256·192·3·3 + 256 = 442,624; conv3 reads both towers, 384·256·3·3 + 384 = 885,120.
    34,944 + 307,456 + 885,120 + 663,936 + 442,624 + 37,752,832 + 16,781,312 + 4,097,000
    = 60,965,224, which is 62,378,344 − (307,200 + 663,552 + 442,368)."""
    two = Network.load(preset_path("alexnet_two_tower")).analyze()
    one = Network.load(preset_path("alexnet")).analyze()
    params = {i.name: i.params for i in two.layers if i.params}
    assert params == {"conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936,
                      "conv5": 442_624, "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000}
    assert sum(params.values()) == two.totals()["params"] == 60_965_224
    single = {i.name: i.params for i in one.layers if i.params}
    assert single["conv2"] - params["conv2"] == 256 * 48 * 25
    assert one.totals()["params"] - two.totals()["params"] == 307_200 + 663_552 + 442_368
    groups = {i.name: i.layer.values["groups"] for i in two.layers if i.type == "conv"}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    # same shapes and MACs per output as the single tower, half the MACs on the grouped layers
    assert [i.out for i in two.layers if i.params] == [i.out for i in one.layers if i.params]
    assert two.by_name("conv2").macs == 256 * 48 * 25 * 27 * 27 == one.by_name("conv2").macs // 2


def test_googlenet_spatial_sizes_and_inception_depths():
    report = Network.load(preset_path("googlenet")).analyze()
    sizes = []
    for info in report.top:
        h = info.out[1]
        if not sizes or sizes[-1] != h:
            sizes.append(h)
    assert sizes == [112, 56, 28, 14, 7, 1]
    depths = {i.name: i.out[0] for i in report.top if i.type == "concat"}
    assert list(depths.values()) == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    ceil_pools = [i for i in report.top if i.type == "pool" and i.layer.values["ceil_mode"]]
    assert len(ceil_pools) == 4


def test_zfnet_matches_its_figure():
    """Zeiler & Fergus, Fig. 3: 110, 55, 26, 13, 13, 13 and a 6×6×256 map into fc6."""
    report = Network.load(preset_path("zfnet")).analyze()
    sizes = [i.out[1] for i in report.top if i.type in ("conv", "pool")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]
    assert next(i for i in report.top if i.type == "fc").in_shape == (256, 6, 6)


@pytest.mark.parametrize("name", sorted(TOTALS))
def test_save_and_reload_unchanged(name, tmp_path):
    original = Network.load(preset_path(name))
    on_disk = json.loads(preset_path(name).read_text("utf-8"))
    assert Network.from_dict(on_disk).to_dict() == original.to_dict()
    path = tmp_path / f"{name}.json"
    original.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no weights, no temp
    reloaded = Network.load(path)
    assert reloaded.to_dict() == original.to_dict()
    a, b = original.analyze(), reloaded.analyze()
    assert a.totals() == b.totals()
    assert [(i.path, i.name, i.out) for i in a.layers] == [(i.path, i.name, i.out)
                                                          for i in b.layers]
    first = path.read_bytes()
    reloaded.save(path)
    assert path.read_bytes() == first  # saving is deterministic


@pytest.mark.parametrize("name", sorted(TOTALS))
def test_has_a_description_of_its_source(name):
    net = Network.load(preset_path(name))
    assert len(net.description) > 60
    assert any(year in net.description for year in ("1998", "2012", "2013", "2014", "2015"))
    assert net.name and net.seed == 0 and net.weights_file is None


def test_presets_name_every_layer_uniquely():
    for path in preset_paths():
        net = Network.load(path)
        names = [i.name for i in net.analyze().layers]
        assert len(names) == len(set(names)), path.stem


# --------------------------------------------------------------------------- values
def scrambled(name: str, seed: int = 0) -> Network:
    """The preset with its default weights, plus random biases and batchnorm statistics,
    so that every term of every layer shows in the outputs."""
    net = Network.load(preset_path(name))
    net.ensure_weights()
    rng = np.random.default_rng(seed)
    for key, value in net.weights.items():
        if key.endswith("running_var"):
            value[...] = rng.uniform(0.5, 2.0, value.shape)
        elif key.endswith((".bias", "running_mean")) or value.ndim == 1:
            value[...] = rng.normal(0, 0.1, value.shape)
    return net


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "alexnet_two_tower", "resnet18",
                                  "googlenet"])
def test_forward_matches_torch(name):
    needs_torch()
    import torch_reference

    net = scrambled(name)
    batch = 2 if name == "lenet5" else 1  # the big ones once: keep the suite quick
    x = np.random.default_rng(1).standard_normal((batch, *net.input.shape), dtype=np.float32)
    ours = net.forward(x)
    theirs = torch_reference.run(net, x)
    names = [i.name for i in net.analyze().layers]
    assert set(ours) == {"input", *names}
    assert set(theirs) == set(names)  # every layer, nested ones included
    for key, want in theirs.items():
        got = ours[key]
        assert got.dtype == np.float32 and got.shape == want.shape, key
        scale = np.abs(want).max()
        assert scale > 0, key
        error = np.abs(got - want).max() / scale
        assert error < 1e-4, (key, error)
