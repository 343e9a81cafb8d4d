"""ConvScope's core: the ConvNet arithmetic of the CS231n notes, in NumPy only (never Qt)."""

from .analysis import LayerInfo, Report
from .errors import ConvScopeError
from .layers import CATEGORIES, REGISTRY, Layer, fmt_shape
from .network import InputSpec, Network

__all__ = ["CATEGORIES", "REGISTRY", "ConvScopeError", "InputSpec", "Layer", "LayerInfo",
           "Network", "Report", "fmt_shape"]
