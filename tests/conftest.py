"""Test setup: Qt runs offscreen, set before any Qt module loads."""

import gc
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

import pytest

# The GUI tests' shared fixtures (window, make_window, dialogs, isolated) and drag helpers.
pytest.register_assert_rewrite("gui_helpers")
pytest_plugins = ["gui_helpers"]


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
