"""Meeting other tools: ONNX in and out, PyTorch source out, the architecture diagram.

``onnx`` and ``onnxruntime`` are the optional extra ``convscope[onnx]``; they are imported
only inside the functions that need them, so ConvScope runs without them and says plainly
what to install when a user asks for ONNX.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConvScopeError

INSTALL_HINT = "pip install 'convscope[onnx]'"


@dataclass(frozen=True)
class ExportFormat:
    """One way to write a network out: ``getattr(import_module(module), function)(net, out)``."""

    label: str
    module: str
    function: str = "export"


# The export formats by suffix, read by ``convscope export`` and File ▸ Export alike.
EXPORTS: dict[str, ExportFormat] = {
    ".onnx": ExportFormat("ONNX model (network and weights)", "convscope.core.interop.onnx_export"),
    ".py": ExportFormat("PyTorch source", "convscope.core.interop.torch_source"),
    ".svg": ExportFormat("diagram as SVG", "convscope.core.interop.diagram"),
    # Qt draws the PNG, so its writer lives in gui/ and is imported only when asked for.
    ".png": ExportFormat("diagram as PNG", "convscope.gui.diagram_png"),
    ".csv": ExportFormat("summary as CSV", "convscope.core.interop", "export_summary"),
    ".md": ExportFormat("summary as Markdown", "convscope.core.interop", "export_summary"),
}
# Formats that run: a network with an error in it is refused rather than written half-way.
RUNNABLE_ONLY = (".onnx", ".py")


def export_format(out) -> ExportFormat:
    """The registry's format for ``out``'s suffix, or ConvScopeError listing the known ones."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORTS:
        *rest, last = EXPORTS
        raise ConvScopeError(f"cannot export to '{suffix or out.name}': use "
                             f"{', '.join(rest)} or {last}", source=str(out))
    return EXPORTS[suffix]


def export(net, out, report=None) -> ExportFormat:
    """Write ``net`` to ``out`` in the format its suffix names; returns that format."""
    fmt = export_format(out)
    if Path(out).suffix.lower() in RUNNABLE_ONLY:
        net.check_runnable(report=report)
    getattr(importlib.import_module(fmt.module), fmt.function)(net, Path(out))
    return fmt


def export_summary(net, out: Path) -> None:
    """The summary table as CSV (``.csv``) or Markdown (``.md``), as ``convscope summary``."""
    from ..fileio import atomic_write_bytes
    from ..summary import render

    style = "csv" if out.suffix.lower() == ".csv" else "markdown"
    atomic_write_bytes(out, render(net.analyze(), style).encode("utf-8"))


def missing_onnx_message(package: str = "onnx") -> str:
    """The sentence shown when an ONNX feature is used without the optional extra."""
    return (f"ONNX import and export need the '{package}' package, which is not installed; "
            f"install it with: {INSTALL_HINT}")


def onnx_available() -> bool:
    """Whether ``onnx`` can be imported (for enabling menu entries)."""
    import importlib.util

    return importlib.util.find_spec("onnx") is not None


def require_onnx():
    """The ``onnx`` module, or ConvScopeError with the install hint."""
    try:
        import onnx
    except ImportError:
        raise ConvScopeError(missing_onnx_message("onnx")) from None
    return onnx


def require_onnxruntime():
    """The ``onnxruntime`` module, or ConvScopeError with the install hint."""
    try:
        import onnxruntime
    except ImportError:
        raise ConvScopeError(missing_onnx_message("onnxruntime")) from None
    return onnxruntime


def run_onnx(model, x, outputs=None) -> dict:
    """Run an ONNX model (a ModelProto, bytes or a path) in ONNX Runtime on the CPU.

    x: (N, C, H, W) float32 fed to the model's one input. Returns output name → array.
    """
    import numpy as np

    ort = require_onnxruntime()
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # ORT's own shape warnings are not the user's business
    # idle ORT threads would spin and slow NumPy's BLAS threads down on a small machine
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    names = outputs or [o.name for o in session.get_outputs()]
    values = session.run(names, {name: np.ascontiguousarray(x, dtype=np.float32)})
    return dict(zip(names, values))
