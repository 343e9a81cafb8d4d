"""Test setup: Qt runs offscreen, set before any Qt module loads."""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

import pytest

# The GUI tests' shared fixtures (window, make_window, dialogs, isolated) and drag helpers.
pytest.register_assert_rewrite("gui_helpers")
pytest_plugins = ["gui_helpers"]
