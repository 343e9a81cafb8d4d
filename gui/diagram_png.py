"""The architecture diagram as a PNG: core/interop/diagram.py's SVG, rendered by Qt."""

from __future__ import annotations

import os
import sys

from convscope.core import ConvScopeError
from convscope.core.fileio import atomic_write_bytes
from convscope.core.interop import diagram

# A QImage this large is still a few hundred MB; beyond it the scale is lowered.
MAX_SIDE = 16384
MAX_PIXELS = 64 << 20


def _gui_application():
    """Qt needs a QGuiApplication to lay out text; make one (offscreen if there is no
    screen) when the command line asks for a PNG without the app running."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(sys.argv[:1])
    return app


def render_image(net, scale: float = 2.0):
    """The diagram as a QImage, ``scale`` pixels per SVG unit (lowered for huge networks)."""
    _gui_application()
    from PySide6.QtCore import QByteArray, QRectF
    from PySide6.QtGui import QColor, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(diagram.to_svg(net).encode("utf-8")))
    if not renderer.isValid():
        raise ConvScopeError("the diagram could not be drawn")
    size = renderer.defaultSize()
    w, h = size.width(), size.height()
    scale = min(scale, MAX_SIDE / w, MAX_SIDE / h, (MAX_PIXELS / (w * h)) ** 0.5)
    image = QImage(max(1, round(w * scale)), max(1, round(h * scale)),
                   QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    return image


def export(net, out_path, scale: float = 2.0) -> None:
    """Write the diagram of ``net`` as a PNG file, atomically."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    image = render_image(net, scale)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise ConvScopeError("cannot encode the PNG", source=str(out_path))
    buffer.close()
    atomic_write_bytes(out_path, bytes(data))
