"""FC→CONV, done to the user's network: the fc layers after the conv stack become convs
(one undoable step), the two networks are run on the same input to show that they agree (the
largest difference, in numbers), and the converted one runs on a larger image to give a grid
of class scores in one pass, next to what sliding the original over the same crops costs.

The passes run on the Understand worker ("fcconv" jobs): VGG16 at 384×384 takes seconds.
"""

from __future__ import annotations

import time
from math import prod

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.live.images import display_image, resize_nearest
from convscope.core.network import Cancelled, write_layers
from convscope.core.understand.fcconv import (
    check_equivalence,
    convert_fc_to_conv,
    larger_size,
    resized,
    sliding_cost,
)
from convscope.gui.commands import ConvertFcToConv
from convscope.gui.images import image_for
from convscope.gui.plots import image_box, pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from .common import (
    class_names,
    escape,
    hint,
    input_image,
    set_status,
    snapshot,
    status_label,
)

HEAT_COLOURS = "viridis"
CELLS = 6  # the default grid: the notes' 6×6 for VGG16 at 384


def head_start(net) -> int:
    """The index of the first top-level fc or flatten: where the converted head begins."""
    for index, layer in enumerate(net.layers):
        if layer.TYPE in ("fc", "flatten"):
            return index
    raise ConvScopeError("no top-level fc layer to convert", "FC→CONV")


def reshaped_weights(weights: dict, conversion) -> dict:
    """The document's weights with each converted fc weight (U, C·H·W) read as (U, C, H, W).

    Weights the document does not hold stay missing: they are drawn from the same seed, and
    a seeded fc weight read C-major is exactly the seeded conv weight of the same name."""
    out = dict(weights)
    for item in conversion.converted:
        key = f"{item['name']}.weight"
        value = out.get(key)
        if value is None:
            continue
        if value.size == prod(item["weight_to"]):
            out[key] = np.ascontiguousarray(value.reshape(item["weight_to"]))
        else:
            del out[key]  # stale (the layer was edited): made again from the seed
    return out


class FcConvPanel(QWidget):
    converted = Signal(object)  # the Conversion just applied
    checked = Signal(object)  # the worker's figures (difference, grid, cost)
    failed = Signal(str)

    def __init__(self, document, runner, controller=None, parent=None):
        super().__init__(parent)
        self.setObjectName("fcConvPanel")
        self.doc, self.runner, self.controller = document, runner, controller
        self.original = None  # the network before the last conversion (a snapshot)
        self.after = None  # and after it
        self.image = None  # the original input image (C, H, W)
        self.conversion = None
        self.result = None
        self._build()
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        runner.progress.connect(self._progress)
        runner.busyChanged.connect(self._busy)

    # ================================================================== widgets
    def _build(self):
        self.convert_button = QPushButton("Convert FC layers to CONV", objectName="fcConvert")
        self.convert_button.setToolTip("The first fc becomes a conv whose kernel covers its "
                                       "whole input; the others 1×1 convs (undoable)")
        self.convert_button.clicked.connect(self.convert)
        self.size = QSpinBox(objectName="fcSize", minimum=8, maximum=2048, value=384,
                             suffix=" px")
        self.size.setToolTip("The larger image the converted network slides over")
        self.run_button = QPushButton("Run on the larger image", objectName="fcRun",
                                      enabled=False)
        self.run_button.clicked.connect(lambda: self.run_larger())
        self.cancel_button = QPushButton("Cancel", objectName="fcCancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel)
        self.names = None  # ClassNames of the scores shown
        self.score_class = QSpinBox(objectName="fcClass", minimum=0, prefix="class ")
        self.score_class.setToolTip("Whose score the grid shows")
        self.score_class.valueChanged.connect(lambda _v: self._draw_grid())
        bar = QHBoxLayout()
        bar.addWidget(self.convert_button)
        bar.addWidget(hint("then"))
        bar.addWidget(self.size)
        bar.addWidget(self.run_button)
        bar.addWidget(self.cancel_button)
        bar.addStretch(1)
        bar.addWidget(hint("grid shows"))
        bar.addWidget(self.score_class)
        self.class_name = status_label("fcClassName")  # "circle (0)"
        bar.addWidget(self.class_name)
        self.busy = QProgressBar(objectName="fcBusy", maximum=0, visible=False)
        self.status = status_label("fcStatus")
        self.text = QTextBrowser(objectName="fcText")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("fcView")
        self.graphics.setBackground("w")
        self.input_box, self.input_item = image_box(self.graphics, "the larger input", 0)
        self.grid_box, self.grid_item = image_box(self.graphics, "the score grid", 1)
        self.grid_item.setLookupTable(pg.colormap.get(HEAT_COLOURS).getLookupTable(nPts=256))
        splitter = QSplitter()
        splitter.addWidget(self.text)
        splitter.addWidget(self.graphics)
        splitter.setSizes([650, 750])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        self.text.setHtml("<p>An fc layer that sees a C×H×W volume is a conv with H×W×C "
                          "filters and no padding: the same dot products. Converted, the "
                          "network takes any larger image and gives a grid of class scores "
                          "in one pass, as if the original ran on every crop.</p><p>Press "
                          "<b>Convert</b> (or Understand ▸ Convert FC Layers to CONV).</p>")

    # ================================================================== converting
    def convert(self) -> bool:
        """Convert the document's fc head (one undoable step), then check it on the worker."""
        doc = self.doc
        net = doc.network
        try:
            start = head_start(net)
            after, conversion = convert_fc_to_conv(net, with_weights=False)
        except ConvScopeError as err:
            set_status(self.status, f"Not converted: {err}", "error")
            self.failed.emit(str(err))
            return False
        image = input_image(doc, self.controller)
        if image is None:  # no picture: a fixed random one still shows the agreement
            image = np.random.default_rng(0).standard_normal(net.input.shape).astype(np.float32)
        # kept: the network with the document's own weights only (seeded ones are made again
        # when needed, so VGG16's half gigabyte is not held here); the first run gets the
        # live view's weights too
        filled = snapshot(doc, self.controller)
        self.original = doc.network.copy()
        self.image, self.conversion = image, conversion
        weights = reshaped_weights(net.weights, conversion)
        doc.undo_stack.push(ConvertFcToConv(doc, start, write_layers(after.layers[start:]),
                                            weights, len(conversion.converted)))
        self.after = after
        self.after.weights = weights
        self.size.setMinimum(max(net.input.height, net.input.width))
        try:
            big = larger_size(self.original, CELLS)
            self.size.setValue(max(big))
        except ConvScopeError:
            pass
        self.result = None
        self._show_text()
        self.converted.emit(conversion)
        return self.run_larger(filled)

    def run_larger(self, original=None) -> bool:
        """Check the conversion on the original input and run it on the larger one."""
        if self.original is None:
            set_status(self.status, "Convert first.", "error")
            return False
        size = self.size.value()
        original = original if original is not None else self.original
        after, image = self.after.copy(), self.image
        try:
            big_spec = resized(after, size).input
        except ConvScopeError as err:
            set_status(self.status, str(err), "error")
            return False
        big_image = self._larger_image(big_spec)
        conversion = self.conversion

        def job(job):
            return check_and_slide(job, original, after, conversion, image, big_image, size)

        set_status(self.status, "Working on the worker thread…")
        self.runner.submit("fcconv", job)
        return True

    def _larger_image(self, spec) -> np.ndarray:
        """The same picture at the larger size (the live view's picture when there is one)."""
        picture = getattr(self.controller, "picture", None)
        if picture is not None:
            try:
                return image_for(picture, spec)
            except ConvScopeError:
                pass
        return resize_nearest(self.image, spec.height, spec.width)

    def cancel(self):
        self.runner.cancel("fcconv")
        set_status(self.status, "Cancelled.")

    # ================================================================== results
    def _busy(self, kind, busy):
        if kind == "fcconv":
            self.busy.setVisible(busy)
            self.cancel_button.setEnabled(busy)
            self.convert_button.setEnabled(not busy)
            self.run_button.setEnabled(not busy and self.original is not None)

    def _progress(self, kind, payload):
        if kind == "fcconv":
            set_status(self.status, payload)

    def _finished(self, kind, result):
        if kind != "fcconv":
            return
        self.result = result
        k = result["scores"].shape[-1]
        self.names = class_names(self.doc, k)
        self.score_class.blockSignals(True)
        self.score_class.setMaximum(k - 1)
        self.score_class.setValue(result["top_class"])
        self.score_class.blockSignals(False)
        self.input_item.setImage(display_image(result["big_image"], result["big_spec"]),
                                 levels=(0.0, 1.0), autoLevels=False)
        self.input_box.autoRange(padding=0.02)
        self._draw_grid()
        diff = result["check"]
        set_status(self.status, f"Same network: the largest difference of the outputs is "
                   f"{diff['max_abs']:.2e} (outputs up to {diff['scale']:.3g}). On "
                   f"{result['size'][0]}×{result['size'][1]} it gives a "
                   f"{result['grid'][0]}×{result['grid'][1]} grid of scores in "
                   f"{result['seconds']:.1f} s.", "ok")
        self.checked.emit(result)

    def _failed(self, kind, message):
        if kind == "fcconv":
            set_status(self.status, message, "error")
            self.failed.emit(message)

    def _draw_grid(self):
        if self.result is None:
            return
        k = self.score_class.value()
        self.class_name.setText(self.names.label(k) if self.names.names else "")
        grid = self.result["scores"][:, :, k]
        low, high = float(grid.min()), float(grid.max())
        self.grid_item.setImage(grid, levels=(low, high if high > low else low + 1),
                                autoLevels=False)
        self.grid_box.autoRange(padding=0.02)
        self._show_text()

    def grid_table(self, limit: int = 12) -> str:
        """The chosen class's score and each cell's top class, as an HTML table (the first
        ``limit`` rows and columns)."""
        scores = self.result["scores"]
        k = self.score_class.value()
        rows = []
        for r in range(min(limit, scores.shape[0])):
            cells = "".join(f"<td align='right'>{scores[r, c, k]:.2f}<br><small>"
                            f"{self._cell_class(int(np.argmax(scores[r, c])))}</small></td>"
                            for c in range(min(limit, scores.shape[1])))
            rows.append(f"<tr>{cells}</tr>")
        return ("<table border='1' cellspacing='0' cellpadding='2'>" + "".join(rows)
                + "</table>")

    def _cell_class(self, k: int) -> str:
        """A cell's top class: "circle (0)" with names, "#0" without."""
        return escape(self.names.label(k)) if self.names.names else f"#{k}"

    def _show_text(self):
        parts = []
        if self.conversion is not None:
            parts.append(f"<h2>{escape(self.original.name)}: FC→CONV</h2>")
        r = self.result
        if r is not None:
            d, cost = r["check"], r["cost"]
            c, h, w = self.original.input.shape
            rows, cols, classes = r["grid"]
            parts.append(
                f"<h3>The same outputs</h3><p>On the original {h}×{w}×{c} input both give "
                f"{d['output_shape'][1]:,} scores; the largest |difference| is "
                f"<b>{d['max_abs']:.3e}</b> (the largest score is {d['scale']:.4g}, so "
                f"relative {d['max_rel']:.1e}). "
                + ("Exactly zero: the conv does the very same dot products in the same "
                   "order." if d["max_abs"] == 0 else "Only float32 rounding: the same "
                   "dot products, summed in another order.") + "</p>")
            parts.append(
                f"<h3>One pass on {r['size'][0]}×{r['size'][1]}</h3><p>The converted "
                f"network gives a <b>{rows}×{cols}×{classes:,}</b> grid of scores: cell (i, j) "
                f"scores the crop whose corner is {cost['stride'][0]}·i, "
                f"{cost['stride'][1]}·j pixels in (the conv stack's total stride). The grid "
                f"picture shows {escape(self.names.label(self.score_class.value()))}'s score "
                f"per cell (bright: high); below, its score and each cell's top class. It took "
                f"{r['seconds']:.2f} s here.</p>" + self.grid_table())
            ratio = cost["ratio"]
            parts.append(
                f"<h3>Against sliding the original</h3><p>Sliding the original over the "
                f"{cost['crops'][0]}×{cost['crops'][1]} = {cost['crop_count']} crops: "
                f"{cost['crop_count']} × {cost['macs_per_crop']:,} = "
                f"<b>{cost['sliding_macs']:,}</b> MACs. The converted network, once: "
                f"<b>{cost['converted_macs']:,}</b> MACs, {ratio:.1f}× less, because "
                "overlapping crops share their conv work.</p>")
            if not cost["whole"]:
                parts.append("<p>The size is not the original plus whole strides, so the "
                             "last crops do not reach the image's edge.</p>")
        if self.conversion is not None:  # after the figures: what was changed, layer by layer
            parts.append("<h3>What changed</h3><ul>")
            parts += [f"<li>{escape(note)}</li>" for note in self.conversion.notes]
            parts.append("</ul>")
        self.text.setHtml("".join(parts))


def check_and_slide(job, original, after, conversion, image, big_image, size) -> dict:
    """On the worker: both networks on the original image, the converted one on the larger
    one, and the cost of sliding the original instead."""
    start = time.perf_counter()
    original = original.copy()  # weights made here are dropped with it (VGG16: 0.5 GB)
    if any(original.weights.get(k) is None for k in original.param_shapes()):
        job.report("Making the network's seeded weights…")
    original.ensure_weights()
    # the converted weights are the original's, reshaped (views: no second copy in memory)
    after.weights = {k: v for k, v in original.weights.items()}
    for item in conversion.converted:
        key = f"{item['name']}.weight"
        after.weights[key] = original.weights[key].reshape(item["weight_to"])
    c, h, w = original.input.shape
    job.report(f"Running both networks on the {h}×{w} input…")
    check = check_equivalence(original, after, image[None])
    scores = original.forward(image[None], should_stop=job.should_stop)
    top_class = int(np.argmax(scores[original.layers[-1].name]))
    if job.should_stop():
        raise Cancelled("a newer request")
    job.report(f"Running the converted network on {size}×{size}…")
    big = resized(after, size)
    t0 = time.perf_counter()
    out = big.forward(big_image[None], should_stop=job.should_stop)[big.layers[-1].name]
    seconds = time.perf_counter() - t0
    scores = np.moveaxis(out[0], 0, -1)  # (rows, cols, classes)
    cost = sliding_cost(original, size)
    return {"check": check, "scores": scores, "grid": scores.shape, "cost": cost,
            "top_class": top_class, "size": (big.input.height, big.input.width),
            "big_image": big_image, "big_spec": big.input, "seconds": seconds,
            "total_seconds": time.perf_counter() - start}
