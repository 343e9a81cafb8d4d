"""Training on your own images from the Train panel, as a person would: choose a folder of
class subfolders, let the panel fix the last layer to the class count, train, read the
held-out confusion matrix and save the network with its class names."""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.presets import preset_path
from convscope.gui.commands import SetValue
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

pytestmark = pytest.mark.usefixtures("dialogs")

WAIT = 120_000  # ms: generous, the machine may be busy


def write_png(path, rgb):
    """(H, W, 3) uint8 → a PNG written by Qt, as any picture a user has."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w, _ = rgb.shape
    assert QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy().save(str(path))


def colour_folder(root, per_class=10, size=32):
    """Two classes, ``per_class`` pictures each: a red or a blue square of random size and
    place on a noisy grey background."""
    rng = np.random.default_rng(5)
    for name, colour in (("blue", (30, 40, 220)), ("red", (220, 30, 40))):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            image = rng.integers(90, 160, (size, size, 3))
            side = rng.integers(10, 20)
            top, left = rng.integers(0, size - side, 2)
            image[top:top + side, left:left + side] = colour
            image += rng.integers(-20, 20, image.shape)
            write_png(root / name / f"{k:02d}.png", np.clip(image, 0, 255))
    return root


@pytest.fixture
def folder_dialog(monkeypatch):
    """QFileDialog.getExistingDirectory answers with ``answer["path"]``."""
    answer = {"path": "", "asked": 0}

    def get(*args, **kwargs):
        answer["asked"] += 1
        return answer["path"]

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", get)
    return answer


def set_fc_units(doc, units):
    doc.undo_stack.push(SetValue(doc, doc.path_of("fc"), "units", units))


def click(button):
    assert button.isEnabled(), button.objectName()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def test_training_on_a_folder_reaches_full_accuracy_and_shows_the_confusion_matrix(
        app, qtbot, tmp_path, folder_dialog):
    window, understand = app
    panel = understand.training
    root = colour_folder(tmp_path / "colours")
    assert window.open_path(preset_path("shapes_cnn"))  # 6 shapes: 6 scores
    folder_dialog["path"] = str(root)
    panel.dataset.setCurrentIndex(panel.dataset.findData("folder"))  # asks for the folder
    QApplication.processEvents()
    assert folder_dialog["asked"] == 1
    assert panel.folder_info.text().startswith("colours: 2 classes, 20 images: blue 10, red 10")
    # 6 scores for 2 classes: refused, with the fix one click away
    assert not panel.start_button.isEnabled()
    assert "gives 6 scores but the data has 2 classes" in panel.reason.text()
    fix = next(b for b in panel.fix_buttons if b.isVisible())
    assert fix.text() == "Set fc to 2 units"
    click(fix)
    QApplication.processEvents()
    assert window.document.report.output == (2, 1, 1)
    assert panel.start_button.isEnabled(), panel.reason.text()

    panel.optimizer.setCurrentIndex(panel.optimizer.findData("adam"))
    panel.lr.setValue(0.003)
    panel.lr_decay.setValue(1.0)
    panel.batch.setValue(8)
    panel.epochs.setValue(10)  # 16 training images, 2 steps an epoch
    panel.weight_decay.setValue(0.0001)
    panel.flip.setChecked(True)
    panel.crop.setValue(2)
    with qtbot.waitSignal(panel.stateChanged, timeout=WAIT,
                          check_params_cb=lambda state: state == "finished"):
        click(panel.start_button)
    trainer = panel.session.trainer
    assert (trainer.config.weight_decay, trainer.config.flip,
            trainer.config.crop_padding) == (0.0001, True, 2)
    assert len(trainer.x_train) == 16 and len(trainer.x_test) == 4  # a fifth of each class
    assert trainer.x_train.shape[1:] == (3, 32, 32)
    assert trainer.test_accuracy == 1.0  # chance is 0.5
    assert trainer.evaluate(trainer.x_train, trainer.y_train)[0] < 0.05  # with a margin
    # the confusion matrix: class names on both axes, 2 of each held out, all on the diagonal
    table = panel.confusion
    assert table.isVisible()
    assert [table.horizontalHeaderItem(j).text() for j in range(2)] == ["blue", "red"]
    assert [table.verticalHeaderItem(i).text() for i in range(2)] == ["blue", "red"]
    cells = [[int(table.item(i, j).text()) for j in range(2)] for i in range(2)]
    assert cells == [[2, 0], [0, 2]]
    assert panel.results_title.text().startswith("Held out: 4 of 4 right (100.0 %)")
    assert not panel.mistakes.isVisible() and panel.mistakes.count() == 0

    # saved with its weights and, beside it, the class names one a line
    assert panel.save_to(tmp_path / "colours.json")
    assert (tmp_path / "colours.labels.txt").read_text() == "blue\nred\n"
    again = Network.load(tmp_path / "colours.json")
    np.testing.assert_array_equal(again.weights["fc.weight"],
                                  window.document.network.weights["fc.weight"])
    # Undo puts back the untrained weights: those are not the run's, so no class names
    window.document.undo_stack.undo()
    assert panel.save_to(tmp_path / "untrained.json")
    assert not (tmp_path / "untrained.labels.txt").exists()


def test_a_wrong_held_out_answer_is_listed_with_its_thumbnail(app, qtbot, tmp_path,
                                                                folder_dialog):
    """One epoch of plain SGD at a tiny rate leaves the untrained fc's guesses: whatever it
    gets wrong is in the matrix off the diagonal and in the list, true → predicted."""
    window, understand = app
    panel = understand.training
    root = colour_folder(tmp_path / "colours")
    assert window.open_path(preset_path("shapes_cnn"))
    set_fc_units(window.document, 2)
    assert panel.open_folder(root)
    panel.optimizer.setCurrentIndex(panel.optimizer.findData("sgd"))
    panel.lr.setValue(0.0001)
    panel.epochs.setValue(1)
    with qtbot.waitSignal(panel.stateChanged, timeout=WAIT,
                          check_params_cb=lambda state: state == "finished"):
        click(panel.start_button)
    trainer = panel.session.trainer
    probs = trainer.predict(trainer.x_test)
    wrong = int((probs.argmax(axis=1) != trainer.y_test).sum())
    table = panel.confusion
    off = sum(int(table.item(i, j).text()) for i in range(2) for j in range(2) if i != j)
    assert off == wrong == panel.mistakes.count() >= 1, wrong
    names = ("blue", "red")
    for k in range(panel.mistakes.count()):
        item = panel.mistakes.item(k)
        true, said = item.text().split("\n")[0].split(" → ")
        assert true in names and said in names and true != said
        assert item.toolTip().startswith(str(root / true))
        assert not item.icon().isNull()


def test_a_bad_folder_is_refused_in_one_line(app, qtbot, tmp_path, folder_dialog):
    window, understand = app
    panel = understand.training
    (tmp_path / "flat").mkdir()
    assert not panel.open_folder(tmp_path / "flat")
    assert panel.folder_info.text() == (f"Not used: {tmp_path / 'flat'}: has 0 subfolder(s); "
                                        "training needs one subfolder per class (at least "
                                        "two), each holding that class's images")
    # a file that is not a picture is named when the images are read, before any training
    root = colour_folder(tmp_path / "colours", per_class=2)
    (root / "red" / "broken.png").write_bytes(b"not a png")
    assert window.open_path(preset_path("shapes_cnn"))
    set_fc_units(window.document, 2)
    assert panel.open_folder(root)
    with qtbot.waitSignal(panel.runFailed, timeout=WAIT) as failed:
        click(panel.start_button)
    assert failed.args[0] == f"{root}: 1 file(s) cannot be read as images: red/broken.png"
    assert panel.session.trainer is None  # not one step
