"""Helpers the comparison tests share: weights that exercise every op, and the error
measure "relative to the output's scale" that the issues state tolerances in."""

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
