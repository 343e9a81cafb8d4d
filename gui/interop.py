"""File ▸ Import ONNX… and File ▸ Export: the network to and from the rest of the ecosystem.

The work (reading a model, making weights, writing ONNX) runs on the shared job worker
(gui/jobs.py), never on the GUI thread; the exporters are the command line's own
(the registry ``core.interop.EXPORTS``), so the app and ``convscope export`` write the same
files.
"""

from __future__ import annotations

from pathlib import Path

from convscope.core.interop import EXPORTS, export
from convscope.gui.jobs import JobRunner
from convscope.gui.mainwindow import file_stem
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox


def import_model(path: Path):
    from convscope.core.interop import onnx_import

    return onnx_import.import_model(path)


class Interop:
    """The menu actions over one window."""

    def __init__(self, window, runner: JobRunner | None = None):
        self.window = window
        self.owns_runner = runner is None
        self.runner = runner or JobRunner()
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.actions: dict[str, QAction] = {}

    # ------------------------------------------------------------------ import
    def import_dialog(self) -> None:
        if not self.window.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Import an ONNX model", "",
                                              "ONNX models (*.onnx)")
        if path:
            self.import_path(Path(path))

    def import_path(self, path: Path) -> int:
        if not self._onnx_ready():
            return -1
        self._status(f"Importing {path.name}…")
        return self.runner.submit("import", lambda job: (path, import_model(path)))

    # ------------------------------------------------------------------ export
    def export_dialog(self, suffix: str) -> None:
        filter_text = f"{EXPORTS[suffix].label} (*{suffix})"
        doc = self.window.document
        stem = doc.path.stem if doc.path else file_stem(doc.network.name)
        start = str((doc.path.parent if doc.path else Path.home()) / f"{stem}{suffix}")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export", start, filter_text)
        if path:
            path = Path(path)
            if path.suffix.lower() != suffix:
                path = path.with_name(path.name + suffix)
            self.export_path(path)

    def export_path(self, out: Path) -> int:
        if out.suffix.lower() == ".onnx" and not self._onnx_ready():
            return -1
        net = self.window.document.network.copy()  # the worker never reads the live document
        self._status(f"Exporting {out.name}…")
        return self.runner.submit("export", lambda job: (export(net, out), out))

    # ------------------------------------------------------------------ results
    def _finished(self, kind: str, result) -> None:
        if kind == "import":
            path, network = result
            self.window.document.replace_network(network, None)
            self.window.document.select(network.layers[0].name if network.layers else "")
            self._status(f"Imported {path.name}: {len(network.layers)} layers with their "
                         "weights (Save writes the .json and the .npz)")
        elif kind == "export":
            fmt, out = result
            self._status(f"Exported the {fmt.label} to {out}")

    def _failed(self, kind: str, message: str) -> None:
        if kind in ("import", "export"):
            self._status("")
            title = "Cannot import the model" if kind == "import" else "Cannot export"
            QMessageBox.critical(self.window, title, message)

    def _onnx_ready(self) -> bool:
        from convscope.core.interop import missing_onnx_message, onnx_available

        if onnx_available():
            return True
        QMessageBox.information(self.window, "ONNX support is not installed",
                                missing_onnx_message())
        return False

    def _status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def close(self) -> None:
        if self.owns_runner:
            self.runner.close()


def install(window, runner: JobRunner | None = None) -> Interop:
    """File ▸ Import ONNX… and File ▸ Export ▸ …, placed before Quit; the jobs run on
    ``runner`` (the window's shared one) or on a runner of their own."""
    interop = Interop(window, runner)
    menu = window.menu("File")
    quit_action = next((a for a in menu.actions() if a.text().replace("&", "") == "Quit"), None)
    action = QAction("&Import ONNX Model…", window)
    action.setStatusTip("Read an ONNX model and its weights into a ConvScope network")
    action.triggered.connect(interop.import_dialog)
    menu.insertAction(quit_action, action)
    interop.actions["import"] = action
    export_menu = QMenu("&Export", menu)
    export_menu.setObjectName("exportMenu")
    menu.insertMenu(quit_action, export_menu)
    for suffix, fmt in EXPORTS.items():
        item = export_menu.addAction(f"{fmt.label[0].upper()}{fmt.label[1:]}…")
        item.setStatusTip(f"Write the network as {suffix}")
        item.triggered.connect(lambda checked=False, s=suffix: interop.export_dialog(s))
        interop.actions[suffix] = item
    menu.insertSeparator(quit_action)
    return interop

