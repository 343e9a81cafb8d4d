"""Starting the window, and rendering it to a PNG without a screen."""

from __future__ import annotations

import sys


def _application():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(sys.argv[:1])


def run(path: str) -> int:
    app = _application()
    from gui.mainwindow import MainWindow

    window = MainWindow()
    window.open_path(path, quiet=False)
    window.show()
    return app.exec()


def screenshot(path: str, out: str) -> int:
    from core import ConvScopeError, Network

    try:
        Network.load(path)
    except ConvScopeError as err:
        print(f"convscope: {err}", file=sys.stderr)
        return 2
    app = _application()
    from gui.mainwindow import MainWindow

    window = MainWindow()
    window.open_path(path, quiet=True)
    image = window.render_screenshot()
    if not image.save(out):
        print(f"convscope: {out}: cannot write the PNG", file=sys.stderr)
        return 2
    window.close()
    app.processEvents()
    return 0
