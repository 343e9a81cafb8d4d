"""The summary table: the notes' per-layer figures (VGGNet table style) with totals.

``INPUT: [224x224x3] memory: 224*224*3=150K weights: 0`` becomes a row with columns; nested
layers are indented under their block; warnings are amber, errors red, and the layers after
an error grey ("not computed"). The last row holds the totals. Right-clicking the header
offers every column to hide or show; the hidden ones are remembered (QSettings).
"""

from __future__ import annotations

from functools import partial

from convscope.core import fmt_shape
from convscope.core.summary import (
    label,
    memory_expr,
    ops_lines,
    ops_text,
    short,
    totals_lines,
    weights_expr,
)
from convscope.gui import settings
from convscope.gui.dockpanel import set_text_only_growing
from convscope.gui.document import INPUT
from convscope.gui.lazy import PaintTurns
from PySide6.QtCore import QEvent, QItemSelectionModel, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QTableView,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Layer", "Name", "Output", "Memory", "Weights", "Params", "MACs", "Ops", "RF",
           "Status")
# Hidden until a person shows it (right-click the header): the other ops are a detail
# beside the MACs, and shown they take room the figures need in a 1280-wide window.
HIDDEN_AT_FIRST = ("Ops",)
HIDDEN_KEY = "summary/hiddenColumns"  # the hidden titles, comma-separated
ALWAYS_SHOWN = "Layer"  # the row's label: hiding it would leave rows nobody can name
# The memory and weights formulas grow long; capped, so that RF and Status stay in view
# (the row's tooltip has it whole).
WIDEST = {"Memory": 140, "Weights": 190}
# When the table is narrower than its columns, these give up room (down to their minimum,
# the end of the text kept: "…= 36,864", the whole in the cell's tooltip) so that every
# column stays in view: the formulas first, then the names. The figures (Output, Params,
# MACs, RF, Status) keep their whole width.
NARROWEST = ({"Weights": 80, "Memory": 70, "Ops": 70}, {"Name": 70}, {"Layer": 64})
ELIDED = {c for narrowest in NARROWEST for c in narrowest}
NUMERIC = {"Params", "MACs"}
ROW_FILL = {"warning": QColor("#fff3d1"), "error": QColor("#fde1e1"),
            "blocked": QColor("#efefef")}
TOTALS_FILL = QColor("#e9edf3")
GREY = QColor("#777777")  # the layers after an error: not computed
STATUS_INK = {"warning": QColor("#8a5a00"), "error": QColor("#b01818")}
RIGHT_ALIGNED = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
INDENT = "\u2003\u2002"  # an em and an en space per nesting level


def _changed_runs(before: list, after: list) -> list[tuple[int, int]]:
    """(first, last) of each run of rows that differ between two equally long lists."""
    runs = []
    for row, (a, b) in enumerate(zip(before, after)):
        if a == b:
            continue
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


class SummaryModel(QStandardItemModel):
    """Rows: the input, every layer in reading order, the totals.

    The cells are Qt's own items: painting a screenful asks every cell for seven roles, and
    a model answering in Python made about 570 calls a repaint (10 ms idle; while the live
    worker held Python's lock in a long Qt call, each call waited for it: up to 300 ms of a
    frozen window on a 10000×10000 input). Now a repaint makes none. A change sets the
    texts and looks of the rows that differ (a load: every row, signals held back, then
    one reset); tooltips are made when a cell is hovered (``tooltip``)."""

    def __init__(self, document, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.doc = document
        self._bold = QFont()
        self._bold.setBold(True)
        for n, title in enumerate(COLUMNS):
            header = QStandardItem(title)
            header.setToolTip(HEADER_TIPS[title])
            self.setHorizontalHeaderItem(n, header)
        self.rows: list[tuple] = []
        self.looks: list[tuple] = []
        self._read()
        self._fill()
        document.changed.connect(self.refresh)

    def _read(self) -> None:
        """Format every row once per change: the items and the column widths use the text."""
        self.report = self.doc.report
        self.rows = [tuple(self._input(c) for c in COLUMNS)]
        self.rows += [tuple(self._cell(info, c) for c in COLUMNS) for info in self.report.layers]
        totals = self._totals()
        self.rows.append(tuple(totals[c] for c in COLUMNS))
        self.looks = [("input", "")] + [("layer", info.status) for info in self.report.layers]
        self.looks.append(("totals", ""))

    def refresh(self) -> None:
        before = list(zip(self.rows, self.looks))
        self._read()
        after = list(zip(self.rows, self.looks))
        if len(after) != len(before):
            self.blockSignals(True)  # one reset below, not a signal per row
            try:
                self._fill()
            finally:
                self.blockSignals(False)
            self.beginResetModel()
            self.endResetModel()
            return
        # same rows: keep the view's selection and scroll place, and repaint only the rows
        # whose text or look changed (an edit changes a few; repainting every cell of
        # ResNet-18's table took about 10 ms of the edit)
        runs = _changed_runs(before, after)
        self.blockSignals(True)
        try:
            for first, last in runs:
                for row in range(first, last + 1):
                    self._update_row(row, before[row])
        finally:
            self.blockSignals(False)
        for first, last in runs:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def _fill(self) -> None:
        """Every row's items anew (appended whole rows: half the time of item by item)."""
        self.setRowCount(0)
        for row in range(len(self.rows)):
            self.appendRow(self._items(row))

    def _update_row(self, row: int, before: tuple) -> None:
        """A row whose look is as it was gets the texts that changed set in place (an edit
        of an early layer in ResNet-50 changes most rows' shape and figures, not their
        looks); another look, new items."""
        texts, look = before
        if look != self.looks[row]:
            for column, item in enumerate(self._items(row)):
                self.setItem(row, column, item)
            return
        for column, (old, new) in enumerate(zip(texts, self.rows[row])):
            if old != new:
                self.item(row, column).setText(new)

    def _items(self, row: int) -> list[QStandardItem]:
        """The row's cells, from ``rows`` and ``looks``."""
        kind, status = self.looks[row]
        fill = TOTALS_FILL if kind == "totals" else ROW_FILL.get(status)
        items = []
        for column, text in enumerate(self.rows[row]):
            item = QStandardItem(text)
            title = COLUMNS[column]
            if title in NUMERIC:
                item.setTextAlignment(RIGHT_ALIGNED)
            if fill is not None:
                item.setData(fill, Qt.ItemDataRole.BackgroundRole)
            if kind == "totals":
                item.setFont(self._bold)
            elif status == "blocked":
                item.setData(GREY, Qt.ItemDataRole.ForegroundRole)
            elif title == "Status" and status in STATUS_INK:
                item.setData(STATUS_INK[status], Qt.ItemDataRole.ForegroundRole)
            items.append(item)
        return items

    # -------------------------------------------------------------- the model
    def info(self, row: int):
        """The row's LayerInfo; None for the input and totals rows."""
        if 1 <= row <= len(self.report.layers):
            return self.report.layers[row - 1]
        return None

    def name_at(self, row: int) -> str:
        """The layer name a row selects: INPUT for the input row, "" for the totals."""
        info = self.info(row)
        return INPUT if row == 0 else (info.name if info else "")

    def row_of(self, name: str) -> int:
        if name == INPUT:
            return 0
        for n, info in enumerate(self.report.layers):
            if info.name == name:
                return n + 1
        return -1

    def tooltip(self, index) -> str:
        """A layer cell's tooltip (the input and totals rows have none): the layer, its
        problems and work; a narrow column's whole text; the Ops cell's every count."""
        info = self.info(index.row()) if index.isValid() else None
        if info is None:
            return ""
        tip = _tooltip(info)
        column = COLUMNS[index.column()]
        if column == "Ops":  # the cell is the compact total: here every count in full
            return "\n".join(["Beside the MACs:", *(ops_lines(info.ops) or ["nothing"]), tip])
        if column in ELIDED:  # a narrow column may show only the end of it
            return f"{column}: {self.rows[index.row()][index.column()].strip()}\n{tip}"
        return tip

    def _input(self, column):
        shape = self.report.input_shape
        return {"Layer": "INPUT", "Name": "input", "Output": f"[{fmt_shape(shape)}]",
                "Memory": memory_expr(shape), "Weights": "0", "Params": "0", "MACs": "0",
                "Ops": "0", "RF": "1×1", "Status": ""}[column]

    def _totals(self) -> dict:
        """The totals row, column → text (worked out once per change)."""
        t = self.report.totals()
        errors = sum(d.severity == "error" for d in self.report.diagnostics)
        warnings = sum(d.severity == "warning" for d in self.report.diagnostics)
        status = ", ".join(part for part in (
            f"{errors} error{'s' * (errors != 1)}" if errors else "",
            f"{warnings} warning{'s' * (warnings != 1)}" if warnings else "") if part) or "ok"
        return {"Layer": "TOTAL", "Name": "", "Output": "",
                "Memory": f"{t['activations']:,} = {t['forward_bytes'] / 1e6:.2f} MB",
                "Weights": f"{t['weights']:,}", "Params": f"{t['params']:,}",
                "MACs": f"{t['macs']:,}", "Ops": ops_text(self.report.op_totals()) or "0",
                "RF": "", "Status": status}

    def _cell(self, info, column):
        if column == "Layer":
            return INDENT * info.depth + label(info)
        if column == "Name":
            return info.name
        if column == "Status":
            return {"warning": "⚠ warning", "error": "✖ error",
                    "blocked": "not computed"}.get(info.status, "ok")
        if info.out is None:
            return "[not computed]" if column == "Output" else "—"
        if column == "Output":
            return f"[{fmt_shape(info.out)}]"
        if column == "Memory":
            return "in place" if info.layer.IN_PLACE else memory_expr(info.out)
        if column == "Weights":
            return weights_expr(info)
        if column == "Params":
            return f"{info.params:,}"
        if column == "MACs":
            return f"{info.macs:,}"
        if column == "Ops":
            return ops_text(info.ops) or "0"
        if column == "RF":
            return f"{info.receptive_field[0]}×{info.receptive_field[1]}"
        return ""


HEADER_TIPS = {
    "Layer": "The notes' label: CONV3-64 is a 3×3 conv with 64 filters",
    "Name": "The layer's name in the file",
    "Output": "Output shape, H×W×C",
    "Memory": "Output values (the notes' memory); element-wise layers run in place",
    "Weights": "Weights without biases, as the notes write them",
    "Params": "Weights + biases + batchnorm γ/β",
    "MACs": "Multiply-accumulates for one image",
    "Ops": "The other work for one image, beside the MACs: comparisons (cmp), additions "
           "(add), multiplications (mul), divisions (div), exponentials (exp), square roots "
           "(sqrt); the cell's tooltip has every count",
    "RF": "Receptive field in input pixels",
    "Status": "Warnings (amber) and errors (red); layers after an error are not computed",
}


def _tooltip(info) -> str:
    lines = [f"{info.name}: {info.layer.TITLE} at {info.path}"]
    if info.blocked_by:
        lines.append(f"Not computed: it comes after the error at {info.blocked_by}")
    lines += [f"{d.severity}: {d.message}" for d in info.diagnostics]
    if info.macs:
        lines.append(f"{short(info.macs)} MACs")
    if ops_text(info.ops):
        lines.append(f"other ops: {ops_text(info.ops)}")
    return "\n".join(lines)


class SummaryTable(QTableView):
    """The table itself (object name ``summaryTable``); selecting a row selects the layer."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setObjectName("summaryTable")
        self.setAccessibleName("Summary table")
        self.doc = document
        self.setModel(SummaryModel(document, self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(False)
        self.setWordWrap(False)
        # a narrowed cell keeps its end: "…4096 = 102,760,448" still shows the number
        self.setTextElideMode(Qt.TextElideMode.ElideLeft)
        self.setShowGrid(False)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.columns_menu = self._make_column_menu()
        header.customContextMenuRequested.connect(self._column_menu)
        for column in hidden_columns():
            self.setColumnHidden(COLUMNS.index(column), True)
        self._syncing = False
        self.paint_turns = PaintTurns(self)
        self.selectionModel().currentRowChanged.connect(self._row_changed)
        self.model().modelReset.connect(self._after_reset)
        self.model().dataChanged.connect(self._grow_columns)
        document.selectionChanged.connect(self._select)
        self._fit_columns()

    def _widths(self) -> list[int]:
        """Each column's width from its longest text (cheap: no per-cell size hints); the
        totals row is bold."""
        rows = self.model().rows
        fm = self.fontMetrics()
        bold = QFont(self.font())
        bold.setBold(True)
        bold_fm = QFontMetrics(bold)
        widths = []
        for column, title in enumerate(COLUMNS):
            longest = max((row[column] for row in rows[:-1]), key=len)  # proportional: close
            widest = max(fm.horizontalAdvance(title), fm.horizontalAdvance(longest) + 4,
                         bold_fm.horizontalAdvance(rows[-1][column]))
            widths.append(min(widest + 12, WIDEST.get(title, 420)))
        return widths

    def _fitted_widths(self) -> list[int]:
        """The columns' widths for the table's width: each as wide as its text, or, when
        they do not all fit, the long-text columns narrowed in proportion to what they can
        give, so that the last column (Status) is never scrolled out of view."""
        widths = self._widths()
        shown = [not self.isColumnHidden(n) for n in range(len(COLUMNS))]
        for narrowest in NARROWEST:
            excess = sum(w for w, on in zip(widths, shown) if on) - self.viewport().width()
            if excess <= 0:
                break
            give = {COLUMNS.index(c): max(0, widths[COLUMNS.index(c)] - least)
                    for c, least in narrowest.items() if shown[COLUMNS.index(c)]}
            total = sum(give.values())
            share = min(1.0, excess / total) if total else 0.0
            for n, room in give.items():
                widths[n] -= int(room * share + 0.999)
        return widths

    def _fit_columns(self):
        for column, width in enumerate(self._fitted_widths()):
            if not self.isColumnHidden(column):
                self.setColumnWidth(column, width)

    def _grow_columns(self, *args):
        """After an edit: widen a column whose text grew (as far as the table's width
        allows); never shrink under the pointer."""
        for column, width in enumerate(self._fitted_widths()):
            if not self.isColumnHidden(column) and width > self.columnWidth(column):
                self.setColumnWidth(column, width)

    # -------------------------------------------------------------- which columns show
    def _make_column_menu(self) -> QMenu:
        """A checkable entry per column (``summaryColumnsMenu``); unchecking one hides it.
        Made once; each right-click ticks the entries as the columns are now."""
        menu = QMenu(self)
        menu.setObjectName("summaryColumnsMenu")
        for title in COLUMNS:
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setEnabled(title != ALWAYS_SHOWN)
            action.toggled.connect(partial(self.show_column, title))
        return menu

    def _column_menu(self, pos):
        for n, action in enumerate(self.columns_menu.actions()):
            action.blockSignals(True)
            action.setChecked(not self.isColumnHidden(n))
            action.blockSignals(False)
        self.columns_menu.popup(self.horizontalHeader().mapToGlobal(pos))

    def show_column(self, title: str, shown: bool = True) -> None:
        """Show or hide a column, remember the choice, and fit the columns again."""
        self.setColumnHidden(COLUMNS.index(title), not shown)
        hidden = [c for n, c in enumerate(COLUMNS) if self.isColumnHidden(n)]
        settings.settings().setValue(HIDDEN_KEY, ",".join(hidden))
        self._fit_columns()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit_columns()

    def viewportEvent(self, event):
        # tooltips are made when asked: a model of Qt's own items answers painting
        # without Python, and every cell's tooltip made at each change would cost more
        if event.type() == QEvent.Type.ToolTip:
            tip = self.model().tooltip(self.indexAt(event.pos()))
            if tip:
                QToolTip.showText(event.globalPos(), tip, self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def _after_reset(self):
        self._fit_columns()
        self._select(self.doc.selected)

    def _row_changed(self, current, previous):
        if self._syncing or not current.isValid():
            return
        name = self.model().name_at(current.row())
        if name:
            self.doc.select(name)

    def _select(self, name: str):
        row = self.model().row_of(name) if name else -1
        self._syncing = True
        try:
            if row < 0:
                self.clearSelection()
                return
            index = self.model().index(row, 0)
            if not self.viewport().rect().contains(self.visualRect(index)):
                # scrolling to it repaints the whole table (10-13 ms): in a later turn than
                # the pipeline, the inspector and the maps, which the selection is about
                self.paint_turns.hold([self.viewport()])
            self.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
            self.scrollTo(index)
        finally:
            self._syncing = False


def hidden_columns() -> list[str]:
    """The columns a person hid last time (HIDDEN_AT_FIRST before any choice)."""
    value = settings.settings().value(HIDDEN_KEY)
    titles = HIDDEN_AT_FIRST if value is None else str(value).split(",")
    return [t for t in titles if t in COLUMNS and t != ALWAYS_SHOWN]


class SummaryPanel(QWidget):
    """The table and, under it, the notes' TOTAL lines."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.doc = document
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        self.table = SummaryTable(document)
        column.addWidget(self.table, 1)
        self.totals = QLabel()
        self.totals.setObjectName("summaryTotals")
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals.setContentsMargins(6, 2, 6, 4)
        self.totals.setWordWrap(True)
        column.addWidget(self.totals)
        document.changed.connect(self.refresh)
        self.refresh()

    def refresh(self):
        # the lines may wrap differently after an edit: the label only ever grows, so that
        # an edit does not move the table's edge
        set_text_only_growing(self.totals, "\n".join(totals_lines(self.doc.report)))
