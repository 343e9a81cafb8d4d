"""Layer icons: one small SVG per layer type in assets/icons/, loaded once."""

from __future__ import annotations

from functools import cache

from convscope.core.layers import REGISTRY
from convscope.core.presets import ASSETS
from PySide6.QtGui import QColor, QIcon, QPixmap

# The palette's and the cards' colour for each category (the icons use the same ones).
CATEGORY_COLORS = {"CONV": "#3b6fb6", "POOL": "#2e8b57", "activation": "#8e5cc8",
                   "NORM": "#1f8f95", "FC": "#5a6a80", "blocks": "#4a4a4a", "input": "#b06a2c"}


@cache
def icon(kind: str) -> QIcon:
    """The icon of a layer type ("conv", ...) or of the input ("input")."""
    path = REGISTRY[kind].icon_path() if kind in REGISTRY else ASSETS / "icons" / f"{kind}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


@cache
def pixmap(kind: str, size: int, ratio: float = 1.0) -> QPixmap:
    pix = icon(kind).pixmap(round(size * ratio), round(size * ratio))
    pix.setDevicePixelRatio(ratio)
    return pix


def category_color(category: str) -> QColor:
    return QColor(CATEGORY_COLORS.get(category, "#777777"))
