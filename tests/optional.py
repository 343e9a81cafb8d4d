"""The optional references, skipped with one reason each when they are not installed.

ONNX Runtime comes with the test command's extras; torch is the second, independent
reference and is optional (``pip install -e '.[reference]'``): a test that compares with
it calls ``needs_torch()`` (or carries ``@requires_torch``) and skips, saying why.
"""

import pytest

TORCH_REASON = ("torch is the optional independent reference: "
                "python3 -m pip install -e '.[reference]'")
ONNX_REASON = "needs the ONNX extra: python3 -m pip install -e '.[onnx]'"

try:
    import torch  # noqa: F401  (the test files that build torch models import it again)

    HAS_TORCH = True
except ImportError:
    HAS_TORCH = False
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason=TORCH_REASON)


def needs_torch():
    """torch, or skip this test with the reason."""
    return pytest.importorskip("torch", reason=TORCH_REASON)


def needs_onnx():
    """onnx (with onnxruntime present), or skip with the reason."""
    pytest.importorskip("onnxruntime", reason=ONNX_REASON)
    return pytest.importorskip("onnx", reason=ONNX_REASON)
