"""Keeps the maps in step with the document: an edit or a new image sends one forward pass
(core.live.forward) to its JobRunner; the latest result is published to the views; stale ones
are dropped (gui.jobs: the latest request wins, and a stale pass stops between layers).

It also owns the input picture (the sample or file the image was made from, so the image can
be made again when the input size, channels or mean/std change) and the probe: the feature
map pixel the user clicked, which the kernel overlay and the step-through follow.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.labels import architecture_file
from convscope.core.live.forward import ForwardRequest, ForwardResult, LiveCache, run_forward
from convscope.core.live.images import screen_picture
from convscope.core.live.tensors import branch_tensors, shown_layer
from convscope.core.presets import ASSETS
from convscope.gui.images import image_for, read_qimage
from convscope.gui.jobs import JobRunner
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QImageReader
from PySide6.QtWidgets import QApplication

from . import blas

SAMPLES = ASSETS / "images"
NETWORK_SAMPLES = SAMPLES / "samples"  # <network stem>-<class>.png: a trained net's classes
WORKER_BLAS_THREADS = 1  # see blas.py: a spinning second BLAS thread starves the window
SAMPLE_ORDER = ("shapes", "landscape", "textures", "colours", "text", "digit")
FORWARD = "forward"  # the runner's job kinds: a pass,
IMAGE = "image"  # and the input image made from the picture


def _readable(path) -> bool:
    """Whether Qt can decode the file (its header only: nothing is decoded yet)."""
    return QImageReader(str(path)).canRead()


def _decoded(picture) -> QImage:
    return picture if isinstance(picture, QImage) else read_qimage(picture)


def sample_paths() -> list[Path]:
    rank = {name: k for k, name in enumerate(SAMPLE_ORDER)}
    return sorted(SAMPLES.glob("*.png"), key=lambda p: (rank.get(p.stem, len(rank)), p.stem))


def network_samples(stem: str = "*") -> list[Path]:
    """The bundled pictures of a trained network's classes (every network's for "*")."""
    return sorted(NETWORK_SAMPLES.glob(f"{stem}-*.png"))


def default_sample(spec, architecture) -> Path:
    """The picture a network starts on: one of its own class samples when it has some
    (``architecture``: its file, or None), preferring one of its input's size; otherwise a
    general sample of its colour (the digit for greyscale)."""
    own = network_samples(Path(architecture).stem) if architecture else []
    if own:
        size = (spec.width, spec.height)
        fitting = [p for p in own if QImageReader(str(p)).size().toTuple() == size]
        return (fitting or own)[0]
    return SAMPLES / ("digit.png" if spec.channels == 1 else "shapes.png")


def document_architecture(doc) -> Path | None:
    """The file the document's network came from (a preset opens unsaved: found by name)."""
    return architecture_file(doc.path, doc.network.name)


def message_header(doc) -> str:
    """A view's header over a message ("Running VGG16…", "conv3 was not computed"): the
    layer it is about, in the network open now (not the one whose maps were shown before)."""
    name = shown_layer(doc.report, doc.selected)
    return f"<b>{name}</b> · {doc.network.name}" if name else doc.network.name


@dataclass(frozen=True)
class Probe:
    """A clicked pixel of a feature map: output (y, x) of ``channel`` of layer ``layer``."""

    layer: str
    channel: int
    y: int
    x: int


class LiveController(QObject):
    resultReady = Signal(object)  # the ForwardResult now on screen (the pass finished)
    # the same, while the pass still runs: ``result.activations`` holds the layers done so
    # far (``result.complete`` is False); the views show what they can of it
    partialReady = Signal(object)
    failed = Signal(str)  # why there are no maps (not runnable, or the pass failed)
    pictureFailed = Signal(str)  # a picture chosen could not be made into the input
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
        self.auto_picture = False  # the picture is the default sample, not the user's choice
        self._made = (None, None)  # (spec key, array) of the image this made last
        self._screen = (None, None)  # (image, its screen picture) drawn last
        self._remake = False  # a new picture was chosen: make the image again
        self.mosaic_wish = None  # set by the feature map view: () -> plain tuple
        self._network = document.network  # the network object the result belongs to
        self._setting_image = False
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.submit)
        self.cache = LiveCache()  # seeded weights and the last pass: worker thread only
        self.runner = JobRunner(self, "convscope-forward")
        # other parts run their own kinds of job here too (gui.activations.gradients):
        # the handlers act on the controller's two kinds only
        self.runner.started.connect(self._job_started)
        self.runner.finished.connect(self._job_finished)
        self.runner.failed.connect(self._job_failed)
        self.runner.stopped.connect(self._stopped)
        self.runner.progress.connect(lambda kind, partial: kind == FORWARD
                                     and self._partial(partial))
        document.changed.connect(self.schedule)
        # before the views hear of it (they connect later): they draw the new probe
        document.selectionChanged.connect(self._follow_selection)
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
            if self.auto_picture and self._pick_default():  # the last network's default
                self._remake = True  # sample: this one's instead
            if self.result is not None:  # its maps say nothing about this one
                self._show_failure(f"Running {self.doc.network.name}…")
        self._timer.start()

    def _image_changed(self):
        if not self._setting_image:
            self.schedule()

    def submit(self) -> bool:
        """Send the document as it is now; False (and ``failed``) if it cannot run, or if
        its input image must be made first (on the worker: that job then sends the pass)."""
        request = self._request(self._fitting_image)
        if request is None:
            return False
        self._set_busy(True)
        cache = self.cache
        self._latest_id = self.runner.submit(FORWARD, lambda job: run_forward(
            request, cache, job.id, job.should_stop, job.report))
        return True

    def _request(self, get_image) -> ForwardRequest | None:
        """The pass to run, with the image ``get_image()`` gives (None: not yet)."""
        self._timer.stop()
        # from here on, a pass (or image) in flight is stale: it stops between layers
        self._latest_id = self.runner.cancel(FORWARD)
        self.runner.cancel(IMAGE)
        net = self.doc.network
        try:
            # the worker checks that the pass can run (the memory guard's sums are its work,
            # not the GUI thread's); here only before an image is made for it
            if self._fitting_image() is None:
                net.check_runnable(report=self.doc.report)
            image = get_image()
        except ConvScopeError as err:
            self._show_failure(str(err))
            return None
        if image is None:
            self._make_image()
            return None
        wish = self.mosaic_wish() if self.mosaic_wish is not None else None
        return ForwardRequest(self.doc.revision, net.to_dict(), dict(net.weights),
                              net.memory_budget, image, wish)

    def compute_now(self) -> bool:
        """Run the pass on this thread and show it (for screenshots and scripts)."""
        request = self._request(self.network_image)
        if request is None:
            return False
        try:  # its own cache: the worker's may be in use
            result = run_forward(request, LiveCache(), self._latest_id)
        except ConvScopeError as err:
            self._show_failure(str(err))
            return False
        self._finished(result)
        return True

    def _current(self, result: ForwardResult) -> bool:
        """Whether ``result`` (partial or final) belongs to the latest request and revision."""
        return result.id == self._latest_id and result.revision == self.doc.revision

    @Slot(object)
    def _finished(self, result: ForwardResult) -> None:
        if not self._current(result):
            self._dropped += 1  # an older request's or document's maps: never shown
            return
        self.result, self.message = result, ""
        self._set_busy(False)
        self._check_probe()
        self.resultReady.emit(result)

    @Slot(object)
    def _partial(self, result: ForwardResult) -> None:
        """A layer of the pass in flight is done: publish what there is. The probe follows
        once its layer is there (until then the views keep what they show)."""
        if not self._current(result):
            return
        had = self.result.activations if self.result is not None and \
            self.result.id == result.id else {}
        self.result, self.message = result, ""
        self.partialReady.emit(result)
        probe = self.probe
        layer = probe.layer if probe is not None else shown_layer(result.report,
                                                                   self.doc.selected)
        if layer in result.activations and layer not in had:
            self._check_probe()

    def _job_started(self, kind: str, job_id: int) -> None:
        if kind in (FORWARD, IMAGE):
            self.passStarted.emit(job_id)

    def _job_finished(self, kind: str, result) -> None:
        if kind == FORWARD:
            self._finished(result)
        elif kind == IMAGE:
            self._image_made(result)

    def _job_failed(self, kind: str, message: str) -> None:
        if kind == FORWARD:
            self._show_failure(message)
        elif kind == IMAGE:
            self._image_failed(message)

    @Slot(str, int)
    def _stopped(self, kind: str, request_id: int) -> None:
        if kind not in (FORWARD, IMAGE):
            return
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
    def _spec_key(self) -> tuple:
        spec = self.doc.network.input
        return (spec.channels, spec.height, spec.width, tuple(spec.mean or ()),
                tuple(spec.std or ()))

    def _fitting_image(self) -> np.ndarray | None:
        """The document's image if it fits the network as it is now; None if one must be
        made from the picture."""
        image = self.doc.image
        made_key, made = self._made
        if image is None or self._remake:
            return None
        if image is made:
            return image if made_key == self._spec_key() else None
        # someone else's image (a script, a .npy): taken as it is if its shape fits
        return image if image.shape == self.doc.network.input.shape else None

    def network_image(self) -> np.ndarray:
        """The document's image if it fits the network; otherwise made again from the
        picture (a sample by default), here and now, and put in the document (scripts,
        screenshots; the live passes have it made on the worker)."""
        image = self._fitting_image()
        if image is None:
            picture = _decoded(self._the_picture())
            self.picture = picture
            image = self._install(self._spec_key(), image_for(picture, self.doc.network.input))
        return image

    def _make_image(self) -> None:
        """Make the input image on the worker: decoding a large file and scaling it to a
        large input (10000×10000) takes seconds, which the window must not freeze for.
        When it comes, it goes in the document and the pass is sent."""
        picture, key = self._the_picture(), self._spec_key()
        spec = copy.deepcopy(self.doc.network.input)  # edits change the live one
        self._set_busy(True)

        def make(job):
            decoded = _decoded(picture)
            array = image_for(decoded, spec)
            return picture, decoded, key, array, screen_picture(array, spec)

        self.runner.submit(IMAGE, make)

    def _image_made(self, result) -> None:
        picture, decoded, key, array, shown = result
        if self.picture is picture:  # keep the decoded picture, not its file name
            self.picture = decoded
        if key != self._spec_key():  # the input changed while it was made: again
            self.schedule()
            return
        self._screen = (array, shown)
        self._install(key, array)
        self.submit()

    def _image_failed(self, message: str) -> None:
        """The picture could not be decoded (or made into an image): say so; the image in
        the document, if it still fits, stays and runs."""
        self.picture, self._remake = None, False
        self.pictureFailed.emit(message)
        if self._fitting_image() is not None:
            self.schedule()
        else:
            self._show_failure(message)

    def screen_picture(self, image: np.ndarray) -> np.ndarray:
        """What the input view draws for ``image``: made on the worker with the image when
        it came from there, else here (a script's or a test's image)."""
        made, shown = self._screen
        if image is not made:
            shown = screen_picture(image, self.doc.network.input)
            self._screen = (image, shown)
        return shown

    def _install(self, key: tuple, array: np.ndarray) -> np.ndarray:
        self._made, self._remake = (key, array), False
        self._setting_image = True
        try:
            self.doc.set_image(array, self.picture_name)
        finally:
            self._setting_image = False
        return array

    def _the_picture(self):
        """The picture the image is made from: a QImage, or a file still to be decoded."""
        if self.picture is None:
            source = self.doc.image_source
            if source and Path(source).is_file() and _readable(source):
                self.picture, self.picture_name = source, source
            else:
                self._pick_default()
        return self.picture

    def _pick_default(self) -> bool:
        """Take the network's default sample; True if that changed the picture."""
        path = str(default_sample(self.doc.network.input, document_architecture(self.doc)))
        changed = path != self.picture_name
        self.picture, self.picture_name, self.auto_picture = path, path, True
        return changed

    def use_picture(self, path) -> None:
        """Make the input from an image file (raises ConvScopeError at once if it is not
        one; it is decoded on the worker)."""
        if not _readable(path):
            read_qimage(path)  # raises, saying what is wrong
        self.picture, self.picture_name = str(path), str(path)
        self.auto_picture = False
        self._remake = True  # the next request makes the image from the new picture
        self.submit()

    # ------------------------------------------------------------------ the probe
    def set_probe(self, probe: Probe | None) -> None:
        if probe != self.probe:
            self.probe = probe
            self.probeChanged.emit(probe)

    def _default_probe(self) -> None:
        """With no pixel clicked on the selected layer, the kernel window shows its centre
        output pixel (channel 0): a first look at what a window is, instead of an empty
        panel. A layer without maps (the input, a vector) has no pixel to show."""
        result = self.result
        name = shown_layer(result.report, self.doc.selected) if result is not None else ""
        maps = result.activations.get(name) if name and name != "input" else None
        if maps is None or maps.shape[1:] == (1, 1):
            self.set_probe(None)
            return
        _, h, w = maps.shape
        self.set_probe(Probe(name, 0, h // 2, w // 2))

    def _follow_selection(self, _name: str = "") -> None:
        """Another layer was selected: the probe moves to it (unless it is already there,
        e.g. on one of the block's branches the user clicked)."""
        if self.result is None:
            return
        probe = self.probe
        name = shown_layer(self.result.report, self.doc.selected)
        branches = {tensor for _, tensor in branch_tensors(self.result.report, name)} \
            if name and name != "input" else set()
        if probe is None or (probe.layer != name and probe.layer not in branches):
            self._default_probe()

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
