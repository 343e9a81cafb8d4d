"""How live the live activations are, with the app offscreen.

For AlexNet, VGG16 and ResNet-18 (issue 14's targets in brackets, on an idle machine): open
→ the selected layer's first maps on screen [VGG16 ≤ 1.0 s, the others ≤ 0.5 s], open → the
whole pass done; an edit of the first conv and of the last conv (its filter count, with
that conv selected) → its new maps on screen [≤ 0.5 s] and → the pass done; and the longest
event-loop stall meanwhile (a 5 ms QTimer records the gaps between its ticks) [≤ 50 ms];
selecting the conv before its edits is timed on its own (its maps are shown, the pipeline
and the table scroll to it). The machine's load average is printed beside each row: on a
shared machine the figures swing with it. Then the memory the live cache keeps (the last
pass, for resuming, and the seeded weights) against the budget; the time to draw 512 maps
of 14×14 and 64 maps of 224×224 in the feature map view; last, the longest stall while a
small network's input grows to 10000×10000 (issue 10 found the window frozen for seconds).

    python benchmarks/live.py [--repeats 3] [--nets alexnet,vgg16,resnet18] [--large-only]
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
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

TIMEOUT_MS = 120_000
SETTLE_S = 1.5  # after the window is shown, before the idle baseline


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


class Timed:
    """One action's times: to the shown layer's first maps on screen (a partial result
    painted) and to the pass's end, and the longest event-loop stall from start to end."""

    def __init__(self, live):
        self.live = live
        self.ticker = Ticker()

    def __call__(self, action) -> tuple[float, float, float]:
        view, controller = self.live.feature_maps, self.live.controller
        shown, done = [], []
        on_shown = lambda _id: shown.append(time.perf_counter())  # noqa: E731
        on_done = lambda _result: done.append(time.perf_counter())  # noqa: E731
        view.displayed.connect(on_shown)
        controller.resultReady.connect(on_done)
        self.ticker.start()
        start = time.perf_counter()
        wait_for(controller.resultReady, action)
        painted(view)
        if not shown:  # the final result brought the maps (not a partial one)
            shown.append(time.perf_counter())
        stall, _ = self.ticker.stop(time.perf_counter() + 1)
        view.displayed.disconnect(on_shown)
        controller.resultReady.disconnect(on_done)
        if not done:
            raise SystemExit(f"no result: {controller.message or 'timed out'}")
        return shown[0] - start, done[0] - start, stall


def first_and_last_conv(report) -> tuple[str, str]:
    convs = [info.name for info in report.layers if info.type == "conv"]
    return convs[0], convs[-1]


def edit_conv(doc, name: str, k: int):
    """Halve the conv's filters, then put them back (an edit that redraws weights); where
    that would break the network (a residual block's sides must agree), toggle its bias."""
    path = doc.path_of(name)
    layer = doc.layer(path)
    filters = layer.values["filters"]
    key, value = "filters", filters // 2 if k % 2 == 0 else filters * 2
    trial = doc.network.copy()
    trial.find(path).set(key, value)
    if trial.analyze(fixes=False).first_error:
        key, value = "bias", not layer.values["bias"]
    return lambda: doc.undo_stack.push(SetValue(doc, path, key, value))


def measure(live, name: str, repeats: int) -> dict:
    """Open the preset ``repeats`` times, and edit its first and last conv."""
    doc, timed = live.document, Timed(live)
    rows = {"open": [], "reopen": [], "first conv": [], "last conv": []}
    loads = []
    for k in range(repeats + 1):  # the first open draws the seeded weights; later ones
        doc.select("")  # find them kept by the live cache
        net = Network.load(preset_path(name))
        rows["reopen" if k else "open"].append(
            timed(lambda n=net: doc.replace_network(n, preset_path(name))))
        loads.append(os.getloadavg()[0])
    first, last = first_and_last_conv(doc.report)
    for label, conv in (("first conv", first), ("last conv", last)):
        # selecting scrolls the pipeline and the table to the layer (their repaint is the
        # selection's, not the edit's): timed on its own, and let settle before the edits
        rows[f"select {label}"] = [(None, None, stall_during(lambda c=conv: doc.select(c)))]
        for k in range(repeats):
            rows[label].append(timed(edit_conv(doc, conv, k)))
            loads.append(os.getloadavg()[0])
    rows["convs"] = (first, last)
    rows["load"] = (min(loads), max(loads))
    cache = live.controller.cache
    rows["kept"] = (cache.last.kept_bytes if cache.last else 0,
                    sum(v.nbytes for v in cache.last.network.weights.values())
                    if cache.last else 0, doc.network.memory_budget)
    return rows


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
    return stall_during(lambda: None, seconds)


def stall_during(action, seconds: float = 0.5) -> float:
    """The longest stall from ``action`` until ``seconds`` later."""
    ticker = Ticker()
    ticker.start()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    action()
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nets", default="alexnet,vgg16,resnet18")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="OpenBLAS threads while the app runs (the app uses 1; 0: leave "
                             "OpenBLAS's own choice)")
    parser.add_argument("--panels", action="store_true",
                        help="the live panels alone, each its own 1000×800 window, instead "
                             "of the app's window at 1600×1000")
    parser.add_argument("--large-only", action="store_true",
                        help="only the large input (the window's longest stall)")
    parser.add_argument("--large-size", type=int, default=10000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window, live = open_live(args)
    app.processEvents()
    print(f"live activations, offscreen, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, OpenBLAS threads {blas.threads()}, median of "
          f"{args.repeats}")
    # the window's first paints and its panels' first layout come in the first second
    # after it is shown: measured from the start, they passed for the machine's noise
    stall_during(lambda: None, SETTLE_S)
    print(f"baseline: longest stall of the 5 ms timer with nothing running, 2 s: "
          f"{idle_stall() * 1e3:.0f} ms")
    try:
        if not args.large_only:
            edits_and_draws(live, args.repeats, args.nets.split(","))
        stall, seconds = large_input(live, args.large_size)
        print(f"input {args.large_size}×{args.large_size} (pool-only network): maps on "
              f"screen after {seconds:.1f} s; longest stall of the window meanwhile "
              f"{stall * 1e3:.0f} ms")
    finally:
        if window is not None:  # edited: closing would ask to save, and nobody answers
            window.document.undo_stack.setClean()
        (window or live).close()
    return 0


def open_live(args):
    """(window or None, the live activations): the app's window as ``convscope`` opens it,
    at 1600×1000 with its default layout (the designer redraws on every edit too), or with
    ``--panels`` the live panels alone, each its own 1000×800 window, all on screen."""
    blas_threads = args.blas_threads or None
    if args.panels:
        live = Activations(Document(), blas_threads=blas_threads)
        for view in live.views:
            view.resize(1000, 800)
            view.show()
        return None, live
    from convscope.gui.mainwindow import MainWindow

    window = MainWindow(restore_layout=False, autosave=False)
    if blas_threads:  # the window's worker set its own count (one) as it was built
        blas.set_threads(blas_threads)
    window.resize(1600, 1000)
    window.show()
    window.new()
    return window, window.activations


def edits_and_draws(live, repeats: int, nets: list[str]) -> None:
    print(f"{'network':9} {'action':22} {'maps shown':>11} {'pass done':>10} "
          f"{'worst stall':>12}  load")
    for name in nets:
        rows = measure(live, name, repeats)
        first, last = rows["convs"]
        for label, action in (("open", "open (first time)"), ("reopen", "open again"),
                              ("select first conv", f"select {first}"),
                              ("first conv", f"edit {first}"),
                              ("select last conv", f"select {last}"),
                              ("last conv", f"edit {last}")):
            times = rows[label]
            stall = max(t[2] for t in times)
            if times[0][0] is None:  # a selection: no pass, only the stall
                shown = done = "–"
            else:
                shown = f"{statistics.median(t[0] for t in times) * 1e3:.0f}ms"
                done = f"{statistics.median(t[1] for t in times) * 1e3:.0f}ms"
            print(f"{name:9} {action:22} {shown:>11} {done:>10} "
                  f"{stall * 1e3:10.0f}ms  {rows['load'][0]:.1f}–{rows['load'][1]:.1f}")
        kept, weights, budget = rows["kept"]
        print(f"{'':9} live cache keeps the last pass {kept / 2**20:.0f} MiB and its "
              f"weights {weights / 2**20:.0f} MiB (budget {budget / 2**30:.0f} GiB)")
    print(f"medians of {repeats}; maps shown: the selected layer's maps painted (a partial "
          "result); pass done: the last layer's result in; worst stall: the longest gap of "
          "a 5 ms timer from the action to the pass's end")
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
