"""Saliency and feature visualisation, both on the Understand worker.

Saliency: the gradient of one class score (a channel of the last layer) or of one unit of
the selected layer's feature map with respect to the input image, its largest magnitude
over the channels drawn as a heat map over the image (core.understand.saliency). A pixel
clicked in the Feature maps panel becomes the unit. Its second page, Grad-CAM: for a class
chosen by name and a layer with spatial maps, the class activation map over the image, with
plain saliency and guided backprop (or guided Grad-CAM) of the same class beside it, the
largest channel weights α_k and the raw map's range (core.understand.gradcam).

Feature visualisation: for the selected layer, an input synthesised by gradient ascent (with
jitter, blur and decay) for each of its first channels, all drawn as one tiled image that
updates step by step (core.understand.featureviz). Cancellable; a few steps by default.
"""

from __future__ import annotations

import numpy as np
from convscope.core.errors import ConvScopeError
from convscope.core.live.images import clip_box, display_image, grid_picture, to_display
from convscope.core.understand.featureviz import for_display, visualize_channels
from convscope.core.understand.gradcam import (
    UPSAMPLING,
    default_layer,
    gradcam,
    gradient_picture,
    score_layer,
    spatial_layers,
)
from convscope.core.understand.saliency import saliency
from convscope.gui.document import INPUT
from convscope.gui.lazy import Follow
from convscope.gui.plots import image_box, pg, rect_item, set_box
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .common import (
    class_names,
    controls_beside,
    hint,
    input_image,
    scrolling,
    set_status,
    snapshot,
    status_label,
)

HEAT_COLOURS = "inferno"
OUTDATED = " (The network has changed since: Compute again.)"
CLASS, UNIT = "class", "unit"
SPIN_MAX = 2**31 - 1  # the largest value a QSpinBox holds


def top_level_info(document, name: str):
    """The LayerInfo of a top-level layer called ``name``, or None."""
    if not name or name == INPUT:
        return None
    for info in document.report.top:
        if info.name == name:
            return info
    return None


def beyond_a_spin_box(name: str, shape) -> str:
    """Why a layer's channels or positions cannot be picked here ("" if they can): Qt's
    spin boxes count in 32-bit ints, and a legal network may have more channels than that."""
    if max(shape) - 1 > SPIN_MAX:
        c, h, w = shape
        return (f"{name} ({w}×{h}×{c}) has more channels or positions than this panel can "
                f"number (at most {SPIN_MAX + 1:,})")
    return ""


class SaliencyPanel(QWidget):
    computed = Signal(object)  # the core result dict now shown
    failed = Signal(str)

    def __init__(self, document, runner, controller=None, parent=None):
        super().__init__(parent)
        self.setObjectName("saliencyPanel")
        self.doc, self.runner, self.controller = document, runner, controller
        self.result = None
        self._revision = -1  # the document revision the result was computed on
        self._applied_probe = None
        self._build()
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        self._follow = Follow(self, document.changed, self._refresh_limits)
        document.selectionChanged.connect(self._follow.now)
        if controller is not None:
            controller.probeChanged.connect(self._probe_changed)
        self._refresh_limits()

    def _build(self):
        self.target = QComboBox(objectName="saliencyTarget")
        self.target.addItem("a class score (the last layer)", CLASS)
        self.target.addItem("a unit of the selected layer", UNIT)
        self.target.currentIndexChanged.connect(lambda _i: self._refresh_limits())
        self.channel = QSpinBox(objectName="saliencyChannel", minimum=-1, value=-1)
        self.channel.setSpecialValueText("the top class")
        self.channel.setToolTip("Which class (the last layer's channel) or channel of the "
                                "selected layer")
        self.class_name = status_label("saliencyClassName")  # "circle (0)"
        self.channel.valueChanged.connect(lambda _v: self._show_class_name())
        self.strongest = QCheckBox("where the channel is strongest", objectName="saliencyAuto",
                                   checked=True)
        self.y = QSpinBox(objectName="saliencyY", minimum=0)
        self.x = QSpinBox(objectName="saliencyX", minimum=0)
        self.strongest.toggled.connect(self._position_toggled)
        self._position_toggled(True)
        place = QHBoxLayout()
        place.addWidget(self.strongest)
        place.addWidget(hint("y"))
        place.addWidget(self.y)
        place.addWidget(hint("x"))
        place.addWidget(self.x)
        place.addStretch(1)
        self.compute_button = QPushButton("Compute", objectName="saliencyCompute")
        self.compute_button.setToolTip("One forward and one backward pass, on the worker")
        self.compute_button.clicked.connect(self.compute)
        self.opacity = QSlider(Qt.Orientation.Horizontal, objectName="saliencyOpacity",
                               minimum=0, maximum=100, value=70)
        self.opacity.setToolTip("0: the image alone; 100: the gradient alone")
        self.opacity.valueChanged.connect(self._set_opacity)
        form = QFormLayout()
        form.addRow("Gradient of", self.target)
        self.layer_label = status_label("saliencyLayer")
        form.addRow("Layer", self.layer_label)
        channel_row = QHBoxLayout()
        channel_row.addWidget(self.channel)
        channel_row.addWidget(self.class_name, 1)
        form.addRow("Channel", channel_row)
        form.addRow("Position", place)
        row = QHBoxLayout()
        row.addWidget(self.compute_button)
        row.addWidget(hint("Over the image:"))
        row.addWidget(self.opacity, 1)

        self.graphics = pg.GraphicsLayoutWidget()

        self.graphics.setObjectName("saliencyView")
        self.graphics.setBackground((235, 235, 235))
        self.viewbox, self.image = image_box(self.graphics)
        self.heat = pg.ImageItem()
        self.heat.setLookupTable(pg.colormap.get(HEAT_COLOURS).getLookupTable(nPts=256))
        self.heat.setZValue(1)
        self.viewbox.addItem(self.heat)
        self.window_box = rect_item((0, 220, 255), width=2, dashed=True)
        self.viewbox.addItem(self.window_box)
        self._set_opacity(self.opacity.value())
        self.info = status_label("saliencyInfo")
        self.info.setText("Press Compute: the gradient is drawn over the input image.")

        gradient = QWidget(objectName="saliencyGradientPage")
        layout = QVBoxLayout(gradient)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.info)
        layout.addWidget(hint("Bright: the pixels whose change would change the score most "
                              "(the largest |∂score/∂pixel| over the colour channels). The "
                              "dashed box is the unit's receptive field."))
        # Grad-CAM and guided backprop: where in the image a class is seen, on its own page
        self.gradcam = GradCamPanel(self.doc, self.runner, self.controller)
        self.pages = QTabWidget(objectName="saliencyPages")
        self.pages.addTab(scrolling(gradient), "Gradient")  # a short dock scrolls it
        self.pages.addTab(self.gradcam, "Grad-CAM")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)

    def _position_toggled(self, auto: bool):
        self.y.setEnabled(not auto)
        self.x.setEnabled(not auto)

    def _set_opacity(self, value: int):
        self.heat.setOpacity(value / 100)

    # ------------------------------------------------------------------ what can be asked
    def target_layer(self) -> str:
        """The layer whose unit is differentiated ("" if none can be)."""
        net = self.doc.network
        if self.target.currentData() == CLASS:
            return net.layers[-1].name if net.layers else ""
        info = top_level_info(self.doc, self.doc.selected)
        return info.name if info is not None else ""

    def _refresh_limits(self):
        self._follow.stop()
        self.class_name.clear()  # named again below when a class can be chosen
        if self.result is not None and self.doc.revision != self._revision and \
                not self.info.text().endswith(OUTDATED):
            self.info.setText(self.info.text() + OUTDATED)
        name = self.target_layer()
        info = top_level_info(self.doc, name)
        if info is None or info.out is None:
            why = ("select a top-level layer in the pipeline (a layer inside a block: choose "
                   "the block)" if self.target.currentData() == UNIT else
                   "the network has no output yet")
            self.layer_label.setText(why)
            self.compute_button.setEnabled(False)
            return
        c, h, w = info.out
        too_many = beyond_a_spin_box(name, info.out)
        if too_many:
            self.layer_label.setText(too_many)
            self.compute_button.setEnabled(False)
            return
        self.layer_label.setText(f"{name}: {w}×{h}×{c}")
        # a class score: "the top class" (−1) unless the user picks one; the special text
        # shows at the minimum, so a unit's channel 0 must not get it
        of_class = self.target.currentData() == CLASS
        self.channel.setSpecialValueText("the top class" if of_class else "")
        self.channel.setMinimum(-1 if of_class else 0)
        self.channel.setMaximum(c - 1)
        self.y.setMaximum(h - 1)
        self.x.setMaximum(w - 1)
        self.compute_button.setEnabled(True)
        self._show_class_name()

    def _show_class_name(self):
        """The chosen class by name beside its number (nothing for a unit's channel)."""
        info = top_level_info(self.doc, self.target_layer())
        k = self.channel.value()
        of_class = self.target.currentData() == CLASS and info is not None and info.out
        self.class_name.setText(class_names(self.doc, info.out[0]).label(k)
                                if of_class and k >= 0 else "")

    def _probe_changed(self, probe):
        if probe is None or probe == self._applied_probe:
            return
        self._applied_probe = probe
        if self.doc.selected != probe.layer:
            return
        self.target.setCurrentIndex(self.target.findData(UNIT))
        self._refresh_limits()
        self.channel.setValue(probe.channel)
        self.strongest.setChecked(False)
        self.y.setValue(probe.y)
        self.x.setValue(probe.x)

    # ------------------------------------------------------------------ running
    def request(self) -> dict:
        """The arguments of core's saliency() as the widgets ask."""
        args = {"target_layer": self.target_layer(), "channel": self.channel.value()}
        if not self.strongest.isChecked():
            args.update(y=self.y.value(), x_pos=self.x.value())
        return args

    def compute(self) -> bool:
        image = input_image(self.doc, self.controller)
        if image is None:
            set_status(self.info, "No input image: open one (File ▸ Open image…).", "error")
            return False
        args = self.request()
        if not args["target_layer"]:
            set_status(self.info, "Select a top-level layer first.", "error")
            return False
        net = snapshot(self.doc, self.controller)
        spec = net.input
        of_class = self.target.currentData() == CLASS
        output = self.doc.report.output
        names = class_names(self.doc, output[0]) if of_class and output else None

        def job(job):
            if args["channel"] < 0:  # the top class: the one the network picks
                scores = net.forward(image[None])[args["target_layer"]]
                args["channel"] = int(np.argmax(scores[0].reshape(len(scores[0]), -1).max(1)))
            result = saliency(net, image, **args)
            result["image"], result["spec"] = image, spec
            result["what"] = (names.label(args["channel"]) if names is not None
                              else f"channel {args['channel']}")
            return result

        set_status(self.info, "Computing the gradient…")
        self._revision = self.doc.revision
        self.runner.submit("saliency", job)
        return True

    def _finished(self, kind, result):
        if kind != "saliency":
            return
        self.result = result
        shown = display_image(result["image"], result["spec"])
        self.image.setImage(shown, levels=(0.0, 1.0), autoLevels=False)
        heat = result["map"]
        top = float(heat.max()) or 1.0
        self.heat.setImage(heat, levels=(0.0, top), autoLevels=False)
        h, w = heat.shape
        set_box(self.window_box, clip_box(result["window"], h, w))
        self.viewbox.autoRange(padding=0.02)
        y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
        (t, b), (left, r) = result["window"]
        set_status(self.info, f"∂({result['layer']} {result['what']} at "
                   f"{result['position']}, value {result['score']:.4g}) / ∂input: largest "
                   f"|gradient| {top:.3g} at row {y}, column {x}. Receptive field: rows "
                   f"{t}..{b}, columns {left}..{r}.")
        self.computed.emit(result)

    def _failed(self, kind, message):
        if kind == "saliency":
            set_status(self.info, message, "error")
            self.failed.emit(message)


GRADCAM_COLOURS = ("turbo", "inferno", "viridis", "CET-L1")  # turbo: the papers' jet
TOP_CLASS = -1  # the class combo's first item: whatever class scores highest
MAX_LISTED_CLASSES = 10_000  # more than this (a legal net may have 2³² outputs): top class only


class GradCamPanel(QWidget):
    """Grad-CAM of a chosen class at a chosen layer over the image, with plain saliency and
    guided backprop (or guided Grad-CAM) of the same class beside it
    (core.understand.gradcam), computed on the Understand worker."""

    computed = Signal(object)  # the core result dict now shown
    failed = Signal(str)

    def __init__(self, document, runner, controller=None, parent=None):
        super().__init__(parent)
        self.setObjectName("gradcamPanel")
        self.doc, self.runner, self.controller = document, runner, controller
        self.result = None
        self._revision = -1
        self._classes = 0  # how many the network has (its score layer's channels)
        self._build()
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        self._follow = Follow(self, document.changed, self._refresh)
        self._refresh()

    def _build(self):
        self.class_box = QComboBox(objectName="gradcamClass")
        self.class_box.setToolTip("The class whose score is explained")
        self.layer_box = QComboBox(objectName="gradcamLayer")
        self.layer_box.setToolTip("The layer whose maps are weighted (any top-level layer "
                                  "with spatial maps before the scores); by default the "
                                  "last conv's, after the layers that keep its shape")
        for box in (self.class_box, self.layer_box):  # long names must not widen the panel
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(10)
        self.guided = QCheckBox("guided Grad-CAM", objectName="gradcamGuided")
        self.guided.setToolTip("The third picture: guided backprop × the Grad-CAM map "
                               "(unticked: guided backprop alone)")
        self.guided.toggled.connect(lambda _on: self._show_third())
        self.colours = QComboBox(objectName="gradcamColours")
        self.colours.addItems(GRADCAM_COLOURS)
        self.colours.currentTextChanged.connect(self._set_colours)
        self.opacity = QSlider(Qt.Orientation.Horizontal, objectName="gradcamOpacity",
                               minimum=0, maximum=100, value=70)
        self.opacity.setToolTip("0: the image alone; 100: the map at full strength")
        self.opacity.valueChanged.connect(lambda v: self.heat.setOpacity(v / 100))
        self.compute_button = QPushButton("Compute", objectName="gradcamCompute")
        self.compute_button.setToolTip("One forward and two backward passes, on the worker")
        self.compute_button.clicked.connect(self.compute)
        form = QFormLayout()
        form.addRow("Class", self.class_box)
        form.addRow("Layer", self.layer_box)
        form.addRow("Third picture", self.guided)
        look = QHBoxLayout()
        look.addWidget(self.colours)
        look.addWidget(hint("opacity"))
        look.addWidget(self.opacity, 1)
        form.addRow("Colours", look)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("gradcamView")
        self.graphics.setBackground((235, 235, 235))
        # Grad-CAM large on top, the two gradients side by side under it
        self.cam_box, self.image = image_box(self.graphics, "Grad-CAM", 0, row=0, colspan=2)
        self.heat = pg.ImageItem()
        self.heat.setZValue(1)
        self.cam_box.addItem(self.heat)
        self.heat.setOpacity(self.opacity.value() / 100)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        self._set_colours(self.colours.currentText())
        self.plain_box, self.plain = image_box(self.graphics, "saliency", 0, row=2)
        self.third_box, self.third = image_box(self.graphics, "guided backprop", 1, row=2)
        self.third_title = self.graphics.getItem(2, 1)  # renamed for guided Grad-CAM
        self.score_label = status_label("gradcamScore")
        self.range_label = status_label("gradcamRange")
        self.info = status_label("gradcamInfo")
        self.info.setText("Press Compute: Grad-CAM of the class, over the input image.")
        self.alphas = QTableWidget(0, 2, objectName="gradcamAlphas")
        self.alphas.setHorizontalHeaderLabels(["channel k", "α_k"])
        self.alphas.verticalHeader().setVisible(False)
        self.alphas.horizontalHeader().setStretchLastSection(True)
        self.alphas.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.alphas.verticalHeader().setDefaultSectionSize(20)
        self.alphas.setMaximumHeight(140)

        controls = QWidget()
        layout = QVBoxLayout(controls)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.compute_button)
        layout.addWidget(self.score_label)
        layout.addWidget(self.range_label)
        layout.addWidget(hint("The largest channel weights α_k:"))
        layout.addWidget(self.alphas)
        layout.addWidget(self.info)
        layout.addWidget(hint(
            f"Grad-CAM: α_k = mean over the map of ∂score/∂A^k, map = ReLU(Σ α_k A^k), "
            f"brought to the image's size by {UPSAMPLING} and divided by its maximum "
            "(near 0 the colours fade out). "
            "Saliency and guided backprop: grey is 0, light and dark the largest "
            "gradients; guided backprop lets only positive gradient back through each ReLU."))
        layout.addStretch(1)
        controls_beside(self, controls, self.graphics, 260, (300, 500))

    def _set_colours(self, name: str):
        """The colour map, fading to transparent towards 0 (opaque from half the maximum
        up), so the image shows through where the class is not seen."""
        table = pg.colormap.get(name).getLookupTable(nPts=256, alpha=True)
        table[:, 3] = np.clip(np.linspace(0.0, 2.0, 256), 0.0, 1.0) * 255
        self.heat.setLookupTable(table)

    # ------------------------------------------------------------------ what can be asked
    def _refresh(self):
        """Offer the network's classes and its layers with spatial maps."""
        self._follow.stop()
        if self.result is not None and self.doc.revision != self._revision and \
                not self.info.text().endswith(OUTDATED):
            self.info.setText(self.info.text() + OUTDATED)
        net, report = self.doc.network, self.doc.report
        try:
            score = score_layer(net, report)
            layers = spatial_layers(net, report)
            default = default_layer(net, report)
        except ConvScopeError as err:
            self._offer([], [], "")
            set_status(self.info, str(err), "error")
            self.compute_button.setEnabled(False)
            return
        count = self._classes = report.by_name(score).out[0]
        listed = count <= MAX_LISTED_CLASSES
        names = class_names(self.doc, count) if listed else None
        self._offer([names.label(k) for k in range(count)] if listed else [],
                    [(name, report.by_name(name).out) for name in layers], default)
        if not listed and self.result is None:
            set_status(self.info, f"{score} has {count:,} classes, too many to list: "
                       "Grad-CAM of the top one.")
        self.compute_button.setEnabled(True)

    def _offer(self, classes, layers, default):
        """Fill the combos, keeping the user's choices when they are still there."""
        chosen_class, chosen_layer = self.class_box.currentData(), self.layer_box.currentData()
        offered = [self.class_box.itemText(i) for i in range(self.class_box.count())]
        if offered != ["the top class", *classes]:
            self.class_box.clear()
            self.class_box.addItem("the top class", TOP_CLASS)
            for k, label in enumerate(classes):
                self.class_box.addItem(label, k)
            self.class_box.setCurrentIndex(max(self.class_box.findData(chosen_class), 0))
        self.layer_box.clear()
        for name, (c, h, w) in layers:
            suffix = ", default" if name == default else ""
            self.layer_box.addItem(f"{name} ({w}×{h}×{c}{suffix})", name)
        keep = self.layer_box.findData(chosen_layer)
        self.layer_box.setCurrentIndex(keep if keep >= 0 else self.layer_box.findData(default))

    # ------------------------------------------------------------------ running
    def compute(self) -> bool:
        image = input_image(self.doc, self.controller)
        if image is None:
            set_status(self.info, "No input image: open one (File ▸ Open image…).", "error")
            return False
        c, layer = self.class_box.currentData(), self.layer_box.currentData()
        if layer is None:
            set_status(self.info, "No layer with spatial maps to take Grad-CAM at.", "error")
            return False
        net = snapshot(self.doc, self.controller)
        spec = net.input
        names = class_names(self.doc, self._classes)

        def job(job):
            result = gradcam(net, image, c, layer)
            result.update(image=image, spec=spec, what=names.label(result["class"]))
            return result

        set_status(self.info, "Computing Grad-CAM and guided backprop…")
        self._revision = self.doc.revision
        self.runner.submit("gradcam", job)
        return True

    def _finished(self, kind, result):
        if kind != "gradcam":
            return
        self.result = result
        self.image.setImage(display_image(result["image"], result["spec"]), levels=(0.0, 1.0),
                            autoLevels=False)
        self.heat.setImage(result["map"], levels=(0.0, 1.0), autoLevels=False)
        self.plain.setImage(gradient_picture(result["saliency"]), levels=(0.0, 1.0),
                            autoLevels=False)
        self._show_third()
        for box in (self.cam_box, self.plain_box, self.third_box):
            box.autoRange(padding=0.02)
        self.score_label.setText(f"{result['what']}: score {result['score']:.4g}, "
                                 f"softmax probability {result['probability']:.4g}")
        h, w = result["cam"].shape
        self.range_label.setText(f"Grad-CAM at {result['layer']} ({h}×{w}), raw map: "
                                 f"min {result['raw_min']:.4g}, max {result['raw_max']:.4g}")
        self._fill_alphas(result["top_channels"])
        set_status(self.info, f"Grad-CAM of {result['what']} at {result['layer']}: the "
                   "colours show where the class is seen (1 = the map's maximum).", "ok")
        self.computed.emit(result)

    def _fill_alphas(self, top):
        self.alphas.setRowCount(len(top))
        for row, (k, alpha) in enumerate(top):
            for col, text in enumerate((str(k), f"{alpha:.4g}")):
                self.alphas.setItem(row, col, QTableWidgetItem(text))

    def _show_third(self):
        """Guided backprop, or guided Grad-CAM when the box is ticked."""
        guided = self.guided.isChecked()
        self.third_title.setText("guided Grad-CAM" if guided else
                                               "guided backprop")
        if self.result is not None:
            picture = self.result["guided_gradcam" if guided else "guided"]
            self.third.setImage(gradient_picture(picture), levels=(0.0, 1.0),
                                autoLevels=False)

    def _failed(self, kind, message):
        if kind == "gradcam":
            set_status(self.info, message, "error")
            self.failed.emit(message)


class FeatureVizPanel(QWidget):
    updated = Signal(int)  # the step now shown
    done = Signal(object)  # the final images (K, C, H, W), in the network's input space
    failed = Signal(str)

    def __init__(self, document, runner, controller=None, parent=None):
        super().__init__(parent)
        self.setObjectName("featureVizPanel")
        self.doc, self.runner, self.controller = document, runner, controller
        self.images = None  # the latest images shown, (K, C, H, W)
        self.layer = ""
        self._revision = -1
        self._build()
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        runner.progress.connect(self._progress)
        self._follow = Follow(self, document.changed, self._refresh)
        document.selectionChanged.connect(self._follow.now)
        self._refresh()

    def _build(self):
        self.count = QSpinBox(objectName="vizChannels", minimum=1, maximum=4096, value=16)
        self.wanted = 16  # what the user asked for; a layer with fewer channels shows fewer
        self.count.valueChanged.connect(self._count_edited)
        self.count.setToolTip("Visualise the layer's first N channels (one image each)")
        self.steps = QSpinBox(objectName="vizSteps", minimum=1, maximum=2000, value=16)
        self.lr = QDoubleSpinBox(objectName="vizRate", decimals=3, minimum=0.001, maximum=5.0,
                                 singleStep=0.01, value=0.05)
        self.jitter = QSpinBox(objectName="vizJitter", minimum=0, maximum=16, value=2)
        self.jitter.setToolTip("Shift the image by up to this many pixels before every step")
        self.blur_every = QSpinBox(objectName="vizBlur", minimum=0, maximum=100, value=4)
        self.blur_every.setToolTip("Blur a little every this many steps (0: never)")
        self.run_button = QPushButton("Run", objectName="vizRun")
        self.cancel_button = QPushButton("Cancel", objectName="vizCancel", enabled=False)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        form = QFormLayout()
        self.layer_label = status_label("vizLayer")
        form.addRow("Layer", self.layer_label)
        form.addRow("Channels", self.count)
        form.addRow("Steps", self.steps)
        form.addRow("Step size", self.lr)
        extra = QHBoxLayout()
        extra.addWidget(hint("jitter"))
        extra.addWidget(self.jitter)
        extra.addWidget(hint("blur every"))
        extra.addWidget(self.blur_every)
        extra.addStretch(1)
        form.addRow("Keep it natural", extra)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar(objectName="vizProgress")
        self.progress.setFormat("step %v of %m")
        buttons.addWidget(self.progress, 1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("vizView")
        self.graphics.setBackground((235, 235, 235))
        self.viewbox, self.image = image_box(self.graphics)
        self.info = status_label("vizInfo")
        self.info.setText("Select a layer and press Run: a few steps take seconds on a "
                          "small network, longer on a deep one (Cancel stops it).")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.info)
        layout.addWidget(hint("Each tile is an input made to excite one channel of the layer "
                              "most (gradient ascent from faint noise), channel 0 at the top "
                              "left, row by row."))

    def _refresh(self):
        self._follow.stop()
        if self.images is not None and self.doc.revision != self._revision and \
                not self.info.text().endswith(OUTDATED.replace("Compute", "Run")):
            self.info.setText(self.info.text() + OUTDATED.replace("Compute", "Run"))
        info = top_level_info(self.doc, self.doc.selected)
        busy = "featureviz" in self.runner.busy
        if info is None or info.out is None:
            self.layer_label.setText("select a top-level layer in the pipeline")
            self.run_button.setEnabled(False)
            return
        c, h, w = info.out
        too_many = beyond_a_spin_box(info.name, info.out)
        if too_many:
            self.layer_label.setText(too_many)
            self.run_button.setEnabled(False)
            return
        self.count.blockSignals(True)
        self.count.setMaximum(c)
        self.count.setValue(min(self.wanted, c))
        self.count.blockSignals(False)
        macs = self._macs_up_to(info.name)
        self.layer_label.setText(f"{info.name}: {c} channels of {h}×{w}; each step runs "
                                 f"{min(self.count.value(), c)} images through "
                                 f"{_short(macs)} MACs each, and back")
        self.run_button.setEnabled(not busy)

    def _count_edited(self, value: int):
        self.wanted = value
        self._refresh()

    def _macs_up_to(self, name: str) -> int:
        total = 0
        for info in self.doc.report.top:
            total += info.macs or 0
            if info.name == name:
                break
        return total

    def run(self) -> bool:
        info = top_level_info(self.doc, self.doc.selected)
        if info is None:
            set_status(self.info, "Select a top-level layer first.", "error")
            return False
        net = snapshot(self.doc, self.controller)
        layer = info.name
        channels = list(range(min(self.count.value(), info.out[0])))
        options = dict(steps=self.steps.value(), lr=self.lr.value(), jitter=self.jitter.value(),
                       blur_every=self.blur_every.value())

        def job(job):
            def each_step(step, images, objective):
                job.report({"step": step, "images": for_display(images),
                            "objective": objective.copy()})
                return not job.should_stop()

            images = visualize_channels(net, layer, channels, callback=each_step, **options)
            return {"layer": layer, "images": images, "display": for_display(images)}

        self.layer = layer
        self._revision = self.doc.revision
        self.progress.setRange(0, options["steps"])
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        set_status(self.info, f"Synthesising {len(channels)} inputs for {layer}…")
        self.runner.submit("featureviz", job)
        return True

    def cancel(self):
        self.runner.cancel("featureviz")
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(True)
        set_status(self.info, "Cancelled: the last step's images stay.")

    def _show(self, display: np.ndarray):
        picture, _ = grid_picture(to_display(display), gap=2, fill=np.nan)
        if picture.ndim == 3:  # colour: NaN gaps as mid grey
            picture = np.nan_to_num(picture, nan=0.5)
        self.image.setImage(picture, levels=(0.0, 1.0), autoLevels=False)

    def _progress(self, kind, payload):
        if kind != "featureviz":
            return
        self._show(payload["images"])
        self.progress.setValue(payload["step"])
        objective = payload["objective"]
        set_status(self.info, f"Step {payload['step']}: mean activation of each channel "
                   f"{objective.min():.3g} … {objective.max():.3g}")
        if payload["step"] == 1:
            self.viewbox.autoRange(padding=0.02)
        self.updated.emit(payload["step"])

    def _finished(self, kind, result):
        if kind != "featureviz":
            return
        self.images = result["images"]
        self._show(result["display"])
        self.viewbox.autoRange(padding=0.02)
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(True)
        self.progress.setValue(self.progress.maximum())
        set_status(self.info, f"{len(self.images)} channels of {result['layer']}: done.", "ok")
        self.done.emit(result["images"])

    def _failed(self, kind, message):
        if kind == "featureviz":
            self.cancel_button.setEnabled(False)
            self.run_button.setEnabled(True)
            set_status(self.info, message, "error")
            self.failed.emit(message)


def _short(value: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)
