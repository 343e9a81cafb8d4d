"""ConvScope's desktop app and command line (PySide6 + pyqtgraph), a thin view over ``core``."""
