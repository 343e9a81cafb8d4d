"""Every layer type of the architecture format, one module each, in one registry.

A layer knows its hyperparameters (``FIELDS``), its output shape and diagnostics for a
given input shape (with the worked size arithmetic), its parameter shapes, its forward and
backward pass, how it reads and writes itself, how it is named and explained (card, table,
diagram, memory budget, explain), its PyTorch and ONNX emitters and its test ``EXAMPLES``
(see ``base.Layer``). Shapes are (C, H, W) for one image; arrays are (N, C, H, W) float32.
Blocks (``residual``, ``concat``) hold lists of layers; the network walks into them.

Every module of this package is imported here, so a new layer type is a new module (and its
icon, assets/icons/<type>.svg) and nothing else: its ``@register`` puts it in ``REGISTRY``,
and tests/test_layer_contract.py names any piece it lacks.
"""

import importlib
import pkgutil

from .base import (
    CATEGORIES,
    REGISTRY,
    Diagnostic,
    Elementwise,
    Example,
    Footprint,
    Layer,
    Shaped,
    fmt_shape,
    register,
    tensor_bytes,
)
from .block import Block

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

# The registry's order is the palette's: by group as the notes introduce them, then ORDER.
_ordered = sorted(REGISTRY.values(), key=lambda c: (CATEGORIES.index(c.CATEGORY), c.ORDER))
REGISTRY.clear()
REGISTRY.update((cls.TYPE, cls) for cls in _ordered)

from .concat import Concat  # noqa: E402
from .conv import Conv  # noqa: E402
from .residual import Residual  # noqa: E402

__all__ = ["CATEGORIES", "REGISTRY", "Block", "Concat", "Conv", "Diagnostic", "Elementwise",
           "Example", "Footprint", "Layer", "Residual", "Shaped", "fmt_shape", "register",
           "tensor_bytes"]
