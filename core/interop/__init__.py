"""Meeting other tools: ONNX in and out, PyTorch source out, the architecture diagram.

``onnx`` and ``onnxruntime`` are the optional extra ``convscope[onnx]``; they are imported
only inside the functions that need them, so ConvScope runs without them and says plainly
what to install when a user asks for ONNX.
"""

from __future__ import annotations

from ..errors import ConvScopeError

INSTALL_HINT = "pip install 'convscope[onnx]'"


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
