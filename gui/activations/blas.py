"""OpenBLAS's thread count, changed at run time through its C API (no extra dependency).

Why the live view wants one BLAS thread: OpenBLAS's idle threads spin for about 0.1 s after
each call (shared/notes/numpy-conv-performance.md). While the worker runs a pass, two of them
spinning on a 2-core machine leave the GUI thread no core, and the event loop stalls for
50–100 ms at a time; on a busy machine a VGG16 pass also ran 5× slower with two threads
than with one (benchmarks/live.py). With one BLAS thread the pass keeps one core and the
window the other.

Measured again for issue 14 (benchmarks/live.py --blas-threads 1|2, VGG16 and ResNet-18,
load average 11–12 on 2 cores): two threads made the pass 2× longer (VGG16 open → pass
done 16 s against 8 s) without a shorter stall; two threads with OPENBLAS_THREAD_TIMEOUT=4
(idle threads sleep at once; it must be set before NumPy loads) were no better (21 s). So
the live path keeps one BLAS thread, and the second core draws the seeded weights ahead
of the pass instead (core.network.WeightDrawer.ahead: no spinning, no BLAS).
"""

from __future__ import annotations

import ctypes
import re

_NAMES = [(f"{prefix}set_num_threads{suffix}", f"{prefix}get_num_threads{suffix}")
          for prefix in ("scipy_openblas_", "openblas_") for suffix in ("64_", "")]
_api = None


def _find():
    """(set, get) of the OpenBLAS NumPy loaded, or None (not Linux, not OpenBLAS)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps.read())))
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _NAMES:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                return getattr(lib, set_name), getattr(lib, get_name)
    return None


def threads() -> int | None:
    global _api
    _api = _api or _find()
    return int(_api[1]()) if _api else None


def set_threads(count: int) -> int | None:
    """Set OpenBLAS's thread count; returns the previous one (None if not available).
    Call it when no BLAS call is running (changing it under a running call is unsafe)."""
    before = threads()
    if before is not None and count != before:
        _api[0](int(count))
    return before
