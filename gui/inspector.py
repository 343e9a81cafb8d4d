"""The inspector: edits the selected layer (or the input) and explains its figures.

One editor per hyperparameter, chosen by the field's kind (core/fields.py): spin boxes for
counts and sizes (an h×w pair with a link), "same" for padding, a combo box for choices, a
check box for flags, a number box for floats. Every change is one SetValue on the undo stack.
Above them, the layer's warnings and errors with the worked arithmetic and each fix as a
button; below, its figures as the notes compute them.
"""

from __future__ import annotations

import html

from convscope.core import ConvScopeError, fmt_shape
from convscope.core import geometry as geo
from convscope.core.fields import MAX_COUNT, MAX_SPATIAL
from convscope.core.layers import Block
from convscope.core.layers.sizes import FLOOR, FLOOR_INTENDED, FLOOR_RULE
from convscope.core.network import iter_layers
from convscope.core.paths import container_path, name_problem
from convscope.core.summary import memory_expr, short, weights_expr
from convscope.gui import editing
from convscope.gui.commands import RenameLayer, SetInputValues, SetValue, apply_fix
from convscope.gui.document import INPUT
from convscope.gui.icons import pixmap
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SEVERITY_STYLE = {
    "warning": "background:#fff3d1; border:1px solid #d99a00; color:#6b4700;",
    "error": "background:#fde1e1; border:1px solid #d23a3a; color:#8a1414;",
    "info": "background:#e6f0fb; border:1px solid #8fb3e0; color:#1d3f6b;",
    "blocked": "background:#eeeeee; border:1px solid #bbbbbb; color:#555555;",
}


# ============================================================================ editors
class SizeSpin(QSpinBox):
    """A whole number that commits on Enter, focus out or the arrows, not per keystroke."""

    def __init__(self, minimum: int, maximum: int, parent=None):
        super().__init__(parent)
        self.setRange(int(minimum), int(maximum))
        self.setKeyboardTracking(False)
        self.setAccelerated(True)


class NumberSpin(QDoubleSpinBox):
    """A float shown as %g (1e-05, 0.75), typed in any notation."""

    def __init__(self, minimum: float, maximum: float, parent=None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos


class PairEdit(QWidget):
    """A size: one number, or height × width when unlinked. Optionally "same" (padding) or
    unset (pool stride = kernel)."""

    edited = Signal(object)

    def __init__(self, minimum: int, maximum: int, same: bool = False, unset: str = "",
                 parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.h = SizeSpin(minimum, maximum)
        self.h.setObjectName("h")
        self.h.setToolTip("height")
        self.w = SizeSpin(minimum, maximum)
        self.w.setObjectName("w")
        self.w.setToolTip("width")
        self.link = QToolButton()
        self.link.setObjectName("link")
        self.link.setText("h = w")
        self.link.setCheckable(True)
        self.link.setToolTip("Linked: one value for height and width. Unlink to set them apart.")
        times = QLabel("×")
        row.addWidget(self.h)
        row.addWidget(times)
        row.addWidget(self.w)
        row.addWidget(self.link)
        self.same = self.unset = None
        if same:
            self.same = QCheckBox("same")
            self.same.setObjectName("same")
            self.same.setToolTip("\"same\": P = D·(F−1)/2, keeps the size at stride 1")
            row.addWidget(self.same)
            self.same.clicked.connect(self._emit)
        if unset:
            self.unset = QCheckBox(unset)
            self.unset.setObjectName("unset")
            row.addWidget(self.unset)
            self.unset.clicked.connect(self._emit)
        row.addStretch(1)
        self.h.valueChanged.connect(self._h_changed)
        self.w.valueChanged.connect(self._emit)
        self.link.toggled.connect(self._linked)

    def set_value(self, value, shown: tuple[int, int] | None = None) -> None:
        """Show ``value`` (int, [h, w], "same" or None); ``shown`` is the pair that "same" or
        None stand for."""
        widgets = [self.h, self.w, self.link] + [b for b in (self.same, self.unset) if b]
        for widget in widgets:
            widget.blockSignals(True)
        special = value == "same" or value is None
        h, w = shown if special and shown else (
            (value[0], value[1]) if isinstance(value, list) else (value, value))
        self.h.setValue(int(h))
        self.w.setValue(int(w))
        if not special:
            self.link.setChecked(h == w and not (isinstance(value, list) and self._unlinked))
        if self.same:
            self.same.setChecked(value == "same")
        if self.unset:
            self.unset.setChecked(value is None)
        for widget in widgets:
            widget.blockSignals(False)
        self._enable()

    _unlinked = False  # the user unlinked an [h, w] pair that happens to be square

    def value(self):
        if self.same and self.same.isChecked():
            return "same"
        if self.unset and self.unset.isChecked():
            return None
        h, w = self.h.value(), self.w.value()
        return h if self.link.isChecked() or h == w else [h, w]

    def _enable(self):
        special = bool((self.same and self.same.isChecked())
                       or (self.unset and self.unset.isChecked()))
        self.h.setEnabled(not special)
        self.w.setEnabled(not special and not self.link.isChecked())
        self.link.setEnabled(not special)

    def _h_changed(self, value):
        if self.link.isChecked():
            self.w.blockSignals(True)
            self.w.setValue(value)
            self.w.blockSignals(False)
        self._emit()

    def _linked(self, linked):
        self._unlinked = not linked
        if linked and self.w.value() != self.h.value():
            self.w.blockSignals(True)
            self.w.setValue(self.h.value())
            self.w.blockSignals(False)
            self._emit()
        self._enable()

    def _emit(self, *args):
        self._enable()
        self.edited.emit(self.value())


def _editor_for(field):
    """A widget for one Field, with an ``edited(value)``-like hookup returned alongside."""
    kind = field.kind
    if kind == "count":
        spin = SizeSpin(field.minimum, min(field.maximum, MAX_COUNT))
        return spin, spin.valueChanged
    if kind in ("size", "padding"):
        edit = PairEdit(int(field.minimum), int(field.maximum), same=kind == "padding",
                        unset="= kernel" if field.default is None else "")
        return edit, edit.edited
    if kind == "number":
        spin = NumberSpin(field.minimum, field.maximum)
        return spin, spin.valueChanged
    if kind == "flag":
        box = QCheckBox()
        return box, box.clicked
    if kind == "choice":
        combo = QComboBox()
        combo.addItems([str(c) for c in field.choices])
        return combo, combo.textActivated
    return None, None


def _tint(label: QLabel, colour: str, point_size: float | None = None) -> None:
    """A label's text colour (and size) set through its palette and font: a style sheet
    per label made building a layer's page about a quarter slower (each gets its own
    style-sheet style)."""
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, QColor(colour))
    label.setPalette(palette)
    if point_size is not None:
        font = label.font()
        font.setPointSizeF(point_size)
        label.setFont(font)


def _page_key(target):
    """Which page shows ``target``: its layer type's, the input's, or None (nothing)."""
    if target is None or target == INPUT:
        return target
    return type(target)


def _title_html(title: str, path: str = "") -> str:
    return (f"<b style='font-size:14pt'>{html.escape(title)}</b>"
            + (f"<br><span style='color:#6b7380'>{path}</span>" if path else ""))


def _set_editor(widget, field, layer) -> None:
    value = layer.values[field.key]
    widget.blockSignals(True)
    try:
        if isinstance(widget, PairEdit):
            shown = None
            if value == "same":
                shown = layer.pair_padding()
            elif value is None and hasattr(layer, "stride_pair"):
                shown = layer.stride_pair()
            widget.set_value(value, shown)
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        else:
            widget.setValue(value)
    finally:
        widget.blockSignals(False)


# ============================================================================ the inspector
# Pages of layer types not yet shown are made this long after the last change (a load's
# first pass and paints come first), then one per PREPARE_TURN_MS (input gets in between).
PREPARE_DELAY_MS, PREPARE_TURN_MS = 500, 50


class LayerInspector(QScrollArea):
    focusPipeline = Signal()

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setObjectName("layerInspector")
        self.setAccessibleName("Layer inspector")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.doc = document
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self._shown = None  # what the editors were built for: (layer object, type) or INPUT
        self._problems = self._numbers = None  # redone on every change
        self._shown_figures = None  # (label, value QLabel) of the figures shown
        self._problems_shown = None  # what the problems section was made from
        self._pages: dict = {}  # layer type or INPUT → (page, its state) put away
        # where put-away pages wait: outside the inspector's tree of children, so that
        # nothing looking through the inspector's widgets finds a page not shown
        self._shelf = QWidget()
        document.selectionChanged.connect(self.rebuild)
        document.changed.connect(self.refresh)
        # the pages of the network's layer types are made ahead once edits and loads settle
        self._prepare = QTimer(self, singleShot=True)
        self._prepare.timeout.connect(self._prepare_next)
        document.changed.connect(lambda: self._prepare.start(PREPARE_DELAY_MS))
        self.rebuild()

    # -------------------------------------------------------------- what is shown
    def _target(self):
        if self.doc.selected == INPUT:
            return INPUT
        path = editing.selected_path(self.doc)
        return None if path is None else self.doc.layer(path)

    def _path(self) -> str:
        return self.doc.path_of(self.doc.selected)

    def _info(self):
        return self.doc.report.by_name(self.doc.selected)

    # what belongs to the page shown, kept with it when another type's page takes its place
    _PAGE_STATE = ("page", "editors", "errors", "_title", "_problems", "_numbers",
                   "_shown_figures", "_problems_shown")

    def rebuild(self, *args) -> None:
        target = self._target()
        if self._same_kind(target):
            self._retarget(target)
            return
        self._put_away()
        kept = self._pages.pop(_page_key(target), None)
        if kept is not None:  # a page made earlier for this type (or the input)
            page, state = kept
            for name, value in state.items():
                setattr(self, name, value)
            self.setWidget(page)
            self._retarget(target)
            return
        self.setWidget(self._make_page(target, "" if target in (None, INPUT) else self._path()))
        self.refresh()

    def _make_page(self, target, path: str) -> QWidget:
        """A new page for ``target`` (a layer at ``path``, the input, or None), its parts
        kept in _PAGE_STATE's attributes; ``refresh`` fills it."""
        self._shown = target
        self.editors, self.errors = {}, {}
        self._shown_figures = self._problems_shown = None  # rows of the page replaced
        page = QWidget()
        page.setObjectName("inspectorPage")
        self.page = QVBoxLayout(page)
        self.page.setContentsMargins(10, 10, 10, 10)
        self.page.setSpacing(8)
        if target is None:
            self._empty()
        elif target == INPUT:
            self._header("input", "Input", "The image the network sees: its channels and size "
                         "(mean/std normalise an image loaded from a file).")
            self._problems = self._slot()
            self._input_editors()
            self._numbers = self._slot()
        else:
            self._header(target.TYPE, f"{target.name}", f"{target.TITLE}. {target.SUMMARY}",
                         path)
            self._problems = self._slot()
            self._layer_editors(target)
            self._numbers = self._slot()
        self.page.addStretch(1)
        return page

    def _prepare_next(self) -> None:
        """Make, put away, the page of one layer type of the network that has none yet; then
        wait a turn for the next. Making a page (its widgets built and polished) was most of
        the first click on each type: AlexNet's first conv click took 43 ms, 11-19 ms with
        the page made ahead (making it: 33 ms, with nothing else waiting)."""
        shown = self._shown
        for layer in iter_layers(self.doc.network.layers):
            key = _page_key(layer)
            if key in self._pages or key == _page_key(shown):
                continue
            before = self._page_state()  # the page shown keeps its state
            page = self._make_page(layer, "")  # its title is set when it is shown
            page.ensurePolished()  # it and its children: the style's work, done now
            self._shelve(key, page)
            for name, value in before.items():
                setattr(self, name, value)
            self._shown = shown
            self._prepare.start(PREPARE_TURN_MS)
            return

    def _same_kind(self, target) -> bool:
        """The page shown fits ``target`` too: both are layers of one type (the same
        editors), so selecting it only sets the page's texts and values."""
        shown = self._shown
        return (target is not None and target != INPUT and shown is not None
                and shown != INPUT and type(target) is type(shown))

    def _retarget(self, target) -> None:
        """Show ``target`` on the page made for a layer of its type (or the input's page).
        Making the page anew took 40-60 ms of a click in ResNet-18 (its widgets made,
        polished and laid out, the old ones freed)."""
        self._shown = target
        if target != INPUT:
            self._title.setText(_title_html(target.name, self._path()))
        self.verticalScrollBar().setValue(0)
        self.refresh()

    def _put_away(self) -> None:
        """Keep the page shown (a layer type's or the input's) for the next time."""
        key = _page_key(self._shown)
        page = self.takeWidget()
        if page is None or key is None:
            if page is not None:
                page.deleteLater()
            return
        self._shelve(key, page)

    def _page_state(self) -> dict:
        return {name: getattr(self, name, None) for name in self._PAGE_STATE}

    def _shelve(self, key, page) -> None:
        """Keep ``page`` (and the page state now in the attributes) for ``key``'s next turn."""
        page.hide()
        page.setParent(self._shelf)  # not a window of its own while put away
        self._pages[key] = (page, self._page_state())

    def refresh(self) -> None:
        """After any change: editors show the document's values, sections are redone."""
        target = self._target()
        if target is not self._shown:
            self.rebuild()
            return
        if target is None:
            return
        if target == INPUT:
            self._fill_input()
        else:
            for key, widget in self.editors.items():
                if key == "name":
                    widget.setText(target.name)
                else:
                    _set_editor(widget, target.field(key), target)
        for label in self.errors.values():
            label.hide()
        self._fill_dynamic(target)

    def _empty(self):
        label = QLabel("Select a layer in the pipeline or the table to edit it here.\n\n"
                       "Drag layers from the palette into the pipeline to build a network; "
                       "every shape and figure updates as you type.")
        label.setWordWrap(True)
        _tint(label, "#5d6470")
        self.page.addWidget(label)

    def _header(self, kind, title, summary, path=""):
        row = QHBoxLayout()
        icon = QLabel()
        icon.setPixmap(pixmap(kind, 28, self.devicePixelRatioF()))
        row.addWidget(icon)
        self._title = QLabel(_title_html(title, path))
        row.addWidget(self._title, 1)
        self.page.addLayout(row)
        about = QLabel(html.escape(summary.replace("`", ""), quote=False))
        about.setWordWrap(True)
        _tint(about, "#3d4450")
        self.page.addWidget(about)

    def _slot(self) -> QVBoxLayout:
        """A place for widgets redone on every change (diagnostics above the editors,
        figures below them)."""
        slot = QVBoxLayout()
        slot.setSpacing(8)
        self.page.addLayout(slot)
        return slot

    def _group(self, title) -> QFormLayout:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.page.addWidget(box)
        return form

    def _row(self, form, key, label, widget, help_text=""):
        """An editor with its inline error line below it."""
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        column.addWidget(widget)
        error = QLabel()
        error.setObjectName(f"error_{key}")
        error.setWordWrap(True)
        _tint(error, "#c02020")
        error.hide()
        column.addWidget(error)
        if help_text:
            hint = QLabel(help_text)
            hint.setWordWrap(True)
            _tint(hint, "#6b7380", point_size=8)
            column.addWidget(hint)
        widget.setObjectName(f"field_{key}")
        widget.setToolTip(help_text)
        name = QLabel(label)
        name.setToolTip(help_text)
        form.addRow(name, holder)
        self.editors[key] = widget
        self.errors[key] = error

    # -------------------------------------------------------------- layer editors
    def _layer_editors(self, layer):
        form = self._group("Block" if isinstance(layer, Block) else "Hyperparameters")
        name = QLineEdit(layer.name)
        name.setMaxLength(64)
        name.editingFinished.connect(self._rename)
        self._row(form, "name", "name", name, "unique in the network: letters, digits, _ or -")
        for field in layer.FIELDS:
            widget, signal = _editor_for(field)
            if widget is None:
                continue
            signal.connect(lambda value, key=field.key: self.commit(key, value))
            self._row(form, field.key, field.key, widget, field.help)
        if isinstance(layer, Block) and layer.GROWS:
            row = QHBoxLayout()
            add = QPushButton("Add branch")
            add.setObjectName("addBranch")
            add.clicked.connect(lambda: editing.add_branch(self.doc))
            remove = QPushButton("Remove last branch")
            remove.setObjectName("removeBranch")
            remove.clicked.connect(lambda: editing.remove_branch(self.doc))
            row.addWidget(add)
            row.addWidget(remove)
            form.addRow(row)

    def commit(self, key: str, value) -> bool:
        """An editor's new value: checked, then one undoable SetValue (or an inline error)."""
        layer = self._shown
        field = layer.field(key)
        try:
            checked = value if value is None else field.check(value)
        except ConvScopeError as err:
            self._error(key, str(err))
            return False
        self.errors[key].hide()
        if checked == layer.values[key]:
            return False
        path = self._path()
        try:
            self.doc.undo_stack.push(SetValue(self.doc, path, key, checked))
        except ConvScopeError as err:  # a rule the field alone cannot see
            self._error(key, str(err))
            return False
        return True

    def _error(self, key, message):
        self.errors[key].setText(message)
        self.errors[key].show()

    def _rename(self):
        widget = self.editors["name"]
        layer = self._shown
        new = widget.text().strip()
        if new == layer.name:
            self.errors["name"].hide()
            return
        problem = name_problem(new)
        if not problem and new in self.doc.network.layer_names():
            problem = f"'{new}' is already the name of another layer"
        if problem:
            self._error("name", problem)
            return
        self.errors["name"].hide()
        self.doc.undo_stack.push(RenameLayer(self.doc, self._path(), new))

    # -------------------------------------------------------------- input editors
    def _input_editors(self):
        form = self._group("Input")
        channels = SizeSpin(1, MAX_COUNT)
        channels.valueChanged.connect(self._set_channels)
        self._row(form, "channels", "channels", channels, "C: 3 for RGB, 1 for greyscale")
        size = PairEdit(1, MAX_SPATIAL)
        size.edited.connect(self._set_size)
        self._row(form, "size", "height × width", size, "H × W in pixels")
        for key in ("mean", "std"):
            edit = QLineEdit()
            edit.setPlaceholderText("none")
            edit.editingFinished.connect(lambda key=key: self._set_stats(key))
            self._row(form, key, key, edit, "one number per channel, separated by commas "
                      "(applied to an image scaled to [0, 1])")

    def _fill_input(self):
        spec = self.doc.network.input
        widgets = self.editors
        widgets["channels"].blockSignals(True)
        widgets["channels"].setValue(spec.channels)
        widgets["channels"].blockSignals(False)
        widgets["size"].set_value(spec.height if spec.height == spec.width
                                  else [spec.height, spec.width])
        for key in ("mean", "std"):
            values = getattr(spec, key)
            widgets[key].setText("" if values is None else ", ".join(f"{v:g}" for v in values))

    def _set_channels(self, value):
        spec = self.doc.network.input
        if value == spec.channels:
            return
        values = {"channels": value}
        for key in ("mean", "std"):  # one number per channel: they no longer fit
            if getattr(spec, key) is not None:
                values[key] = None
        self.doc.undo_stack.push(SetInputValues(self.doc, values,
                                                f"Change input channels {spec.channels} → "
                                                f"{value}"))

    def _set_size(self, value):
        h, w = (value, value) if isinstance(value, int) else value
        spec = self.doc.network.input
        if (h, w) != (spec.height, spec.width):
            self.doc.undo_stack.push(SetInputValues(self.doc, {"height": h, "width": w}))

    def _set_stats(self, key):
        text = self.editors[key].text().strip()
        spec = self.doc.network.input
        try:
            values = [float(v) for v in text.replace(";", ",").split(",")] if text else None
        except ValueError:
            self._error(key, f"{key} must be numbers separated by commas")
            return
        if values is not None and len(values) != spec.channels:
            self._error(key, f"{key} needs {spec.channels} number(s), one per channel; "
                        f"got {len(values)}")
            return
        if key == "std" and values and any(v <= 0 for v in values):
            self._error(key, "std values must be positive")
            return
        self.errors[key].hide()
        if values != getattr(spec, key):
            self.doc.undo_stack.push(SetInputValues(self.doc, {key: values}))

    # -------------------------------------------------------------- diagnostics and figures
    def _fill_dynamic(self, target):
        """The problems and the figures, each made anew only when its rows differ from
        those shown (another layer of the type, an edit): selecting one conv after another
        made both sections' widgets again, about 8 ms of the click, when one had changed."""
        if target == INPUT:
            self._clear(self._problems)
            self._clear(self._numbers)
            self._problems_shown = self._shown_figures = None
            self._input_figures()
            return
        info = self._info()
        block = isinstance(info.layer, Block)  # its mends and figures follow its sides
        problems = _problems_of(info, self._culprit(info))
        if block or self._problems_shown != problems:
            self._clear(self._problems)
            self._problems_shown = problems
            if info.blocked_by:
                self._blocked(info)
            for n, diagnostic in enumerate(info.diagnostics):
                self._diagnostic(n, diagnostic)
            if block:
                self._mends(info)
        if block or not self._update_figures(info):
            self._clear(self._numbers)
            self._shown_figures = None
            self._figures(info)

    @staticmethod
    def _clear(slot) -> None:
        while slot.count():
            widget = slot.takeAt(0).widget()
            if widget is not None:  # out of the page now (findChildren), freed later
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()

    def _update_figures(self, info) -> bool:
        """The figure rows shown have the same labels as ``info``'s (a filter count, a
        bias, another conv): their texts are set in place, True. Making the widgets anew
        and laying the panel out again took about 15 ms of every edit."""
        if self._shown_figures is None:
            return False
        rows = []
        self._figures(info, rows)
        shown = self._shown_figures
        if [label for label, _ in rows] != [label for label, _ in shown]:
            return False
        for (_, text), (_, value) in zip(rows, shown):
            if value.text() != text:
                value.setText(text)
        return True

    def _box(self, style) -> tuple[QFrame, QVBoxLayout]:
        frame = QFrame()
        frame.setObjectName("diagnostic")
        frame.setStyleSheet(f"QFrame#diagnostic {{{style} border-radius:5px;}}")
        column = QVBoxLayout(frame)
        column.setContentsMargins(8, 6, 8, 6)
        self._problems.addWidget(frame)
        return frame, column

    def _message(self, column, text, style):
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setStyleSheet(f"border:none; background:transparent; {style.split(';')[2]};")
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        column.addWidget(label)
        return label

    def _diagnostic(self, n, d):
        style = SEVERITY_STYLE.get(d.severity, SEVERITY_STYLE["info"])
        frame, column = self._box(style)
        title = {"warning": "⚠ Warning", "error": "✖ Error"}.get(d.severity, "ℹ Note")
        self._message(column, f"<b>{title}</b> — {html.escape(d.message, quote=False)}", style)
        for k, fix in enumerate(d.fixes):
            button = QPushButton(fix["label"][:1].upper() + fix["label"][1:])
            button.setObjectName(f"fix_{n}_{k}")
            button.setToolTip("Apply this fix (one step you can undo)")
            button.clicked.connect(lambda checked=False, fix=fix: apply_fix(self.doc, fix))
            column.addWidget(button)
        if d.rule == FLOOR_RULE:
            self._floor_button(n, d, column)

    def _floor_button(self, n, d, column):
        """A size that floors can be accepted as the design ("floor": "intended", one step
        you can undo), and an accepted one can warn again."""
        accept = d.severity == "warning"
        button = QPushButton("Accept floor (intended)" if accept else "Warn again (un-accept)")
        button.setObjectName(f"{'acceptFloor' if accept else 'unacceptFloor'}_{n}")
        button.setToolTip("The network floors here on purpose: show this as a note, not a "
                          "warning (saved in the file as \"floor\": \"intended\")" if accept
                          else "Show this floor as a warning again")
        value = FLOOR_INTENDED if accept else FLOOR.default
        button.clicked.connect(lambda checked=False: self.doc.undo_stack.push(
            SetValue(self.doc, d.path, FLOOR.key, value)))
        column.addWidget(button)

    def _culprit(self, info) -> str:
        """The name of the layer whose error blocks this one ("" if none or not found)."""
        try:
            return self.doc.report.by_path(info.blocked_by).name if info.blocked_by else ""
        except KeyError:
            return ""

    def _blocked(self, info):
        style = SEVERITY_STYLE["blocked"]
        frame, column = self._box(style)
        culprit = self._culprit(info)
        self._message(column, f"<b>Cannot be computed</b> — this layer comes after the error "
                      f"at {info.blocked_by} '{culprit}', so its input shape is unknown.", style)
        if culprit:
            button = QPushButton(f"Show the error ({culprit})")
            button.setObjectName("showError")
            button.clicked.connect(lambda: self.doc.select(culprit))
            column.addWidget(button)

    def _mends(self, info):
        """A block whose sides do not fit: offer the layers the block says would mend it
        (a residual's 1×1 projection in the shortcut, as the notes do)."""
        ends = [branch[-1].out if branch else info.in_shape for branch in info.branches]
        if info.status != "error" or None in ends or info.in_shape is None:
            return
        for slot, item, what in info.layer.mends(ends):
            button = QPushButton(f"Add {what} to the {slot}")
            button.setObjectName("addProjection")
            button.clicked.connect(lambda _=False, slot=slot, item=item: editing.add_layers(
                self.doc, [item], container_path(info.path, slot),
                len(info.layer.slot_list(slot)), f"Add a projection to {info.name}'s {slot}"))
            self._problems.addWidget(button)

    def _figures_form(self, rows=None):
        """The form the figures go in; ``rows``, a list: only gather (label, text) there."""
        if rows is not None:
            return rows
        self._shown_figures = []  # (label, value QLabel) as shown
        box = QGroupBox("Figures (one image)")
        box.setObjectName("figures")
        form = QFormLayout(box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self._numbers.addWidget(box)
        return form

    def _add_figure(self, form, label, text):
        if isinstance(form, list):
            form.append((label, text))
            return
        value = QLabel(text)
        value.setWordWrap(True)
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(QLabel(label), value)
        self._shown_figures.append((label, value))

    def _figures(self, info, rows=None):
        form = self._figures_form(rows)
        shape_in = fmt_shape(info.in_shape) if info.in_shape else "—"
        shape_out = fmt_shape(info.out) if info.out else "cannot be computed"
        self._add_figure(form, "shape", f"{shape_in} → <b>{shape_out}</b>")
        for line in _arithmetic(info):
            self._add_figure(form, line[0], line[1])
        if info.out is None:
            return
        if isinstance(info.layer, Block):
            self._block_figures(form, info)
        memory = "in place (adds nothing)" if info.layer.IN_PLACE else memory_expr(info.out)
        self._add_figure(form, "memory", memory)
        self._add_figure(form, "weights", weights_expr(info))
        if info.params:
            self._add_figure(form, "params", f"{info.params:,} ({short(info.params)})")
        if info.macs:
            self._add_figure(form, "MACs", f"{info.macs:,} ({short(info.macs)})")
        rf, jump = info.receptive_field, info.jump
        self._add_figure(form, "receptive field", f"{rf[0]}×{rf[1]} input pixels "
                         f"(jump {jump[0]}×{jump[1]})")
        im2col = info.extra.get("im2col")
        if im2col:
            w, c, o = im2col["weights"], im2col["columns"], im2col["output"]
            groups = f" per group ({im2col['groups']} groups)" if im2col["groups"] > 1 else ""
            self._add_figure(form, "im2col", f"W_row {w[0]}×{w[1]} · X_col {c[0]}×{c[1]} "
                             f"= {o[0]}×{o[1]}{groups}")

    def _block_figures(self, form, info):
        for (slot, _), branch in zip(info.layer.slots(), info.branches):
            end = branch[-1].out if branch else info.in_shape
            count = f"{len(branch)} layer{'s' * (len(branch) != 1)}" if branch else "identity"
            self._add_figure(form, slot, f"{count} → {fmt_shape(end) if end else '—'}")
        inside = list(info.inside())
        self._add_figure(form, "params inside", f"{sum(i.params for i in inside):,}")
        self._add_figure(form, "MACs inside", f"{sum(i.macs for i in inside):,}")

    def _input_figures(self):
        spec = self.doc.network.input
        form = self._figures_form()
        self._add_figure(form, "shape", f"<b>{fmt_shape(spec.shape)}</b> (H×W×C)")
        self._add_figure(form, "memory", memory_expr(spec.shape))
        fixes = [d for d in self.doc.report.diagnostics if d.severity == "warning" and any(
            c["path"] == "input" for f in d.fixes for c in f["changes"])]
        if fixes:
            first = next(f for f in fixes[0].fixes if f["changes"][0]["path"] == "input")
            button = QPushButton(first["label"][:1].upper() + first["label"][1:]
                                 + f" (makes {fixes[0].layer} whole)")
            button.setObjectName("inputFix")
            button.clicked.connect(lambda: apply_fix(self.doc, first))
            self._problems.addWidget(button)

    # -------------------------------------------------------------- keyboard
    def focus_first_editor(self) -> None:
        """Enter on a card: start editing its first hyperparameter (else its name)."""
        for key, widget in self.editors.items():
            if key == "name":
                continue
            target = widget.h if isinstance(widget, PairEdit) else widget
            target.setFocus(Qt.FocusReason.ShortcutFocusReason)
            if hasattr(target, "selectAll"):
                target.selectAll()
            return
        if "name" in self.editors:
            self.editors["name"].setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.editors["name"].selectAll()

    def keyPressEvent(self, event):
        if event.key() == Qt.Key.Key_Escape:
            self.focusPipeline.emit()
            event.accept()
            return
        super().keyPressEvent(event)


def _arithmetic(info) -> list[tuple[str, str]]:
    """The notes' (W − F + 2P)/S + 1 on each axis, as the layer's shape rule worked it out
    (layers whose size follows that rule: conv, pool)."""
    if info.in_shape is None or info.layer.BLOCK_KEYS:
        return []
    axes = info.layer.shaped(info.in_shape).axes
    rows = [(axis, r.formula()) for axis, r in zip(geo.AXES, axes)]
    if not rows:
        return []
    if rows[0][1] == rows[1][1]:
        return [("H and W", rows[0][1])]
    return rows


def _problems_of(info, culprit: str) -> tuple:
    """What the inspector's problems section is made from (equal: the same widgets): the
    culprit's name too, which its message and button show (renamed, at the same place)."""
    return info.blocked_by, culprit, tuple(repr(d) for d in info.diagnostics)
