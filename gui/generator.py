"""Network ▸ New from the notes' pattern…: a small dialog with the pattern's knobs that opens
the generated network (core.generate) as a new, unsaved document."""

from __future__ import annotations

from dataclasses import fields

from convscope.core import ConvScopeError
from convscope.core.generate import LIMITS, Pattern, notes_pattern
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
)

# knob → (label, tooltip); the order is the pattern's reading order
KNOBS = {
    "size": ("input size", "the input's height and width (the notes: 32, 64, 96, 224, 384, 512)"),
    "channels": ("input channels", "3 for a colour image"),
    "n": ("N: convs per stage", "[CONV → RELU]×N: 3×3 convs at stride 1, padding 1"),
    "m": ("M: stages", "[… → POOL?]×M"),
    "filters": ("filters (first stage)", "the first stage's conv filters"),
    "growth": ("filter growth per stage", "each stage has this many times the filters of "
               "the last (2: doubling, as VGG)"),
    "k": ("K: hidden fc layers", "[FC → RELU]×K"),
    "hidden": ("units per hidden fc", "the width of each hidden fc layer"),
    "classes": ("classes", "the last fc's outputs: one score per class"),
}


class PatternDialog(QDialog):
    """The knobs of INPUT → [[CONV → RELU]*N → POOL?]*M → [FC → RELU]*K → FC, with a
    preview of the figures of what they make."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("patternDialog")
        self.setWindowTitle("New from the notes' pattern")
        column = QVBoxLayout(self)
        column.addWidget(QLabel("INPUT → [[CONV → RELU]*N → POOL?]*M → [FC → RELU]*K → FC"))
        form = QFormLayout()
        column.addLayout(form)
        defaults = Pattern()
        self.spins: dict[str, QSpinBox] = {}
        for key, (label, tip) in KNOBS.items():
            spin = QSpinBox()
            spin.setObjectName(f"pattern_{key}")
            spin.setRange(*LIMITS[key])
            spin.setValue(getattr(defaults, key))
            spin.setToolTip(tip)
            spin.valueChanged.connect(self._preview)
            form.addRow(label, spin)
            self.spins[key] = spin
        self.pool = QCheckBox("a 2×2 max pool at stride 2 after each stage")
        self.pool.setObjectName("pattern_pool")
        self.pool.setChecked(defaults.pool)
        self.pool.toggled.connect(self._preview)
        form.addRow("POOL?", self.pool)
        self.preview = QLabel()
        self.preview.setObjectName("patternPreview")
        self.preview.setWordWrap(True)
        column.addWidget(self.preview)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        column.addWidget(self.buttons)
        self._preview()

    def pattern(self) -> Pattern:
        values = {f.name: self.spins[f.name].value() for f in fields(Pattern)
                  if f.name in self.spins}
        return Pattern(pool=self.pool.isChecked(), **values)

    def _preview(self, *args) -> None:
        """The figures of the network the knobs make (or why there is none)."""
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            net = notes_pattern(self.pattern())
        except ConvScopeError as err:
            self.preview.setText(str(err))
            ok.setEnabled(False)
            return
        report = net.analyze()
        totals = report.totals()
        self.preview.setText(f"{len(report.layers)} layers, {totals['params']:,} parameters, "
                             f"{totals['macs']:,} MACs per image")
        ok.setEnabled(True)


def new_from_pattern(window) -> PatternDialog:
    """Show the dialog (window-modal); OK opens its network as a new document."""
    dialog = PatternDialog(window)
    dialog.accepted.connect(lambda: open_pattern(window, dialog.pattern()))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def open_pattern(window, pattern: Pattern) -> bool:
    """The generated network as a new, unsaved document (as File ▸ New: unsaved work is
    asked about first)."""
    if not window.maybe_save():
        return False
    network = notes_pattern(pattern)
    window.document.replace_network(network, None)
    window.document.select(network.layers[0].name)
    window.statusBar().showMessage(f"A new network from the notes' pattern: {pattern.title()}",
                                   8000)
    return True
