"""The network: an input, a tree of layers, optional weights; read, written, analysed, run.

This is the Python API of the spec (section 5)::

    net = Network.load("vgg16.json"); report = net.analyze(); acts = net.forward(x)
"""

from __future__ import annotations

import json
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import isfinite, prod
from pathlib import Path

import numpy as np

from . import fileio
from .analysis import Report, analyze, first_problem
from .errors import ConvScopeError
from .fields import MAX_COUNT, MAX_SPATIAL, shown
from .layers import REGISTRY, Block, Layer
from .paths import (
    NAME_RE,  # noqa: F401  (the importers check names with it)
    RESERVED_NAMES,
    TOP,
    LayerPath,
    check_name,
    container_path,
    item_path,
    split_container,
    split_weight_key,
    weight_key,
)

FORMAT, VERSION = "convscope", 1
TOP_KEYS = {"format", "version", "name", "description", "input", "weights", "seed", "layers"}
INPUT_KEYS = {"channels", "height", "width", "mean", "std"}
# A forward pass that would need more than this is refused with the figures, not run.
DEFAULT_MEMORY_BUDGET = 6 << 30


@dataclass
class InputSpec:
    channels: int = 3
    height: int = 224
    width: int = 224
    mean: list | None = None
    std: list | None = None

    @property
    def shape(self) -> tuple:
        return (self.channels, self.height, self.width)

    def to_dict(self) -> dict:
        out = {"channels": self.channels, "height": self.height, "width": self.width}
        if self.mean is not None:
            out["mean"] = list(self.mean)
        if self.std is not None:
            out["std"] = list(self.std)
        return out


@dataclass
class Network:
    name: str = "untitled"
    input: InputSpec = field(default_factory=InputSpec)
    layers: list = field(default_factory=list)
    seed: int = 0
    description: str = ""
    weights_file: str | None = None  # as written in the file, relative to it
    # True once weights came from a file, training or the user: saving then writes them too,
    # where seeded initial weights need no file (the seed makes them again)
    own_weights: bool = False
    weights: dict = field(default_factory=dict)  # "<layer>.<param>" → array, filled lazily
    memory_budget: int = DEFAULT_MEMORY_BUDGET

    # ================================================================== files
    @classmethod
    def load(cls, path, weights=True) -> Network:
        """Read an architecture file (and its weights file, if it names one)."""
        path = Path(path)
        data = fileio.read_json(path)
        try:
            net = cls.from_dict(data)
        except ConvScopeError as err:
            raise err.located(source=str(path)) from None
        # the weights name is relative to the file itself, where a symlink to it points
        folder = fileio.real_path(path).parent
        fileio.clean_temporaries(folder)  # what an interrupted save left here
        if weights and net.weights_file:
            net.load_weights(folder / net.weights_file)
        return net

    @classmethod
    def preset(cls, name: str) -> Network:
        """A bundled preset by name ("vgg16", "lenet5", ...), found from any folder."""
        from .presets import preset_path

        return cls.load(preset_path(name))

    @classmethod
    def from_dict(cls, data) -> Network:
        if not isinstance(data, dict):
            raise ConvScopeError("the file must hold one JSON object")
        _check_tree(data)
        if data.get("format") != FORMAT:
            raise ConvScopeError(f"'format' must be \"{FORMAT}\", got {shown(data.get('format'))}")
        if data.get("version") != VERSION:
            raise ConvScopeError(
                f"'version' {shown(data.get('version'))} is not supported (this reads {VERSION})")
        unknown = set(data) - TOP_KEYS
        if unknown:
            raise ConvScopeError(f"unknown key {shown(sorted(unknown)[0])} at the top level")
        net = cls(name=_text(data.get("name", "untitled"), "name"),
                  description=_text(data.get("description", ""), "description"),
                  input=_read_input(data.get("input")),
                  seed=_read_seed(data.get("seed", 0)))
        weights = data.get("weights")
        if weights is not None:
            net.weights_file = fileio.check_relative_name(_text(weights, "weights"))
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ConvScopeError("'layers' must be a list of layers", "layers")
        net.layers = read_layers(layers, "layers")
        assign_names(net.layers)
        return net

    def to_dict(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, "name": self.name}
        if self.description:
            out["description"] = self.description
        out["input"] = self.input.to_dict()
        if self.weights_file:
            out["weights"] = self.weights_file
        out["seed"] = self.seed
        out["layers"] = write_layers(self.layers)
        return out

    def save(self, path, with_weights: bool | None = None) -> None:
        """Write the architecture and, if it has loaded or trained weights, its ``.npz``, as
        a pair: the weights go under a name no file has yet, the architecture switches to
        them, then the weights it named before go. A failure or a kill at any moment leaves
        the old pair or the new one. A new name (Save As) never touches another file's
        weights; a symlink is followed (the link stays)."""
        path = fileio.real_path(path)
        fileio.clean_temporaries(path.parent)
        if with_weights is None:
            with_weights = bool(self.weights_file) or self.own_weights
        arrays = name = None
        if with_weights:
            self.ensure_weights()
            arrays = self.state_dict()
            name = fileio.free_weights_name(path.parent, path.stem)
        named, self.weights_file = self.weights_file, name
        try:
            data = self.to_dict()
        finally:
            self.weights_file = named
        self.weights_file = fileio.save_pair(path, data, name, arrays,
                                             fileio.referenced_weights(path))

    def copy(self) -> Network:
        """A deep copy of the architecture (weights arrays shared until replaced)."""
        net = Network.from_dict(self.to_dict())
        net.weights = dict(self.weights)
        net.memory_budget = self.memory_budget
        net.own_weights = self.own_weights
        return net

    # ================================================================== weights
    def param_shapes(self, report: Report | None = None) -> dict:
        """"<layer>.<param>" → shape for every parameter and buffer of the network.
        ``report``: this network's analysis, if the caller has one."""
        report = report or self.analyze(fixes=False)
        shapes = {}
        for info in report.layers:
            if info.in_shape is None or info.out is None or isinstance(info.layer, Block):
                continue
            for key, shape in info.layer.param_shapes(info.in_shape).items():
                shapes[weight_key(info.name, key)] = tuple(shape)
        return shapes

    def ensure_weights(self, report: Report | None = None) -> None:
        """Initialise every parameter that is missing or no longer fits its layer.

        Each layer draws from its own generator, seeded by (seed, layer name), so editing
        one layer never changes another's weights."""
        drawer = self.prepare_weights(report)
        for name in list(drawer.missing):
            drawer.draw(name)

    def prepare_weights(self, report: Report | None = None) -> WeightDrawer:
        """Before a pass that draws its weights layer by layer: drop the weights no layer
        has any more, refuse (before allocating) if the missing ones would not fit the
        budget, and return the drawer that makes them when their layer first runs."""
        shapes = self.param_shapes(report)
        missing = {key: shape for key, shape in shapes.items()
                   if self.weights.get(key) is None or self.weights[key].shape != shape}
        # Refuse an absurd network (legal sizes, terabytes of weights) before allocating.
        need = 4 * sum(prod(shape) for shape in missing.values())
        if need > self.memory_budget:
            raise ConvScopeError(
                f"weights not made: they need {need / 2**30:.1f} GiB, over the "
                f"{self.memory_budget / 2**30:.0f} GiB budget; make the layers smaller")
        for key in set(self.weights) - set(shapes):
            del self.weights[key]
        return WeightDrawer(self, missing)

    def state_dict(self) -> dict:
        return {k: np.asarray(v, np.float32) for k, v in sorted(self.weights.items())}

    def load_weights(self, path) -> None:
        """Read a weights file: every key present, none extra, every shape right, or nothing.
        Keys and shapes are checked on the file's headers, before any array is read."""
        shapes = self.param_shapes()
        arrays = fileio.read_npz(path, self.memory_budget,
                                 check=lambda declared: _check_weights(shapes, declared))
        self.set_weights(arrays, source=str(path))

    def set_weights(self, arrays: dict, source: str = "weights") -> None:
        try:
            _check_weights(self.param_shapes(), {k: (np.shape(v), np.asarray(v).dtype)
                                                 for k, v in arrays.items()})
        except ConvScopeError as err:
            raise err.located(source=source) from None
        self.weights = {k: np.array(v, dtype=np.float32) for k, v in arrays.items()}
        self.own_weights = True

    # ================================================================== analysis
    def analyze(self, fixes: bool = True) -> Report:
        """The per-layer figures and diagnostics. ``fixes=False`` skips the search for input
        sizes that make each size warning whole (shapes and figures only, a few ms faster
        per warning): for callers that need the numbers, not the advice."""
        report = analyze(self.layers, self.input.shape, self.name)
        if fixes:
            _add_input_fixes(self, report)
        return report

    # ================================================================== running
    def check_runnable(self, batch: int = 1, report: Report | None = None) -> Report:
        """The report, or ConvScopeError if the network has an error or would not fit."""
        report = report or self.analyze()
        d = report.first_error
        if d:
            raise ConvScopeError(f"cannot run past this layer: {d.message}",
                                 f"{d.path} '{d.layer}'")
        need = self.memory_needed(batch, report)
        if need > self.memory_budget:
            raise ConvScopeError(
                f"not run: one pass of batch {batch} needs about {need / 2**30:.1f} GiB "
                f"({_need_parts(report, batch)}), over the "
                f"{self.memory_budget / 2**30:.0f} GiB budget; make the input smaller")
        return report

    def _checked(self, batch: int, given: Report | None = None) -> Report:
        """``check_runnable``'s report for ``given`` (the caller's analysis of this
        network) or for the network as it is now, kept from the last call while the same
        report, batch and budget come, or, with none given, while what a save would write
        of the network (every layer, the input, the name) is the same: the analysis reads
        nothing else. Writing it out takes 0.2 ms where analysing and checking ResNet-18
        again took 2.8 ms of every ``forward`` (checking alone 0.8 ms)."""
        key = (batch, self.memory_budget,
               json.dumps(self.to_dict(), sort_keys=True) if given is None else None)
        kept = getattr(self, "_checked_report", None)
        if kept is not None and kept[0] == key and kept[1] is given:
            return kept[2]
        report = self.check_runnable(batch, given or self.analyze(fixes=False))
        self._checked_report = (key, given, report)
        return report

    def memory_needed(self, batch: int, report: Report) -> int:
        """Bytes ``forward`` needs at its peak for ``batch`` images: the weights, every
        layer's output and cache (all kept until it returns), the largest layer's scratch
        and the workspaces kept between passes (core.understand.memory.forward_need)."""
        from .understand.memory import forward_need

        return forward_need(report, batch)["total"]

    def forward(self, x, training: bool = False, rng=None, should_stop=None,
                report: Report | None = None, on_output=None, start: int = 0,
                kept=None) -> dict:
        """x: (N, C, H, W) → {"input": x, layer name: output (N, C, H, W) float32}.

        ``should_stop`` (optional, no arguments) is asked between layers; when it answers
        true the pass ends with ``Cancelled`` (the GUI stops a pass that an edit made stale).
        ``report``: this network's analysis, if the caller has one (not made again).
        Missing seeded weights are drawn layer by layer as the pass reaches them, so the
        first layers' outputs never wait for the last layers' weights.

        ``on_output(name, outputs)``, if given, is called after each top-level layer with
        its name and every output so far (a dict the pass goes on filling).
        ``start`` and ``kept`` resume an earlier pass: ``kept`` is that pass's ``tape``
        (``net.tape`` after it), whose first ``start`` top-level layers, their weights and
        its input are the same as this network's and ``x``; their outputs and caches are
        taken from it and the pass runs on from layer ``start`` (backward still works)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input.shape:
            raise ConvScopeError(f"input has shape {tuple(x.shape)}, the network takes "
                                 f"(N, {', '.join(map(str, self.input.shape))})", "input")
        if x.shape[0] == 0:
            raise ConvScopeError("a batch of 0 images: give at least one", "input")
        report = self._checked(x.shape[0], report)
        drawer = self.prepare_weights(report)
        # the last pass's outputs and caches would otherwise stay alive during this one,
        # doubling the peak the memory guard counts (a resumed pass keeps what it reuses)
        self._tape = None
        ctx = RunContext(self, report, training, rng or np.random.default_rng(self.seed),
                         should_stop, drawer)
        caches, start = ctx.resume(self.layers, x, start, kept)
        drawer.ahead()
        try:
            out, cache = ctx.run(self.layers[start:], ctx.outputs.get(
                self.layers[start - 1].name) if start else x, on_output)
        finally:
            drawer.close()
        self._tape = (ctx, caches + cache, out.shape)
        return {"input": x, **ctx.outputs}

    @property
    def tape(self):
        """What the last forward pass keeps for backward (and for resuming a pass):
        (its RunContext, the top-level layers' caches, the output's shape), or None."""
        return getattr(self, "_tape", None)

    def backward(self, grad_out, on_back=None, should_stop=None) -> dict:
        """After ``forward``: {"input": dL/dx, "<layer>.<param>": gradient}.

        ``on_back(layer, dout, dx)`` (optional) sees every layer on the way down and returns
        the dx to go on with (RunContext.back); ``should_stop`` is asked between layers (the
        forward pass's own is not: it answered for the forward)."""
        tape = getattr(self, "_tape", None)
        if tape is None:
            raise ConvScopeError("backward needs a forward pass first")
        ctx, cache, shape = tape
        grad_out = np.asarray(grad_out, dtype=np.float32)
        if grad_out.shape != shape:
            raise ConvScopeError(f"grad_out has shape {grad_out.shape}, the output is {shape}")
        with ctx.hooked(on_back, should_stop):
            dx = ctx.back(self.layers, grad_out, cache)
            return {"input": dx, **ctx.grads}

    # ================================================================== the tree
    def find(self, path: str) -> Layer:
        seq, index = locate(self, path)
        return seq[index]

    def sequence(self, path: str) -> list:
        """The list a container path names: ``layers``, ``layers[3].body``, ``...branches[1]``."""
        return sequence_at(self, path)

    def layer_names(self) -> set:
        return {layer.name for layer in iter_layers(self.layers)}

    def input_window(self, name: str, y: int, x: int, report: Report | None = None) -> tuple:
        """The input pixels that output pixel (y, x) of layer ``name`` sees: the receptive
        field as ((top, bottom), (left, right)), inclusive, before clipping to the image.
        ``report``: this network's analysis, if the caller has it (saves analysing again)."""
        chain = _chain_to((report or self.analyze()).top, name)
        if chain is None:
            raise KeyError(name)
        return _map_back(chain, ((y, y), (x, x)))

    def kernel_window(self, name: str, y: int, x: int, report: Report | None = None) -> tuple:
        """The window of output pixel (y, x) on the layer's own input, inclusive."""
        info = (report or self.analyze()).by_name(name)
        return _window_back(info, ((y, y), (x, x)))


def _need_parts(report: Report, batch: int) -> str:
    """Where a forward pass's memory goes, for the guard's message."""
    from .understand.memory import forward_need

    need = forward_need(report, batch)
    gib = {k: v / 2**30 for k, v in need.items()}
    return (f"outputs and caches {gib['input'] + gib['kept']:.1f} GiB, scratch "
            f"{gib['scratch']:.1f} GiB, workspaces {gib['held']:.1f} GiB, weights "
            f"{gib['weights']:.2f} GiB")


# ====================================================================== running context
class Cancelled(Exception):
    """A forward pass stopped between layers because its ``should_stop`` said so."""


class WeightDrawer:
    """The seeded weights a pass still has to draw, drawn per layer when it first runs:
    each key from its own generator, seeded by (seed, crc32 of the key), so the values do
    not depend on when, where or in which order they are drawn.

    When they are large (VGG16's fc6 alone takes seconds), ``ahead()`` draws them on a
    second thread in the order the pass needs them, while the pass computes the layers
    before them (NumPy draws without the GIL), so the two cores share the work; a layer
    whose weights are not ready yet waits for them."""

    AHEAD_BYTES = 16 << 20  # below this, drawing takes too little to be worth a thread

    def __init__(self, net, missing: dict):
        self.net = net
        self.layers = {layer.name: layer for layer in iter_layers(net.layers)}
        self.missing: dict = {}  # layer name → {param key: shape}
        for key, shape in missing.items():
            self.missing.setdefault(split_weight_key(key)[0], {})[key] = shape
        self.drawn: list = []  # the keys drawn so far, in order
        self._pool = None
        self._ready: dict = {}  # layer name → Future of its arrays

    def _make(self, name: str, shapes: dict) -> dict:
        made = {}
        for key, shape in shapes.items():
            rng = np.random.default_rng([self.net.seed, zlib.crc32(key.encode())])
            made[key] = self.layers[name].init_param(split_weight_key(key)[1], shape, rng)
        return made

    def ahead(self) -> None:
        """Start drawing every missing weight on a second thread, if they are large."""
        size = 4 * sum(prod(shape) for shapes in self.missing.values()
                       for shape in shapes.values())
        if size < self.AHEAD_BYTES or self._pool is not None:
            return
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="convscope-weights")
        for name, shapes in self.missing.items():  # the pass's order (the report's)
            self._ready[name] = self._pool.submit(self._make, name, dict(shapes))

    def close(self) -> None:
        """Stop drawing ahead (the weight being drawn is finished, the rest dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._ready = None, {}

    def draw(self, name: str) -> dict:
        """Layer ``name``'s missing weights, now in the network; → {key: array}."""
        shapes = self.missing.pop(name, {})
        ready = self._ready.pop(name, None)
        made = ready.result() if ready is not None else self._make(name, shapes)
        for key, value in made.items():
            self.net.weights[key] = value
            self.drawn.append(key)
        return made


class RunContext:
    """What a forward pass carries: weights, mode, every layer's output, caches, gradients."""

    def __init__(self, net, report, training, rng, should_stop=None, drawer=None):
        self.weights = net.weights
        self.by_layer: dict = {}  # layer name → {param: array}, grouped once per pass
        for key, value in net.weights.items():
            layer, param = split_weight_key(key)
            self.by_layer.setdefault(layer, {})[param] = value
        self.should_stop = should_stop
        self.drawer = drawer  # WeightDrawer: the weights still to draw, or None
        self.shapes = {i.name: i.out for i in report.layers}
        self.training = training
        self.rng = rng
        self.outputs: dict = {}
        self.grads: dict = {}
        self.on_back = None  # see back()

    def params(self, layer) -> dict:
        if self.drawer is not None and layer.name in self.drawer.missing:
            for key, value in self.drawer.draw(layer.name).items():
                self.by_layer.setdefault(layer.name, {})[split_weight_key(key)[1]] = value
        return self.by_layer.get(layer.name, {})

    def out_shape(self, layer) -> tuple:
        return self.shapes[layer.name]

    def run(self, layers, x, on_output=None):
        """Forward through a sequence; an empty one is the identity. ``on_output(name,
        outputs)`` after each layer of this sequence (not the layers inside a block)."""
        caches = []
        for layer in layers:
            if self.should_stop is not None and self.should_stop():
                raise Cancelled(f"stopped before '{layer.name}'")
            x, cache = layer.forward(x, self.params(layer), self)
            x = np.asarray(x, dtype=np.float32)
            self.outputs[layer.name] = x
            caches.append(cache)
            if on_output is not None:
                on_output(layer.name, self.outputs)
        return x, caches

    def resume(self, layers, x, start: int, kept) -> tuple[list, int]:
        """Take the outputs and caches of ``layers[:start]`` (nested layers included) from
        an earlier pass's tape; → (their caches, start). Nothing to take: ([], 0)."""
        if not start:
            return [], 0
        if kept is None or not 0 < start <= len(layers) or len(kept[1]) < start:
            raise ValueError(f"cannot resume at layer {start} from {kept!r:.60}")
        before, caches = kept[0].outputs, kept[1]
        last = before.get(layers[start - 1].name)
        if last is None or last.shape[1:] != self.shapes[layers[start - 1].name] \
                or last.shape[0] != x.shape[0]:
            raise ValueError(f"the kept pass does not fit at layer {start}")
        for layer in iter_layers(layers[:start]):
            if layer.name in before:
                self.outputs[layer.name] = before[layer.name]
        return list(caches[:start]), start

    def back(self, layers, dout, caches):
        """Backward through a sequence (blocks call it for their branches). ``on_back``,
        when set, sees each layer's (layer, dout, dx) and returns the dx to go on with: the
        one place a variant of the pass (recording every layer's gradients, guided
        backprop's rule at ReLUs) hooks in, so every variant walks the same tape."""
        for layer, cache in zip(reversed(layers), reversed(caches)):
            if self.should_stop is not None and self.should_stop():
                raise Cancelled(f"stopped before '{layer.name}'")
            dx, grads = layer.backward(dout, cache, self)
            for key, grad in grads.items():
                self.grads[weight_key(layer.name, key)] = np.asarray(grad, np.float32)
            dout = dx if self.on_back is None else self.on_back(layer, dout, dx)
        return np.asarray(dout, dtype=np.float32)

    @contextmanager
    def hooked(self, on_back, should_stop=None):
        """Backward passes inside the ``with`` use ``on_back`` (see ``back``) and
        ``should_stop``, and start with no parameter gradients."""
        saved = self.on_back, self.should_stop, self.grads
        self.on_back, self.should_stop, self.grads = on_back, should_stop, {}
        try:
            yield self
        finally:
            self.on_back, self.should_stop, self.grads = saved


# ====================================================================== reading layers
def check_layer_items(items, place: str, tidy=None) -> list:
    """Layer dicts from outside a file (the clipboard, a drop) checked as a file's layers
    are, before they are inserted: nesting and text first, then ``tidy(items)`` (e.g.
    dropping names a layer cannot take), then every field. Returns the tidied items;
    raises ConvScopeError."""
    _check_tree(items)
    items = tidy(items) if tidy is not None else items
    read_layers(items, place)
    return items


def read_layers(items, place) -> list:
    if not isinstance(items, list):
        raise ConvScopeError("must be a list of layers", place)
    return [read_layer(item, item_path(place, i)) for i, item in enumerate(items)]


def read_layer(data, place) -> Layer:
    if not isinstance(data, dict):
        raise ConvScopeError(f"a layer must be an object, got {type(data).__name__}", place)
    kind = data.get("type")
    if kind not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ConvScopeError(f"unknown layer type {kind!r} (known: {known})", place)
    name = data.get("name")
    if name is not None:
        check_name(name, place)
    where = f"{place} '{name}'" if name else place
    cls = REGISTRY[kind]
    plain = {k: v for k, v in data.items() if k not in cls.BLOCK_KEYS}
    layer = cls.from_dict(plain, where)
    if isinstance(layer, Block):
        def read(items, slot):
            return read_layers(items, container_path(place, slot))

        try:
            layer.read_slots(data, read)
        except ConvScopeError as err:  # the block's own keys are wrong: name the block
            raise (err if err.place else err.located(place=where)) from None
    return layer


def write_layers(layers) -> list:
    out = []
    for layer in layers:
        d = layer.to_dict()
        if isinstance(layer, Block):
            layer.write_slots(d, write_layers)
        out.append(d)
    return out


def iter_layers(layers):
    """Every layer in reading order: a block, then the layers inside it."""
    for layer in layers:
        yield layer
        if isinstance(layer, Block):
            for _, seq in layer.slots():
                yield from iter_layers(seq)


def assign_names(layers, taken: set | None = None) -> None:
    """Give ``<type><k>`` to every unnamed layer (k counts that type in reading order,
    skipping taken and reserved names); refuse duplicates."""
    seen, places = set(), {}
    for layer, place in iter_with_places(layers, TOP):
        if layer.name:
            if layer.name in seen:
                raise ConvScopeError(f"layer name '{layer.name}' is used twice "
                                     f"(first at {places[layer.name]})", place)
            seen.add(layer.name)
            places[layer.name] = place
    seen |= (taken or set()) | RESERVED_NAMES
    counters: dict = {}
    for layer in iter_layers(layers):
        k = counters.get(layer.TYPE, 0) + 1
        if not layer.name:
            while f"{layer.TYPE}{k}" in seen:
                k += 1
            layer.name = f"{layer.TYPE}{k}"
            seen.add(layer.name)
        counters[layer.TYPE] = k


def iter_with_places(layers, prefix):
    """(layer, its path as text) in reading order; ``prefix``: the container of ``layers``."""
    for i, layer in enumerate(layers):
        place = item_path(prefix, i)
        yield layer, place
        if isinstance(layer, Block):
            for slot, seq in layer.slots():
                yield from iter_with_places(seq, container_path(place, slot))


def sequence_at(net, path: str) -> list:
    """The list a container path names; KeyError if there is none."""
    block_path, slot = split_container(path)
    if block_path is None:
        return net.layers
    block = net.find(str(block_path))
    if not isinstance(block, Block):
        raise KeyError(path)
    return block.slot_list(slot)


def locate(net, path: str) -> tuple[list, int]:
    """(the list holding the layer at ``path``, its index); KeyError if there is none."""
    where = LayerPath.parse(path)
    seq = sequence_at(net, where.container)
    if where.index >= len(seq):
        raise KeyError(path)
    return seq, where.index


# ====================================================================== input checks
def _text(value, key):
    if not isinstance(value, str):
        raise ConvScopeError(f"'{key}' must be text, got {shown(value)}")
    return value


def _finite(number) -> bool:
    try:
        return isfinite(number)
    except OverflowError:  # an integer too large for a float
        return False


# Blocks inside blocks: each level is an object and a list (three for concat's branches).
# Deeper than this is no network anyone builds, and would exhaust the recursive readers.
MAX_NESTING = 200


def _check_tree(data) -> None:
    """Before any layer is built, walk the whole value without recursion: refuse nesting
    deeper than MAX_NESTING and text that is not Unicode (a lone surrogate from a
    ``\\ud800`` escape, which no file could be saved with)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ConvScopeError(f"layers are nested more than {MAX_NESTING} levels deep "
                                 "(objects and lists); refused", "layers")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth) for k in value)
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ConvScopeError(
                    f"text {value.encode('utf-8', 'backslashreplace').decode()[:60]!r} holds "
                    "a lone surrogate (not a character)") from None


def _check_weights(shapes: dict, declared: dict) -> None:
    """Weights declared as {key: (shape, dtype)} against the network's {key: shape}."""
    for key in sorted(shapes):
        if key not in declared:
            raise ConvScopeError(f"missing key '{key}' (shape {shapes[key]})")
    for key in sorted(declared):
        shape, dtype = declared[key]
        if key not in shapes:
            raise ConvScopeError(f"unexpected key '{shown(key)}': no such parameter in the "
                                 "network")
        if tuple(shape) != shapes[key]:
            raise ConvScopeError(f"'{key}' has shape {tuple(shape)} but the network needs "
                                 f"{shapes[key]}")
        if dtype.kind not in "fiu":
            raise ConvScopeError(f"'{key}' holds {dtype} values, not real numbers")


def _read_seed(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ConvScopeError(
            f"'seed' must be a whole number from 0 to 2³²−1, got {shown(value)}")
    return value


def _read_input(data) -> InputSpec:
    place = "input"
    if not isinstance(data, dict):
        raise ConvScopeError("'input' must be an object with channels, height and width", place)
    unknown = set(data) - INPUT_KEYS
    if unknown:
        raise ConvScopeError(f"unknown key {shown(sorted(unknown)[0])}", place)
    values = {}
    for key, limit in (("channels", MAX_COUNT), ("height", MAX_SPATIAL), ("width", MAX_SPATIAL)):
        v = data.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConvScopeError(f"'{key}' must be a whole number, got {shown(v)}", place)
        if v < 1:
            raise ConvScopeError(f"'{key}' must be at least 1, got {shown(v)}", place)
        if v > limit:
            raise ConvScopeError(f"'{key}' {shown(v)} is absurdly large (at most {limit})",
                                 place)
        values[key] = v
    spec = InputSpec(**values)
    for key in ("mean", "std"):
        v = data.get(key)
        if v is None:
            continue
        if (not isinstance(v, list) or len(v) != spec.channels
                or not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v)):
            raise ConvScopeError(f"'{key}' must be a list of {spec.channels} numbers "
                                 "(one per channel)", place)
        if not all(_finite(e) for e in v):  # NaN or ±Infinity would make every map NaN
            raise ConvScopeError(f"'{key}' values must be finite numbers, got "
                                 f"{shown([e for e in v if not _finite(e)][0])}", place)
        if key == "std" and any(e <= 0 for e in v):
            raise ConvScopeError("'std' values must be positive", place)
        setattr(spec, key, [float(e) for e in v])
    return spec


# ====================================================================== fixes and windows
def _add_input_fixes(net, report) -> None:
    """For each size warning, the nearest input sizes (larger first) that make every layer
    up to it whole. Each candidate input is analysed once and shared by all warnings."""
    order = {info.path: n for n, info in enumerate(report.layers)}
    first_bad: dict = {}  # (h, w) → index of the first layer with a warning or error

    def clean_until(h, w, until):
        if (h, w) not in first_bad:
            first_bad[(h, w)] = first_problem(net.layers, (net.input.channels, h, w))
        return first_bad[(h, w)] > until

    for d in report.diagnostics:
        if d.severity != "warning" or "not whole" not in d.message:
            continue
        sizes = _whole_input_sizes(net, order[d.path], d.axis, clean_until)
        if not sizes:
            continue
        d.message += f"; or set the input to {' or '.join(f'{h}×{w}' for h, w in sizes)}"
        h, w = sizes[0]
        d.fixes.insert(0, {"label": f"set the input to {h}×{w}", "changes": [
            {"path": "input", "key": "height", "value": h},
            {"path": "input", "key": "width", "value": w}]})


def _whole_input_sizes(net, until, axis, clean_until, reach=32) -> list:
    """Up to one larger and one smaller input (H, W), nearest first, that are clean up to
    layer number ``until``; a square input stays square when both axes need it."""
    h0, w0 = net.input.height, net.input.width
    larger = smaller = None
    for step in range(1, reach + 1):
        for d in (step, -step):
            h = h0 + d if axis in ("", "height") else h0
            w = w0 + d if axis in ("", "width") else w0
            if min(h, w) < 1 or (larger if d > 0 else smaller) is not None:
                continue
            if clean_until(h, w, until):
                if d > 0:
                    larger = (h, w)
                else:
                    smaller = (h, w)
        # a larger input is the usual fix (the notes' 227); look for a smaller one only nearby
        if larger and (smaller or step >= 2 * abs(larger[0] + larger[1] - h0 - w0) + 4):
            break
    return [s for s in (larger, smaller) if s]


def _chain_to(infos, name):
    """The LayerInfos from the network input to layer ``name``, entering blocks as needed:
    a list whose items are LayerInfos or (block info, branch index, sub-chain)."""
    for n, info in enumerate(infos):
        if info.name == name:
            return infos[:n + 1]
        for b, branch in enumerate(info.branches):
            sub = _chain_to(branch, name)
            if sub is not None:
                return infos[:n] + [(info, b, sub)]
    return None


def _map_back(chain, box):
    for item in reversed(chain):
        if isinstance(item, tuple):
            _, _, sub = item
            box = _map_back(sub, box)
        else:
            box = _window_back(item, box)
    return box


def _window_back(info, box):
    """Map an inclusive output box of one layer to the box of its input it depends on."""
    if info.branches:
        boxes = [_map_back(branch, box) for branch in info.branches]
        return tuple((min(b[a][0] for b in boxes), max(b[a][1] for b in boxes))
                     for a in range(2))
    if info.window is None:
        return box
    return tuple((lo * s - p, hi * s - p + k - 1)
                 for (lo, hi), (k, s, p) in zip(box, info.window))
