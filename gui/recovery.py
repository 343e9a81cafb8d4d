"""Autosave to a recovery file, and offering it back after a crash.

While the document has unsaved changes, its architecture is written (atomically) every
~30 s to ``recovery-<token>.json`` in the app's data folder. Each running window holds a
lock file beside it; a recovery file whose lock nobody holds was left by a ConvScope that
did not exit cleanly, and is offered back at the next start. Saving, or closing cleanly,
deletes it. A recovery file that cannot be read is set aside (renamed ``*.json.damaged``,
never deleted) with a message, and the good ones are still offered. A network without
weights of its own needs nothing more (its weights come from its seed); one with loaded or
trained weights also gets ``recovery-<token>.npz``, rewritten only when the weights
themselves or their names change.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from convscope.core import ConvScopeError, Network, fileio
from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer

FORMAT = "convscope-recovery"
INTERVAL_MS = 30_000


def recovery_dir() -> Path:
    """The app's data folder (or the temp folder when there is none)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    if not base:
        base = os.path.join(tempfile.gettempdir(), "convscope")
    return Path(base) / "recovery"


@dataclass
class Recovered:
    file: Path
    network: Network
    original: Path | None  # the file the work belonged to, if it had one
    saved_at: float  # seconds since the epoch

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        what = self.original.name if self.original else f"'{self.network.name}' (never saved)"
        return f"{what}, autosaved {when}"


class Recovery(QObject):
    """The running window's recovery file."""

    def __init__(self, document, directory: Path | None = None, interval_ms: int = INTERVAL_MS,
                 parent=None):
        super().__init__(parent)
        self.doc = document
        self.dir = Path(directory) if directory else recovery_dir()
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.file = self.dir / f"recovery-{self.token}.json"
        self.weights_file = self.file.with_suffix(".npz")
        self._lock = None
        self._saved_revision = None
        self._weights_stamp = None  # which weights the .npz holds
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()
        document.undo_stack.cleanChanged.connect(self._clean_changed)

    def _ensure_lock(self) -> bool:
        if self._lock is None:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError:
                return False
            self._lock = QLockFile(str(self.file.with_suffix(".lock")))
            self._lock.setStaleLockTime(0)  # only a dead owner makes it stale
            self._lock.tryLock(0)
        return self._lock.isLocked()

    def autosave(self) -> bool:
        """Write the recovery file if there is unsaved work not yet written."""
        if not self.doc.dirty:
            self.discard()
            return False
        if self._saved_revision == self.doc.revision or not self._ensure_lock():
            return False
        net = self.doc.network
        data = {"format": FORMAT, "version": 1,
                "path": str(self.doc.path) if self.doc.path else "",
                "saved_at": time.time(), "network": net.to_dict(),
                "weights_saved": bool(net.weights_file and net.weights)}
        try:
            if data["weights_saved"]:
                stamp = (id(net.weights), frozenset(net.weights))
                if stamp != self._weights_stamp:
                    fileio.atomic_write_npz(self.weights_file, net.state_dict())
                    self._weights_stamp = stamp
            fileio.atomic_write_json(self.file, data)
        except ConvScopeError:
            return False  # a full disk must not interrupt the user; the next tick retries
        self._saved_revision = self.doc.revision
        return True

    def discard(self) -> None:
        self._saved_revision = self._weights_stamp = None
        for path in (self.file, self.weights_file):
            with contextlib.suppress(OSError):
                path.unlink()

    def close(self) -> None:
        """A clean exit: nothing to recover."""
        self.timer.stop()
        self.discard()
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def _clean_changed(self, clean: bool) -> None:
        if clean:
            self.discard()


def orphans(directory: Path | None = None) -> list[Path]:
    """Recovery files left by a ConvScope that is no longer running, newest first. The
    temporaries an interrupted autosave left are cleared on the way."""
    directory = Path(directory) if directory else recovery_dir()
    fileio.clean_temporaries(directory)
    found = []
    for file in directory.glob("recovery-*.json"):
        lock = QLockFile(str(file.with_suffix(".lock")))
        lock.setStaleLockTime(0)
        if lock.tryLock(0):  # nobody holds it: its window is gone
            lock.unlock()
            with contextlib.suppress(OSError):  # one that vanished meanwhile is no orphan
                found.append((file.stat().st_mtime, file))
    return [file for _, file in sorted(found, reverse=True)]


def read(file: Path) -> Recovered:
    """A recovery file's network; ConvScopeError, whatever the damage, if it is not one."""
    data = fileio.read_json(file)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConvScopeError("not a ConvScope recovery file", source=str(file))
    try:
        network = Network.from_dict(data.get("network"))
    except ConvScopeError as err:
        raise err.located(source=str(file)) from None
    path, saved_at = data.get("path") or "", data.get("saved_at", 0)
    if not isinstance(path, str) or "\0" in path:
        raise ConvScopeError("'path' must be the original file's path", source=str(file))
    if isinstance(saved_at, bool) or not isinstance(saved_at, (int, float)) \
            or not 0 <= saved_at < 1e11:
        raise ConvScopeError("'saved_at' must be a time in seconds", source=str(file))
    original = Path(path) if path else None
    if network.weights_file:
        try:
            if not data.get("weights_saved"):
                raise ConvScopeError("no weights were autosaved")
            network.weights = fileio.read_npz(Path(file).with_suffix(".npz"))
        except ConvScopeError:
            # without its weights, a later save must not write freshly initialised ones
            # over the .npz beside the original file
            network.weights_file = None
            network.weights = {}
    return Recovered(Path(file), network, original, float(saved_at))


def set_aside(file: Path, error: ConvScopeError) -> str:
    """Rename a recovery file that cannot be read (and its weights) out of the way, so it
    is offered no more but not lost; the message to show says what and where."""
    file = Path(file)
    aside = file.with_name(file.name + ".damaged")
    try:
        os.replace(file, aside)
        with contextlib.suppress(OSError):
            os.replace(file.with_suffix(".npz"), aside.with_name(file.stem + ".npz.damaged"))
    except OSError:
        remove(file)  # cannot even be renamed: it must not fail every start
        return f"A damaged recovery file was removed: {error}"
    with contextlib.suppress(OSError):
        file.with_suffix(".lock").unlink()
    return (f"A recovery file could not be read and was set aside as {aside}: "
            f"{error.message}")


def remove(file: Path) -> None:
    for path in (Path(file), Path(file).with_suffix(".lock"), Path(file).with_suffix(".npz")):
        with contextlib.suppress(OSError):
            path.unlink()
