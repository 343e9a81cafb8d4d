"""The summary table's Ops column: hidden at first, shown and hidden again from the
header's right-click menu, remembered between runs, and never pushing the figures out of
view."""

from __future__ import annotations

import pytest
from convscope.core import Network
from convscope.core.presets import preset_path
from convscope.gui import app
from convscope.gui.document import Document
from convscope.gui.summarytable import COLUMNS, SummaryTable
from gui_helpers import cell_tooltip
from PySide6.QtCore import QPoint, QSize
from PySide6.QtWidgets import QMenu

OPS = COLUMNS.index("Ops")


def alexnet_table(qtbot) -> SummaryTable:
    doc = Document()
    doc.replace_network(Network.load(preset_path("alexnet")), None)
    table = SummaryTable(doc)
    qtbot.addWidget(table)
    table.resize(1400, 600)
    return table


def menu_action(qtbot, table, title):
    """Right-click the header as a person would; the menu's entry for ``title``."""
    header = table.horizontalHeader()
    header.customContextMenuRequested.emit(QPoint(10, 5))
    menu = table.findChild(QMenu, "summaryColumnsMenu")
    assert menu is not None
    action = next(a for a in menu.actions() if a.text() == title)
    menu.close()
    return action


def test_the_ops_column_is_hidden_at_first_and_the_menu_shows_it(qtbot, isolated):
    table = alexnet_table(qtbot)
    assert table.isColumnHidden(OPS)
    action = menu_action(qtbot, table, "Ops")
    assert action.isCheckable() and not action.isChecked()
    action.trigger()  # check it: the column shows, wide enough to read
    assert not table.isColumnHidden(OPS)
    assert table.columnWidth(OPS) > table.fontMetrics().horizontalAdvance("560K cmp")
    model = table.model()
    pool1 = model.index(model.row_of("pool1"), OPS)
    assert model.data(pool1) == "560K cmp"
    tip = cell_tooltip(table, pool1)  # hovering over the cell
    assert tip.startswith("Beside the MACs:\n559,872 comparisons\n")
    norm1 = cell_tooltip(table, model.index(model.row_of("norm1"), OPS))
    assert "345,546 additions" in norm1 and "139,968 exponentials" in norm1
    assert model.tooltip(model.index(0, OPS)) == ""  # the input row has none
    # the Layer column cannot be hidden: rows would have no label
    assert not menu_action(qtbot, table, "Layer").isEnabled()


def test_the_choice_is_remembered(qtbot, isolated):
    first = alexnet_table(qtbot)
    menu_action(qtbot, first, "Ops").trigger()
    menu_action(qtbot, first, "Memory").trigger()  # uncheck a shown one: hidden
    assert first.isColumnHidden(COLUMNS.index("Memory"))
    second = alexnet_table(qtbot)
    assert not second.isColumnHidden(OPS)
    assert second.isColumnHidden(COLUMNS.index("Memory"))
    menu_action(qtbot, second, "Ops").trigger()  # and hidden again
    menu_action(qtbot, second, "Memory").trigger()
    third = alexnet_table(qtbot)
    assert [c for n, c in enumerate(COLUMNS) if third.isColumnHidden(n)] == ["Ops"]


@pytest.mark.parametrize("size", [QSize(1600, 1000), QSize(1280, 800)])
def test_shown_ops_keeps_the_figures_in_view_for_resnet18(qtbot, isolated, size):
    window = app.create_window(parts=False, restore_layout=False, autosave=False)
    qtbot.addWidget(window)
    window.set_size(size)
    window.add_parts()
    window.open_path(str(preset_path("resnet18")), quiet=True)
    assert not window.render_screenshot(size).isNull()  # laid out as the screen shows it
    table = window.table
    table.show_column("Ops")
    header = table.horizontalHeader()
    right = table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0
    model, fm = table.model(), table.fontMetrics()
    for name in ("Output", "Params", "MACs", "Ops", "RF", "Status"):
        n = COLUMNS.index(name)
        assert header.sectionViewportPosition(n) >= 0, name
        assert header.sectionViewportPosition(n) + header.sectionSize(n) <= right + 1, name
        if name != "Ops":  # the figures read whole; Ops gives up room as the formulas do
            widest = max(fm.horizontalAdvance(model.rows[r][n])
                         for r in range(model.rowCount() - 1))
            assert header.sectionSize(n) >= widest + 4, name
