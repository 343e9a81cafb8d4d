"""Layers on the move: what a drag or the clipboard carries.

The payload is JSON of the layers' dicts, exactly as in an architecture file, so a drop
from the palette, a move inside the pipeline and a paste all go through
``Document.insert_layers``. A drag that starts in the pipeline also says where it came
from, so dropping it moves the layer instead of copying it.
"""

from __future__ import annotations

import json

from convscope.core import REGISTRY, ConvScopeError
from convscope.core.fileio import MAX_JSON_BYTES
from convscope.core.network import check_layer_items, write_layers
from convscope.core.paths import name_problem
from PySide6.QtCore import QMimeData

MIME_LAYERS = "application/x-convscope-layers"
MIME_SOURCE = "application/x-convscope-source"


def default_item(kind: str) -> dict:
    """A new layer of type ``kind`` as the palette makes it: required keys at their defaults,
    blocks with empty sides (a residual that adds its input to itself until filled)."""
    return write_layers([REGISTRY[kind]()])[0]


def layers_mime(items: list[dict], source: dict | None = None) -> QMimeData:
    """Mime data for layer dicts; ``source`` = {"document": id, "path": "layers[3]"} for a
    layer dragged out of a pipeline."""
    mime = QMimeData()
    text = json.dumps(items, ensure_ascii=False)
    mime.setData(MIME_LAYERS, text.encode("utf-8"))
    mime.setText(json.dumps(items, indent=1, ensure_ascii=False))
    if source is not None:
        mime.setData(MIME_SOURCE, json.dumps(source).encode("utf-8"))
    return mime


def read_items(mime: QMimeData | None) -> list[dict] | None:
    """The layer dicts a drag or the clipboard holds, or None (none, or unusable ones)."""
    try:
        return layer_items(mime)
    except ConvScopeError:
        return None


def holds_layers(mime: QMimeData | None) -> bool:
    """Whether Paste has something to do: usable layers, or layers it must refuse (the
    refusal says why; a disabled Paste would not)."""
    try:
        return layer_items(mime) is not None
    except ConvScopeError:
        return True


def layer_items(mime: QMimeData | None) -> list[dict] | None:
    """The layer dicts a drag or the clipboard holds, or None when it holds no layers.
    Plain text counts when it is JSON of one layer or a list of layers (pasting from a file
    or a message). Layers that cannot be used (a field out of range, nesting too deep, a
    lone surrogate) raise ConvScopeError, checked as a file's layers are."""
    if mime is None:
        return None
    if mime.hasFormat(MIME_LAYERS):
        raw = bytes(mime.data(MIME_LAYERS)).decode("utf-8", "replace")
    elif mime.hasText():
        raw = mime.text()
    else:
        return None
    if len(raw) > MAX_JSON_BYTES:
        raise ConvScopeError(f"holds {len(raw) >> 20} MB of text; layers are a small JSON "
                             "text", source="clipboard")
    try:
        data = json.loads(raw)
    except ValueError:  # not JSON: not layers
        return None
    except RecursionError:
        raise ConvScopeError("holds JSON nested too deeply to be layers",
                             source="clipboard") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        return None
    if not all(isinstance(d, dict) and d.get("type") in REGISTRY for d in data):
        return None
    return check_layer_items(data, "clipboard", tidy=_usable_names)


def _usable_names(value):
    """The payload without the layer names a layer cannot take ("input", or a malformed
    one): those layers are named afresh, as a pasted layer whose name is taken is. Only
    layer dicts hold dicts, so every dict with a "name" here is a layer."""
    if isinstance(value, list):
        return [_usable_names(v) for v in value]
    if isinstance(value, dict):
        return {k: _usable_names(v) for k, v in value.items()
                if k != "name" or not name_problem(v)}
    return value


def read_source(mime: QMimeData | None) -> dict | None:
    if mime is None or not mime.hasFormat(MIME_SOURCE):
        return None
    try:
        source = json.loads(bytes(mime.data(MIME_SOURCE)).decode("utf-8"))
    except ValueError:
        return None
    return source if isinstance(source, dict) and "path" in source else None


def json_files(mime: QMimeData | None) -> list[str]:
    """Local ``.json`` files in a drag from a file manager."""
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls()
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".json")]
