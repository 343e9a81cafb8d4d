"""Placeholder main window: the bundled example's summary (the designer replaces it)."""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QMainWindow, QPlainTextEdit

from core import Network
from core.summary import render


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        self.resize(1600, 1000)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setFont(QFont("monospace"))
        self.setCentralWidget(self.text)

    def open_path(self, path, quiet=False):
        net = Network.load(path)
        self.setWindowTitle(f"{net.name} — ConvScope")
        self.text.setPlainText(render(net.analyze(), "table"))

    def render_screenshot(self):
        return self.grab().toImage()
