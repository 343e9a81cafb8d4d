"""Reading and writing files: one clear line for every failure, nothing lost on a failed save.

Reading refuses before allocating: only regular files are opened (a FIFO would hang), a JSON
text is size-limited, and the arrays an ``.npz``/``.npy`` declares in its headers are
checked against a budget before any is read.

Writing goes through temporaries named ``.convscope-tmp-<pid>-<random>-<name>.tmp`` beside the
target, moved into place with one rename. An architecture and its weights are saved as a
pair (``save_pair``): the weights under a new name first, then the architecture that names
them, then the old weights are removed. A small "intent" temporary lists the weights files
the save may leave unreferenced; whoever finds it orphaned (the save's process is gone)
settles it: each listed file that no architecture in the folder names is removed. So a
failure or a kill at any moment leaves the old pair or the new pair, and the next load in
that folder clears what the interrupted save left. The weights keep the name ``<stem>.npz``:
a save that had to use ``<stem>.1.npz`` moves back to it the same way (a hard link).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import time
import zipfile
from math import prod
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from .errors import ConvScopeError

MAX_JSON_BYTES = 64 << 20  # an architecture is text; anything larger is not one
ARRAY_BUDGET = 6 << 30  # arrays a file may declare, in bytes, unless the caller says otherwise
TEMP_PREFIX = ".convscope-tmp-"
INTENT_SUFFIX = ".intent"
# A temporary this old is garbage even if a process with its pid is running (pids are reused).
ORPHAN_AGE = 24 * 3600


# ====================================================================== reading
def _open_regular(path: Path, missing: str = "no such file"):
    """``path`` opened for binary reading, if it is a regular file. Opened without blocking
    and checked on the open descriptor, so a FIFO or a device never hangs the reader."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConvScopeError(missing, source=str(path)) from None
    except IsADirectoryError:
        raise ConvScopeError("is a folder, not a file", source=str(path)) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the name
        raise ConvScopeError(f"cannot be read: {getattr(err, 'strerror', None) or err}",
                             source=str(path)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = ("is a folder, not a file" if stat.S_ISDIR(mode)
                else "is not a regular file (a pipe or a device): refused, reading could hang")
        raise ConvScopeError(what, source=str(path))
    return os.fdopen(fd, "rb")


def read_json(path) -> object:
    path = Path(path)
    with _open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_JSON_BYTES:
            raise ConvScopeError(f"file is {size >> 20} MB; an architecture file is a small "
                                 "JSON text", source=str(path))
        try:
            text = handle.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ConvScopeError("not a text file (not UTF-8)", source=str(path)) from None
        except OSError as err:
            raise ConvScopeError(f"cannot be read: {err.strerror}", source=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConvScopeError(f"not valid JSON: {err.msg}", f"line {err.lineno} column {err.colno}",
                             str(path)) from None
    except ValueError as err:  # an integer longer than Python's int-string limit
        raise ConvScopeError(f"not a usable JSON text: {str(err).split(':')[0]}",
                             source=str(path)) from None
    except RecursionError:
        raise ConvScopeError("not a usable JSON text: nested too deeply",
                             source=str(path)) from None


def _npy_header(handle, key: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from an .npy header, without reading the data."""
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"'{key}' has .npy version {version}, which is not read")
    shape, _, dtype = readers[version](handle)
    if dtype.hasobject:
        raise ValueError(f"'{key}' holds Python objects, not numbers")
    return tuple(shape), dtype


def _check_budget(declared: dict, budget: int, path: Path) -> None:
    need = sum(prod(shape) * dtype.itemsize for shape, dtype in declared.values())
    if need > budget:
        raise ConvScopeError(f"its arrays declare {need / 2**30:,.1f} GiB, over the "
                             f"{budget / 2**30:.0f} GiB budget; refused before reading",
                             source=str(path))


def read_npz(path, budget: int = ARRAY_BUDGET, check=None) -> dict:
    """Every array of an ``.npz``. The headers are read first: ``check`` (if given) sees
    {key: (shape, dtype)} and may refuse; then the declared total must fit ``budget``."""
    path = Path(path)
    with _open_regular(path, "weights file not found") as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                members = {}
                for info in archive.infolist():
                    if not info.filename.endswith(".npy"):
                        raise ValueError(f"'{info.filename}' is not an array")
                    members[info.filename[:-4]] = info
                declared = {}
                for key, info in members.items():
                    with archive.open(info) as member:
                        declared[key] = _npy_header(member, key)
                if check is not None:
                    check(declared)
                _check_budget(declared, budget, path)
                arrays = {}
                for key, info in members.items():
                    with archive.open(info) as member:
                        arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
                return arrays
        except ConvScopeError as err:
            raise err.located(source=str(path)) from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
                NotImplementedError, RuntimeError) as err:
            raise ConvScopeError(f"not a readable .npz weights file ({_short(err)})",
                                 source=str(path)) from None


def read_npy(path, budget: int = ARRAY_BUDGET, check=None, other_kind: str = "") -> np.ndarray:
    """One array from an ``.npy``. The header is read first: ``check`` (if given) sees
    (shape, dtype) and may refuse; then the declared size must fit ``budget``. A file of
    another kind is refused with ``other_kind`` added (where such a file should go)."""
    path = Path(path)
    with _open_regular(path) as handle:
        magic = np.lib.format.MAGIC_PREFIX  # b"\x93NUMPY"
        if handle.read(len(magic)) != magic:
            raise ConvScopeError("not a .npy array: it does not begin with NumPy's .npy "
                                 "header" + (f"; {other_kind}" if other_kind else ""),
                                 source=str(path))
        handle.seek(0)
        try:
            shape, dtype = _npy_header(handle, path.name)
            if check is not None:
                check(shape, dtype)
            _check_budget({path.name: (shape, dtype)}, budget, path)
            handle.seek(0)
            return np.lib.format.read_array(handle, allow_pickle=False)
        except ConvScopeError as err:
            raise err.located(source=str(path)) from None
        except (ValueError, OSError, EOFError) as err:
            raise ConvScopeError(f"not a readable .npy array ({_short(err)})",
                                 source=str(path)) from None


def _short(err) -> str:
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__


def check_relative_name(name: str) -> str:
    """A file name an architecture may hold: relative to its folder, in it or below."""
    bad = (not name or "\0" in name
           or any(p.is_absolute() or p.anchor or ".." in p.parts
                  for p in (PurePosixPath(name), PureWindowsPath(name))))
    if bad:
        raise ConvScopeError(f"'weights' must name a file beside the architecture or in a "
                             f"folder below it, got {name[:80]!r}")
    return name


# ====================================================================== writing
def real_path(path) -> Path:
    """Where a save to ``path`` lands: a symlink is followed, so the link stays a link."""
    return Path(os.path.realpath(path))


def _atomic(path, write) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path = real_path(path)
    try:
        fd, tmp = _create_temp(path)
    except OSError as err:
        raise ConvScopeError(f"cannot write: {err.strerror}", source=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
        _sync_folder(path.parent)
    except OSError as err:
        raise ConvScopeError(f"cannot write: {err.strerror}", source=str(path)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _create_temp(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new file beside ``path``, named so that ``clean_temporaries`` knows it and its
    process. Made with mode 0666 less the umask, as an ordinary new file is:
    ``tempfile.mkstemp``'s 0600 would make every saved file private."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        name = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name[:96]}{suffix}"
        tmp = str(path.parent / name)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _keep_mode(path: Path, tmp: str) -> None:
    """Give the new file the permissions of the one it replaces, if there is one."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    os.chmod(tmp, mode)


def _sync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); where a folder cannot be opened, the rename stands."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path, data: bytes) -> None:
    _atomic(path, lambda handle: handle.write(data))


def json_bytes(data) -> bytes:
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def atomic_write_json(path, data) -> None:
    atomic_write_bytes(path, json_bytes(data))


def atomic_write_npz(path, arrays: dict) -> None:
    _atomic(path, lambda handle: np.savez(handle, **arrays))


# ====================================================================== pairs
def referenced_weights(path: Path) -> str | None:
    """The weights file the architecture at ``path`` names now, if it is one of ours."""
    try:
        data = read_json(path)
    except ConvScopeError:
        return None
    name = data.get("weights") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return None
    try:
        return check_relative_name(name)
    except ConvScopeError:
        return None


def free_weights_name(folder: Path, stem: str) -> str:
    """A weights file name for ``stem`` that no file in ``folder`` has: ``<stem>.npz``, else
    ``<stem>.1.npz``, ``<stem>.2.npz``... (``save_pair`` returns to ``<stem>.npz`` after)."""
    for n in range(1_000_000):
        name = f"{stem}.npz" if n == 0 else f"{stem}.{n}.npz"
        if not os.path.lexists(folder / name):
            return name
    raise ConvScopeError("no free weights file name", source=str(folder))


def save_pair(path, data: dict, weights_name: str | None, arrays: dict | None,
              old_name: str | None) -> str | None:
    """Save an architecture ``data`` at ``path`` with ``arrays`` as ``weights_name`` beside
    it (a name no file has yet), replacing a pair whose weights were ``old_name``. Returns
    the weights file's name in the end (``<stem>.npz`` whenever that is free by then).

    Order: the intent (what may end unreferenced), the new weights, the architecture (the
    switch), then settling the intent removes whichever of the two files no architecture in
    the folder names: the old weights after a success, the new ones after a failure."""
    path = real_path(path)
    folder = path.parent
    names = [n for n in (weights_name, old_name) if n]
    intent = _write_intent(path, names) if names else None
    try:
        if arrays is not None and weights_name:
            atomic_write_npz(folder / weights_name, arrays)
        atomic_write_json(path, data)
    finally:
        if intent:
            _settle(Path(intent))
    return _plain_name(path, data, weights_name) if weights_name else None


def _plain_name(path: Path, data: dict, name: str) -> str:
    """A save that had to write ``<stem>.1.npz`` (``<stem>.npz`` held the old weights) moves
    the pair back to ``<stem>.npz`` once those are gone, the same way: a hard link (no
    copy), the architecture switched to it, the numbered name removed. So a file keeps one
    stable weights name (``convscope import``'s ``OUT.npz``). Where this cannot be done (no
    hard links, a failure), the numbered pair, already whole, stays."""
    plain, folder = f"{path.stem}.npz", path.parent
    if name == plain or os.path.lexists(folder / plain):
        return name
    try:
        intent = _write_intent(path, [plain, name])
    except ConvScopeError:
        return name
    try:
        os.link(folder / name, folder / plain)
        atomic_write_json(path, {**data, "weights": plain})
        return plain
    except (OSError, ConvScopeError):
        return name
    finally:
        _settle(Path(intent))


def _write_intent(path: Path, names: list[str]) -> str:
    try:
        fd, tmp = _create_temp(path, INTENT_SUFFIX)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps({"weights": names}).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        raise ConvScopeError(f"cannot write: {err.strerror}", source=str(path)) from None
    return tmp


def _settle(intent: Path) -> None:
    """Remove each weights file the intent lists that no architecture in its folder names,
    then the intent itself."""
    folder = intent.parent
    try:
        names = json.loads(intent.read_bytes())["weights"]
        names = [check_relative_name(n) for n in names if isinstance(n, str)]
    except (OSError, ValueError, KeyError, TypeError, ConvScopeError):
        names = []  # a half-written intent: its save had not started writing weights
    for name in names:
        if not _named_by_any_architecture(folder, name):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
    with contextlib.suppress(OSError):
        intent.unlink()


def _named_by_any_architecture(folder: Path, name: str) -> bool:
    """True if any ``.json`` in ``folder`` mentions ``name`` (a plain text search: when in
    doubt a file is kept, never removed)."""
    needles = {json.dumps(name).encode(), json.dumps(name, ensure_ascii=False).encode()}
    for candidate in folder.glob("*.json"):
        if candidate.name.startswith(TEMP_PREFIX):
            continue
        try:
            with _open_regular(candidate) as handle:
                text = handle.read()
        except (ConvScopeError, OSError):
            continue
        if any(needle in text for needle in needles):
            return True
    return False


def clean_temporaries(folder, max_age: float = ORPHAN_AGE) -> None:
    """Remove the temporaries an interrupted save left in ``folder``: ours only (by prefix),
    and only those whose process is gone or that are older than ``max_age`` seconds. An
    orphaned intent is settled first, so an interrupted pair save leaves nothing behind."""
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(TEMP_PREFIX)]
    except OSError:
        return
    entries.sort(key=lambda e: not e.name.endswith(INTENT_SUFFIX))  # intents first
    now = time.time()
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if _owner_alive(entry.name) and age < max_age:
            continue
        if entry.name.endswith(INTENT_SUFFIX):
            _settle(Path(entry.path))
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _owner_alive(name: str) -> bool:
    """Whether the process that made temporary ``name`` may still be writing it."""
    pid = name[len(TEMP_PREFIX):].split("-", 1)[0]
    if not pid.isdigit() or os.name != "posix":
        return True  # unknown: leave it to its age
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
