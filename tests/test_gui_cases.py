"""The Case studies panel, driven as a person would: open a preset from the Presets menu,
show the panel from the Understand menu, read the card; edit the network and read it again.
The numbers shown are checked against hand-worked figures and core's analysis."""

from __future__ import annotations

import pytest
from convscope.core import Network
from convscope.core.presets import preset_path
from convscope.gui.commands import SetValue

pytestmark = pytest.mark.usefixtures("dialogs")

WAIT = 60_000  # ms: generous, the machine may be busy


def open_preset(qtbot, window, panel, name):
    """Choose the preset in the Presets menu, as a person would, and wait for the card."""
    action = next(a for a in window.menu("Presets").actions()
                  if a.data() == str(preset_path(name)))
    with qtbot.waitSignal(panel.shown, timeout=WAIT):
        action.trigger()


def test_the_menu_shows_the_card_of_the_open_vgg16(qtbot, app):
    window, understand = app
    titles = [a.text().replace("&", "") for a in window.menu("Understand").actions()]
    assert "Case Studies" in titles
    understand.actions["cases"].trigger()
    assert understand.docks["cases"].isVisible()
    panel = understand.cases
    open_preset(qtbot, window, panel, "vgg16")
    text = panel.plain_text()
    report = Network.load(preset_path("vgg16")).analyze()
    t = report.totals()
    assert "VGGNet: the notes' case study" in text
    assert f"{t['params']:,}" in text and f"{t['macs']:,}" in text
    assert "15,237,608" in text and t["activations"] == 15_237_608
    # the notes' quote and its gloss, then the reason worked out
    assert "TOTAL memory: 24M * 4 bytes ~= 93MB / image" in text
    assert "使用了更多的内存和参数(1.4亿)" in text
    assert "they add up to 15,237,608" in text and "8,762,392 more" in text
    assert "7·7·512·4096 = 102,760,448 weights" in text
    assert text.count("✓ agrees") == 5 and text.count("✗ differs") == 1


def test_googlenet_and_the_two_tower_alexnet(qtbot, app):
    window, understand = app
    understand.actions["cases"].trigger()  # behind another tab it would not follow
    panel = understand.cases
    open_preset(qtbot, window, panel, "googlenet")
    text = panel.plain_text()
    # 9,472 + 4,160 + 110,784 = 124,416; 1024·1000 + 1000 = 1,025,000
    assert "6,998,552 = 124,416 in the 3 stem convs" in text
    assert "+ 1,025,000 in the one fc (1024×1000 weights + 1000 biases)" in text
    open_preset(qtbot, window, panel, "alexnet_two_tower")
    text = panel.plain_text()
    assert "Measured on AlexNet (two towers)" in text
    # 34,944 + 307,456 + 885,120 + 663,936 + 442,624 + 37,752,832 + 16,781,312 + 4,097,000
    assert "60,965,224 (61.0M)" in text


def test_the_card_follows_an_edit_and_leaves_other_networks(qtbot, app):
    window, understand = app
    understand.actions["cases"].trigger()  # behind another tab it would not follow
    panel = understand.cases
    open_preset(qtbot, window, panel, "vgg16")
    doc = window.document
    fc6 = doc.report.by_name("fc6")
    with qtbot.waitSignal(panel.shown, timeout=WAIT):  # fc6 4096 → 1024 units
        doc.undo_stack.push(SetValue(doc, fc6.path, "units", 1024))
    # fc6 7·7·512·1024 + 1024 = 25,691,136; fc7 1024·4096 + 4096 = 4,198,400;
    # convs 14,714,688 + fc8 4,097,000: 48,701,224, which no longer rounds to 140M
    assert panel.card.figure("Parameters") == "48,701,224 (48.7M)"
    assert "48,701,224 is 0.35× the claim" in panel.plain_text()
    open_preset(qtbot, window, panel, "shapes_cnn")
    assert panel.card is None
    assert "is not one of the notes' case studies" in panel.plain_text()
