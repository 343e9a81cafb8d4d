"""The notes' design rules: accepted floors ("floor": "intended") and the sizing lints."""

from __future__ import annotations

import pytest
from convscope.core.errors import ConvScopeError
from convscope.core.network import Network
from convscope.core.presets import preset_path

FIVE_FLOORS = ("resnet18", "resnet34", "resnet50")


def net(layers, channels=3, height=8, width=8) -> Network:
    return Network.from_dict({"format": "convscope", "version": 1,
                              "input": {"channels": channels, "height": height, "width": width},
                              "layers": layers})


def of(report, severity):
    return [d for d in report.diagnostics if d.severity == severity]


def lints(report, name):
    return [d for d in report.diagnostics if d.rule == f"lint:{name}"]


def apply(network, fix):
    for change in fix["changes"]:
        if change["path"] == "input":
            setattr(network.input, change["key"], change["value"])
        else:
            network.find(change["path"]).set(change["key"], change["value"])


STRIDE2 = {"type": "conv", "name": "c", "filters": 4, "kernel": 3, "stride": 2}


# ====================================================================== accepted floors
def test_an_accepted_floor_is_a_note_with_its_arithmetic():
    plain = net([STRIDE2]).analyze()
    (warning,) = of(plain, "warning")
    assert "(8 − 3 + 2·0)/2 + 1 = 3.5" in warning.message and warning.rule == "floor"
    accepted = net([dict(STRIDE2, floor="intended")]).analyze()
    assert of(accepted, "warning") == []
    (note,) = [d for d in accepted.diagnostics if d.rule == "floor"]
    assert note.severity == "info" and note.fixes == []
    assert "(8 − 3 + 2·0)/2 + 1 = 3.5" in note.message and "keeps 3" in note.message
    assert "accepted as intended" in note.message
    assert accepted.layers[0].status == "ok" and accepted.layers[0].out == (4, 3, 3)


def test_a_pool_floor_can_be_accepted_too():
    pool = {"type": "pool", "name": "p", "mode": "max", "kernel": 2, "stride": 2}
    assert len(of(net([pool], height=7, width=7).analyze(), "warning")) == 1
    report = net([dict(pool, floor="intended")], height=7, width=7).analyze()
    assert of(report, "warning") == [] and report.layers[0].out == (3, 3, 3)


def test_the_floor_key_is_written_only_when_set_and_round_trips(tmp_path):
    plain = net([STRIDE2])
    assert "floor" not in plain.to_dict()["layers"][0]
    accepted = net([dict(STRIDE2, floor="intended")])
    assert accepted.to_dict()["layers"][0]["floor"] == "intended"
    accepted.save(tmp_path / "a.json")
    again = Network.load(tmp_path / "a.json")
    assert again.layers[0].get("floor") == "intended"
    assert again.to_dict()["layers"] == accepted.to_dict()["layers"]
    assert of(again.analyze(), "warning") == []


def test_a_bad_floor_value_or_a_floor_on_a_layer_that_cannot_floor_is_refused():
    with pytest.raises(ConvScopeError, match="floor must be one of 'warn', 'intended'"):
        net([dict(STRIDE2, floor="yes")])
    with pytest.raises(ConvScopeError, match="unknown key 'floor' for a 'relu' layer"):
        net([{"type": "relu", "floor": "intended"}])


# ====================================================================== the presets
@pytest.mark.parametrize("name, accepted", [
    ("resnet18", 8), ("resnet34", 8), ("resnet50", 8), ("googlenet", 1), ("zfnet", 1),
    ("alexnet", 0), ("vgg16", 0), ("lenet5", 0)])
def test_every_preset_opens_without_a_warning(name, accepted):
    report = Network.load(preset_path(name)).analyze()
    assert of(report, "warning") == [] and of(report, "error") == []
    floors = [d for d in report.diagnostics if d.rule == "floor" and d.severity == "info"]
    assert len(floors) == accepted
    assert all("accepted as intended" in d.message for d in floors)


def test_the_resnet_floors_are_the_stride_2_layers():
    report = Network.load(preset_path("resnet18")).analyze()
    names = [d.layer for d in report.diagnostics if d.rule == "floor"]
    assert names == ["conv1", "maxpool", "layer2_0_conv1", "layer2_0_downsample_0",
                     "layer3_0_conv1", "layer3_0_downsample_0", "layer4_0_conv1",
                     "layer4_0_downsample_0"]
    first = report.diagnostics[0]
    assert "(224 − 7 + 2·3)/2 + 1 = 112.5" in first.message


def test_alexnet_at_224_still_warns():
    alexnet = Network.load(preset_path("alexnet"))
    alexnet.input.height = alexnet.input.width = 224
    warnings = of(alexnet.analyze(), "warning")
    assert [w.layer for w in warnings] == ["conv1", "pool1", "pool2", "pool5"]
    warning = warnings[0]
    assert "(224 − 11 + 2·0)/4 + 1 = 54.25" in warning.message
    assert "227×227" in warning.message


# ====================================================================== the lints
def test_padding_lint_a_stride_1_conv_that_shrinks():
    shrinking = net([{"type": "conv", "name": "c", "filters": 4, "kernel": 3}])
    (note,) = lints(shrinking.analyze(), "padding")
    assert note.severity == "info" and note.layer == "c"
    assert "8×8 to 6×6" in note.message and "P = (F − 1)/2 = (3 − 1)/2 = 1" in note.message
    assert "假设步长S=1,如果想保持原来尺寸大小,那么P = (F - 1)/2" in note.message
    assert note.fixes[0]["changes"] == [{"path": "layers[0]", "key": "padding", "value": 1}]
    apply(shrinking, note.fixes[0])
    report = shrinking.analyze()
    assert lints(report, "padding") == [] and report.layers[0].out == (4, 8, 8)


def test_padding_lint_leaves_fc_as_conv_alone():
    assert lints(net([{"type": "conv", "filters": 4, "kernel": 8}]).analyze(), "padding") == []


def test_pool_lint_fires_on_a_4x4_pool_not_on_2x2_or_3x3_stride_2():
    pool = {"type": "pool", "name": "p", "mode": "max", "kernel": 4, "stride": 4}
    odd = net([pool], height=16, width=16)
    (note,) = lints(odd.analyze(), "pool")
    assert "4×4 pool at stride 4" in note.message and "2x2的池" in note.message
    apply(odd, note.fixes[0])
    report = odd.analyze()
    assert lints(report, "pool") == [] and report.layers[0].out == (3, 8, 8)
    overlapping = net([dict(pool, kernel=3, stride=2)], height=17, width=17)
    assert lints(overlapping.analyze(), "pool") == []
    global_pool = net([dict(pool, kernel=16, stride=1)], height=16, width=16)
    assert lints(global_pool.analyze(), "pool") == []


def test_large_filter_lint_gives_both_weight_counts():
    one = net([{"type": "conv", "name": "big", "filters": 64, "kernel": 5, "padding": 2}],
              channels=64)
    (note,) = lints(one.analyze(), "large-filter")
    # 5·5·64·64 = 102,400 against two 3×3: 9·64·64 + 9·64·64 = 73,728
    assert "5·5·64·64 = 102,400" in note.message and "= 73,728" in note.message
    assert "2 stacked 3×3" in note.message
    stack = net([{"type": "conv", "filters": 64, "kernel": 3, "padding": 1},
                 {"type": "relu"},
                 {"type": "conv", "filters": 64, "kernel": 3, "padding": 1}], channels=64)
    report = stack.analyze()
    assert lints(report, "large-filter") == [] and report.totals()["weights"] == 73_728


def test_large_filter_lint_is_quiet_when_the_stack_would_not_save():
    # 3 → 96 channels: 5·5·3·96 = 7,200 against 9·3·96 + 9·96·96 = 85,536
    first = net([{"type": "conv", "filters": 96, "kernel": 5, "padding": 2}])
    assert lints(first.analyze(), "large-filter") == []


def test_input_lint_counts_the_halvings_the_pools_need():
    pool = {"type": "pool", "mode": "max", "kernel": 2, "stride": 2}
    layers = [dict(pool, name=f"p{i}") for i in range(1, 4)]
    odd = net(layers, height=36, width=36)  # 36 = 4·9: halves twice, the pools need 3
    (note,) = lints(odd.analyze(), "input")
    assert note.layer == "p3"
    assert "36 divides by 2 2 times; 32 and 40 divide by 2^3 = 8" in note.message
    assert "32, 64, 96, 224, 384, 512" in note.message
    assert lints(net(layers, height=32, width=32).analyze(), "input") == []


def test_fc_heavy_lint_gives_the_share_and_global_pooling_quiets_it():
    conv = {"type": "conv", "filters": 4, "kernel": 3, "padding": 1}
    heavy = net([conv, {"type": "fc", "name": "head", "units": 10}])
    (note,) = lints(heavy.analyze(), "fc-heavy")
    # conv 3·9·4 + 4 = 112; fc 8·8·4·10 + 10 = 2,570: 2,570 / 2,682 = 95.8 %
    assert "2,570 of the network's 2,682 parameters (95.8 %)" in note.message
    assert note.layer == "head" and "global" in note.message
    light = net([conv, {"type": "global_avg_pool"}, {"type": "fc", "units": 10}])
    assert lints(light.analyze(), "fc-heavy") == []  # 50 of 162


def test_lints_change_no_status_and_no_exit_status(tmp_path, capsys):
    from convscope.gui.cli import main

    noisy = net([{"type": "conv", "filters": 4, "kernel": 3}, {"type": "fc", "units": 10}])
    report = noisy.analyze()
    assert {d.rule for d in report.diagnostics} == {"lint:padding", "lint:fc-heavy"}
    assert all(i.status == "ok" for i in report.layers)
    noisy.save(tmp_path / "n.json")
    assert main(["summary", str(tmp_path / "n.json")]) == 0
    assert "lint" not in capsys.readouterr().out  # the text summary lists no notes


def test_which_lints_fire_on_the_presets():
    fired = {}
    for name in ("lenet5", "alexnet", "zfnet", "vgg16", "googlenet") + FIVE_FLOORS:
        report = Network.load(preset_path(name)).analyze()
        fired[name] = sorted({d.rule for d in report.diagnostics if d.rule.startswith("lint")})
    assert fired == {"lenet5": ["lint:fc-heavy", "lint:padding"], "alexnet": ["lint:fc-heavy"],
                     "zfnet": ["lint:fc-heavy"], "vgg16": ["lint:fc-heavy"], "googlenet": [],
                     "resnet18": [], "resnet34": [], "resnet50": []}
