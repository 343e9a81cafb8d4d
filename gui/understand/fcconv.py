"""FC→CONV, done to the user's network: the fc layers after the conv stack become convs
(one undoable step), the two networks are run on the same input to show that they agree (the
largest difference, in numbers), and the converted one runs on a larger image to give a grid
of class scores in one pass, next to what sliding the original over the same crops costs.

Then it can be seen: a click on a cell of the score grid outlines its crop on the larger
image and the first fc's window on the last map before it (VGG16 at 384: pool5, 12×12, under
fc6's 7×7 window), and runs the original network on that crop beside the cell's score; a
click on the image finds the cells whose crops hold that pixel. "Shifted passes" runs the
converted network on the image shifted by half a stride and weaves the grids into a finer one.

The passes run on the Understand worker ("fcconv" jobs): VGG16 at 384×384 takes seconds.
"""

from __future__ import annotations

import time
from math import prod

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.geometry import axis_output
from convscope.core.live.images import display_image, resize_nearest
from convscope.core.network import Cancelled, write_layers
from convscope.core.understand.fcconv import (
    check_crop,
    check_equivalence,
    compare_cells,
    convert_fc_to_conv,
    crop_grid,
    head_window,
    larger_size,
    padded_layers,
    resized,
    shift_offsets,
    shifted_scores,
    sliding_cost,
)
from convscope.gui.commands import ConvertFcToConv
from convscope.gui.images import image_for
from convscope.gui.plots import image_box, pg, rect_item, set_box
from PySide6.QtCore import Qt, Signal
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
PASSES = 2  # shifted passes per axis: stride 32 → 16
# the shifted grid's cells are all checked against their crops when that costs at most this
# many MACs (small networks); otherwise one cell per pass (VGG16: 15.5 GMACs a crop)
CHECK_ALL_MACS = 2_000_000_000
JOBS = ("fcconv", "fcconv-crop", "fcconv-shift")  # the main pass, a crop, the shifted passes
CROP_COLOUR, FINE_COLOUR, POINT_COLOUR = (230, 40, 40), (255, 150, 0), (255, 230, 0)


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


def inclusive(box):
    """(top, left, height, width) → the ((top, bottom), (left, right)) gui.plots draws."""
    top, left, h, w = box
    return (top, top + h - 1), (left, left + w - 1)


class FcConvPanel(QWidget):
    converted = Signal(object)  # the Conversion just applied
    checked = Signal(object)  # the worker's figures (difference, grid, cost)
    failed = Signal(str)
    cellSelected = Signal(str, int, int)  # "grid" or "fine", row, column: its crop is drawn
    cropChecked = Signal(object)  # the original network on the selected cell's crop
    shiftedReady = Signal(object)  # the shifted passes, interleaved and checked

    def __init__(self, document, runner, controller=None, parent=None):
        super().__init__(parent)
        self.setObjectName("fcConvPanel")
        self.doc, self.runner, self.controller = document, runner, controller
        self.original = None  # the network before the last conversion (a snapshot)
        self.after = None  # and after it
        self.image = None  # the original input image (C, H, W)
        self.conversion = None
        self.result = None
        self.selected = None  # ("grid" | "fine", i, j)
        self.crop_box = None  # its crop (top, left, height, width) on the larger image
        self.covering = None  # the cells whose crops hold the last clicked pixel
        self.crop_result = None  # the original network on the selected cell's crop
        self.shifted = None  # the shifted passes' result
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
        self.size.valueChanged.connect(lambda _v: self.preview())
        self.run_button = QPushButton("Run on the larger image", objectName="fcRun",
                                      enabled=False)
        self.run_button.clicked.connect(lambda: self.run_larger())
        self.shift_button = QPushButton("Shifted passes", objectName="fcShift", enabled=False)
        self.shift_button.setToolTip("Run the converted network on the image shifted by half "
                                     "its stride and weave the grids into a finer one")
        self.shift_button.clicked.connect(lambda: self.run_shifted())
        self.cancel_button = QPushButton("Cancel", objectName="fcCancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel)
        self.names = None  # ClassNames of the scores shown
        self.score_class = QSpinBox(objectName="fcClass", minimum=0, prefix="class ")
        self.score_class.setToolTip("Whose score the grids show")
        self.score_class.valueChanged.connect(lambda _v: self._draw_grid())
        bar = QHBoxLayout()
        bar.addWidget(self.convert_button)
        bar.addWidget(hint("then"))
        bar.addWidget(self.size)
        bar.addWidget(self.run_button)
        bar.addWidget(self.shift_button)
        bar.addWidget(self.cancel_button)
        bar.addStretch(1)
        bar.addWidget(hint("grids show"))
        bar.addWidget(self.score_class)
        self.class_name = status_label("fcClassName")  # "circle (0)"
        bar.addWidget(self.class_name)
        self.busy = QProgressBar(objectName="fcBusy", maximum=0, visible=False)
        self.status = status_label("fcStatus")
        self.text = QTextBrowser(objectName="fcText")
        self._build_views()
        # left: the figures of what is selected, then the whole story; right: the pictures
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        self.arithmetic = status_label("fcArithmetic")  # the map and the window's numbers
        self.cell_info = status_label("fcCell")  # the selected cell, its crop, both scores
        self.shift_info = status_label("fcShifted")  # the shifted passes' arithmetic
        for label in (self.arithmetic, self.cell_info, self.shift_info):
            column.addWidget(label)
        column.addWidget(self.text, 1)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.graphics, 1)
        column.addWidget(hint("Click a cell of a grid to outline its crop; click the picture "
                              "to find the cells whose crops hold that pixel."))
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([550, 850])
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

    def _build_views(self):
        """One scene, four pictures: the larger input, the score grid, the last map before
        the first fc, the shifted passes' finer grid; outlines drawn over them."""
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("fcView")
        self.graphics.setBackground("w")
        self.input_box, self.input_item = image_box(self.graphics, "the larger input", 0)
        self.grid_box, self.grid_item = image_box(self.graphics, "the score grid", 1)
        self.map_box, self.map_item = image_box(self.graphics, "the map before the fc", 2)
        self.fine_box, self.fine_item = image_box(self.graphics, "shifted passes", 3)
        heat = pg.colormap.get(HEAT_COLOURS).getLookupTable(nPts=256)
        for item in (self.grid_item, self.map_item, self.fine_item):
            item.setLookupTable(heat)
        self.crop_rect = self._rect(self.input_box, CROP_COLOUR)
        self.point_rect = self._rect(self.input_box, POINT_COLOUR, width=3)
        self.cell_rect = self._rect(self.grid_box, CROP_COLOUR)
        self.cover_rect = self._rect(self.grid_box, POINT_COLOUR, dashed=True)
        self.window_rect = self._rect(self.map_box, CROP_COLOUR)
        self.fine_rect = self._rect(self.fine_box, FINE_COLOUR)
        self.fine_cover_rect = self._rect(self.fine_box, POINT_COLOUR, dashed=True)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)

    @staticmethod
    def _rect(box, colour, width=2, dashed=False):
        item = rect_item(colour, width=width, dashed=dashed)
        box.addItem(item)
        return item

    def _title(self, col: int, text: str) -> None:
        self.graphics.getItem(0, col).setText(text)

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
        self.preview()
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

        for kind in JOBS[1:]:  # a crop or shifted pass of the last image is stale now
            self.runner.cancel(kind)
        set_status(self.status, "Working on the worker thread…")
        self.runner.submit("fcconv", job)
        return True

    def preview(self) -> None:
        """The map and window arithmetic at the chosen size, by analysis only (shown at once,
        before the pass ends; VGG16 at 384: pool5 12×12×512, a 6×6 grid)."""
        if self.original is None:
            return
        if self.result is not None and self.result["size"][0] == self.size.value():
            self.arithmetic.setText(self._arithmetic(self.result["head"], self.result["size"]))
            return
        size = self.size.value()
        try:
            head = head_window(self.original, size)
        except ConvScopeError as err:
            self.arithmetic.setText(f"At {size}×{size}: {err}")
            return
        self.arithmetic.setText(self._arithmetic(head, (size, size)))

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
        for kind in JOBS:
            self.runner.cancel(kind)
        set_status(self.status, "Cancelled.")

    # ================================================================== selecting
    def select_cell(self, i: int, j: int, grid: str = "grid", covering=None) -> bool:
        """Select cell (i, j) of the score grid (or of the shifted passes' "fine" grid):
        outline its crop and its window, then run the original network on the crop.
        ``covering``: the clicked pixel's covering cells (point_at), else marks cleared."""
        r = self.result
        source = self.shifted if grid == "fine" else r
        if r is None or source is None:
            return False
        crops = source["crops"]
        try:
            box = crops.box(i, j)
        except ConvScopeError as err:
            set_status(self.status, str(err), "error")
            return False
        self.selected, self.crop_box, self.crop_result = (grid, i, j), box, None
        self.covering = covering
        covered = covering or {}
        set_box(self.point_rect, _point_box(covered.get("point")))
        set_box(self.cover_rect, covered.get("grid"))
        set_box(self.fine_cover_rect, covered.get("fine"))
        self._draw_selection()
        self.cellSelected.emit(grid, i, j)
        self._submit_crop(grid, (i, j), box)
        return True

    def point_at(self, y: float, x: float) -> bool:
        """A pixel of the larger image: the cells whose crops hold it are marked and the
        one whose crop is centred nearest it is selected."""
        r = self.result
        if r is None:
            return False
        h, w = r["big_image"].shape[1:]
        if not (0 <= y < h and 0 <= x < w):
            return False
        covering = {"point": (int(y), int(x)), "grid": r["crops"].covering(y, x),
                    "fine": self.shifted["crops"].covering(y, x) if self.shifted else None}
        return self.select_cell(*r["crops"].nearest(y, x), covering=covering)

    def _submit_crop(self, grid, cell, box):
        r = self.result
        source = self.shifted if grid == "fine" else r
        scores = source["fine" if grid == "fine" else "scores"][cell]
        net, image = r["network"], r["big_image"]
        head, big_map = (r["head"], r["map"]) if grid == "grid" else (None, None)

        def job(job):
            job.report(f"Running the original network on cell {cell}'s crop "
                       f"({box[2]}×{box[3]} at {box[0]}, {box[1]})…")
            found = check_crop(net, image, box, scores, head, big_map, cell)
            return {**found, "grid": grid, "cell": cell, "box": box, "cell_scores": scores}

        self.runner.submit("fcconv-crop", job)

    def _clicked(self, event):
        if event.button() != Qt.MouseButton.LeftButton or self.result is None:
            return
        pos = event.scenePos()
        for box, item, action in ((self.input_box, self.input_item, self.point_at),
                                  (self.grid_box, self.grid_item, self._grid_click),
                                  (self.fine_box, self.fine_item, self._fine_click)):
            if item.image is None or not box.sceneBoundingRect().contains(pos):
                continue
            box.updateMatrix()  # a range set since the last paint is applied lazily
            point = item.mapFromScene(pos)
            if action(point.y(), point.x()):
                event.accept()
            return

    def _grid_click(self, y, x) -> bool:
        rows, cols = self.result["scores"].shape[:2]
        return 0 <= y < rows and 0 <= x < cols and self.select_cell(int(y), int(x))

    def _fine_click(self, y, x) -> bool:
        if self.shifted is None:
            return False
        rows, cols = self.shifted["fine"].shape[:2]
        return 0 <= y < rows and 0 <= x < cols and self.select_cell(int(y), int(x), "fine")

    def _draw_selection(self):
        r = self.result
        grid, i, j = self.selected if self.selected else ("grid", 0, 0)
        set_box(self.crop_rect, inclusive(self.crop_box) if self.crop_box else None)
        pen = self.crop_rect.pen()
        pen.setColor(pg.mkColor(FINE_COLOUR if grid == "fine" else CROP_COLOUR))
        self.crop_rect.setPen(pen)
        on_grid = self.selected is not None and grid == "grid"
        set_box(self.cell_rect, ((i, i), (j, j)) if on_grid else None)
        set_box(self.window_rect, inclusive(r["head"].box(i, j)) if on_grid else None)
        on_fine = self.selected is not None and grid == "fine"
        set_box(self.fine_rect, ((i, i), (j, j)) if on_fine else None)
        self._show_cell()

    # ================================================================== shifted passes
    def run_shifted(self) -> bool:
        """The converted network on the larger image shifted by 0 and stride/2 pixels in y
        and x, the grids interleaved, each cell checked against its crop (on the worker)."""
        r = self.result
        if r is None:
            set_status(self.status, "Run on the larger image first.", "error")
            return False
        try:
            shift_offsets(r["network"], PASSES)
        except ConvScopeError as err:
            set_status(self.status, str(err), "error")
            return False

        def job(job):
            return shifted_job(job, r)

        self.runner.submit("fcconv-shift", job)
        return True

    # ================================================================== results
    def _busy(self, kind, busy):
        if kind not in JOBS:
            return
        working = any(k in self.runner.busy for k in JOBS)
        self.busy.setVisible(working)
        self.cancel_button.setEnabled(working)
        main = "fcconv" in self.runner.busy
        self.convert_button.setEnabled(not main)
        self.run_button.setEnabled(not main and self.original is not None)
        self.shift_button.setEnabled(not working and self.result is not None)

    def _progress(self, kind, payload):
        if kind in JOBS:
            set_status(self.status, payload)

    def _finished(self, kind, result):
        if kind == "fcconv-crop":
            self._crop_done(result)
        elif kind == "fcconv-shift":
            self._shifted_done(result)
        elif kind == "fcconv":
            self._larger_done(result)

    def _larger_done(self, result):
        self.result, self.shifted, self.covering = result, None, None
        k = result["scores"].shape[-1]
        self.names = class_names(self.doc, k)
        self.score_class.blockSignals(True)
        self.score_class.setMaximum(k - 1)
        self.score_class.setValue(result["top_class"])
        self.score_class.blockSignals(False)
        self.input_item.setImage(display_image(result["big_image"], result["big_spec"]),
                                 levels=(0.0, 1.0), autoLevels=False)
        self.input_box.autoRange(padding=0.02)
        head = result["head"]
        c, h, w = head.shape
        shown = result["map"].mean(axis=0)
        self.map_item.setImage(shown, levels=_levels(shown), autoLevels=False)
        self.map_box.autoRange(padding=0.02)
        self._title(2, f"{head.layer} {h}×{w}×{c} (mean of its channels)")
        self.fine_item.clear()  # the outlines are redrawn by selecting cell (0, 0) below
        stride = result["crops"].step
        self.shift_button.setText(f"Shifted passes (stride {stride[0]} → "
                                  f"{stride[0] // PASSES})")
        self.shift_info.clear()
        self.preview()
        diff = result["check"]
        set_status(self.status, f"Same network: the largest difference of the outputs is "
                   f"{diff['max_abs']:.2e} (outputs up to {diff['scale']:.3g}). On "
                   f"{result['size'][0]}×{result['size'][1]} it gives a "
                   f"{result['grid'][0]}×{result['grid'][1]} grid of scores in "
                   f"{result['seconds']:.1f} s.", "ok")
        self._draw_grid()
        self.checked.emit(result)
        self.select_cell(0, 0)

    def _crop_done(self, found):
        if self.selected != (found["grid"], *found["cell"]):
            return  # another cell was selected meanwhile
        self.crop_result = found
        self._show_cell()
        self._show_text()
        set_status(self.status, f"Cell {found['cell']}: |cell − crop| = "
                   f"{found['max_abs']:.2e}.", "ok")
        self.cropChecked.emit(found)

    def _shifted_done(self, shifted):
        self.shifted = shifted
        self._draw_grid()
        self.shift_info.setText(self._shift_arithmetic())
        self._show_text()
        check = shifted["check"]
        set_status(self.status, f"Shifted passes: a {shifted['fine'].shape[0]}×"
                   f"{shifted['fine'].shape[1]} grid; the largest |cell − crop| over "
                   f"{len(check['cells'])} checked cells is {check['worst']:.2e}.", "ok")
        self.shiftedReady.emit(shifted)

    def _failed(self, kind, message):
        if kind in JOBS:
            set_status(self.status, message, "error")
            self.failed.emit(message)

    def _draw_grid(self):
        if self.result is None:
            return
        k = self.score_class.value()
        self.class_name.setText(self.names.label(k) if self.names.names else "")
        grid = self.result["scores"][:, :, k]
        self.grid_item.setImage(grid, levels=_levels(grid), autoLevels=False)
        self.grid_box.autoRange(padding=0.02)
        rows, cols = grid.shape
        self._title(1, f"the score grid {rows}×{cols}")
        if self.shifted is not None:
            fine = self.shifted["fine"][:, :, k]
            self.fine_item.setImage(fine, levels=_levels(fine), autoLevels=False)
            self.fine_box.autoRange(padding=0.02)
            step = self.shifted["crops"].step
            self._title(3, f"shifted passes {fine.shape[0]}×{fine.shape[1]} "
                           f"(stride {step[0]})")
        self._show_text()

    # ================================================================== words
    @staticmethod
    def _arithmetic(head, size) -> str:
        """The last map and the first fc's window on it, with the network's own numbers."""
        rows, cols = head.cells
        c, h, w = head.shape
        (kh, kw), (sh, sw) = head.kernel, head.stride
        return (f"At {size[0]}×{size[1]} the last map before {head.fc}, {head.layer}, is "
                f"{h}×{w}×{c}; {head.fc} as a {kh}×{kw} conv of stride {sh}"
                f"{'' if sh == sw else f'×{sw}'} steps over it: {head.formula()} → a "
                f"{rows}×{cols} grid.")

    def _shift_arithmetic(self) -> str:
        s, r = self.shifted, self.result
        step, crop = s["crops"].step, s["crops"].crop
        stride = r["crops"].step
        size = r["size"]
        passes = ", ".join(f"({dy}, {dx}): {g.shape[0]}×{g.shape[1]}"
                           for (dy, dx), g in s["grids"].items())
        fine = s["fine"].shape
        per_axis = axis_output(size[0], crop[0], 0, step[0]).formula()
        return (f"Stride {stride[0]} → {stride[0]}/{PASSES} = {step[0]}: {len(s['grids'])} "
                f"passes shifted by (dy, dx) px give {passes}; interleaved, crops {step[0]} "
                f"px apart: {per_axis} → a {fine[0]}×{fine[1]} grid.")

    def _show_cell(self):
        """The selected cell in one line: its crop, its score and the crop's."""
        if self.selected is None:
            self.cell_info.clear()
            return
        grid, i, j = self.selected
        top, left, h, w = self.crop_box
        source = self.shifted["fine"] if grid == "fine" else self.result["scores"]
        k = self.score_class.value()
        text = (f"{'Fine cell' if grid == 'fine' else 'Cell'} ({i}, {j}): crop "
                f"{h}×{w} at ({top}, {left}), rows {top}–{top + h - 1}, columns "
                f"{left}–{left + w - 1}; its score {source[i, j, k]:.4f}")
        found = self.crop_result
        if found is None:
            text += "; running the original network on the crop…"
        else:
            text += (f"; the original network on the crop {found['scores'][k]:.4f}; "
                     f"largest |cell − crop| over the classes {found['max_abs']:.2e}")
        if self.covering is not None and self.covering["grid"] is not None:
            (i0, i1), (j0, j1) = self.covering["grid"]
            y, x = self.covering["point"]
            text += (f". Pixel ({y}, {x}) lies in the crops of cells rows {i0}–{i1}, "
                     f"columns {j0}–{j1} ({(i1 - i0 + 1) * (j1 - j0 + 1)} cells)")
        self.cell_info.setText(text + ".")

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
            parts.append(self._window_html())
            parts.append(self._crop_html())
            if self.shifted is not None:
                parts.append(f"<h3>Shifted passes</h3><p>{escape(self._shift_arithmetic())} "
                             f"{escape(self._shifted_check_text())}</p>")
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

    def _window_html(self) -> str:
        r = self.result
        head = r["head"]
        c, _, _ = head.shape
        kh, kw = head.kernel
        i, j = (self.selected[1:] if self.selected and self.selected[0] == "grid" else (0, 0))
        top, left, _, _ = head.box(i, j)
        return (f"<h3>The window on {escape(head.layer)}</h3><p>"
                f"{escape(self._arithmetic(head, r['size']))} "
                f"At the original size {head.layer} is {kh}×{kw}×{c}, exactly one window: "
                f"that is why {head.fc} became a {kh}×{kw} conv. Cell ({i}, {j}) reads "
                f"{head.layer} rows {top}–{top + kh - 1}, columns {left}–{left + kw - 1} "
                f"(the outlined window), which is what its crop gives {head.layer} when run "
                "alone, up to padding (below).</p>")

    def _crop_html(self) -> str:
        """The selected crop through the original network, and why a cell can differ."""
        r, found = self.result, self.crop_result
        padded = r["padded"]
        parts = ["<h3>The crop through the original network</h3><p>"]
        if found is not None:
            i, j = found["cell"]
            parts.append(f"Cell ({i}, {j}) against the original network on its crop: the "
                         f"largest |cell − crop| over the {found['scores'].size:,} scores is "
                         f"<b>{found['max_abs']:.3e}</b> (scores up to "
                         f"{found['scale']:.4g}). ")
        if not padded:
            parts.append("No layer before the fc layers pads, so the big pass and a crop "
                         "run alone see the very same pixels: every cell is its crop, up to "
                         "float32 rounding.</p>")
            return "".join(parts)
        head = r["head"]
        parts.append(
            f"{len(padded)} layers before {escape(head.fc)} pad with zeros "
            f"({escape(', '.join(padded[:4]))}{', …' * (len(padded) > 4)}). The big pass "
            "pads only at the image's own border; a crop run alone pads at its own border, "
            "where (inside the image) the big pass sees real pixels. The difference starts "
            "one pixel wide at each inside side and widens by each padded layer's reach, so "
            "a cell equals its crop only on sides where the crop's border is the image's.")
        diff = found.get("map_diff") if found is not None else None
        if diff is not None:
            differ = int((diff > 1e-5 * max(1.0, float(np.abs(r["map"]).max()))).sum())
            parts.append(f" Here {differ} of the {diff.size} {escape(head.layer)} positions "
                         f"under the window differ (by up to {float(diff.max()):.3g}).")
        parts.append("</p>")
        return "".join(parts)

    def _shifted_check_text(self) -> str:
        check = self.shifted["check"]
        total = self.shifted["fine"].shape[0] * self.shifted["fine"].shape[1]
        which = ("every cell" if len(check["cells"]) == total else
                 f"{len(check['cells'])} of the {total} cells (one per pass; all would run "
                 f"{total} crops)")
        why = " (not zero: the padding, as above)" if self.result["padded"] else ""
        return (f"Checked against the original network on their crops: {which}; the largest "
                f"|cell − crop| is {check['worst']:.3e}{why}.")


def _point_box(point):
    """The one-pixel box of a clicked (y, x), None without one."""
    return None if point is None else ((point[0], point[0]), (point[1], point[1]))


def _levels(values) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    return low, high if high > low else low + 1


def shifted_job(job, result) -> dict:
    """On the worker: the shifted passes, interleaved, and their cells against their crops
    (all of them when that is cheap, else one cell per pass)."""
    original, converted, image = result["network"], result["converted"], result["big_image"]
    found = shifted_scores(original, converted, image, PASSES, known=result["scores"],
                           should_stop=job.should_stop,
                           progress=lambda text: job.report(f"Running {text}…"))
    fine, crops = found["fine"], found["crops"]
    total = fine.shape[0] * fine.shape[1]
    if total * result["cost"]["macs_per_crop"] <= CHECK_ALL_MACS:
        cells = None
    else:  # the middle cell of each pass
        cells = sorted({(PASSES * (g.shape[0] // 2) + dy // crops.step[0],
                         PASSES * (g.shape[1] // 2) + dx // crops.step[1])
                        for (dy, dx), g in found["grids"].items()})
    found["check"] = compare_cells(
        original, image, fine, crops, cells, should_stop=job.should_stop,
        progress=lambda done, count: job.report(f"Checking crop {done} of {count}…"))
    return found


def check_and_slide(job, original, after, conversion, image, big_image, size) -> dict:
    """On the worker: both networks on the original image, the converted one on the larger
    one, and the cost of sliding the original instead."""
    start = time.perf_counter()
    original = original.copy()  # weights made here live with this result, not the document
    if any(original.weights.get(k) is None for k in original.param_shapes()):
        job.report("Making the network's seeded weights…")
    original.ensure_weights()
    if job.should_stop():
        raise Cancelled("a newer request")
    # the converted weights are the original's, reshaped (views: no second copy in memory)
    after.weights = {k: v for k, v in original.weights.items()}
    for item in conversion.converted:
        key = f"{item['name']}.weight"
        after.weights[key] = original.weights[key].reshape(item["weight_to"])
    c, h, w = original.input.shape
    job.report(f"Running both networks on the {h}×{w} input…")
    check = check_equivalence(original, after, image[None], job.should_stop)
    scores = original.forward(image[None], should_stop=job.should_stop)
    top_class = int(np.argmax(scores[original.layers[-1].name]))
    if job.should_stop():
        raise Cancelled("a newer request")
    job.report(f"Running the converted network on {size}×{size}…")
    big = resized(after, size)
    head = head_window(original, size)
    t0 = time.perf_counter()
    acts = big.forward(big_image[None], should_stop=job.should_stop)
    seconds = time.perf_counter() - t0
    scores = np.moveaxis(acts[big.layers[-1].name][0], 0, -1)  # (rows, cols, classes)
    cost = sliding_cost(original, size)
    # kept for the crops and the shifted passes: the networks with their weights (VGG16:
    # half a gigabyte, held while the panel shows this result) and the map under the window
    return {"check": check, "scores": scores, "grid": scores.shape, "cost": cost,
            "top_class": top_class, "size": (big.input.height, big.input.width),
            "big_image": big_image, "big_spec": big.input, "seconds": seconds,
            "total_seconds": time.perf_counter() - start, "network": original,
            "converted": after, "head": head, "map": acts[head.layer][0],
            "crops": crop_grid(original, scores.shape), "padded":
            padded_layers(original.analyze())}
