"""Class names: what the last layer's channels mean ("circle (0)" rather than "class 0").

A network's names come from, in order: a labels file beside its architecture file
(``<stem>.labels.txt``, one name a line), or, for a network with 1000 outputs and no usable
labels file, ImageNet's 1000 classes (``assets/imagenet_classes.txt``, copied from
torchvision 0.29.1's ``torchvision/models/_meta.py`` ``_IMAGENET_CATEGORIES``). ``convscope
import`` writes the labels file when an ONNX model's metadata carries class names.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ConvScopeError
from .fileio import atomic_write_bytes
from .presets import ASSETS, preset_paths, preset_title

LABELS_SUFFIX = ".labels.txt"
IMAGENET_FILE = ASSETS / "imagenet_classes.txt"
IMAGENET_CLASSES = 1000
MAX_LABELS_BYTES = 10_000_000  # a labels file bigger than this is not one: refused unread
# ONNX metadata_props keys that exporters use for class names (ultralytics writes "names")
METADATA_KEYS = ("class_names", "classes", "labels", "names")


@dataclass(frozen=True)
class ClassNames:
    """The names of a network's classes (empty: none known) and, when a labels file was
    there but could not be used, one line saying why."""

    names: tuple[str, ...] = ()
    source: str = ""  # the file they came from
    problem: str = ""

    def label(self, k: int) -> str:
        """ "circle (0)" with a name; "class 0" without."""
        k = int(k)
        return f"{self.names[k]} ({k})" if 0 <= k < len(self.names) else f"class {k}"


def labels_path(architecture) -> Path:
    """Where an architecture file's labels file goes: ``net.json`` → ``net.labels.txt``."""
    path = Path(architecture)
    return path.with_name(path.stem + LABELS_SUFFIX)


def read_labels(path) -> list[str]:
    """The names in a labels file, one a line (surrounding spaces and trailing empty lines
    dropped). Raises ConvScopeError (naming the file) if it cannot be read or a name is
    empty."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_LABELS_BYTES:
            raise ConvScopeError(f"is over {MAX_LABELS_BYTES // 1_000_000} MB: not a labels "
                                 "file", source=str(path))
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConvScopeError("no such file", source=str(path)) from None
    except UnicodeDecodeError:
        raise ConvScopeError("is not UTF-8 text", source=str(path)) from None
    except OSError as err:
        raise ConvScopeError(f"cannot be read ({err.strerror})", source=str(path)) from None
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if "" in names:
        raise ConvScopeError(f"line {names.index('') + 1} is empty (one name a line)",
                             source=str(path))
    return names


def write_labels(path, names) -> Path:
    """Write ``names`` one a line (a name's own line breaks become spaces), replacing the
    file whole (a temporary renamed over it: never half written)."""
    path = Path(path)
    atomic_write_bytes(path, "".join(" ".join(str(n).split()) + "\n" for n in names)
                       .encode("utf-8"))
    return path


@lru_cache(maxsize=1)
def imagenet_names() -> tuple[str, ...]:
    return tuple(read_labels(IMAGENET_FILE))


def class_names(architecture, count: int) -> ClassNames:
    """The names of ``count`` classes of the network saved at ``architecture`` (a path, or
    None for an unsaved network). A labels file whose count differs is ignored, and
    ``problem`` says why."""
    problem = ""
    path = labels_path(architecture) if architecture else None
    if path is not None and path.is_file():
        try:
            names = _cached_labels(str(path), path.stat().st_mtime_ns)
        except ConvScopeError as err:
            problem = f"{err}; class numbers shown instead"
        else:
            if len(names) == count:
                return ClassNames(names, str(path))
            problem = (f"{path.name} has {len(names)} names but the network has {count} "
                       "outputs; class numbers shown instead")
    if count == IMAGENET_CLASSES:
        return ClassNames(imagenet_names(), str(IMAGENET_FILE), problem)
    return ClassNames(problem=problem)


def network_class_names(path, network_name: str, count: int) -> ClassNames:
    """The class names of a network open from ``path``; with no path (unsaved: a bundled
    preset opens as an unsaved copy), those of the bundled preset of the same name."""
    return class_names(architecture_file(path, network_name), count)


def architecture_file(path, network_name: str) -> Path | None:
    """``path``, or for an unsaved network (None) the bundled preset of the same name."""
    return Path(path) if path is not None else _preset_names().get(network_name)


@lru_cache(maxsize=1)
def _preset_names() -> dict:
    return {preset_title(p)[0]: p for p in preset_paths()}


@lru_cache(maxsize=8)
def _cached_labels(path: str, _mtime: int) -> tuple[str, ...]:
    """A labels file read once per change (the views ask on every pass)."""
    return tuple(read_labels(path))


def names_from_metadata(meta: dict) -> list[str]:
    """Class names carried in an ONNX model's metadata_props (key → text), or [] if none:
    a JSON or Python list of names, a dict of index → name covering 0..n-1 (as ultralytics
    writes), or one name a line."""
    for key in METADATA_KEYS:
        text = meta.get(key, "").strip()
        if text:
            names = _parse_names(text)
            if names:
                return names
    return []


def _parse_names(text: str) -> list[str]:
    value = None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
            break
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
    if isinstance(value, dict):
        try:
            value = {int(k): v for k, v in value.items()}
        except (TypeError, ValueError):
            return []
        if sorted(value) != list(range(len(value))):
            return []
        value = [value[k] for k in range(len(value))]
    if value is None:
        value = text.splitlines()
    if not isinstance(value, list) or len(value) < 2:
        return []
    names = [" ".join(str(n).split()) for n in value]
    return names if all(names) else []
