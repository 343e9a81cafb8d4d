"""Can Qt open a window here? Asked before Qt loads its platform plugin.

When Qt's X11 plugin (xcb) cannot load a library, or finds no display, it aborts the
process (SIGABRT) with a message that may name the wrong library. These checks find the
same problems first and say in one line what is missing and what to do. Qt-free (ctypes and
sockets only), so they cost nothing when everything is in place.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys

# What Qt 6.11's xcb plugin links to (readelf -d on PySide6's libqxcb.so and
# libQt6XcbQpa.so.6) outside Qt and the C runtime, and the Debian package holding each.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libGL.so.1": "libgl1",
}
X11_SOCKET_DIR = "/tmp/.X11-unix"
WITHOUT_A_WINDOW = ("`convscope --screenshot OUT.png [FILE]` renders the window to a PNG "
                    "and `convscope summary FILE` prints the figures")


def window_problem(environ=None, platform: str = sys.platform, load=None) -> str | None:
    """None when Qt can open a window; otherwise one line saying why not and what to do."""
    environ = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return None
    qpa = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    display, wayland = environ.get("DISPLAY", ""), environ.get("WAYLAND_DISPLAY", "")
    if qpa not in ("", "xcb", "wayland"):
        return None  # offscreen, vnc, eglfs...: no desktop session needed
    if qpa == "wayland" or (qpa == "" and wayland and environ.get("XDG_SESSION_TYPE")
                            == "wayland"):
        return None if wayland else f"no display: WAYLAND_DISPLAY is not set; {WITHOUT_A_WINDOW}"
    if not display:
        return (f"no display (DISPLAY is not set, as over ssh or on a server); "
                f"{WITHOUT_A_WINDOW}")
    if not x_display_reachable(display):
        return f"cannot reach the X display {display!r}; {WITHOUT_A_WINDOW}"
    missing = missing_libraries(load)
    if missing:
        packages = " ".join(dict.fromkeys(XCB_LIBRARIES[name] for name in missing))
        return (f"Qt's X11 plugin needs {', '.join(missing)}, not installed; install with: "
                f"sudo apt-get install -y {packages}")
    return None


def missing_libraries(load=None) -> list[str]:
    """The xcb plugin's libraries that the dynamic loader cannot find."""
    load = load or ctypes.CDLL
    missing = []
    for name in XCB_LIBRARIES:
        try:
            load(name)
        except OSError:
            missing.append(name)
    return missing


def x_display_reachable(display: str, timeout: float = 2.0) -> bool:
    """Whether an X server answers at ``display`` (``:0``, ``unix:1.0``, ``host:10.0``)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True  # a form this does not know (a launchd path, say): let Qt judge
    if host in ("", "unix"):
        path = f"{X11_SOCKET_DIR}/X{number}"
        # Linux X servers listen on the abstract name too; a container may share only one
        return _connects(socket.AF_UNIX, path, timeout) or \
            _connects(socket.AF_UNIX, "\0" + path, timeout)
    return _connects(socket.AF_INET6 if ":" in host else socket.AF_INET,
                     (host.strip("[]"), 6000 + int(number)), timeout)


def _connects(family, address, timeout: float) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
        return True
    except OSError:
        return False
