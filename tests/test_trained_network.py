"""The bundled trained network (assets/architectures/shapes_cnn.json, made by
assets/tools/make_trained.py): its weights classify its sample pictures, read the way
``convscope run --image`` reads them; its labels file fits its output; its held-out accuracy is
the one its description claims; and its first conv layer's kernels are smooth, not noise."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.presets import ARCHITECTURES, ASSETS
from convscope.gui.images import load_image

PATH = ARCHITECTURES / "shapes_cnn.json"
LABELS = ARCHITECTURES / "shapes_cnn.labels.txt"
SAMPLES = sorted((ASSETS / "images" / "samples").glob("shapes_cnn-*.png"))
TOOL = ASSETS / "tools" / "make_trained.py"
HELD_OUT_SEED = 4  # the tool trains on seed 1, reports seed 2 and picks samples from seed 3


@pytest.fixture(scope="module")
def net():
    return Network.load(PATH)


@pytest.fixture(scope="module")
def labels():
    return LABELS.read_text("utf-8").splitlines()


def scores(net, x):
    """Class scores (N, K) for normalised inputs (N, C, H, W)."""
    return net.forward(x)[net.layers[-1].name].reshape(len(x), -1)


def test_ships_its_own_weights_and_labels(net, labels):
    assert net.weights_file == "shapes_cnn.npz"
    assert (ARCHITECTURES / net.weights_file).stat().st_size < 1_000_000
    output = net.analyze().output
    assert output[1:] == (1, 1)
    assert len(labels) == output[0] >= 6
    assert len(set(labels)) == len(labels) and all(name.strip() == name != "" for name in labels)


def test_classifies_every_sample_picture(qapp, net, labels):
    # one picture per class, named <network>-<class>.png
    assert sorted(p.stem.split("-", 1)[1] for p in SAMPLES) == sorted(labels)
    x = np.stack([load_image(path, net.input) for path in SAMPLES])  # as `run --image` does
    got = [labels[k] for k in scores(net, x).argmax(axis=1)]
    assert got == [p.stem.split("-", 1)[1] for p in SAMPLES]


def test_held_out_accuracy_is_the_one_claimed(net):
    spec = importlib.util.spec_from_file_location("make_trained", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    claimed = float(re.search(r"Held-out accuracy: ([\d.]+) %", net.description)[1]) / 100
    assert claimed >= 0.95
    x, y = tool.make_data(500, HELD_OUT_SEED)  # pictures in [0, 1], as an image file gives
    mean = np.asarray(net.input.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(net.input.std, np.float32).reshape(1, 3, 1, 1)
    accuracy = (scores(net, (x - mean) / std).argmax(axis=1) == y).mean()
    # 500 pictures: the standard error near 97 % is √(0.97·0.03/500) ≈ 0.8 points; allow 3
    assert accuracy >= claimed - 0.03


def smoothness(kernels):
    """Per kernel (F, C, k, k): 1 − Σ(a − b)² / Σ(a² + b²) over every pair (a, b) of
    horizontally or vertically neighbouring weights, in every channel.

    That is 2Σab / Σ(a² + b²): 1 for a kernel constant in space (a colour blob), near 1 for
    a smooth edge or bar, and 0 on average for independent random weights, whose
    neighbours are uncorrelated (for a 5×5×3 kernel its spread is about √120/75 ≈ 0.15)."""
    pairs = [(kernels[..., :, 1:], kernels[..., :, :-1]),  # left-right neighbours
             (kernels[..., 1:, :], kernels[..., :-1, :])]  # up-down neighbours
    ab = sum((a * b).sum(axis=(1, 2, 3)) for a, b in pairs)
    squares = sum((a * a + b * b).sum(axis=(1, 2, 3)) for a, b in pairs)
    return 2 * ab / squares


def test_smoothness_by_hand():
    flat = np.ones((1, 1, 3, 3))
    checker = np.indices((3, 3)).sum(axis=0)[None, None] % 2 * 2 - 1.0  # ±1 alternating
    ramp = np.tile(np.arange(3.0), (3, 1))[None, None]  # 0 1 2 in every row
    # ramp, 3 rows of left-right pairs: Σab = 0·1 + 1·2 = 2, Σ(a² + b²) = 1 + 5 = 6 each;
    # 2 pairs of rows up-down: Σab = 0 + 1 + 4 = 5, Σ(a² + b²) = 0 + 2 + 8 = 10 each
    by_hand = 2 * (3 * 2 + 2 * 5) / (3 * 6 + 2 * 10)  # 32/38
    np.testing.assert_allclose(smoothness(np.concatenate([flat, checker, ramp])),
                               [1.0, -1.0, by_hand])


def test_first_kernels_are_smooth_not_noise(net):
    trained = smoothness(net.weights["conv1.weight"].astype(np.float64))
    # the same layer with its seeded He-normal weights, as every untrained preset has
    fresh = Network.load(PATH, weights=False)
    fresh.ensure_weights()
    random = smoothness(fresh.weights["conv1.weight"].astype(np.float64))
    # 16 noise kernels: each spreads about 0.15 around 0, their mean about 0.04
    assert abs(random.mean()) < 0.15
    assert trained.mean() > 0.4  # ten times the random mean's spread
    assert (trained > 0.3).mean() >= 0.75  # most kernels, each 2 spreads above noise
