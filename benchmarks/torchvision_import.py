"""Today's torchvision CNNs through ``convscope import``: each model exported with random
weights (weights=None, eval, opset 17, the TorchScript exporter), imported, and compared
with ONNX Runtime: parameters (ConvScope's count against the ONNX file's, a tensor shared
through Identity counted once per use) and the largest difference on the last layer,
relative to the output's scale.

Exporting needs torchvision, which ConvScope does not: run the export step with a Python
that has it, then the comparison with ConvScope's own:

    /path/to/python-with-torchvision benchmarks/torchvision_import.py --export /tmp/tvmodels
    python3 benchmarks/torchvision_import.py /tmp/tvmodels
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

MODELS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
          "efficientnet_v2_s", "regnet_y_400mf", "shufflenet_v2_x1_0", "densenet121",
          "inception_v3", "convnext_tiny"]
SIZES = {"inception_v3": 299}  # input height = width; 224 otherwise


def export_all(folder: Path) -> None:
    import torch
    import torchvision

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name in MODELS:
        path = folder / f"{name}.onnx"
        if path.exists():
            continue
        model = getattr(torchvision.models, name)(weights=None).eval()
        size = SIZES.get(name, 224)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.randn(1, 3, size, size),), str(path),
                              dynamo=False, opset_version=17, input_names=["image"],
                              output_names=["logits"])
        print(f"exported {path}", flush=True)


def onnx_params(model) -> int:
    """The parameters an ONNX file holds as ConvScope counts them (see
    tests/test_onnx_import_torch.py, whose rule this is)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_onnx_import_torch import onnx_params as count

    return count(model)


def compare(folder: Path) -> None:
    import numpy as np
    import onnx
    from convscope.core import ConvScopeError
    from convscope.core.interop import run_onnx
    from convscope.core.interop.onnx_import import import_model

    print(f"{'model':<20} {'ONNX params':>12} {'ConvScope':>12} {'max rel. error':>15} "
          f"{'import s':>9} {'run s':>7}")
    for name in MODELS:
        path = folder / f"{name}.onnx"
        if not path.exists():
            print(f"{name:<20} (no {path}: export it first)")
            continue
        start = time.perf_counter()
        try:
            net = import_model(path)
        except ConvScopeError as err:
            print(f"{name:<20} refused: {err}")
            continue
        imported = time.perf_counter() - start
        model = onnx.load(str(path))
        x = np.random.default_rng(0).standard_normal((1, *net.input.shape)).astype(np.float32)
        (want,) = run_onnx(model, x).values()
        start = time.perf_counter()
        got = net.forward(x)[net.layers[-1].name].reshape(want.shape)
        ran = time.perf_counter() - start
        error = np.abs(got - want).max() / np.abs(want).max()
        params = net.analyze().totals()["params"]
        print(f"{name:<20} {onnx_params(model):>12,} {params:>12,} {error:>15.2e} "
              f"{imported:>9.1f} {ran:>7.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path("/tmp/tvmodels"))
    parser.add_argument("--export", action="store_true",
                        help="export the models (needs torchvision) instead of comparing")
    args = parser.parse_args()
    if args.export:
        export_all(args.folder)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        compare(args.folder)


if __name__ == "__main__":
    main()
