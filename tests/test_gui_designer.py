"""The designer window driven as a person would: drops, inspector edits, fixes, undo, files.

Every expected figure here is worked by hand from the notes' rule O = (W − F + 2P)/S + 1.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path

import pytest
from convscope.core import CATEGORIES, REGISTRY, Network
from convscope.core.layers import Block, Shaped, op_dict
from convscope.core.network import iter_layers
from convscope.core.presets import preset_path, preset_paths, preset_title
from convscope.gui import app, editing
from convscope.gui.commands import RenameLayer
from convscope.gui.document import INPUT
from convscope.gui.summarytable import COLUMNS
from gui_helpers import (
    EventCount,
    below,
    between,
    drop_type,
    palette_mime,
    send_drop,
    table_row,
    totals_row,
)
from PySide6.QtCore import QEvent, QMimeData, QObject, QPointF, QSize, Qt, QUrl
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QSizePolicy, QWidget

pytestmark = pytest.mark.usefixtures("dialogs")


def build(window, *kinds) -> list[str]:
    """Drop palette entries one after another at the end of the pipeline."""
    names = []
    for kind in kinds:
        last = names[-1] if names else INPUT
        names += drop_type(window, kind, below(window.pipeline, last))
    return names


# ============================================================================ the palette
def test_the_palette_has_one_name_everywhere(window, dialogs):
    """It was "Palette" on its dock, "Layers panel" in the status bar and the guide, and
    "Layers palette" in the README: now "Layers palette" wherever it is named."""
    palette = window.findChild(QWidget, "layerPalette")  # the object name stays
    dock = window.docks["Palette"]
    assert dock.windowTitle() == "Layers palette"
    assert dock.toggleViewAction().text() == "Layers palette"
    assert palette.accessibleName() == "Layers palette"
    window.new()  # its status message points to the palette
    help_menu = window.menu("Help").actions()
    next(a for a in help_menu if "guide" in a.text().lower()).trigger()
    texts = [window.statusBar().currentMessage(), dialogs.of("information")[-1],
             window.pipeline._hint.text()]
    for text in texts:
        assert "Layers palette" in text, text
        assert "Layers panel" not in text and "Palette" not in text, text
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "Layers palette" in readme and "Layers panel" not in readme


def test_palette_groups_every_layer_with_icon_and_summary(window):
    palette = window.palette
    groups = [palette.topLevelItem(i) for i in range(palette.topLevelItemCount())]
    assert [g.text(0).split(" ")[0] for g in groups] == \
        ["CONV", "POOL", "Activations", "NORM", "FC", "Blocks"]
    assert len(groups) == len(CATEGORIES)
    seen = {}
    for group, category in zip(groups, CATEGORIES):
        for n in range(group.childCount()):
            kind = group.child(n).data(0, Qt.ItemDataRole.UserRole)
            seen[kind] = category
            assert not group.child(n).icon(0).isNull(), kind
            summary = REGISTRY[kind].SUMMARY
            assert html.escape(summary, quote=False) in group.child(n).toolTip(0)
            assert group.child(n).statusTip(0) == summary
    assert seen == {kind: cls.CATEGORY for kind, cls in REGISTRY.items()}


def test_palette_mime_is_the_layers_as_in_a_file(window):
    mime = palette_mime(window, "conv")
    items = json.loads(bytes(mime.data("application/x-convscope-layers")).decode())
    assert items == [{"type": "conv", "filters": 64, "kernel": 3}]  # every key without a default
    blocks = json.loads(bytes(palette_mime(window, "concat").data(
        "application/x-convscope-layers")).decode())
    assert blocks == [{"type": "concat", "branches": [[], []]}]


def test_double_click_in_palette_adds_after_the_selection(window, qtbot):
    build(window, "conv", "fc")
    window.document.select("conv1")
    item = window.palette.item_for("relu")
    window.palette.itemActivated.emit(item, 0)
    assert [layer.TYPE for layer in window.document.network.layers] == ["conv", "relu", "fc"]
    assert window.document.selected == "relu1"


# ============================================================================ dropping
def test_drop_conv_from_palette_shows_card_and_row(window):
    doc, view = window.document, window.pipeline
    assert drop_type(window, "conv", below(view, INPUT)) == ["conv1"]
    # 3×3 conv, 64 filters, no padding on 224×224×3: (224 − 3 + 0)/1 + 1 = 222
    assert view.card("conv1").look.shape == "222x222x64"
    assert view.card("conv1").look.detail.startswith("64 3×3")
    row = table_row(window, "conv1")
    assert row["Output"] == "[222x222x64]"
    assert row["Weights"] == "(3*3*3)*64 = 1,728"
    assert row["Params"] == "1,792"
    assert doc.selected == "conv1"
    assert window.inspector.editors["filters"].value() == 64
    assert not view.indicator_visible()
    # a pool dropped between the input and conv1 goes first, and conv1 follows its shape
    assert drop_type(window, "pool", between(view, INPUT, "conv1")) == ["pool1"]
    assert [layer.name for layer in doc.network.layers] == ["pool1", "conv1"]
    assert view.card("pool1").look.shape == "112x112x3"
    assert view.card("conv1").look.shape == "110x110x64"
    assert table_row(window, "conv1")["Output"] == "[110x110x64]"
    assert doc.undo_stack.undoText() == "Add pool"


def test_drag_move_shows_the_indicator_until_the_drop(window):
    view = window.pipeline
    build(window, "conv")
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent

    point = QPointF(below(view, "conv1"))
    mime = palette_mime(window, "relu")
    for event in (QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime,
                                  Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier),
                  QDragMoveEvent(point.toPoint(), Qt.DropAction.CopyAction, mime,
                                 Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)):
        QApplication.sendEvent(view.viewport(), event)
        assert event.isAccepted()
    assert view.indicator_visible()
    slot = view.slot_at(point)
    assert (slot.container, slot.index) == ("layers", 1)


def test_drop_refuses_what_is_not_layers(window):
    mime = QMimeData()
    mime.setText("hello")
    accepted, event = send_drop(window.pipeline, mime, below(window.pipeline, INPUT))
    assert not accepted
    assert window.document.network.layers == []


# ============================================================================ the inspector
def test_edit_padding_in_inspector_updates_shape_and_totals(window):
    doc, view = window.document, window.pipeline
    build(window, "conv")
    # before: input 224·224·3 = 150,528 + conv 222·222·64 = 3,154,176 → 3,304,704 values
    assert totals_row(window)["Memory"].startswith("3,304,704 = ")
    padding = window.inspector.editors["padding"]
    padding.h.setValue(1)  # linked: height and width together
    assert doc.network.layers[0].values["padding"] == 1
    assert view.card("conv1").look.shape == "224x224x64"
    assert table_row(window, "conv1")["Output"] == "[224x224x64]"
    # after: 150,528 + 224·224·64 = 3,211,264 → 3,361,792 values = 13.45 MB
    assert totals_row(window)["Memory"] == "3,361,792 = 13.45 MB"
    assert "3,361,792 values * 4 bytes = 13.45 MB" in window.summary.totals.text()
    assert doc.undo_stack.undoText() == "Change conv1 padding 0 → 1"
    assert window.undo_action.text() == "&Undo Change conv1 padding 0 → 1"


def test_an_edit_updates_the_inspector_figures_in_place(window):
    build(window, "conv")  # 3×3 conv, 64 filters on 224×224×3
    figures = dict(window.inspector._shown_figures)
    assert figures["params"].text() == "1,792 (1792)"  # 64·3·3·3 + 64
    window.inspector.editors["filters"].setValue(10)
    # 10·3·3·3 + 10 = 280; 222·222·10·27 = 13,306,680 MACs: the same labels, new texts
    assert dict(window.inspector._shown_figures) == figures  # the very labels, not new ones
    assert figures["params"].text() == "280 (280)"
    assert figures["MACs"].text() == "13,306,680 (13M)"
    assert figures["shape"].text() == "224x224x3 → <b>222x222x10</b>"
    window.inspector.editors["kernel"].h.setValue(224)  # now a 1×1 output: figures redone
    assert dict(window.inspector._shown_figures)["shape"].text() == \
        "224x224x3 → <b>1x1x10</b>"


def test_selecting_another_conv_remakes_only_the_section_that_differs(window):
    doc = window.document
    doc.replace_network(Network.from_dict({
        "format": "convscope", "version": 1, "name": "two convs",
        "input": {"channels": 3, "height": 224, "width": 224},
        "layers": [{"type": "conv", "name": "c1", "filters": 8, "kernel": 3, "stride": 2},
                   {"type": "conv", "name": "c2", "filters": 8, "kernel": 3, "padding": 1}]}),
        None)
    inspector = window.inspector
    doc.select("c1")  # (224 − 3)/2 + 1 = 111.5: a warning above the figures
    frames = inspector.findChildren(QWidget, "diagnostic")
    assert len(frames) == 1 and "111.5 is not whole" in frames[0].findChild(QLabel).text()
    figures = dict(inspector._shown_figures)
    assert figures["H and W"].text() == "(224 − 3 + 2·0)/2 + 1 = 111.5"
    doc.select("c2")  # no warning, the same figure rows: the warning goes, the rows stay
    assert not inspector.findChildren(QWidget, "diagnostic")
    assert dict(inspector._shown_figures) == figures  # the very labels, not new ones
    assert figures["H and W"].text() == "(111 − 3 + 2·1)/1 + 1 = 111"
    assert figures["params"].text() == "584 (584)"  # 3·3·8·8 + 8
    doc.select("c1")  # the warning is made again, the figure rows still kept
    assert len(inspector.findChildren(QWidget, "diagnostic")) == 1
    assert dict(inspector._shown_figures) == figures
    assert figures["params"].text() == "224 (224)"  # 3·3·3·8 + 8


def test_an_edit_repaints_only_the_table_rows_it_changes(window):
    build(window, "conv", "relu", "fc")  # rows: input, conv1, relu1, fc1, totals
    model, changed = window.table.model(), []
    model.dataChanged.connect(lambda first, last: changed.append((first.row(), last.row())))
    window.document.select("fc1")
    window.inspector.editors["units"].setValue(20)
    # the fc's own row and the totals change; input, conv and relu keep their text
    assert changed == [(3, 4)]
    assert model.rows[3][COLUMNS.index("Params")] == f"{222 * 222 * 64 * 20 + 20:,}"


def test_the_totals_under_the_table_never_shrink_the_dock_on_an_edit(window):
    totals = window.summary.totals
    build(window, "conv")
    window.docks["Summary"].setFixedWidth(420)  # narrow: the totals' lines wrap
    QApplication.processEvents()
    window.summary.refresh()
    tall = totals.height()
    assert tall >= 4 * totals.fontMetrics().lineSpacing()  # three lines, wrapped to more
    window.docks["Summary"].setMaximumWidth(10_000)
    window.docks["Summary"].setMinimumWidth(0)
    QApplication.processEvents()
    window.inspector.editors["filters"].setValue(1)  # shorter figures: fewer lines needed
    QApplication.processEvents()
    assert totals.minimumHeight() >= tall  # the label (and the dock's edge) stays put


def test_the_pages_of_a_networks_layer_types_are_made_ahead_while_it_is_idle(window, qtbot):
    """After a load settles, each layer type of the network gets its inspector page made
    and put away, one per turn, without changing what shows; the first click on a type
    then shows that page, filled for the layer clicked."""
    doc, inspector = window.document, window.inspector
    doc.replace_network(Network.load(preset_path("resnet18")), preset_path("resnet18"))
    doc.select("conv1")
    shown, editors = inspector.widget(), dict(inspector.editors)
    layer = lambda name: doc.layer(doc.path_of(name))  # noqa: E731
    types = {type(each) for each in iter_layers(doc.network.layers)} - {type(layer("conv1"))}
    qtbot.waitUntil(lambda: types <= set(inspector._pages), timeout=10_000)
    assert inspector.widget() is shown and inspector.editors == editors
    assert editors["name"].text() == "conv1" and editors["filters"].value() == 64
    made = inspector._pages[type(layer("bn1"))][0]
    assert made not in inspector.findChildren(QWidget) and not made.isWindow()
    doc.select("layer2_0_bn1")
    assert inspector.widget() is made
    assert inspector.editors["name"].text() == "layer2_0_bn1"
    assert ">layer2_0_bn1</b>" in inspector._title.text()
    assert "layers[8].body[1]" in inspector._title.text()  # its path, set when shown
    # a batch norm of 128 channels: γ and β, 2·128 = 256 parameters
    assert dict(inspector._shown_figures)["params"].text() == "256 (256)"


def test_a_new_inspector_page_shows_the_problems_the_last_page_showed_too(window):
    """Two layers of different types after the same error: each page says it cannot be
    computed (a new page once skipped problems equal to those of the page it replaced)."""
    doc, inspector = window.document, window.inspector
    doc.replace_network(Network.from_dict({
        "format": "convscope", "version": 1, "name": "blocked",
        "input": {"channels": 3, "height": 8, "width": 8},
        "layers": [{"type": "conv", "name": "big", "filters": 4, "kernel": 11},
                   {"type": "conv", "name": "after", "filters": 4, "kernel": 1},
                   {"type": "relu", "name": "act"}]}), None)
    for name in ("after", "act"):
        doc.select(name)
        says = [label.text() for label in inspector.widget().findChildren(QLabel)]
        assert any("Cannot be computed" in text and "'big'" in text for text in says), name
        assert inspector.widget().findChild(QWidget, "showError").text() == "Show the error (big)"
    # the culprit renamed: the same place, the same problems, but the message names it anew
    doc.undo_stack.push(RenameLayer(doc, doc.path_of("big"), "huge"))
    says = [label.text() for label in inspector.widget().findChildren(QLabel)]
    assert any("Cannot be computed" in text and "'huge'" in text for text in says)
    inspector.widget().findChild(QWidget, "showError").click()
    assert doc.selected == "huge"


def test_selecting_a_layer_of_the_same_type_keeps_the_inspector_page(window):
    """Another conv selected: the same editors show its values and name (the page is not
    made anew); a layer of another type gets its own page, and the conv's is kept."""
    conv1, relu1, conv2 = build(window, "conv", "relu", "conv")  # conv2: 64 filters on 64
    doc, inspector = window.document, window.inspector
    doc.select(conv2)
    inspector.editors["filters"].setValue(10)
    page, editors = inspector.widget(), dict(inspector.editors)
    doc.select(conv1)
    assert inspector.widget() is page and inspector.editors == editors
    assert editors["filters"].value() == 64 and editors["name"].text() == conv1
    assert f">{conv1}</b>" in inspector._title.text()
    # conv1: 64·3·3·3 + 64 = 1,792 parameters; conv2: 10·64·3·3 + 10 = 5,770
    assert dict(inspector._shown_figures)["params"].text() == "1,792 (1792)"
    doc.select(conv2)
    assert editors["filters"].value() == 10
    assert dict(inspector._shown_figures)["params"].text() == "5,770 (5770)"
    editors["filters"].setValue(12)  # the kept editors edit the layer now shown
    assert doc.layer(doc.path_of(conv2)).values["filters"] == 12
    assert doc.layer(doc.path_of(conv1)).values["filters"] == 64
    doc.select(relu1)
    assert inspector.widget() is not page and "filters" not in inspector.editors
    assert page not in inspector.findChildren(QWidget)  # put away, out of the inspector
    doc.select(conv1)  # the conv page, kept while the relu's showed, shows conv1 again
    assert inspector.widget() is page and inspector.editors == editors
    assert editors["filters"].value() == 64 and f">{conv1}</b>" in inspector._title.text()
    assert dict(inspector._shown_figures)["params"].text() == "1,792 (1792)"
    assert not page.isWindow()


def flush_layouts():
    """Deliver every posted layout request (each level of the tree posts the next)."""
    for _ in range(8):
        QApplication.sendPostedEvents()
        QApplication.processEvents()


def test_an_edit_lays_out_its_panels_but_not_the_window(window):
    """A panel's text changing its size hints (the inspector's figures, the totals) must
    not make the window lay out and repaint every dock: only a new minimum size does."""
    build(window, "conv", "relu", "fc")
    window.document.select("conv1")
    flush_layouts()
    requests = EventCount(window, QEvent.Type.LayoutRequest)  # the window laid out again
    docks = {n: d.geometry() for n, d in window.docks.items()}
    figures = dict(window.inspector._shown_figures)
    window.inspector.editors["filters"].setValue(10)
    flush_layouts()
    assert figures["MACs"].text() == "13,306,680 (13M)"  # the texts did change
    assert requests.count == 0
    assert {n: d.geometry() for n, d in window.docks.items()} == docks
    # a panel that needs more room than its dock has: the window makes room
    wide = window.docks["Inspector"].width() + 80
    window.inspector.setMinimumWidth(wide)
    flush_layouts()
    assert requests.count >= 1
    assert window.inspector.width() >= wide


class PaintOrder(QObject):
    """Records, for each Paint the watched widgets get, the widget and whether the other
    watched widgets could paint at that moment."""

    def __init__(self, widgets):
        super().__init__()
        self.widgets, self.seen = widgets, []
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and obj in self.widgets:
            self.seen.append((obj, [w.updatesEnabled() for w in self.widgets]))
        return False


def test_paint_turns_paint_each_widget_in_a_later_turn_in_order(qtbot):
    """The widgets' painting waits, then comes one widget per turn of the event loop: when
    the first paints, the second may not paint yet; their contents change at once."""
    from convscope.gui.lazy import PaintTurns
    from PySide6.QtWidgets import QLabel

    box = QWidget()
    qtbot.addWidget(box)
    first, second = QLabel("one", box), QLabel("two", box)
    second.move(0, 40)
    box.show()
    qtbot.waitExposed(box)
    order = PaintOrder([first, second])
    turns = PaintTurns()
    turns.hold([first, second])
    first.setText("three")
    assert first.text() == "three"
    assert not first.updatesEnabled() and not second.updatesEnabled()
    qtbot.waitUntil(lambda: first.updatesEnabled() and second.updatesEnabled())
    qtbot.waitUntil(lambda: {w for w, _ in order.seen} == {first, second})
    painted = [w for w, _ in order.seen]
    assert painted.index(first) < painted.index(second)
    assert order.seen[painted.index(first)][1] == [True, False]  # the second still held
    # a widget deleted while it waits is skipped, and the rest still come back
    gone, kept = QLabel("gone", box), QLabel("kept", box)
    gone.show(), kept.show()
    turns.hold([gone, kept])
    assert turns.waiting == [gone, kept]
    gone.deleteLater()
    qtbot.waitUntil(kept.updatesEnabled)
    # a hidden widget has nothing to paint: holding it would only take a turn
    hidden = QLabel("hidden", box)
    hidden.hide()
    turns.hold([hidden])
    assert turns.waiting == [] and hidden.updatesEnabled()
    # a widget another hand turned off is left alone
    off = QLabel("off", box)
    off.show()
    off.setUpdatesEnabled(False)
    turns.hold([off])
    assert turns.waiting == []
    qtbot.waitUntil(lambda: not turns.timer.isActive())
    assert not off.updatesEnabled()


def test_opening_a_network_paints_the_pipeline_then_the_table(window, qtbot):
    """A load builds the cards and the table rows at once (nothing reads stale contents),
    while the pipeline and the table paint in later turns, pipeline first, even when the
    load follows another whose turns have not all come (File > New, then a preset)."""
    qtbot.waitExposed(window)
    window.new()
    order = PaintOrder([window.pipeline.viewport(), window.table.viewport()])
    assert window.open_path(str(preset_path("resnet18")))
    assert "layer4_1_conv2" in window.pipeline.cards
    assert table_row(window, "layer4_1_conv2")["Output"].strip() == "[7x7x512]"
    assert not window.pipeline.updatesEnabled() and not window.summary.updatesEnabled()
    qtbot.waitUntil(lambda: window.summary.updatesEnabled())
    qtbot.waitUntil(lambda: len({w for w, _ in order.seen}) == 2)
    painted = [w for w, _ in order.seen]
    assert painted[0] is window.pipeline.viewport()
    assert order.seen[0][1] == [True, False]


def test_selecting_a_layer_paints_the_pipeline_then_the_live_panels(make_window, qtbot):
    """A selection shows the layer's maps at once, but the live panels paint in later
    turns, after the pipeline: one batch of paints held the window 36-68 ms."""
    window = make_window(str(preset_path("lenet5")), parts=True)
    maps = window.activations.feature_maps
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: maps.stack.currentWidget() is maps.graphics
                    and maps.graphics.isVisible(), timeout=20000)
    qtbot.waitUntil(lambda: not window.paint_turns.waiting)
    convs = [i.name for i in window.document.report.layers if i.type == "conv"]
    target = next(name for name in convs if name != window.document.selected)
    order = PaintOrder([window.pipeline.viewport(), maps.graphics.viewport()])
    window.document.select(target)
    assert maps.tensor == target  # the maps are the new layer's at once
    assert not maps.updatesEnabled() and window.pipeline.updatesEnabled()
    qtbot.waitUntil(lambda: len({w for w, _ in order.seen}) == 2)
    painted = [w for w, _ in order.seen]
    assert painted[0] is window.pipeline.viewport()
    assert order.seen[0][1] == [True, False]  # the maps still held while the pipeline paints
    qtbot.waitUntil(lambda: not window.paint_turns.waiting)


def test_typing_into_the_inspector_commits_on_enter(window, qtbot):
    doc = window.document
    build(window, "conv")
    filters = window.inspector.editors["filters"]
    filters.lineEdit().selectAll()
    QTest.keyClicks(filters.lineEdit(), "96")
    assert doc.network.layers[0].values["filters"] == 64  # not per keystroke
    QTest.keyClick(filters.lineEdit(), Qt.Key.Key_Return)
    assert doc.network.layers[0].values["filters"] == 96
    assert doc.undo_stack.count() == 2  # the drop, then one edit
    assert window.pipeline.card("conv1").look.shape == "222x222x96"
    # unlinking the kernel gives an [h, w] pair
    kernel = window.inspector.editors["kernel"]
    kernel.link.setChecked(False)
    kernel.w.setValue(5)
    assert doc.network.layers[0].values["kernel"] == [3, 5]
    assert window.pipeline.card("conv1").look.shape == "222x220x96"


def test_inspector_widgets_follow_the_field_kinds(window):
    build(window, "pool", "dropout", "batchnorm")
    inspector = window.inspector
    window.document.select("pool1")
    mode = inspector.editors["mode"]
    assert [mode.itemText(i) for i in range(mode.count())] == ["max", "avg", "l2"]
    mode.textActivated.emit("avg")
    assert window.document.network.layers[0].values["mode"] == "avg"
    stride = inspector.editors["stride"]
    assert stride.unset.isChecked() and stride.h.value() == 2  # = kernel
    inspector.editors["ceil_mode"].click()
    assert window.document.network.layers[0].values["ceil_mode"] is True
    window.document.select("dropout1")
    rate = inspector.editors["rate"]
    rate.setValue(0.25)
    assert window.document.network.layers[1].values["rate"] == 0.25
    window.document.select("batchnorm1")
    eps = inspector.editors["eps"]
    assert eps.text() == "1e-05"


def test_rename_validates_inline(window):
    build(window, "conv", "relu")
    window.document.select("conv1")
    name = window.inspector.editors["name"]
    name.setText("relu1")
    name.editingFinished.emit()
    error = window.inspector.errors["name"]
    assert not error.isHidden() and "already the name" in error.text()
    assert window.document.network.layers[0].name == "conv1"
    name.setText("input")  # the network input's name, in forward() results and the views
    name.editingFinished.emit()
    assert not error.isHidden() and "the network's input" in error.text()
    assert window.document.network.layers[0].name == "conv1"
    name = window.inspector.editors["name"]
    name.setText("stem")
    name.editingFinished.emit()
    assert window.document.network.layers[0].name == "stem"
    assert window.document.selected == "stem"
    assert window.document.undo_stack.undoText() == "Rename conv1 → stem"


def test_input_editor_changes_the_input(window):
    doc = window.document
    build(window, "conv")
    doc.select(INPUT)
    size = window.inspector.editors["size"]
    size.h.setValue(32)
    assert (doc.network.input.height, doc.network.input.width) == (32, 32)
    assert window.pipeline.card("conv1").look.shape == "30x30x64"
    assert doc.undo_stack.undoText() == "Change input size 224×224 → 32×32"
    window.inspector.editors["channels"].setValue(1)
    assert doc.network.input.channels == 1
    assert table_row(window, "conv1")["Weights"] == "(3*3*1)*64 = 576"
    std = window.inspector.editors["std"]
    std.setText("0.5, 0.5")
    std.editingFinished.emit()
    assert "needs 1 number(s)" in window.inspector.errors["std"].text()
    assert doc.network.input.std is None


# ============================================================================ warnings, fixes
def test_size_that_does_not_divide_warns_and_the_fix_applies(window, qtbot):
    doc, view = window.document, window.pipeline
    build(window, "conv")
    editors = window.inspector.editors
    editors["kernel"].h.setValue(11)
    editors["stride"].h.setValue(4)
    # (224 − 11 + 2·0)/4 + 1 = 54.25: the layer keeps 54, amber, with the arithmetic
    card = view.card("conv1")
    assert card.look.status == "warning"
    assert card.look.shape == "54x54x64"
    assert card.look.note == "⚠ (224 − 11 + 2·0)/4 + 1 = 54.25 → 54"
    row = table_row(window, "conv1")
    assert row["Status"] == "⚠ warning"
    model = window.table.model()
    fill = model.data(model.index(model.row_of("conv1"), 0), Qt.ItemDataRole.BackgroundRole)
    assert fill.name() == "#fff3d1"
    inspector = window.inspector
    messages = [label.text() for label in inspector.findChildren(type(inspector.errors["name"]))]
    assert any("(224 − 11 + 2·0)/4 + 1 = 54.25" in m for m in messages)
    from PySide6.QtWidgets import QPushButton

    buttons = {b.text(): b for b in inspector.findChildren(QPushButton)}
    assert "Set the input to 227×227" in buttons
    qtbot.mouseClick(buttons["Set the input to 227×227"], Qt.MouseButton.LeftButton)
    assert (doc.network.input.height, doc.network.input.width) == (227, 227)
    card = view.card("conv1")
    assert card.look.status == "ok" and card.look.shape == "55x55x64"  # the notes' AlexNet
    assert doc.undo_stack.undoText() == "Fix: set the input to 227×227"
    doc.undo_stack.undo()
    assert view.card("conv1").look.status == "warning"
    assert doc.network.input.height == 224


def test_padding_fix_button(window, qtbot):
    from PySide6.QtWidgets import QPushButton

    build(window, "conv")
    window.inspector.editors["stride"].h.setValue(2)
    # (224 − 3 + 2P)/2 + 1: 221 + 2P is odd, so no padding makes it whole; stride 1 does
    assert window.pipeline.card("conv1").look.note == "⚠ (224 − 3 + 2·0)/2 + 1 = 111.5 → 111"
    buttons = {b.text(): b for b in window.inspector.findChildren(QPushButton)}
    assert "Set padding to 1" not in buttons
    qtbot.mouseClick(buttons["Set stride to 1"], Qt.MouseButton.LeftButton)
    assert window.pipeline.card("conv1").look.shape == "222x222x64"
    # at stride 3, (224 − 3 + 2P)/3 + 1 is whole for P = 2 (→ 76) and P = 5 (→ 78)
    window.inspector.editors["stride"].h.setValue(3)
    assert window.pipeline.card("conv1").look.note == "⚠ (224 − 3 + 2·0)/3 + 1 = 74.67 → 74"
    buttons = {b.text(): b for b in window.inspector.findChildren(QPushButton)}
    assert [t for t in buttons if t.startswith("Set padding")] == ["Set padding to 2",
                                                                  "Set padding to 5"]
    qtbot.mouseClick(buttons["Set padding to 2"], Qt.MouseButton.LeftButton)
    card = window.pipeline.card("conv1").look
    assert (card.status, card.shape) == ("ok", "76x76x64")
    assert window.inspector.editors["padding"].h.value() == 2


# ============================================================================ blocks
def test_residual_whose_sides_differ_is_an_error_and_blocks_what_follows(window, qtbot):
    doc, view = window.document, window.pipeline
    build(window, "residual", "relu")
    assert view.card("residual1").look.shape == "224x224x3"  # body and shortcut: identity
    # a conv dropped into the body: 64 channels against the identity's 3
    names = drop_type(window, "conv", view.side_point("residual1", 0))
    assert names == ["conv1"]
    assert doc.network.layers[0].values["body"][0].name == "conv1"
    card = view.card("residual1")
    assert card.look.status == "error"
    assert card.look.shape == "cannot be computed"
    assert "body gives 222x222x64 but shortcut gives 224x224x3" in card.look.note
    assert table_row(window, "residual1")["Status"] == "✖ error"
    relu = view.card("relu1").look
    assert relu.status == "blocked" and relu.shape == "cannot be computed"
    assert table_row(window, "relu1")["Output"] == "[not computed]"
    assert table_row(window, "conv1")["Layer"].endswith("CONV3-64")
    assert table_row(window, "conv1")["Layer"] != "CONV3-64"  # indented under its block
    # pad the conv so only the channels differ: the inspector offers the 1×1 projection
    doc.select("conv1")
    window.inspector.editors["padding"].h.setValue(1)
    doc.select("residual1")
    from PySide6.QtWidgets import QPushButton

    button = window.inspector.findChild(QPushButton, "addProjection")
    assert button.text() == "Add a 1×1 conv (64 filters, stride 1) to the shortcut"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    shortcut = doc.network.layers[0].values["shortcut"]
    assert [(l.TYPE, l.values["kernel"], l.values["filters"]) for l in shortcut] == \
        [("conv", 1, 64)]
    assert view.card("residual1").look.shape == "224x224x64"
    assert view.card("relu1").look.status == "ok"


def test_drop_inside_a_concat_branch(window):
    doc, view = window.document, window.pipeline
    build(window, "concat")
    names = drop_type(window, "conv", view.side_point("concat1", 1))
    assert names == ["conv1"]
    branches = doc.network.layers[0].values["branches"]
    assert branches[0] == [] and [l.name for l in branches[1]] == ["conv1"]
    # identity 224×224 next to a 222×222 conv: their H and W differ
    assert view.card("concat1").look.status == "error"
    doc.select("conv1")
    window.inspector.editors["padding"].same.click()
    assert doc.network.layers[0].values["branches"][1][0].values["padding"] == "same"
    # 3 + 64 channels stacked
    assert view.card("concat1").look.shape == "224x224x67"
    # a second conv dropped below conv1, in the same branch
    drop_type(window, "relu", below(view, "conv1"))
    assert [l.name for l in doc.network.layers[0].values["branches"][1]] == ["conv1", "relu1"]


def test_move_a_card_between_blocks_and_copy_with_ctrl(window):
    doc, view = window.document, window.pipeline
    build(window, "conv", "residual")
    drop_type(window, "relu", view.side_point("residual1", 0))
    before = doc.network.to_dict()
    # drag conv1 into the residual's shortcut
    accepted, event = send_drop(view, view.drag_mime("conv1"), view.side_point("residual1", 1))
    assert accepted and event.dropAction() == Qt.DropAction.MoveAction
    block = doc.network.layers[0]
    assert block.TYPE == "residual"
    assert [l.name for l in block.values["shortcut"]] == ["conv1"]
    assert doc.undo_stack.undoText() == "Move conv1"
    # move relu1 out of the body to the top, after the block
    send_drop(view, view.drag_mime("relu1"), below(view, "residual1", 40))
    assert [l.name for l in doc.network.layers] == ["residual1", "relu1"]
    assert block.values["body"] == []
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.network.to_dict() == before
    # with Ctrl held, the drop copies (fresh name) and leaves the original
    accepted, event = send_drop(view, view.drag_mime("conv1"), below(view, "residual1", 40),
                                Qt.KeyboardModifier.ControlModifier)
    assert event.dropAction() == Qt.DropAction.CopyAction
    assert [l.name for l in doc.network.layers] == ["conv1", "residual1", "conv2"]


def test_a_block_cannot_be_dropped_into_itself(window):
    doc, view = window.document, window.pipeline
    build(window, "residual")
    before = doc.network.to_dict()
    accepted, _ = send_drop(view, view.drag_mime("residual1"), view.side_point("residual1", 0))
    assert not accepted
    assert doc.network.to_dict() == before


def test_collapse_and_reveal(make_window):
    window = make_window(preset_path("resnet18"))
    view = window.pipeline
    assert "layer1_0_conv1" in view.cards
    view.toggle("layer1_0")
    assert "layer1_0_conv1" not in view.cards
    assert view.card("layer1_0").look.collapsed is True
    window.document.select("layer1_0_conv1")  # e.g. from the table: the block opens
    assert "layer1_0_conv1" in view.cards and view.card("layer1_0_conv1").selected
    view.set_all_collapsed(True)
    assert "layer1_0_conv1" not in view.cards and "layer1_0_relu" in view.cards  # after ⊕


def in_view(view, rect, across_only=False) -> bool:
    """Whether a scene rectangle is wholly inside the pipeline's viewport (or only from
    its left to its right edge: a tall side may go on below)."""
    shown, room = view.mapFromScene(rect).boundingRect(), view.viewport().rect()
    if across_only:
        return room.left() - 1 <= shown.left() and shown.right() <= room.right() + 1
    return room.adjusted(-1, -1, 1, 1).contains(shown)


@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800)])
def test_an_inception_block_opened_by_its_triangle_is_wholly_in_view(make_window, size):
    """GoogLeNet opens with its inception blocks collapsed; clicking a header's triangle
    opens it with the header and all four branches in view (before: a 958 px wide block
    in a narrower view, the header's name and branch 1 cut at the left, branch 4 at the
    right, until View > Fit Width)."""
    window = make_window(preset_path("googlenet"))
    window.set_size(QSize(*size))
    window.add_parts()  # the live panels take their share of the width
    view = window.pipeline
    assert view.card("inception_3a").look.collapsed is True
    card = view.card("inception_3a")
    view.ensureVisible(card, 30, 30)
    toggle = card.mapToScene(card.toggle_rect().center())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(toggle))
    card = view.card("inception_3a")
    assert card.look.collapsed is False
    sides = view.frames["inception_3a"].sides
    assert [side.title for side in sides] == ["branch 1", "branch 2", "branch 3", "branch 4"]
    assert in_view(view, card.sceneBoundingRect())
    for side in sides:
        assert in_view(view, side.rect, across_only=True), side.title


class TextRecorder:
    """Stands in for a QPainter: keeps the text a card draws, as it draws it."""

    def __init__(self):
        self.texts: list[str] = []

    def drawText(self, *args):
        self.texts.append(args[-1])

    def device(self):
        return None

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def test_whatever_a_card_cuts_short_its_tooltip_has_whole(make_window):
    """Inception cards are narrow: names ("…relu_3x3_…"), errors and "after the error at
    …" notes are elided; hovering the card shows each in full."""
    window = make_window(preset_path("googlenet"))
    view = window.pipeline
    expand = next(a for a in window.menu("View").actions() if a.text() == "&Expand All Blocks")
    expand.trigger()
    window.document.select("inception_3a_3x3")
    window.inspector.editors["kernel"].h.setValue(31)  # larger than 28 + 2·1: an error
    assert view.card("inception_3a_3x3").look.status == "error"
    elided = []
    for key, card in view.cards.items():
        painter = TextRecorder()
        card.paint(painter, None)
        for text in painter.texts:
            pieces = [p.strip() for p in text.split("…") if p.strip()]
            if text.count("…") > (1 if text.startswith("…") else 0):  # cut, not "…conv1"
                elided.append((key, text))
                for piece in pieces:
                    assert piece in card.toolTip(), (key, text, card.toolTip())
    kinds = {("name" if text.rstrip("…") in view.card(key).look.name
              else "note" if view.card(key).look.note.startswith(text[:4]) else "detail")
             for key, text in elided}
    assert {"name", "note"} <= kinds, elided


# ============================================================================ editing
def test_copy_paste_cut_duplicate_delete(window):
    doc = window.document
    clipboard = QApplication.clipboard()
    build(window, "conv", "relu")
    doc.select("conv1")
    window.inspector.editors["filters"].setValue(32)
    window.copy_action.trigger()
    items = json.loads(bytes(clipboard.mimeData().data(
        "application/x-convscope-layers")).decode())
    # the spec: conv's kernel has no default, so it is always written
    assert items == [{"type": "conv", "name": "conv1", "filters": 32, "kernel": 3}]
    doc.select("relu1")
    window.paste_action.trigger()
    layers = doc.network.layers
    assert [(l.name, l.TYPE) for l in layers] == [("conv1", "conv"), ("relu1", "relu"),
                                                   ("conv2", "conv")]
    assert layers[2].values["filters"] == 32 and doc.selected == "conv2"
    window.duplicate_action.trigger()
    assert [l.name for l in doc.network.layers] == ["conv1", "relu1", "conv2", "conv3"]
    window.cut_action.trigger()
    assert [l.name for l in doc.network.layers] == ["conv1", "relu1", "conv2"]
    doc.select("conv1")
    window.delete_action.trigger()
    assert [l.name for l in doc.network.layers] == ["relu1", "conv2"]
    assert doc.selected == "relu1"
    window.paste_action.trigger()  # the cut conv3 comes back after relu1
    assert [l.name for l in doc.network.layers] == ["relu1", "conv3", "conv2"]
    # pasting plain JSON text (from a file or a message) works too
    mime = QMimeData()
    mime.setText('{"type": "fc", "units": 10}')
    clipboard.setMimeData(mime)
    window.paste_action.trigger()
    assert doc.network.layers[2].TYPE == "fc" and doc.network.layers[2].values["units"] == 10


def test_pasted_layers_never_take_the_input_name(window):
    """A pasted layer called "input" (or any name a layer cannot take) is named afresh, as
    one whose name is taken is: it must not replace the input in forward()'s results."""
    doc = window.document
    build(window, "conv")
    mime = QMimeData()
    mime.setText(json.dumps([{"type": "relu", "name": "input"}, {
        "type": "residual", "name": "input", "body": [{"type": "tanh", "name": "input"}],
        "shortcut": [{"type": "sigmoid", "name": "bad name"}]}]))
    QApplication.clipboard().setMimeData(mime)
    window.paste_action.trigger()
    assert [(l.name, l.TYPE) for l in doc.network.layers] == [
        ("conv1", "conv"), ("relu1", "relu"), ("residual1", "residual")]
    block = doc.network.layers[2]
    assert [l.name for l in block.values["body"] + block.values["shortcut"]] == \
        ["tanh1", "sigmoid1"]
    assert "input" not in doc.network.layer_names()


def test_keyboard(window, qtbot):
    doc, view = window.document, window.pipeline
    build(window, "conv", "relu", "residual")
    with qtbot.waitActive(window):
        window.activateWindow()
    view.setFocus()
    doc.select("conv1")
    QTest.keyClick(view, Qt.Key.Key_Down)
    assert doc.selected == "relu1"
    QTest.keyClick(view, Qt.Key.Key_Up)
    QTest.keyClick(view, Qt.Key.Key_Up)
    assert doc.selected == INPUT
    QTest.keyClick(view, Qt.Key.Key_Down)
    # Alt+Down: conv1 steps past relu1, then into the residual's body, then out below it
    QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert [l.name for l in doc.network.layers] == ["relu1", "conv1", "residual1"]
    QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert [l.name for l in doc.network.layers[1].values["body"]] == ["conv1"]
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert [l.name for l in doc.network.layers[1].values["shortcut"]] == ["conv1"]
    QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert [l.name for l in doc.network.layers] == ["relu1", "residual1", "conv1"]
    QTest.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert [l.name for l in doc.network.layers] == ["relu1", "residual1", "conv1", "conv2"]
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert [l.name for l in doc.network.layers] == ["relu1", "residual1", "conv1"]
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [l.name for l in doc.network.layers] == ["relu1", "residual1", "conv1", "conv2"]
    # Left collapses a selected block, Right opens it; Enter edits the selection
    doc.select("residual1")
    QTest.keyClick(view, Qt.Key.Key_Left)
    assert view.card("residual1").look.collapsed is True
    QTest.keyClick(view, Qt.Key.Key_Right)
    assert view.card("residual1").look.collapsed is False
    doc.select("conv1")
    QTest.keyClick(view, Qt.Key.Key_Return)
    assert window.inspector.editors["filters"].hasFocus()


def test_wrap_and_branches(window):
    doc = window.document
    build(window, "conv")
    window.wrap_concat_action.trigger()
    block = doc.network.layers[0]
    assert block.TYPE == "concat" and [len(b) for b in block.values["branches"]] == [1, 0]
    assert doc.selected == "conv1"
    assert editing.add_branch(doc)
    assert [len(b) for b in block.values["branches"]] == [1, 0, 0]
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.network.layers[0].TYPE == "conv"


def test_a_block_the_gui_has_never_seen(window, monkeypatch):
    """The pipeline, the inspector and the edits know a block only through the Block
    interface: a new type of block needs nothing in the GUI."""

    class Gate(Block):
        TYPE, TITLE = "gate_test", "Gate"
        LABEL = TABLE_LABEL = "GATE"  # the registry's contract: a type carries its labels
        BLOCK_KEYS = ("gate",)

        def __init__(self, name=None):
            super().__init__(name)
            self.values["gate"] = []

        def slots(self):
            return [("gate", self.values["gate"])]

        def read_slots(self, data, read):
            self.values["gate"] = read(data.get("gate", []), "gate")

        def write_slots(self, out, write):
            out["gate"] = write(self.values["gate"])

        def slot_label(self, slot):
            return "the gate"

        def join_label(self):
            return "×"

        def combine(self, shapes):
            return Shaped(shapes[0])

        def op_counts(self, shape, out):  # the contract: a type counts its own work
            """Passes its slot's output on: nothing."""
            return op_dict()

    monkeypatch.setitem(REGISTRY, Gate.TYPE, Gate)
    doc, view = window.document, window.pipeline
    editing.add_layers(doc, [{"type": "gate_test"}])
    frame = view.frames["gate_test1"]
    assert frame.sign == "×" and [side.title for side in frame.sides] == ["the gate"]
    assert view.card("gate_test1").look.detail == "0 layers"
    assert drop_type(window, "conv", view.side_point("gate_test1", 0)) == ["conv1"]
    assert [layer.name for layer in doc.network.layers[0].values["gate"]] == ["conv1"]
    assert view.card("gate_test1").look.shape == "222x222x64"
    assert doc.network.to_dict()["layers"] == [{"type": "gate_test", "name": "gate_test1",
                                               "gate": [{"type": "conv", "name": "conv1",
                                                         "filters": 64, "kernel": 3}]}]
    # the keyboard: conv1 leaves the block below it, and there is no other side to go to
    doc.select("conv1")
    assert editing.move_target(doc, "layers[0].gate[0]", "right") is None
    assert editing.move_selected(doc, "down")
    assert [layer.name for layer in doc.network.layers] == ["gate_test1", "conv1"]
    assert not editing.add_branch(doc)  # its slots are fixed
    assert not view.grab().isNull()  # the frame paints its sign


# ============================================================================ undo, redo
def test_undo_and_redo_return_identical_documents(window, qtbot):
    doc, view = window.document, window.pipeline
    stack = doc.undo_stack
    snapshots = [doc.network.to_dict()]

    def step(action):
        action()
        snapshots.append(doc.network.to_dict())
        assert stack.count() == len(snapshots) - 1

    step(lambda: drop_type(window, "conv", below(view, INPUT)))
    step(lambda: drop_type(window, "residual", below(view, "conv1")))
    step(lambda: drop_type(window, "conv", view.side_point("residual1", 0)))
    step(lambda: window.inspector.editors["padding"].h.setValue(1))
    step(lambda: window.inspector.editors["name"].setText("body_conv")
         or window.inspector.editors["name"].editingFinished.emit())
    step(lambda: send_drop(view, view.drag_mime("conv1"), view.side_point("residual1", 1)))
    step(lambda: doc.select("body_conv") or window.delete_action.trigger())
    step(lambda: doc.select(INPUT) or window.inspector.editors["size"].h.setValue(227))
    assert len({json.dumps(s, sort_keys=True) for s in snapshots}) == len(snapshots)
    for expected in reversed(snapshots[:-1]):
        stack.undo()
        assert doc.network.to_dict() == expected
    for expected in snapshots[1:]:
        stack.redo()
        assert doc.network.to_dict() == expected
    # the views follow: conv1 sits in the shortcut of a 227×227 input, padded 0
    assert view.card("conv1").look.shape == "225x225x64"


# ============================================================================ files
def test_save_and_reopen_gives_the_same_network_and_figures(make_window, dialogs, tmp_path):
    window = make_window()
    view = window.pipeline
    build(window, "conv", "relu", "pool", "residual")
    drop_type(window, "batchnorm", view.side_point("residual1", 0))
    assert window.isWindowModified()
    dialogs.save_path = str(tmp_path / "mine")  # the suffix is added
    window.save_action.trigger()
    saved = tmp_path / "mine.json"
    assert saved.exists() and not window.isWindowModified()
    assert window.windowTitle() == "mine.json[*] — ConvScope"
    assert window.document.path == saved
    other = make_window(saved)
    assert other.document.network.to_dict() == window.document.network.to_dict()
    assert other.document.report.to_dict() == window.document.report.to_dict()
    assert totals_row(other) == totals_row(window)
    assert other.pipeline.card("batchnorm1").look == window.pipeline.card("batchnorm1").look
    # it is in Open Recent
    other.recent_menu.aboutToShow.emit()
    assert str(saved.resolve()) in [a.data() for a in other.recent_menu.actions()]


def test_broken_file_shows_the_message_and_keeps_the_document(window, dialogs, tmp_path):
    build(window, "conv")
    before = window.document.network.to_dict()
    count = window.document.undo_stack.count()
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "convscope", "version": 1,
                                  "input": {"channels": 3, "height": 32, "width": 32},
                                  "layers": [{"type": "conv", "filters": 8},
                                             {"type": "convv"}]}))
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert not window.open_path(broken)
    [message] = dialogs.of("critical")
    assert message.startswith(f"{broken}: layers[1]: unknown layer type 'convv'")
    assert "\n" not in message
    assert window.document.network.to_dict() == before
    assert window.document.undo_stack.count() == count
    assert window.document.path is None


def test_unsaved_changes_are_asked_about(make_window, dialogs, tmp_path):
    window = make_window()
    build(window, "conv")
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible() and len(dialogs.of("question")) == 1
    assert not window.open_path(preset_path("lenet5"))
    assert window.document.network.layers[0].name == "conv1"
    dialogs.answer = QMessageBox.StandardButton.Save
    dialogs.save_path = str(tmp_path / "kept.json")
    assert window.open_path(preset_path("lenet5"))
    assert Network.load(tmp_path / "kept.json").layers[0].name == "conv1"
    assert window.document.network.name == "LeNet-5"
    drop_type(window, "relu", below(window.pipeline, INPUT))
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert window.close()


def test_presets_menu_holds_every_preset(window, dialogs):
    actions = [a for a in window.menu("Presets").actions() if a.data()]
    assert [a.data() for a in actions] == [str(p) for p in preset_paths()]
    for action, path in zip(actions, preset_paths()):
        name, description = preset_title(path)
        assert action.text() == name and action.toolTip() == description
    actions[1].trigger()
    assert window.document.network.name == "AlexNet"
    assert window.document.path is None  # a preset is a template: Save asks for a name
    assert window.pipeline.card("conv1").look.shape == "55x55x96"
    assert totals_row(window)["Params"] == "62,378,344"


def test_dropping_a_json_file_opens_it(window, tmp_path, qtbot):
    path = tmp_path / "net.json"
    Network.load(preset_path("lenet5")).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    with qtbot.waitSignal(window.document.pathChanged):
        send_drop(window.pipeline, mime, below(window.pipeline, INPUT))
    assert window.document.path == path
    assert window.document.network.name == "LeNet-5"


# ============================================================================ recovery, layout
def test_autosave_and_recovery_after_a_crash(make_window, dialogs, isolated):
    from convscope.gui import recovery

    window = make_window()
    build(window, "conv", "relu")
    assert window.recovery.autosave()
    saved = window.recovery.file
    assert recovery.read(saved).network.to_dict() == window.document.network.to_dict()
    assert recovery.orphans(window.recovery.dir) == []  # its window is still running
    # a crash: the file stays, the lock goes with the process
    window.recovery._lock.unlock()
    window.recovery.timer.stop()
    lost = window.document.network.to_dict()
    dialogs.answer = QMessageBox.StandardButton.Yes
    fresh = make_window()
    assert fresh.offer_recovery()
    assert "did not close properly" in dialogs.of("question")[-1]
    assert fresh.document.network.to_dict() == lost
    assert fresh.document.dirty and fresh.isWindowModified()
    assert not saved.exists()
    assert not fresh.offer_recovery()  # offered once


def test_recovery_file_goes_away_on_save(window, dialogs, tmp_path):
    build(window, "conv")
    assert window.recovery.autosave()
    assert window.recovery.file.exists()
    dialogs.save_path = str(tmp_path / "x.json")
    assert window.save()
    assert not window.recovery.file.exists()


def test_panels_are_docks_and_the_layout_is_remembered(make_window, dialogs):
    from PySide6.QtWidgets import QDockWidget, QLabel

    window = make_window()
    for name in ("layerPalette", "pipelineView", "layerInspector", "summaryTable"):
        assert window.findChild(QWidget, name) is not None, name
    inspector = window.findChild(QDockWidget, "InspectorDock")
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, inspector)
    extra = window.add_panel("Notes", QLabel("hello"), Qt.DockWidgetArea.BottomDockWidgetArea)
    assert extra.objectName() == "NotesDock"
    assert extra.toggleViewAction() in window.menu("View").actions()
    assert window.menu("Network") is window.menu("Network")
    assert window.close()
    again = make_window()
    dock = again.findChild(QDockWidget, "InspectorDock")
    assert again.dockWidgetArea(dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    again.reset_layout()
    assert again.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea


# ============================================================================ big networks
def test_resnet50_edits_update_every_view(make_window):
    window = make_window(preset_path("resnet50"))
    view, doc = window.pipeline, window.document
    # stem 4 + 16 blocks × (residual + 8 body layers + relu) + 4 projections × 2 + gap + fc
    assert len(doc.report.layers) == 4 + 16 * 10 + 4 * 2 + 2 == 174
    view.set_all_collapsed(False)
    assert len(view.cards) == len(doc.report.layers) + 1
    doc.select("layer4_2_conv3")
    window.inspector.editors["filters"].setValue(1024)
    # the body now gives 7x7x1024 against the identity's 7x7x2048
    assert view.card("layer4_2").look.status == "error"
    assert view.card("fc").look.status == "blocked"
    assert table_row(window, "fc")["Output"] == "[not computed]"
    doc.undo_stack.undo()
    assert view.card("fc").look.shape == "1x1x1000"
    assert totals_row(window)["Params"] == "25,557,032"


def test_screenshot_command(isolated, tmp_path):
    from PySide6.QtGui import QImage


    out = tmp_path / "shot.png"
    assert app.screenshot(str(preset_path("alexnet")), str(out)) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1600, 1000)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert app.screenshot(str(bad), str(tmp_path / "no.png")) == 2
    assert not (tmp_path / "no.png").exists()


def test_screenshot_at_another_size(isolated, tmp_path, capsys):
    from convscope.gui.cli import main
    from PySide6.QtGui import QImage

    out = tmp_path / "small.png"
    assert main([str(preset_path("resnet18")), "--screenshot", str(out),
                 "--size", "1280x800"]) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    with pytest.raises(SystemExit) as stop:
        main([str(preset_path("resnet18")), "--screenshot", str(out), "--size", "big"])
    assert stop.value.code == 2
    assert "--size: 'big' is not a window size like 1280x800" in capsys.readouterr().err


def test_recovered_work_keeps_its_loaded_weights(make_window, dialogs, tmp_path):
    import numpy as np
    from convscope.gui import recovery

    net = Network.load(preset_path("lenet5"))
    net.ensure_weights()
    net.weights = {k: np.full_like(v, 0.5) for k, v in net.weights.items()}
    net.save(tmp_path / "lenet.json", with_weights=True)
    window = make_window(tmp_path / "lenet.json")
    window.document.select("c1")
    window.inspector.editors["name"].setText("conv1")
    window.inspector.editors["name"].editingFinished.emit()
    assert window.recovery.autosave()
    found = recovery.read(window.recovery.file)
    assert found.original == tmp_path / "lenet.json"
    assert found.network.layers[0].name == "conv1"
    assert float(found.network.weights["conv1.weight"].ravel()[0]) == 0.5
    assert found.network.weights_file == "lenet.npz"
    window.recovery.weights_file.unlink()  # without them, a save must not invent weights
    assert recovery.read(window.recovery.file).network.weights_file is None
    window.recovery.discard()
    assert not window.recovery.file.exists()


def test_plugged_in_panels_share_areas_as_tabs(make_window, qtbot):
    from PySide6.QtWidgets import QDockWidget, QLabel

    window = make_window()
    right = Qt.DockWidgetArea.RightDockWidgetArea
    maps = window.add_panel("Maps", QLabel("maps"), right)
    kernels = window.add_panel("Kernels", QLabel("kernels"), right)
    steps = window.add_panel("Steps", QLabel("steps"), Qt.DockWidgetArea.BottomDockWidgetArea)
    # a third panel on the right becomes a tab (Qt groups the tabs once events run)
    qtbot.waitUntil(lambda: window.tabifiedDockWidgets(maps) == [kernels])
    assert window.tabifiedDockWidgets(window.docks["Summary"]) == [steps]
    assert window.tabifiedDockWidgets(window.docks["Inspector"]) == []
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, kernels)
    window.reset_layout()
    assert window.dockWidgetArea(kernels) == right
    assert window.findChild(QDockWidget, "KernelsDock") is kernels


def test_qt_calls_keep_references_to_none_and_bools():
    """PySide6 6.12.0 on Python 3.11 drops a reference to None on every void call (and to
    True/False on every bool emit) and aborts a long session; pyproject pins it out. This
    fails if a binding with that bug comes back."""
    import sys

    from PySide6.QtCore import QObject, Signal

    class Source(QObject):
        flag = Signal(bool)

    source = Source()
    source.flag.connect(lambda value: None)
    widget = QWidget()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2_000):
        widget.setVisible(False)
        source.flag.emit(True)
    assert sys.getrefcount(None) >= none_before - 50
    assert sys.getrefcount(True) >= true_before - 50


def test_input_inspector_offers_the_input_fix(window, qtbot):
    from PySide6.QtWidgets import QPushButton

    build(window, "conv")
    window.inspector.editors["kernel"].h.setValue(11)
    window.inspector.editors["stride"].h.setValue(4)
    window.document.select(INPUT)
    button = window.inspector.findChild(QPushButton, "inputFix")
    assert button.text() == "Set the input to 227×227 (makes conv1 whole)"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.inspector.editors["size"].h.value() == 227
    assert window.pipeline.card("conv1").look.shape == "55x55x64"


def test_a_json_file_dropped_on_the_window_opens(window, qtbot, tmp_path):
    from gui_helpers import send_drop_on
    from PySide6.QtCore import QPoint

    path = tmp_path / "vgg.json"
    Network.load(preset_path("vgg16")).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    with qtbot.waitSignal(window.document.pathChanged):  # on the status bar: the window's
        accepted, event = send_drop_on(window.statusBar(), mime, QPoint(5, 5))
    assert accepted and event.isAccepted()
    assert window.document.network.name == "VGG16"


def test_right_click_on_a_card_selects_it_and_offers_the_edits(window, monkeypatch):
    from PySide6.QtGui import QContextMenuEvent

    build(window, "conv", "relu")
    QApplication.clipboard().clear()
    shown = []
    monkeypatch.setattr(window, "_card_menu", lambda position: shown.append(window.card_menu()))
    view = window.pipeline
    point = view.card_point("conv1")
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point, view.mapToGlobal(point))
    QApplication.sendEvent(view.viewport(), event)
    assert window.document.selected == "conv1"
    [menu] = shown
    enabled = [a.text() for a in menu.actions() if a.isEnabled() and a.text()]
    assert enabled == ["Cu&t", "&Copy", "D&uplicate", "&Delete", "Move &Up", "Move Do&wn",
                       "&Wrap in a Residual Block", "Wrap in a &Concat Block"]
    assert not window.paste_action.isEnabled()  # nothing to paste yet
    menu.actions()[4].trigger()  # Delete
    assert [l.name for l in window.document.network.layers] == ["relu1"]


@pytest.mark.parametrize("text, words", [
    ('{"type": "residual", "body": ' * 3000 + "[]" + "}" * 3000, "nested too deeply"),
    (json.dumps(functools.reduce(lambda inner, _: {"type": "residual", "body": [inner]},
                                 range(300), {"type": "relu"})), "nested more than 200"),
    ('{"type": "conv", "filters": 100000000000, "kernel": 3}', "filters 100000000000"),
    ('[{"type": "relu"}, {"type": "conv", "filters": 4, "kernel": "x"}]',
     "clipboard[1]: kernel must be a whole number"),
], ids=["json-3000-deep", "layers-300-deep", "absurd-filters", "bad-kernel"])
def test_unusable_pasted_layers_are_refused_whole_in_one_line(window, capsys, text, words):
    """Edit ▸ Paste of layers a file could not hold: one line on stderr and in the status
    bar naming the clipboard and the problem; nothing inserted, no traceback."""
    doc = window.document
    build(window, "conv")
    mime = QMimeData()
    mime.setText(text)
    QApplication.clipboard().setMimeData(mime)
    window.paste_action.trigger()
    assert [layer.name for layer in doc.network.layers] == ["conv1"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err, err
    assert words in window.statusBar().currentMessage()


def test_a_title_short_of_room_is_cut_with_an_ellipsis_never_bare(qtbot):
    """The feature maps' title at 1600×1000 read "conv1_1 conv · 224x2": cut bare mid-shape.
    Short of room, the title keeps the " · " parts that fit and cuts the next one with an
    ellipsis; the name is never dropped; the tooltip and ``title`` have it all."""
    from convscope.gui.dockpanel import TitleLabel
    from PySide6.QtGui import QFontMetrics

    title = TitleLabel()
    qtbot.addWidget(title)
    title.show()
    full = "<b>conv1_1</b> conv · 224x224x64 · VGG16"
    title.set_title(full)
    bold = title.font()
    bold.setBold(True)
    width = QFontMetrics(bold).horizontalAdvance
    for room, shown in ((width("conv1_1 conv · 224x224x64 · VGG16") + 4, full),
                        (width("conv1_1 conv · 224x224x64") + 4,
                         "<b>conv1_1</b> conv · 224x224x64"),
                        (width("conv1_1 conv · 224x2…") + 1, "<b>conv1_1</b> conv · 224x2…"),
                        (width("conv1_1 conv · ") + 2, "<b>conv1_1</b> conv"),
                        (5, "<b>conv1_1</b> conv")):  # the first part stays, however narrow
        title.resize(room, 20)
        assert title.text() == shown
        assert title.toolTip() == title.title == full
    assert title.sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Ignored


def test_selecting_a_row_out_of_sight_paints_the_table_in_a_later_turn(window, qtbot):
    """Scrolling the table to a far layer repaints it whole: that paint waits a turn (after
    the pipeline, inspector and maps); the row is current at once. A row in sight repaints
    as usual."""
    assert window.open_path(str(preset_path("resnet18")))
    viewport = window.table.viewport()
    qtbot.waitUntil(lambda: window.summary.updatesEnabled() and viewport.updatesEnabled())
    window.document.select("layer4_1_conv2")
    assert window.table.currentIndex().row() == window.table.model().row_of("layer4_1_conv2")
    assert not viewport.updatesEnabled()
    qtbot.waitUntil(viewport.updatesEnabled)
    window.document.select("conv1")  # back to the top: out of sight again
    assert not viewport.updatesEnabled()
    qtbot.waitUntil(viewport.updatesEnabled)
    window.document.select("bn1")  # the next row: in sight
    assert viewport.updatesEnabled()


def test_a_label_set_only_growing_never_shrinks(qtbot):
    """set_text_only_growing: a one-line label's fixed width follows a longer text and keeps
    it for a shorter one; a word-wrapped label's height grows with more lines and stays."""
    from convscope.gui.dockpanel import set_text_only_growing
    from PySide6.QtWidgets import QLabel

    line = QLabel()
    qtbot.addWidget(line)
    set_text_only_growing(line, "68 layers · 11.7M params")
    narrow = line.width()
    set_text_only_growing(line, "68 layers · 11.7M params · 1.81G MACs · 24 MB forward")
    wide = line.width()
    set_text_only_growing(line, "3 layers")
    assert narrow < wide == line.width() == line.minimumWidth() == line.maximumWidth()
    wrapped = QLabel(wordWrap=True)
    qtbot.addWidget(wrapped)
    wrapped.setFixedWidth(120)
    set_text_only_growing(wrapped, "one line")
    low = wrapped.minimumHeight()
    set_text_only_growing(wrapped, "several words that wrap onto more lines than one")
    high = wrapped.minimumHeight()
    set_text_only_growing(wrapped, "one line")
    assert low < high == wrapped.minimumHeight()


def test_a_panel_has_one_screen_watch_for_all_that_follow_it(qtbot):
    """Two Follows and a listener on one panel share one ScreenWatch (one event filter):
    hiding the panel tells every listener once; a Follow's signal while hidden only marks
    it stale, and showing the panel brings it up to date."""
    from convscope.gui.lazy import Follow, ScreenWatch, screen_watch
    from PySide6.QtCore import Signal

    class Source(QObject):
        fired = Signal()

    panel, source, calls, heard = QWidget(), Source(), [], []
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    first = Follow(panel, source.fired, lambda: calls.append("first"), later=False)
    second = Follow(panel, source.fired, lambda: calls.append("second"), later=False)
    watch = screen_watch(panel, heard.append)
    assert first.watch is second.watch is watch
    assert len(panel.findChildren(ScreenWatch)) == 1
    source.fired.emit()
    assert calls == ["first", "second"]
    panel.hide()
    qtbot.waitUntil(lambda: heard == [False])
    source.fired.emit()
    assert calls == ["first", "second"] and first.stale and second.stale
    panel.show()
    qtbot.waitUntil(lambda: calls == ["first", "second", "first", "second"])
    assert heard == [False, True]
