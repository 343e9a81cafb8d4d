"""Train live: train the document's network on bundled data while watching it learn.

A run is ONE job on the training JobRunner (its own thread, so saliency and the maps never
wait for it): core.train.Trainer.run steps until the epochs are done, and between steps the job
asks whether Pause or Stop was pressed or the run went stale, so either answers within one
step. It reports progress a few times a second (the panel plots the loss and accuracy); at most
about once a second, and at every pause, stop and end, the weights go into the document, so
the kernels and feature maps show them. Those weights go in through one undoable
``TrainWeights`` command per run, which each later preview merges into: Undo puts back the
weights from before the run, and the undo stack is not flooded with steps.

Anything else that changes the document during a run (an edit, Undo, opening a file) ends the
run: the trainer's copy of the network would no longer be the document's.

The data is a generated set or the user's own images: a folder with one subfolder per class
(core.imagefolder lists it, splits it and augments it; the files are decoded here with Qt, on
the worker, fitted to the network's input as any picture the app shows it). Every job ends
with the held-out figures: a confusion matrix and the most confident mistakes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from convscope.core import ConvScopeError
from convscope.core.datasets import (
    DATASETS,
    FOLDER_KEY,
    MAX_CHANNELS,
    Dataset,
    Problem,
    check_match,
    dataset_size,
    folder_dataset,
    has_sklearn,
    make_data,
)
from convscope.core.imagefolder import (
    MAX_PIXELS,
    ImageFolder,
    check_budget,
    confusion_matrix,
    misclassified,
    scan_folder,
    stratified_split,
)
from convscope.core.labels import labels_path, write_labels
from convscope.core.live.images import to_display
from convscope.core.presets import preset_path
from convscope.core.train import TrainConfig, Trainer
from convscope.gui.activations.export import rgb_image
from convscope.gui.commands import SetInputValues, SetValue, TrainWeights
from convscope.gui.images import image_for, read_qimage
from convscope.gui.plots import pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImageReader, QPixmap, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .common import controls_beside, hint, scrolling, set_status, snapshot, status_label

OPTIMIZERS = (("SGD + momentum", "momentum", 0.05), ("SGD", "sgd", 0.05),
              ("Adam", "adam", 0.002))
REPORT_SECONDS = 0.1  # how often a run sends its curves (the plots redraw that often)
PREVIEW_SECONDS = 1.0
EVAL_EVERY = 50
MISTAKES_SHOWN = 32  # the most confident held-out mistakes shown as thumbnails
THUMBNAIL = 64


@dataclass
class Fix:
    label: str
    apply: object  # () -> None


@dataclass
class Session:
    """One training run: the trainer works on ``net``, a copy of the document's network."""

    run_id: int
    net: object
    config: TrainConfig
    data_key: tuple
    start_weights: dict  # the document's weights before the run (what Undo puts back)
    names: tuple = ()  # the class names, in label order
    test_files: list = field(default_factory=list)  # a folder's held-out files, in order
    trainer: Trainer | None = None
    request: str = ""  # "pause" or "stop", asked from the GUI thread
    state: str = "preparing"
    seconds: float = 0.0  # training time (data making not counted)
    pushed_at: float = 0.0
    pushed_step: int = 0


class TrainingPanel(QWidget):
    stateChanged = Signal(str)  # idle, preparing, running, paused, stopped, finished
    progressed = Signal(object)  # list of core.train.Progress since the last report
    runFailed = Signal(str)

    def __init__(self, document, runner, controller=None, opener=None, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.doc, self.runner, self.controller = document, runner, controller
        self.opener = opener  # path -> bool: open a preset in the window
        self.session: Session | None = None
        self.state = "idle"
        self.preview_seconds = PREVIEW_SECONDS
        self.report_seconds = REPORT_SECONDS
        self._data: dict = {}  # data key -> arrays (made once per dataset and size)
        self._runs = 0
        self._pushing = False
        self._problem: Problem | None = None
        self.folder: ImageFolder | None = None  # the user's images, when that is the data
        self._build()
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        runner.progress.connect(self._progress)
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._check)
        document.changed.connect(self._document_changed)
        self._check()

    # ================================================================== widgets
    def _build(self):
        self.dataset = QComboBox(objectName="trainDataset")
        model = QStandardItemModel(self.dataset)
        self.dataset.setModel(model)
        for data in DATASETS:
            self.dataset.addItem(data.title, data.key)
            if data.sklearn and not has_sklearn():
                item = model.item(self.dataset.count() - 1)
                item.setEnabled(False)
                item.setToolTip("scikit-learn is not installed (pip install scikit-learn)")
                self.dataset.setItemData(self.dataset.count() - 1, item.toolTip(),
                                         Qt.ItemDataRole.ToolTipRole)
        self.dataset.addItem(folder_dataset().title, FOLDER_KEY)
        self.dataset.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.dataset.setMinimumContentsLength(12)
        self.dataset.setToolTip("Made by ConvScope: no download. LeNet-5 takes the 32×32 "
                                "digits as it is.")
        self.count = QSpinBox(objectName="trainCount", minimum=100, maximum=60000,
                              singleStep=1000, value=12000)
        self.count.setToolTip("Training images (a test set of a sixth as many, at most 2,000, "
                              "is made apart)")
        self.optimizer = QComboBox(objectName="trainOptimizer")
        for title, key, _lr in OPTIMIZERS:
            self.optimizer.addItem(title, key)
        self.lr = QDoubleSpinBox(objectName="trainLearningRate", decimals=4, minimum=0.0001,
                                 maximum=10.0, singleStep=0.001, value=0.05)
        self.lr_decay = QDoubleSpinBox(objectName="trainLrDecay", decimals=2, minimum=0.05,
                                       maximum=1.0, singleStep=0.05, value=0.5)
        self.lr_decay.setToolTip("The learning rate is multiplied by this after every epoch")
        self.batch = QSpinBox(objectName="trainBatch", minimum=1, maximum=4096, value=64)
        self.epochs = QSpinBox(objectName="trainEpochs", minimum=1, maximum=1000, value=2)
        self.weight_decay = QDoubleSpinBox(objectName="trainWeightDecay", decimals=5,
                                           minimum=0.0, maximum=0.1, singleStep=0.0001, value=0)
        self.weight_decay.setToolTip("L2 regularisation: every step also pulls each weight "
                                     "towards 0 by this times the weight (biases left alone)")
        self.flip = QCheckBox("Mirror left–right at random", objectName="trainFlip")
        self.crop = QSpinBox(objectName="trainCrop", minimum=0, maximum=8, value=0,
                             suffix=" px")
        self.crop.setToolTip("Random crop: each training image is padded by this many pixels "
                             "and cropped back at a random place (0: off)")
        self.folder_button = QPushButton("Choose folder…", objectName="trainFolderChoose")
        self.folder_button.clicked.connect(self.choose_folder)
        self.folder_info = hint(name="trainFolderInfo")
        self.optimizer.currentIndexChanged.connect(self._optimizer_changed)
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self.batch.valueChanged.connect(lambda _v: self._check())

        form = self._form = QFormLayout()
        form.addRow("Data", self.dataset)
        form.addRow(self.folder_button)
        form.addRow(self.folder_info)
        form.addRow("Training images", self.count)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.lr)
        form.addRow("× after each epoch", self.lr_decay)
        form.addRow("Batch size", self.batch)
        form.addRow("Epochs", self.epochs)
        form.addRow("Weight decay", self.weight_decay)
        form.addRow("Augment", self.flip)
        form.addRow("Random shift (crop)", self.crop)
        self.settings_widgets = (self.dataset, self.folder_button, self.count, self.optimizer,
                                 self.lr, self.lr_decay, self.batch, self.epochs,
                                 self.weight_decay, self.flip, self.crop)

        self.start_button = QPushButton("Start", objectName="trainStart")
        self.pause_button = QPushButton("Pause", objectName="trainPause")
        self.stop_button = QPushButton("Stop", objectName="trainStop")
        self.save_button = QPushButton("Save trained network…", objectName="trainSave")
        self.save_button.setToolTip("Write the architecture (.json) and its weights (.npz)")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self.save_dialog)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.reason = status_label("trainReason")
        self.fix_buttons = [QPushButton(objectName=f"trainFix{k}") for k in range(2)]
        fixes = QVBoxLayout()
        for button in self.fix_buttons:
            button.hide()
            button.clicked.connect(self._apply_fix)
            fixes.addWidget(button)
        self.progress = QProgressBar(objectName="trainProgress")
        self.progress.setFormat("step %v of %m")
        self.figures = status_label("trainFigures")

        controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(form)
        column.addLayout(buttons)
        column.addWidget(self.reason)
        column.addLayout(fixes)
        column.addWidget(self.progress)
        column.addWidget(self.figures)
        column.addWidget(self.save_button)
        column.addWidget(hint("The weights go into the network about once a second, so the "
                              "Kernels and Feature maps panels change as it learns; each run "
                              "is one step to undo."))
        column.addStretch(1)

        self.plots = pg.GraphicsLayoutWidget()

        self.plots.setObjectName("trainPlots")
        self.plots.setBackground("w")
        self.loss_plot = self.plots.addPlot(title="Loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.loss_plot.showGrid(y=True, alpha=0.3)
        self.acc_plot = self.plots.addPlot(title="Accuracy")
        self.acc_plot.setLabel("bottom", "step")
        self.acc_plot.setYRange(0, 1)
        self.acc_plot.addLegend(offset=(-10, -10))
        self.acc_plot.showGrid(y=True, alpha=0.3)
        light = pg.mkPen((150, 180, 230), width=1)
        bold = pg.mkPen((200, 60, 40), width=2)
        self.loss_curve = self.loss_plot.plot(pen=light, name="batch")
        self.test_loss_curve = self.loss_plot.plot(pen=bold, symbol="o", symbolSize=5,
                                                   symbolBrush=(200, 60, 40), name="test")
        self.acc_curve = self.acc_plot.plot(pen=light, name="batch")
        self.test_acc_curve = self.acc_plot.plot(pen=bold, symbol="o", symbolSize=5,
                                                 symbolBrush=(200, 60, 40), name="test")

        view = QSplitter(Qt.Orientation.Vertical)
        view.addWidget(self.plots)
        self.results = scrolling(self._build_results())
        self.results.hide()  # until a run has results (the dock stays as small as before)
        view.addWidget(self.results)
        view.setSizes([500, 320])
        controls_beside(self, controls, view, 300, (380, 900))
        self._show_folder()
        self._show_state()

    def _build_results(self) -> QWidget:
        """The held-out figures after a job: a confusion matrix and the worst mistakes."""
        self.results_title = status_label("trainResults")
        self.confusion = QTableWidget(objectName="trainConfusion")
        self.confusion.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.confusion.setToolTip("Rows: the true class; columns: what the network said. "
                                  "The diagonal is right.")
        self.mistakes = QListWidget(objectName="trainMistakes")
        self.mistakes.setViewMode(QListView.ViewMode.IconMode)
        self.mistakes.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.mistakes.setResizeMode(QListView.ResizeMode.Adjust)
        self.mistakes.setMovement(QListView.Movement.Static)
        self.mistakes.setWordWrap(True)
        results = QWidget()
        row = QHBoxLayout()
        row.addWidget(self.confusion, 1)
        row.addWidget(self.mistakes, 2)
        column = QVBoxLayout(results)
        column.addWidget(self.results_title)
        column.addLayout(row)
        return results

    def _optimizer_changed(self, index: int):
        self.lr.setValue(OPTIMIZERS[index][2])  # each optimizer's usual starting rate

    # ================================================================== checks
    def current_dataset(self) -> Dataset:
        key = self.dataset.currentData()
        if key == FOLDER_KEY:
            return folder_dataset(self.folder.classes if self.folder else ())
        return next(d for d in DATASETS if d.key == key)

    # ================================================================== the user's images
    def _dataset_changed(self, _index):
        self._show_folder()
        if self.dataset.currentData() == FOLDER_KEY and self.folder is None:
            self.choose_folder()
        self._check()

    def choose_folder(self) -> bool:
        start = str(self.folder.root) if self.folder else str(Path.home())
        path = QFileDialog.getExistingDirectory(
            self, "A folder of images: one subfolder per class", start)
        return bool(path) and self.open_folder(path)

    def open_folder(self, path) -> bool:
        """Use the images in ``path`` (one subfolder per class) as the data."""
        try:
            self.folder = scan_folder(path)
        except ConvScopeError as err:
            self.folder = None
            self._show_folder()
            set_status(self.folder_info, f"Not used: {err}", "error")
            self._check()
            return False
        self.dataset.setCurrentIndex(self.dataset.findData(FOLDER_KEY))
        self._show_folder()
        self._check()
        return True

    def _show_folder(self):
        chosen = self.dataset.currentData() == FOLDER_KEY
        self._form.setRowVisible(self.folder_button, chosen)
        self._form.setRowVisible(self.folder_info, chosen)
        self._form.setRowVisible(self.count, not chosen)  # a folder holds what it holds
        if chosen and self.folder is not None:
            set_status(self.folder_info, f"{self.folder.root.name}: {self.folder.summary()}; "
                       "a fifth of each class is held out.")
            self.folder_info.setStyleSheet("")

    def _document_changed(self):
        if self._pushing:
            return
        if self.session is not None and self.session.state in ("preparing", "running",
                                                                "paused"):
            self._end_run("stopped", "The network changed (an edit, Undo or another file), "
                                     "so the run ended. Start trains it as it is now.")
        self._timer.start()

    def _check(self) -> Problem | None:
        """Enable Start, or say why not and offer the fixes."""
        self._timer.stop()
        dataset = self.current_dataset()
        net = self.doc.network
        problem = check_match(net, self.doc.report, dataset, self.batch.value())
        if problem is None and dataset.is_folder:
            try:
                check_budget(self.folder, net.input)
            except ConvScopeError as err:
                problem = Problem(f"Too many images for this input: {err}")
        if problem is not None:
            problem.fixes = self._fixes(net, dataset)
        self._problem = problem
        for button, fix in zip(self.fix_buttons, problem.fixes if problem else []):
            button.setText(fix.label)
        for k, button in enumerate(self.fix_buttons):
            button.setVisible(problem is not None and k < len(problem.fixes))
        if self.state in ("idle", "stopped", "finished"):
            self._say(problem.message if problem else self._ready_text(dataset),
                      "error" if problem else "")
        self._show_state()
        return problem

    def _ready_text(self, dataset) -> str:
        spec = self.doc.network.input
        return (f"Ready: {self.doc.network.name} ({spec.height}×{spec.width}×{spec.channels}) "
                f"on {dataset.title.split(',')[0].lower()}.")

    def _fixes(self, net, dataset) -> list:
        fixes = []
        size = dataset_size(dataset, net)
        spec = net.input
        if dataset.is_folder:  # any input takes a folder's images: only the units can be off
            return self._units_fix(net, dataset, fixes)
        if self.opener is not None and size == 32 and net.name != "LeNet-5":
            fixes.append(Fix("Open LeNet-5 (made for 32×32 digits)",
                             lambda: self.opener(preset_path("lenet5"))))
        if (spec.height, spec.width) != (size, size) or spec.channels > MAX_CHANNELS:
            values = {"height": size, "width": size}
            if spec.channels > MAX_CHANNELS:
                values.update(channels=1, mean=None, std=None)
            fixes.append(Fix(f"Set the input to {size}×{size}", lambda: self.doc.undo_stack.push(
                SetInputValues(self.doc, values))))
            return fixes
        return self._units_fix(net, dataset, fixes)

    def _units_fix(self, net, dataset, fixes: list) -> list:
        """``fixes`` and, when the last fc gives the wrong number of scores, setting it."""
        last = net.layers[-1] if net.layers else None
        out = self.doc.report.output
        if last is not None and last.TYPE == "fc" and out is not None and \
                not dataset.takes_scores(out[0]):
            path = self.doc.path_of(last.name)
            fixes.append(Fix(f"Set {last.name} to {dataset.classes} units",
                             lambda: self.doc.undo_stack.push(
                                 SetValue(self.doc, path, "units", dataset.classes))))
        return fixes

    def _apply_fix(self):
        index = self.fix_buttons.index(self.sender())
        if self._problem is not None and index < len(self._problem.fixes):
            self._problem.fixes[index].apply()
            self._check()

    # ================================================================== running
    def config(self) -> TrainConfig:
        return TrainConfig(optimizer=self.optimizer.currentData(), lr=self.lr.value(),
                           batch_size=self.batch.value(), epochs=self.epochs.value(),
                           lr_decay=self.lr_decay.value(), eval_every=EVAL_EVERY,
                           eval_limit=2000, weight_decay=self.weight_decay.value(),
                           flip=self.flip.isChecked(), crop_padding=self.crop.value())

    def start(self) -> bool:
        """A new run from the document's current weights."""
        if self.state in ("preparing", "running", "paused"):
            return False
        if self._check() is not None:
            return False
        dataset = self.current_dataset()
        spec = self.doc.network.input
        test_files = []
        if dataset.is_folder:
            folder = self.folder
            train_index, test_index = stratified_split(folder.labels)
            test_files = [folder.files[i] for i in test_index]
            key = (FOLDER_KEY, folder.files, spec.shape)
            making = f"Reading {len(folder.files):,} images at {spec.height}×{spec.width}…"

            def make():
                return folder_data(folder, spec, train_index, test_index)
        else:
            size = dataset_size(dataset, self.doc.network)
            count = self.count.value()
            key = (dataset.key, size, spec.channels, None if dataset.sklearn else count)
            what = "scikit-learn digits" if dataset.sklearn else f"{count:,} training images"
            making = f"Making the {what} at {size}×{size}…"

            def make():
                return make_data(dataset, count, size, spec.channels)
        self._runs += 1
        self.session = Session(self._runs, snapshot(self.doc, self.controller), self.config(),
                               key, dict(self.doc.network.weights), dataset.label_names,
                               test_files)
        self._clear_plots()
        self._set_state("preparing")
        data = self._data.get(key)
        if data is None:
            self._say(making)
        self._submit(data, make)
        return True

    def _submit(self, data, make):
        """The run (or the rest of it, after a pause) as one job; ``make()`` gives the data
        when ``data`` is not there yet."""
        session = self.session
        every = (self.report_seconds, self.preview_seconds)
        self.runner.submit("train", lambda job: train(job, session, data, make, *every))

    def toggle_pause(self):
        if self.state == "paused":
            self.resume()
        elif self.state in ("running", "preparing") and self.session is not None:
            self.session.request = "pause"
            self.pause_button.setEnabled(False)  # until the step in progress ends

    def resume(self) -> bool:
        session = self.session
        if session is None or self.state != "paused":
            return False
        session.request = ""
        self._set_state("running")
        self._submit(None, None)
        return True

    def stop(self):
        session = self.session
        if session is None:
            return
        if self.state == "paused":  # nothing is running: its weights are in already
            self._end_run("stopped", self._stopped_text(session))
        elif self.state in ("running", "preparing"):
            session.request = "stop"
            self.stop_button.setEnabled(False)

    # ================================================================== results
    def _progress(self, kind, payload):
        session = self.session
        if kind != "train" or session is None or payload["run"] != session.run_id:
            return
        if self.state == "preparing":
            self._set_state("running")
            self._say("Training…")
        if "figures" not in payload:
            return
        self._plot(payload["figures"], session.seconds + payload["seconds"])
        self.progressed.emit(payload["progress"])
        self._push(session, payload["weights"], payload["figures"]["step"])

    def _finished(self, kind, result):
        session = self.session
        if kind != "train" or session is None or result["run"] != session.run_id:
            return
        if result["data"] is not None:
            self._data = {session.data_key: result["data"]}  # one dataset kept at a time
        session.seconds += result["seconds"]
        figures = result["figures"]
        self._plot(figures, session.seconds)
        self._show_results(result["evaluation"], session)
        self.progressed.emit(result["progress"])
        self._push(session, result["weights"], figures["step"])
        status = result["status"]
        if status == "finished":
            self._end_run("finished", self._finished_text(session))
        elif session.request == "stop":
            self._end_run("stopped", self._stopped_text(session))
        else:
            session.request = ""
            self._set_state("paused")
            self._say(f"Paused at step {figures['step']}: the weights so far are in the "
                      "network. Resume goes on from here.")

    def _failed(self, kind, message):
        if kind != "train" or self.session is None:
            return
        self._end_run("stopped", f"Training stopped: {message}", error=True)
        self.runFailed.emit(message)

    def _push(self, session, weights, step):
        """The run's weights into the document: one undo entry per run (merged)."""
        if weights is None or step == session.pushed_step:
            return
        session.pushed_at, session.pushed_step = time.monotonic(), step
        name = self.doc.network.name
        self._pushing = True
        try:
            self.doc.undo_stack.push(TrainWeights(self.doc, session.run_id, session.start_weights,
                                                  weights, f"Train {name} ({step} steps)"))
        finally:
            self._pushing = False

    def _end_run(self, state, text, error=False):
        if self.state in ("preparing", "running"):
            self.runner.cancel("train")
        if self.session is not None:
            self.session.state = state
        self._set_state(state)
        self._say(text, "error" if error else ("ok" if state == "finished" else ""))

    def _stopped_text(self, session) -> str:
        trainer = session.trainer
        if trainer is None:
            return "Stopped before the first step."
        return (f"Stopped at step {trainer.step_count} of {trainer.total_steps}: the weights "
                "so far are in the network (Undo puts back the ones from before).")

    def _finished_text(self, session) -> str:
        t = session.trainer
        accuracy = "" if t.test_accuracy is None else \
            f": test accuracy {100 * t.test_accuracy:.1f} %"
        return (f"Finished {t.total_steps} steps in {session.seconds:.1f} s{accuracy}. "
                "The trained weights are in the network; Save keeps them.")

    # ================================================================== showing it
    def _set_state(self, state: str):
        if state != self.state:
            self.state = state
            self._show_state()
            self.stateChanged.emit(state)
        else:
            self._show_state()

    def _show_state(self):
        active = self.state in ("preparing", "running", "paused")
        self.start_button.setEnabled(not active and self._problem is None)
        self.start_button.setToolTip(self._problem.message if self._problem else
                                     "Train from the network's current weights")
        self.pause_button.setEnabled(self.state in ("running", "paused", "preparing"))
        self.pause_button.setText("Resume" if self.state == "paused" else "Pause")
        self.stop_button.setEnabled(active)
        for widget in self.settings_widgets:
            widget.setEnabled(not active)
        if self.state == "preparing":
            self.progress.setRange(0, 0)  # busy: the data is being made

    def _say(self, text: str, kind: str = ""):
        set_status(self.reason, text, kind)

    def _clear_plots(self):
        for curve in (self.loss_curve, self.test_loss_curve, self.acc_curve,
                      self.test_acc_curve):
            curve.setData([], [])
        self.figures.clear()
        self.results.hide()

    def _show_results(self, evaluation, session):
        """The confusion matrix (rows true, columns predicted, class names on both) and the
        most confident mistakes as thumbnails, true → predicted."""
        self.results.show()
        if evaluation is None:
            self.results_title.setText("No held-out images (every class needs two or more), "
                                       "so no confusion matrix.")
            self.confusion.hide()
            self.mistakes.hide()
            return
        matrix = evaluation["matrix"]
        names = [session.names[k] if k < len(session.names) else str(k)
                 for k in range(len(matrix))]
        total, right = int(matrix.sum()), int(np.trace(matrix))
        self.results_title.setText(
            f"Held out: {right} of {total} right ({100 * right / total:.1f} %). Confusion "
            "matrix: rows are the true class, columns what the network said.")
        self._fill_confusion(matrix, names)
        self._fill_mistakes(evaluation, names, session.test_files)

    def _fill_confusion(self, matrix, names):
        table, k = self.confusion, len(matrix)
        table.clear()
        table.setRowCount(k)
        table.setColumnCount(k)
        table.setHorizontalHeaderLabels(names)
        table.setVerticalHeaderLabels(names)
        peak = max(1, int(matrix.max()))
        for i in range(k):
            for j in range(k):
                count = int(matrix[i, j])
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(f"{count} {names[i]} said to be {names[j]}")
                if count:
                    colour = (60, 170, 80) if i == j else (220, 70, 50)
                    item.setBackground(QBrush(QColor(*colour, 40 + 160 * count // peak)))
                table.setItem(i, j, item)
        table.resizeColumnsToContents()
        table.show()

    def _fill_mistakes(self, evaluation, names, files):
        self.mistakes.clear()
        for mistake, image in zip(evaluation["mistakes"], evaluation["images"]):
            item = QListWidgetItem(QIcon(thumbnail(image)),
                                   f"{names[mistake.true]} → {names[mistake.predicted]}\n"
                                   f"{100 * mistake.confidence:.0f} %")
            if mistake.index < len(files):
                item.setToolTip(str(files[mistake.index]))
            self.mistakes.addItem(item)
        self.mistakes.setVisible(self.mistakes.count() > 0)

    def _plot(self, figures: dict, seconds: float):
        h = figures["history"]
        self.loss_curve.setData(h.steps, h.loss)
        self.acc_curve.setData(h.steps, h.accuracy)
        self.test_loss_curve.setData(h.test_steps, h.test_loss)
        self.test_acc_curve.setData(h.test_steps, h.test_accuracy)
        step, total = figures["step"], figures["total"]
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        recent = np.mean(h.loss[-20:]) if h.loss else float("nan")
        text = (f"Step {step:,} of {total:,} · epoch {figures['epoch']:.2f} · loss "
                f"{recent:.3f} (mean of the last 20 batches)")
        if figures["test_accuracy"] is not None:
            text += (f" · test accuracy {100 * figures['test_accuracy']:.1f} %, test loss "
                     f"{figures['test_loss']:.3f} (at step {h.test_steps[-1]:,})")
        text += f" · {seconds:.1f} s"
        self.figures.setText(text)

    # ================================================================== saving
    def save_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save the trained network",
                                              str(Path.home() / "trained.json"),
                                              "ConvScope architecture (*.json)")
        if not path:
            return False
        return self.save_to(path)

    def save_to(self, path) -> bool:
        """The document's network with its weights: path (.json) and its .npz beside it."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_name(path.name + ".json")
        net = self.doc.network.copy()
        net.weights_file = None
        names = self._trained_names()
        labels = labels_path(path)
        try:
            net.save(path, with_weights=True)
            if names:
                write_labels(labels, names)
        except (ConvScopeError, OSError) as err:
            self._say(f"Not saved: {err}", "error")
            return False
        also = f" and its class names in {labels.name}" if names else ""
        self._say(f"Saved {path.name} and {path.stem}.npz{also}.", "ok")
        return True

    def _trained_names(self) -> tuple:
        """The class names of the last run's data, when the network's scores are still the
        ones that run trained (same last-layer weights) and there is one score per name."""
        session, net = self.session, self.doc.network
        if session is None or session.trainer is None or not session.names or not net.layers:
            return ()
        out = self.doc.report.output
        last = net.layers[-1].name
        trained = session.trainer.net.weights
        keys = [k for k in trained if k.startswith(f"{last}.")]
        same = bool(keys) and all(
            k in net.weights and np.array_equal(net.weights[k], trained[k]) for k in keys)
        return tuple(session.names) if same and out and out[0] == len(session.names) else ()


def train(job, session: Session, data, make, report_seconds: float,
          preview_seconds: float) -> dict:
    """On the worker: make the data (if not given) and the trainer (first time only), then
    train until the end, a pause or stop asked from the GUI thread, or the run going stale
    (checked between steps). Reports the curves every ``report_seconds`` and a copy of the
    weights every ``preview_seconds``; returns the same figures, the weights and how it
    ended ("finished" or "paused")."""
    made = None
    if session.trainer is None:
        arrays = data if data is not None else (made := make())
        session.trainer = Trainer(session.net, *arrays, session.config)
    trainer = session.trainer
    job.report({"run": session.run_id})  # the data is made: running
    start = time.perf_counter()
    steps: list = []  # Progress since the last report
    sent = {"report": start, "weights": start}

    def after_step(progress):
        steps.append(progress)
        if session.request or job.should_stop():
            trainer.pause()
            return
        now = time.perf_counter()
        if now - sent["report"] < report_seconds:
            return
        weights = None
        if now - sent["weights"] >= preview_seconds:
            weights, sent["weights"] = copy_weights(trainer), now
        job.report({"run": session.run_id, "figures": figures(trainer), "weights": weights,
                    "progress": list(steps), "seconds": now - start})
        steps.clear()
        sent["report"] = now

    # paused or stopped while the data was being made: not one step
    status = "paused" if session.request else trainer.run(callback=after_step)
    seconds = time.perf_counter() - start
    return {"run": session.run_id, "status": status, "figures": figures(trainer),
            "weights": copy_weights(trainer), "progress": steps, "seconds": seconds,
            "data": made, "evaluation": held_out(trainer)}


def held_out(trainer: Trainer) -> dict | None:
    """The confusion matrix of the test set (its first ``eval_limit``) and its most
    confident mistakes with their images; None without a test set."""
    if trainer.x_test is None:
        return None
    limit = trainer.config.eval_limit
    x, y = trainer.x_test[:limit], trainer.y_test[:limit]
    probs = trainer.predict(x)
    mistakes = misclassified(probs, y, MISTAKES_SHOWN)
    return {"matrix": confusion_matrix(y, probs.argmax(axis=1), probs.shape[1]),
            "mistakes": mistakes, "images": [x[m.index].copy() for m in mistakes]}


def folder_data(folder: ImageFolder, spec, train_index, test_index):
    """On the worker: every image of ``folder`` decoded and fitted to the network's input
    (as the app fits any picture, in [0, 1]: the trainer applies mean/std), split into
    (x_train, y_train, x_test, y_test); no test set when nothing is held out. Files too big
    (from their header) or unreadable are refused by name before training starts."""
    raw = replace(spec, mean=None, std=None)
    x = np.empty((len(folder.files),) + spec.shape, np.float32)
    bad = []
    for k, path in enumerate(folder.files):
        size = QImageReader(str(path)).size()
        if size.width() * size.height() > MAX_PIXELS:
            raise ConvScopeError(f"{size.width()}×{size.height()} pixels is more than "
                                 f"{MAX_PIXELS:,} for one image", source=str(path))
        try:
            x[k] = image_for(read_qimage(path), raw)
        except ConvScopeError:
            bad.append(path.relative_to(folder.root).as_posix())
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ConvScopeError(f"{len(bad)} file(s) cannot be read as images: {shown}",
                             source=str(folder.root))
    y = folder.labels
    if len(test_index) == 0:
        return x[train_index], y[train_index], None, None
    return x[train_index], y[train_index], x[test_index], y[test_index]


def thumbnail(image) -> QPixmap:
    """A (C, H, W) image in [0, 1] as a pixmap about THUMBNAIL pixels wide."""
    picture = to_display(np.asarray(image)[None])[0]
    if picture.ndim == 2:
        picture = np.repeat(picture[:, :, None], 3, axis=2)
    return QPixmap.fromImage(rgb_image(picture).scaled(
        THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation))


def figures(trainer: Trainer) -> dict:
    """What the panel shows of a run, copied (the trainer goes on changing on the worker)."""
    return {"history": trainer.history.copy(), "step": trainer.step_count,
            "total": trainer.total_steps, "epoch": trainer.epoch,
            "test_accuracy": trainer.test_accuracy, "test_loss": trainer.test_loss}


def copy_weights(trainer: Trainer) -> dict:
    return {key: value.copy() for key, value in trainer.net.weights.items()}
