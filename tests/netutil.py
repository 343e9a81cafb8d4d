"""Helpers the comparison tests share: weights that exercise every op, the error measure
"relative to the output's scale" that the issues state tolerances in, torch models exported
to ONNX, and the peak memory tracemalloc sees."""

import threading
import tracemalloc
import warnings

import numpy as np


def randomise_norms(net, seed=0):
    """Batchnorm statistics and biases that are not the identity/zero, so those terms are
    really tested (He-initialised weights stay)."""
    rng = np.random.default_rng(seed)
    net.ensure_weights()
    for key, value in net.weights.items():
        if key.endswith("running_var"):
            net.weights[key] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
        elif key.endswith(("running_mean", "bias")):
            net.weights[key] = rng.normal(0.0, 0.1, value.shape).astype(np.float32)


def relative_error(got, want):
    """Largest difference over the reference's largest magnitude (at least 1e-3)."""
    scale = max(float(np.abs(want).max()), 1e-3)
    return float(np.abs(got - want).max()) / scale


def torch_to_onnx(model, size, path, preserve=False):
    """Export ``model`` (3×size×size input) with the TorchScript exporter, opset 17 (the
    dynamo one needs onnxscript, not here), batchnorm statistics made not the identity;
    → (x, torch's output). ``preserve``: export in training mode (dropout, batch stats)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    for module in model.modules():  # statistics that are not the identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(2, 3, size, size)
    mode = torch.onnx.TrainingMode.PRESERVE if preserve else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["logits"], training=mode,
                          dynamic_axes={"image": {0: "batch"}})  # x.size(1) stays known
    with torch.no_grad():
        return x.numpy(), model(x).numpy()


def traced_peak(work) -> int:
    """The peak bytes tracemalloc sees while ``work()`` runs in a fresh thread, with
    Winograd's cached weights dropped first (so earlier passes do not count)."""
    from convscope.core import fastconv

    peak = {}

    def run():
        fastconv.clear_weight_cache()
        tracemalloc.start()
        try:
            work()
            peak["bytes"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return peak["bytes"]
