"""File ▸ Import ONNX… and File ▸ Export ▸ …, driven through the menu actions with the
file dialogs patched; ONNX Runtime checks what the app wrote."""

import numpy as np
import pytest
from convscope.core import Network
from convscope.core.presets import preset_path

pytest.importorskip("onnxruntime", reason="the ONNX extra (convscope[onnx]) is not installed")

WAIT = 30_000


@pytest.fixture
def window(make_window):
    return make_window(preset_path("lenet5"), parts=True)  # its parts closed with it


def _export(window, qtbot, dialogs, path):
    dialogs.save_path = str(path)
    with qtbot.waitSignal(window.interop.runner.finished, timeout=WAIT):
        window.interop.actions[path.suffix].trigger()


def test_the_file_menu_offers_import_and_every_export(window):
    texts = [a.text() for a in window.menu("File").actions()]
    assert "&Import ONNX Model…" in texts
    assert texts.index("&Import ONNX Model…") < texts.index("&Quit")
    assert set(window.interop.actions) == {"import", ".onnx", ".py", ".svg", ".png", ".csv",
                                           ".md"}


def test_the_export_menu_is_the_registry_the_command_line_reads(make_window, qtbot, dialogs,
                                                                 tmp_path, monkeypatch):
    """A format added to core.interop.EXPORTS appears in File ▸ Export and writes its file."""
    from convscope.core.interop import EXPORTS, ExportFormat
    from PySide6.QtWidgets import QMenu

    monkeypatch.setitem(EXPORTS, ".txt", ExportFormat("layer names", __name__, "names_out"))
    window = make_window(preset_path("lenet5"), parts=True)  # its menus read EXPORTS now
    menu = window.findChild(QMenu, "exportMenu")
    assert [a.text() for a in menu.actions()] == [
        "ONNX model (network and weights)…", "PyTorch source…", "Diagram as SVG…",
        "Diagram as PNG…", "Summary as CSV…", "Summary as Markdown…", "Layer names…"]
    out = tmp_path / "lenet.txt"
    _export(window, qtbot, dialogs, out)
    assert out.read_text().split()[:3] == ["c1", "c1_tanh", "s2"]
    assert window.statusBar().currentMessage() == f"Exported the layer names to {out}"


def names_out(net, out):
    """A writer for the registry test: the top-level layer names, one a line."""
    out.write_text("".join(f"{layer.name}\n" for layer in net.layers))


def test_export_onnx_runs_in_onnx_runtime_like_convscope(window, qtbot, dialogs, tmp_path):
    import onnxruntime

    out = tmp_path / "lenet.onnx"
    _export(window, qtbot, dialogs, out)
    net = window.document.network
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    ours = net.forward(x)[net.layers[-1].name]
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"input": x})[0].reshape(ours.shape)
    assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(ours).max()


def test_import_replaces_the_document_with_the_model_and_its_weights(window, qtbot, dialogs,
                                                                     tmp_path):
    out = tmp_path / "lenet.onnx"
    _export(window, qtbot, dialogs, out)
    before = window.document.network
    before.ensure_weights()
    dialogs.open_path = str(out)
    with qtbot.waitSignal(window.interop.runner.finished, timeout=WAIT):
        window.interop.actions["import"].trigger()
    after = window.document.network
    assert after is not before
    assert [layer.to_dict() for layer in after.layers] == \
        [layer.to_dict() for layer in before.layers]
    for key, value in before.weights.items():
        np.testing.assert_array_equal(after.weights[key], value)
    assert after.own_weights  # File ▸ Save will write them


def test_summary_and_diagram_exports_write_the_command_line_files(window, qtbot, dialogs,
                                                                  tmp_path):
    from convscope.core.summary import render

    for suffix in (".csv", ".md", ".svg", ".png"):
        _export(window, qtbot, dialogs, tmp_path / f"lenet{suffix}")
    report = Network.load(preset_path("lenet5")).analyze()
    assert (tmp_path / "lenet.csv").read_text() == render(report, "csv")
    assert "61,706" in (tmp_path / "lenet.md").read_text()
    assert (tmp_path / "lenet.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert (tmp_path / "lenet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_broken_model_shows_the_one_line_message_and_keeps_the_document(
        window, qtbot, dialogs, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    before = window.document.network.to_dict()
    dialogs.open_path = str(bad)
    with qtbot.waitSignal(window.interop.runner.failed, timeout=WAIT):
        window.interop.actions["import"].trigger()
    [message] = dialogs.of("critical")
    assert "bad.onnx" in message and "\n" not in message
    assert window.document.network.to_dict() == before


def test_without_onnx_the_app_says_how_to_install_it(window, dialogs, monkeypatch, tmp_path):
    from convscope import core

    monkeypatch.setattr(core.interop, "onnx_available", lambda: False)
    assert window.interop.export_path(tmp_path / "x.onnx") == -1
    [message] = dialogs.of("information")
    assert "convscope[onnx]" in message
    assert not (tmp_path / "x.onnx").exists()
