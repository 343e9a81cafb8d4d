"""Feature visualisation: synthesise, for each channel of a layer, the input that excites
that channel most, by gradient ascent on the input image.

Plain gradient ascent finds high-frequency noise that excites a filter without looking like
anything. Three regularisers keep the image natural (Yosinski et al. 2015; Olah et al. 2017):
a random shift (jitter) before every step, so the image must work wherever it lands; a small
Gaussian blur every few steps, which removes the highest frequencies; and L2 decay, which
pulls pixels that do not help back to grey.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConvScopeError
from ..network import Network
from .saliency import truncated_at


def start_images(net: Network, count: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    """The starting point: (count, C, H, W) faint noise around the network's mean input."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((count,) + net.input.shape) * scale).astype(np.float32)


def channel_objective(net: Network, layer: str, channels, images) -> np.ndarray:
    """The mean activation of channel ``channels[k]`` of ``layer`` for image ``k``: (K,)."""
    cut = truncated_at(net, layer, "feature visualisation")
    channels = _check_channels(cut, layer, channels, len(images))
    out = cut.forward(np.asarray(images, np.float32))[layer]
    return out[np.arange(len(channels)), channels].mean(axis=(1, 2)).astype(np.float64)


def _check_channels(cut, layer, channels, count=None):
    out = cut.analyze().output
    depth = out[0]
    channels = np.arange(depth) if channels is None else np.asarray(channels, dtype=np.int64)
    if channels.ndim != 1 or len(channels) == 0 or channels.min() < 0 or channels.max() >= depth:
        raise ConvScopeError(f"channels must be a list of numbers from 0 to {depth - 1}",
                             f"feature visualisation of '{layer}'")
    if count is not None and count != len(channels):
        raise ConvScopeError(f"{count} images for {len(channels)} channels",
                             f"feature visualisation of '{layer}'")
    return channels


def visualize_channels(net: Network, layer: str, channels=None, steps: int = 64,
                       seed: int = 0, lr: float = 0.05, jitter: int = 2,
                       blur_every: int = 4, blur_sigma: float = 0.5, decay: float = 1e-3,
                       start=None, callback=None) -> np.ndarray:
    """For each channel of top-level layer ``layer`` (all of them by default), the input
    that maximises the channel's mean activation: an array (K, C, H, W) in the network's
    input space (normalised as the network takes it).

    All K images are optimised together as one batch. Each step: shift the batch by up to
    ``jitter`` pixels, forward, backward from a gradient of 1/(H·W) on each image's own
    channel, shift the gradient back, step by ``lr`` times the gradient scaled to mean
    magnitude 1, shrink by ``decay``; every ``blur_every`` steps blur by ``blur_sigma``.
    ``callback(step, images, objective)`` after each step may return False to stop early.
    """
    cut = truncated_at(net, layer, "feature visualisation")
    channels = _check_channels(cut, layer, channels)
    k = len(channels)
    x = start_images(net, k, seed) if start is None else np.array(start, np.float32)
    if x.shape != (k,) + net.input.shape:
        raise ConvScopeError(f"start images must be {(k,) + net.input.shape}, got {x.shape}",
                             f"feature visualisation of '{layer}'")
    low, high = _input_range(net)
    rng = np.random.default_rng([seed, 1])
    rows = np.arange(k)
    for step in range(1, steps + 1):
        dy, dx = rng.integers(-jitter, jitter + 1, 2) if jitter else (0, 0)
        shifted = np.roll(x, (dy, dx), axis=(2, 3))
        out = cut.forward(shifted)[layer]
        grad_out = np.zeros_like(out)
        grad_out[rows, channels] = 1.0 / (out.shape[2] * out.shape[3])
        grad = np.roll(cut.backward(grad_out)["input"], (-dy, -dx), axis=(2, 3))
        scale = np.abs(grad).mean(axis=(1, 2, 3), keepdims=True) + 1e-12
        x += np.float32(lr) * grad / scale
        x *= np.float32(1 - decay)
        if blur_every and step % blur_every == 0:
            x = blur(x, blur_sigma)
        np.clip(x, low, high, out=x)
        if callback is not None:
            objective = out[rows, channels].mean(axis=(1, 2))
            if callback(step, x, objective) is False:
                break
    return x


def _input_range(net: Network):
    """Bounds for the pixels: what an image in [0, 1] becomes after the network's
    normalisation, per channel (broadcastable to (K, C, H, W)); ±3 for a raw input."""
    c = net.input.channels
    if net.input.mean is None and net.input.std is None:
        return np.float32(-3), np.float32(3)
    mean = np.asarray(net.input.mean or [0.0] * c, np.float32).reshape(1, c, 1, 1)
    std = np.asarray(net.input.std or [1.0] * c, np.float32).reshape(1, c, 1, 1)
    return (0 - mean) / std, (1 - mean) / std


def blur(x, sigma: float) -> np.ndarray:
    """A separable Gaussian blur of (N, C, H, W) images, edges repeated."""
    radius = max(1, int(np.ceil(2 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / max(sigma, 1e-6)) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    h, w = x.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (radius, radius), (0, 0)), mode="edge")
    x = sum(t * padded[:, :, i:i + h] for i, t in enumerate(taps))
    padded = np.pad(x, ((0, 0), (0, 0), (0, 0), (radius, radius)), mode="edge")
    return sum(t * padded[:, :, :, i:i + w] for i, t in enumerate(taps)).astype(np.float32)


def for_display(images) -> np.ndarray:
    """Each image stretched to [0, 1] by its own 1st–99th percentiles: (K, C, H, W)."""
    images = np.asarray(images, np.float32)
    lo = np.percentile(images, 1, axis=(1, 2, 3), keepdims=True)
    hi = np.percentile(images, 99, axis=(1, 2, 3), keepdims=True)
    return np.clip((images - lo) / np.maximum(hi - lo, 1e-8), 0, 1).astype(np.float32)
