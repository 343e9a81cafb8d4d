"""The small test configurations every layer class carries (``EXAMPLES``), as networks.

Every parametrised per-type test takes its cases from here, so a new layer type is covered
by adding its module: the case id is the example's id (it starts with the type)."""

from __future__ import annotations

from math import prod

import numpy as np
from convscope.core import REGISTRY, ConvScopeError, Network

SPACING = 0.02  # the grid the inputs sit on

# example id → (layer type, Example)
CASES = {case: (kind, example) for kind, cls in REGISTRY.items()
         for case, example in cls.EXAMPLES.items()}


def build(case) -> Network:
    kind, example = CASES[case]
    net = Network.from_dict(example.network(kind, case))
    assert not net.analyze().has_error, f"{case}: the example of '{kind}' has an error"
    return net


def randomise(net: Network, rng) -> None:
    """Non-trivial values for every parameter and buffer (biases not zero, running
    statistics not 0 and 1), so every term of every backward formula is exercised."""
    arrays = {}
    for key, shape in net.param_shapes().items():
        if key.endswith("running_var"):
            arrays[key] = rng.uniform(0.5, 2.0, shape)
        elif key.endswith("running_mean"):
            arrays[key] = rng.normal(0, 0.5, shape)
        elif key.endswith(".weight") and len(shape) == 1:  # batchnorm γ
            arrays[key] = rng.uniform(0.5, 1.5, shape)
        else:
            fan_in = prod(shape[1:]) if len(shape) > 1 else 4
            arrays[key] = rng.normal(0, 1 / np.sqrt(fan_in), shape)
    net.set_weights(arrays)


def grid_input(shape, rng, dtype):
    """Distinct values k·SPACING ± SPACING/2: no ties (no max-pool ties), nothing within
    SPACING/2 of 0 (no ReLU kinks)."""
    n = prod(shape)
    return ((rng.permutation(n) - n / 2 + 0.5) * SPACING).reshape(shape).astype(dtype)


def comes_back(net):
    """``net`` through ONNX and back, or None if the importer has no layer for an op the
    export used: a type it does not read yet, which test_onnx_roundtrip reports as xfail."""
    from convscope.core.interop.onnx_export import to_model
    from convscope.core.interop.onnx_import import from_model

    try:
        return from_model(to_model(net))
    except ConvScopeError as err:
        if "has no ConvScope layer" in str(err):
            return None
        raise
