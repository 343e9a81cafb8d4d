"""GELU: x·Φ(x), Φ the standard normal CDF written with the exact erf (spec: added in
version 1). NumPy has no erf, so it is computed here (``erf``)."""

from __future__ import annotations

import numpy as np

from .base import Elementwise, Example, register

# erf(z) for |z| below SPLIT from its power series, above it from the continued fraction
# of erfc: each converges to double precision there within the counts below (measured
# against math.erf, tests/test_new_activations.py), and both are cheap.
SPLIT = 2.5
SERIES_TERMS = 36
FRACTION_DEPTH = 24
_TWO_OVER_SQRT_PI = 2 / np.sqrt(np.pi)
_SQRT_HALF = np.sqrt(0.5)
_INV_SQRT_TWO_PI = 1 / np.sqrt(2 * np.pi)


def _series_coefficients(terms) -> list[float]:
    """2ⁿ/(1·3·5···(2n+1)) for n < terms, highest n first (for Horner's rule)."""
    coefficients = [1.0]
    for n in range(1, terms):
        coefficients.append(coefficients[-1] * 2 / (2 * n + 1))
    return coefficients[::-1]


_SERIES = _series_coefficients(SERIES_TERMS)


def _erf_series(z):
    """erf(z) for 0 ≤ z < SPLIT: (2/√π)·e^(−z²)·z·Σ 2ⁿ·z²ⁿ/(1·3·5···(2n+1)); every term is
    positive, so nothing cancels."""
    w = z * z
    total = np.full_like(z, _SERIES[0])
    for c in _SERIES[1:]:  # Horner's rule in w, in place: two passes over the array a term
        total *= w
        total += c
    return _TWO_OVER_SQRT_PI * np.exp(-w) * z * total


def _erfc_fraction(z):
    """erfc(z) for z ≥ SPLIT: e^(−z²)/√π / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))),
    the continued fraction evaluated from its tail."""
    f = z.copy()
    for k in range(FRACTION_DEPTH, 0, -1):
        f = z + (k / 2) / f
    return np.exp(-z * z) / np.sqrt(np.pi) / f


def erf(x):
    """The error function of an array, to about 1e-15 (computed in float64 whatever the
    input's precision; rounded to float32 it is within half a float32 unit of math.erf)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    out = np.empty_like(z)
    near = z < SPLIT
    out[near] = _erf_series(z[near])
    out[~near] = 1 - _erfc_fraction(z[~near])
    return np.copysign(out, x)


def gelu_forward(x):
    """x: (N, C, H, W) → x·Φ(x) with Φ(x) = (1 + erf(x/√2))/2, and (x, Φ(x)) for the
    backward pass."""
    cdf = (0.5 * (1 + erf(x * _SQRT_HALF))).astype(np.float32)
    return x * cdf, (x, cdf)


def gelu_backward(dout, cache):
    """dout·(Φ(x) + x·φ(x)), φ the standard normal density e^(−x²/2)/√(2π)."""
    x, cdf = cache
    pdf = (_INV_SQRT_TWO_PI * np.exp(-0.5 * x * x)).astype(np.float32)
    return dout * (cdf + x * pdf)


@register
class GELU(Elementwise):
    TYPE, TITLE = "gelu", "GELU"
    ORDER = 19  # place in its palette group: after relu6, hardsigmoid, hardswish, silu
    SUMMARY = ("x·Φ(x) on every element, Φ the normal CDF with the exact erf (BERT, ViT, "
               "ConvNeXt), as torch.nn.GELU(); shape unchanged, no parameters.")
    FORWARD, BACKWARD = gelu_forward, gelu_backward
    LABEL, NEEDS = "GELU", "gelu's backward (its input x and Φ(x))"
    FORMULA = "x·Φ(x) = x·(1 + erf(x/√2))/2"
    GRADIENT = "dout·(Φ(x) + x·φ(x)), φ(x) = e^(−x²/2)/√(2π)"
    TORCH = "nn.GELU()"
    # inputs on a 0.02 grid from −8 to 8: erf's series and its continued fraction (|x| above
    # 2.5·√2) both run, and the tails where Φ is 0 and 1
    EXAMPLES = {"gelu": Example((4, 10, 10))}

    def onnx_nodes(self, info, graph, x, out):
        """Opset 17 has no Gelu: x·0.5·(1 + Erf(x/√2)) as nodes."""
        root2 = graph.constant(f"{out}/sqrt2", np.array(np.sqrt(2), np.float32))
        one = graph.constant(f"{out}/one", np.array(1, np.float32))
        half = graph.constant(f"{out}/half", np.array(0.5, np.float32))
        scaled = graph.node("Div", [x, root2], f"{out}/scaled")
        erf_value = graph.node("Erf", [scaled], f"{out}/erf")
        shifted = graph.node("Add", [erf_value, one], f"{out}/shifted")
        cdf = graph.node("Mul", [shifted, half], f"{out}/cdf")
        return graph.node("Mul", [x, cdf], out)
