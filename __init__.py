"""ConvScope: see how a convolutional network works.

One import name: the engine is ``convscope.core`` (NumPy only), the window ``convscope.gui``,
the bundled presets and images ``convscope.assets``; the source folders stay at the top of
the repository (pyproject.toml maps them under this package). The Python API of the spec::

    from convscope import Network
"""

# pytest imports this file too, as the module of the repository's folder (named after the
# folder: "main", "convscope-main", which may not even be a Python name): only the installed
# package, convscope, has the API; elsewhere importing the engine again would fail or make a
# second copy of it.
if __name__ == "convscope":
    from .core import (
        CATEGORIES,
        REGISTRY,
        ConvScopeError,
        InputSpec,
        Layer,
        LayerInfo,
        Network,
        Report,
        fmt_shape,
    )

__all__ = ["CATEGORIES", "REGISTRY", "ConvScopeError", "InputSpec", "Layer", "LayerInfo",
           "Network", "Report", "fmt_shape"]
