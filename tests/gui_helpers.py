"""Shared helpers for the designer's GUI tests: an isolated window, patched dialogs, and
drag-and-drop sent the way Qt sends it."""

from __future__ import annotations

import pytest
from convscope.core.presets import preset_path
from convscope.gui import recovery
from convscope.gui.activations import Activations
from convscope.gui.document import Document
from convscope.gui.mainwindow import MainWindow
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

BOTH = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction


class Dialogs:
    """Stands in for every modal dialog: records what was asked, answers as told."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        self.answer = QMessageBox.StandardButton.Discard
        self.save_path = ""
        self.open_path = ""

    def question(self, parent, title, text, *args, **kwargs):
        self.calls.append(("question", text))
        return self.answer

    def critical(self, parent, title, text, *args, **kwargs):
        self.calls.append(("critical", text))
        return QMessageBox.StandardButton.Ok

    def information(self, parent, title, text, *args, **kwargs):
        self.calls.append(("information", text))
        return QMessageBox.StandardButton.Ok

    def get_save(self, *args, **kwargs):
        self.calls.append(("save", ""))
        return self.save_path, ""

    def get_open(self, *args, **kwargs):
        self.calls.append(("open", ""))
        return self.open_path, ""

    def of(self, kind):
        return [text for k, text in self.calls if k == kind]


@pytest.fixture
def dialogs(monkeypatch):
    d = Dialogs()
    monkeypatch.setattr(QMessageBox, "question", d.question)
    monkeypatch.setattr(QMessageBox, "critical", d.critical)
    monkeypatch.setattr(QMessageBox, "information", d.information)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", d.get_save)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", d.get_open)
    return d


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """QSettings and the recovery folder in tmp_path, never the user's."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "settings"))
    monkeypatch.setattr(recovery, "recovery_dir", lambda: tmp_path / "recovery")
    yield tmp_path
    # the clipboard is the application's, shared by every test: what a test copied must not
    # reach the next one, nor outlive the app (the offscreen platform's clipboard holding
    # data when the process exits ends it with a segmentation fault)
    QApplication.clipboard().clear()


@pytest.fixture
def make_window(qtbot, isolated, dialogs):
    windows = []

    def make(path=None, parts=False, **options):
        """The designer alone; ``parts=True``: with the live, Understand and interop parts."""
        window = MainWindow(parts=parts, **options)
        qtbot.addWidget(window)
        window.resize(1600, 1000)
        window.show()
        if path is None:
            window.new()
        else:
            assert window.open_path(path)
        windows.append(window)
        return window

    yield make
    for window in windows:  # teardown closes them: no prompt for leftover work
        window.document.undo_stack.setClean()


@pytest.fixture
def start_app(qtbot, isolated, dialogs):
    """Start the window as ``convscope FILE`` does (gui.app.run): the designer with the file
    open and shown, its saved layout restored, then its parts added. ``size``: resized
    before it shows; ``parts=False``: the designer alone."""
    windows = []

    def start(path=None, parts=True, size=None):
        window = MainWindow(parts=False)
        qtbot.addWidget(window)
        if size is not None:
            window.resize(*size)
        window.open_path(str(path or preset_path("lenet5")), quiet=True)
        window.show()
        if parts:
            window.add_parts()
        windows.append(window)
        return window

    yield start
    for window in windows:
        window.document.undo_stack.setClean()
        window.close()


@pytest.fixture
def live(qtbot):
    """The live activation views over an empty document, shown at 900×700."""
    acts = Activations(Document())
    for view in acts.views:
        qtbot.addWidget(view)
        view.resize(900, 700)
        view.show()
    yield acts
    acts.close()


@pytest.fixture
def app(make_window):
    """A window with the Understand panels (no live activations: they are not needed):
    (window, understand)."""
    from convscope.gui.understand import Understand

    window = make_window(restore_layout=False, autosave=False)
    understand = Understand(window.document, opener=window.open_path)
    understand.place_in(window)
    yield window, understand
    understand.close()


@pytest.fixture
def window(make_window):
    """An empty network (input 3×224×224), shown at 1600×1000."""
    return make_window()


def send_drop(view, mime, point: QPoint, modifiers=Qt.KeyboardModifier.NoModifier):
    """Enter, move and drop on the view's viewport, as Qt does for a real drag.
    Returns (move accepted, drop event)."""
    return send_drop_on(view.viewport(), mime, point, modifiers)


def send_drop_on(viewport, mime, point: QPoint, modifiers=Qt.KeyboardModifier.NoModifier):
    """Enter, move and drop on a widget (the events go up to a parent that takes drops)."""
    enter = QDragEnterEvent(point, BOTH, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(viewport, enter)
    move = QDragMoveEvent(point, BOTH, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(viewport, move)
    accepted = move.isAccepted()
    drop = QDropEvent(QPointF(point), BOTH, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(viewport, drop)
    return accepted, drop


def palette_mime(window, kind):
    palette = window.palette
    return palette.mimeData([palette.item_for(kind)])


def between(view, upper: str, lower: str) -> QPoint:
    """The viewport point halfway between two cards (the gap a person aims at)."""
    a, b = view.card(upper).sceneBoundingRect(), view.card(lower).sceneBoundingRect()
    view.ensureVisible(a.united(b), 10, 10)
    return view.mapFromScene(QPointF(a.center().x(), (a.bottom() + b.top()) / 2))


def below(view, name: str, gap: float = 12) -> QPoint:
    """Just below a card, or below a whole block when it is open."""
    frame = view.frames.get(name)
    rect = frame.sceneBoundingRect() if frame is not None else view.card(name).sceneBoundingRect()
    view.ensureVisible(rect, 10, 60)
    return view.mapFromScene(QPointF(rect.center().x(), rect.bottom() + gap))


def drop_type(window, kind, point) -> list[str]:
    """Drop a palette entry at ``point``; returns the names of the layers added."""
    before = window.document.network.layer_names()
    accepted, event = send_drop(window.pipeline, palette_mime(window, kind), point)
    assert accepted and event.isAccepted()
    return sorted(window.document.network.layer_names() - before)


def table_row(window, name) -> dict:
    """The summary table's row for a layer, as column title → shown text."""
    model = window.table.model()
    row = model.row_of(name)
    assert row >= 0, name
    return {model.headerData(c, Qt.Orientation.Horizontal): model.data(model.index(row, c))
            for c in range(model.columnCount())}


class EventCount(QObject):
    """Counts the events of one type (``QEvent.Type``) a widget gets."""

    def __init__(self, widget, kind):
        super().__init__(widget)
        self.kind, self.count = kind, 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == self.kind:
            self.count += 1
        return False


def cell_tooltip(table, index) -> str:
    """The tooltip a person sees hovering over a table cell ("" for none)."""
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    QToolTip.hideText()
    table.scrollTo(index)
    point = table.visualRect(index).center()
    event = QHelpEvent(QEvent.Type.ToolTip, point, table.viewport().mapToGlobal(point))
    QApplication.sendEvent(table.viewport(), event)
    return QToolTip.text() if QToolTip.isVisible() else ""


def totals_row(window) -> dict:
    model = window.table.model()
    row = model.rowCount() - 1
    return {model.headerData(c, Qt.Orientation.Horizontal): model.data(model.index(row, c))
            for c in range(model.columnCount())}
