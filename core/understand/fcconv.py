"""FC→CONV: the notes' "Converting FC layers to CONV layers", done on the user's network.

An fc layer that sees a C×H×W volume computes, for each of its U units, the dot product of a
U-th weight row with the whole volume. A conv layer with U filters of H×W×C and no padding
computes exactly the same dot products at its one output position. So the first fc after
the conv stack becomes a conv whose kernel covers the whole volume (VGG16's fc6: 4096 filters
of 7×7×512), and every later fc, which sees a 1×1×U' vector, becomes a 1×1 conv. The weights
are only reshaped: an fc weight (U, C·H·W), flattened C-major, is the conv weight (U, C, H, W).

The converted network no longer cares about the input size: on a larger image the "fc"
kernels slide, and the last layer gives a grid of class scores in one pass (VGG16 at 384×384:
6×6×1000), as if the original network had been run on 6×6 = 36 crops 32 pixels apart.

Seeing it: ``CropGrid`` says which crop a cell scores (VGG16: 224×224 at 32·i, 32·j),
``HeadWindow`` which window of the last map before the first fc it reads (pool5 12×12, a 7×7
window: (12 − 7 + 2·0)/1 + 1 = 6), ``check_crop`` runs the original on a crop beside its cell
(equal without padding; with it, the crop's own zero padding where the big pass saw pixels
makes them differ), and ``shifted_scores`` halves the step: passes on the image shifted by
stride/2, interleaved (VGG16: 11×11 cells 16 pixels apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConvScopeError
from ..geometry import AxisResult, axis_output
from ..layers import Conv
from ..network import Cancelled, Network


@dataclass
class Conversion:
    """What ``convert_fc_to_conv`` changed: per fc layer, its old and new form."""

    converted: list = field(default_factory=list)  # dicts: name, units, kernel, in_shape, ...
    dropped: list = field(default_factory=list)  # names of flatten layers removed
    notes: list = field(default_factory=list)  # sentences for a person

    def __iter__(self):  # so that ``for line in notes`` reads the sentences
        return iter(self.notes)


def convert_fc_to_conv(net: Network, with_weights: bool = True) -> tuple[Network, Conversion]:
    """The network with every top-level fc layer turned into an equivalent conv.

    The first fc (the one after the conv stack) becomes a conv with kernel = its input's
    H×W and filters = units; each later fc a 1×1 conv; ``flatten`` layers in that head are
    dropped (a conv needs the volume, not the vector). Names are kept, so ``fc6.weight`` is
    still ``fc6.weight``, reshaped from (U, C·H·W) to (U, C, H, W).

    With ``with_weights`` the network's weights are created if missing and carried over;
    without, only the architecture is converted (cheap, for figures).
    Raises ConvScopeError if the network has no fc layer or cannot be analysed.
    """
    report = net.check_runnable(1) if with_weights else net.analyze()
    infos = report.top
    start = next((i for i, info in enumerate(infos) if info.type in ("fc", "flatten")), None)
    if start is None or not any(info.type == "fc" for info in infos[start:]):
        raise ConvScopeError("no top-level fc layer to convert", "FC→CONV")
    for info in infos[start:]:
        if info.out is None:
            raise ConvScopeError("the network has an error before its fc layers",
                                 f"{info.path} '{info.name}'")
    if with_weights:
        net.ensure_weights()
    out = net.copy()
    out.name = f"{net.name} (FC→CONV)"
    out.weights = {}
    conversion = Conversion()
    volume = None  # the C×H×W the next fc really sees (before any flatten)
    layers = list(out.layers[:start])
    head = infos[start:]
    for k, (info, layer) in enumerate(zip(head, out.layers[start:])):
        if info.type == "flatten":
            _check_flatten_feeds_fc(head[k:])
            volume = volume or info.in_shape
            conversion.dropped.append(layer.name)
            continue
        if info.type != "fc":
            layers.append(layer)
            if info.out != info.in_shape:
                volume = None
            continue
        shape = volume or info.in_shape
        volume = None
        layers.append(_as_conv(layer, shape))
        conversion.converted.append(_describe(layer, shape, not conversion.converted))
    out.layers = layers
    conversion.notes = _notes(conversion, report, infos[start])
    if with_weights:
        out.set_weights(_reshaped_weights(net.weights, conversion), source="FC→CONV")
    return out, conversion


def _check_flatten_feeds_fc(rest) -> None:
    """A flatten can be dropped only if nothing but element-wise layers lie between it and
    the next fc (anything else would see a C×H×W volume instead of a vector)."""
    flatten = rest[0]
    for info in rest[1:]:
        if info.type == "fc":
            return
        if not info.layer.IN_PLACE:
            raise ConvScopeError(f"'{info.name}' ({info.type}) between a flatten and an fc "
                                 "works on the flattened vector; it has no conv equivalent",
                                 f"{flatten.path} '{flatten.name}'")


def _as_conv(fc_layer, shape) -> Conv:
    c, h, w = shape
    return Conv(name=fc_layer.name, filters=fc_layer.get("units"),
                kernel=h if h == w else [h, w], bias=fc_layer.get("bias"))


def _describe(layer, shape, first) -> dict:
    c, h, w = shape
    units = layer.get("units")
    return {"name": layer.name, "units": units, "in_shape": tuple(shape), "kernel": (h, w),
            "first": first, "weight_from": (units, c * h * w), "weight_to": (units, c, h, w)}


def _reshaped_weights(weights: dict, conversion: Conversion) -> dict:
    """Every weight as it was, fc weights reshaped (U, C·H·W) → (U, C, H, W): flatten is
    C-major, so row u of the fc matrix read C-major is filter u."""
    out = dict(weights)
    for item in conversion.converted:
        key = f"{item['name']}.weight"
        out[key] = np.ascontiguousarray(weights[key].reshape(item["weight_to"]))
    return out


def _notes(conversion: Conversion, report, first_head) -> list:
    notes = []
    for item in conversion.converted:
        c, h, w = item["in_shape"]
        u = item["units"]
        if item["first"] and (h, w) != (1, 1):
            notes.append(f"{item['name']}: fc over {h}×{w}×{c} → conv of {u:,} filters "
                         f"{h}×{w}×{c} (padding 0, stride 1); weight ({u:,}, {c * h * w:,}) "
                         f"reshaped to ({u:,}, {c}, {h}, {w})")
        else:
            notes.append(f"{item['name']}: fc over {c:,} values → 1×1 conv of {u:,} filters "
                         f"(1×1×{c:,}); weight ({u:,}, {c:,}) reshaped to ({u:,}, {c:,}, 1, 1)")
    for name in conversion.dropped:
        notes.append(f"{name}: flatten dropped (the conv reads the volume directly)")
    jump = first_head.in_shape and _stride_before(report, first_head)
    if jump:
        notes.append(f"the conv stack's total stride is {jump[0]}×{jump[1]}: on a larger input "
                     f"each step of the score grid moves the window {jump[0]} pixels")
    if any(i.type == "global_avg_pool" for i in report.top):
        notes.append("the network averages over H×W before its fc layers, so a larger input "
                     "still gives one score vector (the average over positions), not a grid")
    padded = padded_layers(report)
    if padded:
        notes.append(f"{len(padded)} layer{'s' * (len(padded) != 1)} before the fc layers pad "
                     f"with zeros ({', '.join(padded[:3])}{', …' * (len(padded) > 3)}): on a "
                     "larger image a grid cell sees the real neighbouring pixels where its crop, "
                     "run alone, sees zeros, so a cell differs from its crop wherever the crop's "
                     "side lies inside the image")
    return notes


def _stride_before(report, head_info):
    """The jump (total stride) of the layer before the head, (1, 1) at the input."""
    index = report.layers.index(head_info)
    for info in reversed(report.layers[:index]):
        if info.jump is not None and info.depth == 0:
            return info.jump
    return (1, 1)


# ============================================================================ checking it
def check_equivalence(net: Network, converted: Network, x, should_stop=None) -> dict:
    """Run both networks on ``x`` (N, C, H, W) at the original input size.

    Returns {"max_abs": largest |difference| of the final outputs, "scale": largest |output|
    of the original, "max_rel": max_abs / scale, "output_shape": (N, K, 1, 1)}.
    ``should_stop`` is asked between layers (Cancelled).
    """
    a = _final(net, x, should_stop)
    b = _final(converted, x, should_stop)
    if a.shape != b.shape:
        raise ConvScopeError(f"the outputs differ in shape: {a.shape} vs {b.shape}", "FC→CONV")
    diff = float(np.abs(a.astype(np.float64) - b).max())
    scale = float(np.abs(a).max())
    return {"max_abs": diff, "scale": scale, "max_rel": diff / scale if scale else diff,
            "output_shape": tuple(a.shape)}


def _final(net, x, should_stop=None):
    return net.forward(x, should_stop=should_stop)[net.layers[-1].name]


def _size_pair(size) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    try:
        h, w = size
        return int(h), int(w)
    except (TypeError, ValueError):
        raise ConvScopeError(f"size must be a whole number or (height, width), got {size!r}",
                             "FC→CONV") from None


def resized(net: Network, size) -> Network:
    """A copy of ``net`` (weights shared) taking an input of H×W = ``size``."""
    h, w = _size_pair(size)
    out = net.copy()
    out.input.height, out.input.width = h, w
    return out


def score_grid(converted: Network, size) -> tuple[Network, tuple[int, int, int]]:
    """The converted network on an input of H×W = ``size`` (int or (h, w)) and the shape of
    the score grid it gives, (rows, cols, classes): VGG16 at 384 → (6, 6, 1000).

    Found by analysis only (nothing runs); ConvScopeError if the input is too small."""
    big = resized(converted, size)
    report = big.analyze()
    out = report.output
    if out is None:
        d = next((d for d in report.diagnostics if d.severity == "error"), None)
        reason = f": {d.message} ({d.layer})" if d else ""
        raise ConvScopeError(f"the converted network cannot take {big.input.height}×"
                             f"{big.input.width}{reason}", "FC→CONV")
    classes, rows, cols = out
    return big, (rows, cols, classes)


def class_scores(big: Network, x) -> np.ndarray:
    """Run the resized converted network; → scores (N, rows, cols, classes)."""
    return np.moveaxis(_final(big, x), 1, -1)


def larger_size(net: Network, cells: int = 6) -> tuple[int, int]:
    """The input size at which the converted network gives a cells×cells grid: the original
    size plus (cells − 1) strides (VGG16: 224 + 5·32 = 384; AlexNet: 227 + 5·32 = 387)."""
    stride = conv_stack_stride(net)
    return (net.input.height + (cells - 1) * stride[0],
            net.input.width + (cells - 1) * stride[1])


def conv_stack_stride(net: Network) -> tuple[int, int]:
    """The total stride (product of strides) of everything before the first top-level fc."""
    report = net.analyze()
    head = next((i for i in report.top if i.type in ("fc", "flatten")), None)
    if head is None:
        raise ConvScopeError("no top-level fc layer", "FC→CONV")
    return tuple(_stride_before(report, head))


def sliding_cost(net: Network, size) -> dict:
    """What it costs to score every crop of an image of H×W = ``size`` with the original
    network (crops one conv-stack stride apart), against one pass of the converted network.

    Returns {"stride", "crops": (rows, cols), "crop_count", "macs_per_crop",
    "sliding_macs", "converted_macs", "ratio" (sliding / converted), "grid": (rows, cols,
    classes), "whole": whether the crops tile the image exactly}.
    """
    h, w = _size_pair(size)
    h0, w0 = net.input.height, net.input.width
    if h < h0 or w < w0:
        raise ConvScopeError(f"{h}×{w} is smaller than the network's input {h0}×{w0}",
                             "FC→CONV")
    sh, sw = conv_stack_stride(net)
    rows, cols = (h - h0) // sh + 1, (w - w0) // sw + 1
    per_crop = net.analyze().totals()["macs"]
    converted, _ = convert_fc_to_conv(net, with_weights=False)
    big, grid = score_grid(converted, (h, w))
    converted_macs = big.analyze().totals()["macs"]
    sliding = per_crop * rows * cols
    return {"stride": (sh, sw), "crops": (rows, cols), "crop_count": rows * cols,
            "macs_per_crop": per_crop, "sliding_macs": sliding,
            "converted_macs": converted_macs,
            "ratio": sliding / converted_macs if converted_macs else float("inf"),
            "grid": grid, "whole": (h - h0) % sh == 0 and (w - w0) % sw == 0}


# ============================================================================ seeing it
@dataclass(frozen=True)
class CropGrid:
    """Where the cells of a score grid look on the larger image: cell (i, j) is the original
    network on the crop of size ``crop`` whose top-left corner is (step·i, step·j).

    The corner is step·i whatever the padding: the big pass's map position i + q and the
    crop's position q are the same distance from their corners (VGG16 at 384: 6×6 cells,
    crops of 224×224 every 32 pixels; with two shifted passes a step of 16 and 11×11 cells)."""

    crop: tuple[int, int]  # (height, width) of the original network's input
    step: tuple[int, int]  # pixels between neighbouring cells' crops
    cells: tuple[int, int]  # (rows, cols) of the grid

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of cell (i, j)'s crop on the larger image."""
        if not (0 <= i < self.cells[0] and 0 <= j < self.cells[1]):
            raise ConvScopeError(f"no cell ({i}, {j}) in a {self.cells[0]}×{self.cells[1]} "
                                 "grid", "FC→CONV")
        return self.step[0] * i, self.step[1] * j, self.crop[0], self.crop[1]

    def covering(self, y: float, x: float):
        """The cells whose crop holds pixel (y, x), as inclusive index ranges
        ((first row, last row), (first col, last col)); None when no crop does."""
        ranges = []
        for point, step, crop, count in zip((y, x), self.step, self.crop, self.cells):
            pixel = int(np.floor(point))
            first = max(0, -(-(pixel - crop + 1) // step))  # step·k + crop − 1 ≥ pixel
            last = min(count - 1, pixel // step) if pixel >= 0 else -1  # step·k ≤ pixel
            if first > last:
                return None
            ranges.append((first, last))
        return tuple(ranges)

    def nearest(self, y: float, x: float) -> tuple[int, int]:
        """The cell whose crop's centre is nearest pixel (y, x) (clipped to the grid)."""
        return tuple(int(np.clip(np.floor((point - (crop - 1) / 2) / step + 0.5), 0, count - 1))
                     for point, step, crop, count in zip((y, x), self.step, self.crop,
                                                         self.cells))


def crop_grid(net: Network, cells, passes: int = 1) -> CropGrid:
    """The CropGrid of the original network ``net`` for a grid of ``cells`` (rows, cols):
    one pass steps by the conv stack's total stride, ``passes`` shifted passes per axis by
    stride/passes (VGG16: 32, and 16 with 2)."""
    step = tuple(s // passes for s in _divisible_stride(net, passes))
    return CropGrid((net.input.height, net.input.width), step, tuple(cells[:2]))


def _divisible_stride(net: Network, passes: int) -> tuple[int, int]:
    stride = conv_stack_stride(net)
    if passes < 1 or any(s % passes for s in stride):
        raise ConvScopeError(f"the total stride {stride[0]}×{stride[1]} cannot be split into "
                             f"{passes} shifted passes per axis", "FC→CONV")
    return stride


def crop_of(image: np.ndarray, box) -> np.ndarray:
    """The pixels of ``box`` = (top, left, height, width) of an image (C, H, W)."""
    top, left, h, w = box
    if top < 0 or left < 0 or top + h > image.shape[1] or left + w > image.shape[2]:
        raise ConvScopeError(f"crop {h}×{w} at ({top}, {left}) is outside the "
                             f"{image.shape[1]}×{image.shape[2]} image", "FC→CONV")
    return image[:, top:top + h, left:left + w]


@dataclass(frozen=True)
class HeadWindow:
    """The last map before the first fc, at the larger input, and the first fc (now a conv)
    stepping over it: VGG16 at 384 → pool5 12×12×512 under fc6's 7×7 window, stride 1,
    (12 − 7 + 2·0)/1 + 1 = 6 positions per axis."""

    layer: str  # the map's layer ("input" when the fc reads the input)
    shape: tuple  # (C, H, W) of the map at the larger size
    fc: str  # the first fc's name
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    axes: tuple[AxisResult, AxisResult]  # the output size worked out per axis

    @property
    def cells(self) -> tuple[int, int]:
        return self.axes[0].out, self.axes[1].out

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the window of grid cell (i, j) on the map."""
        return (i * self.stride[0] - self.padding[0], j * self.stride[1] - self.padding[1],
                self.kernel[0], self.kernel[1])

    def formula(self) -> str:
        """The worked size arithmetic (geometry.axis_output's text), once when both axes
        agree: "(12 − 7 + 2·0)/1 + 1 = 6"."""
        height, width = (axis.formula() for axis in self.axes)
        return height if height == width else f"height {height}; width {width}"


def head_window(net: Network, size) -> HeadWindow:
    """The HeadWindow of the original network ``net`` (with its fc layers) on an input of
    H×W = ``size``, by analysis only (nothing runs)."""
    converted, conversion = convert_fc_to_conv(net, with_weights=False)
    big, _ = score_grid(converted, size)
    report = big.analyze()
    fc = conversion.converted[0]["name"]
    info = report.by_name(fc)
    index = report.top.index(info)
    layer = report.top[index - 1].name if index else "input"
    (kh, sh, ph), (kw, sw, pw) = info.window
    axes = tuple(axis_output(n, k, p, s) for n, k, p, s in
                 zip(info.in_shape[1:], (kh, kw), (ph, pw), (sh, sw)))
    return HeadWindow(layer, tuple(info.in_shape), fc, (kh, kw), (sh, sw), (ph, pw), axes)


def padded_layers(report) -> list:
    """The names of the layers before the first top-level fc that pad their input."""
    head = next((i for i in report.top if i.type in ("fc", "flatten")), None)
    end = report.layers.index(head) if head is not None else len(report.layers)
    return [info.name for info in report.layers[:end]
            if info.window is not None and any(p for _, _, p in info.window)]


def check_crop(net: Network, image: np.ndarray, box, cell_scores, head: HeadWindow = None,
               big_map=None, cell=None) -> dict:
    """The original network ``net`` on the crop ``box`` of ``image`` (C, H, W), against the
    grid cell's ``cell_scores`` (K,).

    Returns {"scores": the crop's (K,), "max_abs": largest |cell − crop|, "scale": largest
    |crop score|}; with ``head``, the big pass's map ``big_map`` (C, H, W) and the ``cell``
    (i, j) also "map_diff": per position of the fc's window, the largest |difference| over
    channels between the crop's own map and the big map under the window (zero where the
    padding never reached)."""
    acts = net.forward(crop_of(image, box)[None])
    scores = acts[net.layers[-1].name].reshape(-1)
    cell_scores = np.asarray(cell_scores).reshape(-1)
    out = {"scores": scores, "max_abs": float(np.abs(scores - cell_scores).max()),
           "scale": float(np.abs(scores).max())}
    if head is not None and big_map is not None and cell is not None:
        top, left, h, w = head.box(*cell)
        own = acts[head.layer][0] if head.layer in acts else None
        window = big_map[:, top:top + h, left:left + w]
        if own is not None and own.shape == window.shape:
            out["map_diff"] = np.abs(own - window).max(axis=0)
    return out


def compare_cells(net: Network, image: np.ndarray, grid: np.ndarray, crops: CropGrid,
                  cells=None, should_stop=None, progress=None) -> dict:
    """Every cell of ``grid`` (rows, cols, K) (or the listed ``cells``) against the original
    network on its crop. Returns {"cells": [(i, j), ...], "max_abs": per cell, "worst":
    the largest, "scale": the largest |crop score|}. ``should_stop`` is asked between crops
    (Cancelled), ``progress(done, total)`` told after each."""
    cells = list(cells) if cells is not None else list(np.ndindex(*grid.shape[:2]))
    diffs, scale = [], 0.0
    for n, (i, j) in enumerate(cells):
        if should_stop is not None and should_stop():
            raise Cancelled("a newer request")
        found = check_crop(net, image, crops.box(i, j), grid[i, j])
        diffs.append(found["max_abs"])
        scale = max(scale, found["scale"])
        if progress is not None:
            progress(n + 1, len(cells))
    return {"cells": cells, "max_abs": np.array(diffs), "worst": max(diffs, default=0.0),
            "scale": scale}


# ============================================================================ shifted passes
def shift_offsets(net: Network, passes: int = 2) -> list:
    """The (dy, dx) pixel shifts of the passes: every multiple of stride/passes below the
    stride, per axis (VGG16, 2 passes: (0, 0), (0, 16), (16, 0), (16, 16))."""
    stride = _divisible_stride(net, passes)
    steps = [s // passes for s in stride]
    return [(a * steps[0], b * steps[1]) for a in range(passes) for b in range(passes)]


def interleave(grids: dict, passes: int) -> np.ndarray:
    """Score grids of shifted passes, {(dy, dx): (rows, cols, K)}, woven into one finer grid:
    pass (a·step, b·step)'s cell (i, j) is fine cell (passes·i + a, passes·j + b)."""
    dys = sorted({dy for dy, _ in grids})
    dxs = sorted({dx for _, dx in grids})
    if len(dys) != passes or len(dxs) != passes or len(grids) != passes * passes:
        raise ConvScopeError(f"interleaving needs {passes}×{passes} passes, got "
                             f"{sorted(grids)}", "FC→CONV")
    rows = sum(grids[(dy, dxs[0])].shape[0] for dy in dys)
    cols = sum(grids[(dys[0], dx)].shape[1] for dx in dxs)
    first = next(iter(grids.values()))
    fine = np.empty((rows, cols) + first.shape[2:], first.dtype)
    for (dy, dx), grid in grids.items():
        a, b = dys.index(dy), dxs.index(dx)
        if fine[a::passes, b::passes].shape != grid.shape:
            raise ConvScopeError(f"the pass shifted by ({dy}, {dx}) gives a "
                                 f"{grid.shape[0]}×{grid.shape[1]} grid, which does not "
                                 f"interleave into {rows}×{cols}", "FC→CONV")
        fine[a::passes, b::passes] = grid
    return fine


def shifted_scores(original: Network, converted: Network, image: np.ndarray, passes: int = 2,
                   known=None, should_stop=None, progress=None) -> dict:
    """The converted network on ``image`` (C, H, W) shifted by every offset of
    ``shift_offsets(original, passes)`` (the image without its first dy rows and dx
    columns), each pass's grid and the finer grid they interleave into.

    ``known``: the unshifted pass's grid (rows, cols, K), if already run. ``progress(text)``
    is told before each pass; ``should_stop`` is asked between layers (Cancelled).
    Returns {"grids": {(dy, dx): grid}, "fine": (R, C, K), "crops": the fine CropGrid}."""
    grids = {}
    for dy, dx in shift_offsets(original, passes):
        if (dy, dx) == (0, 0) and known is not None:
            grids[(0, 0)] = known
            continue
        shifted = image[:, dy:, dx:]
        if progress is not None:
            progress(f"the pass shifted by {dy} px down, {dx} px right "
                     f"({shifted.shape[1]}×{shifted.shape[2]})")
        big, _ = score_grid(converted, shifted.shape[1:])
        out = big.forward(shifted[None], should_stop=should_stop)[big.layers[-1].name]
        grids[(dy, dx)] = np.moveaxis(out[0], 0, -1)
    fine = interleave(grids, passes)
    return {"grids": grids, "fine": fine, "crops": crop_grid(original, fine.shape, passes)}
