"""core/ must import NumPy only, never Qt: importing every core module, subpackages included
(core/layers, core/interop, core/understand, ...), in a fresh process must leave no Qt (or
pyqtgraph) module loaded."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_imports_no_qt():
    # the package installs as convscope: core/layers/conv.py is convscope.core.layers.conv
    modules = sorted("convscope." + ".".join(p.relative_to(ROOT).with_suffix("").parts)
                     .removesuffix(".__init__") for p in (ROOT / "core").rglob("*.py"))
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert {"convscope.core.layers.conv", "convscope.core.interop.diagram",
            "convscope.core.understand.memory"} <= set(modules)
    assert out.stdout.strip() == ""
