"""The input image (mean/std undone for the eye), a chooser of the bundled samples, open or
drop any image file; the clicked pixel's receptive field and kernel window drawn on it: the
field cut to the image and flagged when it does not fit, and the pixels that really reach
the output when dilation leaves holes in it."""

from __future__ import annotations

from pathlib import Path

from convscope.core import ConvScopeError
from convscope.core.live.fields import on_image, reach
from convscope.core.live.images import box_text
from convscope.gui.dockpanel import set_text_only_growing
from convscope.gui.plots import image_box, pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .controller import network_samples, sample_paths
from .export import ask_and_save
from .overlay import WindowOverlay, footprint, weight_picture

IMAGE_FILTER = ("Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.ppm *.pgm *.tif *.tiff);;"
                "All files (*)")


class _DropFilter(QObject):
    """Passes drags and drops on the picture's viewport to the view."""

    def __init__(self, view):
        super().__init__(view)
        self.view = view

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            self.view.accept_drag(event)
            return True
        if kind == QEvent.Type.Drop:
            self.view.drop(event)
            return True
        return False


class InputView(QWidget):
    pictureFailed = Signal(str)

    def __init__(self, document, controller, parent=None):
        super().__init__(parent)
        self.setObjectName("inputView")
        self.doc, self.live = document, controller
        self._size = None  # (h, w) of the image shown
        self._probe_shown = None  # (result, probe, image) the overlay was drawn for
        self.samples = QComboBox(objectName="sampleChooser")
        self.samples.setToolTip("A bundled picture: edges, textures, colours, a digit, text, "
                                "and one per class of each trained network")
        for path in sample_paths():
            self.samples.addItem(path.stem, str(path))
        for path in network_samples():  # "shapes_cnn-circle" → "circle (shapes_cnn)"
            network, _, name = path.stem.partition("-")
            self.samples.addItem(f"{name} ({network})", str(path))
        self.samples.activated.connect(self._sample_chosen)
        self.open_button = QPushButton("Open…", objectName="openImage")
        self.open_button.setToolTip("Any image file; you can also drop one here")
        self.open_button.clicked.connect(self.open_dialog)
        export = QToolButton(text="PNG", toolTip="Export the picture and its overlay as PNG")
        export.clicked.connect(self.export_dialog)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Input"))
        bar.addWidget(self.samples, 1)
        bar.addWidget(self.open_button)
        bar.addWidget(export)

        self.graphics = pg.GraphicsLayoutWidget()
        self.viewbox, self.image = image_box(self.graphics, menu=True)
        self.overlay = WindowOverlay(self.viewbox)
        self.graphics.setAcceptDrops(False)
        self.graphics.viewport().setAcceptDrops(True)
        self.graphics.viewport().installEventFilter(_DropFilter(self))
        self.setAcceptDrops(True)
        self.info = QLabel(wordWrap=True, objectName="inputInfo")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.info)

        document.imageChanged.connect(self.show_image)
        controller.probeChanged.connect(self.show_probe)
        controller.pictureFailed.connect(self._picture_failed)
        controller.resultReady.connect(lambda _result: self.show_probe(self.live.probe))
        self.show_image()

    # ------------------------------------------------------------------ the picture
    def show_image(self):
        image = self.doc.image
        if image is None:
            self.image.clear()
            return
        c, h, w = image.shape
        # every step-th pixel (core.live.images.screen_picture), made on the worker with
        # the image, stretched over the full size so the overlays keep image coordinates
        shown = self.live.screen_picture(image)
        first = self._size != (h, w)
        self._size = (h, w)
        self.image.setImage(shown, levels=None, lut=None, autoLevels=False)
        self.image.setRect(QRectF(0, 0, w, h))
        if first:
            self.viewbox.autoRange(padding=0.02)
        source = self.doc.image_source
        index = self.samples.findData(source)
        if index < 0 and source:
            self.samples.addItem(f"file: {Path(source).name}", source)
            index = self.samples.count() - 1
        if index >= 0:
            self.samples.setCurrentIndex(index)
        self._say(f"{Path(source).name if source else 'image'} as the network takes "
                  f"it: {h}×{w}×{c}" + (", greyscale" if c == 1 else ""))

    def _sample_chosen(self, index: int):
        self.use(self.samples.itemData(index))

    def use(self, path) -> bool:
        try:
            self.live.use_picture(path)
        except ConvScopeError as err:
            self._say(str(err))
            self.pictureFailed.emit(str(err))
            return False
        return True

    def _picture_failed(self, message: str):
        self._say(message)
        self.pictureFailed.emit(message)

    def open_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", IMAGE_FILTER)
        if path:
            self.use(path)

    # ------------------------------------------------------------------ drag and drop
    @staticmethod
    def _dropped_file(event) -> str:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        files = [u.toLocalFile() for u in urls if u.isLocalFile()]
        return files[0] if files else ""

    def accept_drag(self, event):
        if self._dropped_file(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop(self, event):
        path = self._dropped_file(event)
        if not path:
            event.ignore()
            return
        event.acceptProposedAction()
        self.use(path)

    def dragEnterEvent(self, event):
        self.accept_drag(event)

    def dragMoveEvent(self, event):
        self.accept_drag(event)

    def dropEvent(self, event):
        self.drop(event)

    # ------------------------------------------------------------------ the overlay
    def show_probe(self, probe):
        result = self.live.result
        # a pass's end moves the probe and then announces the result: draw once (6 ms)
        shown, self._probe_shown = self._probe_shown, (result, probe, self.doc.image)
        if shown is not None and all(a is b for a, b in zip(shown, self._probe_shown)):
            return
        if probe is None or result is None or self.doc.image is None:
            self.overlay.clear()
            return
        foot = footprint(result, probe)
        if foot is None:
            self.overlay.clear()
            return
        size = self.doc.image.shape[1:]
        on_input = foot.source == "input"
        rgb = self.doc.image.shape[0] == 3
        picture = weight_picture(foot.step, None if rgb else 0) if on_input else None
        field = on_image(foot.field, size)
        reached = reach(result.report, probe.layer, probe.y, probe.x)
        flag = ""
        if field.clipped:
            (sh, sw), (h, w) = field.span, field.size
            flag = f"{sh}×{sw}" + (f" > {h}×{w}" if field.larger else "") + ": clipped"
        self.overlay.show(foot.window if on_input else None, foot.field, picture, size,
                          reached, flag)
        text = f"{probe.layer} ({probe.y}, {probe.x}) sees the input's {box_text(foot.field)}"
        if field.clipped:
            text += f"; {field.text()}"
        if reached is not None and reached.holes:
            text += f"; {reached.text()}"
        if on_input:
            text += f"; its kernel window: {box_text(foot.window)}"
        self._say(text)

    def _say(self, text: str) -> None:
        set_text_only_growing(self.info, text)

    def export_png(self):
        return self.graphics.grab().toImage()

    def export_dialog(self):
        return ask_and_save(self, "Export the input as PNG", "input.png", self.export_png)
