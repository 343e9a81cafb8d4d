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
        behave_in_a_terminal(app)
    return app


# Qt messages that tell a user nothing (the offscreen plugin's "This plugin does not support
# propagateSizeHints()" during --screenshot, say); anything else still reaches stderr.
QT_NOISE = ("This plugin does not support",)


def behave_in_a_terminal(app) -> None:
    """Ctrl+C closes the windows as their close button does and quits; Qt's plugin chatter
    stays off the terminal.

    Python runs a signal handler only between bytecodes, never while Qt waits in C++ for
    events; a no-op timer hands control back to Python a few times a second."""
    import signal

    from PySide6.QtCore import QTimer, qInstallMessageHandler

    def message(kind, context, text):
        if not text.startswith(QT_NOISE):
            print(f"Qt: {text}", file=sys.stderr)

    def interrupted(*_):
        app.closeAllWindows()  # each window stops its workers (and may offer to save)
        if not any(widget.isVisible() for widget in app.topLevelWidgets()):
            app.quit()

    qInstallMessageHandler(message)
    signal.signal(signal.SIGINT, interrupted)
    app.wake_for_signals = QTimer(app)
    app.wake_for_signals.timeout.connect(lambda: None)
    app.wake_for_signals.start(200)


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
    from convscope.gui.mainwindow import MainWindow

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


def screenshot(path: str, out: str, size: tuple[int, int] = (1600, 1000)) -> int:
    from convscope.core import ConvScopeError, Network

    try:
        Network.load(path)
    except ConvScopeError as err:
        print(f"convscope: {err}", file=sys.stderr)
        return 2
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no screen: render off it
    app = _application()
    from PySide6.QtCore import QSize

    window = create_window(parts=False, restore_layout=False, autosave=False)
    window.set_size(QSize(*size))  # before the panels join: see MainWindow.set_size
    window.add_parts()
    window.open_path(path, quiet=True)
    if window.activations is not None:  # draw the maps with results, not "waiting…"
        window.activations.controller.compute_now()
    image = window.render_screenshot(QSize(*size))
    if not image.save(out):
        print(f"convscope: {out}: cannot write the PNG", file=sys.stderr)
        return 2
    window.close()
    app.processEvents()
    return 0
