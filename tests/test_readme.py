"""The README as a newcomer uses it: its API snippet and its setup commands run as written."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.S | re.M)


def test_the_api_snippet_runs_from_another_folder(tmp_path):
    """Run from an empty folder: the preset is found by name, and what the snippet prints
    is what its comments say."""
    [snippet] = code_blocks("python")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    # LeNet-5's 61,706 parameters; dL/dW of c1, its 6 filters of 1×5×5
    assert printed == ["61706", "(6, 1, 5, 5)"]
    for line in printed:
        assert f"# {line}" in snippet  # the comment beside each print says what it prints
    assert (tmp_path / "lenet5-copy.json").is_file()


def readme_commands() -> list[str]:
    """The README's first shell block: make a venv, install and start, install and test."""
    return code_blocks("sh")[0].strip().splitlines()


def test_the_readme_starts_with_a_venv_then_the_two_commands():
    venv, start, check = readme_commands()
    assert venv == "python3 -m venv .venv && . .venv/bin/activate"
    assert start.endswith("&& convscope")
    assert "'.[test,onnx]'" in check and check.endswith("python3 -m pytest -q")


@pytest.mark.slow
def test_the_readme_commands_pass_on_a_fresh_clone_without_torch(tmp_path):
    """A fresh clone, a fresh venv (no torch: it is in no extra these commands install), the
    README's commands as written, the window as a PNG in place of a screen. The inner test
    run deselects this slow test (the default -m 'not slow'), so it does not recurse."""
    # not a skip: CI must not pass without this pass having run
    assert shutil.which("git") and (ROOT / ".git").exists(), "needs git and a git checkout"
    clone = tmp_path / "convscope-main"  # a folder name that is no Python name, as a
    # downloaded archive unpacks to: pytest imports the root __init__.py under it
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    venv, start, check = readme_commands()
    start = re.sub(r"convscope$", "convscope --screenshot OUT.png", start)
    # each line on its own: a failing install stops the script, as it would stop a person
    script = "\n".join(f"{{ {line}; }} || exit $?" for line in (venv, start, check))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DISPLAY", "WAYLAND_DISPLAY",
                        "QT_QPA_PLATFORM", "PYTEST_ADDOPTS")}
    done = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=3600)
    tail = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, tail
    assert (clone / "OUT.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert re.search(r"^wrote OUT\.png: the window with shapes_cnn\.json", done.stdout, re.M)
    summary = done.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ failed", summary), tail
    assert "error" not in summary, tail
    no_torch = subprocess.run([str(clone / ".venv/bin/python"), "-c", "import torch"],
                              capture_output=True, timeout=60)
    assert no_torch.returncode != 0  # the pass really ran without torch
