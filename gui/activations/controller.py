"""Keeps the maps in step with the document: an edit or a new image sends one forward pass
(core.live.forward) to its JobRunner; the latest result is published to the views; stale ones
are dropped (gui.jobs: the latest request wins, and a stale pass stops between layers).

It also owns the input picture (the sample or file the image was made from, so the image can
be made again when the input size, channels or mean/std change) and the probe: the feature
map pixel the user clicked, which the kernel overlay and the step-through follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

from core import ConvScopeError
from core.live.forward import ForwardRequest, ForwardResult, SeededWeights, run_forward
from core.presets import ASSETS
from gui.images import image_for, read_qimage
from gui.jobs import JobRunner

from . import blas

SAMPLES = ASSETS / "images"
WORKER_BLAS_THREADS = 1  # see blas.py: a spinning second BLAS thread starves the window
SAMPLE_ORDER = ("shapes", "landscape", "textures", "colours", "text", "digit")
FORWARD = "forward"  # the runner's job kind


def sample_paths() -> list[Path]:
    rank = {name: k for k, name in enumerate(SAMPLE_ORDER)}
    return sorted(SAMPLES.glob("*.png"), key=lambda p: (rank.get(p.stem, len(rank)), p.stem))


@dataclass(frozen=True)
class Probe:
    """A clicked pixel of a feature map: output (y, x) of ``channel`` of layer ``layer``."""

    layer: str
    channel: int
    y: int
    x: int


class LiveController(QObject):
    resultReady = Signal(object)  # the ForwardResult now on screen
    failed = Signal(str)  # why there are no maps (not runnable, or the pass failed)
    busyChanged = Signal(bool)
    probeChanged = Signal(object)  # Probe or None
    # the worker's own signals, relayed on the GUI thread (safe to wait on and to count)
    passStarted = Signal(int)
    passCancelled = Signal(int)

    def __init__(self, document, parent=None, blas_threads: int | None = WORKER_BLAS_THREADS):
        super().__init__(parent)
        self.doc = document
        # process-wide, so set here, before the worker exists, and put back by close()
        self._blas_before = blas.set_threads(blas_threads) if blas_threads else None
        self._latest_id = 0
        self.result: ForwardResult | None = None
        self.message = ""
        self.busy = False
        self.probe: Probe | None = None
        self._dropped = 0  # results of an older revision (never shown)
        self.cancelled = 0  # passes the worker stopped early (or skipped, being stale)
        self.picture = None  # the QImage the input image is made from
        self.picture_name = ""
        self._made = (None, None)  # (spec key, array) of the image this made last
        self._remake = False  # a new picture was chosen: make the image again
        self.mosaic_wish = None  # set by the feature map view: () -> plain tuple
        self._network = document.network  # the network object the result belongs to
        self._setting_image = False
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.submit)
        self.seeded = SeededWeights()  # used on the worker thread only
        self.runner = JobRunner(self, "convscope-forward")
        self.runner.started.connect(lambda kind, job_id: self.passStarted.emit(job_id))
        self.runner.finished.connect(lambda kind, result: self._finished(result))
        self.runner.failed.connect(lambda kind, message: self._show_failure(message))
        self.runner.stopped.connect(self._stopped)
        document.changed.connect(self.schedule)
        document.imageChanged.connect(self._image_changed)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close)
        self.schedule()  # the document may already hold a network (installed after opening)

    # ------------------------------------------------------------------ the worker thread
    def close(self) -> None:
        """Stop the worker thread (after the pass in flight, which is told to stop)."""
        if self.runner.thread is None:
            return
        self.runner.close()
        if self._blas_before is not None:
            blas.set_threads(self._blas_before)

    @property
    def latest_id(self) -> int:
        """The id of the pass whose result may be shown."""
        return self._latest_id

    @property
    def dropped(self) -> int:
        """Finished passes whose result was stale (a newer request, or an older revision)."""
        return self._dropped + self.runner.dropped

    # ------------------------------------------------------------------ requests
    def schedule(self) -> None:
        """Run soon: edits that arrive in one burst make one request."""
        if self.doc.network is not self._network:  # another network was opened
            self._network = self.doc.network
            self.set_probe(None)
            if self.result is not None:  # its maps say nothing about this one
                self._show_failure(f"Running {self.doc.network.name}…")
        self._timer.start()

    def _image_changed(self):
        if not self._setting_image:
            self.schedule()

    def submit(self) -> bool:
        """Send the document as it is now; False (and ``failed``) if it cannot run."""
        request = self._request()
        if request is None:
            return False
        self._set_busy(True)
        seeded = self.seeded
        self._latest_id = self.runner.submit(FORWARD, lambda job: run_forward(
            request, seeded, job.id, job.should_stop))
        return True

    def _request(self) -> ForwardRequest | None:
        self._timer.stop()
        # from here on, a pass in flight is stale: it stops between layers
        self._latest_id = self.runner.cancel(FORWARD)
        net = self.doc.network
        try:
            net.check_runnable(report=self.doc.report)
            image = self.network_image()
        except ConvScopeError as err:
            self._show_failure(str(err))
            return None
        wish = self.mosaic_wish() if self.mosaic_wish is not None else None
        return ForwardRequest(self.doc.revision, net.to_dict(), dict(net.weights),
                              net.memory_budget, image, wish)

    def compute_now(self) -> bool:
        """Run the pass on this thread and show it (for screenshots and scripts)."""
        request = self._request()
        if request is None:
            return False
        try:  # its own weight cache: the worker's may be in use
            result = run_forward(request, SeededWeights(), self._latest_id)
        except ConvScopeError as err:
            self._show_failure(str(err))
            return False
        self._finished(result)
        return True

    @Slot(object)
    def _finished(self, result: ForwardResult) -> None:
        if result.id != self._latest_id or result.revision != self.doc.revision:
            self._dropped += 1  # an older request's or document's maps: never shown
            return
        self.result, self.message = result, ""
        self._set_busy(False)
        self._check_probe()
        self.resultReady.emit(result)

    @Slot(str, int)
    def _stopped(self, kind: str, request_id: int) -> None:
        self.cancelled += 1
        self.passCancelled.emit(request_id)

    def _show_failure(self, message: str) -> None:
        self.result, self.message = None, message
        self._set_busy(False)
        self.failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)

    # ------------------------------------------------------------------ the input image
    def network_image(self) -> np.ndarray:
        """The document's image if it fits the network; otherwise made again from the
        picture (a sample by default) and put in the document."""
        spec = self.doc.network.input
        key = (spec.channels, spec.height, spec.width, tuple(spec.mean or ()),
               tuple(spec.std or ()))
        image = self.doc.image
        made_key, made = self._made
        if image is not None and not self._remake:
            if image is made and made_key == key:
                return image
            if image is not made and image.shape == spec.shape:
                return image  # someone else's image (a script, a .npy): taken as it is
        if self.picture is None:
            self._pick_default_picture()
        array = image_for(self.picture, spec)
        self._made, self._remake = (key, array), False
        self._setting_image = True
        try:
            self.doc.set_image(array, self.picture_name)
        finally:
            self._setting_image = False
        return array

    def _pick_default_picture(self) -> None:
        source = self.doc.image_source
        if source and Path(source).is_file():
            try:
                self.picture, self.picture_name = read_qimage(source), source
                return
            except ConvScopeError:
                pass
        greyscale = self.doc.network.input.channels == 1
        path = SAMPLES / ("digit.png" if greyscale else "shapes.png")
        self.picture, self.picture_name = read_qimage(path), str(path)

    def use_picture(self, path) -> None:
        """Make the input from an image file (raises ConvScopeError if it is not one)."""
        picture = read_qimage(path)
        self.picture, self.picture_name = picture, str(path)
        self._remake = True  # the next request makes the image from the new picture
        self.submit()

    # ------------------------------------------------------------------ the probe
    def set_probe(self, probe: Probe | None) -> None:
        if probe != self.probe:
            self.probe = probe
            self.probeChanged.emit(probe)

    def _default_probe(self) -> None:
        """With no pixel clicked yet, the kernel window shows output pixel (0, 0) of the
        selected layer, or else of the first layer with a kernel: where a step-through starts,
        and a first look at what a window is, instead of an empty panel."""
        layers = self.doc.report.layers
        selected = [i for i in layers if i.name == self.doc.selected]
        for info in selected + layers:
            maps = self.result.activations.get(info.name)
            if info.window and info.depth == 0 and maps is not None and maps.shape[1] > 1:
                self.set_probe(Probe(info.name, 0, 0, 0))
                return

    def _check_probe(self) -> None:
        """Keep the probe if its layer still exists, moved inside the map if it shrank."""
        probe = self.probe
        if probe is None:
            self._default_probe()
            return
        maps = self.result.activations.get(probe.layer)
        if maps is None:
            self.set_probe(None)
            return
        c, h, w = maps.shape
        fitted = Probe(probe.layer, min(probe.channel, c - 1), min(probe.y, h - 1),
                       min(probe.x, w - 1))
        if fitted != probe:
            self.set_probe(fitted)
        else:
            self.probeChanged.emit(probe)  # same pixel, new numbers
