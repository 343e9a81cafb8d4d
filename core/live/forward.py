"""The live views' forward pass, as the worker thread runs it (no Qt here).

A request is a snapshot taken on the GUI thread (the architecture as a dict, the weights
dict, the image), so the pass never touches the live document. The network is analysed once
per pass: that one report checks that it can run, sizes the weights and drives the pass, and
goes out with the result (the views read their layers and shapes from it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from convscope.core.analysis import Report
from convscope.core.network import Cancelled, Network

from .mosaic import premade


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


class SeededWeights:
    """Seeded initial weights kept by (seed, key, shape) between passes: initialisation is
    deterministic, so a weight drawn once is the same next time (VGG16's take 2 s to draw).
    Only what the last network drew itself is kept, so the cache follows the edits."""

    def __init__(self):
        self._made: dict = {}

    def fill(self, net: Network, report: Report) -> None:
        """Give ``net`` every weight it lacks: from the cache, else drawn from its seed."""
        given = dict(net.weights)
        for key, shape in net.param_shapes(report).items():
            have = net.weights.get(key)
            if have is None or have.shape != shape:
                cached = self._made.get((net.seed, key, shape))
                if cached is not None:
                    net.weights[key] = cached
        net.ensure_weights(report)
        self._made = {(net.seed, key, value.shape): value
                      for key, value in net.weights.items() if given.get(key) is not value}


def run_forward(request: ForwardRequest, seeded: SeededWeights, request_id: int = 0,
                should_stop=None) -> ForwardResult:
    """Run one request on the calling thread; raises Cancelled (``should_stop()`` answered
    true, asked between layers) or ConvScopeError (the network cannot run)."""
    start = time.perf_counter()
    stale = should_stop or (lambda: False)
    net = Network.from_dict(request.architecture)
    net.weights = dict(request.weights)
    net.memory_budget = request.memory_budget
    # the pass's one analysis: figures and shapes only (the input-size advice is the
    # document's business, not the pass's)
    report = net.analyze(fixes=False)
    net.check_runnable(report=report)  # before any weight is made: a huge fc is refused here
    seeded.fill(net, report)
    if stale():
        raise Cancelled("stale before the pass")
    outputs = net.forward(request.image[None], should_stop=stale, report=report)
    activations = {name: out[0] for name, out in outputs.items()}
    result = ForwardResult(request_id, request.revision, net, report, activations,
                           time.perf_counter() - start)
    if request.mosaic_wish is not None:  # tiled here, so the GUI thread only paints
        result.extra["mosaic"] = premade(report, activations, request.mosaic_wish)
    return result
