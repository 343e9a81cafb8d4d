"""Weights that are the user's own (loaded, trained, set) are saved beside the
architecture; seeded initial weights are not (the seed makes them again)."""

import numpy as np
from convscope.core import Network
from convscope.core.presets import preset_path


def test_seeded_weights_are_not_written(tmp_path):
    net = Network.load(preset_path("lenet5"))
    net.ensure_weights()
    net.save(tmp_path / "a.json")
    assert not (tmp_path / "a.npz").exists()
    assert "weights" not in Network.load(tmp_path / "a.json").to_dict()


def test_set_weights_are_written_and_read_back(tmp_path):
    net = Network.load(preset_path("lenet5"))
    net.ensure_weights()
    trained = {k: v + 0.25 for k, v in net.weights.items()}
    net.set_weights(trained)
    net.save(tmp_path / "b.json")
    again = Network.load(tmp_path / "b.json")
    assert again.weights_file == "b.npz"
    assert set(again.weights) == set(trained)
    for key, value in trained.items():
        np.testing.assert_array_equal(again.weights[key], value)
