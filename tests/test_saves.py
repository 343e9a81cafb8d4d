"""Saves that cannot lose work (issue 10): a new name gets its own weights file, the
architecture and its weights are replaced as a pair, symlinks are followed, temporaries are
ours and cleaned, every key without a default is written, and a damaged recovery file is set
aside while the good ones are still offered. The kill test saves in a subprocess and kills
it at 30 random moments."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from convscope import core
from convscope.core import ConvScopeError, Network

TEMP_PREFIX = ".convscope-tmp-"  # the temporaries' fixed prefix (written out, not imported)

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    "format": "convscope", "version": 1, "name": "tiny",
    "input": {"channels": 3, "height": 8, "width": 8},
    "layers": [
        {"type": "conv", "name": "conv1", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "pool", "mode": "max", "kernel": 2},
        {"type": "fc", "name": "fc1", "units": 5},
    ],
}


def filled(value: float, data=TINY) -> Network:
    """A network whose every weight is ``value``: which save a file came from shows."""
    net = Network.from_dict(json.loads(json.dumps(data)))
    net.set_weights({k: np.full(s, value, np.float32) for k, s in net.param_shapes().items()})
    return net


def constant(net: Network) -> float:
    values = {float(v.ravel()[0]) for v in net.weights.values()}
    assert len(values) == 1 and all((v == v.ravel()[0]).all() for v in net.weights.values())
    return values.pop()


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ============================================================================ save as
def test_save_as_in_the_same_folder_gets_its_own_weights(tmp_path):
    filled(1.0).save(tmp_path / "a.json")
    net = Network.load(tmp_path / "a.json")
    net.save(tmp_path / "b.json")  # Save As
    assert json.loads((tmp_path / "b.json").read_text())["weights"] == "b.npz"
    assert names(tmp_path) == ["a.json", "a.npz", "b.json", "b.npz"]
    net.set_weights({k: v + 1 for k, v in net.weights.items()})
    net.save(tmp_path / "b.json")  # a later Save of the copy
    original = Network.load(tmp_path / "a.json")
    assert constant(original) == 1.0  # the original's weights untouched
    assert constant(Network.load(tmp_path / "b.json")) == 2.0
    original.set_weights({k: v * 0 + 7 for k, v in original.weights.items()})
    original.save(tmp_path / "a.json")  # and a Save of the original writes only its own
    assert constant(Network.load(tmp_path / "b.json")) == 2.0
    assert constant(Network.load(tmp_path / "a.json")) == 7.0


def test_save_as_into_another_folder_never_writes_that_folders_weights(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first = filled(1.0)
    first.save(one / "weights.json")
    (one / "weights.json").rename(one / "net.json")  # a file whose weights are weights.npz
    other = filled(5.0)
    other.save(two / "weights.json")  # another network's weights.npz in the other folder
    net = Network.load(one / "net.json")
    assert net.weights_file == "weights.npz"
    net.save(two / "copy.json")
    assert constant(Network.load(two / "weights.json")) == 5.0
    assert constant(Network.load(two / "copy.json")) == 1.0
    assert names(two) == ["copy.json", "copy.npz", "weights.json", "weights.npz"]
    assert constant(Network.load(one / "net.json")) == 1.0


# ============================================================================ the pair
def test_a_failed_architecture_write_leaves_the_old_pair_openable(tmp_path, monkeypatch):
    """The weights used to be renamed into place first: with the new keys in the old name,
    the old architecture no longer opened ("unexpected key")."""
    path = tmp_path / "net.json"
    filled(1.0).save(path)
    renamed = json.loads(json.dumps(TINY))
    renamed["layers"][0]["name"] = "first"
    net = filled(2.0, renamed)

    def disk_full(target, data):
        raise ConvScopeError("cannot write: No space left on device", source=str(target))

    monkeypatch.setattr(core.fileio, "atomic_write_json", disk_full)
    with pytest.raises(ConvScopeError, match="No space left"):
        net.save(path)
    monkeypatch.undo()
    old = Network.load(path)
    assert constant(old) == 1.0 and "conv1.weight" in old.weights
    assert names(tmp_path) == ["net.json", "net.npz"]  # the new weights went again
    net.save(path)
    new = Network.load(path)
    assert constant(new) == 2.0 and "first.weight" in new.weights
    assert names(tmp_path) == ["net.json", "net.npz"]  # the old weights went; the name stays


def test_a_pair_saved_without_weights_drops_its_old_weights_file(tmp_path):
    path = tmp_path / "net.json"
    filled(1.0).save(path)
    Network.from_dict(TINY).save(path, with_weights=False)
    assert names(tmp_path) == ["net.json"]
    assert Network.load(path).weights_file is None


def test_a_weights_file_another_architecture_names_is_kept(tmp_path):
    path = tmp_path / "net.json"
    filled(1.0).save(path)
    (tmp_path / "twin.json").write_text(path.read_text())  # a copy naming net.npz
    filled(3.0).save(path)
    assert constant(Network.load(tmp_path / "twin.json")) == 1.0
    assert constant(Network.load(path)) == 3.0


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_saving_onto_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    filled(1.0).save(real / "net.json")
    link = tmp_path / "link.json"
    link.symlink_to(real / "net.json")
    net = Network.load(link)
    assert constant(net) == 1.0  # its weights are beside the file the link points at
    net.set_weights({k: v + 1 for k, v in net.weights.items()})
    net.save(link)
    assert link.is_symlink()
    assert constant(Network.load(real / "net.json")) == 2.0
    assert constant(Network.load(link)) == 2.0
    assert names(tmp_path) == ["link.json", "real"]


# ============================================================================ temporaries
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_are_ours_and_cleaned_on_the_next_load(tmp_path):
    path = tmp_path / "net.json"
    filled(1.0).save(path)
    orphan = tmp_path / f"{TEMP_PREFIX}{dead_pid()}-0a1b2c3d-net.npz"
    orphan.write_bytes(b"x" * 1000)  # a killed save's half-written weights
    ours_now = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-0a1b2c3d-net.npz"
    ours_now.write_bytes(b"x")  # a save under way in this process: left alone
    stale = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-99999999-net.json"
    stale.write_bytes(b"x")
    two_days = time.time() - 2 * 86400
    os.utime(stale, (two_days, two_days))  # anyone's, but two days old
    foreign = tmp_path / ".net.json.1234abcd.tmp"  # not ours: never touched
    foreign.write_bytes(b"x")
    Network.load(path)
    assert names(tmp_path) == sorted([foreign.name, ours_now.name, "net.json", "net.npz"])


def test_a_failed_save_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    filled(1.0).save(path)

    def broken(handle, **arrays):
        handle.write(b"PK half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(core.fileio.np, "savez", broken)
    with pytest.raises(ConvScopeError, match="No space left"):
        filled(2.0).save(path)
    assert names(tmp_path) == ["net.json", "net.npz"]


# ============================================================================ required keys
def test_saved_files_carry_every_key_without_a_default(tmp_path):
    """Section 1: a writer always writes conv's filters and kernel, pool's mode and kernel,
    fc's units, even when they equal the values this reader would assume."""
    data = json.loads(json.dumps(TINY))
    Network.from_dict(data).save(tmp_path / "net.json")
    layers = json.loads((tmp_path / "net.json").read_text())["layers"]
    assert layers[0]["filters"] == 4 and layers[0]["kernel"] == 3
    assert layers[2]["mode"] == "max" and layers[2]["kernel"] == 2
    assert layers[3]["units"] == 5
    assert "stride" not in layers[0] and "stride" not in layers[2]  # defaults may go


# ============================================================================ recovery
def recovery_file(folder: Path, token: str, age: float, **changes) -> Path:
    data = {"format": "convscope-recovery", "version": 1, "path": "",
            "saved_at": time.time() - age, "network": TINY, "weights_saved": False,
            **changes}
    file = folder / f"recovery-{token}.json"
    file.write_text(changes.pop("text", None) or json.dumps(data))
    os.utime(file, (time.time() - age, time.time() - age))
    return file


def test_damaged_recovery_files_are_set_aside_and_the_good_one_still_offered(
        make_window, dialogs, isolated):
    """A damaged file used to stop the start (a ValueError from its 'saved_at') before the
    older good one was offered, or was deleted without a word."""
    from PySide6.QtWidgets import QMessageBox

    folder = isolated / "recovery"
    folder.mkdir()
    good = recovery_file(folder, "1-good", 300)
    bad_time = recovery_file(folder, "2-time", 200, saved_at="yesterday")
    bad_text = recovery_file(folder, "3-text", 100, text="{ not json")
    bad_net = recovery_file(folder, "4-net", 50, network={"layers": [[[[[[[[]]]]]]]]})
    temp = folder / f"{TEMP_PREFIX}{dead_pid()}-0a1b2c3d-recovery-9.npz.tmp"
    temp.write_bytes(b"half an autosave")
    dialogs.answer = QMessageBox.StandardButton.Yes
    window = make_window()
    assert window.offer_recovery()
    assert window.document.network.name == "tiny"
    assert not good.exists()  # offered and taken
    for bad in (bad_time, bad_text, bad_net):
        assert not bad.exists() and bad.with_name(bad.name + ".damaged").exists()
    damaged = dialogs.of("critical")
    assert len(damaged) == 3 and all("set aside" in m for m in damaged)
    # newest first: the network, the text, the time
    assert "format" in damaged[0] and "not valid JSON" in damaged[1] and "saved_at" in damaged[2]
    assert not temp.exists()
    assert not window.offer_recovery()  # a damaged file is offered no more


# ============================================================================ the kill test
# A parent that imports and builds once, then forks one saver per kill on request: a fresh
# Python per kill would spend most of the test starting up. The saver saves two states in
# turn, for ever; the parent reaps it after the kill, so its pid is gone.
SAVER = r"""
import json, os, sys
import numpy as np
from convscope.core import Network

folder, data = sys.argv[1], json.loads(sys.argv[2])
states = []
for value, name in ((2.0, "convB"), (1.0, "conv1")):
    d = json.loads(json.dumps(data))
    d["layers"][0]["name"] = name
    net = Network.from_dict(d)
    net.set_weights({k: np.full(s, value, np.float32) for k, s in net.param_shapes().items()})
    states.append(net)
for _ in sys.stdin:
    pid = os.fork()
    if pid == 0:
        n = 0
        while True:
            states[n % 2].save(folder + "/net.json")
            n += 1
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""

# big enough (about 1 MB of weights) that a kill lands inside a save's writing, not only
# between saves
KILL_NET = {**TINY, "input": {"channels": 64, "height": 8, "width": 8},
            "layers": [{"type": "conv", "name": "conv1", "filters": 64, "kernel": 7,
                        "padding": 3}, {"type": "fc", "name": "fc1", "units": 4}]}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks its savers")
def test_a_save_killed_at_random_moments_leaves_the_old_or_the_new_pair(tmp_path):
    rng = random.Random(10)
    filled(1.0, KILL_NET).save(tmp_path / "net.json")
    outcomes = {1.0: 0, 2.0: 0}
    interrupted = 0
    parent = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(tmp_path), json.dumps(KILL_NET)], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"})
    try:
        for _ in range(30):
            parent.stdin.write("save\n")
            parent.stdin.flush()
            saver = int(parent.stdout.readline())
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(saver, signal.SIGKILL)
            assert parent.stdout.readline().strip() == "reaped"
            interrupted += len(names(tmp_path)) > 2
            net = Network.load(tmp_path / "net.json")  # opens, with its own weights...
            value = constant(net)
            assert f"{'convB' if value == 2.0 else 'conv1'}.weight" in net.weights
            outcomes[value] += 1
            # ...and after that load the folder holds the pair and nothing else
            assert names(tmp_path) == sorted(["net.json", net.weights_file])
    finally:
        parent.kill()
        parent.wait()
    print(f"\nkills: 30; pairs found (weights 1.0 / 2.0): {outcomes[1.0]} / {outcomes[2.0]}; "
          f"interrupted mid-save (temporaries or spare weights before the load): {interrupted}")
    assert all(outcomes.values())  # both states were seen: the kills fell at various moments
