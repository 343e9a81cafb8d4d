"""An independent forward pass in PyTorch, layer by layer, for comparing numbers.

The model is the one ConvScope writes as PyTorch source (each layer type's
``torch_module``: torch.nn modules, so torch computes every value), loaded with the
network's weights; a forward hook on every layer's module records its output."""

from __future__ import annotations

import io

import numpy as np
from convscope.core.interop.torch_source import class_name, to_source


def model_of(net, training=False):
    """The generated ``nn.Module`` with ``net``'s weights, and its MODULES (name → path)."""
    namespace = {"__name__": "convscope_generated"}
    exec(compile(to_source(net), f"<{net.name}>", "exec"), namespace)
    model = namespace[class_name(net.name)]()
    net.ensure_weights()
    weights = io.BytesIO()
    np.savez(weights, **net.state_dict())
    weights.seek(0)
    namespace["load_convscope_weights"](model, weights)
    model.train(training)
    return model, namespace["MODULES"]


def run(net, x, training=False):
    """Every layer's output, by name, computed by torch."""
    import torch

    model, modules = model_of(net, training)
    outs = {}
    for layer, path in modules.items():
        model.get_submodule(path).register_forward_hook(
            lambda _m, _i, out, layer=layer: outs.__setitem__(layer, out.detach().numpy()))
    with torch.no_grad():
        model(torch.tensor(np.asarray(x, np.float32)))
    return outs
