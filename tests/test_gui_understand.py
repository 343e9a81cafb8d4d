"""The Understand panels, driven as a person would: select a layer and read its arithmetic,
set a batch and read the memory, train and pause and resume, convert the fc layers, ask for
a saliency map and a feature visualisation, compare two networks.

Every number is checked against something independent of the panel: hand-worked figures,
core's own functions called directly on a copy, or the original network run on each crop."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.labels import read_labels
from convscope.core.presets import ARCHITECTURES, DEFAULT_EXAMPLE, preset_path
from convscope.core.train import Trainer
from convscope.core.understand.featureviz import visualize_channels
from convscope.core.understand.memory import fmt_bytes, memory_budget
from convscope.core.understand.saliency import saliency
from convscope.gui.commands import SetValue
from convscope.gui.document import INPUT
from convscope.gui.images import load_image
from convscope.gui.lazy import on_screen
from convscope.gui.understand.memory import TABLE_COLUMNS
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.usefixtures("dialogs")

WAIT = 60_000  # ms: generous, the machine may be busy; nothing here takes seconds alone


def network(layers, c=1, size=12, name="small", mean=None, std=None):
    spec = {"channels": c, "height": size, "width": size}
    if mean is not None:
        spec.update(mean=mean, std=std)
    return Network.from_dict({"format": "convscope", "version": 1, "name": name,
                              "input": spec, "seed": 3, "layers": layers})


def memory_net():
    """test_memory_budget's network, whose figures are worked out by hand there."""
    return network([{"type": "conv", "name": "conv", "filters": 4, "kernel": 3, "padding": 1},
                    {"type": "relu", "name": "relu"},
                    {"type": "pool", "name": "pool", "kernel": 2},
                    {"type": "fc", "name": "fc", "units": 10}], size=8)


def fc_net():
    """12×12 → conv 3×3: 10×10×4 → pool 2: 5×5×4 → fc 8 → fc 3 (no padding anywhere, so
    every cell of the score grid is exactly the original on one crop)."""
    return network([{"type": "conv", "name": "conv", "filters": 4, "kernel": 3},
                    {"type": "relu", "name": "relu"},
                    {"type": "pool", "name": "pool", "kernel": 2},
                    {"type": "flatten", "name": "flat"},
                    {"type": "fc", "name": "fc1", "units": 8},
                    {"type": "relu", "name": "relu2"},
                    {"type": "fc", "name": "fc2", "units": 3}])


def digits_net():
    """28×28 digits: conv 8 5×5 /2 → 12×12×8, pool → 6×6×8, fc 10 (2,970 parameters)."""
    return network([{"type": "conv", "name": "conv", "filters": 8, "kernel": 5, "stride": 2},
                    {"type": "relu", "name": "relu"},
                    {"type": "pool", "name": "pool", "kernel": 2},
                    {"type": "fc", "name": "fc", "units": 10}], size=28, name="digits",
                   mean=[0.2], std=[0.3])


def load(window, net):
    window.document.replace_network(net, None)
    return window.document


def settle():
    """Let the panels' "after the burst of edits" timers (0 ms) fire."""
    QApplication.processEvents()


def show_panel(understand, name):
    """Understand ▸ the panel: its tab comes to the front, and it catches up with what it
    missed behind the tab (gui.lazy)."""
    understand.actions[name].trigger()
    panel = getattr(understand, name)
    for _ in range(5):  # the tab switch, then the panel's check after it
        QApplication.processEvents()
    assert on_screen(panel) and not panel._follow.stale


def click(button):
    assert button.isEnabled(), button.objectName()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


# ============================================================================ explain
def test_explain_panel_works_through_alexnet_conv1(app):
    window, understand = app
    assert window.open_path(preset_path("alexnet"))
    window.document.select("conv1")
    text = understand.explain.plain_text()
    assert "(227 − 11 + 2·0)/4 + 1 = 55" in text  # the output size, numbers plugged in
    assert "= 34,944 parameters" in text  # (11·11·3)·96 + 96
    assert "290,400 × 363 = 105,415,200 MACs" in text  # 55·55·96 outputs, 363 each
    assert "96×363" in text and "363×3025" in text  # im2col's W_row and X_col
    # an edit updates it: 48 filters → (11·11·3)·48 + 48 = 17,472
    window.document.undo_stack.push(SetValue(window.document, "layers[0]", "filters", 48))
    settle()  # the panel explains once the burst of edits has ended
    assert "= 17,472 parameters" in understand.explain.plain_text()
    window.document.undo_stack.undo()
    settle()
    assert "= 34,944 parameters" in understand.explain.plain_text()
    window.document.select("pool1")  # (55 − 3)/2 + 1 = 27
    assert "(55 − 3 + 2·0)/2 + 1 = 27" in understand.explain.plain_text()
    window.document.select(INPUT)
    assert "227·227·3 = 154,587 values" in understand.explain.plain_text()


def test_explain_behind_another_tab_follows_the_selection_once_shown(app, qtbot):
    window, understand = app
    assert window.open_path(preset_path("alexnet"))
    window.document.select("conv1")
    explain = window.docks["Explain"]
    window.tabifiedDockWidgets(explain)[0].raise_()  # another tab in front of it
    qtbot.waitUntil(lambda: not on_screen(understand.explain))
    window.document.select("pool1")  # (55 − 3)/2 + 1 = 27
    assert "= 34,944 parameters" in understand.explain.plain_text()  # still conv1's
    explain.raise_()
    qtbot.waitUntil(lambda: "(55 − 3 + 2·0)/2 + 1 = 27" in understand.explain.plain_text())


# ============================================================================ memory
def test_a_hidden_panel_waits_until_it_shows_to_follow_the_edits(app):
    window, understand = app
    load(window, memory_net())
    understand.actions["memory"].trigger()
    settle()
    panel = understand.memory
    assert [r.name for r in panel.rows] == ["input", "conv", "pool", "fc"]
    understand.actions["training"].trigger()  # its tab goes behind Train's
    settle()
    assert panel.isVisible() and not on_screen(panel)  # Qt moves it off, not hides it
    load(window, fc_net())  # an edit while it is hidden: nothing is redrawn yet
    settle()
    assert [r.name for r in panel.rows] == ["input", "conv", "pool", "fc"]
    understand.actions["memory"].trigger()  # shown again: it catches up
    settle()
    assert [r.name for r in panel.rows] == [r.name for r in memory_budget(
        window.document.network, 64).rows if r.total] != ["input", "conv", "pool", "fc"]


def test_memory_panel_shows_cores_figures_and_one_bar_group_per_layer(app):
    window, understand = app
    load(window, memory_net())
    understand.actions["memory"].trigger()  # Understand ▸ Memory Budget brings it to the front
    settle()
    panel = understand.memory
    panel.batch.setValue(2)
    panel.optimizer.setCurrentIndex(panel.optimizer.findData("adam"))
    panel.dtype.setCurrentIndex(panel.dtype.findData(4))
    panel.available.setValue(1.0)  # GiB
    # By hand (tests/test_memory_budget.py): 3,152 + 2,640 + 2,760 + 2,760 + 5,520 = 16,832 B
    assert panel.budget.total == 16832 == memory_budget(memory_net(), 2, 4, "adam").total
    assert "16.4 KiB" in panel.figures.text()
    # per image (3,152 + 2,640)/2 = 2,896 B; fixed 16,832 − 2·2,896 = 11,040 B;
    # (2^30 − 11,040) // 2,896 = 370,763 images fit in 1 GiB
    assert "Largest batch that fits: 370,763" in panel.verdict.text()
    # one bar group per layer that holds memory (relu runs in place): input, conv, pool, fc
    assert [r.name for r in panel.rows] == ["input", "conv", "pool", "fc"]
    assert panel.tick_labels == [(0.0, "input"), (1.0, "conv"), (2.0, "pool"), (3.0, "fc")]
    mib = 2**20
    heights = panel.bar_heights()
    np.testing.assert_allclose(heights["forward"] * mib, [512, 2048, 512, 80])
    np.testing.assert_allclose(heights["params"] * mib, [0, 160, 0, 2600])  # 40·4, 650·4
    np.testing.assert_allclose(heights["optimizer"] * mib, [0, 320, 0, 5200])  # Adam: 2×
    for key, bars in panel.bars.items():  # what is drawn is what was computed
        np.testing.assert_allclose(bars.opts["height"], heights[key])
    np.testing.assert_array_equal(panel.bars["forward"].opts["x"], [0, 1, 2, 3])
    table = panel.table
    assert table.rowCount() == 4
    # by hand (batch 2, Adam): input 64·2·4 = 512; conv forward 2,048 + its gradients 2,048
    # + params 160 + their gradients 160 + Adam 320 = 4,736; pool 512 + 512 = 1,024;
    # fc 80 + 80 + 2,600 + 2,600 + 5,200 = 10,560 (sum 16,832, as test_memory_budget)
    assert [r.total for r in panel.budget.rows if r.total] == [512, 4736, 1024, 10560]
    total_column = [title for title, _ in TABLE_COLUMNS].index("Total")
    assert [table.item(r, total_column).text() for r in range(4)] == [
        fmt_bytes(n) for n in (512, 4736, 1024, 10560)]
    assert "Training keeps everything" in panel.mode_note.text()
    # inference only, batch 2 (tests/test_memory_budget.py works batch 1 by hand): only the
    # largest step is alive beside the parameters: conv's input 64·2·4 = 512, output
    # 256·2·4 = 2,048, padded copy 10·10·2·4 = 800, im2col columns 9·64·2·4 = 4,608 →
    # 7,968; + parameters 690·4 = 2,760 → 10,728 B (not the sum of all activations)
    panel.training.setChecked(False)
    assert panel.budget.total == 7968 + 2760 == 10728 and "10.5 KiB" in panel.figures.text()
    assert "Largest step (conv)" in panel.figures.text()
    assert "Inference frees each output" in panel.mode_note.text()
    step_column = [title for title, _ in TABLE_COLUMNS].index("Alive while it runs")
    assert not table.isColumnHidden(step_column)
    assert table.isColumnHidden([key for _, key in TABLE_COLUMNS].index("activation_grads"))
    # the bars show each layer's step (relu's input and output, 2,048 + 2,048, is its own)
    # and the parameters; the activations of all layers are not stacked up
    assert [r.name for r in panel.rows] == ["conv", "relu", "pool", "fc"]
    heights = panel.bar_heights()
    np.testing.assert_allclose(heights["step"] * mib, [7968, 4096, 2560, 592])
    assert not heights["forward"].any()
    assert table.item(0, total_column).text() == fmt_bytes(7968 + 160)
    panel.training.setChecked(True)
    assert table.isColumnHidden(step_column)
    panel.available.setValue(0.01)  # 10.7 MB: at batch 1,000,000 it cannot fit
    panel.batch.setValue(1_000_000)
    assert panel.verdict.text().startswith("✖ Does not fit")
    # clicking a row of the table selects that layer
    table.selectRow(3)
    assert window.document.selected == "fc"

    # VGG16: the most activation memory early (conv1_1/conv1_2), the most parameters in fc6
    assert window.open_path(preset_path("vgg16"))
    settle()
    heights = panel.bar_heights()
    names = [r.name for r in panel.rows]
    assert names[int(np.argmax(heights["forward"]))] in ("conv1_1", "conv1_2")
    assert names[int(np.argmax(heights["params"]))] == "fc6"
    assert "Why backward keeps them" in panel.explain.toPlainText()


# ============================================================================ training
@pytest.fixture
def hold_training(monkeypatch):
    """Holds the training job before the step after ``at`` until ``release()``: the run is
    one job that would otherwise race ahead of the clicks a test makes."""
    hold = {"at": -1, "gate": threading.Event()}
    step = Trainer.step

    def held_step(trainer):
        if trainer.step_count == hold["at"]:
            hold["gate"].wait(WAIT / 1000)
        return step(trainer)

    def at(count):
        hold["at"], hold["gate"] = count, threading.Event()
        return hold["gate"].set  # release

    monkeypatch.setattr(Trainer, "step", held_step)
    return at


def test_training_from_the_gui_pauses_resumes_and_lowers_the_loss(app, qtbot, tmp_path,
                                                                  hold_training):
    window, understand = app
    doc = load(window, digits_net())
    panel = understand.training
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits28"))
    panel.count.setValue(600)  # 200 test images are made apart
    panel.batch.setValue(50)
    panel.epochs.setValue(4)  # 12 steps an epoch, 48 in all
    panel.report_seconds, panel.preview_seconds = 0.0, 0.0  # every step reported and shown
    assert panel.start_button.isEnabled(), panel.reason.text()
    base = doc.undo_stack.count()
    seen = []
    panel.progressed.connect(seen.extend)

    def reached(step):
        return lambda progress: bool(seen) and seen[-1].step >= step

    release = hold_training(6)  # the job waits after step 6 until the click is made
    with qtbot.waitSignal(panel.progressed, timeout=WAIT, check_params_cb=reached(6)):
        click(panel.start_button)
    with qtbot.waitSignal(panel.stateChanged, timeout=WAIT,
                          check_params_cb=lambda state: state == "paused"):
        click(panel.pause_button)
        release()
    trainer = panel.session.trainer
    paused_at = trainer.step_count
    assert paused_at == 7 and panel.pause_button.text() == "Resume"  # after the step under way
    # the weights so far are in the document, as one undoable step
    assert doc.undo_stack.count() == base + 1
    assert doc.undo_stack.text(base) == f"Train digits ({paused_at} steps)"
    np.testing.assert_array_equal(doc.network.weights["conv.weight"],
                                  trainer.net.weights["conv.weight"])
    with qtbot.waitSignal(panel.stateChanged, timeout=WAIT,
                          check_params_cb=lambda state: state == "finished"):
        click(panel.pause_button)  # Resume
    assert trainer.step_count == 48
    assert [p.step for p in seen] == list(range(1, 49))  # every step once, none lost
    losses = [p.loss for p in seen]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    assert trainer.test_accuracy > 0.2  # chance is 0.1
    assert doc.undo_stack.count() == base + 1  # previews merged into the one step
    np.testing.assert_array_equal(doc.network.weights["fc.weight"],
                                  trainer.net.weights["fc.weight"])
    curve_x, curve_y = panel.loss_curve.getData()
    np.testing.assert_array_equal(curve_y, losses)
    # undo puts back the weights from before the run (none: seeded), redo the trained ones
    doc.undo_stack.undo()
    assert doc.network.weights == {}
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.network.weights["fc.weight"],
                                  trainer.net.weights["fc.weight"])
    # saved with its weights, it loads back the same
    assert panel.save_to(tmp_path / "trained.json")
    again = Network.load(tmp_path / "trained.json")
    np.testing.assert_array_equal(again.weights["conv.weight"], doc.network.weights["conv.weight"])

    # Stop, then Start again: a new run (a new undo step) from the trained weights, whose
    # first batches already score far better than the untrained network's first ones
    first = []
    panel.progressed.connect(first.extend)
    panel.epochs.setValue(1)
    release = hold_training(1)
    with qtbot.waitSignal(panel.progressed, timeout=WAIT):
        click(panel.start_button)
    with qtbot.waitSignal(panel.stateChanged, timeout=WAIT,
                          check_params_cb=lambda state: state == "stopped"):
        click(panel.stop_button)
        release()
    assert doc.undo_stack.count() == base + 2
    assert first[0].loss < 0.7 * losses[0]


def test_training_says_plainly_when_the_network_does_not_fit_the_data(app, qtbot):
    window, understand = app
    panel = understand.training
    assert window.open_path(preset_path("alexnet"))
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits32"))
    settle()
    assert not panel.start_button.isEnabled()
    assert panel.reason.text().startswith("The network takes 227×227×3 images but these are "
                                          "32×32")
    open_lenet = panel.fix_buttons[0]
    assert open_lenet.isVisible() and open_lenet.text().startswith("Open LeNet-5")
    click(open_lenet)
    settle()
    assert window.document.network.name == "LeNet-5"
    assert panel.start_button.isEnabled(), panel.reason.text()
    # LeNet-5 on the 28×28 digits: one click sets its input to 28×28 (undoable)
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits28"))
    assert not panel.start_button.isEnabled()
    fix = next(b for b in panel.fix_buttons if b.isVisible())
    assert fix.text() == "Set the input to 28×28"
    click(fix)
    settle()
    assert window.document.network.input.shape == (1, 28, 28)
    assert panel.start_button.isEnabled(), panel.reason.text()
    sklearn = panel.dataset.model().item(panel.dataset.findData("sklearn"))
    from convscope.core.datasets import has_sklearn
    assert sklearn.isEnabled() == has_sklearn()
    if not has_sklearn():
        assert "not installed" in sklearn.toolTip()

    # an edit while it trains ends the run (the trainer's copy would no longer match)
    doc = window.document
    panel.count.setValue(300)
    panel.epochs.setValue(50)
    with qtbot.waitSignal(panel.progressed, timeout=WAIT):
        click(panel.start_button)
    with qtbot.waitSignal(panel.stateChanged, timeout=WAIT):
        doc.undo_stack.push(SetValue(doc, "layers[0]", "filters", 4))
    assert panel.state == "stopped"
    assert "The network changed" in panel.reason.text()
    assert panel.start_button.isEnabled()  # a new run trains the edited network


# ============================================================================ FC→CONV
def test_fc_to_conv_from_the_menu_is_undoable_and_agrees(app, qtbot):
    window, understand = app
    doc = load(window, fc_net())
    original = fc_net()
    original.ensure_weights()  # the same seeded weights the document's layers will draw
    action = understand.actions["convert_fc"]
    assert action in window.menu("Network").actions() and action.isEnabled()
    with qtbot.waitSignal(understand.fcconv.checked, timeout=WAIT) as blocker:
        action.trigger()
    result = blocker.args[0]
    assert [(layer.TYPE, layer.name) for layer in doc.network.layers] == [
        ("conv", "conv"), ("relu", "relu"), ("pool", "pool"), ("conv", "fc1"),
        ("relu", "relu2"), ("conv", "fc2")]
    assert doc.network.layers[3].pair("kernel") == (5, 5)  # fc1 sees 5×5×4
    assert doc.network.layers[5].pair("kernel") == (1, 1)
    assert doc.undo_stack.undoText() == "Convert 2 fc layers to conv"
    assert not action.isEnabled()  # nothing left to convert
    # the difference shown is the largest over the scores, and tiny
    assert result["check"]["max_abs"] < 1e-4
    assert f"{result['check']['max_abs']:.2e}" in understand.fcconv.status.text()
    # independently: the document's converted network against the original
    x = np.random.default_rng(0).standard_normal((1, 1, 12, 12)).astype(np.float32)
    converted = doc.network.copy()
    np.testing.assert_allclose(converted.forward(x)["fc2"], original.forward(x)["fc2"],
                               atol=1e-5)
    # the larger image: 12 + 5 strides of 2 = 22 px → a 6×6 grid of 3 scores, each cell
    # the original network on the crop 2·i, 2·j pixels in
    assert understand.fcconv.size.value() == 22
    scores = result["scores"]
    assert scores.shape == (6, 6, 3)
    big = result["big_image"]
    for i, j in ((0, 0), (2, 5), (5, 5)):
        crop = big[None, :, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
        np.testing.assert_allclose(scores[i, j], original.forward(crop)["fc2"][0, :, 0, 0],
                                   atol=1e-5)
    # MACs by hand: original 10·10·4·9 + 8·100 + 3·8 = 4,424 per crop, 36 crops
    assert result["cost"]["sliding_macs"] == 36 * 4424
    # another size from the panel: 16 px → conv 14 → pool 7 → fc1 (5×5) 3: a 3×3 grid
    understand.fcconv.size.setValue(16)
    with qtbot.waitSignal(understand.fcconv.checked, timeout=WAIT) as blocker:
        click(understand.fcconv.run_button)
    again = blocker.args[0]
    assert again["scores"].shape == (3, 3, 3) and again["cost"]["crop_count"] == 9
    np.testing.assert_allclose(again["scores"][1, 2], original.forward(
        again["big_image"][None, :, 2:14, 4:16])["fc2"][0, :, 0, 0], atol=1e-5)
    # undo gives back the fc layers, redo the convs
    doc.undo_stack.undo()
    assert [layer.TYPE for layer in doc.network.layers][3:] == ["flatten", "fc", "relu", "fc"]
    assert action.isEnabled()
    doc.undo_stack.redo()
    assert [layer.TYPE for layer in doc.network.layers][3:] == ["conv", "relu", "conv"]
    # nothing to convert: said in one line, nothing pushed
    count = doc.undo_stack.count()
    assert not understand.fcconv.convert()
    assert "no top-level fc layer" in understand.fcconv.status.text()
    assert doc.undo_stack.count() == count


# ============================================================================ saliency
def test_saliency_view_shows_cores_gradient(app, qtbot):
    window, understand = app
    doc = load(window, fc_net())
    image = np.random.default_rng(1).standard_normal((1, 12, 12)).astype(np.float32)
    doc.set_image(image, "test")
    show_panel(understand, "saliency")  # Understand ▸ Saliency: its tab in front
    panel = understand.saliency
    assert panel.channel.text() == "the top class"  # by default: the class it picks
    with qtbot.waitSignal(panel.computed, timeout=WAIT):
        click(panel.compute_button)
    top = int(np.argmax(fc_net().forward(image[None])["fc2"]))
    assert panel.result["channel"] == top
    np.testing.assert_allclose(panel.heat.image, saliency(fc_net(), image, "fc2", top)["map"],
                               rtol=1e-5, atol=1e-8)
    panel.channel.setValue(2)  # class 2 of fc2's three scores
    with qtbot.waitSignal(panel.computed, timeout=WAIT):
        click(panel.compute_button)
    expected = saliency(fc_net(), image, "fc2", 2)
    np.testing.assert_allclose(panel.heat.image, expected["map"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(panel.result["gradient"], expected["gradient"], rtol=1e-5,
                               atol=1e-8)
    # a unit of the selected layer, at a chosen position
    doc.select("conv")
    panel.target.setCurrentIndex(panel.target.findData("unit"))
    panel.channel.setValue(1)
    panel.strongest.setChecked(False)
    panel.y.setValue(4)
    panel.x.setValue(7)
    with qtbot.waitSignal(panel.computed, timeout=WAIT):
        click(panel.compute_button)
    expected = saliency(fc_net(), image, "conv", 1, y=4, x_pos=7)
    np.testing.assert_allclose(panel.heat.image, expected["map"], rtol=1e-5, atol=1e-8)
    # a 3×3 conv unit depends on its 3×3 window only: rows 4..6, columns 7..9
    rows, cols = np.nonzero(panel.heat.image)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 6, 7, 9)


def test_saliency_channel_box_says_what_is_computed(app, qtbot):
    """A unit's channel 0 reads "0", not "the top class" (the special text of the class
    target, which Qt shows at the box's minimum whatever it means)."""
    window, understand = app
    doc = load(window, fc_net())
    doc.set_image(np.random.default_rng(2).standard_normal((1, 12, 12)).astype(np.float32),
                  "test")
    doc.select("conv")
    show_panel(understand, "saliency")
    panel = understand.saliency
    panel.target.setCurrentIndex(panel.target.findData("unit"))
    assert panel.channel.value() == 0 and panel.channel.text() == "0"
    with qtbot.waitSignal(panel.computed, timeout=WAIT):
        click(panel.compute_button)
    assert (panel.result["layer"], panel.result["channel"]) == ("conv", 0)
    panel.target.setCurrentIndex(panel.target.findData("class"))
    panel.channel.setValue(-1)
    assert panel.channel.text() == "the top class"


def test_more_channels_than_a_spin_box_holds_is_refused_in_one_line(app):
    """A legal network whose last layer has 2^32 channels (16 maps of 16384×16384,
    flattened): the saliency and feature visualisation panels say so in one line, instead
    of an OverflowError on every selection."""
    window, understand = app
    doc = load(window, network([{"type": "conv", "name": "conv", "filters": 16, "kernel": 1},
                                {"type": "flatten", "name": "flat"}], size=16384))
    doc.select("flat")
    settle()
    saliency_panel, viz = understand.saliency, understand.featureviz
    saliency_panel.target.setCurrentIndex(saliency_panel.target.findData("unit"))
    for panel, button, name in ((saliency_panel, saliency_panel.compute_button, "saliency"),
                                (viz, viz.run_button, "featureviz")):
        show_panel(understand, name)  # each panel in front, as a person would look
        assert panel.layer_label.text() == (
            "flat (1×1×4294967296) has more channels or positions than this panel can "
            "number (at most 2,147,483,648)")
        assert not button.isEnabled()
    show_panel(understand, "saliency")
    doc.select(INPUT)
    doc.select("flat")  # again: still one line, no exception
    settle()
    assert not saliency_panel.compute_button.isEnabled()


def test_feature_visualisation_grid_is_cores_result(app, qtbot):
    window, understand = app
    doc = load(window, fc_net())
    doc.select("conv")
    show_panel(understand, "featureviz")
    panel = understand.featureviz
    panel.count.setValue(4)
    panel.steps.setValue(3)
    with qtbot.waitSignal(panel.done, timeout=WAIT) as blocker:
        click(panel.run_button)
    expected = visualize_channels(fc_net(), "conv", [0, 1, 2, 3], steps=3)
    np.testing.assert_allclose(blocker.args[0], expected, rtol=1e-5, atol=1e-6)
    picture = panel.image.image  # four 12×12 tiles in a 2×2 grid, 2 px apart
    assert picture.shape == (26, 26)
    assert np.isnan(picture[12:14]).all() and not np.isnan(picture[:12, :12]).any()


# ============================================================================ compare
def test_compare_seven_by_seven_against_three_three_by_threes(app):
    window, understand = app
    titles = [a.text().replace("&", "") for a in window.menu("Understand").actions()]
    for expected in ("Explain the Selected Layer", "Memory Budget", "Train Live", "Saliency",
                     "Feature Visualisation", "Compare Architectures",
                     "Convert FC Layers to CONV", "Compare a 7×7 Conv with Three 3×3 Convs"):
        assert expected in titles
    understand.actions["compare_example"].trigger()
    panel = understand.compare
    totals = panel.totals
    cells = {totals.item(r, 0).text(): (totals.item(r, 1).text(), totals.item(r, 2).text())
             for r in range(totals.rowCount())}
    # one 7×7 conv: 49·64·64 + 64 = 200,768; three 3×3: 3·(9·64·64 + 64) = 110,784
    assert cells["Parameters"] == ("200,768", "110,784")
    assert cells["Receptive field"] == ("7×7", "7×7")  # 1 + 2 + 2 + 2
    assert cells["Layers with weights"] == ("1", "3")
    assert panel.table.rowCount() == 6  # conv, relu against three of each
    # the current network against a preset, layer by layer
    assert window.open_path(preset_path("lenet5"))
    panel.side_b.setCurrentIndex(panel.side_b.findData(str(preset_path("alexnet"))))
    assert panel.compare_chosen()
    cells = {totals.item(r, 0).text(): totals.item(r, 1).text()
             for r in range(totals.rowCount())}
    assert cells["Parameters"] == "61,706"  # LeNet-5 as taught
    assert panel.table.rowCount() == 22  # AlexNet's layers, the longer of the two
    understand.actions["training"].trigger()  # each panel is a menu item away
    assert understand.docks["training"].isVisible()


# ============================================================================ class names
TRAINED = ARCHITECTURES / "shapes_cnn.json"
TRAINED_SAMPLES = ARCHITECTURES.parent / "images" / "samples"


def trained_on(window, name):
    """The trained network open as a preset opens (unsaved), on its sample of ``name``."""
    net = Network.load(TRAINED)
    doc = load(window, net)
    doc.set_image(load_image(TRAINED_SAMPLES / f"shapes_cnn-{name}.png", net.input), "test")
    return doc


def test_saliency_names_the_class(app, qtbot):
    window, understand = app
    trained_on(window, "star")
    labels = read_labels(ARCHITECTURES / "shapes_cnn.labels.txt")
    show_panel(understand, "saliency")
    panel = understand.saliency
    settle()
    assert panel.channel.value() == -1, panel.channel.text()
    assert panel.class_name.text() == ""  # "the top class": not known before computing
    with qtbot.waitSignal(panel.computed, timeout=WAIT):
        click(panel.compute_button)
    star = labels.index("star")
    assert panel.result["channel"] == star  # the network's top class is the picture's
    assert panel.info.text().startswith(f"∂(fc star ({star}) at ")
    panel.channel.setValue(0)
    assert panel.class_name.text() == f"{labels[0]} (0)"
    panel.target.setCurrentIndex(panel.target.findData("unit"))  # a unit: no class name
    assert panel.class_name.text() == ""


def test_fc_to_conv_grid_names_the_classes(app, qtbot):
    window, understand = app
    trained_on(window, "cross")
    labels = read_labels(ARCHITECTURES / "shapes_cnn.labels.txt")
    panel = understand.fcconv
    with qtbot.waitSignal(panel.checked, timeout=WAIT) as blocker:
        assert panel.convert()
    result = blocker.args[0]
    cross = labels.index("cross")
    assert result["top_class"] == cross == panel.score_class.value()
    assert panel.class_name.text() == f"cross ({cross})"
    scores = result["scores"]
    first = int(np.argmax(scores[0, 0]))
    assert f"{scores[0, 0, cross]:.2f}<br><small>{labels[first]} ({first})</small>" in \
        panel.grid_table()
    assert f"cross ({cross})'s score per cell" in panel.text.toPlainText()


def test_convscope_with_no_file_opens_the_trained_network(qtbot, monkeypatch, isolated,
                                                         dialogs):
    """`convscope` alone: the app's own start (gui.cli → gui.app.run) opens the trained
    network, and its live view runs it on one of its own sample pictures, of its size."""
    from convscope.gui.cli import main
    from convscope.gui.mainwindow import MainWindow

    shown = []

    def exec_(app):  # instead of the event loop: note the window run() put on screen
        shown.extend(w for w in QApplication.topLevelWidgets()
                     if isinstance(w, MainWindow) and w.isVisible())
        return 0

    monkeypatch.setattr(QApplication, "exec", exec_)
    assert DEFAULT_EXAMPLE == TRAINED
    assert main([]) == 0
    assert len(shown) == 1
    window = shown[0]
    qtbot.addWidget(window)
    assert window.document.network.name == Network.load(TRAINED, weights=False).name
    qtbot.waitUntil(lambda: window.activations is not None, timeout=WAIT)  # add_parts
    live = window.activations
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        live.controller.submit()
    source = window.document.image_source
    assert source.startswith(str(TRAINED_SAMPLES / "shapes_cnn-"))
    assert QImage(source).size().toTuple() == (32, 32)
    assert live.input_view.samples.currentData() == source
    window.document.select("fc")
    name = source.rsplit("-", 1)[1].removesuffix(".png")
    labels = read_labels(ARCHITECTURES / "shapes_cnn.labels.txt")
    assert live.feature_maps.top.item(1).text().startswith(f"{name} ({labels.index(name)}): ")
    window.close()
