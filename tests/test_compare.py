"""Compare: one 7×7 conv against three stacked 3×3 convs, the notes' argument, by hand; layers
paired by structure (an inserted layer is one gap row), differences with their deltas; the
panel shows both sides in the window's default layout."""

import json

import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.presets import preset_path
from convscope.core.understand.compare import compare, example_7x7_vs_3x3

C = 8  # channels in and out
S = 224


def test_one_7x7_against_three_3x3_by_hand():
    one, three = example_7x7_vs_3x3(channels=C, size=S)
    result = compare(one, three)
    t = result.totals
    # weights: 7·7·C·C = 49C² = 3,136 against 3·(3·3·C·C) = 27C² = 1,728
    assert (t["weights"]["a"], t["weights"]["b"]) == (49 * C * C, 27 * C * C) == (3136, 1728)
    # with biases: 49C² + C against 27C² + 3C
    assert (t["params"]["a"], t["params"]["b"]) == (49 * C * C + C, 27 * C * C + 3 * C)
    # the same 7×7 receptive field: 1 + 6 = 7 against 1 + 2 + 2 + 2 = 7
    assert t["receptive_field"]["a"] == t["receptive_field"]["b"] == (7, 7)
    # MACs: weights × 224·224 output positions
    assert t["macs"]["a"] == 49 * C * C * S * S == 157_351_936
    assert t["macs"]["b"] == 27 * C * C * S * S == 86_704_128
    assert t["weights"]["ratio"] == pytest.approx(27 / 49)
    # activations: the input and one 224×224×C map against the input and three of them
    # (the ReLUs run in place): 2·S²C vs 4·S²C values
    assert t["activations"]["a"] == 2 * S * S * C and t["activations"]["b"] == 4 * S * S * C
    assert t["forward_bytes"]["b"] == 4 * 4 * S * S * C
    assert t["depth"]["a"] == 1 and t["depth"]["b"] == 3
    # a training step keeps each map and its gradient, plus parameters and their gradients:
    # (2·S²C + 1·S²C)·4 + 2·3,144·4 against (4·S²C + 3·S²C)·4 + 2·1,752·4 bytes
    assert t["training_bytes"]["a"] == (3 * S * S * C + 2 * 3144) * 4
    assert t["training_bytes"]["b"] == (7 * S * S * C + 2 * 1752) * 4


def test_rows_line_the_layers_up_side_by_side():
    one, three = example_7x7_vs_3x3(channels=C, size=S)
    rows = compare(one, three).rows
    assert len(rows) == 6  # conv, relu against (conv, relu) × 3
    first = rows[0]
    assert first.a["name"] == "conv1" and first.a["receptive_field"] == (7, 7)
    assert first.b["name"] == "conv1" and first.b["receptive_field"] == (3, 3)
    assert first.a["weights"] == 7 * 7 * C * C and first.b["weights"] == 3 * 3 * C * C
    assert rows[2].a is None and rows[2].b["receptive_field"] == (5, 5)
    assert rows[4].b["output"] == (C, S, S) and rows[4].b["macs"] == 9 * C * C * S * S
    assert rows[1].a["activations"] == 0  # relu in place


def test_a_network_with_an_error_is_named():
    one, _ = example_7x7_vs_3x3(channels=C, size=S)
    broken = Network.from_dict({"format": "convscope", "version": 1, "name": "broken",
                                "input": {"channels": 1, "height": 4, "width": 4},
                                "layers": [{"type": "conv", "filters": 2, "kernel": 7}]})
    with pytest.raises(ConvScopeError, match="'broken' has an error"):
        compare(one, broken)


def vgg16_with(edit):
    """VGG16 as a file holds it, changed by ``edit(layers)``, without its weights."""
    data = json.loads(preset_path("vgg16").read_text())
    data.pop("weights", None)
    edit(data["layers"])
    return Network.from_dict(data)


def insert_conv(layers):
    """One more 3×3 conv of 512 filters right before pool4."""
    at = next(k for k, layer in enumerate(layers) if layer.get("name") == "pool4")
    layers.insert(at, {"type": "conv", "name": "extra", "filters": 512, "kernel": 3,
                       "padding": 1})


def narrower_conv2_1(layers):
    next(layer for layer in layers if layer.get("name") == "conv2_1")["filters"] = 96


def test_an_inserted_layer_is_one_gap_row_and_the_rest_pair_up():
    vgg = Network.load(preset_path("vgg16"), weights=False)
    result = compare(vgg, vgg16_with(insert_conv))
    # VGG16's 38 layers against 39: 39 rows, one of them the gap
    assert len(result.rows) == 39
    gaps = result.gaps
    assert len(gaps) == 1 and gaps[0].a is None and gaps[0].b["name"] == "extra"
    for row in result.rows:  # every other row meets its own counterpart
        if not row.gap:
            assert row.a["name"] == row.b["name"]
    assert [r.a["name"] for r in result.rows if r.a] == [i.name for i in vgg.analyze().layers]
    # before the gap nothing differs; after it the receptive field is 2·jump = 2·8 = 16
    # wider (the extra 3×3 conv sits at jump 8), and nothing else: same shapes, same weights
    at = result.rows.index(gaps[0])
    assert all(not r.diffs for r in result.rows[:at])
    after = result.rows[at + 1:]
    assert all(r.diffs == {"receptive_field": (16, 16)} for r in after)
    assert after[0].a["receptive_field"] == (100, 100)  # pool4: 92 + 1·8
    # the extra conv's own figures: 3·3·512·512 + 512 = 2,359,808 params
    assert gaps[0].b["params"] == 2_359_808
    assert result.totals["params"]["b"] - result.totals["params"]["a"] == 2_359_808


def test_a_changed_filter_count_is_paired_with_its_deltas():
    vgg = Network.load(preset_path("vgg16"), weights=False)
    result = compare(vgg, vgg16_with(narrower_conv2_1))
    assert not result.gaps and len(result.rows) == 38
    row = next(r for r in result.rows if r.a["name"] == "conv2_1")
    # conv2_1: 3·3·64·128 + 128 = 73,856 params against 3·3·64·96 + 96 = 55,392;
    # MACs 112·112·73,728 = 924,844,032 against 112·112·55,296 = 693,633,024
    assert row.diffs["params"] == 55_392 - 73_856 == -18_464
    assert row.diffs["macs"] == 693_633_024 - 924_844_032
    assert row.diffs["output"] == (-32, 0, 0)
    assert row.diffs["describe"] is None  # "128 3×3 p1" against "96 3×3 p1"
    # conv2_2 reads 96 channels instead of 128: 3·3·32·128 = 36,864 fewer weights
    conv2_2 = next(r for r in result.rows if r.a["name"] == "conv2_2")
    assert conv2_2.diffs == {"params": -36_864, "weights": -36_864,
                             "macs": -36_864 * 112 * 112}


def test_a_different_activation_in_the_same_place_pairs_as_changed():
    lenet = Network.load(preset_path("lenet5"), weights=False)
    alexnet = Network.load(preset_path("alexnet"), weights=False)
    rows = compare(lenet, alexnet).rows
    pairs = [(r.a["name"] if r.a else None, r.b["name"] if r.b else None) for r in rows]
    assert pairs[:4] == [("c1", "conv1"), ("c1_tanh", "relu1"), ("s2", "pool1"),
                         (None, "norm1")]
    assert rows[1].diffs["type"] is None
    # AlexNet's conv3..pool5 and drop6 have no LeNet counterpart: gaps on the A side
    assert [b for a, b in pairs if a is None] == [
        "norm1", "norm2", "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5",
        "drop6", "drop7"]


# ============================================================================ the panel
def test_the_panel_pairs_colours_and_shows_both_sides_at_the_default_size(
        start_app, dialogs, tmp_path, qtbot):
    # Qt imported here: the core tests above run where Qt is not installed
    from convscope.gui.understand.compare import DIFFERS, GAP, ONLY, SIDE_COLUMNS
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtWidgets import QApplication

    changed = vgg16_with(lambda layers: (insert_conv(layers), narrower_conv2_1(layers)))
    changed.save(tmp_path / "vgg16_changed.json")
    window = start_app(preset_path("vgg16"), size=(1600, 1000))
    window.understand.actions["compare"].trigger()
    panel = window.understand.compare
    # side A: the current network (VGG16); side B: a file, through "Open a file…"
    dialogs.open_path = str(tmp_path / "vgg16_changed.json")
    combo = panel.side_b
    combo.setCurrentIndex(combo.findData("file"))
    combo.activated.emit(combo.currentIndex())
    assert combo.currentText() == "File: vgg16_changed.json"
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    table = panel.table
    b0 = 1 + len(SIDE_COLUMNS)  # the first B column
    assert table.rowCount() == 39
    rows = {table.item(r, 1).text().split(" (")[0].strip() or table.item(r, b0).text(): r
            for r in range(table.rowCount())}
    # the one gap: A is empty and grey, B (the inserted conv) green
    gap = rows["extra (512 3×3 p1)"]
    assert table.item(gap, 1).text() == "" and table.item(gap, 1).background().color() == GAP
    assert table.item(gap, b0).background().color() == ONLY
    assert sum(1 for r in range(table.rowCount()) if table.item(r, 1).text() == "") == 1
    # conv2_1 128 → 96 filters: B's params 55,392 (−18,464), coloured; A's cell is not
    r = rows["conv2_1"]
    params_b = table.item(r, b0 + 2)
    assert params_b.text() == "55.4K (−18.5K)"
    assert params_b.background().color() == DIFFERS
    assert "55,392 params" in params_b.toolTip() and "A: 73,856" in params_b.toolTip()
    assert table.item(r, b0 + 1).text() == "112x112x96 (C −32)"
    assert table.item(r, 3).background().color() != DIFFERS
    # the same layer unchanged: no colour, no delta
    r = rows["conv1_1"]
    assert table.item(r, b0 + 2).text() == "1792"
    assert table.item(r, b0 + 2).background().color() != DIFFERS
    # both sides in view at 1600×1000: every column inside the table's viewport, nothing
    # to scroll sideways, and the table inside the window
    assert window.understand.docks["compare"].isVisible() and table.isVisible()
    header, width = table.horizontalHeader(), table.viewport().width()
    for c in range(table.columnCount()):
        left = header.sectionViewportPosition(c)
        assert left >= 0 and left + header.sectionSize(c) <= width, \
            table.horizontalHeaderItem(c).text()
    assert table.horizontalScrollBar().maximum() == 0
    corner = table.viewport().mapTo(window, QPoint(width, 0))
    assert 0 < corner.x() <= window.width()
