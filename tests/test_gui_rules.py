"""The notes' design rules in the window: accepting a floor in the inspector (and undoing it),
the presets' accepted floors, and Network ▸ New from the notes' pattern."""

from __future__ import annotations

import pytest
from convscope.core.presets import preset_path
from convscope.gui.generator import PatternDialog
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QPushButton

pytestmark = pytest.mark.usefixtures("dialogs")


def button(window, name) -> QPushButton:
    found = window.inspector.findChild(QPushButton, name)
    assert found is not None and not found.isHidden(), name
    return found


def notes(window) -> str:
    return " | ".join(label.text() for label in window.inspector.findChildren(QLabel)
                      if not label.isHidden())


def warnings(window) -> list:
    return [d for d in window.document.report.diagnostics if d.severity == "warning"]


def test_accept_a_floor_in_the_inspector_and_undo_it(make_window, qtbot):
    window = make_window()
    doc = window.document
    doc.insert_layers("layers", 0, [{"type": "conv", "name": "conv1", "filters": 8,
                                     "kernel": 3, "stride": 2}])
    doc.select("conv1")
    (warning,) = warnings(window)  # (224 − 3 + 2·0)/2 + 1 = 111.5
    assert "⚠ 1 warning" in window.figures.text()
    qtbot.mouseClick(button(window, "acceptFloor_0"), Qt.MouseButton.LeftButton)
    assert doc.network.layers[0].get("floor") == "intended"
    assert warnings(window) == [] and "warning" not in window.figures.text()
    assert doc.undo_stack.undoText() == "Change conv1 floor warn → intended"
    shown = notes(window)
    assert "(224 − 3 + 2·0)/2 + 1 = 111.5" in shown and "accepted as intended" in shown
    assert window.pipeline.card("conv1").look.status == "ok"
    doc.undo_stack.undo()
    assert doc.network.layers[0].get("floor") == "warn" and len(warnings(window)) == 1
    assert window.pipeline.card("conv1").look.status == "warning"
    button(window, "acceptFloor_0")  # offered again
    doc.undo_stack.redo()
    assert warnings(window) == []


def test_resnet_opens_clean_and_its_floors_can_warn_again(make_window, qtbot):
    window = make_window(preset_path("resnet18"))
    doc = window.document
    assert warnings(window) == [] and "warning" not in window.figures.text()
    doc.select("conv1")
    assert "(224 − 7 + 2·3)/2 + 1 = 112.5" in notes(window)
    assert "accepted as intended" in notes(window)
    qtbot.mouseClick(button(window, "unacceptFloor_0"), Qt.MouseButton.LeftButton)
    assert [d.layer for d in warnings(window)] == ["conv1"]
    assert "⚠ 1 warning" in window.figures.text()
    doc.undo_stack.undo()
    assert warnings(window) == []


def test_new_from_the_notes_pattern(make_window, qtbot):
    window = make_window()
    action = next(a for a in window.menu("Network").actions() if "Pattern" in a.text()
                  or "Pa&ttern" in a.text())
    action.trigger()
    dialog = window.findChild(PatternDialog)
    assert dialog is not None and dialog.isVisible()
    preview = dialog.findChild(QLabel, "patternPreview")
    # the defaults: N=2, M=3, K=2 at 32×32×3, 16 filters doubling, 128 hidden, 10 classes
    assert preview.text() == "20 layers, 221,082 parameters, 10,028,288 MACs per image"
    dialog.spins["size"].setValue(4)  # cannot be halved 3 times
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and "cannot be halved 3 times" in preview.text()
    dialog.spins["size"].setValue(64)
    dialog.spins["k"].setValue(1)
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    net = window.document.network
    assert net.input.shape == (3, 64, 64) and window.document.path is None
    names = [layer.name for layer in net.layers]
    assert names[-3:] == ["fc1", "relu_fc1", "fc2"] and len(names) == 18
    report = window.document.report
    assert report.by_name("pool3").out == (64, 8, 8)
    assert report.by_name("fc1").params == 8 * 8 * 64 * 128 + 128
    assert window.document.selected == "conv1_1"
