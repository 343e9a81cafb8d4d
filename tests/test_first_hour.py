"""The first hour with ``convscope``: a desktop that lacks Qt's X libraries or a display,
what the command line says it wrote, its usage errors, Qt's noise and Ctrl+C."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from convscope.core.interop import EXPORTS
from convscope.core.presets import preset_path
from convscope.gui import cli, preflight

ROOT = Path(__file__).resolve().parent.parent


def run_cli(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def loader_missing(*names):
    """A stand-in for ctypes.CDLL that cannot find ``names``."""
    def load(name):
        if name in names:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
    return load


def everything_loads(name):
    return None


@pytest.fixture
def x_server(tmp_path, monkeypatch):
    """A listening socket where an X server for display :7 would be."""
    monkeypatch.setattr(preflight, "X11_SOCKET_DIR", str(tmp_path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "X7"))
        server.listen(1)
        yield ":7"


# --------------------------------------------------------------------------- preflight
def test_no_display_points_to_screenshot_and_summary():
    problem = preflight.window_problem({}, "linux", everything_loads)
    assert problem.startswith("no display (DISPLAY is not set")
    assert "convscope --screenshot OUT.png" in problem and "convscope summary FILE" in problem


def test_missing_libraries_are_named_with_the_apt_command(x_server):
    load = loader_missing("libxcb-icccm.so.4", "libxcb-keysyms.so.1")
    problem = preflight.window_problem({"DISPLAY": x_server}, "linux", load)
    assert problem == ("Qt's X11 plugin needs libxcb-icccm.so.4, libxcb-keysyms.so.1, not "
                       "installed; install with: sudo apt-get install -y libxcb-icccm4 "
                       "libxcb-keysyms1")


def test_a_complete_desktop_passes(x_server):
    assert preflight.window_problem({"DISPLAY": x_server}, "linux", everything_loads) is None
    assert preflight.window_problem({"DISPLAY": x_server + ".0"}, "linux",
                                    everything_loads) is None


def test_a_display_nobody_answers_is_told(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "X11_SOCKET_DIR", str(tmp_path))  # no server here
    problem = preflight.window_problem({"DISPLAY": ":7"}, "linux", everything_loads)
    assert problem.startswith("cannot reach the X display ':7'")
    assert "--screenshot" in problem


def test_an_x_display_over_tcp():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert port > 6000  # an ephemeral port; display N listens on 6000 + N
        assert preflight.x_display_reachable(f"127.0.0.1:{port - 6000}.0")
    assert not preflight.x_display_reachable(f"127.0.0.1:{port - 6000}.0")


@pytest.mark.parametrize("environ", [
    {"QT_QPA_PLATFORM": "offscreen"},
    {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"},
    {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"},
])
def test_platforms_without_xcb_need_no_x_libraries(environ):
    load = loader_missing(*preflight.XCB_LIBRARIES)
    assert preflight.window_problem(environ, "linux", load) is None
    assert preflight.window_problem({}, "darwin", load) is None


def test_the_app_exits_2_with_one_line_and_never_starts_qt(monkeypatch, capsys):
    from convscope.gui import app

    started = []
    monkeypatch.setattr(app, "run", lambda path: started.append(path) or 0)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    status, out, err = run_cli(capsys, preset_path("lenet5"))
    assert status == 2 and out == "" and started == []
    assert err.startswith("convscope: cannot open a window: no display") and err.count("\n") == 1

    monkeypatch.setenv("DISPLAY", ":7")
    monkeypatch.setattr(preflight, "x_display_reachable", lambda display: True)
    monkeypatch.setattr(preflight.ctypes, "CDLL", loader_missing("libxcb-cursor.so.0"))
    status, out, err = run_cli(capsys, preset_path("lenet5"))
    assert status == 2 and started == []
    assert err == ("convscope: cannot open a window: Qt's X11 plugin needs libxcb-cursor.so.0, "
                   "not installed; install with: sudo apt-get install -y libxcb-cursor0\n")


def environment_without_a_screen():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_screenshot_without_a_screen_is_quiet_and_says_what_it_wrote(tmp_path):
    """No display and no QT_QPA_PLATFORM: --screenshot renders offscreen, and Qt's
    "This plugin does not support propagateSizeHints()" stays off the terminal."""
    out = tmp_path / "window.png"
    done = subprocess.run([sys.executable, "-m", "convscope.gui.cli", "--screenshot", str(out),
                           str(preset_path("lenet5"))], cwd=tmp_path, capture_output=True,
                          text=True, env=environment_without_a_screen(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == f"wrote {out}: the window with lenet5.json, {size_text(out)}\n"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# Starts the real app offscreen; once its event loop has installed the live views (whose
# worker thread is computing), another thread sends SIGINT, as Ctrl+C in the terminal does.
CTRL_C = """
import os, signal, sys, threading
from PySide6.QtCore import QTimer
from convscope.gui import app
app._application()
interrupt = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT))
QTimer.singleShot(0, lambda: QTimer.singleShot(0, interrupt.start))
sys.exit(app.run(sys.argv[1]))
"""


def test_ctrl_c_quits_the_app_cleanly(tmp_path):
    env = {**environment_without_a_screen(), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", CTRL_C, str(preset_path("lenet5"))],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # ours untouched


# --------------------------------------------------------------------------- what it wrote
def size_text(path):
    size = os.path.getsize(path)
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def test_run_says_what_it_wrote(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 32, 32), np.float32))
    out = tmp_path / "acts.npz"
    status, stdout, err = run_cli(capsys, "run", preset_path("lenet5"), "--input",
                                  tmp_path / "x.npy", "--out", out)
    assert status == 0 and err == ""
    # LeNet-5: c1 tanh s2 c3 tanh s4 c5 tanh f6 tanh output, 11 layers besides the input
    assert stdout == f"wrote {out}: 11 layers, {size_text(out)}\n"
    with np.load(out) as acts:
        assert len(acts.files) == 12


def test_export_says_what_and_where(capsys, tmp_path):
    for suffix in (".svg", ".csv", ".md", ".py"):
        out = tmp_path / f"lenet{suffix}"
        status, stdout, err = run_cli(capsys, "export", preset_path("lenet5"), out)
        assert status == 0 and err == ""
        assert stdout == f"wrote {out}: LeNet-5, {EXPORTS[suffix].label}, {size_text(out)}\n"
    assert EXPORTS[".md"].label == "summary as Markdown"


def test_import_says_layers_params_and_weights_file(capsys, tmp_path):
    pytest.importorskip("onnxruntime", reason="needs the ONNX extra")
    model = tmp_path / "lenet.onnx"
    assert run_cli(capsys, "export", preset_path("lenet5"), model)[0] == 0
    status, stdout, err = run_cli(capsys, "import", model, tmp_path / "back.json")
    assert status == 0 and err == ""
    weights = tmp_path / "back.npz"
    # 61,706 = LeNet-5's parameters (c1 156, c3 2,416, c5 48,120, f6 10,164, output 850)
    assert stdout == (f"wrote {tmp_path / 'back.json'}: 11 layers, 61,706 params; "
                      f"weights in {weights} ({size_text(weights)})\n")


# --------------------------------------------------------------------------- usage and errors
@pytest.mark.parametrize("argv, line", [
    (["summary"], "convscope: summary: the following arguments are required: file\n"),
    (["--bogus"], "convscope: unrecognized arguments: --bogus\n"),
    (["export", "a.json"], "convscope: export: the following arguments are required: out\n"),
])
def test_usage_errors_carry_one_prefix(capsys, argv, line):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == line


def test_summary_names_each_error_on_stderr(capsys, tmp_path):
    data = {"format": "convscope", "version": 1, "name": "two errors",
            "input": {"channels": 3, "height": 8, "width": 8},
            "layers": [{"type": "conv", "name": "big", "filters": 4, "kernel": 20},
                       {"type": "relu"}]}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(data))
    status, out, err = run_cli(capsys, "summary", path)
    assert status == 1
    assert "kernel 20 is larger" in out  # the table still says it, as before
    [line] = err.splitlines()
    assert line == (f"convscope: {path}: layers[0] 'big': height: kernel 20 is larger than the "
                    "padded input 8 + 2·0 = 8 ((8 − 20 + 2·0)/1 + 1 = -11)")


def test_an_unknown_suffix_lists_the_registry(capsys, tmp_path, monkeypatch):
    from convscope.core.interop import ExportFormat

    monkeypatch.setitem(EXPORTS, ".txt", ExportFormat("layer names", __name__, "names_out"))
    status, _, err = run_cli(capsys, "export", preset_path("lenet5"), tmp_path / "x.gif")
    assert status == 2
    assert err.endswith("cannot export to '.gif': use .onnx, .py, .svg, .png, .csv, .md or "
                        ".txt\n")
    out = tmp_path / "names.txt"
    status, stdout, _ = run_cli(capsys, "export", preset_path("lenet5"), out)
    assert status == 0 and stdout.startswith(f"wrote {out}: LeNet-5, layer names, ")
    assert out.read_text().split() == ["c1", "c1_tanh", "s2", "c3", "c3_tanh", "s4", "c5",
                                       "c5_tanh", "f6", "f6_tanh", "output"]


def names_out(net, out):
    """A writer for the registry test: the top-level layer names, one a line."""
    Path(out).write_text("".join(f"{layer.name}\n" for layer in net.layers))
