"""The Saliency panel's Grad-CAM page, driven as a person would: open the page, choose the
class and the layer in their combos, press Compute, tick guided Grad-CAM; every number and
picture shown is checked against core.understand.gradcam called directly on a copy."""

from __future__ import annotations

import re

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.labels import read_labels
from convscope.core.presets import ARCHITECTURES
from convscope.core.understand.gradcam import gradcam, gradient_picture
from convscope.gui.commands import SetValue
from convscope.gui.understand.saliency import OUTDATED
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_gui_understand import TRAINED, WAIT, click, load, network, settle, trained_on

pytestmark = pytest.mark.usefixtures("dialogs")
LABELS = read_labels(ARCHITECTURES / "shapes_cnn.labels.txt")


def open_gradcam_page(understand):
    """Understand ▸ Saliency brings its dock to the front; then click its "Grad-CAM" tab (a
    panel behind another tab does no work: gui.lazy)."""
    understand.actions["saliency"].trigger()
    panel = understand.saliency
    bar = panel.pages.tabBar()
    tab = next(i for i in range(bar.count()) if bar.tabText(i) == "Grad-CAM")
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tab).center())
    assert panel.pages.currentWidget() is panel.gradcam
    return panel.gradcam


def choose(combo, text):
    """Pick the item reading ``text``, as from the open list."""
    index = combo.findText(text)
    assert index >= 0, [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentIndex(index)


def compute(qtbot, page):
    settle()  # the page offers the network's classes and layers once its edits settle
    with qtbot.waitSignal(page.computed, timeout=WAIT) as blocker:
        click(page.compute_button)
    return blocker.args[0]


def numbers(text):
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def check_shown(page, want):
    """The page's numbers and pictures are core's ``want``."""
    rows = [(int(page.alphas.item(r, 0).text()), float(page.alphas.item(r, 1).text()))
            for r in range(page.alphas.rowCount())]
    assert [k for k, _ in rows] == [k for k, _ in want["top_channels"]]
    for (_, shown), (_, alpha) in zip(rows, want["top_channels"]):
        assert shown == pytest.approx(alpha, rel=1e-3)
    h, w = want["cam"].shape
    assert page.range_label.text().startswith(f"Grad-CAM at {want['layer']} ({h}×{w}), raw "
                                              "map: min ")
    low, high = numbers(page.range_label.text().split("raw map:")[1])
    assert low == pytest.approx(want["raw_min"], rel=1e-3, abs=1e-12)
    assert high == pytest.approx(want["raw_max"], rel=1e-3)
    c = want["class"]
    assert page.score_label.text().startswith(f"{LABELS[c]} ({c}): score ")
    score, probability = numbers(page.score_label.text().split(": score")[1])
    assert score == pytest.approx(want["score"], rel=1e-3)
    assert probability == pytest.approx(want["probability"], rel=1e-3)
    np.testing.assert_allclose(page.heat.image, want["map"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(page.plain.image, gradient_picture(want["saliency"]),
                               rtol=1e-5, atol=1e-6)


def test_gradcam_of_the_top_class_then_a_chosen_class_and_layer(app, qtbot):
    window, understand = app
    doc = trained_on(window, "cross")
    page = open_gradcam_page(understand)
    settle()
    assert page.class_box.currentText() == "the top class"
    assert [page.class_box.itemText(i) for i in range(1, 7)] == \
        [f"{name} ({k})" for k, name in enumerate(LABELS)]
    assert page.layer_box.currentText() == "relu3 (8×8×64, default)"
    image = doc.image.copy()
    shown = compute(qtbot, page)
    want = gradcam(Network.load(TRAINED), image)
    assert LABELS[want["class"]] == "cross" and shown["class"] == want["class"]
    check_shown(page, want)
    # another class, at another layer
    choose(page.class_box, "ring (1)")
    choose(page.layer_box, "pool2 (8×8×32)")
    shown = compute(qtbot, page)
    want = gradcam(Network.load(TRAINED), image, 1, "pool2")
    assert (shown["class"], shown["layer"]) == (1, "pool2")
    check_shown(page, want)
    # the third picture: guided backprop, or guided Grad-CAM once ticked
    np.testing.assert_allclose(page.third.image, gradient_picture(want["guided"]), atol=1e-6)
    assert page.third_title.text == "guided backprop"
    QTest.mouseClick(page.guided, Qt.MouseButton.LeftButton)
    assert page.guided.isChecked()
    np.testing.assert_allclose(page.third.image, gradient_picture(want["guided_gradcam"]),
                               atol=1e-6)
    assert page.third_title.text == "guided Grad-CAM"


def test_gradcam_opacity_colours_and_an_edit_since(app, qtbot):
    window, understand = app
    doc = trained_on(window, "ring")
    page = open_gradcam_page(understand)
    compute(qtbot, page)
    page.opacity.setValue(30)
    assert page.heat.opacity() == pytest.approx(0.3)
    before = page.heat.lut.copy()
    choose(page.colours, "viridis")
    assert not np.array_equal(page.heat.lut, before)
    assert page.heat.lut[0, 3] == 0 and page.heat.lut[-1, 3] == 255  # fades out towards 0
    assert not page.info.text().endswith(OUTDATED)
    doc.undo_stack.push(SetValue(doc, "layers[0]", "filters", 8))  # an edit since
    settle()
    assert page.info.text().endswith(OUTDATED)
    assert page.layer_box.currentText() == "relu3 (8×8×64, default)"  # still offered


def test_gradcam_is_refused_in_one_line_without_spatial_maps(app):
    window, understand = app
    load(window, network([{"type": "flatten", "name": "flat"},
                          {"type": "fc", "name": "fc", "units": 3}]))
    page = open_gradcam_page(understand)
    settle()
    assert not page.compute_button.isEnabled()
    assert page.info.text() == ("Grad-CAM: no layer before the scores has spatial maps: "
                                "Grad-CAM needs one (a conv's output, say)")
    assert page.layer_box.count() == 0


def test_more_classes_than_a_list_holds_offers_the_top_class_only(app):
    """A legal network with 2³² outputs (16 maps of 16384×16384, flattened): the class combo
    offers the top class alone and says why, instead of making four billion names."""
    window, understand = app
    load(window, network([{"type": "conv", "name": "conv", "filters": 16, "kernel": 1},
                          {"type": "flatten", "name": "flat"}], size=16384))
    page = open_gradcam_page(understand)
    settle()
    assert [page.class_box.itemText(i) for i in range(page.class_box.count())] == \
        ["the top class"]
    assert page.info.text() == ("flat has 4,294,967,296 classes, too many to list: Grad-CAM "
                                "of the top one.")
    assert page.layer_box.currentText() == "conv (16384×16384×16, default)"
