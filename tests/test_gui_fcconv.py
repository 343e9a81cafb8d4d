"""The FC→CONV panel made visible, driven as a person would: convert, click a cell of the
score grid and see its crop outlined on the larger image and fc's window on the last map,
click the picture and see which cells' crops hold that pixel, run the shifted passes.

Values are checked against the original network run on each crop here, in the test (not
through the panel); VGG16's own numbers by analysis only (a pass at 384 takes minutes on a
busy two-core machine)."""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.presets import preset_path
from convscope.gui.understand import Understand
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.usefixtures("dialogs")

WAIT = 60_000  # ms: generous, the machine may be busy; the small networks take milliseconds


def stride4(padding=0, size=12):
    """Total stride 4 and an fc head, VGG's structure in small: without padding 12 → conv 3:
    10 → pool: 5 → conv 2: 4 → pool: 2×2×5 → fc 6 → fc 3; at 32×32 a 6×6 grid."""
    k2 = 3 if padding else 2
    return Network.from_dict({
        "format": "convscope", "version": 1, "name": "stride4",
        "input": {"channels": 2, "height": size, "width": size}, "seed": 3,
        "layers": [{"type": "conv", "name": "conv1", "filters": 4, "kernel": 3,
                    "padding": padding},
                   {"type": "relu", "name": "relu1"},
                   {"type": "pool", "name": "pool1", "kernel": 2},
                   {"type": "conv", "name": "conv2", "filters": 5, "kernel": k2,
                    "padding": padding},
                   {"type": "relu", "name": "relu2"},
                   {"type": "pool", "name": "pool2", "kernel": 2},
                   {"type": "flatten", "name": "flat"},
                   {"type": "fc", "name": "fc1", "units": 6},
                   {"type": "relu", "name": "relu3"},
                   {"type": "fc", "name": "fc2", "units": 3}]})


@pytest.fixture
def panel_in_window(make_window):
    window = make_window(restore_layout=False, autosave=False)
    understand = Understand(window.document, opener=window.open_path)
    understand.place_in(window)
    understand.show("fcconv")
    yield window, understand
    understand.close()


def converted(window, understand, qtbot, net, seed=0):
    """The network in the document with a picture, converted from the Network menu; returns
    the panel once the larger pass and the first cell's crop are done."""
    doc = window.document
    doc.replace_network(net, None)
    c, h, w = net.input.shape
    doc.set_image(np.random.default_rng(seed).standard_normal((c, h, w)).astype(np.float32),
                  "noise")
    panel = understand.fcconv
    with qtbot.waitSignal(panel.cropChecked, timeout=WAIT), \
            qtbot.waitSignal(panel.checked, timeout=WAIT):
        understand.actions["convert_fc"].trigger()
    return panel


def original_of(net):
    """The original network with the seeded weights the document's layers draw."""
    net = net.copy()
    net.ensure_weights()
    return net


def click_pixel(panel, item, box, y, x):
    """A real left click on the graphics view, at pixel (y, x) of a picture."""
    box.updateMatrix()  # a range set since the last paint is applied lazily
    scene = item.mapToScene(QPointF(x + 0.5, y + 0.5))
    view = panel.graphics
    point = view.mapFromScene(scene)
    assert view.viewport().rect().contains(point), "the picture is off screen"
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    QApplication.processEvents()


def crop_scores(net, image, top, left, size):
    return net.forward(image[None, :, top:top + size, left:left + size])["fc2"].reshape(-1)


def test_vgg16_at_384_panel_shows_pool5_12x12_and_the_6x6_grid(panel_in_window, qtbot):
    """By analysis, at once on converting (the pass itself is cancelled: minutes here)."""
    window, understand = panel_in_window
    window.document.replace_network(Network.load(preset_path("vgg16"), weights=False), None)
    panel = understand.fcconv
    understand.actions["convert_fc"].trigger()
    with qtbot.waitSignal(understand.runner.busyChanged, timeout=WAIT,
                          check_params_cb=lambda kind, busy: kind == "fcconv" and not busy):
        QTest.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.size.value() == 384  # 224 + 5·32
    assert panel.arithmetic.text() == (
        "At 384×384 the last map before fc6, pool5, is 12×12×512; fc6 as a 7×7 conv of "
        "stride 1 steps over it: (12 − 7 + 2·0)/1 + 1 = 6 → a 6×6 grid.")
    assert panel.status.text() == "Cancelled."
    # another size, same analysis: 416 = 384 + 32 → pool5 13×13, a 7×7 grid
    panel.size.setValue(416)
    assert "pool5, is 13×13×512" in panel.arithmetic.text()
    assert "(13 − 7 + 2·0)/1 + 1 = 7 → a 7×7 grid" in panel.arithmetic.text()


def test_click_a_cell_outlines_its_crop_and_window_and_the_crop_agrees(panel_in_window,
                                                                      qtbot):
    window, understand = panel_in_window
    net = stride4()
    panel = converted(window, understand, qtbot, net)
    original = original_of(net)
    r = panel.result
    assert r["scores"].shape == (6, 6, 3) and panel.size.value() == 32
    assert panel.arithmetic.text() == (
        "At 32×32 the last map before fc1, pool2, is 7×7×5; fc1 as a 2×2 conv of stride 1 "
        "steps over it: (7 − 2 + 2·0)/1 + 1 = 6 → a 6×6 grid.")
    # a click on cell (2, 3) of the score grid
    with qtbot.waitSignal(panel.cropChecked, timeout=WAIT) as blocker, \
            qtbot.waitSignal(panel.cellSelected, timeout=WAIT) as selected:
        click_pixel(panel, panel.grid_item, panel.grid_box, 2, 3)
    assert selected.args == ["grid", 2, 3]
    assert panel.crop_box == (4 * 2, 4 * 3, 12, 12)
    assert panel.crop_rect.isVisible()
    assert panel.crop_rect.rect() == QRectF(12, 8, 12, 12)  # x, y, width, height
    assert panel.cell_rect.rect() == QRectF(3, 2, 1, 1)
    assert panel.window_rect.rect() == QRectF(3, 2, 2, 2)  # fc1's 2×2 window on pool2
    # the cell's scores are the original network on its crop, computed here
    want = crop_scores(original, r["big_image"], 8, 12, 12)
    np.testing.assert_allclose(r["scores"][2, 3], want, atol=1e-4)
    found = blocker.args[0]
    assert found["cell"] == (2, 3) and found["max_abs"] <= 1e-4
    np.testing.assert_allclose(found["scores"], want, atol=1e-5)
    k = panel.score_class.value()
    assert panel.cell_info.text().startswith(
        f"Cell (2, 3): crop 12×12 at (8, 12), rows 8–19, columns 12–23; its score "
        f"{r['scores'][2, 3, k]:.4f}; the original network on the crop {want[k]:.4f}")
    text = panel.text.toPlainText()
    assert "No layer before the fc layers pads" in text
    assert "Cell (2, 3) reads pool2 rows 2–3, columns 3–4" in text


def test_click_the_picture_marks_the_cells_whose_crops_hold_it(panel_in_window, qtbot):
    window, understand = panel_in_window
    panel = converted(window, understand, qtbot, stride4())
    # pixel (20, 25) of the 32×32 picture, crops 12 px every 4: rows k with 4k ≤ 20 ≤ 4k + 11
    # are 3..5, columns 4k ≤ 25 ≤ 4k + 11 are 4..5 (k = 6 is off the grid); the crop centre
    # 4k + 5.5 nearest is k = 3.6 → 4 down, 4.9 → 5 across
    with qtbot.waitSignal(panel.cropChecked, timeout=WAIT), \
            qtbot.waitSignal(panel.cellSelected, timeout=WAIT) as selected:
        click_pixel(panel, panel.input_item, panel.input_box, 20, 25)
    assert selected.args == ["grid", 4, 5]
    assert panel.covering["grid"] == ((3, 5), (4, 5))
    assert panel.cover_rect.isVisible() and panel.cover_rect.rect() == QRectF(4, 3, 2, 3)
    assert panel.point_rect.rect() == QRectF(25, 20, 1, 1)
    assert panel.crop_box == (16, 20, 12, 12)
    assert "Pixel (20, 25) lies in the crops of cells rows 3–5, columns 4–5 (6 cells)" in \
        panel.cell_info.text()
    # a click on a grid cell instead: its crop, and the pixel's marks go
    with qtbot.waitSignal(panel.cropChecked, timeout=WAIT):
        click_pixel(panel, panel.grid_item, panel.grid_box, 1, 0)
    assert panel.crop_box == (4, 0, 12, 12)
    assert not panel.cover_rect.isVisible() and not panel.point_rect.isVisible()
    assert "Pixel" not in panel.cell_info.text()


def test_shifted_passes_give_an_11x11_grid_of_crops_2_px_apart(panel_in_window, qtbot):
    window, understand = panel_in_window
    net = stride4()
    panel = converted(window, understand, qtbot, net)
    original = original_of(net)
    assert panel.shift_button.text() == "Shifted passes (stride 4 → 2)"
    with qtbot.waitSignal(panel.shiftedReady, timeout=WAIT) as blocker:
        QTest.mouseClick(panel.shift_button, Qt.MouseButton.LeftButton)
    shifted = blocker.args[0]
    fine = shifted["fine"]
    assert fine.shape == (11, 11, 3)
    assert {k: g.shape[:2] for k, g in shifted["grids"].items()} == {
        (0, 0): (6, 6), (0, 2): (6, 5), (2, 0): (5, 6), (2, 2): (5, 5)}
    image = panel.result["big_image"]
    for a, b in np.ndindex(11, 11):  # every cell is the original on the crop 2a, 2b in
        np.testing.assert_allclose(fine[a, b], crop_scores(original, image, 2 * a, 2 * b, 12),
                                   atol=1e-4)
    check = shifted["check"]
    assert len(check["cells"]) == 121 and check["worst"] <= 1e-4
    assert panel.shift_info.text() == (
        "Stride 4 → 4/2 = 2: 4 passes shifted by (dy, dx) px give (0, 0): 6×6, (0, 2): 6×5, "
        "(2, 0): 5×6, (2, 2): 5×5; interleaved, crops 2 px apart: (32 − 12 + 2·0)/2 + 1 = 11 "
        "→ a 11×11 grid.")
    assert "every cell" in panel.text.toPlainText()
    # a click on fine cell (7, 4): its crop is 14, 8 pixels in
    with qtbot.waitSignal(panel.cropChecked, timeout=WAIT) as found:
        click_pixel(panel, panel.fine_item, panel.fine_box, 7, 4)
    assert panel.selected == ("fine", 7, 4) and panel.crop_box == (14, 8, 12, 12)
    assert panel.fine_rect.rect() == QRectF(4, 7, 1, 1)
    assert found.args[0]["max_abs"] <= 1e-4


def test_with_padding_the_panel_shows_the_real_difference(panel_in_window, qtbot):
    window, understand = panel_in_window
    net = stride4(padding=1, size=8)  # 8 → 8 → 4 → 4 → 2×2×5; at 28×28 a 6×6 grid
    panel = converted(window, understand, qtbot, net)
    original = original_of(net)
    with qtbot.waitSignal(panel.cropChecked, timeout=WAIT) as blocker:
        click_pixel(panel, panel.grid_item, panel.grid_box, 2, 3)
    r = panel.result
    want = float(np.abs(crop_scores(original, r["big_image"], 8, 12, 8)
                        - r["scores"][2, 3]).max())
    found = blocker.args[0]
    assert want > 1e-3 and found["max_abs"] == pytest.approx(want, rel=1e-5)
    text = panel.text.toPlainText()
    assert "2 layers before fc1 pad with zeros (conv1, conv2)" in text
    assert f"the largest |cell − crop| over the 3 scores is {want:.3e}" in text
    assert "pool2 positions under the window differ" in text


def test_shifted_passes_cancel_and_the_window_stays_responsive(panel_in_window, qtbot):
    window, understand = panel_in_window
    panel = converted(window, understand, qtbot, stride4())
    runner = understand.runner
    with qtbot.waitSignal(runner.busyChanged, timeout=WAIT,
                          check_params_cb=lambda kind, busy: kind == "fcconv-shift"
                          and not busy):
        QTest.mouseClick(panel.shift_button, Qt.MouseButton.LeftButton)
        assert panel.cancel_button.isEnabled() and panel.busy.isVisibleTo(panel)
        QTest.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.status.text() == "Cancelled."
    assert not panel.busy.isVisibleTo(panel) and panel.shift_button.isEnabled()
    assert panel.shifted is None
