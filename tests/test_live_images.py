"""The bundled sample pictures: made by assets/tools/make_images.py, listed in the input
view, and varied enough to show what a first conv layer does."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from convscope.core.presets import ASSETS
from convscope.gui import images
from convscope.gui.activations.controller import SAMPLES, sample_paths
from convscope.gui.images import qimage_to_array
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

TOOL = ASSETS / "tools" / "make_images.py"


def pixels(path) -> np.ndarray:
    return qimage_to_array(QImage(str(path)), 3).astype(float) / 255


def test_at_least_five_varied_pictures(qapp):
    paths = sample_paths()
    assert [p.stem for p in paths[:2]] == ["shapes", "landscape"]
    assert len(paths) >= 5
    for path in paths:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (256, 256), path
        rgb = pixels(path)
        assert rgb.std() > 0.15, path  # not a flat picture
        # edges: a good share of neighbouring pixels differ clearly (the digit is soft)
        assert (np.abs(np.diff(rgb.mean(axis=2), axis=1)) > 0.05).mean() > 0.01, path
    colours = pixels(SAMPLES / "colours.png")
    hues = {tuple((colours[int(32 + 64 * r), int(21 + 42.7 * c)] * 4).round())
            for r in range(4) for c in range(6)}
    assert len(hues) >= 18  # the chart's patches differ


def test_the_tool_makes_them_again(qapp, tmp_path):
    spec = importlib.util.spec_from_file_location("make_images", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        p.name for p in SAMPLES.glob("*.png"))
    for name in ("textures", "colours"):  # NumPy and plain fills: the same to the pixel
        np.testing.assert_array_equal(pixels(tmp_path / f"{name}.png"),
                                      pixels(SAMPLES / f"{name}.png"))


@pytest.mark.parametrize("fmt", [QImage.Format.Format_RGB888, QImage.Format.Format_Grayscale8])
def test_an_enlarged_picture_is_qts_own_smooth_scaling_drawn_in_bands(qapp, monkeypatch, fmt):
    """Enlarging is drawn a band of rows at a time (the window gets its turn between them):
    the pixels must be those of one QImage.scaled call, band edges included."""
    rng = np.random.default_rng(0)
    rgb = np.ascontiguousarray(rng.integers(0, 256, (23, 31, 3), dtype=np.uint8))
    picture = QImage(rgb.data, 31, 23, 31 * 3, QImage.Format.Format_RGB888).convertToFormat(fmt)
    monkeypatch.setattr(images, "BAND_PIXELS", 1000)  # 10 rows of 97 per band: 12 bands
    enlarged = images.fit(picture, 97, 115)  # 97/115 is not 31/23: cropped first
    cropped = picture.copy(6, 0, 19, 23)  # 23·97/115 = 19.4 → 19 columns, centred
    reference = cropped.scaled(97, 115, Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    assert enlarged.size() == reference.size() and enlarged.format() == fmt
    assert enlarged == reference


def test_normalise_is_the_scaled_pixels_less_mean_over_std_contiguous():
    """An image file's pixels as the network's input: (C, H, W), contiguous (the mean and
    std steps then run straight through it; a 10000×10000 input took 2.8 s, now 1.6 s), and
    exactly pixel / 255 − mean, / std per channel."""
    from types import SimpleNamespace

    from convscope.gui.images import normalise

    pixels = np.random.default_rng(4).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    spec = SimpleNamespace(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    x = normalise(pixels, spec)
    expected = (pixels.astype(np.float32).transpose(2, 0, 1) / 255.0
                - np.float32([0.485, 0.456, 0.406]).reshape(3, 1, 1)) \
        / np.float32([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    assert x.shape == (3, 7, 5) and x.dtype == np.float32 and x.flags.c_contiguous
    assert np.array_equal(x, expected)
    plain = normalise(pixels[:, :, :1], SimpleNamespace(mean=None, std=None))
    assert np.array_equal(plain, pixels[:, :, :1].transpose(2, 0, 1) / np.float32(255))
