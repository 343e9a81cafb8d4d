"""Compare two architectures side by side, layer by layer and in total
(core.understand.compare): the current network against a preset or a file, or the notes'
example of one 7×7 conv against three stacked 3×3 convs.

The layer table pairs the layers by structure (a layer one network lacks is a row with a
gap on its side), colours the B cells that differ from A and writes the delta in them; its
columns are fitted to the panel so both sides show without scrolling sideways. The totals
are the second tab."""

from __future__ import annotations

from convscope.core import ConvScopeError, Network
from convscope.core.analysis import shape_text
from convscope.core.presets import preset_paths, preset_title
from convscope.core.summary import short
from convscope.core.understand.compare import compare, example_7x7_vs_3x3
from convscope.core.understand.memory import fmt_bytes
from convscope.gui.lazy import Follow
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .common import hint, set_status, status_label

CURRENT = "current"
FILE = "file"
# per side: (header, the CompareRow figure whose difference colours the cell)
SIDE_COLUMNS = (("Layer", ("type", "describe")), ("Output", ("output",)),
                ("Params", ("params",)), ("MACs", ("macs",)), ("RF", ("receptive_field",)))
NAME_WIDTH = (70, 220)  # the layer columns share what the figures leave, within these
TOTALS = (("params", "Parameters", "count"), ("weights", "Weights", "count"),
          ("activations", "Activations (values)", "count"),
          ("forward_bytes", "Forward memory / image", "bytes"),
          ("training_bytes", "Training memory / image (SGD)", "bytes"),
          ("macs", "MACs / image", "count"), ("depth", "Layers with weights", "plain"),
          ("receptive_field", "Receptive field", "rf"))
SHADE = QColor(238, 242, 248)
DIFFERS = QColor(255, 224, 178)  # a B cell whose figure is not A's
ONLY = QColor(214, 236, 214)  # the side that has a layer the other lacks
GAP = QColor(226, 226, 226)  # the side that lacks it


def _value(value, kind) -> str:
    if value is None:
        return "–"
    if kind == "bytes":
        return fmt_bytes(value)
    if kind == "count":
        return f"{value:,}"
    if kind == "rf":
        return f"{value[0]}×{value[1]}"
    return str(value)


def _rows_text(rows) -> str:
    """How the layers paired up, in a sentence."""
    paired = [r for r in rows if not r.gap]
    differ = sum(1 for r in paired if r.diffs)
    only_a = sum(1 for r in rows if r.b is None)
    only_b = sum(1 for r in rows if r.a is None)
    return (f"{len(paired)} layers paired by structure ({differ} differ, coloured), "
            f"{only_a} only in A, {only_b} only in B.")


def _signed(value: int) -> str:
    return ("+" if value > 0 else "−") + short(abs(value), 3)


def _shown(key, value) -> str:
    if value is None:
        return "–"
    if key == "receptive_field":
        return f"{value[0]}×{value[1]}"
    if key == "output":
        return shape_text(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class ComparePanel(QWidget):
    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setObjectName("comparePanel")
        self.doc = document
        self.comparison = None
        self.mode = ""  # "chosen" (the combos) or "example"
        self._build()
        self._follow = Follow(self, document.changed, self._document_changed)

    def _build(self):
        self.side_a = self._chooser("compareA", current=True)
        self.side_b = self._chooser("compareB", current=False)
        self.example_button = QPushButton("7×7 conv vs three 3×3 convs",
                                          objectName="compareExample")
        self.example_button.setToolTip("The notes' argument for stacks of small filters: the "
                                       "same 7×7 receptive field with 27C² weights instead of "
                                       "49C²")
        self.example_button.clicked.connect(lambda: self.show_example())
        self.channels = QSpinBox(objectName="compareChannels", minimum=1, maximum=4096,
                                 value=64, prefix="C = ")
        self.size = QSpinBox(objectName="compareSize", minimum=8, maximum=1024, value=224,
                             suffix=" px")
        self.compare_button = QPushButton("Compare", objectName="compareRun")
        self.compare_button.clicked.connect(self.compare_chosen)
        # one row of controls: the panel sits in a short dock, its rows are for the table
        bar = QHBoxLayout()
        bar.addWidget(self.side_a, 1)
        bar.addWidget(hint("against"))
        bar.addWidget(self.side_b, 1)
        bar.addWidget(self.compare_button)
        bar.addSpacing(12)
        bar.addWidget(hint("or"))
        bar.addWidget(self.example_button)
        bar.addWidget(self.channels)
        bar.addWidget(self.size)
        self.status = status_label("compareStatus")
        self.totals = self._table("compareTotals")
        self.table = self._table("compareTable")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.viewport().installEventFilter(self)  # refit when its width changes
        self.tabs = QTabWidget(objectName="compareTabs")
        self.tabs.addTab(self.table, "Layer by layer")
        self.tabs.addTab(self.totals, "Totals")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)
        set_status(self.status, "Choose two networks and press Compare, or try the notes' "
                   "example.")

    @staticmethod
    def _table(name: str) -> QTableWidget:
        table = QTableWidget(objectName=name)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(22)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return table

    def _chooser(self, name, current: bool) -> QComboBox:
        combo = QComboBox(objectName=name)
        if current:
            combo.addItem("The current network", CURRENT)
        for path in preset_paths():
            try:
                title, _ = preset_title(path)
            except (OSError, ValueError):
                continue
            combo.addItem(f"Preset: {title}", str(path))
        combo.addItem("Open a file…", FILE)
        if not current:
            combo.setCurrentIndex(min(3, combo.count() - 1))
        combo.activated.connect(lambda _i, c=combo: self._chosen(c))
        return combo

    def _chosen(self, combo):
        if combo.currentData() == FILE:
            path, _ = QFileDialog.getOpenFileName(self, "A network to compare", "",
                                                  "ConvScope architecture (*.json)")
            if not path:
                combo.setCurrentIndex(0)
                return
            combo.insertItem(combo.count() - 1, f"File: {path.rsplit('/', 1)[-1]}", path)
            combo.setCurrentIndex(combo.count() - 2)

    # ------------------------------------------------------------------ comparing
    def _network(self, combo) -> Network:
        data = combo.currentData()
        if data == CURRENT:
            return self.doc.network.copy()
        return Network.load(data, weights=False)

    def compare_chosen(self) -> bool:
        try:
            nets = (self._network(self.side_a), self._network(self.side_b))
        except ConvScopeError as err:
            set_status(self.status, str(err), "error")
            return False
        ok = self.show_pair(*nets)
        self.mode = "chosen" if ok else self.mode
        if ok:
            self.tabs.setCurrentWidget(self.table)
        return ok

    def show_example(self, channels: int | None = None, size: int | None = None) -> bool:
        one, three = example_7x7_vs_3x3(channels or self.channels.value(),
                                        size or self.size.value())
        ok = self.show_pair(one, three)
        if ok:
            self.mode = "example"
            self.tabs.setCurrentWidget(self.totals)  # its argument is in the totals
            c = channels or self.channels.value()
            set_status(self.status, f"Both see a 7×7 window of the input. One 7×7 conv: "
                       f"49·C² = {49 * c * c:,} weights; three 3×3 convs: 3·9·C² = "
                       f"{27 * c * c:,} weights (45 % fewer) and three non-linearities "
                       "instead of one, at the price of keeping three maps for backward.")
        return ok

    def show_pair(self, net_a: Network, net_b: Network) -> bool:
        try:
            comparison = compare(net_a, net_b)
        except ConvScopeError as err:
            set_status(self.status, str(err), "error")
            return False
        self.comparison = comparison
        self._fill(comparison)
        t = comparison.totals
        ratio = t["params"]["ratio"]
        set_status(self.status, f"{comparison.name_a}: {short(t['params']['a'], 3)} params, "
                   f"{short(t['macs']['a'], 3)} MACs · {comparison.name_b}: "
                   f"{short(t['params']['b'], 3)} params, {short(t['macs']['b'], 3)} MACs"
                   + (f" (×{ratio:.2f} the parameters)" if ratio else "")
                   + f". {_rows_text(comparison.rows)}")
        return True

    def _document_changed(self):
        """Keep a comparison that shows the current network up to date."""
        if self.mode == "chosen" and self.side_a.currentData() == CURRENT:
            self.compare_chosen()

    # ------------------------------------------------------------------ the table
    def _fill(self, comparison):
        self._fill_totals(comparison)
        table = self.table
        headers = ["#"] + [f"A: {h}" for h, _ in SIDE_COLUMNS] + \
            [f"B: {h}" for h, _ in SIDE_COLUMNS]
        table.clear()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(comparison.rows))
        for r, row in enumerate(comparison.rows):
            table.setItem(r, 0, self._item(str(row.index + 1)))
            for side, start in ((row.a, 1), (row.b, 1 + len(SIDE_COLUMNS))):
                for c, (text, tip) in enumerate(self._side_cells(side)):
                    item = self._item(text, right=c >= 1)
                    item.setToolTip(tip)
                    item.setBackground(QBrush(self._colour(row, side, start)))
                    table.setItem(r, start + c, item)
            for c, (_, keys) in enumerate(SIDE_COLUMNS):
                for key in keys:
                    if key in row.diffs:
                        self._mark(table.item(r, 1 + len(SIDE_COLUMNS) + c), row, key)
                        break
        self.fit_columns()

    @staticmethod
    def _colour(row, side, start) -> QColor:
        if row.gap:
            return ONLY if side is not None else GAP
        return SHADE if start > 1 else QColor(Qt.GlobalColor.white)

    @staticmethod
    def _mark(item, row, key):
        """Colour a B cell that differs from A and write the delta in it."""
        item.setBackground(QBrush(DIFFERS))
        delta = row.diffs[key]
        was = _shown(key, row.a[key])
        item.setToolTip(f"{item.toolTip()}\nA: {was}")
        if isinstance(delta, int):
            item.setText(f"{item.text()} ({_signed(delta)})")
        elif key == "receptive_field":
            item.setText(f"{item.text()} ({_signed(delta[0])})")
        elif key == "output":  # the axes that changed: "C −32"
            moved = [f"{axis} {_signed(d)}" for axis, d in zip("CHW", delta) if d]
            item.setText(f"{item.text()} ({', '.join(moved)})")

    def fit_columns(self):
        """Share the viewport's width: the figures take what they need, the two layer
        columns split the rest (within NAME_WIDTH), so both sides show side by side."""
        table = self.table
        if table.columnCount() == 0:
            return
        header = table.horizontalHeader()
        names = (1, 1 + len(SIDE_COLUMNS))
        for c in range(table.columnCount()):
            if c not in names:
                table.resizeColumnToContents(c)
        used = sum(header.sectionSize(c) for c in range(table.columnCount()) if c not in names)
        room = table.viewport().width() - used - 2
        width = max(NAME_WIDTH[0], min(NAME_WIDTH[1], room // 2))
        for c in names:
            header.resizeSection(c, width)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Resize and obj is self.table.viewport():
            self.fit_columns()
        return False

    def _fill_totals(self, comparison):
        table = self.totals
        table.clear()
        table.setColumnCount(4)
        table.setHorizontalHeaderLabels(["Total", f"A: {comparison.name_a}",
                                         f"B: {comparison.name_b}", "B / A"])
        table.setRowCount(len(TOTALS))
        for r, (key, title, kind) in enumerate(TOTALS):
            pair = comparison.totals[key]
            table.setItem(r, 0, self._item(title))
            table.setItem(r, 1, self._item(_value(pair["a"], kind), right=True))
            b = self._item(_value(pair["b"], kind), right=True)
            b.setBackground(QBrush(SHADE))
            table.setItem(r, 2, b)
            ratio = pair.get("ratio")
            table.setItem(r, 3, self._item("" if ratio is None else f"×{ratio:.3g}",
                                           right=True))

    @staticmethod
    def _side_cells(side) -> list:
        """(text, tooltip) per column of one side; a gap is empty."""
        if side is None:
            return [("", "no counterpart: this network has no such layer here")] + \
                [("", "")] * (len(SIDE_COLUMNS) - 1)
        name = ("  " * side["depth"]) + side["name"] + (f" ({side['describe']})"
                                                        if side["describe"] else "")
        memory = fmt_bytes(4 * side["activations"]) if side["activations"] else "in place"
        return [(name, f"{side['name']}: {side['type']} {side['describe']} ({side['path']})"),
                (shape_text(side["output"]), f"{_shown('output', side['output'])}, {memory}"),
                (short(side["params"], 3), f"{side['params']:,} params"),
                (short(side["macs"], 3) if side["macs"] else "–", f"{side['macs']:,} MACs"),
                (_shown("receptive_field", side["receptive_field"]), "receptive field")]

    @staticmethod
    def _item(text: str, right: bool = False) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        if right:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return item
