"""Grad-CAM, guided backprop and guided Grad-CAM: where in the image a class is seen.

Grad-CAM (Selvaraju et al. 2017): for a class score y^c and the maps A^k of a layer with
spatial extent, the weight of channel k is α_k = mean over (i, j) of ∂y^c/∂A^k_ij, and the
map is ReLU(Σ_k α_k A^k), at the layer's resolution. It is brought to the input's size by
bilinear interpolation between the units' receptive-field centres (each unit's value sits
at the centre of the input window it sees, Network.input_window; beyond the outermost
centres the edge value holds). Where a unit's centre is (i + 0.5)·jump − 0.5, as in a stack
of "same" convs and 2×2 pools, this is exactly torch's ``interpolate(..., "bilinear",
align_corners=False)``.

Guided backprop (Springenberg et al. 2015): the gradient of y^c with respect to the input
where every ``relu`` layer passes back only gradient that is positive AND where its input
was positive. Guided Grad-CAM multiplies it by the upsampled Grad-CAM map.

One forward pass and two backward passes over its tape (the plain one, cut at the chosen
layer to read ∂y^c/∂A on the way, and the guided one); blocks (residual, concat) work
because they call the context's ``back`` for their nested layers.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConvScopeError
from ..network import Network
from ..ops import softmax_forward
from .saliency import _as_batch, truncated_at

PLACE = "Grad-CAM"
TOP_CHANNELS = 5  # how many of the largest α_k a result lists
UPSAMPLING = "bilinear between the units' receptive-field centres"


# ---------------------------------------------------------------------- which layers
def score_layer(net: Network, report=None) -> str:
    """The layer whose channels are the class scores: the last one, or the one before a
    final softmax (Grad-CAM differentiates the score, not its probability). Its output must
    be C×1×1; ConvScopeError otherwise."""
    report = report or net.analyze(fixes=False)
    top = report.top
    if not top:
        raise ConvScopeError("the network has no layers", PLACE)
    info = top[-2] if top[-1].type == "softmax" and len(top) > 1 else top[-1]
    if info.out is None:
        raise ConvScopeError("the network has an error before its output", PLACE)
    if info.out[1:] != (1, 1):
        c, h, w = info.out
        raise ConvScopeError(f"'{info.name}' gives {w}×{h}×{c}: Grad-CAM needs class scores "
                             "(a C×1×1 output)", PLACE)
    return info.name


def spatial_layers(net: Network, report=None) -> list[str]:
    """The top-level layers before the scores whose output has spatial maps (H·W > 1): the
    layers Grad-CAM can be taken at, in order."""
    report = report or net.analyze(fixes=False)
    score = score_layer(net, report)
    names = []
    for info in report.top:
        if info.name == score:
            break
        if info.out is not None and info.out[1] * info.out[2] > 1:
            names.append(info.name)
    return names


def default_layer(net: Network, report=None) -> str:
    """The last conv's rectified maps: the last top-level layer with spatial maps that is a
    conv or a block holding one, carried on through the layers right after it that keep
    its shape (batchnorm, relu, ...); without a conv, the last layer with spatial maps."""
    report = report or net.analyze(fixes=False)
    usable = spatial_layers(net, report)
    if not usable:
        raise ConvScopeError("no layer before the scores has spatial maps: Grad-CAM needs "
                             "one (a conv's output, say)", PLACE)
    top = report.top
    names = [info.name for info in top]
    convs = [name for name in usable if _holds_conv(report.by_name(name))]
    if not convs:
        return usable[-1]
    n = names.index(convs[-1])
    while n + 1 < len(top) and top[n + 1].name in usable and top[n + 1].out == top[n].out:
        n += 1
    return names[n]


def _holds_conv(info) -> bool:
    return info.type == "conv" or any(_holds_conv(i) for branch in info.branches
                                      for i in branch)


# ---------------------------------------------------------------------- the passes
def gradcam(net: Network, x, class_index: int | None = None, layer: str | None = None) -> dict:
    """Grad-CAM of class ``class_index`` (None or −1: the top-scoring class) at top-level
    ``layer`` (default: ``default_layer``) for one image ``x`` ((C, H, W) or (1, C, H, W)),
    with plain saliency, guided backprop and guided Grad-CAM of the same class.

    Returns {"layer", "score_layer", "class", "score": y^c, "probability": softmax of the
    scores at c, "scores", "probabilities" (all classes), "activations": A (K, h, w),
    "gradients": ∂y^c/∂A (K, h, w), "alphas": (K,), "top_channels": [(k, α_k)] largest
    first, "cam": ReLU(Σ α_k A^k) (h, w), "raw_min", "raw_max" (of "cam"), "upsampled":
    "cam" at the input's size, "map": that divided by its maximum (zeros if it is 0),
    "centres": (rows, columns) of the units' receptive-field centres, "upsampling",
    "saliency": ∂y^c/∂x (C, H, W), "guided": guided backprop (C, H, W), "guided_gradcam":
    guided × map (C, H, W)}.
    """
    x = _as_batch(net, x)
    report = net.analyze(fixes=False)
    layer = layer or default_layer(net, report)
    usable = spatial_layers(net, report)
    if layer not in usable:
        raise ConvScopeError(f"'{layer}' is not a top-level layer with spatial maps before "
                             f"the scores (those are: {', '.join(usable) or 'none'})", PLACE)
    cut, acts, c, grad_out = _class_pass(net, x, class_index, report)
    score = cut.layers[-1].name
    scores = acts[score][0, :, 0, 0]
    probabilities = softmax_forward(scores[None, :, None, None])[0][0, :, 0, 0]
    ctx, caches = _tape(cut)
    k = [each.name for each in cut.layers].index(layer) + 1  # the layers up to A
    d_maps = ctx.back(cut.layers[k:], grad_out, caches[k:])  # ∂y^c/∂A on the way down
    plain = ctx.back(cut.layers[:k], d_maps, caches[:k])[0]
    guided = _guided(ctx, cut.layers, grad_out, caches)[0]
    maps, d_maps = acts[layer][0], d_maps[0]
    alphas = d_maps.mean(axis=(1, 2))
    cam = np.maximum(np.tensordot(alphas, maps, axes=1), 0).astype(np.float32)
    centres = receptive_centres(net, layer, cam.shape, report)
    upsampled = upsample(cam, centres, x.shape[2:])
    peak = float(upsampled.max())
    shown = upsampled / peak if peak > 0 else np.zeros_like(upsampled)
    order = np.argsort(-alphas, kind="stable")[:TOP_CHANNELS]
    return {"layer": layer, "score_layer": score, "class": c, "score": float(scores[c]),
            "probability": float(probabilities[c]), "scores": scores,
            "probabilities": probabilities, "activations": maps, "gradients": d_maps,
            "alphas": alphas, "top_channels": [(int(i), float(alphas[i])) for i in order],
            "cam": cam, "raw_min": float(cam.min()), "raw_max": float(cam.max()),
            "upsampled": upsampled, "map": shown, "centres": centres,
            "upsampling": UPSAMPLING, "saliency": plain, "guided": guided,
            "guided_gradcam": guided * shown[None]}


def _class_pass(net: Network, x, class_index, report=None):
    """The forward pass up to the scores for class ``class_index`` (None or −1: the top
    one): (the network cut there, its outputs, the class, the one-hot ∂y^c/∂scores)."""
    score = score_layer(net, report)
    cut = truncated_at(net, score, PLACE)
    acts = cut.forward(x)
    c = _class(class_index, acts[score][0, :, 0, 0])
    grad_out = np.zeros_like(acts[score])
    grad_out[0, c] = 1.0
    return cut, acts, c, grad_out


def _class(class_index, scores) -> int:
    if class_index is None or class_index == -1:
        return int(np.argmax(scores))
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) or \
            not 0 <= class_index < len(scores):
        raise ConvScopeError(f"the class must be from 0 to {len(scores) - 1}, got "
                             f"{class_index!r}", PLACE)
    return int(class_index)


def _tape(net: Network):
    """(context, per-layer caches) of ``net``'s last forward pass: Network.backward only
    runs the whole tape, and Grad-CAM needs the gradient where the tape is cut at A."""
    ctx, caches, _shape = net.tape
    return ctx, caches


def _guided_rule(layer, _dout, dx):
    """Guided backprop at a ``relu``: relu's own backward already zeroed the gradient where
    its input was ≤ 0; the gradient passes only where it is itself > 0 too."""
    return np.maximum(dx, 0) if layer.TYPE == "relu" else dx


def _guided(ctx, layers, grad_out, caches) -> np.ndarray:
    """The guided pass down the tape (blocks call ``ctx.back`` for their nested layers,
    so they are guided too)."""
    with ctx.hooked(_guided_rule):
        return ctx.back(layers, grad_out, caches)


def guided_backprop(net: Network, x, class_index: int | None = None) -> np.ndarray:
    """Guided backprop of one class score (None or −1: the top one) with respect to the
    image (C, H, W)."""
    cut, _acts, _c, grad_out = _class_pass(net, _as_batch(net, x), class_index)
    ctx, caches = _tape(cut)
    return _guided(ctx, cut.layers, grad_out, caches)[0]


# ---------------------------------------------------------------------- to the input's size
def receptive_centres(net: Network, layer: str, shape, report=None) -> tuple:
    """(row centres (h,), column centres (w,)) of the units of ``layer`` on the input: the
    middle of each unit's receptive field (evenly spaced by the layer's jump)."""
    h, w = shape
    (top, bottom), (left, right) = net.input_window(layer, 0, 0, report)
    (top2, bottom2), (left2, right2) = net.input_window(layer, h - 1, w - 1, report)
    return (np.linspace((top + bottom) / 2, (top2 + bottom2) / 2, h),
            np.linspace((left + right) / 2, (left2 + right2) / 2, w))


def interpolation_matrix(centres: np.ndarray, size: int) -> np.ndarray:
    """(size, len(centres)): row p weighs the two centres around pixel p linearly (the
    nearest one alone beyond the outermost centres)."""
    count = len(centres)
    matrix = np.zeros((size, count), np.float64)
    pixels = np.arange(size)
    if count == 1:
        matrix[:, 0] = 1.0
        return matrix
    left = np.clip(np.searchsorted(centres, pixels, side="right") - 1, 0, count - 2)
    t = np.clip((pixels - centres[left]) / (centres[left + 1] - centres[left]), 0.0, 1.0)
    matrix[pixels, left] = 1.0 - t
    matrix[pixels, left + 1] += t
    return matrix


def upsample(cam: np.ndarray, centres: tuple, size: tuple) -> np.ndarray:
    """(h, w) → (H, W) by bilinear interpolation between the units' centres."""
    rows = interpolation_matrix(centres[0], size[0])
    cols = interpolation_matrix(centres[1], size[1])
    return (rows @ cam.astype(np.float64) @ cols.T).astype(np.float32)


def gradient_picture(gradient: np.ndarray) -> np.ndarray:
    """(C, H, W) gradient → (H, W) grey or (H, W, 3) colour in [0, 1] to look at: 0.5 is
    zero, 0 and 1 the largest |value| (other channel counts: the mean over channels)."""
    g = np.asarray(gradient, np.float32)
    top = float(np.abs(g).max())
    g = 0.5 + g / (2 * top) if top > 0 else np.full_like(g, 0.5)
    if g.shape[0] == 3:
        return g.transpose(1, 2, 0)
    return g[0] if g.shape[0] == 1 else g.mean(axis=0)
