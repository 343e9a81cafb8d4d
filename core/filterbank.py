"""A bank of classic first-layer filters: oriented edges, Gabors and colour-opponent blobs.

The notes show AlexNet's learned conv1 filters: oriented edges, Gabor-like stripes at several
frequencies and colour blobs. A network without a weights file has random He-initialised
filters, whose maps show little; starting conv1 from this bank makes its maps mean
something (an edge map lights up on edges). Each filter is a colour vector times a spatial
pattern (luminance filters zero-mean, colour filters zero-sum across channels), scaled to the
L2 norm He initialisation gives on average (√2), so later He-initialised layers see inputs of
the usual size.
"""

from __future__ import annotations

from math import pi, sqrt

import numpy as np

# Colour directions (R, G, B) of the opponent channels of early vision.
_OPPONENT = {
    "red-green": (1.0, -1.0, 0.0),
    "green-red": (-1.0, 1.0, 0.0),
    "blue-yellow": (-0.5, -0.5, 1.0),
    "yellow-blue": (0.5, 0.5, -1.0),
}
_ORIENTATIONS = 8  # edges: every 45°, both polarities
_GABOR_ORIENTATIONS = 4
_GABOR_FREQUENCIES = (1.0, 1.75)  # cycles across the kernel's half-width
_GABOR_PHASES = (0.0, pi / 2)  # even (line) and odd (edge) Gabors


def classic_filters(n_filters: int, channels: int, kh: int, kw: int,
                    seed: int = 0) -> np.ndarray:
    """(n_filters, channels, kh, kw) float32: the bank, families interleaved so that any
    first n filters mix edges, Gabors and colour; beyond the bank, seeded variants."""
    if min(n_filters, channels, kh, kw) < 1:
        raise ValueError("classic_filters needs positive n_filters, channels, kh and kw")
    rng = np.random.default_rng(seed)
    out = np.empty((n_filters, channels, kh, kw), np.float32)
    made = 0
    for colour, pattern in _specs(channels, kh, kw, rng):
        w = _combine(colour, pattern, channels)
        if w is None:
            continue
        out[made] = w
        made += 1
        if made == n_filters:
            break
    return out


def _specs(channels, kh, kw, rng):
    """(colour vector or None for luminance, spatial pattern) in the bank's order, then
    random variants for ever."""
    u, v = _grid(kh, kw)
    edges = [(None, _edge(u, v, 2 * pi * k / _ORIENTATIONS)) for k in range(_ORIENTATIONS)]
    gabors = [(None, _gabor(u, v, pi * k / _GABOR_ORIENTATIONS, f, phase))
              for f in _GABOR_FREQUENCIES for phase in _GABOR_PHASES
              for k in range(_GABOR_ORIENTATIONS)]
    colours = _colour_specs(channels, u, v, rng)
    families = [edges, gabors, colours]
    longest = max(len(f) for f in families)
    for i in range(longest):
        for family in families:
            if i < len(family):
                yield family[i]
    while True:  # seeded variants: any orientation, frequency, phase and colour direction
        theta, freq, phase = rng.uniform(0, pi), rng.uniform(0.5, 2.5), rng.uniform(0, 2 * pi)
        colour = rng.standard_normal(channels) if rng.random() < 0.3 else None
        yield colour, _gabor(u, v, theta, freq, phase)


def _colour_specs(channels, u, v, rng):
    """Centre-surround and blob filters: colour-opponent for RGB, on/off for luminance."""
    blob = _gaussian(u, v, 0.45)
    dog = blob - _gaussian(u, v, 0.9) * (blob.sum() / max(_gaussian(u, v, 0.9).sum(), 1e-12))
    specs = [(None, dog), (None, -dog)]  # light on dark, dark on light
    if channels == 3:
        for colour in _OPPONENT.values():
            specs.append((np.array(colour), blob))  # a colour blob (AlexNet's colour filters)
            specs.append((np.array(colour), dog))  # colour centre, opponent surround
    elif channels > 1:
        for _ in range(6):
            specs.append((rng.standard_normal(channels), blob))
    return specs


def _grid(kh, kw):
    """Coordinates in [-1, 1] across the kernel (0 at its centre), (kh, kw) each."""
    ys = np.linspace(-1.0, 1.0, kh) if kh > 1 else np.zeros(1)
    xs = np.linspace(-1.0, 1.0, kw) if kw > 1 else np.zeros(1)
    return np.meshgrid(xs, ys)


def _gaussian(u, v, sigma):
    return np.exp(-(u * u + v * v) / (2 * sigma * sigma))


def _edge(u, v, theta):
    """A first derivative of a Gaussian across direction ``theta``: a step edge detector."""
    across = u * np.cos(theta) + v * np.sin(theta)
    return across * _gaussian(u, v, 0.5)


def _gabor(u, v, theta, freq, phase):
    across = u * np.cos(theta) + v * np.sin(theta)
    return np.cos(pi * freq * across + phase) * _gaussian(u, v, 0.55)


def _combine(colour, pattern, channels):
    """colour ⊗ pattern scaled to norm √2 (None if it vanishes). A luminance filter's
    pattern is made zero-mean (it answers to structure, not to brightness); a colour filter's
    colour vector is made zero-sum instead (it answers to hue, even over a uniform patch)."""
    if colour is None:
        pattern = pattern - pattern.mean() if _spread(pattern) else pattern
        colour = np.ones(channels)
    else:
        colour = np.asarray(colour, float)[:channels]
        if len(colour) < channels:
            return None
        if channels > 1:
            colour = colour - colour.mean() if _spread(colour) else colour
    w = colour[:, None, None] * pattern[None]
    norm = np.sqrt((w * w).sum())
    if not np.isfinite(norm) or norm < 1e-6:
        return None
    return (w * (sqrt(2.0) / norm)).astype(np.float32)


def _spread(a) -> bool:
    """Whether taking the mean away leaves something (a 1×1 kernel has no spatial pattern)."""
    return float(np.abs(a - a.mean()).max()) > 1e-6 * max(float(np.abs(a).max()), 1e-12)
