"""Starting the window, and rendering it to a PNG without a screen."""

from __future__ import annotations

import os
import sys


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName("ConvScope")
        app.setApplicationName("ConvScope")
    return app


def collect_garbage_on_the_gui_thread() -> None:
    """Python's cyclic garbage collector runs in whichever thread happens to allocate; if
    that is a worker and the garbage holds Qt objects, Qt crashes. Before any worker
    starts, switch automatic collection off and collect on a GUI-thread timer instead
    (pyqtgraph's GarbageCollector does exactly this)."""
    app = _application()
    if getattr(app, "garbage_collector", None) is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        app.garbage_collector = GarbageCollector(interval=1.0)


def create_window(parts: bool = True, **options):
    """The main window; ``parts=False``: the designer alone (``add_parts`` adds the rest)."""
    from gui.mainwindow import MainWindow

    return MainWindow(parts=parts, **options)


def run(path: str) -> int:
    """The designer comes up first with the file open; the heavier panels (live
    activations, with pyqtgraph) join it right after it is on screen."""
    app = _application()
    window = create_window(parts=False)
    window.open_path(path, quiet=False)
    window.show()
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, window.add_parts)
    QTimer.singleShot(0, window.offer_recovery)
    return app.exec()


def screenshot(path: str, out: str) -> int:
    from core import ConvScopeError, Network

    try:
        Network.load(path)
    except ConvScopeError as err:
        print(f"convscope: {err}", file=sys.stderr)
        return 2
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no screen: render off it
    app = _application()
    window = create_window(restore_layout=False, autosave=False)
    window.open_path(path, quiet=True)
    if window.activations is not None:  # draw the maps with results, not "waiting…"
        window.activations.controller.compute_now()
    image = window.render_screenshot()
    if not image.save(out):
        print(f"convscope: {out}: cannot write the PNG", file=sys.stderr)
        return 2
    window.close()
    app.processEvents()
    return 0
