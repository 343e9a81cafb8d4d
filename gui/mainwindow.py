"""The designer window: palette, pipeline, inspector and summary table around one document,
and the window's other parts, which it builds itself and owns: ``activations`` (the live
maps), ``understand`` (the Understand panels) and ``interop`` (ONNX import and the exports).

Panels are docks (layout remembered between runs); a part adds its own with
``add_panel(name, widget, area)`` and ``menu(title)``; ``document`` is the one Document.
"""

from __future__ import annotations

import sys
from pathlib import Path

from convscope.core import ConvScopeError, Network
from convscope.core.presets import ARCHITECTURES, preset_paths, preset_title
from convscope.core.summary import short
from convscope.gui import editing, recovery
from convscope.gui import settings as app_settings
from convscope.gui.dockpanel import PanelHolder, set_text_only_growing
from convscope.gui.document import INPUT, Document
from convscope.gui.generator import new_from_pattern
from convscope.gui.inspector import LayerInspector
from convscope.gui.layermime import default_item, holds_layers, json_files
from convscope.gui.lazy import PaintTurns
from convscope.gui.palette import LayerPalette
from convscope.gui.pipeline import PipelineView
from convscope.gui.summarytable import SummaryPanel
from PySide6.QtCore import QByteArray, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

DEFAULT_SIZE = QSize(1600, 1000)
PANEL_MIN = QSize(120, 60)
MENUS = ("File", "Edit", "View", "Presets", "Network", "Help")
STATE_VERSION = 1
FILE_FILTER = "ConvScope architecture (*.json);;All files (*)"
DOCK_AREAS = Qt.DockWidgetArea


class MainWindow(QMainWindow):
    def __init__(self, restore_layout: bool = True, autosave: bool = True,
                 recovery_dir: Path | None = None, parts: bool = True):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowNestedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks)
        # the table spans the bottom under the palette; the inspector keeps the full height
        self.setCorner(Qt.Corner.BottomLeftCorner, DOCK_AREAS.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, DOCK_AREAS.RightDockWidgetArea)
        self._squeezed = False
        self.resize(self.sizeHint())
        self.document = Document(self)
        self._menus: dict[str, QMenu] = {}
        self._restored = False
        self._remember_layout = restore_layout
        for title in MENUS:
            self.menu(title)

        self.pipeline = PipelineView(self.document)
        self.setCentralWidget(self.pipeline)
        self.palette = LayerPalette()
        self.inspector = LayerInspector(self.document)
        self.summary = SummaryPanel(self.document)
        self.table = self.summary.table
        self.paint_turns = PaintTurns(self)  # a load paints the pipeline, then the table
        self.docks: dict[str, QDockWidget] = {}
        self._placements: list = []  # (dock, area, tab_with) in the order added
        self.activations = None  # the window's parts (add_parts): closed with the window
        self.understand = None
        self.interop = None
        self._build_actions()
        self.add_panel("Palette", _with_hint(self.palette, PALETTE_HINT),
                       DOCK_AREAS.LeftDockWidgetArea, title=PALETTE_TITLE)
        self.add_panel("Inspector", self.inspector, DOCK_AREAS.RightDockWidgetArea)
        self.add_panel("Summary", self.summary, DOCK_AREAS.BottomDockWidgetArea)
        self._default_sizes()
        self._build_status_bar()
        self._connect()
        if restore_layout:
            self._restore_layout()
        self.recovery = recovery.Recovery(self.document, recovery_dir, parent=self) \
            if autosave else None
        self._update_title()
        self._update_actions()
        self.squeeze_panels(self.size())
        self._chosen_size = self.size()  # what fits the screen; see showEvent
        if parts:
            self.add_parts()

    # ================================================================== its parts
    def add_parts(self) -> None:
        """Build the live activations, the Understand panels and the ONNX/export menu, and
        keep them. ``gui.app.run`` shows the designer first and calls this right after (the
        parts, with pyqtgraph and their worker threads, cost start-up time; hence the imports
        here). A part that fails says so in one line; the designer goes on without it."""
        if self.activations is not None or self.understand is not None:
            return
        from convscope.gui import interop
        from convscope.gui.activations import Activations
        from convscope.gui.app import collect_garbage_on_the_gui_thread
        from convscope.gui.understand import Understand

        collect_garbage_on_the_gui_thread()  # before any worker thread starts
        self.activations = self._part("live activation panels", lambda: Activations(
            self.document, self))
        controller = self.activations.controller if self.activations else None
        if self.activations is not None:  # a selection paints the pipeline, then the panels
            self.document.selecting.connect(
                lambda _: self.paint_turns.hold(self.activations.panels()))
        self.understand = self._part("Understand panels", lambda: Understand(
            self.document, controller, opener=self.open_path))
        runner = self.understand.runner if self.understand else None
        self.interop = self._part("ONNX import and export menus",
                                  lambda: interop.install(self, runner))
        if self._restored:
            self.reapply_layout()
        else:  # the parts' docks split the columns evenly: give them their default room
            self._default_sizes()

    def _part(self, name: str, make):
        try:
            part = make()
            place_in = getattr(part, "place_in", None)
            if place_in is not None:
                place_in(self)
            return part
        except Exception as err:  # an optional part must not stop the designer
            print(f"convscope: the {name} are not loaded: {err}", file=sys.stderr)
            return None

    def parts(self) -> list:
        return [p for p in (self.interop, self.understand, self.activations) if p is not None]

    # ================================================================== where parts go
    def menu(self, title: str) -> QMenu:
        """The top-level menu with this title, created (at the end) if new."""
        if title not in self._menus:
            menu = self.menuBar().addMenu(f"&{title}")
            menu.setObjectName(f"{title.lower()}Menu")
            menu.setToolTipsVisible(True)
            self._menus[title] = menu
        return self._menus[title]

    def add_panel(self, name: str, widget, area=DOCK_AREAS.RightDockWidgetArea,
                  tab_with: str | None = None, title: str | None = None) -> QDockWidget:
        """Add ``widget`` as a dock titled ``title`` (default ``name``; object name
        ``name + "Dock"``), with a toggle in the View menu; its place is remembered with the
        rest of the layout.

        ``tab_with`` puts it in a tab beside that panel. Without it, a panel that joins the
        bottom (which already has one) or a side that already holds two becomes a tab
        there, so the window stays readable at 1600×1000; the first panel stays in front."""
        dock = QDockWidget(title or name, self)
        dock.setObjectName(f"{name}Dock")
        dock.setWidget(PanelHolder(widget))
        self._squeeze(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        if tab_with is None:
            tab_with = self._default_tab(area)
        self._placements.append((dock, area, tab_with))
        self._place(dock, area, tab_with)
        self.docks[name] = dock
        toggle = dock.toggleViewAction()
        toggle.setStatusTip(f"Show or hide the {title or name + ' panel'}")
        self.menu("View").insertAction(self._panels_end, toggle)
        # A panel added to a shown or restored window starts hidden in Qt: show it in its
        # default place; ``reapply_layout`` then puts the ones a saved layout knows back
        # where the user left them (closed ones closed).
        dock.show()
        return dock

    def _default_tab(self, area) -> str | None:
        there = [d for d, a, tab in self._placements if a == area and tab is None]
        if area == DOCK_AREAS.BottomDockWidgetArea and there:
            return _panel_name(there[0])
        if len(there) >= 2:
            return _panel_name(there[-1])
        return None

    def _place(self, dock, area, tab_with) -> None:
        self.addDockWidget(area, dock)
        if tab_with and tab_with in self.docks:
            self.tabifyDockWidget(self.docks[tab_with], dock)
            self.docks[tab_with].raise_()

    def _default_sizes(self) -> None:
        side = [self.docks[n] for n in ("Palette", "Inspector") if n in self.docks]
        # room for the live maps, but on a small screen not at the summary table's expense
        right = min(560, self.width() * 3 // 8) if "Feature maps" in self.docks else 400
        self.resizeDocks(side, [230, right][:len(side)], Qt.Orientation.Horizontal)
        if "Summary" in self.docks:
            self.resizeDocks([self.docks["Summary"]], [300], Qt.Orientation.Vertical)
        if "Palette" in self.docks:  # all of it visible when it shares its column
            self.resizeDocks([self.docks["Palette"]], [self._palette_height()],
                             Qt.Orientation.Vertical)
        if "Feature maps" in self.docks:  # the live maps get most of the right-hand column
            column = self.height() - self.menuBar().sizeHint().height() - 40
            self.resizeDocks([self.docks["Inspector"], self.docks["Feature maps"]],
                             [column * 2 // 5, column * 3 // 5], Qt.Orientation.Vertical)

    def _palette_height(self) -> int:
        tree = self.palette
        rows = sum(1 + tree.topLevelItem(i).childCount()
                   for i in range(tree.topLevelItemCount()))
        hint = self.docks["Palette"].widget().panel.layout().itemAt(1).widget()
        return rows * max(tree.sizeHintForRow(0), 18) + hint.sizeHint().height() + 40

    # ================================================================== actions
    def _action(self, menu: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.menu(menu).addAction(action)
        return action

    def _build_actions(self):
        keys = QKeySequence.StandardKey
        doc = self.document
        self.new_action = self._action("File", "&New", self.new, keys.New,
                                       "Start an empty network")
        self.open_action = self._action("File", "&Open…", self.open_dialog, keys.Open,
                                        "Open an architecture file")
        self.recent_menu = self.menu("File").addMenu("Open &Recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        self.save_action = self._action("File", "&Save", self.save, keys.Save,
                                        "Save the architecture")
        self.save_as_action = self._action("File", "Save &As…", self.save_as, keys.SaveAs,
                                           "Save the architecture under a new name")
        self.menu("File").addSeparator()
        self._action("File", "&Quit", self.close, keys.Quit, "Close ConvScope")

        undo = doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcuts(keys.Undo)
        redo = doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts(keys.Redo)
        self.undo_action, self.redo_action = undo, redo
        edit = self.menu("Edit")
        edit.addAction(undo)
        edit.addAction(redo)
        edit.addSeparator()
        clipboard = QGuiApplication.clipboard
        self.cut_action = self._action("Edit", "Cu&t", lambda: editing.cut_selected(
            doc, clipboard()), keys.Cut, "Cut the selected layer")
        self.copy_action = self._action("Edit", "&Copy", lambda: editing.copy_selected(
            doc, clipboard()), keys.Copy, "Copy the selected layer (as JSON)")
        self.paste_action = self._action("Edit", "&Paste", self.paste, keys.Paste,
                                         "Paste layers after the selected one")
        self.duplicate_action = self._action(
            "Edit", "D&uplicate", lambda: editing.duplicate_selected(doc),
            QKeySequence("Ctrl+D"), "Insert a copy of the selected layer after it")
        self.delete_action = self._action(
            "Edit", "&Delete", lambda: editing.delete_selected(doc),
            [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
            "Delete the selected layer")
        edit.addSeparator()
        self.move_actions = {}
        for direction, text, key, tip in (
                ("up", "Move &Up", "Alt+Up", "Move the layer up (into or out of blocks)"),
                ("down", "Move Do&wn", "Alt+Down", "Move the layer down (into or out of "
                 "blocks)"),
                ("left", "Move to the Side on the &Left", "Alt+Left",
                 "Move the layer to the block's side on the left"),
                ("right", "Move to the Side on the R&ight", "Alt+Right",
                 "Move the layer to the block's side on the right")):
            self.move_actions[direction] = self._action(
                "Edit", text, lambda checked=False, d=direction: editing.move_selected(doc, d),
                QKeySequence(key), tip)
        edit.addSeparator()
        self.wrap_action = self._action("Edit", "&Wrap in a Residual Block",
                                        lambda: editing.wrap_selected(doc, "residual"),
                                        QKeySequence("Ctrl+Shift+R"),
                                        "Put the selected layer inside a residual block's body")
        self.wrap_concat_action = self._action("Edit", "Wrap in a &Concat Block",
                                               lambda: editing.wrap_selected(doc, "concat"),
                                               None, "Put the selected layer in a concat "
                                               "branch, next to an identity branch")
        self.add_branch_action = self._action("Edit", "Add a Concat &Branch",
                                              lambda: editing.add_branch(doc), None,
                                              "Add an (identity) branch to the concat")
        self.remove_branch_action = self._action("Edit", "Remove the Concat Branch",
                                                 lambda: editing.remove_branch(doc), None,
                                                 "Remove the concat branch holding the "
                                                 "selection")

        view = self.menu("View")
        self._panels_end = view.addSeparator()
        self._action("View", "&Expand All Blocks",
                     lambda: self.pipeline.set_all_collapsed(False), None,
                     "Show every block's layers")
        self._action("View", "&Collapse All Blocks",
                     lambda: self.pipeline.set_all_collapsed(True), None,
                     "Show blocks as one card each")
        view.addSeparator()
        self._action("View", "Zoom &In", lambda: self.pipeline.zoom(1.15), keys.ZoomIn,
                     "Make the pipeline bigger (Ctrl+wheel)")
        self._action("View", "Zoom &Out", lambda: self.pipeline.zoom(1 / 1.15), keys.ZoomOut,
                     "Make the pipeline smaller (Ctrl+wheel)")
        self._action("View", "&Fit Width", self.pipeline.fit_width, QKeySequence("Ctrl+9"),
                     "Zoom the pipeline so its widest block fits")
        self._action("View", "&Actual Size", lambda: self.pipeline.zoom(None),
                     QKeySequence("Ctrl+0"), "The pipeline at 100%")
        view.addSeparator()
        self._action("View", "&Reset Layout", self.reset_layout, None,
                     "Put the panels back where they started")

        for path in preset_paths():
            try:
                name, description = preset_title(path)
            except (OSError, ValueError):
                continue
            action = self._action("Presets", name, lambda checked=False, p=path:
                                  self.open_path(p), None, description)
            action.setData(str(path))

        self._action("Network", "Go to the Next &Problem", lambda: editing.next_problem(doc),
                     QKeySequence("F8"), "Select the next layer with a warning or an error")
        self._action("Network", "Edit the &Input", self.edit_input, QKeySequence("Ctrl+I"),
                     "Select the network's input to change its size and channels")
        self._action("Network", "New from the Notes' Pa&ttern…", lambda: new_from_pattern(self))
        self._action("Help", "&Quick Guide", self.show_guide, keys.HelpContents,
                     "How to build a network here")
        self._action("Help", "&About ConvScope", self.show_about, None, "")

    def _build_status_bar(self):
        self.figures = QLabel()
        self.figures.setObjectName("statusFigures")
        self.figures.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.statusBar().addPermanentWidget(self.figures)

    def _connect(self):
        doc = self.document
        doc.changed.connect(self._changed)
        doc.selectionChanged.connect(self._update_actions)
        doc.pathChanged.connect(self._update_title)
        # a new network's cards and table paint in turns, not in one stall with the load
        doc.replacing.connect(lambda: self.paint_turns.hold([self.pipeline, self.summary]))
        doc.undo_stack.cleanChanged.connect(self._update_title)
        self.palette.addRequested.connect(
            lambda kind: editing.add_layers(doc, [default_item(kind)]))
        self.pipeline.editRequested.connect(self.inspector.focus_first_editor)
        self.pipeline.fileDropped.connect(self.open_path)
        self.pipeline.menuRequested.connect(lambda position: self._card_menu(position))
        self.inspector.focusPipeline.connect(self.pipeline.setFocus)
        QGuiApplication.clipboard().dataChanged.connect(self._update_actions)

    # ================================================================== state shown
    def _changed(self):
        self._update_actions()
        report = self.document.report
        t = report.totals()
        errors = sum(d.severity == "error" for d in report.diagnostics)
        warnings = sum(d.severity == "warning" for d in report.diagnostics)
        problems = "  ".join(p for p in (f"✖ {errors} error{'s' * (errors != 1)}" if errors
                                         else "", f"⚠ {warnings} warning"
                                         f"{'s' * (warnings != 1)}" if warnings else "") if p)
        self._show_figures(f"{len(report.layers)} layers · {short(t['params'], 3)} params · "
                           f"{short(t['macs'], 3)} MACs · {_size(t['forward_bytes'])} "
                           f"forward / image  {problems}")

    def _show_figures(self, text: str) -> None:
        """The status bar's figures, in a label whose size only grows: one that may change
        size makes the status bar, and with it the whole window, lay out and repaint again
        on every edit (see gui/dockpanel.py)."""
        set_text_only_growing(self.figures, text)

    def _display_name(self) -> str:
        path = self.document.path
        return path.name if path else self.document.network.name

    def _update_title(self, *args):
        self.setWindowTitle(f"{self._display_name()}[*] — ConvScope")
        self.setWindowModified(self.document.dirty)

    def _update_actions(self, *args):
        doc = self.document
        has_layer = editing.selected_path(doc) is not None
        for action in (self.cut_action, self.copy_action, self.duplicate_action,
                       self.delete_action, self.wrap_action, self.wrap_concat_action,
                       *self.move_actions.values()):
            action.setEnabled(has_layer)
        in_concat = editing.concat_of_selection(doc) is not None
        self.add_branch_action.setEnabled(in_concat)
        self.remove_branch_action.setEnabled(in_concat)
        self.paste_action.setEnabled(
            holds_layers(QGuiApplication.clipboard().mimeData()))

    # ================================================================== files
    def open_path(self, path, quiet: bool = False, ask: bool = True) -> bool:
        """Open an architecture file. A bundled preset opens as a new, unsaved network (so
        Save never overwrites it). ``quiet``: no questions, errors raise ConvScopeError;
        ``ask=False``: the user has already been asked about unsaved changes."""
        if not quiet and ask and not self.maybe_save():
            return False
        try:
            network = Network.load(path)
        except ConvScopeError as err:
            if quiet:
                raise
            self._error("Cannot open the file", str(err))
            return False
        path = Path(path)
        preset = path.resolve().parent == ARCHITECTURES.resolve()
        self.document.replace_network(network, None if preset else path)
        if not preset:
            app_settings.add_recent(path)
        self._select_first()
        self.pipeline.fit_width()  # the last network's zoom says nothing about this one
        self.statusBar().showMessage(f"Opened {path.name}" + (" (a preset: Save asks for a "
                                                              "new name)" if preset else ""), 5000)
        return True

    def _select_first(self):
        layers = self.document.network.layers
        self.document.select(layers[0].name if layers else INPUT)

    def open_dialog(self):
        if not self.maybe_save():
            return
        start = str(self.document.path.parent) if self.document.path else str(ARCHITECTURES)
        path, _ = QFileDialog.getOpenFileName(self, "Open an architecture", start, FILE_FILTER)
        if path:
            self.open_path(path, ask=False)

    def new(self) -> bool:
        if not self.maybe_save():
            return False
        self.document.replace_network(Network(name="untitled"), None)
        self.document.select(INPUT)
        self.statusBar().showMessage("A new network: drag layers from the Layers palette into "
                                     "the pipeline", 8000)
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        start = self.document.path or Path.home() / f"{file_stem(self.document.network.name)}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save the architecture", str(start),
                                              FILE_FILTER)
        if not path:
            return False
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_name(path.name + ".json")
        return self.save_to(path)

    def save_to(self, path) -> bool:
        try:
            self.document.network.save(path)
        except ConvScopeError as err:
            self._error("Cannot save", str(err))
            return False
        self.document.saved_as(Path(path))
        app_settings.add_recent(path)
        if self.recovery:
            self.recovery.discard()
        self.statusBar().showMessage(f"Saved {Path(path).name}", 5000)
        return True

    def maybe_save(self) -> bool:
        """Ask before unsaved work is thrown away. True: go ahead."""
        if not self.document.dirty:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"“{self._display_name()}” has changes that are not saved. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def paste(self) -> None:
        """Edit ▸ Paste: layers that cannot be used are refused whole, in one line (stderr
        and the status bar), nothing inserted."""
        try:
            editing.paste(self.document, QGuiApplication.clipboard())
        except ConvScopeError as err:
            print(f"convscope: not pasted: {err}", file=sys.stderr)
            self.statusBar().showMessage(f"Not pasted: {err}", 10000)

    def _error(self, title: str, message: str) -> None:
        QMessageBox.critical(self, title, message)

    def _fill_recent(self):
        menu = self.recent_menu
        menu.clear()
        files = app_settings.recent_files()
        for file in files:
            action = menu.addAction(Path(file).name)
            action.setToolTip(file)
            action.setStatusTip(file)
            action.setData(file)
            action.triggered.connect(lambda checked=False, f=file: self.open_path(f))
        if files:
            menu.addSeparator()
            menu.addAction("Clear the List", app_settings.clear_recent)
        else:
            menu.addAction("No recent files").setEnabled(False)

    # ================================================================== recovery
    def offer_recovery(self) -> bool:
        """After a crash: offer the newest unsaved work left behind. True if recovered."""
        directory = self.recovery.dir if self.recovery else None
        for file in recovery.orphans(directory):
            try:
                found = recovery.read(file)
            except ConvScopeError as err:
                self._error("Damaged recovery file", recovery.set_aside(file, err))
                continue
            answer = QMessageBox.question(
                self, "Recover unsaved work?",
                f"ConvScope did not close properly last time. Recover the unsaved work on "
                f"{found.describe()}?", QMessageBox.StandardButton.Yes
                | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
            recovery.remove(file)
            if answer != QMessageBox.StandardButton.Yes:
                continue
            self.document.replace_network(found.network, found.original)
            self.document.mark_recovered()
            self._update_title()
            self._select_first()
            if self.recovery:
                self.recovery.autosave()
            return True
        return False

    # ================================================================== layout
    def _restore_layout(self):
        stored = app_settings.settings()
        geometry, state = stored.value("window/geometry"), stored.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
            self.fit_screen()  # saved on a bigger screen, or one no longer there
        if isinstance(state, QByteArray):
            self._restored = self.restoreState(state, STATE_VERSION)

    def reapply_layout(self) -> None:
        """Restore the saved layout again once the parts have added their panels (they come
        after the window is shown, to keep start-up fast), so they return where the user
        left them; panels the saved layout never knew keep their default place."""
        if not self._restored:
            return
        state = app_settings.settings().value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state, STATE_VERSION)

    def save_layout(self):
        stored = app_settings.settings()
        stored.setValue("window/geometry", self.saveGeometry())
        stored.setValue("window/state", self.saveState(STATE_VERSION))
        stored.sync()

    def reset_layout(self):
        """Every panel back where it started (the parts' panels included)."""
        for dock, area, tab_with in self._placements:
            dock.setFloating(False)
            self._place(dock, area, tab_with)
            dock.show()
        for dock, _, tab_with in self._placements:
            if tab_with is None:
                dock.raise_()
        self._default_sizes()

    # ================================================================== window events
    def showEvent(self, event):
        super().showEvent(event)
        # The frame's size is known once shown: fit it in too, unless the window was sized
        # on purpose since (the screenshot, a test)
        if self._chosen_size == self.size():
            self.fit_screen()
        self._chosen_size = None

    def closeEvent(self, event):
        if not self.maybe_save():
            event.ignore()
            return
        if self._remember_layout:
            self.save_layout()
        if self.recovery:
            self.recovery.close()
        for part in self.parts():  # stop their worker threads
            part.close()
        self.activations = self.understand = self.interop = None
        event.accept()

    def dragEnterEvent(self, event):
        if json_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        self.dragEnterEvent(event)

    def dropEvent(self, event):
        files = json_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_path(files[0]))

    def card_menu(self) -> QMenu:
        """What right-clicking a card offers: the Edit menu's layer actions."""
        menu = QMenu(self)
        menu.addActions([self.cut_action, self.copy_action, self.paste_action,
                         self.duplicate_action, self.delete_action])
        menu.addSeparator()
        menu.addActions([self.move_actions["up"], self.move_actions["down"],
                         self.wrap_action, self.wrap_concat_action])
        if editing.concat_of_selection(self.document) is not None:
            menu.addActions([self.add_branch_action, self.remove_branch_action])
        return menu

    def _card_menu(self, position):  # pragma: no cover - a modal popup
        self.card_menu().exec(position)

    # ================================================================== small things
    def edit_input(self):
        self.document.select(INPUT)
        self.inspector.focus_first_editor()

    def show_guide(self):
        QMessageBox.information(self, "Quick guide", GUIDE)

    def show_about(self):
        QMessageBox.about(self, "About ConvScope",
                          "ConvScope: see how a convolutional network works, with the "
                          "arithmetic of Stanford CS231n's notes.")

    def sizeHint(self):
        """1600×1000, or nine tenths of the screen's free area where that is smaller."""
        room = self._available()
        if room.width() >= DEFAULT_SIZE.width() and room.height() >= DEFAULT_SIZE.height():
            return DEFAULT_SIZE
        return DEFAULT_SIZE.boundedTo(room.size() * 0.9)

    def _available(self) -> QRect:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def squeeze_panels(self, size: QSize) -> None:
        """Below 1600×1000, let the panels be squeezed under what their content asks for
        (together they ask for ~1390 px), so the window fits a 1280-wide screen instead of
        running off it; at 1600×1000 and up they keep the room they ask for."""
        squeezed = size.width() < DEFAULT_SIZE.width() or size.height() < DEFAULT_SIZE.height()
        if squeezed != self._squeezed:
            self._squeezed = squeezed
            for dock in self.docks.values():
                self._squeeze(dock.widget().panel)

    def set_size(self, size: QSize) -> None:
        """Resize to ``size``, panels squeezed or not to suit it. Set it before plug-ins
        add their panels: Qt leaves a stale tab bar where panels were tabbed together in
        a hidden window of another size."""
        self.squeeze_panels(size)
        self.resize(size)

    def _squeeze(self, widget) -> None:
        # QSize(0, 0) is "no minimum of its own": the panel's layout decides again
        widget.setMinimumSize(PANEL_MIN if self._squeezed else QSize(0, 0))

    def fit_screen(self) -> None:
        """Shrink and move the window, frame included, into the screen's free area."""
        room = self._available()
        frame = self.frameGeometry()
        extra = frame.size() - self.geometry().size()  # the title bar and borders
        size = self.size().boundedTo(room.size() - extra)
        self.squeeze_panels(size)
        if size != self.size():
            self.resize(size)
        frame = self.frameGeometry()
        x = min(max(frame.left(), room.left()), room.right() + 1 - frame.width())
        y = min(max(frame.top(), room.top()), room.bottom() + 1 - frame.height())
        if (x, y) != (frame.left(), frame.top()):
            self.move(x, y)

    def render_screenshot(self, size: QSize = None):
        """The window as a user sees it at ``size`` (1600×1000), as a QImage (no screen
        needed)."""
        self.set_size(size or DEFAULT_SIZE)
        if not self.isVisible():
            self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
            self.show()
        if not self.document.selected:
            self._select_first()
        if self.document.selected != INPUT:
            problems = editing.problems(self.document)
            if problems:
                self.document.select(problems[0].name)
        for _ in range(3):
            QApplication.processEvents()
        card = self.pipeline.cards.get(self.document.selected)
        self.pipeline.verticalScrollBar().setValue(0)
        if card is not None:
            self.pipeline.ensureVisible(card, 30, 30)
        QApplication.processEvents()
        return self.grab().toImage()


# The palette's one name, wherever the window names it (its dock, the View menu, the guide).
PALETTE_TITLE = "Layers palette"
PALETTE_HINT = "Drag into the pipeline, or double-click to add after the selection."


def _panel_name(dock) -> str:
    """The name a panel was added under (its title may differ: "Layers palette")."""
    return dock.objectName().removesuffix("Dock")


def _with_hint(widget, text: str) -> QWidget:
    """A panel's widget with a short grey explanation under it."""
    holder = QWidget()
    column = QVBoxLayout(holder)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(0)
    column.addWidget(widget, 1)
    hint = QLabel(text)
    hint.setWordWrap(True)
    hint.setContentsMargins(8, 6, 8, 8)
    hint.setStyleSheet("color:#5d6470;")
    column.addWidget(hint)
    return holder


def _size(n: int) -> str:
    """Bytes as a person reads them: 36 KB, 4.2 MB, 112 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n} bytes"


def file_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")
    return stem.lower() or "network"


GUIDE = """Build a network:
• Drag a layer from the Layers palette into the pipeline, between two cards or inside a block's \
side (body, shortcut, branch). Double-click a layer in the palette to add it after the \
selection.
• Drag a card to move it; hold Ctrl to copy it instead.
• Select a card to edit it in the Inspector; Enter starts editing, Esc goes back.
• Delete, Ctrl+D duplicate, Ctrl+C / Ctrl+X / Ctrl+V, Alt+arrows move a layer (into and out \
of blocks), ←/→ collapse and expand a block.
• A size that does not divide shows amber with the arithmetic and fixes; an error is red and \
the layers after it cannot be computed.
• Every change can be undone (Ctrl+Z)."""
