"""Live activations: the network runs on an image while it is edited, and these views show
what every layer does to it.

``Activations(document)`` builds the controller and the views (tests, benchmarks and
scripts use it without a window); the main window builds one and calls ``place_in(window)``
to put the panels and menu actions on it (through its ``add_panel`` and ``menu``).
"""

from __future__ import annotations

from convscope.core.live.weights import first_conv
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox

from .controller import WORKER_BLAS_THREADS, LiveController, Probe
from .featuremaps import FeatureMapView
from .gradients import GradientPasses, GradientView
from .inputview import InputView
from .kernels import KernelView
from .stepper import KernelWindowView
from .weights import apply_classic_filters, load_weights

__all__ = ["Activations", "FeatureMapView", "GradientView", "InputView", "KernelView",
           "KernelWindowView", "LiveController", "Probe"]

WEIGHTS_FILTER = "NumPy weights (*.npz);;All files (*)"


class Activations:
    """The controller (with its worker thread), the four views over one document, and the
    gradients of a class score (one backward pass per result, while a view wants it)."""

    def __init__(self, document, parent=None, blas_threads: int | None = WORKER_BLAS_THREADS):
        self.document = document
        self.controller = LiveController(document, parent, blas_threads)
        self.input_view = InputView(document, self.controller)
        self.feature_maps = FeatureMapView(document, self.controller)
        self.kernels = KernelView(document, self.controller)
        # one backward pass per result, shared by the kernel window and the gradients
        self.passes = GradientPasses(document, self.controller)
        self.kernel_window = KernelWindowView(document, self.controller, passes=self.passes)
        self.gradients = GradientView(document, self.controller, self.passes)

    @property
    def views(self):
        return (self.feature_maps, self.input_view, self.kernels, self.kernel_window)

    def panels(self) -> list:
        """The panels a new selection redraws (the views and the gradients), the feature
        maps first."""
        return [*self.views, self.gradients]

    def close(self):
        self.controller.close()

    # ------------------------------------------------------------------ actions
    def classic_filters(self, parent=None) -> str:
        problem = apply_classic_filters(self.document)
        if problem:
            QMessageBox.information(parent, "Classic filters", problem)
        return problem

    def load_weights_dialog(self, parent=None) -> str:
        path, _ = QFileDialog.getOpenFileName(parent, "Load weights", "", WEIGHTS_FILTER)
        if not path:
            return ""
        problem = load_weights(self.document, path)
        if problem:
            QMessageBox.warning(parent, "Load weights", problem)
        return problem

    # ------------------------------------------------------------------ in a window
    def place_in(self, window) -> None:
        """Add the input, feature map, kernel, kernel window and gradients panels and their
        actions."""
        area = Qt.DockWidgetArea
        window.add_panel("Input", self.input_view, area.LeftDockWidgetArea)
        window.add_panel("Feature maps", self.feature_maps, area.RightDockWidgetArea)
        window.add_panel("Kernels", self.kernels, area.RightDockWidgetArea)
        window.add_panel("Kernel window", self.kernel_window, area.BottomDockWidgetArea)
        window.add_panel("Gradients", self.gradients, area.BottomDockWidgetArea,
                         tab_with="Kernel window")

        def action(menu, text, slot, tip="", before=None):
            item = QAction(text, window)
            item.setStatusTip(tip)
            item.triggered.connect(slot)
            if before is not None:
                menu.insertAction(before, item)
            else:
                menu.addAction(item)
            return item

        network = window.menu("Network")
        classic = action(network, "Classic filters for conv1",
                         lambda: self.classic_filters(window),
                         "Start the first conv from oriented edges, Gabors and colour blobs "
                         "(undoable)")
        action(network, "Load weights…", lambda: self.load_weights_dialog(window),
               "Read a .npz weights file into the network (undoable)")

        def name_the_conv():
            info = first_conv(window.document.report)
            classic.setEnabled(info is not None)
            classic.setText(f"Classic filters for {info.name if info else 'conv1'}")

        window.document.changed.connect(name_the_conv)
        name_the_conv()

        file_menu = window.menu("File")
        anchor = _quit_group(file_menu)
        if anchor is not None:
            file_menu.insertSeparator(anchor)
        else:
            file_menu.addSeparator()
        action(file_menu, "Open image…", self.input_view.open_dialog,
               "The picture the network runs on", anchor)
        for text, slot in (("Export feature maps as PNG…", self.feature_maps.export_dialog),
                           ("Export kernels as PNG…", self.kernels.export_dialog),
                           ("Export kernel window as PNG…", self.kernel_window.export_dialog)):
            action(file_menu, text, slot, "", anchor)


def _quit_group(menu):
    """The separator above Quit (or Quit itself): our File actions go before it."""
    items = menu.actions()
    for k, item in enumerate(items):
        if item.text().replace("&", "") == "Quit":
            return items[k - 1] if k and items[k - 1].isSeparator() else item
    return None
