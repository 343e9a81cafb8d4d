"""Render the bundled sample images into assets/images/ (photos cannot be downloaded here).

Each image is made to show something a first conv layer reacts to: edges at many
orientations, textures at several frequencies, colour patches, strokes, letters.

    QT_QPA_PLATFORM=offscreen python assets/tools/make_images.py [--out DIR]

NumPy draws the patterns that are formulas (stripes, rings, noise); QPainter draws shapes and
text (antialiased, with the system's fonts). Every image is 256×256 RGB; the app fits it to
the network's input (centre crop, smooth scaling).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QRadialGradient,
)

SIZE = 256
OUT = Path(__file__).resolve().parent.parent / "images"


def array_to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 → an RGB888 QImage that owns a copy of the pixels."""
    h, w, _ = rgb.shape
    data = np.ascontiguousarray(rgb)
    return QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def painter(image: QImage) -> QPainter:
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    return p


def blank(colour="white") -> QImage:
    image = QImage(SIZE, SIZE, QImage.Format.Format_RGB888)
    image.fill(QColor(colour))
    return image


# ----------------------------------------------------------------------------- the images
def shapes() -> QImage:
    """A geometric scene: coloured shapes with straight and curved edges on a gradient."""
    image = blank()
    p = painter(image)
    sky = QLinearGradient(0, 0, 0, SIZE)
    sky.setColorAt(0, QColor(120, 170, 230))
    sky.setColorAt(1, QColor(235, 240, 250))
    p.fillRect(0, 0, SIZE, SIZE, sky)
    p.setPen(QPen(QColor(20, 20, 20), 3))
    p.setBrush(QColor(220, 40, 40))
    p.drawEllipse(QPointF(70, 70), 44, 44)
    p.setBrush(QColor(250, 210, 30))
    p.drawPolygon(QPolygonF([QPointF(180, 20), QPointF(240, 120), QPointF(120, 120)]))
    p.save()
    p.translate(75, 185)
    p.rotate(30)
    p.setBrush(QColor(40, 160, 70))
    p.drawRect(QRectF(-40, -40, 80, 80))
    p.restore()
    # a bar of black and white stripes: the strongest edges in the scene
    for k in range(8):
        p.fillRect(QRectF(140 + 13 * k, 150, 13, 80),
                   QColor(0, 0, 0) if k % 2 else QColor(255, 255, 255))
    # a fan of dark lines at 0°, 45°, 90°, 135° and 180° along the bottom
    p.setPen(QPen(QColor(30, 30, 120), 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    for angle in range(0, 181, 45):
        rad = math.radians(angle)
        p.drawLine(QPointF(192, 250), QPointF(192 + 16 * math.cos(rad), 250 - 16 * math.sin(rad)))
    p.end()
    return image


def textures() -> QImage:
    """A 3×3 sampler: stripes at four orientations, checks, dots, rings, bricks, noise."""
    n = SIZE // 3
    y, x = np.mgrid[0:n, 0:n].astype(float) + 0.5  # pixel centres: no ties at sin = 0
    rng = np.random.default_rng(0)

    def stripes(angle, period):
        t = math.radians(angle)
        return (np.sin(2 * math.pi * (x * math.cos(t) + y * math.sin(t)) / period) > 0) * 1.0

    tiles = [
        stripes(0, 8), stripes(90, 8), stripes(45, 10),
        stripes(135, 6), ((x // 10 + y // 10) % 2) * 1.0,
        (((x % 12 - 6) ** 2 + (y % 12 - 6) ** 2) < 12) * 1.0,
        (np.sin(np.hypot(x - n / 2, y - n / 2) / 2.2) > 0) * 1.0,
        _bricks(x, y), rng.random((n, n)),
    ]
    grey = np.ones((SIZE, SIZE)) * 0.5
    for k, tile in enumerate(tiles):
        r, c = divmod(k, 3)
        grey[r * n:(r + 1) * n, c * n:(c + 1) * n] = tile
    tint = np.array([[1.0, 0.95, 0.85]])  # a warm paper tone, so it is not pure grey
    rgb = (grey[..., None] * 230 + 15) * tint[None]
    return array_to_qimage(rgb.clip(0, 255).astype(np.uint8))


def _bricks(x, y):
    row = (y // 12).astype(int)
    shifted = x + (row % 2) * 12
    mortar = (y % 12 < 2) | (shifted % 24 < 2)
    return np.where(mortar, 0.9, 0.25)


# Macbeth ColorChecker patches (sRGB), the photographer's colour chart.
_CHECKER = [
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177),
    (103, 189, 170), (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108),
    (157, 188, 64), (224, 163, 46), (56, 61, 150), (70, 148, 73), (175, 54, 60),
    (231, 199, 31), (187, 86, 149), (8, 133, 161), (243, 243, 242), (200, 200, 200),
    (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52),
]


def colours() -> QImage:
    """A colour chart: the 24 ColorChecker patches in a 6×4 grid on black."""
    image = blank("black")
    p = painter(image)
    cell_w, cell_h, gap = SIZE / 6, SIZE / 4, 5
    for k, rgb in enumerate(_CHECKER):
        r, c = divmod(k, 6)
        p.fillRect(QRectF(c * cell_w + gap, r * cell_h + gap, cell_w - 2 * gap,
                          cell_h - 2 * gap), QColor(*rgb))
    p.end()
    return image


def digit() -> QImage:
    """A handwritten-like 3, white strokes on black as in MNIST, a little uneven."""
    image = blank("black")
    p = painter(image)
    path = QPainterPath(QPointF(78, 70))
    path.cubicTo(QPointF(110, 28), QPointF(190, 40), QPointF(172, 96))
    path.cubicTo(QPointF(162, 124), QPointF(128, 128), QPointF(112, 128))
    path.cubicTo(QPointF(150, 126), QPointF(196, 150), QPointF(178, 196))
    path.cubicTo(QPointF(160, 236), QPointF(96, 232), QPointF(70, 200))
    pen = QPen(QColor("white"), 22, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
               Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.drawPath(path)
    p.end()
    # soften as a pen on paper does, then the slight unevenness of a scan
    grey = qimage_grey(image)
    grey = _blur(grey, 2)
    return array_to_qimage(np.repeat(grey[..., None], 3, axis=2).clip(0, 255).astype(np.uint8))


def text() -> QImage:
    """Letters in three sizes and two weights: strokes, curves and thin gaps."""
    image = blank("white")
    p = painter(image)
    p.setPen(QColor(10, 10, 10))
    lines = [("ConvNets", 44, True), ("see edges,", 30, False), ("then parts,", 30, False),
             ("then objects.", 26, True), ("CS231n 0123456789", 16, False)]
    top = 18
    for words, size, bold in lines:
        font = QFont("DejaVu Sans", size)
        font.setPixelSize(size)
        font.setBold(bold)
        p.setFont(font)
        p.drawText(QRectF(8, top, SIZE - 16, size * 1.5), Qt.AlignmentFlag.AlignLeft, words)
        top += int(size * 1.45)
    p.setPen(QPen(QColor(200, 30, 30), 3))
    p.drawLine(10, SIZE - 20, SIZE - 10, SIZE - 20)
    p.end()
    return image


def landscape() -> QImage:
    """A picture-book scene: sky, sun, hills, a house with a red roof, a tree."""
    image = blank()
    p = painter(image)
    sky = QLinearGradient(0, 0, 0, 150)
    sky.setColorAt(0, QColor(70, 130, 210))
    sky.setColorAt(1, QColor(190, 220, 245))
    p.fillRect(0, 0, SIZE, 160, sky)
    sun = QRadialGradient(QPointF(205, 45), 30)
    sun.setColorAt(0, QColor(255, 250, 200))
    sun.setColorAt(1, QColor(255, 200, 40))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(sun))
    p.drawEllipse(QPointF(205, 45), 26, 26)
    p.setBrush(QColor(70, 150, 60))
    hills = QPainterPath(QPointF(0, 150))
    hills.cubicTo(QPointF(60, 110), QPointF(120, 120), QPointF(256, 140))
    hills.lineTo(256, 256)
    hills.lineTo(0, 256)
    p.drawPath(hills)
    p.fillRect(QRectF(0, 200, SIZE, 56), QColor(110, 90, 60))  # a field
    for k in range(0, SIZE, 10):
        p.fillRect(QRectF(k, 200, 3, 56), QColor(140, 120, 70))
    p.setBrush(QColor(235, 225, 200))
    p.setPen(QPen(QColor(40, 30, 20), 2))
    p.drawRect(QRectF(40, 130, 90, 70))
    p.setBrush(QColor(190, 40, 30))
    p.drawPolygon(QPolygonF([QPointF(30, 132), QPointF(85, 88), QPointF(140, 132)]))
    p.setBrush(QColor(90, 60, 30))
    p.drawRect(QRectF(75, 160, 20, 40))
    p.setBrush(QColor(150, 200, 240))
    for wx in (50, 105):
        p.drawRect(QRectF(wx, 142, 16, 16))
        p.drawLine(QPointF(wx + 8, 142), QPointF(wx + 8, 158))
        p.drawLine(QPointF(wx, 150), QPointF(wx + 16, 150))
    p.setBrush(QColor(100, 70, 40))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRect(QRectF(188, 130, 12, 60))
    p.setBrush(QColor(30, 110, 40))
    p.drawEllipse(QPointF(194, 115), 32, 36)
    p.end()
    return image


# ----------------------------------------------------------------------------- helpers
def qimage_grey(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                             image.bytesPerLine())
    return rows[:, :image.width()].astype(float)


def _blur(a, radius):
    """A box blur, ``radius`` pixels each way, done twice (close to a Gaussian)."""
    for _ in range(2):
        for axis in (0, 1):
            padded = np.pad(a, [(radius, radius) if ax == axis else (0, 0) for ax in (0, 1)],
                            mode="edge")
            c = np.cumsum(padded, axis=axis)
            c = np.insert(c, 0, 0, axis=axis)
            n = 2 * radius + 1
            a = (np.take(c, range(n, c.shape[axis]), axis=axis)
                 - np.take(c, range(0, c.shape[axis] - n), axis=axis)) / n
    return a


IMAGES = {
    "shapes": shapes, "textures": textures, "colours": colours, "digit": digit,
    "text": text, "landscape": landscape,
}


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[args.index("--out") + 1]) if "--out" in args else OUT
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)
    for name, make in IMAGES.items():
        image = make()
        path = out / f"{name}.png"
        if not image.save(str(path)):
            print(f"make_images: cannot write {path}", file=sys.stderr)
            return 1
        print(f"wrote {path} ({image.width()}×{image.height()})")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
