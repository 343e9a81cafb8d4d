"""Figures for the designer window (a benchmark, not a test: it prints, it never asserts).

    QT_QPA_PLATFORM=offscreen python3 benchmarks/designer.py

Startup: wall time from starting a fresh Python process to the window shown with the bundled
example (the same steps as ``convscope``). ResNet-50: time per scroll step (repainting the
whole pipeline viewport) with blocks collapsed and expanded, and time per edit (the core's
analysis plus every view's update), with the analysis alone for comparison.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import time
from PySide6.QtCore import QTimer
from convscope.core.presets import DEFAULT_EXAMPLE
from convscope.gui import app as gui_app
qapp = gui_app._application()
window = gui_app.create_window(parts=False, autosave=False)
window.open_path(DEFAULT_EXAMPLE)
window.show()
def shown():
    print("shown", flush=True)
    t = time.perf_counter()
    window.add_parts()
    qapp.processEvents()
    print(f"extensions {time.perf_counter() - t:.3f}", flush=True)
    for part in window.parts():
        part.close()
    qapp.quit()
QTimer.singleShot(0, shown)
qapp.exec()
"""


def startup(runs: int = 5) -> tuple[list[float], list[float]]:
    """(seconds to the shown designer, seconds more for the plug-in panels) per run. Python
    may cache bytecode (in a temporary folder), as an installed app does after its first
    start."""
    shown, extensions = [], []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as home:
        env["XDG_CONFIG_HOME"] = env["XDG_DATA_HOME"] = home
        env["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
        for _ in range(runs + 1):  # the first run fills the bytecode cache
            t0 = time.perf_counter()
            process = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       text=True)
            first = process.stdout.readline()
            t1 = time.perf_counter()
            rest = process.stdout.read()
            process.wait()
            assert first.startswith("shown"), first
            shown.append(t1 - t0)
            extensions.append(float(rest.split()[-1]))
    return shown[1:], extensions[1:]


def ms(values) -> str:
    return (f"median {statistics.median(values) * 1e3:.1f} ms, "
            f"max {max(values) * 1e3:.1f} ms (n={len(values)})")


def resnet50():
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    tmp = tempfile.mkdtemp()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    from convscope.core.presets import preset_path
    from convscope.gui.commands import SetValue
    from convscope.gui.mainwindow import MainWindow

    window = MainWindow(restore_layout=False, autosave=False)
    window.resize(1600, 1000)
    window.show()
    def settle():
        """Until the held paints are released: a load paints the pipeline and the table in
        later turns (gui.lazy.PaintTurns), and a held viewport's repaint() paints nothing."""
        end = time.perf_counter() + 2
        while (window.paint_turns.waiting or window.table.paint_turns.waiting) \
                and time.perf_counter() < end:
            app.processEvents()

    t0 = time.perf_counter()
    window.open_path(preset_path("resnet50"))
    app.processEvents()
    print(f"open ResNet-50 ({len(window.document.report.layers)} layers): "
          f"{(time.perf_counter() - t0) * 1e3:.0f} ms")
    settle()
    view, doc = window.pipeline, window.document
    for label, collapsed in (("collapsed", True), ("expanded", False)):
        view.set_all_collapsed(collapsed)
        app.processEvents()
        settle()
        assert view.viewport().updatesEnabled()
        bar = view.verticalScrollBar()
        steps = []
        for value in range(bar.minimum(), bar.maximum(), 120):
            t = time.perf_counter()
            bar.setValue(value)
            view.viewport().repaint()
            steps.append(time.perf_counter() - t)
        print(f"scroll, blocks {label} ({len(view.cards)} cards, "
              f"{bar.maximum() + view.viewport().height()} px): {ms(steps)} per 120 px step")
    path = doc.path_of("layer3_2_conv2")
    analysis, edits = [], []
    for n in range(20):
        t = time.perf_counter()
        doc.network.analyze()
        analysis.append(time.perf_counter() - t)
        t = time.perf_counter()
        doc.undo_stack.push(SetValue(doc, path, "filters", 256 + (n % 2)))
        app.processEvents()
        edits.append(time.perf_counter() - t)
    print(f"edit a hyperparameter (blocks expanded, all views): {ms(edits)}")
    print(f"  of which the core's analysis: {ms(analysis)}")
    doc.select("layer3_2_conv2")
    inspector = []
    for n in range(10):
        t = time.perf_counter()
        window.inspector.editors["filters"].setValue(300 + n)
        app.processEvents()
        inspector.append(time.perf_counter() - t)
    print(f"edit through the inspector (selected layer shown): {ms(inspector)}")
    doc.undo_stack.setClean()
    window.close()


if __name__ == "__main__":
    shown, extensions = startup()
    print(f"startup to the shown designer with the example: {ms(shown)}")
    print(f"  then the plug-in panels (live activations) join in: {ms(extensions)}")
    resnet50()
