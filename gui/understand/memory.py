"""The memory budget (the notes' "computational considerations"): for a batch size, a value
type, an optimizer and training on or off, how much memory one step needs, layer by layer,
whether it fits a given amount, and the largest batch that does.

Numbers come from core.understand.memory.memory_budget; one stacked bar chart shows each
layer's share (activations and their gradients against parameters, their gradients and the
optimizer's state), so VGG16's shape is plain: activations early, parameters in fc6.
"""

from __future__ import annotations

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.understand.memory import fmt_bytes, memory_budget
from convscope.gui.lazy import Follow
from convscope.gui.plots import pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from .common import controls_beside, escape, hint, set_status, status_label

DTYPES = (("float32 (4 bytes)", 4), ("float16 (2 bytes)", 2), ("float64 (8 bytes)", 8))
OPTIMIZERS = (("SGD", "sgd"), ("SGD + momentum", "momentum"), ("Adam", "adam"))
MIB = 2**20
GIB = 2**30

# The stacked bars, bottom to top: (budget column, legend, colour); "step" is drawn in
# inference mode (what is alive while the layer runs), "forward" in training
SERIES = (
    ("step", "alive while it runs", (52, 168, 83)),
    ("forward", "activations", (66, 133, 244)),
    ("activation_grads", "activation gradients", (140, 182, 250)),
    ("params", "parameters", (219, 68, 55)),
    ("param_grads", "parameter gradients", (240, 150, 140)),
    ("optimizer", "optimizer state", (244, 180, 0)),
    ("buffers", "running statistics", (120, 120, 120)),
)
TABLE_COLUMNS = (("Layer", None), ("Output", None), ("Alive while it runs", "step"),
                 ("Activations", "forward"),
                 ("Act. gradients", "activation_grads"), ("Parameters", "params"),
                 ("Param. gradients", "param_grads"), ("Optimizer", "optimizer"),
                 ("Total", "total"))


MODE_NOTES = {
    True: ("Training keeps everything for the backward pass: every activation until the "
           "backward has used it, a gradient of the same size for each (the notes' "
           "'~×2 for bwd'), the parameters, their gradients and the optimizer's state."),
    False: ("Inference frees each output once the next layer has read it: the total is the "
            "parameters, the workspaces kept between layers, and the largest step (the "
            "running layer's input, its output and its scratch), not the sum of all "
            "activations."),
}


def chart_rows(budget) -> list:
    """The rows the chart draws: every place that holds memory (in-place layers such as
    relu hold none of their own in training, so they would only be empty slots)."""
    return [row for row in budget.rows if row_total(budget, row) > 0]


def drawn(budget, row, key) -> int:
    """The bytes a bar of ``key`` shows for ``row``: in inference the step replaces the
    activations, which are never all alive at once."""
    if key == "forward" and not budget.training:
        return 0
    return getattr(row, key)


def row_total(budget, row) -> int:
    """A row's share as its bar stacks it (in inference: its step, not its activations)."""
    return sum(drawn(budget, row, key) for key, _, _ in SERIES)


class MemoryPanel(QWidget):
    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setObjectName("memoryPanel")
        self.doc = document
        self.budget = None
        self.rows = []  # the chart's rows (MemoryRow), left to right
        self.tick_labels = []  # (x, name) under the bars
        self._build()
        self._follow = Follow(self, document.changed, self.refresh)
        self.refresh()

    # ------------------------------------------------------------------ widgets
    def _build(self):
        self.batch = QSpinBox(objectName="memoryBatch", minimum=1, maximum=1_000_000, value=64)
        self.batch.setToolTip("Images per training step (mini-batch size)")
        self.dtype = QComboBox(objectName="memoryDtype")
        for text, size in DTYPES:
            self.dtype.addItem(text, size)
        self.optimizer = QComboBox(objectName="memoryOptimizer")
        for text, key in OPTIMIZERS:
            self.optimizer.addItem(text, key)
        self.optimizer.setToolTip("SGD keeps no state; momentum one velocity per parameter; "
                                  "Adam two running moments per parameter")
        self.training = QCheckBox("Training (forward + backward)", objectName="memoryTraining",
                                  checked=True)
        self.training.setToolTip("Off: inference only: outputs are freed once read, so only "
                                 "the largest layer step is alive beside the parameters")
        self.available = QDoubleSpinBox(objectName="memoryAvailable", minimum=0.01,
                                        maximum=4096, decimals=2, value=8.0, singleStep=1.0,
                                        suffix=" GiB")
        self.available.setToolTip("The memory to fit the step in, e.g. your GPU's")
        for widget in (self.batch, self.available):
            widget.valueChanged.connect(lambda _v: self.refresh())
        for widget in (self.dtype, self.optimizer):
            widget.currentIndexChanged.connect(lambda _i: self.refresh())
        self.training.toggled.connect(self._training_toggled)

        form = QFormLayout()
        form.addRow("Batch size", self.batch)
        form.addRow("Values", self.dtype)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("", self.training)
        form.addRow("Fit in", self.available)
        self.figures = status_label("memoryFigures")
        self.verdict = status_label("memoryVerdict")
        self.explain = QTextBrowser(objectName="memoryExplain")
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(form)
        column.addWidget(self.verdict)
        column.addWidget(self.figures)
        self.mode_note = hint(MODE_NOTES[True], "memoryModeNote")
        column.addWidget(self.mode_note)
        column.addStretch(1)

        self.chart = pg.PlotWidget()
        self.chart.setObjectName("memoryChart")
        self.chart.setBackground("w")
        plot = self.chart.getPlotItem()
        plot.setLabel("left", "MiB")
        plot.showGrid(y=True, alpha=0.3)
        plot.setMouseEnabled(x=True, y=False)
        small = QFont()
        small.setPointSize(7)
        plot.getAxis("bottom").setStyle(tickFont=small)
        self.bars = {}
        for key, _title, colour in SERIES:
            bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=colour, pen=None)
            plot.addItem(bars)
            self.bars[key] = bars
        self.chart.scene().sigMouseClicked.connect(self._chart_clicked)
        plot.vb.sigResized.connect(self._update_ticks)
        chart_box = QWidget()
        chart_column = QVBoxLayout(chart_box)
        chart_column.setContentsMargins(0, 0, 0, 0)
        chart_column.addWidget(self.chart, 1)
        self.key = status_label("memoryKey")  # the colours, outside the plot: never on a bar
        chart_column.addWidget(self.key)
        chart_column.addWidget(hint("One step's memory per layer (click a bar to select the "
                                    "layer). In-place layers (relu, dropout) and views "
                                    "(flatten) hold nothing of their own and are left out."))

        self.table = QTableWidget(objectName="memoryTable")
        self.table.setColumnCount(len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([t for t, _ in TABLE_COLUMNS])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._table_selected)

        self.tabs = QTabWidget(objectName="memoryTabs")
        self.tabs.addTab(chart_box, "Chart")
        self.tabs.addTab(self.table, "Per layer")
        self.tabs.addTab(self.explain, "Why backward keeps activations")
        controls_beside(self, left, self.tabs, 250, (290, 900))

    def _training_toggled(self, on: bool):
        self.optimizer.setEnabled(on)
        self.refresh()

    # ------------------------------------------------------------------ figures
    def settings(self) -> dict:
        return {"batch": self.batch.value(), "dtype_bytes": self.dtype.currentData(),
                "optimizer": self.optimizer.currentData(), "training": self.training.isChecked()}

    def available_bytes(self) -> int:
        return int(round(self.available.value() * GIB))

    def refresh(self) -> None:
        self._follow.stop()
        try:
            budget = memory_budget(self.doc.network, report=self.doc.report,
                                   **self.settings())
        except ConvScopeError as err:
            self.budget, self.rows = None, []
            set_status(self.verdict, str(err), "error")
            self.figures.clear()
            self.explain.clear()
            self._draw()
            self.table.setRowCount(0)
            return
        self.budget = budget
        self.rows = chart_rows(budget)
        self._show_figures(budget)
        self._draw()
        self._fill_table()

    def _show_figures(self, b):
        t = b.totals
        room = self.available_bytes()
        best = b.max_batch(room)
        step = "one training step" if b.training else "one inference pass"
        if b.fits(room):
            set_status(self.verdict, f"✔ Fits: {step} of batch {b.batch} needs "
                       f"{fmt_bytes(b.total)} of {fmt_bytes(room)}. Largest batch that fits: "
                       f"{best:,}.", "ok")
        else:
            if best:
                more = f"The largest batch that fits is {best:,}."
            elif b.fixed > room:
                more = f"Not even one image fits: the parameters alone need {fmt_bytes(b.fixed)}."
            else:
                more = "Not even one image fits."
            set_status(self.verdict, f"✖ Does not fit: {step} of batch {b.batch} needs "
                       f"{fmt_bytes(b.total)}, more than {fmt_bytes(room)}. {more}", "error")
        if b.training:
            lines = [("Activations (forward)", t["forward"]),
                     ("Activation gradients", t["activation_grads"]),
                     ("Parameters", t["params"]), ("Parameter gradients", t["param_grads"]),
                     ("Optimizer state", t["optimizer"]), ("Running statistics", t["buffers"])]
        else:
            lines = [(f"Largest step ({escape(t['step_layer'])})", t["step"]),
                     ("Workspaces", t["workspace"]), ("Parameters", t["params"]),
                     ("Running statistics", t["buffers"])]
        self.mode_note.setText(MODE_NOTES[b.training])
        cells = "".join(f"<tr><td>{name}</td><td align='right'>{fmt_bytes(v)}</td></tr>"
                        for name, v in lines if v or name.startswith(("Activations",
                                                                      "Parameters",
                                                                      "Largest")))
        self.figures.setText(
            f"<table cellspacing='0' cellpadding='1'>{cells}<tr><td><b>Total</b></td>"
            f"<td align='right'><b>{fmt_bytes(b.total)}</b></td></tr></table>"
            f"Per image {fmt_bytes(b.per_image)}, fixed {fmt_bytes(b.fixed)}.")
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in b.explain.split("\n"))
        self.explain.setHtml(paragraphs)

    # ------------------------------------------------------------------ the chart
    def bar_heights(self) -> dict:
        """column → heights in MiB, one per chart row (what is drawn)."""
        return {key: np.array([drawn(self.budget, r, key) / MIB for r in self.rows], float)
                for key, _, _ in SERIES}

    def _draw(self):
        x = np.arange(len(self.rows), dtype=float)
        bottom = np.zeros(len(self.rows))
        shown = []
        for (key, title, colour), heights in zip(SERIES, self.bar_heights().values()):
            self.bars[key].setOpts(x=x, y0=bottom.copy(), height=heights, width=0.7)
            self.bars[key].setVisible(bool(heights.any()))
            bottom += heights
            if heights.any():
                shown.append(f"<span style='color:rgb{colour}'>■</span> {title}")
        self.key.setText("Bottom to top: " + "  ".join(shown) if shown else "")
        self._update_ticks()
        if self.rows:
            self.chart.getPlotItem().setXRange(-0.6, len(self.rows) - 0.4, padding=0)
            self.chart.getPlotItem().setYRange(0, max(float(bottom.max()), 1e-6) * 1.08,
                                               padding=0)

    def _update_ticks(self, *args):
        """Name every bar when the names fit under them; else the biggest bars first, then
        others where there is room (pyqtgraph would draw the names over each other)."""
        rows = self.rows
        width = self.chart.getPlotItem().vb.width() or self.chart.width()
        longest = max((len(r.name) for r in rows), default=1)
        step = max(1, int(np.ceil(6.5 * longest / max(width / max(len(rows), 1), 1))))
        placed: list[int] = []
        biggest_first = sorted(range(len(rows)), key=lambda k: -row_total(self.budget, rows[k]))
        for i in biggest_first:
            if all(abs(i - j) >= step for j in placed):
                placed.append(i)
        self.tick_labels = [(float(i), rows[i].name) for i in sorted(placed)]
        self.chart.getPlotItem().getAxis("bottom").setTicks([self.tick_labels, []])

    def _chart_clicked(self, event):
        if not self.rows:
            return
        point = self.chart.getPlotItem().vb.mapSceneToView(event.scenePos())
        index = int(round(point.x()))
        if 0 <= index < len(self.rows):
            self._select(self.rows[index].name)

    # ------------------------------------------------------------------ the table
    def _fill_table(self):
        table = self.table
        table.blockSignals(True)
        training = self.budget is None or self.budget.training
        for c, (_, key) in enumerate(TABLE_COLUMNS):  # each mode shows what it counts
            table.setColumnHidden(c, key in (("activation_grads", "param_grads", "optimizer")
                                             if not training else ("step",)))
        table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            shape = "" if row.shape is None else "×".join(map(str, (row.shape[1], row.shape[2],
                                                                     row.shape[0])))
            values = [row.name, shape] + [fmt_bytes(row_total(self.budget, row)
                                                    if key == "total" else getattr(row, key))
                                          for _, key in TABLE_COLUMNS[2:]]
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if row.needed_by:
                    item.setToolTip(f"Kept for backward by: {row.needed_by}")
                table.setItem(r, c, item)
        table.blockSignals(False)

    def _table_selected(self):
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) == 1:
            self._select(self.rows[rows.pop()].name)

    def _select(self, name: str):
        if name == "input" or name in self.doc.network.layer_names():
            self.doc.select(name)

