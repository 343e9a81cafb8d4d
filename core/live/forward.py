"""The live views' forward pass, as the worker thread runs it (no Qt here).

A request is a snapshot taken on the GUI thread (the architecture as a dict, the weights
dict, the image), so the pass never touches the live document. The network is analysed once
per pass: that one report checks that it can run, sizes the weights and drives the pass, and
goes out with the result (the views read their layers and shapes from it).

Three things make it live: each top-level layer's output is published as soon as it is
computed (a partial result, the shown layer's mosaic tiled here with it), seeded weights are
drawn per layer when the pass reaches them and kept for the next pass, and an edit runs the
network only from the first top-level layer that differs from the last pass (LiveCache).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from convscope.core.analysis import Report
from convscope.core.network import Cancelled, Network, iter_layers
from convscope.core.paths import key_layer
from convscope.core.understand.memory import forward_need

from .mosaic import premade
from .tensors import wished_tensor


@dataclass
class ForwardRequest:
    revision: int  # the document revision the snapshot was taken at
    architecture: dict  # Network.to_dict()
    weights: dict  # the document's weights (arrays shared, never written)
    memory_budget: int
    image: np.ndarray  # (C, H, W) as the network takes it
    mosaic_wish: tuple | None = None  # how the feature map view will tile its maps


@dataclass
class ForwardResult:
    id: int  # the job id the pass ran under (a newer one makes it stale)
    revision: int
    network: Network  # the snapshot that ran, its weights filled in
    report: Report
    activations: dict  # "input" and layer name → (C, H, W) float32
    seconds: float
    extra: dict = field(default_factory=dict)
    # False while the pass is still running: ``activations`` holds the layers done so far
    complete: bool = True


@dataclass
class _LastPass:
    """What the last pass ran and kept: its top-level layer dicts, input and image, and
    its network (weights used, and the tape: every output and cache)."""

    layers: list
    input: dict
    image: np.ndarray
    network: Network
    kept_bytes: int  # its outputs and caches (the guard's figure)
    activations: dict  # its result's (C, H, W) views of the outputs


class LiveCache:
    """Kept between passes, on the worker thread only: the seeded weights the last network
    drew (by seed, key and shape: a weight drawn once is the same next time; VGG16's take
    seconds to draw) and the last pass, to run the next one from its first change on.
    Only what the last network used is kept, so the cache follows the edits; what it keeps
    is counted against the network's memory budget (``first_change`` drops the last pass
    when it and the next pass would not fit together)."""

    def __init__(self):
        self._made: dict = {}
        self.last: _LastPass | None = None

    def fill(self, net: Network, report: Report) -> dict:
        """Give ``net`` the seeded weights it lacks that the cache has (the rest are drawn
        by the pass as it reaches their layers); → the weights it was given beforehand."""
        given = dict(net.weights)
        for key, shape in net.param_shapes(report).items():
            have = net.weights.get(key)
            if have is None or have.shape != shape:
                cached = self._made.get((net.seed, key, shape))
                if cached is not None:
                    net.weights[key] = cached
        return given

    def keep_weights(self, net: Network, given: dict) -> None:
        """After a pass (finished or stopped): keep the seeded weights ``net`` used."""
        self._made = {(net.seed, key, value.shape): value
                      for key, value in net.weights.items() if given.get(key) is not value}

    def first_change(self, net: Network, request, report: Report) -> int:
        """The index of the first top-level layer whose result may differ from the last
        pass's (its dict, one of its weights, or anything before it): the pass runs from
        there. 0 when there is no last pass, another image or input, or when keeping the
        last pass beside this one would exceed the budget (it is then let go)."""
        last = self.last
        if last is None:
            return 0
        # beside this pass: the last one's outputs and caches, and its weights this one
        # does not share (an edited layer's old ones)
        old = sum(value.nbytes for key, value in last.network.weights.items()
                  if net.weights.get(key) is not value)
        need = forward_need(report, 1)["total"] + last.kept_bytes + old
        if (need > net.memory_budget or request.image is not last.image
                or request.architecture["input"] != last.input
                or last.network.seed != net.seed):
            self.last = None
            return 0
        layers, used = request.architecture["layers"], last.network.weights
        for k, (new, old) in enumerate(zip(layers, last.layers)):
            names = {layer.name for layer in iter_layers(net.layers[k:k + 1])}
            keys = {key for key in set(net.weights) | set(used) if key_layer(key) in names}
            if new != old or any(net.weights.get(key) is not used.get(key) for key in keys):
                return k
        return min(len(layers), len(last.layers))

    def keep_pass(self, result: ForwardResult, request) -> None:
        need = forward_need(result.report, 1)
        self.last = _LastPass(request.architecture["layers"], request.architecture["input"],
                              request.image, result.network, need["input"] + need["kept"],
                              result.activations)


class _Publisher:
    """Sends a partial result after each top-level layer, the wished mosaic tiled here
    once its tensor is there (so the GUI thread only paints)."""

    def __init__(self, result: ForwardResult, request, send, started: float):
        self.result, self.wish, self.send, self.started = result, request.mosaic_wish, send, \
            started
        self.activations = {"input": request.image}  # batch item 0 of each output, once
        self.mosaic = None

    def tile(self, activations: dict) -> None:
        """Tile the wished tensor once it is in ``activations`` (at most once a pass)."""
        if self.wish is None or self.mosaic is not None:
            return
        name = wished_tensor(self.result.report, activations, self.wish[0], self.wish[1])
        if name in activations:
            self.mosaic = premade(self.result.report, activations, self.wish) or ()

    def take(self, outputs: dict) -> dict:
        """The activations so far: each (N, C, H, W) output as its first image, the same
        view object from one partial result to the next (the views compare them)."""
        for name, out in outputs.items():
            if name not in self.activations:
                self.activations[name] = out[0]
        return dict(self.activations)

    def __call__(self, _name, outputs: dict) -> None:
        activations = self.take(outputs)
        self.tile(activations)
        extra = {"mosaic": self.mosaic} if self.mosaic else {}
        if self.send is not None:
            self.send(replace(self.result, activations=activations, extra=extra,
                              seconds=time.perf_counter() - self.started, complete=False))


def run_forward(request: ForwardRequest, cache: LiveCache, request_id: int = 0,
                should_stop=None, progress=None) -> ForwardResult:
    """Run one request on the calling thread; raises Cancelled (``should_stop()`` answered
    true, asked between layers) or ConvScopeError (the network cannot run). ``progress``
    (optional) gets a partial ForwardResult after each top-level layer (and one at once
    with the layers kept from the last pass)."""
    start = time.perf_counter()
    stale = should_stop or (lambda: False)
    net = Network.from_dict(request.architecture)
    net.weights = dict(request.weights)
    net.memory_budget = request.memory_budget
    # the pass's one analysis: figures and shapes only (the input-size advice is the
    # document's business, not the pass's)
    report = net.analyze(fixes=False)
    net.check_runnable(report=report)  # before any weight is made: a huge fc is refused here
    given = cache.fill(net, report)
    first = cache.first_change(net, request, report)
    if stale():
        raise Cancelled("stale before the pass")
    result = ForwardResult(request_id, request.revision, net, report, {}, 0.0)
    publish = _Publisher(result, request, progress, start)
    kept = cache.last.network.tape if first else None
    if first:  # the layers kept from the last pass: the same arrays, published at once
        names = {layer.name for layer in iter_layers(net.layers[:first])}
        publish.activations.update({name: maps for name, maps in
                                    cache.last.activations.items() if name in names})
        publish(None, {})
    try:
        outputs = net.forward(request.image[None], should_stop=stale, report=report,
                              on_output=publish, start=first, kept=kept)
    finally:
        cache.keep_weights(net, given)
    result.activations = publish.take({k: v for k, v in outputs.items() if k != "input"})
    result.seconds = time.perf_counter() - start
    publish.tile(result.activations)
    if publish.mosaic:  # tiled here, so the GUI thread only paints
        result.extra["mosaic"] = publish.mosaic
    cache.keep_pass(result, request)
    return result
