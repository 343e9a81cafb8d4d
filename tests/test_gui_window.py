"""The window on the user's screen: it fits the screen's free area (a 1280×1024 screen must
not cut it off), remembers its size between runs, and its summary table keeps every shown
column in view."""

import pytest
from convscope.core.presets import preset_path
from convscope.gui import app, settings
from convscope.gui.summarytable import COLUMNS
from gui_helpers import cell_tooltip
from PySide6.QtCore import QRect, QSize


@pytest.fixture
def start(start_app):
    """Start the window as ``convscope FILE`` does (saved layout restored, parts in)."""
    return start_app


def inside_screen(window) -> bool:
    return window.screen().availableGeometry().contains(window.frameGeometry())


def test_the_window_fits_the_screens_free_area(start):
    window = start()
    room = window.screen().availableGeometry()
    assert room.width() < 1600  # the offscreen screen is smaller than the old fixed size
    assert inside_screen(window), (window.frameGeometry(), room)
    assert window.width() >= room.width() * 0.85  # and uses most of it


def test_the_window_remembers_its_size_and_never_comes_back_bigger_than_the_screen(start):
    first = start()
    first.resize(700, 560)
    first.close()
    second = start()
    assert second.size() == QSize(700, 560)
    second.close()
    # a size saved on a bigger screen (or a screen since unplugged) is brought back inside
    stored = settings.settings()
    second.setGeometry(QRect(400, 300, 2400, 1500))
    stored.setValue("window/geometry", second.saveGeometry())
    stored.sync()
    third = start()
    assert inside_screen(third), (third.frameGeometry(), third.screen().availableGeometry())


def shown_columns(table) -> list[str]:
    """The columns not hidden (a person can hide some: right-click the header)."""
    return [title for n, title in enumerate(COLUMNS) if not table.isColumnHidden(n)]


def visible_columns(table) -> list[str]:
    """The shown columns wholly inside the table's viewport, as the user sees it."""
    header, right = table.horizontalHeader(), table.viewport().width()
    return [title for n, title in enumerate(COLUMNS)
            if not table.isColumnHidden(n) and header.sectionViewportPosition(n) >= 0
            and header.sectionViewportPosition(n) + header.sectionSize(n) <= right + 1]


@pytest.mark.parametrize("size", [QSize(1600, 1000), QSize(1280, 800)])
def test_every_shown_summary_column_is_in_view_for_resnet18(qtbot, isolated, size):
    """As ``convscope resnet18.json --screenshot`` renders it, at two window sizes."""
    window = app.create_window(parts=False, restore_layout=False, autosave=False)
    qtbot.addWidget(window)
    window.set_size(size)
    window.add_parts()
    window.open_path(str(preset_path("resnet18")), quiet=True)
    assert not window.render_screenshot(size).isNull()
    table = window.table
    assert window.size() == size
    assert table.horizontalScrollBar().maximum() == 0
    assert visible_columns(table) == shown_columns(table)
    # and the figures that matter are not cut: the status and RF of every row read whole
    fm, header = table.fontMetrics(), table.horizontalHeader()
    model = table.model()
    for name in ("RF", "Status", "Output", "Params", "MACs"):
        column = COLUMNS.index(name)
        widest = max(fm.horizontalAdvance(str(model.rows[r][column]))
                     for r in range(model.rowCount() - 1))
        assert header.sectionSize(column) >= widest + 4, name
    # a narrowed formula reads whole in its cell's tooltip
    index = model.index(model.row_of("layer1_0_conv1"), COLUMNS.index("Weights"))
    assert cell_tooltip(table, index).startswith("Weights: (3*3*64)*64 = 36,864\n")
