"""The kernel window's backward mode and the Gradients panel, driven as a person would:
the pass combo, ◀ ▶, the class combo, the table's mode; every shown value checked against
hand-worked numbers on a tiny network (tests/test_backprop_core.py works them out) and
against Network.backward."""

import re
import threading

import numpy as np
import pytest
from convscope.core.network import Network
from convscope.gui.activations import Activations
from convscope.gui.document import Document
from PySide6.QtCore import Qt
from test_backprop_core import GEOMETRIES, POOLS, X, tiny_network

WAIT = 60_000  # ms

# the tiny network's gradients for class 0 and class 1, by hand (test_backprop_core)
DX = {0: [[1, 0, 0, 0], [0, -1, 1, 0], [0, 0, 0, -1], [0, 0, 0, 0]],
      1: [[0, 0, 0, 0], [0, 0, 1, 0], [-1, 0, 0, -1], [0, 1, 0, 0]]}
DW = {0: [[4, 2], [1, 2]], 1: [[1, 0], [0, 0]]}
DB = {0: 2, 1: 0}
DCONV = {0: [[1, 0, 0], [0, 0, 1], [0, 0, 0]], 1: [[0, 0, 0], [0, 0, 1], [-1, 0, 0]]}


@pytest.fixture
def live(qtbot):
    acts = Activations(Document())
    for view in (acts.kernel_window, acts.gradients):
        qtbot.addWidget(view)
        view.resize(1000, 600)
        view.show()
    yield acts
    acts.close()


def open_network(qtbot, live, net, image):
    """Open ``net`` (it first runs on a sample picture, made on the worker), then run it
    on ``image``."""
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        live.document.replace_network(net, None)
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        live.document.set_image(image, "test image")
    np.testing.assert_array_equal(live.controller.result.activations["input"], image)


def choose(qtbot, combo, index, signal=None):
    """Pick an item as a person does (the combo's activated signal too)."""
    def pick():
        combo.setCurrentIndex(index)
        combo.activated.emit(index)

    if signal is None:
        pick()
    else:
        with qtbot.waitSignal(signal, timeout=WAIT):
            pick()


def go_backward(qtbot, live, kind):
    stepper = live.kernel_window
    index = stepper.direction.findData(kind)
    assert index > 0, [stepper.direction.itemText(k) for k in range(stepper.direction.count())]
    if live.passes.current() is None:
        choose(qtbot, stepper.direction, index, live.passes.ready)
    else:
        choose(qtbot, stepper.direction, index)
    assert stepper.backward_kind() == kind


def shown_total(stepper, name):
    """The total the sums line shows (``dx = <b>…</b>``), and that it says it agrees."""
    text = stepper.sums.text()
    assert "✓ the same" in text, text
    return float(re.search(rf"{name} = <b>([^<]+)</b>", text).group(1))


def shown_backward(stepper):
    return float(re.search(r"backward pass: (\S+)", stepper.sums.text()).group(1))


def table(stepper):
    t = stepper.table
    return [[float(t.item(i, j).text()) for j in range(t.columnCount())]
            for i in range(t.rowCount())]


def click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def network_backward(net, image, channel):
    """Network.backward of a one-hot at ``channel`` on a fresh copy (independent of the GUI)."""
    net = net.copy()
    out = net.forward(image[None])[net.layers[-1].name]
    grad_out = np.zeros_like(out)
    grad_out[0, channel] = 1
    return net, net.backward(grad_out)


def test_conv_dx_dw_db_stepped_by_hand(qtbot, live):
    open_network(qtbot, live, tiny_network(), X[None])
    stepper = live.kernel_window
    assert live.controller.probe.layer == "conv1"
    go_backward(qtbot, live, "dx")
    assert stepper.back_class.currentText() == "class 0"  # the top class (score 3)
    # the probe's window starts at (1, 1): dout [[1, 0], [0, 0]] meets the flipped kernel
    # [[−1, 0], [0, 1]] there, so dx = −1
    assert stepper.back.index == (0, 1, 1)
    assert shown_total(stepper, "dx") == -1
    assert table(stepper) == [[-1, 0], [0, 0]]
    stepper.mode.setCurrentIndex(stepper.mode.findText("dout"))
    assert table(stepper) == [[1, 0], [0, 0]]
    stepper.mode.setCurrentIndex(stepper.mode.findText("flipped w"))
    assert table(stepper) == [[-1, 0], [0, 1]]
    # ▶ through all 16 input pixels, in reading order from (1, 1)
    _, reference = network_backward(tiny_network(), X[None], 0)
    for k in range(16):
        click(qtbot, stepper.next)
        flat = (1 * 4 + 1 + k + 1) % 16
        i, j = divmod(flat, 4)
        assert stepper.back.index == (0, i, j)
        assert shown_total(stepper, "dx") == DX[0][i][j]
        assert abs(shown_backward(stepper) - reference["input"][0, 0, i, j]) <= 1e-5

    go_backward(qtbot, live, "dW")
    assert stepper.back.index == (0, 0, 0, 0)
    for u, v in ((0, 0), (0, 1), (1, 0), (1, 1)):
        assert stepper.back.index[2:] == (u, v)
        assert shown_total(stepper, "dW") == DW[0][u][v]
        assert abs(shown_backward(stepper) - reference["conv1.weight"][0, 0, u, v]) <= 1e-5
        if (u, v) == (1, 0):  # the input under tap (1, 0) at every output position
            stepper.mode.setCurrentIndex(stepper.mode.findText("x"))
            assert table(stepper) == [[0, 1, 3], [2, 0, 1], [1, 1, 0]]
            stepper.mode.setCurrentIndex(stepper.mode.findText("dout"))
            assert table(stepper) == DCONV[0]
        click(qtbot, stepper.next)
    assert stepper.back.index[2:] == (0, 0)  # round again

    go_backward(qtbot, live, "db")
    assert shown_total(stepper, "db") == DB[0] == reference["conv1.bias"][0]


def test_another_class_and_the_pool_switches(qtbot, live):
    open_network(qtbot, live, tiny_network(), X[None])
    stepper = live.kernel_window
    go_backward(qtbot, live, "dW")
    choose(qtbot, stepper.back_class, 1, live.passes.ready)
    assert stepper.back_class.currentText() == "class 1"
    _, reference = network_backward(tiny_network(), X[None], 1)
    for u, v in ((0, 0), (0, 1), (1, 0), (1, 1)):
        assert shown_total(stepper, "dW") == DW[1][u][v]
        assert abs(shown_backward(stepper) - reference["conv1.weight"][0, 0, u, v]) <= 1e-5
        click(qtbot, stepper.next)
    go_backward(qtbot, live, "dx")
    assert shown_total(stepper, "dx") == DX[1][1][1]

    # the pool's dx: selecting it keeps the backward dx question
    live.document.select("pool1")
    assert stepper.backward_kind() == "pool dx"
    assert stepper.back.index == (0, 1, 1)  # the top left of the probe's window
    # conv (1, 1) lies in all four windows and is none's switch: nothing comes back
    stepper.mode.setCurrentIndex(stepper.mode.findText("share"))
    assert table(stepper) == [[0, 0], [0, 0]]
    assert shown_total(stepper, "dx") == 0
    click(qtbot, stepper.next)
    # conv (1, 2): the switch of windows (0, 1) and (1, 1), whose douts are 1 and 0
    assert stepper.back.index == (0, 1, 2)
    assert table(stepper) == [[1], [1]]
    stepper.mode.setCurrentIndex(stepper.mode.findText("dout"))
    assert table(stepper) == [[1], [0]]
    assert shown_total(stepper, "dx") == DCONV[1][1][2] == 1
    click(qtbot, stepper.next)  # the 3×3 map's next row
    assert stepper.back.index == (0, 2, 0)  # the switch of window (1, 0) only: dout −1
    assert table(stepper) == [[-1]]
    assert shown_total(stepper, "dx") == DCONV[1][2][0] == -1

    # back to forward: the forward step's table and sum again
    choose(qtbot, stepper.direction, stepper.direction.findData("forward"))
    assert not stepper.backward_kind() and "forward pass" in stepper.sums.text()


def test_gradient_maps_show_the_gradients(qtbot, live):
    open_network(qtbot, live, tiny_network(), X[None])
    view, passes = live.gradients, live.passes
    live.document.select("conv1")
    if passes.current() is None:
        with qtbot.waitSignal(passes.ready, timeout=WAIT):
            pass
    text = view.stats.text()
    assert "dout: min 0 · max 1 · mean |g| 0.2222" in text
    assert "dW: min 1 · max 4 · mean |g| 2.25" in text
    # the mosaics drawn hold the gradients themselves
    assert np.nanmin(view.mosaics["dout"].image) == 0
    assert np.nanmax(view.mosaics["dout"].image) == 1
    np.testing.assert_array_equal(view.mosaics["dW"].image, DW[0])
    choose(qtbot, view.classes, 1, passes.ready)
    assert "dout: min -1 · max 1" in view.stats.text()
    np.testing.assert_array_equal(view.mosaics["dout"].image, DCONV[1])
    # the class choice is one for both views
    assert live.kernel_window.back_class.currentText() == "class 1"
    live.document.select("fc1")  # a vector: its dout is the one-hot
    assert "dout: min 0 · max 1 · mean |g| 0.5" in view.stats.text()
    assert "dW" not in view.stats.text() and not view.slice.isEnabled()


def test_backward_runs_on_the_worker_and_stale_passes_are_dropped(qtbot, live, monkeypatch):
    import convscope.gui.activations.gradients as gradients

    threads = []
    real = gradients.class_gradients

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(gradients, "class_gradients", recorded)
    open_network(qtbot, live, tiny_network(), X[None])
    stepper = live.kernel_window
    go_backward(qtbot, live, "dx")
    assert threads and threading.main_thread() not in threads
    # a new image: the next result brings its own pass, the old gradients are not reused
    with qtbot.waitSignal(live.passes.ready, timeout=WAIT):
        live.document.set_image(-X[None], "negated")
    assert live.passes.key[0] == live.controller.result.id
    assert live.controller.result.activations["input"][0, 0, 1] == -2
    channel = live.passes.current_class()
    _, reference = network_backward(tiny_network(), -X[None], channel)
    assert stepper.back.index == (0, 1, 1)
    assert abs(shown_total(stepper, "dx") - reference["input"][0, 0, 1, 1]) <= 1e-5
    assert threading.main_thread() not in threads


@pytest.mark.parametrize("conv, pool", list(zip(GEOMETRIES, POOLS))[:2])
def test_strided_dilated_grouped_conv_against_network_backward(qtbot, live, conv, pool):
    net = Network.from_dict({
        "format": "convscope", "version": 1,
        "input": {"channels": 2, "height": 9, "width": 8},
        "layers": [{"type": "conv", "name": "c", **conv}, {"type": "tanh"},
                   {"type": "pool", "name": "p", **pool}, {"type": "fc", "units": 5}]})
    net.ensure_weights()
    image = np.random.default_rng(4).normal(size=(2, 9, 8)).astype(np.float32)
    open_network(qtbot, live, net, image)
    stepper = live.kernel_window
    go_backward(qtbot, live, "dx")
    channel = live.passes.current_class()
    _, reference = network_backward(net, image, channel)
    c = stepper.back.index[0]
    for _ in range(9 * 8):
        _, i, j = stepper.back.index
        assert abs(shown_total(stepper, "dx") - reference["input"][0, c, i, j]) <= 1e-5
        click(qtbot, stepper.next)
    go_backward(qtbot, live, "dW")
    f, k = stepper.back.index[:2]
    for _ in range(int(np.prod(net.weights["c.weight"].shape[2:]))):
        u, v = stepper.back.index[2:]
        assert abs(shown_total(stepper, "dW") - reference["c.weight"][f, k, u, v]) <= 1e-5
        click(qtbot, stepper.next)
