"""How live the live activations are, with the app offscreen.

For AlexNet and VGG16: the time from an edit (pool1 max ↔ avg, pushed on the undo stack)
to the new maps painted in the feature map view, and the longest event-loop stall while the
pass runs (a 5 ms QTimer records the gaps between its ticks). Then the time to draw
512 maps of 14×14 and 64 maps of 224×224 in the feature map view (tile + set + paint).
Last, the longest stall while a small network's input grows to 10000×10000 (the picture
scaled to it, normalised, drawn, and the pass): issue 10 found the window frozen for seconds.

    python benchmarks/live.py [--repeats 5] [--large-only] [--large-size 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from convscope.core import Network
from convscope.core.presets import preset_path
from convscope.gui.activations import Activations, blas
from convscope.gui.commands import SetInputValues, SetValue
from convscope.gui.document import Document
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

TIMEOUT_MS = 120_000


class Ticker:
    """A 5 ms timer: the longest gap between ticks is the longest event-loop stall."""

    def __init__(self):
        self.timer = QTimer(interval=5)
        self.timer.timeout.connect(self._tick)
        self.ticks: list[float] = []

    def _tick(self):
        self.ticks.append(time.perf_counter())

    def start(self):
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self, split: float) -> tuple[float, float]:
        """(longest stall before ``split``, longest stall from ``split`` on): the pass
        running vs. the GUI thread taking its result in."""
        self.timer.stop()
        self._tick()
        before = after = 0.0
        for a, b in zip(self.ticks, self.ticks[1:]):
            if b <= split:
                before = max(before, b - a)
            else:
                after = max(after, b - a)
        return before, after


def wait_for(signal, action) -> float:
    """Run ``action``, then spin the event loop until ``signal``; seconds taken."""
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(TIMEOUT_MS, loop.quit)
    start = time.perf_counter()
    action()
    loop.exec()
    signal.disconnect(loop.quit)
    return time.perf_counter() - start


def painted(view) -> None:
    """Paint the feature map view now, as the screen would."""
    view.graphics.viewport().repaint()


def edit_to_screen(live, name: str, layer: str, repeats: int) -> dict:
    doc, view = live.document, live.feature_maps
    finished = []  # when the worker hands a result over (recorded on the worker's thread)
    live.controller.runner.worker.done.connect(lambda *_: finished.append(time.perf_counter()),
                                               Qt.ConnectionType.DirectConnection)
    ticker = Ticker()
    ticker.start()
    first = wait_for(view.displayed, lambda: doc.replace_network(
        Network.load(preset_path(name)), preset_path(name)))
    painted(view)
    first_stall, _ = ticker.stop(finished[-1])
    doc.select(layer)
    times, passes, computing, taking = [], [], [], []
    for k in range(repeats):
        mode = "avg" if k % 2 == 0 else "max"
        ticker.start()
        start = time.perf_counter()
        wait_for(view.displayed, lambda m=mode: doc.undo_stack.push(
            SetValue(doc, doc.path_of("pool1"), "mode", m)))
        painted(view)
        times.append(time.perf_counter() - start)
        passes.append(live.controller.result.seconds)
        before, after = ticker.stop(finished[-1])
        computing.append(before)
        taking.append(after)
    return {"first": first, "first_stall": first_stall, "edit": statistics.median(times),
            "edit_max": max(times), "pass": statistics.median(passes),
            "stall": max(computing), "display": max(taking),
            "mosaic": view.image.image.shape, "step": view.mosaic.step}


def large_input(live, size: int) -> tuple[float, float]:
    """(longest stall, seconds) from setting a pool-only network's input to size×size to
    its new maps on screen."""
    doc, view = live.document, live.feature_maps
    net = Network.from_dict({"format": "convscope", "version": 1, "name": "large input",
                             "input": {"channels": 3, "height": 227, "width": 227},
                             "layers": [{"type": "pool", "name": "pool", "kernel": 8}]})
    wait_for(view.displayed, lambda: doc.replace_network(net, None))
    painted(view)
    ticker = Ticker()
    ticker.start()
    start = time.perf_counter()
    wait_for(view.displayed, lambda: doc.undo_stack.push(
        SetInputValues(doc, {"height": size, "width": size})))
    painted(view)
    live.input_view.graphics.viewport().repaint()
    seconds = time.perf_counter() - start
    assert doc.image.shape == (3, size, size), doc.image.shape
    return ticker.stop(time.perf_counter() + 1)[0], seconds


def idle_stall(seconds: float = 2.0) -> float:
    """The longest stall with nothing running: the machine's own noise floor."""
    ticker = Ticker()
    ticker.start()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    return ticker.stop(time.perf_counter() + 1)[0]


def draw_time(live, maps: np.ndarray, repeats: int, max_pixels=None) -> tuple[float, tuple]:
    view = live.feature_maps
    if max_pixels is not None:
        view.max_pixels = max_pixels
    view.tensor, view.maps = "bench", maps
    times = []
    for _ in range(repeats):
        view.mosaic = None
        start = time.perf_counter()
        view._show_maps()
        painted(view)
        times.append(time.perf_counter() - start)
    return statistics.median(times), view.image.image.shape


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="OpenBLAS threads while the app runs (the app uses 1; 0: leave "
                             "OpenBLAS's own choice)")
    parser.add_argument("--large-only", action="store_true",
                        help="only the large input (the window's longest stall)")
    parser.add_argument("--large-size", type=int, default=10000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    doc = Document()
    live = Activations(doc, blas_threads=args.blas_threads or None)
    for view in live.views:
        view.resize(1000, 800)
        view.show()
    app.processEvents()
    print(f"live activations, offscreen, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, OpenBLAS threads {blas.threads()}, median of "
          f"{args.repeats} edits (pool1 max ↔ avg)")
    print(f"baseline: longest stall of the 5 ms timer with nothing running, 2 s: "
          f"{idle_stall() * 1e3:.0f} ms")
    try:
        if not args.large_only:
            edits_and_draws(live, args.repeats)
        stall, seconds = large_input(live, args.large_size)
        print(f"input {args.large_size}×{args.large_size} (pool-only network): maps on "
              f"screen after {seconds:.1f} s; longest stall of the window meanwhile "
              f"{stall * 1e3:.0f} ms")
    finally:
        live.close()
    return 0


def edits_and_draws(live, repeats: int) -> None:
    print(f"{'network':8} {'shown':9} {'first pass':>11} {'stall':>7} {'edit→screen':>12} "
          f"{'worst':>7} {'pass':>7} {'stall':>7} {'result':>7}  mosaic")
    for name, layer in (("alexnet", "conv1"), ("vgg16", "conv1_1")):
        r = edit_to_screen(live, name, layer, repeats)
        shape = f"{r['mosaic'][1]}×{r['mosaic'][0]} (1/{r['step']})"
        print(f"{name:8} {layer:9} {r['first'] * 1e3:9.0f}ms {r['first_stall'] * 1e3:5.0f}ms "
              f"{r['edit'] * 1e3:10.0f}ms {r['edit_max'] * 1e3:5.0f}ms "
              f"{r['pass'] * 1e3:5.0f}ms {r['stall'] * 1e3:5.0f}ms "
              f"{r['display'] * 1e3:5.0f}ms  {shape}")
    print("first pass: opening the preset, seeded weights made in the worker; stall: the "
          "longest gap of a 5 ms timer while the pass ran; result: the longest gap while "
          "the GUI thread took the result in (set the premade mosaic, paint)")
    rng = np.random.default_rng(0)
    cases = [("512 maps of 14×14", rng.random((512, 14, 14), dtype=np.float32), None),
             ("64 maps of 224×224", rng.random((64, 224, 224), dtype=np.float32), None),
             ("64 maps of 224×224, full resolution",
              rng.random((64, 224, 224), dtype=np.float32), 1 << 40)]
    for label, maps, limit in cases:
        seconds, shape = draw_time(live, maps, repeats, limit)
        print(f"draw {label:38} {seconds * 1e3:6.1f} ms  (mosaic {shape[1]}×{shape[0]})")


if __name__ == "__main__":
    sys.exit(main())
