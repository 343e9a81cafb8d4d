"""The one forward-pass worker: a QObject living in its own QThread.

A request is a snapshot taken on the GUI thread (the architecture as a dict, the weights
dict, the image), so the worker never touches the live document. Every request carries an
id; the worker asks ``is_latest(id)`` before it starts and between layers (core's
``should_stop`` hook), so an edit stops the pass in flight within one layer. The GUI drops
any result whose id is not the latest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from core import ConvScopeError, Network
from core.analysis import Report
from core.network import Cancelled

from .mosaic import premade


@dataclass
class ForwardRequest:
    id: int
    revision: int  # the document revision the snapshot was taken at
    architecture: dict  # Network.to_dict()
    weights: dict  # the document's weights (arrays shared, never written)
    memory_budget: int
    image: np.ndarray  # (C, H, W) as the network takes it
    mosaic_wish: tuple | None = None  # how the feature map view will tile its maps


@dataclass
class ForwardResult:
    id: int
    revision: int
    network: Network  # the snapshot that ran, its weights filled in
    report: Report
    activations: dict  # "input" and layer name → (C, H, W) float32
    seconds: float
    extra: dict = field(default_factory=dict)


class ForwardWorker(QObject):
    started = Signal(int)
    finished = Signal(object)  # ForwardResult
    failed = Signal(int, str)  # request id, one-line reason
    cancelled = Signal(int)

    def __init__(self, is_latest=lambda request_id: True):
        super().__init__()
        self.is_latest = is_latest
        # Seeded initial weights by (seed, key, shape): initialisation is deterministic, so a
        # weight made once is the same next time (VGG16's take 2 s to draw).
        self._initialised: dict = {}

    @Slot(object)
    def run(self, request: ForwardRequest) -> None:
        if not self.is_latest(request.id):
            self.cancelled.emit(request.id)
            return
        self.started.emit(request.id)
        try:
            result = self.compute(request)
        except Cancelled:
            self.cancelled.emit(request.id)
        except ConvScopeError as err:
            self.failed.emit(request.id, str(err))
        except MemoryError:
            self.failed.emit(request.id, "not run: the pass ran out of memory; make the "
                                         "input or the layers smaller")
        except Exception as err:  # a bug must not take the window down with it
            self.failed.emit(request.id, f"the forward pass failed: {type(err).__name__}: "
                                         f"{err}")
        else:
            self.finished.emit(result)

    def compute(self, request: ForwardRequest) -> ForwardResult:
        """Run one request on the calling thread; raises Cancelled or ConvScopeError."""
        start = time.perf_counter()
        net = Network.from_dict(request.architecture)
        net.weights = dict(request.weights)
        net.memory_budget = request.memory_budget
        report = net.check_runnable()  # before any weight is made: a huge fc is refused here
        self._fill_weights(net, request.weights)

        def stale():
            return not self.is_latest(request.id)

        if stale():
            raise Cancelled("stale before the pass")
        outputs = net.forward(request.image[None], should_stop=stale)
        activations = {name: out[0] for name, out in outputs.items()}
        result = ForwardResult(request.id, request.revision, net, report, activations,
                               time.perf_counter() - start)
        if request.mosaic_wish is not None:  # tiled here, so the GUI thread only paints
            result.extra["mosaic"] = premade(report, activations, request.mosaic_wish)
        return result

    def _fill_weights(self, net: Network, given: dict) -> None:
        for key, shape in net.param_shapes().items():
            have = net.weights.get(key)
            if have is None or have.shape != shape:
                cached = self._initialised.get((net.seed, key, shape))
                if cached is not None:
                    net.weights[key] = cached
        net.ensure_weights()
        # keep only what this network initialised itself, so the cache follows the edits
        self._initialised = {(net.seed, key, value.shape): value
                             for key, value in net.weights.items() if given.get(key) is not value}
