"""Understanding a network, in the window: Explain, Memory budget, Train live, Saliency,
Feature visualisation, Compare, FC→CONV and Case studies.

``Understand(document)`` builds the panels (scripts and tests use it without a window); the
main window builds one and calls ``place_in(window)`` to add the panels as docks and an
"Understand" menu that shows each of them (and "Convert FC Layers to CONV" in the Network
menu too). The heavy work runs on JobRunners (gui.jobs), never on the GUI thread: one for the
panels' jobs (shared with the ONNX import and exports) and one for training, whose run is a
single long job that must not hold the others back.
"""

from __future__ import annotations

from convscope.gui.jobs import JobRunner
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from .cases import CasesPanel
from .compare import ComparePanel
from .explain import ExplainPanel
from .fcconv import FcConvPanel
from .memory import MemoryPanel
from .saliency import FeatureVizPanel, SaliencyPanel
from .training import TrainingPanel

__all__ = ["Understand"]

AREA = Qt.DockWidgetArea
# (dock title, attribute, area, menu text, shortcut, status tip)
PANELS = (
    ("Explain", "explain", AREA.RightDockWidgetArea, "&Explain the Selected Layer", None,
     "The selected layer's arithmetic, worked through with its own numbers"),
    ("Memory budget", "memory", AREA.BottomDockWidgetArea, "&Memory Budget", None,
     "Where the memory of a training step goes, layer by layer, and what batch fits"),
    ("Train", "training", AREA.BottomDockWidgetArea, "&Train Live", None,
     "Train the network on bundled digits and watch the loss, kernels and maps change"),
    ("Saliency", "saliency", AREA.RightDockWidgetArea, "&Saliency", None,
     "Which input pixels a class score or a unit is most sensitive to"),
    ("Feature visualisation", "featureviz", AREA.RightDockWidgetArea,
     "&Feature Visualisation", None, "Synthesise the input each channel of a layer likes most"),
    ("Compare", "compare", AREA.BottomDockWidgetArea, "&Compare Architectures", None,
     "Two networks side by side, layer by layer"),
    ("FC→CONV", "fcconv", AREA.BottomDockWidgetArea, "FC→CONV &Results", None,
     "The converted network's agreement, score grid and cost"),
    ("Case studies", "cases", AREA.BottomDockWidgetArea, "C&ase Studies", None,
     "What the notes say about this network (LeNet, AlexNet, ZF Net, GoogLeNet, VGGNet, "
     "ResNet) beside ConvScope's figures, and why they differ"),
)


class Understand:
    """The panels and their worker over one document."""

    def __init__(self, document, controller=None, opener=None):
        self.document = document
        self.runner = JobRunner(name="convscope-understand")
        self.train_runner = JobRunner(name="convscope-train")
        self.explain = ExplainPanel(document)
        self.memory = MemoryPanel(document)
        self.training = TrainingPanel(document, self.train_runner, controller, opener)
        self.saliency = SaliencyPanel(document, self.runner, controller)
        self.featureviz = FeatureVizPanel(document, self.runner, controller)
        self.compare = ComparePanel(document)
        self.fcconv = FcConvPanel(document, self.runner, controller)
        self.cases = CasesPanel(document)
        self.docks: dict = {}
        self.actions: dict = {}

    @property
    def panels(self):
        return [getattr(self, attribute) for _, attribute, *_ in PANELS]

    def show(self, attribute: str) -> None:
        """Bring a panel to the front (its dock, when installed in a window)."""
        dock = self.docks.get(attribute)
        if dock is not None:
            dock.show()
            dock.raise_()

    def convert_fc(self) -> bool:
        self.show("fcconv")
        return self.fcconv.convert()

    def compare_example(self) -> bool:
        self.show("compare")
        return self.compare.show_example()

    def close(self) -> None:
        """Stop a training run and the worker threads (the window is closing)."""
        if self.training.session is not None:
            self.training.session.request = "stop"
        self.train_runner.close()
        self.runner.close()

    # ------------------------------------------------------------------ in a window
    def place_in(self, window) -> None:
        """Add the panels and the Understand menu to a MainWindow."""
        menu = window.menu("Understand")
        for title, attribute, area, text, shortcut, tip in PANELS:
            self.docks[attribute] = window.add_panel(title, getattr(self, attribute), area)
            action = _action(window, menu, text, lambda checked=False, a=attribute:
                             self.show(a), tip, shortcut)
            self.actions[attribute] = action
        menu.addSeparator()
        convert = _action(window, menu, "Convert FC Layers to &CONV", self.convert_fc,
                          "Turn the fc layers after the conv stack into equivalent convs "
                          "(undoable) and run the result on a larger image")
        network_menu = window.menu("Network")
        network_menu.addSeparator()
        network_menu.addAction(convert)
        self.actions["convert_fc"] = convert
        self.actions["compare_example"] = _action(
            window, menu, "Compare a 7×7 Conv with Three &3×3 Convs", self.compare_example,
            "The notes' argument for small filters, in figures")

        def enable_convert():
            layers = window.document.network.layers
            convert.setEnabled(any(layer.TYPE == "fc" for layer in layers))

        window.document.changed.connect(enable_convert)
        enable_convert()


def _action(window, menu, text, slot, tip="", shortcut=None) -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setStatusTip(tip)
    action.setToolTip(tip)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action
