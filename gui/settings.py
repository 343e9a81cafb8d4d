"""Where the window keeps what it remembers between runs (layout, recent files).

Always an INI file in the user scope, so a test can point every QSettings at a temporary
folder with ``QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, tmp)``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION, APPLICATION = "ConvScope", "ConvScope"
MAX_RECENT = 8


def settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION,
                     APPLICATION)


def recent_files() -> list[str]:
    value = settings().value("recentFiles", [])
    if isinstance(value, str):  # QSettings gives a bare string for a one-item list
        value = [value]
    return [str(v) for v in value or []]


def add_recent(path) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files() if f != path]
    files = files[:MAX_RECENT]
    settings().setValue("recentFiles", files)
    return files


def clear_recent() -> None:
    settings().setValue("recentFiles", [])
