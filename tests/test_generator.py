"""The generator of the notes' pattern INPUT → [[CONV → RELU]*N → POOL?]*M → [FC → RELU]*K → FC."""

from __future__ import annotations

import pytest
from convscope.core.errors import ConvScopeError
from convscope.core.generate import Pattern, notes_pattern


def test_n2_m3_k2_at_32_with_16_filters_doubling():
    net = notes_pattern(Pattern(n=2, m=3, k=2, filters=16, growth=2, pool=True, hidden=128,
                                classes=10, size=32))
    report = net.analyze()
    # 3 stages of conv, relu, conv, relu, pool = 15; 2 × (fc, relu) = 4; the last fc: 20
    assert len(report.layers) == 20
    shapes = {i.name: i.out for i in report.layers}
    assert shapes["conv1_2"] == (16, 32, 32) and shapes["pool1"] == (16, 16, 16)
    assert shapes["conv2_2"] == (32, 16, 16) and shapes["pool2"] == (32, 8, 8)
    assert shapes["conv3_2"] == (64, 8, 8) and shapes["pool3"] == (64, 4, 4)
    assert shapes["fc1"] == (128, 1, 1) and shapes["fc3"] == (10, 1, 1)
    params = {i.name: i.params for i in report.layers if i.params}
    assert params == {
        "conv1_1": 3 * 9 * 16 + 16,  # 448
        "conv1_2": 16 * 9 * 16 + 16,  # 2,320
        "conv2_1": 16 * 9 * 32 + 32,  # 4,640
        "conv2_2": 32 * 9 * 32 + 32,  # 9,248
        "conv3_1": 32 * 9 * 64 + 64,  # 18,496
        "conv3_2": 64 * 9 * 64 + 64,  # 36,928
        "fc1": 4 * 4 * 64 * 128 + 128,  # 131,200
        "fc2": 128 * 128 + 128,  # 16,512
        "fc3": 128 * 10 + 10,  # 1,290
    }
    assert report.totals()["params"] == 221_082
    # built by the notes' rules: no warning, and no sizing lint (only the fc head's share)
    assert [d.rule for d in report.diagnostics] == ["lint:fc-heavy"]


def test_no_pool_no_hidden_fc():
    report = notes_pattern(Pattern(n=1, m=2, k=0, filters=8, growth=1, pool=False,
                                   classes=5, size=6, channels=1)).analyze()
    assert [i.name for i in report.layers] == ["conv1_1", "relu1_1", "conv2_1", "relu2_1",
                                               "fc1"]
    assert report.layers[2].out == (8, 6, 6)
    assert report.by_name("fc1").params == 6 * 6 * 8 * 5 + 5  # 1,445


def test_the_network_round_trips_through_a_file(tmp_path):
    net = notes_pattern(Pattern())
    net.save(tmp_path / "p.json")
    from convscope.core.network import Network

    assert Network.load(tmp_path / "p.json").to_dict()["layers"] == net.to_dict()["layers"]


@pytest.mark.parametrize("changes, message", [
    ({"n": 0}, "n must be a whole number from 1 to 8, got 0"),
    ({"k": -1}, "k must be a whole number from 0 to 8"),
    ({"size": 4, "m": 3}, "an input of 4 cannot be halved 3 times"),
    ({"filters": 1 << 19, "growth": 4, "m": 3}, "filters in the last stage"),
])
def test_impossible_knobs_are_refused(changes, message):
    with pytest.raises(ConvScopeError, match=message):
        notes_pattern(Pattern(**changes))
