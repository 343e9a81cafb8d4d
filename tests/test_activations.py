"""Live activations, driven as a person would: open a preset, pick a layer, click a map pixel,
edit while a pass runs, make the network too large, step the kernel, export.

Every number checked here is worked out independently: feature maps against the core's own
forward pass on the same image, receptive fields by hand from the layer sizes, the
step-through sum against the forward pass and against torch."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.filterbank import classic_filters
from convscope.core.labels import read_labels
from convscope.core.live.mosaic import normalise_channels, value_codes
from convscope.core.ops import softmax_forward
from convscope.core.presets import ARCHITECTURES, preset_path
from convscope.gui.activations import Probe
from convscope.gui.activations.controller import NETWORK_SAMPLES, SAMPLES
from convscope.gui.commands import SetInputValues, SetValue
from convscope.gui.images import load_image, qimage_to_array
from convscope.gui.lazy import on_screen
from convscope.gui.plots import MAP_COLOURS, WEIGHT_COLOURS, colour_map
from gui_helpers import EventCount, send_drop_on
from optional import needs_torch
from PySide6.QtCore import QEvent, QMimeData, QPoint, QRect, Qt, QUrl
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

WAIT = 60_000  # ms; a pass takes well under a second, but the machine may be busy


@pytest.fixture(scope="module")
def alexnet():
    """AlexNet with its seeded weights made once (each test gets a copy sharing them)."""
    net = Network.load(preset_path("alexnet"))
    net.ensure_weights()
    return net


def open_network(qtbot, live, net, path=None):
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        live.document.replace_network(net, path)
    return live.controller.result


def push_and_wait(qtbot, live, command):
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        live.document.undo_stack.push(command)
    return live.controller.result


def core_forward(doc):
    """The core's own pass on the document's network and image (no GUI code)."""
    return {k: v[0] for k, v in doc.network.copy().forward(doc.image[None]).items()}


def tile_of(view, channel):
    mosaic = view.mosaic
    top, left = mosaic.origin(view.shown.index(channel))
    th, tw = mosaic.tile
    return view.mosaic.image[top:top + th, left:left + tw]


def assert_drawn(item, mosaic, colours=MAP_COLOURS[0]):
    """What the image item paints is the mosaic coloured: its 8-bit codes, the largest value
    in the colour map's top colour, the smallest in its bottom one, a gap see-through."""
    values = mosaic.image
    np.testing.assert_array_equal(item.image, value_codes(values, mosaic.levels))
    item.render()  # what paint draws
    cmap = colour_map(colours)
    lo, hi = mosaic.levels
    for pick in (np.nanargmax, np.nanargmin):
        r, c = np.unravel_index(pick(values), values.shape)
        shade = round((values[r, c] - lo) / (hi - lo) * 254) / 254  # the nearest of 255
        expected = cmap.map(shade, mode="byte")[:3]
        assert item.qimage.pixelColor(int(c), int(r)).getRgb()[:3] == tuple(expected)
    gaps = np.argwhere(np.isnan(values))
    if len(gaps):
        assert item.qimage.pixelColor(int(gaps[0][1]), int(gaps[0][0])).alpha() == 0


def click(view, scene_pos, double=False):
    """A real mouse click (or double-click) on the graphics view at a scene position."""
    viewport = view.graphics.viewport()
    point = view.graphics.mapFromScene(scene_pos)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=point)
    if double:  # as Qt sends it: press, release, double-click, release
        QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=point)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=point)
    QApplication.processEvents()


def tiny(layers, channels=3, size=16, extra=None):
    data = {"format": "convscope", "version": 1, "name": "tiny",
            "input": {"channels": channels, "height": size, "width": size}, "seed": 1,
            "layers": layers}
    data.update(extra or {})
    return Network.from_dict(data)


# ============================================================================ mosaic
def test_mosaic_pixels_are_the_core_activations(qtbot, live, alexnet):
    doc = live.document
    open_network(qtbot, live, alexnet.copy(), preset_path("alexnet"))
    # the default picture, made as the CLI's --image makes it
    expected_image = load_image(SAMPLES / "shapes.png", doc.network.input)
    np.testing.assert_array_equal(doc.image, expected_image)
    view = live.feature_maps
    doc.select("conv2")
    assert view.tensor == "conv2"
    acts = core_forward(doc)
    maps = acts["conv2"]  # 27×27×256 → 16×16 tiles of 27 + 1 gap
    assert view.mosaic.step == 1 and (view.mosaic.rows, view.mosaic.cols) == (16, 16)
    assert view.mosaic.image.shape == (16 * 28 - 1, 16 * 28 - 1)
    assert_drawn(view.image, view.mosaic)
    # the worker tiles the shown layer with the pass, so the GUI thread only sets it: the
    # first pass tiled conv1 (nothing was selected); conv2 was tiled here on selection; the
    # next pass brings conv2 tiled
    assert live.controller.result.extra["mosaic"][0] == ("conv1", -1, True, view.max_pixels)
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        live.controller.submit()
    premade = live.controller.result.extra["mosaic"]
    assert premade[0] == ("conv2", -1, True, view.max_pixels) and view.mosaic is premade[1]
    # per channel (the default): each tile is its map stretched to [0, 1]
    stretched = normalise_channels(maps)
    for c in (0, 17, 255):
        np.testing.assert_allclose(tile_of(view, c), stretched[c], atol=1e-6)
    view.scaling.setCurrentText("shared")
    image = view.mosaic.image
    assert_drawn(view.image, view.mosaic)
    for c in (0, 1, 16, 100, 255):  # row-major tiles: channel c at row c // 16, column c % 16
        r, k = divmod(c, 16)
        np.testing.assert_array_equal(image[r * 28:r * 28 + 27, k * 28:k * 28 + 27], maps[c])
    assert np.isnan(image[27, :]).all() and np.isnan(image[:, 27]).all()  # the gaps
    assert view.mosaic.levels == pytest.approx((maps.min(), maps.max()))
    assert view.colorbar.levels() == pytest.approx((maps.min(), maps.max()))
    # a double-click enlarges one channel at full resolution
    click(view, view.scene_pos(100, 5, 5), double=True)
    assert view.shown == [100]
    np.testing.assert_array_equal(view.mosaic.image, maps[100])
    assert_drawn(view.image, view.mosaic)


def test_value_under_the_cursor(qtbot, live, alexnet):
    open_network(qtbot, live, alexnet.copy())
    view = live.feature_maps
    view.graphics.scene().sigMouseMoved.emit(view.scene_pos(7, 12, 30))
    value = live.controller.result.activations["conv1"][7, 12, 30]
    assert view.value_label.text() == f"conv1 · channel 7 · y 12, x 30 · {value:.5g}"


# ============================================================================ the overlay
def test_click_draws_the_hand_worked_windows(qtbot, live, alexnet):
    open_network(qtbot, live, alexnet.copy())
    doc, view = live.document, live.feature_maps
    # conv1 11×11 stride 4: output (0, 0) reads input rows 0..10, cols 0..10
    doc.select("conv1")
    click(view, view.scene_pos(3, 0, 0))
    assert live.controller.probe == Probe("conv1", 3, 0, 0)
    assert live.input_view.overlay.rects() == {"window": ((0, 10), (0, 10)),
                                               "field": ((0, 10), (0, 10))}
    # pool1 3×3 stride 2: (1, 1) reads conv1 rows 2..4; conv1 rows 2..4 read input rows
    # 2·4 = 8 .. 4·4 + 10 = 26
    doc.select("pool1")
    click(view, view.scene_pos(5, 1, 1))
    assert live.controller.probe == Probe("pool1", 5, 1, 1)
    assert live.kernel_window.overlay.rects()["window"] == ((2, 4), (2, 4))
    assert live.kernel_window.foot.source == "relu1"
    assert live.input_view.overlay.rects() == {"field": ((8, 26), (8, 26))}
    assert "rows 8..26, cols 8..26 (19×19)" in live.input_view.info.text()
    # the marker on the clicked pixel of the mosaic
    assert view.marker.isVisible()


def wrapped_height(label) -> int:
    """The height of a word-wrapped label's text at the label's width."""
    box = QRect(0, 0, label.contentsRect().width(), 10_000)
    return label.fontMetrics().boundingRect(box, Qt.TextFlag.TextWordWrap, label.text()).height()


def test_the_input_picture_keeps_its_size_when_its_caption_gets_shorter(qtbot, live, alexnet):
    """The caption under the input rewraps as the probe changes: the picture above it must
    not be resized (and relaid and redrawn) on every click."""
    open_network(qtbot, live, alexnet.copy())
    doc, view, inputs = live.document, live.feature_maps, live.input_view
    inputs.resize(560, 500)
    doc.select("conv1")
    click(view, view.scene_pos(3, 0, 0))  # the field and the kernel window: three lines
    QApplication.processEvents()
    caption = wrapped_height(inputs.info)
    picture = inputs.graphics.height()
    doc.select("pool1")
    click(view, view.scene_pos(5, 1, 1))  # the field alone: fewer lines
    QApplication.processEvents()
    assert inputs.info.text().endswith("rows 8..26, cols 8..26 (19×19)")
    assert wrapped_height(inputs.info) < caption
    assert inputs.graphics.height() == picture


def test_padding_and_dilation_windows_unclipped_in_numbers(qtbot, live):
    net = tiny([{"type": "conv", "name": "a", "filters": 4, "kernel": 3, "padding": 1},
                {"type": "conv", "name": "b", "filters": 4, "kernel": 3, "dilation": 2,
                 "padding": 2, "stride": 2}])
    open_network(qtbot, live, net)
    # b (0, 0): window on a: rows 0·2 − 2 .. −2 + (2·2 + 1) − 1 = −2..2 (taps −2, 0, 2);
    # a rows −2..2 read the input rows −3..3; drawn clipped to 0..3
    live.controller.set_probe(Probe("b", 1, 0, 0))
    window = live.kernel_window.overlay.rects()["window"]
    assert window == ((-2, 2), (-2, 2))
    assert live.input_view.overlay.rects() == {"field": ((0, 3), (0, 3))}
    assert "rows -3..3, cols -3..3 (7×7)" in live.input_view.info.text()
    step = live.kernel_window.foot.step
    assert list(step.taps_y) == [-2, 0, 2]
    # the weights are painted on the taps only (dilation 2: every other pixel)
    picture = live.kernel_window.overlay.weights.image
    assert picture.shape[:2] == (5, 5)
    assert (picture[::2, ::2, 3] > 0).all() and (picture[1::2, :, 3] == 0).all()


# ============================================================================ stale results
def test_an_edit_during_a_pass_never_shows_the_stale_maps(qtbot, live, alexnet):
    doc, controller = live.document, live.controller
    open_network(qtbot, live, alexnet.copy())
    doc.select("conv1")
    shown = []
    live.feature_maps.displayed.connect(shown.append)
    with qtbot.waitSignal(controller.passStarted, timeout=WAIT) as started:
        doc.undo_stack.push(SetValue(doc, doc.path_of("pool1"), "mode", "avg"))
    stale_id = started.args[0]
    assert controller.busy
    # edit while that pass is in flight: it becomes stale at once (its partial results
    # may have shown before, while they were current: conv1 comes before pool1)
    at_edit = len(shown)
    with qtbot.waitSignal(controller.resultReady, timeout=WAIT) as ready:
        doc.undo_stack.push(SetValue(doc, doc.path_of("conv1"), "filters", 64))
    final = ready.args[0]
    qtbot.wait(50)  # let any late signal of the stale pass arrive
    assert set(shown[:at_edit]) <= {stale_id} and shown[at_edit:] == [final.id]
    assert controller.cancelled + controller.dropped >= 1
    assert final.revision == doc.revision
    maps = core_forward(doc)["conv1"]
    assert maps.shape == (64, 55, 55)  # both edits are in
    live.feature_maps.scaling.setCurrentText("shared")
    np.testing.assert_array_equal(tile_of(live.feature_maps, 63), maps[63])


def test_a_result_for_an_older_request_is_dropped(qtbot, live):
    open_network(qtbot, live, tiny([{"type": "conv", "filters": 2, "kernel": 3}]))
    controller = live.controller
    old = controller.result
    shown = []
    live.feature_maps.displayed.connect(shown.append)
    with qtbot.waitSignal(controller.resultReady, timeout=WAIT):
        controller.submit()
    dropped = controller.dropped
    controller._finished(old)  # arrives late, as a pass finishing after an edit would
    assert controller.dropped == dropped + 1
    assert controller.result is not old and shown == [controller.result.id]


def test_the_worker_stops_a_stale_pass_between_layers(qtbot, live, alexnet, monkeypatch):
    controller = live.controller
    open_network(qtbot, live, alexnet.copy())
    seen = []  # the worker thread's questions
    latest = controller.runner.is_latest

    def is_latest(kind, job_id):
        if threading.current_thread() is threading.main_thread():
            return latest(kind, job_id)
        seen.append(job_id)
        return len(seen) < 4  # stale after the third question

    monkeypatch.setattr(controller.runner, "is_latest", is_latest)
    doc = live.document
    # an edit of the first layer (the same request again would reuse the last pass whole)
    with qtbot.waitSignal(controller.passCancelled, timeout=WAIT) as cancelled:
        doc.undo_stack.push(SetValue(doc, doc.path_of("conv1"), "filters", 32))
    assert cancelled.args == [controller.latest_id]
    assert len(seen) == 4  # asked before the job, before the pass, then before layers 1, 2


# ============================================================================ too large
def test_a_too_large_network_says_why_and_the_app_keeps_working(qtbot, live, alexnet):
    doc, controller = live.document, live.controller
    open_network(qtbot, live, alexnet.copy())
    with qtbot.waitSignal(controller.failed, timeout=WAIT) as failed:
        doc.undo_stack.push(SetInputValues(doc, {"height": 4096, "width": 4096}))
    message = failed.args[0]
    assert message.startswith("not run: one pass of batch 1 needs about") and "GiB" in message
    view = live.feature_maps
    assert view.stack.currentWidget() is view.message and view.message.text() == message
    assert controller.result is None and not controller.busy
    assert doc.image.shape == (3, 227, 227)  # no 4096×4096 image was made for nothing
    with qtbot.waitSignal(controller.resultReady, timeout=WAIT):
        doc.undo_stack.undo()
    assert view.stack.currentWidget() is view.graphics and view.tensor == "conv1"


# ============================================================================ step-through
def test_step_through_sum_is_the_forward_value(qtbot, live, alexnet):
    torch = needs_torch()

    open_network(qtbot, live, alexnet.copy())
    doc, stepper = live.document, live.kernel_window
    doc.select("conv1")
    # shown before any click: the centre of conv1's 55×55 maps
    assert live.controller.probe == Probe("conv1", 0, 27, 27)
    qtbot.mouseClick(stepper.next, Qt.MouseButton.LeftButton)
    stepper.step_by(1)
    assert live.controller.probe == Probe("conv1", 0, 27, 29)
    stepper.step_by(55)  # 55 pixels per row: one row on
    assert live.controller.probe == Probe("conv1", 0, 28, 29)
    live.controller.set_probe(Probe("conv1", 42, 1, 2))
    step = stepper.foot.step
    acts = core_forward(doc)
    assert step.total == pytest.approx(float(acts["conv1"][42, 1, 2]), rel=1e-5, abs=1e-6)
    assert step.forward == float(acts["conv1"][42, 1, 2])
    # the same value from torch, from the window the view shows (rows 4..14, cols 8..18)
    assert list(step.taps_y) == list(range(4, 15)) and list(step.taps_x) == list(range(8, 19))
    w = torch.from_numpy(doc.network.weights["conv1.weight"][42:43])
    x = torch.from_numpy(doc.image[None, :, 4:15, 8:19])
    assert step.total == pytest.approx(float(torch.nn.functional.conv2d(x, w)), abs=1e-5)
    np.testing.assert_allclose(step.window, doc.image[:, 4:15, 8:19], rtol=1e-6)
    # the text and the table show those numbers
    assert f"<b>{step.total:.6g}</b>" in stepper.sums.text()
    assert "✓ the same" in stepper.sums.text()
    k = step.channels.index(stepper.channel.value())
    assert stepper.table.item(3, 4).text() == f"{step.products[k, 3, 4]:.3g}" or \
        stepper.table.item(3, 4).text() == f"{step.products[k, 3, 4]:.1e}"
    # keys move it too
    stepper.setFocus()
    qtbot.keyClick(stepper, Qt.Key.Key_Left)
    assert live.controller.probe == Probe("conv1", 42, 1, 1)


def test_step_through_padded_grouped_conv(qtbot, live):
    net = tiny([{"type": "conv", "name": "g", "filters": 4, "kernel": 3, "padding": 1,
                 "groups": 2}], channels=4, size=6)
    open_network(qtbot, live, net)
    live.controller.set_probe(Probe("g", 3, 0, 5))  # corner: 5 of 9 taps in the padding
    step = live.kernel_window.foot.step
    assert step.channels == [2, 3]  # filter 3 is in the second group
    assert step.agrees and step.window[:, 0, :].sum() == 0 and step.window[:, :, 2].sum() == 0
    acts = core_forward(live.document)
    assert step.total == pytest.approx(float(acts["g"][3, 0, 5]), abs=1e-5)


def test_pool_step_and_play(qtbot, live, alexnet):
    open_network(qtbot, live, alexnet.copy())
    live.controller.set_probe(Probe("pool1", 7, 3, 4))
    step = live.kernel_window.foot.step
    relu1 = live.controller.result.activations["relu1"]
    assert step.total == relu1[7, 6:9, 8:11].max() == step.forward
    stepper = live.kernel_window
    stepper.play.setChecked(True)
    qtbot.waitUntil(lambda: live.controller.probe.x >= 6, timeout=WAIT)
    stepper.play.setChecked(False)
    assert live.controller.probe.y == 3


# ============================================================================ kernels
def test_kernel_view_rgb_filters_and_slices(qtbot, live, alexnet):
    open_network(qtbot, live, alexnet.copy())
    view = live.kernels
    live.document.select("conv1")
    w = live.document.network.weights["conv1.weight"]
    assert view.rgb and view.image.image.shape == (10 * 12 - 1, 10 * 12 - 1, 3)
    f = 13
    top, left = view.layout_mosaic.origin(f)
    expected = 0.5 + 0.5 * w[f].transpose(1, 2, 0) / np.abs(w[f]).max()
    np.testing.assert_allclose(view.image.image[top:top + 11, left:left + 11], expected,
                               rtol=1e-6)
    # double-click filter 13: its three slices, one per input channel
    view.click_at(view.scene_pos(f, 2, 2), double=True)
    assert view.mode.currentIndex() == 1 and view.filter.value() == f
    np.testing.assert_array_equal(view.layout_mosaic.image[:11, :11], w[f, 0])
    np.testing.assert_array_equal(view.layout_mosaic.image[:11, 12:23], w[f, 1])
    assert_drawn(view.image, view.layout_mosaic, WEIGHT_COLOURS)  # blue–white–red, ±max|w|
    # a deeper layer: one input channel of every filter
    live.document.select("conv2")
    w2 = live.document.network.weights["conv2.weight"]
    view.mode.setCurrentIndex(0)
    view.slice.setValue(5)
    assert not view.rgb
    np.testing.assert_array_equal(view.layout_mosaic.image[:5, 6:11], w2[1, 5])
    assert_drawn(view.image, view.layout_mosaic, WEIGHT_COLOURS)


def test_classic_filters_are_an_undoable_edit(qtbot, live):
    doc = live.document
    net = Network.load(preset_path("lenet5"))
    open_network(qtbot, live, net, preset_path("lenet5"))
    assert doc.image.shape == (1, 32, 32)  # greyscale for a 1-channel network
    assert live.kernels.banner.isVisibleTo(live.kernels)
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        qtbot.mouseClick(live.kernels.classic, Qt.MouseButton.LeftButton)
    assert doc.undo_stack.undoText() == "Classic filters for c1"  # LeNet-5's C1
    bank = classic_filters(6, 1, 5, 5, seed=doc.network.seed)
    np.testing.assert_array_equal(doc.network.weights["c1.weight"], bank)
    np.testing.assert_array_equal(live.controller.result.network.weights["c1.weight"], bank)
    assert not live.kernels.banner.isVisibleTo(live.kernels)
    acts = core_forward(doc)
    np.testing.assert_allclose(live.controller.result.activations["c1"], acts["c1"],
                               rtol=1e-6)
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        doc.undo_stack.undo()
    assert "c1.weight" not in doc.network.weights
    assert not np.array_equal(live.controller.result.network.weights["c1.weight"], bank)


# ============================================================================ blocks, vectors
def test_blocks_show_their_branches(qtbot, live):
    net = tiny([
        {"type": "conv", "name": "stem", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "concat", "name": "mix", "branches": [
            [{"type": "conv", "name": "b1", "filters": 2, "kernel": 1}],
            [{"type": "conv", "name": "b3a", "filters": 3, "kernel": 3, "padding": 1},
             {"type": "relu", "name": "b3r"}],
            []]},
        {"type": "residual", "name": "res", "body": [
            {"type": "conv", "name": "body", "filters": 9, "kernel": 3, "padding": 1}]},
    ])
    open_network(qtbot, live, net)
    view, doc = live.feature_maps, live.document
    doc.select("mix")
    items = [view.branch.itemText(k) for k in range(view.branch.count())]
    assert items == ["mix (block output)", "branches[0] → b1", "branches[1] → b3r",
                     "branches[2]: identity (the block's input)"]
    assert view.maps.shape == (9, 16, 16)
    view.select_branch("b3r")
    assert view.tensor == "b3r" and view.maps.shape == (3, 16, 16)
    view.branch.setCurrentIndex(3)
    view.refresh()
    assert view.tensor == "stem"
    doc.select("res")
    assert [view.branch.itemData(k) for k in range(view.branch.count())] == \
        ["res", "body", "mix"]  # an empty shortcut is the identity: the block's input
    # the first layer of a branch reads what the block reads
    live.controller.set_probe(Probe("b3a", 0, 0, 0))
    assert live.kernel_window.foot.source == "stem"


def test_vector_bars_and_softmax_top_classes(qtbot, live):
    net = tiny([{"type": "conv", "filters": 4, "kernel": 3}, {"type": "fc", "name": "fc",
                                                               "units": 12},
                {"type": "softmax", "name": "prob"}])
    open_network(qtbot, live, net)
    view, doc = live.feature_maps, live.document
    doc.select("fc")
    scores = live.controller.result.activations["fc"][:, 0, 0]
    assert view.stack.currentWidget() is view.vector_page
    np.testing.assert_array_equal(view.bars.opts["height"], scores)
    assert not view.top.isVisibleTo(view)
    doc.select("prob")
    p = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    order = np.argsort(p)[::-1][:5]
    assert [k for k, _ in view.top_classes()] == list(order)
    assert view.top.item(1).text() == f"class {order[0]}: {p[order[0]]:.1%}"


# ============================================================================ class names
def choose_sample(qtbot, live, text):
    """Pick a bundled picture from the Input panel's chooser, as a click would."""
    chooser = live.input_view.samples
    index = chooser.findText(text)
    assert index >= 0, text
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        chooser.setCurrentIndex(index)
        chooser.activated.emit(index)


def test_trained_network_lists_its_top_classes_by_name(qtbot, live):
    """The trained network opens (as a preset does: unsaved) on its own sample picture of
    its input size; its last layer lists the top 5 as "name (index): p", p the softmax of
    the scores the core computes on that picture, and the top one is the picture's class."""
    net = Network.load(ARCHITECTURES / "shapes_cnn.json")
    labels = read_labels(ARCHITECTURES / "shapes_cnn.labels.txt")
    open_network(qtbot, live, net.copy(), None)
    doc, view = live.document, live.feature_maps
    circle = NETWORK_SAMPLES / "shapes_cnn-circle.png"
    assert doc.image_source == str(circle)
    assert live.input_view.samples.currentText() == "circle (shapes_cnn)"
    np.testing.assert_array_equal(doc.image, load_image(circle, net.input))
    doc.select("fc")
    scores = net.forward(doc.image[None])["fc"][0, :, 0, 0]
    p = softmax_forward(scores[None])[0][0]  # (out, cache)
    order = np.argsort(p)[::-1][:5]
    texts = [view.top.item(k).text() for k in range(view.top.count())]
    assert texts == ["top 5 classes (softmax)"] + [f"{labels[k]} ({k}): {p[k]:.1%}"
                                                   for k in order]
    assert texts[1].startswith("circle (0): ")
    # six classes: each bar is labelled with its name (pyqtgraph keeps the ticks given)
    assert view.plot.getAxis("bottom")._tickLevels == [list(enumerate(labels))]
    # another network takes its own default picture, not the trained network's sample
    other = tiny([{"type": "conv", "filters": 2, "kernel": 3}], size=64)
    open_network(qtbot, live, other)
    assert doc.image_source == str(SAMPLES / "shapes.png")
    open_network(qtbot, live, net.copy(), None)
    assert doc.image_source == str(circle)
    doc.select("fc")
    for name in labels:  # every sample, chosen in the Input panel, is its class
        choose_sample(qtbot, live, f"{name} (shapes_cnn)")
        assert view.top.item(1).text().startswith(f"{name} ({labels.index(name)}): "), name
    # a picture the user chose stays when another network opens
    open_network(qtbot, live, other.copy())
    assert doc.image_source == str(NETWORK_SAMPLES / f"shapes_cnn-{labels[-1]}.png")


def test_a_labels_file_of_the_wrong_count_is_named_in_the_list(qtbot, live, tmp_path):
    net = tiny([{"type": "conv", "filters": 2, "kernel": 3}, {"type": "fc", "name": "fc",
                                                               "units": 3}])
    (tmp_path / "tiny.labels.txt").write_text("cat\ndog\n", "utf-8")
    open_network(qtbot, live, net, tmp_path / "tiny.json")
    live.document.select("fc")
    top = live.feature_maps.top
    assert top.item(1).text().startswith("class ")
    assert top.item(top.count() - 1).text() == (
        "tiny.labels.txt has 2 names but the network has 3 outputs; class numbers shown "
        "instead")


# ============================================================================ input
def test_open_drop_and_a_bad_file(qtbot, live, tmp_path, monkeypatch):
    open_network(qtbot, live, tiny([{"type": "conv", "filters": 2, "kernel": 3}],
                                   extra={"input": {"channels": 3, "height": 16, "width": 16,
                                                    "mean": [0.5, 0.5, 0.5],
                                                    "std": [0.25, 0.25, 0.25]}}))
    doc = live.document
    red = QImage(40, 20, QImage.Format.Format_RGB888)
    red.fill(Qt.GlobalColor.red)
    path = tmp_path / "red.png"
    assert red.save(str(path))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        qtbot.mouseClick(live.input_view.open_button, Qt.MouseButton.LeftButton)
    # red (1, 0, 0) normalised by mean 0.5 and std 0.25: (2, −2, −2) everywhere
    np.testing.assert_allclose(doc.image[:, 5, 5], [2.0, -2.0, -2.0])
    assert doc.image.shape == (3, 16, 16) and doc.image_source == str(path)
    assert live.input_view.image.image[3, 3].tolist() == [255, 0, 0]  # drawn as it is

    blue = tmp_path / "blue.png"
    red.fill(Qt.GlobalColor.blue)
    assert red.save(str(blue))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(blue))])
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        accepted, drop = send_drop_on(live.input_view.graphics.viewport(), mime, QPoint(20, 20))
    assert accepted and drop.isAccepted()
    np.testing.assert_allclose(doc.image[:, 0, 0], [-2.0, -2.0, 2.0])

    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")
    assert not live.input_view.use(str(junk))
    assert live.input_view.info.text().endswith("not an image that can be read (PNG, JPEG, "
                                                "BMP, ...)")
    assert doc.image_source == str(blue)  # the old picture stays


# ============================================================================ export
def test_export_maps_kernels_and_window(qtbot, live, alexnet, tmp_path, monkeypatch):
    open_network(qtbot, live, alexnet.copy())
    target = {}
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / target["name"]), ""))
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: pytest.fail(str(a)))
    view = live.feature_maps
    view.scaling.setCurrentText("shared")
    target["name"] = "maps"  # the suffix is added
    written = view.export_dialog()
    assert written == str(tmp_path / "maps.png")
    image = QImage(written)
    mosaic = view.mosaic
    factor = image.width() // mosaic.image.shape[1]
    assert factor >= 1 and image.width() == factor * mosaic.image.shape[1] >= 512
    # the brightest pixel of the mosaic is the colour map's top colour
    r, c = np.unravel_index(np.nanargmax(mosaic.image), mosaic.image.shape)
    top = view.colorbar.colorMap().map(1.0, mode="byte")
    assert image.pixelColor(c * factor, r * factor).getRgb()[:3] == tuple(top[:3])
    # every map pixel has the colour the screen draws there (the gaps: dark grey, opaque)
    view.image.render()
    screen = qimage_to_array(view.image.qimage, 3)
    saved = qimage_to_array(image, 3)[::factor, ::factor]
    maps = np.isfinite(mosaic.image)
    assert screen.shape == saved.shape == maps.shape + (3,)
    np.testing.assert_array_equal(saved[maps], screen[maps])
    assert (saved[~maps] == 40).all()

    target["name"] = "kernels.png"
    written = live.kernels.export_dialog()
    assert QImage(written).width() >= 512

    live.controller.set_probe(Probe("conv1", 0, 2, 2))
    target["name"] = "window.png"
    written = live.kernel_window.export_dialog()
    assert not QImage(written).isNull()


def test_install_on_the_main_window(qtbot, tmp_path):
    from convscope.gui.mainwindow import MainWindow

    window = MainWindow(restore_layout=False, autosave=False)  # builds its parts itself
    qtbot.addWidget(window)
    live = window.activations
    try:
        assert {"Input", "Feature maps", "Kernels", "Kernel window"} <= set(window.docks)
        for name in ("inputView", "featureMapView", "kernelView"):
            assert window.findChild(type(getattr(live, {
                "inputView": "input_view", "featureMapView": "feature_maps",
                "kernelView": "kernels"}[name])), name) is not None
        texts = [a.text() for a in window.menu("Network").actions()]
        assert "Classic filters for conv1" in texts and "Load weights…" in texts
        with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
            window.document.replace_network(Network.load(preset_path("lenet5")), None)
        assert live.feature_maps.tensor == "c1"
    finally:
        live.close()


def test_load_weights_shows_the_real_ones(qtbot, live, tmp_path, monkeypatch):
    open_network(qtbot, live, tiny([{"type": "conv", "name": "c", "filters": 2, "kernel": 3}]))
    doc = live.document
    path = tmp_path / "real.npz"
    np.savez(path, **{"c.weight": np.full((2, 3, 3, 3), 0.5, np.float32),
                      "c.bias": np.array([1.0, -1.0], np.float32)})
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        assert live.load_weights_dialog() == ""
    assert doc.undo_stack.undoText() == "Load weights real.npz"
    maps = live.controller.result.activations["c"]
    x = doc.image.astype(np.float64)
    # by hand: every weight is 0.5, so the output is half the window's sum plus the bias
    assert maps[0, 4, 7] == pytest.approx(0.5 * x[:, 4:7, 7:10].sum() + 1.0, rel=1e-6)
    assert maps[1, 0, 0] == pytest.approx(0.5 * x[:, 0:3, 0:3].sum() - 1.0, rel=1e-6)

    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"c.weight": np.zeros((2, 3, 5, 5), np.float32),
                     "c.bias": np.zeros(2, np.float32)})
    warnings = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))
    problem = live.load_weights_dialog()
    assert warnings == [problem] and problem.endswith(
        "'c.weight' has shape (2, 3, 5, 5) but the network needs (2, 3, 3, 3)")
    assert doc.undo_stack.undoText() == "Load weights real.npz"  # nothing was pushed


def test_a_network_of_other_channel_counts_gets_grey_in_each(qtbot, live):
    open_network(qtbot, live, tiny([{"type": "conv", "filters": 2, "kernel": 3}], channels=2))
    image = live.document.image
    assert image.shape == (2, 16, 16)
    np.testing.assert_array_equal(image[0], image[1])
    assert image.std() > 0.05


# ============================================================================ in the window
def window_with_parts(make_window, qtbot, preset="alexnet"):
    """The window as the app starts it: the designer shown first, the parts added after."""
    window = make_window(restore_layout=False, autosave=False)
    window.add_parts()
    live = window.activations
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        window.open_path(preset_path(preset), quiet=True)
    return window, live


def bring_to_front(qtbot, window, title, view):
    """Click the dock's tab, as a user would to look at it; wait until it is on screen and
    has caught up with what it missed behind the tab (gui.lazy)."""
    window.docks[title].raise_()
    qtbot.waitUntil(lambda: on_screen(view) and not view._follow.stale, timeout=WAIT)


def click_card(window, name):
    """A real click on a layer's card in the pipeline."""
    view = window.pipeline
    card = view.cards[name]
    view.ensureVisible(card)
    QApplication.processEvents()
    point = view.mapFromScene(card.sceneBoundingRect().center())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    QApplication.processEvents()
    assert window.document.selected == name


def test_the_gradients_panel_behind_its_tab_makes_its_class_list_when_shown(
        qtbot, make_window):
    """Its 1000 ImageNet classes were listed again after every pass, seen or not."""
    window, live = window_with_parts(make_window, qtbot)
    try:
        gradients = live.gradients
        assert not on_screen(gradients) and gradients.classes.count() == 0
        bring_to_front(qtbot, window, "Gradients", gradients)
        qtbot.waitUntil(lambda: gradients.classes.count() == 1000, timeout=WAIT)
        scores = live.controller.result.activations["fc8"]
        assert gradients.classes.currentIndex() == int(np.argmax(scores))  # the top class
    finally:
        window.document.undo_stack.setClean()
        window.close()


def test_the_live_views_follow_the_selected_layer(qtbot, make_window):
    window, live = window_with_parts(make_window, qtbot)
    try:
        # conv1 (selected on opening) is 55×55: its centre pixel, channel 0
        assert live.controller.probe == Probe("conv1", 0, 27, 27)
        # the kernel window sits behind the Summary tab: it draws nothing until it shows
        assert not on_screen(live.kernel_window) and live.kernel_window.foot is None
        bring_to_front(qtbot, window, "Kernel window", live.kernel_window)
        assert live.kernel_window.foot.layer == "conv1"
        click_card(window, "conv2")
        # conv2 is 27×27; by hand, its (13, 13) reads norm1/pool1 rows 11..15 (5×5, pad 2),
        # pool1 (3×3 /2) reads conv1 rows 22..32, conv1 (11×11 /4) input rows 88..138
        assert live.controller.probe == Probe("conv2", 0, 13, 13)
        assert live.kernel_window.foot.layer == "conv2"
        assert live.kernel_window.overlay.rects()["window"] == ((11, 15), (11, 15))
        text = live.kernel_window.info.text()
        assert text.startswith("<b>conv2</b> channel 0 at (y 13, x 13)")
        assert "Click a pixel in the Feature maps panel to pick another" in text
        assert live.input_view.overlay.rects() == {"field": ((88, 138), (88, 138))}
        assert live.input_view.info.text().startswith(
            "conv2 (13, 13) sees the input's rows 88..138, cols 88..138 (51×51)")
        # a pixel clicked on the selected layer stays until another layer is selected
        view = live.feature_maps
        click(view, view.scene_pos(5, 2, 3))
        assert live.controller.probe == Probe("conv2", 5, 2, 3)
        click_card(window, "pool1")  # 27×27 too
        assert live.controller.probe == Probe("pool1", 0, 13, 13)
        assert live.kernel_window.foot.source == "relu1"
    finally:
        window.document.undo_stack.setClean()
        window.close()


def test_computing_coming_and_going_does_not_relay_the_window(qtbot, make_window):
    window, live = window_with_parts(make_window, qtbot)
    QApplication.processEvents()
    requests = EventCount(window, QEvent.Type.LayoutRequest)
    try:
        for busy in (True, False, True, False):  # as every pass does
            live.controller._set_busy(busy)
            QApplication.processEvents()
        assert live.feature_maps.status.text() == "" and requests.count == 0
    finally:
        window.removeEventFilter(requests)
        window.document.undo_stack.setClean()
        window.close()


def test_kernel_texts_and_labels_match_the_layer_shown(qtbot, make_window):
    window, live = window_with_parts(make_window, qtbot)
    kernels = live.kernels
    try:
        bring_to_front(qtbot, window, "Kernels", kernels)
        # conv1 reads the RGB image and has seeded weights: the offer names it
        assert kernels.slice.text() == "RGB" and kernels.rgb
        assert not kernels.banner.isHidden()
        assert kernels.banner_text.text().startswith("conv1 has seeded random (He) weights")
        click_card(window, "conv2")  # 256 filters of 5×5×96: no RGB, no offer
        assert kernels.title.title == "<b>conv2</b> · 256 filters of 5×5×96"
        assert kernels.slice.value() == 0 and kernels.slice.text() == "0"
        assert kernels.banner.isHidden()
        click_card(window, "conv1")  # back: RGB again, although conv2 had no RGB
        assert kernels.slice.text() == "RGB" and kernels.rgb
        assert not kernels.banner.isHidden()
    finally:
        window.document.undo_stack.setClean()
        window.close()


def test_a_newly_opened_network_is_named_and_fitted(qtbot, make_window):
    window, live = window_with_parts(make_window, qtbot)
    try:
        zoom_in = next(a for a in window.menu("View").actions() if a.text() == "Zoom &In")
        zoom_in.trigger()
        zoom_in.trigger()
        assert window.pipeline.transform().m11() == pytest.approx(1.15 ** 2)
        with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
            window.open_path(preset_path("lenet5"), quiet=True)
            # while LeNet-5 runs, the headers name its first layer, not AlexNet's conv1
            assert live.feature_maps.message.text() == "Running LeNet-5…"
            assert live.feature_maps.title.title == "<b>c1</b> · LeNet-5"
            assert live.kernels.title.title == "<b>c1</b> · LeNet-5"
        # LeNet-5's pipeline fits at 100%: AlexNet's zoom is not carried over
        assert window.pipeline.transform().m11() == pytest.approx(1.0)
        assert live.feature_maps.title.title == "<b>c1</b> · 28x28x6 · conv"
    finally:
        window.document.undo_stack.setClean()
        window.close()


def test_the_feature_maps_get_most_of_the_right_column_and_stay_put(qtbot, make_window):
    """As the app starts (the parts join the shown window), the maps get at least half of
    the right-hand column, the same room as in --screenshot; selecting layers whose names
    and inspectors differ moves nothing."""
    window, live = window_with_parts(make_window, qtbot)
    try:
        docks = window.docks
        QApplication.processEvents()

        def sizes():
            return {name: docks[name].geometry() for name in
                    ("Inspector", "Feature maps", "Input", "Palette", "Summary")}

        maps, inspector = docks["Feature maps"].height(), docks["Inspector"].height()
        assert maps >= (maps + inspector) / 2
        assert docks["Feature maps"].width() >= 500
        before = sizes()
        for name in ("relu1", "pool1", "norm1", "conv2", "fc6", "fc8", "conv1"):
            click_card(window, name)
            assert sizes() == before, name
    finally:
        window.document.undo_stack.setClean()
        window.close()


def test_the_input_image_is_made_off_the_gui_thread(qtbot, live, tmp_path, monkeypatch):
    """Scaling a picture to a large input takes seconds (10000×10000: 3–11 s): it is done
    on the worker, and the input view draws a large image from every n-th pixel."""
    import convscope.gui.activations.controller as controller_module

    threads = []

    def recording(picture, spec):
        threads.append(threading.current_thread())
        return load_image_for(picture, spec)

    load_image_for = controller_module.image_for
    monkeypatch.setattr(controller_module, "image_for", recording)
    open_network(qtbot, live, tiny([{"type": "pool", "name": "p", "kernel": 2}]))
    doc = live.document
    picture = QImage(40, 20, QImage.Format.Format_RGB888)
    picture.fill(Qt.GlobalColor.green)
    path = tmp_path / "green.png"
    assert picture.save(str(path))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    made = len(threads)
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        qtbot.mouseClick(live.input_view.open_button, Qt.MouseButton.LeftButton)
    assert len(threads) == made + 1
    np.testing.assert_allclose(doc.image[:, 8, 8], [0.0, 1.0, 0.0])  # green, no mean/std
    # a larger input, as the inspector sets it: made again, off the GUI thread too
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        doc.undo_stack.push(SetInputValues(doc, {"height": 2100, "width": 2100}))
    assert doc.image.shape == (3, 2100, 2100)
    np.testing.assert_allclose(doc.image[:, 1000, 1000], [0.0, 1.0, 0.0])
    assert len(threads) == made + 2 and threading.main_thread() not in threads
    # drawn from every 2nd pixel (at most 2048 across), over the full 2100×2100
    shown = live.input_view.image
    assert shown.image.shape == (1050, 1050, 3)
    rect = shown.mapRectToParent(shown.boundingRect())
    assert (rect.width(), rect.height()) == (2100, 2100)
    assert live.controller.result.activations["p"].shape == (3, 1050, 1050)


def test_the_kernel_window_draws_the_part_of_a_large_map_around_the_window():
    from convscope.gui.activations.stepper import CROP, crop_origin

    assert CROP == 2048
    # a map that fits is drawn whole
    assert crop_origin(((0, 10), (5, 15)), (227, 227), None) == (0, 0)
    # 10000×10000: centred on the window (rows 4990..5000 → 4995 − 1024), cut at the edges
    assert crop_origin(((4990, 5000), (10, 20)), (10000, 10000), None) == (3971, 0)
    assert crop_origin(((9990, 10002), (-1, 9)), (10000, 10000), None) == (7952, 0)
    # kept while the window stays inside the part drawn; moved when it leaves it
    shown = ("id", "input", 0, True, 3971, 0)
    assert crop_origin(((5990, 6000), (30, 40)), (10000, 10000), shown) == (3971, 0)
    assert crop_origin(((6010, 6020), (30, 40)), (10000, 10000), shown) == (4991, 0)


# ============================================================================ progressive
def test_new_maps_are_set_at_once_and_paint_in_a_later_turn(qtbot, live, alexnet):
    """The maps a result brings are the view's at once (maps, mosaic, title), but paint in
    a later turn of the event loop: painted in the batch that brought them, they painted
    two or three times there (18 + 7 + 6 ms of a first open's stall)."""
    doc, controller, view = live.document, live.controller, live.feature_maps
    open_network(qtbot, live, alexnet.copy())
    doc.select("conv1")
    qtbot.waitUntil(view.stack.updatesEnabled)
    with qtbot.waitSignal(view.displayed, timeout=WAIT):
        doc.undo_stack.push(SetValue(doc, doc.path_of("conv1"), "filters", 48))
    paints = EventCount(view.graphics.viewport(), QEvent.Type.Paint)  # from the maps' arrival
    assert view.maps.shape == (48, 55, 55) and view.mosaic.image.shape[0] > 55
    assert "conv1</b> · 55x55x48" in view.title.title
    assert not view.stack.updatesEnabled() and paints.count == 0  # not painted yet
    qtbot.waitUntil(view.stack.updatesEnabled)
    qtbot.waitUntil(lambda: paints.count > 0)
    with qtbot.waitSignal(controller.resultReady, timeout=WAIT):
        pass  # the pass ends; its final result holds the same maps: not painted again
    qtbot.waitUntil(lambda: not view.paint_turns.waiting)


def test_the_selected_layer_shows_before_the_pass_ends(qtbot, live, alexnet):
    """A partial result paints conv1 while later layers still run; the final result then
    brings the same maps (not painted again), and an edit of conv5 keeps conv1's maps."""
    doc, controller, view = live.document, live.controller, live.feature_maps
    open_network(qtbot, live, alexnet.copy())
    doc.select("conv1")
    painted = []  # (result id, complete, the layers the result held) at each paint
    view.displayed.connect(lambda rid: painted.append(
        (rid, controller.result.complete, set(controller.result.activations))))
    with qtbot.waitSignal(controller.resultReady, timeout=WAIT) as ready:
        doc.undo_stack.push(SetValue(doc, doc.path_of("conv1"), "filters", 48))
    final = ready.args[0]
    [(rid, complete, layers)] = painted  # painted once, from a partial result
    assert rid == final.id and not complete and "fc8" not in layers and "conv1" in layers
    assert view.maps is final.activations["conv1"]
    np.testing.assert_allclose(final.activations["conv1"], core_forward(doc)["conv1"],
                               rtol=1e-6, atol=1e-6)
    before = final.activations["conv1"]
    painted.clear()
    with qtbot.waitSignal(controller.resultReady, timeout=WAIT) as ready:
        doc.undo_stack.push(SetValue(doc, doc.path_of("conv5"), "filters", 128))
    again = ready.args[0]
    assert again.activations["conv1"] is before  # kept from the last pass, not recomputed
    [(rid, complete, layers)] = painted
    assert rid == again.id and "conv5" not in layers  # shown before conv5 ran
    expected = core_forward(doc)
    for name in ("conv5", "fc8"):
        np.testing.assert_allclose(again.activations[name], expected[name], rtol=1e-5,
                                   atol=1e-5)
