"""Test setup: Qt runs offscreen, set before any Qt module loads.

The core tests need no Qt: this file imports none, and the GUI fixtures (gui_helpers) are
registered only when PySide6 and pyqtgraph can be imported. Without them, a test module that
imports Qt (or the gui package's Qt parts) is reported as skipped, with the reason, and so is
a test that asks for a Qt fixture; the core tests run as usual."""

import gc
import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

import pytest

QT_PACKAGES = ("PySide6", "shiboken6", "pyqtgraph")
QT_FIXTURES = {"qtbot", "qapp", "window", "make_window", "dialogs", "isolated", "live", "app"}


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # hidden on purpose (a meta-path blocker) or broken
        return False


HAVE_QT = all(_importable(name) for name in ("PySide6", "pyqtgraph"))
NO_QT = "needs PySide6 and pyqtgraph (the GUI), which are not importable here"

if HAVE_QT:
    # The GUI tests' shared fixtures (window, make_window, dialogs, isolated) and drag helpers.
    pytest.register_assert_rewrite("gui_helpers")
    pytest_plugins = ["gui_helpers"]


def pytest_addoption(parser, pluginmanager):
    """Without Qt, pytest-qt (if installed) would stop the whole run while it configures
    itself: it is switched off before it gets there (as ``-p no:pytest-qt`` would)."""
    if not HAVE_QT:
        pluginmanager.set_blocked("pytest-qt")


def _is_qt_missing(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and \
                (error.name or "").split(".")[0] in QT_PACKAGES:
            return True
        error = error.__cause__ or error.__context__
    return False


class QtOptionalModule(pytest.Module):
    """A test module that is skipped, not an error, when it cannot be imported without Qt."""

    def _getobj(self):
        try:
            return super()._getobj()
        except self.CollectError as err:
            if _is_qt_missing(err):
                pytest.skip(f"{self.path.name} {NO_QT}", allow_module_level=True)
            raise


def pytest_pycollect_makemodule(module_path, parent):
    if not HAVE_QT and module_path.name.startswith("test_"):
        return QtOptionalModule.from_parent(parent, path=module_path)
    return None


def pytest_collection_modifyitems(items):
    if HAVE_QT:
        return
    skip = pytest.mark.skip(reason=f"uses a Qt fixture: {NO_QT}")
    for item in items:
        if QT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A test that imports Qt in its body (a PNG check beside core tests) skips, too."""
    outcome = yield
    if not HAVE_QT and outcome.excinfo is not None and _is_qt_missing(outcome.excinfo[1]):
        outcome.force_exception(pytest.skip.Exception(f"{item.name} {NO_QT}"))


@pytest.fixture
def one_torch_thread():
    """Torch's thread pool and NumPy's BLAS threads, taking turns on two cores, spin against
    each other (see shared/notes): comparison tests run torch on one thread."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# The cyclic garbage collector runs in whichever thread allocates; a worker thread that
# collects garbage holding Qt objects crashes Qt (seen once in CI: a segfault while
# "Garbage-collecting" on a job thread). As the app does (gui.app), a test that drives Qt
# collects on the main thread only: automatic collection off while it runs, one full
# collection after it (its workers have stopped by then).
@pytest.fixture(autouse=True)
def collect_garbage_on_the_main_thread(request):
    if "qtbot" not in request.fixturenames:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()
