"""An ONNX model to a ConvScope architecture and its weights.

The graph is read as the architecture format reads a network: a chain of layers from the one
input (an image (N, C, H, W), or a vector (N, D) read as D×1×1) to the one output. Where the
chain forks, the branches must meet again in one ``Add`` or ``Sum`` of two (a ``residual``:
the longer path is the body, the shorter or empty one the shortcut), one ``Mul`` of two (a
``residual`` with join "mul": squeeze-and-excitation, a gate) or one ``Concat`` (a
``concat``); the paths in between are read the same way, so blocks nest. Concat inputs that
share nodes (Inception-v3's branches that fork again) get a Concat of their own, a Concat
that repeats an earlier one's inputs (DenseNet's "everything so far") takes its result, and
a channel Split is one Slice (``channel_slice``) per piece, each starting a branch.

Ops fold into layers: Flatten/Reshape + Gemm (or MatMul + Add) is an ``fc``, a ``Pad``
before a conv or pool becomes its padding, a Reshape back to (N, C, 1, 1) after an ``fc``
disappears, a per-channel Mul/Add by a constant folds into the batchnorm, conv or fc before
it (Caffe's BatchNormalization → Mul → Add) or is a depthwise 1×1 conv (ConvNeXt's layer
scale), x·σ(x) is ``silu``, x·hardsigmoid(x) ``hardswish``, x·0.5·(1 + erf(x/√2))
``gelu``, Reshape → Transpose → Reshape ``channel_shuffle``, and between a Transpose to
(N, H, W, C) and one back LayerNormalization is ``layernorm`` and MatMul a 1×1 conv.
Whatever cannot be mapped, and whatever is malformed (a missing attribute or input, text for
weights, a tensor whose bytes do not match its dims, an absurd size), is refused in one line
naming the node, and nothing is written.

The parts: ``values`` reads tensors and attributes safely, ``graph`` finds the constants
(folding what can be worked out before running, sizes shape inference knows included), the
input and the data flow, ``walker`` follows the data and builds chains and blocks,
``table`` says per op what it reads and which handler translates it (``ops``: activations,
conv, pools, norms, scales; ``flat``: around ``fc``; ``shapes``: reshapes, transposes and
slices), and ``patterns`` finds the activations written as x·f(x).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConvScopeError
from ...network import Network
from .. import require_onnx
from .table import OPS, supported
from .values import one_line
from .walker import Walker

__all__ = ["OPS", "from_model", "import_file", "import_model", "supported"]


def import_file(model_path, out_json) -> Path:
    """Read ``model_path`` (.onnx) and write ``out_json`` plus its weights ``.npz`` beside it.

    Nothing is written when the model cannot be read or mapped (ConvScopeError)."""
    net = import_model(model_path)
    out = Path(out_json)
    net.weights_file = out.stem + ".npz"
    npz = out.parent / net.weights_file
    existed = npz.exists()
    try:
        net.save(out, with_weights=True)
    except ConvScopeError:
        if not existed and npz.exists() and not out.exists():
            npz.unlink()  # the architecture could not be written: leave no stray weights
        raise
    return out


def import_model(model_path) -> Network:
    """The network (with its weights set) that an ONNX file describes."""
    onnx = require_onnx()
    path = Path(model_path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise ConvScopeError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise ConvScopeError("is a folder, not a file", source=str(path)) from None
    except Exception as err:  # protobuf's DecodeError and friends
        raise ConvScopeError(f"not a readable ONNX model ({type(err).__name__}: {err})",
                             source=str(path)) from None
    try:
        return from_model(model, default_name=path.stem, source=path.name)
    except ConvScopeError as err:
        raise err.located(source=str(path)) from None


def from_model(model, default_name: str = "imported", source: str = "an ONNX model") -> Network:
    """The network an ``onnx.ModelProto`` describes (named ``default_name`` unless the model
    was written by ConvScope and keeps its name)."""
    try:
        return Walker(model, default_name, source).network()
    except ConvScopeError as err:  # names from the model may hold newlines: keep one line
        raise ConvScopeError(one_line(err.message), one_line(err.place),
                             one_line(err.source)) from None
