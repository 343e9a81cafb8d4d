"""Reading and writing files: one clear line for every failure, atomic saves."""

from __future__ import annotations

import json
import os
import secrets
import stat
import zipfile
from pathlib import Path

import numpy as np

from .errors import ConvScopeError

MAX_JSON_BYTES = 64 << 20  # an architecture is text; anything larger is not one


def read_json(path) -> object:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ConvScopeError(f"file is {path.stat().st_size >> 20} MB; an architecture "
                                 "file is a small JSON text", source=str(path))
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConvScopeError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise ConvScopeError("is a folder, not a file", source=str(path)) from None
    except UnicodeDecodeError:
        raise ConvScopeError("not a text file (not UTF-8)", source=str(path)) from None
    except OSError as err:
        raise ConvScopeError(f"cannot be read: {err.strerror}", source=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConvScopeError(f"not valid JSON: {err.msg}", f"line {err.lineno} column {err.colno}",
                             str(path)) from None


def _atomic(path, write) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
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
    except OSError as err:
        raise ConvScopeError(f"cannot write: {err.strerror}", source=str(path)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _create_temp(path: Path) -> tuple[int, str]:
    """A new file beside ``path``. Made with mode 0666 less the umask, as an ordinary new
    file is: ``tempfile.mkstemp``'s 0600 would make every saved file private."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
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


def atomic_write_bytes(path, data: bytes) -> None:
    _atomic(path, lambda handle: handle.write(data))


def atomic_write_json(path, data) -> None:
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_npz(path, arrays: dict) -> None:
    _atomic(path, lambda handle: np.savez(handle, **arrays))


def read_npz(path) -> dict:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise ConvScopeError("weights file not found", source=str(path)) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise ConvScopeError(f"not a readable .npz weights file ({err})",
                             source=str(path)) from None
